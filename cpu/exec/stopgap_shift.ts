// STOPGAP (bench branch): group-2 shifts and rotates, see cpu/gen/opcodes/stopgap_shift.ts.
// The count is masked to 5 bits (6 with a 64-bit operand); a masked count of 0 changes
// neither the flags nor the destination (SDM Vol. 2B SAL/SAR/SHL/SHR, ROL/ROR).
import { is, bits, Mem, ROL } from "./consts";
import { rdregT, wrregT, maskT, read_rmwT, write_rmwT, read_E_rmw, write_E_rmw } from "./operand";
import { rdreg, wrreg, RCX, CF, OF } from "../state";
import { set_lazy, set_arith, LF_SHL, LF_SHR, LF_SAR } from "../flags";
import { R_RM, R_IMM, R_OPC } from "../decode/decoder";
import { STATE } from "../layout";
import { fault_pending, ST_OK, ST_FAULT } from "../except/fault";

// C0/C1 ib, D0/D1 1, D2/D3 CL
@inline function count(r: usize, S: u32): u32 {
  const opc = load<u8>(r, R_OPC);
  const c: u32 = opc < 0xD0 ? <u32>load<u8>(r, R_IMM) : opc < 0xD2 ? 1 : <u32>load<u8>(STATE + RCX);
  return c & (S == 64 ? 0x3F : 0x1F);
}

// kind 0 SHL, 1 SHR, 2 SAR — a compile-time constant in every caller
@inline function shift_E<T, M>(r: usize, KIND: u32): i32 {
  const S = bits<T>();
  const c = count(r, S);
  let a: u64;
  if (is<M, Mem>()) { a = read_rmwT<T>(r); if (fault_pending) return ST_FAULT; }
  else a = rdregT<T>(load<u8>(r, R_RM));
  if (c == 0) {
    if (is<M, Mem>()) return write_rmwT<T>(r, a) ? ST_OK : ST_FAULT;
    wrregT<T>(load<u8>(r, R_RM), a);   // a 32-bit destination is still zero-extended
    return ST_OK;
  }
  let res: u64;
  if (KIND == 0) res = (a << <u64>c) & maskT<T>();
  else if (KIND == 1) res = a >> <u64>c;
  else {
    const sh = <u64>(64 - S);
    res = <u64>(((<i64>(a << sh)) >> sh) >> <i64>c) & maskT<T>();
  }
  if (is<M, Mem>()) { if (!write_rmwT<T>(r, res)) return ST_FAULT; }
  else wrregT<T>(load<u8>(r, R_RM), res);
  set_lazy(KIND == 0 ? LF_SHL : KIND == 1 ? LF_SHR : LF_SAR, S, res, a, <u64>c);
  return ST_OK;
}
@inline export function shl_E<T, M>(r: usize): i32 { return shift_E<T, M>(r, 0); }
@inline export function shr_E<T, M>(r: usize): i32 { return shift_E<T, M>(r, 1); }
@inline export function sar_E<T, M>(r: usize): i32 { return shift_E<T, M>(r, 2); }

// ROL/ROR: CF = the bit rotated last; OF (defined for a count of 1) = MSB xor CF for ROL,
// MSB xor MSB-1 of the result for ROR. Other flags are unchanged.
export function rot_E(r: usize, kind: u32, S: u32, M: bool): i32 {
  const c = count(r, S);
  let a: u64;
  if (M) { a = read_E_rmw(r, S); if (fault_pending) return ST_FAULT; }
  else a = rdreg(load<u8>(r, R_RM), S);
  if (c == 0) {
    if (M) return write_E_rmw(r, S, a) ? ST_OK : ST_FAULT;
    wrreg(load<u8>(r, R_RM), S, a);
    return ST_OK;
  }
  const m: u64 = S == 64 ? <u64>-1 : ((<u64>1 << <u64>S) - 1);
  const n = <u64>(c % S);
  let res = a & m;
  if (n != 0) res = kind == ROL ? ((res << n) | (res >> (<u64>S - n))) & m : ((res >> n) | (res << (<u64>S - n))) & m;
  if (M) { if (!write_E_rmw(r, S, res)) return ST_FAULT; }
  else wrreg(load<u8>(r, R_RM), S, res);
  const msb = (res >> <u64>(S - 1)) & 1;
  let cf: u64, ov: u64;
  if (kind == ROL) { cf = res & 1; ov = msb ^ cf; }
  else { cf = msb; ov = msb ^ ((res >> <u64>(S - 2)) & 1); }
  set_arith((cf != 0 ? CF : 0) | (ov != 0 ? OF : 0), CF | OF);
  return ST_OK;
}
