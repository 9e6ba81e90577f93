// Integer ALU: ADD OR ADC SBB AND SUB XOR CMP TEST, INC/DEC, NOT/NEG, XCHG,
// XADD, CMPXCHG, CMPXCHG8B/16B (SDM Vol. 2 pages of each). Flags are lazy
// (flags.ts). LOCK needs no extra work: one vCPU runs at a time.
import { is, bits, Reg, Mem, OpADD, OpOR, OpADC, OpSBB, OpAND, OpSUB, OpXOR, OpCMP, OpTEST } from "./consts";
import { read_G, write_G, read_E_rmw, write_E_rmw, mask, mem_lin, rdregT, wrregT, maskT, read_ET, read_GT, read_rmwT, write_rmwT } from "./operand";
import { rdreg, wrreg, rd64, wr64, RAX, RDX, RBX, RCX, ZF } from "../state";
import { set_lazy, set_lazy_cf, get_cf, get_cf_fast, set_arith, LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC, LF_NEG } from "../flags";
import { R_REG, R_RM, R_IMM, R_SEG } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT, raise_gp } from "../except/fault";
import { ld_rmw, st } from "../mmu/access";

// Compute `a K b` at the size of T, record the flags, return the result.
@inline export function alu_op<K, T>(a: u64, b: u64): u64 {
  const S = bits<T>();
  const m = maskT<T>();
  let res: u64;
  if (is<K, OpADD>()) { res = (a + b) & m; set_lazy(LF_ADD, S, res, a, b); }
  else if (is<K, OpSUB>() || is<K, OpCMP>()) { res = (a - b) & m; set_lazy(LF_SUB, S, res, a, b); }
  else if (is<K, OpAND>() || is<K, OpTEST>()) { res = a & b & m; set_lazy(LF_LOGIC, S, res, 0, 0); }
  else if (is<K, OpOR>()) { res = (a | b) & m; set_lazy(LF_LOGIC, S, res, 0, 0); }
  else if (is<K, OpXOR>()) { res = (a ^ b) & m; set_lazy(LF_LOGIC, S, res, 0, 0); }
  else if (is<K, OpADC>()) { const c = get_cf(); res = (a + b + c) & m; set_lazy(LF_ADC, S, res, a, b); set_lazy_cf(c); }
  else { const c = get_cf(); res = (a - b - c) & m; set_lazy(LF_SBB, S, res, a, b); set_lazy_cf(c); }
  return res;
}
@inline function writes<K>(): bool { return !is<K, OpCMP>() && !is<K, OpTEST>(); }

// Apply K to the r/m operand with `src`; shared by the E,G and E,I forms.
@inline function alu_E<K, T, M>(r: usize, src: u64): i32 {
  if (is<M, Reg>()) {
    const o = load<u8>(r, R_RM);
    const res = alu_op<K, T>(rdregT<T>(o), src);
    if (writes<K>()) wrregT<T>(o, res);
    return ST_OK;
  }
  if (!writes<K>()) {
    const d = read_ET<T, M>(r);
    if (fault_pending) return ST_FAULT;
    alu_op<K, T>(d, src);
    return ST_OK;
  }
  const d = read_rmwT<T>(r);
  if (fault_pending) return ST_FAULT;
  return write_rmwT<T>(r, alu_op<K, T>(d, src)) ? ST_OK : ST_FAULT;
}

// 00/08/10/18/20/28/30/38 /r (Eb,Gb), 01/09/…/39 /r (Ev,Gv), 84/85 TEST
@inline export function alu_EG<K, T, M>(r: usize): i32 { return alu_E<K, T, M>(r, read_GT<T>(r)); }

// 80/81/83 /N (Eb,Ib / Ev,Iz / Ev,Ib sign-extended), F6/F7 /0 TEST
@inline export function alu_EI<K, T, M>(r: usize): i32 { return alu_E<K, T, M>(r, load<u64>(r, R_IMM) & maskT<T>()); }

// 02/0A/…/3A /r (Gb,Eb) and 03/0B/…/3B /r (Gv,Ev)
@inline export function alu_GE<K, T, M>(r: usize): i32 {
  const src = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  const o = load<u8>(r, R_REG);
  const res = alu_op<K, T>(rdregT<T>(o), src);
  if (!is<K, OpCMP>()) wrregT<T>(o, res);
  return ST_OK;
}

// 04/0C/…/3C ib (AL,Ib), 05/0D/…/3D iz (rAX,Iz), A8/A9 TEST
@inline export function alu_AI<K, T>(r: usize): i32 {
  const res = alu_op<K, T>(rdregT<T>(RAX), load<u64>(r, R_IMM) & maskT<T>());
  if (writes<K>()) wrregT<T>(RAX, res);
  return ST_OK;
}

// FE/FF /0 INC, /1 DEC; 40+r / 48+r outside 64-bit mode. CF is preserved.
@inline export function incdec<T, M>(r: usize, DEC: bool, OPREG: bool): i32 {
  const S = bits<T>();
  let a: u64;
  if (is<M, Mem>()) { a = read_rmwT<T>(r); if (fault_pending) return ST_FAULT; }
  else a = rdregT<T>(OPREG ? load<u8>(r, R_REG) : load<u8>(r, R_RM));
  const cf = get_cf_fast();
  const res = (DEC ? a - 1 : a + 1) & maskT<T>();
  if (is<M, Mem>()) { if (!write_rmwT<T>(r, res)) return ST_FAULT; }
  else wrregT<T>(OPREG ? load<u8>(r, R_REG) : load<u8>(r, R_RM), res);
  set_lazy(DEC ? LF_DEC : LF_INC, S, res, a, 1);
  set_lazy_cf(cf);
  return ST_OK;
}

// F6/F7 /2 NOT (no flags), /3 NEG
@inline export function not_neg<T, M>(r: usize, NEG: bool): i32 {
  let a: u64;
  if (is<M, Mem>()) { a = read_rmwT<T>(r); if (fault_pending) return ST_FAULT; }
  else a = rdregT<T>(load<u8>(r, R_RM));
  const res = (NEG ? 0 - a : ~a) & maskT<T>();
  if (is<M, Mem>()) { if (!write_rmwT<T>(r, res)) return ST_FAULT; }
  else wrregT<T>(load<u8>(r, R_RM), res);
  if (NEG) set_lazy(LF_NEG, bits<T>(), res, a, 0);
  return ST_OK;
}

// 86/87 /r XCHG Eb,Gb / Ev,Gv
export function xchg_EG(r: usize, S: u32, M: bool): i32 {
  const g = read_G(r, S);
  if (!M) {
    const o = load<u8>(r, R_RM);
    const e = rdreg(o, S);
    wrreg(o, S, g);
    write_G(r, S, e);
    return ST_OK;
  }
  const e = read_E_rmw(r, S);
  if (fault_pending) return ST_FAULT;
  if (!write_E_rmw(r, S, g)) return ST_FAULT;
  write_G(r, S, e);
  return ST_OK;
}

// 90+r XCHG rAX,Zv. 90 without REX.B is NOP (also F3 90 PAUSE): in 64-bit
// mode it must not zero-extend EAX.
export function xchg_AZ(r: usize, S: u32): i32 {
  const o = load<u8>(r, R_REG);
  if (o == RAX) return ST_OK;
  const a = rdreg(RAX, S), b = rdreg(o, S);
  wrreg(RAX, S, b);
  wrreg(o, S, a);
  return ST_OK;
}

// runtime-kind ALU for the cold handlers below
function alu_rt(add: bool, S: u32, a: u64, b: u64): u64 {
  const m = mask(S);
  if (add) { const res = (a + b) & m; set_lazy(LF_ADD, S, res, a, b); return res; }
  const res = (a - b) & m; set_lazy(LF_SUB, S, res, a, b); return res;
}

// 0F C0/C1 /r XADD Eb,Gb / Ev,Gv
export function xadd(r: usize, S: u32, M: bool): i32 {
  const g = read_G(r, S);
  let d: u64;
  if (M) { d = read_E_rmw(r, S); if (fault_pending) return ST_FAULT; }
  else d = rdreg(load<u8>(r, R_RM), S);
  const sum = alu_rt(true, S, d, g);
  if (M) { if (!write_E_rmw(r, S, sum)) return ST_FAULT; }
  write_G(r, S, d);
  if (!M) wrreg(load<u8>(r, R_RM), S, sum);
  return ST_OK;
}

// 0F B0/B1 /r CMPXCHG Eb,Gb / Ev,Gv. The destination is always written
// (with its own value on failure), as the SDM's pseudo-code does.
export function cmpxchg(r: usize, S: u32, M: bool): i32 {
  let d: u64;
  if (M) { d = read_E_rmw(r, S); if (fault_pending) return ST_FAULT; }
  else d = rdreg(load<u8>(r, R_RM), S);
  const acc = rdreg(RAX, S);
  alu_rt(false, S, acc, d);
  if (acc == d) {
    const g = read_G(r, S);
    if (M) { if (!write_E_rmw(r, S, g)) return ST_FAULT; }
    else wrreg(load<u8>(r, R_RM), S, g);
  } else {
    if (M) { if (!write_E_rmw(r, S, d)) return ST_FAULT; }
    wrreg(RAX, S, d);
  }
  return ST_OK;
}

// 0F C7 /1 CMPXCHG8B m64 / REX.W CMPXCHG16B m128 (16-byte alignment or #GP)
export function cmpxchg8b(r: usize, S: u32): i32 {
  const seg = load<u8>(r, R_SEG);
  if (S == 64) {
    const a = mem_lin(r, 16, true);
    if (fault_pending) return ST_FAULT;
    if (a & 15) return raise_gp(0);
    const lo = ld_rmw(a, 8, seg);
    if (fault_pending) return ST_FAULT;
    const hi = ld_rmw(a + 8, 8, seg);
    if (fault_pending) return ST_FAULT;
    const eq = lo == rd64(RAX) && hi == rd64(RDX);
    const wlo = eq ? rd64(RBX) : lo, whi = eq ? rd64(RCX) : hi;
    if (!st(a, 8, wlo, seg) || !st(a + 8, 8, whi, seg)) return ST_FAULT;
    if (!eq) { wr64(RAX, lo); wr64(RDX, hi); }
    set_arith(eq ? ZF : 0, ZF);
    return ST_OK;
  }
  const a = mem_lin(r, 8, true);
  if (fault_pending) return ST_FAULT;
  const v = ld_rmw(a, 8, seg);
  if (fault_pending) return ST_FAULT;
  const cmp = (rd64(RDX) << 32) | (rd64(RAX) & 0xFFFFFFFF);
  const eq = v == cmp;
  const w = eq ? ((rd64(RCX) << 32) | (rd64(RBX) & 0xFFFFFFFF)) : v;
  if (!st(a, 8, w, seg)) return ST_FAULT;
  if (!eq) { wrreg(RAX, 32, v & 0xFFFFFFFF); wrreg(RDX, 32, v >> 32); }
  set_arith(eq ? ZF : 0, ZF);
  return ST_OK;
}

