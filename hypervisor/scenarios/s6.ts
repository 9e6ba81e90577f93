// S6 (kernel-abi.md §10, the state_test regression): a saved XSAVE image with XSTATE_BV 0x2E7 goes
// into a second vCPU before and after KVM_SET_CPUID2 with an empty table. B2 (ad856280) narrowed
// user_xfeatures to the guest CPUID's FP|SSE at KVM_SET_CPUID2 and refuses it; the others accept.
import { Host } from "../host";
import { Kvm } from "../vmm/kvm_ioctls";
import * as K from "../uapi/ioctl";
import { parseHostKernel, type Cell, type Outcome } from "./catalogue";
import { bufferHeader, errnoName, fpstateOf, type Step } from "./steps";
import type { CellRun } from "./run";

const BV = 0x2e7n;

export function runS6(cell: Cell): CellRun {
  const { model, kernel } = parseHostKernel(cell.source);
  const host = new Host({ cpu: model, kernel, memory: 4 << 20 });
  const kvm = new Kvm(host), vm = kvm.createVm();
  const steps: Step[] = [];
  // vcpu0 as the test leaves it: full supported CPUID, XCR0 = its 0xD.0 mask
  const v0 = vm.createVcpu(0);
  v0.setCpuid2(kvm.getSupportedCpuid());
  v0.setXcrs({ nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: BV }] });
  const buf = v0.getXsave();
  // the saved state of a guest that used x87 … AVX-512 and PKRU: every one of those components present
  new DataView(buf.buffer, buf.byteOffset).setBigUint64(512, BV, true);
  steps.push({ label: "vcpu0: saved XSAVE image (vcpu_save_state)", buffer: bufferHeader(buf), fpstate: fpstateOf(host, v0.fd) });

  const vN = vm.createVcpu(1);
  const set = (label: string): number => {
    const r = host.ioctl(vN.fd, K.KVM_SET_XSAVE, buf);
    steps.push({ label, result: errnoName(r), buffer: bufferHeader(buf), fpstate: fpstateOf(host, vN.fd) });
    return r;
  };
  const first = set("vcpuN (no KVM_SET_CPUID2 yet): KVM_SET_XSAVE");
  const empty = new Uint8Array(8);                               // struct kvm_cpuid2 { nent = 0, padding }
  const c = host.ioctl(vN.fd, K.KVM_SET_CPUID2, empty);
  steps.push({ label: "vcpuN: KVM_SET_CPUID2 (nent = 0)", result: errnoName(c), fpstate: fpstateOf(host, vN.fd) });
  const second = set("vcpuN: KVM_SET_XSAVE after the empty CPUID");
  const failed = first < 0 ? first : second;
  if (failed < 0) {
    const outcome: Outcome = `migration-refused: KVM_SET_XSAVE ${errnoName(failed)}`;
    return { outcome, detail: `KVM_SET_XSAVE ${errnoName(failed)}: XSTATE_BV 0x2e7 outside user_xfeatures ${steps.at(-1)!.fpstate?.user_xfeatures}`, steps };
  }
  return { outcome: "ok", detail: `both KVM_SET_XSAVE calls returned 0 (user_xfeatures ${steps.at(-1)!.fpstate?.user_xfeatures})`, steps };
}
