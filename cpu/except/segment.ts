// Segment descriptors: reading GDT/LDT entries, the checks of a data/stack
// segment load (SDM Vol. 3A §5.5–5.8, MOV/POP Sreg pages), and committing a
// code segment (which changes CPL, the decode mode and the TLB set).
import { STATE, S_GDTR_BASE, S_GDTR_LIMIT, S_MODE, S_CPL, MODE_PE, MODE_VM86, MODE_64, SEG_SS, SEG_CS, SEG_LDTR } from "../layout";
import { set_seg, seg_base, seg_limit, seg_attr, seg_sel, update_mode, ATTR_P, ATTR_S, ATTR_UNUSABLE, ATTR_DB } from "../state";
import { ld_sys, st_sys, tlb_select } from "../mmu/access";
import { raise, fault_pending, X86_TRAP_GP, X86_TRAP_NP, X86_TRAP_SS } from "./fault";

export let desc_lo: u32 = 0;
export let desc_hi: u32 = 0;
export let desc_addr: u64 = 0;

// Read the 8-byte descriptor for `sel` (GDT or LDT). `vec`(sel) beyond the
// limit; `ext` is the EXT bit of the error code (1 while delivering an event
// that was not caused by INT n / INT3 / INTO, SDM Vol. 3A §6.13).
export function read_desc(sel: u32, vec: u32, ext: u32 = 0): bool {
  const idx = sel & 0xFFF8;
  let base: u64, limit: u64;
  if (sel & 4) {
    if (seg_attr(SEG_LDTR) & ATTR_UNUSABLE) { raise(vec, (sel & 0xFFFC) | ext, true); return false; }
    base = seg_base(SEG_LDTR); limit = <u64>seg_limit(SEG_LDTR);
  } else {
    base = load<u64>(STATE + S_GDTR_BASE); limit = <u64>load<u16>(STATE + S_GDTR_LIMIT);
  }
  if (<u64>idx + 7 > limit) { raise(vec, (sel & 0xFFFC) | ext, true); return false; }
  desc_addr = base + <u64>idx;
  const v = ld_sys(desc_addr, 8);
  if (fault_pending) return false;
  desc_lo = <u32>v;
  desc_hi = <u32>(v >> 32);
  return true;
}

@inline export function desc_attr(hi: u32): u32 { return ((hi >> 8) & 0xFF) | ((hi >> 8) & 0xF000); }
@inline export function desc_base(lo: u32, hi: u32): u64 {
  return <u64>((lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000));
}
@inline export function desc_limit(lo: u32, hi: u32): u32 {
  let l = (lo & 0xFFFF) | (hi & 0xF0000);
  if (hi & 0x800000) l = (l << 12) | 0xFFF;
  return l;
}
@inline export function desc_dpl(hi: u32): u32 { return (hi >> 13) & 3; }

// Set the descriptor's accessed bit if clear.
export function set_accessed(): void {
  if (!(desc_hi & 0x100)) st_sys(desc_addr + 4, 4, <u64>(desc_hi | 0x100));
}

// Commit a segment register from the descriptor just read.
export function commit_seg(s: u32, sel: u32): void {
  set_seg(s, sel, desc_base(desc_lo, desc_hi), desc_limit(desc_lo, desc_hi), desc_attr(desc_hi));
}

// MOV/POP to DS, ES, FS, GS, SS: real/VM86 semantics or protected-mode checks.
export function load_seg(s: u32, sel: u32): bool {
  const m = load<u32>(STATE + S_MODE);
  if (!(m & MODE_PE) || (m & MODE_VM86)) {
    // real mode keeps the cached limit and attributes; VM86 forces a 64 KiB data segment
    const attr = (m & MODE_VM86) ? (0x93 | (3 << 5)) : (seg_attr(s) & ~ATTR_UNUSABLE) | ATTR_P;
    set_seg(s, sel, <u64>(sel << 4), (m & MODE_VM86) ? 0xFFFF : seg_limit(s), attr);
    if (s == SEG_SS) update_mode();
    return true;
  }
  const cpl = load<u32>(STATE + S_CPL);
  if ((sel & 0xFFFC) == 0) {
    if (s == SEG_SS) {
      // a null SS is allowed in 64-bit mode below CPL 3 (with RPL = CPL)
      if (!(m & MODE_64) || cpl == 3 || (sel & 3) != cpl) { raise(X86_TRAP_GP, 0, true); return false; }
    }
    set_seg(s, sel, 0, 0, ATTR_UNUSABLE | ((s == SEG_SS) ? (cpl << 5) : 0));
    if (s == SEG_SS) update_mode();
    return true;
  }
  if (!read_desc(sel, X86_TRAP_GP)) return false;
  const attr = desc_attr(desc_hi);
  const type = attr & 0xF;
  const dpl = desc_dpl(desc_hi);
  const rpl = sel & 3;
  if (s == SEG_SS) {
    if (rpl != cpl || dpl != cpl || !(attr & ATTR_S) || (type & 8) || !(type & 2)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
    if (!(attr & ATTR_P)) { raise(X86_TRAP_SS, sel & 0xFFFC, true); return false; }
  } else {
    if (!(attr & ATTR_S) || ((type & 8) && !(type & 2))) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
    // data and non-conforming code: max(CPL, RPL) <= DPL
    if ((!(type & 8) || !(type & 4)) && (rpl > dpl || cpl > dpl)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
    if (!(attr & ATTR_P)) { raise(X86_TRAP_NP, sel & 0xFFFC, true); return false; }
  }
  set_accessed();
  if (fault_pending) return false;
  commit_seg(s, sel);
  if (s == SEG_SS) update_mode();
  return true;
}

// Load CS (and CPL) from the descriptor in desc_lo/hi; `rpl` becomes CPL.
export function commit_cs(sel: u32, new_cpl: u32): void {
  set_seg(SEG_CS, (sel & 0xFFFC) | new_cpl, desc_base(desc_lo, desc_hi), desc_limit(desc_lo, desc_hi), desc_attr(desc_hi));
  set_cpl(new_cpl);
}

export function set_cpl(c: u32): void {
  store<u32>(STATE + S_CPL, c);
  update_mode();
  tlb_select();
}

// Real-mode CS load (far jump/call/ret/iret, interrupt delivery).
export function load_cs_real(sel: u32): void {
  const m = load<u32>(STATE + S_MODE);
  const attr = (m & MODE_VM86) ? (0x9B | (3 << 5)) : (seg_attr(SEG_CS) & ~ATTR_UNUSABLE) | ATTR_P;
  set_seg(SEG_CS, sel, <u64>(sel << 4), (m & MODE_VM86) ? 0xFFFF : seg_limit(SEG_CS), attr & ~(<u32>0x2000));
  update_mode();
}

// helpers used by the gdb/DAP side and IRET
export function cs_db(): bool { return (seg_attr(SEG_CS) & ATTR_DB) != 0; }
export function cs_sel(): u32 { return seg_sel(SEG_CS); }

// Reinstate a descriptor read earlier (when another read came in between).
export function set_desc(lo: u32, hi: u32): void { desc_lo = lo; desc_hi = hi; }
