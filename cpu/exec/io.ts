// Port I/O. Every access exits to the VMM with a kvm_run-shaped IO record:
// OUT completes before the exit; IN completes on the next run, when the VMM
// has written the data (io_complete_in, called from the run entry).
// In protected mode CPL > IOPL consults the TSS I/O permission bitmap.
import { STATE, RUN, S_MODE, S_RFLAGS, MODE_PE, MODE_VM86, MODE_64, SEG_TR, SEG_ES, R_EXIT_REASON, R_IO_DIR, R_IO_SIZE, R_IO_PORT, R_IO_COUNT, R_IO_DATA_OFFSET, R_IO_DATA, EXIT_IO } from "../layout";
import { cpl, rdreg, wrreg, rd64, seg_base, seg_limit, flags_raw, RAX, RDX, RCX, RSI, RDI, DF } from "../state";
import { R_IMM, R_ASZ, R_SEG, R_PFX, R_START, P_REP, P_REPNE } from "../decode/decoder";
import { ld, st, ld_sys } from "../mmu/access";
import { seg_lin, mask } from "./operand";
import { fault_pending, ST_FAULT, ST_EXIT, ST_END, raise_gp } from "../except/fault";
import { insn_end } from "./ctrl";
import { set_next_rip, blk_rip } from "../ctl";
import { PORT_IB } from "./consts";

// pending IN: destination kind 0 none, 1 AL/AX/EAX, 2 string (ES:rDI)
let in_kind: u32 = 0;
let in_size: u32 = 0;
let in_lin: u64 = 0;

// I/O permission: IOPL in protected mode, then the TSS bitmap (SDM Vol. 1 §19.5)
function io_allowed(port: u32, n: u32): bool {
  const m = load<u32>(STATE + S_MODE);
  if (!(m & MODE_PE)) return true;
  const iopl = <u32>(load<u64>(STATE + S_RFLAGS) >> 12) & 3;
  if (!(m & MODE_VM86) && cpl() <= iopl) return true;
  const tss = seg_base(SEG_TR);
  const lim = seg_limit(SEG_TR);
  if (lim < 0x67) return false;
  const base = <u32>ld_sys(tss + 0x66, 2);
  if (fault_pending) return false;
  const byte = base + (port >> 3);
  if (byte + 1 > lim) return false;
  const bits = <u32>ld_sys(tss + <u64>byte, 2);
  if (fault_pending) return false;
  return ((bits >> (port & 7)) & ((1 << n) - 1)) == 0;
}

function io_exit(dir: u32, n: u32, port: u32): i32 {
  store<u32>(RUN + R_EXIT_REASON, EXIT_IO);
  store<u8>(RUN + R_IO_DIR, <u8>dir);
  store<u8>(RUN + R_IO_SIZE, <u8>n);
  store<u16>(RUN + R_IO_PORT, <u16>port);
  store<u32>(RUN + R_IO_COUNT, 1);
  store<u64>(RUN + R_IO_DATA_OFFSET, R_IO_DATA);
  return ST_EXIT;
}

// E4/E5 IN AL/eAX,Ib ; EC/ED IN AL/eAX,DX
export function io_in(r: usize, S: u32, SRC: u32): i32 {
  const port = SRC == PORT_IB ? <u32>load<u64>(r, R_IMM) & 0xFF : <u32>rd64(RDX) & 0xFFFF;
  const n = S >> 3;
  if (!io_allowed(port, n)) return fault_pending ? ST_FAULT : raise_gp(0);
  in_kind = 1; in_size = S;
  set_next_rip(insn_end(r));
  return io_exit(0, n, port);
}
// E6/E7 OUT Ib,AL/eAX ; EE/EF OUT DX,AL/eAX
export function io_out(r: usize, S: u32, SRC: u32): i32 {
  const port = SRC == PORT_IB ? <u32>load<u64>(r, R_IMM) & 0xFF : <u32>rd64(RDX) & 0xFFFF;
  const n = S >> 3;
  if (!io_allowed(port, n)) return fault_pending ? ST_FAULT : raise_gp(0);
  store<u64>(RUN + R_IO_DATA, rdreg(RAX, S));
  set_next_rip(insn_end(r));
  return io_exit(1, n, port);
}

// 6C/6D INS, 6E/6F OUTS: one element per exit. With REP the instruction
// stays at its own RIP until rCX reaches 0, so each exit is restartable.
export function io_string(r: usize, S: u32, OUT: bool): i32 {
  const asz = load<u8>(r, R_ASZ);
  const am: u64 = asz == 2 ? <u64>-1 : asz == 1 ? <u64>0xFFFFFFFF : <u64>0xFFFF;
  const rep = (load<u8>(r, R_PFX) & (P_REP | P_REPNE)) != 0;
  const csz: u32 = asz == 2 ? 64 : asz == 1 ? 32 : 16;
  if (rep && rdreg(RCX, csz) == 0) { set_next_rip(insn_end(r)); return ST_END; }
  const port = <u32>rd64(RDX) & 0xFFFF;
  const n = S >> 3;
  if (!io_allowed(port, n)) return fault_pending ? ST_FAULT : raise_gp(0);
  const step: u64 = (flags_raw() & DF) ? (0 - <u64>n) : <u64>n;
  if (OUT) {
    const s = <u32>load<u8>(r, R_SEG);
    const off = rd64(RSI) & am;
    const lin = seg_lin(s, off, n, false);
    if (fault_pending) return ST_FAULT;
    const v = ld(lin, n, s);
    if (fault_pending) return ST_FAULT;
    store<u64>(RUN + R_IO_DATA, v);
    wrreg(RSI, csz, (off + step) & am);
  } else {
    const off = rd64(RDI) & am;
    const lin = seg_lin(SEG_ES, off, n, true);
    if (fault_pending) return ST_FAULT;
    // fault now rather than after the VMM produced the data
    if (!st(lin, n, ld(lin, n, SEG_ES), SEG_ES)) return ST_FAULT;
    in_kind = 2; in_size = S; in_lin = lin;
    wrreg(RDI, csz, (off + step) & am);
  }
  let done = true;
  if (rep) {
    const c = (rdreg(RCX, csz) - 1) & mask(csz);
    wrreg(RCX, csz, c);
    done = c == 0;
  }
  // not done: the instruction itself runs again after the exit (RIP at its start)
  set_next_rip(done ? insn_end(r) : blk_rip + <u64>load<u16>(r, R_START));
  return io_exit(OUT ? 1 : 0, n, port);
}

// Called at the start of run(): finish a pending IN with the VMM's data.
export function io_complete_in(): void {
  if (in_kind == 0) return;
  const v = load<u64>(RUN + R_IO_DATA);
  if (in_kind == 1) wrreg(RAX, in_size, v);
  else st(in_lin, in_size >> 3, v, SEG_ES);
  in_kind = 0;
}
export function io_cancel_in(): void { in_kind = 0; }

// A pending IN belongs to the vCPU that issued it: the hypervisor saves and
// restores it when it switches vCPUs on this CPU (field 0 kind, 1 size, 2/3 address).
export function io_pending_get(i: i32): i32 {
  return i == 0 ? <i32>in_kind : i == 1 ? <i32>in_size : i == 2 ? <i32><u32>in_lin : <i32><u32>(in_lin >> 32);
}
export function io_pending_set(kind: i32, size: i32, lo: i32, hi: i32): void {
  in_kind = <u32>kind; in_size = <u32>size; in_lin = (<u64><u32>hi << 32) | <u64><u32>lo;
}
