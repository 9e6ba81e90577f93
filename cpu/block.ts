// Decoded-block cache. A block is a run of decoded records starting at one
// guest-physical address, ending at a control transfer, an instruction that
// changes decode state (END attribute), a page boundary, a breakpoint or 64
// instructions. Blocks are keyed by (physical address, decode mode) and
// checked against the page's generation, which a store into decoded code
// bumps (mmu/access.ts smc_check).
//
// A block is a 32-byte header (chain link, key, generation, instruction
// count, byte length) followed by its records; hash heads live in BLK_HASH.
import { BLK_HASH, BLK_ARENA, BLK_ARENA_END, CODEGEN, REC, XBUF, SCRATCH, STATE, S_NBP, S_DBG_CTRL, BP_LIST, DBG_SW_BP } from "./layout";
import { decode, last_attr, last_rel, A_END, R_START, R_RM, R_DISP, R_IMM, R_ID, R_LEN, RIPREL, D_MORE, D_UD, D_GP } from "./decode/decoder";
import { mark_code } from "./mmu/access";

export const MAX_INSNS: u32 = 64;
const HASH_BITS: u32 = 18;
const HASH_MASK: u32 = (1 << HASH_BITS) - 1;
export const H_NEXT: u32 = 0;     // u32 next in chain
export const H_KEY: u32 = 8;      // u64 key
export const H_GEN: u32 = 16;     // u32 page generation
export const H_N: u32 = 20;       // u16 instruction count
export const H_LEN: u32 = 22;     // u16 bytes
export const H_SIZE: u32 = 32;    // records start here

// handler ids for decode failures (reserved by cpu/gen/gen.ts)
export const ID_UD: u16 = 0;
export const ID_GP_LEN: u16 = 1;

let arena_top: usize = BLK_ARENA;
// Set when a block is built (its page marked in CODEMAP): flush_code has work to do only
// then. Start-up calls slot() five times before any code runs, and each full flush writes
// 13 MiB (hash heads, CODEMAP, CODEGEN): ~50 ms of page faults for nothing.
export let code_dirty: bool = false;
export function set_code_dirty(v: bool): void { code_dirty = v; }

export function blocks_flush(): void {
  memory.fill(BLK_HASH, 0, (1 << HASH_BITS) * 4);
  arena_top = BLK_ARENA;
}

@inline function hash(key: u64): u32 {
  return <u32>((key ^ (key >> 12) ^ (key >> 29)) * 0x9E3779B1) >> (32 - HASH_BITS);
}

@inline export function page_gen(pa: u64): u32 {
  const ppn = pa >> 12;
  return ppn < 0x100000 ? load<u32>(CODEGEN + <u32>ppn * 4) : 0;
}

// Find a valid block for `pa` in mode `m`, or 0.
@inline export function block_lookup(pa: u64, m: u32): usize {
  const key = pa | (<u64>m << 56);
  let p = load<u32>(BLK_HASH + (hash(key) << 2));
  while (p != 0) {
    if (load<u64>(p, H_KEY) == key) {
      if (load<u32>(p, H_GEN) == page_gen(pa)) return p;
      return 0;
    }
    p = load<u32>(p, H_NEXT);
  }
  return 0;
}

// Is there a software breakpoint at linear `lin`?
export function bp_at(lin: u64): bool {
  const n = load<u32>(STATE + S_NBP);
  for (let i: u32 = 0; i < n; i++) if (load<u64>(SCRATCH + BP_LIST + i * 8) == lin) return true;
  return false;
}

// Build a block from the host bytes of a page. `host` points at the first
// instruction, `avail` bytes remain in the page, `lin` is its linear address
// (for breakpoints), `pa` physical. Returns the block or 0 when the first
// instruction crosses the page end (D_MORE: the caller uses build_single).
export function block_build(host: usize, avail: u32, lin: u64, pa: u64, m: u32): usize {
  if (arena_top + H_SIZE + MAX_INSNS * REC > BLK_ARENA_END) blocks_flush();
  const b = arena_top;
  let rec = b + H_SIZE;
  let off: u32 = 0;
  let n: u32 = 0;
  const check_bp = (load<u32>(STATE + S_DBG_CTRL) & DBG_SW_BP) != 0 && load<u32>(STATE + S_NBP) != 0;
  while (n < MAX_INSNS) {
    if (n > 0 && check_bp && bp_at(lin + <u64>off)) break;
    const len = decode(host + off, avail - off, m, rec);
    if (len < 0) {
      if (len == D_MORE) {
        if (n == 0) return 0;
        break;
      }
      // the fault is raised when the block reaches this record
      store<u64>(rec, 0); store<u64>(rec, 0, 8); store<u64>(rec, 0, 16); store<u64>(rec, 0, 24);
      store<u16>(rec, len == D_GP ? ID_GP_LEN : ID_UD, R_ID);
      store<u16>(rec, <u16>off, R_START);
      store<u8>(rec, 1, R_LEN);
      n++;
      rec += REC;
      off += 1;
      break;
    }
    rebase(rec, off, <u32>len);
    n++;
    rec += REC;
    off += <u32>len;
    if ((last_attr & A_END) || off >= avail) break;
  }
  store<u64>(b, pa | (<u64>m << 56), H_KEY);
  store<u32>(b, page_gen(pa), H_GEN);
  store<u16>(b, <u16>n, H_N);
  store<u16>(b, <u16>off, H_LEN);
  const hp = BLK_HASH + (hash(pa | (<u64>m << 56)) << 2);
  store<u32>(b, load<u32>(hp), H_NEXT);
  store<u32>(hp, <u32>b);
  arena_top = rec;
  code_dirty = true;
  mark_code(pa, off);
  return b;
}

// Make RIP-relative displacements and branch targets relative to the block's
// first RIP (the handlers add blk_rip).
@inline function rebase(rec: usize, off: u32, len: u32): void {
  store<u16>(rec, <u16>off, R_START);
  const end = <i64>(off + len);
  if (load<u8>(rec, R_RM) == RIPREL) store<i32>(rec, load<i32>(rec, R_DISP) + <i32>end, R_DISP);
  if (last_rel) store<i64>(rec, load<i64>(rec, R_IMM) + end, R_IMM);
}

// One instruction that crosses a page end: decoded from XBUF into a private,
// uncached single-record block.
const SINGLE: usize = SCRATCH + 0xC00;
export function build_single(len_avail: u32, m: u32): i32 {
  const rec = SINGLE + H_SIZE;
  const len = decode(SCRATCH + XBUF, len_avail, m, rec);
  if (len < 0) {
    if (len == D_MORE) return D_MORE;
    store<u64>(rec, 0); store<u64>(rec, 0, 8); store<u64>(rec, 0, 16); store<u64>(rec, 0, 24);
    store<u16>(rec, len == D_GP ? ID_GP_LEN : ID_UD, R_ID);
    store<u8>(rec, 1, R_LEN);
    store<u16>(SINGLE, 1, H_N);
    store<u16>(SINGLE, 1, H_LEN);
    return 1;
  }
  rebase(rec, 0, <u32>len);
  store<u16>(SINGLE, 1, H_N);
  store<u16>(SINGLE, <u16>len, H_LEN);
  return len;
}
export function single_block(): usize { return SINGLE; }
