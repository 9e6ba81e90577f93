// Software interrupts and far control transfers: INT n, INT3, INTO, INT1,
// IRET/IRETD/IRETQ, far JMP/CALL/RET, SYSCALL/SYSRET, SYSENTER/SYSEXIT.
// Call gates and task switches are not modelled: they raise #GP.
import {
  STATE, S_RIP, S_MODE, S_CPL, S_STAR, S_LSTAR, S_CSTAR, S_SFMASK, S_SYSENTER_CS, S_SYSENTER_ESP, S_SYSENTER_EIP,
  MODE_PE, MODE_64, MODE_VM86, MODE_LMA, SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS,
  S_DBG_CTRL, DBG_ENABLE, DBG_INT3,
} from "../layout";
import { rd64, wr64, set_seg, seg_attr, seg_sel, flags_raw, set_flags_raw, update_mode, efer, RSP, RCX, R11_OFF, IF, TF, RF, VM, NT, ATTR_L, ATTR_DB, ATTR_UNUSABLE, EFER_SCE } from "../state";
import { read_E, push, pop, stack_peek, sp_add, mask, mem_lin, stack_width } from "./operand";
import { get_rflags, materialize, get_of } from "../flags";
import { write_rflags } from "./flagctl";
import { insn_end } from "./ctrl";
import { R_IMM, R_IMM2, R_SEG } from "../decode/decoder";
import { ld } from "../mmu/access";
import { fault_pending, ST_OK, ST_FAULT, ST_END, raise, raise_gp, raise_ud, X86_TRAP_GP, X86_TRAP_NP, X86_TRAP_SS, X86_TRAP_BP, X86_TRAP_OF, X86_TRAP_DB } from "../except/fault";
import { deliver_one, EV_SOFT, EV_SOFTEXC } from "../except/deliver";
import { read_desc, desc_lo, desc_hi, desc_attr, desc_dpl, commit_cs, load_cs_real, set_cpl, set_desc, load_seg, commit_seg, set_accessed } from "../except/segment";
import { set_next_rip } from "../ctl";

@inline function m(): u32 { return load<u32>(STATE + S_MODE); }

// Deliver a software event with the return RIP after the instruction. A
// fault during delivery is a fault of the instruction itself.
function soft_int(r: usize, vec: u32, kind: u32): i32 {
  const start = load<u64>(STATE + S_RIP);
  store<u64>(STATE + S_RIP, insn_end(r));
  if (!deliver_one(vec, 0, false, kind)) { store<u64>(STATE + S_RIP, start); return ST_FAULT; }
  set_next_rip(load<u64>(STATE + S_RIP));
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

function far_jump(sel: u32, off: u64): i32 {
  if (!(m() & MODE_PE) || (m() & MODE_VM86)) {
    load_cs_real(sel);
    set_next_rip(off & 0xFFFF_FFFF);
    return ST_END;
  }
  if (!check_far_cs(sel)) return ST_FAULT;
  set_accessed();
  commit_cs(sel, load<u32>(STATE + S_CPL));
  const a = seg_attr(SEG_CS);
  set_next_rip((m() & MODE_64) ? off : (a & ATTR_DB) ? off & 0xFFFFFFFF : off & 0xFFFF);
  return ST_END;
}

// EA JMP ptr16:16/32 (legacy modes)
export function jmp_far_ptr(r: usize, S: u32): i32 {
  return far_jump(<u32>load<u16>(r, R_IMM2), load<u64>(r, R_IMM) & mask(S));
}
// FF /5 JMP m16:16/32/64
export function jmp_far_mem(r: usize, S: u32): i32 {
  const n = S >> 3;
  const a = mem_lin(r, n + 2, false);
  if (fault_pending) return ST_FAULT;
  const s = <u32>load<u8>(r, R_SEG);
  const off = ld(a, n, s);
  if (fault_pending) return ST_FAULT;
  const sel = <u32>ld(a + <u64>n, 2, s);
  if (fault_pending) return ST_FAULT;
  return far_jump(sel, off);
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
  if (!check_far_cs(sel)) return ST_FAULT;
  const lo = desc_lo, hi = desc_hi;
  if (!push(old_cs, n) || !push(ret, n)) { store<u64>(STATE + RSP, old_sp); return ST_FAULT; }
  set_desc(lo, hi);
  set_accessed();
  commit_cs(sel, load<u32>(STATE + S_CPL));
  set_next_rip((m() & MODE_64) ? off : off & mask(S));
  return ST_END;
}
// 9A CALL ptr16:16/32
export function call_far_ptr(r: usize, S: u32): i32 {
  return far_call(r, S, <u32>load<u16>(r, R_IMM2), load<u64>(r, R_IMM));
}
// FF /3 CALL m16:16/32/64
export function call_far_mem(r: usize, S: u32): i32 {
  const n = S >> 3;
  const a = mem_lin(r, n + 2, false);
  if (fault_pending) return ST_FAULT;
  const s = <u32>load<u8>(r, R_SEG);
  const off = ld(a, n, s);
  if (fault_pending) return ST_FAULT;
  const sel = <u32>ld(a + <u64>n, 2, s);
  if (fault_pending) return ST_FAULT;
  return far_call(r, S, sel, off);
}

// Return to an outer privilege level: SS:RSP from the stack, data segments
// that the new CPL may not use are nulled.
function return_outer(new_cpl: u32, ss_sel: u32, rsp: u64): bool {
  const m64 = (m() & MODE_64) != 0;
  if ((ss_sel & 0xFFFC) == 0) {
    // null SS only when returning to 64-bit code below CPL 3
    if (!(m() & MODE_LMA) || new_cpl == 3 || !(seg_attr(SEG_CS) & ATTR_L)) { raise(X86_TRAP_GP, 0, true); return false; }
    set_seg(SEG_SS, ss_sel, 0, 0, ATTR_UNUSABLE | (new_cpl << 5));
  } else {
    if (!read_desc(ss_sel, X86_TRAP_GP)) return false;
    const a = desc_attr(desc_hi);
    if ((ss_sel & 3) != new_cpl || desc_dpl(desc_hi) != new_cpl || !(a & 0x10) || (a & 8) || !(a & 2)) { raise(X86_TRAP_GP, ss_sel & 0xFFFC, true); return false; }
    if (!(a & 0x80)) { raise(X86_TRAP_SS, ss_sel & 0xFFFC, true); return false; }
    set_accessed();
    commit_seg(SEG_SS, ss_sel);
  }
  store<u64>(STATE + RSP, rsp);
  if (!m64 && !(seg_attr(SEG_SS) & ATTR_DB)) store<u64>(STATE + RSP, rsp & 0xFFFF);
  for (let s: u32 = SEG_ES; s <= SEG_GS; s++) {
    if (s == SEG_CS || s == SEG_SS) continue;
    const a = seg_attr(s);
    const dpl = (a >> 5) & 3;
    const data_or_nc = !(a & 8) || !(a & 4);
    if (!(a & ATTR_UNUSABLE) && data_or_nc && dpl < new_cpl) set_seg(s, 0, 0, 0, ATTR_UNUSABLE);
  }
  return true;
}

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
  return true;
}

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
  const cpl = load<u32>(STATE + S_CPL);
  const rpl = sel & 3;
  if (rpl > cpl) {
    const lo = desc_lo, hi = desc_hi;
    const nsp = stack_peek(2 * n + <u32>imm, n);
    if (fault_pending) return ST_FAULT;
    const nss = <u32>stack_peek(3 * n + <u32>imm, n) & 0xFFFF;
    if (fault_pending) return ST_FAULT;
    set_desc(lo, hi);
    commit_cs(sel, rpl);
    if (!return_outer(rpl, nss, nsp + imm)) return ST_FAULT;
  } else {
    sp_add(<u64>(2 * n) + imm);
    commit_cs(sel, cpl);
  }
  set_next_rip((m() & MODE_64) ? off : off & mask(S));
  return ST_END;
}

// CF IRET / IRETD / IRETQ
export function iret(r: usize, S: u32): i32 {
  const n = S >> 3;
  const mm = m();
  if (!(mm & MODE_PE)) {
    const ip = stack_peek(0, n);
    if (fault_pending) return ST_FAULT;
    const cs = <u32>stack_peek(n, n) & 0xFFFF;
    const fl = stack_peek(2 * n, n);
    if (fault_pending) return ST_FAULT;
    sp_add(<u64>(3 * n));
    load_cs_real(cs);
    write_rflags(fl, S, true);
    set_next_rip(ip & mask(S));
    return ST_END;
  }
  if (mm & MODE_VM86) {
    if (((flags_raw() >> 12) & 3) < 3) return raise_gp(0);
    const ip = stack_peek(0, n);
    if (fault_pending) return ST_FAULT;
    const cs = <u32>stack_peek(n, n) & 0xFFFF;
    const fl = stack_peek(2 * n, n);
    if (fault_pending) return ST_FAULT;
    sp_add(<u64>(3 * n));
    load_cs_real(cs);
    write_rflags(fl, S, false);
    set_next_rip(ip & mask(S));
    return ST_END;
  }
  if (flags_raw() & NT) return raise_gp(0);   // task return: not modelled
  const ip = stack_peek(0, n);
  if (fault_pending) return ST_FAULT;
  const cs = <u32>stack_peek(n, n) & 0xFFFF;
  if (fault_pending) return ST_FAULT;
  const fl = stack_peek(2 * n, n);
  if (fault_pending) return ST_FAULT;
  const cpl = load<u32>(STATE + S_CPL);
  if ((fl & VM) && cpl == 0 && !(mm & MODE_LMA) && S == 32) return raise_gp(0);  // return to VM86: not modelled
  if (!check_ret_cs(cs)) return ST_FAULT;
  const rpl = cs & 3;
  const lo = desc_lo, hi = desc_hi;
  const m64 = (mm & MODE_64) != 0;
  if (rpl > cpl || m64) {
    // IRETQ always pops SS:RSP; legacy IRET only on a privilege change
    const nsp = stack_peek(3 * n, n);
    if (fault_pending) return ST_FAULT;
    const nss = <u32>stack_peek(4 * n, n) & 0xFFFF;
    if (fault_pending) return ST_FAULT;
    set_desc(lo, hi);
    commit_cs(cs, rpl);
    write_rflags(fl, S, true);
    if (rpl > cpl) {
      if (!return_outer(rpl, nss, nsp)) return ST_FAULT;
    } else {
      if ((nss & 0xFFFC) == 0) set_seg(SEG_SS, nss, 0, 0, ATTR_UNUSABLE | (rpl << 5));
      else if (!load_seg(SEG_SS, nss)) return ST_FAULT;
      store<u64>(STATE + RSP, nsp);
    }
  } else {
    sp_add(<u64>(3 * n));
    set_desc(lo, hi);
    commit_cs(cs, cpl);
    write_rflags(fl, S, true);
  }
  const m2 = m();
  set_next_rip((m2 & MODE_64) ? ip : (seg_attr(SEG_CS) & ATTR_DB) ? ip & 0xFFFFFFFF : ip & 0xFFFF);
  return ST_END;
}

// 0F 05 SYSCALL (IA-32e with EFER.SCE)
export function syscall(r: usize): i32 {
  if (!(efer() & EFER_SCE) || !(m() & MODE_LMA)) return raise_ud();
  const star = load<u64>(STATE + S_STAR);
  const sel = <u32>(star >> 32) & 0xFFFC;
  const next = insn_end(r);
  const m64 = (m() & MODE_64) != 0;
  wr64(RCX, next);
  wr64(R11_OFF, get_rflags() & ~RF);
  materialize();
  set_flags_raw((flags_raw() & ~load<u64>(STATE + S_SFMASK) & ~RF) | 2);
  set_seg(SEG_CS, sel, 0, 0xFFFFFFFF, 0xA09B);        // 64-bit code, DPL 0
  set_seg(SEG_SS, sel + 8, 0, 0xFFFFFFFF, 0xC093);    // flat data, DPL 0
  set_cpl(0);
  set_next_rip(m64 ? load<u64>(STATE + S_LSTAR) : load<u64>(STATE + S_CSTAR));
  return ST_END;
}

// 0F 07 SYSRET (REX.W: to 64-bit code)
export function sysret(r: usize, S: u32): i32 {
  if (!(efer() & EFER_SCE) || !(m() & MODE_LMA)) return raise_ud();
  if (load<u32>(STATE + S_CPL) != 0 || !(m() & MODE_64)) return raise_gp(0);
  const rcx = rd64(RCX);
  if (S == 64 && <u64>((<i64>(rcx << 16)) >> 16) != rcx) return raise_gp(0);
  const star = load<u64>(STATE + S_STAR);
  const base = <u32>(star >> 48) & 0xFFFF;
  if (S == 64) set_seg(SEG_CS, ((base + 16) & 0xFFFC) | 3, 0, 0xFFFFFFFF, 0xA0FB);
  else set_seg(SEG_CS, (base & 0xFFFC) | 3, 0, 0xFFFFFFFF, 0xC0FB);
  set_seg(SEG_SS, ((base + 8) & 0xFFFC) | 3, 0, 0xFFFFFFFF, 0xC0F3);
  materialize();
  set_flags_raw((rd64(R11_OFF) & 0x3C7FD7) | 2);
  set_cpl(3);
  set_next_rip(S == 64 ? rcx : rcx & 0xFFFFFFFF);
  return ST_END;
}

// 0F 34 SYSENTER / 0F 35 SYSEXIT
export function sysenter(r: usize): i32 {
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
export function sysexit(r: usize, S: u32): i32 {
  const cs = load<u32>(STATE + S_SYSENTER_CS) & 0xFFFC;
  if (!(m() & MODE_PE) || cs == 0 || load<u32>(STATE + S_CPL) != 0) return raise_gp(0);
  if (S == 64) set_seg(SEG_CS, (cs + 32) | 3, 0, 0xFFFFFFFF, 0xA0FB);
  else set_seg(SEG_CS, (cs + 16) | 3, 0, 0xFFFFFFFF, 0xC0FB);
  set_seg(SEG_SS, (cs + (S == 64 ? 40 : 24)) | 3, 0, 0xFFFFFFFF, 0xC0F3);
  set_cpl(3);
  store<u64>(STATE + RSP, S == 64 ? rd64(16) : rd64(16) & 0xFFFFFFFF);   // RDX
  set_next_rip(S == 64 ? rd64(RCX) : rd64(RCX) & 0xFFFFFFFF);
  return ST_END;
}
