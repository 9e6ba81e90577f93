// Differential test of the integer ISA against silicon: seeded random
// instruction SEQUENCES (test/helpers/insngen.ts) run on the host CPU
// (test/native/native.ts) and on the emulator (test/helpers/emu.ts) and are
// compared field by field: GPRs, RIP, RFLAGS & 0xCD5, status, vector, error
// code, CR2 (for #PF) and the hash of DATA+STACK.
//
// X86KVM_DIFF_N=<count>     number of sequences (default 10000; raise for soak runs)
// X86KVM_DIFF_SEED=<n>      first seed (default 1); case i uses seed SEED+i
// X86KVM_DIFF_ONLY=<seed>   run just that seed and print it in full
//
// A mismatch prints the seed, the disassembly, the register diff and the
// shortest prefix of the sequence that already mismatches (its last
// instruction is the culprit), so a failure is directly actionable.
//
// Excluded because the value is host-specific (see test/native/native.ts):
// CPUID, RDTSC/RDTSCP, RDPID, RDRAND/RDSEED, XGETBV, RDPKRU, SGDT/SIDT/SMSW/
// SLDT/STR (answered by Linux's UMIP emulation), VMCALL/VMMCALL, INT1, INT 0x80
// (Linux's 32-bit syscall gate), LAR/LSL/VERR/VERW and segment loads of
// selectors other than 0, 0x2b, 0x33 (the host's GDT), far transfers to other
// code segments (compat mode is unjudgeable natively), SYSCALL with TF set
// (its #DB is taken in the kernel), addresses in the kernel half or page 0 for
// #PF error codes (Linux and the EmuRunner map different things there: the P
// bit is not compared for those, see pfMask).
// Generated: ALU (all encodings, LOCK), MOV/MOVZX/MOVSX/MOVSXD/CMOVcc/SETcc/
// BSWAP/XLAT/LAHF/SAHF/MOVBE/moffs, PUSH/POP/ENTER/LEAVE (66 forms, RSP),
// Jcc/JMP/LOOP/JrCXZ forward, CALL/RET (near, indirect, 66-prefixed), far
// RET/IRETQ/JMP/CALL within CS 0x33, PUSHF/POPF (incl. AC, TF), flag ops,
// fences/hints/CLFLUSH/prefetch, INT3/INT n/INTO/SYSCALL, privileged and
// I/O instructions (#GP at CPL3), #UD encodings, RD/WR FS/GS BASE, MOV Sreg,
// and the SSE/AVX rows of test/helpers/vecenc.ts (legacy and VEX, YMM0-15
// loaded from DATA first and stored to DATA last so the hash covers them).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from "iced-x86";
import { EmuRunner } from "../helpers/emu";
import { SeqGen, ENABLED_FAMILIES } from "../helpers/insngen";
import { nativeAvailable, runNative, CODE_BASE, GPR_NAMES, type NativeCase, type NativeResult } from "../native/native";

const N = Number(process.env.X86KVM_DIFF_N ?? 10000);
const SEED = Number(process.env.X86KVM_DIFF_SEED ?? 1);
const ONLY = process.env.X86KVM_DIFF_ONLY;
const FLAGS = 0xcd5n;
const MAX_REPORT = 12;

export function disasm(code: Uint8Array, mark = -1): string[] {
  const dec = new Decoder(64, code, DecoderOptions.None);
  dec.ip = CODE_BASE;
  const fmt = new Formatter(FormatterSyntax.Intel);
  const out: string[] = [];
  while (dec.canDecode) {
    const off = dec.position;
    const ins = dec.decode();
    const hex = Array.from(code.subarray(off, off + ins.length), (b) => b.toString(16).padStart(2, "0")).join(" ");
    out.push(`${off === mark ? ">" : " "} ${off.toString(16).padStart(4, "0")}  ${hex.padEnd(36)} ${fmt.format(ins)}`);
    ins.free();
  }
  dec.free(); fmt.free();
  return out;
}

/** Instruction start offsets (as iced decodes the bytes linearly). */
function boundaries(code: Uint8Array): number[] {
  const dec = new Decoder(64, code, DecoderOptions.None);
  const out: number[] = [];
  while (dec.canDecode) { out.push(dec.position); dec.decode().free(); }
  dec.free();
  return out;
}

const hex = (v: bigint) => "0x" + v.toString(16);

/** Environment difference, not CPU behaviour: Linux maps the kernel half and
 * the EmuRunner maps its system area at [0, 2 MiB) supervisor-only, while
 * the other side has nothing there, so #PF.P differs for those addresses. */
function pfMask(n: NativeResult): bigint {
  return n.vector === 14 && (n.cr2 < 0x200000n || n.cr2 >= 1n << 63n) ? ~1n : ~0n;
}

/** Differences between two results, as text lines (empty when equal). */
export function diff(nat: NativeResult, emu: NativeResult): string[] {
  const d: string[] = [];
  if (nat.status !== emu.status) d.push(`status: native ${nat.status} emu ${emu.status}`);
  if (nat.vector !== emu.vector) d.push(`vector: native ${nat.vector} emu ${emu.vector}`);
  if (nat.status === "fault" && (nat.errorCode & pfMask(nat)) !== (emu.errorCode & pfMask(nat))) d.push(`errorCode: native ${hex(nat.errorCode)} emu ${hex(emu.errorCode)}`);
  if (nat.status === "fault" && nat.vector === 14 && nat.cr2 !== emu.cr2) d.push(`cr2: native ${hex(nat.cr2)} emu ${hex(emu.cr2)}`);
  if (nat.rip !== emu.rip) d.push(`rip: native ${hex(nat.rip)} emu ${hex(emu.rip)}`);
  for (let i = 0; i < 16; i++)
    if (nat.gpr[i] !== emu.gpr[i]) d.push(`${GPR_NAMES[i]}: native ${hex(nat.gpr[i])} emu ${hex(emu.gpr[i])}`);
  if ((nat.rflags & FLAGS) !== (emu.rflags & FLAGS))
    d.push(`rflags&cd5: native ${hex(nat.rflags & FLAGS)} emu ${hex(emu.rflags & FLAGS)} (xor ${hex((nat.rflags ^ emu.rflags) & FLAGS)})`);
  if (nat.memHash !== emu.memHash) d.push(`memHash differs`);
  return d;
}

/** Cases the native side cannot judge (see native.ts "Natively unreliable"). */
function unjudgeable(n: NativeResult): string | null {
  if (n.status === "timeout" || n.status === "lost") return n.status;
  if (n.cs !== 0x33) return "compat-mode";
  return null;
}

function makeCase(seed: number): NativeCase {
  const g = new SeqGen(seed);
  return g.sequence(1 + (seed % 7) + (seed % 3));
}

/** Shortest instruction prefix of `c` that already mismatches: [offset of its last instruction, diff]. */
function shrink(emu: EmuRunner, c: NativeCase): { at: number; lines: string[] } | null {
  const b = boundaries(c.code);
  const cuts = [...b.slice(1), c.code.length];
  const cases = cuts.map((n) => ({ ...c, code: c.code.slice(0, n) }));
  const nat = runNative(cases);
  for (let k = 0; k < cases.length; k++) {
    if (unjudgeable(nat[k])) continue;
    const d = diff(nat[k], emu.run(cases[k]));
    if (d.length) return { at: b[k], lines: d };
  }
  return null;
}

/** A short name for the culprit instruction (mismatch class). */
function culprit(code: Uint8Array, at: number): string {
  const dec = new Decoder(64, code.subarray(at), DecoderOptions.None);
  const ins = dec.decode();
  const fmt = new Formatter(FormatterSyntax.Intel);
  const s = fmt.format(ins).split(" ")[0];
  const prefix = fmt.format(ins).replace(/\s+.*/, "");
  ins.free(); dec.free(); fmt.free();
  return prefix === "lock" || prefix === "rep" || prefix === "repe" || prefix === "repne" ? s : prefix;
}

function report(seed: number, c: NativeCase, nat: NativeResult, emuRes: NativeResult, d: string[], emu: EmuRunner): string {
  const s = shrink(emu, c);
  const lines = [
    `--- mismatch: seed ${seed} (X86KVM_DIFF_ONLY=${seed}) native ${nat.status}${nat.status === "fault" ? ` #${nat.vector}` : ""}, emu ${emuRes.status}${emuRes.status === "fault" ? ` #${emuRes.vector}` : ""}`,
    `initial: ${c.gpr!.map((v, i) => `${GPR_NAMES[i]}=${hex(v)}`).join(" ")} rflags=${hex(c.rflags ?? 0n)}`,
    ...disasm(c.code, s?.at ?? -1),
    ...d.map((x) => "  " + x),
  ];
  if (s) lines.push(`shortest mismatching prefix ends with the instruction at ${s.at.toString(16)} (${culprit(c.code, s.at)}: ${s.lines.map((x) => x.split(":")[0]).join(",")}):`, ...s.lines.map((x) => "  " + x));
  return lines.join("\n");
}

const avail = nativeAvailable();

if (!avail.ok) {
  console.log(`SKIP differential: native harness unavailable (${avail.reason})`);
} else {
  test(`${ONLY ? "1" : N} random sequences (families: ${ENABLED_FAMILIES.join(" ")}) match silicon`, () => {
    const t0 = Date.now();
    const seeds = ONLY ? [Number(ONLY)] : Array.from({ length: N }, (_, i) => SEED + i);
    const emu = new EmuRunner();
    const classes = new Map<string, number>();
    const reports: string[] = [];
    const skipped = new Map<string, number>();
    let faults = 0;
    const CHUNK = 5000;
    for (let s0 = 0; s0 < seeds.length; s0 += CHUNK) {
      const part = seeds.slice(s0, s0 + CHUNK);
      const cases = part.map(makeCase);
      const nats = runNative(cases);
      for (let i = 0; i < cases.length; i++) {
        const c = cases[i], nat = nats[i];
        const why = unjudgeable(nat);
        if (why) { skipped.set(why, (skipped.get(why) ?? 0) + 1); continue; }
        if (nat.status === "fault") faults++;
        let er: NativeResult;
        try { er = emu.run(c); } catch (e) {
          throw new Error(`seed ${part[i]}: the emulator threw ${e}\n${disasm(c.code).join("\n")}`);
        }
        const d = diff(nat, er);
        if (ONLY) console.log([...disasm(c.code), ...d.map((x) => "  " + x), `native: ${nat.status} #${nat.vector} err ${hex(nat.errorCode)} rip ${hex(nat.rip)}`].join("\n"));
        if (!d.length) continue;
        const sh = report(part[i], c, nat, er, d, emu);
        const key = sh.match(/\(([^)]*)\):\n/)?.[1] ?? "?";
        if (reports.length < MAX_REPORT && !classes.has(key)) reports.push(sh);
        classes.set(key, (classes.get(key) ?? 0) + 1);
      }
    }
    const bad = [...classes.values()].reduce((a, b) => a + b, 0);
    console.log(`differential: ${seeds.length} sequences, ${bad} mismatches, ${faults} ended in a fault, ` +
      `skipped ${JSON.stringify(Object.fromEntries(skipped))}, ${(Date.now() - t0) / 1000}s`);
    if (bad) {
      console.log(reports.join("\n\n"));
      console.log(`mismatch classes (culprit instruction: differing fields; one report per class above): ${JSON.stringify(Object.fromEntries(classes))}`);
    }
    assert.is(bad, 0, `${bad} of ${seeds.length} sequences differ from silicon`);
    // the generator must actually exercise things: most sequences end normally
    assert.ok(faults < seeds.length * 0.6, `too many faulting sequences (${faults})`);
  });
}

test.run();
