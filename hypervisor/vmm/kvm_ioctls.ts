// Typed wrappers over Host.ioctl in the style of rust-vmm's kvm-ioctls: Kvm
// (the /dev/kvm fd), VmFd, VcpuFd, one method per ioctl named after it, and
// VcpuExit, a discriminated union whose data fields are views into the
// vCPU's kvm_run block (write IN / MMIO-read data into them before the next
// run()). Everything here goes through host.ioctl — nothing reaches around it.
// Failures throw KvmError carrying the errno.
import type { Host } from "../host";
import * as K from "../uapi/ioctl";
import { KVM_EXIT, ERRNO_NAMES, KVM_MAX_CPUID_ENTRIES, KVM_EXIT_IO_OUT } from "../uapi/consts";
import {
  dvOf, decodeRegs, encodeRegs, decodeSregs, encodeSregs, encodeMsrs, decodeMsrs, encodeMsrList, decodeMsrList,
  encodeCpuid2, decodeCpuid2, encodeUserMemoryRegion, decodeVcpuEvents, encodeVcpuEvents, encodeGuestDebug,
  encodeInterrupt, encodeXcrs, decodeXcrs, encodeMpState, decodeMpState, encodeDebugregs, decodeDebugregs, type KvmDebugregs,
  type KvmRegs, type KvmSregs, type MsrEntry, type UserMemoryRegion, type KvmVcpuEvents, type KvmGuestDebug, type KvmXcrs,
} from "../uapi/structs";
import type { CpuidEntry } from "../models/cpuid";

export class KvmError extends Error {
  constructor(readonly op: string, readonly errno: number) {
    super(`${op}: ${ERRNO_NAMES[errno] ?? "errno " + errno}`);
  }
}
function check(op: string, r: number): number {
  if (r < 0) throw new KvmError(op, -r);
  return r;
}

export class Kvm {
  readonly fd: number;
  constructor(readonly host: Host) { this.fd = host.open(); }
  /** KVM_GET_API_VERSION: 12 */
  getApiVersion(): number { return check("KVM_GET_API_VERSION", this.host.ioctl(this.fd, K.KVM_GET_API_VERSION, 0)); }
  /** KVM_CHECK_EXTENSION: 0 when unsupported, else a capability-specific value */
  checkExtension(cap: number): number { return check("KVM_CHECK_EXTENSION", this.host.ioctl(this.fd, K.KVM_CHECK_EXTENSION, cap)); }
  /** KVM_GET_VCPU_MMAP_SIZE: bytes of the kvm_run mapping */
  getVcpuMmapSize(): number { return check("KVM_GET_VCPU_MMAP_SIZE", this.host.ioctl(this.fd, K.KVM_GET_VCPU_MMAP_SIZE, 0)); }
  /** KVM_GET_SUPPORTED_CPUID with room for `max` entries */
  getSupportedCpuid(max = KVM_MAX_CPUID_ENTRIES): CpuidEntry[] {
    const b = encodeCpuid2([], max);
    check("KVM_GET_SUPPORTED_CPUID", this.host.ioctl(this.fd, K.KVM_GET_SUPPORTED_CPUID, b));
    return decodeCpuid2(b);
  }
  /** KVM_GET_MSR_INDEX_LIST */
  getMsrIndexList(max = 256): number[] {
    const b = encodeMsrList(max);
    check("KVM_GET_MSR_INDEX_LIST", this.host.ioctl(this.fd, K.KVM_GET_MSR_INDEX_LIST, b));
    return decodeMsrList(b);
  }
  /** KVM_CREATE_VM (type 0) */
  createVm(): VmFd { return new VmFd(this.host, check("KVM_CREATE_VM", this.host.ioctl(this.fd, K.KVM_CREATE_VM, 0)), this.getVcpuMmapSize()); }
}

export class VmFd {
  constructor(readonly host: Host, readonly fd: number, private readonly mmapSize: number) {}
  /** KVM_SET_USER_MEMORY_REGION; userspace_addr is a host.alloc() address */
  setUserMemoryRegion(r: UserMemoryRegion): void {
    check("KVM_SET_USER_MEMORY_REGION", this.host.ioctl(this.fd, K.KVM_SET_USER_MEMORY_REGION, encodeUserMemoryRegion(r)));
  }
  /** KVM_CHECK_EXTENSION on the VM fd */
  checkExtension(cap: number): number { return check("KVM_CHECK_EXTENSION", this.host.ioctl(this.fd, K.KVM_CHECK_EXTENSION, cap)); }
  /** KVM_CREATE_VCPU */
  createVcpu(id: number): VcpuFd {
    const fd = check("KVM_CREATE_VCPU", this.host.ioctl(this.fd, K.KVM_CREATE_VCPU, id));
    const run = this.host.mmap(fd);
    if (!run || run.length < this.mmapSize) throw new KvmError("mmap", 12);
    return new VcpuFd(this.host, fd, run);
  }
}

/** What KVM_RUN returned, decoded from kvm_run (data fields alias the run block). */
export type VcpuExit =
  | { kind: "IoIn"; port: number; data: Uint8Array }
  | { kind: "IoOut"; port: number; data: Uint8Array }
  | { kind: "MmioRead"; addr: bigint; data: Uint8Array }
  | { kind: "MmioWrite"; addr: bigint; data: Uint8Array }
  | { kind: "Hlt" }
  | { kind: "Shutdown" }
  | { kind: "Debug"; exception: number; pc: bigint; dr6: bigint; dr7: bigint }
  | { kind: "InternalError"; suberror: number }
  | { kind: "FailEntry"; reason: bigint; cpu: number }
  | { kind: "Intr" }
  | { kind: "Unsupported"; reason: number };

/** Decode the exit in a kvm_run block (pure: usable on fabricated blocks). */
export function decodeExit(run: Uint8Array): VcpuExit {
  const d = dvOf(run), reason = d.getUint32(8, true);
  switch (reason) {
    case KVM_EXIT.IO: {
      const size = run[33], count = d.getUint32(36, true), off = Number(d.getBigUint64(40, true));
      const data = run.subarray(off, off + size * count);
      const port = d.getUint16(34, true);
      return run[32] === KVM_EXIT_IO_OUT ? { kind: "IoOut", port, data } : { kind: "IoIn", port, data };
    }
    case KVM_EXIT.MMIO: {
      const addr = d.getBigUint64(32, true), data = run.subarray(40, 40 + Math.min(8, d.getUint32(48, true)));
      return run[52] ? { kind: "MmioWrite", addr, data } : { kind: "MmioRead", addr, data };
    }
    case KVM_EXIT.HLT: return { kind: "Hlt" };
    case KVM_EXIT.SHUTDOWN: return { kind: "Shutdown" };
    case KVM_EXIT.DEBUG: return { kind: "Debug", exception: d.getUint32(32, true), pc: d.getBigUint64(40, true), dr6: d.getBigUint64(48, true), dr7: d.getBigUint64(56, true) };
    case KVM_EXIT.INTERNAL_ERROR: return { kind: "InternalError", suberror: d.getUint32(32, true) };
    case KVM_EXIT.FAIL_ENTRY: return { kind: "FailEntry", reason: d.getBigUint64(32, true), cpu: d.getUint32(40, true) };
    case KVM_EXIT.INTR: return { kind: "Intr" };
    default: return { kind: "Unsupported", reason };
  }
}

export class VcpuFd {
  constructor(readonly host: Host, readonly fd: number, readonly runBlock: Uint8Array) {}
  private io(op: string, req: number, arg?: Uint8Array | number): number { return check(op, this.host.ioctl(this.fd, req, arg)); }
  /** KVM_RUN: runs until an exit; an -EINTR (immediate_exit or the run budget) becomes { kind: "Intr" } */
  run(): VcpuExit {
    const r = this.host.ioctl(this.fd, K.KVM_RUN, 0);
    if (r === -4) return { kind: "Intr" };
    check("KVM_RUN", r);
    return decodeExit(this.runBlock);
  }
  /** kvm_run.immediate_exit */
  setImmediateExit(on: boolean): void { this.runBlock[1] = on ? 1 : 0; }
  getRegs(): KvmRegs { const b = new Uint8Array(144); this.io("KVM_GET_REGS", K.KVM_GET_REGS, b); return decodeRegs(b); }
  setRegs(r: Partial<KvmRegs>): void { this.io("KVM_SET_REGS", K.KVM_SET_REGS, encodeRegs(r)); }
  getSregs(): KvmSregs { const b = new Uint8Array(312); this.io("KVM_GET_SREGS", K.KVM_GET_SREGS, b); return decodeSregs(b); }
  setSregs(s: KvmSregs): void { this.io("KVM_SET_SREGS", K.KVM_SET_SREGS, encodeSregs(s)); }
  /** KVM_GET_MSRS: the entries read (stops at the first unknown MSR, like the kernel) */
  getMsrs(indices: number[]): MsrEntry[] {
    const b = encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const n = this.io("KVM_GET_MSRS", K.KVM_GET_MSRS, b);
    return decodeMsrs(b, n);
  }
  /** KVM_SET_MSRS: the number of MSRs written */
  setMsrs(entries: MsrEntry[]): number { return this.io("KVM_SET_MSRS", K.KVM_SET_MSRS, encodeMsrs(entries)); }
  setCpuid2(entries: CpuidEntry[]): void { this.io("KVM_SET_CPUID2", K.KVM_SET_CPUID2, encodeCpuid2(entries)); }
  getCpuid2(max = KVM_MAX_CPUID_ENTRIES): CpuidEntry[] {
    const b = encodeCpuid2([], max);
    this.io("KVM_GET_CPUID2", K.KVM_GET_CPUID2, b);
    return decodeCpuid2(b);
  }
  /** KVM_INTERRUPT (no in-kernel irqchip) */
  interrupt(irq: number): void { this.io("KVM_INTERRUPT", K.KVM_INTERRUPT, encodeInterrupt(irq)); }
  getVcpuEvents(): KvmVcpuEvents { const b = new Uint8Array(64); this.io("KVM_GET_VCPU_EVENTS", K.KVM_GET_VCPU_EVENTS, b); return decodeVcpuEvents(b); }
  setVcpuEvents(e: KvmVcpuEvents): void { this.io("KVM_SET_VCPU_EVENTS", K.KVM_SET_VCPU_EVENTS, encodeVcpuEvents(e)); }
  /** KVM_GET_MP_STATE: a KVM_MP_STATE value (always RUNNABLE without an in-kernel irqchip) */
  getMpState(): number { const b = new Uint8Array(4); this.io("KVM_GET_MP_STATE", K.KVM_GET_MP_STATE, b); return decodeMpState(b); }
  /** KVM_SET_MP_STATE: -EINVAL (KvmError) for anything but RUNNABLE without an in-kernel irqchip */
  setMpState(state: number): void { this.io("KVM_SET_MP_STATE", K.KVM_SET_MP_STATE, encodeMpState(state)); }
  /** KVM_GET_DEBUGREGS: DR0–3, DR6, DR7 */
  getDebugregs(): KvmDebugregs { const b = new Uint8Array(128); this.io("KVM_GET_DEBUGREGS", K.KVM_GET_DEBUGREGS, b); return decodeDebugregs(b); }
  /** KVM_SET_DEBUGREGS: -EINVAL for flags ≠ 0 or DR6/DR7 with bits 63:32 set */
  setDebugregs(d: KvmDebugregs): void { this.io("KVM_SET_DEBUGREGS", K.KVM_SET_DEBUGREGS, encodeDebugregs(d)); }
  setGuestDebug(g: KvmGuestDebug): void { this.io("KVM_SET_GUEST_DEBUG", K.KVM_SET_GUEST_DEBUG, encodeGuestDebug(g)); }
  /** KVM_GET_XSAVE: the fixed 4096-byte kvm_xsave */
  getXsave(): Uint8Array { const b = new Uint8Array(4096); this.io("KVM_GET_XSAVE", K.KVM_GET_XSAVE, b); return b; }
  /** KVM_GET_XSAVE2 into a buffer of `size` bytes (size it with KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)) */
  getXsave2(size: number): Uint8Array { const b = new Uint8Array(Math.max(4096, size)); this.io("KVM_GET_XSAVE2", K.KVM_GET_XSAVE2, b); return b; }
  setXsave(b: Uint8Array): void { this.io("KVM_SET_XSAVE", K.KVM_SET_XSAVE, b); }
  getXcrs(): KvmXcrs { const b = new Uint8Array(392); this.io("KVM_GET_XCRS", K.KVM_GET_XCRS, b); return decodeXcrs(b); }
  setXcrs(x: KvmXcrs): void { this.io("KVM_SET_XCRS", K.KVM_SET_XCRS, encodeXcrs(x)); }
}
