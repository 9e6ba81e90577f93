// KVM-selftests-style guests through the ioctl ABI (kernel-abi.md §9.1):
//
//  - the ucall: the guest fills a struct ucall {u64 cmd; u64 args[7]} in its memory and executes
//    `in al, dx` with dx = UCALL_PIO_PORT (0x1000) and rdi = &uc, as tools/testing/selftests/kvm
//    lib/x86/ucall.c does. The host sees KVM_EXIT_IO (IN, port 0x1000), reads RDI with KVM_GET_REGS
//    and copies the struct out of guest memory. The next KVM_RUN completes the IN
//    (completeIo() does it with immediate_exit, like vcpu_run_complete_io(), before a state save).
//    Commands: UCALL_SYNC 1 (GUEST_SYNC(stage): args {&"hello", stage}), UCALL_ABORT 2 (GUEST_ASSERT:
//    args {assertion id, value a, value b}), UCALL_DONE 4.
//  - SelftestVm: a long-mode VM as vm_create_with_one_vcpu() leaves it: 2 MiB identity-mapped
//    (one 2 MiB page), a flat 64-bit GDT, an IDT (handlers named by the caller), CR4.OSXSAVE,
//    XCR0 = the supported CPUID's 0xD.0 EDX:EAX (the v6.19 library), and the code at CODE_BASE.
//    recreate() is vm_recreate_with_one_vcpu(): a new VM fd over the same memory.
// Guest sources using this layout: test/kvm/guests/*.S (test/kvm/guests/build.mjs).
import type { Host } from "../host";
import { Kvm, VmFd, VcpuFd, KvmError } from "./kvm_ioctls";
import type { CpuidEntry } from "../models/cpuid";
import type { KvmRegs, KvmSregs, MsrEntry, KvmVcpuEvents, KvmXcrs } from "../uapi/structs";
import { KVM_CAP } from "../uapi/consts";

export const UCALL_PIO_PORT = 0x1000;
export const UCALL_SYNC = 1, UCALL_ABORT = 2, UCALL_PRINTF = 3, UCALL_DONE = 4;
/** the selftests' route_exception() report of an exception the guest has no handler for: args {vector, error code, rip, cr2} */
export const UCALL_UNHANDLED = 5;

/** guest-physical (= linear) layout shared with test/kvm/guests/lib.inc */
export const LAYOUT = {
  GDT: 0x1000, IDT: 0x2000, UCALL: 0x3000, STACK_TOP: 0x8000,
  PML4: 0x10000, PDPT: 0x11000, PD: 0x12000, CODE_BASE: 0x20000, DATA: 0x100000, RAM: 0x200000,
} as const;

export interface Ucall {
  cmd: number; args: bigint[];
  /** args[0] read as a NUL-terminated guest string (SYNC's "hello", PRINTF's text, ABORT's expression) */
  str: string;
  /** UCALL_ABORT from the guest-images library: where the assertion is and what it compared */
  assert?: { expr: string; file: string; line: number; a: bigint; b: bigint };
}

export class UcallError extends Error {}

function readCString(m: Uint8Array, at: number): string {
  let s = "";
  for (let i = at; i > 0 && i < m.length && m[i] !== 0 && s.length < 256; i++) s += String.fromCharCode(m[i]);
  return s;
}

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

export class SelftestVm {
  readonly kvm: Kvm;
  vm!: VmFd;
  readonly mem: number;
  readonly vcpus: VcpuFd[] = [];

  constructor(readonly host: Host, code: Uint8Array, readonly opts: { idt?: Record<number, number> } = {}) {
    this.kvm = new Kvm(host);
    this.mem = host.alloc(LAYOUT.RAM);
    const m = this.memory();
    const d = new DataView(m.buffer, m.byteOffset, m.byteLength);
    d.setBigUint64(LAYOUT.PML4, BigInt(LAYOUT.PDPT) | 3n, true);
    d.setBigUint64(LAYOUT.PDPT, BigInt(LAYOUT.PD) | 3n, true);
    d.setBigUint64(LAYOUT.PD, 0x83n, true);                           // 2 MiB page at 0, RW
    d.setBigUint64(LAYOUT.GDT + 8, 0x00af9b000000ffffn, true);         // 0x08: 64-bit code, DPL0
    d.setBigUint64(LAYOUT.GDT + 16, 0x00cf93000000ffffn, true);        // 0x10: data
    for (const [vec, handler] of Object.entries(opts.idt ?? {})) {     // 64-bit interrupt gates, CS 0x08
      const o = LAYOUT.IDT + 16 * Number(vec), h = BigInt(handler);
      d.setBigUint64(o, (h & 0xffffn) | (8n << 16n) | (0x8en << 40n) | (((h >> 16n) & 0xffffn) << 48n), true);
      d.setBigUint64(o + 8, h >> 32n, true);
    }
    m.set(code, LAYOUT.CODE_BASE);
    this.createVm();
  }

  /** the guest's memory as a host view (re-taken on every call: alloc may grow the wasm memory) */
  memory(): Uint8Array { return this.host.mem(this.mem, LAYOUT.RAM); }

  private createVm(): void {
    this.vm = this.kvm.createVm();
    this.vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: BigInt(LAYOUT.RAM), userspace_addr: BigInt(this.mem) });
  }

  /** vm_vcpu_add(): SET_CPUID2 (default: the full supported CPUID), long-mode SREGS, XCR0, RIP = CODE_BASE */
  addVcpu(id: number, cpuid: CpuidEntry[] = this.kvm.getSupportedCpuid()): VcpuFd {
    const v = this.vm.createVcpu(id);
    v.setCpuid2(cpuid);
    const s = v.getSregs();
    const code = { base: 0n, limit: 0xffffffff, selector: 8, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 };
    const data = { ...code, selector: 16, type: 3, l: 0, db: 1 };
    const d0 = cpuid.find((e) => e.fn === 0xd && e.idx === 0);
    const xsave = cpuid.some((e) => e.fn === 1 && (e.ecx >>> 26) & 1);
    Object.assign(s, {
      cs: code, ds: data, es: data, ss: data, fs: data, gs: data,
      gdt: { base: BigInt(LAYOUT.GDT), limit: 23 }, idt: { base: BigInt(LAYOUT.IDT), limit: 0xfff },
      cr3: BigInt(LAYOUT.PML4), cr0: 0x80000033n,                     // PG|NE|ET|MP|PE
      cr4: 0x620n | (xsave ? 0x40000n : 0n),                         // PAE|OSFXSR|OSXMMEXCPT (+OSXSAVE)
      efer: 0x500n,
    });
    v.setSregs(s);
    if (xsave && d0) v.setXcrs({ nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0) }] });
    v.setRegs({ rip: BigInt(LAYOUT.CODE_BASE), rflags: 2n, rsp: BigInt(LAYOUT.STACK_TOP) });
    this.vcpus.push(v);
    return v;
  }

  /** vm_recreate_with_one_vcpu(): release the VM, a new VM fd over the same memory, one vCPU with the supported CPUID */
  recreate(id = 0): VcpuFd {
    for (const v of this.vcpus.splice(0)) this.host.close(v.fd);
    this.host.close(this.vm.fd);
    this.createVm();
    const v = this.vm.createVcpu(id);
    v.setCpuid2(this.kvm.getSupportedCpuid());
    this.vcpus.push(v);
    return v;
  }

  /**
   * KVM_RUN until the next ucall; any other exit throws. UCALL_ABORT throws a UcallError with the
   * assertion id and values unless `abortOk`.
   */
  runUntilUcall(v: VcpuFd, abortOk = false): Ucall {
    const e = v.run();
    if (e.kind !== "IoIn" || e.port !== UCALL_PIO_PORT) {
      const regs = (() => { try { return v.getRegs(); } catch { return null; } })();
      throw new UcallError(`expected a ucall, got ${JSON.stringify(e, (_, x) => (typeof x === "bigint" ? "0x" + x.toString(16) : x))} at rip 0x${regs?.rip.toString(16)}`);
    }
    const uc = this.readUcall(Number(v.getRegs().rdi));
    if (uc.cmd === UCALL_ABORT && !abortOk) throw new UcallError(`GUEST_ASSERT ${uc.args[0]} failed: 0x${uc.args[1].toString(16)} vs 0x${uc.args[2].toString(16)}`);
    return uc;
  }

  readUcall(gpa: number): Ucall {
    const m = this.memory();
    if (gpa < 0 || gpa + 64 > m.length) throw new UcallError(`ucall struct at 0x${gpa.toString(16)} is outside guest memory`);
    const d = new DataView(m.buffer, m.byteOffset + gpa, 64);
    const args = Array.from({ length: 7 }, (_, i) => d.getBigUint64(8 + 8 * i, true));
    return { cmd: Number(d.getBigUint64(0, true)), args, str: readCString(m, Number(args[0] & 0x1fffffn)) };
  }
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
