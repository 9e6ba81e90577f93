// SSE2/SSSE3/SSE4.1 integer, shuffle and partial-move instructions and their
// VEX.128/256 forms against this CPU: every instruction of test/helpers/
// vecenc.ts VSPECS in ten encodings (legacy register forms with and without
// REX, aligned and misaligned memory, VEX.128/256 with W0/W1, register
// aliasing), each run natively and in the emulator on the same bytes. YMM0-15
// are loaded with boundary-heavy data before and all stored after, so the
// comparison covers the results, the untouched bits 255:128 of legacy forms
// (and their zeroing by VEX.128), #GP on misaligned legacy m128 operands, #UD
// for undefined forms, GPR results and flags (PTEST).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { assertBatchMatchesSilicon } from "../helpers/diff";
import { nativeAvailable, nativeInfo, runNative, DATA_BASE, DEFAULT_RSP, type NativeCase, type NativeResult } from "../native/native";
import { VSPECS, legacy, vex, needsV, type VSpec, type ModRMOperand } from "../helpers/vecenc";

const nat = nativeAvailable();
const emu = new EmuRunner();
if (nat.ok) emu.xcr0 = nativeInfo()!.xcr0 ?? emu.xcr0;

const disp32 = (d: number) => [d & 255, (d >> 8) & 255, (d >> 16) & 255, (d >>> 24) & 255];
const memAt = (base: number, off: number): ModRMOperand => ({ mem: { mod: 2, rm: base & 7, disp: disp32(off), x: 0, b: base >> 3 } });
const YMM = { name: "vmovdqu", pp: 2, map: 1, op: 0x6f } as VSpec;
const YMMST = { name: "vmovdqu", pp: 2, map: 1, op: 0x7f } as VSpec;
// rsi = DATA (ymm images at +32n, memory operands at +0x400), rdi = DATA+0x800 (results)
const PRO: number[] = [], EPI: number[] = [];
for (let n = 0; n < 16; n++) {
  PRO.push(...vex(YMM, n, 0, memAt(6, n * 32), undefined, 1, 0));
  EPI.push(...vex(YMMST, n, 0, memAt(7, n * 32), undefined, 1, 0));
}

let rs = 0x12345678;
const rnd = () => { rs ^= rs << 13; rs ^= rs >>> 17; rs ^= rs << 5; return rs >>> 0; };
const BYTES = [0, 1, 0x7f, 0x80, 0x81, 0xfe, 0xff];
function data(): Uint8Array {
  const b = new Uint8Array(0x480);
  for (let i = 0; i < b.length; i++) b[i] = rnd() % 3 === 0 ? BYTES[rnd() % BYTES.length] : rnd() & 255;
  // small shift counts in the low qwords of ymm2, ymm6, ymm14 and of the memory operands
  for (const o of [64, 192, 448, 0x400, 0x408, 0x410]) { b.fill(0, o, o + 8); b[o] = rnd() % 70; }
  return b;
}
const gprOf = (n: number) => (n === 4 ? 0 : n === 6 ? 3 : n === 7 ? 2 : n);
const IMMS = [0x1b, 0, 0xff, 7, 16, 0x4e, 33, 1, 15, 0x80, 3, 8];

function forms(sp: VSpec, seed: number): { label: string; code: number[] }[] {
  const out: { label: string; code: number[] }[] = [];
  const mis = sp.msize! >= 16 ? 8 : 3;
  const f = (label: string, reg: number, rm: ModRMOperand, k: number, enc: (reg: number, rm: ModRMOperand, imm: number | undefined) => number[]) => {
    const r = sp.gpr === "reg" ? gprOf(reg) : reg;
    const m = rm.mem ? rm : { reg: sp.gpr === "rm" ? gprOf(rm.reg!) : rm.reg };
    const imm = sp.imm ? (k % 2 ? IMMS[(k + seed) % IMMS.length] : rnd() & 255) : undefined;
    const e = sp.ext !== undefined ? sp.ext : r;
    out.push({ label: `${label}${imm !== undefined ? ` imm=${imm & 255}` : ""}`, code: enc(e, m, imm) });
  };
  f("legacy reg", 1, { reg: 2 }, 0, (r, m, i) => legacy(sp, r, m, i));
  f("legacy REX.W reg9,reg12", 9, { reg: 12 }, 1, (r, m, i) => legacy(sp, r, m, i, true));
  f("legacy same reg", 3, { reg: 3 }, 2, (r, m, i) => legacy(sp, r, m, i));
  f("legacy mem aligned", 5, memAt(6, 0x400), 3, (r, m, i) => legacy(sp, r, m, i));
  f(`legacy mem +${mis}`, 14, memAt(6, 0x400 + mis), 4, (r, m, i) => legacy(sp, r, m, i, true));
  const V = (L: number, W: number, vv: number) => (r: number, m: ModRMOperand, i: number | undefined) => vex(sp, r, vv, m, i, L, W);
  f("vex.128 reg", 3, { reg: 6 }, 5, V(0, 0, sp.ext !== undefined || !needsV(sp) ? 0 : 5));
  f("vex.256 reg", 10, { reg: 14 }, 6, V(1, 0, sp.ext !== undefined || !needsV(sp) ? 0 : 4));
  f("vex.128.W1 reg", 7, { reg: 7 }, 7, V(0, 1, sp.ext !== undefined || !needsV(sp) ? 0 : 7));
  f("vex.128.W1 mem +3", 2, memAt(6, 0x403), 8, V(0, 1, needsV(sp) ? 9 : 0));
  f("vex.256 mem +8", 11, memAt(6, 0x408), 9, V(1, 0, needsV(sp) ? 1 : 0));
  f("vex.256.W1 reg", 12, { reg: 5 }, 10, V(1, 1, needsV(sp) ? 8 : 0));
  f("vex.256.W1 mem aligned", 13, memAt(6, 0x400), 11, V(1, 1, needsV(sp) ? 2 : 0));
  if (sp.ext !== undefined) {   // VEX shift-by-immediate: destination is vvvv
    out.push({ label: "vex.128 shift imm vvvv=13", code: vex(sp, sp.ext, 13, { reg: 2 }, 5, 0, 0) });
    out.push({ label: "vex.256 shift imm vvvv=2", code: vex(sp, sp.ext, 2, { reg: 14 }, 9, 1, 0) });
  }
  return out;
}
function diff(n: NativeResult, e: NativeResult): string | null {
  const d: string[] = [];
  if (n.status !== e.status || n.vector !== e.vector) d.push(`status ${n.status}#${n.vector} / ${e.status}#${e.vector}`);
  if (n.status === "fault" && n.errorCode !== e.errorCode) d.push(`error code ${n.errorCode} / ${e.errorCode}`);
  if (n.rip !== e.rip) d.push(`rip ${n.rip.toString(16)} / ${e.rip.toString(16)}`);
  for (let i = 0; i < 16; i++) if (n.gpr[i] !== e.gpr[i]) d.push(`gpr${i} ${n.gpr[i].toString(16)} / ${e.gpr[i].toString(16)}`);
  if ((n.rflags & 0x8d5n) !== (e.rflags & 0x8d5n)) d.push(`flags ${(n.rflags & 0x8d5n).toString(16)} / ${(e.rflags & 0x8d5n).toString(16)}`);
  for (let k = 0; k < 0xa00; k++) if (n.data![k] !== e.data![k]) { d.push(`DATA+0x${k.toString(16)}: ${n.data![k].toString(16)} / ${e.data![k].toString(16)}`); break; }
  return d.length ? d.join("; ") : null;
}

if (!nat.ok) console.log(`SKIP SSE differential: ${nat.reason}`);
else {
  for (const sp of VSPECS) {
    test(`${sp.name}: all forms match silicon`, () => {
      const cases: NativeCase[] = [], labels: string[] = [];
      for (let seed = 0; seed < 2; seed++) {
        const patch = data();
        const gpr = Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : i === 6 ? DATA_BASE : i === 7 ? DATA_BASE + 0x800n :
          (BigInt(rnd()) << 32n) | BigInt(rnd()));
        for (const f of forms(sp, seed)) {
          cases.push({ code: Uint8Array.from([...PRO, ...f.code, ...EPI]), gpr, rflags: BigInt(rnd() & 0x8d5), dataSeed: 3n,
            patches: [{ addr: DATA_BASE, bytes: patch }], dumpData: true });
          labels.push(`${f.label} [${f.code.map((x) => x.toString(16).padStart(2, "0")).join(" ")}]`);
        }
      }
      assertBatchMatchesSilicon(emu, cases, labels, diff);
    });
  }
}

// Alignment checking (RFLAGS.AC at CPL3, CR0.AM set by Linux): which vector
// memory operands raise #AC, and #GP before #AC for the aligned forms.
const hexs = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
const SETAC = "9c 48 81 0c 24 00 00 04 00 9d";   // pushfq; or qword [rsp], 0x40000; popfq
// rsi = DATA+0x100 + offset
const C: [string, string, number][] = [
  ["vmovdqu xmm0,[rsi] +8", "c5fa6f06", 8], ["vmovdqu xmm0,[rsi] +4", "c5fa6f06", 4], ["vmovdqu xmm0,[rsi] +1", "c5fa6f06", 1],
  ["vmovdqu ymm0,[rsi] +16", "c5fe6f06", 16], ["vmovdqu ymm0,[rsi] +8", "c5fe6f06", 8],
  ["movups xmm0,[rsi] +8", "0f1006", 8], ["movdqu xmm0,[rsi] +1", "f30f6f06", 1], ["lddqu +1", "f20ff006", 1],
  ["movq xmm0,[rsi] +4", "f30f7e06", 4], ["pmovzxbw +4", "660f382006", 4], ["pmovzxbw +8", "660f382006", 8],
  ["vpminuw +8", "c4e2193a06", 8], ["movss +2", "f30f1006", 2], ["movsd +4", "f20f1006", 4], ["pinsrw +1", "660fc40600", 1],
  ["vmovdqu [rsi],xmm0 +8", "c5fa7f06", 8], ["movlps +4", "0f1206", 4], ["movhps store +4", "0f1706", 4],
  ["vaddps xmm +8", "c5f85806", 8], ["vaddss +2", "c5fa5806", 2], ["movdqu [rsi],xmm0 +8", "f30f7f06", 8],
  ["vpinsrw +1", "c5f9c40600", 1], ["vmovups ymm +16", "c5fc1006", 16], ["vpmovzxbw ymm +8", "c4e27d3006", 8],
  ["vcvtps2pd +4", "c5f85a06", 4], ["movaps +8 (GP vs AC)", "0f2806", 8], ["vmovdqa +8", "c5f96f06", 8], ["pextrw [rsi] +1", "660f3a150600", 1],
  ["movntdq +8", "660fe706", 8], ["vmovntdq +8", "c5f9e706", 8], ["movnti +2", "0fc306", 2],
];
if (nat.ok) test("alignment check (#AC) on vector memory operands matches silicon", () => {
  const cs = C.map(([, c, off]) => ({ code: hexs(SETAC + c), gpr: Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : i === 6 ? DATA_BASE + 0x100n + BigInt(off) : 0n) }));
  const n = runNative(cs);
  const bad = C.map(([name], i) => { const e = emu.run(cs[i]); return n[i].status !== e.status || n[i].vector !== e.vector ? `${name}: silicon ${n[i].status}#${n[i].vector}, emulator ${e.status}#${e.vector}` : ""; }).filter(Boolean);
  assert.ok(n.some((x) => x.vector === 17) && n.some((x) => x.status === "ok"), "the probe must see both #AC and success");
  if (bad.length) assert.unreachable(bad.join("\n"));
});

// VPERMQ/VPERMPD with VEX.W0: Zen 4 runs them (checked above against
// silicon); the SDM encodes them W1 only, so the Intel model raises #UD.
test("vpermq/vpermpd VEX.W0: #UD on the Intel model, executed on the AMD model", () => {
  const intel = new EmuRunner("sapphire-rapids"), amd = new EmuRunner("epyc-genoa");
  for (const [name, code] of [["vpermq W0", "c4e37d00c11b"], ["vpermpd W0", "c4e37d01c11b"], ["vpermq W1", "c4e3fd00c11b"]]) {
    const c: NativeCase = { code: hexs(code) };
    const i = intel.run(c), a = amd.run(c);
    assert.is(a.status, "ok", `${name} on AMD`);
    if (name.endsWith("W1")) assert.is(i.status, "ok", `${name} on Intel`);
    else { assert.is(i.status, "fault", `${name} on Intel`); assert.is(i.vector, 6, `${name} on Intel: #UD`); }
  }
});
test.run();
