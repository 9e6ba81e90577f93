// AMX (palette 1): LDTILECFG, STTILECFG, TILERELEASE, TILEZERO, TILELOADD,
// TILELOADDT1, TILESTORED, TDPBSSD/TDPBSUD/TDPBUSD/TDPBUUD, TDPBF16PS.
// Exception priority (isa.md §10.6, measured): decode/mode #UD, then
// tile-state #UD, then the XFD #NM (with XFD_ERR), then address faults.
// LDTILECFG, STTILECFG and TILERELEASE never raise the XFD #NM.
import {
  STATE, XSTATE, S_CR4, S_XCR0, S_XFD, S_XFD_ERR, S_FEAT, S_MODE, S_XINUSE, X_TILECFG, X_TILES, MODE_64, FEAT_AMX, FEAT_XFD,
} from "../layout";
import { rd64, seg_base, CR4_OSXSAVE } from "../state";
import { mem_lin } from "./operand";
import { R_REG, R_RM, R_INDEX, R_SCALE, R_SEG, R_DISP, R_ASZ, R_VEX, R_MODRM, RIPREL, NONE, V_VVVV, R_PFX, P_LOCK } from "../decode/decoder";
import { ld, st, probe_write } from "../mmu/access";
import { fault_pending, raise, raise_gp, raise_ud, ST_OK, ST_FAULT, X86_TRAP_NM } from "../except/fault";
import { tilecfg_valid, touch } from "./xsave";
import { blk_rip } from "../ctl";

const CFG: usize = XSTATE + X_TILECFG;
const TILES: usize = XSTATE + X_TILES;
const BIT17: u64 = <u64>1 << 17;
const BIT18: u64 = <u64>1 << 18;

@inline function palette(): u32 { return load<u8>(CFG); }
@inline function start_row(): u32 { return load<u8>(CFG, 1); }
@inline function set_start_row(v: u32): void { store<u8>(CFG, <u8>v, 1); }
@inline function colsb(t: u32): u32 { return load<u16>(CFG + 16 + t * 2); }
@inline function rows(t: u32): u32 { return load<u8>(CFG + 48 + t); }
@inline function row_at(t: u32, rr: u32): usize { return TILES + t * 1024 + rr * 64; }
@inline function tile_valid(t: u32): bool { return t < 8 && colsb(t) != 0 && rows(t) != 0; }

// Group-1 #UD: 64-bit mode, CR4.OSXSAVE, XCR0[18:17] = 11b, LOCK, CPUID.
function mode_ok(r: usize): bool {
  if (!(load<u32>(STATE + S_MODE) & MODE_64) || !(load<u64>(STATE + S_CR4) & CR4_OSXSAVE) ||
      (load<u64>(STATE + S_XCR0) & (BIT17 | BIT18)) != (BIT17 | BIT18) || !(load<u32>(STATE + S_FEAT) & FEAT_AMX) ||
      (load<u8>(r, R_PFX) & P_LOCK)) { raise_ud(); return false; }
  return true;
}
// XFD: an instruction that uses TILEDATA while XCR0[18] = XFD[18] = 1 raises
// #NM and loads XFD_ERR with XFD & (the components it needs) (isa.md §7.2).
function xfd_ok(): bool {
  if ((load<u32>(STATE + S_FEAT) & FEAT_XFD) && (load<u64>(STATE + S_XFD) & BIT18)) {
    store<u64>(STATE + S_XFD_ERR, load<u64>(STATE + S_XFD) & BIT18);
    raise(X86_TRAP_NM, 0, false);
    return false;
  }
  return true;
}
@inline function treg(r: usize): u32 { return <u32>load<u8>(r, R_REG) >> 3; }
@inline function trm(r: usize): u32 { return <u32>load<u8>(r, R_RM) >> 3; }
@inline function tv(r: usize): u32 { return load<u32>(r, R_VEX) & V_VVVV; }

// VEX 0F38 49 /0 (NP) LDTILECFG m512
export function ldtilecfg(r: usize): i32 {
  if (!mode_ok(r)) return ST_FAULT;
  if (tv(r) != 0) return raise_ud();
  const lin = mem_lin(r, 64, false);
  if (fault_pending) return ST_FAULT;
  const buf = memory.data(64);
  const seg = <u32>load<u8>(r, R_SEG);
  for (let o: u32 = 0; o < 64; o += 8) {
    store<u64>(buf + o, ld(lin + <u64>o, 8, seg));
    if (fault_pending) return ST_FAULT;
  }
  if (!tilecfg_valid(buf)) return raise_gp(0);
  // palette 0 unconfigures; either way all tile data is zeroed and XINUSE[18]
  // cleared; XINUSE[17] follows TILES_CONFIGURED (measured, isa.md §5)
  if (load<u8>(buf) == 0) memory.fill(CFG, 0, 64);
  else memory.copy(CFG, buf, 64);
  memory.fill(TILES, 0, 8192);
  let inuse = load<u64>(STATE + S_XINUSE) & ~(BIT17 | BIT18);
  if (palette() != 0) inuse |= BIT17;
  store<u64>(STATE + S_XINUSE, inuse);
  return ST_OK;
}
// VEX 0F38 49 /0 (66) STTILECFG m512: 64 zero bytes when unconfigured
export function sttilecfg(r: usize): i32 {
  if (!mode_ok(r)) return ST_FAULT;
  if (tv(r) != 0) return raise_ud();
  const lin = mem_lin(r, 64, true);
  if (fault_pending) return ST_FAULT;
  const seg = <u32>load<u8>(r, R_SEG);
  if (!probe_write(lin, 64, seg)) return ST_FAULT;
  for (let o: u32 = 0; o < 64; o += 8) if (!st(lin + <u64>o, 8, palette() ? load<u64>(CFG + o) : 0, seg)) return ST_FAULT;
  return ST_OK;
}
// VEX 0F38 49 C0 (NP) TILERELEASE
export function tilerelease(r: usize): i32 {
  if (!mode_ok(r)) return ST_FAULT;
  if (tv(r) != 0) return raise_ud();
  memory.fill(CFG, 0, 64);
  memory.fill(TILES, 0, 8192);
  store<u64>(STATE + S_XINUSE, load<u64>(STATE + S_XINUSE) & ~(BIT17 | BIT18));
  return ST_OK;
}
// VEX 0F38 49 11:rrr:000 (F2) TILEZERO tmm
export function tilezero(r: usize): i32 {
  if (!mode_ok(r)) return ST_FAULT;
  if (tv(r) != 0) return raise_ud();
  const t = treg(r);
  if (palette() == 0 || !tile_valid(t)) return raise_ud();
  if (!xfd_ok()) return ST_FAULT;
  memory.fill(TILES + t * 1024, 0, 1024);
  set_start_row(0);
  touch(BIT18);
  return ST_OK;
}

// sibmem: row r is at base + disp + r * (index << scale); no index = stride 0.
let sib_base: u64 = 0;
let sib_stride: u64 = 0;
function sibmem(r: usize): bool {
  if ((<u32>load<u8>(r, R_MODRM) & 7) != 4) { raise_ud(); return false; }   // SIB required (measured)
  let a: u64 = <u64><i64>load<i32>(r, R_DISP);
  const b = load<u8>(r, R_RM);
  if (b < 128) a += rd64(b); else if (b == RIPREL) a += blk_rip;
  const x = load<u8>(r, R_INDEX);
  sib_stride = x == NONE ? 0 : rd64(x) << <u64>load<u8>(r, R_SCALE);
  if (load<u8>(r, R_ASZ) == 1) a &= 0xFFFFFFFF;
  sib_base = a;
  return true;
}
function row_lin(r: usize, rr: u32): u64 {
  let off = sib_base + sib_stride * <u64>rr;
  if (load<u8>(r, R_ASZ) == 1) off &= 0xFFFFFFFF;
  const s = <u32>load<u8>(r, R_SEG);
  return s >= 4 ? off + seg_base(s) : off;
}

// The checks TILELOADD/TILESTORED share, in priority order: mode #UD, tmm
// index, SIB form, tile-state #UD, then XFD #NM. Returns the tile or -1.
function ldst_prologue(r: usize): i32 {
  if (!mode_ok(r)) return -1;
  if (tv(r) != 0) { raise_ud(); return -1; }
  const t = treg(r);
  if (t >= 8) { raise_ud(); return -1; }
  if (!sibmem(r)) return -1;
  if (palette() == 0 || !tile_valid(t) || (colsb(t) & 3) != 0 || start_row() >= rows(t)) { raise_ud(); return -1; }
  if (!xfd_ok()) return -1;
  return <i32>t;
}

// VEX 0F38 4B (F2) TILELOADD / (66) TILELOADDT1 tmm, sibmem. Rows from
// start_row load colsb bytes (the rest of each row zeroed); on a fault at
// row k, start_row = k so the instruction restarts there (isa.md §10.4).
export function tileloadd(r: usize): i32 {
  const ti = ldst_prologue(r);
  if (ti < 0) return ST_FAULT;
  const t = <u32>ti;
  const n = colsb(t), nr = rows(t), s0 = start_row();
  for (let rr: u32 = s0; rr < 16; rr++) memory.fill(row_at(t, rr), 0, 64);
  const seg = <u32>load<u8>(r, R_SEG);
  const buf = memory.data(64);
  for (let rr: u32 = s0; rr < nr; rr++) {
    const lin = row_lin(r, rr);
    for (let o: u32 = 0; o < n; o += 4) {
      store<u32>(buf + o, <u32>ld(lin + <u64>o, 4, seg));
      if (fault_pending) { set_start_row(rr); touch(BIT18); return ST_FAULT; }
    }
    memory.copy(row_at(t, rr), buf, n);
  }
  set_start_row(0);
  touch(BIT18);
  return ST_OK;
}
// VEX 0F38 4B (F3) TILESTORED sibmem, tmm
export function tilestored(r: usize): i32 {
  const ti = ldst_prologue(r);
  if (ti < 0) return ST_FAULT;
  const t = <u32>ti;
  const n = colsb(t), nr = rows(t);
  const seg = <u32>load<u8>(r, R_SEG);
  for (let rr: u32 = start_row(); rr < nr; rr++) {
    const lin = row_lin(r, rr);
    if (!probe_write(lin, n, seg)) { set_start_row(rr); return ST_FAULT; }
    for (let o: u32 = 0; o < n; o += 4) {
      if (!st(lin + <u64>o, 4, <u64>load<u32>(row_at(t, rr) + o), seg)) { set_start_row(rr); return ST_FAULT; }
    }
  }
  set_start_row(0);
  return ST_OK;
}

// TDP* shape checks (group 2 #UD, isa.md §10.6)
function tdp_ok(r: usize, d: u32, a: u32, b: u32): bool {
  if (palette() == 0 || d >= 8 || a >= 8 || b >= 8 || !tile_valid(d) || !tile_valid(a) || !tile_valid(b) ||
      d == a || d == b || a == b || colsb(d) != colsb(b) || rows(d) != rows(a) || colsb(a) / 4 != rows(b) ||
      colsb(d) > 64 || colsb(a) / 4 > 16 || rows(b) > 16) { raise_ud(); return false; }
  return true;
}
// Zero what lies outside the destination's shape and reset start_row.
function tdp_finish(d: u32): void {
  const n = colsb(d);
  for (let rr: u32 = 0; rr < 16; rr++) {
    if (rr >= rows(d)) memory.fill(row_at(d, rr), 0, 64);
    else if (n < 64) memory.fill(row_at(d, rr) + n, 0, 64 - n);
  }
  set_start_row(0);
  touch(BIT18);
}

// BF16 → FP32 with denormals as zero
@inline function bf16(v: u16): f32 {
  let bitsv: u32 = <u32>v << 16;
  if ((bitsv & 0x7F800000) == 0) bitsv &= 0x80000000;
  return reinterpret<f32>(bitsv);
}
// flush a denormal result to zero (FTZ)
@inline function ftz(x: f32): f32 {
  const bitsv = reinterpret<u32>(x);
  return (bitsv & 0x7F800000) == 0 ? reinterpret<f32>(bitsv & 0x80000000) : x;
}
// The dot-product instructions, one loop (isa.md §10.4):
//   VEX 0F38 5E: TDPBSSD (F2), TDPBSUD (F3), TDPBUSD (66), TDPBUUD (NP) —
//     tmm1 (reg) += tmm2 (rm) · tmm3 (vvvv), int8 dot products of 4 in int32 (wrapping);
//     KIND bit 0: tmm2 bytes signed, bit 1: tmm3 bytes signed.
//   VEX 0F38 5C (F3) TDPBF16PS (KIND = TDP_BF16): dst.fp32[n] += Σk a.bf16[2k]·b.bf16[2k] +
//     a.bf16[2k+1]·b.bf16[2k+1], round to nearest even, DAZ and FTZ, MXCSR untouched.
export const TDP_BF16: u32 = 4;
export function tdp(r: usize, KIND: u32): i32 {
  if (!mode_ok(r)) return ST_FAULT;
  const d = treg(r), a = trm(r), b = tv(r);
  if (b > 15) return raise_ud();
  if (!tdp_ok(r, d, a, b)) return ST_FAULT;
  if (!xfd_ok()) return ST_FAULT;
  const M = rows(d), K = colsb(a) / 4, N = colsb(d) / 4;
  for (let m: u32 = 0; m < M; m++) {
    for (let k: u32 = 0; k < K; k++) {
      const av = row_at(a, m) + k * 4;
      for (let n: u32 = 0; n < N; n++) {
        const bv = row_at(b, k) + n * 4;
        const dp = row_at(d, m) + n * 4;
        if (KIND == TDP_BF16) {
          const p0 = ftz(bf16(load<u16>(av)) * bf16(load<u16>(bv)));
          const p1 = ftz(bf16(load<u16>(av + 2)) * bf16(load<u16>(bv + 2)));
          const acc = ftz(reinterpret<f32>(load<u32>(dp)));
          store<f32>(dp, ftz(acc + ftz(p0 + p1)));
        } else {
          let sum: i32 = 0;
          for (let i: u32 = 0; i < 4; i++) {
            const x: i32 = (KIND & 1) ? <i32>load<i8>(av + i) : <i32>load<u8>(av + i);
            const y: i32 = (KIND & 2) ? <i32>load<i8>(bv + i) : <i32>load<u8>(bv + i);
            sum += x * y;
          }
          store<i32>(dp, load<i32>(dp) + sum);
        }
      }
    }
  }
  tdp_finish(d);
  return ST_OK;
}
