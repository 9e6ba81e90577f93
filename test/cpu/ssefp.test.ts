// SSE/SSE2 floating point against this CPU: arithmetic, compares, (U)COMIS
// and conversions in legacy and VEX forms, on boundary-heavy operands (zeros,
// denormals, min/max normals, infinities, QNaN/SNaN with payloads, values a
// rounding step apart) under random MXCSR settings (all four rounding modes,
// DAZ, FTZ, masked and unmasked exceptions). Each case loads YMM0-15 and
// MXCSR, runs one instruction, stores MXCSR and YMM0-15: the comparison
// covers results, the exception flags, #XM on unmasked exceptions (with the
// destination and EFLAGS untouched) and the upper-half rules.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { assertBatchMatchesSilicon } from "../helpers/diff";
import { nativeAvailable, nativeInfo, DATA_BASE, DEFAULT_RSP, type NativeCase, type NativeResult } from "../native/native";
import { legacy, vex, type VSpec, type ModRMOperand } from "../helpers/vecenc";
import { fpValue, fpHalf, fpMxcsr, FSPECS, type FSpec } from "../helpers/fpgen";

const nat = nativeAvailable();
const emu = new EmuRunner();
if (nat.ok) emu.xcr0 = nativeInfo()!.xcr0 ?? emu.xcr0;
const N = Number(process.env.X86KVM_FP_N ?? 24);

const disp32 = (d: number) => [d & 255, (d >> 8) & 255, (d >> 16) & 255, (d >>> 24) & 255];
const memAt = (base: number, off: number): ModRMOperand => ({ mem: { mod: 2, rm: base & 7, disp: disp32(off), x: 0, b: base >> 3 } });
const YMM = { name: "", pp: 2, map: 1, op: 0x6f } as VSpec, YMMST = { name: "", pp: 2, map: 1, op: 0x7f } as VSpec;
const PRO: number[] = [], EPI: number[] = [];
for (let n = 0; n < 16; n++) {
  PRO.push(...vex(YMM, n, 0, memAt(6, n * 32), undefined, 1, 0));
  EPI.push(...vex(YMMST, n, 0, memAt(7, n * 32), undefined, 1, 0));
}
PRO.push(0x0f, 0xae, 0x96, ...disp32(0x480));         // ldmxcsr [rsi+0x480]
const STM = [0x0f, 0xae, 0x9f, ...disp32(0x200)];     // stmxcsr [rdi+0x200]

let rs = 0x9e3779b9;
const rnd = () => { rs ^= rs << 13; rs ^= rs >>> 17; rs ^= rs << 5; return rs >>> 0; };

function image(f64: boolean, f16 = false): Uint8Array {
  const b = new Uint8Array(0x490);
  const dv = new DataView(b.buffer);
  for (let o = 0; o < 0x480; o += f64 ? 8 : 4) {
    const v = f16 ? BigInt(fpHalf(rnd) | (fpHalf(rnd) << 16)) : fpValue(rnd, f64);
    if (f64) dv.setBigUint64(o, v, true); else dv.setUint32(o, Number(v), true);
  }
  dv.setUint32(0x480, fpMxcsr(rnd), true);
  return b;
}

function diff(n: NativeResult, e: NativeResult): string | null {
  const d: string[] = [];
  if (n.status !== e.status || n.vector !== e.vector) d.push(`status ${n.status}#${n.vector} / ${e.status}#${e.vector}`);
  if (n.rip !== e.rip) d.push(`rip ${n.rip.toString(16)} / ${e.rip.toString(16)}`);
  for (let i = 0; i < 16; i++) if (n.gpr[i] !== e.gpr[i]) d.push(`gpr${i} ${n.gpr[i].toString(16)} / ${e.gpr[i].toString(16)}`);
  if ((n.rflags & 0x8d5n) !== (e.rflags & 0x8d5n)) d.push(`flags ${(n.rflags & 0x8d5n).toString(16)} / ${(e.rflags & 0x8d5n).toString(16)}`);
  const hx = (a: Uint8Array, k: number, w: number) => Array.from(a.subarray(k, k + w)).reverse().map((x) => x.toString(16).padStart(2, "0")).join("");
  if (n.status === "ok") {
    for (let k = 0x400; k < 0xa04; k++) if (n.data![k] !== e.data![k]) {
      const w = k >= 0xa00 ? 0xa00 : k & ~7;
      d.push(k >= 0xa00 ? `MXCSR ${hx(n.data!, 0xa00, 4)} / ${hx(e.data!, 0xa00, 4)}` : k < 0x800 ? `data+${w.toString(16)}: ${hx(n.data!, w, 8)} / ${hx(e.data!, w, 8)}` :
        `ymm${(k - 0x800) >> 5} qword ${((k - 0x800) & 31) >> 3}: ${hx(n.data!, w, 8)} / ${hx(e.data!, w, 8)}`);
      if (d.length > 3) break;
      k = (w | 7);
    }
  }
  return d.length ? d.join("; ") : null;
}

if (!nat.ok) console.log(`SKIP SSE floating-point differential: ${nat.reason}`);
else {
  for (const sp of FSPECS) {
    test(`${sp.name}: matches silicon (values, MXCSR flags, #XM)`, () => {
      const cases: NativeCase[] = [], labels: string[] = [];
      for (let i = 0; i < N; i++) {
        const img = image(sp.f64, sp.f16);
        const gpr = Array.from({ length: 16 }, (_, j) => j === 4 ? DEFAULT_RSP : j === 6 ? DATA_BASE : j === 7 ? DATA_BASE + 0x800n :
          sp.gpr ? BigInt.asUintN(64, BigInt.asIntN(64, fpInt(rnd))) : 0n);
        const form = i % 6, imm = sp.imm ? (i % 3 ? rnd() & 31 : rnd() & 7) : undefined;
        const reg = 1 + (i % 3) * 4, rm = (i * 5) % 16, vv = (i * 7 + 3) % 16;
        const gr = sp.gpr === "reg" ? [0, 1, 2, 3, 9, 13][i % 6] : reg;
        const grm: ModRMOperand = { reg: sp.gpr === "rm" ? [0, 1, 2, 3, 9, 13][(i + 2) % 6] : rm };
        let code: number[];
        if (sp.vexW !== undefined) {
          // VEX-only rows (FMA3, F16C): register and memory forms, L0/L1, W fixed
          const mem = [memAt(6, 0x400), memAt(6, 0x400 + (sp.scalar ? 4 : 8)), memAt(6, 0x404)][i % 3];
          code = vex(sp, gr, sp.noV ? 0 : vv, form % 2 ? grm : mem, imm, (i >> 1) % 2, sp.vexW);
        } else if (form === 0) code = legacy(sp, gr, grm, imm, i % 4 === 0);
        else if (form === 1) code = legacy(sp, gr, memAt(6, 0x400), imm, i % 4 === 1);
        else if (form === 2) code = legacy(sp, gr, memAt(6, 0x400 + (sp.scalar ? 4 : 8)), imm, i % 4 === 2);
        else if (form === 3) code = vex(sp, gr, sp.noV ? 0 : vv, grm, imm, 0, i % 2);
        else if (form === 4) code = vex(sp, gr, sp.noV ? 0 : vv, grm, imm, 1, (i >> 1) % 2);
        else code = vex(sp, gr, sp.noV ? 0 : vv, memAt(6, 0x404), imm, i % 2, 0);
        cases.push({ code: Uint8Array.from([...PRO, ...code, ...STM, ...EPI]), gpr, rflags: BigInt(rnd() & 0x8d5), dataSeed: 3n,
          patches: [{ addr: DATA_BASE, bytes: img }], dumpData: true });
        labels.push(`[${code.map((x) => x.toString(16).padStart(2, "0")).join(" ")}] mxcsr=${new DataView(img.buffer).getUint32(0x480, true).toString(16)}`);
      }
      assertBatchMatchesSilicon(emu, cases, labels, diff);
    });
  }
}
// An unmasked SIMD floating-point exception is #XM with CR4.OSXMMEXCPT=1 and
// #UD without it (isa.md §8); MXCSR still records the flag. Emulator only: the
// native harness cannot change CR4.
test("unmasked exception: #XM with CR4.OSXMMEXCPT, #UD without; flags recorded, destination kept", () => {
  // ldmxcsr [rsi] (ZE unmasked: 0x1d80); divsd xmm0, xmm1 (1.0 / 0.0)
  const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
  const img = new Uint8Array(32);
  const dv = new DataView(img.buffer);
  dv.setUint32(0, 0x1d80, true); dv.setFloat64(8, 1.0, true); dv.setFloat64(16, 0.0, true);
  const c: NativeCase = { code: hex("0fae16 f20f104608 f20f104e10 f20f5ec1"), gpr: Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : i === 6 ? DATA_BASE : 0n),
    patches: [{ addr: DATA_BASE, bytes: img }] };
  for (const osx of [true, false]) {
    let mxcsr = 0, x0 = 0n;
    const e = emu.run(c, 1000, (cpu) => { if (!osx) cpu.setU64(cpu.L.S_CR4, cpu.u64(cpu.L.S_CR4) & ~0x400n); });
    const cpu = (emu as unknown as { cpu: { u32(o: number): number; view: DataView; L: Record<string, number> } }).cpu;
    mxcsr = cpu.view.getUint32(cpu.L.XSTATE + cpu.L.X_MXCSR, true);
    x0 = cpu.view.getBigUint64(cpu.L.XSTATE + cpu.L.X_XMM, true);
    assert.is(e.status, "fault");
    assert.is(e.vector, osx ? 19 : 6, osx ? "#XM" : "#UD");
    assert.is(e.rip, 0x1000000dn, "faulting instruction (divsd)");
    assert.is(mxcsr & 0x3f, 4, "ZE recorded");
    assert.is(x0, 0x3ff0000000000000n, "xmm0 still 1.0");
  }
});
// VCVTPS2PH to memory: an unmasked precision exception and a store that
// page-faults, in both orders of importance; the data store, MXCSR and
// registers when it completes.
if (nat.ok) test("vcvtps2ph m64: #XM / #PF priority against silicon", () => {
  const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
  const cases: NativeCase[] = [], labels: string[] = [];
  for (const mx of [0x1f80, 0x0f80]) for (const dst of [DATA_BASE + 0x800n, 0x5000_0000n]) {
    const img = new Uint8Array(16);
    const dv = new DataView(img.buffer);
    dv.setUint32(0, mx, true); dv.setFloat32(8, 1.1, true); dv.setFloat32(12, 65504, true);
    // ldmxcsr [rsi]; vmovsd xmm0,[rsi+8]; vcvtps2ph [rdi],xmm0,0; stmxcsr [rsi+0x800]; vmovq rax, xmm0
    cases.push({ code: hex("0fae16 c5fb104608 c4e3791d0700 0fae9e00080000 c4e1f97ec0"),
      gpr: Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : i === 6 ? DATA_BASE : i === 7 ? dst : 0n),
      patches: [{ addr: DATA_BASE, bytes: img }], dumpData: true });
    labels.push(`mxcsr ${mx.toString(16)} dst ${dst.toString(16)}`);
  }
  assertBatchMatchesSilicon(emu, cases, labels, (n, e) => {
    const d: string[] = [];
    if (n.status !== e.status || n.vector !== e.vector || n.rip !== e.rip) d.push(`${n.status}#${n.vector}@${n.rip.toString(16)} / ${e.status}#${e.vector}@${e.rip.toString(16)}`);
    for (let i = 0; i < 16; i++) if (n.gpr[i] !== e.gpr[i]) d.push(`gpr${i} ${n.gpr[i].toString(16)} / ${e.gpr[i].toString(16)}`);
    if (n.memHash !== e.memHash) d.push("memHash");
    return d.length ? d.join("; ") : null;
  });
});

// Emulator only (no silicon needed): the fused result, the vendor rule for
// ∞×0 + QNaN, and no CPUID gate: silicon with FMA/F16C runs them under a
// hypervisor that hides the CPUID bits (no enable bit exists; cpu/layout.ts).
test("FMA3/F16C: one rounding; ∞×0+QNaN IE on Intel only; still executed when CPUID hides FMA / F16C", () => {
  const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
  // ldmxcsr [rsi]; vmovsd xmm0,[rsi+8]; vmovsd xmm1,[rsi+16]; vmovsd xmm2,[rsi+24];
  // vfmadd231sd xmm2,xmm0,xmm1; vcvtph2ps xmm3,xmm0; stmxcsr [rsi+32]
  const code = hex("0fae16 c5fb104608 c5fb104e10 c5fb105618 c4e2f9b9d1 c4e27913d8 0fae5e20");
  const one = (model: string, a: bigint, b: bigint, c: bigint, feat = ~0) => {
    const img = new Uint8Array(40);
    const dv = new DataView(img.buffer);
    dv.setUint32(0, 0x1f80, true); dv.setBigUint64(8, a, true); dv.setBigUint64(16, b, true); dv.setBigUint64(24, c, true);
    const em = new EmuRunner(model);
    const cpu = em.cpu as unknown as { u32(o: number): number; setU32(o: number, v: number): void; view: DataView; L: Record<string, number> };
    cpu.setU32(cpu.L.S_FEAT, cpu.u32(cpu.L.S_FEAT) & feat);
    const e = em.run({ code, gpr: Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : i === 6 ? DATA_BASE : 0n),
      patches: [{ addr: DATA_BASE, bytes: img }] }, 1000);
    return { e, x2: cpu.view.getBigUint64(cpu.L.XSTATE + cpu.L.X_XMM + 32, true), x3: cpu.view.getBigUint64(cpu.L.XSTATE + cpu.L.X_XMM + 48, true),
      mxcsr: cpu.view.getUint32(cpu.L.XSTATE + cpu.L.X_MXCSR, true) };
  };
  const L = new EmuRunner("epyc-genoa").cpu.L as unknown as Record<string, number>;
  // (1 + 2^-52)(1 - 2^-52) - 1 = -2^-104 exactly (a separate multiply would round the product to 1 and give 0)
  let r = one("epyc-genoa", 0x3ff0000000000001n, 0x3feffffffffffffen, 0xbff0000000000000n);
  assert.is(r.e.status, "ok");
  assert.is(r.x2, 0xb970000000000000n, "fused");
  assert.is(r.mxcsr, 0x1f80, "exact: no PE");
  // xmm0 low half 0x0001 (the smallest binary16 denormal, 2^-24) and 0x0001 (the next half of a's bits)
  assert.is(r.x3 & 0xffffffffn, 0x33800000n, "vcvtph2ps 2^-24");
  // ∞ × 0 + QNaN: the QNaN; IE on Intel (SDM), not on AMD (Zen 4, measured)
  for (const [model, ie] of [["epyc-genoa", 0], ["sapphire-rapids", 1]] as [string, number][]) {
    r = one(model, 0x7ff0000000000000n, 0n, 0x7ff8000000000123n);
    assert.is(r.x2, 0x7ff8000000000123n, model);
    assert.is(r.mxcsr, 0x1f80 | ie, `${model} IE`);
  }
  // a guest CPUID without FMA / F16C does not stop them: no enable bit exists (cpu/layout.ts)
  r = one("epyc-genoa", 0x3ff0000000000001n, 0x3feffffffffffffen, 0xbff0000000000000n, ~(L.FEAT_FMA | L.FEAT_F16C));
  assert.is(r.e.status, "ok", "FMA and F16C hidden in CPUID still execute");
  assert.is(r.x2, 0xb970000000000000n, "fused");
  assert.is(r.x3 & 0xffffffffn, 0x33800000n, "vcvtph2ps 2^-24");
  // CR0.TS: #NM, with or without CPUID.FMA
  for (const [feat, vec] of [[~0, 7], [~L.FEAT_FMA, 7]] as [number, number][]) {
    const em = new EmuRunner("epyc-genoa");
    const cpu = em.cpu as unknown as { u32(o: number): number; setU32(o: number, v: number): void; u64(o: number): bigint; setU64(o: number, v: bigint): void; L: Record<string, number> };
    cpu.setU32(cpu.L.S_FEAT, cpu.u32(cpu.L.S_FEAT) & feat);
    const e = em.run({ code: hex("c4e2f9b9d1"), gpr: Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : 0n) }, 100,
      (c) => c.setU64(c.L.S_CR0, c.u64(c.L.S_CR0) | 8n));
    assert.is(e.vector, vec, "#NM");
  }
});
function fpInt(r: () => number): bigint {
  const k = r() % 6;
  if (k === 0) return BigInt(r() % 200) - 100n;
  if (k === 1) return BigInt.asIntN(64, (BigInt(r()) << 32n) | BigInt(r()));
  if (k === 2) return BigInt.asIntN(32, BigInt(r()));
  if (k === 3) return [0n, -1n, 1n << 31n, -(1n << 31n), (1n << 53n) + 1n, -(1n << 63n), (1n << 24n) + 1n][r() % 7];
  return BigInt(r()) << BigInt(r() % 40);
}
test.run();
