// AMX on the Sapphire Rapids model, against a JavaScript reference of the
// SDM pseudo-code and the measured rules of shared/reference/isa.md §10
// (this host has no AMX, so there is no native side to compare with).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { DATA_BASE, DEFAULT_RSP, CODE_BASE, type NativeCase } from "../native/native";

const emu = new EmuRunner("sapphire-rapids");
emu.xcr0 = 0x602e7n;
const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
const L = emu.cpu.L;

// rdi = DATA (tile config), rsi = stride, rbx = DATA+0x1000 (A), rcx = DATA+0x2000 (B), rdx = DATA+0x3000 (C out)
function gprs(stride = 64n) {
  return Array.from({ length: 16 }, (_, i) =>
    i === 4 ? DEFAULT_RSP : i === 7 ? DATA_BASE : i === 6 ? stride : i === 3 ? DATA_BASE + 0x1000n : i === 1 ? DATA_BASE + 0x2000n : i === 2 ? DATA_BASE + 0x3000n : 0n);
}
function cfg(palette: number, tiles: [number, number][], startRow = 0): Uint8Array {
  const c = new Uint8Array(64);
  c[0] = palette; c[1] = startRow;
  tiles.forEach(([rows, colsb], t) => { c[16 + 2 * t] = colsb & 0xff; c[17 + 2 * t] = colsb >> 8; c[48 + t] = rows; });
  return c;
}
const LDTILECFG = "c4e2784907";                     // ldtilecfg [rdi]
const STTILECFG = "c4e2794907";                     // sttilecfg [rdi]
const RELEASE = "c4e27849c0";
const load = (t: number, base: string) => `c4e27b4b${(0x04 | (t << 3)).toString(16).padStart(2, "0")}${base}`;  // tileloadd tmmT, [base+rsi]
const STORE_T2_RDX = "c4e27a4b1432";                 // tilestored [rdx+rsi], tmm2
const TDPBSSD = "c4e2735ed0";                        // tdpbssd tmm2, tmm0, tmm1
const TDPBF16PS = "c4e2725cd0";                      // tdpbf16ps tmm2, tmm0, tmm1

function run(code: string, patches: { addr: bigint; bytes: Uint8Array }[], setup?: Parameters<EmuRunner["run"]>[2], stride = 64n) {
  const c: NativeCase = { code: hex(code), gpr: gprs(stride), dataSeed: 0n, patches, dumpData: true };
  return emu.run(c, 100_000, setup);
}

test("TDPBSSD: LDTILECFG, two TILELOADDs, dot product, TILESTORED match the SDM pseudo-code", () => {
  const M = 3, K = 4, N = 5;                        // A: M×(4K) int8, B: K×(4N) int8, C: M×N int32
  const A = Int8Array.from({ length: M * 64 }, (_, i) => ((i * 37) % 255) - 127);
  const B = Int8Array.from({ length: K * 64 }, (_, i) => ((i * 91 + 5) % 251) - 125);
  const r = run(LDTILECFG + load(0, "33") + load(1, "31") + TDPBSSD + STORE_T2_RDX, [
    { addr: DATA_BASE, bytes: cfg(1, [[M, 4 * K], [K, 4 * N], [M, 4 * N]]) },
    { addr: DATA_BASE + 0x1000n, bytes: new Uint8Array(A.buffer) },
    { addr: DATA_BASE + 0x2000n, bytes: new Uint8Array(B.buffer) },
  ]);
  assert.is(r.status, "ok", `fault ${r.vector}`);
  const out = new DataView(r.data!.buffer, 0x3000);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let sum = 0;
    for (let k = 0; k < K; k++) for (let b = 0; b < 4; b++) sum += A[m * 64 + 4 * k + b] * B[k * 64 + 4 * n + b];
    assert.is(out.getInt32(m * 64 + 4 * n, true), sum | 0, `C[${m}][${n}]`);
  }
  // XINUSE: config (17) and data (18) in use
  assert.is((emu.cpu.u64(L.S_XINUSE) >> 17n) & 3n, 3n);
});

test("TDPBF16PS: pairwise BF16 products summed in FP32", () => {
  const bf = (x: number) => { const f = new Float32Array([x]); return new Uint16Array(f.buffer)[1]; };
  const toF = (h: number) => new Float32Array(new Uint32Array([h << 16]).buffer)[0];
  const A = new Uint16Array(2 * 32), B = new Uint16Array(2 * 32);
  for (let i = 0; i < A.length; i++) { A[i] = bf(1.5 + i * 0.25); B[i] = bf(-0.75 + i * 0.5); }
  const r = run(LDTILECFG + load(0, "33") + load(1, "31") + TDPBF16PS + STORE_T2_RDX, [
    { addr: DATA_BASE, bytes: cfg(1, [[1, 8], [2, 8], [1, 8]]) },
    { addr: DATA_BASE + 0x1000n, bytes: new Uint8Array(A.buffer) },
    { addr: DATA_BASE + 0x2000n, bytes: new Uint8Array(B.buffer) },
  ]);
  assert.is(r.status, "ok");
  const out = new Float32Array(r.data!.buffer.slice(0x3000, 0x3008));
  for (let n = 0; n < 2; n++) {
    let acc = 0;
    for (let k = 0; k < 2; k++) {
      const p0 = Math.fround(toF(A[2 * k]) * toF(B[k * 32 + 2 * n]));
      const p1 = Math.fround(toF(A[2 * k + 1]) * toF(B[k * 32 + 2 * n + 1]));
      acc = Math.fround(acc + Math.fround(p0 + p1));
    }
    assert.is(out[n], acc);
  }
});

test("LDTILECFG rejects the configurations measured as #GP and accepts the measured odd ones", () => {
  const gp: [string, Uint8Array][] = [
    ["palette 2", cfg(2, [[1, 4]])], ["palette 255", cfg(255, [[1, 4]])],
    ["colsb0=65", cfg(1, [[1, 65]])], ["rows0=17", cfg(1, [[17, 64]])],
    ["rows0=0 colsb0=64", cfg(1, [[0, 64]])], ["rows0=4 colsb0=0", cfg(1, [[4, 0]])],
  ];
  for (const [b, byte] of [[2, 1], [15, 1], [32, 1], [47, 1], [56, 1], [63, 1]]) {
    const c = cfg(1, [[1, 4]]); c[b] = byte; gp.push([`byte ${b} set`, c]);
  }
  for (const [name, c] of gp) {
    const r = run(LDTILECFG, [{ addr: DATA_BASE, bytes: c }]);
    assert.is(r.vector, 13, name);
    assert.is(r.status, "fault", name);
  }
  const ee = new Uint8Array(64).fill(0xee); ee[0] = 0;
  for (const [name, c] of [["palette 0 with junk", ee], ["colsb0=3", cfg(1, [[1, 3]])], ["start_row=200", cfg(1, [[4, 64]], 200)]] as [string, Uint8Array][]) {
    const r = run(LDTILECFG, [{ addr: DATA_BASE, bytes: c }]);
    assert.is(r.status, "ok", name);
  }
});

test("#UD before the XFD #NM: unconfigured tiles, tmm8, no SIB, equal operands", () => {
  const xfd = (cpu: EmuRunner["cpu"]) => cpu.setU64(L.S_XFD, 1n << 18n);
  assert.is(run("c4e27b49c0", [], xfd).vector, 6, "TILEZERO with tiles unconfigured");
  const c = cfg(1, [[2, 8], [2, 8], [2, 8]]);
  assert.is(run(LDTILECFG + "c4627b49c0", [{ addr: DATA_BASE, bytes: c }], xfd).vector, 6, "tmm8");
  assert.is(run(LDTILECFG + "c4e27b4b07", [{ addr: DATA_BASE, bytes: c }], xfd).vector, 6, "TILELOADD without SIB");
  assert.is(run(LDTILECFG + "c4e27b5ec0", [{ addr: DATA_BASE, bytes: c }], xfd).vector, 6, "TDPBSSD tmm0,tmm0,tmm0");
});

test("XFD[18]=1: data instructions #NM with XFD_ERR[18]; LDTILECFG/STTILECFG/TILERELEASE do not", () => {
  const c = cfg(1, [[2, 8], [2, 8], [2, 8]]);
  const xfd = (cpu: EmuRunner["cpu"]) => { cpu.setU64(L.S_XFD, 1n << 18n); cpu.setU64(L.S_XFD_ERR, 0n); };
  for (const [name, code] of [["tilezero", "c4e27b49c0"], ["tileloadd", load(0, "33")], ["tilestored", STORE_T2_RDX], ["tdpbssd", TDPBSSD]]) {
    const r = run(LDTILECFG + code, [{ addr: DATA_BASE, bytes: c }], xfd);
    assert.is(r.vector, 7, name);
    assert.is(r.rip, CODE_BASE + 5n, `${name}: the fault is at the instruction`);
    assert.is(emu.cpu.u64(L.S_XFD_ERR), 1n << 18n, `${name}: XFD_ERR`);
  }
  const r = run(LDTILECFG + STTILECFG + RELEASE, [{ addr: DATA_BASE, bytes: c }], xfd);
  assert.is(r.status, "ok");
});

test("XFD[18]=1: XSAVE writes XSTATE_BV[18]=0 and zeros; XRSTOR of XSTATE_BV[18]=1 is #NM", () => {
  const c = cfg(1, [[2, 8]]);
  // load a tile with XFD clear, then set XFD[18] by hand (user mode cannot WRMSR) and XSAVE into DATA+0x4000
  const code = LDTILECFG + load(0, "33") + "48c7c7 00400020".replace(/\s/g, "") + "b8ffffffff" + "baffffffff" + "480fae27";
  const r0 = run(code, [{ addr: DATA_BASE, bytes: c }, { addr: DATA_BASE + 0x1000n, bytes: new Uint8Array(64).fill(0x5a) }]);
  assert.is(r0.status, "ok");
  const hdr = new DataView(r0.data!.buffer, 0x4000 + 512);
  assert.is((hdr.getBigUint64(0, true) >> 17n) & 3n, 3n, "XSTATE_BV[17:18] with XFD clear");
  // now load tiles with XFD clear, then set XFD[18] as the kernel would and save in host mode
  const r1 = run(LDTILECFG + load(0, "33"), [{ addr: DATA_BASE, bytes: c }, { addr: DATA_BASE + 0x1000n, bytes: new Uint8Array(64).fill(0x5a) }]);
  assert.is(r1.status, "ok");
  const cpu = emu.cpu;
  cpu.setU64(L.S_XFD, 1n << 18n);
  const buf = cpu.alloc(16384, 64);
  assert.is((cpu.ex.hostmode_xsave as (b: number, l: number, h: number) => number)(buf, -1, -1), 0);
  const hv = new DataView(cpu.bytes.buffer, buf);
  assert.is((hv.getBigUint64(512, true) >> 17n) & 3n, 1n, "XFD-disabled TILEDATA saved as XSTATE_BV[18]=0");
  assert.ok(cpu.bytes.subarray(buf + 2816, buf + 2816 + 8192).every((b) => b === 0), "init configuration written");
  // crafting XSTATE_BV[18]=1 and restoring with XFD[18]=1 must #NM (host mode: returned, XFD_ERR set)
  hv.setBigUint64(512, hv.getBigUint64(512, true) | (1n << 18n), true);
  cpu.setU64(L.S_XFD_ERR, 0n);
  assert.is((cpu.ex.hostmode_xrstor as (b: number, l: number, h: number) => number)(buf, -1, -1), 7);
  assert.is(cpu.u64(L.S_XFD_ERR), 1n << 18n);
  // the same buffer with XSTATE_BV[18]=0 restores fine
  hv.setBigUint64(512, hv.getBigUint64(512, true) & ~(1n << 18n), true);
  assert.is((cpu.ex.hostmode_xrstor as (b: number, l: number, h: number) => number)(buf, -1, -1), 0);
});

test("TILELOADD faulting at row 1 leaves row 0 loaded and start_row = 1", () => {
  // stride 0x40000000 puts row 1 at 0x60001000 (unmapped)
  const c = cfg(1, [[2, 8]]);
  const r = run(LDTILECFG + load(0, "33"), [{ addr: DATA_BASE, bytes: c }, { addr: DATA_BASE + 0x1000n, bytes: hex("0102030405060708") }], undefined, 0x40000000n);
  assert.is(r.vector, 14);
  assert.is(emu.cpu.bytes[emu.cpu.L.XSTATE + emu.cpu.L.X_TILECFG + 1], 1, "start_row");
  assert.equal([...emu.cpu.bytes.subarray(emu.cpu.L.XSTATE + emu.cpu.L.X_TILES, emu.cpu.L.XSTATE + emu.cpu.L.X_TILES + 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
});


test("guest #NM handler (like amx_test): reads XFD_ERR = 1<<18, clears it and XFD, the TILEZERO re-executes", () => {
  // code: ldtilecfg; tilezero tmm0 (faults); then write a marker and stop.
  // handler at +0x40: rdmsr XFD_ERR → [rdx]; wrmsr XFD_ERR = 0; wrmsr XFD = 0; iretq
  const main = LDTILECFG + "c4e27b49c0" + "c7420801000000";            // …; mov dword [rdx+8], 1
  const pad = "90".repeat(0x40 - hex(main).length);
  const handler = "52" + "b9c5010000" + "0f32" + "5a" + "8902" +          // push rdx; ecx=XFD_ERR; rdmsr; pop rdx; mov [rdx], eax
    "52" + "31c0" + "31d2" + "b9c5010000" + "0f30" + "b9c4010000" + "0f30" + "5a" + "48cf";   // zero XFD_ERR, XFD; iretq
  const code = main + pad + handler;
  const c = cfg(1, [[2, 8]]);
  emu.setGate(7, CODE_BASE + 0x40n);
  try {
    // the handler returns to the faulting instruction; the run stops after the marker store
    const r2 = emu.run({ code: hex(code), gpr: gprs(), dataSeed: 0n, patches: [{ addr: DATA_BASE, bytes: c }], dumpData: true }, 200, (cpu) => {
      EmuRunner.toCpl0(cpu);
      cpu.setU64(L.S_XFD, 1n << 18n);
      // stop right after the marker store instead of at the end of the whole code
      cpu.view.setBigUint64(cpu.L.SCRATCH + cpu.L.BP_LIST, CODE_BASE + BigInt(hex(main).length), true);
    });
    assert.is(r2.status, "ok", `vector ${r2.vector}`);
    const d = new DataView(r2.data!.buffer);
    assert.is(d.getUint32(0x3000, true), 1 << 18, "XFD_ERR seen by the #NM handler");
    assert.is(d.getUint32(0x3008, true), 1, "TILEZERO re-executed after the handler cleared XFD");
    assert.is(emu.cpu.u64(L.S_XFD_ERR), 0n);
    assert.is(emu.cpu.u64(L.S_XFD), 0n);
  } finally {
    emu.resetGate(7);
  }
});
test.run();
