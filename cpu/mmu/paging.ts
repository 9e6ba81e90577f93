// The page walk: 32-bit (with PSE), PAE and 4-level paging; A/D updates;
// U/S, R/W, NX, CR0.WP, SMEP and protection keys; #PF error codes (SDM Vol. 3A
// §4.7). The walk fills one TLB entry (mmu/tlb.ts) per 4 KiB page.
import { STATE, S_CR3, S_CR2, S_PKRU, S_PDPTE, S_FEAT, FEAT_1G } from "../layout";
import { cr0, cr4, efer, CR0_PG, CR0_WP, CR4_PAE, CR4_PSE, CR4_PKE, CR4_SMEP, EFER_NXE, EFER_LMA } from "../state";
import { phys_read64, phys_read32, phys_write64, phys_write32 } from "./phys";
import { raise, X86_TRAP_PF } from "../except/fault";

// access kinds
export const ACC_R: u32 = 0;
export const ACC_W: u32 = 2;
export const ACC_U: u32 = 4;       // user-mode access (CPL3 and not an implicit supervisor access)
export const ACC_X: u32 = 16;      // instruction fetch
export const ACC_SMAP: u32 = 32;   // supervisor data access that SMAP forbids on user pages
                                   // (CR4.SMAP, and implicit or RFLAGS.AC=0; set by the caller)

// #PF error-code bits
export const PFEC_P: u32 = 1;
export const PFEC_W: u32 = 2;
export const PFEC_U: u32 = 4;
export const PFEC_RSVD: u32 = 8;
export const PFEC_I: u32 = 16;
export const PFEC_PK: u32 = 32;

// Results of a successful walk
export let walk_pa: u64 = 0;         // physical address of the accessed byte
export let walk_user: bool = false;  // U/S = 1 at every level
export let walk_rw: bool = false;    // R/W = 1 at every level
export let walk_nx: bool = false;    // XD at some level (with EFER.NXE)
export let walk_dirty: bool = false; // leaf D bit set (after this walk)
export let walk_pkey: u32 = 0;

const PHYS_MASK: u64 = 0x000FFFFFFFFFF000;

function pf(lin: u64, err: u32): bool {
  store<u64>(STATE + S_CR2, lin);
  raise(X86_TRAP_PF, err, true);
  return false;
}

// Translate `lin` for an access of kind `acc`. On failure a #PF is raised
// (CR2 set) and false returned.
export function walk(lin: u64, acc: u32): bool {
  const c0 = cr0();
  if (!(c0 & CR0_PG)) {
    walk_pa = lin & 0xFFFFFFFF;
    if (efer() & EFER_LMA) walk_pa = lin;
    walk_user = true; walk_rw = true; walk_nx = false; walk_dirty = true; walk_pkey = 0;
    return true;
  }
  const c4 = cr4();
  const nxe = (efer() & EFER_NXE) != 0;
  const write = (acc & ACC_W) != 0;
  const user = (acc & ACC_U) != 0;
  const fetch = (acc & ACC_X) != 0;
  let errbase: u32 = (write ? PFEC_W : 0) | (user ? PFEC_U : 0);
  if (fetch && (nxe || (c4 & CR4_SMEP))) errbase |= PFEC_I;

  let us = true, rw = true, xd = false;
  let leaf: u64 = 0, leaf_addr: u64 = 0, page_mask: u64 = 0xFFF;
  let wide = true;   // 8-byte entries
  const cr3 = load<u64>(STATE + S_CR3);

  if (c4 & CR4_PAE) {
    let table: u64;
    let level: i32;
    // reserved bits: above MAXPHYADDR (52 here) none; XD reserved without NXE
    const rsvd_xd: u64 = nxe ? 0 : (<u64>1 << 63);
    if (efer() & EFER_LMA) {
      // non-canonical addresses never reach the walker (checked by the caller)
      table = cr3 & PHYS_MASK;
      level = 4;
    } else {
      const pdpte = load<u64>(STATE + S_PDPTE + <u32>((lin >> 30) & 3) * 8);
      if (!(pdpte & 1)) return pf(lin, errbase);
      table = pdpte & PHYS_MASK;
      level = 2;
    }
    while (true) {
      const shift = <u64>(12 + 9 * (level - 1));
      const ea = table + ((lin >> shift) & 511) * 8;
      const e = phys_read64(ea);
      if (!(e & 1)) return pf(lin, errbase);
      if (e & rsvd_xd) return pf(lin, errbase | PFEC_P | PFEC_RSVD);
      const ps = (e & 0x80) != 0;
      if (level == 4 && ps) return pf(lin, errbase | PFEC_P | PFEC_RSVD);
      if (level == 3 && ps && !(load<u32>(STATE + S_FEAT) & FEAT_1G)) return pf(lin, errbase | PFEC_P | PFEC_RSVD);
      if (!(e & 4)) us = false;
      if (!(e & 2)) rw = false;
      if (nxe && (e >> 63)) xd = true;
      if (level == 1 || ((level == 2 || level == 3) && ps)) {
        leaf = e; leaf_addr = ea;
        page_mask = (<u64>1 << shift) - 1;
        // large-page reserved bits between 12 and the page size (bit 12 is PAT)
        if (level > 1 && (e & (page_mask & ~(<u64>0x1FFF)) & PHYS_MASK)) return pf(lin, errbase | PFEC_P | PFEC_RSVD);
        break;
      }
      // set Accessed on the way down
      if (!(e & 0x20)) phys_write64(ea, e | 0x20);
      table = e & PHYS_MASK;
      level--;
    }
  } else {
    wide = false;
    const pde_addr = (cr3 & 0xFFFFF000) + ((lin >> 22) & 1023) * 4;
    const pde = <u64>phys_read32(pde_addr);
    if (!(pde & 1)) return pf(lin, errbase);
    if (!(pde & 4)) us = false;
    if (!(pde & 2)) rw = false;
    if ((pde & 0x80) && (c4 & CR4_PSE)) {
      leaf = pde; leaf_addr = pde_addr; page_mask = 0x3FFFFF;
    } else {
      if (!(pde & 0x20)) phys_write32(pde_addr, <u32>(pde | 0x20));
      const pte_addr = (pde & 0xFFFFF000) + ((lin >> 12) & 1023) * 4;
      const pte = <u64>phys_read32(pte_addr);
      if (!(pte & 1)) return pf(lin, errbase);
      if (!(pte & 4)) us = false;
      if (!(pte & 2)) rw = false;
      leaf = pte; leaf_addr = pte_addr;
    }
  }

  // permission checks (SDM Vol. 3A §4.6)
  const perr = errbase | PFEC_P;
  if (user && !us) return pf(lin, perr);
  if (write && !rw && (user || (c0 & CR0_WP))) return pf(lin, perr);
  if (fetch) {
    if (xd) return pf(lin, perr);
    if (!user && us && (c4 & CR4_SMEP)) return pf(lin, perr);
  } else if ((acc & ACC_SMAP) && us) return pf(lin, perr);   // SDM Vol. 3A §4.6.1
  let pkey: u32 = 0;
  if (wide && (efer() & EFER_LMA)) pkey = <u32>(leaf >> 59) & 15;
  if (!fetch && us && (c4 & CR4_PKE) && (efer() & EFER_LMA)) {
    const pkru = load<u32>(STATE + S_PKRU);
    const ad = (pkru >> (pkey * 2)) & 1;
    const wd = (pkru >> (pkey * 2 + 1)) & 1;
    if (ad || (write && wd && (user || (c0 & CR0_WP)))) return pf(lin, perr | PFEC_PK);
  }

  // Accessed / Dirty on the leaf
  let nl = leaf | 0x20;
  if (write) nl |= 0x40;
  if (nl != leaf) {
    if (wide) phys_write64(leaf_addr, nl); else phys_write32(leaf_addr, <u32>nl);
  }
  let base: u64;
  if (wide) base = nl & PHYS_MASK & ~page_mask;
  else if (page_mask == 0x3FFFFF) base = (nl & 0xFFC00000) | ((nl & 0x1FE000) << 19);  // PSE-36
  else base = nl & 0xFFFFF000;
  walk_pa = base | (lin & page_mask);
  walk_user = us;
  walk_rw = rw;
  walk_nx = xd;
  walk_dirty = (nl & 0x40) != 0;
  walk_pkey = pkey;
  return true;
}

// Load the four PAE PDPTEs (at MOV CR3 / CR0 / CR4 in PAE mode without LMA).
export function load_pdptes(): void {
  const cr3 = load<u64>(STATE + S_CR3) & 0xFFFFFFE0;
  for (let i: u32 = 0; i < 4; i++) store<u64>(STATE + S_PDPTE + i * 8, phys_read64(cr3 + i * 8));
}
