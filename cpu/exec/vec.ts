// SSE/AVX/AVX-512 register moves and integer logic, opmask registers: enough
// to load, move, combine and store every vector component a guest can own
// (isa.md §1, §5, §8.2). Legacy SSE writes leave the bits above 127 alone;
// VEX and EVEX writes zero the destination above the vector length. Each
// write marks the XSAVE components it touched in use (XINUSE, measured on
// silicon, isa.md §5 table).
import {
  STATE, XSTATE, S_CR0, S_CR4, S_CPL, S_RFLAGS, S_XCR0, S_FEAT, S_MODE, S_XINUSE, X_XMM, X_YMMH, X_ZMMH, X_HI16, X_KREG,
  MODE_PE, MODE_VM86, MODE_64, FEAT_AVX, FEAT_AVX512,
} from "../layout";
import { rdreg, wrreg, CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXSAVE, ZF, CF } from "../state";
import { mem_lin } from "./operand";
import { R_REG, R_RM, R_SEG, R_VEX, R_IMM, R_PFX, R_MODRM, V_VVVV, V_L_SHIFT, V_W, V_AAA_SHIFT, V_Z, V_B, V_KIND_SHIFT } from "../decode/decoder";
import { ld, st, probe_write } from "../mmu/access";
import { fault_pending, raise, raise_gp, raise_ud, ST_OK, ST_FAULT, X86_TRAP_NM, X86_TRAP_AC } from "../except/fault";
import { set_arith } from "../flags";
import { touch_vreg, touch_kreg, amd_flavour } from "./xsave";

// ---- register file addressing ----
// Vector register n (0..31) is split across the XSAVE components.
@inline export function xmm_at(n: u32): usize { return n < 16 ? XSTATE + X_XMM + n * 16 : XSTATE + X_HI16 + (n - 16) * 64; }
@inline function yhi_at(n: u32): usize { return n < 16 ? XSTATE + X_YMMH + n * 16 : XSTATE + X_HI16 + (n - 16) * 64 + 16; }
@inline function zhi_at(n: u32): usize { return n < 16 ? XSTATE + X_ZMMH + n * 32 : XSTATE + X_HI16 + (n - 16) * 64 + 32; }
@inline function kreg_at(n: u32): usize { return XSTATE + X_KREG + n * 8; }

export const A = memory.data(64);
export const B = memory.data(64);
export const D = memory.data(64);

export function vget(n: u32, dst: usize, len: u32): void {
  memory.copy(dst, xmm_at(n), 16);
  if (len > 16) memory.copy(dst + 16, yhi_at(n), 16);
  if (len > 32) memory.copy(dst + 32, zhi_at(n), 32);
}
// Write `len` bytes to register n. `zero_upper` (VEX/EVEX) clears the rest up
// to 512 bits. XINUSE: the components of the bytes written — the XMM part
// (bit 1), YMM_Hi128 (2), ZMM_Hi256 (6) for n < 16; Hi16_ZMM (7) for n ≥ 16.
export function vset(n: u32, src: usize, len: u32, zero_upper: bool): void {
  memory.copy(xmm_at(n), src, 16);
  if (len > 16) memory.copy(yhi_at(n), src + 16, 16);
  else if (zero_upper) memory.fill(yhi_at(n), 0, 16);
  if (len > 32) memory.copy(zhi_at(n), src + 32, 32);
  else if (zero_upper) memory.fill(zhi_at(n), 0, 32);
  if (n >= 16) { touch_vreg(n, 0x80, true); return; }
  const data: u64 = len > 32 ? 0x46 : len > 16 ? 0x6 : 0x2;
  touch_vreg(n, data, true);
  if (zero_upper && len < 64) touch_vreg(n, len > 16 ? 0x40 : 0x44, false);
}
// A zero idiom (same register twice, no masking): on AMD the written parts
// return to their init state; on Intel it is an ordinary write.
function vset_zero_idiom(n: u32, len: u32, zero_upper: bool): void {
  memory.fill(D, 0, 64);
  if (!amd_flavour()) { vset(n, D, len, zero_upper); return; }
  memory.fill(xmm_at(n), 0, 16);
  if (len > 16 || zero_upper) memory.fill(yhi_at(n), 0, 16);
  if (len > 32 || zero_upper) memory.fill(zhi_at(n), 0, 32);
  if (n >= 16) { touch_vreg(n, 0x80, false); return; }
  touch_vreg(n, (len > 16 || zero_upper) ? 0x46 : 0x2, false);
}

// ---- enable gates (isa.md §8.2) ----
@inline export function kind(r: usize): u32 { return load<u32>(r, R_VEX) >> V_KIND_SHIFT; }
@inline export function vlen(r: usize): u32 { return 16 << ((load<u32>(r, R_VEX) >> V_L_SHIFT) & 3); }
@inline export function vvvv(r: usize): u32 { return load<u32>(r, R_VEX) & V_VVVV; }

export function gate(r: usize): bool {
  const k = kind(r);
  const c0 = load<u64>(STATE + S_CR0);
  if (k == 0) {
    if ((c0 & CR0_EM) || !(load<u64>(STATE + S_CR4) & CR4_OSFXSR)) { raise_ud(); return false; }
  } else {
    const m = load<u32>(STATE + S_MODE);
    const x = load<u64>(STATE + S_XCR0);
    if (!(m & MODE_PE) || (m & MODE_VM86) || !(load<u64>(STATE + S_CR4) & CR4_OSXSAVE) || (x & 6) != 6 ||
        !(load<u32>(STATE + S_FEAT) & FEAT_AVX)) { raise_ud(); return false; }
    if (k == 2) {
      if ((x & 0xE0) != 0xE0 || !(load<u32>(STATE + S_FEAT) & FEAT_AVX512)) { raise_ud(); return false; }
      // vector registers 16..31 and opmask registers exist only in 64-bit mode
    } else if (vlen(r) > 32) { raise_ud(); return false; }
  }
  if (c0 & CR0_TS) { raise(X86_TRAP_NM, 0, false); return false; }
  return true;
}

// ---- operands ----
// The r/m operand is memory (ModRM.mod != 11b). The SSE/AVX rows read this at
// run time instead of splitting into register and memory handler variants:
// fewer dispatch cases keep the run loop small (W1/W2 MIPS).
@inline export function is_mem(r: usize): bool { return (load<u8>(r, R_MODRM) >> 6) != 3; }
// #AC for a 16-byte-or-wider operand that is not 16-byte aligned while
// alignment checking is on (CPL3, CR0.AM, RFLAGS.AC); measured on Zen 4: the
// legacy unaligned forms (MOVUPS/MOVDQU/LDDQU) and every VEX form fault too,
// and a 32-byte operand needs only 16-byte alignment. Narrower operands are
// checked by the ordinary loads and stores. A non-canonical address is left
// to the #GP/#SS of the access itself.
function ac_wide(lin: u64, len: u32): bool {
  if (len < 16 || !(<u32>lin & 15) || load<u32>(STATE + S_CPL) != 3 ||
      !(load<u64>(STATE + S_CR0) & 0x40000) || !(load<u64>(STATE + S_RFLAGS) & 0x40000)) return false;
  if ((load<u32>(STATE + S_MODE) & MODE_64) && <u64>((<i64>(lin << 16)) >> 16) != lin) return false;
  raise(X86_TRAP_AC, 0, true);
  return true;
}
// Source r/m of `len` bytes into `dst` (register or memory; `align` 0 = none).
// EVEX.b: a memory source is one element (W: 8 bytes, else 4) broadcast to
// every lane. With a register source it would select rounding, which integer
// rows do not have; silicon ignores it there (Zen 4, test/cpu/vec.test.ts).
export function src_rm(r: usize, M: bool, dst: usize, len: u32, align: u32): bool {
  if (M && kind(r) == 2 && (load<u32>(r, R_VEX) & V_B)) {
    const esz: u32 = (load<u32>(r, R_VEX) & V_W) ? 8 : 4;
    const v = ld(mem_lin(r, esz, false), esz, <u32>load<u8>(r, R_SEG));
    if (fault_pending) return false;
    for (let o: u32 = 0; o < len; o += esz) { if (esz == 8) store<u64>(dst + o, v); else store<u32>(dst + o, <u32>v); }
    return true;
  }
  if (!M) { vget(<u32>load<u8>(r, R_RM) >> 3, dst, len); return true; }
  const lin = mem_lin(r, len, false);
  if (fault_pending) return false;
  if (align && (<u32>lin & (align - 1))) { raise_gp(0); return false; }
  if (ac_wide(lin, len)) return false;
  const seg = <u32>load<u8>(r, R_SEG);
  if (len < 8) {
    const v = ld(lin, len, seg);
    if (fault_pending) return false;
    memory.fill(dst, 0, 16);
    if (len == 4) store<u32>(dst, <u32>v); else store<u64>(dst, v);
    return true;
  }
  for (let o: u32 = 0; o < len; o += 8) {
    store<u64>(dst + o, ld(lin + <u64>o, 8, seg));
    if (fault_pending) return false;
  }
  return true;
}
// Store `len` bytes (or only the elements enabled in `emask`, element size
// `esz`) to memory, probing both ends first so a fault writes nothing.
export function dst_mem(r: usize, src: usize, len: u32, align: u32, emask: u64, esz: u32): bool {
  const lin = mem_lin(r, len, true);
  if (fault_pending) return false;
  if (align && (<u32>lin & (align - 1))) { raise_gp(0); return false; }
  if (ac_wide(lin, len)) return false;
  const seg = <u32>load<u8>(r, R_SEG);
  if (!probe_write(lin, len, seg)) return false;
  if (len < 8) return st(lin, len, len == 4 ? <u64>load<u32>(src) : load<u64>(src), seg);
  for (let o: u32 = 0; o < len; o += esz) {
    if (!((emask >> <u64>(o / esz)) & 1)) continue;
    const v = esz == 8 ? load<u64>(src + o) : <u64>load<u32>(src + o);
    if (!st(lin + <u64>o, esz, v, seg)) return false;
  }
  return true;
}

// EVEX opmask: merge (or zero) `res` into the old destination by element.
function apply_mask(r: usize, old: usize, res: usize, len: u32, esz: u32): void {
  const v = load<u32>(r, R_VEX);
  const k = (v >> V_AAA_SHIFT) & 7;
  if (kind(r) != 2 || k == 0) return;
  const m = load<u64>(kreg_at(k));
  const zero = (v & V_Z) != 0;
  for (let e: u32 = 0; e < len / esz; e++) {
    if ((m >> <u64>e) & 1) continue;
    if (zero) memory.fill(res + e * esz, 0, esz);
    else memory.copy(res + e * esz, old + e * esz, esz);
  }
}
function elem_mask(r: usize, len: u32, esz: u32): u64 {
  const v = load<u32>(r, R_VEX);
  const k = (v >> V_AAA_SHIFT) & 7;
  const all: u64 = (len / esz) >= 64 ? <u64>-1 : ((<u64>1 << <u64>(len / esz)) - 1);
  if (kind(r) != 2 || k == 0) return all;
  return load<u64>(kreg_at(k)) & all;
}

// ---- moves ----
// Loads: MOVAPS/MOVUPS/MOVAPD/MOVUPD/MOVDQA/MOVDQU (0F 10/28, 66 0F 6F, F3 0F 6F)
// and their VEX/EVEX forms (EVEX: VMOVDQA32/64, VMOVDQU8/16/32/64, masking by
// element; W gives the element size).
export function vmov_load(r: usize, M: bool, ALIGNED: bool): i32 {
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  if (k != 0 && vvvv(r) != 0 || (load<u32>(r, R_VEX) & V_B)) return raise_ud();   // moves: EVEX.b is #UD, register form too (silicon)
  const len: u32 = k == 0 ? 16 : vlen(r);
  if (!src_rm(r, M, D, len, ALIGNED ? len : 0)) return ST_FAULT;
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  if (k == 2) {
    const esz: u32 = (load<u32>(r, R_VEX) & V_W) ? 8 : 4;
    vget(dn, A, len);
    apply_mask(r, A, D, len, esz);
  }
  vset(dn, D, len, k != 0);
  return ST_OK;
}
// Stores: 0F 11/29, 66 0F 7F, F3 0F 7F and VEX/EVEX forms; register forms
// write the r/m register.
export function vmov_store(r: usize, M: bool, ALIGNED: bool): i32 {
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  if (k != 0 && vvvv(r) != 0 || (load<u32>(r, R_VEX) & V_B)) return raise_ud();
  const len: u32 = k == 0 ? 16 : vlen(r);
  vget(<u32>load<u8>(r, R_REG) >> 3, D, len);
  const esz: u32 = (load<u32>(r, R_VEX) & V_W) ? 8 : 4;
  if (M) {
    if (k == 2 && (load<u32>(r, R_VEX) & V_Z)) return raise_ud();   // no zeroing-masking on stores
    return dst_mem(r, D, len, ALIGNED ? len : 0, elem_mask(r, len, esz), esz) ? ST_OK : ST_FAULT;
  }
  const dn = <u32>load<u8>(r, R_RM) >> 3;
  if (k == 2) { vget(dn, A, len); apply_mask(r, A, D, len, esz); }
  vset(dn, D, len, k != 0);
  return ST_OK;
}

// 66 0F 6E MOVD/MOVQ xmm, r/m32/64 ; 66 0F 7E MOVD/MOVQ r/m32/64, xmm (W selects 64)
export function movd(r: usize, TO_XMM: bool, M: bool): i32 {
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  if (k != 0 && (vvvv(r) != 0 || vlen(r) != 16)) return raise_ud();
  const w64 = (load<u32>(r, R_VEX) & V_W) != 0 || (k == 0 && (load<u8>(r, 11) & 64) != 0);
  const n: u32 = w64 ? 8 : 4;
  const xn = <u32>load<u8>(r, R_REG) >> 3;
  if (TO_XMM) {
    memory.fill(D, 0, 16);
    if (!M) store<u64>(D, rdreg(load<u8>(r, R_RM), n * 8));
    else if (!src_rm(r, true, D, n, 0)) return ST_FAULT;
    // MOVD/MOVQ zero the rest of the XMM register (legacy too)
    vset(xn, D, 16, k != 0);
    return ST_OK;
  }
  const v = n == 8 ? load<u64>(xmm_at(xn)) : <u64>load<u32>(xmm_at(xn));
  if (!M) { wrreg(load<u8>(r, R_RM), n * 8, v); return ST_OK; }
  store<u64>(D, v);
  return dst_mem(r, D, n, 0, 1, n) ? ST_OK : ST_FAULT;
}
// F3 0F 7E MOVQ xmm, xmm/m64 ; 66 0F D6 MOVQ xmm/m64, xmm (upper 64 zeroed)
export function movq_xmm(r: usize, TO_XMM: bool, M: bool): i32 {
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  if (k != 0 && (vvvv(r) != 0 || vlen(r) != 16)) return raise_ud();
  const reg = <u32>load<u8>(r, R_REG) >> 3, rm = <u32>load<u8>(r, R_RM) >> 3;
  memory.fill(D, 0, 16);
  if (TO_XMM) {
    if (M) { if (!src_rm(r, true, D, 8, 0)) return ST_FAULT; }
    else store<u64>(D, load<u64>(xmm_at(rm)));
    vset(reg, D, 16, k != 0);
    return ST_OK;
  }
  store<u64>(D, load<u64>(xmm_at(reg)));
  if (M) return dst_mem(r, D, 8, 0, 1, 8) ? ST_OK : ST_FAULT;
  vset(rm, D, 16, k != 0);
  return ST_OK;
}

// ---- integer logic and arithmetic: PXOR/POR/PAND/PANDN, PADDB/W/D/Q,
// PSUBB/W/D/Q, PCMPEQB/W/D/Q, XORPS/ORPS/ANDPS (same bits), and VEX/EVEX forms.
// OP: 0 xor, 1 or, 2 and, 3 andn, 4 add, 5 sub, 6 cmpeq; ESZ element bytes.
export function vlogic(r: usize, M: bool, OP: u32, ESZ: u32): i32 {
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const len: u32 = k == 0 ? 16 : vlen(r);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  const s1 = k == 0 ? dn : vvvv(r);
  // zero idioms: XOR / ANDN / SUB of a register with itself, unmasked
  if (!M && (OP == 0 || OP == 3 || OP == 5) && (<u32>load<u8>(r, R_RM) >> 3) == s1 &&
      (k != 2 || ((load<u32>(r, R_VEX) >> V_AAA_SHIFT) & 7) == 0)) {
    vset_zero_idiom(dn, len, k != 0);
    return ST_OK;
  }
  // legacy SSE memory operands must be 16-byte aligned; VEX/EVEX need not be
  if (!src_rm(r, M, B, len, k == 0 ? 16 : 0)) return ST_FAULT;
  vget(s1, A, len);
  const esz: u32 = k == 2 ? ((load<u32>(r, R_VEX) & V_W) ? 8 : 4) : ESZ;
  for (let o: u32 = 0; o < len; o += 8) {
    const a = load<u64>(A + o), b = load<u64>(B + o);
    let v: u64 = 0;
    if (OP == 0) v = a ^ b;
    else if (OP == 1) v = a | b;
    else if (OP == 2) v = a & b;
    else if (OP == 3) v = ~a & b;
    else {
      for (let e: u32 = 0; e < 8; e += ESZ) {
        const sh = <u64>(e * 8);
        const m: u64 = ESZ == 8 ? <u64>-1 : ((<u64>1 << <u64>(ESZ * 8)) - 1);
        const x = (a >> sh) & m, y = (b >> sh) & m;
        let z: u64;
        if (OP == 4) z = (x + y) & m;
        else if (OP == 5) z = (x - y) & m;
        else z = x == y ? m : 0;
        v |= z << sh;
      }
    }
    store<u64>(D + o, v);
  }
  if (k == 2) { vget(dn, A, len); apply_mask(r, A, D, len, esz); }
  vset(dn, D, len, k != 0);
  return ST_OK;
}

// VEX 0F 77: VZEROUPPER (L0) zeroes bits 511:128 of registers 0..15 and
// clears XINUSE[2] and [6]; VZEROALL (L1) zeroes them entirely and also
// clears XINUSE[1] (measured). ZMM16..31 are untouched.
export function vzero(r: usize, ALL: bool): i32 {
  if (!gate(r)) return ST_FAULT;
  if (vvvv(r) != 0) return raise_ud();
  const n: u32 = (load<u32>(STATE + S_MODE) & MODE_64) ? 16 : 8;
  for (let i: u32 = 0; i < n; i++) {
    if (ALL) memory.fill(xmm_at(i), 0, 16);
    memory.fill(yhi_at(i), 0, 16);
    memory.fill(zhi_at(i), 0, 32);
  }
  const clear: u64 = ALL ? 0x46 : 0x44;
  store<u64>(STATE + S_XINUSE, load<u64>(STATE + S_XINUSE) & ~clear);
  for (let i: u32 = 0; i < n; i++) touch_vreg(i, clear, false);
  return ST_OK;
}

// ---- opmask registers (VEX-encoded, AVX-512F/BW) ----
// KMOVB/W/D/Q: 0F 90 k,k/m ; 0F 91 m,k ; 0F 92 k,r32/64 ; 0F 93 r32/64,k.
// BITS is the operand width (8/16/32/64) chosen by the row's prefix and W.
export function kmov(r: usize, FORM: u32, BITS: u32, M: bool): i32 {
  if (!gate_k(r)) return ST_FAULT;
  const m: u64 = BITS == 64 ? <u64>-1 : ((<u64>1 << <u64>BITS) - 1);
  const reg = (<u32>load<u8>(r, R_REG) >> 3) & 7, rm = <u32>load<u8>(r, R_RM) >> 3;
  if (FORM == 0) {
    let v: u64;
    if (M) { if (!src_rm(r, true, D, BITS / 8 < 4 ? 4 : BITS / 8, 0)) return ST_FAULT; v = load<u64>(D) & m; }
    else v = load<u64>(kreg_at(rm & 7)) & m;
    store<u64>(kreg_at(reg), v);
    touch_kreg(reg, true);
  } else if (FORM == 1) {
    store<u64>(D, load<u64>(kreg_at(reg)) & m);
    if (!dst_mem(r, D, BITS / 8, 0, 1, BITS / 8)) return ST_FAULT;
    return ST_OK;
  } else if (FORM == 2) {
    store<u64>(kreg_at(reg), rdreg(load<u8>(r, R_RM), BITS == 64 ? 64 : 32) & m);
    touch_kreg(reg, true);
  } else {
    wrreg(load<u8>(r, R_REG), BITS == 64 ? 64 : 32, load<u64>(kreg_at(rm & 7)) & m);
    return ST_OK;
  }
  return ST_OK;
}
function gate_k(r: usize): bool {
  if (!gate(r)) return false;
  if (!(load<u32>(STATE + S_FEAT) & FEAT_AVX512) || (load<u64>(STATE + S_XCR0) & 0xE0) != 0xE0) { raise_ud(); return false; }
  return true;
}
// 0F 98 KORTESTB/W/D/Q: ZF if the OR is zero, CF if it is all ones
export function kortest(r: usize, BITS: u32): i32 {
  if (!gate_k(r)) return ST_FAULT;
  const m: u64 = BITS == 64 ? <u64>-1 : ((<u64>1 << <u64>BITS) - 1);
  const v = (load<u64>(kreg_at((<u32>load<u8>(r, R_REG) >> 3) & 7)) | load<u64>(kreg_at((<u32>load<u8>(r, R_RM) >> 3) & 7))) & m;
  set_arith((v == 0 ? ZF : 0) | (v == m ? CF : 0), 0x8D5);
  return ST_OK;
}
// VEX.L1 0F 41/42/45/46/47: KANDW KANDNW KORW KXNORW KXORW (and B/D/Q by prefix/W)
export function klogic(r: usize, OP: u32, BITS: u32): i32 {
  if (!gate_k(r)) return ST_FAULT;
  const m: u64 = BITS == 64 ? <u64>-1 : ((<u64>1 << <u64>BITS) - 1);
  const a = load<u64>(kreg_at(vvvv(r) & 7)), b = load<u64>(kreg_at((<u32>load<u8>(r, R_RM) >> 3) & 7));
  let v: u64;
  if (OP == 0) v = a & b; else if (OP == 1) v = ~a & b; else if (OP == 2) v = a | b;
  else if (OP == 3) v = ~(a ^ b); else v = a ^ b;
  const dk = (<u32>load<u8>(r, R_REG) >> 3) & 7;
  store<u64>(kreg_at(dk), v & m);
  // KXOR/KANDN of a register with itself is a zero idiom (AMD: back to init)
  const idiom = (OP == 1 || OP == 4) && (vvvv(r) & 7) == ((<u32>load<u8>(r, R_RM) >> 3) & 7);
  touch_kreg(dk, !(idiom && amd_flavour()));
  return ST_OK;
}

// EVEX.66.0F3A.W0/W1 25 /r ib VPTERNLOGD/Q: every result bit is imm8 indexed by
// (dest bit, src1 bit, src2 bit); dest is also the first input. Opmask by element.
export function vpternlog(r: usize, M: bool): i32 {
  if (!gate(r)) return ST_FAULT;
  const len: u32 = vlen(r);
  const esz: u32 = (load<u32>(r, R_VEX) & V_W) ? 8 : 4;
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  if (!src_rm(r, M, B, len, 0)) return ST_FAULT;
  vget(dn, D, len);
  vget(vvvv(r), A, len);
  const imm = <u32>load<u64>(r, R_IMM) & 0xFF;
  const old = memory.data(64);
  memory.copy(old, D, len);
  for (let o: u32 = 0; o < len; o += 8) {
    const d = load<u64>(D + o), a = load<u64>(A + o), b = load<u64>(B + o);
    let v: u64 = 0;
    for (let k: u32 = 0; k < 8; k++) {
      if (!((imm >> k) & 1)) continue;
      v |= ((k & 4) ? d : ~d) & ((k & 2) ? a : ~a) & ((k & 1) ? b : ~b);
    }
    store<u64>(D + o, v);
  }
  apply_mask(r, old, D, len, esz);
  vset(dn, D, len, true);
  return ST_OK;
}

// =====================================================================
// SSE2/SSSE3/SSE4.1 integer and shuffle instructions gcc emits for plain C,
// with their VEX.128/256 forms (AVX/AVX2). Cold handlers: the row passes an
// operation number and element size as values.
//
// Element-wise and 128-bit-lane-wise operations read src1 from A and src2
// from B and write D; 256-bit forms apply each lane operation to both lanes.
// ---------------------------------------------------------------------
// OP numbers (also used by cpu/gen/opcodes/vec.ts)
//  1 addus  2 subus  3 adds  4 subs  5 mullo  6 mulhi(signed)  7 mulhi(unsigned)
//  8 minu   9 maxu  10 mins 11 maxs 12 cmpgt(signed) 13 avg(unsigned, rounded)
// 14 shl 15 shr 16 sar (count = B[63:0], or the immediate)
// 17 pmuludq 18 pmuldq 19 pmaddwd 20 psadbw 21 pslldq 22 psrldq (imm bytes)
// 30 unpack-low 31 unpack-high 32 packss 33 packus (ESZ = source element)
// 34 pshufb 35 palignr 36 shufps 37 shufpd
// 40 pshufd 41 pshuflw 42 pshufhw 43 pabs (unary: source in B)
// 44 psign 45 phadd 46 phsub 47 phaddsw 48 phsubsw 49 pmaddubsw 50 pmulhrsw
// 51 pblendw 52 blendps/pd/vpblendd 54 movsldup 55 movshdup 56 movddup
// 57 pminposuw 60 psllv 61 psrlv 62 psrav 63 vpermq/pd 64 vpermd/ps
// 65 vperm2i128/f128 66 vpermilpd imm 67 vpermilps var 68 vpermilpd var
// (unary: 40-43, 54-57, 63, 66)

@inline function sx(v: u64, esz: u32): i64 {
  const sh = <u64>(64 - esz * 8);
  return (<i64>(v << sh)) >> sh;
}
@inline function ldE(p: usize, esz: u32): u64 {
  if (esz == 1) return <u64>load<u8>(p);
  if (esz == 2) return <u64>load<u16>(p);
  if (esz == 4) return <u64>load<u32>(p);
  return load<u64>(p);
}
@inline function stE(p: usize, esz: u32, v: u64): void {
  if (esz == 1) store<u8>(p, <u8>v);
  else if (esz == 2) store<u16>(p, <u16>v);
  else if (esz == 4) store<u32>(p, <u32>v);
  else store<u64>(p, v);
}
function sat_s(v: i64, esz: u32): u64 {
  const hi: i64 = (<i64>1 << <i64>(esz * 8 - 1)) - 1, lo: i64 = -hi - 1;
  return <u64>(v > hi ? hi : v < lo ? lo : v);
}
function sat_u(v: i64, esz: u32): u64 {
  const hi: i64 = (<i64>1 << <i64>(esz * 8)) - 1;
  return <u64>(v > hi ? hi : v < 0 ? 0 : v);
}

// D = OP(A, B) over `len` bytes; imm is the instruction's imm8.
function vcompute(OP: u32, ESZ: u32, len: u32, imm: u32): void {
  if (OP <= 16) {
    const bits = ESZ * 8;
    const m: u64 = ESZ == 8 ? <u64>-1 : ((<u64>1 << <u64>bits) - 1);
    const cnt = load<u64>(B);   // shifts
    for (let o: u32 = 0; o < len; o += ESZ) {
      const x = ldE(A + o, ESZ), y = ldE(B + o, ESZ);
      const xs = sx(x, ESZ), ys = sx(y, ESZ);
      let z: u64 = 0;
      switch (OP) {
        case 1: z = sat_u(<i64>x + <i64>y, ESZ); break;
        case 2: z = sat_u(<i64>x - <i64>y, ESZ); break;
        case 3: z = sat_s(xs + ys, ESZ); break;
        case 4: z = sat_s(xs - ys, ESZ); break;
        case 5: z = <u64>(xs * ys); break;
        case 6: z = <u64>((xs * ys) >> <i64>bits); break;
        case 7: z = (x * y) >> <u64>bits; break;
        case 8: z = x < y ? x : y; break;
        case 9: z = x > y ? x : y; break;
        case 10: z = xs < ys ? x : y; break;
        case 11: z = xs > ys ? x : y; break;
        case 12: z = xs > ys ? m : 0; break;
        case 13: z = (x + y + 1) >> 1; break;
        case 14: z = cnt >= <u64>bits ? 0 : x << cnt; break;
        case 15: z = cnt >= <u64>bits ? 0 : x >> cnt; break;
        default: z = <u64>(xs >> <i64>(cnt >= <u64>bits ? bits - 1 : <u32>cnt)); break;
      }
      stE(D + o, ESZ, z & m);
    }
    return;
  }
  if (OP <= 20) {
    for (let o: u32 = 0; o < len; o += 8) {
      let z: u64 = 0;
      if (OP == 17) z = <u64>load<u32>(A + o) * <u64>load<u32>(B + o);
      else if (OP == 18) z = <u64>(<i64>load<i32>(A + o) * <i64>load<i32>(B + o));
      else if (OP == 19) {
        const lo = <i32>load<i16>(A + o) * <i32>load<i16>(B + o) + <i32>load<i16>(A + o + 2) * <i32>load<i16>(B + o + 2);
        const hi = <i32>load<i16>(A + o + 4) * <i32>load<i16>(B + o + 4) + <i32>load<i16>(A + o + 6) * <i32>load<i16>(B + o + 6);
        z = <u64><u32>lo | (<u64><u32>hi << 32);
      } else {
        for (let i: u32 = 0; i < 8; i++) {
          const d = <i32>load<u8>(A + o + i) - <i32>load<u8>(B + o + i);
          z += <u64>(d < 0 ? -d : d);
        }
      }
      store<u64>(D + o, z);
    }
    return;
  }
  if (OP == 63) {        // VPERMQ/VPERMPD: qwords by imm
    for (let i: u32 = 0; i < 4; i++) store<u64>(D + i * 8, load<u64>(B + ((imm >> (2 * i)) & 3) * 8));
    return;
  }
  if (OP == 64) {        // VPERMD/VPERMPS: dwords of B indexed by A
    for (let i: u32 = 0; i < 8; i++) store<u32>(D + i * 4, load<u32>(B + (load<u32>(A + i * 4) & 7) * 4));
    return;
  }
  if (OP == 65) {        // VPERM2I128/F128
    for (let h: u32 = 0; h < 2; h++) {
      const sel = (imm >> (4 * h)) & 15;
      if (sel & 8) { memory.fill(D + h * 16, 0, 16); continue; }
      memory.copy(D + h * 16, (sel & 2 ? B : A) + (sel & 1) * 16, 16);
    }
    return;
  }
  if (OP == 52) {        // BLENDPS/PD, VPBLENDD: element i from B when imm bit i (mod 8)
    for (let i: u32 = 0; i < len / ESZ; i++) stE(D + i * ESZ, ESZ, ldE(((imm >> (i & 7)) & 1 ? B : A) + i * ESZ, ESZ));
    return;
  }
  if (OP >= 60 && OP <= 62) {   // VPSLLVD/Q, VPSRLVD/Q, VPSRAVD: per-element counts
    const bits: u64 = <u64>(ESZ * 8);
    for (let o: u32 = 0; o < len; o += ESZ) {
      const x = ldE(A + o, ESZ), c = ldE(B + o, ESZ);
      let z: u64;
      if (OP == 60) z = c >= bits ? 0 : x << c;
      else if (OP == 61) z = c >= bits ? 0 : x >> c;
      else z = <u64>(sx(x, ESZ) >> <i64>(c >= bits ? bits - 1 : c));
      stE(D + o, ESZ, z);
    }
    return;
  }
  for (let l: u32 = 0; l < len; l += 16) {
    const a = A + l, b = B + l, d = D + l;
    switch (OP) {
      case 44: {   // PSIGNB/W/D
        for (let i: u32 = 0; i < 16; i += ESZ) {
          const y = sx(ldE(b + i, ESZ), ESZ);
          stE(d + i, ESZ, y < 0 ? <u64>(0 - sx(ldE(a + i, ESZ), ESZ)) : y == 0 ? 0 : ldE(a + i, ESZ));
        }
        break;
      }
      case 45: case 46: case 47: case 48: {   // PHADDW/D, PHSUBW/D, PHADDSW, PHSUBSW
        const n: u32 = 16 / ESZ, h: u32 = n / 2;
        for (let i: u32 = 0; i < n; i++) {
          const src = i < h ? a : b, j = (i % h) * 2;
          const x = sx(ldE(src + j * ESZ, ESZ), ESZ), y = sx(ldE(src + (j + 1) * ESZ, ESZ), ESZ);
          const v: i64 = OP == 45 || OP == 47 ? x + y : x - y;
          stE(d + i * ESZ, ESZ, OP >= 47 ? sat_s(v, ESZ) : <u64>v);
        }
        break;
      }
      case 49: {   // PMADDUBSW: unsigned bytes of A × signed bytes of B, pairs summed with saturation
        for (let i: u32 = 0; i < 16; i += 2) {
          const v = <i64>load<u8>(a + i) * <i64>load<i8>(b + i) + <i64>load<u8>(a + i + 1) * <i64>load<i8>(b + i + 1);
          store<u16>(d + i, <u16>sat_s(v, 2));
        }
        break;
      }
      case 50: {   // PMULHRSW
        for (let i: u32 = 0; i < 16; i += 2) {
          const v = ((<i32>load<i16>(a + i) * <i32>load<i16>(b + i)) >> 14) + 1;
          store<u16>(d + i, <u16>(v >> 1));
        }
        break;
      }
      case 51: {   // PBLENDW: the same imm for each lane
        for (let i: u32 = 0; i < 8; i++) store<u16>(d + i * 2, load<u16>(((imm >> i) & 1 ? b : a) + i * 2));
        break;
      }
      case 54: case 55: {   // MOVSLDUP / MOVSHDUP
        const o: u32 = OP == 54 ? 0 : 4;
        for (let i: u32 = 0; i < 16; i += 8) { const v = load<u32>(b + i + o); store<u32>(d + i, v); store<u32>(d + i + 4, v); }
        break;
      }
      case 56: { const v = load<u64>(b); store<u64>(d, v); store<u64>(d + 8, v); break; }   // MOVDDUP
      case 57: {   // PMINPOSUW
        let m: u32 = 0xFFFF, k: u32 = 0;
        for (let i: u32 = 0; i < 8; i++) { const v = <u32>load<u16>(b + i * 2); if (v < m || i == 0) { m = v; k = i; } }
        memory.fill(d, 0, 16);
        store<u16>(d, <u16>m); store<u16>(d + 2, <u16>k);
        break;
      }
      case 66: {   // VPERMILPD imm: bit i of imm picks the qword for element i
        for (let i: u32 = 0; i < 2; i++) store<u64>(d + i * 8, load<u64>(b + ((imm >> ((l >> 3) + i)) & 1) * 8));
        break;
      }
      case 67: {   // VPERMILPS var: data A, control B
        for (let i: u32 = 0; i < 4; i++) store<u32>(d + i * 4, load<u32>(a + (load<u32>(b + i * 4) & 3) * 4));
        break;
      }
      case 68: {   // VPERMILPD var: control bit 1
        for (let i: u32 = 0; i < 2; i++) store<u64>(d + i * 8, load<u64>(a + ((load<u32>(b + i * 8) >> 1) & 1) * 8));
        break;
      }
      case 21: case 22: {   // PSLLDQ / PSRLDQ: source in A
        for (let i: u32 = 0; i < 16; i++) {
          const s: i32 = OP == 21 ? <i32>i - <i32>imm : <i32>i + <i32>imm;
          store<u8>(d + i, s >= 0 && s < 16 && imm < 16 ? load<u8>(a + s) : 0);
        }
        break;
      }
      case 30: case 31: {
        const base: u32 = OP == 30 ? 0 : 8;
        for (let i: u32 = 0; i < 8; i += ESZ) {
          stE(d + 2 * i, ESZ, ldE(a + base + i, ESZ));
          stE(d + 2 * i + ESZ, ESZ, ldE(b + base + i, ESZ));
        }
        break;
      }
      case 32: case 33: {
        const n: u32 = 16 / ESZ, h: u32 = ESZ / 2;
        for (let i: u32 = 0; i < n; i++) {
          const va = sx(ldE(a + i * ESZ, ESZ), ESZ), vb = sx(ldE(b + i * ESZ, ESZ), ESZ);
          stE(d + i * h, h, OP == 32 ? sat_s(va, h) : sat_u(va, h));
          stE(d + (n + i) * h, h, OP == 32 ? sat_s(vb, h) : sat_u(vb, h));
        }
        break;
      }
      case 34: {
        for (let i: u32 = 0; i < 16; i++) {
          const c = load<u8>(b + i);
          store<u8>(d + i, c & 0x80 ? 0 : load<u8>(a + (c & 15)));
        }
        break;
      }
      case 35: {   // PALIGNR: (A:B) >> imm*8, low 16 bytes
        for (let i: u32 = 0; i < 16; i++) {
          const s = i + imm;
          store<u8>(d + i, s < 16 ? load<u8>(b + s) : s < 32 ? load<u8>(a + s - 16) : 0);
        }
        break;
      }
      case 36: {
        store<u32>(d, load<u32>(a + (imm & 3) * 4));
        store<u32>(d + 4, load<u32>(a + ((imm >> 2) & 3) * 4));
        store<u32>(d + 8, load<u32>(b + ((imm >> 4) & 3) * 4));
        store<u32>(d + 12, load<u32>(b + ((imm >> 6) & 3) * 4));
        break;
      }
      case 37: {
        const s = imm >> (l >> 3);   // lane 1 uses imm[3:2]
        store<u64>(d, load<u64>(a + (s & 1) * 8));
        store<u64>(d + 8, load<u64>(b + ((s >> 1) & 1) * 8));
        break;
      }
      case 40: {
        for (let i: u32 = 0; i < 4; i++) store<u32>(d + i * 4, load<u32>(b + ((imm >> (2 * i)) & 3) * 4));
        break;
      }
      case 41: case 42: {
        const off: u32 = OP == 41 ? 0 : 8;
        store<u64>(d + 8 - off, load<u64>(b + 8 - off));
        for (let i: u32 = 0; i < 4; i++) store<u16>(d + off + i * 2, load<u16>(b + off + ((imm >> (2 * i)) & 3) * 2));
        break;
      }
      default: {   // 43 PABS
        for (let i: u32 = 0; i < 16; i += ESZ) {
          const v = sx(ldE(b + i, ESZ), ESZ);
          stE(d + i, ESZ, <u64>(v < 0 ? -v : v));
        }
        break;
      }
    }
  }
}

@inline function vunary(OP: u32): bool { return (OP >= 40 && OP <= 43) || (OP >= 54 && OP <= 57) || OP == 63 || OP == 66; }
// Register/memory forms: `op xmm1, xmm2/m128` (legacy, src1 = dest) and
// `vop x/ymm1, x/ymm2, x/ymm3/m` (VEX, src1 = vvvv). Unary rows (OP >= 40) take
// only the r/m source. The shift-by-register rows read a 128-bit count
// operand whatever the vector length. Legacy m128 operands must be aligned.
export function vint(r: usize, OP: u32, ESZ: u32): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const len: u32 = k == 0 ? 16 : vlen(r);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  // VPERMQ/VPERMPD with VEX.W0: #UD per the SDM encoding (W1); AMD Zen 4 runs them (measured)
  if (OP == 63 && !(load<u32>(r, R_VEX) & V_W) && !amd_flavour()) return raise_ud();
  // shift-by-register counts are 128-bit; MOVDDUP xmm reads m64 (unaligned)
  const slen: u32 = OP >= 14 && OP <= 16 ? 16 : OP == 56 && len == 16 ? 8 : len;
  if (!src_rm(r, M, B, slen, k == 0 && slen == 16 ? 16 : 0)) return ST_FAULT;
  if (!vunary(OP)) vget(k == 0 ? dn : vvvv(r), A, len);
  vcompute(OP, ESZ, len, <u32>load<u8>(r, R_IMM));
  vset(dn, D, len, k != 0);
  return ST_OK;
}
// 66 0F 71/72/73 /2 /4 /6 (and /3 /7 PSRLDQ/PSLLDQ) ib: shift the r/m register
// by an immediate; legacy writes r/m, VEX writes vvvv.
export function vshimm(r: usize, OP: u32, ESZ: u32): i32 {
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const len: u32 = k == 0 ? 16 : vlen(r);
  const sn = <u32>load<u8>(r, R_RM) >> 3;
  vget(sn, A, len);
  const imm = <u32>load<u8>(r, R_IMM);
  memory.fill(B, 0, 16);
  store<u64>(B, <u64>imm);
  vcompute(OP, ESZ, len, imm);
  vset(k == 0 ? sn : vvvv(r), D, len, k != 0);
  return ST_OK;
}

// PMOVSX/PMOVZX (66 0F 38 20..25 / 30..35): widen the low len/RATIO bytes of
// the source (unaligned m64/m32/m16 in memory) from SSZ- to DSZ-byte elements.
export function vpmovx(r: usize, SSZ: u32, DSZ: u32, SIGNED: bool): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const len: u32 = k == 0 ? 16 : vlen(r);
  const slen = len / (DSZ / SSZ);
  if (!src_rm(r, M, B, slen, 0)) return ST_FAULT;
  for (let i: u32 = 0; i < len / DSZ; i++) {
    const v = ldE(B + i * SSZ, SSZ);
    stE(D + i * DSZ, DSZ, SIGNED ? <u64>sx(v, SSZ) : v);
  }
  vset(<u32>load<u8>(r, R_REG) >> 3, D, len, k != 0);
  return ST_OK;
}

// PTEST (66 0F 38 17): ZF = (src & dst) == 0, CF = (src & ~dst) == 0, the
// other arithmetic flags cleared.
export function vptest(r: usize): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const len: u32 = k == 0 ? 16 : vlen(r);
  if (!src_rm(r, M, B, len, k == 0 ? 16 : 0)) return ST_FAULT;
  vget(<u32>load<u8>(r, R_REG) >> 3, A, len);
  let and: u64 = 0, andn: u64 = 0;
  for (let o: u32 = 0; o < len; o += 8) {
    and |= load<u64>(A + o) & load<u64>(B + o);
    andn |= ~load<u64>(A + o) & load<u64>(B + o);
  }
  set_arith((and == 0 ? ZF : 0) | (andn == 0 ? CF : 0), 0x8D5);
  return ST_OK;
}

// PMOVMSKB (66 0F D7), MOVMSKPS (NP 0F 50), MOVMSKPD (66 0F 50): the sign bit
// of each ESZ-byte element into a GPR (32-bit write, zero-extended).
export function vmovmsk(r: usize, ESZ: u32): i32 {
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const len: u32 = k == 0 ? 16 : vlen(r);
  vget(<u32>load<u8>(r, R_RM) >> 3, A, len);
  let v: u64 = 0;
  for (let i: u32 = 0; i < len / ESZ; i++) v |= <u64>(load<u8>(A + i * ESZ + ESZ - 1) >> 7) << <u64>i;
  wrreg(load<u8>(r, R_REG), load<u8>(r, R_PFX) & 64 ? 64 : 32, v);
  return ST_OK;
}

@inline function rex_w(r: usize): bool {
  return kind(r) == 0 ? (load<u8>(r, R_PFX) & 64) != 0 : (load<u32>(r, R_VEX) & V_W) != 0;
}
// PINSRB/W/D/Q: 66 0F 3A 20 (b), 66 0F C4 (w), 66 0F 3A 22 (d, q with W):
// the element at imm (mod count) of dest (legacy) / copy of vvvv (VEX) ← r32/r64
// or memory. ESZ 4 means d or q by REX.W / VEX.W.
export function vpinsr(r: usize, ESZ: u32): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const esz: u32 = ESZ == 4 && rex_w(r) ? 8 : ESZ;
  let v: u64;
  if (M) {
    if (!src_rm(r, true, B, esz, 0)) return ST_FAULT;
    v = ldE(B, esz);
  } else v = rdreg(load<u8>(r, R_RM), esz == 8 ? 64 : 32);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  vget(k == 0 ? dn : vvvv(r), D, 16);
  stE(D + (<u32>load<u8>(r, R_IMM) & (16 / esz - 1)) * esz, esz, v);
  vset(dn, D, 16, k != 0);
  return ST_OK;
}
// PEXTRB/W/D/Q: 66 0F 3A 14 (b), 15 (w), 16 (d/q) to r/m; 66 0F C5 (w) to the
// reg-field GPR (FROM_RM: the vector is the r/m register). Register
// destinations are written zero-extended.
export function vpextr(r: usize, ESZ: u32, FROM_RM: bool): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const esz: u32 = ESZ == 0 ? 4 : ESZ == 4 && rex_w(r) ? 8 : ESZ;   // ESZ 0: EXTRACTPS (dword, W ignored)
  const xn = <u32>(FROM_RM ? load<u8>(r, R_RM) : load<u8>(r, R_REG)) >> 3;
  const v = ldE(xmm_at(xn) + (<u32>load<u8>(r, R_IMM) & (16 / esz - 1)) * esz, esz);
  if (FROM_RM) { wrreg(load<u8>(r, R_REG), esz == 8 ? 64 : 32, v); return ST_OK; }
  if (!M) { wrreg(load<u8>(r, R_RM), esz == 8 ? 64 : 32, v); return ST_OK; }
  store<u64>(D, v);
  return dst_mem(r, D, esz, 0, 1, esz) ? ST_OK : ST_FAULT;
}

// MOVSS/MOVSD (F3/F2 0F 10/11), ESZ 4/8. Loads from memory zero the rest of
// the XMM register; register-to-register forms replace only the low element
// (legacy: of the destination; VEX: of a copy of vvvv). Stores write ESZ bytes.
export function vmovs(r: usize, STORE: bool, ESZ: u32): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const reg = <u32>load<u8>(r, R_REG) >> 3, rm = <u32>load<u8>(r, R_RM) >> 3;
  if (M) {
    if (STORE) { memory.copy(D, xmm_at(reg), 8); return dst_mem(r, D, ESZ, 0, 1, ESZ) ? ST_OK : ST_FAULT; }
    if (!src_rm(r, true, D, ESZ, 0)) return ST_FAULT;
    if (ESZ == 8) store<u64>(D + 8, 0);
    vset(reg, D, 16, k != 0);
    return ST_OK;
  }
  const dn = STORE ? rm : reg, sn = STORE ? reg : rm;
  vget(k == 0 ? dn : vvvv(r), D, 16);
  memory.copy(D, xmm_at(sn), ESZ);
  vset(dn, D, 16, k != 0);
  return ST_OK;
}

// MOVLPS/MOVLPD/MOVHPS/MOVHPD/MOVHLPS/MOVLHPS (0F 12/13/16/17, NP and 66).
// HIGH: the high quadword is the one loaded/stored. Register forms (NP only):
// 0F 12 MOVHLPS dest.lo ← src.hi; 0F 16 MOVLHPS dest.hi ← src.lo.
// VEX loads take the other quadword from vvvv.
export function vmovhl(r: usize, STORE: bool, HIGH: bool): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const reg = <u32>load<u8>(r, R_REG) >> 3;
  if (STORE) {
    memory.copy(D, xmm_at(reg) + (HIGH ? 8 : 0), 8);
    return dst_mem(r, D, 8, 0, 1, 8) ? ST_OK : ST_FAULT;
  }
  let v: u64;
  if (M) {
    if (!src_rm(r, true, B, 8, 0)) return ST_FAULT;
    v = load<u64>(B);
  } else v = load<u64>(xmm_at(<u32>load<u8>(r, R_RM) >> 3) + (HIGH ? 0 : 8));
  vget(k == 0 ? reg : vvvv(r), D, 16);
  store<u64>(D + (HIGH ? 8 : 0), v);
  vset(reg, D, 16, k != 0);
  return ST_OK;
}

// MOVNTI (NP 0F C3, m32/m64 ← r32/r64 by REX.W): an ordinary store here.
// Not gated by CR0/CR4 (a GPR instruction).
export function movnti(r: usize): i32 {
  const n: u32 = load<u8>(r, R_PFX) & 64 ? 8 : 4;
  store<u64>(D, rdreg(load<u8>(r, R_REG), n * 8));
  return dst_mem(r, D, n, 0, 1, n) ? ST_OK : ST_FAULT;
}

// PBLENDVB/BLENDVPS/BLENDVPD (66 0F 38 10/14/15, mask XMM0) and the VEX
// forms (66 0F 3A 4C/4A/4B, mask register in imm8[7:4]): element from the
// second source where the mask element's sign bit is set.
export function vblendv(r: usize, ESZ: u32): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const len: u32 = k == 0 ? 16 : vlen(r);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  if (!src_rm(r, M, B, len, k == 0 ? 16 : 0)) return ST_FAULT;
  vget(k == 0 ? dn : vvvv(r), A, len);
  const mk = memory.data(64);
  vget(k == 0 ? 0 : (<u32>load<u8>(r, R_IMM) >> 4) & 15, mk, len);
  for (let o: u32 = 0; o < len; o += ESZ) stE(D + o, ESZ, ldE((load<u8>(mk + o + ESZ - 1) & 0x80 ? B : A) + o, ESZ));
  vset(dn, D, len, k != 0);
  return ST_OK;
}
// INSERTPS (66 0F 3A 21): dword imm[7:6] of the source register (or m32)
// into element imm[5:4] of dest (legacy) / vvvv (VEX), then zero the elements
// in imm[3:0].
export function vinsertps(r: usize): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const k = kind(r);
  const imm = <u32>load<u8>(r, R_IMM);
  let v: u32;
  if (M) { if (!src_rm(r, true, B, 4, 0)) return ST_FAULT; v = load<u32>(B); }
  else v = load<u32>(xmm_at(<u32>load<u8>(r, R_RM) >> 3) + (imm >> 6) * 4);
  const dn = <u32>load<u8>(r, R_REG) >> 3;
  vget(k == 0 ? dn : vvvv(r), D, 16);
  store<u32>(D + ((imm >> 4) & 3) * 4, v);
  for (let i: u32 = 0; i < 4; i++) if ((imm >> i) & 1) store<u32>(D + i * 4, 0);
  vset(dn, D, 16, k != 0);
  return ST_OK;
}
// VPBROADCASTB/W/D/Q, VBROADCASTSS/SD/I128/F128: the low ESZ bytes of an
// xmm register or memory into every element.
export function vbcast(r: usize, ESZ: u32): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  const len = vlen(r);
  if (M) { if (!src_rm(r, true, B, ESZ, 0)) return ST_FAULT; }
  else vget(<u32>load<u8>(r, R_RM) >> 3, B, 16);
  for (let o: u32 = 0; o < len; o += ESZ) memory.copy(D + o, B, ESZ);
  vset(<u32>load<u8>(r, R_REG) >> 3, D, len, true);
  return ST_OK;
}
// VINSERTI128/F128: vvvv with the 128-bit lane imm[0] replaced by xmm/m128.
export function vinsert128(r: usize): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  if (!src_rm(r, M, B, 16, 0)) return ST_FAULT;
  vget(vvvv(r), D, 32);
  memory.copy(D + (<u32>load<u8>(r, R_IMM) & 1) * 16, B, 16);
  vset(<u32>load<u8>(r, R_REG) >> 3, D, 32, true);
  return ST_OK;
}
// VEXTRACTI128/F128: lane imm[0] of the reg-field register to xmm/m128.
export function vextract128(r: usize): i32 {
  const M = is_mem(r);
  if (!gate(r)) return ST_FAULT;
  vget(<u32>load<u8>(r, R_REG) >> 3, A, 32);
  memory.copy(D, A + (<u32>load<u8>(r, R_IMM) & 1) * 16, 16);
  if (M) return dst_mem(r, D, 16, 0, 3, 8) ? ST_OK : ST_FAULT;
  vset(<u32>load<u8>(r, R_RM) >> 3, D, 16, true);
  return ST_OK;
}
