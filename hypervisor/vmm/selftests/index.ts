// The KVM selftests' host halves over the guest images (`x86kvm selftest NAME`).
import { stateTest } from "./state";
import { amxTest, amxTest2026 } from "./amx";
import { xcr0CpuidTest } from "./xcr0_cpuid";
import type { SelftestOptions, SelftestResult } from "./harness";

export { SELFTEST_STATUS, type SelftestResult, type SelftestOptions, type SelftestOutcome } from "./harness";
export { stateTest, amxTest, amxTest2026, xcr0CpuidTest };
export type { StateTestDetail } from "./state";
export { newAmxDetail, type AmxTestDetail } from "./amx";
export type { Xcr0CpuidDetail } from "./xcr0_cpuid";

/** name → host half (the names `x86kvm selftest` takes) */
export const SELFTESTS: Record<string, { run: (o: SelftestOptions) => SelftestResult; image: string; what: string }> = {
  state: { run: (o) => stateTest(o), image: "state-test.elf", what: "state_test: save/recreate/load at each sync + dummy-vCPU KVM_SET_XSAVE steps (§9.2)" },
  amx: { run: (o) => amxTest(o), image: "amx-test.elf", what: "amx_test, pre-2026 (v6.8) form: migration after every sync, #NM with XFD_ERR pending (§9.3)" },
  "amx-2026": { run: (o) => amxTest2026(o), image: "amx-test-2026.elf", what: "amx_test, 2026 (v6.19) form: RESTORE_TILEDATA stuffs XSTATE_BV[18] past XFD[18] (§9.3)" },
  "xcr0-cpuid": { run: (o) => xcr0CpuidTest(o), image: "xcr0-cpuid-test.elf", what: "xcr0_cpuid_test: XCR0 vs CPUID 0xD, #GP for unsupported bits (§9.4)" },
};
