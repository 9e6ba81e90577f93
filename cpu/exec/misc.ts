// Miscellaneous: #UD for undefined encodings, NOPs and hints, HLT, UD2,
// software interrupts and IRET live in intr.ts; CPUID and RDTSC here.
import { STATE, RUN, S_HALTED, S_TSC, S_TSC_AUX, S_CPUID_PTR, S_CPUID_N, S_XCR0, S_XSS, S_CR4, R_EXIT_REASON, EXIT_HLT, S_FEAT, FEAT_RDTSCP } from "../layout";
import { cpl, cr4, wr32, rd32, RAX, RBX, RCX, RDX, CR4_TSD, CR4_OSXSAVE, CR4_PKE } from "../state";
import { ST_OK, ST_EXIT, ST_FAULT, fault_pending, raise_ud, raise_gp } from "../except/fault";
import { mem_lin } from "./operand";
import { translate } from "../mmu/access";
import { R_SEG } from "../decode/decoder";
import { insn_end } from "./ctrl";
import { set_next_rip } from "../ctl";

// Undefined encoding (decode-tree hole, or an attribute check failed)
export function op_ud(r: usize): i32 { return raise_ud(); }
// Instruction longer than 15 bytes
export function op_gp_len(r: usize): i32 { return raise_gp(0); }
// 0F 0B UD2, 0F B9 UD1, 0F FF UD0
export function ud2(r: usize): i32 { return raise_ud(); }
// NOP, PAUSE, hint NOPs (0F 18-1F), fences, prefetches, ENDBR, CLFLUSH: no architectural effect here
@inline export function nop(r: usize): i32 { return ST_OK; }

// NP 0F AE /7 CLFLUSH m8: no data effect here, but the address is checked
// like a one-byte read (#PF with a read error code, #GP/#SS for bad addresses)
export function clflush(r: usize): i32 {
  const lin = mem_lin(r, 1, false);
  if (fault_pending) return ST_FAULT;
  translate(lin, 0, <u32>load<u8>(r, R_SEG), false);   // MMIO: no exit, nothing to flush
  return fault_pending ? ST_FAULT : ST_OK;
}

// F4 HLT: CPL0 only; exits to the VMM (no in-kernel local APIC)
export function hlt(r: usize): i32 {
  if (cpl() != 0) return raise_gp(0);
  store<u32>(STATE + S_HALTED, 1);
  set_next_rip(insn_end(r));
  store<u32>(RUN + R_EXIT_REASON, EXIT_HLT);
  return ST_EXIT;
}

// 0F 31 RDTSC: deterministic TSC (advances by one per retired instruction)
export function rdtsc(r: usize): i32 {
  if ((cr4() & CR4_TSD) && cpl() != 0) return raise_gp(0);
  const t = load<u64>(STATE + S_TSC);
  wr32(RAX, <u32>t);
  wr32(RDX, <u32>(t >> 32));
  return ST_OK;
}
// 0F 01 F9 RDTSCP
export function rdtscp(r: usize): i32 {
  if (!(load<u32>(STATE + S_FEAT) & FEAT_RDTSCP)) return raise_ud();
  const st = rdtsc(r);
  if (st != ST_OK) return st;
  wr32(RCX, load<u32>(STATE + S_TSC_AUX));
  return ST_OK;
}

// CPUID from the model's table (kvm_cpuid_entry2 layout, 40 bytes each),
// with the bits that reflect live state filled in (OSXSAVE, OSPKE, the leaf
// 0xD sizes for the current XCR0 / XCR0|XSS).
export let cpuid_out_a: u32 = 0;
export let cpuid_out_b: u32 = 0;
export let cpuid_out_c: u32 = 0;
export let cpuid_out_d: u32 = 0;

function find(fn: u32, idx: u32): usize {
  const base = <usize>load<u32>(STATE + S_CPUID_PTR);
  const n = load<u32>(STATE + S_CPUID_N);
  for (let i: u32 = 0; i < n; i++) {
    const e = base + i * 40;
    if (load<u32>(e) != fn) continue;
    if ((load<u32>(e, 8) & 1) && load<u32>(e, 4) != idx) continue;
    return e;
  }
  return 0;
}

// ECX of CPUID.(0DH, i): supervisor (bit 0), aligned (bit 1), XFD-capable (bit 2).
export function find_cpuid_ecx(i: u32): u32 {
  const e = find(0xD, i);
  return e ? load<u32>(e, 20) : 0;
}

// Size of the standard-format (compacted = false) or compacted area for `mask`.
export function xsave_size(mask: u64, compacted: bool): u32 {
  let size: u32 = 576;
  for (let i: u32 = 2; i < 63; i++) {
    if (!((mask >> <u64>i) & 1)) continue;
    const e = find(0xD, i);
    if (e == 0) continue;
    const sz = load<u32>(e, 12);
    if (compacted) {
      if (load<u32>(e, 20) & 2) size = (size + 63) & ~63;
      size += sz;
    } else {
      const end = load<u32>(e, 16) + sz;
      if (end > size) size = end;
    }
  }
  return size;
}

export function cpuid_query(fn: u32, idx: u32): void {
  const e = find(fn, idx);
  if (e == 0) { cpuid_out_a = 0; cpuid_out_b = 0; cpuid_out_c = 0; cpuid_out_d = 0; return; }
  let a = load<u32>(e, 12), b = load<u32>(e, 16), c = load<u32>(e, 20), d = load<u32>(e, 24);
  const c4 = load<u64>(STATE + S_CR4);
  if (fn == 1) c = (c & ~(1 << 27)) | ((c4 & CR4_OSXSAVE) ? (1 << 27) : 0);
  if (fn == 7 && idx == 0) c = (c & ~(1 << 4)) | ((c4 & CR4_PKE) ? (1 << 4) : 0);
  if (fn == 0xD && idx == 0) b = xsave_size(load<u64>(STATE + S_XCR0), false);
  if (fn == 0xD && idx == 1 && (a & 8)) b = xsave_size(load<u64>(STATE + S_XCR0) | load<u64>(STATE + S_XSS), true);
  cpuid_out_a = a; cpuid_out_b = b; cpuid_out_c = c; cpuid_out_d = d;
}

// 0F A2 CPUID
export function cpuid(r: usize): i32 {
  cpuid_query(rd32(RAX), rd32(RCX));
  wr32(RAX, cpuid_out_a);
  wr32(RBX, cpuid_out_b);
  wr32(RCX, cpuid_out_c);
  wr32(RDX, cpuid_out_d);
  return ST_OK;
}
