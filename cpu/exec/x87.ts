// x87 basics: the register stack (TOP, abridged tags), exact loads and
// stores of 32/64/80-bit reals and 16/32/64-bit integers, constants, FXCH,
// FCHS/FABS, compares (FCOM/FCOMI/FUCOMI), control (FNINIT, FNCLEX, FLDCW,
// FNSTCW, FNSTSW) and the four arithmetic operations.
//
// Values are kept bit-exact in the 80-bit registers. Conversions to and from
// memory formats round once, to nearest even (FCW.RC is honoured for integer
// stores). Arithmetic is computed in binary64, so a result that needs more
// than 53 significant bits is rounded to 53 (precision control "double");
// this is the documented limitation of this implementation.
// Masked exceptions only: invalid operation and stack faults set IE/SF (and
// produce the QNaN indefinite); no #MF is ever raised.
import { STATE, XSTATE, S_CR0, S_VENDOR, X_FCW, X_FSW, X_FTW, X_FOP, X_FIP, X_FDP, X_ST } from "../layout";
import { CR0_EM, CR0_TS, CR0_MP, wrreg, RAX, ZF, PF, CF, OF, SF, AF } from "../state";
import { mem_lin } from "./operand";
import { R_SEG, R_MODRM } from "../decode/decoder";
import { ld, st, probe_write } from "../mmu/access";
import { fault_pending, raise, ST_OK, ST_FAULT, X86_TRAP_NM } from "../except/fault";
import { set_arith } from "../flags";
import { touch } from "./xsave";
import { blk_rip } from "../ctl";

const FSW_IE: u16 = 1, FSW_SF: u16 = 0x40, FSW_ES: u16 = 0x80, FSW_C0: u16 = 0x100, FSW_C1: u16 = 0x200, FSW_C2: u16 = 0x400, FSW_C3: u16 = 0x4000;

@inline function fsw(): u32 { return load<u16>(XSTATE + X_FSW); }
@inline function set_fsw(v: u32): void { store<u16>(XSTATE + X_FSW, <u16>v); }
@inline function top(): u32 { return (fsw() >> 11) & 7; }
@inline function set_top(t: u32): void { set_fsw((fsw() & ~0x3800) | ((t & 7) << 11)); }
@inline function phys(i: u32): u32 { return (top() + i) & 7; }
@inline function reg_at(p: u32): usize { return XSTATE + X_ST + p * 16; }
@inline function tagged(p: u32): bool { return ((<u32>load<u8>(XSTATE + X_FTW) >> p) & 1) != 0; }
@inline function set_tag(p: u32, full: bool): void {
  const t = <u32>load<u8>(XSTATE + X_FTW);
  const bit: u32 = 1 << p;
  store<u8>(XSTATE + X_FTW, <u8>(full ? t | bit : t & ~bit));
}
@inline function mant(p: u32): u64 { return load<u64>(reg_at(p)); }
@inline function se(p: u32): u32 { return load<u16>(reg_at(p), 8); }
@inline function put(p: u32, m: u64, e: u32): void { store<u64>(reg_at(p), m); store<u16>(reg_at(p), <u16>e, 8); }

// the QNaN "real indefinite"
const IND_M: u64 = 0xC000000000000000;
const IND_E: u32 = 0xFFFF;

// #NM gate: CR0.EM or CR0.TS (isa.md §8.2); every x87 instruction marks
// XINUSE[0], FNINIT included (measured).
function gate(): bool {
  if (load<u64>(STATE + S_CR0) & (CR0_EM | CR0_TS)) { raise(X86_TRAP_NM, 0, false); return false; }
  touch(1);
  return true;
}
// FIP for non-control instructions (Intel; AMD keeps the pointers only while
// an exception is pending, so its images carry zeros here).
function note_ip(r: usize): void {
  if (load<u32>(STATE + S_VENDOR) == 1) return;
  store<u64>(XSTATE + X_FIP, blk_rip + <u64>load<u16>(r, 2));
  store<u16>(XSTATE + X_FOP, 0);
  store<u64>(XSTATE + X_FDP, 0);
}
// ES (and B) summarise UNMASKED exceptions only; with FCW.IM set (the
// default) an invalid operation just records IE.
function invalid(stack_fault: bool, overflow: bool): void {
  let f = fsw() | FSW_IE;
  if (!(load<u16>(XSTATE + X_FCW) & 1)) f |= FSW_ES | 0x8000;
  if (stack_fault) { f |= FSW_SF; f = overflow ? f | FSW_C1 : f & ~FSW_C1; }
  set_fsw(f);
}

// ---- stack ----
function push(m: u64, e: u32): void {
  const t = (top() - 1) & 7;
  set_top(t);
  if (tagged(t)) { invalid(true, true); put(t, IND_M, IND_E); }
  else put(t, m, e);
  set_tag(t, true);
}
function pop(): void { set_tag(top(), false); set_top(top() + 1); }
// Read ST(i) into rm/re; an empty register is a stack underflow (indefinite).
let rm: u64 = 0;
let re: u32 = 0;
function get(i: u32): bool {
  const p = phys(i);
  if (!tagged(p)) { invalid(true, false); rm = IND_M; re = IND_E; return false; }
  rm = mant(p); re = se(p);
  return true;
}

// ---- conversions ----
// binary64 → 80-bit (exact)
let cm: u64 = 0;
let ce: u32 = 0;
function from_f64(x: f64): void {
  const b = reinterpret<u64>(x);
  const s: u32 = <u32>(b >> 63) << 15;
  const e = <i32>((b >> 52) & 0x7FF);
  const f = b & 0xFFFFFFFFFFFFF;
  if (e == 0x7FF) { cm = (<u64>1 << 63) | (f << 11); ce = s | 0x7FFF; return; }
  if (e == 0) {
    if (f == 0) { cm = 0; ce = s; return; }
    const lz = <i32>clz<u64>(f);
    cm = f << <u64>lz;
    ce = s | <u32>(63 - lz - 1074 + 16383);
    return;
  }
  cm = (<u64>1 << 63) | (f << 11);
  ce = s | <u32>(e - 1023 + 16383);
}
// 80-bit → IEEE format with `fb` fraction bits and exponent bias `bias`
// (binary64: 52/1023, binary32: 23/127), rounding once to nearest even.
function to_ieee(m: u64, e80: u32, fb: u32, bias: i32): u64 {
  const sign: u64 = <u64>(e80 >> 15);
  const eb: u32 = fb == 52 ? 11 : 8;
  const emax: u64 = (<u64>1 << <u64>eb) - 1;
  const sbit = sign << <u64>(fb + eb);
  let e = <i32>(e80 & 0x7FFF);
  if (e == 0x7FFF) {
    if ((m << 1) == 0) return sbit | (emax << <u64>fb);                          // infinity
    return sbit | (emax << <u64>fb) | ((m << 1) >> <u64>(64 - fb)) | (<u64>1 << <u64>(fb - 1));  // quiet NaN
  }
  if (m == 0) return sbit;
  let E = e == 0 ? -16382 : e - 16383;
  if (!(m >> 63)) { const lz = <i32>clz<u64>(m); m <<= <u64>lz; E -= lz; }
  // value = m/2^63 · 2^E; keep fb+1 bits (or fewer for a subnormal result)
  let shift = 63 - <i32>fb;
  const emin = 1 - bias;
  if (E < emin) shift += emin - E;
  let q: u64, rem: u64, half: u64;
  if (shift >= 64) { q = 0; rem = shift == 64 ? m : (m != 0 ? 1 : 0); half = shift == 64 ? <u64>1 << 63 : <u64>-1; if (shift > 64) rem = 0; }
  else { q = m >> <u64>shift; rem = m & ((<u64>1 << <u64>shift) - 1); half = <u64>1 << <u64>(shift - 1); }
  if (rem > half || (rem == half && (q & 1))) q++;
  let biased: i64;
  if (E < emin) {
    // subnormal (or rounded up into the smallest normal)
    biased = (q >> <u64>fb) ? 1 : 0;
    return sbit | (<u64>biased << <u64>fb) | (q & ((<u64>1 << <u64>fb) - 1));
  }
  if (q >> <u64>(fb + 1)) { q >>= 1; E++; }
  biased = <i64>E + <i64>bias;
  if (biased >= <i64>emax) return sbit | (emax << <u64>fb);                     // overflow → infinity
  return sbit | (<u64>biased << <u64>fb) | (q & ((<u64>1 << <u64>fb) - 1));
}
@inline function to_f64(m: u64, e: u32): f64 { return reinterpret<f64>(to_ieee(m, e, 52, 1023)); }

// Does the 80-bit value fit in `bits` significant bits (normal range)?
function exact_in(m: u64, e: u32, bits: u32): bool {
  if ((e & 0x7FFF) == 0x7FFF || m == 0) return true;
  return (m << <u64>bits) == 0;
}

// integer → 80-bit (exact)
function from_int(v: i64): void {
  if (v == 0) { cm = 0; ce = 0; return; }
  const s: u32 = v < 0 ? 0x8000 : 0;
  const a: u64 = v < 0 ? <u64>(-v) : <u64>v;
  const lz = <u32>clz<u64>(a);
  cm = a << <u64>lz;
  ce = s | (16383 + 63 - lz);
}
// 80-bit → integer with FCW.RC; false when out of range (integer indefinite)
let iv: i64 = 0;
function to_int(m: u64, e80: u32, bits: u32): bool {
  const e = <i32>(e80 & 0x7FFF);
  const neg = (e80 >> 15) != 0;
  if (e == 0x7FFF) return false;
  if (m == 0) { iv = 0; return true; }
  const E = e - 16383;
  if (E >= 64) return false;
  let q: u64, rem: u64 = 0, half: u64 = 0, exact = true;
  if (E >= 63) q = m;
  else if (E < -1) { q = 0; rem = 1; half = 2; exact = false; }
  else {
    const sh = <u64>(63 - E);
    q = m >> sh; rem = m & ((<u64>1 << sh) - 1); half = <u64>1 << (sh - 1);
    exact = rem == 0;
  }
  if (!exact) {
    const rc = (<u32>load<u16>(XSTATE + X_FCW) >> 10) & 3;
    if (rc == 0) { if (rem > half || (rem == half && (q & 1))) q++; }
    else if (rc == 1) { if (neg) q++; }
    else if (rc == 2) { if (!neg) q++; }
    set_fsw(fsw() | 0x20);                                   // precision (inexact)
  }
  const lim: u64 = <u64>1 << <u64>(bits - 1);
  if (neg ? q > lim : q >= lim) return false;
  iv = neg ? -<i64>q : <i64>q;
  return true;
}

// ---- memory operands ----
// FMT: 0 m32fp, 1 m64fp, 2 m80fp, 3 m16int, 4 m32int, 5 m64int
function fmt_size(f: u32): u32 { return f == 0 ? 4 : f == 1 ? 8 : f == 2 ? 10 : f == 3 ? 2 : f == 4 ? 4 : 8; }
function load_mem(r: usize, FMT: u32): bool {
  const n = fmt_size(FMT);
  const lin = mem_lin(r, n, false);
  if (fault_pending) return false;
  const seg = <u32>load<u8>(r, R_SEG);
  if (FMT == 2) {
    const m = ld(lin, 8, seg);
    if (fault_pending) return false;
    const e = <u32>ld(lin + 8, 2, seg);
    if (fault_pending) return false;
    cm = m; ce = e;
    return true;
  }
  const v = ld(lin, n, seg);
  if (fault_pending) return false;
  if (FMT == 0) from_f64(<f64>reinterpret<f32>(<u32>v));
  else if (FMT == 1) from_f64(reinterpret<f64>(v));
  else if (FMT == 3) from_int(<i64><i16>v);
  else if (FMT == 4) from_int(<i64><i32>v);
  else from_int(<i64>v);
  return true;
}
function store_mem(r: usize, FMT: u32, m: u64, e: u32): bool {
  const n = fmt_size(FMT);
  const lin = mem_lin(r, n, true);
  if (fault_pending) return false;
  const seg = <u32>load<u8>(r, R_SEG);
  if (!probe_write(lin, n, seg)) return false;
  if (FMT == 2) return st(lin, 8, m, seg) && st(lin + 8, 2, <u64>e, seg);
  let v: u64;
  if (FMT == 0) { v = to_ieee(m, e, 23, 127); if (!exact_in(m, e, 24)) set_fsw(fsw() | 0x20); }
  else if (FMT == 1) { v = to_ieee(m, e, 52, 1023); if (!exact_in(m, e, 53)) set_fsw(fsw() | 0x20); }
  else {
    const bits: u32 = FMT == 3 ? 16 : FMT == 4 ? 32 : 64;
    if (to_int(m, e, bits)) v = <u64>iv;
    else { invalid(false, false); v = <u64>1 << <u64>(bits - 1); }
  }
  return st(lin, n, v, seg);
}

// ---- instructions ----
// D9 /0, DD /0, DB /5, DF /0, DB /0, DF /5: FLD / FILD
export function fld_mem(r: usize, FMT: u32): i32 {
  if (!gate()) return ST_FAULT;
  if (!load_mem(r, FMT)) return ST_FAULT;
  push(cm, ce);
  note_ip(r);
  return ST_OK;
}
// D9 /2 /3, DD /2 /3, DB /7, DF /2 /3, DB /2 /3, DF /7: FST(P) / FIST(P)
export function fst_mem(r: usize, FMT: u32, POP: bool): i32 {
  if (!gate()) return ST_FAULT;
  get(0);
  if (!store_mem(r, FMT, rm, re)) return ST_FAULT;
  if (POP) pop();
  note_ip(r);
  return ST_OK;
}
// D9 C0+i FLD ST(i)
export function fld_sti(r: usize): i32 {
  if (!gate()) return ST_FAULT;
  get(<u32>load<u8>(r, R_MODRM) & 7);
  push(rm, re);
  note_ip(r);
  return ST_OK;
}
// DD D0+i FST ST(i), DD D8+i FSTP ST(i)
export function fst_sti(r: usize, POP: bool): i32 {
  if (!gate()) return ST_FAULT;
  get(0);
  const p = phys(<u32>load<u8>(r, R_MODRM) & 7);
  put(p, rm, re); set_tag(p, true);
  if (POP) pop();
  note_ip(r);
  return ST_OK;
}
// D9 C8+i FXCH ST(i)
export function fxch(r: usize): i32 {
  if (!gate()) return ST_FAULT;
  const i = <u32>load<u8>(r, R_MODRM) & 7;
  get(0); const m0 = rm, e0 = re;
  get(i);
  const p0 = phys(0), pi = phys(i);
  put(p0, rm, re); put(pi, m0, e0);
  set_tag(p0, true); set_tag(pi, true);
  note_ip(r);
  return ST_OK;
}
// D9 E8.. constants: 0 1.0, 1 log2(10), 2 log2(e), 3 pi, 4 log10(2), 5 ln(2), 6 +0.0
// (the 64-bit-mantissa values as rounded to nearest, SDM Vol. 1 §8.3.7)
const KM = memory.data<u64>([0x8000000000000000, 0xD49A784BCD1B8AFE, 0xB8AA3B295C17F0BC, 0xC90FDAA22168C235,
  0x9A209A84FBCFF799, 0xB17217F7D1CF79AC, 0]);
const KE = memory.data<u16>([0x3FFF, 0x4000, 0x3FFF, 0x4000, 0x3FFD, 0x3FFE, 0]);
export function fconst(r: usize, K: u32): i32 {
  if (!gate()) return ST_FAULT;
  push(load<u64>(KM + K * 8), <u32>load<u16>(KE + K * 2));
  note_ip(r);
  return ST_OK;
}
// D9 E0 FCHS, D9 E1 FABS
export function fsign(r: usize, ABS: bool): i32 {
  if (!gate()) return ST_FAULT;
  if (get(0)) put(phys(0), rm, ABS ? re & 0x7FFF : re ^ 0x8000);
  note_ip(r);
  return ST_OK;
}

// Arithmetic. OP: 0 add, 1 mul, 2 com, 3 comp, 4 sub, 5 subr, 6 div, 7 divr.
// The precision exception (PE) is raised when the binary64 result is not
// exact, detected with error-free transformations (TwoSum, Dekker's product).
function arith(OP: u32, a: f64, b: f64): f64 {
  let x = a, y = b;
  if (OP == 5 || OP == 7) { x = b; y = a; }
  let res: f64;
  let inexact = false;
  if (OP == 0 || OP == 4 || OP == 5) {
    if (OP != 0) y = -y;
    res = x + y;
    const bb = res - x;
    inexact = isFinite(res) && ((x - (res - bb)) + (y - bb)) != 0;
  } else if (OP == 1) {
    res = x * y;
    inexact = isFinite(res) && two_prod_err(x, y, res) != 0;
  } else {
    res = x / y;
    inexact = isFinite(res) && y != 0 && (x - res * y != 0 || two_prod_err(res, y, res * y) != 0);
  }
  if (inexact) set_fsw(fsw() | 0x20);
  return res;
}
// Dekker: the rounding error of p = a·b without FMA
function two_prod_err(a: f64, b: f64, p: f64): f64 {
  const C: f64 = 134217729.0;   // 2^27 + 1
  const a1 = a * C - (a * C - a), a2 = a - a1;
  const b1 = b * C - (b * C - b), b2 = b - b1;
  return ((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2;
}
function compare(a: f64, b: f64): void {
  let f = fsw() & ~(FSW_C0 | FSW_C2 | FSW_C3 | FSW_C1);
  if (a != a || b != b) { f |= FSW_C0 | FSW_C2 | FSW_C3; set_fsw(f); invalid(false, false); return; }
  if (a < b) f |= FSW_C0; else if (a == b) f |= FSW_C3;
  set_fsw(f);
}
// D8 /op m32fp, DC /op m64fp, DA /op m32int, DE /op m16int
export function farith_mem(r: usize, OP: u32, FMT: u32): i32 {
  if (!gate()) return ST_FAULT;
  if (!load_mem(r, FMT)) return ST_FAULT;
  const b = to_f64(cm, ce);
  get(0);
  const a = to_f64(rm, re);
  if (OP == 2 || OP == 3) { compare(a, b); if (OP == 3) pop(); note_ip(r); return ST_OK; }
  from_f64(arith(OP, a, b));
  put(phys(0), cm, ce);
  note_ip(r);
  return ST_OK;
}
// D8 /op ST(0),ST(i); DC /op ST(i),ST(0) (sub/div operands reversed); DE /op …P
export function farith_reg(r: usize, OP: u32, TO_STI: bool, POP: bool): i32 {
  if (!gate()) return ST_FAULT;
  const i = <u32>load<u8>(r, R_MODRM) & 7;
  get(0); const a = to_f64(rm, re);
  get(i); const b = to_f64(rm, re);
  if (OP == 2 || OP == 3) { compare(a, b); if (OP == 3) pop(); note_ip(r); return ST_OK; }
  if (TO_STI) from_f64(arith(OP, b, a)); else from_f64(arith(OP, a, b));
  put(phys(TO_STI ? i : 0), cm, ce);
  if (POP) pop();
  note_ip(r);
  return ST_OK;
}
// DB F0+i FCOMI, DB E8+i FUCOMI, DF F0+i FCOMIP, DF E8+i FUCOMIP: ZF PF CF
export function fcomi(r: usize, POP: bool): i32 {
  if (!gate()) return ST_FAULT;
  get(0); const a = to_f64(rm, re);
  get(<u32>load<u8>(r, R_MODRM) & 7); const b = to_f64(rm, re);
  let f: u64 = 0;
  if (a != a || b != b) f = ZF | PF | CF;
  else if (a < b) f = CF;
  else if (a == b) f = ZF;
  set_arith(f, ZF | PF | CF | OF | SF | AF);
  set_fsw(fsw() & ~FSW_C1);
  if (POP) pop();
  note_ip(r);
  return ST_OK;
}

// ---- control ----
// DB E3 FNINIT: FCW 037F, FSW 0, all empty; pointers cleared
export function fninit(r: usize): i32 {
  if (!gate()) return ST_FAULT;
  store<u16>(XSTATE + X_FCW, 0x37F);
  set_fsw(0);
  store<u8>(XSTATE + X_FTW, 0);
  store<u16>(XSTATE + X_FOP, 0);
  store<u64>(XSTATE + X_FIP, 0);
  store<u64>(XSTATE + X_FDP, 0);
  return ST_OK;
}
// DB E2 FNCLEX
export function fnclex(r: usize): i32 {
  if (!gate()) return ST_FAULT;
  set_fsw(fsw() & 0x7F00);
  return ST_OK;
}
// D9 /5 FLDCW m16, D9 /7 FNSTCW m16, DD /7 FNSTSW m16, DF E0 FNSTSW AX
export function fcw(r: usize, OP: u32): i32 {
  if (!gate()) return ST_FAULT;
  if (OP == 3) { wrreg(RAX, 16, <u64>fsw()); return ST_OK; }
  const lin = mem_lin(r, 2, OP != 0);
  if (fault_pending) return ST_FAULT;
  const seg = <u32>load<u8>(r, R_SEG);
  if (OP == 0) {
    const v = ld(lin, 2, seg);
    if (fault_pending) return ST_FAULT;
    store<u16>(XSTATE + X_FCW, <u16>(v & 0x1F7F) | 0x40);
    return ST_OK;
  }
  return st(lin, 2, <u64>(OP == 1 ? load<u16>(XSTATE + X_FCW) : <u16>fsw()), seg) ? ST_OK : ST_FAULT;
}
// D9 F7 FINCSTP, D9 F6 FDECSTP, DD C0+i FFREE
export function fstack(r: usize, OP: u32): i32 {
  if (!gate()) return ST_FAULT;
  if (OP == 0) set_top(top() + 1);
  else if (OP == 1) set_top(top() - 1);
  else set_tag(phys(<u32>load<u8>(r, R_MODRM) & 7), false);
  set_fsw(fsw() & ~FSW_C1);
  return ST_OK;
}
// 9B FWAIT: #NM only when CR0.TS and CR0.MP are both set
export function fwait(r: usize): i32 {
  if ((load<u64>(STATE + S_CR0) & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP)) return raise(X86_TRAP_NM, 0, false);
  return ST_OK;
}
