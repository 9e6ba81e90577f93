// Data movement: MOV forms, LEA, MOVZX/MOVSX/MOVSXD, CBW family, CMOVcc,
// SETcc, BSWAP, XLAT, LAHF/SAHF, MOVBE.
import { read_E, write_E, read_G, write_G, mask, sext, ea, seg_lin, read_ET, write_ET, read_GT, write_GT, wrregT, rdregT, maskT } from "./operand";
import { is, Mem } from "./consts";
import { rdreg, wrreg, rd64, wr64, wr8, RAX, RDX, RBX, SF, ZF, AF, PF, CF } from "../state";
import { cond, get_rflags, set_arith } from "../flags";
import { R_REG, R_IMM, R_SEG, R_OPC, R_ASZ } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT } from "../except/fault";
import { ld, st } from "../mmu/access";

// 88/89 MOV Eb,Gb / Ev,Gv
@inline export function mov_EG<T, M>(r: usize): i32 {
  return write_ET<T, M>(r, read_GT<T>(r)) ? ST_OK : ST_FAULT;
}
// 8A/8B MOV Gb,Eb / Gv,Ev
@inline export function mov_GE<T, M>(r: usize): i32 {
  const v = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  write_GT<T>(r, v);
  return ST_OK;
}
// C6/C7 /0 MOV Eb,Ib / Ev,Iz
@inline export function mov_EI<T, M>(r: usize): i32 {
  return write_ET<T, M>(r, load<u64>(r, R_IMM) & maskT<T>()) ? ST_OK : ST_FAULT;
}
// B0+r MOV Zb,Ib; B8+r MOV Zv,Iv (the only 64-bit immediate)
@inline export function mov_ZI<T>(r: usize): i32 {
  wrregT<T>(load<u8>(r, R_REG), load<u64>(r, R_IMM));
  return ST_OK;
}
// A0-A3 MOV AL/rAX, moffs and back
export function mov_moffs(r: usize, S: u32, TO_MEM: bool): i32 {
  const s = <u32>load<u8>(r, R_SEG);
  const off = load<u64>(r, R_IMM);
  const lin = seg_lin(s, off, S >> 3, TO_MEM);
  if (fault_pending) return ST_FAULT;
  if (TO_MEM) return st(lin, S >> 3, rdreg(RAX, S), s) ? ST_OK : ST_FAULT;
  const v = ld(lin, S >> 3, s);
  if (fault_pending) return ST_FAULT;
  wrreg(RAX, S, v);
  return ST_OK;
}
// 8D LEA Gv,M: the offset, truncated to the operand size
@inline export function lea<T>(r: usize): i32 {
  write_GT<T>(r, ea(r) & maskT<T>());
  return ST_OK;
}
// 0F B6/B7 MOVZX, 0F BE/BF MOVSX, 63 MOVSXD (REX.W); U is the source type
@inline export function movx<T, U, M>(r: usize, SIGNED: bool): i32 {
  const v = read_ET<U, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  write_GT<T>(r, (SIGNED ? sext(v, <u32>sizeof<U>() * 8) : v) & maskT<T>());
  return ST_OK;
}
// 98 CBW/CWDE/CDQE
@inline export function cbw(r: usize, S: u32): i32 {
  const half = S >> 1;
  wrreg(RAX, S, sext(rdreg(RAX, half), half) & mask(S));
  return ST_OK;
}
// 99 CWD/CDQ/CQO
@inline export function cwd(r: usize, S: u32): i32 {
  const neg = (rdreg(RAX, S) >> <u64>(S - 1)) & 1;
  wrreg(RDX, S, neg ? mask(S) : 0);
  return ST_OK;
}
// 0F 40-4F CMOVcc Gv,Ev: the source is read (and may fault) even when the
// condition is false; a false 32-bit CMOV still zero-extends the destination.
@inline export function cmov<T, M>(r: usize): i32 {
  const v = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  const o = load<u8>(r, R_REG);
  if (cond(<u32>load<u8>(r, R_OPC) & 15)) wrregT<T>(o, v);
  else if (sizeof<T>() == 4) wrregT<T>(o, rdregT<T>(o));
  return ST_OK;
}
// 0F 90-9F SETcc Eb
@inline export function setcc<M>(r: usize): i32 {
  return write_ET<u8, M>(r, cond(<u32>load<u8>(r, R_OPC) & 15) ? 1 : 0) ? ST_OK : ST_FAULT;
}
// 0F C8+r BSWAP (16-bit form: undefined; silicon zeroes the register's low word)
@inline export function bswap_Z(r: usize, S: u32): i32 {
  const o = load<u8>(r, R_REG);
  if (S == 64) wr64(o, bswap<u64>(rd64(o)));
  else if (S == 32) wrreg(o, 32, <u64>bswap<u32>(<u32>rd64(o)));
  else wrreg(o, 16, 0);
  return ST_OK;
}
// D7 XLAT: AL = [seg:rBX + AL]
export function xlat(r: usize): i32 {
  const asz = load<u8>(r, R_ASZ);
  let off = rd64(RBX) + (rd64(RAX) & 0xFF);
  off &= asz == 2 ? <u64>-1 : asz == 1 ? <u64>0xFFFFFFFF : <u64>0xFFFF;
  const s = <u32>load<u8>(r, R_SEG);
  const lin = seg_lin(s, off, 1, false);
  if (fault_pending) return ST_FAULT;
  const v = ld(lin, 1, s);
  if (fault_pending) return ST_FAULT;
  wrreg(RAX, 8, v);
  return ST_OK;
}
// 9F LAHF / 9E SAHF (64-bit mode needs CPUID LAHF-SAHF, which every model has)
export function lahf(r: usize): i32 {
  wr8(1, <u8>(get_rflags() & 0xFF));   // AH (byte 1 of rax) = low byte of RFLAGS
  return ST_OK;
}
export function sahf(r: usize): i32 {
  set_arith((rd64(RAX) >> 8) & 0xFF, SF | ZF | AF | PF | CF);
  return ST_OK;
}
// 0F 38 F0/F1 MOVBE Gv,Mv / Mv,Gv
export function movbe(r: usize, S: u32, TO_MEM: bool): i32 {
  if (TO_MEM) {
    const v = read_G(r, S);
    const sw = S == 64 ? bswap<u64>(v) : S == 32 ? <u64>bswap<u32>(<u32>v) : <u64>bswap<u16>(<u16>v);
    return write_E(r, S, true, sw) ? ST_OK : ST_FAULT;
  }
  const v = read_E(r, S, true);
  if (fault_pending) return ST_FAULT;
  write_G(r, S, S == 64 ? bswap<u64>(v) : S == 32 ? <u64>bswap<u32>(<u32>v) : <u64>bswap<u16>(<u16>v));
  return ST_OK;
}
