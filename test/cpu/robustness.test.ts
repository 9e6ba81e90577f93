// Robustness: random guest bytes executed in every mode the CPU supports —
// real mode, 32-bit protected mode, 64-bit long mode, at CPL0 and CPL3, with
// an IDT (IVT in real mode) whose gates all lead to a HLT stub so faults are
// delivered — must never throw in the host, never hang (every run has an
// instruction budget and a wall-clock check), and must leave the CPU in a
// sane state: a known exit reason, RFLAGS reserved bits clear and bit 1 set,
// CPL 0..3 (0 outside protected mode), RIP canonical in 64-bit mode.
// Exits seen: HLT (a fault reached the IDT stub, or HLT at CPL0), IO, MMIO
// (accesses beyond RAM), INTERNAL_ERROR (instruction fetch from beyond RAM,
// as KVM reports it), SHUTDOWN (triple fault), INTR (budget used up).
//
// X86KVM_ROBUST_CHUNKS=<n>  number of 256-byte chunks (default 32768 = 8 MiB of random code)
// X86KVM_ROBUST_SEED=<n>    seed (default 1)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { WasmCpu } from "../../hypervisor/cpu/wasm_cpu";
import { buildCpuid, getModel } from "../../hypervisor/models/models";
import { encodeEntries, featuresOf } from "../../hypervisor/models/cpuid";
import { Rng } from "../helpers/insngen";
import { hostModel } from "../helpers/emu";

const CHUNKS = Number(process.env.X86KVM_ROBUST_CHUNKS ?? 32768);
const SEED = Number(process.env.X86KVM_ROBUST_SEED ?? 1);
const CHUNK = 256;
const BUDGET = 2000;

// guest-physical layout
const RAM = 2 << 20;
const P_GDT = 0x1000, P_IDT64 = 0x2000, P_IDT32 = 0x3000, P_TSS64 = 0x4000, P_TSS32 = 0x4100;
const P_PML4 = 0x5000, P_PDPT = 0x6000, P_PD = 0x7000, P_STUB = 0x8000, P_KSTACK = 0xf000;
const SYS_END = 0x10000;
const P_CODE = 0x40000, CODE_CHUNKS = (0x80000 - P_CODE) / CHUNK;   // below 1 MiB so real mode reaches it

type Mode = "real" | "pm32-cpl0" | "pm32-cpl3" | "lm64-cpl0" | "lm64-cpl3";
const MODES: Mode[] = ["real", "pm32-cpl0", "pm32-cpl3", "lm64-cpl0", "lm64-cpl3"];

const cpu = new WasmCpu(RAM + (1 << 20));
const L = cpu.L;
{
  const m = getModel(hostModel());
  const e = buildCpuid(m);
  cpu.setCpuid(encodeEntries(e), e.length, featuresOf(e), m.vendor === "amd" ? 1 : 0);
}
const ram = cpu.alloc(RAM, 1 << 21);
cpu.ex.slot(0, 0, RAM, ram, 0);

// the system area, built once and restored before every chunk (random code
// at CPL0 may overwrite anything)
const sys = new Uint8Array(SYS_END);
{
  const dv = new DataView(sys.buffer);
  const w64 = (a: number, v: bigint) => dv.setBigUint64(a, v, true);
  // real-mode IVT: every vector → 0800:0000 (P_STUB)
  for (let v = 0; v < 256; v++) { dv.setUint16(v * 4, 0, true); dv.setUint16(v * 4 + 2, P_STUB >> 4, true); }
  w64(P_GDT + 0x08, 0x00af9b000000ffffn);   // 64-bit code DPL0
  w64(P_GDT + 0x10, 0x00cf93000000ffffn);   // data DPL0
  w64(P_GDT + 0x18, 0x00cf9b000000ffffn);   // 32-bit code DPL0
  w64(P_GDT + 0x20, 0x00cffb000000ffffn);   // 32-bit code DPL3
  w64(P_GDT + 0x28, 0x00cff3000000ffffn);   // data DPL3
  w64(P_GDT + 0x30, 0x00affb000000ffffn);   // 64-bit code DPL3
  w64(P_GDT + 0x40, 0x67n | (BigInt(P_TSS64) << 16n) | (0x89n << 40n));   // 64-bit TSS (16 bytes)
  w64(P_GDT + 0x50, 0x67n | (BigInt(P_TSS32) << 16n) | (0x89n << 40n));   // 32-bit TSS
  w64(P_TSS64 + 4, BigInt(P_KSTACK));
  dv.setUint32(P_TSS32 + 4, P_KSTACK, true); dv.setUint32(P_TSS32 + 8, 0x10, true);
  dv.setUint16(P_TSS64 + 0x66, 0x68, true); dv.setUint16(P_TSS32 + 0x66, 0x68, true);
  for (let v = 0; v < 256; v++) {
    // 64-bit interrupt gates (DPL3 so INT n reaches them too) and 32-bit ones
    w64(P_IDT64 + v * 16, BigInt(P_STUB) | (0x08n << 16n) | (0xeen << 40n));
    w64(P_IDT64 + v * 16 + 8, 0n);
    w64(P_IDT32 + v * 8, BigInt(P_STUB) | (0x18n << 16n) | (0xeen << 40n));
  }
  w64(P_PML4, BigInt(P_PDPT) | 7n);
  w64(P_PDPT, BigInt(P_PD) | 7n);
  w64(P_PD, 0x87n);                          // 2 MiB user page: all of RAM
  w64(P_PD + 8, 0x200087n);                  // beyond RAM (MMIO exits)
  sys[P_STUB] = 0xf4;                        // hlt
  sys[P_STUB + 1] = 0xeb; sys[P_STUB + 2] = 0xfd;   // jmp back to hlt
}

const EXITS = new Set([L.EXIT_HLT, L.EXIT_IO, L.EXIT_MMIO, L.EXIT_SHUTDOWN, L.EXIT_INTR, L.EXIT_DEBUG, L.EXIT_EXCEPTION, L.EXIT_INTERNAL_ERROR]);
const canonical = (v: bigint) => BigInt.asIntN(48, v) === BigInt.asIntN(64, v);

function prepare(r: Rng, mode: Mode, code: number): void {
  const b = cpu.bytes;
  cpu.ex.reset();
  b.set(sys, ram);
  cpu.ex.flush_tlb();
  for (let i = 0; i < 16; i++) cpu.setGpr(i, r.chance(0.3) ? BigInt(r.int(0x10000)) : r.u64());
  let fl = BigInt(r.u32() & 0xcd5) | 2n;
  if (r.chance(0.05)) fl |= 0x100n;          // TF
  if (r.chance(0.1)) fl |= 0x40000n;         // AC
  if (r.chance(0.5)) fl |= 0x200n;           // IF
  cpu.setU64(L.S_GDTR_BASE, BigInt(P_GDT)); cpu.setU64(L.S_GDTR_LIMIT, 0x5fn);
  const flat = (sel: number, attr: number) => ({ base: 0n, limit: 0xffffffff, sel, attr });
  if (mode === "real") {
    cpu.setU64(L.S_IDTR_BASE, 0n); cpu.setU64(L.S_IDTR_LIMIT, 0x3ffn);
    cpu.setSeg(L.SEG_CS, { base: BigInt(code & ~0xf), limit: 0xffff, sel: code >> 4, attr: 0x9b });
    cpu.setGpr(4, 0x7000n + BigInt(r.int(0x100)));
    cpu.rip = BigInt(code & 0xf);
  } else if (mode.startsWith("pm32")) {
    const u = mode.endsWith("cpl3");
    cpu.setU64(L.S_IDTR_BASE, BigInt(P_IDT32)); cpu.setU64(L.S_IDTR_LIMIT, 0x7ffn);
    cpu.setU64(L.S_CR0, r.chance(0.5) ? 0x50033n : 0x11n);
    cpu.setSeg(L.SEG_CS, flat(u ? 0x23 : 0x18, u ? 0xc0fb : 0xc09b));
    for (const s of [L.SEG_SS, L.SEG_DS, L.SEG_ES, L.SEG_FS, L.SEG_GS]) cpu.setSeg(s, flat(u ? 0x2b : 0x10, u ? 0xc0f3 : 0xc093));
    cpu.setSeg(L.SEG_TR, { base: BigInt(P_TSS32), limit: 0x67, sel: 0x50, attr: 0x8b });
    cpu.setU32(L.S_CPL, u ? 3 : 0);
    cpu.setGpr(4, 0xe000n - BigInt(r.int(0x100)));
    cpu.rip = BigInt(code);
  } else {
    const u = mode.endsWith("cpl3");
    cpu.setU64(L.S_IDTR_BASE, BigInt(P_IDT64)); cpu.setU64(L.S_IDTR_LIMIT, 0xfffn);
    cpu.setU64(L.S_CR3, BigInt(P_PML4));
    cpu.setU64(L.S_CR4, 0x20n | (r.chance(0.5) ? 0x600n : 0n));
    cpu.setU64(L.S_CR0, r.chance(0.5) ? 0x80050033n : 0x80000011n);
    cpu.setU64(L.S_EFER, 0xd01n);
    cpu.setSeg(L.SEG_CS, { base: 0n, limit: 0xffffffff, sel: u ? 0x33 : 0x08, attr: u ? 0xa0fb : 0xa09b });
    cpu.setSeg(L.SEG_SS, flat(u ? 0x2b : 0x10, u ? 0xc0f3 : 0xc093));
    for (const s of [L.SEG_DS, L.SEG_ES, L.SEG_FS, L.SEG_GS]) cpu.setSeg(s, { base: 0n, limit: 0, sel: 0, attr: 0x800 });
    cpu.setSeg(L.SEG_TR, { base: BigInt(P_TSS64), limit: 0x67, sel: 0x40, attr: 0x8b });
    cpu.setU64(L.S_STAR, (0x1bn << 48n) | (0x08n << 32n));
    cpu.setU64(L.S_LSTAR, BigInt(P_STUB));
    cpu.setU32(L.S_CPL, u ? 3 : 0);
    cpu.setGpr(4, 0xe000n - BigInt(r.int(0x100)));
    cpu.rip = BigInt(code);
  }
  cpu.rflags = fl;
  cpu.ex.state_changed();
}

function sane(mode: Mode, reason: number): string | null {
  if (!EXITS.has(reason)) return `unknown exit reason ${reason}`;
  const m = cpu.ex.mode(), cpl = cpu.ex.cpl();
  const fl = cpu.rflags;
  if (!(fl & 2n)) return `RFLAGS bit 1 clear (${fl.toString(16)})`;
  if (fl & ~0x3f7fd7n) return `RFLAGS reserved bits set (${fl.toString(16)})`;
  if (cpl > 3) return `CPL ${cpl}`;
  if (!(m & L.MODE_PE) && cpl !== 0) return `CPL ${cpl} outside protected mode`;
  if ((m & L.MODE_64) && !canonical(cpu.rip)) return `non-canonical RIP ${cpu.rip.toString(16)} in 64-bit mode`;
  if (!(m & L.MODE_LMA) && cpu.rip >> 32n) return `RIP ${cpu.rip.toString(16)} above 4 GiB outside long mode`;
  void mode;
  return null;
}

test(`${CHUNKS} chunks of ${CHUNK} random bytes run in ${MODES.join(", ")} without host errors, hangs or insane state`, () => {
  const t0 = Date.now();
  const r = new Rng(SEED);
  const reasons = new Map<string, number>();
  const problems: string[] = [];
  let insns = 0, slowest = 0;
  const names = Object.fromEntries(Object.entries(L).filter(([k]) => k.startsWith("EXIT_")).map(([k, v]) => [v, k.slice(5)]));
  for (let c = 0; c < CHUNKS; c++) {
    const slot = c % CODE_CHUNKS;
    if (slot === 0) {
      // a fresh 256 KiB of random code; drop blocks decoded from the old bytes
      const b = cpu.bytes;
      for (let i = 0; i < CODE_CHUNKS * CHUNK; i++) b[ram + P_CODE + i] = r.u32() & 255;
      cpu.ex.flush_code();
    }
    const mode = MODES[c % MODES.length];
    const code = P_CODE + slot * CHUNK + r.int(16);
    prepare(r, mode, code);
    const t = performance.now();
    let reason: number;
    try { reason = cpu.run(BUDGET); } catch (e) {
      problems.push(`chunk ${c} (${mode}, seed ${SEED}): host exception ${e}`);
      continue;
    }
    const dt = performance.now() - t;
    slowest = Math.max(slowest, dt);
    insns += cpu.insns;
    const k = `${mode}:${names[reason] ?? reason}`;
    reasons.set(k, (reasons.get(k) ?? 0) + 1);
    const bad = sane(mode, reason);
    if (bad) problems.push(`chunk ${c} (${mode}): ${bad}`);
    if (dt > 500) problems.push(`chunk ${c} (${mode}): a ${BUDGET}-instruction run took ${dt.toFixed(0)} ms`);
  }
  console.log(`robustness: ${CHUNKS} chunks (${CHUNKS * CHUNK} random bytes), ${insns} instructions, slowest run ${slowest.toFixed(1)} ms, ${(Date.now() - t0) / 1000}s`);
  console.log(`exits: ${JSON.stringify(Object.fromEntries([...reasons].sort()))}`);
  if (problems.length) console.log(problems.slice(0, 30).join("\n"));
  assert.is(problems.length, 0, `${problems.length} problems`);
  assert.ok(insns > CHUNKS, "random code actually executes");
});

test.run();
