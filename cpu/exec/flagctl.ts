// RFLAGS as a whole: PUSHF/POPF with their privilege rules, and the
// single-flag instructions CLC/STC/CMC/CLD/STD/CLI/STI.
import { push, pop } from "./operand";
import { get_rflags, materialize, set_arith, get_cf } from "../flags";
import { flags_raw, set_flags_raw, cpl, update_mode, CF, DF, IF, TF, IOPL, NT, AC, ID, RF, VM, VIF, VIP, ARITH_FLAGS, cr4, CR4_PVI } from "../state";
import { fault_pending, ST_OK, ST_FAULT, ST_END, raise_gp } from "../except/fault";
import { STATE, S_MODE, S_SHADOW, MODE_PE, MODE_VM86 } from "../layout";
import { tlb_select } from "../mmu/access";

@inline function iopl(): u32 { return <u32>(flags_raw() >> 12) & 3; }
@inline function pe(): bool { return (load<u32>(STATE + S_MODE) & MODE_PE) != 0; }
@inline function vm86(): bool { return (load<u32>(STATE + S_MODE) & MODE_VM86) != 0; }

// 9C PUSHF/PUSHFD/PUSHFQ: VM and RF read as 0 in the pushed image
export function pushf(r: usize, S: u32): i32 {
  if (vm86() && iopl() < 3) return raise_gp(0);
  const f = get_rflags() & ~(VM | RF);
  return push(f, S >> 3) ? ST_OK : ST_FAULT;
}

// Set when an IRET loads RF=1: RF then survives the end of that IRET and is
// cleared only after the next instruction completes (cpu/loop.ts).
export let rf_loaded: bool = false;
export function clear_rf_loaded(): void { rf_loaded = false; }

// Load RFLAGS from a POPF/IRET image with the privilege rules of POPF.
export function write_rflags(v: u64, S: u32, from_iret: bool): void {
  materialize();
  const old = flags_raw();
  let writable: u64 = ARITH_FLAGS | TF | DF | NT | AC | ID;
  if (!pe() || cpl() == 0) writable |= IOPL | IF;
  else if (cpl() <= iopl()) writable |= IF;
  if (vm86()) writable = (writable | IF) & ~IOPL;
  // IRET loads RF; a protected-mode IRET at CPL 0 also VIF and VIP. VM is
  // never loaded here: only a return to virtual-8086 mode sets it, and a
  // real-mode IRETD keeps VM, VIF and VIP (SDM IRET: "AND 257FD5H").
  if (from_iret) writable |= RF | (pe() && !vm86() && cpl() == 0 ? (VIF | VIP) : 0);
  if (S == 16) writable &= 0xFFFF;
  if (S == 32 || S == 16) { /* upper bits of RFLAGS stay as they are */ }
  let nf = (old & ~writable) | (v & writable);
  if (!from_iret) nf &= ~RF;
  rf_loaded = from_iret && (nf & RF) != 0;
  set_flags_raw((nf & 0x3F7FD7) | 2);
  update_mode();
  tlb_select();   // RFLAGS.AC: alignment checking
}

// 9D POPF/POPFD/POPFQ (ends the block: TF and IF change what happens next)
export function popf(r: usize, S: u32): i32 {
  if (vm86() && iopl() < 3) return raise_gp(0);
  const v = pop(S >> 3);
  if (fault_pending) return ST_FAULT;
  write_rflags(v, S, false);
  return ST_END;
}

// F8 CLC, F9 STC, F5 CMC
export function clc(r: usize): i32 { set_arith(0, CF); return ST_OK; }
export function stc(r: usize): i32 { set_arith(CF, CF); return ST_OK; }
export function cmc(r: usize): i32 { set_arith(get_cf() ^ 1, CF); return ST_OK; }
// FC CLD, FD STD
export function cld(r: usize): i32 { set_flags_raw(flags_raw() & ~DF); return ST_OK; }
export function std_(r: usize): i32 { set_flags_raw(flags_raw() | DF); return ST_OK; }
// FA CLI: #GP if CPL > IOPL in protected mode (PVI/VME virtual-IF variants not modelled)
export function cli(r: usize): i32 {
  if (pe() && cpl() > iopl()) {
    if (!vm86() && cpl() == 3 && (cr4() & CR4_PVI)) { set_flags_raw(flags_raw() & ~VIF); return ST_OK; }
    return raise_gp(0);
  }
  set_flags_raw(flags_raw() & ~IF);
  return ST_OK;
}
// FB STI: interrupts stay blocked until after the next instruction
export function sti(r: usize): i32 {
  if (pe() && cpl() > iopl()) return raise_gp(0);
  if (!(flags_raw() & IF)) store<u32>(STATE + S_SHADOW, 1);
  set_flags_raw(flags_raw() | IF);
  return ST_END;
}
