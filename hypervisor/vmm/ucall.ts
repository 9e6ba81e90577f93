// KVM-selftests-style guests through the ioctl ABI (kernel-abi.md §9.1):
//
//  - the ucall: the guest fills a struct ucall {u64 cmd; u64 args[7]} in its memory and executes
//    `in al, dx` with dx = UCALL_PIO_PORT (0x1000) and rdi = &uc, as tools/testing/selftests/kvm
//    lib/x86/ucall.c does. The host sees KVM_EXIT_IO (IN, port 0x1000), reads RDI with KVM_GET_REGS
//    and copies the struct out of guest memory. The next KVM_RUN completes the IN
//    (completeIo() does it with immediate_exit, like vcpu_run_complete_io(), before a state save).
//    Commands: UCALL_SYNC 1 (GUEST_SYNC(stage): args {&"hello", stage}), UCALL_ABORT 2 (GUEST_ASSERT:
//    args {&expression, &file, line, value a, value b}), UCALL_PRINTF 3, UCALL_DONE 4,
//    UCALL_UNHANDLED 5.
//  - vcpu_save_state() / vcpu_load_state() (saveState, loadState).
// The guest side is guest-images/src/lib/guest.inc; the hosts are hypervisor/vmm/machine.ts (run,
// migrate) and the selftests' ImageVm (hypervisor/vmm/selftests/harness.ts).
import { Kvm, VmFd, VcpuFd, KvmError } from "./kvm_ioctls";
import type { KvmRegs, KvmSregs, MsrEntry, KvmVcpuEvents, KvmXcrs } from "../uapi/structs";
import { KVM_CAP } from "../uapi/consts";

export const UCALL_PIO_PORT = 0x1000;
export const UCALL_SYNC = 1, UCALL_ABORT = 2, UCALL_PRINTF = 3, UCALL_DONE = 4;
/** the selftests' route_exception() report of an exception the guest has no handler for: args {vector, error code, rip, cr2} */
export const UCALL_UNHANDLED = 5;

export interface Ucall {
  cmd: number; args: bigint[];
  /** args[0] read as a NUL-terminated guest string (SYNC's "hello", PRINTF's text, ABORT's expression) */
  str: string;
  /** UCALL_ABORT from the guest-images library: where the assertion is and what it compared */
  assert?: { expr: string; file: string; line: number; a: bigint; b: bigint };
}

/** a ucall-protocol step went wrong (completeIo) */
export class UcallError extends Error {}

/**
 * A struct ucall read out of guest-physical memory by `read(pa, len)` (null where nothing is
 * mapped). The guest-images library's GUEST_ASSERT passes args {&expression, &file, line, a, b},
 * like the v6.x selftests' ucall_assert() with __FILE__ and __LINE__; strings are read the
 * same way, at most 256 bytes.
 */
export function decodeUcall(gpa: number, read: (pa: number, len: number) => Uint8Array | null): Ucall | null {
  const b = read(gpa, 64);
  if (!b) return null;
  const d = new DataView(b.buffer, b.byteOffset, 64);
  const args = Array.from({ length: 7 }, (_, i) => d.getBigUint64(8 + 8 * i, true));
  const str = (p: bigint): string => {
    let s = "";
    for (let pa = Number(p & 0xffffffffffffn); s.length < 256; pa++) {
      const c = read(pa, 1);
      if (!c || c[0] === 0) break;
      s += String.fromCharCode(c[0]);
    }
    return s;
  };
  const cmd = Number(d.getBigUint64(0, true));
  const uc: Ucall = { cmd, args, str: str(args[0]) };
  if (cmd === UCALL_ABORT) uc.assert = { expr: uc.str, file: str(args[1]), line: Number(args[2] & 0xffffffffn), a: args[3], b: args[4] };
  return uc;
}

/** GUEST_ASSERT's report as the selftests print it: file:line: expression, then the two values */
export function formatAbort(uc: Ucall): string {
  const a = uc.assert;
  if (!a) return `GUEST_ASSERT failed (args ${uc.args.map((x) => "0x" + x.toString(16)).join(" ")})`;
  return `${a.file || "?"}:${a.line}: GUEST_ASSERT(${a.expr}) failed: 0x${a.a.toString(16)} vs 0x${a.b.toString(16)}`;
}

/** vcpu_run_complete_io(): KVM_RUN with immediate_exit = 1 so a pending IN completes; must return -EINTR */
export function completeIo(v: VcpuFd): void {
  v.setImmediateExit(true);
  try {
    const e = v.run();
    if (e.kind !== "Intr") throw new UcallError(`completeIo: expected -EINTR, got ${e.kind}`);
  } finally { v.setImmediateExit(false); }
}

/** vcpu_save_state() (§9.1): the state a migration carries */
export interface VcpuState {
  events: KvmVcpuEvents; regs: KvmRegs; sregs: KvmSregs; xsave: Uint8Array; xcrs: KvmXcrs; msrs: MsrEntry[];
}

export function saveState(kvm: Kvm, vm: VmFd, v: VcpuFd): VcpuState {
  completeIo(v);
  const events = v.getVcpuEvents(), regs = v.getRegs();
  const size = vm.checkExtension(KVM_CAP.XSAVE2);
  const xsave = size ? v.getXsave2(size) : v.getXsave();
  const xcrs = v.getXcrs(), sregs = v.getSregs();
  const msrs = v.getMsrs(kvm.getMsrIndexList());
  return { events, regs, sregs, xsave, xcrs, msrs };
}

/** vcpu_load_state() in the library's order: SREGS, MSRS (all accepted), XCRS, XSAVE, EVENTS, REGS */
export function loadState(v: VcpuFd, s: VcpuState): void {
  v.setSregs(s.sregs);
  const n = v.setMsrs(s.msrs);
  if (n !== s.msrs.length) throw new KvmError(`KVM_SET_MSRS stopped at 0x${s.msrs[n]?.index.toString(16)} (${n}/${s.msrs.length})`, 22);
  v.setXcrs(s.xcrs);
  v.setXsave(s.xsave);
  v.setVcpuEvents(s.events);
  v.setRegs(s.regs);
}
