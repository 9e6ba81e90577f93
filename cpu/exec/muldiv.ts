// MUL/IMUL/DIV/IDIV (F6/F7 /4-/7), IMUL Gv,Ev (0F AF), IMUL Gv,Ev,Iz/Ib (69/6B).
// SDM Vol. 2A "MUL", "IMUL", "DIV", "IDIV".
//
// CF = OF = "the upper half is significant" for every multiply. The other
// arithmetic flags are undefined (measured on this AMD EPYC Zen 4 with the
// native harness, test/cpu/muldiv.test.ts):
//   MUL/IMUL  AMD: SF ZF AF PF unchanged (only CF/OF written).
//             Intel (S_VENDOR 0): SF/ZF/PF from the low half of the
//             product, AF = 0 — QEMU's TCG model, and what sandpile.org's
//             "undefined integer FLAGS behavior" table lists for the P4
//             core (its P6 column says unchanged, like AMD here). Not
//             measurable on this host.
//   DIV/IDIV  AMD: CF and OF unchanged, AF = 1, SF = ZF = PF = 0, whatever
//             the operands. Intel: flags left unchanged (Bochs/QEMU; the
//             sandpile.org table's P6/P4 columns). Not measurable here.
// #DE (vector 0, no error code) for a zero divisor and for a quotient that
// does not fit, including INT_MIN / -1; nothing is written then.
import { Reg, Mem, is, bits } from "./consts";
import { read_E, read_G, write_G, rdregT, wrregT, maskT, read_ET } from "./operand";
import { rdreg, wrreg, rd64, wr64, RAX, RDX, CF, OF, AF, ZF, SF, PF } from "../state";
import { STATE, S_VENDOR } from "../layout";
import { set_arith } from "../flags";
import { R_REG, R_IMM } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT, raise, X86_TRAP_DE } from "../except/fault";

@inline function amd(): bool { return load<u32>(STATE + S_VENDOR) == 1; }

// Unsigned high 64 bits of a 64x64 product.
function mulhu(a: u64, b: u64): u64 {
  const al = a & 0xFFFFFFFF, ah = a >> 32, bl = b & 0xFFFFFFFF, bh = b >> 32;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >> 32) + (lh & 0xFFFFFFFF) + (hl & 0xFFFFFFFF);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}
// Signed high 64 bits.
function mulhs(a: u64, b: u64): u64 {
  let h = mulhu(a, b);
  if (<i64>a < 0) h -= b;
  if (<i64>b < 0) h -= a;
  return h;
}

// Flags after a multiply: `ov` is CF/OF, `lo` the low half (size S).
function mul_flags(ov: bool, lo: u64, S: u32): void {
  const co: u64 = ov ? CF | OF : 0;
  if (amd()) { set_arith(co, CF | OF); return; }
  let f = co;
  if ((popcnt<u32>(<u32>lo & 0xFF) & 1) == 0) f |= PF;
  if (lo == 0) f |= ZF;
  if ((lo >> <u64>(S - 1)) & 1) f |= SF;
  set_arith(f, CF | PF | AF | ZF | SF | OF);
}

@inline function sextS(v: u64, S: u32): i64 {
  const sh = <u64>(64 - S);
  return (<i64>(v << sh)) >> sh;
}

// Signed truncated product of a and b at size T, with flags.
@inline function imul_core<T>(a: u64, b: u64): u64 {
  const S = bits<T>();
  let lo: u64;
  let ov: bool;
  if (S == 64) {
    lo = a * b;
    ov = mulhs(a, b) != <u64>((<i64>lo) >> 63);
  } else {
    const p = sextS(a, S) * sextS(b, S);
    lo = <u64>p & maskT<T>();
    ov = sextS(lo, S) != p;
  }
  mul_flags(ov, lo, S);
  return lo;
}

// 0F AF /r IMUL Gv,Ev
@inline export function imul_GE<T, M>(r: usize): i32 {
  const b = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  const o = load<u8>(r, R_REG);
  wrregT<T>(o, imul_core<T>(rdregT<T>(o), b));
  return ST_OK;
}

// 69 /r IMUL Gv,Ev,Iz; 6B /r IMUL Gv,Ev,Ib (immediate sign-extended)
@inline export function imul_GEI<T, M>(r: usize): i32 {
  const a = read_ET<T, M>(r);
  if (is<M, Mem>() && fault_pending) return ST_FAULT;
  wrregT<T>(load<u8>(r, R_REG), imul_core<T>(a, load<u64>(r, R_IMM) & maskT<T>()));
  return ST_OK;
}

// F6/F7 /4 MUL, /5 IMUL: rDX:rAX (AX for bytes) = rAX * r/m
export function mul1(r: usize, signed: bool, S: u32, M: bool): i32 {
  const b = read_E(r, S, M);
  if (fault_pending) return ST_FAULT;
  const a = rdreg(RAX, S);
  let lo: u64, hi: u64;
  let ov: bool;
  if (S == 64) {
    lo = a * b;
    hi = signed ? mulhs(a, b) : mulhu(a, b);
    ov = signed ? hi != <u64>((<i64>lo) >> 63) : hi != 0;
  } else {
    const m: u64 = (<u64>1 << <u64>S) - 1;
    const p: u64 = signed ? <u64>(sextS(a, S) * sextS(b, S)) : a * b;
    lo = p & m;
    hi = (p >> <u64>S) & m;
    ov = signed ? sextS(lo, S) != <i64>p : hi != 0;
  }
  if (S == 8) wrreg(RAX, 16, (hi << 8) | lo);
  else { wrreg(RAX, S, lo); wrreg(RDX, S, hi); }
  mul_flags(ov, lo, S);
  return ST_OK;
}

function div_flags(): void {
  if (amd()) set_arith(AF, PF | AF | ZF | SF);
}

// 128-by-64 unsigned division with hi < d (so the quotient fits).
let div_rem: u64 = 0;
function udiv128(hi: u64, lo: u64, d: u64): u64 {
  let rem = hi, q: u64 = 0;
  for (let i = 63; i >= 0; i--) {
    const carry = rem >> 63;
    rem = (rem << 1) | ((lo >> <u64>i) & 1);
    q <<= 1;
    if (carry != 0 || rem >= d) { rem -= d; q |= 1; }
  }
  div_rem = rem;
  return q;
}

// F6/F7 /6 DIV, /7 IDIV
export function div1(r: usize, signed: bool, S: u32, M: bool): i32 {
  const d = read_E(r, S, M);
  if (fault_pending) return ST_FAULT;
  if (d == 0) return raise(X86_TRAP_DE, 0, false);
  let q: u64, rem: u64;
  if (S == 64) {
    const hi = rd64(RDX), lo = rd64(RAX);
    if (!signed) {
      if (hi >= d) return raise(X86_TRAP_DE, 0, false);
      q = udiv128(hi, lo, d); rem = div_rem;
    } else {
      const neg = <i64>hi < 0;
      let ahi = hi, alo = lo;
      if (neg) { alo = 0 - lo; ahi = ~hi + (lo == 0 ? 1 : 0); }
      const dneg = <i64>d < 0;
      const ad = dneg ? 0 - d : d;
      if (ahi >= ad) return raise(X86_TRAP_DE, 0, false);
      const uq = udiv128(ahi, alo, ad);
      const qneg = neg != dneg;
      if (qneg ? uq > 0x8000000000000000 : uq > 0x7FFFFFFFFFFFFFFF) return raise(X86_TRAP_DE, 0, false);
      q = qneg ? 0 - uq : uq;
      rem = neg ? 0 - div_rem : div_rem;
    }
    wr64(RAX, q); wr64(RDX, rem);
    div_flags();
    return ST_OK;
  }
  const m: u64 = (<u64>1 << <u64>S) - 1;
  const dividend: u64 = S == 8 ? rdreg(RAX, 16) : (rdreg(RDX, S) << <u64>S) | rdreg(RAX, S);
  if (!signed) {
    q = dividend / d;
    if (q > m) return raise(X86_TRAP_DE, 0, false);
    rem = dividend % d;
  } else {
    const n = sextS(dividend, S * 2);
    const dv = sextS(d, S);
    // n / -1 with n = INT64_MIN would trap in wasm; it only arises for S = 32
    let sq: i64, sr: i64;
    if (dv == -1) { sq = 0 - n; sr = 0; }
    else { sq = n / dv; sr = n % dv; }
    const lim: i64 = <i64>1 << <i64>(S - 1);
    if (dv == -1 && n == i64.MIN_VALUE) return raise(X86_TRAP_DE, 0, false);
    if (sq >= lim || sq < -lim) return raise(X86_TRAP_DE, 0, false);
    q = <u64>sq & m; rem = <u64>sr & m;
  }
  if (S == 8) wrreg(RAX, 16, (rem << 8) | q);
  else { wrreg(RAX, S, q); wrreg(RDX, S, rem); }
  div_flags();
  return ST_OK;
}
