// Operand access shared by the instruction families: effective addresses,
// segmentation (64-bit: FS/GS bases only; legacy modes: base, limit and type
// checks), r/m operands and the stack.
import { STATE, S_MODE, MODE_64, MODE_PE, MODE_VM86, MODE_SS32, SEG_SS, SEG_CS } from "../layout";
import { rd64, rdreg, wrreg, seg_base, seg_limit, seg_attr, RSP, ATTR_UNUSABLE, ATTR_DB } from "../state";
import { R_RM, R_INDEX, R_SCALE, R_SEG, R_ASZ, R_DISP, R_REG, NONE, RIPREL } from "../decode/decoder";
import { ld, st, ld_rmw, ldT, stT, ld_rmwT } from "../mmu/access";
import { is, Mem } from "./consts";
import { raise, fault_pending, X86_TRAP_GP, X86_TRAP_SS } from "../except/fault";
import { blk_rip } from "../ctl";

@inline export function mode64(): bool { return (load<u32>(STATE + S_MODE) & MODE_64) != 0; }

// Effective address (offset within the segment), wrapped to the address size.
@inline export function ea(r: usize): u64 {
  let a: u64 = <u64><i64>load<i32>(r, R_DISP);
  const b = load<u8>(r, R_RM);
  if (b < 128) a += rd64(b);
  else if (b == RIPREL) a += blk_rip;
  const x = load<u8>(r, R_INDEX);
  if (x != NONE) a += rd64(x) << <u64>load<u8>(r, R_SCALE);
  const asz = load<u8>(r, R_ASZ);
  if (asz == 2) return a;
  return asz == 1 ? a & 0xFFFFFFFF : a & 0xFFFF;
}

// Linear address of the memory operand for an access of `n` bytes.
@inline export function mem_lin(r: usize, n: u32, write: bool): u64 {
  const s = <u32>load<u8>(r, R_SEG);
  const a = ea(r);
  if (mode64()) return s >= 4 ? a + seg_base(s) : a;
  return seg_lin(s, a, n, write);
}

// Legacy-mode segmentation: limit, expand-down, type and usability checks
// (SDM Vol. 3A §5.3). Raises #GP(0), or #SS(0) for SS, and returns 0.
export function seg_lin(s: u32, off: u64, n: u32, write: bool): u64 {
  const m = load<u32>(STATE + S_MODE);
  if (m & MODE_64) return s >= 4 ? off + seg_base(s) : off;
  const attr = seg_attr(s);
  const vec = s == SEG_SS ? X86_TRAP_SS : X86_TRAP_GP;
  if ((m & MODE_PE) && !(m & MODE_VM86)) {
    if (attr & ATTR_UNUSABLE) { raise(vec, 0, true); return 0; }
    const type = attr & 0xF;
    if (type & 8) {           // code: readable only with R, never writable
      if (write || !(type & 2)) { raise(vec, 0, true); return 0; }
    } else if (write && !(type & 2)) { raise(vec, 0, true); return 0; }
    if (!(type & 8) && (type & 4)) {   // expand-down data
      const upper: u64 = (attr & ATTR_DB) ? 0xFFFFFFFF : 0xFFFF;
      if (off <= <u64>seg_limit(s) || off + <u64>n - 1 > upper) { raise(vec, 0, true); return 0; }
      return (seg_base(s) + off) & 0xFFFFFFFF;
    }
  }
  if (off + <u64>n - 1 > <u64>seg_limit(s)) { raise(vec, 0, true); return 0; }
  return (seg_base(s) + off) & 0xFFFFFFFF;
}

// ---- register and r/m operands, generic over the size type T and the form M ----
// Register writes of 32 bits zero the upper half (SDM Vol. 1 §3.4.1.1);
// 8- and 16-bit writes merge.
@inline export function rdregT<T>(off: u32): u64 { return <u64>load<T>(STATE + off); }
@inline export function wrregT<T>(off: u32, v: u64): void {
  if (sizeof<T>() == 4) store<u64>(STATE + off, v & 0xFFFFFFFF);
  else store<T>(STATE + off, <T>v);
}
@inline export function maskT<T>(): u64 { return sizeof<T>() == 8 ? <u64>-1 : ((<u64>1 << <u64>(sizeof<T>() * 8)) - 1); }

@inline export function read_ET<T, M>(r: usize): u64 {
  if (is<M, Mem>()) {
    const a = mem_lin(r, <u32>sizeof<T>(), false);
    if (fault_pending) return 0;
    return ldT<T>(a, load<u8>(r, R_SEG));
  }
  return rdregT<T>(load<u8>(r, R_RM));
}
@inline export function write_ET<T, M>(r: usize, v: u64): bool {
  if (is<M, Mem>()) {
    const a = mem_lin(r, <u32>sizeof<T>(), true);
    if (fault_pending) return false;
    return stT<T>(a, v, load<u8>(r, R_SEG));
  }
  wrregT<T>(load<u8>(r, R_RM), v);
  return true;
}
@inline export function read_GT<T>(r: usize): u64 { return rdregT<T>(load<u8>(r, R_REG)); }
@inline export function write_GT<T>(r: usize, v: u64): void { wrregT<T>(load<u8>(r, R_REG), v); }

// Read-modify-write memory operands: the linear address is computed once.
export let rmw_lin: u64 = 0;
@inline export function read_rmwT<T>(r: usize): u64 {
  const a = mem_lin(r, <u32>sizeof<T>(), true);
  if (fault_pending) return 0;
  rmw_lin = a;
  return ld_rmwT<T>(a, load<u8>(r, R_SEG));
}
@inline export function write_rmwT<T>(r: usize, v: u64): bool {
  return stT<T>(rmw_lin, v, load<u8>(r, R_SEG));
}

// Runtime-sized forms for cold handlers (S in bits).
export function read_E(r: usize, S: u32, M: bool): u64 {
  if (!M) return rdreg(load<u8>(r, R_RM), S);
  const a = mem_lin(r, S >> 3, false);
  if (fault_pending) return 0;
  return ld(a, S >> 3, load<u8>(r, R_SEG));
}
export function write_E(r: usize, S: u32, M: bool, v: u64): bool {
  if (!M) { wrreg(load<u8>(r, R_RM), S, v); return true; }
  const a = mem_lin(r, S >> 3, true);
  if (fault_pending) return false;
  return st(a, S >> 3, v, load<u8>(r, R_SEG));
}
export function read_G(r: usize, S: u32): u64 { return rdreg(load<u8>(r, R_REG), S); }
export function write_G(r: usize, S: u32, v: u64): void { wrreg(load<u8>(r, R_REG), S, v); }
export function read_E_rmw(r: usize, S: u32): u64 {
  const a = mem_lin(r, S >> 3, true);
  if (fault_pending) return 0;
  rmw_lin = a;
  return ld_rmw(a, S >> 3, load<u8>(r, R_SEG));
}
export function write_E_rmw(r: usize, S: u32, v: u64): bool {
  return st(rmw_lin, S >> 3, v, load<u8>(r, R_SEG));
}

// ---- stack ----
// Stack width: 64 in 64-bit mode, else SS.B (32) or 16.
@inline export function stack_width(): u32 {
  const m = load<u32>(STATE + S_MODE);
  return (m & MODE_64) ? 64 : (m & MODE_SS32) ? 32 : 16;
}
@inline function sp_mask(w: u32): u64 { return w == 64 ? <u64>-1 : w == 32 ? <u64>0xFFFFFFFF : <u64>0xFFFF; }

// Push `n` bytes; RSP is committed only after the store succeeds.
@inline export function pushT<T>(v: u64): bool {
  const n = <u32>sizeof<T>();
  const m = load<u32>(STATE + S_MODE);
  if (m & MODE_64) {
    const nsp = rd64(RSP) - <u64>n;
    if (!stT<T>(nsp, v, SEG_SS)) return false;
    store<u64>(STATE + RSP, nsp);
    return true;
  }
  return push_legacy(v, n);
}
export function push(v: u64, n: u32): bool {
  if (n == 8) return pushT<u64>(v);
  if (n == 4) return pushT<u32>(v);
  return pushT<u16>(v);
}
function push_legacy(v: u64, n: u32): bool {
  const w32 = (load<u32>(STATE + S_MODE) & MODE_SS32) != 0;
  const nsp = (rd64(RSP) - <u64>n) & (w32 ? <u64>0xFFFFFFFF : <u64>0xFFFF);
  const lin = seg_lin(SEG_SS, nsp, n, true);
  if (fault_pending) return false;
  if (!st(lin, n, v, SEG_SS)) return false;
  if (w32) store<u64>(STATE + RSP, nsp); else store<u16>(STATE + RSP, <u16>nsp);
  return true;
}
// Pop `n` bytes (RSP changes only if the read succeeds).
@inline export function popT<T>(): u64 {
  const m = load<u32>(STATE + S_MODE);
  if (m & MODE_64) {
    const sp = rd64(RSP);
    const v = ldT<T>(sp, SEG_SS);
    if (fault_pending) return 0;
    store<u64>(STATE + RSP, sp + <u64>sizeof<T>());
    return v;
  }
  const v = stack_peek(0, <u32>sizeof<T>());
  if (fault_pending) return 0;
  sp_add(<u64>sizeof<T>());
  return v;
}
// Read the value `off` bytes above the stack top (no RSP change).
export function stack_peek(off: u32, n: u32): u64 {
  const w = stack_width();
  const sp = (rd64(RSP) + <u64>off) & sp_mask(w);
  let lin = sp;
  if (w != 64) { lin = seg_lin(SEG_SS, sp, n, false); if (fault_pending) return 0; }
  return ld(lin, n, SEG_SS);
}
export function sp_add(n: u64): void {
  const w = stack_width();
  const nsp = (rd64(RSP) + n) & sp_mask(w);
  if (w == 16) store<u16>(STATE + RSP, <u16>nsp); else store<u64>(STATE + RSP, nsp);
}
export function pop(n: u32): u64 {
  const v = stack_peek(0, n);
  if (fault_pending) return 0;
  sp_add(<u64>n);
  return v;
}

// operand-size mask
@inline export function mask(S: u32): u64 { return S == 64 ? <u64>-1 : ((<u64>1 << <u64>S) - 1); }
@inline export function sext(v: u64, S: u32): u64 {
  const sh = <u64>(64 - S);
  return <u64>((<i64>(v << sh)) >> sh);
}
// code-segment helper for far transfers in legacy modes
@inline export function cs_is32(): bool { return (seg_attr(SEG_CS) & ATTR_DB) != 0; }

// A far pointer m16:16/32/64 (offset, then selector) for far JMP/CALL and
// LDS/LES/LSS/LFS/LGS: sets far_off/far_sel, or faults.
export let far_off: u64 = 0;
export let far_sel: u32 = 0;
export function read_far_ptr(r: usize, S: u32): bool {
  const n = S >> 3;
  const a = mem_lin(r, n + 2, false);
  if (fault_pending) return false;
  const s = <u32>load<u8>(r, R_SEG);
  const off = ld(a, n, s);
  if (fault_pending) return false;
  const sel = <u32>ld(a + <u64>n, 2, s);
  if (fault_pending) return false;
  far_off = off; far_sel = sel;
  return true;
}
