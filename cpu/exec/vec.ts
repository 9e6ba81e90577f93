// SSE/AVX/AVX-512 register moves and integer logic, opmask registers: enough
// to load, move, combine and store every vector component a guest can own
// (isa.md §1, §5, §8.2). Legacy SSE writes leave the bits above 127 alone;
// VEX and EVEX writes zero the destination above the vector length. Each
// write marks the XSAVE components it touched in use (XINUSE, measured on
// silicon, isa.md §5 table).
import {
  STATE, XSTATE, S_CR0, S_CR4, S_XCR0, S_FEAT, S_MODE, S_XINUSE, X_XMM, X_YMMH, X_ZMMH, X_HI16, X_KREG,
  MODE_PE, MODE_VM86, MODE_64, FEAT_AVX, FEAT_AVX512,
} from "../layout";
import { rdreg, wrreg, CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXSAVE, ZF, CF } from "../state";
import { mem_lin } from "./operand";
import { R_REG, R_RM, R_SEG, R_VEX, R_IMM, V_VVVV, V_L_SHIFT, V_W, V_AAA_SHIFT, V_Z, V_B, V_KIND_SHIFT } from "../decode/decoder";
import { ld, st, probe_write } from "../mmu/access";
import { fault_pending, raise, raise_gp, raise_ud, ST_OK, ST_FAULT, X86_TRAP_NM } from "../except/fault";
import { set_arith } from "../flags";
import { touch_vreg, touch_kreg, amd_flavour } from "./xsave";

// ---- register file addressing ----
// Vector register n (0..31) is split across the XSAVE components.
@inline function xmm_at(n: u32): usize { return n < 16 ? XSTATE + X_XMM + n * 16 : XSTATE + X_HI16 + (n - 16) * 64; }
@inline function yhi_at(n: u32): usize { return n < 16 ? XSTATE + X_YMMH + n * 16 : XSTATE + X_HI16 + (n - 16) * 64 + 16; }
@inline function zhi_at(n: u32): usize { return n < 16 ? XSTATE + X_ZMMH + n * 32 : XSTATE + X_HI16 + (n - 16) * 64 + 32; }
@inline function kreg_at(n: u32): usize { return XSTATE + X_KREG + n * 8; }

const A = memory.data(64);
const B = memory.data(64);
const D = memory.data(64);

function vget(n: u32, dst: usize, len: u32): void {
  memory.copy(dst, xmm_at(n), 16);
  if (len > 16) memory.copy(dst + 16, yhi_at(n), 16);
  if (len > 32) memory.copy(dst + 32, zhi_at(n), 32);
}
// Write `len` bytes to register n. `zero_upper` (VEX/EVEX) clears the rest up
// to 512 bits. XINUSE: the components of the bytes written — the XMM part
// (bit 1), YMM_Hi128 (2), ZMM_Hi256 (6) for n < 16; Hi16_ZMM (7) for n ≥ 16.
function vset(n: u32, src: usize, len: u32, zero_upper: bool): void {
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
@inline function kind(r: usize): u32 { return load<u32>(r, R_VEX) >> V_KIND_SHIFT; }
@inline function vlen(r: usize): u32 { return 16 << ((load<u32>(r, R_VEX) >> V_L_SHIFT) & 3); }
@inline function vvvv(r: usize): u32 { return load<u32>(r, R_VEX) & V_VVVV; }

function gate(r: usize): bool {
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
// Source r/m of `len` bytes into `dst` (register or memory; `align` 0 = none).
// EVEX.b: a memory source is one element (W: 8 bytes, else 4) broadcast to
// every lane. With a register source it would select rounding, which integer
// rows do not have; silicon ignores it there (Zen 4, test/cpu/vec.test.ts).
function src_rm(r: usize, M: bool, dst: usize, len: u32, align: u32): bool {
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
function dst_mem(r: usize, src: usize, len: u32, align: u32, emask: u64, esz: u32): bool {
  const lin = mem_lin(r, len, true);
  if (fault_pending) return false;
  if (align && (<u32>lin & (align - 1))) { raise_gp(0); return false; }
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
  if (k == 0 && vvvv(r) != 0) return raise_ud();
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
