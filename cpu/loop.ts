// run(budget): events → fetch translation → block lookup/build → dispatch,
// until an exit. The per-instruction path is the inner `while`: one load of
// the handler id and a br_table; everything else happens once per block.
import {
  STATE, RUN, S_RIP, S_MODE, S_INSNS, S_TSC, S_HALTED, S_SHADOW, S_PEND_IRQ, S_PEND_EXC, S_PEND_EXC_ERR,
  S_PEND_EXC_HAS_ERR, S_DBG_CTRL, S_EXC_BITMAP, S_DR, MODE_64, REC, SCRATCH, XBUF, SEG_CS,
  R_EXIT_REASON, R_DEBUG_EXC, R_DEBUG_PC, R_DEBUG_DR6, R_IF_FLAG,
  EXIT_HLT, EXIT_DEBUG, EXIT_SHUTDOWN, EXIT_INTR, EXIT_INTERNAL_ERROR, EXIT_MMIO,
  DBG_ENABLE, DBG_SINGLESTEP, DBG_SW_BP, DBG_RESUME_BP,
} from "./layout";
import { seg_base, flags_raw, set_flags_raw, IF, TF, RF } from "./state";
import { fetch_translate, fetch_lin, fetch_host, fetch_pa } from "./mmu/access";
import { block_lookup, block_build, build_single, single_block, bp_at, H_N, H_LEN, H_SIZE } from "./block";
import { R_START, R_LEN, D_MORE } from "./decode/decoder";
import { dispatch } from "./dispatch.gen";
import {
  ST_OK, ST_FAULT, ST_EXIT, ST_END, fault_pending, fault_vec, fault_err, fault_has_err, clear_fault, has_error_code,
  VEC_MMIO, VEC_INTERNAL, X86_TRAP_DB, X86_TRAP_PF,
} from "./except/fault";
import { deliver, EV_EXC, EV_EXT } from "./except/deliver";
import { blk_rip, next_rip, blk_end, exit_after, set_blk_rip, set_next_rip, set_blk_end, set_exit_after, set_blk_ppn, no_step_trap, set_no_step_trap, step_trap_after, set_step_trap_after } from "./ctl";
import { translate, tr_host } from "./mmu/access";
import { ACC_X } from "./mmu/paging";
import { get_rflags } from "./flags";
import { rf_loaded, clear_rf_loaded } from "./exec/flagctl";

@inline function exit_with(reason: u32): i32 {
  store<u32>(RUN + R_EXIT_REASON, reason);
  store<u8>(RUN + R_IF_FLAG, (flags_raw() & IF) ? 1 : 0);
  return <i32>reason;
}

// Deliver a fault recorded by a handler (RIP already at the instruction).
// Returns an exit reason, or -1 to keep running.
function handle_fault(): i32 {
  const v = fault_vec;
  const e = fault_err;
  const he = fault_has_err;
  clear_fault();
  if (v == VEC_MMIO) return <i32>EXIT_MMIO;            // exit record already filled
  if (v == VEC_INTERNAL) return exit_with(EXIT_INTERNAL_ERROR);
  const dbg = load<u32>(STATE + S_DBG_CTRL);
  if ((dbg & DBG_ENABLE) && (load<u32>(STATE + S_EXC_BITMAP) & (1 << v))) {
    // the debugger sees the exception first; it is delivered on the next run
    store<i32>(STATE + S_PEND_EXC, <i32>v);
    store<u32>(STATE + S_PEND_EXC_ERR, e);
    store<u32>(STATE + S_PEND_EXC_HAS_ERR, he ? 1 : 0);
    store<u32>(RUN + R_DEBUG_EXC, v);
    store<u64>(RUN + R_DEBUG_PC, load<u64>(STATE + S_RIP));
    return exit_with(EXIT_DEBUG);
  }
  if (!deliver(v, e, he, EV_EXC)) return exit_with(EXIT_SHUTDOWN);
  return -1;
}

// Fetch the bytes of an instruction that crosses a page end into XBUF.
// Returns the decoded length, or -1 after raising a fetch fault.
function fetch_crossing(lin: u64, m: u32): i32 {
  const off = <u32>lin & 0xFFF;
  const n1 = 4096 - off;
  memory.copy(SCRATCH + XBUF, fetch_host + off, n1);
  let len = build_single(n1, m);
  if (len != D_MORE) return len;
  const lin2 = (lin & ~<u64>0xFFF) + 4096;
  if (!translate(lin2, ACC_X, SEG_CS, false)) return -1;   // #PF raised, or MMIO (no fault: internal error)
  memory.copy(SCRATCH + XBUF + n1, tr_host, 16 - n1);
  len = build_single(16, m);
  return len;
}

// The per-instruction loop. It is its own function (Binaryen does not inline functions
// with loops) so that only `rec` and `st` are live across the dispatch switch: inlined
// into run(), the block loop's locals were live there too and V8 kept `rec` in a stack
// slot, with spills and reloads around every dispatch.
let exec_rec: usize = 0;
function exec_block(first: usize): i32 {
  let rec = first;
  let st: i32 = ST_OK;
  while (rec < blk_end) {
    st = dispatch(<u32>load<u16>(rec), rec);
    if (st != ST_OK) break;
    rec += REC;
  }
  exec_rec = rec;
  return st;
}

export function run(budget: i32): i32 {
  let left: i64 = <i64>budget;
  set_exit_after(false);
  clear_fault();
  while (true) {
    // ---- events at an instruction boundary ----
    const pexc = load<i32>(STATE + S_PEND_EXC);
    if (pexc >= 0) {
      store<i32>(STATE + S_PEND_EXC, -1);
      if (!deliver(<u32>pexc, load<u32>(STATE + S_PEND_EXC_ERR), load<u32>(STATE + S_PEND_EXC_HAS_ERR) != 0, EV_EXC)) return exit_with(EXIT_SHUTDOWN);
    }
    const shadow = load<u32>(STATE + S_SHADOW) != 0;
    const irq = load<i32>(STATE + S_PEND_IRQ);
    if (irq >= 0 && !shadow && (flags_raw() & IF)) {
      store<i32>(STATE + S_PEND_IRQ, -1);
      store<u32>(STATE + S_HALTED, 0);
      if (!deliver(<u32>irq, 0, false, EV_EXT)) return exit_with(EXIT_SHUTDOWN);
    }
    if (left <= 0) return exit_with(EXIT_INTR);

    // ---- fetch ----
    const rip = load<u64>(STATE + S_RIP);
    const m = load<u32>(STATE + S_MODE);
    const lin = (m & MODE_64) ? rip : (rip + seg_base(SEG_CS)) & 0xFFFFFFFF;
    const dbg = load<u32>(STATE + S_DBG_CTRL);
    if ((dbg & DBG_SW_BP) && (dbg & DBG_ENABLE)) {
      if ((dbg & DBG_RESUME_BP) == 0 && bp_at(lin)) {
        store<u32>(RUN + R_DEBUG_EXC, 3);
        store<u64>(RUN + R_DEBUG_PC, lin);
        return exit_with(EXIT_DEBUG);
      }
      store<u32>(STATE + S_DBG_CTRL, dbg & ~DBG_RESUME_BP);
    }
    if ((lin & ~<u64>0xFFF) != fetch_lin) {
      if (!fetch_translate(lin)) {
        if (fault_pending) { const x = handle_fault(); if (x >= 0) return x; continue; }
        return exit_with(EXIT_INTERNAL_ERROR);   // fetch from MMIO
      }
    }
    const pa = fetch_pa | (lin & 0xFFF);
    let blk = block_lookup(pa, m);
    if (blk == 0) {
      const off = <u32>lin & 0xFFF;
      blk = block_build(fetch_host + off, 4096 - off, lin, pa, m);
      if (blk == 0) {
        const len = fetch_crossing(lin, m);
        if (len < 0) {
          if (fault_pending) { const x = handle_fault(); if (x >= 0) return x; continue; }
          return exit_with(EXIT_INTERNAL_ERROR);
        }
        blk = single_block();
      }
    }

    // ---- execute the block ----
    const ninsn = <u32>load<u16>(blk, H_N);
    let n = ninsn;
    const tf = (flags_raw() & TF) != 0;
    const step = (dbg & (DBG_ENABLE | DBG_SINGLESTEP)) == (DBG_ENABLE | DBG_SINGLESTEP);
    // RF=1 (after an IRET from a fault handler) lasts one instruction: run it alone
    const rf = (flags_raw() & RF) != 0;
    if (shadow || tf || step || rf) n = 1;
    clear_rf_loaded();
    if (<i64>n > left) n = <u32>left;
    set_blk_rip(rip);
    set_next_rip(rip + <u64>load<u16>(blk, H_LEN));
    set_blk_ppn(pa >> 12);
    const first = blk + H_SIZE;
    set_blk_end(first + n * REC);
    const st = exec_block(first);
    const rec = exec_rec;
    const done = <u32>((rec - first) / REC);
    const last = first + ninsn * REC;
    if (st == ST_OK) {
      if (rec < last) set_rip(blk_rip + <u64>load<u16>(rec, R_START));
      else set_rip(next_rip);
      retire(done);
      left -= <i64>done;
    } else if (st == ST_FAULT) {
      set_rip(blk_rip + <u64>load<u16>(rec, R_START));
      retire(done);
      left -= <i64>done;
      if (shadow) store<u32>(STATE + S_SHADOW, 0);
      const x = handle_fault();
      if (x >= 0) return x;
      continue;
    } else {
      // ST_EXIT / ST_END: the instruction at `rec` completed
      if (rec + REC < last) set_rip(blk_rip + <u64>(<u32>load<u16>(rec, R_START) + <u32>load<u8>(rec, R_LEN)));
      else set_rip(next_rip);
      retire(done + 1);
      left -= <i64>(done + 1);
    }
    if (shadow) store<u32>(STATE + S_SHADOW, 0);
    // the instruction completed: RF is cleared unless it was an IRET that loaded it (SDM 18.3.1.1)
    if (rf && !rf_loaded) set_flags_raw(flags_raw() & ~RF);
    if (st == ST_EXIT) return <i32>load<u32>(RUN + R_EXIT_REASON);
    if (exit_after) { set_exit_after(false); return <i32>load<u32>(RUN + R_EXIT_REASON); }
    if (tf && no_step_trap) set_no_step_trap(false);   // INT n, SYSCALL masking TF: no trap
    else if ((tf || step_trap_after) && st != ST_FAULT) {
      set_step_trap_after(false);
      // single-step trap after the instruction (DR6.BS)
      store<u64>(STATE + S_DR + 48, load<u64>(STATE + S_DR + 48) | 0x4000);
      if (!deliver(X86_TRAP_DB, 0, false, EV_EXC)) return exit_with(EXIT_SHUTDOWN);
    }
    if (step) {
      store<u32>(RUN + R_DEBUG_EXC, 1);
      store<u64>(RUN + R_DEBUG_PC, load<u64>(STATE + S_RIP));
      store<u64>(RUN + R_DEBUG_DR6, 0x4000);
      return exit_with(EXIT_DEBUG);
    }
  }
  return 0;   // not reached
}

@inline function set_rip(v: u64): void { store<u64>(STATE + S_RIP, v); }
@inline function retire(n: u32): void {
  store<u64>(STATE + S_INSNS, load<u64>(STATE + S_INSNS) + <u64>n);
  store<u64>(STATE + S_TSC, load<u64>(STATE + S_TSC) + <u64>n);
}

