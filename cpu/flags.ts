// Lazy arithmetic flags. An ALU instruction stores its kind, size, sources and
// (size-masked) result; CF/PF/AF/ZF/SF/OF are computed only when something
// reads them. With LF_OP = LF_NONE the flags live in S_RFLAGS.
//
// Architecturally undefined flags follow the vendor in S_VENDOR (0 Intel,
// 1 AMD), as measured on silicon by test/cpu/differential.test.ts.
import { STATE, S_RFLAGS, S_LF_OP, S_LF_RES, S_LF_A, S_LF_B, S_LF_CF, S_VENDOR } from "./layout";
import { CF, PF, AF, ZF, SF, OF, ARITH_FLAGS } from "./state";

export const LF_NONE: u32 = 0;
export const LF_ADD: u32 = 1;
export const LF_ADC: u32 = 2;
export const LF_SUB: u32 = 3;
export const LF_SBB: u32 = 4;
export const LF_LOGIC: u32 = 5;
export const LF_INC: u32 = 6;
export const LF_DEC: u32 = 7;
export const LF_NEG: u32 = 8;
export const LF_SHL: u32 = 9;
export const LF_SHR: u32 = 10;
export const LF_SAR: u32 = 11;

@inline export function size_mask(size: u32): u64 {
  return size == 64 ? <u64>-1 : ((<u64>1 << <u64>size) - 1);
}
@inline function sign_bit(v: u64, size: u32): u64 { return (v >> <u64>(size - 1)) & 1; }
@inline function sext(v: u64, size: u32): i64 {
  const sh = <u64>(64 - size);
  return (<i64>(v << sh)) >> sh;
}

// ---- recording ----
@inline export function set_lazy(op: u32, size: u32, res: u64, a: u64, b: u64): void {
  store<u32>(STATE + S_LF_OP, op | (size << 8));
  store<u64>(STATE + S_LF_RES, res);
  store<u64>(STATE + S_LF_A, a);
  store<u64>(STATE + S_LF_B, b);
}
@inline export function set_lazy_cf(cf: u64): void { store<u64>(STATE + S_LF_CF, cf); }

@inline function lf_op(): u32 { return load<u32>(STATE + S_LF_OP); }
@inline function lf_res(): u64 { return load<u64>(STATE + S_LF_RES); }
@inline function lf_a(): u64 { return load<u64>(STATE + S_LF_A); }
@inline function lf_b(): u64 { return load<u64>(STATE + S_LF_B); }

// ---- individual flags ----
export function get_cf(): u64 {
  const op = lf_op();
  const kind = op & 0xFF;
  const size = op >> 8;
  const a = lf_a(), b = lf_b(), res = lf_res();
  switch (kind) {
    case LF_NONE: return load<u64>(STATE + S_RFLAGS) & CF;
    case LF_ADD: return res < (a & size_mask(size)) ? 1 : 0;
    case LF_ADC: {
      const am = a & size_mask(size);
      return (res < am || (load<u64>(STATE + S_LF_CF) != 0 && res == am)) ? 1 : 0;
    }
    case LF_SUB: return (a & size_mask(size)) < (b & size_mask(size)) ? 1 : 0;
    case LF_SBB: {
      const am = a & size_mask(size), bm = b & size_mask(size);
      return (am < bm || (load<u64>(STATE + S_LF_CF) != 0 && am == bm)) ? 1 : 0;
    }
    case LF_LOGIC: return 0;
    case LF_INC: case LF_DEC: return load<u64>(STATE + S_LF_CF);
    case LF_NEG: return res != 0 ? 1 : 0;
    case LF_SHL: return b > <u64>size ? 0 : (a >> <u64>(size - <u32>b)) & 1;
    case LF_SHR: return b > <u64>size ? 0 : (a >> (b - 1)) & 1;
    case LF_SAR: return b >= <u64>size ? sign_bit(a, size) : (<u64>(sext(a, size) >> <i64>(b - 1))) & 1;
  }
  return 0;
}

// CF for INC/DEC, which must preserve it: the common producers are inlined (a preceding
// SUB/CMP, logic op, INC/DEC or ADD), the rest go to get_cf(). W1 runs INC after SUB and
// W2 DEC after AND, so the call and its switch were on every iteration.
@inline export function get_cf_fast(): u64 {
  const op = lf_op();
  const kind = op & 0xFF;
  if (kind == LF_SUB) {
    const m = size_mask(op >> 8);
    return (lf_a() & m) < (lf_b() & m) ? 1 : 0;
  }
  if (kind == LF_LOGIC) return 0;
  if (kind == LF_INC || kind == LF_DEC) return load<u64>(STATE + S_LF_CF);
  if (kind == LF_ADD) return lf_res() < (lf_a() & size_mask(op >> 8)) ? 1 : 0;
  return get_cf();
}

export function get_zf(): u64 {
  if ((lf_op() & 0xFF) == LF_NONE) return load<u64>(STATE + S_RFLAGS) & ZF;
  return lf_res() == 0 ? ZF : 0;
}

export function get_sf(): u64 {
  const op = lf_op();
  if ((op & 0xFF) == LF_NONE) return load<u64>(STATE + S_RFLAGS) & SF;
  return sign_bit(lf_res(), op >> 8) != 0 ? SF : 0;
}

export function get_pf(): u64 {
  if ((lf_op() & 0xFF) == LF_NONE) return load<u64>(STATE + S_RFLAGS) & PF;
  return (popcnt<u32>(<u32>lf_res() & 0xFF) & 1) == 0 ? PF : 0;
}

export function get_af(): u64 {
  const op = lf_op();
  const kind = op & 0xFF;
  const a = lf_a(), b = lf_b(), res = lf_res();
  switch (kind) {
    case LF_NONE: return load<u64>(STATE + S_RFLAGS) & AF;
    // INC/DEC record b = 1 and NEG records b = 0, so one formula covers all.
    case LF_ADD: case LF_ADC: case LF_SUB: case LF_SBB:
    case LF_INC: case LF_DEC: case LF_NEG: return (a ^ b ^ res) & AF;
    case LF_LOGIC: return 0;
    // Shifts leave AF undefined. Intel parts clear it; AMD parts set it
    // (AMD measured on Zen 4: test/cpu/shift.test.ts; Intel per QEMU/Bochs, not measurable here).
    case LF_SHL: case LF_SHR: case LF_SAR:
      return load<u32>(STATE + S_VENDOR) == 1 ? AF : 0;
  }
  return 0;
}

export function get_of(): u64 {
  const op = lf_op();
  const kind = op & 0xFF;
  const size = op >> 8;
  const a = lf_a(), b = lf_b(), res = lf_res();
  switch (kind) {
    case LF_NONE: return load<u64>(STATE + S_RFLAGS) & OF;
    case LF_ADD: case LF_ADC: return sign_bit((a ^ res) & (b ^ res), size) != 0 ? OF : 0;
    case LF_SUB: case LF_SBB: return sign_bit((a ^ b) & (a ^ res), size) != 0 ? OF : 0;
    case LF_LOGIC: return 0;
    case LF_INC: return res == (<u64>1 << <u64>(size - 1)) ? OF : 0;
    case LF_DEC: return res == ((<u64>1 << <u64>(size - 1)) - 1) ? OF : 0;
    case LF_NEG: return res == (<u64>1 << <u64>(size - 1)) ? OF : 0;
    // For counts > 1 OF is undefined; SHL computes it as for a count of 1
    // from the final result (MSB xor CF).
    case LF_SHL: return (sign_bit(res, size) ^ get_cf()) != 0 ? OF : 0;
    case LF_SHR: return b == 1 ? (sign_bit(a, size) != 0 ? OF : 0) : shr_of_multi(a, b, res, size);
    case LF_SAR: return 0;
  }
  return 0;
}

// SHR by more than one: OF is undefined. Both flavours give 0 here: the
// Intel model (OF of the last single-bit step = MSB of the value before it)
// is 0 for any count >= 2, and this AMD Zen 4 measured 0 as well
// (test/cpu/shift.test.ts differential cases).
function shr_of_multi(a: u64, b: u64, res: u64, size: u32): u64 {
  const before_last = (a & size_mask(size)) >> (b - 1);
  return sign_bit(before_last, size) != 0 ? OF : 0;
}

// Full RFLAGS with the arithmetic bits materialised; bit 1 always reads 1.
export function get_rflags(): u64 {
  const raw = load<u64>(STATE + S_RFLAGS);
  if ((lf_op() & 0xFF) == LF_NONE) return raw | 2;
  const f = get_cf() | get_pf() | get_af() | get_zf() | get_sf() | get_of();
  return (raw & ~ARITH_FLAGS) | f | 2;
}

// Fold the lazy state into S_RFLAGS (before anything reads or writes RFLAGS
// as a whole, and before partial updates such as CF-only writes).
export function materialize(): void {
  if ((lf_op() & 0xFF) == LF_NONE) return;
  store<u64>(STATE + S_RFLAGS, get_rflags());
  store<u32>(STATE + S_LF_OP, LF_NONE);
}

// Replace the arithmetic flags in `mask` with those of `v`.
export function set_arith(v: u64, mask: u64): void {
  materialize();
  const raw = load<u64>(STATE + S_RFLAGS);
  store<u64>(STATE + S_RFLAGS, (raw & ~mask) | (v & mask));
}

// ---- conditions (Jcc/SETcc/CMOVcc low nibble) ----
// Fast paths for a preceding CMP/SUB: compare the sources directly.
export function cond(cc: u32): bool {
  const op = lf_op();
  const kind = op & 0xFF;
  let r: bool;
  const c = cc >> 1;
  if (kind == LF_SUB) {
    const size = op >> 8;
    const m = size_mask(size);
    const a = lf_a() & m, b = lf_b() & m;
    switch (c) {
      case 1: r = a < b; break;                                // B
      case 2: r = a == b; break;                               // Z
      case 3: r = a <= b; break;                               // BE
      case 6: r = sext(a, size) < sext(b, size); break;        // L
      case 7: r = sext(a, size) <= sext(b, size); break;       // LE
      default: r = slow_cond(c);
    }
  } else if (c == 2 && kind != LF_NONE) {
    r = lf_res() == 0;
  } else {
    r = slow_cond(c);
  }
  return (cc & 1) ? !r : r;
}

// cond() with JZ/JNZ and JB/JNB after CMP/SUB inlined into the caller (Jcc): loop
// branches are mostly these, and cond() is a call plus a switch.
@inline export function cond_fast(cc: u32): bool {
  const op = lf_op();
  const kind = op & 0xFF;
  if ((cc >> 1) == 2 && kind != LF_NONE) return (lf_res() == 0) != ((cc & 1) != 0);
  return cond(cc);
}

function slow_cond(c: u32): bool {
  switch (c) {
    case 0: return get_of() != 0;
    case 1: return get_cf() != 0;
    case 2: return get_zf() != 0;
    case 3: return (get_cf() | get_zf()) != 0;
    case 4: return get_sf() != 0;
    case 5: return get_pf() != 0;
    case 6: return (get_sf() != 0) != (get_of() != 0);
    default: return get_zf() != 0 || ((get_sf() != 0) != (get_of() != 0));
  }
}
