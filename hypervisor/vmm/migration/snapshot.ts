// VMM-save (kernel-abi.md §10): the state a migration carries, read through the ioctl ABI in the
// order QEMU and the selftests use, plus every guest memory slot.
import type { Machine } from "../machine";
import { KvmError } from "../kvm_ioctls";
import { completeIo } from "../ucall";
import { KVM_CAP } from "../../uapi/consts";
import type { KvmRegs, KvmSregs, KvmVcpuEvents, KvmXcrs, MsrEntry, KvmDebugregs } from "../../uapi/structs";
import type { CpuidEntry } from "../../models/cpuid";
import type { BehaviourId } from "../../kernels";
import { withIoctlLog, type IoctlRecord } from "./ioctl_log";
import { bufferHeader, fpstateHeader, type XsaveHeader } from "./xsave_header";

/** One vCPU's saved state: the uapi structs as the kernel returned them. */
export interface VcpuSnapshot {
  id: number;
  events: KvmVcpuEvents;
  /** KVM_MP_STATE_* */
  mpState: number;
  regs: KvmRegs;
  /** the KVM_GET_XSAVE2 (or KVM_GET_XSAVE) buffer, standard format */
  xsave: Uint8Array;
  xcrs: KvmXcrs;
  sregs: KvmSregs;
  msrs: MsrEntry[];
  debugregs: KvmDebugregs;
}

/** One KVM memory slot: where it is in the guest, its flags (KVM_MEM_READONLY = ROM) and its bytes. */
export interface MemorySlotSnapshot {
  slot: number;
  flags: number;
  gpa: bigint;
  data: Uint8Array;
}

/** Everything needed to rebuild the VM elsewhere (the migration stream's content, stream.ts). */
export interface VmSnapshot {
  /** the source host: CPU model and kernel behaviour (Host.model.name, Host.kernel.version/id) */
  source: { host: string; kernel: string; kernelId: BehaviourId };
  /** the guest CPUID table (KVM_SET_CPUID2 on the source) */
  cpuid: CpuidEntry[];
  /** guest RAM bytes (Machine.ramSize), ROM slots not counted */
  memorySize: number;
  slots: MemorySlotSnapshot[];
  vcpus: VcpuSnapshot[];
  /** GUEST_SYNCs the guest had made when it was saved (the destination carries on counting) */
  syncs: number;
}

export interface SaveOptions {
  /** every ioctl the save issued, in order, is appended here */
  ioctls?: IoctlRecord[];
}

/** What vmmSave saw of the XSAVE header: of the kernel's image before the save, and of the buffer. */
export interface SaveHeaders { fpstate?: XsaveHeader; buffer: XsaveHeader }

/**
 * VMM-save of a stopped Machine. First a KVM_RUN with immediate_exit = 1 (QEMU's kick,
 * the selftests' vcpu_run_complete_io) so a pending IN — the GUEST_SYNC the machine stopped at —
 * completes inside the kernel; it returns -EINTR. Then, in kernel-abi.md §10's order:
 * KVM_GET_VCPU_EVENTS, KVM_GET_MP_STATE, KVM_GET_REGS, KVM_GET_XSAVE2 sized by
 * KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) on the VM fd (KVM_GET_XSAVE when the capability is 0, as
 * QEMU's has_xsave2), KVM_GET_XCRS, KVM_GET_SREGS, KVM_GET_MSRS over KVM_GET_MSR_INDEX_LIST (an
 * MSR the kernel refuses to read is left out, as QEMU drops MSRs it cannot read), KVM_GET_DEBUGREGS.
 * Memory: every slot the Machine programmed, RAM and ROM. Throws KvmError if a GET fails.
 */
export function vmmSave(m: Machine, opts: SaveOptions = {}): VmSnapshot {
  return vmmSaveWithHeaders(m, opts).snapshot;
}

/** vmmSave, also returning the XSAVE headers it saw (for reports). */
export function vmmSaveWithHeaders(m: Machine, opts: SaveOptions = {}): { snapshot: VmSnapshot; headers: SaveHeaders } {
  const log = opts.ioctls ?? [];
  const v = m.vcpu;
  const vcpu = withIoctlLog(m.host, log, (): { s: VcpuSnapshot; fp?: XsaveHeader } => {
    completeIo(v);
    const fp = fpstateHeader(m);
    const events = v.getVcpuEvents();
    const mpState = v.getMpState();
    const regs = v.getRegs();
    const cap = m.vm.checkExtension(KVM_CAP.XSAVE2);
    const xsave = cap ? v.getXsave2(cap) : v.getXsave();
    const xcrs = v.getXcrs();
    const sregs = v.getSregs();
    const msrs = readMsrs(m, m.kvm.getMsrIndexList());
    const debugregs = v.getDebugregs();
    return { s: { id: 0, events, mpState, regs, xsave, xcrs, sregs, msrs, debugregs }, fp };
  });
  const slots: MemorySlotSnapshot[] = [...m.slots.values()].sort((a, b) => a.slot - b.slot).map((r) => {
    const at = Number(r.userspace_addr), size = Number(r.memory_size);
    return { slot: r.slot, flags: r.flags, gpa: r.guest_phys_addr, data: m.cpu.bytes.slice(at, at + size) };
  });
  const snapshot: VmSnapshot = {
    source: { host: m.model.name, kernel: m.host.kernel.version, kernelId: m.host.kernel.id },
    cpuid: m.cpuid.map((e) => ({ ...e })),
    memorySize: m.ramSize,
    slots,
    vcpus: [vcpu.s],
    syncs: m.syncs,
  };
  return { snapshot, headers: { fpstate: vcpu.fp, buffer: bufferHeader(vcpu.s.xsave) } };
}

// KVM_GET_MSRS stops at the first MSR it cannot read and returns how many it read: read in runs,
// skipping each refused index.
function readMsrs(m: Machine, indices: number[]): MsrEntry[] {
  const out: MsrEntry[] = [];
  let rest = indices;
  while (rest.length) {
    const got = m.vcpu.getMsrs(rest);
    out.push(...got);
    rest = rest.slice(got.length + 1);
  }
  return out;
}

export { KvmError };
