// SSE/SSE2 floating point (and the VEX forms): scalar and packed
// ADD/SUB/MUL/DIV/MIN/MAX/SQRT, CMPccPS/PD/SS/SD, (U)COMISS/SD and the
// conversions gcc emits for float/double C code; FMA3 (fused multiply-add,
// one rounding) and F16C (binary16 conversions).
//
// wasm f32/f64 arithmetic only rounds to nearest and reports no exceptions,
// so every operation here is done in software on the unpacked significand
// (a u64 with the leading bit at bit 62, exact results kept with a sticky
// bit), then rounded by MXCSR.RC. MXCSR rules implemented (SDM vol. 1 §11.5,
// checked against this CPU by test/cpu/ssefp.test.ts and the differential
// soak):
//  - DAZ: denormal inputs read as signed zero, no DE. Otherwise a denormal
//    operand sets DE (unless a NaN operand or an invalid operation takes
//    priority in that element).
//  - FTZ (with UE masked): a tiny result becomes signed zero, UE and PE set.
//  - tininess is detected after rounding; masked UE is reported only when the
//    tiny result is also inexact, unmasked UE whenever it is tiny.
//  - overflow: OE and PE; the result is ∞ or the largest finite number by RC.
//  - pre-computation exceptions (IE, DE, ZE) of all elements are checked
//    first: if one is unmasked, only they are recorded and the instruction
//    faults; otherwise post-computation ones (OE, UE, PE) are added and an
//    unmasked one faults. A fault leaves the destination (and EFLAGS)
//    unchanged and raises #XM with CR4.OSXMMEXCPT=1, #UD otherwise.
//  - NaNs: an SNaN operand sets IE; the result is the first source if it is
//    a NaN, else the second, quietened; invalid operations give the default
//    NaN (sign set, quiet bit only).
import { STATE, XSTATE, S_CR4, X_MXCSR } from "../layout";
import { rdreg, wrreg, CR4_OSXMMEXCPT, ZF, CF, PF } from "../state";
import { R_REG, R_RM, R_IMM, R_PFX, R_VEX, R_SEG, V_W } from "../decode/decoder";
import { mem_lin } from "./operand";
import { probe_write } from "../mmu/access";
import { raise, raise_ud, fault_pending, ST_OK, ST_FAULT, X86_TRAP_XF } from "../except/fault";
import { set_arith } from "../flags";
import { amd_flavour } from "./xsave";
import { gate, kind, vlen, vvvv, src_rm, dst_mem, vget, vset, xmm_at, is_mem, A, B, D } from "./vec";

const IE: u32 = 1, DE: u32 = 2, ZE: u32 = 4, OE: u32 = 8, UE: u32 = 16, PE: u32 = 32;
const DAZ: u32 = 0x40, FTZ: u32 = 0x8000;
const C_ZERO: u32 = 0, C_FIN: u32 = 1, C_INF: u32 = 2, C_QNAN: u32 = 3, C_SNAN: u32 = 4;

let mx: u32 = 0;        // MXCSR at the start of the instruction
let fpre: u32 = 0;      // IE/DE/ZE of all elements
let fpost: u32 = 0;     // OE/UE/PE of all elements
// unpacked operands (set by unpack_a / unpack_b)
let a_cls: u32 = 0, a_sign: u64 = 0, a_exp: i32 = 0, a_sig: u64 = 0, a_den: bool = false;
let b_cls: u32 = 0, b_sign: u64 = 0, b_exp: i32 = 0, b_sig: u64 = 0, b_den: bool = false;
let c_cls: u32 = 0, c_sign: u64 = 0, c_exp: i32 = 0, c_sig: u64 = 0, c_den: bool = false;
let u_sign: u64 = 0, u_exp: i32 = 0, u_sig: u64 = 0, u_den: bool = false;

@inline function mbits(F64: bool): u32 { return F64 ? 52 : 23; }
@inline function emax(F64: bool): i32 { return F64 ? 0x7FF : 0xFF; }
@inline function bias(F64: bool): i32 { return F64 ? 1023 : 127; }
@inline function sbit(F64: bool): u64 { return F64 ? <u64>1 << 63 : <u64>1 << 31; }
@inline function qbit(F64: bool): u64 { return F64 ? <u64>1 << 51 : <u64>1 << 22; }
@inline function dnan(F64: bool): u64 { return F64 ? 0xFFF8000000000000 : 0xFFC00000; }
@inline function infb(F64: bool): u64 { return F64 ? 0x7FF0000000000000 : 0x7F800000; }

function unpack(v: u64, F64: bool): u32 {
  const M = mbits(F64);
  u_den = false;
  u_sign = (v >> (F64 ? 63 : 31)) & 1;
  const be = <i32>((v >> M) & <u64>emax(F64));
  const m = v & ((<u64>1 << M) - 1);
  if (be == emax(F64)) { if (m == 0) return C_INF; return (m & qbit(F64)) ? C_QNAN : C_SNAN; }
  if (be == 0) {
    if (m == 0 || (mx & DAZ)) return C_ZERO;
    u_den = true;
    let s = m << (62 - M);
    const lz = <i32>clz(s) - 1;
    s <<= <u64>lz;
    u_exp = 1 - bias(F64) - lz; u_sig = s;
    return C_FIN;
  }
  u_exp = be - bias(F64); u_sig = (m | (<u64>1 << M)) << (62 - M);
  return C_FIN;
}
function unpack_a(v: u64, F64: bool): void { a_cls = unpack(v, F64); a_sign = u_sign; a_exp = u_exp; a_sig = u_sig; a_den = u_den; }
function unpack_b(v: u64, F64: bool): void { b_cls = unpack(v, F64); b_sign = u_sign; b_exp = u_exp; b_sig = u_sig; b_den = u_den; }

@inline function zero(sign: u64, F64: bool): u64 { return sign ? sbit(F64) : 0; }
@inline function inf(sign: u64, F64: bool): u64 { return (sign ? sbit(F64) : 0) | infb(F64); }

// An operand is a NaN: IE for an SNaN; the first source if it is a NaN, else
// the second, quietened.
function nan_result(a: u64, b: u64, F64: bool): u64 {
  if (a_cls == C_SNAN || b_cls == C_SNAN) fpre |= IE;
  return (a_cls >= C_QNAN ? a : b) | qbit(F64);
}

function shr_jam(v: u64, n: i32): u64 {
  if (n <= 0) return v;
  if (n >= 64) return v != 0 ? 1 : 0;
  return (v >> <u64>n) | ((v & ((<u64>1 << <u64>n) - 1)) != 0 ? 1 : 0);
}

// Round sig × 2^(e-62) (sig ≠ 0, a sticky bit in bit 0 if inexact) to the
// format by MXCSR.RC, with the overflow/underflow/FTZ rules above.
function round_pack(sign: u64, e: i32, sig: u64, F64: bool): u64 {
  const M = mbits(F64);
  const R: u64 = <u64>(62 - M);
  if (sig >> 63) { sig = (sig >> 1) | (sig & 1); e++; }
  else { const lz = <i32>clz(sig) - 1; sig <<= <u64>lz; e -= lz; }
  const rc = (mx >> 13) & 3;
  const half: u64 = <u64>1 << (R - 1), mask: u64 = (<u64>1 << R) - 1;
  const inc: u64 = rc == 0 ? half : rc == 3 ? 0 : ((rc == 1) == (sign != 0) ? mask : 0);
  let be = e + bias(F64);
  const E = emax(F64);
  if (be >= E || (be == E - 1 && ((sig + inc) >> 63) != 0)) {
    fpost |= OE | PE;
    const toinf = rc == 0 || (rc == 1 && sign != 0) || (rc == 2 && sign == 0);
    return toinf ? inf(sign, F64) : (sign ? sbit(F64) : 0) | ((<u64>(E - 1) << M) | ((<u64>1 << M) - 1));
  }
  if (be <= 0) {
    const tiny = be < 0 || ((sig + inc) >> 63) == 0;
    if (tiny && (mx & FTZ) && (mx & (UE << 7))) { fpost |= UE | PE; return zero(sign, F64); }
    sig = shr_jam(sig, 1 - be);
    be = 0;
    const rb = sig & mask;
    if (tiny && (rb != 0 || !(mx & (UE << 7)))) fpost |= UE;
    if (rb) fpost |= PE;
    sig = (sig + inc) >> R;
    if (rc == 0 && rb == half) sig &= ~(<u64>1);
    return (sign ? sbit(F64) : 0) | sig;
  }
  const rb = sig & mask;
  if (rb) fpost |= PE;
  sig = (sig + inc) >> R;
  if (rc == 0 && rb == half) sig &= ~(<u64>1);
  if (sig >> (M + 1)) { sig >>= 1; be++; }
  return (sign ? sbit(F64) : 0) | ((<u64>(be - 1) << M) + sig);
}

// 64×64 → 128 multiply: high half in mul_hi, low half returned.
let mul_hi: u64 = 0;
function mul128(a: u64, b: u64): u64 {
  const a0 = a & 0xFFFFFFFF, a1 = a >> 32, b0 = b & 0xFFFFFFFF, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & 0xFFFFFFFF) + (p10 & 0xFFFFFFFF);
  mul_hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  return (mid << 32) | (p00 & 0xFFFFFFFF);
}

// ---- operations on one element (bits in, bits out) ----
// OP: 0 add 1 mul 2 sub 3 min 4 div 5 max 6 sqrt
function f_arith(OP: u32, a: u64, b: u64, F64: bool): u64 {
  if (OP == 6) {
    unpack_b(b, F64);
    a_cls = C_ZERO;
    if (b_cls >= C_QNAN) { if (b_cls == C_SNAN) fpre |= IE; return b | qbit(F64); }
    if (b_cls == C_ZERO) return zero(b_sign, F64);
    if (b_sign) { fpre |= IE; return dnan(F64); }
    if (b_cls == C_INF) return b;
    if (b_den) fpre |= DE;
    return f_sqrt(F64);
  }
  unpack_a(a, F64); unpack_b(b, F64);
  if (OP == 3 || OP == 5) {
    // DAZ: a denormal operand is returned as the signed zero it reads as
    const av = a_cls == C_ZERO ? zero(a_sign, F64) : a, bv = b_cls == C_ZERO ? zero(b_sign, F64) : b;
    if (a_cls >= C_QNAN || b_cls >= C_QNAN) { fpre |= IE; return bv; }
    if (a_den || b_den) fpre |= DE;
    const ka = key(a, a_cls, F64), kb = key(b, b_cls, F64);
    return OP == 3 ? (ka < kb ? av : bv) : (ka > kb ? av : bv);
  }
  if (a_cls >= C_QNAN || b_cls >= C_QNAN) return nan_result(a, b, F64);
  if (OP == 2) b_sign ^= 1;
  if (OP == 0 || OP == 2) {
    if (a_cls == C_INF || b_cls == C_INF) {
      if (a_cls == C_INF && b_cls == C_INF && a_sign != b_sign) { fpre |= IE; return dnan(F64); }
      if (a_den || b_den) fpre |= DE;
      return a_cls == C_INF ? inf(a_sign, F64) : inf(b_sign, F64);
    }
    if (a_den || b_den) fpre |= DE;
    if (a_cls == C_ZERO && b_cls == C_ZERO) return zero(a_sign == b_sign ? a_sign : (((mx >> 13) & 3) == 1 ? 1 : 0), F64);
    if (a_cls == C_ZERO) return round_pack(b_sign, b_exp, b_sig, F64);
    if (b_cls == C_ZERO) return round_pack(a_sign, a_exp, a_sig, F64);
    return f_add(F64);
  }
  if (OP == 1) {
    const s = a_sign ^ b_sign;
    if (a_cls == C_INF || b_cls == C_INF) {
      if (a_cls == C_ZERO || b_cls == C_ZERO) { fpre |= IE; return dnan(F64); }
      if (a_den || b_den) fpre |= DE;
      return inf(s, F64);
    }
    if (a_den || b_den) fpre |= DE;
    if (a_cls == C_ZERO || b_cls == C_ZERO) return zero(s, F64);
    const lo = mul128(a_sig, b_sig);
    // product in [2^124, 2^126): keep the top bits at 62..63 with a sticky bit
    const sig = (mul_hi << 2) | (lo >> 62) | ((lo & 0x3FFFFFFFFFFFFFFF) != 0 ? 1 : 0);
    return round_pack(s, a_exp + b_exp, sig, F64);
  }
  // divide
  const s = a_sign ^ b_sign;
  if (a_cls == C_INF) {
    if (b_cls == C_INF) { fpre |= IE; return dnan(F64); }
    if (b_den) fpre |= DE;
    return inf(s, F64);
  }
  if (b_cls == C_INF) { if (a_den) fpre |= DE; return zero(s, F64); }
  if (b_cls == C_ZERO) {
    if (a_cls == C_ZERO) { fpre |= IE; return dnan(F64); }
    fpre |= ZE;
    return inf(s, F64);
  }
  if (a_den || b_den) fpre |= DE;
  if (a_cls == C_ZERO) return zero(s, F64);
  let rem = a_sig, q: u64 = 0;
  for (let i = 0; i < 64; i++) {
    q <<= 1;
    if (rem >= b_sig) { rem -= b_sig; q |= 1; }
    rem <<= 1;
  }
  return round_pack(s, a_exp - b_exp - 1, q | (rem != 0 ? 1 : 0), F64);
}

function f_add(F64: bool): u64 {
  // align to the larger exponent; sig has headroom at bit 63
  let ea = a_exp, eb = b_exp, sa = a_sig, sb = b_sig, sgn_a = a_sign, sgn_b = b_sign;
  if (eb > ea || (eb == ea && sb > sa)) {
    let t = ea; ea = eb; eb = t;
    let u = sa; sa = sb; sb = u;
    u = sgn_a; sgn_a = sgn_b; sgn_b = u;
  }
  sb = shr_jam(sb, ea - eb);
  if (sgn_a == sgn_b) return round_pack(sgn_a, ea, sa + sb, F64);
  const d = sa - sb;
  if (d == 0) return zero(((mx >> 13) & 3) == 1 ? 1 : 0, F64);
  return round_pack(sgn_a, ea, d, F64);
}

function f_sqrt(F64: bool): u64 {
  let t = b_exp - 62;
  let s = b_sig;
  if (t & 1) { s <<= 1; t -= 1; }
  // radicand s × 2^48 as hi:lo (112 bits), 56 result bits
  let hi = s >> 16, lo = s << 48;
  let res: u64 = 0, rem: u64 = 0;
  for (let i = 0; i < 56; i++) {
    rem = (rem << 2) | (hi >> 46);
    hi = ((hi << 2) | (lo >> 62)) & 0xFFFFFFFFFFFF;
    lo <<= 2;
    const trial = (res << 2) | 1;
    if (rem >= trial) { rem -= trial; res = (res << 1) | 1; } else res <<= 1;
  }
  return round_pack(0, 55 + ((t - 48) >> 1), (res << 7) | (rem != 0 ? 1 : 0), F64);
}

// Total-order key for comparisons (DAZ zeros compare equal to zero).
function key(v: u64, cls: u32, F64: bool): i64 {
  if (cls == C_ZERO) return 0;
  const mag = <i64>(v & (sbit(F64) - 1));
  return (v & sbit(F64)) ? -mag : mag;
}

// Compare a and b: 0 lt, 1 eq, 2 gt, 3 unordered; IE for SNaN, or any NaN
// when SIGNAL; DE for a denormal operand of an ordered comparison.
function f_cmp(a: u64, b: u64, F64: bool, SIGNAL: bool): u32 {
  unpack_a(a, F64); unpack_b(b, F64);
  if (a_cls >= C_QNAN || b_cls >= C_QNAN) {
    if (SIGNAL || a_cls == C_SNAN || b_cls == C_SNAN) fpre |= IE;
    return 3;
  }
  if (a_den || b_den) fpre |= DE;
  const ka = key(a, a_cls, F64), kb = key(b, b_cls, F64);
  return ka < kb ? 0 : ka == kb ? 1 : 2;
}

// float → integer (32 or 64 bits), rounded by RC or truncated.
function f_to_int(v: u64, F64: bool, I64: bool, TRUNC: bool): u64 {
  const indef: u64 = I64 ? 0x8000000000000000 : 0x80000000;
  const c = unpack(v, F64);
  if (c >= C_INF) { fpre |= IE; return indef; }
  if (c == C_ZERO) return 0;
  const e = u_exp;
  if (e > 62) { fpre |= IE; return indef; }
  const sh = 62 - e;
  let n: u64, rem: u64, half: u64, lost: bool;
  if (sh >= 64) { n = 0; rem = 1; half = 0; lost = true; }   // below 2^-1: only "inexact, below half"
  else {
    n = sh == 0 ? u_sig : u_sig >> <u64>sh;
    rem = sh == 0 ? 0 : u_sig & ((<u64>1 << <u64>sh) - 1);
    half = sh == 0 ? 0 : <u64>1 << <u64>(sh - 1);
    lost = rem != 0;
  }
  const rc = TRUNC ? 3 : (mx >> 13) & 3;
  if (lost) {
    if (rc == 0) { if (sh < 64 && (rem > half || (rem == half && (n & 1)))) n++; }
    else if (rc == 1) { if (u_sign) n++; }
    else if (rc == 2) { if (!u_sign) n++; }
  }
  const lim: u64 = I64 ? <u64>1 << 63 : <u64>1 << 31;
  if (n > lim || (n == lim && !u_sign)) { fpre |= IE; return indef; }
  if (lost) fpost |= PE;
  const r = u_sign ? 0 - n : n;
  return I64 ? r : r & 0xFFFFFFFF;
}
function int_to_f(v: i64, F64: bool): u64 {
  if (v == 0) return 0;
  return round_pack(v < 0 ? 1 : 0, 62, v < 0 ? <u64>(0 - v) : <u64>v, F64);
}
// f32 ↔ f64
function f_cvt(v: u64, TO64: bool): u64 {
  const F64 = !TO64;   // source format
  const c = unpack(v, F64);
  if (c >= C_QNAN) {
    if (c == C_SNAN) fpre |= IE;
    const sign = (v >> (F64 ? 63 : 31)) & 1;
    if (TO64) return (sign << 63) | 0x7FF8000000000000 | ((v & 0x7FFFFF) << 29);
    return (sign << 31) | 0x7FC00000 | ((v >> 29) & 0x7FFFFF);
  }
  if (c == C_INF) return inf(u_sign, TO64);
  if (c == C_ZERO) return zero(u_sign, TO64);
  if (u_den) fpre |= DE;
  return round_pack(u_sign, u_exp, u_sig, TO64);
}

// ROUNDPS/PD/SS/SD: round to an integral value by imm[1:0] (or MXCSR.RC when
// imm[2]); imm[3] suppresses the precision exception. IE for an SNaN; no DE.
function f_round(v: u64, F64: bool, imm: u32): u64 {
  const c = unpack(v, F64);
  if (c >= C_QNAN) { if (c == C_SNAN) fpre |= IE; return v | qbit(F64); }
  if (c == C_INF) return v;
  if (c == C_ZERO) return zero(u_sign, F64);
  const e = u_exp;
  if (e >= <i32>mbits(F64)) return v;
  const rc = imm & 4 ? (mx >> 13) & 3 : imm & 3;
  let n: u64, lost: bool;
  if (e < 0) {
    n = 0; lost = true;
    const above_half = e == -1 && u_sig > (<u64>1 << 62);   // |x| > 0.5 (e == -1: |x| in [0.5, 1))
    if (rc == 0) n = above_half ? 1 : 0;
    else if (rc == 1) n = u_sign ? 1 : 0;
    else if (rc == 2) n = u_sign ? 0 : 1;
  } else {
    const sh = <u64>(62 - e);
    n = u_sig >> sh;
    const rem = u_sig & ((<u64>1 << sh) - 1), half = <u64>1 << (sh - 1);
    lost = rem != 0;
    if (lost) {
      if (rc == 0) { if (rem > half || (rem == half && (n & 1))) n++; }
      else if (rc == 1) { if (u_sign) n++; }
      else if (rc == 2) { if (!u_sign) n++; }
    }
  }
  if (lost && !(imm & 8)) fpost |= PE;
  if (n == 0) return zero(u_sign, F64);
  return round_pack(u_sign, 62, n, F64);
}

// ---- instruction plumbing ----
@inline function begin(): void { mx = load<u32>(XSTATE + X_MXCSR); fpre = 0; fpost = 0; }
// Record the flags; true when the instruction must fault instead of writing.
function finish(): bool {
  const masks = (mx >> 7) & 0x3F;
  if (fpre & ~masks) { store<u32>(XSTATE + X_MXCSR, mx | fpre); return true; }
  const f = fpre | fpost;
  store<u32>(XSTATE + X_MXCSR, mx | f);
  return (f & ~masks) != 0;
}
function xm(): i32 {
  if (load<u64>(STATE + S_CR4) & CR4_OSXMMEXCPT) return raise(X86_TRAP_XF, 0, false);
  return raise_ud();
}
@inline function ldv(p: usize, F64: bool): u64 { return F64 ? load<u64>(p) : <u64>load<u32>(p); }
@inline function stv(p: usize, F64: bool, v: u64): void { if (F64) store<u64>(p, v); else store<u32>(p, <u32>v); }

// CMPccPS/PD/SS/SD predicate (imm 0..31) on a comparison result.
function pred(p: u32, rel: u32): bool {
  const lt = rel == 0, eq = rel == 1, gt = rel == 2, un = rel == 3;
  let v: bool;
  switch (p & 15) {
    case 0: v = eq; break;
    case 1: v = lt; break;
    case 2: v = lt || eq; break;
    case 3: v = un; break;
    case 4: v = !eq; break;
    case 5: v = !lt; break;
    case 6: v = !(lt || eq); break;
    case 7: v = !un; break;
    case 8: v = eq || un; break;
    case 9: v = lt || un; break;
    case 10: v = !gt; break;
    case 11: v = false; break;
    case 12: v = !eq && !un; break;
    case 13: v = gt || eq; break;
    case 14: v = gt; break;
    default: v = true; break;
  }
  return v;
}
function signaling(p: u32): bool {
  const s = ((0x6666 >> (p & 15)) & 1) != 0;   // LT LE NLT NLE NGE NGT GE GT
  return p >= 16 ? !s : s;
}

// 0F 58/59/5C/5D/5E/5F/51/C2: FMT 0 ps, 1 pd, 2 ss, 3 sd. OP 0 add 1 mul
// 2 sub 3 min 4 div 5 max 6 sqrt 7 cmp (imm8 predicate; legacy uses imm[2:0])
// 8 hadd 9 hsub 10 addsub (SSE3) 11 round (SSE4.1, imm).
export function fparith(r: usize, OP: u32, FMT: u32): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const F64 = (FMT & 1) != 0, scalar = FMT >= 2;
  const esz: u32 = F64 ? 8 : 4;
  const len: u32 = scalar ? 16 : k == 0 ? 16 : vlen(r);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  if (!src_rm(r, M, B, scalar ? (M ? esz : 16) : len, scalar || k != 0 ? 0 : 16)) return ST_FAULT;
  const s1 = k == 0 ? dn : vvvv(r);
  vget(s1, A, len);
  memory.copy(D, A, len);
  begin();
  const imm = <u32>load<u8>(r, R_IMM) & (OP == 11 ? 15 : k == 0 ? 7 : 31);
  const n: u32 = scalar ? 1 : len / esz;
  const lane: u32 = 16 / esz;   // elements per 128-bit lane
  for (let i: u32 = 0; i < n; i++) {
    const a = ldv(A + i * esz, F64), b = ldv(B + i * esz, F64);
    if (OP == 8 || OP == 9) {
      // HADD/HSUB: per lane, the low half of the results from pairs of src1, the high half from src2
      const l0 = i - i % lane, j = i % lane, h = lane / 2;
      const src = j < h ? A : B, p = l0 + (j % h) * 2;
      stv(D + i * esz, F64, f_arith(OP == 8 ? 0 : 2, ldv(src + p * esz, F64), ldv(src + (p + 1) * esz, F64), F64));
    } else if (OP == 10) stv(D + i * esz, F64, f_arith(i & 1 ? 0 : 2, a, b, F64));   // ADDSUB
    else if (OP == 11) stv(D + i * esz, F64, f_round(b, F64, imm));
    else if (OP == 7) {
      const rel = f_cmp(a, b, F64, signaling(imm));
      const t = pred(imm, rel);
      stv(D + i * esz, F64, t ? (F64 ? <u64>-1 : 0xFFFFFFFF) : 0);
    } else stv(D + i * esz, F64, f_arith(OP, a, b, F64));
  }
  if (finish()) return xm();
  vset(dn, D, len, k != 0);
  return ST_OK;
}

// (U)COMISS/SD: ZF PF CF = 111 unordered, 000 greater, 001 less, 100 equal;
// OF SF AF cleared. COMIS signals on any NaN, UCOMIS on SNaN only.
export function sse_comi(r: usize, SIGNAL: bool, F64: bool): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const esz: u32 = F64 ? 8 : 4;
  if (!src_rm(r, M, B, M ? esz : 16, 0)) return ST_FAULT;
  begin();
  const rel = f_cmp(ldv(xmm_at(<u32>load<u8>(r, R_REG) >> 3), F64), ldv(B, F64), F64, SIGNAL);
  if (finish()) return xm();
  set_arith(rel == 3 ? (ZF | PF | CF) : rel == 0 ? CF : rel == 1 ? ZF : 0, 0x8D5);
  return ST_OK;
}

@inline function w64(r: usize): bool {
  return kind(r) == 0 ? (load<u8>(r, R_PFX) & 64) != 0 : (load<u32>(r, R_VEX) & V_W) != 0;
}
// CVTSI2SS/SD (F3/F2 0F 2A): r/m32 or r/m64 (W) into the low element; the
// rest from the destination (legacy) or vvvv (VEX).
export function cvtsi2f(r: usize, F64: bool): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const q = w64(r);
  let v: i64;
  if (M) { if (!src_rm(r, true, B, q ? 8 : 4, 0)) return ST_FAULT; v = q ? load<i64>(B) : <i64>load<i32>(B); }
  else v = q ? <i64>rdreg(load<u8>(r, R_RM), 64) : <i64><i32>rdreg(load<u8>(r, R_RM), 32);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  vget(k == 0 ? dn : vvvv(r), D, 16);
  begin();
  stv(D, F64, int_to_f(v, F64));
  if (finish()) return xm();
  vset(dn, D, 16, k != 0);
  return ST_OK;
}
// CVT(T)SS2SI / CVT(T)SD2SI (F3/F2 0F 2C/2D): to r32 or r64 (W).
export function cvtf2si(r: usize, F64: bool, TRUNC: bool): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const esz: u32 = F64 ? 8 : 4;
  if (!src_rm(r, M, B, M ? esz : 16, 0)) return ST_FAULT;
  const q = w64(r);
  begin();
  const v = f_to_int(ldv(B, F64), F64, q, TRUNC);
  if (finish()) return xm();
  wrreg(load<u8>(r, R_REG), q ? 64 : 32, v);
  return ST_OK;
}

// Packed/scalar format conversions. KIND:
//  0 cvtss2sd  1 cvtsd2ss (scalar; rest from dest/vvvv)
//  2 cvtps2pd  3 cvtpd2ps  4 cvtdq2ps  5 cvtps2dq  6 cvttps2dq
//  7 cvtdq2pd  8 cvtpd2dq  9 cvttpd2dq
export function fcvt(r: usize, KIND: u32): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  begin();
  if (KIND <= 1) {
    if (!src_rm(r, M, B, M ? (KIND == 0 ? 4 : 8) : 16, 0)) return ST_FAULT;
    vget(k == 0 ? dn : vvvv(r), D, 16);
    if (KIND == 0) store<u64>(D, f_cvt(<u64>load<u32>(B), true));
    else store<u32>(D, <u32>f_cvt(load<u64>(B), false));
    if (finish()) return xm();
    vset(dn, D, 16, k != 0);
    return ST_OK;
  }
  if (k != 0 && vvvv(r) != 0) return raise_ud();
  const L: u32 = k == 0 ? 16 : vlen(r);
  // widening (2, 7): source is half the destination; narrowing (3, 8, 9):
  // the destination is half the source, upper half of the xmm zeroed
  const widen = KIND == 2 || KIND == 7, narrow = KIND == 3 || KIND == 8 || KIND == 9;
  const slen: u32 = widen ? L / 2 : L;
  const dlen: u32 = narrow ? (L == 32 ? 16 : 16) : L;
  if (!src_rm(r, M, B, slen, k == 0 && !widen ? 16 : 0)) return ST_FAULT;
  memory.fill(D, 0, 32);
  if (KIND == 2 || KIND == 7) {
    for (let i: u32 = 0; i < L / 8; i++)
      store<u64>(D + i * 8, KIND == 2 ? f_cvt(<u64>load<u32>(B + i * 4), true) : int_to_f(<i64>load<i32>(B + i * 4), true));
  } else if (narrow) {
    for (let i: u32 = 0; i < L / 8; i++) {
      const v = load<u64>(B + i * 8);
      store<u32>(D + i * 4, KIND == 3 ? <u32>f_cvt(v, false) : <u32>f_to_int(v, true, false, KIND == 9));
    }
  } else {
    for (let i: u32 = 0; i < L / 4; i++) {
      const v = load<u32>(B + i * 4);
      store<u32>(D + i * 4, KIND == 4 ? <u32>int_to_f(<i64><i32>v, false) : <u32>f_to_int(<u64>v, false, false, KIND == 6));
    }
  }
  if (finish()) return xm();
  vset(dn, D, dlen, k != 0);
  return ST_OK;
}

// ---- FMA3: one rounding of ±(a×b) ± c ----
// The product of the two significands is exact in 128 bits (leading bit at
// 124 or 125); c is placed at the same scale and the smaller addend shifted
// right with a sticky bit. Massive cancellation only happens when the
// exponents are within one of each other, where the shift loses nothing, so
// the 128-bit sum is exact up to the sticky bit and round_pack rounds once.
let w_hi: u64 = 0, w_lo: u64 = 0;
function shr128_jam(n: i32): void {
  if (n <= 0) return;
  if (n >= 128) { w_lo = (w_hi | w_lo) != 0 ? 1 : 0; w_hi = 0; return; }
  if (n >= 64) {
    const st = w_lo != 0 || (n > 64 && (w_hi << <u64>(128 - n)) != 0);
    w_lo = (n == 64 ? w_hi : w_hi >> <u64>(n - 64)) | (st ? 1 : 0); w_hi = 0; return;
  }
  const st = (w_lo << <u64>(64 - n)) != 0;
  w_lo = (w_lo >> <u64>n) | (w_hi << <u64>(64 - n)) | (st ? 1 : 0);
  w_hi >>= <u64>n;
}
// Round w_hi:w_lo × 2^(e-124) (nonzero).
function round128(sign: u64, e: i32, F64: bool): u64 {
  const p: i32 = w_hi != 0 ? 127 - <i32>clz(w_hi) : 63 - <i32>clz(w_lo);
  let sig: u64;
  if (p >= 62) { shr128_jam(p - 62); sig = w_lo; }
  else sig = w_lo << <u64>(62 - p);
  return round_pack(sign, e + p - 124, sig, F64);
}
function unpack_c(v: u64, F64: bool): void { c_cls = unpack(v, F64); c_sign = u_sign; c_exp = u_exp; c_sig = u_sig; c_den = u_den; }

// NaN operands: IE for an SNaN; the result is the first NaN in a, b, c
// (multiplication) order, quietened (measured on Zen 4).
function f_fma(a: u64, b: u64, c: u64, F64: bool, NEGP: bool, NEGC: bool): u64 {
  unpack_a(a, F64); unpack_b(b, F64); unpack_c(c, F64);
  if (a_cls >= C_QNAN || b_cls >= C_QNAN || c_cls >= C_QNAN) {
    if (a_cls == C_SNAN || b_cls == C_SNAN || c_cls == C_SNAN) fpre |= IE;
    // ∞×0 with a QNaN addend: IE on Intel (SDM vol. 1 §14.5.2, FMA
    // exceptions; not measurable here), not on AMD (measured on Zen 4)
    else if (!amd_flavour() && ((a_cls == C_INF && b_cls == C_ZERO) || (a_cls == C_ZERO && b_cls == C_INF))) fpre |= IE;
    return (a_cls >= C_QNAN ? a : b_cls >= C_QNAN ? b : c) | qbit(F64);
  }
  const ps: u64 = a_sign ^ b_sign ^ (NEGP ? 1 : 0), cs: u64 = c_sign ^ (NEGC ? 1 : 0);
  if (a_cls == C_INF || b_cls == C_INF) {
    if (a_cls == C_ZERO || b_cls == C_ZERO) { fpre |= IE; return dnan(F64); }
    if (c_cls == C_INF && cs != ps) { fpre |= IE; return dnan(F64); }
    if (a_den || b_den || c_den) fpre |= DE;
    return inf(ps, F64);
  }
  if (a_den || b_den || c_den) fpre |= DE;
  if (c_cls == C_INF) return inf(cs, F64);
  const rdown: u64 = ((mx >> 13) & 3) == 1 ? 1 : 0;
  if (a_cls == C_ZERO || b_cls == C_ZERO) {
    if (c_cls == C_ZERO) return zero(ps == cs ? ps : rdown, F64);
    return round_pack(cs, c_exp, c_sig, F64);
  }
  w_lo = mul128(a_sig, b_sig); w_hi = mul_hi;
  const ep = a_exp + b_exp;
  if (c_cls == C_ZERO) return round128(ps, ep, F64);
  // c × 2^(ec-62) = (c_sig << 62) × 2^(ec-124)
  let ph = w_hi, pl = w_lo, e = ep;
  w_hi = c_sig >> 2; w_lo = c_sig << 62;
  if (ep >= c_exp) shr128_jam(ep - c_exp);
  else {
    const ch = w_hi, cl = w_lo;
    w_hi = ph; w_lo = pl; shr128_jam(c_exp - ep);
    ph = w_hi; pl = w_lo; w_hi = ch; w_lo = cl; e = c_exp;
  }
  // product in ph:pl, addend in w_hi:w_lo, both at scale 2^(e-124)
  if (ps == cs) {
    const lo = pl + w_lo;
    w_hi = ph + w_hi + (lo < pl ? 1 : 0); w_lo = lo;
    return round128(ps, e, F64);
  }
  let sign = ps;
  if (ph > w_hi || (ph == w_hi && pl >= w_lo)) {
    const lo = pl - w_lo;
    w_hi = ph - w_hi - (pl < w_lo ? 1 : 0); w_lo = lo;
  } else {
    const lo = w_lo - pl;
    w_hi = w_hi - ph - (w_lo < pl ? 1 : 0); w_lo = lo; sign = cs;
  }
  if (w_hi == 0 && w_lo == 0) return zero(rdown, F64);
  return round128(sign, e, F64);
}

// VFMADD/VFMSUB/VFNMADD/VFNMSUB/VFMADDSUB/VFMSUBADD (VEX 66 0F38 96-BF).
// OP 0 madd 1 msub 2 nmadd 3 nmsub 4 maddsub (even elements subtract)
// 5 msubadd (even elements add); FMT 0 ps 1 pd 2 ss 3 sd; ORD 0 132
// (op1×op3 + op2), 1 213 (op2×op1 + op3), 2 231 (op2×op3 + op1), where op1
// is ModRM.reg (also the destination), op2 VEX.vvvv, op3 ModRM.r/m.
// Scalar forms keep bits 127:32/64 of the destination and zero 255:128.
export function fma(r: usize, OP: u32, FMT: u32, ORD: u32): i32 {
  // Not gated on the guest's CPUID.FMA: there is no enable bit, so silicon with FMA executes it
  // whatever a hypervisor's CPUID says, and KVM cannot make it #UD (cpu/layout.ts FEAT_* note).
  // The gates that exist (CR4.OSXSAVE, XCR0.AVX, CR0.TS) are gate()'s.
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const F64 = (FMT & 1) != 0, scalar = FMT >= 2;
  const esz: u32 = F64 ? 8 : 4;
  const len: u32 = scalar ? 16 : vlen(r);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  // B = op3 (r/m); A = op2 (vvvv); D = op1 (destination)
  if (!src_rm(r, M, B, scalar ? (M ? esz : 16) : len, 0)) return ST_FAULT;
  vget(vvvv(r), A, len);
  vget(dn, D, len);
  begin();
  const n: u32 = scalar ? 1 : len / esz;
  for (let i: u32 = 0; i < n; i++) {
    const o1 = ldv(D + i * esz, F64), o2 = ldv(A + i * esz, F64), o3 = ldv(B + i * esz, F64);
    const x = ORD == 0 ? o1 : o2, y = ORD == 0 ? o3 : ORD == 1 ? o1 : o3, z = ORD == 0 ? o2 : ORD == 1 ? o3 : o1;
    const negc = OP == 1 || OP == 3 || (OP == 4 && !(i & 1)) || (OP == 5 && (i & 1) != 0);
    stv(D + i * esz, F64, f_fma(x, y, z, F64, OP == 2 || OP == 3, negc));
  }
  if (finish()) return xm();
  vset(dn, D, len, true);
  return ST_OK;
}

// ---- F16C ----
// binary16 rounding (no FTZ: SDM, VCVTPS2PH) of sig × 2^(e-62) by rc.
function round_half(sign: u64, e: i32, sig: u64, rc: u32): u64 {
  const R: u64 = 52;
  const s: u64 = sign ? 0x8000 : 0;
  if (sig >> 63) { sig = (sig >> 1) | (sig & 1); e++; }
  else { const lz = <i32>clz(sig) - 1; sig <<= <u64>lz; e -= lz; }
  const half: u64 = <u64>1 << (R - 1), mask: u64 = (<u64>1 << R) - 1;
  const inc: u64 = rc == 0 ? half : rc == 3 ? 0 : ((rc == 1) == (sign != 0) ? mask : 0);
  let be = e + 15;
  if (be >= 31 || (be == 30 && ((sig + inc) >> 63) != 0)) {
    fpost |= OE | PE;
    const toinf = rc == 0 || (rc == 1 && sign != 0) || (rc == 2 && sign == 0);
    return s | (toinf ? 0x7C00 : 0x7BFF);
  }
  if (be <= 0) {
    const tiny = be < 0 || ((sig + inc) >> 63) == 0;
    sig = shr_jam(sig, 1 - be);
    const rb = sig & mask;
    if (tiny && (rb != 0 || !(mx & (UE << 7)))) fpost |= UE;
    if (rb) fpost |= PE;
    sig = (sig + inc) >> R;
    if (rc == 0 && rb == half) sig &= ~(<u64>1);
    return s | sig;
  }
  const rb = sig & mask;
  if (rb) fpost |= PE;
  sig = (sig + inc) >> R;
  if (rc == 0 && rb == half) sig &= ~(<u64>1);
  if (sig >> 11) { sig >>= 1; be++; }
  return s | ((<u64>(be - 1) << 10) + sig);
}
function f_ps2ph(v: u64, rc: u32): u64 {
  const c = unpack(v, false);
  if (c >= C_QNAN) {
    if (c == C_SNAN) fpre |= IE;
    return ((v >> 16) & 0x8000) | 0x7E00 | ((v >> 13) & 0x3FF);
  }
  if (c == C_INF) return ((v >> 16) & 0x8000) | 0x7C00;
  if (c == C_ZERO) return u_sign ? 0x8000 : 0;
  if (u_den) fpre |= DE;
  return round_half(u_sign, u_exp, u_sig, rc);
}
// binary16 → binary32 is exact; an SNaN sets IE and is quietened.
function f_ph2ps(h: u32): u32 {
  const s: u32 = (h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 0x3FF;
  if (e == 31) {
    if (m == 0) return s | 0x7F800000;
    if (!(m & 0x200)) fpre |= IE;
    return s | 0x7FC00000 | (m << 13);
  }
  if (e == 0) {
    if (m == 0) return s;
    const lz = <u32>clz(m) - 21;   // bring the leading bit to bit 10
    return s | ((113 - lz) << 23) | (((m << lz) & 0x3FF) << 13);
  }
  return s | ((e + 112) << 23) | (m << 13);
}
@inline function f16c_ok(r: usize): bool {
  // not gated on CPUID.F16C (as FMA above); VEX.vvvv must be 1111b
  if (vvvv(r) != 0) { raise_ud(); return false; }
  return gate(r);
}
// VCVTPH2PS xmm/ymm, xmm/m64/m128 (VEX 66 0F38 13 W0)
export function cvtph2ps(r: usize): i32 {
  if (!f16c_ok(r)) return ST_FAULT;
  const M = is_mem(r);
  const L = vlen(r);
  if (!src_rm(r, M, B, M ? L / 2 : 16, 0)) return ST_FAULT;
  begin();
  for (let i: u32 = 0; i < L / 4; i++) store<u32>(D + i * 4, f_ph2ps(<u32>load<u16>(B + i * 2)));
  if (finish()) return xm();
  vset(<u32>load<u8>(r, R_REG) >> 3, D, L, true);
  return ST_OK;
}
// VCVTPS2PH xmm/m64/m128, xmm/ymm, imm8 (VEX 66 0F3A 1D W0): imm8[1:0]
// rounding, or MXCSR.RC when imm8[2] is set.
export function cvtps2ph(r: usize): i32 {
  if (!f16c_ok(r)) return ST_FAULT;
  const M = is_mem(r);
  const L = vlen(r);
  vget(<u32>load<u8>(r, R_REG) >> 3, A, L);
  // the store's #PF/#GP comes before an unmasked SIMD exception (Zen 4,
  // test/cpu/ssefp.test.ts): translate and probe the destination first
  if (M) {
    const lin = mem_lin(r, L / 2, true);
    if (fault_pending || !probe_write(lin, L / 2, <u32>load<u8>(r, R_SEG))) return ST_FAULT;
  }
  begin();
  const imm = <u32>load<u8>(r, R_IMM);
  const rc = imm & 4 ? (mx >> 13) & 3 : imm & 3;
  memory.fill(D, 0, 16);
  for (let i: u32 = 0; i < L / 4; i++) store<u16>(D + i * 2, <u16>f_ps2ph(<u64>load<u32>(A + i * 4), rc));
  if (finish()) return xm();
  // a fault left for the store itself (#AC) leaves MXCSR as it was
  if (M && !dst_mem(r, D, L / 2, 0, <u64>-1, 8)) { store<u32>(XSTATE + X_MXCSR, mx); return ST_FAULT; }
  if (!M) vset(<u32>load<u8>(r, R_RM) >> 3, D, 16, true);
  return ST_OK;
}
