// Emulator side of differential testing: runs a NativeCase (test/native/
// native.ts) on the emulated CPU in the same user-mode environment the native
// harness provides (CODE r-x, DATA and STACK rw at the same linear addresses,
// CPL 3, 64-bit CS 0x33) and reports a NativeResult, so tests compare the two
// field by field.
//
// Faults and traps reach a tiny kernel: every IDT gate points at its own
// `hlt` stub, so the run stops at a known address and the exception frame on
// the kernel stack gives vector, error code, RIP, RFLAGS and RSP exactly as
// the guest would see them. SYSCALL lands on a stub reported as vector 255,
// like the harness's seccomp trap.
import { readFileSync } from "node:fs";
import { WasmCpu } from "../../hypervisor/cpu/wasm_cpu";
import { getModel } from "../../hypervisor/models/models";
import { applyModel } from "../../hypervisor/models/apply";
import {
  CODE_BASE, DATA_BASE, STACK_BASE, CODE_SIZE, DATA_SIZE, STACK_SIZE, VECTOR_SYSCALL,
  codeImage, fillData, initialGprs, initialRflags, FNV_BASIS, FNV_PRIME,
  type NativeCase, type NativeResult,
} from "../native/native";

// guest-physical layout of the test machine
const P_SYS = 0x10000;          // page tables, GDT, IDT, TSS, stubs (supervisor only)
const P_PML4 = P_SYS, P_PDPT = P_SYS + 0x1000, P_PD = P_SYS + 0x2000, P_PT = P_SYS + 0x3000;
const P_GDT = P_SYS + 0x8000, P_IDT = P_SYS + 0x9000, P_TSS = P_SYS + 0xA000, P_STUBS = P_SYS + 0xB000;
const P_KSTACK_TOP = 0x80000;
const P_CODE = 0x100000, P_DATA = 0x200000, P_STACK = 0x300000;
const RAM = 0x400000;

export function hostVendor(): "amd" | "intel" {
  try { return /AuthenticAMD/.test(readFileSync("/proc/cpuinfo", "utf8")) ? "amd" : "intel"; } catch { return "intel"; }
}

/** The CPU model whose architecturally-undefined behaviour matches the host. */
export function hostModel(): string { return hostVendor() === "amd" ? "epyc-genoa" : "sapphire-rapids"; }

export class EmuRunner {
  readonly cpu: WasmCpu;
  private ram: number;
  private lastCodeLen = 0;
  private fills = new Map<bigint, Uint8Array>();

  /** XCR0 the user-mode environment runs with (the native harness runs with the host's). */
  xcr0 = 1n;

  constructor(model = hostModel()) {
    this.cpu = new WasmCpu(RAM + (1 << 20));
    const m = getModel(model);
    applyModel(this.cpu, m);
    this.ram = this.cpu.alloc(RAM, 1 << 21);
    this.xcr0 = m.xcr0 & ~(1n << 9n) & ~(3n << 17n);   // like Linux without PKU/AMX permission
    this.cpu.ex.slot(0, 0, RAM, this.ram, 0);
    this.buildSystem();
    this.cpu.bytes.fill(0xcc, this.ram + P_CODE, this.ram + P_CODE + CODE_SIZE);
  }

  private w64(gpa: number, v: bigint): void { this.cpu.view.setBigUint64(this.ram + gpa, v, true); }

  private buildSystem(): void {
    const b = this.cpu.bytes;
    b.fill(0, this.ram + P_SYS, this.ram + P_SYS + 0x10000);
    // identity map [0, 2 MiB) supervisor-only for the system area; user 4 KiB
    // pages for CODE (r-x), DATA and STACK (rw) at their linear addresses
    this.w64(P_PML4, BigInt(P_PDPT) | 7n);
    this.w64(P_PDPT + 0, BigInt(P_PD) | 7n);          // 0-1 GiB: system area
    this.w64(P_PD, 0x83n);                              // 2 MiB supervisor page at 0
    // 0x10000000, 0x20000000, 0x30000000 live in PDPT entry 0 (1 GiB): PD index 0x80, 0x100, 0x180
    const map = (lin: bigint, pa: number, size: number, rw: boolean, ptPage: number) => {
      const pdi = Number((lin >> 21n) & 511n);
      this.w64(P_PD + pdi * 8, BigInt(ptPage) | 7n);
      for (let off = 0; off < size; off += 4096) {
        const pti = Number(((lin + BigInt(off)) >> 12n) & 511n);
        // DATA and STACK are no-execute, as the harness maps them (rw-)
        this.w64(ptPage + pti * 8, BigInt(pa + off) | (rw ? 7n | (1n << 63n) : 5n));
      }
    };
    map(CODE_BASE, P_CODE, CODE_SIZE, false, P_PT);
    map(DATA_BASE, P_DATA, DATA_SIZE, true, P_PT + 0x1000);
    map(STACK_BASE, P_STACK, STACK_SIZE, true, P_PT + 0x2000);
    // GDT: null, kernel code 0x08, kernel data 0x10, user data 0x2b (index 5), user code 0x33 (index 6), TSS 0x40
    this.w64(P_GDT + 0x08, 0x00af9b000000ffffn);
    this.w64(P_GDT + 0x10, 0x00cf93000000ffffn);
    this.w64(P_GDT + 0x18, 0x00cffb000000ffffn);       // 32-bit user code (STAR base for SYSRET)
    this.w64(P_GDT + 0x20, 0x00cff3000000ffffn);
    this.w64(P_GDT + 0x28, 0x00cff3000000ffffn);
    this.w64(P_GDT + 0x30, 0x00affb000000ffffn);
    const tssLo = (0x67n) | (BigInt(P_TSS & 0xffffff) << 16n) | (0x89n << 40n) | (BigInt(P_TSS >>> 24) << 56n);
    this.w64(P_GDT + 0x40, tssLo);
    this.w64(P_GDT + 0x48, 0n);
    this.w64(P_TSS + 4, BigInt(P_KSTACK_TOP));         // RSP0
    // I/O map base beyond the limit: no bitmap, so IN/OUT at CPL3 are #GP(0)
    // as for a Linux process without ioperm()
    b[this.ram + P_TSS + 0x66] = 0x68;
    // IDT: 256 interrupt gates, each to its own hlt stub. Like Linux's IDT
    // only #BP (3), #OF (4) and the int 0x80 gate have DPL 3: any other INT n
    // at CPL3 is #GP((n << 3) | 2), as the native harness sees it.
    for (let v = 0; v < 256; v++) {
      const stub = P_STUBS + v * 4;
      b[this.ram + stub] = 0xf4;                       // hlt
      const type = v === 3 || v === 4 || v === 0x80 ? 0xeen : 0x8en;
      const lo = BigInt(stub & 0xffff) | (0x08n << 16n) | (type << 40n) | (BigInt((stub >>> 16) & 0xffff) << 48n);
      this.w64(P_IDT + v * 16, lo);
      this.w64(P_IDT + v * 16 + 8, 0n);               // offset bits 63:32 (stubs are below 4 GiB)
    }
    b[this.ram + P_STUBS + 256 * 4] = 0xf4;           // SYSCALL target
  }

  /** Put the CPU in the harness's user-mode state for case `c`. */
  private prepare(c: NativeCase): void {
    const cpu = this.cpu, L = cpu.L, b = cpu.bytes;
    cpu.ex.reset();
    const img = codeImage(c.code);
    // only the bytes that differ from the previous case need copying
    const n = Math.max(c.code.length + 5, this.lastCodeLen);
    b.set(img.subarray(0, n), this.ram + P_CODE);
    this.lastCodeLen = c.code.length + 5;
    // same bytes as initialData(c) / initialStack(c), without re-filling 64 KiB per case
    const seed = c.dataSeed ?? 0n;
    let fill = this.fills.get(seed);
    if (!fill) {
      fill = new Uint8Array(DATA_SIZE);
      fillData(seed, fill);
      if (this.fills.size >= 8) this.fills.delete(this.fills.keys().next().value!);
      this.fills.set(seed, fill);
    }
    b.set(fill, this.ram + P_DATA);
    b.fill(0, this.ram + P_STACK, this.ram + P_STACK + STACK_SIZE);
    for (const p of c.patches ?? []) {
      if (p.addr >= DATA_BASE && p.addr < DATA_BASE + BigInt(DATA_SIZE)) b.set(p.bytes, this.ram + P_DATA + Number(p.addr - DATA_BASE));
      else if (p.addr >= STACK_BASE && p.addr < STACK_BASE + BigInt(STACK_SIZE)) b.set(p.bytes, this.ram + P_STACK + Number(p.addr - STACK_BASE));
    }
    // blocks decoded from the previous case's code are stale (cheaper than flush_code)
    cpu.ex.code_written(P_CODE, CODE_SIZE);
    cpu.ex.code_written(P_DATA, DATA_SIZE);
    cpu.ex.code_written(P_STACK, STACK_SIZE);
    cpu.setU64(L.S_GDTR_BASE, BigInt(P_GDT)); cpu.setU64(L.S_GDTR_LIMIT, 0x4fn);
    cpu.setU64(L.S_IDTR_BASE, BigInt(P_IDT)); cpu.setU64(L.S_IDTR_LIMIT, 0xfffn);
    cpu.setSeg(L.SEG_CS, { base: 0n, limit: 0xffffffff, sel: 0x33, attr: 0xa0fb });
    cpu.setSeg(L.SEG_SS, { base: 0n, limit: 0xffffffff, sel: 0x2b, attr: 0xc0f3 });
    for (const s of [L.SEG_DS, L.SEG_ES, L.SEG_FS, L.SEG_GS]) cpu.setSeg(s, { base: 0n, limit: 0, sel: 0, attr: 0x800 });
    cpu.setSeg(L.SEG_TR, { base: BigInt(P_TSS), limit: 0x67, sel: 0x40, attr: 0x8b });
    cpu.setU64(L.S_CR3, BigInt(P_PML4));
    // PAE OSFXSR OSXMMEXCPT OSXSAVE, and FSGSBASE as Linux enables it for user space
    cpu.setU64(L.S_CR4, 0x20n | 0x200n | 0x400n | 0x40000n | 0x10000n);
    cpu.setU64(L.S_XCR0, this.xcr0);
    cpu.setU64(L.S_CR0, 0x80050033n);
    cpu.setU64(L.S_EFER, 0xd01n);
    cpu.setU64(L.S_STAR, (0x10n << 48n) | (0x08n << 32n));
    cpu.setU64(L.S_LSTAR, BigInt(P_STUBS + 256 * 4));
    cpu.setU64(L.S_SFMASK, 0x47700n);
    cpu.setU32(L.S_CPL, 3);
    const g = initialGprs(c);
    for (let i = 0; i < 16; i++) cpu.setGpr(i, g[i]);
    cpu.rflags = initialRflags(c);
    cpu.rip = CODE_BASE;
    // stop when RIP reaches the exit jump
    cpu.setU32(L.S_DBG_CTRL, L.DBG_ENABLE | L.DBG_SW_BP);
    cpu.setU32(L.S_NBP, 1);
    cpu.view.setBigUint64(L.SCRATCH + L.BP_LIST, CODE_BASE + BigInt(c.code.length), true);
    cpu.ex.state_changed();
  }

  /** Protection key of the first DATA page (PTE bits 62:59); the PTE keeps it until changed. */
  setDataPageKey(key: number): void {
    const pte = P_PT + 0x1000;
    const v = this.cpu.view.getBigUint64(this.ram + pte, true) & ~(0xfn << 59n);
    this.w64(pte, v | (BigInt(key & 15) << 59n));
  }

  /** Point IDT vector `vec` at linear address `target` (a handler inside the case's code). */
  setGate(vec: number, target: bigint): void {
    const lo = (target & 0xffffn) | (0x08n << 16n) | (0xeen << 40n) | (((target >> 16n) & 0xffffn) << 48n);
    this.w64(P_IDT + vec * 16, lo);
    this.w64(P_IDT + vec * 16 + 8, target >> 32n);
  }
  /** Restore vector `vec` to its hlt stub. */
  resetGate(vec: number): void {
    const stub = P_STUBS + vec * 4;
    this.w64(P_IDT + vec * 16, BigInt(stub & 0xffff) | (0x08n << 16n) | (0xeen << 40n) | (BigInt((stub >>> 16) & 0xffff) << 48n));
    this.w64(P_IDT + vec * 16 + 8, 0n);
  }

  /** Switch the prepared state to CPL 0 (64-bit kernel code and stack segments). */
  static toCpl0(cpu: WasmCpu): void {
    const L = cpu.L;
    cpu.setSeg(L.SEG_CS, { base: 0n, limit: 0xffffffff, sel: 0x08, attr: 0xa09b });
    cpu.setSeg(L.SEG_SS, { base: 0n, limit: 0xffffffff, sel: 0x10, attr: 0xc093 });
    cpu.setU32(L.S_CPL, 0);
  }

  /** Run a case; `setup` may adjust state after the environment is built (e.g. IA32_XFD). */
  run(c: NativeCase, budget = 200_000, setup?: (cpu: WasmCpu) => void): NativeResult {
    const cpu = this.cpu, L = cpu.L;
    this.prepare(c);
    if (setup) { setup(cpu); cpu.ex.state_changed(); }
    const startedAtCpl3 = cpu.ex.cpl() === 3;
    const reason = cpu.run(budget);
    const gpr = Array.from({ length: 16 }, (_, i) => cpu.gpr(i));
    const res: NativeResult = {
      status: "ok", vector: 0, errorCode: 0n, cr2: 0n, rip: cpu.rip, gpr, rflags: cpu.rflags,
      memHash: 0n, signo: 0, siCode: 0, cs: cpu.seg(L.SEG_CS).sel,
    };
    // a trap taken at CPL0 on the user stack of a user-mode case (e.g. a #DB
    // in the SYSCALL target had SFMASK left TF set) has no frame the harness could report;
    // cases that a setup hook started at CPL0 have their frames on that stack
    const kstack = Number(cpu.gpr(4)) < RAM;
    if (startedAtCpl3 && reason === L.EXIT_HLT && cpu.ex.cpl() === 0 && !kstack && Number(cpu.rip) - 1 !== P_STUBS + 256 * 4) {
      res.status = "lost";
      res.signo = -1;
    } else if (reason === L.EXIT_HLT && cpu.ex.cpl() === 0) {
      const stubOff = Number(cpu.rip) - 1 - P_STUBS;
      const vec = stubOff / 4;
      res.status = "fault";
      if (vec === 0x80) {
        // int 0x80 is Linux's 32-bit syscall gate: the harness reports it
        // like SYSCALL (vector 255, the number in errorCode, RIP after it)
        const rsp = Number(cpu.gpr(4));
        const rd = (o: number) => cpu.view.getBigUint64(this.ram + rsp + o, true);
        res.vector = VECTOR_SYSCALL;
        res.errorCode = cpu.gpr(0) & 0xffffffffn;   // the harness reports si_syscall (u32)
        res.rip = rd(0); res.cs = Number(rd(8)); res.rflags = rd(16);
        gpr[4] = rd(24);
      } else if (vec === 256) {
        res.vector = VECTOR_SYSCALL;
        res.rip = cpu.gpr(1);                     // RCX: the return address
        res.rflags = cpu.gpr(11);                 // R11: RFLAGS at SYSCALL
        res.errorCode = cpu.gpr(0) & 0xffffffffn;  // the harness reports si_syscall (u32)
      } else {
        res.vector = vec;
        // the frame is on the kernel stack (from CPL 3) or on the test stack (from CPL 0)
        const lin = cpu.gpr(4);
        const rsp = lin >= STACK_BASE && lin < STACK_BASE + BigInt(STACK_SIZE) ? P_STACK + Number(lin - STACK_BASE) : Number(lin);
        const rd = (o: number) => cpu.view.getBigUint64(this.ram + rsp + o, true);
        const hasErr = [8, 10, 11, 12, 13, 14, 17, 21].includes(vec);
        const f = hasErr ? 8 : 0;
        if (hasErr) res.errorCode = rd(0);
        res.rip = rd(f); res.cs = Number(rd(f + 8)); res.rflags = rd(f + 16);
        gpr[4] = rd(f + 24);
        if (vec === 14) res.cr2 = cpu.u64(L.S_CR2);
      }
    } else if (reason === L.EXIT_DEBUG) {
      res.status = "ok";
    } else if (reason === L.EXIT_INTR) {
      res.status = "timeout";
    } else {
      res.status = "lost";
      res.signo = reason;
    }
    const b = cpu.bytes;
    res.memHash = fastMemHash(b, this.ram + P_DATA, this.ram + P_STACK);
    if (c.dumpData) res.data = b.slice(this.ram + P_DATA, this.ram + P_DATA + DATA_SIZE);
    if (c.dumpStack) res.stack = b.slice(this.ram + P_STACK, this.ram + P_STACK + STACK_SIZE);
    return res;
  }
}

// ---- memHash(DATA, STACK) of native.ts, faster on mostly-zero memory ----
// Same FNV-1a 64 result; zero runs are found a 32-bit word at a time and
// folded with one multiplication per bit of their length.
const POW2: [number, number][] = [];
{
  let p = FNV_PRIME;
  for (let i = 0; i < 24; i++) { POW2.push([Number(p >> 32n), Number(p & 0xffffffffn)]); p = (p * p) & ((1n << 64n) - 1n); }
}
function mul64(ah: number, al: number, bh: number, bl: number): [number, number] {
  // (ah:al * bh:bl) mod 2^64 with 16-bit limbs for the low product
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0, mid = a1 * b0 + a0 * b1;          // mid < 2^33
  const lo = p00 + (mid % 65536) * 65536;                  // < 2^49
  const carry = Math.floor(lo / 4294967296) + Math.floor(mid / 65536) + a1 * b1;
  const hi = (carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
  return [hi, lo >>> 0];
}
let hashHi = 0, hashLo = 0;
function fnvRange(b: Uint8Array, w: Uint32Array, start: number, end: number): void {
  let hi = hashHi, lo = hashLo, i = start;
  while (i < end) {
    if (b[i] === 0) {
      let j = i + 1;
      while (j < end && (j & 3) && b[j] === 0) j++;
      if (!(j & 3)) { while (j + 4 <= end && w[j >> 2] === 0) j += 4; while (j < end && b[j] === 0) j++; }
      let k = j - i;
      for (let bit = 0; k; bit++, k = Math.floor(k / 2)) if (k & 1) [hi, lo] = mul64(hi, lo, POW2[bit][0], POW2[bit][1]);
      i = j;
      continue;
    }
    lo = (lo ^ b[i]) >>> 0;
    const plo = lo * 0x1b3;
    hi = (hi * 0x1b3 + Math.floor(plo / 4294967296) + ((lo << 8) >>> 0)) >>> 0;
    lo = plo >>> 0;
    i++;
  }
  hashHi = hi; hashLo = lo;
}
const ZERO_PAGE = new Uint8Array(4096);
/** Hash [start, end) page by page: all-zero pages (found by a native compare) fold in one step. */
function fnvPages(b: Uint8Array, w: Uint32Array, start: number, end: number): void {
  let zeros = 0;
  for (let p = start; p < end; p += 4096) {
    if (Buffer.compare(b.subarray(p, p + 4096), ZERO_PAGE) === 0) { zeros += 4096; continue; }
    if (zeros) { foldZeros(zeros); zeros = 0; }
    fnvRange(b, w, p, p + 4096);
  }
  if (zeros) foldZeros(zeros);
}
function foldZeros(k: number): void {
  let hi = hashHi, lo = hashLo;
  for (let bit = 0; k; bit++, k = Math.floor(k / 2)) if (k & 1) [hi, lo] = mul64(hi, lo, POW2[bit][0], POW2[bit][1]);
  hashHi = hi; hashLo = lo;
}
/** memHash() of the DATA and STACK images at byte offsets `data` and `stack` of `b` (4-aligned). */
export function fastMemHash(b: Uint8Array, data: number, stack: number): bigint {
  const w = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >> 2);
  hashHi = Number(FNV_BASIS >> 32n); hashLo = Number(FNV_BASIS & 0xffffffffn);
  fnvPages(b, w, data, data + DATA_SIZE);
  fnvPages(b, w, stack, stack + STACK_SIZE);
  return (BigInt(hashHi) << 32n) | BigInt(hashLo);
}
