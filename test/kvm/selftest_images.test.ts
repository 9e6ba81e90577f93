// The KVM selftests (kernel-abi.md §9) as guest images (guest-images/src/*-test*.S on
// lib/guest.inc) with their host halves (hypervisor/vmm/selftests), called directly on
// sapphire-rapids and epyc-genoa under B1–B4: each verdict, what each result carries (stage,
// syncs, message) and what the host saw on the way (the XSAVE images' XSTATE_BV and sizes,
// XFD_ERR, the oops record, the -EINVAL steps).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import {
  stateTest, amxTest, amxTest2026, xcr0CpuidTest, newAmxDetail, SELFTEST_STATUS, type Xcr0CpuidDetail, type StateTestDetail,
} from "../../hypervisor/vmm/selftests/index";
import { ImageVm, guestImagePath, runSelftest } from "../../hypervisor/vmm/selftests/harness";
import { KvmError } from "../../hypervisor/vmm/kvm_ioctls";
import { EINVAL } from "../../hypervisor/uapi/consts";

const KERNELS = ["5.17-rc5", "6.5", "6.8", "6.19"] as const;
const B = { "5.17-rc5": "B1", "6.5": "B2", "6.8": "B3", "6.19": "B4" } as const;
const SAVE_TILEDATA = 1, COMPARE_TILEDATA = 2, RESTORE_TILEDATA = 4, SAVE_RESTORE = 8;
const popcount = (x: bigint) => { let n = 0; for (; x; x &= x - 1n) n++; return n; };
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

// ---- state_test (§9.2) ---------------------------------------------------------------------

for (const host of ["sapphire-rapids", "epyc-genoa"]) for (const kernel of KERNELS) {
  test(`${host} ${kernel}: state_test ${B[kernel] === "B2" ? "fails at stage 1, dummy-vCPU step 3 (-EINVAL)" : "passes; stage 2's image has every supported xfeature"}`, () => {
    const detail: StateTestDetail = { xstateBv: [] };
    const r = stateTest({ host, kernel }, detail);
    assert.is(r.behaviour, B[kernel]);
    if (B[kernel] === "B2") {
      assert.is(r.outcome, "host-assert");
      assert.is(r.status, SELFTEST_STATUS["host-assert"]);
      assert.is(r.stage, 1);
      assert.equal(r.syncs, [1], "no stage completed");
      assert.match(r.message, /^stage 1: dummy vCPU step 3 .*KVM_SET_XSAVE: EINVAL/);
      return;
    }
    assert.ok(r.pass, r.message);
    assert.equal(r.syncs, [1, 2]);
    // stage 2's saved image carries every supported xfeature the guest touched (FP, SSE, YMM,
    // AVX-512 and PKRU where supported); stage 1's only what the library left non-init
    const supported = host === "sapphire-rapids" ? 0x2e7n : 0xe7n;   // no AMX permission asked: no tile state
    assert.is(detail.xstateBv[1] & supported, supported, `XSTATE_BV at stage 2: 0x${detail.xstateBv[1].toString(16)}`);
    assert.is(detail.xstateBv[0] & 1n, 0n, "FP still in init at stage 1");
    assert.is(detail.oopses, 0);
  });
}

test("B2's state_test failure is the empty CPUID, not the image: the same steps without step 3's KVM_SET_CPUID2 pass on 6.5", () => {
  const t = new ImageVm(readFileSync(guestImagePath("state-test.elf")), { kernel: "6.5" });
  const stop = t.run();
  assert.ok(stop.kind === "ucall" && stop.uc.args[1] === 1n, "GUEST_SYNC(1)");
  const st = t.save();
  const vcpuN = t.vm.createVcpu(1);                            // __vm_vcpu_add: no KVM_SET_CPUID2
  const img = st.xsave.slice();
  dv(img).setBigUint64(512, t.supportedXcr0(), true);
  vcpuN.setXsave(img);                                         // before any KVM_SET_CPUID2: accepted
  vcpuN.setCpuid2([]);
  assert.throws(() => vcpuN.setXsave(img), (e: unknown) => e instanceof KvmError && e.errno === EINVAL);
  dv(img).setBigUint64(512, 3n, true);
  vcpuN.setXsave(img);                                         // FP|SSE alone is still accepted
});

// ---- xcr0_cpuid_test (§9.4) ----------------------------------------------------------------

const xcr0Results: Record<string, string> = {};
const XCR0_RUNS = [["sapphire-rapids", false], ["sapphire-rapids", true], ["epyc-genoa", false]] as const;
for (const [host, perm] of XCR0_RUNS) for (const kernel of KERNELS) {
  test(`${host}${perm ? " +XTILEDATA perm" : ""} ${kernel}: xcr0_cpuid_test passes with one #GP per unsupported bit`, () => {
    const d: Xcr0CpuidDetail = { gps: -1 };
    const r = xcr0CpuidTest({ host, kernel, xtilePermission: perm }, d);
    assert.ok(r.pass, r.message);
    const xcr0 = d.supportedXcr0!;
    assert.is(xcr0 & 1n, 1n, "FP supported");
    if (host === "sapphire-rapids") assert.is(xcr0 & 0x60000n, perm ? 0x60000n : 0n, "XTILE pair follows the permission");
    assert.is(d.gps, 64 - popcount(xcr0), "#GPs taken");
    assert.equal(r.syncs, [host === "epyc-genoa" ? 58 : perm ? 55 : 57]);
    assert.is(d.oopses, 0);
    xcr0Results[`${host}/${perm}/${kernel}`] = `${xcr0.toString(16)}:${d.gps}:${r.message}`;
  });
}

test("xcr0_cpuid_test: the same result under every behaviour (§9.4)", () => {
  for (const [host, perm] of XCR0_RUNS) {
    const r = KERNELS.map((k) => xcr0Results[`${host}/${perm}/${k}`]);
    assert.ok(r.every((x) => x !== undefined && x === r[0]), `${host}/${perm}: ${r.join(" | ")}`);
  }
});

test("a guest image whose check fails is a guest-assert with the library's file:line", () => {
  // patch xcr0-cpuid-test's first assertion: `cmp %r13, %r12` (initial XCR0 vs supported) → compare with a register that differs
  const img = new Uint8Array(readFileSync(guestImagePath("xcr0-cpuid-test.elf")));
  const at = Buffer.from(img).indexOf(Buffer.from([0x4d, 0x39, 0xec]));  // cmp %r13,%r12
  assert.ok(at > 0, "cmp %r13,%r12 in the image");
  img[at + 2] = 0xe4;                                                     // cmp %r12,%r12 → never differs: sanity
  assert.ok(xcr0CpuidTest({ image: img }).pass);
  img[at + 2] = 0xdc;                                                     // cmp %r11,%r12: r11 holds garbage
  const r = xcr0CpuidTest({ image: img });
  assert.is(r.outcome, "guest-assert");
  assert.is(r.status, 8);
  assert.match(r.message, /^xcr0-cpuid-test\.S:\d+: GUEST_ASSERT\(initial_xcr0 == supported_xcr0\) failed: 0x/);
});

test("xcr0_cpuid_test under a CPUID whose 0xD.0 breaks the AVX-512 rule: the library's XSETBV of it #GPs (guest-exception)", () => {
  // the guest library sets XCR0 from its CPUID, so OPMASK|Hi16_ZMM without ZMM_Hi256 never reaches guest_main
  const t = new ImageVm(readFileSync(guestImagePath("xcr0-cpuid-test.elf")), {});
  t.vcpu.setCpuid2(t.cpuid.map((e) => (e.fn === 0xd && e.idx === 0 ? { ...e, eax: e.eax & ~0x40 } : e)));
  const r = runSelftest("xcr0-cpuid", t, () => {});
  assert.is(r.outcome, "guest-exception");
  assert.is(r.status, 10);
  assert.equal(r.syncs, []);
  assert.match(r.message, /unhandled exception vector 13 .*error code 0x0/);
});

// ---- amx_test (§9.3) -----------------------------------------------------------------------

for (const kernel of KERNELS) {
  test(`sapphire-rapids ${kernel}: amx_test v6.8 form passes (10 stages, migrated at each, XFD_ERR pending at 7-8)`, () => {
    const d = newAmxDetail();
    const r = amxTest({ kernel }, d);
    assert.ok(r.pass, r.message);
    assert.equal(r.syncs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.is(d.compares, 2, "TMM0 compared at stages 4 and 10");
    assert.is(d.xsaveRestoreSize, 11008, "xsave_restore_size (CPUID.(0xD,0).ECX with XTILE)");
    assert.is(d.xsave2Size, 11008, "KVM_CAP_XSAVE2: the KVM_GET_XSAVE2 size");
    assert.equal(d.xsaveSizes, Array(10).fill(11008), "every image saved at the full size");
    assert.is(d.xfdErr[8], 0x40000n, "XFD_ERR pending in the state migrated at stage 8");
    assert.is(d.xfdErr[7], 0x40000n, "… and at stage 7");
    assert.is(d.xfdErr[9], 0n, "cleared by the guest before stage 9");
    assert.equal(d.oopses, []);
  });

  test(`sapphire-rapids ${kernel} (${B[kernel]}): amx_test 2026 form ${B[kernel] === "B4" ? "passes (XSTATE_BV[18] cleared)" : "oopses the host at the KVM_RUN after RESTORE_TILEDATA"}`, () => {
    const d = newAmxDetail();
    const r = amxTest2026({ kernel }, d);
    assert.is(d.xsaveRestoreSize, 11008);
    const upToRestore = [SAVE_RESTORE, SAVE_RESTORE, SAVE_RESTORE, SAVE_TILEDATA | COMPARE_TILEDATA | SAVE_RESTORE, RESTORE_TILEDATA];
    if (B[kernel] === "B4") {
      assert.ok(r.pass, r.message);
      assert.equal(r.syncs, [...upToRestore, 8, 8, 8, 8, 8, COMPARE_TILEDATA | SAVE_RESTORE]);
      assert.is(d.compares, 2);
      assert.is(d.xstateBvAfterRestore! & 0x40000n, 0n, "B4 cleared XSTATE_BV[18] because XFD[18] = 1");
      assert.equal(d.oopses, []);
      return;
    }
    assert.is(r.outcome, "host-oops");
    assert.is(r.status, 6);
    assert.equal(r.syncs, upToRestore, "ran up to RESTORE_TILEDATA");
    assert.is(d.compares, 1);
    assert.is(d.xstateBvAfterRestore! & 0x40000n, 0x40000n, "XSTATE_BV[18] = 1 accepted past XFD[18] = 1");
    assert.match(r.message, /^after GUEST_SYNC #5: host #NM in restore_fpregs_from_fpstate \(caller fpu_swap_kvm_fpstate.*KVM_RUN -EIO$/);
    assert.match(r.oops!, /exc_device_not_available/);
    assert.is(d.oopses.length, 1);
    const o = d.oopses[0];
    assert.is(o.vector, 7);
    assert.is(o.rip, "restore_fpregs_from_fpstate");
    assert.is(o.xfd & 0x40000n, 0x40000n);
    assert.is(o.xstate_bv & 0x40000n, 0x40000n);
  });
}

test("epyc-genoa: the amx tests skip (no AMX in the supported CPUID)", () => {
  for (const f of [amxTest, amxTest2026]) {
    const r = f({ host: "epyc-genoa" });
    assert.is(r.outcome, "skip");
    assert.match(r.message, /lacks AMX_TILE/);
  }
});

test.run();
