// Privileged extended-state rules on the Sapphire Rapids model: the XSETBV
// #GP table, XSAVES/XRSTORS at CPL 0 and #GP at CPL 3, XFD/XFD_ERR MSR
// writes, XGETBV ECX rules, RDPKRU/WRPKRU checks and protection-key page
// faults (isa.md §3, §6.2, §9). The native harness runs at CPL 3 only and
// this host lacks PKU/XFD, so these compare with the documented values.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { DATA_BASE, DEFAULT_RSP, type NativeCase } from "../native/native";

const emu = new EmuRunner("sapphire-rapids");
emu.xcr0 = 0x602e7n;
const L = emu.cpu.L;
const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
const regs = (o: Record<number, bigint>) => Array.from({ length: 16 }, (_, i) => o[i] ?? (i === 4 ? DEFAULT_RSP : 0n));
const run = (code: string, o: Record<number, bigint>, cpl0 = true, setup?: (c: EmuRunner["cpu"]) => void) =>
  emu.run({ code: hex(code), gpr: regs(o), dataSeed: 0n } as NativeCase, 10_000, (c) => { if (cpl0) EmuRunner.toCpl0(c); setup?.(c); });

const XSETBV = "0f01d1", XGETBV = "0f01d0", WRMSR = "0f30", RDMSR = "0f32";

test("XSETBV: the #GP table of isa.md §3.1 and accepted values", () => {
  const bad: [string, bigint][] = [
    ["x87 clear", 0x2n], ["AVX without SSE", 0x5n], ["AVX-512 partial", 0x27n], ["AVX-512 without AVX", 0xe3n],
    ["TILECFG without TILEDATA", 0x20007n], ["TILEDATA without TILECFG", 0x40007n], ["XSS-only bit 11", 0x807n],
    ["reserved bit 63", (1n << 63n) | 3n], ["MPX (not supported here)", 0x1fn],
  ];
  for (const [name, v] of bad) {
    const r = run(XSETBV, { 0: v & 0xffffffffn, 2: v >> 32n, 1: 0n });
    assert.is(r.vector, 13, name);
  }
  assert.is(run(XSETBV, { 0: 7n, 1: 1n }).vector, 13, "ECX != 0");
  for (const v of [1n, 3n, 7n, 0xe7n, 0x2e7n, 0x602e7n]) {
    const r = run(XSETBV + XGETBV, { 0: v, 1: 0n });
    assert.is(r.status, "ok", `0x${v.toString(16)}`);
    assert.is(r.gpr[0], v);
  }
  assert.is(run(XSETBV, { 0: 7n }, false).vector, 13, "CPL 3");
});

test("XGETBV: ECX=2 is #GP; works at CPL 3; ECX=1 gives XCR0 & XINUSE", () => {
  assert.is(run(XGETBV, { 1: 2n }, false).vector, 13);
  const r = run("c5fd76c0" + XGETBV, { 1: 1n }, false);            // vpcmpeqd ymm0; xgetbv(1)
  assert.is(r.gpr[0], 6n);
});

test("XSAVES/XRSTORS: CPL 0 round trip (compacted, XCOMP_BV bit 63); #GP at CPL 3", () => {
  const code = "c5fd76c0" + "48c7c7 00100020".replace(/ /g, "") + "480fc72f" + "c5fc77" + "480fc71f";  // vpcmpeqd ymm0; rdi=DATA+0x1000; xsaves; vzeroall; xrstors
  const r = run(code, { 0: 0xffffffffn, 2: 0xffffffffn });
  assert.is(r.status, "ok", `vector ${r.vector}`);
  const x = emu.cpu.L.XSTATE + emu.cpu.L.X_YMMH;
  assert.ok(emu.cpu.bytes.subarray(x, x + 16).every((b) => b === 0xff), "YMM0 upper restored");
  assert.is(run("480fc72f", { 7: DATA_BASE, 0: 7n }, false).vector, 13, "XSAVES at CPL 3");
  assert.is(run("480fc71f", { 7: DATA_BASE, 0: 7n }, false).vector, 13, "XRSTORS at CPL 3");
});

test("XSAVE: misaligned area is #GP; CR0.TS gives #NM; LOCK is #UD", () => {
  assert.is(run("480fae27", { 7: DATA_BASE + 8n, 0: 7n }, false).vector, 13);
  assert.is(run("480fae27", { 7: DATA_BASE, 0: 7n }, true, (c) => c.setU64(L.S_CR0, c.u64(L.S_CR0) | 8n)).vector, 7);
  assert.is(run("f0480fae27", { 7: DATA_BASE, 0: 7n }, false).vector, 6);
});

test("IA32_XFD / XFD_ERR: only bit 18 is writable; #GP at CPL 3; IA32_XSS takes bits 11-12 only", () => {
  const wr = (msr: number, v: bigint, cpl0 = true) => run(WRMSR + RDMSR, { 1: BigInt(msr), 0: v & 0xffffffffn, 2: v >> 32n }, cpl0);
  assert.is(wr(0x1c4, 1n << 18n).gpr[0], 1n << 18n);
  assert.is(wr(0x1c4, 1n << 17n).vector, 13, "XFD bit 17");
  assert.is(wr(0x1c5, 1n << 18n).gpr[0], 1n << 18n);
  assert.is(wr(0x1c4, 1n << 18n, false).vector, 13, "CPL 3");
  assert.is(wr(0xda0, 0x1800n).status, "ok");
  assert.is(wr(0xda0, 0x200n).vector, 13, "XSS bit 9");
});

test("RDPKRU/WRPKRU: #UD without CR4.PKE, #GP on ECX/EDX, upper halves ignored", () => {
  const pke = (c: EmuRunner["cpu"]) => c.setU64(L.S_CR4, c.u64(L.S_CR4) | 0x400000n);
  assert.is(run("0f01ee", {}, false).vector, 6);
  assert.is(run("0f01ef", { 0: 0x55555554n }, false, pke).status, "ok");
  assert.is(run("0f01ef" + "0f01ee", { 0: 0x55555554n, 1: 1n << 32n, 2: 1n << 32n }, false, pke).gpr[0], 0x55555554n);
  assert.is(run("0f01ef", { 1: 1n }, false, pke).vector, 13);
  assert.is(run("0f01ef", { 2: 1n }, false, pke).vector, 13);
  assert.is(run("0f01ee", { 1: 1n }, false, pke).vector, 13);
});

test("protection keys: AD denies reads (#PF 0x25), WD denies user writes (0x27)", () => {
  emu.setDataPageKey(1);
  try {
    const pke = (pkru: bigint) => (c: EmuRunner["cpu"]) => { c.setU64(L.S_CR4, c.u64(L.S_CR4) | 0x400000n); c.setU64(L.S_PKRU, pkru); };
    const read = "488b07", write = "488907";     // mov rax,[rdi] / mov [rdi],rax
    let r = run(read, { 7: DATA_BASE }, false, pke(0b01n << 2n));
    assert.is(r.vector, 14); assert.is(r.errorCode, 0x25n); assert.is(r.cr2, DATA_BASE);
    r = run(write, { 7: DATA_BASE }, false, pke(0b01n << 2n));
    assert.is(r.errorCode, 0x27n);
    r = run(write, { 7: DATA_BASE }, false, pke(0b10n << 2n));
    assert.is(r.errorCode, 0x27n);
    assert.is(run(read, { 7: DATA_BASE }, false, pke(0b10n << 2n)).status, "ok", "WD does not block reads");
    assert.is(run(read, { 7: DATA_BASE + 0x1000n }, false, pke(0b01n << 2n)).status, "ok", "other pages keep key 0");
    // WRPKRU changes take effect for the next access (cached translations are dropped)
    r = run(read + "31c0 31c9 31d2 0f01ef".replace(/ /g, "") + read, { 7: DATA_BASE }, false, pke(0n));
    assert.is(r.status, "ok");
  } finally {
    emu.setDataPageKey(0);
  }
});

test.run();
