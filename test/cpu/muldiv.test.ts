// MUL/IMUL/DIV/IDIV and the two- and three-operand IMUL forms: unit tests for
// #DE and the flag flavours, then a seeded differential run against silicon.
//
// Undefined flags found on this host (AMD EPYC Zen 4) with these cases:
//   MUL/IMUL: SF ZF AF PF unchanged (only CF/OF written).
//   DIV/IDIV: CF OF unchanged, AF = 1, SF = ZF = PF = 0, for every operand.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { DATA_BASE, CODE_BASE } from "../native/native";
import { Rng, regs, RAX, RCX, RDX, RBX, sizePfx, modrm, le, MASK, operandValues, flagInputs, differential, nativeSkipReason, type Labeled } from "../helpers/diff";

const amd = new EmuRunner("epyc-genoa");
const intel = new EmuRunner("sapphire-rapids");
const CF = 1n, PF = 4n, AF = 0x10n, ZF = 0x40n, SF = 0x80n, OF = 0x800n;
const run = (emu: EmuRunner, code: number[], over: Record<number, bigint>, rflags = 0n) =>
  emu.run({ code: Uint8Array.from(code), gpr: regs(over), rflags });

test("divide by zero and quotient overflow are #DE with nothing changed", () => {
  for (const [code, over] of [
    [[0xf7, 0xf1], { [RAX]: 5n, [RDX]: 0n, [RCX]: 0n }],                                         // div ecx, 0
    [[0x48, 0xf7, 0xf1], { [RAX]: 0n, [RDX]: 5n, [RCX]: 5n }],                                    // div rcx: rdx >= rcx
    [[0xf7, 0xf9], { [RAX]: 0x80000000n, [RDX]: 0xffffffffn, [RCX]: 0xffffffffn }],               // idiv: INT_MIN / -1
    [[0x48, 0xf7, 0xf9], { [RAX]: 1n << 63n, [RDX]: MASK(64), [RCX]: MASK(64) }],                 // idiv 64: INT_MIN / -1
    [[0xf6, 0xf9], { [RAX]: 0xff80n, [RCX]: 0xffn }],                                             // idiv cl: -128 / -1
    [[0x66, 0xf7, 0xf1], { [RAX]: 0n, [RDX]: 0xffffn, [RCX]: 0xffffn }],                          // div cx
  ] as [number[], Record<number, bigint>][]) {
    const r = run(amd, [0x90, ...code], over, 0x8d5n);
    assert.is(r.status, "fault");
    assert.is(r.vector, 0);
    assert.is(r.rip, CODE_BASE + 1n);
    assert.is(r.gpr[RAX], over[RAX]);
    assert.is(r.rflags & 0xcd5n, 0x8d5n);
  }
});

test("128/64 division and signed remainders", () => {
  // rdx:rax = 0x1_0000000000000005 / 3
  let r = run(amd, [0x48, 0xf7, 0xf1], { [RAX]: 5n, [RDX]: 1n, [RCX]: 3n });
  assert.is(r.gpr[RAX], ((1n << 64n) + 5n) / 3n);
  assert.is(r.gpr[RDX], ((1n << 64n) + 5n) % 3n);
  // idiv rcx: -7 / 2 = -3 rem -1
  r = run(amd, [0x48, 0xf7, 0xf9], { [RAX]: MASK(64) - 6n, [RDX]: MASK(64), [RCX]: 2n });
  assert.is(r.gpr[RAX], MASK(64) - 2n);
  assert.is(r.gpr[RDX], MASK(64));
  // idiv: most negative quotient fits: -2^63 / 1
  r = run(amd, [0x48, 0xf7, 0xf9], { [RAX]: 1n << 63n, [RDX]: MASK(64), [RCX]: 1n });
  assert.is(r.status, "ok");
  assert.is(r.gpr[RAX], 1n << 63n);
});

test("DIV flags: AMD sets AF, clears SF ZF PF, keeps CF OF; Intel flavour keeps all", () => {
  assert.is(run(amd, [0xf6, 0xf1], { [RAX]: 100n, [RCX]: 7n }, 0xcd5n).rflags & 0xcd5n, 0xc11n);
  assert.is(run(amd, [0xf6, 0xf1], { [RAX]: 100n, [RCX]: 7n }, 0n).rflags & 0xcd5n, AF);
  assert.is(run(intel, [0xf6, 0xf1], { [RAX]: 100n, [RCX]: 7n }, 0x8c4n).rflags & 0xcd5n, 0x8c4n);
});

test("MUL/IMUL flags: CF=OF=upper half significant; AMD keeps SF ZF AF PF", () => {
  let r = run(amd, [0xf7, 0xe1], { [RAX]: 0xffffffffn, [RCX]: 2n }, PF | ZF);
  assert.is(r.gpr[RAX], 0xfffffffen);
  assert.is(r.gpr[RDX], 1n);
  assert.is(r.rflags & 0xcd5n, CF | OF | PF | ZF);
  // imul eax,ecx: 0x40000000 * 2 overflows the signed 32-bit range
  r = run(amd, [0x0f, 0xaf, 0xc1], { [RAX]: 0x40000000n, [RCX]: 2n }, 0n);
  assert.is(r.gpr[RAX], 0x80000000n);
  assert.is(r.rflags & 0xcd5n, CF | OF);
  // Intel flavour: SF/ZF/PF from the low half, AF clear
  r = run(intel, [0x0f, 0xaf, 0xc1], { [RAX]: 0x40000000n, [RCX]: 2n }, AF | ZF);
  assert.is(r.rflags & 0xcd5n, CF | OF | SF | PF);
  // imul rax,rcx,-1 with INT64_MIN overflows; imul r,r/m,ib sign-extends
  r = run(amd, [0x48, 0x6b, 0xc1, 0xff], { [RCX]: 1n << 63n });
  assert.is(r.gpr[RAX], 1n << 63n);
  assert.is(r.rflags & (CF | OF), CF | OF);
  r = run(amd, [0x48, 0x69, 0xc1, 0xfe, 0xff, 0xff, 0xff], { [RCX]: 3n });
  assert.is(r.gpr[RAX], MASK(64) - 5n);
  assert.is(r.rflags & (CF | OF), 0n);
  // 64x64 → 128
  r = run(amd, [0x48, 0xf7, 0xe9], { [RAX]: MASK(64), [RCX]: MASK(64) });    // imul rcx: -1 * -1
  assert.is(r.gpr[RAX], 1n); assert.is(r.gpr[RDX], 0n);
  r = run(amd, [0x48, 0xf7, 0xe1], { [RAX]: MASK(64), [RCX]: MASK(64) });    // mul rcx
  assert.is(r.gpr[RAX], 1n); assert.is(r.gpr[RDX], MASK(64) - 1n);
});

// ---- differential ----
function cases(seed: bigint): Labeled[] {
  const rng = new Rng(seed);
  const out: Labeled[] = [];
  const names = ["mul", "imul", "div", "idiv"];
  const M = DATA_BASE + 0x200n;
  for (const S of [8, 16, 32, 64]) for (const mem of [false, true]) for (let k = 0; k < 4; k++) {
    const vals = operandValues(S, rng, 6);
    for (let i = 0; i < 28; i++) {
      const src = i < vals.length ? vals[i] : rng.u64() & MASK(S);
      let a = rng.pick(vals) | (rng.u64() & ~MASK(S));
      let d = rng.pick(vals);
      if (k >= 2 && i % 3 !== 0) {
        // mostly valid divisions: high half below the divisor / the sign of the low half
        if (k === 2) d = src === 0n ? 0n : (rng.u64() & MASK(S)) % src;
        else d = ((a >> BigInt(S - 1)) & 1n) ? MASK(S) : 0n;
        if (S === 8) a = (a & ~0xff00n) | ((d & 0xffn) << 8n);
      }
      const code = [...sizePfx(S), S === 8 ? 0xf6 : 0xf7, modrm(4 + k, mem)];
      out.push({
        c: { code: Uint8Array.from(code), gpr: regs({ [RAX]: a, [RDX]: d, [RCX]: mem ? 0n : src, [RBX]: M }), rflags: rng.pick(flagInputs(rng)), patches: mem ? [{ addr: M, bytes: le(src, S / 8) }] : [] },
        label: `${names[k]}${S} ${mem ? "mem" : "reg"} a=${a.toString(16)} d=${d.toString(16)} src=${src.toString(16)}`,
      });
    }
  }
  for (const S of [16, 32, 64]) for (const mem of [false, true]) for (const form of ["0FAF", "69", "6B"]) {
    const vals = operandValues(S, rng, 6);
    for (let i = 0; i < 30; i++) {
      const a = rng.pick(vals), b = rng.pick(vals);
      const imm = form === "69" ? (S === 16 ? 2 : 4) : form === "6B" ? 1 : 0;
      const iv = rng.pick([0n, 1n, MASK(64), rng.u64()]);
      const head = form === "0FAF" ? [0x0f, 0xaf] : form === "69" ? [0x69] : [0x6b];
      // reg = RDX, r/m = RCX or [RBX]
      const code = [...sizePfx(S), ...head, mem ? 0x13 : 0xd1, ...le(iv, imm)];
      out.push({
        c: { code: Uint8Array.from(code), gpr: regs({ [RDX]: a | (rng.u64() & ~MASK(S)), [RCX]: mem ? 0n : b, [RBX]: M }), rflags: rng.pick(flagInputs(rng)), patches: mem ? [{ addr: M, bytes: le(b, S / 8) }] : [] },
        label: `imul${S} ${form} ${mem ? "mem" : "reg"} a=${a.toString(16)} b=${b.toString(16)} imm=${(iv & MASK(imm * 8)).toString(16)}`,
      });
    }
  }
  const edge: [string, number[], Record<number, bigint>][] = [
    ["lock imul", [0xf0, 0x0f, 0xaf, 0x13], { [RBX]: M }],
    ["lock mul", [0xf0, 0xf7, 0x23], { [RBX]: M }],
    ["div byte [unmapped]", [0xf6, 0x33], { [RBX]: 0x50000000n }],
    ["idiv dword [code]", [0xf7, 0x3b], { [RBX]: CODE_BASE, [RAX]: 5n }],
    ["imul ax,[rbx],imm16", [0x66, 0x69, 0x03, 0x34, 0x12], { [RBX]: M }],
    ["mul ah", [0xf6, 0xe4], { [RAX]: 0x1234n }],
    ["div bh", [0xf6, 0xf7], { [RAX]: 0x1234n, [RBX]: 0x1000n }],
    ["idiv r9b", [0x41, 0xf6, 0xf9], { [RAX]: 0xff00n, 9: 0x80n }],
  ];
  for (const [label, code, over] of edge) out.push({ c: { code: Uint8Array.from(code), gpr: regs(over), rflags: 0x8d5n }, label });
  return out;
}

test("differential vs silicon: MUL IMUL DIV IDIV, all sizes and forms", () => {
  const cs = cases(0xd1d1d1n);
  const bad = differential(new EmuRunner(), cs);
  if (bad === null) { console.log(`SKIP muldiv differential: ${nativeSkipReason()}`); return; }
  const de = cs.length;
  console.log(`muldiv differential: ${de} cases, ${bad.length} mismatches`);
  assert.ok(cs.length > 1000);
  assert.equal(bad.slice(0, 20), []);
});

test.run();
