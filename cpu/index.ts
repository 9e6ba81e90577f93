// The module's exports: the layout constants (read by the TypeScript side),
// reset, run, and the few operations the host performs between runs. All
// exported functions take and return i32/f64 so no BigInt crosses the
// boundary; 64-bit state is exchanged through the state block.
export * from "./layout";
import {
  STATE, S_RIP, S_RFLAGS, S_CR0, S_DR, S_XCR0, S_PAT, S_APIC_BASE, S_MISC_ENABLE, S_PEND_IRQ, S_PEND_EXC, S_LF_OP,
  S_GDTR_LIMIT, S_IDTR_LIMIT, S_MODE, S_CPL, S_INSNS, SEG_CS, SEG_LDTR, SEG_TR, XSTATE, CODEGEN, CODEMAP,
  S_CPUID_PTR, S_MXCSR_MASK, S_HOSTMODE_FAULT, S_XMODIFIED, S_XRSTOR_LA, S_XRSTOR_INFO, S_CPUID_N, S_FEAT, S_VENDOR,
} from "./layout";
import { set_seg, update_mode } from "./state";
import { get_rflags, materialize } from "./flags";
import { tlb_flush, tlb_select, mmio_respond } from "./mmu/access";
import { set_slot, set_a20 } from "./mmu/phys";
import { load_pdptes } from "./mmu/paging";
import { blocks_flush, code_dirty, set_code_dirty } from "./block";
import { run as run_loop } from "./loop";
import { io_complete_in, io_cancel_in, io_pending_get, io_pending_set } from "./exec/io";
import { rdmsr_idx, wrmsr_idx, msr_value } from "./exec/system";
import { NHANDLERS } from "./decode/tables.gen";
import { xsave_size, cpuid_query, cpuid_out_a, cpuid_out_b, cpuid_out_c, cpuid_out_d } from "./exec/misc";
import { deliver, EV_EXT } from "./except/deliver";
import { xsave_setup, host_xsaves, host_xrstors, host_xsave_std, host_xrstor_std } from "./exec/xsave";
import { decode, R_ID } from "./decode/decoder";

export const HANDLER_COUNT: u32 = NHANDLERS;

export function init(): void {
  blocks_flush();
  tlb_flush();
}

// Architectural reset (SDM Vol. 3A §9.1.1, KVM's kvm_vcpu_reset()).
// The CPU-model fields (CPUID table pointer, features, vendor, the leaf 0xD
// cache at S_XCOMP…) survive a reset: they describe the silicon, not its state.
export function reset(): void {
  memory.fill(STATE, 0, S_CPUID_PTR);
  store<u64>(STATE + S_HOSTMODE_FAULT, 0);
  store<u64>(STATE + S_XMODIFIED, 0);
  store<u64>(STATE + S_XRSTOR_LA, <u64>-1);
  store<u64>(STATE + S_XRSTOR_INFO, 0);
  memory.fill(XSTATE, 0, 0x4000);
  store<u64>(STATE + S_RIP, 0xFFF0);
  store<u64>(STATE + S_RFLAGS, 2);
  store<u32>(STATE + S_LF_OP, 0);
  store<u64>(STATE + S_CR0, 0x60000010);
  for (let s: u32 = 0; s < 6; s++) set_seg(s, 0, 0, 0xFFFF, 0x93);
  set_seg(SEG_CS, 0xF000, 0xFFFF0000, 0xFFFF, 0x9B);
  set_seg(SEG_LDTR, 0, 0, 0xFFFF, 0x82);
  set_seg(SEG_TR, 0, 0, 0xFFFF, 0x8B);
  store<u64>(STATE + S_GDTR_LIMIT, 0xFFFF);
  store<u64>(STATE + S_IDTR_LIMIT, 0xFFFF);
  store<u64>(STATE + S_DR + 48, 0xFFFF0FF0);
  store<u64>(STATE + S_DR + 56, 0x400);
  store<u64>(STATE + S_XCR0, 1);
  store<u64>(STATE + S_PAT, 0x0007040600070406);
  store<u64>(STATE + S_APIC_BASE, 0xFEE00900);
  store<u64>(STATE + S_MISC_ENABLE, 1);
  store<i32>(STATE + S_PEND_IRQ, -1);
  store<i32>(STATE + S_PEND_EXC, -1);
  // x87/SSE as KVM's vCPU reset leaves them (fpstate init: FCW 0x37F, MXCSR 0x1F80;
  // bare silicon's power-up FCW is 0x40)
  store<u16>(XSTATE, 0x37F);
  store<u32>(XSTATE + 24, 0x1F80);
  io_cancel_in();
  update_mode();
  tlb_select();
  tlb_flush();
}

// Run until an exit; returns the KVM_EXIT_* reason.
export function run(budget: i32): i32 {
  io_complete_in();
  return run_loop(budget);
}

// Re-derive cached state after the host wrote the state block directly
// (KVM_SET_REGS / KVM_SET_SREGS / restore).
export function state_changed(): void {
  update_mode();
  tlb_select();
  tlb_flush();
}

export function rflags_lo(): i32 { return <i32>get_rflags(); }
export function flags_fold(): void { materialize(); }
export function flush_tlb(): void { tlb_flush(); }
export function flush_code(): void {
  if (!code_dirty) { tlb_flush(); return; }   // nothing decoded since the last flush
  set_code_dirty(false);
  blocks_flush();
  memory.fill(CODEMAP, 0, 0x800000);
  memory.fill(CODEGEN, 0, 0x400000);
  tlb_flush();
}
export function slot(i: i32, gpa: f64, size: f64, host: f64, flags: i32): void {
  set_slot(<u32>i, <u64>gpa, <u64>size, <u64>host, <u32>flags);
  flush_code();
}
export function a20(on: i32): void { set_a20(on != 0); tlb_flush(); }
export function mmio_data(pa: f64, lo: i32, hi: i32): void {
  mmio_respond(<u64>pa, (<u64><u32>hi << 32) | <u64><u32>lo);
}
export function cancel_io(): void { io_cancel_in(); }
export function insns(): f64 { return <f64>load<u64>(STATE + S_INSNS); }
export function xsave_area_size(lo: i32, hi: i32, compacted: i32): i32 {
  return <i32>xsave_size((<u64><u32>hi << 32) | <u64><u32>lo, compacted != 0);
}
// CPUID as the guest would see it now; results read back with cpuid_reg(0..3)
export function cpuid(fn: i32, idx: i32): void { cpuid_query(<u32>fn, <u32>idx); }
export function cpuid_reg(i: i32): i32 {
  return <i32>(i == 0 ? cpuid_out_a : i == 1 ? cpuid_out_b : i == 2 ? cpuid_out_c : cpuid_out_d);
}
// Inject an external interrupt now (used by tests; the VMM uses S_PEND_IRQ).
export function inject(vec: i32): i32 { return deliver(<u32>vec, 0, false, EV_EXT) ? 1 : 0; }
export function cpl(): i32 { return <i32>load<u32>(STATE + S_CPL); }
export function mode(): i32 { return <i32>load<u32>(STATE + S_MODE); }

// ---- extended state (CPU models and the hypervisor's fpstate code) ----
// Cache the model's CPUID leaf 0xD layout after the host loaded a CPUID table.
export function xsave_init(): void { xsave_setup(); }
@inline function m64(lo: i32, hi: i32): u64 { return (<u64><u32>hi << 32) | <u64><u32>lo; }
// XSAVES/XRSTORS of `mask` to/from host address `buf` with the current XCR0,
// XSS and XFD: 0 on success, else the fault vector (7 = #NM, 13 = #GP).
export function hostmode_xsaves(buf: i32, lo: i32, hi: i32): i32 { return host_xsaves(<usize>buf, m64(lo, hi)); }
export function hostmode_xrstors(buf: i32, lo: i32, hi: i32): i32 { return host_xrstors(<usize>buf, m64(lo, hi)); }
export function hostmode_xsave(buf: i32, lo: i32, hi: i32): i32 { return host_xsave_std(<usize>buf, m64(lo, hi)); }
export function hostmode_xrstor(buf: i32, lo: i32, hi: i32): i32 { return host_xrstor_std(<usize>buf, m64(lo, hi)); }
export function set_mxcsr_mask(v: i32): void { store<u32>(STATE + S_MXCSR_MASK, <u32>v); }

// ---- decoder probes for tests (no side effects on the CPU state) ----
// decode_len decodes one instruction from wasm memory at `addr` (at most
// `avail` bytes) in decode mode `mode` (MODE_* bits) and returns its length,
// or the negative D_* code (D_MORE -1, D_UD -2, D_GP -3). decode_id then gives
// the handler id of that instruction (index into cpu/gen/ids.gen.json).
const DEC_REC: usize = memory.data(32, 8);
export function decode_len(addr: i32, avail: i32, mode: i32): i32 {
  return decode(<usize>addr, <u32>avail, <u32>mode, DEC_REC);
}
export function decode_id(): i32 { return <i32>load<u16>(DEC_REC, R_ID); }
// decode_buf decodes `n` instructions at src + i*stride (stride bytes each)
// and writes the result of decode_len for each as i32 at lens + 4*i and the
// handler id as u16 at ids + 2*i (0 when not decoded).
export function decode_buf(src: i32, n: i32, stride: i32, mode: i32, lens: i32, ids: i32): void {
  for (let i = 0; i < n; i++) {
    const l = decode(<usize>(src + i * stride), <u32>stride, <u32>mode, DEC_REC);
    store<i32>(<usize>(lens + i * 4), l);
    store<u16>(<usize>(ids + i * 2), l > 0 ? load<u16>(DEC_REC, R_ID) : 0);
  }
}

// The host wrote guest-physical [pa, pa+len) behind the CPU's back: blocks
// decoded from those pages become stale (cheaper than flush_code for a few
// pages; used by test runners that rewrite the code of each case).
export function code_written(pa: f64, len: i32): void {
  if (len <= 0) return;
  const first = <u64>pa >> 12;
  const last = (<u64>pa + <u64>len - 1) >> 12;
  for (let p = first; p <= last && p < 0x100000; p++) {
    store<u32>(CODEGEN + <u32>p * 4, load<u32>(CODEGEN + <u32>p * 4) + 1);
    store<u64>(CODEMAP + <u32>p * 8, 0);
  }
  tlb_flush();
}
// ---- host-initiated MSR access (KVM_GET_MSRS / KVM_SET_MSRS) and vCPU switching ----
// msr_read: 1 and the value in msr_lo()/msr_hi(), or 0 when the MSR does not exist.
export function msr_read(idx: i32): i32 { return rdmsr_idx(<u32>idx) ? 1 : 0; }
export function msr_lo(): i32 { return <i32><u32>msr_value; }
export function msr_hi(): i32 { return <i32><u32>(msr_value >> 32); }
// msr_write: 1 when the write was accepted, 0 when WRMSR would #GP.
export function msr_write(idx: i32, lo: i32, hi: i32): i32 { return wrmsr_idx(<u32>idx, m64(lo, hi)) ? 1 : 0; }
export function io_pending(i: i32): i32 { return io_pending_get(i); }
export function io_restore(kind: i32, size: i32, lo: i32, hi: i32): void { io_pending_set(kind, size, lo, hi); }
// KVM_SET_SREGS with PAE paging: load the PDPTEs from CR3 as a MOV to CR3 would
export function pdptes_load(): void { load_pdptes(); }
