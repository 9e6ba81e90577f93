// Event delivery: exceptions, software interrupts and external interrupts,
// through the IVT (real mode), 32-bit IDT gates (protected mode) or 64-bit
// gates (IA-32e), with #DF and triple-fault escalation (SDM Vol. 3A §6.12,
// §6.14, Table 6-5). The return RIP is whatever S_RIP holds: the faulting
// instruction for faults, the next one for traps and INT n.
import {
  STATE, S_RIP, S_MODE, S_CPL, S_IDTR_BASE, S_IDTR_LIMIT, S_SHADOW, S_HALTED, MODE_PE, MODE_LMA, MODE_VM86,
  SEG_CS, SEG_SS, SEG_TR, SEG_DS, SEG_ES, SEG_FS, SEG_GS,
} from "../layout";
import { rd64, set_seg, seg_base, seg_limit, seg_sel, seg_attr, flags_raw, set_flags_raw, RSP, IF, TF, NT, RF, VM, AC, ATTR_UNUSABLE, ATTR_L, ATTR_DB } from "../state";
import { get_rflags, materialize } from "../flags";
import { ld_sys, st_sys } from "../mmu/access";
import { raise, clear_fault, fault_pending, fault_vec, fault_err, fault_has_err, X86_TRAP_DF, X86_TRAP_GP, X86_TRAP_NP, X86_TRAP_SS, X86_TRAP_TS } from "./fault";
import { read_desc, desc_lo, desc_hi, desc_attr, desc_dpl, commit_cs, load_cs_real, set_desc } from "./segment";

export const EV_EXC: u32 = 0;    // hardware exception (EXT=1)
export const EV_SOFT: u32 = 1;   // INT n (gate DPL checked, EXT=0)
export const EV_SOFTEXC: u32 = 2;// INT3 / INTO (gate DPL checked, EXT=0)
export const EV_EXT: u32 = 3;    // external interrupt / NMI (EXT=1)

// Exception classes for #DF (Table 6-4)
function klass(v: u32): u32 {
  if (v == 14) return 2;                                  // page fault
  if (v == 0 || (v >= 10 && v <= 13)) return 1;          // contributory
  return 0;                                               // benign
}

// Deliver an event; on a fault during delivery apply the double-fault rules.
// Returns false on triple fault (shutdown).
export function deliver(vec: u32, err: u32, has_err: bool, kind: u32): bool {
  clear_fault();
  store<u32>(STATE + S_HALTED, 0);
  store<u32>(STATE + S_SHADOW, 0);
  let first = vec;
  let v = vec, e = err, he = has_err, k = kind;
  for (let depth = 0; depth < 4; depth++) {
    if (deliver_one(v, e, he, k)) return true;
    const second = fault_vec;
    const serr = fault_err, shas = fault_has_err;
    clear_fault();
    if (second >= 256) return false;
    if (first == X86_TRAP_DF) return false;              // fault while delivering #DF: triple fault
    const c1 = k == EV_EXC ? klass(first) : 0, c2 = klass(second);
    if ((c1 == 1 && c2 == 1) || (c1 == 2 && c2 >= 1)) {
      v = X86_TRAP_DF; e = 0; he = true; k = EV_EXC;
    } else {
      v = second; e = serr; he = shas; k = EV_EXC;
    }
    first = v;
  }
  return false;
}

// One delivery attempt without escalation (INT n / INT3 / INTO report a
// fault during their own delivery as a fault of the instruction).
export function deliver_one(vec: u32, err: u32, has_err: bool, kind: u32): bool {
  const m = load<u32>(STATE + S_MODE);
  if (!(m & MODE_PE)) return deliver_real(vec);
  if (m & MODE_LMA) return deliver_long(vec, err, has_err, kind);
  return deliver_prot(vec, err, has_err, kind);
}

// Fault-class exceptions push RFLAGS with RF set, so that IRET back to the
// faulting instruction does not re-trigger an instruction breakpoint (SDM
// Vol. 3A §18.3.1.1; KVM's exception_type() sets RF when it injects one).
// Traps (#DB, #BP, #OF), aborts (#DF, #MC), NMI, INT n and external
// interrupts push RF as it is.
function frame_rf(vec: u32, kind: u32): u64 {
  if (kind != EV_EXC || vec >= 32) return 0;
  return (vec == 1 || vec == 2 || vec == 3 || vec == 4 || vec == 8 || vec == 18) ? 0 : RF;
}

function ext(kind: u32): u32 { return (kind == EV_EXC || kind == EV_EXT) ? 1 : 0; }

// ---- real mode: IVT ----
function deliver_real(vec: u32): bool {
  const idt = load<u64>(STATE + S_IDTR_BASE);
  if (<u64>vec * 4 + 3 > <u64>load<u16>(STATE + S_IDTR_LIMIT)) { raise(X86_TRAP_GP, 0, true); return false; }
  const ent = <u32>ld_sys(idt + <u64>vec * 4, 4);
  if (fault_pending) return false;
  const f = get_rflags();
  const sp = rd64(RSP) & 0xFFFF;
  const ss = seg_base(SEG_SS);
  if (!st_sys(ss + ((sp - 2) & 0xFFFF), 2, f & 0xFFFF)) return false;
  if (!st_sys(ss + ((sp - 4) & 0xFFFF), 2, <u64>seg_sel(SEG_CS))) return false;
  if (!st_sys(ss + ((sp - 6) & 0xFFFF), 2, load<u64>(STATE + S_RIP) & 0xFFFF)) return false;
  store<u16>(STATE + RSP, <u16>(sp - 6));
  materialize();
  set_flags_raw(flags_raw() & ~(IF | TF | AC | RF));
  load_cs_real(ent >> 16);
  store<u64>(STATE + S_RIP, <u64>(ent & 0xFFFF));
  return true;
}

// Read a gate and its target code-segment descriptor. Sets gate_* globals.
let gate_sel: u32 = 0;
let gate_off: u64 = 0;
let gate_type: u32 = 0;
let gate_ist: u32 = 0;

function read_gate(vec: u32, kind: u32, size: u32): bool {
  const e = ext(kind);
  const idt = load<u64>(STATE + S_IDTR_BASE);
  if (<u64>vec * size + size - 1 > <u64>load<u16>(STATE + S_IDTR_LIMIT)) { raise(X86_TRAP_GP, vec * 8 + 2 + e, true); return false; }
  const lo = ld_sys(idt + <u64>vec * size, 8);
  if (fault_pending) return false;
  let hi: u64 = 0;
  if (size == 16) { hi = ld_sys(idt + <u64>vec * 16 + 8, 8); if (fault_pending) return false; }
  const w1 = <u32>(lo >> 32);
  gate_type = (w1 >> 8) & 0x1F;
  const dpl = (w1 >> 13) & 3;
  const p = (w1 >> 15) & 1;
  gate_sel = <u32>(lo >> 16) & 0xFFFF;
  gate_off = (lo & 0xFFFF) | <u64>(w1 & 0xFFFF0000);
  if (size == 16) gate_off |= (hi & 0xFFFFFFFF) << 32;
  gate_ist = <u32>(lo >> 32) & 7;
  const t = gate_type & 0xF;
  const ok = size == 16 ? (t == 0xE || t == 0xF) && (gate_type & 0x10) == 0 : (t == 0xE || t == 0xF || t == 0x6 || t == 0x7) && (gate_type & 0x10) == 0;
  // (IA-32e: the type field of the gate's upper half must be 0, SDM 6.14.1)
  if (!ok || (size == 16 && ((hi >> 40) & 0x1F) != 0)) { raise(X86_TRAP_GP, vec * 8 + 2 + e, true); return false; }
  if ((kind == EV_SOFT || kind == EV_SOFTEXC) && dpl < load<u32>(STATE + S_CPL)) { raise(X86_TRAP_GP, vec * 8 + 2, true); return false; }
  if (!p) { raise(X86_TRAP_NP, vec * 8 + 2 + e, true); return false; }
  // target code segment
  if ((gate_sel & 0xFFFC) == 0) { raise(X86_TRAP_GP, e, true); return false; }
  if (!read_desc(gate_sel, X86_TRAP_GP, e)) return false;
  const a = desc_attr(desc_hi);
  if (!(a & 0x10) || !(a & 8) || desc_dpl(desc_hi) > load<u32>(STATE + S_CPL)) { raise(X86_TRAP_GP, (gate_sel & 0xFFFC) + e, true); return false; }
  if (size == 16 && (!(a & ATTR_L) || (a & ATTR_DB))) { raise(X86_TRAP_GP, (gate_sel & 0xFFFC) + e, true); return false; }
  if (!(a & 0x80)) { raise(X86_TRAP_NP, (gate_sel & 0xFFFC) + e, true); return false; }
  return true;
}

// ---- IA-32e: 16-byte gates, 8-byte pushes, IST, RSP aligned to 16 ----
function deliver_long(vec: u32, err: u32, has_err: bool, kind: u32): bool {
  if (!read_gate(vec, kind, 16)) return false;
  const cpl = load<u32>(STATE + S_CPL);
  const a = desc_attr(desc_hi);
  const conforming = (a & 4) != 0;
  const new_cpl = conforming ? cpl : desc_dpl(desc_hi);
  let rsp = rd64(RSP);
  const tss = seg_base(SEG_TR);
  if (gate_ist != 0) {
    const off: u32 = 28 + 8 * (gate_ist - 1) + 8;  // IST1 at offset 36
    if (<u64>off + 7 > <u64>seg_limit(SEG_TR)) { raise(X86_TRAP_TS, (seg_sel(SEG_TR) & 0xFFFC) + ext(kind), true); return false; }
    rsp = ld_sys(tss + <u64>off, 8);
    if (fault_pending) return false;
  } else if (new_cpl < cpl) {
    const off: u32 = 4 + 8 * new_cpl;
    if (<u64>off + 7 > <u64>seg_limit(SEG_TR)) { raise(X86_TRAP_TS, (seg_sel(SEG_TR) & 0xFFFC) + ext(kind), true); return false; }
    rsp = ld_sys(tss + <u64>off, 8);
    if (fault_pending) return false;
  }
  if (<u64>((<i64>(rsp << 16)) >> 16) != rsp) { raise(X86_TRAP_SS, ext(kind), true); return false; }
  rsp &= ~<u64>0xF;
  const f = get_rflags() | frame_rf(vec, kind);
  const push_err = has_err && kind != EV_SOFT;
  const n: u32 = push_err ? 6 : 5;
  const base = rsp - <u64>(8 * n);
  // write highest first so a fault leaves nothing half-done at the top
  const frame = memory.data(48);
  store<u64>(frame, push_err ? <u64>err : 0);
  const o: u32 = push_err ? 8 : 0;
  store<u64>(frame + o, load<u64>(STATE + S_RIP));
  store<u64>(frame + o + 8, <u64>seg_sel(SEG_CS));
  store<u64>(frame + o + 16, f);
  store<u64>(frame + o + 24, rd64(RSP));
  store<u64>(frame + o + 32, <u64>seg_sel(SEG_SS));
  for (let i: i32 = <i32>n - 1; i >= 0; i--) {
    if (!st_sys(base + <u64>(i * 8), 8, load<u64>(frame + <u32>i * 8))) return false;
  }
  if (new_cpl != cpl) set_seg(SEG_SS, new_cpl, 0, 0, ATTR_UNUSABLE | (new_cpl << 5));
  store<u64>(STATE + RSP, base);
  materialize();
  let nf = flags_raw() & ~(TF | NT | RF | VM);
  if ((gate_type & 0xF) == 0xE) nf &= ~IF;
  set_flags_raw(nf);
  commit_cs(gate_sel, new_cpl);
  store<u64>(STATE + S_RIP, gate_off);
  return true;
}

// ---- 32-bit protected mode: 8-byte gates, TSS SS0:ESP0 on privilege change ----
function deliver_prot(vec: u32, err: u32, has_err: bool, kind: u32): bool {
  // task gates (type 5) are not modelled: read_gate rejects them with #GP
  if (!read_gate(vec, kind, 8)) return false;
  const cpl = load<u32>(STATE + S_CPL);
  const a = desc_attr(desc_hi);
  const new_cpl = (a & 4) ? cpl : desc_dpl(desc_hi);
  // from virtual-8086 mode the handler must be a non-conforming DPL-0 segment
  if ((load<u32>(STATE + S_MODE) & MODE_VM86) && new_cpl != 0) { raise(X86_TRAP_GP, (gate_sel & 0xFFFC) + ext(kind), true); return false; }
  const g32 = (gate_type & 8) != 0;
  const n: u32 = g32 ? 4 : 2;
  const cs_lo = desc_lo, cs_hi = desc_hi;
  let ss_sel = <u32>seg_sel(SEG_SS);
  let ss_base = seg_base(SEG_SS);
  let esp = rd64(RSP) & ((seg_attr(SEG_SS) & ATTR_DB) ? <u64>0xFFFFFFFF : <u64>0xFFFF);
  let ss32 = (seg_attr(SEG_SS) & ATTR_DB) != 0;
  const vm86 = (load<u32>(STATE + S_MODE) & MODE_VM86) != 0;
  let new_ss_lo: u32 = 0, new_ss_hi: u32 = 0;
  if (new_cpl < cpl) {
    const tss = seg_base(SEG_TR);
    const off = 4 + 8 * new_cpl;
    if (<u64>off + 5 > <u64>seg_limit(SEG_TR)) { raise(X86_TRAP_TS, (seg_sel(SEG_TR) & 0xFFFC) + ext(kind), true); return false; }
    const nesp = ld_sys(tss + <u64>off, 4);
    if (fault_pending) return false;
    const nss = <u32>ld_sys(tss + <u64>off + 4, 2);
    if (fault_pending) return false;
    if (!read_desc(nss, X86_TRAP_TS, ext(kind))) return false;
    new_ss_lo = desc_lo; new_ss_hi = desc_hi;
    const sa = desc_attr(desc_hi);
    if ((nss & 3) != new_cpl || desc_dpl(desc_hi) != new_cpl || !(sa & 0x10) || (sa & 8) || !(sa & 2)) { raise(X86_TRAP_TS, (nss & 0xFFFC) + ext(kind), true); return false; }
    if (!(sa & 0x80)) { raise(X86_TRAP_SS, (nss & 0xFFFC) + ext(kind), true); return false; }
    ss_sel = nss;
    ss_base = <u64>((desc_lo >> 16) | ((desc_hi & 0xFF) << 16) | (desc_hi & 0xFF000000));
    ss32 = (sa & ATTR_DB) != 0;
    esp = nesp;
  }
  const f = get_rflags() | frame_rf(vec, kind);
  const sm: u64 = ss32 ? 0xFFFFFFFF : 0xFFFF;
  let sp = esp;
  // push the frame
  if (new_cpl < cpl) {
    if (vm86) {
      sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, <u64>seg_sel(SEG_GS))) return false;
      sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, <u64>seg_sel(SEG_FS))) return false;
      sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, <u64>seg_sel(SEG_DS))) return false;
      sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, <u64>seg_sel(SEG_ES))) return false;
    }
    sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, <u64>seg_sel(SEG_SS))) return false;
    sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, rd64(RSP))) return false;
  }
  sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, f)) return false;
  sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, <u64>seg_sel(SEG_CS))) return false;
  sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, load<u64>(STATE + S_RIP))) return false;
  if (has_err && kind != EV_SOFT) { sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, <u64>err)) return false; }
  if (new_cpl < cpl) {
    set_seg(SEG_SS, ss_sel, ss_base, (new_ss_hi & 0x800000) ? ((((new_ss_lo & 0xFFFF) | (new_ss_hi & 0xF0000)) << 12) | 0xFFF) : ((new_ss_lo & 0xFFFF) | (new_ss_hi & 0xF0000)), desc_attr(new_ss_hi));
    if (vm86) {
      set_seg(SEG_DS, 0, 0, 0, ATTR_UNUSABLE); set_seg(SEG_ES, 0, 0, 0, ATTR_UNUSABLE);
      set_seg(SEG_FS, 0, 0, 0, ATTR_UNUSABLE); set_seg(SEG_GS, 0, 0, 0, ATTR_UNUSABLE);
    }
  }
  if (ss32) store<u64>(STATE + RSP, sp); else store<u16>(STATE + RSP, <u16>sp);
  materialize();
  let nf = flags_raw() & ~(TF | NT | RF | VM);
  if ((gate_type & 0x7) == 6) nf &= ~IF;
  set_flags_raw(nf);
  // the CS descriptor was read before the SS one
  set_desc(cs_lo, cs_hi);
  commit_cs(gate_sel, new_cpl);
  store<u64>(STATE + S_RIP, g32 ? gate_off & 0xFFFFFFFF : gate_off & 0xFFFF);
  return true;
}

