// A headless machine: guest RAM, an image, the devices of the CLI contract
// and the vCPU loop, built on the /dev/kvm ABI like a real VMM: a Host (the
// emulated physical machine), KVM_CREATE_VM / KVM_SET_USER_MEMORY_REGION /
// KVM_CREATE_VCPU / KVM_SET_CPUID2 / KVM_SET_SREGS / KVM_SET_REGS through the
// kvm-ioctls-style wrappers, and a KVM_RUN loop whose exits are handled by a
// plain function of the VcpuExit (handleVcpuExit), in the Firecracker style.
// `cpu` is the Host's CPU, holding the one vCPU (it stays loaded), so tools
// that inspect or single-step the CPU directly (trace, dump, debug) still work;
// handleExit() serves them with the raw exit record.
import type { WasmCpu } from "../cpu/wasm_cpu";
import { buildCpuid, type Model } from "../models/models";
import { Host } from "../host";
import { Kvm, KvmError, type VmFd, type VcpuFd, type VcpuExit } from "./kvm_ioctls";
import { KVM_MEM_READONLY, ARCH, EIO } from "../uapi/consts";
import { loadBios, loadElf64, loadFlat, type LoadedImage, ImageError } from "./loader";
import { Devices, type Console } from "./devices";
import { UCALL_PIO_PORT, decodeUcall, formatAbort, UCALL_SYNC, UCALL_DONE, UCALL_ABORT, UCALL_PRINTF, UCALL_UNHANDLED, type Ucall } from "./ucall";
import { physToHost } from "../debug/guestmem";
import { vectorName } from "../cpu/vectors";
import type { CpuidEntry } from "../models/cpuid";
import type { UserMemoryRegion } from "../uapi/structs";

export const KVM_EXIT = { UNKNOWN: 0, EXCEPTION: 1, IO: 2, DEBUG: 4, HLT: 5, MMIO: 6, SHUTDOWN: 8, INTR: 10, INTERNAL_ERROR: 17 } as const;
export const EXIT_NAMES: Record<number, string> = { 0: "unknown", 1: "exception", 2: "io", 4: "debug", 5: "hlt", 6: "mmio", 8: "shutdown", 10: "budget", 17: "internal-error" };

export interface MachineOptions {
  model?: string;
  /** host kernel behaviour ('5.17-rc5' | '6.5' | '6.8' | '6.19' or b1..b4; default 6.19): see hypervisor/kernels.ts */
  kernel?: string;
  memory?: number;                 // bytes of guest RAM
  cpuEdits?: { add?: string[]; remove?: string[] };
  /** the guest's CPUID table as is (e.g. from a migration stream); overrides cpuEdits */
  cpuid?: CpuidEntry[];
  console?: Console;
  /** ask for the AMX guest permission (ARCH_REQ_XCOMP_GUEST_PERM) on an AMX model, as QEMU does (default true); selftests that leave AMX out (state_test) do not */
  xtilePermission?: boolean;
}

export type StopReason = "hlt" | "shutdown" | "debug-exit" | "budget" | "internal-error" | "mmio" | "debug" | "host-oops"
  | "sync" | "done" | "guest-assert" | "guest-exception";

/**
 * Exit status after the host kernel oopsed in KVM_RUN (Host.oops holds the report). Even, like
 * every status the emulator chooses, so it cannot be mistaken for a guest's isa-debug-exit
 * status ((v << 1) | 1).
 */
export const HOST_OOPS_STATUS = 6;
/** Exit status after a GUEST_ASSERT (UCALL_ABORT); even for the same reason as HOST_OOPS_STATUS. */
export const GUEST_ASSERT_STATUS = 8;
/** Exit status after the guest reported an exception it has no handler for (UCALL_UNHANDLED). */
export const GUEST_EXCEPTION_STATUS = 10;

export interface RunResult {
  exit: StopReason;
  status: number;                  // process exit status per the CLI contract
  insns: number;
  /** the ucall that stopped the run (exit sync, done or guest-assert) */
  ucall?: Ucall;
  /** one line saying why, where the exit alone does not (GUEST_ASSERT's file:line and values) */
  message?: string;
}

export interface RunControl {
  /** return at every GUEST_SYNC (exit "sync") instead of carrying on */
  stopAtSync?: boolean;
  /** sees every KVM_RUN exit before it is handled (reports record state at the exits they care about) */
  onExit?: (e: VcpuExit) => void;
}

export class Machine {
  readonly host: Host;
  readonly cpu: WasmCpu;
  readonly model: Model;
  readonly ramSize: number;
  readonly ram: number;            // host address of guest-physical 0
  readonly devices: Devices;
  readonly kvm: Kvm;
  readonly vm: VmFd;
  readonly vcpu: VcpuFd;
  private romHost = 0;
  /** the VM's memory slots as this VMM programmed them (KVM_SET_USER_MEMORY_REGION), by slot id */
  readonly slots = new Map<number, UserMemoryRegion>();
  /** the guest CPUID table given to KVM_SET_CPUID2 */
  readonly cpuid: CpuidEntry[];
  /** GUEST_SYNCs seen so far (the stage counter of `migrate --at-sync N`) */
  syncs = 0;
  private control: RunControl = {};

  constructor(opts: MachineOptions = {}) {
    this.ramSize = opts.memory ?? 128 << 20;
    this.host = new Host({ cpu: opts.model ?? "sapphire-rapids", kernel: opts.kernel, memory: this.ramSize + (2 << 20) });
    this.cpu = this.host.cpu;
    this.model = this.host.model;
    // like QEMU for an AMX model: ask for the dynamic tile state before the first vCPU locks the permissions
    if (this.model.amx && opts.xtilePermission !== false) this.host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA);
    this.kvm = new Kvm(this.host);
    this.vm = this.kvm.createVm();
    this.ram = this.host.alloc(this.ramSize, 1 << 21);
    this.region(0, 0, this.ramSize, this.ram);
    this.vcpu = this.vm.createVcpu(0);
    // the guest sees the model's own table (with the CLI's feature edits), as QEMU -cpu <model> would set it
    // (without the AMX permission KVM refuses a CPUID with the tile state: leave AMX out)
    const edits = this.model.amx && opts.xtilePermission === false
      ? { ...opts.cpuEdits, remove: [...(opts.cpuEdits?.remove ?? []), "amx_tile"] } : opts.cpuEdits;
    this.cpuid = opts.cpuid ?? buildCpuid(this.model, edits);
    this.vcpu.setCpuid2(this.cpuid);
    this.devices = new Devices(opts.console, (on) => this.cpu.ex.a20(on ? 1 : 0));
  }

  private region(slot: number, gpa: number, size: number, host: number, readonly = false): void {
    this.setMemorySlot({
      slot, flags: readonly ? KVM_MEM_READONLY : 0, guest_phys_addr: BigInt(gpa), memory_size: BigInt(size), userspace_addr: BigInt(host),
    });
  }

  /** KVM_SET_USER_MEMORY_REGION, remembered in `slots` (memory_size 0 deletes the slot) */
  setMemorySlot(r: UserMemoryRegion): void {
    this.vm.setUserMemoryRegion(r);
    if (r.memory_size === 0n) this.slots.delete(r.slot); else this.slots.set(r.slot, { ...r });
  }

  /** Copy bytes into guest-physical memory. */
  writePhys(gpa: number, bytes: Uint8Array): void {
    if (gpa + bytes.length > this.ramSize) throw new ImageError(`0x${gpa.toString(16)}+${bytes.length} is outside guest RAM`);
    this.cpu.bytes.set(bytes, this.ram + gpa);
  }
  readPhys(gpa: number, len: number): Uint8Array {
    return this.cpu.bytes.slice(this.ram + gpa, this.ram + gpa + len);
  }

  load(kind: "bios" | "flat" | "elf", bytes: Uint8Array): LoadedImage {
    if (kind === "bios") {
      const img = loadBios(bytes);
      // QEMU maps the ROM at the top of 4 GiB and its last 128 KiB below 1 MiB
      // (read-only slots); the RAM slot is split around the low alias
      const romSize = Math.ceil(bytes.length / 4096) * 4096;
      this.romHost = this.host.alloc(romSize, 4096);
      this.cpu.bytes.set(bytes, this.romHost + romSize - bytes.length);
      this.region(1, 0x100000000 - romSize, romSize, this.romHost, true);
      const low = Math.min(romSize, 0x20000);
      this.region(0, 0, 0, this.ram);                                        // delete, then re-create smaller
      this.region(0, 0, 0x100000 - low, this.ram);
      this.region(2, 0x100000 - low, low, this.romHost + romSize - low, true);
      this.region(3, 0x100000, this.ramSize - 0x100000, this.ram + 0x100000);
      return img;
    }
    if (kind === "flat") {
      const img = loadFlat(bytes);
      this.writePhys(0x7c00, bytes);
      const s = this.vcpu.getSregs();
      s.cs = { ...s.cs, base: 0n, limit: 0xffff, selector: 0 };
      this.vcpu.setSregs(s);
      // DL = boot drive, as a BIOS would leave it
      this.vcpu.setRegs({ ...this.vcpu.getRegs(), rip: 0x7c00n, rdx: 0x80n, rsp: 0x7c00n });
      return img;
    }
    const img = loadElf64(bytes, this.ramSize);
    for (const ch of img.chunks) {
      this.writePhys(ch.gpa, ch.bytes);
      this.cpu.bytes.fill(0, this.ram + ch.gpa + ch.bytes.length, this.ram + ch.gpa + ch.memsz);
    }
    this.setupLongMode(img.entry);
    return img;
  }

  // Long mode like the KVM selftests' vCPU setup: flat 64-bit CS, data
  // segments, identity paging of the first 4 GiB with 2 MiB pages, CR0 with
  // PE|MP|ET|NE|WP|AM|PG, CR4 with PAE|OSFXSR|OSXMMEXCPT (and OSXSAVE when
  // the model has XSAVE), EFER with SCE|LME|LMA|NXE. Tables live in the top
  // 64 KiB of RAM; the stack grows down from just below them.
  private setupLongMode(entry: bigint): void {
    const c = this.cpu, L = c.L;
    const top = this.ramSize - 0x10000;
    const pml4 = top, pdpt = top + 0x1000, pd = top + 0x2000, gdt = top + 0x6000;
    const dv = new DataView(c.bytes.buffer, this.ram);
    const set64 = (gpa: number, v: bigint) => dv.setBigUint64(gpa, v, true);
    for (let i = 0; i < 0x7000; i += 8) set64(top + i, 0n);
    set64(pml4, BigInt(pdpt) | 0x7n);
    for (let g = 0; g < 4; g++) {
      set64(pdpt + 8 * g, BigInt(pd + 0x1000 * g) | 0x7n);
      for (let j = 0; j < 512; j++) set64(pd + 0x1000 * g + 8 * j, (BigInt(g) << 30n) | (BigInt(j) << 21n) | 0x87n);
    }
    // GDT: null, 64-bit code (0x8), data (0x10)
    set64(gdt + 8, 0x00af9b000000ffffn);
    set64(gdt + 16, 0x00cf93000000ffffn);
    const s = this.vcpu.getSregs();
    const code = { base: 0n, limit: 0xffffffff, selector: 0x8, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 };
    const data = { ...code, selector: 0x10, type: 3, l: 0, db: 1 };
    const hasXsave = (c.u32(L.S_FEAT) & 1) !== 0;
    Object.assign(s, {
      gdt: { base: BigInt(gdt), limit: 23 }, idt: { base: 0n, limit: 0 },
      cs: code, ds: data, es: data, fs: data, gs: data, ss: data,
      tr: { ...s.tr, base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, s: 0 },
      cr3: BigInt(pml4), cr4: 0x20n | 0x200n | 0x400n | (hasXsave ? 0x40000n : 0n), cr0: 0x80050033n, efer: 0xd01n,
    });
    this.vcpu.setSregs(s);
    this.vcpu.setRegs({ ...this.vcpu.getRegs(), rip: entry, rsp: BigInt(top - 16), rflags: 2n });
  }

  /** Run until the guest stops or `maxInsns` instructions have retired (KVM_RUN loop). */
  run(maxInsns = Infinity, control: RunControl = {}): RunResult {
    this.control = control;
    const c = this.cpu;
    const start = c.insns;
    const SLICE = 1 << 20;
    for (;;) {
      const left = maxInsns - (c.insns - start);
      if (left <= 0) return { exit: "budget", status: 124, insns: c.insns - start };
      // the run budget plays the part of a timer signal: KVM_RUN returns -EINTR ("Intr") when it is used up
      this.host.kvm.runBudget = Math.min(SLICE, left);
      let e: VcpuExit;
      try { e = this.vcpu.run(); } catch (err) {
        // KVM_RUN returns -EIO when the host kernel oopsed during it (or the VM died in an earlier one)
        if (err instanceof KvmError && err.errno === EIO && this.host.oops) return { exit: "host-oops", status: HOST_OOPS_STATUS, insns: c.insns - start };
        throw err;
      }
      control.onExit?.(e);
      const r = this.handleVcpuExit(e);
      if (r) return { ...r, insns: c.insns - start };
    }
  }

  /** Handle one KVM_RUN exit; returns a stop result or null to keep running. */
  handleVcpuExit(e: VcpuExit): Omit<RunResult, "insns"> | null {
    switch (e.kind) {
      case "IoOut": {
        const d = e.data, v = d.length === 1 ? d[0] : d.length === 2 ? d[0] | (d[1] << 8) : (d[0] | (d[1] << 8) | (d[2] << 16) | (d[3] << 24)) >>> 0;
        this.devices.out(e.port, d.length, v);
        if (this.devices.exitStatus !== null) return { exit: "debug-exit", status: this.devices.exitStatus };
        return null;
      }
      case "IoIn": {
        if (e.port === UCALL_PIO_PORT) return this.ucall();
        const v = this.devices.in(e.port, e.data.length);
        for (let i = 0; i < e.data.length; i++) e.data[i] = (v >>> (8 * i)) & 0xff;
        return null;
      }
      // nothing is mapped there: reads see all-ones, writes are dropped
      case "MmioRead": e.data.fill(0xff); return null;
      case "MmioWrite": return null;
      case "Intr": return null;
      case "Hlt": return { exit: "hlt", status: 0 };
      case "Shutdown": return { exit: "shutdown", status: 2 };
      case "Debug": return { exit: "debug", status: 0 };
      default: return { exit: "internal-error", status: 4 };
    }
  }

  /**
   * The selftests' ucall (ucall.ts): `in` from UCALL_PIO_PORT with RDI = the guest address of a
   * struct ucall. Like the selftest library, the address is read as guest-physical: the ELF setup
   * identity-maps the first 4 GiB. The IN itself completes with 0 on the next KVM_RUN.
   */
  private ucall(): Omit<RunResult, "insns"> | null {
    const gpa = Number(this.vcpu.getRegs().rdi & 0xffffffffffffn);
    const read = (pa: number, len: number): Uint8Array | null => {
      const h = physToHost(this.cpu, pa);
      return h && h.avail >= len ? this.cpu.bytes.slice(h.host, h.host + len) : null;
    };
    const uc = decodeUcall(gpa, read);
    if (!uc) return { exit: "internal-error", status: 4, message: `ucall struct at 0x${gpa.toString(16)} is outside guest memory` };
    switch (uc.cmd) {
      case UCALL_SYNC:
        this.syncs++;
        return this.control.stopAtSync ? { exit: "sync", status: 0, ucall: uc } : null;
      case UCALL_PRINTF: this.devices.print(uc.str); return null;
      case UCALL_DONE: return { exit: "done", status: 0, ucall: uc };
      case UCALL_ABORT: return { exit: "guest-assert", status: GUEST_ASSERT_STATUS, ucall: uc, message: formatAbort(uc) };
      case UCALL_UNHANDLED: {
        const [vec, err, rip, cr2] = uc.args, v = Number(vec & 0xffn);
        const name = vectorName(v);
        return {
          exit: "guest-exception", status: GUEST_EXCEPTION_STATUS, ucall: uc,
          message: `unhandled exception ${name} (vector ${v}) at rip 0x${rip.toString(16)}, error code 0x${err.toString(16)}${v === 14 ? `, cr2 0x${cr2.toString(16)}` : ""}`,
        };
      }
      default: return { exit: "internal-error", status: 4, ucall: uc, message: `ucall with unknown command ${uc.cmd}` };
    }
  }

  /** Handle a raw exit of the CPU (tools that call cpu.run() directly, e.g. --trace); null to keep running. */
  handleExit(reason: number): Omit<RunResult, "insns"> | null {
    const c = this.cpu, L = c.L, run = c.runBlock, dv = new DataView(run.buffer, run.byteOffset, 4096);
    switch (reason) {
      case KVM_EXIT.IO: {
        const dir = run[L.R_IO_DIR], size = run[L.R_IO_SIZE], port = dv.getUint16(L.R_IO_PORT, true);
        const off = Number(dv.getBigUint64(L.R_IO_DATA_OFFSET, true));
        if (dir === 1) {
          const v = size === 1 ? run[off] : size === 2 ? dv.getUint16(off, true) : dv.getUint32(off, true);
          this.devices.out(port, size, v);
          if (this.devices.exitStatus !== null) return { exit: "debug-exit", status: this.devices.exitStatus };
        } else {
          const v = this.devices.in(port, size);
          if (size === 1) run[off] = v; else if (size === 2) dv.setUint16(off, v, true); else dv.setUint32(off, v >>> 0, true);
        }
        return null;
      }
      case KVM_EXIT.MMIO: {
        // nothing is mapped there: reads see all-ones, writes are dropped
        if (!run[L.R_MMIO_WRITE]) c.ex.mmio_data(Number(dv.getBigUint64(L.R_MMIO_PHYS, true)), -1, -1);
        return null;
      }
      case KVM_EXIT.INTR: return null;
      case KVM_EXIT.HLT: return { exit: "hlt", status: 0 };
      case KVM_EXIT.SHUTDOWN: return { exit: "shutdown", status: 2 };
      case KVM_EXIT.DEBUG: return { exit: "debug", status: 0 };
      case KVM_EXIT.INTERNAL_ERROR: return { exit: "internal-error", status: 4 };
      default: return { exit: "internal-error", status: 4 };
    }
  }
}
