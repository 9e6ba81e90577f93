// Group 2 shifts/rotates and SHLD/SHRD: unit tests for the edge cases, then a
// seeded differential run against silicon over every form, size and
// boundary/random operand and count.
//
// Undefined flags found on this host (AMD EPYC Zen 4) by the differential
// cases below and the probes they grew from (see cpu/exec/shift.ts):
//   SHL/SHR/SAR: AF = 1 for any non-zero count; OF for count > 1: SHL
//   MSB(res)^CF, SHR 0, SAR 0. Rotates: only CF/OF written, OF from the
//   count-1 formula on the final result for every non-zero masked count.
//   SHLD/SHRD: AF = 1; 16-bit counts > 16 rotate the source (src:src:dest).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { DATA_BASE, CODE_BASE } from "../native/native";
import { Rng, regs, RAX, RCX, RDX, RBX, sizePfx, modrm, le, MASK, operandValues, flagInputs, differential, nativeSkipReason, type Labeled } from "../helpers/diff";

const amd = new EmuRunner("epyc-genoa");
const intel = new EmuRunner("sapphire-rapids");
const CF = 1n, PF = 4n, AF = 0x10n, ZF = 0x40n, SF = 0x80n, OF = 0x800n;

function run(emu: EmuRunner, code: number[], over: Record<number, bigint>, rflags = 0n) {
  const r = emu.run({ code: Uint8Array.from(code), gpr: regs(over), rflags });
  assert.is(r.status, "ok");
  return { rax: r.gpr[RAX], f: r.rflags & 0xcd5n, r };
}

test("shl eax,0 writes EAX (upper half cleared) and leaves every flag", () => {
  const x = run(amd, [0xc1, 0xe0, 0x00], { [RAX]: 0xdeadbeef12345678n }, 0xcd5n);
  assert.is(x.rax, 0x12345678n);
  assert.is(x.f, 0xcd5n);
  const y = run(amd, [0x66, 0xd3, 0xc0], { [RAX]: 0xdeadbeef12345678n, [RCX]: 0x20n }, 0x8d5n); // rol ax,cl with cl=32: masked 0
  assert.is(y.rax, 0xdeadbeef12345678n);
  assert.is(y.f, 0x8d5n);
});

test("count masking: 5 bits, 6 with REX.W", () => {
  assert.is(run(amd, [0xd3, 0xe0], { [RAX]: 3n, [RCX]: 33n }).rax, 6n);        // shl eax,cl (33 → 1)
  assert.is(run(amd, [0x48, 0xd3, 0xe0], { [RAX]: 3n, [RCX]: 65n }).rax, 6n);  // shl rax,cl (65 → 1)
  assert.is(run(amd, [0x48, 0xd3, 0xe0], { [RAX]: 3n, [RCX]: 33n }).rax, 3n << 33n);
  // 8-bit: count 9 (not masked to 3 bits) shifts everything out, CF = 0
  const x = run(amd, [0xd2, 0xe0], { [RAX]: 0xffn, [RCX]: 9n });
  assert.is(x.rax, 0n);
  assert.is(x.f & (CF | ZF | OF), ZF);
});

test("SHL/SHR/SAR flags, AF by vendor", () => {
  const a = run(amd, [0xc0, 0xe8, 0x02], { [RAX]: 0x81n });       // shr al,2
  assert.is(a.rax, 0x20n);
  assert.is(a.f, AF);                                               // CF=0 OF=0 AF=1 (AMD)
  assert.is(run(intel, [0xc0, 0xe8, 0x02], { [RAX]: 0x81n }).f, 0n);
  const s = run(amd, [0xd1, 0xf8], { [RAX]: 0x80000001n });       // sar eax,1
  assert.is(s.rax, 0xc0000000n);
  assert.is(s.f & (CF | SF | OF), CF | SF);
  const l = run(amd, [0xd0, 0xe0], { [RAX]: 0x40n });             // shl al,1: OF = MSB^CF
  assert.is(l.f & (CF | OF | SF), OF | SF);
});

test("rotates: only CF/OF, RCL/RCR modulo size+1", () => {
  // rcl al,9: identity over 9 bits; CF keeps its value, OF = MSB ^ CF
  const x = run(amd, [0xc0, 0xd0, 0x09], { [RAX]: 0x81n }, CF | PF | ZF);
  assert.is(x.rax, 0x81n);
  assert.is(x.f, CF | PF | ZF);
  // rcr ax,17: identity, OF = MSB ^ next bit
  const y = run(amd, [0x66, 0xc1, 0xd8, 0x11], { [RAX]: 0x8001n });
  assert.is(y.rax, 0x8001n);
  assert.is(y.f, OF);
  // ror al,8: value unchanged, CF = MSB, OF = MSB ^ bit 6
  const z = run(amd, [0xc0, 0xc8, 0x08], { [RAX]: 0x81n });
  assert.is(z.f, CF | OF);
  // rcl rax,1 carries CF in
  assert.is(run(amd, [0x48, 0xd1, 0xd0], { [RAX]: 0x8000000000000000n }, CF).rax, 1n);
});

test("SHLD/SHRD 16-bit with counts beyond 16 (AMD: the source rotated; Intel: dest:src:dest)", () => {
  // shld ax,dx,cl cl=20, ax=0x1234 dx=0xabcd
  const code = [0x66, 0x0f, 0xa5, 0xd0];
  assert.is(run(amd, code, { [RAX]: 0x1234n, [RDX]: 0xabcdn, [RCX]: 20n }).rax, 0xbcdan);
  assert.is(run(intel, code, { [RAX]: 0x1234n, [RDX]: 0xabcdn, [RCX]: 20n }).rax, 0xbcd1n);
  const r = run(amd, [0x66, 0x0f, 0xad, 0xd0], { [RAX]: 0x1234n, [RDX]: 0xabcdn, [RCX]: 17n });   // shrd
  assert.is(r.rax, 0xd5e6n);
  assert.is(r.f, AF | SF);
  // 32-bit shld by 32: masked to 0, nothing changes except the zero-extension
  const z = run(amd, [0x0f, 0xa4, 0xd0, 0x20], { [RAX]: 0xffffffff12345678n, [RDX]: 1n }, 0xcd5n);
  assert.is(z.rax, 0x12345678n);
  assert.is(z.f, 0xcd5n);
});

test("memory forms write back and fault before changing anything", () => {
  const e = amd.run({ code: Uint8Array.of(0xc1, 0x23, 0x04), gpr: regs({ [RBX]: DATA_BASE }), patches: [{ addr: DATA_BASE, bytes: le(0x0f00000fn, 4) }], dumpData: true });
  assert.is(e.status, "ok");
  assert.is(new DataView(e.data!.buffer).getUint32(0, true), 0xf00000f0);
  const f = amd.run({ code: Uint8Array.of(0xd3, 0x23), gpr: regs({ [RBX]: 0x50000000n, [RCX]: 1n }) });
  assert.is(f.status, "fault");
  assert.is(f.vector, 14);
});

// ---- differential ----
function shiftCases(seed: bigint): Labeled[] {
  const rng = new Rng(seed);
  const out: Labeled[] = [];
  const names = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
  for (const S of [8, 16, 32, 64]) for (const mem of [false, true]) for (let n = 0; n < 8; n++) for (const src of ["1", "cl", "ib"]) {
    const vals = operandValues(S, rng, 2);
    const counts = src === "1" ? [1] : [0, 1, 2, S - 1, S, S + 1, 31, 32, 63, 64 + 5, rng.int(256), rng.int(256)];
    const op = src === "1" ? (S === 8 ? 0xd0 : 0xd1) : src === "cl" ? (S === 8 ? 0xd2 : 0xd3) : (S === 8 ? 0xc0 : 0xc1);
    for (const c of counts) {
      const a = rng.pick(vals);
      const code = [...sizePfx(S), op, modrm(n, mem), ...(src === "ib" ? [c & 0xff] : [])];
      const gpr = regs({ [RAX]: mem ? 0n : a | (rng.u64() & ~MASK(S)), [RCX]: BigInt(c) | (rng.u64() & ~0xffn), [RBX]: DATA_BASE + 0x100n });
      out.push({
        c: { code: Uint8Array.from(code), gpr, rflags: rng.pick(flagInputs(rng)), patches: mem ? [{ addr: DATA_BASE + 0x100n, bytes: le(a, S / 8) }] : [] },
        label: `${names[n]}${S} ${mem ? "mem" : "reg"},${src} a=${a.toString(16)} c=${c}`,
      });
    }
  }
  // SHLD/SHRD: all counts 0..max for 16-bit, boundary counts for 32/64
  for (const S of [16, 32, 64]) for (const mem of [false, true]) for (const left of [true, false]) for (const cl of [true, false]) {
    const counts = S === 16 ? Array.from({ length: 32 }, (_, i) => i) : [0, 1, 2, S / 2, S - 1, S, S + 1, 63, rng.int(256), rng.int(256)];
    for (const c of counts) for (let k = 0; k < 2; k++) {
      const a = rng.pick(operandValues(S, rng, 3)), b = rng.pick(operandValues(S, rng, 3));
      const op = (left ? 0xa4 : 0xac) + (cl ? 1 : 0);
      const code = [...sizePfx(S), 0x0f, op, mem ? 0x13 : 0xd0, ...(cl ? [] : [c & 0xff])];
      const gpr = regs({ [RAX]: mem ? 0n : a, [RDX]: b, [RCX]: BigInt(c), [RBX]: DATA_BASE + 0x100n });
      out.push({
        c: { code: Uint8Array.from(code), gpr, rflags: rng.pick(flagInputs(rng)), patches: mem ? [{ addr: DATA_BASE + 0x100n, bytes: le(a, S / 8) }] : [] },
        label: `${left ? "shld" : "shrd"}${S} ${mem ? "mem" : "reg"},${cl ? "cl" : "ib"} a=${a.toString(16)} b=${b.toString(16)} c=${c}`,
      });
    }
  }
  // edge forms: count 0 on read-only memory still faults (the access is a
  // read-modify-write), LOCK is #UD, high-byte and REX byte registers
  const edge: [string, number[], Record<number, bigint>][] = [
    ["shl [code],0", [0xc1, 0x23, 0x00], { [RBX]: CODE_BASE }],
    ["shl [code],cl=0", [0xd3, 0x23], { [RBX]: CODE_BASE }],
    ["rol [code],0", [0xc1, 0x03, 0x00], { [RBX]: CODE_BASE }],
    ["rcl [code],cl=32", [0xd3, 0x13], { [RBX]: CODE_BASE, [RCX]: 32n }],
    ["shld [code],edx,0", [0x0f, 0xa4, 0x13, 0x00], { [RBX]: CODE_BASE }],
    ["lock shl [data],1", [0xf0, 0xd1, 0x23], { [RBX]: DATA_BASE }],
    ["shl ah,cl", [0xd2, 0xe4], { [RAX]: 0x8100n, [RCX]: 1n }],
    ["rcr bh,1", [0xd0, 0xdf], { [RBX]: 0x8100n }],
    ["shl sil,cl", [0x40, 0xd2, 0xe6], { 6: 0x81n, [RCX]: 1n }],
    ["sar dil,3", [0x40, 0xc0, 0xff, 0x03], { 7: 0x80n }],
    ["shl dword [unmapped],1", [0xd1, 0x23], { [RBX]: 0x50000000n }],
  ];
  for (const [label, code, over] of edge) out.push({ c: { code: Uint8Array.from(code), gpr: regs(over), rflags: 0x8d5n }, label });
  return out;
}

test("differential vs silicon: every group-2 form and SHLD/SHRD", () => {
  const cases = shiftCases(0x5eed5a1fn);
  const host = new EmuRunner();
  const bad = differential(host, cases);
  if (bad === null) { console.log(`SKIP shift differential: ${nativeSkipReason()}`); return; }
  console.log(`shift differential: ${cases.length} cases, ${bad.length} mismatches`);
  assert.ok(cases.length > 1500);
  assert.equal(bad.slice(0, 20), []);
});

test.run();
