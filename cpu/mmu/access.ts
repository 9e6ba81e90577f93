// Linear-address reads and writes through a software TLB.
//
// The TLB has two sets (supervisor, user) of 1024 direct-mapped entries. An
// entry holds one tag per access kind (read, write, fetch) and the addend from
// linear to host address; a tag is set only when that access is allowed
// without further work, so a hit costs one compare. Writes to pages holding
// decoded code, read-only slots and not-yet-dirty pages always miss and take
// the slow path, which is where self-modifying code is detected.
import {
  TLB, STATE, S_CPL, S_MODE, CODEMAP, CODEGEN, RUN, R_EXIT_REASON, R_MMIO_PHYS, R_MMIO_DATA, R_MMIO_LEN,
  R_MMIO_WRITE, EXIT_MMIO, MODE_LMA, SEG_SS, S_CR0, S_RFLAGS,
} from "../layout";
import { walk, walk_pa, walk_dirty, walk_user, ACC_W, ACC_U, ACC_X, ACC_SMAP } from "./paging";
import { S_CR4, S_RFLAGS } from "../layout";
import { CR4_SMAP, AC } from "../state";
import { phys_lookup, phys_host, phys_ro, a20_mask } from "./phys";
import { raise, X86_TRAP_GP, X86_TRAP_SS, X86_TRAP_AC, VEC_MMIO } from "../except/fault";
import { blk_ppn, set_blk_end, set_exit_after } from "../ctl";

const TLB_ENTRIES: u32 = 1024;
const TLB_SET_BYTES: u32 = TLB_ENTRIES * 64;   // entry: tag_r @0, tag_w @8, tag_x @16, addend @24, physical page @32
const INVALID: u64 = 1;        // never equals a page-aligned address

// Byte offset of the TLB set in use for ordinary accesses (user set at CPL3).
export let tlb_set: u32 = 0;
// Fetch cache: linear page of the last instruction fetch and its host page.
export let fetch_lin: u64 = INVALID;
export let fetch_host: usize = 0;
export let fetch_pa: u64 = 0;

// One-shot MMIO read response supplied by the host after an MMIO exit.
let mmio_resp_valid: bool = false;
let mmio_resp_pa: u64 = 0;
let mmio_resp_data: u64 = 0;

export function tlb_flush(): void {
  for (let p: u32 = TLB; p < TLB + 2 * TLB_SET_BYTES; p += 64) {
    store<u64>(p, INVALID);
    store<u64>(p, INVALID, 8);
    store<u64>(p, INVALID, 16);
  }
  fetch_lin = INVALID;
}

export function tlb_flush_page(lin: u64): void {
  const idx = (<u32>(lin >> 12) & (TLB_ENTRIES - 1)) << 6;
  for (let s: u32 = 0; s < 2; s++) {
    const p = TLB + s * TLB_SET_BYTES + idx;
    store<u64>(p, INVALID);
    store<u64>(p, INVALID, 8);
    store<u64>(p, INVALID, 16);
  }
  fetch_lin = INVALID;
}

// Only write tags: used when a page becomes a code page.
function tlb_flush_writes(): void {
  for (let p: u32 = TLB; p < TLB + 2 * TLB_SET_BYTES; p += 64) store<u64>(p, INVALID, 8);
}

// Alignment checking (CPL3, CR0.AM and RFLAGS.AC) selects a third TLB set
// that is never filled, so every access takes the slow path, where the
// alignment is checked (ac_check). The common case pays nothing.
const AC_SET: u32 = 2 * TLB_SET_BYTES;
let ac_set_ready = false;
let ac_on = false;

// Called whenever CPL, CR0.AM or RFLAGS.AC changes.
export function tlb_select(): void {
  const user = load<u32>(STATE + S_CPL) == 3;
  ac_on = user && (load<u64>(STATE + S_CR0) & 0x40000) != 0 && (load<u64>(STATE + S_RFLAGS) & 0x40000) != 0;
  if (ac_on && !ac_set_ready) {
    for (let p: u32 = TLB + AC_SET; p < TLB + AC_SET + TLB_SET_BYTES; p += 64) {
      store<u64>(p, INVALID); store<u64>(p, INVALID, 8); store<u64>(p, INVALID, 16);
    }
    ac_set_ready = true;
  }
  tlb_set = ac_on ? AC_SET : user ? TLB_SET_BYTES : 0;
  fetch_lin = INVALID;
}

// #AC(0) for a misaligned data access of 2, 4 or 8 bytes while alignment
// checking is on (SDM Vol. 3A §6.15 "Alignment Check Exception"). Checked
// before the page walk: measured on Zen 4, a misaligned locked CMPXCHG8B on a
// read-only page is #AC, not #PF; a non-canonical address is still #GP/#SS.
@inline function ac_fault(lin: u64, size: u32, sys: bool): bool {
  if (!ac_on || sys || size > 8 || (size & (size - 1)) != 0 || (<u32>lin & (size - 1)) == 0) return false;
  // a non-canonical address is #GP/#SS first (translate raises it)
  if ((load<u32>(STATE + S_MODE) & MODE_LMA) && !canonical(lin)) return false;
  raise(X86_TRAP_AC, 0, true);
  return true;
}

@inline function canonical(lin: u64): bool {
  return <u64>((<i64>(lin << 16)) >> 16) == lin;
}

// ---- translation (slow path) ----
export let tr_host: usize = 0;
export let tr_pa: u64 = 0;
export let tr_mmio: bool = false;

// Translate one linear address for access kind `acc` (ACC_W / ACC_X bits;
// ACC_U is derived from CPL unless `sys` asks for an implicit supervisor
// access). Fills the TLB. Returns false on a fault (raised) or when the
// address is not RAM (tr_mmio = true, no fault).
export function translate(lin: u64, acc: u32, seg: u32, sys: bool): bool {
  tr_mmio = false;
  if ((load<u32>(STATE + S_MODE) & MODE_LMA) && !canonical(lin)) {
    raise(seg == SEG_SS ? X86_TRAP_SS : X86_TRAP_GP, 0, true);
    return false;
  }
  const user = !sys && load<u32>(STATE + S_CPL) == 3;
  if (user) acc |= ACC_U;
  // SMAP: supervisor data accesses to user pages fault, explicit ones only with AC=0
  const smap = !user && !(acc & ACC_X) && (load<u64>(STATE + S_CR4) & CR4_SMAP) != 0;
  if (smap && (sys || !(load<u64>(STATE + S_RFLAGS) & AC))) acc |= ACC_SMAP;
  if (!walk(lin, acc)) return false;
  // A20 gating applies to the physical address: code and data seen through
  // the alias are the same physical bytes (block cache, SMC map, TLB)
  const pa = walk_pa & a20_mask;
  tr_pa = pa;
  if (!phys_lookup(pa)) { tr_mmio = true; return false; }
  tr_host = phys_host;
  if ((acc & ACC_W) && phys_ro) { tr_mmio = true; return false; }
  // fill the TLB entry of the set this access belongs to
  const e = TLB + (user ? TLB_SET_BYTES : 0) + ((<u32>(lin >> 12) & (TLB_ENTRIES - 1)) << 6);
  const page = lin & ~<u64>0xFFF;
  const hostpage = <u64>(phys_host & ~<usize>0xFFF);
  if (load<u64>(e, 24) != hostpage - page) {
    // new mapping for this slot: drop stale tags
    store<u64>(e, INVALID); store<u64>(e, INVALID, 8); store<u64>(e, INVALID, 16);
  }
  store<u64>(e, hostpage - page, 24);
  store<u64>(e, pa & ~<u64>0xFFF, 32);
  // Reads allowed whenever the walk for this privilege succeeded. With
  // protection keys the walk for a read may still have been denied, which
  // never reaches here.
  // (With SMAP a supervisor entry for a user page is never cached: whether it
  // may be used depends on RFLAGS.AC, which STAC/CLAC/POPF change freely.)
  const uncached = smap && walk_user;
  if (!(acc & ACC_X) && !uncached) store<u64>(e, page);
  const ppn = pa >> 12;
  const has_code = ppn < 0x100000 && load<u64>(CODEMAP + <u32>ppn * 8) != 0;
  if ((acc & ACC_W) && walk_dirty && !phys_ro && !has_code && !uncached) store<u64>(e, page, 8);
  if (acc & ACC_X) store<u64>(e, page, 16);
  return true;
}

// ---- self-modifying code ----
// A store hit a page with decoded code: if it overlaps a decoded 64-byte
// chunk, bump the page's generation (its blocks become stale) and, if the
// executing block is on that page, stop it after this instruction.
export function smc_check(pa: u64, size: u32): void {
  const ppn = pa >> 12;
  if (ppn >= 0x100000) return;
  const map = load<u64>(CODEMAP + <u32>ppn * 8);
  if (map == 0) return;
  const first = <u32>(pa & 0xFFF) >> 6;
  const last = <u32>((pa + <u64>size - 1) & 0xFFF) >> 6;
  const last_c: u32 = last < first ? 63 : last;
  let bits: u64 = 0;
  for (let c = first; c <= last_c; c++) bits |= <u64>1 << <u64>c;
  if (!(map & bits)) return;
  store<u32>(CODEGEN + <u32>ppn * 4, load<u32>(CODEGEN + <u32>ppn * 4) + 1);
  store<u64>(CODEMAP + <u32>ppn * 8, 0);
  if (ppn == blk_ppn) set_blk_end(0);
}

// Mark 64-byte chunks of a physical page as holding decoded code.
export function mark_code(pa: u64, len: u32): void {
  const ppn = pa >> 12;
  if (ppn >= 0x100000) return;
  const p = CODEMAP + <u32>ppn * 8;
  const old = load<u64>(p);
  const first = <u32>(pa & 0xFFF) >> 6;
  const last = <u32>((pa & 0xFFF) + <u64>len - 1) >> 6;
  let bits = old;
  for (let c = first; c <= last && c < 64; c++) bits |= <u64>1 << <u64>c;
  store<u64>(p, bits);
  if (old == 0) tlb_flush_writes();
}

// ---- MMIO ----
export function mmio_respond(pa: u64, data: u64): void {
  mmio_resp_valid = true; mmio_resp_pa = pa; mmio_resp_data = data;
}
function mmio_read(pa: u64, size: u32): u64 {
  if (mmio_resp_valid && mmio_resp_pa == pa) {
    mmio_resp_valid = false;
    return mmio_resp_data;
  }
  store<u32>(RUN + R_EXIT_REASON, EXIT_MMIO);
  store<u64>(RUN + R_MMIO_PHYS, pa);
  store<u64>(RUN + R_MMIO_DATA, 0);
  store<u32>(RUN + R_MMIO_LEN, size);
  store<u8>(RUN + R_MMIO_WRITE, 0);
  raise(VEC_MMIO, 0, false);
  return 0;
}
function mmio_write(pa: u64, size: u32, v: u64): void {
  store<u32>(RUN + R_EXIT_REASON, EXIT_MMIO);
  store<u64>(RUN + R_MMIO_PHYS, pa);
  store<u64>(RUN + R_MMIO_DATA, v);
  store<u32>(RUN + R_MMIO_LEN, size);
  store<u8>(RUN + R_MMIO_WRITE, 1);
  set_exit_after(true);
  set_blk_end(0);
}

// ---- generic slow paths ----
// Reads `size` bytes at `lin` (may cross a page). Both pages are translated
// before anything is read so a fault leaves no trace.
export function read_slow(lin: u64, size: u32, seg: u32, acc: u32, sys: bool): u64 {
  if (ac_fault(lin, size, sys)) return 0;
  const off = <u32>lin & 0xFFF;
  if (off + size <= 4096) {
    if (!translate(lin, acc, seg, sys)) {
      if (tr_mmio) return mmio_read(tr_pa, size);
      return 0;
    }
    return load_n(tr_host, size);
  }
  const n1: u32 = 4096 - off;
  if (!translate(lin, acc, seg, sys)) {
    if (tr_mmio) return mmio_read(tr_pa, size);
    return 0;
  }
  const h1 = tr_host;
  const lin2 = lin + <u64>n1;
  if (!translate(lin2, acc, seg, sys)) {
    if (tr_mmio) return mmio_read(tr_pa, size);
    return 0;
  }
  const h2 = tr_host;
  let v: u64 = 0;
  for (let i: u32 = 0; i < size; i++) {
    const b = i < n1 ? load<u8>(h1 + i) : load<u8>(h2 + (i - n1));
    v |= (<u64>b) << (<u64>i * 8);
  }
  return v;
}

export function write_slow(lin: u64, size: u32, v: u64, seg: u32, sys: bool): bool {
  if (ac_fault(lin, size, sys)) return false;
  const off = <u32>lin & 0xFFF;
  if (off + size <= 4096) {
    if (!translate(lin, ACC_W, seg, sys)) {
      if (tr_mmio) { mmio_write(tr_pa, size, v); return true; }
      return false;
    }
    smc_check(tr_pa, size);
    store_n(tr_host, size, v);
    return true;
  }
  const n1: u32 = 4096 - off;
  if (!translate(lin, ACC_W, seg, sys)) {
    if (tr_mmio) { mmio_write(tr_pa, size, v); return true; }
    return false;
  }
  const h1 = tr_host, pa1 = tr_pa;
  if (!translate(lin + <u64>n1, ACC_W, seg, sys)) {
    if (tr_mmio) { mmio_write(tr_pa, size, v); return true; }
    return false;
  }
  const h2 = tr_host, pa2 = tr_pa;
  smc_check(pa1, n1);
  smc_check(pa2, size - n1);
  for (let i: u32 = 0; i < size; i++) {
    const b = <u8>(v >> (<u64>i * 8));
    if (i < n1) store<u8>(h1 + i, b); else store<u8>(h2 + (i - n1), b);
  }
  return true;
}

// Check that `len` bytes at `lin` are writable (both ends), without writing:
// instructions that store several pieces call this first so a #PF on the
// last piece leaves memory untouched.
export function probe_write(lin: u64, len: u32, seg: u32): bool {
  if (!translate(lin, ACC_W, seg, false) && !tr_mmio) return false;
  const last = lin + <u64>len - 1;
  if ((last ^ lin) >> 12) {
    // the second page is checked at its first byte: a #PF there reports that address in CR2, as
    // silicon does for a store that crosses into it (measured: MOVHPS/VCVTPS2PH at page end - 3)
    if (!translate(last & ~<u64>0xFFF, ACC_W, seg, false) && !tr_mmio) return false;
  }
  return true;
}

@inline function load_n(h: usize, size: u32): u64 {
  if (size == 8) return load<u64>(h);
  if (size == 4) return <u64>load<u32>(h);
  if (size == 2) return <u64>load<u16>(h);
  if (size == 1) return <u64>load<u8>(h);
  let v: u64 = 0;
  for (let i: u32 = 0; i < size; i++) v |= (<u64>load<u8>(h + i)) << (<u64>i * 8);
  return v;
}
@inline function store_n(h: usize, size: u32, v: u64): void {
  if (size == 8) store<u64>(h, v);
  else if (size == 4) store<u32>(h, <u32>v);
  else if (size == 2) store<u16>(h, <u16>v);
  else if (size == 1) store<u8>(h, <u8>v);
  else for (let i: u32 = 0; i < size; i++) store<u8>(h + i, <u8>(v >> (<u64>i * 8)));
}

// ---- fast paths (linear address already includes the segment base) ----
// The access size is the integer type T (u8..u64), so each call site
// compiles to one tag compare, one bounds compare and one load or store.
@inline export function ldT<T>(lin: u64, seg: u32): u64 {
  const n = <u32>sizeof<T>();
  const e = TLB + tlb_set + ((<u32>(lin >> 12) & (TLB_ENTRIES - 1)) << 6);
  if (load<u64>(e) == (lin & ~<u64>0xFFF) && (<u32>lin & 0xFFF) <= 4096 - n) {
    return <u64>load<T>(<usize>(lin + load<u64>(e, 24)));
  }
  return read_slow(lin, n, seg, 0, false);
}

// Read for a read-modify-write: needs write permission, so a not-present
// page reports W=1 in the #PF error code as on silicon.
@inline export function ld_rmwT<T>(lin: u64, seg: u32): u64 {
  const n = <u32>sizeof<T>();
  const e = TLB + tlb_set + ((<u32>(lin >> 12) & (TLB_ENTRIES - 1)) << 6);
  if (load<u64>(e, 8) == (lin & ~<u64>0xFFF) && (<u32>lin & 0xFFF) <= 4096 - n) {
    return <u64>load<T>(<usize>(lin + load<u64>(e, 24)));
  }
  return read_slow(lin, n, seg, ACC_W, false);
}

@inline export function stT<T>(lin: u64, v: u64, seg: u32): bool {
  const n = <u32>sizeof<T>();
  const e = TLB + tlb_set + ((<u32>(lin >> 12) & (TLB_ENTRIES - 1)) << 6);
  if (load<u64>(e, 8) == (lin & ~<u64>0xFFF) && (<u32>lin & 0xFFF) <= 4096 - n) {
    store<T>(<usize>(lin + load<u64>(e, 24)), <T>v);
    return true;
  }
  return write_slow(lin, n, v, seg, false);
}

// Host address of `lin` if the TLB already allows the access without further
// work (a write hit also means: dirty, RAM, no decoded code on the page), else 0.
// Bulk string operations use it to work on a whole page at once.
@inline export function tlb_host(lin: u64, write: bool): usize {
  const e = TLB + tlb_set + ((<u32>(lin >> 12) & (TLB_ENTRIES - 1)) << 6);
  if (load<u64>(e + (write ? 8 : 0)) != (lin & ~<u64>0xFFF)) return 0;
  return <usize>(lin + load<u64>(e, 24));
}

// Runtime-sized variants for the cold paths (n = 1, 2, 4 or 8 bytes).
export function ld(lin: u64, n: u32, seg: u32): u64 {
  if (n == 8) return ldT<u64>(lin, seg);
  if (n == 4) return ldT<u32>(lin, seg);
  if (n == 2) return ldT<u16>(lin, seg);
  return ldT<u8>(lin, seg);
}
export function ld_rmw(lin: u64, n: u32, seg: u32): u64 {
  if (n == 8) return ld_rmwT<u64>(lin, seg);
  if (n == 4) return ld_rmwT<u32>(lin, seg);
  if (n == 2) return ld_rmwT<u16>(lin, seg);
  return ld_rmwT<u8>(lin, seg);
}
export function st(lin: u64, n: u32, v: u64, seg: u32): bool {
  if (n == 8) return stT<u64>(lin, v, seg);
  if (n == 4) return stT<u32>(lin, v, seg);
  if (n == 2) return stT<u16>(lin, v, seg);
  return stT<u8>(lin, v, seg);
}

// Implicit supervisor accesses (descriptor tables, TSS, IDT) bypass CPL.
export function ld_sys(lin: u64, size: u32): u64 { return read_slow(lin, size, 0xFF, 0, true); }
export function st_sys(lin: u64, size: u32, v: u64): bool { return write_slow(lin, size, v, 0xFF, true); }

// Fetch translation of the page holding `lin` (sets fetch_host / fetch_pa).
export function fetch_translate(lin: u64): bool {
  const page = lin & ~<u64>0xFFF;
  // fetches are not alignment-checked: use the user set under AC
  const set = ac_on ? TLB_SET_BYTES : tlb_set;
  const e = TLB + set + ((<u32>(lin >> 12) & (TLB_ENTRIES - 1)) << 6);
  if (load<u64>(e, 16) != page) {
    if (!translate(lin, ACC_X, 1, false)) return false;
  }
  fetch_lin = page;
  fetch_host = <usize>(page + load<u64>(e, 24));
  fetch_pa = load<u64>(e, 32);
  return true;
}
