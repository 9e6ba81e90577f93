// What a scenario report shows for each step: the ioctl or event, its result,
// and the XSAVE header bits that decide the bugs — XSTATE_BV/XCOMP_BV of the
// uabi buffer the VMM holds, and the host kernel's guest fpstate (xfeatures,
// xfd, the saved image's XSTATE_BV) right after the step.
import type { Host, GuestFpstateView } from "../host";

export interface Step {
  /** what happened, e.g. "KVM_GET_XSAVE (source)" or "KVM_RUN → KVM_EXIT_IO port 0x80" */
  label: string;
  /** "0", "-EINVAL", "host oops in switch_fpu_return", … */
  result?: string;
  /** the uabi buffer's header, when the step read or wrote one */
  buffer?: { xstate_bv: string; xcomp_bv: string };
  /** the host kernel's guest fpstate after the step (GuestFpstateView, 64-bit values as hex) */
  fpstate?: { xstate_bv: string; xcomp_bv?: string; kernel?: string; xfeatures?: string; user_xfeatures?: string; xfd?: string; live?: boolean; xcr0?: string };
  note?: string;
}

export const hex = (v: bigint | number) => "0x" + v.toString(16);

export function bufferHeader(b: Uint8Array): Step["buffer"] {
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { xstate_bv: hex(d.getBigUint64(512, true)), xcomp_bv: hex(d.getBigUint64(520, true)) };
}

export function fpstateOf(host: Host, vcpuFd: number): Step["fpstate"] {
  const f: GuestFpstateView | null = host.guestFpstate(vcpuFd);
  if (!f) return undefined;
  return {
    kernel: `${f.kernel.version} (${f.kernel.id} ${f.kernel.name})`, xfeatures: hex(f.xfeatures), user_xfeatures: hex(f.user_xfeatures),
    xfd: hex(f.xfd), xstate_bv: hex(f.xstate_bv), xcomp_bv: hex(f.xcomp_bv), live: f.live, xcr0: hex(f.xcr0),
  };
}

const ERRNO: Record<number, string> = { 1: "EPERM", 4: "EINTR", 5: "EIO", 7: "E2BIG", 9: "EBADF", 12: "ENOMEM", 14: "EFAULT", 16: "EBUSY", 22: "EINVAL", 95: "EOPNOTSUPP" };
/** -22 → "-EINVAL" */
export function errnoName(r: number): string { return r >= 0 ? String(r) : `-${ERRNO[-r] ?? `E${-r}`}`; }
