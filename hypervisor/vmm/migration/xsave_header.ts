// The XSAVE header (XSTATE_BV, XCOMP_BV) of a uabi buffer and of a vCPU's guest fpstate in the
// modelled kernel, and the kernel's reason for rejecting a KVM_SET_XSAVE buffer.
//
// fpstateHeader() reads the kernel's own image (vcpu->arch.guest_fpu.fpstate->regs) without an
// ioctl, the way a kernel developer would look at it with a debugger: the migration report shows
// it after each restore step. It works with the default guest-FPU model (kvm/fpu_kernel.ts) and
// returns undefined with any other HostOptions.fpu.
import type { Machine } from "../machine";
import { dvOf } from "../../uapi/structs";

export interface XsaveHeader {
  xstateBv: bigint;
  xcompBv: bigint;
}

/** xfeature bit names (arch/x86/include/asm/fpu/types.h enum xfeature) */
export const XFEATURE_NAMES: Record<number, string> = {
  0: "x87", 1: "SSE", 2: "YMM", 3: "BNDREGS", 4: "BNDCSR", 5: "OPMASK", 6: "ZMM_Hi256", 7: "Hi16_ZMM", 8: "PT",
  9: "PKRU", 10: "PASID", 11: "CET_USER", 12: "CET_KERNEL", 15: "LBR", 17: "XTILE_CFG", 18: "XTILE_DATA", 19: "APX",
};

export const hex = (v: bigint | number): string => "0x" + v.toString(16);

/** "bit 9 (PKRU)", "bits 9 (PKRU), 18 (XTILE_DATA)" */
export function describeBits(mask: bigint): string {
  const bits: string[] = [];
  for (let i = 0; i < 64; i++) if ((mask >> BigInt(i)) & 1n) bits.push(`${i} (${XFEATURE_NAMES[i] ?? "?"})`);
  return `${bits.length === 1 ? "bit" : "bits"} ${bits.join(", ")}`;
}

/** header of a standard-format XSAVE uabi buffer (bytes 512..527) */
export function bufferHeader(buf: Uint8Array): XsaveHeader {
  if (buf.length < 528) return { xstateBv: 0n, xcompBv: 0n };
  const dv = dvOf(buf);
  return { xstateBv: dv.getBigUint64(512, true), xcompBv: dv.getBigUint64(520, true) };
}

interface KernelView {
  v: {
    guest_fpu: { fpstate: { user_xfeatures: bigint; xfd: bigint } };
    host: { image(f: unknown): { xstate_bv: bigint; xcomp_bv: bigint }; kvm_caps: { supported_xcr0: bigint }; mxcsr_feature_mask: number };
  };
}
function kernelView(m: Machine): KernelView["v"] | undefined {
  const vc = m.host.kvm.vcpuOf(m.vcpu.fd);
  const f = vc?.fpu as unknown as Partial<KernelView> | undefined;
  return f?.v?.guest_fpu?.fpstate && typeof f.v.host?.image === "function" ? f.v : undefined;
}

/** the header of the vCPU's guest fpstate image in the kernel (XCOMP_BV shows the compacted format) */
export function fpstateHeader(m: Machine): XsaveHeader | undefined {
  const v = kernelView(m);
  if (!v) return undefined;
  const im = v.host.image(v.guest_fpu.fpstate);
  return { xstateBv: im.xstate_bv, xcompBv: im.xcomp_bv };
}

/**
 * Why KVM_SET_XSAVE refused `buf` on `m`'s vCPU, in the order the kernel checks
 * (fpu_copy_uabi_to_guest_fpstate: XSTATE_BV against kvm_caps.supported_xcr0; then
 * validate_user_xstate_header: against fpstate->user_xfeatures, XCOMP_BV, reserved; then MXCSR).
 */
export function explainSetXsave(m: Machine, buf: Uint8Array): string {
  const { xstateBv: bv, xcompBv } = bufferHeader(buf);
  const supported = m.host.kvm.fpuHost.supportedXcr0;
  if (bv & ~supported) return `XSTATE_BV ${hex(bv)} has ${describeBits(bv & ~supported)} outside supported_xcr0 ${hex(supported)}`;
  const v = kernelView(m);
  const user = v?.guest_fpu.fpstate.user_xfeatures;
  if (user !== undefined && bv & ~user) {
    return `XSTATE_BV ${hex(bv)} has ${describeBits(bv & ~user)} outside the guest fpstate's user_xfeatures ${hex(user)} (${m.host.kernel.id}: set from the guest CPUID at KVM_SET_CPUID2)`;
  }
  if (xcompBv) return `XCOMP_BV ${hex(xcompBv)} is not 0 (KVM_SET_XSAVE takes the standard format)`;
  const dv = dvOf(buf);
  for (let k = 0; k < 6; k++) if (dv.getBigUint64(528 + 8 * k, true)) return `XSAVE header reserved[${k}] is not 0`;
  const mask = v?.host.mxcsr_feature_mask;
  const mxcsr = dv.getUint32(24, true);
  if (mask !== undefined && mxcsr & ~mask) return `MXCSR ${hex(mxcsr)} has bits outside mxcsr_feature_mask ${hex(mask)}`;
  return `the kernel refused XSTATE_BV ${hex(bv)}`;
}
