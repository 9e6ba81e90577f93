// DAA DAS AAA AAS AAM AAD SALC BOUND ARPL. They exist only outside 64-bit
// mode, so the cases switch to compatibility mode (far return to a 32-bit
// user code segment), run the instruction, and return to 64-bit mode before
// the exit jump. That runs on the host CPU through the native harness as
// well, so the AMD flavour of the undefined flags is checked against silicon.
// Intel vectors come from public sources named at each test.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { runNative, nativeAvailable, CODE_BASE, DATA_BASE, DEFAULT_RSP, GPR_NAMES, type NativeCase, type NativeResult } from "../native/native";

const CF = 1n, PF = 4n, AF = 0x10n, ZF = 0x40n, SF = 0x80n, OF = 0x800n;
const EMU_CS32 = 0x1b;      // 32-bit user code in test/helpers/emu.ts's GDT
const NATIVE_CS32 = 0x23;   // Linux __USER32_CS

/** Code that far-returns to 32-bit code `body` with selector `sel`, then back to 64-bit CS 0x33. */
function compat(body: number[], sel: number): Uint8Array {
  const le = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
  const a1 = Number(CODE_BASE) + 9;
  const a2 = a1 + body.length + 8;
  // push sel; push a1; retfq | body | push 0x33; push a2; retf
  return Uint8Array.from([0x6a, sel, 0x68, ...le(a1), 0x48, 0xcb, ...body, 0x6a, 0x33, 0x68, ...le(a2), 0xcb]);
}
// push 0x2b; pop ds: a usable data segment for memory operands (DS is null in 64-bit mode)
const DS = [0x6a, 0x2b, 0x1f];
function gprs(rax: bigint, extra: Record<number, bigint> = {}): bigint[] {
  const g = Array.from({ length: 16 }, (_, i) => (i === 4 ? DEFAULT_RSP : 0n));
  g[0] = rax;
  for (const [k, v] of Object.entries(extra)) g[+k] = v;
  return g;
}

function runModel(model: string) {
  const emu = new EmuRunner(model);
  return (body: number[], rax: bigint, rflags: bigint, extra: Record<number, bigint> = {}, patches: NativeCase["patches"] = []) =>
    emu.run({ code: compat(body, EMU_CS32), gpr: gprs(rax, extra), rflags, patches });
}
const amd = runModel("epyc-genoa");
const intel = runModel("sapphire-rapids");
const emu64 = new EmuRunner();

// ---- vectors from public sources ----
test("DAS: the SDM's example (EE after SUB 35h-47h → 88h, CF AF SF PF)", () => {
  // Intel SDM Vol. 2A, DAS "Example": AL=EEH, OSZAPC=010111 → AL=88H, OSZAPC=X10111
  for (const run of [amd, intel]) {
    const r = run([0x2f], 0xeen, SF | AF | PF | CF);
    assert.is(r.status, "ok");
    assert.is(r.gpr[0] & 0xffn, 0x88n);
    assert.is(r.rflags & (SF | ZF | AF | PF | CF), SF | AF | PF | CF);
  }
});

test("DAS: AL 0..5 with AF=1, CF=0 sets CF (borrow from AL-6) — angr PR #6706, checked on hardware", () => {
  for (const run of [amd, intel]) for (let al = 0n; al < 6n; al++) {
    const r = run([0x2f], al, AF);
    assert.is(r.rflags & CF, CF, `AL=${al}`);
  }
});

test("AAS: AX=0000 with AF=1 gives FE0A (AX-0106h) — ish-AOK issue #534, checked on hardware", () => {
  for (const run of [amd, intel]) {
    const r = run([0x3f], 0n, AF);
    assert.is(r.gpr[0] & 0xffffn, 0xfe0an);
    assert.is(r.rflags & (AF | CF), AF | CF);
  }
});

test("AAA/AAS SF/ZF/PF: Intel from the masked AL (unicorn PR #2311), AMD from AX±0106h (measured)", () => {
  // AAA with AL=0x0A, AH=0x12: AX+0106 = 0x1310, final AX = 0x1300
  const i = intel([0x37], 0x120an, 0n);
  assert.is(i.gpr[0] & 0xffffn, 0x1300n);
  assert.is(i.rflags & (SF | ZF | PF), ZF | PF);      // AL = 0
  const a = amd([0x37], 0x120an, 0n);
  assert.is(a.gpr[0] & 0xffffn, 0x1300n);
  assert.is(a.rflags & (SF | ZF | PF), 0n);            // 0x1310: nonzero, parity(0x10) odd
});

test("AAM 10 with AL=10: AH=1, AL=0, ZF=1 (flags from AL) — ghidra PR #9627", () => {
  const r = amd([0xd4, 0x0a], 10n, 0n);
  assert.is(r.gpr[0] & 0xffffn, 0x0100n);
  assert.is(r.rflags & ZF, ZF);
});

test("AAD with AL=0x80, AH=0: SF=1 (flags from AL) — ghidra PR #9627", () => {
  const r = amd([0xd5, 0x0a], 0x80n, 0n);
  assert.is(r.gpr[0] & 0xffffn, 0x80n);
  assert.is(r.rflags & SF, SF);
});

test("AAM 0 is #DE at the instruction", () => {
  const r = amd([0xd4, 0x00], 0x55n, 0n);
  assert.is(r.status, "fault");
  assert.is(r.vector, 0);
  assert.is(r.rip, CODE_BASE + 9n);
});

test("BOUND: inside passes, below/above is #BR; ARPL raises RPL and sets ZF", () => {
  const bounds = [{ addr: DATA_BASE, bytes: Uint8Array.of(0xf6, 0xff, 0xff, 0xff, 10, 0, 0, 0) }];   // [-10, 10]
  // bound eax, [ebx]
  for (const [v, ok] of [[-10n, true], [10n, true], [0n, true], [-11n, false], [11n, false]] as const) {
    const r = amd([...DS, 0x62, 0x03], BigInt.asUintN(32, v), 0n, { 3: DATA_BASE }, bounds);
    if (ok) assert.is(r.status, "ok", `eax=${v}`);
    else { assert.is(r.status, "fault", `eax=${v}`); assert.is(r.vector, 5); }
  }
  // arpl bx, ax: bx RPL 1 < ax RPL 3 → bx RPL 3, ZF=1
  const r = amd([0x63, 0xc3], 3n, 0n, { 3: 0x1231n });
  assert.is(r.gpr[3], 0x1233n);
  assert.is(r.rflags & ZF, ZF);
  const r2 = amd([0x63, 0xc3], 1n, ZF, { 3: 0x1232n });
  assert.is(r2.gpr[3], 0x1232n);
  assert.is(r2.rflags & ZF, 0n);
});

test("64-bit mode: the legacy opcodes are #UD; 63 is still MOVSXD", () => {
  for (const code of [[0x27], [0x2f], [0x37], [0x3f], [0xd4, 0x0a], [0xd5, 0x0a], [0xd6]]) {
    const r = emu64.run({ code: Uint8Array.from(code) });
    assert.is(r.status, "fault", code.join(" "));
    assert.is(r.vector, 6);
  }
  // movsxd rax, ebx
  const r = emu64.run({ code: Uint8Array.of(0x48, 0x63, 0xc3), gpr: gprs(0n, { 3: 0x80000000n }) });
  assert.is(r.gpr[0], 0xffffffff80000000n);
});

// ---- differential against the host CPU (AMD here) ----
interface Case { name: string; body: number[]; rax: bigint; rflags: bigint; extra?: Record<number, bigint>; patches?: NativeCase["patches"] }
function cases(): Case[] {
  const out: Case[] = [];
  let seed = 0x12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed >> 8; };
  for (const op of [0x27, 0x2f, 0x37, 0x3f]) for (let al = 0; al < 256; al++) for (const fl of [0n, CF, AF, AF | CF]) {
    const other = (rnd() & 1) ? OF | SF | ZF | PF : 0n;
    const ah = [0x12, 0xff, 0x00, 0x80, 0x7f, 0x81, 0xfe, 0x01][rnd() & 7];
    out.push({ name: `${op.toString(16)} AX=${(ah * 256 + al).toString(16)} fl=${(fl | other).toString(16)}`, body: [op], rax: BigInt(ah * 256 + al) | 0xdead0000n, rflags: fl | other });
  }
  for (const op of [0xd4, 0xd5]) for (let al = 0; al < 256; al++) for (const imm of [10, 16, 7, 255]) {
    const ah = rnd() & 255;
    const fl = BigInt(rnd() & 0x8d5);
    out.push({ name: `${op.toString(16)} ${imm} AX=${(ah * 256 + al).toString(16)} fl=${fl.toString(16)}`, body: [op, imm], rax: BigInt(ah * 256 + al), rflags: fl });
  }
  for (let al = 0; al < 4; al++) out.push({ name: `salc ${al}`, body: [0xd6], rax: 0x1234n, rflags: BigInt(al & 1) });
  for (const v of [-11n, -10n, 0n, 10n, 11n, 0x7fffn, -0x8000n]) {
    const patches = [{ addr: DATA_BASE, bytes: Uint8Array.of(0xf6, 0xff, 0xff, 0xff, 10, 0, 0, 0) }];
    out.push({ name: `bound32 ${v}`, body: [...DS, 0x62, 0x03], rax: BigInt.asUintN(32, v), rflags: 0n, extra: { 3: DATA_BASE }, patches });
    out.push({ name: `bound16 ${v}`, body: [...DS, 0x66, 0x62, 0x03], rax: BigInt.asUintN(16, v), rflags: 0n, extra: { 3: DATA_BASE }, patches: [{ addr: DATA_BASE, bytes: Uint8Array.of(0xf6, 0xff, 10, 0) }] });
  }
  for (const [d, s] of [[0x1231n, 3n], [0x1233n, 1n], [0x1232n, 2n], [0xfff0n, 3n]]) {
    out.push({ name: `arpl reg ${d} ${s}`, body: [0x63, 0xc3], rax: s, rflags: ZF, extra: { 3: d } });
    out.push({ name: `arpl mem ${d} ${s}`, body: [...DS, 0x63, 0x03], rax: s, rflags: 0n, extra: { 3: DATA_BASE }, patches: [{ addr: DATA_BASE, bytes: Uint8Array.of(Number(d & 0xffn), Number(d >> 8n)) }] });
  }
  return out;
}

function compare(name: string, n: NativeResult, e: NativeResult): string[] {
  const bad: string[] = [];
  if (n.status !== e.status) bad.push(`status native ${n.status} emu ${e.status}`);
  if (n.vector !== e.vector) bad.push(`vector native ${n.vector} emu ${e.vector}`);
  if (n.status === "ok") {
    if (n.rip !== e.rip) bad.push(`rip native ${n.rip.toString(16)} emu ${e.rip.toString(16)}`);
    if ((n.rflags & 0xcd5n) !== (e.rflags & 0xcd5n)) bad.push(`rflags native ${(n.rflags & 0xcd5n).toString(16)} emu ${(e.rflags & 0xcd5n).toString(16)}`);
    if (n.memHash !== e.memHash) bad.push("memHash differs");
  }
  for (let i = 0; i < 16; i++) if (i !== 4 && n.gpr[i] !== e.gpr[i]) bad.push(`${GPR_NAMES[i]} native ${n.gpr[i].toString(16)} emu ${e.gpr[i].toString(16)}`);
  return bad.map((b) => `${name}: ${b}`);
}

const avail = nativeAvailable();
if (!avail.ok) console.log(`SKIP bcd differential: ${avail.reason}`);
else {
  test("differential (compatibility mode): BCD adjusts, SALC, BOUND, ARPL match the host CPU", () => {
    const all = cases();
    const mk = (c: Case, sel: number): NativeCase => ({ code: compat(c.body, sel), gpr: gprs(c.rax, c.extra), rflags: c.rflags, patches: c.patches });
    const nat = runNative(all.map((c) => mk(c, NATIVE_CS32)));
    const emu = new EmuRunner();   // the host's vendor
    const bad: string[] = [];
    all.forEach((c, i) => bad.push(...compare(c.name, nat[i], emu.run(mk(c, EMU_CS32)))));
    const seen: Record<string, number> = {};
    for (const r of nat) { const k = r.status === "fault" ? `vector ${r.vector}` : r.status; seen[k] = (seen[k] ?? 0) + 1; }
    console.log(`bcd differential: ${all.length} cases (native outcomes ${JSON.stringify(seen)}), ${bad.length} mismatches`);
    assert.is(bad.length, 0, bad.slice(0, 30).join("\n"));
  });
}

test.run();
