// Stack: PUSH/POP of registers, immediates and r/m; PUSHA/POPA; ENTER/LEAVE.
import { write_E, push, pop, stack_peek, sp_add, mask, stack_width, seg_lin, pushT, popT, rdregT, wrregT, maskT, read_ET } from "./operand";
import { is, Mem } from "./consts";
import { rd64, rdreg, wrreg, RSP, RBP } from "../state";
import { R_REG, R_IMM, R_IMM2 } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT } from "../except/fault";
import { probe_write, st, ld } from "../mmu/access";
import { STATE, SEG_SS } from "../layout";

// 50+r PUSH Zv
@inline export function push_Z<T>(r: usize): i32 {
  return pushT<T>(rdregT<T>(load<u8>(r, R_REG))) ? ST_OK : ST_FAULT;
}
// 58+r POP Zv (POP rSP loads the popped value)
@inline export function pop_Z<T>(r: usize): i32 {
  const v = popT<T>();
  if (fault_pending) return ST_FAULT;
  wrregT<T>(load<u8>(r, R_REG), v);
  return ST_OK;
}
// 6A PUSH Ib, 68 PUSH Iz (sign-extended to the operand size)
@inline export function push_I<T>(r: usize): i32 {
  return pushT<T>(load<u64>(r, R_IMM) & maskT<T>()) ? ST_OK : ST_FAULT;
}
// FF /6 PUSH Ev: the operand is read before RSP changes
@inline export function push_E<T, M>(r: usize): i32 {
  const v = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  return pushT<T>(v) ? ST_OK : ST_FAULT;
}
// 8F /0 POP Ev: a memory destination using rSP is computed after the increment
export function pop_E(r: usize, S: u32, M: bool): i32 {
  const v = stack_peek(0, S >> 3);
  if (fault_pending) return ST_FAULT;
  const old = rd64(RSP);
  sp_add(<u64>(S >> 3));
  if (!write_E(r, S, M, v)) { store<u64>(STATE + RSP, old); return ST_FAULT; }
  return ST_OK;
}
// 60 PUSHA/PUSHAD (legacy modes): the pushed SP is its value before the instruction
export function pusha(r: usize, S: u32): i32 {
  const n = S >> 3;
  const w = stack_width();
  const sp0 = rd64(RSP);
  const low = (sp0 - <u64>(8 * n)) & (w == 32 ? <u64>0xFFFFFFFF : <u64>0xFFFF);
  const lin = seg_lin(SEG_SS, low, 8 * n, true);
  if (fault_pending) return ST_FAULT;
  if (!probe_write(lin, 8 * n, SEG_SS)) return ST_FAULT;
  for (let i: u32 = 0; i < 8; i++) {
    const v = i == 4 ? sp0 : rdreg(i * 8, S);
    if (!st(lin + <u64>((7 - i) * n), n, v, SEG_SS)) return ST_FAULT;
  }
  if (w == 32) store<u64>(STATE + RSP, low); else store<u16>(STATE + RSP, <u16>low);
  return ST_OK;
}
// 61 POPA/POPAD: the saved SP is skipped
export function popa(r: usize, S: u32): i32 {
  const n = S >> 3;
  const vals = memory.data(64);
  for (let i: u32 = 0; i < 8; i++) {
    store<u64>(vals + i * 8, stack_peek((7 - i) * n, n));
    if (fault_pending) return ST_FAULT;
  }
  for (let i: u32 = 0; i < 8; i++) if (i != 4) wrreg(i * 8, S, load<u64>(vals + i * 8));
  sp_add(<u64>(8 * n));
  return ST_OK;
}
// C9 LEAVE: rSP = rBP, then POP rBP
export function leave(r: usize, S: u32): i32 {
  const w = stack_width();
  const old = rd64(RSP);
  if (w == 64) store<u64>(STATE + RSP, rd64(RBP));
  else if (w == 32) store<u64>(STATE + RSP, rd64(RBP) & 0xFFFFFFFF);
  else store<u16>(STATE + RSP, <u16>rd64(RBP));
  const v = pop(S >> 3);
  if (fault_pending) { store<u64>(STATE + RSP, old); return ST_FAULT; }
  wrreg(RBP, S, v);
  return ST_OK;
}
// C8 ENTER Iw,Ib (nesting level mod 32). RSP is restored if any push faults.
export function enter(r: usize, S: u32): i32 {
  const size = load<u64>(r, R_IMM) & 0xFFFF;
  const level = <u32>load<u16>(r, R_IMM2) & 31;
  const n = S >> 3;
  const w = stack_width();
  const sm: u64 = w == 64 ? <u64>-1 : w == 32 ? <u64>0xFFFFFFFF : <u64>0xFFFF;
  const old_sp = rd64(RSP);
  let bp = rd64(RBP);
  if (!push(rdreg(RBP, S), n)) return ST_FAULT;
  const frame = rd64(RSP) & sm;
  if (level > 0) {
    for (let i: u32 = 1; i < level; i++) {
      bp = (bp - <u64>n) & sm;
      const lin = seg_lin(SEG_SS, bp, n, false);
      if (fault_pending) return undo(old_sp);
      const v = ld(lin, n, SEG_SS);
      if (fault_pending || !push(v, n)) return undo(old_sp);
    }
    if (!push(frame & mask(S), n)) return undo(old_sp);
  }
  const nsp = (rd64(RSP) - size) & sm;
  const lin = seg_lin(SEG_SS, nsp, 1, true);
  if (fault_pending) return undo(old_sp);
  if (size != 0 && !probe_write(lin, 1, SEG_SS)) return undo(old_sp);
  wrreg(RBP, S, frame & mask(S));
  if (w == 16) store<u16>(STATE + RSP, <u16>nsp); else store<u64>(STATE + RSP, nsp);
  return ST_OK;
}
function undo(sp: u64): i32 { store<u64>(STATE + RSP, sp); return ST_FAULT; }
