// System instructions: control and debug registers, descriptor-table
// registers, LDTR/TR, MSRs, SWAPGS, segment-register moves and loads,
// FS/GS base instructions, INVLPG, cache control (no-ops here).
import {
  STATE, S_RFLAGS, S_SEG, S_CR0, S_CR2, S_CR3, S_CR4, S_CR8, S_EFER, S_DR, S_GDTR_BASE, S_GDTR_LIMIT, S_IDTR_BASE, S_IDTR_LIMIT, S_MODE,
  S_STAR, S_LSTAR, S_CSTAR, S_SFMASK, S_KGSBASE, S_SYSENTER_CS, S_SYSENTER_ESP, S_SYSENTER_EIP, S_TSC, S_TSC_AUX,
  S_APIC_BASE, S_PAT, S_MISC_ENABLE, S_XSS, S_XFD, S_XFD_ERR, S_MTRR_DEF, S_SPEC_CTRL, S_TSC_ADJUST, S_FEAT, S_CPL, S_SHADOW,
  MODE_PE, MODE_64, MODE_LMA, MODE_VM86, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR,
  FEAT_XSAVE, FEAT_PKU, FEAT_FSGSBASE, FEAT_NX, FEAT_XFD, FEAT_XSAVES, FEAT_RDTSCP,
  RUN, R_EXIT_REASON, S_MSR_ICPT, MSRI_XFD_WRITE, EXIT_VMX_MSR_WRITE, R_MSR_INDEX, R_MSR_LEN, R_MSR_DATA,
} from "../layout";
import {
  cr0, cr4, efer, cpl, rd64, wr64, rdreg, wrreg, rd32, wr32, set_seg, seg_base, seg_sel, seg_attr, seg_limit, update_mode,
  RAX, RCX, RDX, CR0_PE, CR0_PG, CR0_CD, CR0_NW, CR0_TS, CR0_ET, CR4_PAE, CR4_PCIDE, CR4_OSXSAVE, CR4_PKE,
  CR4_FSGSBASE, CR4_UMIP, CR4_SMEP, CR4_SMAP, CR4_PSE, CR4_PGE, EFER_LME, EFER_LMA, EFER_NXE, EFER_SCE, ATTR_L, ATTR_UNUSABLE, ATTR_P,
} from "../state";
import { read_E, write_E, mem_lin, mode64, mask, push, stack_peek, sp_add, read_far_ptr, far_off, far_sel } from "./operand";
import { R_REG, R_SEG, R_RM, R_MODRM, R_START, R_LEN } from "../decode/decoder";
import { ld, st, tlb_flush, tlb_flush_page, tlb_select } from "../mmu/access";
import { load_pdptes } from "../mmu/paging";
import { fault_pending, fault_vec, clear_fault, ST_OK, ST_FAULT, ST_END, ST_EXIT, raise, raise_gp, raise_ud, X86_TRAP_GP, X86_TRAP_NP } from "../except/fault";
import { set_arith } from "../flags";
import { ZF, AC } from "../state";
import { load_seg, read_desc, desc_lo, desc_hi, desc_attr, desc_base, desc_limit, desc_dpl, set_accessed } from "../except/segment";
import { ld_sys, st_sys } from "../mmu/access";
import { find_cpuid_ecx, cpuid_query, cpuid_out_b, cpuid_out_c } from "./misc";
import { phys_read64 } from "../mmu/phys";
import { insn_end } from "./ctrl";
import { set_next_rip, blk_rip } from "../ctl";

@inline function pe(): bool { return (load<u32>(STATE + S_MODE) & MODE_PE) != 0; }
@inline function need_cpl0(): bool { return pe() && cpl() != 0; }
@inline function canonical(v: u64): bool { return <u64>((<i64>(v << 16)) >> 16) == v; }

// CR4.UMIP: SGDT, SIDT, SLDT, SMSW and STR are #GP(0) at CPL > 0
@inline function umip_denied(): bool { return (cr4() & CR4_UMIP) != 0 && pe() && cpl() > 0; }

// ---- control registers ----
// CR0 bits that exist; writes to the other bits of CR0[31:0] are ignored and
// they read as 0 (KVM: CR0_RESERVED_BITS); CR0[63:32] must be 0.
const CR0_DEFINED: u64 = 0xE005003F;

export function set_cr0(v: u64): bool {
  if (v >> 32) return false;
  v = (v | CR0_ET) & CR0_DEFINED;
  if ((v & CR0_PG) && !(v & CR0_PE)) return false;
  if ((v & CR0_NW) && !(v & CR0_CD)) return false;
  const old = cr0();
  const e = efer();
  // paging off with PCIDE on is #GP (SDM MOV CR page)
  if (!(v & CR0_PG) && (cr4() & CR4_PCIDE)) return false;
  if ((v & CR0_PG) && !(old & CR0_PG) && (e & EFER_LME)) {
    if (!(cr4() & CR4_PAE)) return false;
    if (seg_attr(SEG_CS) & ATTR_L) return false;
  }
  if (!(v & CR0_PG) && (old & CR0_PG) && (e & EFER_LMA)) {
    if (load<u32>(STATE + S_MODE) & MODE_64) return false;
  }
  // legacy PAE paging: the PDPTEs are (re)loaded, and checked, only when the
  // write changes PG, CD or NW (like KVM's X86_CR0_PDPTR_BITS), not on e.g. TS
  const pdpt = (v & CR0_PG) != 0 && (cr4() & CR4_PAE) != 0 && !(e & EFER_LME) && ((v ^ old) & (CR0_PG | CR0_CD | CR0_NW)) != 0;
  if (pdpt && !pdptes_ok(load<u64>(STATE + S_CR3))) return false;
  if ((v & CR0_PG) && !(old & CR0_PG) && (e & EFER_LME)) store<u64>(STATE + S_EFER, e | EFER_LMA);
  if (!(v & CR0_PG) && (old & CR0_PG) && (e & EFER_LMA)) store<u64>(STATE + S_EFER, e & ~EFER_LMA);
  store<u64>(STATE + S_CR0, v);
  if (pdpt) load_pdptes();
  tlb_flush();
  update_mode();
  tlb_select();   // CR0.AM: alignment checking
  return true;
}

// PAE PDPTEs at `cr3`: present entries must not set reserved bits (1-2, 5-8,
// 63 and above MAXPHYADDR), else the MOV that loads them is #GP(0).
function pdptes_ok(c3: u64): bool {
  const base = c3 & 0xFFFFFFE0;
  for (let i: u64 = 0; i < 4; i++) {
    const e = phys_read64(base + i * 8);
    if ((e & 1) && (e & 0xFFF00000000001E6)) return false;
  }
  return true;
}

// CR4 bits this CPU model has (from its CPUID table, like KVM's
// __cr4_reserved_bits): the baseline bits plus the feature-dependent ones.
export function cr4_allowed(): u64 {
  // VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT
  let a: u64 = 0x7FF;
  cpuid_query(1, 0);
  const c1 = cpuid_out_c;
  cpuid_query(7, 0);
  const b7 = cpuid_out_b, c7 = cpuid_out_c;
  if (c7 & (1 << 2)) a |= CR4_UMIP;
  if (b7 & 1) a |= CR4_FSGSBASE;
  if (c1 & (1 << 17)) a |= CR4_PCIDE;
  if (c1 & (1 << 26)) a |= CR4_OSXSAVE;
  if (b7 & (1 << 7)) a |= CR4_SMEP;
  if (b7 & (1 << 20)) a |= CR4_SMAP;
  if (c7 & (1 << 3)) a |= CR4_PKE;
  return a;
}
export function set_cr4(v: u64): bool {
  if (v & ~cr4_allowed()) return false;
  const old = cr4();
  if ((efer() & EFER_LMA) && !(v & CR4_PAE)) return false;
  // PCIDE can be turned on only in IA-32e mode with PCID 0 in CR3
  if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) && (!(efer() & EFER_LMA) || (load<u64>(STATE + S_CR3) & 0xFFF))) return false;
  // PDPTEs are reloaded when PAE, PSE, PGE or SMEP change (SDM 4.4.1)
  const pdpt = (cr0() & CR0_PG) != 0 && (v & CR4_PAE) != 0 && !(efer() & EFER_LMA) && ((v ^ old) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP)) != 0;
  if (pdpt && !pdptes_ok(load<u64>(STATE + S_CR3))) return false;
  store<u64>(STATE + S_CR4, v);
  if (pdpt) load_pdptes();
  tlb_flush();
  return true;
}
export function set_cr3(v: u64): bool {
  if (load<u32>(STATE + S_MODE) & MODE_LMA) {
    // with PCIDE, bit 63 asks not to flush and is not stored
    if (cr4() & CR4_PCIDE) v &= ~(<u64>1 << 63);
    if (v >> 52) return false;
  } else v &= 0xFFFFFFFF;
  if ((cr0() & CR0_PG) && (cr4() & CR4_PAE) && !(efer() & EFER_LMA) && !pdptes_ok(v)) return false;
  store<u64>(STATE + S_CR3, v);
  if ((cr0() & CR0_PG) && (cr4() & CR4_PAE) && !(efer() & EFER_LMA)) load_pdptes();
  tlb_flush();
  return true;
}

// 0F 20 MOV Rd/Rq, CRn ; 0F 22 MOV CRn, Rd/Rq (mod is ignored: always registers)
// A control register that does not exist is #UD before the privilege check
// (measured at CPL3 on Zen 4: mov rcx, cr7 is #UD, mov rcx, cr0 is #GP).
@inline function cr_exists(n: u32): bool { return n == 0 || n == 2 || n == 3 || n == 4 || n == 8; }
export function mov_from_cr(r: usize): i32 {
  const n = <u32>load<u8>(r, R_REG) >> 3;
  if (!cr_exists(n)) return raise_ud();
  if (need_cpl0()) return raise_gp(0);
  let v: u64;
  if (n == 0) v = cr0();
  else if (n == 2) v = load<u64>(STATE + S_CR2);
  else if (n == 3) v = load<u64>(STATE + S_CR3);
  else if (n == 4) v = cr4();
  else if (n == 8) v = load<u64>(STATE + S_CR8) & 15;
  else return raise_ud();
  const size: u32 = mode64() ? 64 : 32;
  wrreg(load<u8>(r, R_RM), size, v);
  return ST_OK;
}
export function mov_to_cr(r: usize): i32 {
  const n = <u32>load<u8>(r, R_REG) >> 3;
  if (!cr_exists(n)) return raise_ud();
  if (need_cpl0()) return raise_gp(0);
  const size: u32 = mode64() ? 64 : 32;
  const v = rdreg(load<u8>(r, R_RM), size);
  let ok = true;
  if (n == 0) ok = set_cr0(v);
  else if (n == 2) store<u64>(STATE + S_CR2, v);
  else if (n == 3) ok = set_cr3(v);
  else if (n == 4) ok = set_cr4(v);
  else if (n == 8) { if (v >> 4) ok = false; else store<u64>(STATE + S_CR8, v); }
  else return raise_ud();
  return ok ? ST_END : raise_gp(0);
}
// 0F 21 / 0F 23 MOV to/from DRn (breakpoint matching by DR7 is not modelled)
export function mov_dr(r: usize, TO: bool): i32 {
  let n = <u32>load<u8>(r, R_REG) >> 3;
  if (n > 7) return raise_ud();   // DR8-15 do not exist: #UD before the privilege check
  if (need_cpl0()) return raise_gp(0);
  if (n == 4 || n == 5) n += 2;
  const size: u32 = mode64() ? 64 : 32;
  if (TO) {
    const v = rdreg(load<u8>(r, R_RM), size);
    if ((n == 6 || n == 7) && (v >> 32)) return raise_gp(0);
    store<u64>(STATE + S_DR + n * 8, n == 6 ? (v | 0xFFFF0FF0) : n == 7 ? ((v | 0x400) & ~0x1000) : v);
  } else {
    wrreg(load<u8>(r, R_RM), size, load<u64>(STATE + S_DR + n * 8));
  }
  return ST_OK;
}
// 0F 06 CLTS
export function clts(r: usize): i32 {
  if (need_cpl0()) return raise_gp(0);
  store<u64>(STATE + S_CR0, cr0() & ~CR0_TS);
  return ST_OK;
}
// 0F 01 /6 LMSW Ew: loads PE MP EM TS, cannot clear PE
export function lmsw(r: usize, M: bool): i32 {
  if (need_cpl0()) return raise_gp(0);
  const v = read_E(r, 16, M);
  if (M && fault_pending) return ST_FAULT;
  const old = cr0();
  const nv = (old & ~<u64>0xE) | (v & 0xF) | (old & CR0_PE);
  return set_cr0(nv) ? ST_END : raise_gp(0);
}
// 0F 01 /4 SMSW Ew (register form writes the operand size; memory 16 bits)
export function smsw(r: usize, S: u32, M: bool): i32 {
  if (umip_denied()) return raise_gp(0);
  return write_E(r, M ? 16 : S, M, cr0() & (M ? 0xFFFF : mask(S))) ? ST_OK : ST_FAULT;
}

// ---- descriptor-table registers ----
// 0F 01 /2 LGDT, /3 LIDT m16&32 / m16&64
export function lgdt(r: usize, IDT: bool, S: u32): i32 {
  if (need_cpl0()) return raise_gp(0);
  const w: u32 = mode64() ? 8 : 4;
  const a = mem_lin(r, 2 + w, false);
  if (fault_pending) return ST_FAULT;
  const s = <u32>load<u8>(r, R_SEG);
  const lim = ld(a, 2, s);
  if (fault_pending) return ST_FAULT;
  let base = ld(a + 2, w, s);
  if (fault_pending) return ST_FAULT;
  if (!mode64()) base &= S == 16 ? 0xFFFFFF : 0xFFFFFFFF;
  else if (!canonical(base)) return raise_gp(0);
  store<u64>(STATE + (IDT ? S_IDTR_BASE : S_GDTR_BASE), base);
  store<u64>(STATE + (IDT ? S_IDTR_LIMIT : S_GDTR_LIMIT), lim & 0xFFFF);
  return ST_OK;
}
// 0F 01 /0 SGDT, /1 SIDT
export function sgdt(r: usize, IDT: bool): i32 {
  if (umip_denied()) return raise_gp(0);
  const w: u32 = mode64() ? 8 : 4;
  const a = mem_lin(r, 2 + w, true);
  if (fault_pending) return ST_FAULT;
  const s = <u32>load<u8>(r, R_SEG);
  if (!st(a, 2, load<u64>(STATE + (IDT ? S_IDTR_LIMIT : S_GDTR_LIMIT)), s)) return ST_FAULT;
  return st(a + 2, w, load<u64>(STATE + (IDT ? S_IDTR_BASE : S_GDTR_BASE)), s) ? ST_OK : ST_FAULT;
}

// Read a system descriptor (LDT or TSS); 16 bytes in IA-32e mode.
function sys_desc(sel: u32, want: u32, want2: u32): bool {
  if ((sel & 0xFFFC) == 0 || (sel & 4)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  if (!read_desc(sel, X86_TRAP_GP)) return false;
  const a = desc_attr(desc_hi);
  const t = a & 0xF;
  if ((a & 0x10) || (t != want && t != want2)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  if (load<u32>(STATE + S_MODE) & MODE_LMA) {
    // IA-32e: a 16-byte descriptor that must fit the GDT; the type field of
    // its upper half must be 0 (SDM Vol. 3A §7.2.3)
    if (<u64>(sel & 0xFFF8) + 15 > <u64>load<u16>(STATE + S_GDTR_LIMIT)) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
    const upper = ld_sys(seg_base_gdt(sel) + 8, 8);
    if (fault_pending) return false;
    if ((upper >> 40) & 0x1F) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
    const base = desc_base(desc_lo, desc_hi) | ((upper & 0xFFFFFFFF) << 32);
    if (<u64>((<i64>(base << 16)) >> 16) != base) { raise(X86_TRAP_GP, sel & 0xFFFC, true); return false; }
  }
  if (!(a & 0x80)) { raise(X86_TRAP_NP, sel & 0xFFFC, true); return false; }
  return true;
}
// 0F 00 /2 LLDT Ew
export function lldt(r: usize, M: bool): i32 {
  if (!pe() || (load<u32>(STATE + S_MODE) & MODE_VM86)) return raise_ud();
  if (cpl() != 0) return raise_gp(0);
  const sel = <u32>read_E(r, 16, M);
  if (M && fault_pending) return ST_FAULT;
  if ((sel & 0xFFFC) == 0) { set_seg(SEG_LDTR, sel, 0, 0, ATTR_UNUSABLE); return ST_OK; }
  if (!sys_desc(sel, 2, 2)) return ST_FAULT;
  let base = desc_base(desc_lo, desc_hi);
  const lo = desc_lo, hi = desc_hi;
  if (load<u32>(STATE + S_MODE) & MODE_LMA) {
    const upper = ld_sys(seg_base_gdt(sel) + 8, 8);
    if (fault_pending) return ST_FAULT;
    base |= (upper & 0xFFFFFFFF) << 32;
  }
  set_seg(SEG_LDTR, sel, base, desc_limit(lo, hi), desc_attr(hi));
  return ST_OK;
}
// 0F 00 /3 LTR Ew: marks the TSS busy
export function ltr(r: usize, M: bool): i32 {
  if (!pe() || (load<u32>(STATE + S_MODE) & MODE_VM86)) return raise_ud();
  if (cpl() != 0) return raise_gp(0);
  const sel = <u32>read_E(r, 16, M);
  if (M && fault_pending) return ST_FAULT;
  if (!sys_desc(sel, 9, (load<u32>(STATE + S_MODE) & MODE_LMA) ? 9 : 1)) return ST_FAULT;
  let base = desc_base(desc_lo, desc_hi);
  const lo = desc_lo, hi = desc_hi;
  const addr = seg_base_gdt(sel);
  if (load<u32>(STATE + S_MODE) & MODE_LMA) {
    const upper = ld_sys(addr + 8, 8);
    if (fault_pending) return ST_FAULT;
    base |= (upper & 0xFFFFFFFF) << 32;
  }
  if (!st_sys(addr + 4, 4, <u64>(hi | 0x200))) return ST_FAULT;
  set_seg(SEG_TR, sel, base, desc_limit(lo, hi), desc_attr(hi) | 2);
  return ST_OK;
}
function seg_base_gdt(sel: u32): u64 { return load<u64>(STATE + S_GDTR_BASE) + <u64>(sel & 0xFFF8); }
// 0F 00 /0 SLDT, /1 STR
export function sldt_str(r: usize, TR: bool, S: u32, M: bool): i32 {
  if (!pe() || (load<u32>(STATE + S_MODE) & MODE_VM86)) return raise_ud();
  if (umip_denied()) return raise_gp(0);
  const sel = <u64>seg_sel(TR ? SEG_TR : SEG_LDTR);
  return write_E(r, M ? 16 : S, M, sel) ? ST_OK : ST_FAULT;
}

// 0F 01 /7 INVLPG m
export function invlpg(r: usize): i32 {
  if (need_cpl0()) return raise_gp(0);
  const a = mem_lin(r, 1, false);
  if (fault_pending) { return ST_FAULT; }
  tlb_flush_page(a);
  return ST_OK;
}
// 0F 08 INVD, 0F 09 WBINVD: caches are not modelled
export function wbinvd(r: usize): i32 { return need_cpl0() ? raise_gp(0) : ST_OK; }

// ---- MSRs ----
export let msr_value: u64 = 0;
// Read MSR `idx` into msr_value; false if the MSR does not exist.
export function rdmsr_idx(idx: u32): bool {
  const f = load<u32>(STATE + S_FEAT);
  let v: u64 = 0;
  switch (idx) {
    case 0x10: v = load<u64>(STATE + S_TSC); break;
    case 0x17: v = 0; break;                               // IA32_PLATFORM_ID
    case 0x1B: v = load<u64>(STATE + S_APIC_BASE); break;
    case 0x3A: v = 1; break;                               // IA32_FEATURE_CONTROL: locked, no VMX
    case 0x3B: v = load<u64>(STATE + S_TSC_ADJUST); break;
    case 0x48: v = load<u64>(STATE + S_SPEC_CTRL); break;
    case 0x8B: v = 0; break;                               // IA32_BIOS_SIGN_ID
    case 0xFE: v = 0x508; break;                           // MTRRcap: WC, fixed, 8 variable
    case 0x174: v = load<u64>(STATE + S_SYSENTER_CS); break;
    case 0x175: v = load<u64>(STATE + S_SYSENTER_ESP); break;
    case 0x176: v = load<u64>(STATE + S_SYSENTER_EIP); break;
    case 0x1A0: v = load<u64>(STATE + S_MISC_ENABLE); break;
    case 0x1C4: if (!(f & FEAT_XFD)) return false; v = load<u64>(STATE + S_XFD); break;
    case 0x1C5: if (!(f & FEAT_XFD)) return false; v = load<u64>(STATE + S_XFD_ERR); break;
    case 0x277: v = load<u64>(STATE + S_PAT); break;
    case 0x2FF: v = load<u64>(STATE + S_MTRR_DEF); break;
    case 0xDA0: if (!(f & FEAT_XSAVES)) return false; v = load<u64>(STATE + S_XSS); break;
    case 0xC0000080: v = efer(); break;
    case 0xC0000081: v = load<u64>(STATE + S_STAR); break;
    case 0xC0000082: v = load<u64>(STATE + S_LSTAR); break;
    case 0xC0000083: v = load<u64>(STATE + S_CSTAR); break;
    case 0xC0000084: v = load<u64>(STATE + S_SFMASK); break;
    case 0xC0000100: v = seg_base(SEG_FS); break;
    case 0xC0000101: v = seg_base(SEG_GS); break;
    case 0xC0000102: v = load<u64>(STATE + S_KGSBASE); break;
    case 0xC0000103: if (!(f & FEAT_RDTSCP)) return false; v = load<u64>(STATE + S_TSC_AUX); break;
    default: return false;
  }
  msr_value = v;
  return true;
}

// Write MSR `idx`; false means #GP (unknown MSR or a value it rejects).
export function wrmsr_idx(idx: u32, v: u64): bool {
  const f = load<u32>(STATE + S_FEAT);
  switch (idx) {
    case 0x10: store<u64>(STATE + S_TSC, v); break;
    case 0x1B: store<u64>(STATE + S_APIC_BASE, v); break;
    case 0x3B: store<u64>(STATE + S_TSC_ADJUST, v); break;
    case 0x48: store<u64>(STATE + S_SPEC_CTRL, v); break;
    case 0x8B: break;
    case 0x174: store<u64>(STATE + S_SYSENTER_CS, v & 0xFFFF); break;
    case 0x175: if (!canonical(v)) return false; store<u64>(STATE + S_SYSENTER_ESP, v); break;
    case 0x176: if (!canonical(v)) return false; store<u64>(STATE + S_SYSENTER_EIP, v); break;
    case 0x1A0: store<u64>(STATE + S_MISC_ENABLE, v); break;
    case 0x1C4:
    case 0x1C5: {
      // only bits whose CPUID.(0DH,i).ECX[2] is set (SDM Vol. 1 §13.14)
      if (!(f & FEAT_XFD)) return false;
      let ok_bits: u64 = 0;
      for (let i: u32 = 2; i < 63; i++) if (find_cpuid_ecx(i) & 4) ok_bits |= <u64>1 << <u64>i;
      if (v & ~ok_bits) return false;
      store<u64>(STATE + (idx == 0x1C4 ? S_XFD : S_XFD_ERR), v);
      break;
    }
    case 0x277: {
      for (let i: u64 = 0; i < 64; i += 8) { const t = (v >> i) & 0xFF; if (t == 2 || t == 3 || t > 7) return false; }
      store<u64>(STATE + S_PAT, v);
      break;
    }
    case 0x2FF: store<u64>(STATE + S_MTRR_DEF, v); break;
    case 0xDA0: {
      if (!(f & FEAT_XSAVES)) return false;
      let ok_bits: u64 = 0;
      for (let i: u32 = 2; i < 63; i++) if (find_cpuid_ecx(i) & 1) ok_bits |= <u64>1 << <u64>i;
      if (v & ~ok_bits) return false;
      store<u64>(STATE + S_XSS, v);
      break;
    }
    case 0xC0000080: {
      let allowed: u64 = EFER_SCE | EFER_LME | EFER_LMA;
      if (f & FEAT_NX) allowed |= EFER_NXE;
      if (v & ~allowed) return false;
      const old = efer();
      if ((cr0() & CR0_PG) && ((v ^ old) & EFER_LME)) return false;
      store<u64>(STATE + S_EFER, (v & ~EFER_LMA) | (old & EFER_LMA));
      tlb_flush();
      update_mode();
      break;
    }
    case 0xC0000081: store<u64>(STATE + S_STAR, v); break;
    case 0xC0000082: if (!canonical(v)) return false; store<u64>(STATE + S_LSTAR, v); break;
    case 0xC0000083: if (!canonical(v)) return false; store<u64>(STATE + S_CSTAR, v); break;
    case 0xC0000084: store<u64>(STATE + S_SFMASK, v & 0xFFFFFFFF); break;
    case 0xC0000100: if (!canonical(v)) return false; store<u64>(STATE + S_SEG + SEG_FS * 16, v); break;
    case 0xC0000101: if (!canonical(v)) return false; store<u64>(STATE + S_SEG + SEG_GS * 16, v); break;
    case 0xC0000102: if (!canonical(v)) return false; store<u64>(STATE + S_KGSBASE, v); break;
    case 0xC0000103: if (!(f & FEAT_RDTSCP) || (v >> 32)) return false; store<u64>(STATE + S_TSC_AUX, v); break;
    default: return false;
  }
  return true;
}

// 0F 32 RDMSR
export function rdmsr(r: usize): i32 {
  if (need_cpl0()) return raise_gp(0);
  if (!rdmsr_idx(rd32(RCX))) return raise_gp(0);
  wr32(RAX, <u32>msr_value);
  wr32(RDX, <u32>(msr_value >> 32));
  return ST_OK;
}
// 0F 30 WRMSR (ends the block: EFER and friends change decode state)
export function wrmsr(r: usize): i32 {
  // CPL > 0 #GP has priority over the VM exit (SDM Vol. 3 §26.1.1); the value and MSR-index
  // checks do not: an intercepted WRMSR exits whatever it writes, and the hypervisor's handler
  // decides (KVM: kvm_set_msr_common fails → #GP injected at the WRMSR)
  if (need_cpl0()) return raise_gp(0);
  const idx = rd32(RCX);
  const v = (<u64>rd32(RDX) << 32) | <u64>rd32(RAX);
  if (idx == 0x1C4 && (load<u32>(STATE + S_MSR_ICPT) & MSRI_XFD_WRITE)) return wrmsr_exit(r, idx, v);
  if (!wrmsr_idx(idx, v)) return raise_gp(0);
  return ST_END;
}
// VM exit for an intercepted WRMSR: nothing written, RIP stays at the WRMSR (the row's `end`
// flag makes it the block's last instruction, so next_rip is where run() leaves RIP), the
// exit-qualification fields in the record. The exit counts the WRMSR as retired: the handler's
// skip (kvm_skip_emulated_instruction) then only moves RIP.
function wrmsr_exit(r: usize, idx: u32, v: u64): i32 {
  set_next_rip(blk_rip + <u64>load<u16>(r, R_START));
  store<u32>(RUN + R_EXIT_REASON, EXIT_VMX_MSR_WRITE);
  store<u32>(RUN + R_MSR_INDEX, idx);
  store<u32>(RUN + R_MSR_LEN, <u32>load<u8>(r, R_LEN));
  store<u64>(RUN + R_MSR_DATA, v);
  return ST_EXIT;
}

// 0F 01 CB STAC, 0F 01 CA CLAC: set/clear RFLAGS.AC (SMAP override);
// #UD at CPL > 0 or without SMAP in CPUID
export function stac_clac(r: usize, SET: bool): i32 {
  cpuid_query(7, 0);
  if (cpl() != 0 || !(cpuid_out_b & (1 << 20))) return raise_ud();
  const f = load<u64>(STATE + S_RFLAGS);
  store<u64>(STATE + S_RFLAGS, SET ? f | AC : f & ~AC);
  return ST_OK;
}

// 0F 01 F8 SWAPGS
export function swapgs(r: usize): i32 {
  if (cpl() != 0) return raise_gp(0);
  const t = seg_base(SEG_GS);
  store<u64>(STATE + S_SEG + SEG_GS * 16, load<u64>(STATE + S_KGSBASE));
  store<u64>(STATE + S_KGSBASE, t);
  return ST_OK;
}
// F3 0F AE /0../3 RDFSBASE RDGSBASE WRFSBASE WRGSBASE
export function fsgsbase(r: usize, S: u32, GS: bool, WRITE: bool): i32 {
  if (!(cr4() & CR4_FSGSBASE)) return raise_ud();
  const o = load<u8>(r, R_RM);
  const s = GS ? SEG_GS : SEG_FS;
  if (WRITE) {
    const v = rdreg(o, S);
    if (!canonical(v)) return raise_gp(0);
    store<u64>(STATE + S_SEG + s * 16, v);
  } else wrreg(o, S, seg_base(s) & mask(S));
  return ST_OK;
}

// ---- segment registers ----
// 8C MOV Ev,Sw (register destination: zero-extended to the operand size)
export function mov_from_sreg(r: usize, S: u32, M: bool): i32 {
  const n = (<u32>load<u8>(r, R_MODRM) >> 3) & 7;
  if (n > 5) return raise_ud();
  const v = <u64>seg_sel(n);
  return write_E(r, M ? 16 : S, M, v) ? ST_OK : ST_FAULT;
}
// 8E MOV Sw,Ew (CS is #UD; MOV SS blocks interrupts for one instruction)
export function mov_to_sreg(r: usize, M: bool): i32 {
  const n = (<u32>load<u8>(r, R_MODRM) >> 3) & 7;
  if (n > 5 || n == SEG_CS) return raise_ud();
  const sel = <u32>read_E(r, 16, M);
  if (M && fault_pending) return ST_FAULT;
  if (!load_seg(n, sel & 0xFFFF)) return ST_FAULT;
  if (n == SEG_SS) store<u32>(STATE + S_SHADOW, 1);
  return ST_END;
}
// PUSH ES/CS/SS/DS/FS/GS
export function push_sreg(r: usize, S: u32, SR: u32): i32 {
  return push(<u64>seg_sel(SR), S >> 3) ? ST_OK : ST_FAULT;
}
// POP ES/SS/DS/FS/GS
export function pop_sreg(r: usize, S: u32, SR: u32): i32 {
  const v = stack_peek(0, S >> 3);
  if (fault_pending) return ST_FAULT;
  if (!load_seg(SR, <u32>v & 0xFFFF)) return ST_FAULT;
  sp_add(<u64>(S >> 3));
  if (SR == SEG_SS) store<u32>(STATE + S_SHADOW, 1);
  return ST_END;
}
// C4 LES, C5 LDS, 0F B2 LSS, 0F B4 LFS, 0F B5 LGS: Gv, Mp
export function load_far_ptr(r: usize, S: u32, SR: u32): i32 {
  if (!read_far_ptr(r, S)) return ST_FAULT;
  const off = far_off;
  if (!load_seg(SR, far_sel)) return ST_FAULT;
  wrreg(load<u8>(r, R_REG), S, off);
  return ST_END;
}
// 0F 02 LAR, 0F 03 LSL: ZF=1 and the access rights / limit when visible at CPL/RPL
export function lar_lsl(r: usize, S: u32, M: bool, LSL: bool): i32 {
  if (!pe() || (load<u32>(STATE + S_MODE) & MODE_VM86)) return raise_ud();
  const sel = <u32>read_E(r, 16, M);
  if (M && fault_pending) return ST_FAULT;
  if ((sel & 0xFFFC) == 0) { set_arith(0, ZF); return ST_OK; }
  if (!read_desc(sel, X86_TRAP_GP)) {
    // beyond the table limit: ZF=0; a page fault reading the table is real
    if (fault_vec != X86_TRAP_GP) return ST_FAULT;
    clear_fault();
    set_arith(0, ZF);
    return ST_OK;
  }
  const a = desc_attr(desc_hi);
  const t = a & 0xF;
  let ok = true;
  if (!(a & 0x10)) {
    // system descriptors visible to LAR/LSL: TSS, LDT (and call gates for LAR)
    ok = t == 1 || t == 2 || t == 3 || t == 9 || t == 11 || (!LSL && (t == 4 || t == 12 || t == 5));
    if ((load<u32>(STATE + S_MODE) & MODE_LMA) && (t == 1 || t == 3 || t == 4 || t == 5)) ok = false;
  }
  const dpl = desc_dpl(desc_hi);
  if (!((a & 0x10) && (t & 0xC) == 0xC) && (dpl < cpl() || dpl < (sel & 3))) ok = false;
  if (!ok) { set_arith(0, ZF); return ST_OK; }
  if (LSL) wrreg(load<u8>(r, R_REG), S, <u64>desc_limit(desc_lo, desc_hi));
  else wrreg(load<u8>(r, R_REG), S, <u64>(desc_hi & 0x00F0FF00));
  set_arith(ZF, ZF);
  return ST_OK;
}
