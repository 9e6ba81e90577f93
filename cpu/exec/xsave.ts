// The XSAVE family and its control: XSETBV/XGETBV, XSAVE/XSAVEOPT/XSAVEC/
// XSAVES, XRSTOR/XRSTORS, FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, and the host-mode
// save/restore primitives the hypervisor's fpstate code runs (XSAVES/XRSTORS
// semantics on a buffer in host memory with the current XFD; a fault is
// returned to the caller instead of being delivered to a guest).
//
// Rules and their order follow shared/reference/isa.md §3–§7 (SDM Vol. 1
// ch. 13, the instruction pages, and what was measured on silicon); each
// non-obvious rule cites the section. The register file lives at XSTATE in
// the standard format with Intel's offsets (cpu/layout.ts X_*); a model with
// other CPUID.0xD offsets (AMD) is saved to its own offsets from S_XCOMP.
import {
  STATE, XSTATE, S_XCR0, S_XSS, S_XFD, S_XFD_ERR, S_PKRU, S_XINUSE, S_XMODIFIED, S_XRSTOR_LA, S_XRSTOR_INFO,
  S_XCOMP, S_XCR0_SUPPORTED, S_XSS_SUPPORTED, S_XFD_SUPPORTED, S_XFEAT, S_MXCSR_MASK, S_FEAT, S_MODE, S_CPL, S_CR0,
  S_CR4, S_RFLAGS, MODE_64, FEAT_XSAVE, FEAT_XFD, SEG_SS, S_VENDOR,
  S_DIRTY_XMM, S_DIRTY_YMMH, S_DIRTY_ZMMH, S_DIRTY_HI16, S_DIRTY_K,
  X_FCW, X_FSW, X_FTW, X_FOP, X_FIP, X_FDP, X_MXCSR, X_ST, X_XMM, X_YMMH, X_KREG, X_ZMMH, X_HI16, X_TILECFG, X_TILES, X_END,
} from "../layout";
import { rd32, wr32, RAX, RCX, RDX, CR0_TS, CR0_EM, CR0_AM, CR4_OSXSAVE, CR4_OSFXSR, AC } from "../state";
import { ld, st } from "../mmu/access";
import { mem_lin } from "./operand";
import { R_SEG, R_PFX, P_LOCK, P_REXW } from "../decode/decoder";
import { translate, tr_host, tr_pa, tr_mmio, smc_check, tlb_flush, tlb_host } from "../mmu/access";
import { ACC_W } from "../mmu/paging";
import { fault_pending, raise, raise_gp, raise_ud, ST_OK, ST_FAULT, ST_END, X86_TRAP_NM, X86_TRAP_AC, X86_TRAP_GP, VEC_INTERNAL, clear_fault, fault_vec } from "../except/fault";
import { cpuid_query, cpuid_out_a, cpuid_out_b, cpuid_out_c, cpuid_out_d } from "./misc";

const B63: u64 = <u64>1 << 63;
const MXCSR_DEFAULT: u32 = 0x1F80;

// ---- model layout (from CPUID leaf 0xD) ----
// Internal offset of component i in the register file, or 0xFFFF when the
// component has no state here (PKRU lives in S_PKRU; CET state is kept in a
// spare area after the tiles so XSAVES/XRSTORS round-trip it).
const X_CET_U: u32 = X_END;
const X_CET_S: u32 = X_END + 16;
@inline function internal_off(i: u32): u32 {
  switch (i) {
    case 2: return X_YMMH;
    case 5: return X_KREG;
    case 6: return X_ZMMH;
    case 7: return X_HI16;
    case 11: return X_CET_U;
    case 12: return X_CET_S;
    case 17: return X_TILECFG;
    case 18: return X_TILES;
  }
  return 0xFFFF;
}
@inline function comp_off(i: u32): u32 { return load<u32>(STATE + S_XCOMP + i * 16); }
@inline function comp_size(i: u32): u32 { return load<u32>(STATE + S_XCOMP + i * 16, 4); }
@inline function comp_ecx(i: u32): u32 { return load<u32>(STATE + S_XCOMP + i * 16, 8); }

// Cache the model's leaf 0xD (called by the host after loading CPUID).
export function xsave_setup(): void {
  memory.fill(STATE + S_XCOMP, 0, 32 * 16);
  cpuid_query(0xD, 0);
  store<u64>(STATE + S_XCR0_SUPPORTED, (<u64>cpuid_out_d << 32) | <u64>cpuid_out_a);
  cpuid_query(0xD, 1);
  store<u32>(STATE + S_XFEAT, cpuid_out_a);
  store<u64>(STATE + S_XSS_SUPPORTED, (<u64>cpuid_out_d << 32) | <u64>cpuid_out_c);
  let xfd: u64 = 0;
  for (let i: u32 = 2; i < 32; i++) {
    cpuid_query(0xD, i);
    if (cpuid_out_a == 0) continue;
    const p = STATE + S_XCOMP + i * 16;
    store<u32>(p, cpuid_out_b);
    store<u32>(p, cpuid_out_a, 4);
    store<u32>(p, cpuid_out_c, 8);
    store<u32>(p, 1, 12);
    if (cpuid_out_c & 4) xfd |= <u64>1 << <u64>i;
  }
  if (!(load<u32>(STATE + S_XFEAT) & 16)) xfd = 0;
  store<u64>(STATE + S_XFD_SUPPORTED, xfd);
  store<u32>(STATE + S_MXCSR_MASK, 0xFFFF);
}

// ---- XINUSE / XMODIFIED ----
// Any write to component i marks it in use and modified (isa.md §5: Intel
// sets XINUSE[i] on every write, whatever the value). AMD Zen 4 (measured
// by test/cpu/xsave.test.ts) returns a register to its init state when a
// zero idiom (PXOR/VPXOR/VPSUBD/XORPS x,x,x; KXOR k,k,k) writes it, and
// derives XINUSE of the vector components from per-register bits, kept in
// S_DIRTY_* for both flavours and consulted when S_VENDOR = 1.
@inline export function touch(mask: u64): void {
  store<u64>(STATE + S_XINUSE, load<u64>(STATE + S_XINUSE) | mask);
  store<u64>(STATE + S_XMODIFIED, load<u64>(STATE + S_XMODIFIED) | mask);
}
// Register parts (bits: 1 XMM, 2 YMM_Hi128, 6 ZMM_Hi256, 7 Hi16_ZMM) of
// vector register n written with data (`dirty`) or zeroed by an idiom or
// upper-zeroing (`!dirty`, AMD: back to init; Intel: no change to XINUSE).
export function touch_vreg(n: u32, parts: u64, dirty: bool): void {
  if (dirty) touch(parts);
  else store<u64>(STATE + S_XMODIFIED, load<u64>(STATE + S_XMODIFIED) | parts);
  const bit: u32 = 1 << (n & 15);
  if (n >= 16) { dirty_set(S_DIRTY_HI16, bit, dirty); return; }
  if (parts & 2) dirty_set(S_DIRTY_XMM, bit, dirty);
  if (parts & 4) dirty_set(S_DIRTY_YMMH, bit, dirty);
  if (parts & 0x40) dirty_set(S_DIRTY_ZMMH, bit, dirty);
}
export function touch_kreg(n: u32, dirty: bool): void {
  if (dirty) touch(0x20);
  else store<u64>(STATE + S_XMODIFIED, load<u64>(STATE + S_XMODIFIED) | 0x20);
  dirty_set(S_DIRTY_K, 1 << n, dirty);
}
@inline function dirty_set(off: u32, bit: u32, on: bool): void {
  const v = load<u32>(STATE + off);
  store<u32>(STATE + off, on ? v | bit : v & ~bit);
}
export function amd_flavour(): bool { return load<u32>(STATE + S_VENDOR) == 1; }
// XINUSE as the processor reports it (XGETBV(1), the XSAVE headers)
export function xinuse(): u64 {
  const v = load<u64>(STATE + S_XINUSE);
  if (!amd_flavour()) return v;
  let r = v & ~<u64>0xE6;
  if (load<u32>(STATE + S_DIRTY_XMM)) r |= 2;
  if (load<u32>(STATE + S_DIRTY_YMMH)) r |= 4;
  if (load<u32>(STATE + S_DIRTY_K)) r |= 0x20;
  if (load<u32>(STATE + S_DIRTY_ZMMH)) r |= 0x40;
  if (load<u32>(STATE + S_DIRTY_HI16)) r |= 0x80;
  return r;
}
// All registers of the components in `mask` in use (1) or init (0).
export function set_components_inuse(mask: u64, inuse: bool): void {
  const all: u32 = inuse ? 0xFFFF : 0;
  if (mask & 2) store<u32>(STATE + S_DIRTY_XMM, all);
  if (mask & 4) store<u32>(STATE + S_DIRTY_YMMH, all);
  if (mask & 0x20) store<u32>(STATE + S_DIRTY_K, all & 0xFF);
  if (mask & 0x40) store<u32>(STATE + S_DIRTY_ZMMH, all);
  if (mask & 0x80) store<u32>(STATE + S_DIRTY_HI16, all);
}
@inline function xcr0(): u64 { return load<u64>(STATE + S_XCR0); }
@inline function xfd_disabled(): u64 {
  return (load<u32>(STATE + S_FEAT) & FEAT_XFD) ? xcr0() & load<u64>(STATE + S_XFD) : 0;
}
@inline function in64(): bool { return (load<u32>(STATE + S_MODE) & MODE_64) != 0; }

// ---- the XSAVE area in guest memory ----
// Up to 4 pages (11 KiB + alignment); each is translated before any state
// or memory changes, so a #PF leaves nothing half done (isa.md §6.3).
let xa_lin: u64 = 0;
let xa_seg: u32 = 0;
let xa_sys: bool = false;       // host-mode primitive: implicit supervisor access, no CPL
let xa_host_mode: bool = false;  // buffer is a host address, no translation at all
let xa_base_host: usize = 0;
const xa_page_host = memory.data(8 * 5);
const xa_page_pa = memory.data(8 * 5);
const xa_page_w = memory.data(5);

function xa_begin(lin: u64, seg: u32): void {
  xa_lin = lin; xa_seg = seg;
  memory.fill(xa_page_w, 0, 5);
  for (let i: u32 = 0; i < 5; i++) store<u64>(xa_page_host + i * 8, <u64>-1);
}

// Translate the pages covering [off, off+len), highest byte first (the order
// in which silicon reports the first fault of a save).
function xa_need(off: u32, len: u32, write: bool): bool {
  if (len == 0) return true;
  if (xa_host_mode) return true;
  const first = xa_lin + <u64>off;
  const last = first + <u64>len - 1;
  const p0 = xa_lin >> 12;
  let page = last >> 12;
  while (true) {
    const idx = <u32>(page - p0);
    const have = load<u64>(xa_page_host + idx * 8) != <u64>-1;
    if (!have || (write && !load<u8>(xa_page_w + idx))) {
      const probe = page == (last >> 12) ? last : (page << 12) | 0xFFF;
      // a TLB hit needs no walk; a write hit also means the page holds no
      // decoded code (no self-modification check needed: pa = all-ones)
      const th = xa_sys ? 0 : tlb_host(probe, write);
      if (th != 0) {
        store<u64>(xa_page_host + idx * 8, <u64>th & ~<u64>0xFFF);
        store<u64>(xa_page_pa + idx * 8, <u64>-1);
        if (write) store<u8>(xa_page_w + idx, 1);
        if (page == (first >> 12)) break;
        page--;
        continue;
      }
      if (!translate(probe, write ? ACC_W : 0, xa_seg, xa_sys)) {
        if (tr_mmio) raise(VEC_INTERNAL, 0, false);
        return false;
      }
      store<u64>(xa_page_host + idx * 8, <u64>(tr_host & ~<usize>0xFFF));
      store<u64>(xa_page_pa + idx * 8, tr_pa & ~<u64>0xFFF);
      if (write) store<u8>(xa_page_w + idx, 1);
    }
    if (page == (first >> 12)) break;
    page--;
  }
  return true;
}

// Copy between the register file (or a scratch buffer) and the area.
// Host address of area byte `off` when [off, off+len) lies in one page whose
// write needs no self-modification check, else 0 (then the general path runs).
@inline function xa_direct(off: u32, len: u32, write: bool): usize {
  if (xa_host_mode) return xa_base_host + off;
  const lin = xa_lin + <u64>off;
  if ((<u32>lin & 0xFFF) + len > 4096) return 0;
  const idx = <u32>((lin >> 12) - (xa_lin >> 12));
  if (write && load<u64>(xa_page_pa + idx * 8) != <u64>-1) return 0;
  return <usize>load<u64>(xa_page_host + idx * 8) + (<usize>lin & 0xFFF);
}
// Copy `len` bytes between the area at `off` and `buf`, page by page; a write
// into a page that may hold decoded code goes through the SMC check.
function xa_copy(off: u32, buf: usize, len: u32, write: bool): void {
  const d = xa_direct(off, len, write);
  if (d != 0) { if (write) memory.copy(d, buf, len); else memory.copy(buf, d, len); return; }
  let lin = xa_lin + <u64>off;
  let done: u32 = 0;
  const p0 = xa_lin >> 12;
  while (done < len) {
    const n = min(4096 - (<u32>lin & 0xFFF), len - done);
    const idx = <u32>((lin >> 12) - p0);
    const h = <usize>load<u64>(xa_page_host + idx * 8) + (<usize>lin & 0xFFF);
    if (write) {
      const pa = load<u64>(xa_page_pa + idx * 8);
      if (pa != <u64>-1) smc_check(pa + (lin & 0xFFF), n);
      memory.copy(h, buf + done, n);
    } else memory.copy(buf + done, h, n);
    done += n;
    lin += <u64>n;
  }
}
@inline function xa_out(off: u32, src: usize, len: u32): void { xa_copy(off, src, len, true); }
@inline function xa_in(off: u32, dst: usize, len: u32): void { xa_copy(off, dst, len, false); }
const tmp = memory.data(64);
function xa_rd64(off: u32): u64 { const d = xa_direct(off, 8, false); if (d) return load<u64>(d); xa_in(off, tmp, 8); return load<u64>(tmp); }
function xa_wr64(off: u32, v: u64): void { const d = xa_direct(off, 8, true); if (d) { store<u64>(d, v); return; } store<u64>(tmp, v); xa_out(off, tmp, 8); }
function xa_rd32(off: u32): u32 { const d = xa_direct(off, 4, false); if (d) return load<u32>(d); xa_in(off, tmp, 4); return load<u32>(tmp); }
function xa_wr32(off: u32, v: u32): void { const d = xa_direct(off, 4, true); if (d) { store<u32>(d, v); return; } store<u32>(tmp, v); xa_out(off, tmp, 4); }

// ---- x87 legacy region ----
// Slot j of the image holds ST(j) = physical register (TOP + j) mod 8; the
// abridged tag is physical (isa.md §4.1, measured). FCS/FDS are saved as 0
// (CPUID.07H:EBX[13] deprecates them); the 32-bit format stores FIP[31:0].
const x87buf = memory.data(160);
function x87_image(rexw: bool, init: bool): void {
  memory.fill(x87buf, 0, 160);
  if (init) { store<u16>(x87buf, 0x37F); return; }
  store<u16>(x87buf, load<u16>(XSTATE + X_FCW));
  const fsw = load<u16>(XSTATE + X_FSW);
  store<u16>(x87buf, fsw, 2);
  store<u8>(x87buf, load<u8>(XSTATE + X_FTW), 4);
  store<u16>(x87buf, load<u16>(XSTATE + X_FOP) & 0x7FF, 6);
  const fip = load<u64>(XSTATE + X_FIP), fdp = load<u64>(XSTATE + X_FDP);
  if (rexw) { store<u64>(x87buf, fip, 8); store<u64>(x87buf, fdp, 16); }
  else { store<u32>(x87buf, <u32>fip, 8); store<u32>(x87buf, <u32>fdp, 16); }
  const top = (<u32>fsw >> 11) & 7;
  for (let j: u32 = 0; j < 8; j++) {
    const src = XSTATE + X_ST + ((top + j) & 7) * 16;
    memory.copy(x87buf + 32 + j * 16, src, 10);
  }
}
function x87_load(img: usize, rexw: bool): void {
  store<u16>(XSTATE + X_FCW, load<u16>(img));
  const fsw = load<u16>(img, 2);
  store<u16>(XSTATE + X_FSW, fsw);
  store<u8>(XSTATE + X_FTW, load<u8>(img, 4));
  store<u16>(XSTATE + X_FOP, load<u16>(img, 6) & 0x7FF);
  if (rexw) { store<u64>(XSTATE + X_FIP, load<u64>(img, 8)); store<u64>(XSTATE + X_FDP, load<u64>(img, 16)); }
  else { store<u64>(XSTATE + X_FIP, <u64>load<u32>(img, 8)); store<u64>(XSTATE + X_FDP, <u64>load<u32>(img, 16)); }
  const top = (<u32>fsw >> 11) & 7;
  for (let j: u32 = 0; j < 8; j++) {
    const dst = XSTATE + X_ST + ((top + j) & 7) * 16;
    memory.copy(dst, img + 32 + j * 16, 10);
    store<u32>(dst + 10, 0); store<u16>(dst + 14, 0);
  }
}
function x87_init(): void {
  store<u16>(XSTATE + X_FCW, 0x37F);
  store<u16>(XSTATE + X_FSW, 0);
  store<u8>(XSTATE + X_FTW, 0);
  store<u16>(XSTATE + X_FOP, 0);
  store<u64>(XSTATE + X_FIP, 0);
  store<u64>(XSTATE + X_FDP, 0);
  memory.fill(XSTATE + X_ST, 0, 128);
}

// XMM registers saved/restored: 16 in 64-bit mode, 8 outside (isa.md §4.3).
@inline function nregs(): u32 { return in64() ? 16 : 8; }
// Bytes of component i that exist in the current mode (components 2 and 6
// shrink to 8 registers outside 64-bit mode; 7 is absent).
function live_size(i: u32, size: u32): u32 {
  if (in64()) return size;
  if (i == 2) return 128;
  if (i == 6) return 256;
  if (i == 7) return 0;
  return size;
}

function comp_init(i: u32): void {
  if (i == 0) { x87_init(); return; }
  if (i == 1) { memory.fill(XSTATE + X_XMM, 0, nregs() * 16); return; }
  if (i == 9) { store<u32>(STATE + S_PKRU, 0); return; }
  const o = internal_off(i);
  if (o == 0xFFFF) return;
  memory.fill(XSTATE + o, 0, live_size(i, comp_size(i)));
}

const zero_page = memory.data(8192);

// Write component i (i ≥ 2) to the area at `off`; `as_init` writes its init
// configuration (XFD-disabled components under XSAVE, isa.md §7.3).
function save_comp(i: u32, off: u32, as_init: bool): void {
  if (i == 9) { xa_wr32(off, as_init ? 0 : load<u32>(STATE + S_PKRU)); return; }   // only bytes 3:0 (M12)
  const o = internal_off(i);
  const n = live_size(i, comp_size(i));
  if (o == 0xFFFF || n == 0) return;
  xa_out(off, as_init ? zero_page : XSTATE + o, n);
}
function load_comp(i: u32, off: u32): void {
  if (i == 9) { store<u32>(STATE + S_PKRU, xa_rd32(off)); tlb_flush(); return; }
  const o = internal_off(i);
  const n = live_size(i, comp_size(i));
  if (o == 0xFFFF || n == 0) return;
  xa_in(off, XSTATE + o, n);
  if (i == 17 && !tilecfg_valid(XSTATE + X_TILECFG)) memory.fill(XSTATE + X_TILECFG, 0, 64);  // silent init (isa.md §10.5)
}

// A TILECFG image is valid for palette 0 (anything else ignored) or palette 1
// with the limits of isa.md §10.4.
export function tilecfg_valid(p: usize): bool {
  const pal = load<u8>(p);
  if (pal == 0) return true;
  if (pal > 1) return false;
  for (let b: u32 = 2; b < 16; b++) if (load<u8>(p + b) != 0) return false;
  for (let b: u32 = 32; b < 48; b++) if (load<u8>(p + b) != 0) return false;
  for (let b: u32 = 56; b < 64; b++) if (load<u8>(p + b) != 0) return false;
  for (let t: u32 = 0; t < 8; t++) {
    const colsb = <u32>load<u16>(p + 16 + t * 2), rows = <u32>load<u8>(p + 48 + t);
    if (colsb > 64 || rows > 16) return false;
    if ((colsb == 0) != (rows == 0)) return false;
  }
  return true;
}

// ---- common checks (isa.md §6.2) ----
// #UD (feature, CR4.OSXSAVE, LOCK), #NM (CR0.TS), #GP at CPL>0 for the S
// forms, then the address (canonical / limit) and alignment.
function xsave_checks(r: usize, feature_bit: u32, priv: bool): bool {
  if (!(load<u32>(STATE + S_FEAT) & FEAT_XSAVE) || !(load<u64>(STATE + S_CR4) & CR4_OSXSAVE) || (load<u8>(r, R_PFX) & P_LOCK)) { raise_ud(); return false; }
  if (feature_bit != 0xFF && !(load<u32>(STATE + S_XFEAT) & (1 << feature_bit))) { raise_ud(); return false; }
  if (load<u64>(STATE + S_CR0) & CR0_TS) { raise(X86_TRAP_NM, 0, false); return false; }
  if (priv && load<u32>(STATE + S_CPL) != 0) { raise_gp(0); return false; }
  return true;
}
// The area's linear address with the canonical/limit check first, then
// alignment: #AC for low-2-bit misalignment when alignment checking is on,
// otherwise #GP (isa.md §6.2 item 5, measured).
function area_lin(r: usize, align: u32): u64 {
  const lin = mem_lin(r, 1, false);
  if (fault_pending) return 0;
  // canonical check of the whole span happens in translate(); the first byte must be canonical now
  if (in64() && <u64>((<i64>(lin << 16)) >> 16) != lin) { raise(load<u8>(r, R_SEG) == SEG_SS ? 12 : X86_TRAP_GP, 0, true); return 0; }
  if (<u32>lin & (align - 1)) {
    const ac = (load<u64>(STATE + S_CR0) & CR0_AM) && (load<u64>(STATE + S_RFLAGS) & AC) && load<u32>(STATE + S_CPL) == 3;
    if (ac && (<u32>lin & 3)) raise(X86_TRAP_AC, 0, true); else raise_gp(0);
    return 0;
  }
  return lin;
}

// RFBM = EDX:EAX & XCR0 (| XSS for the S forms)
@inline function rfbm(S_form: bool): u64 {
  const req = (<u64>rd32(RDX) << 32) | <u64>rd32(RAX);
  return req & (S_form ? (xcr0() | load<u64>(STATE + S_XSS)) : xcr0());
}

// Largest byte offset + 1 written by a standard-format save of `mask`.
function std_extent(mask: u64): u32 {
  let end: u32 = 576;
  for (let m = mask & ~<u64>3; m != 0; m &= m - 1) {
    const i = <u32>ctz(m);
    const e = comp_off(i) + comp_size(i);
    if (e > end) end = e;
  }
  return end;
}
// Compacted offsets (isa.md §4.4)
const coff = memory.data(4 * 32);
function compact_layout(mask: u64): u32 {
  let off: u32 = 576;
  for (let m = mask & ~<u64>3; m != 0; m &= m - 1) {
    const i = <u32>ctz(m);
    if (comp_ecx(i) & 2) off = (off + 63) & ~63;
    store<u32>(coff + i * 4, off);
    off += comp_size(i);
  }
  return off;
}

// ---- saves ----
const K_XSAVE: u32 = 0, K_XSAVEOPT: u32 = 1, K_XSAVEC: u32 = 2, K_XSAVES: u32 = 3;

function do_save(kind: u32, rexw: bool, rf: u64): bool {
  const xfddis = xfd_disabled();
  const inuse = xinuse() & ~xfddis;
  const mxcsr = load<u32>(XSTATE + X_MXCSR);
  if (kind == K_XSAVE || kind == K_XSAVEOPT) {
    // probe: highest component first, header (read-modify-write), legacy
    for (let m = rf & ~<u64>3; m != 0;) {
      const i = 63 - <u32>clz(m);
      m &= ~(<u64>1 << <u64>i);
      if (!xa_need(comp_off(i), comp_size(i), true)) return false;
    }
    if (!xa_need(512, 8, true)) return false;
    if (rf & 1) { if (!xa_need(0, 24, true) || !xa_need(32, 128, true)) return false; }
    if (rf & 6) { if (!xa_need(24, 8, true)) return false; }
    if (rf & 2) { if (!xa_need(160, 256, true)) return false; }
    const old = xa_rd64(512);
    // the modified optimisation (isa.md §5, measured M11) for XSAVEOPT
    let skip: u64 = 0;
    if (kind == K_XSAVEOPT) {
      skip = ~inuse;
      if (load<u64>(STATE + S_XRSTOR_LA) == xa_lin && (load<u64>(STATE + S_XRSTOR_INFO) >> 62) == <u64>load<u32>(STATE + S_CPL) &&
          (load<u64>(STATE + S_XRSTOR_INFO) & ~(<u64>3 << 62)) == 0) skip |= ~load<u64>(STATE + S_XMODIFIED);
    }
    if ((rf & 1) && !(skip & 1)) { x87_image(rexw, (xfddis & 1) != 0); xa_out(0, x87buf, 24); xa_out(32, x87buf + 32, 128); }
    if ((rf & 2) && !(skip & 2)) xa_out(160, XSTATE + X_XMM, nregs() * 16);
    if (rf & 6) { xa_wr32(24, mxcsr); xa_wr32(28, load<u32>(STATE + S_MXCSR_MASK)); }
    for (let m = rf & ~skip & ~<u64>3; m != 0; m &= m - 1) {
      const i = <u32>ctz(m);
      save_comp(i, comp_off(i), ((xfddis >> <u64>i) & 1) != 0);
    }
    xa_wr64(512, (old & ~rf) | (inuse & rf));
    return true;
  }
  // compacted: XSAVEC / XSAVES
  let tbs = rf & inuse;
  if ((rf & 2) && mxcsr != MXCSR_DEFAULT) tbs |= 2;          // isa.md §6.4 (M4)
  const end = compact_layout(rf);
  for (let m = tbs & ~<u64>3; m != 0;) {
    const i = 63 - <u32>clz(m);
    m &= ~(<u64>1 << <u64>i);
    if (!xa_need(load<u32>(coff + i * 4), comp_size(i), true)) return false;
  }
  if (!xa_need(512, 16, true)) return false;
  if (tbs & 1) { if (!xa_need(0, 24, true) || !xa_need(32, 128, true)) return false; }
  if (tbs & 2) { if (!xa_need(24, 8, true) || !xa_need(160, 256, true)) return false; }
  if (tbs & 1) { x87_image(rexw, false); xa_out(0, x87buf, 24); xa_out(32, x87buf + 32, 128); }
  if (tbs & 2) { xa_wr32(24, mxcsr); xa_wr32(28, load<u32>(STATE + S_MXCSR_MASK)); xa_out(160, XSTATE + X_XMM, nregs() * 16); }
  for (let m = tbs & ~<u64>3; m != 0; m &= m - 1) { const i = <u32>ctz(m); save_comp(i, load<u32>(coff + i * 4), false); }
  xa_wr64(512, tbs);
  xa_wr64(520, rf | B63);
  void end;
  return true;
}

// ---- restores ----
const hdr = memory.data(64);
const legacy = memory.data(512);

function do_restore(S_form: bool, rexw: bool, rf: u64): bool {
  // legacy region first when x87 is requested (its #PF precedes header #GP, M8)
  if (rf & 1) { if (!xa_need(0, 160, false)) return false; }
  else if (rf & 6) { if (!xa_need(24, 4, false)) return false; }
  if (!xa_need(512, 64, false)) return false;
  xa_in(512, hdr, 64);
  const bv = load<u64>(hdr);
  const comp = load<u64>(hdr, 8);
  const compacted = (comp & B63) != 0;
  const allowed = S_form ? (xcr0() | load<u64>(STATE + S_XSS)) : xcr0();
  // header validation (isa.md §6.5, measured M6)
  if (!compacted) {
    if (S_form) { raise_gp(0); return false; }
    if ((bv & ~xcr0()) || comp != 0 || load<u64>(hdr, 16) != 0) { raise_gp(0); return false; }
  } else {
    if (!(load<u32>(STATE + S_XFEAT) & 2)) { raise_gp(0); return false; }
    const fmt = comp & ~B63;
    if ((fmt & ~allowed) || (bv & ~fmt)) { raise_gp(0); return false; }
    for (let o: u32 = 16; o < 64; o += 8) if (load<u64>(hdr + o) != 0) { raise_gp(0); return false; }
  }
  const fmt = compacted ? comp & ~B63 : <u64>-1;
  const to_restore = rf & bv & fmt;
  // XFD: loading a disabled component is #NM with XFD_ERR (isa.md §7.3)
  const xfd_hit = to_restore & xfd_disabled();
  if (xfd_hit) {
    store<u64>(STATE + S_XFD_ERR, xfd_hit);
    raise(X86_TRAP_NM, 0, false);
    return false;
  }
  // MXCSR (isa.md §6.5, M7): standard form loads it for RFBM[1] or RFBM[2]
  // whatever XSTATE_BV says; compacted only with RFBM[1] & XSTATE_BV[1].
  let mx: u32 = MXCSR_DEFAULT;
  let load_mx = false, init_mx = false;
  if (!compacted) { if (rf & 6) load_mx = true; }
  else if (rf & 2) { if (bv & 2) load_mx = true; else init_mx = true; }
  if (load_mx) {
    mx = xa_rd32(24);
    if (mx & ~load<u32>(STATE + S_MXCSR_MASK)) { raise_gp(0); return false; }
  }
  // probe everything that will be read before changing any state
  if ((to_restore & 1)) { if (!xa_need(0, 160, false)) return false; }
  if ((to_restore & 2)) { if (!xa_need(160, 256, false)) return false; }
  if (compacted) compact_layout(fmt);
  for (let m = to_restore & ~<u64>3; m != 0; m &= m - 1) {
    const i = <u32>ctz(m);
    const off = compacted ? load<u32>(coff + i * 4) : comp_off(i);
    if (!xa_need(off, i == 9 ? 4 : comp_size(i), false)) return false;
  }
  // load
  if (rf & 1) {
    if (to_restore & 1) { xa_in(0, legacy, 160); x87_load(legacy, rexw); }
    else x87_init();
  }
  if (rf & 2) {
    if (to_restore & 2) xa_in(160, XSTATE + X_XMM, nregs() * 16);
    else memory.fill(XSTATE + X_XMM, 0, nregs() * 16);
  }
  if (load_mx || init_mx) store<u32>(XSTATE + X_MXCSR, mx);
  for (let m = rf & ~<u64>3; m != 0; m &= m - 1) {
    const i = <u32>ctz(m);
    if ((to_restore >> <u64>i) & 1) load_comp(i, compacted ? load<u32>(coff + i * 4) : comp_off(i));
    else comp_init(i);
  }
  // XRSTOR(S) sets XINUSE[i] for loaded components and clears it for
  // initialised ones; XINUSE[17] follows TILES_CONFIGURED (isa.md §5, §10.5).
  let inuse = (load<u64>(STATE + S_XINUSE) & ~rf) | to_restore;
  if ((rf >> 17) & 1) {
    if (load<u8>(XSTATE + X_TILECFG) != 0) inuse |= <u64>1 << 17; else inuse &= ~(<u64>1 << 17);
  }
  store<u64>(STATE + S_XINUSE, inuse);
  set_components_inuse(rf & to_restore, true);
  set_components_inuse(rf & ~to_restore, false);
  store<u64>(STATE + S_XMODIFIED, load<u64>(STATE + S_XMODIFIED) & ~rf);
  store<u64>(STATE + S_XRSTOR_LA, xa_lin);
  store<u64>(STATE + S_XRSTOR_INFO, (comp & ~(<u64>3 << 62)) | (<u64>load<u32>(STATE + S_CPL) << 62));
  return true;
}

// ---- instruction handlers ----
// NP 0F AE /4 XSAVE, /6 XSAVEOPT; NP 0F C7 /4 XSAVEC, /5 XSAVES
export function xsave_op(r: usize, kind: u32): i32 {
  const feat: u32 = kind == K_XSAVEOPT ? 0 : kind == K_XSAVEC ? 1 : kind == K_XSAVES ? 3 : 0xFF;
  if (!xsave_checks(r, feat, kind == K_XSAVES)) return ST_FAULT;
  const lin = area_lin(r, 64);
  if (fault_pending) return ST_FAULT;
  xa_host_mode = false; xa_sys = false;
  xa_begin(lin, load<u8>(r, R_SEG));
  const ok = do_save(kind, (load<u8>(r, R_PFX) & P_REXW) != 0, rfbm(kind == K_XSAVES));
  return ok ? ST_OK : ST_FAULT;
}
// NP 0F AE /5 XRSTOR; NP 0F C7 /3 XRSTORS
export function xrstor_op(r: usize, S_form: bool): i32 {
  if (!xsave_checks(r, S_form ? 3 : 0xFF, S_form)) return ST_FAULT;
  const lin = area_lin(r, 64);
  if (fault_pending) return ST_FAULT;
  xa_host_mode = false; xa_sys = false;
  xa_begin(lin, load<u8>(r, R_SEG));
  const ok = do_restore(S_form, (load<u8>(r, R_PFX) & P_REXW) != 0, rfbm(S_form));
  // the restored state can change what later instructions may do (PKRU, tiles)
  return ok ? ST_END : ST_FAULT;
}

// NP 0F 01 D1 XSETBV (isa.md §3.1)
export function xsetbv(r: usize): i32 {
  if (!(load<u32>(STATE + S_FEAT) & FEAT_XSAVE) || !(load<u64>(STATE + S_CR4) & CR4_OSXSAVE) || (load<u8>(r, R_PFX) & P_LOCK)) return raise_ud();
  if (load<u32>(STATE + S_CPL) != 0) return raise_gp(0);
  if (rd32(RCX) != 0) return raise_gp(0);
  const v = (<u64>rd32(RDX) << 32) | <u64>rd32(RAX);
  if (!xcr0_valid(v)) return raise_gp(0);
  store<u64>(STATE + S_XCR0, v);
  return ST_END;
}
export function xcr0_valid(v: u64): bool {
  if (!(v & 1)) return false;
  if (v & ~load<u64>(STATE + S_XCR0_SUPPORTED)) return false;
  if ((v & 4) && !(v & 2)) return false;
  if (((v >> 3) & 1) != ((v >> 4) & 1)) return false;
  const avx512 = (v >> 5) & 7;
  if (avx512 != 0 && (avx512 != 7 || !(v & 4))) return false;
  if (((v >> 17) & 1) != ((v >> 18) & 1)) return false;
  return true;
}
// NP 0F 01 D0 XGETBV: ECX=1 returns XCR0 & XINUSE, whose bit 1 also reads
// MXCSR != 1F80H on this CPU (isa.md §5 "measured twist")
export function xgetbv(r: usize): i32 {
  if (!(load<u32>(STATE + S_FEAT) & FEAT_XSAVE) || !(load<u64>(STATE + S_CR4) & CR4_OSXSAVE) || (load<u8>(r, R_PFX) & P_LOCK)) return raise_ud();
  const c = rd32(RCX);
  let v: u64;
  if (c == 0) v = xcr0();
  else if (c == 1 && (load<u32>(STATE + S_XFEAT) & 4)) {
    let inuse = xinuse();
    if (load<u32>(XSTATE + X_MXCSR) != MXCSR_DEFAULT) inuse |= 2;
    v = xcr0() & inuse;
  } else return raise_gp(0);
  wr32(RAX, <u32>v);
  wr32(RDX, <u32>(v >> 32));
  return ST_OK;
}

// NP 0F AE /0 FXSAVE, /1 FXRSTOR (16-byte alignment; #NM on TS or EM)
export function fxsave(r: usize, RESTORE: bool): i32 {
  if (load<u8>(r, R_PFX) & P_LOCK) return raise_ud();
  if (load<u64>(STATE + S_CR0) & (CR0_TS | CR0_EM)) return raise(X86_TRAP_NM, 0, false);
  const lin = area_lin(r, 16);
  if (fault_pending) return ST_FAULT;
  xa_host_mode = false; xa_sys = false;
  xa_begin(lin, load<u8>(r, R_SEG));
  const rexw = (load<u8>(r, R_PFX) & P_REXW) != 0;
  const sse = (load<u64>(STATE + S_CR4) & CR4_OSFXSR) != 0;
  if (!RESTORE) {
    if (!xa_need(0, 416, true)) return ST_FAULT;
    x87_image(rexw, false);
    xa_out(0, x87buf, 160);
    xa_wr32(24, load<u32>(XSTATE + X_MXCSR));
    xa_wr32(28, load<u32>(STATE + S_MXCSR_MASK));
    if (sse) xa_out(160, XSTATE + X_XMM, nregs() * 16);
    return ST_OK;
  }
  if (!xa_need(0, 416, false)) return ST_FAULT;
  xa_in(0, legacy, 416);
  const mx = load<u32>(legacy, 24);
  if (mx & ~load<u32>(STATE + S_MXCSR_MASK)) return raise_gp(0);
  x87_load(legacy, rexw);
  if (sse) {
    store<u32>(XSTATE + X_MXCSR, mx);
    memory.copy(XSTATE + X_XMM, legacy + 160, nregs() * 16);
  }
  touch(3);
  if (sse) set_components_inuse(2, true);
  return ST_OK;
}

// NP 0F AE /2 LDMXCSR, /3 STMXCSR (m32)
export function ldmxcsr(r: usize, STORE: bool): i32 {
  if ((load<u64>(STATE + S_CR0) & CR0_EM) || !(load<u64>(STATE + S_CR4) & CR4_OSFXSR) || (load<u8>(r, R_PFX) & P_LOCK)) return raise_ud();
  if (load<u64>(STATE + S_CR0) & CR0_TS) return raise(X86_TRAP_NM, 0, false);
  const lin = mem_lin(r, 4, STORE);
  if (fault_pending) return ST_FAULT;
  if (STORE) {
    store<u32>(tmp, load<u32>(XSTATE + X_MXCSR));
    return st_u32(lin, load<u8>(r, R_SEG), load<u32>(XSTATE + X_MXCSR)) ? ST_OK : ST_FAULT;
  }
  const v = ld_u32(lin, load<u8>(r, R_SEG));
  if (fault_pending) return ST_FAULT;
  if (v & ~load<u32>(STATE + S_MXCSR_MASK)) return raise_gp(0);
  store<u32>(XSTATE + X_MXCSR, v);
  touch(2);                      // LDMXCSR sets XINUSE[1] (measured)
  return ST_OK;
}
function ld_u32(lin: u64, seg: u32): u32 { return <u32>ld(lin, 4, seg); }
function st_u32(lin: u64, seg: u32, v: u32): bool { return st(lin, 4, <u64>v, seg); }

// ---- host-mode primitives (for the hypervisor's fpstate code) ----
// XSAVES / XRSTORS (compacted) and XSAVE / XRSTOR (standard) on a buffer at
// host address `buf` with mask `mask`, at CPL 0 with the CPU's current
// XCR0/XSS/XFD. Return 0, or the vector of the fault the instruction raised
// (e.g. 7 for the XFD #NM of seed 003) — not delivered anywhere; XFD_ERR is
// updated as on silicon.
const H_XSAVES: u32 = 0, H_XRSTORS: u32 = 1, H_XSAVE: u32 = 2, H_XRSTOR: u32 = 3;
export function host_xsaves(buf: usize, mask: u64): i32 { return host_op(buf, mask, H_XSAVES); }
export function host_xrstors(buf: usize, mask: u64): i32 { return host_op(buf, mask, H_XRSTORS); }
export function host_xsave_std(buf: usize, mask: u64): i32 { return host_op(buf, mask, H_XSAVE); }
export function host_xrstor_std(buf: usize, mask: u64): i32 { return host_op(buf, mask, H_XRSTOR); }
function host_op(buf: usize, mask: u64, op: u32): i32 {
  if (buf & 63) return X86_TRAP_GP;
  clear_fault();
  xa_host_mode = true; xa_sys = true; xa_base_host = buf;
  xa_begin(<u64>buf, 0);
  const s_form = op == H_XSAVES || op == H_XRSTORS;
  const rf = mask & (s_form ? xcr0() | load<u64>(STATE + S_XSS) : xcr0());
  const cpl_saved = load<u32>(STATE + S_CPL);
  store<u32>(STATE + S_CPL, 0);
  let ok: bool;
  if (op == H_XSAVES) ok = do_save(K_XSAVES, true, rf);
  else if (op == H_XSAVE) ok = do_save(K_XSAVE, true, rf);
  else ok = do_restore(s_form, true, rf);
  store<u32>(STATE + S_CPL, cpl_saved);
  xa_host_mode = false; xa_sys = false;
  if (ok) return 0;
  const v = <i32>fault_vec;
  clear_fault();
  return v;
}
