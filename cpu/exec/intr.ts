// Software interrupts and far control transfers: INT n, INT3, INTO, INT1,
// IRET/IRETD/IRETQ, far JMP/CALL/RET, SYSCALL/SYSRET, SYSENTER/SYSEXIT.
// Call gates are modelled; task switches are not (#GP(selector)).
import {
  STATE, S_RIP, S_MODE, S_CPL, S_GDTR_LIMIT, SEG_TR, S_STAR, S_LSTAR, S_CSTAR, S_SFMASK, S_SYSENTER_CS, S_SYSENTER_ESP, S_SYSENTER_EIP,
  S_VENDOR, MODE_PE, MODE_64, MODE_VM86, MODE_LMA, SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS,
  S_DBG_CTRL, DBG_ENABLE, DBG_INT3,
} from "../layout";
import { rd64, wr64, set_seg, seg_attr, seg_sel, seg_base, seg_limit, flags_raw, set_flags_raw, update_mode, efer, RSP, RCX, RDX, R11_OFF, IF, TF, RF, VM, NT, ATTR_L, ATTR_DB, ATTR_UNUSABLE, EFER_SCE } from "../state";
import { read_E, push, pop, stack_peek, sp_add, mask, mem_lin, stack_width } from "./operand";
import { get_rflags, materialize, get_of } from "../flags";
import { write_rflags } from "./flagctl";
import { insn_end } from "./ctrl";
import { R_IMM, R_IMM2, R_SEG } from "../decode/decoder";
import { ld, ld_sys, st_sys } from "../mmu/access";
import { fault_pending, ST_OK, ST_FAULT, ST_END, raise, raise_gp, raise_ud, X86_TRAP_GP, X86_TRAP_NP, X86_TRAP_SS, X86_TRAP_TS, X86_TRAP_BP, X86_TRAP_OF, X86_TRAP_DB } from "../except/fault";
import { deliver_one, EV_SOFT, EV_SOFTEXC } from "../except/deliver";
import { read_desc, desc_lo, desc_hi, desc_attr, desc_dpl, desc_limit, desc_base, desc_addr, commit_cs, load_cs_real, set_cpl, set_desc, load_seg, commit_seg, set_accessed } from "../except/segment";
import { read_far_ptr, far_off, far_sel } from "./operand";
import { set_next_rip, set_no_step_trap, set_step_trap_after } from "../ctl";

@inline function m(): u32 { return load<u32>(STATE + S_MODE); }

// Deliver a software event with the return RIP after the instruction. A
// fault during delivery is a fault of the instruction itself.
function soft_int(r: usize, vec: u32, kind: u32): i32 {
  const start = load<u64>(STATE + S_RIP);
  const tf = (flags_raw() & TF) != 0;
  store<u64>(STATE + S_RIP, insn_end(r));
  if (!deliver_one(vec, 0, false, kind)) { store<u64>(STATE + S_RIP, start); return ST_FAULT; }
  set_next_rip(load<u64>(STATE + S_RIP));
  if (tf) set_no_step_trap(true);   // the loop then skips the single-step trap
  return ST_END;
}

// CD ib INT n (VM86 with IOPL < 3: #GP)
export function int_n(r: usize): i32 {
  if ((m() & MODE_VM86) && ((flags_raw() >> 12) & 3) < 3) return raise_gp(0);
  return soft_int(r, <u32>load<u64>(r, R_IMM) & 0xFF, EV_SOFT);
}
// CC INT3
export function int3(r: usize): i32 {
  // KVM_GUESTDBG_USE_SW_BP: the #BP is intercepted before delivery, RIP stays at the INT3
  if ((load<u32>(STATE + S_DBG_CTRL) & (DBG_ENABLE | DBG_INT3)) == (DBG_ENABLE | DBG_INT3)) return raise(X86_TRAP_BP, 0, false);
  return soft_int(r, X86_TRAP_BP, EV_SOFTEXC);
}
// CE INTO (legacy modes)
export function into(r: usize): i32 {
  if (!get_of()) return ST_OK;
  return soft_int(r, X86_TRAP_OF, EV_SOFTEXC);
}
// F1 INT1 (ICEBP): a #DB trap delivered like a hardware event
export function int1(r: usize): i32 { return soft_int(r, X86_TRAP_DB, 0); }

// ---- code-segment checks for far transfers (same privilege) ----
// Reads the descriptor of `sel` and checks it as a target of JMP/CALL far.
function check_far_cs(sel: u32): bool {
  if ((sel & 0xFFFC) == 0) { raise(X86_TRAP_GP, 0, true); return false; }
  if (!read_desc(sel, X86_TRAP_GP)) return false;
  const a = desc_attr(desc_hi);
  const cpl = load<u32>(STATE + S_CPL);
  const dpl = desc_dpl(desc_hi);
  if (!(a & 0x10) || !(a & 8)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }   // system descriptors (gates): not modelled
  if (a & 4) { if (dpl > cpl) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; } }
  else if ((sel & 3) > cpl || dpl != cpl) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  if (!(a & 0x80)) { raise(X86_TRAP_NP, sel & 0xFFFC, true); return false; }
  if ((m() & MODE_LMA) && (a & ATTR_L) && (a & ATTR_DB)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  return true;
}

// The new RIP of a far transfer must be canonical when the target is 64-bit
// code and inside the CS limit otherwise: #GP(0) before anything changes.
function target_ok(off: u64, lo: u32, hi: u32): bool {
  if ((m() & MODE_LMA) && (desc_attr(hi) & ATTR_L)) {
    if (<u64>((<i64>(off << 16)) >> 16) != off) { raise(X86_TRAP_GP, 0, true); return false; }
  } else if (off > <u64>desc_limit(lo, hi)) { raise(X86_TRAP_GP, 0, true); return false; }
  return true;
}

// ---- call gates (SDM Vol. 3A §5.8.3-5.8.6; JMP/CALL pages) ----
// Type 4 (16-bit) and 0xC (32-bit) in legacy mode; in IA-32e mode only 0xC,
// as a 16-byte descriptor whose target must be 64-bit code. Task gates and
// TSS descriptors (task switches) are not modelled: #GP(selector).

// Is `sel` a system descriptor (a gate)? Leaves it in desc_lo/hi. False with
// a fault pending when the selector itself is bad.
function is_gate(sel: u32): bool {
  if ((sel & 0xFFFC) == 0) { raise(X86_TRAP_GP, 0, true); return false; }
  if (!read_desc(sel, X86_TRAP_GP)) return false;
  return (desc_attr(desc_hi) & 0x10) == 0;
}

let cg_sel: u32 = 0;
let cg_off: u64 = 0;
let cg_type: u32 = 0;
let cg_params: u32 = 0;
// Check the gate in desc_lo/hi (selector `sel`) and its target code segment;
// on success the target's descriptor is in desc_lo/hi.
function check_call_gate(sel: u32): bool {
  const a = desc_attr(desc_hi);
  const t = a & 0xF;
  const lma = (m() & MODE_LMA) != 0;
  const cpl = load<u32>(STATE + S_CPL);
  const dpl = desc_dpl(desc_hi);
  if (lma ? t != 0xC : t != 0xC && t != 4) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  if (dpl < cpl || dpl < (sel & 3)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  if (!(a & 0x80)) { raise(X86_TRAP_NP, sel & 0xFFFC, true); return false; }
  cg_type = t;
  cg_sel = desc_lo >> 16;
  cg_off = <u64>((desc_lo & 0xFFFF) | (desc_hi & 0xFFFF0000));
  cg_params = desc_hi & 0x1F;
  if (t == 4) cg_off &= 0xFFFF;
  if (lma) {
    if (<u64>(sel & 0xFFF8) + 15 > <u64>load<u16>(STATE + S_GDTR_LIMIT) && !(sel & 4)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
    const upper = ld_sys(desc_addr + 8, 8);
    if (fault_pending) return false;
    if ((upper >> 40) & 0x1F) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
    cg_off |= (upper & 0xFFFFFFFF) << 32;
  }
  if ((cg_sel & 0xFFFC) == 0) { raise(X86_TRAP_GP, 0, true); return false; }
  if (!read_desc(cg_sel, X86_TRAP_GP)) return false;
  const ca = desc_attr(desc_hi);
  if (!(ca & 0x10) || !(ca & 8) || desc_dpl(desc_hi) > cpl) { raise(X86_TRAP_GP, cg_sel & 0xFFFC, true); return false; }
  if (lma && (!(ca & ATTR_L) || (ca & ATTR_DB))) { raise(X86_TRAP_GP, cg_sel & 0xFFFC, true); return false; }
  if (!(ca & 0x80)) { raise(X86_TRAP_NP, cg_sel & 0xFFFC, true); return false; }
  return true;
}

// JMP through a call gate: never changes CPL (non-conforming targets need DPL = CPL)
function gate_jump(sel: u32): i32 {
  if (!check_call_gate(sel)) return ST_FAULT;
  const cpl = load<u32>(STATE + S_CPL);
  if (!(desc_attr(desc_hi) & 4) && desc_dpl(desc_hi) != cpl) return raise(X86_TRAP_GP, cg_sel & 0xFFFC, true);
  if (!target_ok(cg_off, desc_lo, desc_hi)) return ST_FAULT;
  set_accessed();
  commit_cs(cg_sel, cpl);
  set_next_rip(cg_off);
  return ST_END;
}

// CALL through a call gate: to a non-conforming segment with DPL < CPL it
// switches to the TSS stack of the new level and pushes the old SS:rSP
// (legacy gates also copy `param count` stack entries), then CS:rIP.
function gate_call(r: usize, sel: u32): i32 {
  if (!check_call_gate(sel)) return ST_FAULT;
  const lo = desc_lo, hi = desc_hi;
  const cpl = load<u32>(STATE + S_CPL);
  const lma = (m() & MODE_LMA) != 0;
  const n: u32 = lma ? 8 : cg_type == 0xC ? 4 : 2;
  const ret = insn_end(r) & mask(n * 8);
  if (!target_ok(cg_off, lo, hi)) return ST_FAULT;
  const dpl = desc_dpl(hi);
  const old_cs = <u64>seg_sel(SEG_CS);
  if ((desc_attr(hi) & 4) || dpl == cpl) {
    const old_sp = rd64(RSP);
    if (!push(old_cs, n) || !push(ret, n)) { store<u64>(STATE + RSP, old_sp); return ST_FAULT; }
    set_desc(lo, hi);
    set_accessed();
    commit_cs(cg_sel, cpl);
    set_next_rip(cg_off);
    return ST_END;
  }
  // more privilege: new stack from the TSS
  const tss = seg_base(SEG_TR);
  const old_ss = <u64>seg_sel(SEG_SS);
  const old_sp = rd64(RSP);
  let nss: u32 = dpl, nsp: u64, ss_base: u64 = 0, sm: u64 = <u64>-1;
  let ss_lo: u32 = 0, ss_hi: u32 = 0;
  if (lma) {
    if (<u64>(4 + 8 * dpl + 7) > <u64>seg_limit(SEG_TR)) return raise(X86_TRAP_TS, seg_sel(SEG_TR) & 0xFFFC, true);
    nsp = ld_sys(tss + <u64>(4 + 8 * dpl), 8);
    if (fault_pending) return ST_FAULT;
    if (<u64>((<i64>(nsp << 16)) >> 16) != nsp) return raise(X86_TRAP_SS, 0, true);
  } else {
    const toff: u64 = <u64>(4 + 8 * dpl);
    if (toff + 5 > <u64>seg_limit(SEG_TR)) return raise(X86_TRAP_TS, seg_sel(SEG_TR) & 0xFFFC, true);
    nsp = ld_sys(tss + toff, 4);
    if (fault_pending) return ST_FAULT;
    nss = <u32>ld_sys(tss + toff + 4, 2);
    if (fault_pending) return ST_FAULT;
    if ((nss & 0xFFFC) == 0) return raise(X86_TRAP_TS, 0, true);
    if (!read_desc(nss, X86_TRAP_TS)) return ST_FAULT;
    const sa = desc_attr(desc_hi);
    if ((nss & 3) != dpl || desc_dpl(desc_hi) != dpl || !(sa & 0x10) || (sa & 8) || !(sa & 2)) return raise(X86_TRAP_TS, nss & 0xFFFC, true);
    if (!(sa & 0x80)) return raise(X86_TRAP_SS, nss & 0xFFFC, true);
    ss_lo = desc_lo; ss_hi = desc_hi;
    ss_base = desc_base(ss_lo, ss_hi);
    sm = (sa & ATTR_DB) ? 0xFFFFFFFF : 0xFFFF;
  }
  // build the frame on the new stack (supervisor accesses) before committing
  let sp = nsp & sm;
  sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, old_ss)) return ST_FAULT;
  sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, old_sp)) return ST_FAULT;
  if (!lma) {
    for (let i: i32 = <i32>cg_params - 1; i >= 0; i--) {
      const v = stack_peek(<u32>i * n, n);
      if (fault_pending) return ST_FAULT;
      sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, v)) return ST_FAULT;
    }
  }
  sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, old_cs)) return ST_FAULT;
  sp = (sp - <u64>n) & sm; if (!st_sys(ss_base + sp, n, ret)) return ST_FAULT;
  if (lma) set_seg(SEG_SS, dpl, 0, 0, ATTR_UNUSABLE | (dpl << 5));
  else { set_desc(ss_lo, ss_hi); set_accessed(); commit_seg(SEG_SS, nss); }
  if (sm == 0xFFFF) store<u16>(STATE + RSP, <u16>sp); else store<u64>(STATE + RSP, sp);
  set_desc(lo, hi);
  set_accessed();
  commit_cs(cg_sel, dpl);
  set_next_rip(cg_off);
  return ST_END;
}

function far_jump(sel: u32, off: u64): i32 {
  if (!(m() & MODE_PE) || (m() & MODE_VM86)) {
    load_cs_real(sel);
    set_next_rip(off & 0xFFFF_FFFF);
    return ST_END;
  }
  if (is_gate(sel)) return gate_jump(sel);
  if (fault_pending) return ST_FAULT;
  if (!check_far_cs(sel)) return ST_FAULT;
  if (!target_ok(off, desc_lo, desc_hi)) return ST_FAULT;
  set_accessed();
  commit_cs(sel, load<u32>(STATE + S_CPL));
  set_next_rip(off);
  return ST_END;
}

// EA JMP ptr16:16/32 (legacy modes)
export function jmp_far_ptr(r: usize, S: u32): i32 {
  return far_jump(<u32>load<u16>(r, R_IMM2), load<u64>(r, R_IMM) & mask(S));
}
// FF /5 JMP m16:16/32/64
// AMD has no m16:64 far pointer: REX.W is ignored by indirect far JMP/CALL
// (measured on Zen 4: the selector is read at offset 4, so a 64-bit pointer
// gives a null selector and #GP(0)); Intel honours it.
@inline function far_mem_size(S: u32): u32 { return S == 64 && load<u32>(STATE + S_VENDOR) == 1 ? 32 : S; }
export function jmp_far_mem(r: usize, S: u32): i32 {
  if (!read_far_ptr(r, far_mem_size(S))) return ST_FAULT;
  return far_jump(far_sel, far_off);
}

function far_call(r: usize, S: u32, sel: u32, off: u64): i32 {
  const n = S >> 3;
  const old_cs = <u64>seg_sel(SEG_CS);
  const ret = insn_end(r) & mask(S);
  const old_sp = rd64(RSP);
  if (!(m() & MODE_PE) || (m() & MODE_VM86)) {
    if (!push(old_cs, n) || !push(ret, n)) { store<u64>(STATE + RSP, old_sp); return ST_FAULT; }
    load_cs_real(sel);
    set_next_rip(off & mask(S));
    return ST_END;
  }
  if (is_gate(sel)) return gate_call(r, sel);
  if (fault_pending) return ST_FAULT;
  if (!check_far_cs(sel)) return ST_FAULT;
  const lo = desc_lo, hi = desc_hi;
  const tgt = off & mask(S);
  if (!target_ok(tgt, lo, hi)) return ST_FAULT;
  if (!push(old_cs, n) || !push(ret, n)) { store<u64>(STATE + RSP, old_sp); return ST_FAULT; }
  set_desc(lo, hi);
  set_accessed();
  commit_cs(sel, load<u32>(STATE + S_CPL));
  set_next_rip(tgt);
  return ST_END;
}
// 9A CALL ptr16:16/32
export function call_far_ptr(r: usize, S: u32): i32 {
  return far_call(r, S, <u32>load<u16>(r, R_IMM2), load<u64>(r, R_IMM));
}
// FF /3 CALL m16:16/32/64
export function call_far_mem(r: usize, S: u32): i32 {
  S = far_mem_size(S);
  if (!read_far_ptr(r, S)) return ST_FAULT;
  return far_call(r, S, far_sel, far_off);
}

// ---- far returns (RETF, IRET) ----
// Every check (CS, then SS) is made before anything is committed, so a
// faulting return leaves CS, CPL, RFLAGS, SS and RSP as they were.

// Check the CS selector of a RET/IRET return and read its descriptor.
function check_ret_cs(sel: u32): bool {
  const cpl = load<u32>(STATE + S_CPL);
  if ((sel & 0xFFFC) == 0) { raise(X86_TRAP_GP, 0, true); return false; }
  if (!read_desc(sel, X86_TRAP_GP)) return false;
  const a = desc_attr(desc_hi);
  const rpl = sel & 3;
  const dpl = desc_dpl(desc_hi);
  if (!(a & 0x10) || !(a & 8) || rpl < cpl) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  if ((a & 4) ? dpl > rpl : dpl != rpl) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  if (!(a & 0x80)) { raise(X86_TRAP_NP, sel & 0xFFFC, true); return false; }
  // IA-32e: L and D both set is reserved
  if ((m() & MODE_LMA) && (a & ATTR_L) && (a & ATTR_DB)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  return true;
}

// The SS of a return, checked against the new CPL (RETF/IRET pages: RPL and
// DPL = new CPL, writable data, present). A null SS is allowed only when the
// return goes to 64-bit code at CPL 0-2. On success ret_ss_* hold what
// commit_ret_ss() loads.
let ret_ss_lo: u32 = 0;
let ret_ss_hi: u32 = 0;
function check_ret_ss(new_cpl: u32, ss_sel: u32, to64: bool): bool {
  if ((ss_sel & 0xFFFC) == 0) {
    if (!to64 || new_cpl == 3) { raise(X86_TRAP_GP, 0, true); return false; }
    return true;
  }
  if (!read_desc(ss_sel, X86_TRAP_GP)) return false;
  const a = desc_attr(desc_hi);
  if ((ss_sel & 3) != new_cpl || desc_dpl(desc_hi) != new_cpl || !(a & 0x10) || (a & 8) || !(a & 2)) { raise(X86_TRAP_GP, ss_sel & 0xFFFC, true); return false; }
  if (!(a & 0x80)) { raise(X86_TRAP_SS, ss_sel & 0xFFFC, true); return false; }
  set_accessed();
  if (fault_pending) return false;
  ret_ss_lo = desc_lo; ret_ss_hi = desc_hi;
  return true;
}

// Load SS and RSP after check_ret_ss(). With a 16-bit stack outside 64-bit
// mode only SP is loaded: the upper half of ESP keeps its old (inner-level)
// value, as on silicon (the leak Linux's espfix works around).
function commit_ret_ss(new_cpl: u32, ss_sel: u32, rsp: u64): void {
  if ((ss_sel & 0xFFFC) == 0) set_seg(SEG_SS, ss_sel, 0, 0, ATTR_UNUSABLE | (new_cpl << 5));
  else { set_desc(ret_ss_lo, ret_ss_hi); commit_seg(SEG_SS, ss_sel); }
  update_mode();
  if (m() & MODE_64) store<u64>(STATE + RSP, rsp);
  else if (seg_attr(SEG_SS) & ATTR_DB) store<u64>(STATE + RSP, rsp & 0xFFFFFFFF);
  else store<u16>(STATE + RSP, <u16>rsp);
}

// After a return to an outer level, DS/ES/FS/GS that the new CPL may not use
// (data or non-conforming code with DPL < CPL) become null.
function null_inner_segments(new_cpl: u32): void {
  for (let s: u32 = SEG_ES; s <= SEG_GS; s++) {
    if (s == SEG_CS || s == SEG_SS) continue;
    const a = seg_attr(s);
    const dpl = (a >> 5) & 3;
    const data_or_nc = !(a & 8) || !(a & 4);
    if (!(a & ATTR_UNUSABLE) && data_or_nc && dpl < new_cpl) set_seg(s, 0, 0, 0, ATTR_UNUSABLE);
  }
}

// Does the descriptor in desc_hi make a 64-bit code segment (in IA-32e mode)?
@inline function desc_is64(hi: u32): bool { return (m() & MODE_LMA) != 0 && (desc_attr(hi) & ATTR_L) != 0; }

// CB RETF, CA RETF Iw
export function retf(r: usize, S: u32, IMM: bool): i32 {
  const n = S >> 3;
  const off = stack_peek(0, n);
  if (fault_pending) return ST_FAULT;
  const sel = <u32>stack_peek(n, n) & 0xFFFF;
  if (fault_pending) return ST_FAULT;
  const imm = IMM ? load<u64>(r, R_IMM) & 0xFFFF : 0;
  if (!(m() & MODE_PE) || (m() & MODE_VM86)) {
    sp_add(<u64>(2 * n) + imm);
    load_cs_real(sel);
    set_next_rip(off & mask(S));
    return ST_END;
  }
  if (!check_ret_cs(sel)) return ST_FAULT;
  set_accessed();
  if (fault_pending) return ST_FAULT;
  const cpl = load<u32>(STATE + S_CPL);
  const rpl = sel & 3;
  const lo = desc_lo, hi = desc_hi;
  const to64 = desc_is64(hi);
  const tgt = off & mask(S);
  if (!target_ok(tgt, lo, hi)) return ST_FAULT;
  if (rpl > cpl) {
    const nsp = stack_peek(2 * n + <u32>imm, n);
    if (fault_pending) return ST_FAULT;
    const nss = <u32>stack_peek(3 * n + <u32>imm, n) & 0xFFFF;
    if (fault_pending) return ST_FAULT;
    if (!check_ret_ss(rpl, nss, to64)) return ST_FAULT;
    set_desc(lo, hi);
    commit_cs(sel, rpl);
    commit_ret_ss(rpl, nss, nsp + imm);
    null_inner_segments(rpl);
  } else {
    sp_add(<u64>(2 * n) + imm);
    set_desc(lo, hi);
    commit_cs(sel, cpl);
  }
  set_next_rip(tgt);
  return ST_END;
}

// CF IRET / IRETD / IRETQ
export function iret(r: usize, S: u32): i32 {
  const n = S >> 3;
  const mm = m();
  if (!(mm & MODE_PE) || (mm & MODE_VM86)) {
    // real mode, or VM86 with IOPL 3 (which may not change IOPL or VM)
    const vm86 = (mm & MODE_VM86) != 0;
    if (vm86 && ((flags_raw() >> 12) & 3) < 3) return raise_gp(0);
    const ip = stack_peek(0, n);
    if (fault_pending) return ST_FAULT;
    const cs = <u32>stack_peek(n, n) & 0xFFFF;
    const fl = stack_peek(2 * n, n);
    if (fault_pending) return ST_FAULT;
    sp_add(<u64>(3 * n));
    load_cs_real(cs);
    write_rflags(fl, S, !vm86);
    set_next_rip(ip & mask(S));
    return ST_END;
  }
  if (flags_raw() & NT) return raise_gp(0);   // task return: not modelled
  // Zen 4 reads the RFLAGS slot first in 64-bit mode: a frame on an unmapped page faults with
  // CR2 = RSP+16 (measured: test/cpu/differential.test.ts, X86KVM_DIFF_SEED=3, case 192786)
  const fl_first = amd() && (mm & MODE_64) != 0;
  let fl: u64 = 0;
  if (fl_first) { fl = stack_peek(2 * n, n); if (fault_pending) return ST_FAULT; }
  const ip = stack_peek(0, n);
  if (fault_pending) return ST_FAULT;
  const cs = <u32>stack_peek(n, n) & 0xFFFF;
  if (fault_pending) return ST_FAULT;
  if (!fl_first) { fl = stack_peek(2 * n, n); if (fault_pending) return ST_FAULT; }
  const cpl = load<u32>(STATE + S_CPL);
  if ((fl & VM) && cpl == 0 && !(mm & MODE_LMA) && S == 32) return raise_gp(0);  // return to VM86: not modelled
  if (!check_ret_cs(cs)) return ST_FAULT;
  set_accessed();
  if (fault_pending) return ST_FAULT;
  const rpl = cs & 3;
  const lo = desc_lo, hi = desc_hi;
  const m64 = (mm & MODE_64) != 0;
  const tgt = ip & mask(S);
  if (!target_ok(tgt, lo, hi)) return ST_FAULT;
  if (rpl > cpl || m64) {
    // IRET in 64-bit mode always pops SS:RSP; elsewhere only on a privilege change
    const nsp = stack_peek(3 * n, n);
    if (fault_pending) return ST_FAULT;
    const nss = <u32>stack_peek(4 * n, n) & 0xFFFF;
    if (fault_pending) return ST_FAULT;
    if (!check_ret_ss(rpl, nss, desc_is64(hi))) return ST_FAULT;
    // RFLAGS first: which bits IRET may change depends on the CPL it runs at
    write_rflags(fl, S, true);
    set_desc(lo, hi);
    commit_cs(cs, rpl);
    commit_ret_ss(rpl, nss, nsp);
    if (rpl > cpl) null_inner_segments(rpl);
  } else {
    sp_add(<u64>(3 * n));
    write_rflags(fl, S, true);
    set_desc(lo, hi);
    commit_cs(cs, cpl);
  }
  set_next_rip(tgt);
  return ST_END;
}

// SYSCALL/SYSRET differ by vendor (S_VENDOR): Intel has them in 64-bit mode
// only (#UD elsewhere, SDM SYSCALL/SYSRET pages) and raises #GP(0) at CPL 0
// for SYSRET to a non-canonical RCX; AMD also has them in compatibility and
// legacy protected mode (APM Vol. 3) and takes the non-canonical RIP as a
// #GP at CPL 3 after the return (here: at the fetch).
@inline function amd(): bool { return load<u32>(STATE + S_VENDOR) == 1; }

// 0F 05 SYSCALL
export function syscall(r: usize): i32 {
  const mm = m();
  if (!(efer() & EFER_SCE)) return raise_ud();
  if (amd() ? !(mm & MODE_PE) || (mm & MODE_VM86) != 0 : !(mm & MODE_64)) return raise_ud();
  const star = load<u64>(STATE + S_STAR);
  const sel = <u32>(star >> 32) & 0xFFFC;
  const next = insn_end(r);
  materialize();
  if (!(mm & MODE_LMA)) {
    // AMD legacy mode: ECX = return EIP, EIP = STAR[31:0], flat 32-bit CS/SS
    wr64(RCX, next & 0xFFFFFFFF);
    set_flags_raw(flags_raw() & ~(VM | IF | RF));
    set_seg(SEG_CS, sel, 0, 0xFFFFFFFF, 0xC09B);
    set_seg(SEG_SS, sel + 8, 0, 0xFFFFFFFF, 0xC093);
    set_cpl(0);
    set_next_rip(star & 0xFFFFFFFF);
    return ST_END;
  }
  wr64(RCX, next);
  const fl = flags_raw();
  wr64(R11_OFF, fl & ~RF);
  set_flags_raw((fl & ~load<u64>(STATE + S_SFMASK) & ~RF) | 2);
  if ((fl & TF) && !(flags_raw() & TF)) set_no_step_trap(true);
  set_seg(SEG_CS, sel, 0, 0xFFFFFFFF, 0xA09B);        // 64-bit code, DPL 0
  set_seg(SEG_SS, sel + 8, 0, 0xFFFFFFFF, 0xC093);    // flat data, DPL 0
  set_cpl(0);
  set_next_rip((mm & MODE_64) ? load<u64>(STATE + S_LSTAR) : load<u64>(STATE + S_CSTAR));
  return ST_END;
}

// 0F 07 SYSRET (REX.W: to 64-bit code)
export function sysret(r: usize, S: u32): i32 {
  const mm = m();
  if (!(efer() & EFER_SCE)) return raise_ud();
  if (amd() ? !(mm & MODE_PE) || (mm & MODE_VM86) != 0 : !(mm & MODE_64)) return raise_ud();
  if (load<u32>(STATE + S_CPL) != 0) return raise_gp(0);
  const rcx = rd64(RCX);
  if (!amd() && S == 64 && <u64>((<i64>(rcx << 16)) >> 16) != rcx) return raise_gp(0);
  const star = load<u64>(STATE + S_STAR);
  const base = <u32>(star >> 48) & 0xFFFF;
  materialize();
  if (!(mm & MODE_LMA)) {
    // AMD legacy mode: IF is set, the other flags stay
    set_flags_raw(flags_raw() | IF);
    set_seg(SEG_CS, (base & 0xFFFC) | 3, 0, 0xFFFFFFFF, 0xC0FB);
  } else {
    if (S == 64) set_seg(SEG_CS, ((base + 16) & 0xFFFC) | 3, 0, 0xFFFFFFFF, 0xA0FB);
    else set_seg(SEG_CS, (base & 0xFFFC) | 3, 0, 0xFFFFFFFF, 0xC0FB);
    set_flags_raw((rd64(R11_OFF) & 0x3C7FD7) | 2);
    if (flags_raw() & TF) set_step_trap_after(true);
  }
  set_seg(SEG_SS, ((base + 8) & 0xFFFC) | 3, 0, 0xFFFFFFFF, 0xC0F3);
  set_cpl(3);
  set_next_rip(S == 64 ? rcx : rcx & 0xFFFFFFFF);
  return ST_END;
}

// 0F 34 SYSENTER / 0F 35 SYSEXIT. AMD has them in legacy protected mode only
// (#UD in long mode, APM Vol. 3); Intel also in IA-32e mode.
export function sysenter(r: usize): i32 {
  if (amd() && (m() & MODE_LMA)) return raise_ud();
  const cs = load<u32>(STATE + S_SYSENTER_CS) & 0xFFFC;
  if (!(m() & MODE_PE) || cs == 0) return raise_gp(0);
  const lma = (m() & MODE_LMA) != 0;
  materialize();
  set_flags_raw(flags_raw() & ~(VM | IF | RF));
  set_seg(SEG_CS, cs, 0, 0xFFFFFFFF, lma ? 0xA09B : 0xC09B);
  set_seg(SEG_SS, cs + 8, 0, 0xFFFFFFFF, 0xC093);
  set_cpl(0);
  store<u64>(STATE + RSP, lma ? load<u64>(STATE + S_SYSENTER_ESP) : load<u64>(STATE + S_SYSENTER_ESP) & 0xFFFFFFFF);
  set_next_rip(lma ? load<u64>(STATE + S_SYSENTER_EIP) : load<u64>(STATE + S_SYSENTER_EIP) & 0xFFFFFFFF);
  return ST_END;
}
// SYSEXIT: RIP from RDX, RSP from RCX (SDM SYSEXIT page); REX.W returns to
// 64-bit code, where both must be canonical.
export function sysexit(r: usize, S: u32): i32 {
  // measured on Zen 4: at CPL3 in long mode SYSEXIT is #GP(0), the CPL check first
  if (amd() && (m() & MODE_LMA) && load<u32>(STATE + S_CPL) == 0) return raise_ud();
  const cs = load<u32>(STATE + S_SYSENTER_CS) & 0xFFFC;
  if (!(m() & MODE_PE) || cs == 0 || load<u32>(STATE + S_CPL) != 0) return raise_gp(0);
  const rip = rd64(RDX), rsp = rd64(RCX);
  if (S == 64 && (<u64>((<i64>(rip << 16)) >> 16) != rip || <u64>((<i64>(rsp << 16)) >> 16) != rsp)) return raise_gp(0);
  if (S == 64) set_seg(SEG_CS, (cs + 32) | 3, 0, 0xFFFFFFFF, 0xA0FB);
  else set_seg(SEG_CS, (cs + 16) | 3, 0, 0xFFFFFFFF, 0xC0FB);
  set_seg(SEG_SS, (cs + (S == 64 ? 40 : 24)) | 3, 0, 0xFFFFFFFF, 0xC0F3);
  set_cpl(3);
  store<u64>(STATE + RSP, S == 64 ? rsp : rsp & 0xFFFFFFFF);
  set_next_rip(S == 64 ? rip : rip & 0xFFFFFFFF);
  return ST_END;
}
