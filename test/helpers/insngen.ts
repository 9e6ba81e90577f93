// Random well-formed x86-64 instruction sequences for differential testing
// against silicon (test/cpu/differential.test.ts).
//
// A sequence runs in the native harness's user-mode environment (CODE r-x,
// DATA and STACK rw, CPL3). To keep memory operands inside DATA/STACK, each
// sequence reserves a few "pointer" registers (bases into DATA and one small
// index register) that no generated instruction writes; RSP is written only
// by push/pop/call/ret/enter/leave, which keep it inside STACK. Branches only
// go forward, so every sequence terminates.
//
// Instruction kinds are grouped by the opcode-table family that implements
// them. ENABLED_FAMILIES lists the families the emulator has today: switching
// on another family (e.g. "shift") is a one-line change there, and its
// emitters are already here.
import { CODE_BASE, DATA_BASE, DEFAULT_RSP, GPR, type NativeCase } from "../native/native";
import { VSPECS, needsV, isStore, writesGpr, type VSpec } from "./vecenc";
import { FSPECS, fpValue, fpMxcsr } from "./fpgen";

export const ALL_FAMILIES = [
  "alu", "mov", "stack", "ctrl", "flagctl", "misc", "io", "intr", "system",
  "shift", "muldiv", "bit", "string", "bcd", "vec", "bmi",
] as const;
export type FamilyName = (typeof ALL_FAMILIES)[number];
/** Families the emulator implements now; add a name to switch its generator on. */
export const ENABLED_FAMILIES: FamilyName[] = ["alu", "mov", "stack", "ctrl", "flagctl", "misc", "io", "intr", "system", "vec", "bmi"];

/** Small, fast, seedable PRNG (xorshift32 variant, splitmix-seeded). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    let z = (seed + 0x9e3779b9) | 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.s = (z ^ (z >>> 16)) | 1;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
  int(n: number): number { return this.u32() % n; }
  chance(p: number): boolean { return this.u32() < p * 4294967296; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }
  bytes(n: number): Uint8Array { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = this.u32() & 255; return b; }
}

const M64 = (1n << 64n) - 1n;
/** DATA offsets of the vector-register images loaded first / stored last ("vec" family). */
const VEC_IN = 0xc00, VEC_OUT = 0xe00, MXCSR_IN = 0xbf0, MXCSR_OUT = 0xbf8;
/** [disp32] absolute into DATA (SIB, no base, no index). */
function absData(off: number): Mem {
  return { kind: "mem", mod: 0, rm: 4, sib: (4 << 3) | 5, disp: Number(DATA_BASE) + off, dispSize: 4, rexX: 0, rexB: 0, a32: false };
}
/** Where base registers point: [DATA_BASE+WIN_LO, DATA_BASE+WIN_HI). */
const WIN_LO = 0x400, WIN_HI = 0xc00;
/** DATA bytes given random contents (the rest of DATA stays zero). */
export const DATA_PATCH = 0x1000;

interface Mem {
  kind: "mem";
  mod: number; rm: number; sib?: number; disp: number; dispSize: 0 | 1 | 4;
  rexX: number; rexB: number;
  /** RIP-relative: disp is patched once the instruction length is known. */
  ripTarget?: bigint;
  a32: boolean;
  seg?: number;
}
interface RegOp { kind: "reg"; n: number }
type RM = Mem | RegOp;

/** One instruction being encoded. */
interface Enc {
  pfx: number[];
  rexW?: boolean;
  forceRex?: boolean;
  noRex?: boolean;
  op: number[];
  reg?: number;       // ModRM.reg (0..15) when there is a ModRM
  rm?: RM;
  imm?: number[];
  opreg?: number;     // +r register (0..15) folded into the last opcode byte
  /** VEX (C4 form) instead of REX + escape bytes; op is then the opcode byte alone. */
  vex?: { map: number; pp: number; L: number; W: number; vvvv: number };
}

export class SeqGen {
  readonly r: Rng;
  /** Registers no generated instruction may write (pointers, index, rsp). */
  readonly locked = new Set<number>();
  bases: number[] = [];
  idx = -1;
  gpr: bigint[] = [];
  code: number[] = [];
  rflags = 0n;
  private families: Set<string>;
  private emitters: [string, number, (g: SeqGen) => void][];

  constructor(seed: number, families: readonly string[] = ENABLED_FAMILIES) {
    this.r = new Rng(seed);
    this.families = new Set(families);
    this.emitters = EMITTERS.filter(([f]) => this.families.has(f));
  }

  // ---- register choice --------------------------------------------------
  /** A register the sequence may overwrite (full register number 0..15). */
  dst(): number {
    for (;;) { const n = this.r.int(16); if (!this.locked.has(n)) return n; }
  }
  src(): number { return this.r.int(16); }
  /** A byte register encoding for writing: {n, rex} where n is the encoding and
   * rex says whether a REX prefix is required (spl..dil, r8b..) or forbidden (ah..bh). */
  dst8(): { n: number; rex: boolean | null } {
    for (;;) {
      const n = this.r.int(16);
      if (n >= 4 && n < 8) {
        if (this.r.chance(0.5)) {   // ah ch dh bh: write rax..rbx
          if (!this.locked.has(n - 4)) return { n, rex: false };
        } else if (!this.locked.has(n)) return { n, rex: true };
      } else if (!this.locked.has(n)) return { n, rex: null };
    }
  }
  src8(): { n: number; rex: boolean | null } {
    const n = this.r.int(16);
    return n >= 4 && n < 8 ? { n, rex: this.r.chance(0.5) } : { n, rex: null };
  }

  // ---- operand sizes -----------------------------------------------------
  /** Prefix/REX.W for a v-sized operand: returns size in bits. */
  vsize(e: Enc): 16 | 32 | 64 {
    const k = this.r.int(8);
    if (k < 2) { e.pfx.push(0x66); return 16; }
    if (k < 5) return 32;
    e.rexW = true;
    if (k === 7 && this.r.chance(0.3)) e.pfx.push(0x66);   // REX.W wins over 66
    return 64;
  }

  imm(bits: number): number[] {
    const out: number[] = [];
    const k = this.r.int(6);
    for (let i = 0; i < bits / 8; i++) {
      let b = this.r.u32() & 255;
      if (k === 0) b = 0;
      else if (k === 1) b = 0xff;
      else if (k === 2) b = i === bits / 8 - 1 ? 0x80 : 0;
      else if (k === 3) b = i === bits / 8 - 1 ? 0x7f : 0xff;
      else if (k === 4 && i > 0) b = 0;
      out.push(b);
    }
    return out;
  }

  // ---- memory operands ---------------------------------------------------
  /** A memory operand into DATA (or STACK via RSP, or CODE via RIP when `read`).
   * `size` is the access size in bytes (used to keep in range). */
  mem(read: boolean, size = 8): Mem {
    const r = this.r;
    const m: Mem = { kind: "mem", mod: 0, rm: 0, disp: 0, dispSize: 0, rexX: 0, rexB: 0, a32: r.chance(0.08) };
    if (r.chance(0.05)) m.seg = r.pick([0x64, 0x65, 0x2e, 0x3e, 0x26, 0x36]);
    const k = r.int(100);
    const dsmall = () => r.int(0x100) - 0x80;
    const setDisp = (d: number, force32 = false) => {
      if (!force32 && d >= -128 && d < 128 && r.chance(0.8)) { m.mod = d === 0 && r.chance(0.5) ? 0 : 1; m.dispSize = m.mod ? 1 : 0; }
      else { m.mod = 2; m.dispSize = 4; }
      m.disp = d;
    };
    if (k < 4 && read) {
      // [rip+disp32] into CODE (readable, not writable)
      m.mod = 0; m.rm = 5; m.dispSize = 4;
      m.ripTarget = CODE_BASE + BigInt(r.int(0x100));
      return m;
    }
    if (k < 6) {
      // a write into CODE (#PF, error 7) or any access to an unmapped page
      if (!m.a32 && r.chance(0.5)) { m.mod = 0; m.rm = 5; m.dispSize = 4; m.ripTarget = CODE_BASE + BigInt(r.int(0x100)); return m; }
      m.mod = 0; m.rm = 4; m.sib = (4 << 3) | 5; m.dispSize = 4; // (not the kernel half or page 0: Linux and the EmuRunner's system area
      // map those supervisor-only, which changes the #PF error code)
      m.disp = r.pick([0x40000000, 0x7ffff000, 0x2000fff8 + r.int(8), 0x3000fff8 + r.int(8)]);
      return m;
    }
    if (k < 10) {
      // absolute [disp32] via SIB (no base, no index)
      m.mod = 0; m.rm = 4; m.sib = (4 << 3) | 5 | (r.int(4) << 6); m.dispSize = 4;
      m.disp = Number(DATA_BASE) + WIN_LO + r.int(WIN_HI - WIN_LO);
      return m;
    }
    if (k < 25) {
      // [rsp + disp8] (SIB base 4) into STACK around RSP
      m.rm = 4; m.sib = (4 << 3) | 4 | (r.int(4) << 6);
      setDisp(r.int(0x80) - 0x40);
      if (m.mod === 0) m.dispSize = 0;
      return m;
    }
    const base = r.pick(this.bases);
    m.rexB = base >> 3;
    let disp = dsmall();
    if (r.chance(0.1)) disp += r.int(size);   // misaligned
    if (k < 60 || this.idx < 0) {
      // [base + disp]
      if ((base & 7) === 4) { m.rm = 4; m.sib = (4 << 3) | 4; }
      else m.rm = base & 7;
      setDisp(disp);
      if (m.mod === 0 && (base & 7) === 5) { m.mod = 1; m.dispSize = 1; }
      if (m.mod === 0) m.disp = 0;
      return m;
    }
    // [base + idx*scale + disp]
    m.rm = 4;
    m.rexX = this.idx >> 3;
    m.sib = (r.int(4) << 6) | ((this.idx & 7) << 3) | (base & 7);
    setDisp(disp);
    if (m.mod === 0 && (base & 7) === 5) { m.mod = 1; m.dispSize = 1; }
    if (m.mod === 0) m.disp = 0;
    return m;
  }

  /** E operand: register (written if `write`) or memory. */
  E(write: boolean, memP = 0.4, size = 8): RM {
    if (this.r.chance(memP)) return this.mem(!write, size);
    return { kind: "reg", n: write ? this.dst() : this.src() };
  }

  // ---- encoding ----------------------------------------------------------
  emit(e: Enc): void {
    const start = this.code.length;
    const bytes: number[] = [];
    const m = e.rm && e.rm.kind === "mem" ? e.rm : undefined;
    if (m?.seg !== undefined) bytes.push(m.seg);
    if (m?.a32) bytes.push(0x67);
    // shuffle legacy prefixes (order does not matter architecturally)
    const pfx = [...e.pfx];
    for (let i = pfx.length - 1; i > 0; i--) { const j = this.r.int(i + 1); [pfx[i], pfx[j]] = [pfx[j], pfx[i]]; }
    bytes.push(...pfx);
    let rex = 0x40;
    if (e.vex) {
      const R = ((e.reg ?? 0) >> 3) & 1;
      const X = e.rm?.kind === "mem" ? e.rm.rexX : 0;
      const B = e.rm ? (e.rm.kind === "reg" ? (e.rm.n >> 3) & 1 : e.rm.rexB) : 0;
      const v = e.vex;
      bytes.push(0xc4, ((R ^ 1) << 7) | ((X ^ 1) << 6) | ((B ^ 1) << 5) | v.map, (v.W << 7) | ((~v.vvvv & 15) << 3) | (v.L << 2) | v.pp);
    } else {
    if (e.rexW) rex |= 8;
    if (e.reg !== undefined && e.reg >= 8) rex |= 4;
    if (e.rm) {
      if (e.rm.kind === "reg") { if (e.rm.n >= 8) rex |= 1; }
      else { rex |= (e.rm.rexX << 1) | e.rm.rexB; }
    }
    if (e.opreg !== undefined && e.opreg >= 8) rex |= 1;
    if (rex !== 0x40 || e.forceRex || (!e.noRex && this.r.chance(0.05))) {
      if (e.noRex && rex !== 0x40) throw new Error("insngen: REX needed and forbidden");
      if (!e.noRex) bytes.push(rex);
    }
    }
    const op = [...e.op];
    if (e.opreg !== undefined) op[op.length - 1] |= e.opreg & 7;
    bytes.push(...op);
    let dispAt = -1;
    if (e.rm) {
      const reg = (e.reg ?? 0) & 7;
      if (e.rm.kind === "reg") bytes.push(0xc0 | (reg << 3) | (e.rm.n & 7));
      else {
        const mm = e.rm;
        bytes.push((mm.mod << 6) | (reg << 3) | mm.rm);
        if (mm.rm === 4 && mm.sib !== undefined) bytes.push(mm.sib);
        dispAt = bytes.length;
        if (mm.dispSize === 1) bytes.push(mm.disp & 255);
        else if (mm.dispSize === 4) for (let i = 0; i < 4; i++) bytes.push((mm.disp >> (8 * i)) & 255);
      }
    }
    if (e.imm) bytes.push(...e.imm);
    if (m?.ripTarget !== undefined) {
      const end = CODE_BASE + BigInt(start + bytes.length);
      const d = Number(BigInt.asIntN(32, m.ripTarget - end));
      for (let i = 0; i < 4; i++) bytes[dispAt + i] = (d >> (8 * i)) & 255;
    }
    this.code.push(...bytes);
  }

  /** Encode with a byte-register operand pair (handles the REX rules for ah..bh / spl..dil). */
  emit8(op: number[], reg: { n: number; rex: boolean | null } | number, rm: RM | { n: number; rex: boolean | null }, imm?: number[], pfx: number[] = []): void {
    const e: Enc = { pfx, op, imm };
    let needRex = false, noRex = false;
    const note = (x: { n: number; rex: boolean | null }) => { if (x.rex === true) needRex = true; if (x.rex === false) noRex = true; };
    if (typeof reg === "number") e.reg = reg; else { note(reg); e.reg = reg.n; }
    if ("kind" in rm) e.rm = rm; else { note(rm); e.rm = { kind: "reg", n: rm.n }; }
    // ah..bh and spl/r8b.. cannot mix: fall back to the REX-free meaning
    const usesHigh = (e.reg! >= 8) || (e.rm!.kind === "reg" && e.rm!.n >= 8) ||
      (e.rm!.kind === "mem" && (e.rm!.rexB || e.rm!.rexX));
    if (noRex && (needRex || usesHigh)) {
      // re-pick: simplest is to drop this instruction
      return;
    }
    e.forceRex = needRex; e.noRex = noRex;
    this.emit(e);
  }

  /** Set up registers for a new sequence. */
  setup(): void {
    const r = this.r;
    this.locked.clear();
    this.locked.add(GPR.rsp);
    const cands = [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const nb = 1 + r.int(2);
    this.bases = [];
    while (this.bases.length < nb) { const c = r.pick(cands); if (!this.locked.has(c)) { this.bases.push(c); this.locked.add(c); } }
    this.idx = -1;
    if (r.chance(0.7)) { for (;;) { const c = r.pick(cands); if (!this.locked.has(c)) { this.idx = c; this.locked.add(c); break; } } }
    this.gpr = [];
    for (let i = 0; i < 16; i++) this.gpr.push(this.value());
    this.gpr[GPR.rsp] = DEFAULT_RSP;
    for (const b of this.bases) this.gpr[b] = DATA_BASE + BigInt(WIN_LO + r.int(WIN_HI - WIN_LO));
    if (this.idx >= 0) this.gpr[this.idx] = BigInt(r.int(0x40));
    this.rflags = BigInt(r.u32() & 0xcd5) & (r.chance(0.2) ? 0x8d5n : 0xcd5n);
    this.code = [];
  }

  value(): bigint {
    const r = this.r;
    switch (r.int(10)) {
      case 0: return 0n;
      case 1: return M64;
      case 2: return BigInt(r.int(256));
      case 3: return BigInt(r.u32());
      case 4: return r.pick([0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x7fffffffffffffffn, 0x8000000000000000n]);
      case 5: return BigInt.asUintN(64, -BigInt(r.int(256)));
      default: return r.u64();
    }
  }

  /** One instruction (or a small self-contained group) from a random enabled family. */
  one(): void {
    let total = 0;
    for (const [, w] of this.emitters) total += w;
    let k = this.r.int(total);
    for (const [, w, f] of this.emitters) { if (k < w) { f(this); return; } k -= w; }
  }

  /** A whole case: `n` instructions. */
  sequence(n: number): NativeCase {
    this.setup();
    const vec = this.families.has("vec");
    const data = this.r.bytes(DATA_PATCH);
    // vector state: YMM0-15 loaded from DATA+VEC_IN (boundary-heavy bytes,
    // small shift counts) first, and stored to DATA+VEC_OUT at the end so the
    // memory hash covers every vector register (legacy SSE keeps 255:128)
    if (vec) {
      const B = [0, 1, 0x7f, 0x80, 0x81, 0xfe, 0xff];
      for (let i = VEC_IN; i < VEC_IN + 0x200; i++) if (this.r.chance(0.4)) data[i] = this.r.pick(B);
      for (let n = 0; n < 16; n += 3) { data.fill(0, VEC_IN + n * 32, VEC_IN + n * 32 + 8); data[VEC_IN + n * 32] = this.r.int(70); }
      // about half the registers hold float/double lanes from the FP generator
      const dv = new DataView(data.buffer, data.byteOffset);
      const rr = () => this.r.u32();
      for (let n = 0; n < 16; n++) {
        if (this.r.chance(0.5)) continue;
        const f64 = this.r.chance(0.5);
        for (let o = VEC_IN + n * 32; o < VEC_IN + n * 32 + 32; o += f64 ? 8 : 4) {
          if (f64) dv.setBigUint64(o, fpValue(rr, true), true); else dv.setUint32(o, Number(fpValue(rr, false)), true);
        }
      }
      for (let n = 0; n < 16; n++) this.ymmAbs(0x6f, n, VEC_IN + n * 32);
      // and MXCSR: any rounding mode, DAZ/FTZ, sometimes unmasked exceptions
      for (let i = 0; i < 4; i++) dv.setUint32(0xbe0 + i * 4, fpMxcsr(rr), true);
      if (this.r.chance(0.5)) {
        dv.setUint32(MXCSR_IN, fpMxcsr(rr), true);
        this.emit({ pfx: [], op: [0x0f, 0xae], reg: 2, rm: absData(MXCSR_IN) });
      }
    }
    for (let i = 0; i < n && this.code.length < 3000; i++) this.one();
    if (vec) {
      for (let n = 0; n < 16; n++) this.ymmAbs(0x7f, n, VEC_OUT + n * 32);
      this.emit({ pfx: [], op: [0x0f, 0xae], reg: 3, rm: absData(MXCSR_OUT) });   // stmxcsr
    }
    return {
      code: Uint8Array.from(this.code), gpr: this.gpr, rflags: this.rflags, dataSeed: 0n,
      patches: [{ addr: DATA_BASE, bytes: data }],
    };
  }

  /** vmovdqu ymmN, [abs DATA+off] (0x6f) or the store (0x7f). */
  ymmAbs(op: number, n: number, off: number): void {
    this.emit({ pfx: [], op: [op], reg: n, vex: { map: 1, pp: 2, L: 1, W: 0, vvvv: 0 }, rm: absData(off) });
  }

  /** Emit `inner` and return its bytes' length (for forward branches). */
  sub(inner: () => void): number[] {
    const save = this.code;
    this.code = [];
    const base = save.length;
    // inner code is encoded as if at its final position after a branch of
    // unknown length; RIP-relative operands inside are avoided (see below)
    this.ripBlocked++;
    try { inner(); } finally { this.ripBlocked--; }
    const out = this.code;
    this.code = save;
    void base;
    return out;
  }
  ripBlocked = 0;
  noSyscall = 0;
}

// ---- emitters by family ------------------------------------------------------
type Emitter = [FamilyName, number, (g: SeqGen) => void];

const ALU_OPS = 8;   // add or adc sbb and sub xor cmp

/** Emitters. Memory operands inside forward-branch bodies never use RIP (their
 * final position is not known while they are encoded). */
const EMITTERS: Emitter[] = [
  // ---- alu --------------------------------------------------------------
  ["alu", 30, (g) => {
    const r = g.r, k = r.int(ALU_OPS), form = r.int(8);
    const lock = k !== 7 && r.chance(0.3) ? [0xf0] : [];
    if (form === 0) {              // Eb,Gb
      const rm = g.r.chance(0.4) ? noRip(g, g.mem(k === 7)) : (k === 7 ? g.src8() : g.dst8());
      g.emit8([k * 8], g.src8(), rm, undefined, "kind" in rm && rm.kind === "mem" ? lock : []);
    } else if (form === 1) {       // Ev,Gv
      const e: Enc = { pfx: [], op: [k * 8 + 1] };
      g.vsize(e); e.reg = g.src(); e.rm = rip(g, g.E(k !== 7));
      if (e.rm.kind === "mem") e.pfx.push(...lock);
      g.emit(e);
    } else if (form === 2) {       // Gb,Eb
      const rm = g.r.chance(0.4) ? noRip(g, g.mem(true)) : g.src8();
      g.emit8([k * 8 + 2], k === 7 ? g.src8() : g.dst8(), rm);
    } else if (form === 3) {       // Gv,Ev
      const e: Enc = { pfx: [], op: [k * 8 + 3] };
      g.vsize(e); e.reg = k === 7 ? g.src() : g.dst(); e.rm = rip(g, g.E(false));
      g.emit(e);
    } else if (form === 4) {       // AL,Ib / rAX,Iz
      if (k !== 7 && g.locked.has(0)) return;
      if (r.chance(0.5)) g.emit({ pfx: [], op: [k * 8 + 4], imm: g.imm(8) });
      else { const e: Enc = { pfx: [], op: [k * 8 + 5] }; const s = g.vsize(e); e.imm = g.imm(s === 16 ? 16 : 32); g.emit(e); }
    } else {                       // 80/81/83 group 1
      const which = r.pick([0x80, 0x81, 0x83, 0x83]);
      if (which === 0x80) {
        const rm = g.r.chance(0.4) ? noRip(g, g.mem(k === 7)) : (k === 7 ? g.src8() : g.dst8());
        g.emit8([0x80], k, rm, g.imm(8), "kind" in rm && rm.kind === "mem" ? lock : []);
      } else {
        const e: Enc = { pfx: [], op: [which], reg: k };
        const s = g.vsize(e);
        e.rm = rip(g, g.E(k !== 7));
        if (e.rm.kind === "mem") e.pfx.push(...lock);
        e.imm = which === 0x83 ? g.imm(8) : g.imm(s === 16 ? 16 : 32);
        g.emit(e);
      }
    }
  }],
  ["alu", 8, (g) => {             // TEST, NOT, NEG, INC, DEC
    const r = g.r, k = r.int(6);
    const byte = r.chance(0.3);
    const lock = k >= 2 && r.chance(0.3) ? [0xf0] : [];
    const modrmReg = [0, 0, 2, 3, 0, 1][k];
    const opb = k <= 3 ? (byte ? 0xf6 : 0xf7) : (byte ? 0xfe : 0xff);
    if (byte) {
      const rm = r.chance(0.4) ? noRip(g, g.mem(k < 2)) : (k < 2 ? g.src8() : g.dst8());
      const isMem = "kind" in rm && rm.kind === "mem";
      if (k === 1) g.emit8([0x84], g.src8(), rm);
      else g.emit8([opb], modrmReg, rm, k === 0 ? g.imm(8) : undefined, isMem ? lock : []);
    } else {
      const e: Enc = { pfx: [], op: [k === 1 ? 0x85 : opb], reg: k === 1 ? g.src() : modrmReg };
      const s = g.vsize(e);
      e.rm = rip(g, g.E(k >= 2));
      if (e.rm.kind === "mem") e.pfx.push(...lock);
      if (k === 0) e.imm = g.imm(s === 16 ? 16 : 32);
      g.emit(e);
    }
  }],
  ["alu", 6, (g) => {             // XCHG, XADD, CMPXCHG (both operands written)
    const r = g.r, k = r.int(4);
    if (k === 3) {                 // 90+r xchg with rAX
      if (g.locked.has(0)) return;
      const e: Enc = { pfx: [], op: [0x90], opreg: g.dst() };
      g.vsize(e);
      g.emit(e);
      return;
    }
    if (k === 2 && g.locked.has(0)) return;   // cmpxchg writes rAX
    const byte = r.chance(0.3);
    const op = k === 0 ? [byte ? 0x86 : 0x87] : k === 1 ? [0x0f, byte ? 0xc0 : 0xc1] : [0x0f, byte ? 0xb0 : 0xb1];
    const lock = r.chance(0.4) ? [0xf0] : [];
    if (byte) {
      const rm = r.chance(0.5) ? noRip(g, g.mem(false)) : g.dst8();
      g.emit8(op, g.dst8(), rm, undefined, "kind" in rm && rm.kind === "mem" ? lock : []);
    } else {
      const e: Enc = { pfx: [], op, reg: g.dst() };
      g.vsize(e);
      e.rm = rip(g, g.E(true, 0.5));
      if (e.rm.kind === "mem") e.pfx.push(...lock);
      g.emit(e);
    }
  }],
  ["alu", 2, (g) => {             // CMPXCHG8B/16B m (rdx:rax written)
    if (g.locked.has(0) || g.locked.has(2)) return;
    const e: Enc = { pfx: g.r.chance(0.5) ? [0xf0] : [], op: [0x0f, 0xc7], reg: 1, rm: rip(g, g.mem(false, 16)) };
    if (g.r.chance(0.5)) e.rexW = true;
    g.emit(e);
  }],
  // ---- mov -------------------------------------------------------------
  ["mov", 20, (g) => {
    const r = g.r, k = r.int(10);
    if (k === 0) { const rm = r.chance(0.5) ? noRip(g, g.mem(false)) : g.dst8(); g.emit8([0x88], g.src8(), rm); }
    else if (k === 1) { const e: Enc = { pfx: [], op: [0x89], reg: g.src() }; g.vsize(e); e.rm = rip(g, g.E(true, 0.5)); g.emit(e); }
    else if (k === 2) { const rm = r.chance(0.5) ? noRip(g, g.mem(true)) : g.src8(); g.emit8([0x8a], g.dst8(), rm); }
    else if (k === 3) { const e: Enc = { pfx: [], op: [0x8b], reg: g.dst() }; g.vsize(e); e.rm = rip(g, g.E(false, 0.5)); g.emit(e); }
    else if (k === 4) { const rm = r.chance(0.5) ? noRip(g, g.mem(false)) : g.dst8(); g.emit8([0xc6], 0, rm, g.imm(8)); }
    else if (k === 5) { const e: Enc = { pfx: [], op: [0xc7], reg: 0 }; const s = g.vsize(e); e.rm = rip(g, g.E(true, 0.5)); e.imm = g.imm(s === 16 ? 16 : 32); g.emit(e); }
    else if (k === 6) {            // B0+r / B8+r
      if (r.chance(0.3)) { const d = g.dst8(); const e: Enc = { pfx: [], op: [0xb0], opreg: d.n, imm: g.imm(8), forceRex: d.rex === true, noRex: d.rex === false }; g.emit(e); }
      else { const e: Enc = { pfx: [], op: [0xb8], opreg: g.dst() }; const s = g.vsize(e); e.imm = g.imm(s); g.emit(e); }
    } else if (k === 7) {          // moffs A0..A3 with a 64-bit absolute address
      const op = 0xa0 + r.int(4);
      if (op < 0xa2 && g.locked.has(0)) return;
      const e: Enc = { pfx: [], op: [op] };
      if (op & 1) g.vsize(e);
      const a = DATA_BASE + BigInt(WIN_LO + r.int(WIN_HI - WIN_LO));
      e.imm = []; for (let i = 0n; i < 8n; i++) e.imm.push(Number((a >> (8n * i)) & 255n));
      g.emit(e);
    } else if (k === 8) {          // lea
      const e: Enc = { pfx: [], op: [0x8d], reg: g.dst() };
      g.vsize(e);
      e.rm = rip(g, g.mem(true));
      g.emit(e);
    } else {                       // movzx / movsx / movsxd
      const w = r.int(5);
      const e: Enc = { pfx: [], op: w === 4 ? [0x63] : [0x0f, [0xb6, 0xb7, 0xbe, 0xbf][w]], reg: g.dst() };
      g.vsize(e);
      if (w === 0 || w === 2) {
        // byte source: avoid ah..bh with REX
        const s = g.src8();
        if (s.rex === false && (e.reg! >= 8 || e.rexW)) return;
        if (s.rex === false) e.noRex = true; else if (s.rex) e.forceRex = true;
        e.rm = r.chance(0.4) ? rip(g, g.mem(true)) : { kind: "reg", n: s.n };
        if (e.rm.kind === "mem") { e.noRex = false; e.forceRex = false; }
      } else e.rm = rip(g, g.E(false));
      g.emit(e);
    }
  }],
  ["mov", 6, (g) => {             // cbw/cwd, cmov, setcc, bswap
    const r = g.r, k = r.int(5);
    if (k === 0) { if (g.locked.has(0)) return; const e: Enc = { pfx: [], op: [0x98] }; g.vsize(e); g.emit(e); }
    else if (k === 1) { if (g.locked.has(2)) return; const e: Enc = { pfx: [], op: [0x99] }; g.vsize(e); g.emit(e); }
    else if (k === 2) { const e: Enc = { pfx: [], op: [0x0f, 0x40 + r.int(16)], reg: g.dst() }; g.vsize(e); e.rm = rip(g, g.E(false)); g.emit(e); }
    else if (k === 3) { const rm = r.chance(0.3) ? noRip(g, g.mem(false)) : g.dst8(); g.emit8([0x0f, 0x90 + r.int(16)], r.int(8), rm); }
    else { const e: Enc = { pfx: [], op: [0x0f, 0xc8], opreg: g.dst() }; if (r.chance(0.6)) e.rexW = true; else if (r.chance(0.2)) e.pfx.push(0x66); g.emit(e); }
  }],
  ["mov", 3, (g) => {             // lahf/sahf, xlat, movbe
    const r = g.r, k = r.int(4);
    if (k === 0) { if (g.locked.has(0)) return; g.emit({ pfx: [], op: [0x9f] }); }
    else if (k === 1) g.emit({ pfx: [], op: [0x9e] });
    else if (k === 2) {
      // xlat: [rbx + al] -- only when rbx is a base pointer and al is free
      if (!g.bases.includes(3) || g.locked.has(0)) return;
      g.emit({ pfx: [], op: [0xd7] });
    } else {
      const st = r.chance(0.5);
      const e: Enc = { pfx: [], op: [0x0f, 0x38, st ? 0xf1 : 0xf0], reg: st ? g.src() : g.dst() };
      g.vsize(e);
      e.rm = rip(g, g.mem(!st));
      g.emit(e);
    }
  }],
  // ---- stack -----------------------------------------------------------
  ["stack", 10, (g) => {
    const r = g.r, k = r.int(7);
    const w16 = r.chance(0.15) ? [0x66] : [];
    if (k === 0) g.emit({ pfx: w16, op: [0x50], opreg: g.src() });
    else if (k === 1) g.emit({ pfx: w16, op: [0x58], opreg: g.dst() });
    else if (k === 2) g.emit({ pfx: w16, op: [0x6a], imm: g.imm(8) });
    else if (k === 3) g.emit({ pfx: w16, op: [0x68], imm: g.imm(w16.length ? 16 : 32) });
    else if (k === 4) g.emit({ pfx: w16, op: [0xff], reg: 6, rm: rip(g, g.E(false, 0.6)) });
    else if (k === 5) {
      // pop Ev: memory relative to RSP uses the value after the pop
      g.emit({ pfx: w16, op: [0x8f], reg: 0, rm: rip(g, g.E(true, 0.5)) });
    } else {
      // enter n,0 ... leave (rbp written)
      if (g.locked.has(5)) return;
      const lvl = r.chance(0.8) ? 0 : r.int(3);
      g.emit({ pfx: w16, op: [0xc8], imm: [r.int(4) * 8, 0, lvl] });
      if (r.chance(0.7)) g.one();
      g.emit({ pfx: w16, op: [0xc9] });
    }
  }],
  // ---- ctrl ------------------------------------------------------------
  ["ctrl", 8, (g) => {            // Jcc / JMP / LOOP forward over a body
    const r = g.r, k = r.int(10);
    const body = g.sub(() => { const n = 1 + r.int(2); for (let i = 0; i < n; i++) g.one(); });
    const len = body.length;
    if (k < 5) {
      if (len < 128 && r.chance(0.6)) g.code.push(0x70 + r.int(16), len);
      else g.code.push(0x0f, 0x80 + r.int(16), len & 255, (len >> 8) & 255, 0, 0);
    } else if (k < 7) {
      if (len < 128 && r.chance(0.5)) g.code.push(0xeb, len);
      else g.code.push(0xe9, len & 255, (len >> 8) & 255, 0, 0);
    } else {
      if (len >= 128 || g.locked.has(1)) return;
      if (r.chance(0.2)) g.code.push(0x67);   // ecx / jecxz
      g.code.push(0xe0 + r.int(4), len);
    }
    g.code.push(...body);
  }],
  ["ctrl", 1, (g) => {
    // 66-prefixed near branch: AMD truncates the target to 16 bits (#PF at a
    // low address), Intel ignores the prefix
    const r = g.r;
    g.code.push(0x66, ...r.pick([[0xeb, 0], [0x70 + r.int(16), 0], [0xe9, 0, 0], [0x0f, 0x80 + r.int(16), 0, 0], [0xe8, 0, 0], [0xc3]]));
  }],
  ["ctrl", 4, (g) => {            // call/ret/indirect jumps to a forward label
    const r = g.r, k = r.int(5);
    if (k === 0) {                 // call next ; pop reg
      g.code.push(0xe8, 0, 0, 0, 0);
      g.emit({ pfx: [], op: [0x58], opreg: g.dst() });
      return;
    }
    const t = g.dst();
    if (t === 0 && k === 4) return;
    const body = g.sub(() => { if (r.chance(0.5)) g.one(); });
    // lea t,[rip+X] where X is past the dispatch and the body
    const tail: number[] = [];
    const ret16 = r.chance(0.3);
    if (k === 1) tail.push(0x50 | (t & 7));                   // push t ; ret [imm16]
    if (k === 1 && t >= 8) tail.unshift(0x41);
    if (k === 1) { if (ret16) tail.push(0xc2, 8, 0); else tail.push(0xc3); }
    if (k === 2) tail.push(...(t >= 8 ? [0x41] : []), 0xff, 0xe0 | (t & 7));   // jmp t
    if (k === 3) tail.push(...(t >= 8 ? [0x41] : []), 0xff, 0xd0 | (t & 7));   // call t
    if (k === 4) {                 // mov [base+d], t ; jmp/call [base+d]
      const b = g.bases[0];
      const d = r.int(0x40) * 8 - 0x100;
      const mm = (reg: number) => [0x48 | (b >= 8 ? 1 : 0) | (reg >= 8 ? 4 : 0), 0x89, 0x80 | ((reg & 7) << 3) | (b & 7), ...((b & 7) === 4 ? [0x24] : []), d & 255, (d >> 8) & 255, (d >> 16) & 255, (d >> 24) & 255];
      tail.push(...mm(t));
      const call = r.chance(0.5);
      if (b >= 8) tail.push(0x41);
      tail.push(0xff, (call ? 0x90 : 0xa0) | (b & 7), ...((b & 7) === 4 ? [0x24] : []), d & 255, (d >> 8) & 255, (d >> 16) & 255, (d >> 24) & 255);
    }
    const lea = [0x48 | (t >= 8 ? 4 : 0), 0x8d, 0x05 | ((t & 7) << 3)];
    const x = tail.length + body.length;
    g.code.push(...lea, x & 255, (x >> 8) & 255, 0, 0, ...tail, ...body);
  }],
  ["stack", 2, (g) => {
    // RSP as an operand: push rsp, pop rsp after a push of rsp, mov ss
    const r = g.r, k = r.int(3);
    if (k === 0) g.emit({ pfx: [], op: [0x54] });
    else if (k === 1) { g.emit({ pfx: [], op: [0x54] }); if (r.chance(0.5)) g.one(); g.emit({ pfx: [], op: [0x5c] }); }
    else {
      // mov ss, r16 with the user data selector: blocks #DB/interrupts for one instruction
      const t = g.dst();
      g.emit({ pfx: [], op: [0xb8], opreg: t, imm: [0x2b, 0, 0, 0] });
      g.emit({ pfx: [], op: [0x8e], reg: 2, rm: { kind: "reg", n: t } });
    }
  }],
  // ---- flagctl ---------------------------------------------------------
  ["flagctl", 6, (g) => {
    const r = g.r, k = r.int(4);
    if (k === 0) g.emit({ pfx: [], op: [r.pick([0xf8, 0xf9, 0xf5, 0xfc, 0xfd])] });
    else if (k === 1) { g.emit({ pfx: r.chance(0.2) ? [0x66] : [], op: [0x9c] }); }
    else if (k === 2) {
      // push imm32 (flags image without TF) ; popf
      const v = (r.u32() & 0x3f7fd7 & ~0x100) >>> 0;
      g.emit({ pfx: [], op: [0x68], imm: [v & 255, (v >> 8) & 255, (v >> 16) & 255, 0] });
      g.emit({ pfx: r.chance(0.2) ? [0x66] : [], op: [0x9d] });
      if (r.chance(0.2)) g.emit({ pfx: [], op: [0x9d] });   // plus one more from the stack (may be anything with no TF)
    } else {
      // pushf ; pop reg  (the whole RFLAGS image, undefined flags included)
      g.emit({ pfx: [], op: [0x9c] });
      g.emit({ pfx: [], op: [0x58], opreg: g.dst() });
    }
  }],
  ["flagctl", 1, (g) => { g.emit({ pfx: [], op: [g.r.pick([0xfa, 0xfb])] }); }],    // cli/sti: #GP at CPL3
  ["flagctl", 1, (g) => {
    // single-step: popf with TF, then #DB after the next instruction
    const v = 0x100 | (g.r.u32() & 0xcd5);
    g.emit({ pfx: [], op: [0x68], imm: [v & 255, (v >> 8) & 255, 0, 0] });
    g.emit({ pfx: [], op: [0x9d] });
    // not SYSCALL: its single-step trap is taken in the kernel (host-specific)
    g.noSyscall++;
    try { g.one(); } finally { g.noSyscall--; }
  }],
  // ---- misc ------------------------------------------------------------
  ["misc", 3, (g) => {
    const r = g.r, k = r.int(7);
    if (k === 0) g.emit({ pfx: [], op: [0x0f, 0x18 + r.int(8)], reg: r.int(8), rm: rip(g, g.E(false, 0.7)) });   // hint nops
    else if (k === 1) g.emit({ pfx: [], op: [0x0f, 0xae], rm: { kind: "reg", n: 0 }, reg: 5 + r.int(3) });       // fences
    else if (k === 2) g.emit({ pfx: [], op: [0x0f, 0xae], reg: 7, rm: rip(g, g.mem(true)) });                    // clflush
    else if (k === 3) g.emit({ pfx: [], op: [0x0f, 0x0d], reg: r.int(2), rm: rip(g, g.mem(true)) });             // prefetch
    else if (k === 4) g.emit({ pfx: [], op: [0x90] });
    else if (k === 5) g.emit({ pfx: [], op: [0x9b] });
    else g.emit({ pfx: [], op: r.pick([[0xf4], [0x0f, 0x0b], [0x0f, 0xff, 0xc0], [0x0f, 0xb9, 0xc0]]) });           // hlt #GP, ud*
  }],
  ["misc", 1, (g) => {            // encodings that are #UD in 64-bit mode or with LOCK
    const r = g.r;
    g.emit({ pfx: [], op: r.pick([
      [0x06], [0x07], [0x0e], [0x16], [0x17], [0x1e], [0x1f], [0x27], [0x2f], [0x37], [0x3f], [0x60], [0x61],
      [0x82, 0xc0, 0x01], [0xce], [0xd4, 0x0a], [0xd5, 0x0a], [0xd6], [0xea, 0, 0, 0, 0, 0, 0], [0x9a, 0, 0, 0, 0, 0, 0],
      [0xf0, 0x01, 0xc0], [0xf0, 0x89, 0x00], [0xf0, 0x90], [0xf0, 0xf7, 0xd0], [0xf0, 0x0f, 0xc7, 0xc8], [0x8d, 0xc0],
      [0x0f, 0xc7, 0xc8], [0x0f, 0x0b],
    ]) });
  }],
  // ---- io (all #GP at CPL3 with IOPL 0) --------------------------------
  ["io", 1, (g) => {
    const r = g.r;
    const op = r.pick([0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f]);
    g.emit({ pfx: [], op: [op], imm: op < 0xe8 && op >= 0xe4 ? [r.int(256)] : undefined });
  }],
  // ---- intr --------------------------------------------------------------
  ["intr", 2, (g) => {
    const r = g.r, k = r.int(5);
    if (k === 0) g.emit({ pfx: [], op: [0xcc] });
    else if (k === 1) {
      // int n: #GP((n<<3)|2) except 3 (#BP) and 4 (#OF); 0x80 is the host's
      // syscall gate (host-specific) and is not generated
      let n = r.int(256); if (n === 0x80) n = 0x81;
      g.emit({ pfx: [], op: [0xcd], imm: [n] });
    } else if (k === 2) g.emit({ pfx: [], op: [0xce] });     // into: #UD in 64-bit mode
    else if (k === 3) {
      // syscall: reported as vector 255 with RCX/R11 (the number is RAX)
      if (!g.noSyscall) g.emit({ pfx: [], op: [0x0f, 0x05] });
    } else g.emit({ pfx: [], op: r.pick([[0x0f, 0x07], [0x48, 0x0f, 0x07], [0x0f, 0x34], [0x0f, 0x35], [0xcf], [0x48, 0xcf], [0xcb], [0xca, 0, 0]]) });
  }],
  ["intr", 2, (g) => {
    // far transfers within the same 64-bit code segment (0x33) to a forward label
    const r = g.r, k = r.int(5);
    const t = g.dst();
    let u = g.dst();
    if (u === t) u = t === 0 ? 1 : 0;
    if (g.locked.has(u)) return;
    const rexU = u >= 8 ? 0x49 : 0x48;
    const tail: number[] = [];
    const b = g.bases[0], d = r.int(0x40) * 8 - 0x100;
    const bm = (reg: number) => [0x80 | ((reg & 7) << 3) | (b & 7), ...((b & 7) === 4 ? [0x24] : []), d & 255, (d >> 8) & 255, (d >> 16) & 255, (d >> 24) & 255];
    if (k === 0) tail.push(0x6a, 0x33, ...(t >= 8 ? [0x41] : []), 0x50 | (t & 7), 0x48, 0xcb);             // push 0x33; push t; retfq
    else if (k === 1) {                                                                                   // iretq to t with rsp = u
      tail.push(rexU, 0x89, 0xe0 | (u & 7));                                                              // mov u, rsp
      tail.push(0x6a, 0x2b, ...(u >= 8 ? [0x41] : []), 0x50 | (u & 7), 0x9c, 0x6a, 0x33, ...(t >= 8 ? [0x41] : []), 0x50 | (t & 7), 0x48, 0xcf);
    } else {                                                                                              // jmp/call far [mem] (m16:64 or m16:32)
      const w = r.chance(0.5);
      tail.push(0x48 | (b >= 8 ? 1 : 0) | (t >= 8 ? 4 : 0), 0x89, ...bm(t));                             // mov [b+d], t
      const d2 = w ? d + 8 : d + 4;
      tail.push(0x66, ...(b >= 8 ? [0x41] : []), 0xc7, 0x80 | (b & 7), ...((b & 7) === 4 ? [0x24] : []), d2 & 255, (d2 >> 8) & 255, (d2 >> 16) & 255, (d2 >> 24) & 255, 0x33, 0x00);
      tail.push((w ? 0x48 : 0x40) | (b >= 8 ? 1 : 0), 0xff, ...bm(k === 2 ? 5 : 3));
    }
    const body = g.sub(() => { if (r.chance(0.5)) g.one(); });
    const x = tail.length + body.length;
    g.code.push(0x48 | (t >= 8 ? 4 : 0), 0x8d, 0x05 | ((t & 7) << 3), x & 255, (x >> 8) & 255, 0, 0, ...tail, ...body);
  }],
  // ---- system ------------------------------------------------------------
  ["system", 2, (g) => {
    const r = g.r, k = r.int(6);
    if (k === 0) g.emit({ pfx: [], op: [0x0f, r.pick([0x20, 0x22, 0x21, 0x23])], reg: r.pick([0, 2, 3, 4, 0, 7]), rm: { kind: "reg", n: g.dst() } });  // #GP at CPL3
    else if (k === 1) {            // mov r/m, sreg (reads)
      const e: Enc = { pfx: [], op: [0x8c], reg: r.int(6) };
      if (r.chance(0.5)) g.vsize(e);
      e.rm = rip(g, g.E(true, 0.3));
      g.emit(e);
    } else if (k === 2) {          // mov ds/es/fs/gs, r/m16 with a null or user-data selector
      const s = r.pick([0, 3, 4, 5]);
      const t = g.dst();
      const sel = r.pick([0, 0x2b, 0x2b, 3, 0x2b]);
      g.emit({ pfx: [], op: [0xb8], opreg: t, imm: [sel, 0, 0, 0] });
      g.emit({ pfx: [], op: [0x8e], reg: s, rm: { kind: "reg", n: t } });
    } else if (k === 3) {          // push/pop fs/gs
      g.emit({ pfx: [], op: [0x0f, r.pick([0xa0, 0xa8])] });
      if (r.chance(0.7)) g.emit({ pfx: [], op: [0x0f, r.pick([0xa1, 0xa9])] });
    } else if (k === 4) {
      if (r.chance(0.3)) { g.emit({ pfx: [], op: [0x0f, 0x01, 0xf8] }); return; }   // swapgs: #GP at CPL3
      // rd/wr fs/gs base (CR4.FSGSBASE is set for user space); a written base
      // stays small so fs:/gs: operands still land in DATA or fault cleanly
      const t = g.dst();
      if (r.chance(0.5)) {
        g.emit({ pfx: [0xf3], op: [0x0f, 0xae], reg: r.int(2), rm: { kind: "reg", n: t }, rexW: r.chance(0.7) });
      } else {
        g.emit({ pfx: [], op: [0xb8], opreg: t, imm: [r.pick([0, 0x10, 0x80, 0x100]), 0, 0, 0] });
        g.emit({ pfx: [0xf3], op: [0x0f, 0xae], reg: 2 + r.int(2), rm: { kind: "reg", n: t }, rexW: r.chance(0.7) });
      }
    }
    else g.emit({ pfx: [], op: r.pick([[0x0f, 0x06], [0x0f, 0x08], [0x0f, 0x09], [0x0f, 0x30], [0x0f, 0x32], [0x0f, 0x00, 0xd0], [0x0f, 0x00, 0xd8], [0x0f, 0x01, 0x38]]) });  // privileged: #GP
  }],
];

// ---- vec: SSE/AVX rows of test/helpers/vecenc.ts VSPECS -----------------------
const VIMMS = [0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, 0x1b, 0x4e, 0x80, 0xff];
const ALLV: VSpec[] = [...VSPECS, ...FSPECS.map((f) => ({ ...f, name: f.name + (f.noV ? " fp-noV" : " fp") }))];
const needsVX = (sp: VSpec) => / fp-noV$/.test(sp.name) ? false : / fp$/.test(sp.name) ? true : needsV(sp);
EMITTERS.push(["vec", 14, (g) => {
  const r = g.r, sp = r.pick(ALLV);
  const vexW = (sp as { vexW?: number }).vexW;   // FMA3/F16C: VEX only, W fixed by the row
  const useVex = vexW !== undefined || r.chance(0.35);
  const isMem = sp.regOnly ? r.chance(0.03) : sp.memOnly ? r.chance(0.97) : r.chance(0.35);
  const e: Enc = { pfx: [], op: [] };
  if (useVex) {
    e.op = [sp.op];
    const v = needsVX(sp) || sp.ext !== undefined;
    e.vex = { map: sp.map, pp: sp.pp, L: r.int(2), W: vexW ?? (r.chance(0.3) ? 1 : 0), vvvv: v || r.chance(0.03) ? r.int(16) : 0 };
    if (sp.gpr && writesGpr(sp) && e.vex.vvvv !== 0 && !v) e.vex.vvvv = 0;
  } else {
    if (sp.pp) e.pfx.push([0, 0x66, 0xf3, 0xf2][sp.pp]);
    e.op = sp.map === 1 ? [0x0f, sp.op] : [0x0f, sp.map === 2 ? 0x38 : 0x3a, sp.op];
    e.rexW = r.chance(0.2);
  }
  const gdst = sp.gpr && writesGpr(sp);
  e.reg = sp.ext ?? (sp.gpr === "reg" ? (gdst ? g.dst() : g.src()) : r.int(16));
  if (isMem) {
    const store = isStore(sp);
    if (r.chance(0.8)) {
      // [base + disp] at a 16-byte aligned address inside the window
      const b = r.pick(g.bases), bv = Number(g.gpr[b] - DATA_BASE);
      const t = (WIN_LO + r.int(WIN_HI - WIN_LO - 64)) & ~15;
      e.rm = { kind: "mem", mod: 2, rm: (b & 7) === 4 ? 4 : b & 7, sib: (b & 7) === 4 ? 0x24 : undefined, disp: t - bv, dispSize: 4, rexX: 0, rexB: b >> 3, a32: false };
    } else e.rm = rip(g, g.mem(!store, sp.msize ?? 16));
  } else {
    e.rm = { kind: "reg", n: sp.gpr === "rm" ? (gdst ? g.dst() : g.src()) : r.int(16) };
  }
  if (sp.imm) e.imm = [r.chance(0.5) ? r.pick(VIMMS) : r.int(256)];
  if (/ fp/.test(sp.name) && r.chance(0.3)) {
    // reload MXCSR first: a fresh rounding mode / DAZ / FTZ / masks per FP instruction
    g.emit({ pfx: [], op: [0x0f, 0xae], reg: 2, rm: absData(0xbe0 + r.int(4) * 4) });
  }
  g.emit(e);
}]);

/** Memory operands inside forward-branch bodies may not be RIP-relative. */
function rip(g: SeqGen, m: RM): RM {
  if (m.kind === "mem" && m.ripTarget !== undefined && g.ripBlocked) return noRip(g, m);
  return m;
}
function noRip(g: SeqGen, m: Mem): Mem {
  if (m.ripTarget === undefined || !g.ripBlocked) return m;
  // replace by an absolute [disp32] into DATA
  return { kind: "mem", mod: 0, rm: 4, sib: (4 << 3) | 5, disp: Number(DATA_BASE) + WIN_LO, dispSize: 4, rexX: 0, rexB: 0, a32: m.a32 };
}

// ---- bmi: BMI1/BMI2 VEX GPR instructions (cpu/gen/opcodes/bmi.ts) ----------
// [map, pp, opcode, ModRM.reg or -1 (/r), operands: G B E | B E | G E Ib]
const BMI: [number, number, number, number, "GBE" | "GEB" | "BE" | "GEI"][] = [
  [2, 0, 0xf2, -1, "GBE"], [2, 0, 0xf3, 1, "BE"], [2, 0, 0xf3, 2, "BE"], [2, 0, 0xf3, 3, "BE"],
  [2, 0, 0xf5, -1, "GEB"], [2, 2, 0xf5, -1, "GBE"], [2, 3, 0xf5, -1, "GBE"], [2, 3, 0xf6, -1, "GBE"],
  [2, 0, 0xf7, -1, "GEB"], [2, 1, 0xf7, -1, "GEB"], [2, 3, 0xf7, -1, "GEB"], [2, 2, 0xf7, -1, "GEB"],
  [3, 3, 0xf0, -1, "GEI"],
];
EMITTERS.push(["bmi", 8, (g) => {
  const r = g.r;
  const [map, pp, op, ext, kind] = r.pick(BMI);
  // B is written by BLS* and MULX (low half); a read-only B may be any register
  const bWritten = kind === "BE" || op === 0xf6;
  const vvvv = kind === "GEI" ? (r.chance(0.02) ? r.int(16) : 0) : bWritten ? g.dst() : g.src();
  const e: Enc = {
    pfx: [], op: [op], reg: ext >= 0 ? ext : g.dst(),
    vex: { map, pp: r.chance(0.02) ? r.int(4) : pp, L: r.chance(0.02) ? 1 : 0, W: r.int(2), vvvv },
  };
  if (ext >= 0 && r.chance(0.02)) e.reg = r.int(8);
  e.rm = rip(g, g.E(false, 0.35));
  if (kind === "GEI") e.imm = [r.chance(0.3) ? r.pick([0, 1, 31, 32, 63, 64, 255]) : r.int(256)];
  g.emit(e);
}]);
