// state_test (kernel-abi.md §9.2, the v6.6-rc7+ form; non-nested stages) as a guest
// (test/kvm/guests/state.S) on sapphire-rapids and epyc-genoa under B1–B4. At each GUEST_SYNC the
// host saves the vCPU (vcpu_save_state: KVM_GET_XSAVE2 sized by KVM_CAP_XSAVE2, XCRS, MSRs, …),
// recreates the VM over the same memory, loads the state, then on an extra vCPU without CPUID:
//   1. KVM_SET_XSAVE(saved)                           2. XSTATE_BV := supported XCR0, KVM_SET_XSAVE
//   3. KVM_SET_CPUID2(nent = 0), KVM_SET_XSAVE        4. original XSTATE_BV, KVM_SET_XSAVE
// and compares registers. Expected (§9.2, S6): B1/B3/B4 pass; B2 fails at step 3 of the first
// stage with -EINVAL (user_xfeatures = guest_supported_xcr0 | FP/SSE = FP/SSE after an empty CPUID).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import { KvmError } from "../../hypervisor/vmm/kvm_ioctls";
import { EINVAL } from "../../hypervisor/uapi/consts";
import { SelftestVm, UCALL_SYNC, UCALL_DONE, saveState, loadState } from "../../hypervisor/vmm/ucall";
import { CODE } from "./guests/state.gen";

const KERNELS = ["5.17-rc5", "6.5", "6.8", "6.19"] as const;
const BEHAVIOUR: Record<string, string> = { "5.17-rc5": "B1", "6.5": "B2", "6.8": "B3", "6.19": "B4" };
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const bvOf = (b: Uint8Array) => dv(b).getBigUint64(512, true);

interface Outcome { stagesDone: number[]; done: boolean; failed?: { stage: number; step: number; errno: number }; bv: bigint[]; xcr0: bigint }

/** the host side of state_test: runs to UCALL_DONE or to the first failing dummy-vCPU step */
function stateTest(cpu: string, kernel: string): Outcome {
  const host = new Host({ cpu, kernel, runBudget: 2_000_000 });
  const t = new SelftestVm(host, CODE);
  const d0 = t.kvm.getSupportedCpuid().find((e) => e.fn === 0xd && e.idx === 0)!;
  const xcr0 = (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0);
  let v = t.addVcpu(0);
  const out: Outcome = { stagesDone: [], done: false, bv: [], xcr0 };
  for (let stage = 1; ; stage++) {
    const uc = t.runUntilUcall(v);
    if (uc.cmd === UCALL_DONE) { out.done = true; break; }
    assert.is(uc.cmd, UCALL_SYNC);
    assert.is(uc.str, "hello");
    assert.is(uc.args[1], BigInt(stage), "stage");
    const st = saveState(t.kvm, t.vm, v);
    out.bv.push(bvOf(st.xsave));
    v = t.recreate();
    loadState(v, st);
    const vcpuN = t.vm.createVcpu(1);                       // __vm_vcpu_add: no KVM_SET_CPUID2
    const img = st.xsave.slice();
    const steps: (() => void)[] = [
      () => vcpuN.setXsave(img),
      () => { dv(img).setBigUint64(512, xcr0, true); vcpuN.setXsave(img); },
      () => { vcpuN.setCpuid2([]); vcpuN.setXsave(img); },
      () => { dv(img).setBigUint64(512, bvOf(st.xsave), true); vcpuN.setXsave(img); },
    ];
    for (let i = 0; i < steps.length; i++) {
      try { steps[i](); } catch (e) {
        if (!(e instanceof KvmError)) throw e;
        out.failed = { stage, step: i + 1, errno: e.errno };
        return out;
      }
    }
    assert.equal(v.getRegs(), st.regs, "registers after load");
    out.stagesDone.push(stage);
  }
  assert.is(host.oops, null);
  return out;
}

for (const cpu of ["sapphire-rapids", "epyc-genoa"]) for (const kernel of KERNELS) {
  const B = BEHAVIOUR[kernel];
  test(`${cpu} ${kernel} (${B}): state_test ${B === "B2" ? "fails at step 3 (KVM_SET_XSAVE after an empty KVM_SET_CPUID2: -EINVAL)" : "passes"}`, () => {
    const o = stateTest(cpu, kernel);
    if (B === "B2") {
      assert.equal(o.failed, { stage: 1, step: 3, errno: EINVAL });
      assert.equal(o.stagesDone, []);
      assert.is(o.done, false);
      return;
    }
    assert.is(o.failed, undefined);
    assert.equal(o.stagesDone, [1, 2]);
    assert.ok(o.done, "UCALL_DONE");
    // stage 2's saved image carries every supported xfeature the guest touched (FP, SSE, YMM,
    // AVX-512 and PKRU where supported); stage 1's only what the library left non-init
    const touched = o.xcr0 & 0x2e7n;
    assert.is(o.bv[1] & touched, touched, `XSTATE_BV at stage 2: 0x${o.bv[1].toString(16)} (supported 0x${o.xcr0.toString(16)})`);
    assert.is(o.bv[0] & 1n, 0n, "FP still in init at stage 1");
  });
}

test("B2's failure is the empty CPUID, not the image: the same steps without step 3's KVM_SET_CPUID2 pass on 6.5", () => {
  const host = new Host({ cpu: "sapphire-rapids", kernel: "6.5", runBudget: 2_000_000 });
  const t = new SelftestVm(host, CODE);
  const v = t.addVcpu(0);
  t.runUntilUcall(v);
  const st = saveState(t.kvm, t.vm, v);
  const d0 = t.kvm.getSupportedCpuid().find((e) => e.fn === 0xd && e.idx === 0)!;
  const vcpuN = t.vm.createVcpu(1);
  const img = st.xsave.slice();
  dv(img).setBigUint64(512, (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0), true);
  vcpuN.setXsave(img);                                         // before any KVM_SET_CPUID2: accepted
  vcpuN.setCpuid2([]);
  assert.throws(() => vcpuN.setXsave(img), (e: unknown) => e instanceof KvmError && e.errno === EINVAL);
  dv(img).setBigUint64(512, 3n, true);
  vcpuN.setXsave(img);                                         // FP|SSE alone is still accepted
});

test.run();
