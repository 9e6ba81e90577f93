// Differential testing helpers shared by the instruction-family tests
// (test/cpu/shift|muldiv|bit.test.ts): a seeded PRNG, instruction encoders
// for the ModRM forms those families use, and a runner that executes a batch
// of NativeCases on silicon and on the emulator and lists every difference in
// gpr, rflags & 0xCD5, status/vector/error code/RIP and memHash.
import { runNative, nativeAvailable, DEFAULT_RSP, type NativeCase, type NativeResult } from "../native/native";
import { EmuRunner } from "./emu";
import * as assert from "uvu/assert";

/** xorshift64*: reproducible from its seed. */
export class Rng {
  private s: bigint;
  constructor(seed: bigint) { this.s = seed || 1n; }
  u64(): bigint {
    let x = this.s;
    x ^= x >> 12n; x ^= (x << 25n) & 0xffffffffffffffffn; x ^= x >> 27n;
    this.s = x;
    return (x * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
  }
  int(n: number): number { return Number(this.u64() % BigInt(n)); }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
}

export const MASK = (S: number) => (1n << BigInt(S)) - 1n;

/** Boundary values for an S-bit operand plus `nrand` random ones. */
export function operandValues(S: number, rng: Rng, nrand: number): bigint[] {
  const m = MASK(S), h = 1n << BigInt(S - 1);
  const v = [0n, 1n, 2n, h - 1n, h, h + 1n, m, m - 1n, 0x55n & m, (0xaaaaaaaaaaaaaaaan & m)];
  for (let i = 0; i < nrand; i++) v.push(rng.u64() & m);
  return v;
}

/** RFLAGS inputs: none, all, and a random subset of CF PF AF ZF SF DF OF. */
export function flagInputs(rng: Rng): bigint[] { return [0n, 0xcd5n, rng.u64() & 0xcd5n]; }

export function regs(over: Record<number, bigint>): bigint[] {
  return Array.from({ length: 16 }, (_, i) => over[i] ?? (i === 4 ? DEFAULT_RSP : 0n));
}
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3;

/** Prefixes for an operand size in 64-bit mode. */
export function sizePfx(S: number): number[] { return S === 16 ? [0x66] : S === 64 ? [0x48] : []; }
/** ModRM: register form r/m = RAX (rm 0) or memory form [RBX] (mod 00, rm 3). */
export function modrm(reg: number, mem: boolean): number { return mem ? (reg << 3) | 3 : 0xc0 | (reg << 3); }

export function le(v: bigint, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return b;
}

export interface Labeled { c: NativeCase; label: string; }

function same(a: NativeResult, b: NativeResult): string | null {
  const d: string[] = [];
  if (a.status !== b.status) d.push(`status ${a.status}/${b.status}`);
  if (a.status === "fault" && (a.vector !== b.vector || a.errorCode !== b.errorCode)) d.push(`vector ${a.vector}:${a.errorCode}/${b.vector}:${b.errorCode}`);
  if (a.rip !== b.rip) d.push(`rip ${a.rip.toString(16)}/${b.rip.toString(16)}`);
  for (let i = 0; i < 16; i++) if (a.gpr[i] !== b.gpr[i]) d.push(`gpr${i} ${a.gpr[i].toString(16)}/${b.gpr[i].toString(16)}`);
  const fa = a.rflags & 0xcd5n, fb = b.rflags & 0xcd5n;
  if (fa !== fb) d.push(`rflags ${fa.toString(16)}/${fb.toString(16)} (diff ${(fa ^ fb).toString(16)})`);
  if (a.memHash !== b.memHash) d.push("memHash");
  return d.length ? d.join(", ") : null;
}

/**
 * Run the cases natively and on `emu`; returns the mismatches as text lines
 * ("label: silicon/emulator ..."), or null when silicon cannot run here
 * (the caller prints a visible SKIP).
 */
export function differential(emu: EmuRunner, cases: Labeled[]): string[] | null {
  const av = nativeAvailable();
  if (!av.ok) return null;
  const nat = runNative(cases.map((x) => x.c));
  const out: string[] = [];
  cases.forEach((x, i) => {
    const e = emu.run(x.c);
    const d = same(nat[i], e);
    if (d) out.push(`${x.label}: ${d}`);
  });
  return out;
}

export function nativeSkipReason(): string | undefined { const a = nativeAvailable(); return a.ok ? undefined : a.reason; }

/** Assert one emulator result equals silicon's: status, vector, GPRs, the defined
 *  arithmetic flags and the first `dataBytes` of the DATA page (both runs must dump it). */
export function assertSameAsSilicon(e: NativeResult, r: NativeResult, dataBytes: number): void {
  assert.is(e.status, r.status, "status");
  assert.is(e.vector, r.vector, "vector");
  assert.equal(e.gpr.map((x) => x.toString(16)), r.gpr.map((x) => x.toString(16)), "registers");
  assert.is(e.rflags & 0x8d5n, r.rflags & 0x8d5n, "flags");
  for (let k = 0; k < dataBytes; k++) {
    if (e.data![k] !== r.data![k]) assert.unreachable(`DATA+0x${k.toString(16)}: native ${r.data![k].toString(16)} emulator ${e.data![k].toString(16)}`);
  }
}

/**
 * Run `cases` natively and on the emulator and fail with the first differences `diff` reports
 * (labels name the cases). At least one case must complete natively, or the check proves nothing.
 */
export function assertBatchMatchesSilicon(emu: EmuRunner, cases: NativeCase[], labels: string[],
  diff: (native: NativeResult, emu: NativeResult) => string | null, budget?: number): void {
  const res = runNative(cases);
  const bad: string[] = [];
  let ok = 0;
  cases.forEach((c, i) => {
    const d = diff(res[i], budget === undefined ? emu.run(c) : emu.run(c, budget));
    if (d) bad.push(`${labels[i]}: silicon / emulator: ${d}`);
    if (res[i].status === "ok") ok++;
  });
  assert.ok(ok > 0, "no case ran to completion natively");
  if (bad.length) assert.unreachable(`${bad.length}/${cases.length} differ:\n` + bad.slice(0, 6).join("\n"));
}

/**
 * A whole program's end state (the gcc-compiled kernels): it must complete natively, and the
 * emulator must end the same way with the same GPRs, RIP, defined flags and memory hash.
 */
export function wholeRunDiff(n: NativeResult, e: NativeResult): string | null {
  const d: string[] = [];
  if (n.status !== "ok") d.push(`native ${n.status} #${n.vector} at ${n.rip.toString(16)}`);
  if (n.status !== e.status || n.vector !== e.vector) d.push(`status ${n.status}#${n.vector} / ${e.status}#${e.vector} at ${e.rip.toString(16)}`);
  if (n.rip !== e.rip) d.push(`rip ${n.rip.toString(16)} / ${e.rip.toString(16)}`);
  for (let j = 0; j < 16; j++) if (n.gpr[j] !== e.gpr[j]) d.push(`gpr${j} ${n.gpr[j].toString(16)} / ${e.gpr[j].toString(16)}`);
  if ((n.rflags & 0xcd5n) !== (e.rflags & 0xcd5n)) d.push(`flags ${(n.rflags & 0xcd5n).toString(16)} / ${(e.rflags & 0xcd5n).toString(16)}`);
  if (n.memHash !== e.memHash) d.push("memHash");
  return d.length ? d.join("; ") : null;
}
