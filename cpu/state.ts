// Accessors over the fixed-offset state block. Register operands in decoded
// records are byte offsets into the GPR file (reg*8; byte registers AH..BH are
// offset (reg-4)*8+1), so every access here is one load or store.
import {
  STATE, S_GPR, S_RIP, S_RFLAGS, S_SEG, S_CR0, S_CR4, S_EFER, S_CPL, S_MODE, S_VENDOR,
  MODE_PE, MODE_LMA, MODE_64, MODE_D, MODE_VM86, MODE_SS32, MODE_AMD, SEG_CS, SEG_SS,
} from "./layout";

// RFLAGS bits
export const CF: u64 = 1;
export const PF: u64 = 4;
export const AF: u64 = 0x10;
export const ZF: u64 = 0x40;
export const SF: u64 = 0x80;
export const TF: u64 = 0x100;
export const IF: u64 = 0x200;
export const DF: u64 = 0x400;
export const OF: u64 = 0x800;
export const IOPL: u64 = 0x3000;
export const NT: u64 = 0x4000;
export const RF: u64 = 0x10000;
export const VM: u64 = 0x20000;
export const AC: u64 = 0x40000;
export const VIF: u64 = 0x80000;
export const VIP: u64 = 0x100000;
export const ID: u64 = 0x200000;
export const ARITH_FLAGS: u64 = CF | PF | AF | ZF | SF | OF;

// CR0 / CR4 / EFER bits
export const CR0_PE: u64 = 1;
export const CR0_MP: u64 = 2;
export const CR0_EM: u64 = 4;
export const CR0_TS: u64 = 8;
export const CR0_ET: u64 = 0x10;
export const CR0_NE: u64 = 0x20;
export const CR0_WP: u64 = 0x10000;
export const CR0_AM: u64 = 0x40000;
export const CR0_NW: u64 = 0x20000000;
export const CR0_CD: u64 = 0x40000000;
export const CR0_PG: u64 = 0x80000000;
export const CR4_VME: u64 = 1;
export const CR4_PVI: u64 = 2;
export const CR4_TSD: u64 = 4;
export const CR4_DE: u64 = 8;
export const CR4_PSE: u64 = 0x10;
export const CR4_PAE: u64 = 0x20;
export const CR4_MCE: u64 = 0x40;
export const CR4_PGE: u64 = 0x80;
export const CR4_PCE: u64 = 0x100;
export const CR4_OSFXSR: u64 = 0x200;
export const CR4_OSXMMEXCPT: u64 = 0x400;
export const CR4_UMIP: u64 = 0x800;
export const CR4_LA57: u64 = 0x1000;
export const CR4_FSGSBASE: u64 = 0x10000;
export const CR4_PCIDE: u64 = 0x20000;
export const CR4_OSXSAVE: u64 = 0x40000;
export const CR4_SMEP: u64 = 0x100000;
export const CR4_SMAP: u64 = 0x200000;
export const CR4_PKE: u64 = 0x400000;
export const EFER_SCE: u64 = 1;
export const EFER_LME: u64 = 0x100;
export const EFER_LMA: u64 = 0x400;
export const EFER_NXE: u64 = 0x800;

// segment attribute bits (VMX access-rights layout)
export const ATTR_TYPE: u32 = 0xF;
export const ATTR_S: u32 = 0x10;
export const ATTR_DPL_SHIFT: u32 = 5;
export const ATTR_P: u32 = 0x80;
export const ATTR_UNUSABLE: u32 = 0x800;
export const ATTR_L: u32 = 0x2000;
export const ATTR_DB: u32 = 0x4000;
export const ATTR_G: u32 = 0x8000;

// ---- GPRs by byte offset ----
@inline export function rd64(off: u32): u64 { return load<u64>(STATE + S_GPR + off); }
@inline export function rd32(off: u32): u32 { return load<u32>(STATE + S_GPR + off); }
@inline export function rd16(off: u32): u16 { return load<u16>(STATE + S_GPR + off); }
@inline export function rd8(off: u32): u8 { return load<u8>(STATE + S_GPR + off); }
@inline export function wr64(off: u32, v: u64): void { store<u64>(STATE + S_GPR + off, v); }
// 32-bit writes zero the upper half (SDM Vol. 1 §3.4.1.1)
@inline export function wr32(off: u32, v: u32): void { store<u64>(STATE + S_GPR + off, <u64>v); }
@inline export function wr16(off: u32, v: u16): void { store<u16>(STATE + S_GPR + off, v); }
@inline export function wr8(off: u32, v: u8): void { store<u8>(STATE + S_GPR + off, v); }

// Read/write a register operand of the given size in bits (8/16/32/64).
@inline export function rdreg(off: u32, size: u32): u64 {
  if (size == 64) return rd64(off);
  if (size == 32) return <u64>rd32(off);
  if (size == 16) return <u64>rd16(off);
  return <u64>rd8(off);
}
@inline export function wrreg(off: u32, size: u32, v: u64): void {
  if (size == 64) wr64(off, v);
  else if (size == 32) wr32(off, <u32>v);
  else if (size == 16) wr16(off, <u16>v);
  else wr8(off, <u8>v);
}

export const RAX: u32 = 0;
export const RCX: u32 = 8;
export const RDX: u32 = 16;
export const RBX: u32 = 24;
export const RSP: u32 = 32;
export const RBP: u32 = 40;
export const RSI: u32 = 48;
export const RDI: u32 = 56;
export const R8_OFF: u32 = 64;
export const R11_OFF: u32 = 88;

@inline export function rip(): u64 { return load<u64>(STATE + S_RIP); }
@inline export function set_rip(v: u64): void { store<u64>(STATE + S_RIP, v); }
@inline export function flags_raw(): u64 { return load<u64>(STATE + S_RFLAGS); }
@inline export function set_flags_raw(v: u64): void { store<u64>(STATE + S_RFLAGS, v); }

// ---- control registers ----
@inline export function cr0(): u64 { return load<u64>(STATE + S_CR0); }
@inline export function cr4(): u64 { return load<u64>(STATE + S_CR4); }
@inline export function efer(): u64 { return load<u64>(STATE + S_EFER); }
@inline export function cpl(): u32 { return load<u32>(STATE + S_CPL); }
@inline export function mode(): u32 { return load<u32>(STATE + S_MODE); }
@inline export function in64(): bool { return (load<u32>(STATE + S_MODE) & MODE_64) != 0; }

// ---- segments ----
@inline export function seg_addr(s: u32): u32 { return STATE + S_SEG + s * 16; }
@inline export function seg_base(s: u32): u64 { return load<u64>(STATE + S_SEG + s * 16); }
@inline export function seg_limit(s: u32): u32 { return load<u32>(STATE + S_SEG + s * 16, 8); }
@inline export function seg_sel(s: u32): u16 { return load<u16>(STATE + S_SEG + s * 16, 12); }
@inline export function seg_attr(s: u32): u32 { return <u32>load<u16>(STATE + S_SEG + s * 16, 14); }
@inline export function set_seg(s: u32, sel: u32, base: u64, limit: u32, attr: u32): void {
  const a = STATE + S_SEG + s * 16;
  store<u64>(a, base);
  store<u32>(a, limit, 8);
  store<u16>(a, <u16>sel, 12);
  store<u16>(a, <u16>attr, 14);
}

// Recompute the decode-mode word after anything that changes CR0.PE, EFER.LMA,
// CS or SS attributes, or RFLAGS.VM.
export function update_mode(): void {
  let m: u32 = 0;
  const c0 = cr0();
  if (c0 & CR0_PE) m |= MODE_PE;
  if (efer() & EFER_LMA) m |= MODE_LMA;
  const cs = seg_attr(SEG_CS);
  if ((m & MODE_LMA) && (cs & ATTR_L)) m |= MODE_64;
  else if (cs & ATTR_DB) m |= MODE_D;
  if (flags_raw() & VM) m |= MODE_VM86;
  if (seg_attr(SEG_SS) & ATTR_DB) m |= MODE_SS32;
  if (load<u32>(STATE + S_VENDOR) == 1) m |= MODE_AMD;
  store<u32>(STATE + S_MODE, m);
  if (!(m & MODE_PE)) store<u32>(STATE + S_CPL, 0);
  else if (m & MODE_VM86) store<u32>(STATE + S_CPL, 3);
}
