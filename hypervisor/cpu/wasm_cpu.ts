// The emulated processor as seen from TypeScript: one wasm instance with its
// own memory (the "physical machine"), the layout offsets read from the
// module's exports, typed views over the state block, and a bump allocator
// for host memory (guest RAM, fpstate buffers) above HOST_HEAP.
import wasmBytes from "../../build/cpu.wasm";

export interface CpuExports {
  memory?: WebAssembly.Memory;
  init(): void;
  reset(): void;
  run(budget: number): number;
  state_changed(): void;
  rflags_lo(): number;
  flags_fold(): void;
  flush_tlb(): void;
  flush_code(): void;
  slot(i: number, gpa: number, size: number, host: number, flags: number): void;
  a20(on: number): void;
  mmio_data(pa: number, lo: number, hi: number): void;
  cancel_io(): void;
  insns(): number;
  xsave_area_size(lo: number, hi: number, compacted: number): number;
  cpuid(fn: number, idx: number): void;
  cpuid_reg(i: number): number;
  inject(vec: number): number;
  cpl(): number;
  mode(): number;
  decode_len(addr: number, avail: number, mode: number): number;
  decode_id(): number;
  code_written(pa: number, len: number): void;
  decode_buf(src: number, n: number, stride: number, mode: number, lens: number, ids: number): void;
  [name: string]: unknown;
}

let compiled: WebAssembly.Module | null = null;
function module(): WebAssembly.Module {
  if (!compiled) compiled = new WebAssembly.Module(wasmBytes as Uint8Array<ArrayBuffer>);
  return compiled;
}

/** Offsets and constants exported by cpu/layout.ts (read once). */
export type Layout = Record<string, number>;
let layoutCache: Layout | null = null;

const PAGE = 65536;

export class WasmCpu {
  /** Compile cpu.wasm now (otherwise the first constructor does); for start-up timing. */
  static precompile(): void { module(); }
  readonly memory: WebAssembly.Memory;
  readonly ex: CpuExports;
  readonly L: Layout;
  private heapTop: number;
  private dv!: DataView;
  private u8!: Uint8Array;

  constructor(hostBytes = 64 << 20) {
    const inst0 = module();
    // memory must exist before instantiation: size it from the layout's HOST_HEAP
    const heapBase = 0x5000000;
    const pages = Math.ceil((heapBase + hostBytes) / PAGE);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: 65536 });
    const inst = new WebAssembly.Instance(inst0, {
      env: {
        memory: this.memory,
        abort: (_m: number, _f: number, line: number, col: number) => {
          throw new Error(`cpu.wasm abort at ${line}:${col}`);
        },
      },
    });
    this.ex = inst.exports as unknown as CpuExports;
    this.L = layoutCache ?? (layoutCache = readLayout(inst.exports));
    if (this.L.HOST_HEAP !== heapBase) throw new Error("layout: HOST_HEAP moved; update WasmCpu");
    this.heapTop = heapBase;
    this.views();
    this.ex.init();
    this.ex.reset();
  }

  private views(): void {
    this.dv = new DataView(this.memory.buffer);
    this.u8 = new Uint8Array(this.memory.buffer);
  }
  /** Byte view of the whole memory (re-created after growth). */
  get bytes(): Uint8Array {
    if (this.u8.buffer !== this.memory.buffer) this.views();
    return this.u8;
  }
  get view(): DataView {
    if (this.dv.buffer !== this.memory.buffer) this.views();
    return this.dv;
  }

  /** Allocate host memory (zeroed: it has never been used), `align` a power of two. Returns its address. */
  alloc(size: number, align = 4096): number {
    const addr = Math.ceil(this.heapTop / align) * align;   // not &~(align-1): int32 above 2 GiB
    const end = addr + size;
    if (end > 0xFFFF0000) throw new RangeError("host memory exhausted (4 GiB wasm limit)");
    const need = Math.ceil(end / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (need > 0) this.memory.grow(need);
    this.heapTop = end;
    // no fill: the bump allocator never hands out memory twice and fresh wasm
    // memory is zero. (Filling 128 MiB of guest RAM cost ~150 ms per start.)
    return addr;
  }

  // ---- state block accessors ----
  u64(off: number): bigint { return this.view.getBigUint64(this.L.STATE + off, true); }
  setU64(off: number, v: bigint): void { this.view.setBigUint64(this.L.STATE + off, BigInt.asUintN(64, v), true); }
  u32(off: number): number { return this.view.getUint32(this.L.STATE + off, true); }
  setU32(off: number, v: number): void { this.view.setUint32(this.L.STATE + off, v >>> 0, true); }
  i32(off: number): number { return this.view.getInt32(this.L.STATE + off, true); }
  setI32(off: number, v: number): void { this.view.setInt32(this.L.STATE + off, v, true); }

  gpr(i: number): bigint { return this.u64(this.L.S_GPR + 8 * i); }
  setGpr(i: number, v: bigint): void { this.setU64(this.L.S_GPR + 8 * i, v); }
  get rip(): bigint { return this.u64(this.L.S_RIP); }
  set rip(v: bigint) { this.setU64(this.L.S_RIP, v); }
  /** RFLAGS with the lazy arithmetic flags folded in. */
  get rflags(): bigint { this.ex.flags_fold(); return this.u64(this.L.S_RFLAGS) | 2n; }
  set rflags(v: bigint) { this.ex.flags_fold(); this.setU64(this.L.S_RFLAGS, (v & 0x3F7FD7n) | 2n); }

  seg(i: number): { base: bigint; limit: number; sel: number; attr: number } {
    const o = this.L.S_SEG + 16 * i;
    return { base: this.u64(o), limit: this.u32(o + 8), sel: this.view.getUint16(this.L.STATE + o + 12, true), attr: this.view.getUint16(this.L.STATE + o + 14, true) };
  }
  setSeg(i: number, s: { base: bigint; limit: number; sel: number; attr: number }): void {
    const o = this.L.S_SEG + 16 * i;
    this.setU64(o, s.base);
    this.setU32(o + 8, s.limit);
    this.view.setUint16(this.L.STATE + o + 12, s.sel, true);
    this.view.setUint16(this.L.STATE + o + 14, s.attr, true);
  }

  /** Load a CPUID table in kvm_cpuid_entry2 layout (40 bytes per entry). */
  setCpuid(entries: Uint8Array, n: number, features: number, vendor: number): void {
    const p = this.alloc(Math.max(40, entries.length), 8);
    this.bytes.set(entries, p);
    this.setU32(this.L.S_CPUID_PTR, p);
    this.setU32(this.L.S_CPUID_N, n);
    this.setU32(this.L.S_FEAT, features);
    this.setU32(this.L.S_VENDOR, vendor);
    (this.ex.xsave_init as () => void)();
    this.ex.state_changed();   // the decode mode carries the vendor (MODE_AMD)
  }

  run(budget: number): number { return this.ex.run(budget); }
  get insns(): number { return this.ex.insns(); }
  /** The kvm_run-shaped exit record. */
  get runBlock(): Uint8Array { return this.bytes.subarray(this.L.RUN, this.L.RUN + 4096); }
}

function readLayout(exports: WebAssembly.Exports): Layout {
  const out: Layout = {};
  for (const [k, v] of Object.entries(exports)) {
    if (v instanceof WebAssembly.Global) out[k] = Number(v.value);
  }
  return out;
}
