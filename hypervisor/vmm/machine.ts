// A headless machine: guest RAM, an image, the devices of the CLI contract
// and the vCPU loop. Exit handling is a plain function of the exit record
// (handleExit), in the Firecracker style.
import { WasmCpu } from "../cpu/wasm_cpu";
import { getModel, type Model } from "../models/models";
import { applyModel } from "../models/apply";
import { loadBios, loadElf64, loadFlat, type LoadedImage, ImageError } from "./loader";
import { Devices, type Console } from "./devices";

export const KVM_EXIT = { UNKNOWN: 0, EXCEPTION: 1, IO: 2, DEBUG: 4, HLT: 5, MMIO: 6, SHUTDOWN: 8, INTR: 10, INTERNAL_ERROR: 17 } as const;
export const EXIT_NAMES: Record<number, string> = { 0: "unknown", 1: "exception", 2: "io", 4: "debug", 5: "hlt", 6: "mmio", 8: "shutdown", 10: "budget", 17: "internal-error" };

export interface MachineOptions {
  model?: string;
  memory?: number;                 // bytes of guest RAM
  cpuEdits?: { add?: string[]; remove?: string[] };
  console?: Console;
}

export type StopReason = "hlt" | "shutdown" | "debug-exit" | "budget" | "internal-error" | "mmio" | "debug";

export interface RunResult {
  exit: StopReason;
  status: number;                  // process exit status per the CLI contract
  insns: number;
}

export class Machine {
  readonly cpu: WasmCpu;
  readonly model: Model;
  readonly ramSize: number;
  readonly ram: number;            // host address of guest-physical 0
  readonly devices: Devices;
  private romHost = 0;

  constructor(opts: MachineOptions = {}) {
    this.ramSize = opts.memory ?? 128 << 20;
    this.cpu = new WasmCpu(this.ramSize + (2 << 20));
    this.model = getModel(opts.model ?? "sapphire-rapids");
    applyModel(this.cpu, this.model, opts.cpuEdits);
    this.ram = this.cpu.alloc(this.ramSize, 1 << 21);
    this.cpu.ex.slot(0, 0, this.ramSize, this.ram, 0);
    this.devices = new Devices(opts.console, (on) => this.cpu.ex.a20(on ? 1 : 0));
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
      this.romHost = this.cpu.alloc(bytes.length, 4096);
      this.cpu.bytes.set(bytes, this.romHost);
      this.cpu.ex.slot(1, 0x100000000 - bytes.length, bytes.length, this.romHost, 1);
      const low = Math.min(bytes.length, 0x20000);
      this.cpu.ex.slot(0, 0, 0x100000 - low, this.ram, 0);
      this.cpu.ex.slot(2, 0x100000 - low, low, this.romHost + bytes.length - low, 1);
      this.cpu.ex.slot(3, 0x100000, this.ramSize - 0x100000, this.ram + 0x100000, 0);
      return img;
    }
    if (kind === "flat") {
      const img = loadFlat(bytes);
      this.writePhys(0x7c00, bytes);
      const c = this.cpu, L = c.L;
      c.setSeg(L.SEG_CS, { base: 0n, limit: 0xffff, sel: 0, attr: 0x9b });
      c.rip = 0x7c00n;
      c.setGpr(2, 0x80n);             // DL = boot drive, as a BIOS would leave it
      c.setGpr(4, 0x7c00n);
      c.ex.state_changed();
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
    c.setU64(L.S_GDTR_BASE, BigInt(gdt));
    c.setU64(L.S_GDTR_LIMIT, 23n);
    c.setU64(L.S_IDTR_BASE, 0n);
    c.setU64(L.S_IDTR_LIMIT, 0n);
    c.setSeg(L.SEG_CS, { base: 0n, limit: 0xffffffff, sel: 0x8, attr: 0xa09b });
    for (const s of [L.SEG_DS, L.SEG_ES, L.SEG_FS, L.SEG_GS, L.SEG_SS]) c.setSeg(s, { base: 0n, limit: 0xffffffff, sel: 0x10, attr: 0xc093 });
    c.setSeg(L.SEG_TR, { base: 0n, limit: 0x67, sel: 0, attr: 0x8b });
    c.setU64(L.S_CR3, BigInt(pml4));
    const hasXsave = (c.u32(L.S_FEAT) & 1) !== 0;
    c.setU64(L.S_CR4, 0x20n | 0x200n | 0x400n | (hasXsave ? 0x40000n : 0n));
    c.setU64(L.S_CR0, 0x80050033n);
    c.setU64(L.S_EFER, 0xd01n);
    c.setU64(L.S_RIP, entry);
    c.setGpr(4, BigInt(top - 16));
    c.rflags = 2n;
    c.ex.state_changed();
  }

  /** Run until the guest stops or `maxInsns` instructions have retired. */
  run(maxInsns = Infinity): RunResult {
    const c = this.cpu;
    const start = c.insns;
    const SLICE = 1 << 20;
    for (;;) {
      const left = maxInsns - (c.insns - start);
      if (left <= 0) return { exit: "budget", status: 124, insns: c.insns - start };
      const reason = c.run(Math.min(SLICE, left));
      const r = this.handleExit(reason);
      if (r) return { ...r, insns: c.insns - start };
    }
  }

  /** Handle one exit; returns a stop result or null to keep running. */
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
