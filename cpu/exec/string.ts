// String instructions: MOVS CMPS STOS LODS SCAS (A4-A7, AA-AF), with and
// without REP/REPE/REPNE (SDM Vol. 2 pages of each; Vol. 1 §7.3.9).
//
// Operands: source DS:rSI (segment overridable), destination ES:rDI (never
// overridable); rSI/rDI/rCX have the address size (67 prefix), they step by
// the element size, downwards when RFLAGS.DF = 1.
//
// REP forms run their iterations inside one handler and keep rSI/rDI/rCX in
// locals that are written back on every way out, so a fault in iteration i
// leaves the registers describing iterations i.. and RIP at the instruction
// (restartable, as on silicon). A REP row ends its block (`end`), so the
// handler can also stop after a bounded chunk and return ST_END with
// next_rip = the instruction itself: the run loop services events and its
// budget, then re-enters the instruction with the remaining count. With
// RFLAGS.TF set each iteration is one such step (single-step traps after
// every iteration, RIP at the instruction until the last).
//
// Fast path: a run of elements that stays inside one page on both sides
// works on host memory directly (memory.copy / fill / a tight loop), using a
// TLB-translated host pointer. Element order is kept exactly when source and
// destination overlap; stores into pages with decoded code go through
// smc_check first; MMIO, page-straddling elements and segment-limit edges
// fall back to one element at a time through the ordinary access paths.
import { STATE, MODE_64, S_MODE, S_LF_RES, SEG_ES, CODEMAP } from "../layout";
import { rd64, rdreg, wrreg, flags_raw, seg_base, RAX, RCX, RSI, RDI, DF, TF } from "../state";
import { R_ASZ, R_SEG, R_PFX, R_START, P_REPNE } from "../decode/decoder";
import { ldT, stT, tlb_host, translate, tr_host, tr_pa, tr_mmio, smc_check } from "../mmu/access";
import { ACC_R, ACC_W } from "../mmu/paging";
import { seg_lin, rdregT, wrregT, maskT } from "./operand";
import { is, bits } from "./consts";
import { set_lazy, LF_SUB } from "../flags";
import { fault_pending, clear_fault, ST_OK, ST_FAULT, ST_END } from "../except/fault";
import { blk_rip, exit_after, set_next_rip } from "../ctl";

// operation selectors (marker classes, folded at compile time)
class KMovs {}
class KCmps {}
class KStos {}
class KLods {}
class KScas {}

// Work allowed per handler call before the instruction yields to the run
// loop: one element on the slow path costs 16 units, a byte on the fast path
// 1 unit (4096 slow iterations or 64 KiB of bulk work).
const CHUNK: i64 = 65536;

@inline function amask(asz: u32): u64 { return asz == 2 ? <u64>-1 : asz == 1 ? <u64>0xFFFFFFFF : <u64>0xFFFF; }
@inline function abits(asz: u32): u32 { return asz == 2 ? 64 : asz == 1 ? 32 : 16; }

// Linear address of seg:off for an element of n bytes (legacy modes check
// limits and types; raises and returns 0 on failure).
@inline function str_lin(s: u32, off: u64, n: u32, write: bool): u64 {
  if (load<u32>(STATE + S_MODE) & MODE_64) return s >= 4 ? off + seg_base(s) : off;
  return seg_lin(s, off, n, write);
}

@inline function uses_src<K>(): bool { return is<K, KMovs>() || is<K, KCmps>() || is<K, KLods>(); }
@inline function uses_dst<K>(): bool { return !is<K, KLods>(); }
@inline function writes_dst<K>(): bool { return is<K, KMovs>() || is<K, KStos>(); }
@inline function compares<K>(): bool { return is<K, KCmps>() || is<K, KScas>(); }

// ---- one element (non-REP forms, and the REP slow path) ----
// Working registers, shared by the single-element step and the REP driver.
let w_si: u64 = 0;
let w_di: u64 = 0;

// Perform one element of K at w_si/w_di (already masked); advances them by
// `step` (masked by `am`). Returns false after a fault (nothing changed).
@inline function elem<T, K>(s: u32, step: u64, am: u64): bool {
  const n = <u32>sizeof<T>();
  let a: u64 = 0;
  if (uses_src<K>()) {
    const sl = str_lin(s, w_si, n, false);
    if (fault_pending) return false;
    a = ldT<T>(sl, s);
    if (fault_pending) return false;
  }
  if (uses_dst<K>()) {
    const dl = str_lin(SEG_ES, w_di, n, writes_dst<K>());
    if (fault_pending) return false;
    if (is<K, KMovs>()) { if (!stT<T>(dl, a, SEG_ES)) return false; }
    else if (is<K, KStos>()) { if (!stT<T>(dl, rdregT<T>(RAX), SEG_ES)) return false; }
    else {
      const b = ldT<T>(dl, SEG_ES);
      if (fault_pending) return false;
      // CMPS compares [rSI] - [rDI]; SCAS compares rAX - [rDI]
      const x: u64 = is<K, KCmps>() ? a : rdregT<T>(RAX);
      set_lazy(LF_SUB, bits<T>(), (x - b) & maskT<T>(), x, b);
    }
  }
  if (is<K, KLods>()) wrregT<T>(RAX, a);
  if (uses_src<K>()) w_si = (w_si + step) & am;
  if (uses_dst<K>()) w_di = (w_di + step) & am;
  return true;
}

@inline function one<T, K>(r: usize): i32 {
  const asz = <u32>load<u8>(r, R_ASZ);
  const am = amask(asz);
  const n = <u64>sizeof<T>();
  const step: u64 = (flags_raw() & DF) ? 0 - n : n;
  w_si = rd64(RSI) & am;
  w_di = rd64(RDI) & am;
  if (!elem<T, K>(<u32>load<u8>(r, R_SEG), step, am)) return ST_FAULT;
  const cb = abits(asz);
  if (uses_src<K>()) wrreg(RSI, cb, w_si);
  if (uses_dst<K>()) wrreg(RDI, cb, w_di);
  return ST_OK;
}

// A4/A5 MOVS Yb,Xb / Yv,Xv
@inline export function movs<T>(r: usize): i32 { return one<T, KMovs>(r); }
// A6/A7 CMPS Xb,Yb / Xv,Yv
@inline export function cmps<T>(r: usize): i32 { return one<T, KCmps>(r); }
// AA/AB STOS Yb,AL / Yv,rAX
@inline export function stos<T>(r: usize): i32 { return one<T, KStos>(r); }
// AC/AD LODS AL,Xb / rAX,Xv
@inline export function lods<T>(r: usize): i32 { return one<T, KLods>(r); }
// AE/AF SCAS AL,Yb / rAX,Yv
@inline export function scas<T>(r: usize): i32 { return one<T, KScas>(r); }

// F3/F2 prefixed forms (F2 on MOVS/STOS/LODS acts as REP, as on silicon)
export function rep_movs<T>(r: usize): i32 { return rep<T, KMovs>(r); }
export function rep_cmps<T>(r: usize): i32 { return rep<T, KCmps>(r); }
export function rep_stos<T>(r: usize): i32 { return rep<T, KStos>(r); }
export function rep_lods<T>(r: usize): i32 { return rep<T, KLods>(r); }
export function rep_scas<T>(r: usize): i32 { return rep<T, KScas>(r); }

// ---- host windows for the fast path ----
let win_host: usize = 0;   // host address of the first element
let win_k: u64 = 0;        // elements available in the window (0: use the slow path)

// Find how many of the next `max` elements of n bytes at s:off (going down
// when `down`) lie in the same page, inside the segment and without offset
// wrap-around, and the host address of the first. Returns false after a
// fault on the first element (the caller reports it); win_k = 0 when only
// the slow path can proceed (MMIO, straddling element, segment edge).
function window(s: u32, off: u64, n: u32, max: u64, down: bool, am: u64, write: bool): bool {
  win_k = 0;
  const lin = str_lin(s, off, n, write);
  if (fault_pending) return false;
  const po = <u32>lin & 0xFFF;
  if (po + n > 4096) return true;
  const nn = <u64>n;
  let k = max;
  if (!down) {
    const room = <u64>((4096 - po) / n);
    if (room < k) k = room;
    if ((am - off) / nn < k - 1) k = (am - off) / nn + 1;
  } else {
    const room = <u64>(po / n) + 1;
    if (room < k) k = room;
    if (off / nn < k - 1) k = off / nn + 1;
  }
  if (k < 2) return true;
  if (!(load<u32>(STATE + S_MODE) & MODE_64)) {
    // limits are monotonic: checking the last element covers the run
    str_lin(s, down ? off - (k - 1) * nn : off + (k - 1) * nn, n, write);
    if (fault_pending) { clear_fault(); return true; }
  }
  let h = tlb_host(lin, write);
  if (h == 0) {
    if (!translate(lin, write ? ACC_W : ACC_R, s, false)) return !fault_pending;
    h = tr_host;
    if (write) {
      const ppn = tr_pa >> 12;
      if (ppn < 0x100000 && load<u64>(CODEMAP + <u32>ppn * 8) != 0) {
        const len = <u32>(k * nn);
        smc_check(down ? tr_pa + nn - <u64>len : tr_pa, len);
      }
    }
  }
  win_host = h;
  win_k = k;
  return true;
}

// The REP driver. Returns ST_OK when the instruction completed (rCX reached
// 0 or the REPE/REPNE condition ended it), ST_END to be re-entered at the
// same RIP, ST_FAULT with the registers describing the remaining work.
function rep<T, K>(r: usize): i32 {
  const n = <u32>sizeof<T>();
  const nn = <u64>n;
  const asz = <u32>load<u8>(r, R_ASZ);
  const am = amask(asz);
  const cb = abits(asz);
  let cx = rdreg(RCX, cb);
  if (cx == 0) return ST_OK;
  const s = <u32>load<u8>(r, R_SEG);
  const fl = flags_raw();
  const down = (fl & DF) != 0;
  const step: u64 = down ? 0 - nn : nn;
  const tf = (fl & TF) != 0;
  // REPNE (F2) ends CMPS/SCAS on equality, REPE (F3) on inequality
  const until_eq = compares<K>() && (load<u8>(r, R_PFX) & P_REPNE) != 0;
  w_si = rd64(RSI) & am;
  w_di = rd64(RDI) & am;
  let units: i64 = tf ? 0 : CHUNK;
  let st = ST_OK;
  let done = false;
  while (true) {
    let k: u64 = 0;
    if (!tf && cx > 1) {
      // fast path: a window on each side
      let hs: usize = 0, hd: usize = 0;
      let kk = cx;
      if (uses_src<K>()) {
        if (!window(s, w_si, n, kk, down, am, false)) { st = ST_FAULT; break; }
        hs = win_host; kk = win_k;
      }
      if (kk >= 2 && uses_dst<K>()) {
        if (!window(SEG_ES, w_di, n, kk, down, am, writes_dst<K>())) { st = ST_FAULT; break; }
        hd = win_host; kk = win_k;
      }
      if (kk >= 2) {
        k = bulk<T, K>(hs, hd, kk, down, until_eq);
        const adv: u64 = down ? 0 - k * nn : k * nn;
        if (uses_src<K>()) w_si = (w_si + adv) & am;
        if (uses_dst<K>()) w_di = (w_di + adv) & am;
        cx -= k;
        units -= <i64>(k * nn) + 16;
        if (compares<K>() && bulk_stop) { done = true; break; }
      }
    }
    if (k == 0) {
      // slow path: one element through the ordinary access functions
      if (!elem<T, K>(s, step, am)) { st = ST_FAULT; break; }
      cx--;
      units -= 16;
      if (compares<K>() && zf_stops(until_eq)) { done = true; break; }
      if (exit_after) { if (cx == 0) done = true; break; }   // MMIO write: exit after this element
    }
    if (cx == 0) { done = true; break; }
    if (units <= 0) break;
  }
  if (uses_src<K>()) wrreg(RSI, cb, w_si);
  if (uses_dst<K>()) wrreg(RDI, cb, w_di);
  wrreg(RCX, cb, cx);
  if (st == ST_FAULT) return ST_FAULT;
  if (done) return ST_OK;
  set_next_rip(blk_rip + <u64>load<u16>(r, R_START));
  return ST_END;
}

// After a slow-path compare: does the REPE/REPNE condition end the loop?
@inline function zf_stops(until_eq: bool): bool {
  const eq = load<u64>(STATE + S_LF_RES) == 0;   // elem() just recorded LF_SUB
  return until_eq ? eq : !eq;
}

// Set by bulk() for CMPS/SCAS: the last compared pair ended the loop.
let bulk_stop: bool = false;

// Do up to k elements on host memory; returns how many were done (≥ 1).
@inline function bulk<T, K>(hs: usize, hd: usize, k: u64, down: bool, until_eq: bool): u64 {
  const n = <usize>sizeof<T>();
  const len = <usize>k * n;
  if (is<K, KMovs>()) {
    // element order matters when the destination overlaps the part of the
    // source still to be read: forward with hd in (hs, hs+len), or backward
    // with hd in (hs-len, hs)
    const hazard = down ? (hd < hs && hd + len > hs) : (hd > hs && hd < hs + len);
    if (!hazard) {
      if (down) memory.copy(hd + n - len, hs + n - len, len);
      else memory.copy(hd, hs, len);
    } else {
      let ps = hs, pd = hd;
      for (let i: u64 = 0; i < k; i++) {
        store<T>(pd, load<T>(ps));
        if (down) { ps -= n; pd -= n; } else { ps += n; pd += n; }
      }
    }
    return k;
  }
  if (is<K, KStos>()) {
    const v = <T>rdregT<T>(RAX);
    const start = down ? hd + n - len : hd;
    if (sizeof<T>() == 1) memory.fill(start, <u8>v, len);
    else for (let p = start; p < start + len; p += n) store<T>(p, v);
    return k;
  }
  if (is<K, KLods>()) {
    wrregT<T>(RAX, <u64>load<T>(down ? hs + n - len : hs + len - n));
    return k;
  }
  // CMPS / SCAS: compare until the condition ends the loop or k run out
  const m = maskT<T>();
  const av: u64 = is<K, KScas>() ? rdregT<T>(RAX) : 0;
  let ps = hs, pd = hd;
  let i: u64 = 0;
  let a: u64 = 0, b: u64 = 0;
  bulk_stop = false;
  while (i < k) {
    a = is<K, KScas>() ? av : <u64>load<T>(ps);
    b = <u64>load<T>(pd);
    i++;
    if ((a == b) == until_eq) { bulk_stop = true; break; }
    if (down) { ps -= n; pd -= n; } else { ps += n; pd += n; }
  }
  set_lazy(LF_SUB, bits<T>(), (a - b) & m, a, b);
  return i;
}
