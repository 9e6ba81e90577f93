// VMM-restore (kernel-abi.md §10, QEMU order) with two VMM personalities:
//   strict  any failed ioctl aborts the restore: MigrationError names the ioctl and errno; the
//           destination is never run (and the source, untouched by a restore, stays runnable);
//   qemu    kvm_arch_put_registers returns at its first error and its caller ignores it (the
//           seeds: "QEMU instead simply stops loading guest state"): the rest of the put is
//           skipped and the guest resumes with whatever state was loaded so far.
import type { Machine } from "../machine";
import * as K from "../../uapi/ioctl";
import { KVM_MEM_READONLY } from "../../uapi/consts";
import {
  encodeSregs, encodeRegs, encodeXcrs, encodeMsrs, encodeVcpuEvents, encodeMpState, encodeDebugregs,
} from "../../uapi/structs";
import type { VmSnapshot, VcpuSnapshot } from "./snapshot";
import { withIoctlLog, errnoName, type IoctlRecord } from "./ioctl_log";
import { bufferHeader, fpstateHeader, explainSetXsave, hex, type XsaveHeader } from "./xsave_header";
import { checkCompatible } from "./compat";

export type VmmPersonality = "strict" | "qemu";
export const VMM_PERSONALITIES: readonly VmmPersonality[] = ["strict", "qemu"];

/** The register put, in QEMU's order (kvm_arch_put_registers, 2025 tree: SREGS first). */
export const RESTORE_ORDER = [
  "KVM_SET_SREGS", "KVM_SET_REGS", "KVM_SET_XSAVE", "KVM_SET_XCRS", "KVM_SET_MSRS", "KVM_SET_VCPU_EVENTS",
  "KVM_SET_MP_STATE", "KVM_SET_DEBUGREGS",
] as const;
export type RestoreIoctl = (typeof RESTORE_ORDER)[number];

/** One step of the put. */
export interface RestoreStep {
  ioctl: RestoreIoctl;
  /** ioctl's return value: 0 (for KVM_SET_MSRS the number of MSRs written) or -errno */
  result: number;
  ok: boolean;
  /** errno name when the ioctl failed; KVM_SET_MSRS that stopped early has none (result < count) */
  errno?: string;
  /** why, when it failed (the kernel's check that refused it) */
  detail?: string;
  /** XSAVE header of the snapshot's buffer (the same at every step) */
  buffer: XsaveHeader;
  /** XSAVE header of the destination's guest fpstate right after this step */
  fpstate?: XsaveHeader;
}

export interface RestoreFailure { ioctl: RestoreIoctl; result: number; errno?: string; detail: string }

export interface RestoreReport {
  vmm: VmmPersonality;
  /** the put's steps that were issued, in order */
  steps: RestoreStep[];
  /** every ioctl the restore issued (memory slots included), in order */
  ioctls: IoctlRecord[];
  /** the first failed step, if any */
  failure?: RestoreFailure;
  /** the put's ioctls never issued because an earlier one failed */
  skipped: RestoreIoctl[];
  /** all of the state was loaded */
  complete: boolean;
  /** the destination's guest fpstate header before the put (fresh vCPU) */
  fpstateBefore?: XsaveHeader;
}

/** A strict restore failed: `ioctl` returned -errno. The destination must not run. */
export class MigrationError extends Error {
  constructor(readonly ioctl: string, readonly errno: string | undefined, readonly detail: string, readonly report: RestoreReport) {
    super(`${ioctl}: ${errno ? "-" + errno : "failed"}${detail ? ` (${detail})` : ""}`);
  }
}

/**
 * Restore `s` into the fresh Machine `m` (built with the stream's guest CPUID and memory size):
 * compatibility check (StreamError, nothing changed), memory (slots re-programmed where the
 * layouts differ, bytes copied), then the put in RESTORE_ORDER. `strict` throws MigrationError at
 * the first failure; `qemu` stops there and returns the report (failure set, complete false).
 */
export function vmmRestore(m: Machine, s: VmSnapshot, vmm: VmmPersonality): RestoreReport {
  if (vmm !== "strict" && vmm !== "qemu") throw new Error(`unknown VMM personality '${vmm}' (strict, qemu)`);
  checkCompatible(m, s);
  const report: RestoreReport = { vmm, steps: [], ioctls: [], skipped: [], complete: false, fpstateBefore: fpstateHeader(m) };
  withIoctlLog(m.host, report.ioctls, () => {
    restoreMemory(m, s);
    put(m, s.vcpus[0], report);
  });
  m.syncs = s.syncs;
  if (report.failure && vmm === "strict") throw new MigrationError(report.failure.ioctl, report.failure.errno, report.failure.detail, report);
  return report;
}

// Memory: slots that match (id, gpa, size, flags) are kept; the others are deleted and created
// as the snapshot has them (RAM slots over the Machine's RAM at the same guest address, ROM slots
// over new host memory); then every slot's bytes are copied in.
function restoreMemory(m: Machine, s: VmSnapshot): void {
  const want = new Map(s.slots.map((sl) => [sl.slot, sl]));
  const same = (id: number) => {
    const a = m.slots.get(id), b = want.get(id);
    return !!a && !!b && a.guest_phys_addr === b.gpa && a.memory_size === BigInt(b.data.length) && a.flags === b.flags;
  };
  for (const [id, r] of [...m.slots]) if (!same(id)) m.setMemorySlot({ ...r, memory_size: 0n });
  for (const sl of s.slots) {
    if (!m.slots.has(sl.slot)) {
      const host = sl.flags & KVM_MEM_READONLY ? m.host.alloc(sl.data.length, 4096) : m.ram + Number(sl.gpa);
      m.setMemorySlot({ slot: sl.slot, flags: sl.flags, guest_phys_addr: sl.gpa, memory_size: BigInt(sl.data.length), userspace_addr: BigInt(host) });
    }
    m.cpu.bytes.set(sl.data, Number(m.slots.get(sl.slot)!.userspace_addr));
  }
}

function put(m: Machine, v: VcpuSnapshot, report: RestoreReport): void {
  const buffer = bufferHeader(v.xsave);
  const fd = m.vcpu.fd;
  const args: Record<RestoreIoctl, [number, Uint8Array]> = {
    KVM_SET_SREGS: [K.KVM_SET_SREGS, encodeSregs(v.sregs)],
    KVM_SET_REGS: [K.KVM_SET_REGS, encodeRegs(v.regs)],
    // the kernel reads uabi_size bytes: give it at least that many (a 4096-byte GET_XSAVE buffer into an AMX vCPU)
    KVM_SET_XSAVE: [K.KVM_SET_XSAVE, padTo(v.xsave, m.host.kvm.vcpuOf(fd)?.fpu.uabiSize() ?? v.xsave.length)],
    KVM_SET_XCRS: [K.KVM_SET_XCRS, encodeXcrs(v.xcrs)],
    KVM_SET_MSRS: [K.KVM_SET_MSRS, encodeMsrs(v.msrs)],
    KVM_SET_VCPU_EVENTS: [K.KVM_SET_VCPU_EVENTS, encodeVcpuEvents(v.events)],
    KVM_SET_MP_STATE: [K.KVM_SET_MP_STATE, encodeMpState(v.mpState)],
    KVM_SET_DEBUGREGS: [K.KVM_SET_DEBUGREGS, encodeDebugregs(v.debugregs)],
  };
  for (const [i, ioctl] of RESTORE_ORDER.entries()) {
    const [req, arg] = args[ioctl];
    const result = m.host.ioctl(fd, req, arg);
    const short = ioctl === "KVM_SET_MSRS" && result >= 0 && result < v.msrs.length;
    const ok = result >= 0 && !short;
    const step: RestoreStep = { ioctl, result, ok, buffer, fpstate: fpstateHeader(m) };
    if (!ok) {
      step.errno = result < 0 ? errnoName(-result) : undefined;
      step.detail = ioctl === "KVM_SET_XSAVE" && result < 0 ? explainSetXsave(m, v.xsave)
        : short ? `stopped at MSR ${hex(v.msrs[result].index)} = ${hex(v.msrs[result].data)} (${result} of ${v.msrs.length} written)`
        : `${ioctl} returned ${step.errno ? "-" + step.errno : result}`;
      report.steps.push(step);
      report.failure = { ioctl, result, errno: step.errno, detail: step.detail };
      report.skipped = RESTORE_ORDER.slice(i + 1);
      return;
    }
    report.steps.push(step);
  }
  report.complete = true;
}

function padTo(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b;
  const o = new Uint8Array(n);
  o.set(b);
  return o;
}
