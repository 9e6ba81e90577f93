// Near control transfers: Jcc, JMP, CALL, RET, LOOP/JCXZ. Relative targets
// were rebased at decode time to "offset from the block's first RIP", so a
// target is blk_rip + imm, wrapped to the operand size.
import { sp_add, mask, maskT, pushT, popT, read_ET } from "./operand";
import { is, Mem } from "./consts";
import { wrreg, rdreg, RCX } from "../state";
import { cond, cond_fast } from "../flags";
import { R_IMM, R_OPC, R_START, R_LEN, R_ASZ } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT } from "../except/fault";
import { blk_rip, set_next_rip } from "../ctl";

@inline export function insn_end(r: usize): u64 {
  return blk_rip + <u64>(<u32>load<u16>(r, R_START) + <u32>load<u8>(r, R_LEN));
}
@inline function target(r: usize, S: u32): u64 { return (blk_rip + load<u64>(r, R_IMM)) & mask(S); }

// 70-7F Jcc Jb, 0F 80-8F Jcc Jz
@inline export function jcc<T>(r: usize): i32 {
  if (cond_fast(<u32>load<u8>(r, R_OPC) & 15)) set_next_rip((blk_rip + load<u64>(r, R_IMM)) & maskT<T>());
  return ST_OK;
}
// EB JMP Jb, E9 JMP Jz
@inline export function jmp_rel<T>(r: usize): i32 {
  set_next_rip((blk_rip + load<u64>(r, R_IMM)) & maskT<T>());
  return ST_OK;
}
// E8 CALL Jz
@inline export function call_rel<T>(r: usize): i32 {
  if (!pushT<T>(insn_end(r) & maskT<T>())) return ST_FAULT;
  set_next_rip((blk_rip + load<u64>(r, R_IMM)) & maskT<T>());
  return ST_OK;
}
// FF /2 CALL Ev
@inline export function call_E<T, M>(r: usize): i32 {
  const t = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  if (!pushT<T>(insn_end(r) & maskT<T>())) return ST_FAULT;
  set_next_rip(t);
  return ST_OK;
}
// FF /4 JMP Ev
@inline export function jmp_E<T, M>(r: usize): i32 {
  const t = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  set_next_rip(t);
  return ST_OK;
}
// C3 RET, C2 RET Iw
@inline export function ret_near<T>(r: usize, IMM: bool): i32 {
  const t = popT<T>();
  if (fault_pending) return ST_FAULT;
  if (IMM) sp_add(load<u64>(r, R_IMM) & 0xFFFF);
  set_next_rip(t);
  return ST_OK;
}
// E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JCXZ/JECXZ/JRCXZ: the counter is rCX at the address size
export function loop_jcxz(r: usize, S: u32): i32 {
  const asz = load<u8>(r, R_ASZ);
  const cs: u32 = asz == 2 ? 64 : asz == 1 ? 32 : 16;
  const op = load<u8>(r, R_OPC);
  let take: bool;
  if (op == 0xE3) take = rdreg(RCX, cs) == 0;
  else {
    const c = (rdreg(RCX, cs) - 1) & mask(cs);
    wrreg(RCX, cs, c);
    take = c != 0;
    if (op == 0xE0) take = take && !cond(4);       // LOOPNE: ZF=0
    else if (op == 0xE1) take = take && cond(4);   // LOOPE: ZF=1
  }
  if (take) set_next_rip(target(r, S));
  return ST_OK;
}
