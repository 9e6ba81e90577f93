// arch/x86/kvm/x86.c in miniature: kvm_arch_vcpu_ioctl and the handlers it
// dispatches to, over the loaded vCPU (kvm_main.ts vcpuLoad ran first).
// Names follow the kernel's so a reader can put the two side by side.
import type { KvmSystem, IoctlArg } from "./kvm_main";
import type { Vcpu } from "./vcpu";
import * as K from "../uapi/ioctl";
import {
  KVM_EXIT, EINVAL, EFAULT, E2BIG, EINTR, ENXIO, EBUSY, KVM_MAX_CPUID_ENTRIES, KVM_NR_INTERRUPTS, KVM_MSRS_MAX,
  KVM_GUESTDBG, KVM_VCPUEVENT, KVM_INTERNAL_ERROR_EMULATION, KVM_MP_STATE,
} from "../uapi/consts";
import { dvOf, readCpuidEntry, writeCpuidEntry, REGS_GPR_INDEX, SREGS_SEGS, SEG_FIELDS, type KvmSegment } from "../uapi/structs";
import type { CpuidEntry } from "../models/cpuid";
import { KVM_PIO_PAGE_OFFSET } from "./vcpu";

/** MSRs KVM_GET_MSR_INDEX_LIST reports (msrs_to_save + emulated_msrs the CPU implements). */
export const MSR_INDEX_LIST = [
  0x10, 0x1b, 0x3b, 0x174, 0x175, 0x176, 0x1a0, 0x277, 0x2ff,
  0xc0000080, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000100, 0xc0000101, 0xc0000102, 0xc0000103,
];

type Ex = Record<string, (...a: number[]) => number>;

export function kvm_arch_vcpu_ioctl(k: KvmSystem, v: Vcpu, req: number, arg: IoctlArg): number {
  switch (req) {
    // the FPU wrapper (kvm_load_guest_fpu … kvm_put_guest_fpu) spans the whole ioctl, immediate_exit included
    case K.KVM_RUN: {
      if (intArg(arg)) return -EINVAL;
      const ev = k.hostEventLog.length, oo = k.fpuHost.oopses().length;
      const r = v.fpu.run(() => kvm_arch_vcpu_ioctl_run(k, v));
      // an oops in the KVM_RUN in which host events fired: name its path on them (Host.events)
      const oops = k.fpuHost.oopses()[oo];
      if (oops) for (const e of k.hostEventLog.slice(ev)) e.oops = oops.caller;
      return r;
    }
    case K.KVM_GET_REGS: { const b = k.user(arg, 144); if (!b) return -EFAULT; __get_regs(k, b); return 0; }
    case K.KVM_SET_REGS: { const b = k.user(arg, 144); if (!b) return -EFAULT; __set_regs(k, b); return 0; }
    case K.KVM_GET_SREGS: { const b = k.user(arg, 312); if (!b) return -EFAULT; __get_sregs(k, b); return 0; }
    case K.KVM_SET_SREGS: { const b = k.user(arg, 312); if (!b) return -EFAULT; return __set_sregs(k, b); }
    case K.KVM_GET_MSRS: return msr_io(k, v, arg, false);
    case K.KVM_SET_MSRS: return msr_io(k, v, arg, true);
    case K.KVM_SET_CPUID2: return kvm_vcpu_ioctl_set_cpuid2(k, v, arg);
    case K.KVM_GET_CPUID2: return kvm_vcpu_ioctl_get_cpuid2(v, k, arg);
    case K.KVM_INTERRUPT: { const b = k.user(arg, 4); if (!b) return -EFAULT; return kvm_vcpu_ioctl_interrupt(k, dvOf(b).getUint32(0, true)); }
    case K.KVM_GET_VCPU_EVENTS: { const b = k.user(arg, 64); if (!b) return -EFAULT; kvm_vcpu_ioctl_x86_get_vcpu_events(k, b); return 0; }
    case K.KVM_SET_VCPU_EVENTS: { const b = k.user(arg, 64); if (!b) return -EFAULT; return kvm_vcpu_ioctl_x86_set_vcpu_events(k, b); }
    case K.KVM_GET_MP_STATE: { const b = k.user(arg, 4); if (!b) return -EFAULT; dvOf(b).setUint32(0, kvm_arch_vcpu_ioctl_get_mpstate(v), true); return 0; }
    case K.KVM_SET_MP_STATE: { const b = k.user(arg, 4); if (!b) return -EFAULT; return kvm_arch_vcpu_ioctl_set_mpstate(k, v, dvOf(b).getUint32(0, true)); }
    case K.KVM_GET_DEBUGREGS: { const b = k.user(arg, 128); if (!b) return -EFAULT; kvm_vcpu_ioctl_x86_get_debugregs(k, b); return 0; }
    case K.KVM_SET_DEBUGREGS: { const b = k.user(arg, 128); if (!b) return -EFAULT; return kvm_vcpu_ioctl_x86_set_debugregs(k, b); }
    case K.KVM_SET_GUEST_DEBUG: { const b = k.user(arg, 72); if (!b) return -EFAULT; return kvm_arch_vcpu_ioctl_set_guest_debug(k, v, b); }
    case K.KVM_GET_XSAVE: { const b = k.user(arg, 4096); if (!b) return -EFAULT; return v.fpu.getXsave(b, 4096); }
    case K.KVM_GET_XSAVE2: {
      const size = v.fpu.uabiSize(), b = k.user(arg, size);
      if (!b) return -EFAULT;
      return v.fpu.getXsave(b, size);
    }
    case K.KVM_SET_XSAVE: { const b = k.user(arg, v.fpu.uabiSize()); if (!b) return -EFAULT; return v.fpu.setXsave(b); }
    case K.KVM_GET_FPU: { const b = k.user(arg, 416); if (!b) return -EFAULT; return v.fpu.getFpu(b); }
    case K.KVM_SET_FPU: { const b = k.user(arg, 416); if (!b) return -EFAULT; return v.fpu.setFpu(b); }
    case K.KVM_GET_XCRS: { const b = k.user(arg, 392); if (!b) return -EFAULT; return v.fpu.getXcrs(b); }
    case K.KVM_SET_XCRS: { const b = k.user(arg, 392); if (!b) return -EFAULT; return v.fpu.setXcrs(b); }
    case K.KVM_ENABLE_CAP: { const b = k.user(arg, K.SIZEOF.kvm_enable_cap); return b ? -EINVAL : -EFAULT; }
    default: return -EINVAL;
  }
}
// an ioctl's integer argument (a buffer stands for its non-zero user address)
function intArg(arg: IoctlArg): bigint {
  if (arg === undefined) return 0n;
  if (typeof arg === "bigint") return BigInt.asUintN(64, arg);
  if (typeof arg === "number" && Number.isFinite(arg)) return BigInt.asUintN(64, BigInt(Math.trunc(arg)));
  return 1n;
}

// ---- KVM_RUN ----
function kvm_arch_vcpu_ioctl_run(k: KvmSystem, v: Vcpu): number {
  const c = k.cpu, L = c.L, ex = c.ex as unknown as Ex, run = v.run, rd = dvOf(run);
  rd.setUint16(14, 0, true);                                    // kvm_run->flags = 0
  // complete_userspace_io runs even when immediate_exit is set
  if (run[1]) {
    completePioInNow(k, v);
    return -EINTR;
  }
  c.bytes.set(run.subarray(4096 * KVM_PIO_PAGE_OFFSET, 4096 * KVM_PIO_PAGE_OFFSET + 8), L.RUN + L.R_IO_DATA);
  if (v.mmioReadPa !== null) {
    ex.mmio_data(Number(v.mmioReadPa), rd.getInt32(40, true), rd.getInt32(44, true));
    v.mmioReadPa = null;
  }
  v.hasRun = true;
  const start = c.insns;
  let reason: number, r = 0;
  for (;;) {
    const left = k.runBudget - (c.insns - start);
    if (left <= 0) { reason = KVM_EXIT.INTR; r = -EINTR; break; }
    // a scheduled { afterInsns } host event stops the guest where it is due (a host timer exit)
    let slice = Math.min(left, 1 << 20);
    for (const e of v.hostEvents) if (e.left !== undefined) slice = Math.min(slice, e.left);
    // one VM-entry … VM-exit: the guest's XCR0/XFD/PKRU are in the CPU only in between
    v.fpu.enterGuest();
    const before = c.insns;
    reason = c.run(slice);
    const ran = c.insns - before, why = reason;
    // host events fire where the kernel enables interrupts again, before the exit handler
    v.fpu.exitGuest(v.hostEvents.length ? () => fireHostEvents(k, v, why, ran) : undefined);
    // exits KVM handles itself: the handler, then straight back to vcpu_enter_guest
    if (reason === L.EXIT_VMX_MSR_WRITE) {
      const out = handle_wrmsr_exit(k, v);
      if (out < 0) continue;
      reason = out;
      break;
    }
    if (reason !== L.EXIT_INTR) break;
  }
  // the exit record: header and union from the CPU's RUN block
  run.set(c.bytes.subarray(L.RUN + 32, L.RUN + 288), 32);
  rd.setUint32(8, reason, true);
  const rflags = c.rflags;
  const iflag = (rflags & 0x200n) !== 0n;
  run[13] = iflag ? 1 : 0;
  run[12] = iflag && c.u32(L.S_SHADOW) === 0 && c.i32(L.S_PEND_IRQ) < 0 ? 1 : 0;
  rd.setBigUint64(16, c.u64(L.S_CR8), true);
  rd.setBigUint64(24, c.u64(L.S_APIC_BASE), true);
  switch (reason) {
    case KVM_EXIT.IO:
      rd.setBigUint64(40, BigInt(4096 * KVM_PIO_PAGE_OFFSET), true);
      run.set(c.bytes.subarray(L.RUN + L.R_IO_DATA, L.RUN + L.R_IO_DATA + 8), 4096 * KVM_PIO_PAGE_OFFSET);
      break;
    case KVM_EXIT.MMIO:
      if (!run[52]) v.mmioReadPa = rd.getBigUint64(32, true);
      break;
    case KVM_EXIT.DEBUG: {
      let exc = rd.getUint32(32, true), dr6 = exc === 1 ? 0xffff4ff0n : 0xffff0ff0n;   // DR6: BS for a single step, active-low bits set
      const pc = linearRip(k);
      // an intercepted exception is not re-injected by KVM: the debugger decides
      if (c.i32(L.S_PEND_EXC) === exc) c.setI32(L.S_PEND_EXC, -1);
      else if (exc === 3 && (c.u32(L.S_DBG_CTRL) & L.DBG_SW_BP)) {
        // the CPU's instruction-address match (USE_HW_BP): a #DB with DR6.Bn of the matching DRn
        exc = 1;
        rd.setUint32(32, 1, true);
        for (let i = 0; i < 4; i++) if (v.debugRegs[i] === pc && ((v.debugRegs[7] >> BigInt(2 * i)) & 3n)) dr6 |= 1n << BigInt(i);
      }
      rd.setUint32(36, 0, true);
      rd.setBigUint64(40, pc, true);
      rd.setBigUint64(48, dr6, true);
      rd.setBigUint64(56, c.u64(L.S_DR + 56), true);
      break;
    }
    case KVM_EXIT.INTERNAL_ERROR:
      rd.setUint32(32, KVM_INTERNAL_ERROR_EMULATION, true);
      rd.setUint32(36, 0, true);
      break;
  }
  return r;
}

// An intercepted WRMSR (EXIT_VMX_MSR_WRITE, KVM-internal: userspace never sees it): VMX's
// handle_wrmsr → kvm_emulate_wrmsr → kvm_set_msr_with_filter → vmx_set_msr → kvm_set_msr_common,
// after the exit's FPU steps and IRQ window (exitGuest). The CPU exits before writing anything,
// RIP at the WRMSR; it only intercepts what KVM intercepts (the VcpuFpu sets S_MSR_ICPT at entry:
// IA32_XFD until xfd_no_write_intercept). On success kvm_skip_emulated_instruction moves RIP by
// the VM-exit instruction length (the exit already counted the WRMSR as retired) and, as there,
// a single-step (KVM_GUESTDBG_SINGLESTEP: a KVM_EXIT_DEBUG; guest RFLAGS.TF: a queued #DB) follows
// the emulated instruction; on failure kvm_inject_gp(0) with RIP still at the WRMSR. Returns -1 to
// re-enter the guest (vcpu_enter_guest: switch_fpu_return if an IRQ/preemption in the window left
// TIF_NEED_FPU_LOAD — the S4 host #NM under B1–B3), or the KVM_EXIT_* to return to userspace.
export function handle_wrmsr_exit(k: KvmSystem, v: Vcpu): number {
  const c = k.cpu, L = c.L, ex = c.ex as unknown as Ex, rb = c.runBlock;
  const dv = new DataView(rb.buffer, rb.byteOffset, 4096);
  const idx = dv.getUint32(L.R_MSR_INDEX, true), len = dv.getUint32(L.R_MSR_LEN, true), data = dv.getBigUint64(L.R_MSR_DATA, true);
  const f = v.fpu.setMsr(idx, data, false);
  const ok = f ? f.ok : ex.msr_write(idx | 0, Number(data & 0xffffffffn) | 0, Number(data >> 32n) | 0) === 1;
  if (!ok) {
    // the WRMSR faults after all: it did not retire (the exit counted it)
    c.setU64(L.S_INSNS, c.u64(L.S_INSNS) - 1n);
    c.setU64(L.S_TSC, c.u64(L.S_TSC) - 1n);
    c.setI32(L.S_PEND_EXC, 13);
    c.setU32(L.S_PEND_EXC_HAS_ERR, 1);
    c.setU32(L.S_PEND_EXC_ERR, 0);
    c.ex.state_changed();
    return -1;
  }
  c.rip = c.rip + BigInt(len);
  c.setU32(L.S_SHADOW, 0);                              // the skip ends an STI/MOV SS shadow
  if (c.rflags & 0x10000n) c.rflags = c.rflags & ~0x10000n;   // and RF
  c.ex.state_changed();
  // kvm_vcpu_do_singlestep
  const dbg = c.u32(L.S_DBG_CTRL);
  if ((dbg & (L.DBG_ENABLE | L.DBG_SINGLESTEP)) === (L.DBG_ENABLE | L.DBG_SINGLESTEP)) {
    dv.setUint32(L.R_DEBUG_EXC, 1, true);
    dv.setBigUint64(L.R_DEBUG_PC, linearRip(k), true);
    dv.setBigUint64(L.R_DEBUG_DR6, 0x4000n, true);
    dv.setUint32(L.R_EXIT_REASON, KVM_EXIT.DEBUG, true);
    return KVM_EXIT.DEBUG;
  }
  if (c.rflags & 0x100n) {
    c.setU64(L.S_DR + 48, c.u64(L.S_DR + 48) | 0x4000n);
    c.setI32(L.S_PEND_EXC, 1);
    c.setU32(L.S_PEND_EXC_HAS_ERR, 0);
  }
  return -1;
}

// Host.scheduleEvent: the events due at this exit, in scheduling order (vcpu.ts HostEventAt)
function fireHostEvents(k: KvmSystem, v: Vcpu, reason: number, ran: number): void {
  const c = k.cpu, L = c.L;
  const port = reason === KVM_EXIT.IO ? c.bytes[L.RUN + L.R_IO_PORT] | (c.bytes[L.RUN + L.R_IO_PORT + 1] << 8) : undefined;
  const msr = reason === L.EXIT_VMX_MSR_WRITE ? c.view.getUint32(L.RUN + L.R_MSR_INDEX, true) : undefined;
  const due: typeof v.hostEvents = [];
  v.hostEvents = v.hostEvents.filter((e) => {
    if (e.left !== undefined) e.left = Math.max(0, e.left - ran);
    const at = e.at;
    const hit = at === "next-exit" ? reason !== L.EXIT_INTR
      : "afterInsns" in at ? e.left === 0
      : "msrWrite" in at ? msr !== undefined && msr === at.msrWrite >>> 0
      : reason === at.exitReason && (at.port === undefined || port === at.port);
    if (hit) due.push(e);
    return !hit;
  });
  for (const e of due) {
    const rec = { id: e.id, vcpuId: v.id, kind: e.kind, at: e.at, exitReason: reason, port, msr, insns: c.insns, calls: [] as string[] };
    k.hostEventLog.push(rec);
    rec.calls = v.fpu.hostEvent ? v.fpu.hostEvent(e.kind) : [];
  }
}

function linearRip(k: KvmSystem): bigint {
  const c = k.cpu, L = c.L;
  if (c.ex.mode() & L.MODE_64) return c.rip;
  return (c.rip + c.seg(L.SEG_CS).base) & 0xffffffffn;
}

// Finish a port IN with the data userspace left in the PIO page (complete_fast_pio_in).
function completePioInNow(k: KvmSystem, v: Vcpu): void {
  const c = k.cpu, ex = c.ex as unknown as Ex;
  if (ex.io_pending(0) !== 1) return;
  const size = ex.io_pending(1), d = dvOf(v.run).getBigUint64(4096 * KVM_PIO_PAGE_OFFSET, true);
  const old = c.gpr(0);
  const v2 = size === 8 ? (old & ~0xffn) | (d & 0xffn) : size === 16 ? (old & ~0xffffn) | (d & 0xffffn) : d & 0xffffffffn;
  c.setGpr(0, v2);
  ex.io_restore(0, 0, 0, 0);
}

// ---- registers ----
function __get_regs(k: KvmSystem, b: Uint8Array): void {
  const c = k.cpu, dv = dvOf(b);
  for (let i = 0; i < 16; i++) dv.setBigUint64(8 * i, c.gpr(REGS_GPR_INDEX[i]), true);
  dv.setBigUint64(128, c.rip, true);
  dv.setBigUint64(136, c.rflags, true);
}
function __set_regs(k: KvmSystem, b: Uint8Array): void {
  const c = k.cpu, dv = dvOf(b);
  for (let i = 0; i < 16; i++) c.setGpr(REGS_GPR_INDEX[i], dv.getBigUint64(8 * i, true));
  c.rip = dv.getBigUint64(128, true);
  c.rflags = dv.getBigUint64(136, true);
  c.setI32(c.L.S_PEND_EXC, -1);           // vcpu->arch.exception.pending = false
}

// kvm_sregs segment order → the CPU's segment index
const SEG_INDEX: Record<(typeof SREGS_SEGS)[number], string> = { cs: "SEG_CS", ds: "SEG_DS", es: "SEG_ES", fs: "SEG_FS", gs: "SEG_GS", ss: "SEG_SS", tr: "SEG_TR", ldt: "SEG_LDTR" };

export function segFromAttr(base: bigint, limit: number, sel: number, a: number): KvmSegment {
  return {
    base, limit, selector: sel, type: a & 15, s: (a >> 4) & 1, dpl: (a >> 5) & 3, present: (a >> 7) & 1,
    avl: (a >> 12) & 1, l: (a >> 13) & 1, db: (a >> 14) & 1, g: (a >> 15) & 1, unusable: (a >> 11) & 1,
  };
}
export function attrFromSeg(s: KvmSegment): number {
  return (s.type & 15) | ((s.s & 1) << 4) | ((s.dpl & 3) << 5) | ((s.present & 1) << 7) | ((s.avl & 1) << 12) |
    ((s.l & 1) << 13) | ((s.db & 1) << 14) | ((s.g & 1) << 15) | ((s.unusable ? 1 : 0) << 11);
}

function __get_sregs(k: KvmSystem, b: Uint8Array): void {
  const c = k.cpu, L = c.L, dv = dvOf(b);
  SREGS_SEGS.forEach((name, i) => {
    const s = c.seg(L[SEG_INDEX[name]]), o = 24 * i, g = segFromAttr(s.base, s.limit, s.sel, s.attr);
    dv.setBigUint64(o, g.base, true);
    dv.setUint32(o + 8, g.limit >>> 0, true);
    dv.setUint16(o + 12, g.selector, true);
    SEG_FIELDS.forEach((f, j) => { b[o + 14 + j] = g[f]; });
    b[o + 23] = 0;
  });
  for (const [o, base, lim] of [[192, L.S_GDTR_BASE, L.S_GDTR_LIMIT], [208, L.S_IDTR_BASE, L.S_IDTR_LIMIT]]) {
    dv.setBigUint64(o, c.u64(base), true);
    dv.setUint16(o + 8, Number(c.u64(lim) & 0xffffn), true);
    b.fill(0, o + 10, o + 16);
  }
  [L.S_CR0, L.S_CR2, L.S_CR3, L.S_CR4, L.S_CR8, L.S_EFER, L.S_APIC_BASE].forEach((off, i) => dv.setBigUint64(224 + 8 * i, c.u64(off), true));
  b.fill(0, 280, 312);
  const irq = c.i32(L.S_PEND_IRQ);
  if (irq >= 0 && irq < 256) b[280 + (irq >> 3)] |= 1 << (irq & 7);
}

const CR0_PE = 1n, CR0_NW = 1n << 29n, CR0_CD = 1n << 30n, CR0_PG = 1n << 31n;
const CR4_PAE = 0x20n, EFER_LME = 0x100n, EFER_LMA = 0x400n;
// CR4 bits the CPU core knows (VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT UMIP LA57 FSGSBASE PCIDE OSXSAVE SMEP SMAP PKE)
const CR4_KNOWN = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x1000 | 0x10000 | 0x20000 | 0x40000 | 0x100000 | 0x200000 | 0x400000;

// kvm_is_valid_sregs + __set_sregs_common
function __set_sregs(k: KvmSystem, b: Uint8Array): number {
  const c = k.cpu, L = c.L, dv = dvOf(b);
  const cr0 = dv.getBigUint64(224, true), cr3 = dv.getBigUint64(240, true), cr4 = dv.getBigUint64(248, true), efer = dv.getBigUint64(264, true);
  const csL = b[19];
  if ((efer & EFER_LME) && (cr0 & CR0_PG)) {
    if (!(cr4 & CR4_PAE) || !(efer & EFER_LMA)) return -EINVAL;
    if (cr3 >> BigInt(k.model.physBits)) return -EINVAL;
  } else if ((efer & EFER_LMA) || csL) return -EINVAL;
  if (cr4 >> 32n || (Number(cr4) & ~CR4_KNOWN)) return -EINVAL;
  if (cr0 >> 32n || ((cr0 & CR0_NW) && !(cr0 & CR0_CD)) || ((cr0 & CR0_PG) && !(cr0 & CR0_PE))) return -EINVAL;
  // kvm_valid_efer: SCE LME LMA NXE, and only what the guest CPUID allows for NX/LM is enforced by the CPU on WRMSR
  if (efer & ~(0x1n | EFER_LME | EFER_LMA | 0x800n)) return -EINVAL;
  SREGS_SEGS.forEach((name, i) => {
    const o = 24 * i, s = {
      base: dv.getBigUint64(o, true), limit: dv.getUint32(o + 8, true), selector: dv.getUint16(o + 12, true),
    } as KvmSegment;
    SEG_FIELDS.forEach((f, j) => { s[f] = b[o + 14 + j]; });
    c.setSeg(L[SEG_INDEX[name]], { base: s.base, limit: s.limit, sel: s.selector, attr: attrFromSeg(s) });
  });
  c.setU64(L.S_GDTR_BASE, dv.getBigUint64(192, true));
  c.setU64(L.S_GDTR_LIMIT, BigInt(dv.getUint16(200, true)));
  c.setU64(L.S_IDTR_BASE, dv.getBigUint64(208, true));
  c.setU64(L.S_IDTR_LIMIT, BigInt(dv.getUint16(216, true)));
  c.setU64(L.S_CR0, cr0);
  c.setU64(L.S_CR2, dv.getBigUint64(232, true));
  c.setU64(L.S_CR3, cr3);
  c.setU64(L.S_CR4, cr4);
  c.setU64(L.S_CR8, dv.getBigUint64(256, true) & 0xfn);
  c.setU64(L.S_EFER, efer);
  c.setU64(L.S_APIC_BASE, dv.getBigUint64(272, true));
  // CPL: from SS.DPL in protected mode (VMX's view), 3 in virtual-8086 mode, 0 in real mode
  const vm86 = (c.rflags & 0x20000n) !== 0n;
  c.setU32(L.S_CPL, !(cr0 & CR0_PE) ? 0 : vm86 ? 3 : b[120 + 16]);
  // interrupt_bitmap: the (at most one) pending external interrupt
  let pend = -1;
  for (let i = 0; i < 256 && pend < 0; i++) if (b[280 + (i >> 3)] & (1 << (i & 7))) pend = i;
  if (pend >= 0) c.setI32(L.S_PEND_IRQ, pend);
  // is_pae_paging(): the PDPTEs are loaded from guest memory now (load_pdptrs)
  if ((cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA)) (c.ex as unknown as Ex).pdptes_load();
  c.ex.state_changed();
  return 0;
}

// ---- MSRs ----
function msr_io(k: KvmSystem, v: Vcpu, arg: IoctlArg, write: boolean): number {
  const h = k.user(arg, 8);
  if (!h) return -EFAULT;
  const n = dvOf(h).getUint32(0, true);
  if (n >= KVM_MSRS_MAX) return -E2BIG;
  const body = k.user(arg, 16 * n, 8);
  if (!body) return -EFAULT;
  const dv = dvOf(body);
  let i = 0;
  for (; i < n; i++) {
    const idx = dv.getUint32(16 * i, true);
    if (write) { if (!kvm_set_msr_common(k, v, idx, dv.getBigUint64(16 * i + 8, true))) break; }
    else {
      const val = kvm_get_msr_common(k, v, idx);
      if (val === null) break;
      dv.setBigUint64(16 * i + 8, val, true);
    }
  }
  return i;
}

export function kvm_get_msr_common(k: KvmSystem, v: Vcpu, idx: number): bigint | null {
  const f = v.fpu.getMsr(idx, true);
  if (f) return f.ok ? (f.value ?? 0n) : null;
  const ex = k.cpu.ex as unknown as Ex;
  if (!ex.msr_read(idx | 0)) return null;
  return (BigInt(ex.msr_hi() >>> 0) << 32n) | BigInt(ex.msr_lo() >>> 0);
}

export function kvm_set_msr_common(k: KvmSystem, v: Vcpu, idx: number, data: bigint): boolean {
  const f = v.fpu.setMsr(idx, data, true);
  if (f) return f.ok;
  const c = k.cpu, L = c.L;
  if (idx === 0xc0000080) {
    // host-initiated EFER writes may set LMA directly (set_efer with msr_info->host_initiated)
    if (data & ~(0x1n | EFER_LME | EFER_LMA | 0x800n)) return false;
    c.setU64(L.S_EFER, data);
    c.ex.state_changed();
    return true;
  }
  const ex = c.ex as unknown as Ex;
  return ex.msr_write(idx | 0, Number(data & 0xffffffffn) | 0, Number(data >> 32n) | 0) === 1;
}

// ---- CPUID ----
function kvm_vcpu_ioctl_set_cpuid2(k: KvmSystem, v: Vcpu, arg: IoctlArg): number {
  const h = k.user(arg, 8);
  if (!h) return -EFAULT;
  const n = dvOf(h).getUint32(0, true);
  if (n > KVM_MAX_CPUID_ENTRIES) return -E2BIG;
  const body = k.user(arg, 40 * n, 8);
  if (!body) return -EFAULT;
  const entries: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) entries.push(readCpuidEntry(body, 40 * i));
  return kvm_set_cpuid(k, v, entries);
}

function kvm_set_cpuid(k: KvmSystem, v: Vcpu, entries: CpuidEntry[]): number {
  // __kvm_update_cpuid_runtime on the incoming table first (0xD EBX sizes), so an
  // identical resend compares equal with the stored, runtime-updated copy
  v.fpu.updateCpuidRuntime(entries);
  // after the first KVM_RUN only an identical table is accepted (kvm_cpuid_check_equal)
  if (v.hasRun) {
    v.fpu.updateCpuidRuntime(v.cpuid);
    if (entries.length !== v.cpuid.length) return -EINVAL;
    for (let i = 0; i < entries.length; i++) {
      const a = entries[i], b = v.cpuid[i];
      if (a.fn !== b.fn || a.idx !== b.idx || a.flags !== b.flags || a.eax !== b.eax || a.ebx !== b.ebx || a.ecx !== b.ecx || a.edx !== b.edx) return -EINVAL;
    }
    return 0;
  }
  // kvm_check_cpuid
  const e8 = find(entries, 0x80000008);
  if (e8) { const vbits = (e8.eax >>> 8) & 0xff; if (vbits !== 0 && vbits !== 48 && vbits !== 57) return -EINVAL; }
  const d0 = find(entries, 0xd, 0);
  const gsx = d0 ? ((BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0)) & k.fpuHost.supportedXcr0 : 0n;
  const r = v.fpu.setCpuid(entries, gsx);
  if (r) return r;
  v.cpuid = entries;
  v.guestSupportedXcr0 = gsx;
  k.loadCpuidRegs(entries);
  return 0;
}
function find(e: CpuidEntry[], fn: number, idx = 0): CpuidEntry | undefined {
  return e.find((x) => x.fn === fn && (!(x.flags & 1) || x.idx === idx));
}

function kvm_vcpu_ioctl_get_cpuid2(v: Vcpu, k: KvmSystem, arg: IoctlArg): number {
  const h = k.user(arg, 8);
  if (!h) return -EFAULT;
  const dv = dvOf(h);
  if (dv.getUint32(0, true) < v.cpuid.length) return -E2BIG;
  const body = k.user(arg, 40 * v.cpuid.length, 8);
  if (!body) return -EFAULT;
  v.fpu.updateCpuidRuntime(v.cpuid);         // XCR0/XSS may have changed since KVM_SET_CPUID2
  v.cpuid.forEach((e, i) => writeCpuidEntry(body, e, 40 * i));
  dv.setUint32(0, v.cpuid.length, true);
  return 0;
}

// ---- events ----
function kvm_vcpu_ioctl_interrupt(k: KvmSystem, irq: number): number {
  if (irq >= KVM_NR_INTERRUPTS) return -EINVAL;
  const c = k.cpu, L = c.L;
  if (c.i32(L.S_PEND_IRQ) >= 0) return -ENXIO;        // an interrupt is already queued
  c.setI32(L.S_PEND_IRQ, irq);
  return 0;
}

function kvm_vcpu_ioctl_x86_get_vcpu_events(k: KvmSystem, b: Uint8Array): void {
  const c = k.cpu, L = c.L, dv = dvOf(b);
  b.fill(0, 0, 64);
  const exc = c.i32(L.S_PEND_EXC);
  if (exc >= 0) {
    b[0] = 1; b[1] = exc;
    b[2] = c.u32(L.S_PEND_EXC_HAS_ERR) ? 1 : 0;
    dv.setUint32(4, c.u32(L.S_PEND_EXC_ERR), true);
  }
  const irq = c.i32(L.S_PEND_IRQ);
  if (irq >= 0) { b[8] = 1; b[9] = irq; }
  b[11] = c.u32(L.S_SHADOW) ? 1 : 0;                  // KVM_X86_SHADOW_INT_MOV_SS / _STI: not distinguished
  dv.setUint32(20, KVM_VCPUEVENT.VALID_NMI_PENDING | KVM_VCPUEVENT.VALID_SHADOW | KVM_VCPUEVENT.VALID_SMM, true);
}

function kvm_vcpu_ioctl_x86_set_vcpu_events(k: KvmSystem, b: Uint8Array): number {
  const c = k.cpu, L = c.L, dv = dvOf(b);
  const flags = dv.getUint32(20, true);
  const valid = KVM_VCPUEVENT.VALID_NMI_PENDING | KVM_VCPUEVENT.VALID_SIPI_VECTOR | KVM_VCPUEVENT.VALID_SHADOW | KVM_VCPUEVENT.VALID_SMM | KVM_VCPUEVENT.VALID_PAYLOAD | KVM_VCPUEVENT.VALID_TRIPLE_FAULT;
  if (flags & ~valid) return -EINVAL;
  if (flags & (KVM_VCPUEVENT.VALID_PAYLOAD | KVM_VCPUEVENT.VALID_TRIPLE_FAULT)) return -EINVAL;   // caps not enabled
  const injected = b[0], nr = b[1];
  if (injected && (nr > 31 || nr === 2)) return -EINVAL;
  if ((flags & KVM_VCPUEVENT.VALID_SMM) && b[24]) return -EINVAL;     // SMM is not modelled
  if (injected) {
    c.setI32(L.S_PEND_EXC, nr);
    c.setU32(L.S_PEND_EXC_HAS_ERR, b[2] ? 1 : 0);
    c.setU32(L.S_PEND_EXC_ERR, dv.getUint32(4, true));
  } else c.setI32(L.S_PEND_EXC, -1);
  c.setI32(L.S_PEND_IRQ, b[8] ? b[9] : -1);
  if (flags & KVM_VCPUEVENT.VALID_SHADOW) c.setU32(L.S_SHADOW, b[11] ? 1 : 0);
  return 0;
}

// ---- MP state ----
// This KVM has no in-kernel irqchip (KVM_CREATE_IRQCHIP is not modelled; interrupts come from
// userspace through KVM_INTERRUPT), so, as in the kernel for such a VM: HLT is not handled in the
// kernel but exits to userspace (KVM_EXIT_HLT, __kvm_emulate_halt without lapic_in_kernel), the
// vCPU's mp_state stays KVM_MP_STATE_RUNNABLE (set at vCPU creation when !irqchip_in_kernel), and
// KVM_SET_MP_STATE accepts only RUNNABLE. Measured on the real /dev/kvm here (6.18): a VM without
// an irqchip answers -EINVAL for 1..6 and 99, 0 for RUNNABLE (test/kvm/differential.test.ts).
function kvm_arch_vcpu_ioctl_get_mpstate(v: Vcpu): number {
  return v.mpState;
}
function kvm_arch_vcpu_ioctl_set_mpstate(k: KvmSystem, v: Vcpu, state: number): number {
  // every state but RUNNABLE needs lapic_in_kernel(); unknown values are rejected outright
  if (state !== KVM_MP_STATE.RUNNABLE) return -EINVAL;
  v.mpState = state;
  k.cpu.setU32(k.cpu.L.S_HALTED, 0);            // kvm_set_mp_state(RUNNABLE): no longer halted
  return 0;
}

// ---- debug registers (struct kvm_debugregs: db[4] @0, dr6 @32, dr7 @40, flags @48, reserved[9] @56) ----
function kvm_vcpu_ioctl_x86_get_debugregs(k: KvmSystem, b: Uint8Array): void {
  const c = k.cpu, L = c.L, dv = dvOf(b);
  b.fill(0, 0, 128);
  for (let i = 0; i < 4; i++) dv.setBigUint64(8 * i, c.u64(L.S_DR + 8 * i), true);
  dv.setBigUint64(32, c.u64(L.S_DR + 48), true);
  dv.setBigUint64(40, c.u64(L.S_DR + 56), true);
}
function kvm_vcpu_ioctl_x86_set_debugregs(k: KvmSystem, b: Uint8Array): number {
  const c = k.cpu, L = c.L, dv = dvOf(b);
  if (dv.getBigUint64(48, true) !== 0n) return -EINVAL;                 // flags
  const dr6 = dv.getBigUint64(32, true), dr7 = dv.getBigUint64(40, true);
  if (dr6 >> 32n) return -EINVAL;                                       // kvm_dr6_valid
  if (dr7 >> 32n) return -EINVAL;                                       // kvm_dr7_valid
  // reserved[] is not checked (measured: reserved[0] = 1 → 0 on the real /dev/kvm)
  for (let i = 0; i < 4; i++) c.setU64(L.S_DR + 8 * i, dv.getBigUint64(8 * i, true));
  c.setU64(L.S_DR + 48, dr6);
  c.setU64(L.S_DR + 56, dr7);
  return 0;
}

// ---- guest debug ----
// KVM_SET_GUEST_DEBUG. SINGLESTEP and USE_SW_BP (INT3 → #BP exit) as in the kernel. USE_HW_BP
// loads debugreg[0..3] / debugreg[7] as the hardware's DR0-DR3 / DR7 would be loaded for the
// guest: each enabled (L or G bit) execute breakpoint (R/W = 00) becomes an instruction-address
// match in the CPU (its breakpoint list, S_NBP / BP_LIST) and hits exit with exception 1 and
// DR6.Bn, before the instruction runs. Data breakpoints (R/W ≠ 00) are not modelled (-EINVAL).
// X86KVM_GUESTDBG_EXC_BITMAP (an x86kvm extension, bit 30 of control; x86 KVM ignores unknown
// control bits): the `pad` word after control is an exception bitmap — those vectors exit with
// KVM_EXIT_DEBUG (exception = vector) before delivery, the way KVM's own #DB/#BP intercepts do,
// so a debugger can stop on #NM, #GP, #PF, #UD… The exception is not re-injected: the debugger
// decides (KVM_SET_VCPU_EVENTS).
export const X86KVM_GUESTDBG_EXC_BITMAP = 0x40000000;
function kvm_arch_vcpu_ioctl_set_guest_debug(k: KvmSystem, v: Vcpu, b: Uint8Array): number {
  const c = k.cpu, L = c.L, dv = dvOf(b);
  const ctl = dv.getUint32(0, true);
  const on = (ctl & KVM_GUESTDBG.ENABLE) !== 0;
  const bps: bigint[] = [];
  if (on && (ctl & KVM_GUESTDBG.USE_HW_BP)) {
    const dr7 = dv.getBigUint64(8 + 56, true);
    for (let i = 0; i < 4; i++) {
      if (!((dr7 >> BigInt(2 * i)) & 3n)) continue;
      if ((dr7 >> BigInt(16 + 4 * i)) & 3n) return -EINVAL;          // data breakpoints: not modelled
      bps.push(dv.getBigUint64(8 + 8 * i, true));
    }
  }
  // x86 does not reject unknown control bits (measured: 0x80000000 → 0 on the 6.18 host)
  if (ctl & (KVM_GUESTDBG.INJECT_DB | KVM_GUESTDBG.INJECT_BP)) {
    if (c.i32(L.S_PEND_EXC) >= 0) return -EBUSY;
    c.setI32(L.S_PEND_EXC, ctl & KVM_GUESTDBG.INJECT_DB ? 1 : 3);
    c.setU32(L.S_PEND_EXC_HAS_ERR, 0);
  }
  v.guestDebug = on ? ctl : 0;
  let dbg = 0, bitmap = 0;
  if (on) {
    dbg = L.DBG_ENABLE;
    if (ctl & KVM_GUESTDBG.SINGLESTEP) dbg |= L.DBG_SINGLESTEP;
    if (ctl & KVM_GUESTDBG.USE_SW_BP) { dbg |= L.DBG_INT3; bitmap |= 1 << 3; }
    if (ctl & (KVM_GUESTDBG.SINGLESTEP | KVM_GUESTDBG.USE_HW_BP)) bitmap |= 1 << 1;
    if (ctl & KVM_GUESTDBG.USE_HW_BP) for (let i = 0; i < 8; i++) v.debugRegs[i] = dv.getBigUint64(8 + 8 * i, true);
    if (ctl & X86KVM_GUESTDBG_EXC_BITMAP) bitmap |= dv.getUint32(4, true);
  }
  // the instruction-address comparators: blocks are cut at breakpoint addresses when decoded,
  // so a changed list drops the decoded code
  const old = c.u32(L.S_NBP);
  const same = old === bps.length && bps.every((a, i) => c.view.getBigUint64(L.SCRATCH + L.BP_LIST + 8 * i, true) === a);
  if (!same) {
    bps.forEach((a, i) => c.view.setBigUint64(L.SCRATCH + L.BP_LIST + 8 * i, a, true));
    c.setU32(L.S_NBP, bps.length);
    c.ex.flush_code();
  }
  if (bps.length) dbg |= L.DBG_SW_BP;
  c.setU32(L.S_DBG_CTRL, dbg);
  c.setU32(L.S_EXC_BITMAP, bitmap);
  return 0;
}
