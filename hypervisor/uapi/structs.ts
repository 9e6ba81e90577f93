// Byte-exact encoders and decoders for the KVM structs (x86_64 layouts of
// arch/x86/include/uapi/asm/kvm.h and include/uapi/linux/kvm.h; offsets in
// shared/reference/kernel-abi.md §1.2–1.3). Every struct is a plain object;
// 64-bit fields are bigint. `encodeX(v)` returns a fresh Uint8Array of
// sizeof(struct); `decodeX(buf, off = 0)` reads one from a buffer;
// `writeX(buf, v, off = 0)` writes in place.
import type { CpuidEntry } from "../models/cpuid";

export const dvOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const U64 = (v: bigint) => BigInt.asUintN(64, v);

// ---- kvm_regs (144) ----
export const KVM_REGS_SIZE = 144;
export const REGS_ORDER = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"] as const;
export type KvmRegs = Record<(typeof REGS_ORDER)[number], bigint>;
/** kvm_regs order → encoding order (GPR index in the CPU's state block). */
export const REGS_GPR_INDEX = [0, 3, 1, 2, 6, 7, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15];
export function decodeRegs(b: Uint8Array, off = 0): KvmRegs {
  const d = dvOf(b), r = {} as KvmRegs;
  REGS_ORDER.forEach((k, i) => { r[k] = d.getBigUint64(off + 8 * i, true); });
  return r;
}
export function writeRegs(b: Uint8Array, r: Partial<KvmRegs>, off = 0): void {
  const d = dvOf(b);
  REGS_ORDER.forEach((k, i) => { d.setBigUint64(off + 8 * i, U64(r[k] ?? 0n), true); });
}
export function encodeRegs(r: Partial<KvmRegs>): Uint8Array { const b = new Uint8Array(KVM_REGS_SIZE); writeRegs(b, r); return b; }

// ---- kvm_segment (24), kvm_dtable (16), kvm_sregs (312) ----
export interface KvmSegment {
  base: bigint; limit: number; selector: number; type: number; present: number; dpl: number; db: number;
  s: number; l: number; g: number; avl: number; unusable: number;
}
export interface KvmDtable { base: bigint; limit: number }
export const SEG_FIELDS = ["type", "present", "dpl", "db", "s", "l", "g", "avl", "unusable"] as const;
export function decodeSegment(b: Uint8Array, off = 0): KvmSegment {
  const d = dvOf(b);
  const s = { base: d.getBigUint64(off, true), limit: d.getUint32(off + 8, true), selector: d.getUint16(off + 12, true) } as KvmSegment;
  SEG_FIELDS.forEach((k, i) => { s[k] = b[off + 14 + i]; });
  return s;
}
export function writeSegment(b: Uint8Array, s: KvmSegment, off = 0): void {
  const d = dvOf(b);
  d.setBigUint64(off, U64(s.base), true);
  d.setUint32(off + 8, s.limit >>> 0, true);
  d.setUint16(off + 12, s.selector & 0xffff, true);
  SEG_FIELDS.forEach((k, i) => { b[off + 14 + i] = s[k] & 0xff; });
  b[off + 23] = 0;
}
export interface KvmSregs {
  cs: KvmSegment; ds: KvmSegment; es: KvmSegment; fs: KvmSegment; gs: KvmSegment; ss: KvmSegment; tr: KvmSegment; ldt: KvmSegment;
  gdt: KvmDtable; idt: KvmDtable;
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint; efer: bigint; apic_base: bigint;
  interrupt_bitmap: bigint[];   // 4 × u64: pending external interrupt (one bit at most)
}
export const KVM_SREGS_SIZE = 312;
export const SREGS_SEGS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;
const SREGS_U64 = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base"] as const;
export function decodeSregs(b: Uint8Array, off = 0): KvmSregs {
  const d = dvOf(b), s = {} as KvmSregs;
  SREGS_SEGS.forEach((k, i) => { s[k] = decodeSegment(b, off + 24 * i); });
  s.gdt = { base: d.getBigUint64(off + 192, true), limit: d.getUint16(off + 200, true) };
  s.idt = { base: d.getBigUint64(off + 208, true), limit: d.getUint16(off + 216, true) };
  SREGS_U64.forEach((k, i) => { s[k] = d.getBigUint64(off + 224 + 8 * i, true); });
  s.interrupt_bitmap = [0, 1, 2, 3].map((i) => d.getBigUint64(off + 280 + 8 * i, true));
  return s;
}
export function writeSregs(b: Uint8Array, s: KvmSregs, off = 0): void {
  const d = dvOf(b);
  SREGS_SEGS.forEach((k, i) => writeSegment(b, s[k], off + 24 * i));
  for (const [o, t] of [[192, s.gdt], [208, s.idt]] as const) {
    d.setBigUint64(off + o, U64(t.base), true);
    d.setUint16(off + o + 8, t.limit & 0xffff, true);
    b.fill(0, off + o + 10, off + o + 16);
  }
  SREGS_U64.forEach((k, i) => d.setBigUint64(off + 224 + 8 * i, U64(s[k]), true));
  for (let i = 0; i < 4; i++) d.setBigUint64(off + 280 + 8 * i, U64(s.interrupt_bitmap[i] ?? 0n), true);
}
export function encodeSregs(s: KvmSregs): Uint8Array { const b = new Uint8Array(KVM_SREGS_SIZE); writeSregs(b, s); return b; }

// ---- kvm_msrs (8 + 16·n), kvm_msr_list (4 + 4·n) ----
export interface MsrEntry { index: number; data: bigint }
export function encodeMsrs(entries: MsrEntry[], capacity = entries.length): Uint8Array {
  const b = new Uint8Array(8 + 16 * Math.max(capacity, entries.length)), d = dvOf(b);
  d.setUint32(0, entries.length, true);
  entries.forEach((e, i) => { d.setUint32(8 + 16 * i, e.index >>> 0, true); d.setBigUint64(16 + 16 * i, U64(e.data), true); });
  return b;
}
export function decodeMsrs(b: Uint8Array, n?: number): MsrEntry[] {
  const d = dvOf(b), cnt = n ?? d.getUint32(0, true), out: MsrEntry[] = [];
  for (let i = 0; i < cnt && 24 + 16 * i <= b.length; i++) out.push({ index: d.getUint32(8 + 16 * i, true), data: d.getBigUint64(16 + 16 * i, true) });
  return out;
}
export function encodeMsrList(capacity: number): Uint8Array {
  const b = new Uint8Array(4 + 4 * capacity); dvOf(b).setUint32(0, capacity, true); return b;
}
export function decodeMsrList(b: Uint8Array): number[] {
  const d = dvOf(b), n = d.getUint32(0, true), out: number[] = [];
  for (let i = 0; i < n && 8 + 4 * i <= b.length; i++) out.push(d.getUint32(4 + 4 * i, true));
  return out;
}

// ---- kvm_cpuid2 (8 + 40·n) with kvm_cpuid_entry2 ----
export const CPUID_ENTRY2_SIZE = 40;
export function encodeCpuid2(entries: CpuidEntry[], capacity = entries.length): Uint8Array {
  const b = new Uint8Array(8 + 40 * Math.max(capacity, entries.length)), d = dvOf(b);
  d.setUint32(0, capacity === entries.length ? entries.length : capacity, true);
  entries.forEach((e, i) => writeCpuidEntry(b, e, 8 + 40 * i));
  return b;
}
export function writeCpuidEntry(b: Uint8Array, e: CpuidEntry, off: number): void {
  const d = dvOf(b);
  [e.fn, e.idx, e.flags, e.eax, e.ebx, e.ecx, e.edx, 0, 0, 0].forEach((v, j) => d.setUint32(off + 4 * j, v >>> 0, true));
}
export function readCpuidEntry(b: Uint8Array, off: number): CpuidEntry {
  const d = dvOf(b), g = (j: number) => d.getUint32(off + 4 * j, true);
  return { fn: g(0), idx: g(1), flags: g(2), eax: g(3), ebx: g(4), ecx: g(5), edx: g(6) };
}
export function decodeCpuid2(b: Uint8Array): CpuidEntry[] {
  const n = dvOf(b).getUint32(0, true), out: CpuidEntry[] = [];
  for (let i = 0; i < n && 48 + 40 * i <= b.length; i++) out.push(readCpuidEntry(b, 8 + 40 * i));
  return out;
}

// ---- kvm_userspace_memory_region (32) ----
export interface UserMemoryRegion { slot: number; flags: number; guest_phys_addr: bigint; memory_size: bigint; userspace_addr: bigint }
export function encodeUserMemoryRegion(r: UserMemoryRegion): Uint8Array {
  const b = new Uint8Array(32), d = dvOf(b);
  d.setUint32(0, r.slot >>> 0, true); d.setUint32(4, r.flags >>> 0, true);
  d.setBigUint64(8, U64(r.guest_phys_addr), true); d.setBigUint64(16, U64(r.memory_size), true); d.setBigUint64(24, U64(r.userspace_addr), true);
  return b;
}
export function decodeUserMemoryRegion(b: Uint8Array): UserMemoryRegion {
  const d = dvOf(b);
  return { slot: d.getUint32(0, true), flags: d.getUint32(4, true), guest_phys_addr: d.getBigUint64(8, true), memory_size: d.getBigUint64(16, true), userspace_addr: d.getBigUint64(24, true) };
}

// ---- kvm_run: header and the io / mmio / debug / internal / ex / fail_entry unions ----
export const RUN = {
  REQUEST_INTERRUPT_WINDOW: 0, IMMEDIATE_EXIT: 1, EXIT_REASON: 8, READY_FOR_INTERRUPT_INJECTION: 12, IF_FLAG: 13,
  FLAGS: 14, CR8: 16, APIC_BASE: 24, U: 32,
  IO_DIRECTION: 32, IO_SIZE: 33, IO_PORT: 34, IO_COUNT: 36, IO_DATA_OFFSET: 40,
  MMIO_PHYS_ADDR: 32, MMIO_DATA: 40, MMIO_LEN: 48, MMIO_IS_WRITE: 52,
  DEBUG_EXCEPTION: 32, DEBUG_PC: 40, DEBUG_DR6: 48, DEBUG_DR7: 56,
  EX_EXCEPTION: 32, EX_ERROR_CODE: 36,
  FAIL_ENTRY_REASON: 32, FAIL_ENTRY_CPU: 40,
  INTERNAL_SUBERROR: 32, INTERNAL_NDATA: 36, INTERNAL_DATA: 40,
  KVM_VALID_REGS: 288, KVM_DIRTY_REGS: 296, S: 304, SIZE: 2352,
} as const;
export interface KvmRunHeader {
  request_interrupt_window: number; immediate_exit: number; exit_reason: number; ready_for_interrupt_injection: number;
  if_flag: number; flags: number; cr8: bigint; apic_base: bigint;
}
export function decodeRunHeader(b: Uint8Array): KvmRunHeader {
  const d = dvOf(b);
  return {
    request_interrupt_window: b[0], immediate_exit: b[1], exit_reason: d.getUint32(8, true), ready_for_interrupt_injection: b[12],
    if_flag: b[13], flags: d.getUint16(14, true), cr8: d.getBigUint64(16, true), apic_base: d.getBigUint64(24, true),
  };
}
export interface KvmRunIo { direction: number; size: number; port: number; count: number; data_offset: bigint }
export function decodeRunIo(b: Uint8Array): KvmRunIo {
  const d = dvOf(b);
  return { direction: b[32], size: b[33], port: d.getUint16(34, true), count: d.getUint32(36, true), data_offset: d.getBigUint64(40, true) };
}
export interface KvmRunMmio { phys_addr: bigint; data: Uint8Array; len: number; is_write: number }
export function decodeRunMmio(b: Uint8Array): KvmRunMmio {
  const d = dvOf(b);
  return { phys_addr: d.getBigUint64(32, true), data: b.subarray(40, 48), len: d.getUint32(48, true), is_write: b[52] };
}
export interface KvmDebugExitArch { exception: number; pc: bigint; dr6: bigint; dr7: bigint }
export function decodeRunDebug(b: Uint8Array): KvmDebugExitArch {
  const d = dvOf(b);
  return { exception: d.getUint32(32, true), pc: d.getBigUint64(40, true), dr6: d.getBigUint64(48, true), dr7: d.getBigUint64(56, true) };
}

// ---- kvm_vcpu_events (64) ----
export interface KvmVcpuEvents {
  exception: { injected: number; nr: number; has_error_code: number; pending: number; error_code: number };
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  nmi: { injected: number; pending: number; masked: number };
  sipi_vector: number; flags: number;
  smi: { smm: number; pending: number; smm_inside_nmi: number; latched_init: number };
  triple_fault_pending: number; exception_has_payload: number; exception_payload: bigint;
}
export const KVM_VCPU_EVENTS_SIZE = 64;
export function decodeVcpuEvents(b: Uint8Array): KvmVcpuEvents {
  const d = dvOf(b);
  return {
    exception: { injected: b[0], nr: b[1], has_error_code: b[2], pending: b[3], error_code: d.getUint32(4, true) },
    interrupt: { injected: b[8], nr: b[9], soft: b[10], shadow: b[11] },
    nmi: { injected: b[12], pending: b[13], masked: b[14] },
    sipi_vector: d.getUint32(16, true), flags: d.getUint32(20, true),
    smi: { smm: b[24], pending: b[25], smm_inside_nmi: b[26], latched_init: b[27] },
    triple_fault_pending: b[28], exception_has_payload: b[55], exception_payload: d.getBigUint64(56, true),
  };
}
export function encodeVcpuEvents(e: KvmVcpuEvents): Uint8Array {
  const b = new Uint8Array(64), d = dvOf(b);
  b.set([e.exception.injected, e.exception.nr, e.exception.has_error_code, e.exception.pending], 0);
  d.setUint32(4, e.exception.error_code >>> 0, true);
  b.set([e.interrupt.injected, e.interrupt.nr, e.interrupt.soft, e.interrupt.shadow], 8);
  b.set([e.nmi.injected, e.nmi.pending, e.nmi.masked, 0], 12);
  d.setUint32(16, e.sipi_vector >>> 0, true); d.setUint32(20, e.flags >>> 0, true);
  b.set([e.smi.smm, e.smi.pending, e.smi.smm_inside_nmi, e.smi.latched_init], 24);
  b[28] = e.triple_fault_pending; b[55] = e.exception_has_payload;
  d.setBigUint64(56, U64(e.exception_payload), true);
  return b;
}
export function emptyVcpuEvents(): KvmVcpuEvents { return decodeVcpuEvents(new Uint8Array(64)); }

// ---- kvm_guest_debug (72), kvm_interrupt (4) ----
/** struct kvm_guest_debug; `pad` carries the exception bitmap of the x86kvm extension X86KVM_GUESTDBG_EXC_BITMAP (kvm/x86.ts) */
export interface KvmGuestDebug { control: number; debugreg: bigint[]; pad?: number }
export function encodeGuestDebug(g: KvmGuestDebug): Uint8Array {
  const b = new Uint8Array(72), d = dvOf(b);
  d.setUint32(0, g.control >>> 0, true);
  d.setUint32(4, (g.pad ?? 0) >>> 0, true);
  for (let i = 0; i < 8; i++) d.setBigUint64(8 + 8 * i, U64(g.debugreg[i] ?? 0n), true);
  return b;
}
export function decodeGuestDebug(b: Uint8Array): KvmGuestDebug {
  const d = dvOf(b);
  return { control: d.getUint32(0, true), pad: d.getUint32(4, true), debugreg: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => d.getBigUint64(8 + 8 * i, true)) };
}
export function encodeInterrupt(irq: number): Uint8Array { const b = new Uint8Array(4); dvOf(b).setUint32(0, irq >>> 0, true); return b; }

// ---- kvm_xcrs (392) ----
export interface KvmXcrs { nr_xcrs: number; flags: number; xcrs: { xcr: number; value: bigint }[] }
export const KVM_XCRS_SIZE = 392;
export function encodeXcrs(x: KvmXcrs): Uint8Array {
  const b = new Uint8Array(KVM_XCRS_SIZE), d = dvOf(b);
  d.setUint32(0, x.nr_xcrs >>> 0, true); d.setUint32(4, x.flags >>> 0, true);
  x.xcrs.slice(0, 16).forEach((e, i) => { d.setUint32(8 + 16 * i, e.xcr >>> 0, true); d.setBigUint64(16 + 16 * i, U64(e.value), true); });
  return b;
}
export function decodeXcrs(b: Uint8Array): KvmXcrs {
  const d = dvOf(b), n = d.getUint32(0, true), xcrs = [];
  for (let i = 0; i < Math.min(n, 16); i++) xcrs.push({ xcr: d.getUint32(8 + 16 * i, true), value: d.getBigUint64(16 + 16 * i, true) });
  return { nr_xcrs: n, flags: d.getUint32(4, true), xcrs };
}

// ---- kvm_xsave (4096, or KVM_CAP_XSAVE2 bytes): the standard-format XSAVE image ----
export const KVM_XSAVE_SIZE = 4096;
export const XSAVE = { FCW: 0, FSW: 2, FTW: 4, FOP: 6, FIP: 8, FDP: 16, MXCSR: 24, MXCSR_MASK: 28, ST: 32, XMM: 160, SW_RESERVED: 464, XSTATE_BV: 512, XCOMP_BV: 520, HDR_RESERVED: 528, EXT: 576 } as const;
export function xstateBv(b: Uint8Array): bigint { return dvOf(b).getBigUint64(512, true); }

// ---- struct kvm_mp_state (4) / struct kvm_debugregs (128) ----
export const KVM_MP_STATE_SIZE = 4, KVM_DEBUGREGS_SIZE = 128;
export function encodeMpState(state: number): Uint8Array { const b = new Uint8Array(KVM_MP_STATE_SIZE); dvOf(b).setUint32(0, state >>> 0, true); return b; }
export function decodeMpState(b: Uint8Array): number { return dvOf(b).getUint32(0, true); }
/** struct kvm_debugregs: db[4] u64 @0, dr6 @32, dr7 @40, flags @48, reserved[9] @56 */
export interface KvmDebugregs { db: bigint[]; dr6: bigint; dr7: bigint; flags: bigint }
export function encodeDebugregs(d: KvmDebugregs): Uint8Array {
  const b = new Uint8Array(KVM_DEBUGREGS_SIZE), dv = dvOf(b);
  for (let i = 0; i < 4; i++) dv.setBigUint64(8 * i, BigInt.asUintN(64, d.db[i] ?? 0n), true);
  dv.setBigUint64(32, BigInt.asUintN(64, d.dr6), true);
  dv.setBigUint64(40, BigInt.asUintN(64, d.dr7), true);
  dv.setBigUint64(48, BigInt.asUintN(64, d.flags), true);
  return b;
}
export function decodeDebugregs(b: Uint8Array): KvmDebugregs {
  const dv = dvOf(b);
  return { db: [0, 1, 2, 3].map((i) => dv.getBigUint64(8 * i, true)), dr6: dv.getBigUint64(32, true), dr7: dv.getBigUint64(40, true), flags: dv.getBigUint64(48, true) };
}
