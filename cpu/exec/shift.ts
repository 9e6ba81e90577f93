// Shifts and rotates: group 2 (C0/C1 /N Ib, D0/D1 /N by 1, D2/D3 /N by CL)
// ROL ROR RCL RCR SHL SHR SAL(/6 = SHL) SAR, and SHLD/SHRD (0F A4/A5/AC/AD).
// SDM Vol. 2B "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD".
//
// The count is masked to 5 bits (6 with REX.W). A masked count of 0 changes
// no flag; the destination is still written (a 32-bit register destination
// has its upper half cleared even for count 0 — measured on Zen 4).
//
// Undefined flags (measured on this AMD EPYC Zen 4 with the native harness,
// test/cpu/shift.test.ts; Intel flavour from public models where noted):
//   SHL/SHR/SAR   AF: AMD 1, Intel 0 (QEMU/Bochs). OF for count > 1: SHL
//                 MSB(res)^CF, SHR 0, SAR 0 on AMD (flags.ts, lazy).
//   ROL/ROR/RCL/RCR  only CF and OF change. OF for count > 1 is the count-1
//                 formula applied to the final result (ROL/RCL: MSB^CF,
//                 ROR/RCR: MSB^MSB-1), also when count mod size(+1) is 0.
//                 Same for Intel (SDM's count-1 formula; QEMU does this).
//   SHLD/SHRD     AF: AMD 1, Intel 0. SHRD OF = MSB^MSB-1 of the result for
//                 every count (AMD); SHLD OF = MSB(res)^CF.
//                 16-bit counts 17..31 (16..31 for SHLD flags): AMD shifts
//                 the 48-bit value src:src:dest (SHRD) / dest:src:src (SHLD),
//                 i.e. the result is the source rotated by count-16, with
//                 CF = 0 beyond 16; SHLD's OF = CF for counts >= 16 (so
//                 bit 0 of dest at 16, else 0). Intel shifts dest:src:dest
//                 (Bochs' model; not measurable here).
import { is, bits, Reg, Mem, OpSHL, OpSHR, OpSAR, OpCNTONE, OpCNTCL, OpCNTIB } from "./consts";
import { read_G, read_E, write_E, read_E_rmw, write_E_rmw, mask, rdregT, wrregT, maskT, read_rmwT, write_rmwT } from "./operand";
import { rdreg, wrreg, RCX, CF, OF, AF, ZF, SF, PF } from "../state";
import { STATE, S_VENDOR } from "../layout";
import { set_lazy, set_arith, get_cf, LF_SHL, LF_SHR, LF_SAR } from "../flags";
import { R_RM, R_IMM } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT } from "../except/fault";

@inline function amd(): bool { return load<u32>(STATE + S_VENDOR) == 1; }

@inline function countT<C, T>(r: usize): u32 {
  let n: u32;
  if (is<C, OpCNTONE>()) n = 1;
  else if (is<C, OpCNTCL>()) n = <u32>load<u8>(STATE + RCX);
  else n = <u32>load<u8>(r, R_IMM);
  return n & (sizeof<T>() == 8 ? 63 : 31);
}

// C0/C1 /4 /5 /6 /7, D0/D1, D2/D3: SHL (SAL) SHR SAR. Flags are lazy.
@inline export function shift<K, C, T, M>(r: usize): i32 {
  const S = bits<T>();
  const n = countT<C, T>(r);
  let a: u64;
  if (is<M, Mem>()) { a = read_rmwT<T>(r); if (fault_pending) return ST_FAULT; }
  else a = rdregT<T>(load<u8>(r, R_RM));
  let res: u64;
  if (is<K, OpSHL>()) res = (a << <u64>n) & maskT<T>();
  else if (is<K, OpSHR>()) res = a >> <u64>n;
  else {
    const sh = <u64>(64 - S);
    res = (<u64>(((<i64>(a << sh)) >> sh) >> <i64>n)) & maskT<T>();
  }
  if (is<M, Mem>()) { if (!write_rmwT<T>(r, res)) return ST_FAULT; }
  else wrregT<T>(load<u8>(r, R_RM), res);
  if (n != 0) {
    if (is<K, OpSHL>()) set_lazy(LF_SHL, S, res, a, n);
    else if (is<K, OpSHR>()) set_lazy(LF_SHR, S, res, a, n);
    else set_lazy(LF_SAR, S, res, a, n);
  }
  return ST_OK;
}

function rcount(r: usize, cnt: u32, S: u32): u32 {
  let n: u32 = cnt == 0 ? 1 : cnt == 1 ? <u32>load<u8>(STATE + RCX) : <u32>load<u8>(r, R_IMM);
  return n & (S == 64 ? 63 : 31);
}

// C0/C1 /0-/3, D0/D1 /0-/3, D2/D3 /0-/3: ROL ROR RCL RCR (cold).
// kind: 0 ROL, 1 ROR, 2 RCL, 3 RCR; cnt: 0 by 1, 1 by CL, 2 by Ib.
export function rotate(r: usize, kind: u32, cnt: u32, S: u32, M: bool): i32 {
  const n = rcount(r, cnt, S);
  let a: u64;
  if (M) { a = read_E_rmw(r, S); if (fault_pending) return ST_FAULT; }
  else a = rdreg(load<u8>(r, R_RM), S);
  const m = mask(S);
  const top = <u64>(S - 1);
  let res = a;
  let cf: u64 = 0;
  if (kind < 2) {
    const k = <u64>(n & (S - 1));
    if (k != 0) res = kind == 0 ? ((a << k) | (a >> (<u64>S - k))) & m : ((a >> k) | (a << (<u64>S - k))) & m;
    cf = kind == 0 ? res & 1 : (res >> top) & 1;
  } else {
    // rotate through CF over S+1 bits
    const k = n % (S + 1);
    const c = get_cf();
    cf = c;
    for (let i: u32 = 0; i < k; i++) {
      if (kind == 2) { const out = (res >> top) & 1; res = ((res << 1) | cf) & m; cf = out; }
      else { const out = res & 1; res = (res >> 1) | (cf << top); cf = out; }
    }
  }
  if (M) { if (!write_E_rmw(r, S, res)) return ST_FAULT; }
  else wrreg(load<u8>(r, R_RM), S, res);
  if (n != 0) {
    const msb = (res >> top) & 1;
    const ofl = (kind & 1) == 0 ? msb ^ cf : msb ^ ((res >> (top - 1)) & 1);
    set_arith((cf != 0 ? CF : 0) | (ofl != 0 ? OF : 0), CF | OF);
  }
  return ST_OK;
}

@inline function parity(v: u64): u64 { return (popcnt<u32>(<u32>v & 0xFF) & 1) == 0 ? PF : 0; }

// 0F A4/A5 SHLD Ev,Gv,Ib/CL; 0F AC/AD SHRD Ev,Gv,Ib/CL (cold).
export function shld(r: usize, left: bool, cl: bool, S: u32, M: bool): i32 {
  const n = rcount(r, cl ? 1 : 2, S);
  let a: u64;
  if (M) { a = read_E_rmw(r, S); if (fault_pending) return ST_FAULT; }
  else a = rdreg(load<u8>(r, R_RM), S);
  const b = read_G(r, S);
  const m = mask(S);
  const top = <u64>(S - 1);
  let res = a;
  let cf: u64 = 0;
  let ofl: u64 = 0;
  if (n != 0) {
    if (S == 16) {
      // 48-bit value shifted by n (1..31)
      let v: u64;
      if (left) v = amd() ? (a << 32) | (b << 16) | b : (a << 32) | (b << 16) | a;
      else v = amd() ? (b << 32) | (b << 16) | a : (a << 32) | (b << 16) | a;
      if (left) { res = (v >> <u64>(32 - n)) & m; cf = (v >> <u64>(48 - n)) & 1; }
      else { res = (v >> <u64>n) & m; cf = (v >> <u64>(n - 1)) & 1; }
    } else {
      const k = <u64>n;
      if (left) { res = ((a << k) | (k == 0 ? 0 : b >> (<u64>S - k))) & m; cf = (a >> (<u64>S - k)) & 1; }
      else { res = ((a >> k) | (b << (<u64>S - k))) & m; cf = (a >> (k - 1)) & 1; }
    }
    const msb = (res >> top) & 1;
    if (left) ofl = msb ^ cf;
    else ofl = msb ^ ((res >> (top - 1)) & 1);
    // AMD, 16-bit, count >= 16: CF is the last bit out only for count 16
    // (0 beyond), and SHLD's OF equals that CF (measured).
    if (S == 16 && amd() && n >= 16) {
      if (n > 16) cf = 0;
      if (left) ofl = cf;
    }
  }
  if (M) { if (!write_E_rmw(r, S, res)) return ST_FAULT; }
  else wrreg(load<u8>(r, R_RM), S, res);
  if (n != 0) {
    let f: u64 = (cf != 0 ? CF : 0) | (ofl != 0 ? OF : 0) | parity(res);
    if (res == 0) f |= ZF;
    if ((res >> top) & 1) f |= SF;
    if (amd()) f |= AF;
    set_arith(f, CF | PF | AF | ZF | SF | OF);
  }
  return ST_OK;
}
