// state_test (tools/testing/selftests/kvm/x86/state_test.c, v6.6-rc7+ form, non-nested stages;
// kernel-abi.md §9.2), the host half, over guest-images/bin/state-test.elf.
// At each GUEST_SYNC(stage): vcpu_save_state, vm_recreate_with_one_vcpu, vcpu_load_state, then on
// an extra vCPU added without KVM_SET_CPUID2 (vcpuN = __vm_vcpu_add(vm, 1)):
//   1. KVM_SET_XSAVE(saved image)
//   2. XSTATE_BV := kvm_cpu_supported_xcr0(); KVM_SET_XSAVE
//   3. KVM_SET_CPUID2 with an empty CPUID (nent = 0); KVM_SET_XSAVE (all supported bits)
//   4. the original XSTATE_BV; KVM_SET_XSAVE
// every one must return 0; then KVM_GET_REGS must equal the saved registers.
// Expected: B1/B3/B4 pass; B2 fails at stage 1, step 3 with -EINVAL (user_xfeatures =
// guest_supported_xcr0 | FP/SSE = FP/SSE after the empty CPUID; scenario S6).
import { KvmError } from "../kvm_ioctls";
import { ImageVm, runSelftest, hostAssert, loadImage, type SelftestOptions, type SelftestResult } from "./harness";

const STEPS = [
  "KVM_SET_XSAVE of the saved image",
  "KVM_SET_XSAVE with XSTATE_BV = supported XCR0",
  "KVM_SET_CPUID2 with nent = 0, then KVM_SET_XSAVE with XSTATE_BV = supported XCR0",
  "KVM_SET_XSAVE with the original XSTATE_BV",
];

export interface StateTestDetail {
  /** XSTATE_BV of the image saved at each stage */
  xstateBv: bigint[];
  /** host kernel oopses at the end of the run */
  oopses?: number;
}

export function stateTest(opts: SelftestOptions = {}, detail?: StateTestDetail): SelftestResult {
  const t = new ImageVm(loadImage("state-test.elf", opts), opts);
  const xcr0 = t.supportedXcr0();
  let expectStage = 1;
  const r = runSelftest("state", t, (uc) => {
    const stage = Number(uc.args[1]);
    hostAssert(stage === expectStage, `GUEST_SYNC(${stage}), expected stage ${expectStage}`);
    expectStage++;
    const st = t.migrate();
    const dv = new DataView(st.xsave.buffer, st.xsave.byteOffset, st.xsave.byteLength);
    const bv = dv.getBigUint64(512, true);
    detail?.xstateBv.push(bv);
    const vcpuN = t.vm.createVcpu(1);
    t.vcpus.push(vcpuN);
    const img = st.xsave.slice();
    const idv = new DataView(img.buffer);
    const steps = [
      () => vcpuN.setXsave(img),
      () => { idv.setBigUint64(512, xcr0, true); vcpuN.setXsave(img); },
      () => { vcpuN.setCpuid2([]); vcpuN.setXsave(img); },
      () => { idv.setBigUint64(512, bv, true); vcpuN.setXsave(img); },
    ];
    for (let i = 0; i < steps.length; i++) {
      try { steps[i](); } catch (e) {
        if (e instanceof KvmError) hostAssert(false, `dummy vCPU step ${i + 1} (${STEPS[i]}): ${e.message}`);
        throw e;
      }
    }
  }, () => `UCALL_DONE after stages 1, 2: save/recreate/load and the four dummy-vCPU KVM_SET_XSAVE steps passed at each (supported XCR0 0x${xcr0.toString(16)})`);
  if (detail) detail.oopses = t.host.oopses.length;
  return r;
}
