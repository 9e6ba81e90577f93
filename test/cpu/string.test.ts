// String instructions (MOVS CMPS STOS LODS SCAS) with and without REP:
// unit tests on the emulator, and a differential run against the host CPU
// (test/native) over sizes, address sizes, DF, counts, REPE/REPNE
// termination, overlaps and faults in the middle of a REP.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import {
  runNative, nativeAvailable, CODE_BASE, DATA_BASE, DATA_SIZE, DEFAULT_RSP, GPR_NAMES,
  type NativeCase, type NativeResult,
} from "../native/native";

const emu = new EmuRunner();
const DATA_END = DATA_BASE + BigInt(DATA_SIZE);
const CF = 1n, ZF = 0x40n, DF = 0x400n;

type Regs = Partial<Record<"rax" | "rcx" | "rsi" | "rdi", bigint>>;
function gprs(set: Regs): bigint[] {
  const g = Array.from({ length: 16 }, (_, i) => (i === 4 ? DEFAULT_RSP : 0n));
  for (const [k, v] of Object.entries(set)) g[GPR_NAMES.indexOf(k as never)] = v as bigint;
  return g;
}
const bytes = (...b: number[]) => Uint8Array.from(b);
const h = (v: bigint) => "0x" + v.toString(16);

// opcode byte of the byte form, + 1 for the other sizes
const OPS = { movs: 0xa4, cmps: 0xa6, stos: 0xaa, lods: 0xac, scas: 0xae } as const;
type Op = keyof typeof OPS;
type Size = 1 | 2 | 4 | 8;
function enc(op: Op, size: Size, rep: "" | "rep" | "repne", a32 = false, extra: number[] = []): number[] {
  const p: number[] = [...extra];
  if (a32) p.push(0x67);
  if (size === 2) p.push(0x66);
  if (rep === "rep") p.push(0xf3);
  if (rep === "repne") p.push(0xf2);
  if (size === 8) p.push(0x48);
  p.push(OPS[op] + (size === 1 ? 0 : 1));
  return p;
}

// ---- unit tests (emulator only) ----
test("rep movsb copies, advances rSI/rDI, leaves RCX 0 and RIP after it", () => {
  const r = emu.run({
    code: bytes(0xf3, 0xa4), gpr: gprs({ rsi: DATA_BASE, rdi: DATA_BASE + 0x1000n, rcx: 100n }),
    dataSeed: 7n, dumpData: true,
  });
  assert.is(r.status, "ok");
  assert.is(r.gpr[1], 0n);
  assert.is(r.gpr[6], DATA_BASE + 100n);
  assert.is(r.gpr[7], DATA_BASE + 0x1064n);
  for (let i = 0; i < 100; i++) assert.is(r.data![0x1000 + i], r.data![i]);
  assert.is(r.rip, CODE_BASE + 2n);
});

test("rep with rCX = 0 does nothing, not even a fault on a bad address", () => {
  const r = emu.run({ code: bytes(0xf3, 0x48, 0xa5), gpr: gprs({ rsi: 0x5000_0000n, rdi: 0x6000_0000n, rcx: 0n }) });
  assert.is(r.status, "ok");
  assert.is(r.gpr[6], 0x5000_0000n);
  assert.is(r.gpr[7], 0x6000_0000n);
});

test("rep stosb into an unmapped page faults with the progress in rDI/rCX and RIP at the instruction", () => {
  const r = emu.run({ code: bytes(0x90, 0xf3, 0xaa), gpr: gprs({ rax: 0x5an, rdi: DATA_END - 10n, rcx: 30n }) });
  assert.is(r.status, "fault");
  assert.is(r.vector, 14);
  assert.is(r.cr2, DATA_END);
  assert.is(r.errorCode, 6n);
  assert.is(r.rip, CODE_BASE + 1n);
  assert.is(r.gpr[7], DATA_END);
  assert.is(r.gpr[1], 20n);
});

test("overlapping forward movsb replicates the pattern (element order, not memmove)", () => {
  const r = emu.run({
    code: bytes(0xf3, 0xa4), gpr: gprs({ rsi: DATA_BASE, rdi: DATA_BASE + 1n, rcx: 200n }),
    patches: [{ addr: DATA_BASE, bytes: bytes(0x77) }], dumpData: true,
  });
  for (let i = 0; i <= 200; i++) assert.is(r.data![i], 0x77, `byte ${i}`);
});

test("a long rep stos runs in chunks and completes (RIP advances once)", () => {
  const r = emu.run({ code: bytes(0xf3, 0xaa), gpr: gprs({ rax: 0xabn, rdi: DATA_BASE, rcx: 60000n }), dumpData: true });
  assert.is(r.status, "ok");
  assert.is(r.gpr[1], 0n);
  assert.is(r.gpr[7], DATA_BASE + 60000n);
  assert.ok(r.data!.subarray(0, 60000).every((b) => b === 0xab));
  assert.is(r.data![60000], 0);
});

test("repne scasb stops at the match with ZF=1 (strlen idiom)", () => {
  const r = emu.run({
    code: bytes(0xf2, 0xae), gpr: gprs({ rax: 0n, rdi: DATA_BASE, rcx: 0xffffffffffffffffn }), dataSeed: 0n,
    patches: [{ addr: DATA_BASE, bytes: new TextEncoder().encode("hello world") }],
  });
  assert.is(r.gpr[7], DATA_BASE + 12n);
  assert.is(r.gpr[1], 0xffffffffffffffffn - 12n);
  assert.is(r.rflags & ZF, ZF);
});

test("repe cmpsb stops at the first difference with its flags", () => {
  const a = new TextEncoder().encode("abcdefgh"), b = new TextEncoder().encode("abcdeXgh");
  const r = emu.run({
    code: bytes(0xf3, 0xa6), gpr: gprs({ rsi: DATA_BASE, rdi: DATA_BASE + 0x100n, rcx: 8n }),
    patches: [{ addr: DATA_BASE, bytes: a }, { addr: DATA_BASE + 0x100n, bytes: b }],
  });
  assert.is(r.gpr[1], 2n);
  assert.is(r.gpr[6], DATA_BASE + 6n);
  assert.is(r.rflags & (ZF | CF), 0n);   // 'f' > 'X'
});

test("SMC: rep movsb over the following code runs the new bytes", () => {
  // make the CODE page writable for this test (natively it is r-x)
  const e = emu as unknown as { ram: number; cpu: { view: DataView } };
  const pte = e.ram + 0x13000 + ((Number(CODE_BASE) >> 12) & 511) * 8;
  const old = e.cpu.view.getBigUint64(pte, true);
  e.cpu.view.setBigUint64(pte, old | 2n, true);
  try {
    // rep movsb copies `inc eax` (FF C0) over the two NOPs after it
    const code = bytes(0xf3, 0xa4, 0x90, 0x90);
    const r = emu.run({
      code, gpr: gprs({ rsi: DATA_BASE, rdi: CODE_BASE + 2n, rcx: 2n }),
      patches: [{ addr: DATA_BASE, bytes: bytes(0xff, 0xc0) }],
    });
    assert.is(r.status, "ok");
    assert.is(r.gpr[0], 1n);
  } finally {
    e.cpu.view.setBigUint64(pte, old, true);
  }
});

test("MMIO: rep stosb exits once per element, restartable; rep lodsb takes the VMM's data", () => {
  // map the last DATA page to guest-physical 0x1000_0000, outside RAM
  const e = emu as unknown as { ram: number; cpu: any };
  const cpu = e.cpu, L = cpu.L;
  const lin = DATA_END - 0x1000n;
  const pte = e.ram + 0x14000 + Number((lin >> 12n) & 511n) * 8;
  const old = cpu.view.getBigUint64(pte, true);
  cpu.view.setBigUint64(pte, 0x1000_0000n | 7n, true);
  try {
    // nop; rep stosb
    const r = emu.run({ code: bytes(0x90, 0xf3, 0xaa), gpr: gprs({ rax: 0x5an, rdi: lin + 0x10n, rcx: 3n }) });
    assert.is(r.status, "lost");             // an MMIO exit, not a guest-visible event
    const rb = cpu.runBlock as Uint8Array, dv = new DataView(rb.buffer, rb.byteOffset);
    const mmio = () => ({ pa: dv.getBigUint64(L.R_MMIO_PHYS, true), data: dv.getBigUint64(L.R_MMIO_DATA, true), write: rb[L.R_MMIO_WRITE] });
    assert.equal(mmio(), { pa: 0x1000_0010n, data: 0x5an, write: 1 });
    assert.is(cpu.gpr(7), lin + 0x11n);
    assert.is(cpu.gpr(1), 2n);
    assert.is(cpu.rip, CODE_BASE + 1n);      // still at the REP
    assert.is(cpu.run(1000), L.EXIT_MMIO);
    assert.equal(mmio(), { pa: 0x1000_0011n, data: 0x5an, write: 1 });
    assert.is(cpu.run(1000), L.EXIT_MMIO);
    assert.equal(mmio(), { pa: 0x1000_0012n, data: 0x5an, write: 1 });
    assert.is(cpu.gpr(1), 0n);
    assert.is(cpu.rip, CODE_BASE + 3n);      // completed

    // rep lodsb: each element is a read exit; the answer completes it on the next run
    emu.run({ code: bytes(0xf3, 0xac), gpr: gprs({ rsi: lin + 0x20n, rcx: 2n }) });
    assert.equal(mmio(), { pa: 0x1000_0020n, data: 0n, write: 0 });
    assert.is(cpu.gpr(1), 2n);
    cpu.ex.mmio_data(0x1000_0020, 0x11, 0);
    assert.is(cpu.run(1000), L.EXIT_MMIO);
    assert.equal(mmio(), { pa: 0x1000_0021n, data: 0n, write: 0 });
    assert.is(cpu.gpr(0) & 0xffn, 0x11n);
    assert.is(cpu.gpr(1), 1n);
    cpu.ex.mmio_data(0x1000_0021, 0x22, 0);
    cpu.run(1000);
    assert.is(cpu.gpr(0) & 0xffn, 0x22n);
    assert.is(cpu.gpr(1), 0n);
    assert.is(cpu.gpr(6), lin + 0x22n);
  } finally {
    cpu.view.setBigUint64(pte, old, true);
    cpu.ex.flush_tlb();
  }
});

test("16-bit addressing in a legacy segment: offsets wrap at 64 KiB, the limit faults mid-REP with exact progress", () => {
  // GDT entry 4 (selector 0x23) becomes a DPL3 data segment based at DATA_BASE
  const e = emu as unknown as { ram: number; cpu: any };
  const cpu = e.cpu;
  const gdt4 = e.ram + 0x18000 + 0x20;
  const old = cpu.view.getBigUint64(gdt4, true);
  const seg = (limit: bigint) => 0x2040f300_00000000n | limit;
  const body = (insn: number[], df = false) => [0x6a, 0x23, 0x1f, 0x6a, 0x23, 0x07, ...(df ? [0xfd] : []), ...insn];   // ds = es = 0x23
  const run = (insn: number[], g: Regs, df = false, patches: NativeCase["patches"] = []) =>
    emu.run({ ...forEmu({ code: COMPAT(body(insn, df)), gpr: gprs(g), patches, compat: true } as NativeCase), dumpData: true });
  const seq = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  try {
    cpu.view.setBigUint64(gdt4, seg(0xffffn), true);
    // a16 rep movsb from 0xFFF8 for 16 bytes: the source wraps to offset 0
    let r = run([0x67, 0xf3, 0xa4], { rsi: 0xabcd_0000_fff8n, rdi: 0x8000n, rcx: 0x10n }, false,
      [{ addr: DATA_BASE + 0xfff8n, bytes: seq.subarray(0, 8) }, { addr: DATA_BASE, bytes: seq.subarray(8) }]);
    assert.is(r.status, "ok");
    assert.equal(Array.from(r.data!.subarray(0x8000, 0x8010)), Array.from(seq));
    assert.is(r.gpr[6], 0xabcd_0000_0008n);   // SI wrapped; the bits above 15 are untouched
    assert.is(r.gpr[7], 0x8010n);
    assert.is(r.gpr[1], 0n);
    // DF=1 from offset 3: 3 2 1 0 FFFF FFFE ...
    r = run([0x67, 0xf3, 0xaa], { rax: 0x77n, rdi: 0x0003n, rcx: 0x8n }, true);
    assert.is(r.gpr[7], 0xfffbn);
    assert.ok([0, 1, 2, 3, 0xfffc, 0xfffd, 0xfffe, 0xffff].every((o) => r.data![o] === 0x77));
    assert.is(r.data![0xfffb], 0);

    cpu.view.setBigUint64(gdt4, seg(0x7fffn), true);
    // the 9th byte is beyond the limit: #GP(0) with SI/DI/CX after 8 elements, RIP at the REP
    r = run([0x67, 0xf3, 0xa4], { rsi: 0x7ff8n, rdi: 0x100n, rcx: 0x10n });
    assert.is(r.status, "fault");
    assert.is(r.vector, 13);
    assert.is(r.errorCode, 0n);
    assert.is(r.rip, CODE_BASE + 9n + 6n);
    assert.is(r.gpr[6], 0x8000n);
    assert.is(r.gpr[7], 0x108n);
    assert.is(r.gpr[1], 8n);
    // a dword straddling the limit faults before anything moves
    r = run([0x67, 0xf3, 0xa5], { rsi: 0x7ffen, rdi: 0x100n, rcx: 0x4n });
    assert.is(r.vector, 13);
    assert.is(r.gpr[6], 0x7ffen);
    assert.is(r.gpr[1], 4n);
  } finally {
    cpu.view.setBigUint64(gdt4, old, true);
  }
});

// ---- differential against the host CPU ----
// Far-return into 32-bit code (selector byte patched per side: Linux __USER32_CS
// 0x23 natively, 0x1b in test/helpers/emu.ts's GDT), run `body`, return to 64-bit.
const SEL_AT = 1;
function COMPAT(body: number[]): Uint8Array {
  const le = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
  const a1 = Number(CODE_BASE) + 9, a2 = a1 + body.length + 8;
  return Uint8Array.from([0x6a, 0x23, 0x68, ...le(a1), 0x48, 0xcb, ...body, 0x6a, 0x33, 0x68, ...le(a2), 0xcb]);
}
function forEmu(c: NativeCase): NativeCase {
  if (!(c as { compat?: boolean }).compat) return c;
  const code = c.code.slice(); code[SEL_AT] = 0x1b;
  return { ...c, code };
}
interface Named { name: string; c: NativeCase }
function cases(): Named[] {
  const out: Named[] = [];
  const sizes: Size[] = [1, 2, 4, 8];
  const add = (name: string, c: NativeCase) => out.push({ name, c });
  const mid = DATA_BASE + 0x8000n;
  for (const op of Object.keys(OPS) as Op[]) {
    for (const size of sizes) {
      for (const down of [false, true]) {
        for (const rep of ["", "rep", "repne"] as const) {
          for (const a32 of [false, true]) {
            const counts = rep === "" ? [1n] : [0n, 1n, 7n, 300n, 3000n];
            for (const count of counts) {
              const s = BigInt(size);
              // source at mid, destination 0x2000 above or below; 3000 elements of 8 bytes still fit
              const rsi = down ? mid + 0x6000n : mid - 0x7000n;
              const rdi = down ? rsi - 0x10n * s : rsi + 0x5000n;
              const hi = a32 ? 0xdead_0000_0000_0000n : 0n;   // ignored with a 32-bit address size
              const g = gprs({ rax: 0x1122334455667788n, rcx: count | (a32 ? 0x7_0000_0000n : 0n), rsi: rsi | hi, rdi: rdi | hi });
              if (a32 && count !== 0n) g[1] = count;   // an ECX of `count` with upper bits would be a different count natively
              add(`${rep} ${op}${size} ${down ? "down" : "up"} a${a32 ? 32 : 64} n=${count}`, {
                code: Uint8Array.from([...(down ? [0xfd] : []), ...enc(op, size, rep, a32)]),
                gpr: g, rflags: 0x8d5n, dataSeed: 0x1234n,
              });
            }
          }
        }
      }
    }
  }
  // REPE/REPNE termination on prepared data: equal runs with one difference
  const run = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) & 0xff);
  const diff = run.slice(); diff[333] ^= 0x40;
  for (const size of sizes) for (const down of [false, true]) for (const rep of ["rep", "repne"] as const) {
    const base = down ? 504n : 0n;
    add(`${rep} cmps${size} prepared ${down ? "down" : "up"}`, {
      code: Uint8Array.from([...(down ? [0xfd] : []), ...enc("cmps", size, rep)]),
      gpr: gprs({ rcx: 500n / BigInt(size), rsi: DATA_BASE + base, rdi: DATA_BASE + 0x1000n + base }),
      dataSeed: 0n, patches: [{ addr: DATA_BASE, bytes: run }, { addr: DATA_BASE + 0x1000n, bytes: diff }],
    });
    // SCAS for a value that first occurs in the middle (REPNE) or a run of equal values (REPE)
    const fill = new Uint8Array(512).fill(0x33); fill[200] = 0x44;
    add(`${rep} scas${size} prepared ${down ? "down" : "up"}`, {
      code: Uint8Array.from([...(down ? [0xfd] : []), ...enc("scas", size, rep)]),
      gpr: gprs({ rax: rep === "rep" ? 0x3333333333333333n : 0x4444444444444444n, rcx: 500n / BigInt(size), rdi: DATA_BASE + base }),
      dataSeed: 0n, patches: [{ addr: DATA_BASE, bytes: fill }],
    });
  }
  // overlapping MOVS at small distances, both directions
  for (const size of sizes) for (const dist of [-9n, -3n, -1n, 1n, 3n, 8n, 9n]) for (const down of [false, true]) {
    add(`rep movs${size} overlap ${dist} ${down ? "down" : "up"}`, {
      code: Uint8Array.from([...(down ? [0xfd] : []), ...enc("movs", size, "rep")]),
      gpr: gprs({ rcx: 700n, rsi: DATA_BASE + 0x4000n, rdi: DATA_BASE + 0x4000n + dist }), dataSeed: 99n,
    });
  }
  // faults in the middle: destination or source runs off DATA (up) or below it (down),
  // aligned and with an element straddling the boundary
  for (const op of ["movs", "stos", "lods", "cmps", "scas"] as Op[]) for (const size of sizes) for (const skew of [0n, 1n]) {
    const s = BigInt(size);
    add(`rep ${op}${size} runs off the end skew ${skew}`, {
      code: Uint8Array.from(enc(op, size, "rep")),
      gpr: gprs({ rax: 0x4141414141414141n, rcx: 1000n, rsi: DATA_END - 37n * s - skew, rdi: DATA_END - 37n * s - skew }),
      dataSeed: 0n,
    });
    add(`rep ${op}${size} runs off the start (DF=1) skew ${skew}`, {
      code: Uint8Array.from([0xfd, ...enc(op, size, "rep")]),
      gpr: gprs({ rax: 0x4141414141414141n, rcx: 1000n, rsi: DATA_BASE + 37n * s + skew, rdi: DATA_BASE + 37n * s + skew }),
      dataSeed: 0n,
    });
  }
  // MOVS from DATA into read-only CODE: #PF with W=1 P=1; source runs off while destination is fine
  add("rep movsb into code", { code: Uint8Array.from(enc("movs", 1, "rep")), gpr: gprs({ rcx: 10n, rsi: DATA_BASE, rdi: CODE_BASE + 0x100n }) });
  add("rep movsq source off the end", { code: Uint8Array.from(enc("movs", 8, "rep")), gpr: gprs({ rcx: 10n, rsi: DATA_END - 24n, rdi: DATA_BASE }), dataSeed: 3n });
  add("movsd from code", { code: Uint8Array.from(enc("movs", 4, "rep")), gpr: gprs({ rcx: 3n, rsi: CODE_BASE, rdi: DATA_BASE }) });
  // segment overrides on the source (FS/GS bases are 0 in both environments; ES/CS/SS/DS are ignored)
  for (const pfx of [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65]) {
    add(`rep movsb with prefix ${pfx.toString(16)}`, { code: Uint8Array.from(enc("movs", 1, "rep", false, [pfx])), gpr: gprs({ rcx: 20n, rsi: DATA_BASE, rdi: DATA_BASE + 0x100n }), dataSeed: 5n });
    add(`lodsd with prefix ${pfx.toString(16)}`, { code: Uint8Array.from(enc("lods", 4, "", false, [pfx])), gpr: gprs({ rsi: DATA_BASE + 8n }), dataSeed: 5n });
  }
  // 32-bit address size: offsets wrap at 4 GiB, counters are ECX; RCX=0 with upper bits set
  add("a32 rep stosb with RCX upper bits and ECX=0", { code: Uint8Array.from(enc("stos", 1, "rep", true)), gpr: gprs({ rcx: 0x5_0000_0000n, rdi: DATA_BASE }) });
  add("a32 rep stosb with RCX upper bits and ECX=3", { code: Uint8Array.from(enc("stos", 1, "rep", true)), gpr: gprs({ rcx: 0x5_0000_0003n, rdi: DATA_BASE | 0x7_0000_0000n }) });
  add("a32 lodsb with RSI upper bits", { code: Uint8Array.from(enc("lods", 1, "", true)), gpr: gprs({ rsi: DATA_BASE | 0xffff_0000_0000n }), dataSeed: 5n });
  add("a64 rep movsb with RCX upper bits", { code: Uint8Array.from(enc("movs", 1, "rep")), gpr: gprs({ rcx: 0x1_0000_0000n, rsi: DATA_BASE, rdi: DATA_BASE + 0x100n }), dataSeed: 5n });
  // TF via POPF: the single-step trap comes after the first iteration, RIP at the REP
  const popfTF = [0x9c, 0x48, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9d];
  add("TF after one rep movsb iteration", { code: Uint8Array.from([...popfTF, ...enc("movs", 1, "rep")]), gpr: gprs({ rcx: 5n, rsi: DATA_BASE, rdi: DATA_BASE + 0x100n }), dataSeed: 5n });
  add("TF after one repe cmpsw iteration", { code: Uint8Array.from([...popfTF, ...enc("cmps", 2, "rep")]), gpr: gprs({ rcx: 5n, rsi: DATA_BASE, rdi: DATA_BASE + 0x100n }) });
  // compatibility mode (32-bit code segment): legacy segmentation on every access.
  // DS/ES are null after the switch (#GP on use) until loaded with the flat user
  // data selector 0x2b; FS is null, so an FS override is #GP too.
  const loadDsEs = [0x6a, 0x2b, 0x1f, 0x6a, 0x2b, 0x07];   // push 0x2b; pop ds; push 0x2b; pop es
  for (const op of Object.keys(OPS) as Op[]) for (const size of [1, 2, 4] as Size[]) for (const down of [false, true]) {
    for (const count of [1n, 9n, 2000n]) {
      const body = [...loadDsEs, ...(down ? [0xfd] : []), ...enc(op, size, "rep")];
      const rsi = DATA_BASE + (down ? 0xf000n : 0x1000n), rdi = DATA_BASE + (down ? 0x8000n : 0x3000n);
      add(`compat rep ${op}${size} ${down ? "down" : "up"} n=${count}`, { code: COMPAT(body), gpr: gprs({ rax: 0x11223344n, rcx: count, rsi, rdi }), dataSeed: 21n, compat: true } as NativeCase);
    }
    add(`compat ${op}${size} with null DS/ES`, { code: COMPAT(enc(op, size, "")), gpr: gprs({ rsi: DATA_BASE, rdi: DATA_BASE }), compat: true } as NativeCase);
    add(`compat rep ${op}${size} runs off DATA`, { code: COMPAT([...loadDsEs, ...enc(op, size, "rep")]), gpr: gprs({ rcx: 100n, rsi: DATA_END - 50n, rdi: DATA_END - 50n }), compat: true } as NativeCase);
  }
  add("compat movsb with fs override (null FS)", { code: COMPAT([...loadDsEs, 0x64, 0xa4]), gpr: gprs({ rsi: DATA_BASE, rdi: DATA_BASE + 8n }), compat: true } as NativeCase);
  // random combinations (fixed seed): prefixes in random order, addresses anywhere in
  // DATA (some running off either end), counts 0..600, both DF values
  let seed = 0x2545f491;
  const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  const opsList = Object.keys(OPS) as Op[];
  for (let i = 0; i < 600; i++) {
    const op = opsList[rnd(5)], size = ([1, 2, 4, 8] as Size[])[rnd(4)], rep = (["", "rep", "repne"] as const)[rnd(3)];
    const pfx: number[] = [];
    if (rnd(2)) pfx.push(0x67);
    if (size === 2) pfx.push(0x66);
    if (rep === "rep") pfx.push(0xf3); else if (rep === "repne") pfx.push(0xf2);
    if (rnd(4) === 0) pfx.push([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65][rnd(6)]);
    for (let j = pfx.length - 1; j > 0; j--) { const k = rnd(j + 1); [pfx[j], pfx[k]] = [pfx[k], pfx[j]]; }
    const code = [...(rnd(2) ? [0xfd] : []), ...pfx, ...(size === 8 ? [0x48] : []), OPS[op] + (size === 1 ? 0 : 1)];
    const at = () => DATA_BASE + BigInt(rnd(DATA_SIZE + 64)) - 32n;
    add(`random ${i}: ${code.map((b) => b.toString(16)).join(" ")}`, {
      code: Uint8Array.from(code),
      gpr: gprs({ rax: BigInt(rnd(1 << 30)) * 0x100000007n, rcx: BigInt(rnd(600)), rsi: at(), rdi: at() }),
      rflags: BigInt(rnd(0x1000)) & 0x8d5n, dataSeed: BigInt(1 + rnd(3)),
    });
  }
  // a loop of plain string instructions in one block
  add("lodsb/stosb loop", {
    code: bytes(0xac, 0x34, 0x5a, 0xaa, 0xe2, 0xfa),   // lodsb; xor al,0x5a; stosb; loop
    gpr: gprs({ rcx: 50n, rsi: DATA_BASE, rdi: DATA_BASE + 0x200n }), dataSeed: 11n,
  });
  return out;
}

function compare(name: string, n: NativeResult, e: NativeResult): string[] {
  const bad: string[] = [];
  if (n.status !== e.status) bad.push(`status native ${n.status} emu ${e.status}`);
  if (n.vector !== e.vector) bad.push(`vector native ${n.vector} emu ${e.vector}`);
  if (n.status === "fault" && n.errorCode !== e.errorCode) bad.push(`error code native ${h(n.errorCode)} emu ${h(e.errorCode)}`);
  if (n.vector === 14 && n.cr2 !== e.cr2) bad.push(`cr2 native ${h(n.cr2)} emu ${h(e.cr2)}`);
  if (n.rip !== e.rip) bad.push(`rip native ${h(n.rip)} emu ${h(e.rip)}`);
  for (let i = 0; i < 16; i++) if (n.gpr[i] !== e.gpr[i]) bad.push(`${GPR_NAMES[i]} native ${h(n.gpr[i])} emu ${h(e.gpr[i])}`);
  if ((n.rflags & 0xcd5n) !== (e.rflags & 0xcd5n)) bad.push(`rflags native ${h(n.rflags & 0xcd5n)} emu ${h(e.rflags & 0xcd5n)}`);
  if (n.memHash !== e.memHash) bad.push("memHash differs");
  return bad.map((b) => `${name}: ${b}`);
}

const avail = nativeAvailable();
if (!avail.ok) {
  console.log(`SKIP string differential: ${avail.reason}`);
} else {
  test("differential: string instructions match the host CPU", () => {
    const all = cases();
    const nat = runNative(all.map((x) => x.c));
    const bad: string[] = [];
    all.forEach((x, i) => {
      const e = emu.run(forEmu(x.c), 1_000_000);
      let d = compare(x.name, nat[i], e);
      // a fault in compatibility mode makes Linux build a 32-bit signal frame on
      // the user stack natively: compare DATA alone there
      const compatFault = (x.c as { compat?: boolean }).compat && nat[i].status === "fault";
      if (compatFault) d = d.filter((s) => !s.endsWith("memHash differs"));
      if (compatFault || d.some((s) => s.endsWith("memHash differs"))) {
        // find the first differing byte
        const nd = runNative([{ ...x.c, dumpData: true }])[0].data!;
        const ed = emu.run({ ...forEmu(x.c), dumpData: true }, 1_000_000).data!;
        const at = nd.findIndex((b, j) => b !== ed[j]);
        if (at >= 0) d.push(`${x.name}: DATA+0x${at.toString(16)} native 0x${nd[at].toString(16)} emu 0x${ed[at].toString(16)}`);
      }
      bad.push(...d);
    });
    const seen: Record<string, number> = {};
    for (const r of nat) { const k = r.status === "fault" ? `vector ${r.vector}` : r.status; seen[k] = (seen[k] ?? 0) + 1; }
    console.log(`string differential: ${all.length} cases (native outcomes ${JSON.stringify(seen)}), ${bad.length} mismatches`);
    assert.is(bad.length, 0, bad.slice(0, 40).join("\n"));
  });
}

test.run();
