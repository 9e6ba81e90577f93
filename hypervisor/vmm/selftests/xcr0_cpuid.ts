// xcr0_cpuid_test (tools/testing/selftests/kvm/x86/xcr0_cpuid_test.c, v6.19 form; kernel-abi.md
// §9.4), the host half, over guest-images/bin/xcr0-cpuid-test.elf: run until UCALL_DONE, fail on
// UCALL_ABORT. The guest's one GUEST_SYNC carries the number of #GPs it took (one per XCR0 bit
// outside the supported mask), which the host checks. Same result under B1–B4.
import { ImageVm, runSelftest, hostAssert, loadImage, type SelftestOptions, type SelftestResult } from "./harness";

const popcount = (x: bigint) => { let n = 0; for (; x; x &= x - 1n) n++; return n; };

export interface Xcr0CpuidDetail {
  /** kvm_cpu_supported_xcr0(): CPUID.(0xD,0) EDX:EAX of the supported CPUID */
  supportedXcr0?: bigint;
  /** the #GPs the guest counted (its GUEST_SYNC's args[1]); -1 before that sync */
  gps: number;
  /** host kernel oopses at the end of the run */
  oopses?: number;
}

export function xcr0CpuidTest(opts: SelftestOptions = {}, detail: Xcr0CpuidDetail = { gps: -1 }): SelftestResult {
  const t = new ImageVm(loadImage("xcr0-cpuid-test.elf", opts), opts);
  const xcr0 = t.supportedXcr0();
  detail.supportedXcr0 = xcr0;
  let gps = -1;
  const r = runSelftest("xcr0-cpuid", t, (uc) => {
    gps = detail.gps = Number(uc.args[1]);
    hostAssert(gps === 64 - popcount(xcr0), `#GPs taken ${gps}, expected ${64 - popcount(xcr0)} (one per bit outside supported XCR0 0x${xcr0.toString(16)})`);
  }, () => {
    hostAssert(gps >= 0, "UCALL_DONE without the GUEST_SYNC carrying the #GP count");
    return `UCALL_DONE: XCR0 = supported 0x${xcr0.toString(16)} at entry, dependency rules hold, ${gps} unsupported bits each #GP`;
  });
  detail.oopses = t.host.oopses.length;
  return r;
}
