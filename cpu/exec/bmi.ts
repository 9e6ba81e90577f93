// BMI1 / BMI2 handlers (rows in cpu/gen/opcodes/bmi.ts). Cold: ordinary
// functions with the form as a value; the operand size is read from VEX.W.
//
// SDM Vol. 2: ANDN/BEXTR/BLSI/BLSMSK/BLSR (BMI1), BZHI/MULX/PDEP/PEXT/RORX/
// SARX/SHLX/SHRX (BMI2).
//   operand size  32, or 64 with VEX.W1 in 64-bit mode (VEX.W is ignored in
//                 32-bit mode); 32-bit results zero-extend in 64-bit mode.
//   registers     outside 64-bit mode VEX.vvvv[3] and VEX.B are ignored
//                 (only eight GPRs; done by the decoder).
//   #UD           VEX.L1 and the missing mandatory-prefix forms (decoder),
//                 real-address and virtual-8086 mode (VEX is not recognised).
//                 Not gated on CPUID BMI1/BMI2: see cpu/layout.ts, FEAT_*.
//   flags         ANDN: SF ZF; CF OF = 0. BEXTR: ZF; CF OF = 0.
//                 BLSI: SF ZF, CF = (src != 0), OF = 0. BLSMSK: SF, CF = (src == 0),
//                 ZF OF = 0. BLSR: SF ZF, CF = (src == 0), OF = 0.
//                 BZHI: SF ZF, CF = (index > size-1), OF = 0.
//                 MULX/PDEP/PEXT/RORX/SxRX: none.
//   undefined     AF and PF (and SF for BEXTR). Measured on Zen 4 (test/cpu/bmi.test.ts):
//                 PF from the result's low byte; AF = 0, except BEXTR: AF = 1; SF = 0.
//                 Intel (not measurable here): PF from the result, AF = 0 (as QEMU
//                 models a logical operation's flags).
import { read_E, mode64 } from "./operand";
import { rdreg, wrreg, CF, OF, AF, ZF, SF, PF } from "../state";
import { STATE, S_MODE, S_VENDOR, MODE_PE, MODE_VM86 } from "../layout";
import { set_arith } from "../flags";
import { R_REG, R_IMM, R_VEX, V_VVVV, V_W } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT, raise_ud } from "../except/fault";

@inline function parity(v: u64): u64 { return (popcnt<u32>(<u32>v & 0xFF) & 1) == 0 ? PF : 0; }
@inline function amd(): bool { return load<u32>(STATE + S_VENDOR) == 1; }

// VEX is #UD in real-address and virtual-8086 mode.
@inline function vex_ok(): bool {
  const m = load<u32>(STATE + S_MODE);
  return (m & MODE_PE) != 0 && (m & MODE_VM86) == 0;
}
@inline function opsize(r: usize): u32 { return (load<u32>(r, R_VEX) & V_W) != 0 && mode64() ? 64 : 32; }
// register byte offsets (outside 64-bit mode the decoder already drops VEX.B
// and vvvv[3], and VEX.R̄ is 1 there, so these name GPRs 0..7)
@inline function reg_g(r: usize): u32 { return <u32>load<u8>(r, R_REG); }
@inline function reg_b(r: usize): u32 { return (load<u32>(r, R_VEX) & V_VVVV) << 3; }
@inline function src_e(r: usize, S: u32, M: bool): u64 { return read_E(r, S, M); }
@inline function msk(S: u32): u64 { return S == 64 ? <u64>-1 : 0xFFFFFFFF; }
@inline function sf(v: u64, S: u32): u64 { return ((v >> <u64>(S - 1)) & 1) != 0 ? SF : 0; }
@inline function zf(v: u64): u64 { return v == 0 ? ZF : 0; }
const ALL: u64 = CF | PF | AF | ZF | SF | OF;

// The architecturally undefined AF/PF of ANDN/BLS*/BZHI: PF from the
// result's low byte, AF = 0 (measured on Zen 4; QEMU's model for Intel).
@inline function undef(res: u64): u64 { return parity(res); }

// VEX.NP.0F38 F2 /r ANDN Gy, By, Ey: Gy = ~By & Ey
export function bmi_andn(r: usize, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  const e = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  const res = ~rdreg(reg_b(r), S) & e & msk(S);
  wrreg(reg_g(r), S, res);
  set_arith(sf(res, S) | zf(res) | undef(res), ALL);
  return ST_OK;
}

// VEX.NP.0F38 F3 /1 BLSR, /2 BLSMSK, /3 BLSI  By, Ey
export function bmi_bls(r: usize, k: u32, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  const e = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  let res: u64, f: u64;
  if (k == 1) { res = (e - 1) & e & msk(S); f = (e == 0 ? CF : 0) | zf(res); }
  else if (k == 2) { res = ((e - 1) ^ e) & msk(S); f = e == 0 ? CF : 0; }
  else { res = (0 - e) & e & msk(S); f = (e != 0 ? CF : 0) | zf(res); }
  res &= msk(S);
  wrreg(reg_b(r), S, res);
  set_arith(f | sf(res, S) | undef(res), ALL);
  return ST_OK;
}

// VEX.NP.0F38 F5 /r BZHI Gy, Ey, By: clear the bits from index By[7:0] up
export function bmi_bzhi(r: usize, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  const e = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  const n = rdreg(reg_b(r), S) & 0xFF;
  let res = e;
  if (n < <u64>S) res = e & ((<u64>1 << n) - 1);
  wrreg(reg_g(r), S, res);
  set_arith((n > <u64>(S - 1) ? CF : 0) | sf(res, S) | zf(res) | undef(res), ALL);
  return ST_OK;
}

// VEX.F2.0F38 F5 /r PDEP, VEX.F3.0F38 F5 /r PEXT  Gy, By, Ey (Ey is the mask)
export function bmi_pdep(r: usize, dep: bool, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  let m = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  const src = rdreg(reg_b(r), S);
  let res: u64 = 0;
  let k: u64 = 1;   // next bit of the packed side
  while (m != 0) {
    const low = m & (0 - m);
    if (dep) { if (src & k) res |= low; }
    else if (src & low) res |= k;
    k <<= 1;
    m ^= low;
  }
  wrreg(reg_g(r), S, res);
  return ST_OK;
}

// VEX.F2.0F38 F6 /r MULX Gy(high), By(low), Ey: unsigned EDX/RDX * Ey, flags unchanged.
// With Gy = By the register receives the high half.
export function bmi_mulx(r: usize, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  const e = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  const d = rdreg(2 * 8, S);
  let lo: u64, hi: u64;
  if (S == 64) {
    const a0 = d & 0xFFFFFFFF, a1 = d >> 32, b0 = e & 0xFFFFFFFF, b1 = e >> 32;
    const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const mid = (p00 >> 32) + (p01 & 0xFFFFFFFF) + (p10 & 0xFFFFFFFF);
    lo = (p00 & 0xFFFFFFFF) | (mid << 32);
    hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  } else {
    const p = d * e;
    lo = p & 0xFFFFFFFF; hi = p >> 32;
  }
  wrreg(reg_b(r), S, lo);
  wrreg(reg_g(r), S, hi);
  return ST_OK;
}

// VEX.NP.0F38 F7 /r BEXTR Gy, Ey, By: start By[7:0], length By[15:8]
export function bmi_bextr(r: usize, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  const e = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  const c = rdreg(reg_b(r), S);
  const start = c & 0xFF, len = (c >> 8) & 0xFF;
  let res: u64 = 0;
  if (start < <u64>S) {
    res = e >> start;
    if (len < <u64>S) res &= (<u64>1 << len) - 1;
  }
  wrreg(reg_g(r), S, res);
  set_arith(zf(res) | parity(res) | (amd() ? AF : 0), ALL);
  return ST_OK;
}

// VEX.66/F2/F3.0F38 F7 /r SHLX/SHRX/SARX Gy, Ey, By (k: 0 SHL, 1 SHR, 2 SAR); flags unchanged
export function bmi_shx(r: usize, k: u32, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  const e = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  const n = rdreg(reg_b(r), S) & <u64>(S - 1);
  let res: u64;
  if (k == 0) res = e << n;
  else if (k == 1) res = e >> n;
  else res = S == 64 ? <u64>(<i64>e >> <i64>n) : <u64>(<i64>(<i32><u32>e) >> <i64>n);
  wrreg(reg_g(r), S, res & msk(S));
  return ST_OK;
}

// VEX.F2.0F3A F0 /r ib RORX Gy, Ey, Ib; flags unchanged
export function bmi_rorx(r: usize, M: bool): i32 {
  if (!vex_ok()) return raise_ud();
  const S = opsize(r);
  const e = src_e(r, S, M);
  if (fault_pending) return ST_FAULT;
  const n = load<u64>(r, R_IMM) & <u64>(S - 1);
  const res = n == 0 ? e : ((e >> n) | (e << (<u64>S - n))) & msk(S);
  wrreg(reg_g(r), S, res);
  return ST_OK;
}
