// The selftests' host halves as library code (hypervisor/vmm/selftests) over the guest images of
// guest-images/bin, called directly on sapphire-rapids and epyc-genoa under B1–B4: the same
// verdicts as the flat-guest tests (selftest_state/amx/xcr0_cpuid.test.ts) and kernel-abi.md §9,
// plus what each result carries (stage, syncs, message) and the state_test image contents.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { stateTest, amxTest, amxTest2026, xcr0CpuidTest, SELFTEST_STATUS } from "../../hypervisor/vmm/selftests/index";
import { guestImagePath } from "../../hypervisor/vmm/selftests/harness";

const KERNELS = ["5.17-rc5", "6.5", "6.8", "6.19"] as const;
const B = { "5.17-rc5": "B1", "6.5": "B2", "6.8": "B3", "6.19": "B4" } as const;

for (const host of ["sapphire-rapids", "epyc-genoa"]) for (const kernel of KERNELS) {
  test(`${host} ${kernel}: state_test ${B[kernel] === "B2" ? "fails at stage 1, dummy-vCPU step 3 (-EINVAL)" : "passes; stage 2's image has every supported xfeature"}`, () => {
    const detail = { xstateBv: [] as bigint[] };
    const r = stateTest({ host, kernel }, detail);
    assert.is(r.behaviour, B[kernel]);
    if (B[kernel] === "B2") {
      assert.is(r.outcome, "host-assert");
      assert.is(r.status, SELFTEST_STATUS["host-assert"]);
      assert.is(r.stage, 1);
      assert.match(r.message, /step 3 .*KVM_SET_XSAVE: EINVAL/);
      return;
    }
    assert.ok(r.pass, r.message);
    assert.equal(r.syncs, [1, 2]);
    const supported = host === "sapphire-rapids" ? 0x2e7n : 0xe7n;   // no AMX permission asked: no tile state
    assert.is(detail.xstateBv[1] & supported, supported, `XSTATE_BV at stage 2: 0x${detail.xstateBv[1].toString(16)}`);
    assert.is(detail.xstateBv[0] & 1n, 0n, "FP still in init at stage 1");
  });
  test(`${host} ${kernel}: xcr0_cpuid_test passes with one #GP per unsupported bit`, () => {
    const r = xcr0CpuidTest({ host, kernel });
    assert.ok(r.pass, r.message);
    assert.equal(r.syncs, [host === "sapphire-rapids" ? 57 : 58]);
  });
}

for (const kernel of KERNELS) {
  test(`sapphire-rapids ${kernel}: amx_test v6.8 form passes (10 stages); 2026 form ${B[kernel] === "B4" ? "passes" : "oopses the host after RESTORE_TILEDATA"}`, () => {
    const old = amxTest({ kernel });
    assert.ok(old.pass, old.message);
    assert.equal(old.syncs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const r = amxTest2026({ kernel });
    if (B[kernel] === "B4") {
      assert.ok(r.pass, r.message);
      assert.equal(r.syncs, [8, 8, 8, 11, 4, 8, 8, 8, 8, 8, 10]);
      return;
    }
    assert.is(r.outcome, "host-oops");
    assert.is(r.status, 6);
    assert.equal(r.syncs, [8, 8, 8, 11, 4]);
    assert.match(r.message, /restore_fpregs_from_fpstate \(caller fpu_swap_kvm_fpstate/);
    assert.match(r.oops!, /exc_device_not_available/);
  });
}

test("epyc-genoa: the amx tests skip (no AMX in the supported CPUID)", () => {
  for (const f of [amxTest, amxTest2026]) {
    const r = f({ host: "epyc-genoa" });
    assert.is(r.outcome, "skip");
    assert.match(r.message, /lacks AMX_TILE/);
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

test.run();
