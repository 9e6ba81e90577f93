// xcr0_cpuid_test (kernel-abi.md §9.4) as a guest (test/kvm/guests/xcr0_cpuid.S) run through the
// ioctl ABI: XCR0 at entry equals the guest's CPUID.(0xD,0), the supported mask obeys the
// YMM/MPX/AVX-512/XTILE pairing rules, XSETBV of FP and of the supported mask succeed, and XSETBV of
// every unsupported bit #GPs (guest IDT vector 13). The host runs until UCALL_DONE and fails on
// UCALL_ABORT. Exercises §3.5 only, so the outcome is the same under B1–B4.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import { ARCH } from "../../hypervisor/uapi/consts";
import { SelftestVm, UCALL_SYNC, UCALL_DONE, UCALL_ABORT } from "../../hypervisor/vmm/ucall";
import { CODE, SYM } from "./guests/xcr0_cpuid.gen";

const KERNELS = ["5.17-rc5", "6.5", "6.8", "6.19"] as const;
const popcount = (x: bigint) => { let n = 0; for (; x; x &= x - 1n) n++; return n; };

function run(cpu: string, kernel: string, amxPerm: boolean) {
  const host = new Host({ cpu, kernel, runBudget: 2_000_000 });
  if (amxPerm) assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0);
  const t = new SelftestVm(host, CODE, { idt: { 13: SYM.gp_handler } });
  const sup = t.kvm.getSupportedCpuid().find((e) => e.fn === 0xd && e.idx === 0)!;
  const xcr0 = (BigInt(sup.edx >>> 0) << 32n) | BigInt(sup.eax >>> 0);
  const v = t.addVcpu(0);
  const sync = t.runUntilUcall(v);
  assert.is(sync.cmd, UCALL_SYNC);
  assert.is(t.runUntilUcall(v).cmd, UCALL_DONE);
  assert.is(host.oops, null);
  return { xcr0, gps: Number(sync.args[1]) };
}

const results: Record<string, string> = {};
for (const [cpu, amxPerm] of [["sapphire-rapids", false], ["sapphire-rapids", true], ["epyc-genoa", false]] as const) {
  for (const kernel of KERNELS) {
    test(`${cpu}${amxPerm ? " +XTILEDATA perm" : ""} ${kernel}: xcr0_cpuid_test passes; one #GP per unsupported XCR0 bit`, () => {
      const { xcr0, gps } = run(cpu, kernel, amxPerm);
      assert.is(xcr0 & 1n, 1n);
      if (cpu === "sapphire-rapids") assert.is(xcr0 & 0x60000n, amxPerm ? 0x60000n : 0n, "XTILE pair follows the permission");
      assert.is(gps, 64 - popcount(xcr0), "#GPs taken");
      results[`${cpu}/${amxPerm}/${kernel}`] = `${xcr0.toString(16)}:${gps}`;
    });
  }
}

test("same result under every behaviour (§9.4)", () => {
  for (const prefix of ["sapphire-rapids/false", "sapphire-rapids/true", "epyc-genoa/false"]) {
    const r = KERNELS.map((k) => results[`${prefix}/${k}`]);
    assert.ok(r.every((x) => x !== undefined && x === r[0]), `${prefix}: ${r.join(" ")}`);
  }
});

test("the guest's checks can fail: a CPUID table whose 0xD.0 breaks the AVX-512 rule aborts with assertion 1 (XCR0 != CPUID)", () => {
  // XCR0 is set from the full table by addVcpu; the guest then reads a CPUID without ZMM_Hi256
  const host = new Host({ cpu: "sapphire-rapids", kernel: "6.19", runBudget: 2_000_000 });
  const t = new SelftestVm(host, CODE, { idt: { 13: SYM.gp_handler } });
  const v = t.addVcpu(0);
  v.setCpuid2(t.kvm.getSupportedCpuid().map((e) => (e.fn === 0xd && e.idx === 0 ? { ...e, eax: e.eax & ~0x40 } : e)));
  const uc = t.runUntilUcall(v, true);
  assert.is(uc.cmd, UCALL_ABORT);
  assert.is(uc.args[0], 1n);
});

test.run();
