// Legacy-mode-only arithmetic: the BCD/ASCII adjusts DAA DAS AAA AAS AAM AAD,
// SALC, BOUND and ARPL (all #UD in 64-bit mode; the decode table selects on
// the mode, 63 is MOVSXD there). SDM Vol. 2 pages of each.
//
// Flags the SDM leaves undefined follow silicon. AMD values were measured on
// this host (Zen 4) in compatibility mode through the native harness over
// every AL × AF × CF input (test/cpu/bcd.test.ts runs that differential):
//   DAA/DAS  OF = signed overflow of AL ± the whole adjustment (06/60/66)
//   AAA/AAS  SF/ZF/PF/OF as for the 16-bit AX ± 0106h, before AL is masked
//            (SF/ZF/PF of AX itself and OF = 0 when there is no adjustment)
//   AAM      OF = AF = CF = 0
//   AAD      OF/AF/CF of the 8-bit add AL + AH·imm8
// Intel (not measurable on this host; public reports):
//   AAA/AAS  SF/ZF/PF from the final (masked) AL: unicorn-engine/unicorn
//            PR #2311 ("real x86 CPUs ... based on the masked AL result")
//   AAD      OF/AF/CF "set consistently with any other integer operation",
//            i.e. as for the add: R. Collins, "Undocumented OpCodes: AAD",
//            x86.ddj.com/secrets/opcodes/aad.htm
//   DAA/DAS OF, AAA/AAS OF and AAM OF/AF/CF: no public measurement found;
//            the AMD values are used.
import { STATE, S_MODE, S_VENDOR, MODE_PE, MODE_VM86 } from "../layout";
import { rd16, wr16, rd8, wr8, RAX, CF, PF, AF, ZF, SF, OF, ARITH_FLAGS } from "../state";
import { get_cf, get_af, set_arith } from "../flags";
import { R_IMM, R_REG, R_SEG } from "../decode/decoder";
import { read_E, write_E, read_G, mem_lin, sext } from "./operand";
import { ld } from "../mmu/access";
import { fault_pending, raise, raise_ud, ST_OK, ST_FAULT, X86_TRAP_DE, X86_TRAP_BR } from "../except/fault";

@inline function parity(v: u32): u64 { return (popcnt<u32>(v & 0xFF) & 1) == 0 ? PF : 0; }
@inline function szp8(v: u32): u64 { return ((v & 0x80) ? SF : 0) | ((v & 0xFF) == 0 ? ZF : 0) | parity(v); }
@inline function szp16(v: u32): u64 { return ((v & 0x8000) ? SF : 0) | ((v & 0xFFFF) == 0 ? ZF : 0) | parity(v); }
@inline function amd(): bool { return load<u32>(STATE + S_VENDOR) == 1; }

// 27 DAA, 2F DAS
export function daa_das(r: usize, SUB: bool): i32 {
  const old_al = <u32>rd8(RAX);
  const old_cf = get_cf() != 0;
  const af_in = get_af() != 0;
  let adj: u32 = 0;
  let cf = false, af = false;
  if ((old_al & 0xF) > 9 || af_in) {
    adj = 6;
    af = true;
    cf = old_cf || (SUB ? old_al < 6 : old_al + 6 > 0xFF);
  }
  if (old_al > 0x99 || old_cf) { adj += 0x60; cf = true; }
  else if (!SUB) cf = false;
  const al = (SUB ? old_al - adj : old_al + adj) & 0xFF;
  wr8(RAX, <u8>al);
  const ov = SUB ? ((old_al ^ adj) & (old_al ^ al) & 0x80) : ((old_al ^ al) & (adj ^ al) & 0x80);
  set_arith(szp8(al) | (cf ? CF : 0) | (af ? AF : 0) | (ov ? OF : 0), ARITH_FLAGS);
  return ST_OK;
}

// 37 AAA, 3F AAS
export function aaa_aas(r: usize, SUB: bool): i32 {
  const ax = <u32>rd16(RAX);
  let t = ax;
  let f: u64 = 0;
  if ((ax & 0xF) > 9 || get_af() != 0) {
    t = (SUB ? ax - 0x106 : ax + 0x106) & 0xFFFF;
    f = CF | AF;
    // OF of the 16-bit AX ± 0106h
    if ((SUB ? (ax ^ 0x106) & (ax ^ t) : (ax ^ t) & (0x106 ^ t)) & 0x8000) f |= OF;
  }
  const res = t & 0xFF0F;
  wr16(RAX, <u16>res);
  f |= amd() ? szp16(t) : szp8(res & 0xFF);
  set_arith(f, ARITH_FLAGS);
  return ST_OK;
}

// D4 ib AAM: AH = AL / imm8, AL = AL mod imm8; imm8 = 0 is #DE
export function aam(r: usize): i32 {
  const b = <u32>load<u64>(r, R_IMM) & 0xFF;
  if (b == 0) return raise(X86_TRAP_DE, 0, false);
  const al = <u32>rd8(RAX);
  const lo = al % b;
  wr16(RAX, <u16>(((al / b) << 8) | lo));
  set_arith(szp8(lo), ARITH_FLAGS);
  return ST_OK;
}

// D5 ib AAD: AL = AL + AH * imm8, AH = 0; OF/AF/CF as for that 8-bit add
export function aad(r: usize): i32 {
  const b = <u32>load<u64>(r, R_IMM) & 0xFF;
  const ax = <u32>rd16(RAX);
  const a = ax & 0xFF;
  const m = ((ax >> 8) * b) & 0xFF;
  const al = (a + m) & 0xFF;
  wr16(RAX, <u16>al);
  let f = szp8(al);
  if (a + m > 0xFF) f |= CF;
  if ((a ^ m ^ al) & 0x10) f |= AF;
  if ((a ^ al) & (m ^ al) & 0x80) f |= OF;
  set_arith(f, ARITH_FLAGS);
  return ST_OK;
}

// D6 SALC: AL = CF ? FF : 00 (undocumented, flags unchanged)
export function salc(r: usize): i32 {
  wr8(RAX, get_cf() != 0 ? 0xFF : 0);
  return ST_OK;
}

// 62 /r BOUND Gv,Ma: #BR unless lower <= Gv <= upper (signed), bounds at [m], [m+size]
export function bound(r: usize, S: u32): i32 {
  const n = S >> 3;
  const s = <u32>load<u8>(r, R_SEG);
  const lin = mem_lin(r, 2 * n, false);
  if (fault_pending) return ST_FAULT;
  const lo = ld(lin, n, s);
  if (fault_pending) return ST_FAULT;
  const hi = ld(lin + <u64>n, n, s);
  if (fault_pending) return ST_FAULT;
  const i = <i64>sext(read_G(r, S), S);
  if (i < <i64>sext(lo, S) || i > <i64>sext(hi, S)) return raise(X86_TRAP_BR, 0, false);
  return ST_OK;
}

// 63 /r ARPL Ew,Gw (protected mode only): raise the RPL of Ew to that of Gw.
// Memory is written only when the RPL changes.
export function arpl(r: usize, M: bool): i32 {
  const m = load<u32>(STATE + S_MODE);
  if (!(m & MODE_PE) || (m & MODE_VM86)) return raise_ud();
  const d = read_E(r, 16, M);
  if (M && fault_pending) return ST_FAULT;
  const src = <u32>read_G(r, 16) & 3;
  if ((<u32>d & 3) < src) {
    if (!write_E(r, 16, M, (d & ~<u64>3) | <u64>src)) return ST_FAULT;
    set_arith(ZF, ZF);
  } else set_arith(0, ZF);
  return ST_OK;
}
