// End to end for BMI1/BMI2: freestanding C compiled by the host gcc with
// -march=x86-64-v3 and BMI1/BMI2 left on (test/cpu/gcc/bits.c, a bit-twiddling
// kernel, and the integer kernel of test/cpu/gcc/kernels.c), run natively and
// in the emulator on the same random data. The compiler picks SHLX/SHRX/SARX,
// ANDN, BLSI/BLSMSK, BZHI, RORX, TZCNT/LZCNT/POPCNT and the PDEP/PEXT/BEXTR
// builtins; the test checks with objdump that it did. Compared: status, GPRs,
// RIP, flags, DATA+STACK hash. (FMA/F16C stay off until that family exists;
// test/cpu/gcc-sse.test.ts keeps -mno-bmi -mno-bmi2 only to stay
// independent of this family and can drop them.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import { EmuRunner } from "../helpers/emu";
import { assertBatchMatchesSilicon, wholeRunDiff } from "../helpers/diff";
import { nativeAvailable, nativeInfo, DATA_BASE, DEFAULT_RSP, MAX_CODE, type NativeCase } from "../native/native";

const nat = nativeAvailable();
const LD = "test/cpu/gcc/kernels.ld";
const has = (tool: string) => { try { execFileSync(tool, ["--version"], { stdio: "ignore" }); return true; } catch { return false; } };
const gcc = has("gcc"), objdump = has("objdump");
const V3 = "-march=x86-64-v3 -mno-fma -mno-f16c";
const BUILDS: [string, string, string][] = [   // [source, -DKERNEL, flags]
  ["test/cpu/gcc/bits.c", "", `-O2 ${V3}`], ["test/cpu/gcc/bits.c", "", `-O3 ${V3}`],
  ["test/cpu/gcc/kernels.c", "k_int", `-O2 ${V3}`], ["test/cpu/gcc/kernels.c", "k_int", `-O3 ${V3}`],
];
const COMMON = ["-ffreestanding", "-fno-pic", "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-tree-loop-distribute-patterns",
  "-fno-math-errno", "-ffp-contract=off", "-mno-red-zone", "-nostdlib", "-static", "-Wl,--build-id=none", "-T", LD];
const BMI = /\b(andn|bextr|blsi|blsmsk|blsr|bzhi|pdep|pext|mulx|rorx|sarx|shlx|shrx)\b/g;

function build(src: string, k: string, f: string): { code: Uint8Array; mnems: Set<string> } {
  mkdirSync("build/test/gcc", { recursive: true });
  const out = `build/test/gcc/bmi_${k || "bits"}${f.replace(/[ =-]+/g, "_").slice(0, 24)}`;
  execFileSync("gcc", [...f.split(" "), ...(k ? [`-DKERNEL=${k}`] : []), ...COMMON, "-o", out + ".elf", src]);
  execFileSync("objcopy", ["-O", "binary", "-j", ".text", out + ".elf", out + ".bin"]);
  const mnems = new Set<string>();
  if (objdump) for (const m of execFileSync("objdump", ["-d", out + ".elf"]).toString().matchAll(BMI)) mnems.add(m[1]);
  return { code: new Uint8Array(readFileSync(out + ".bin")), mnems };
}

let rs = 0x1b3c5d7f;
const rnd = () => { rs ^= rs << 13; rs ^= rs >>> 17; rs ^= rs << 5; return rs >>> 0; };
function data(): Uint8Array {
  const b = new Uint8Array(0x2000);
  for (let i = 0; i < b.length; i++) b[i] = rnd() & 255;
  // some zero words and small shift/index bytes so the edge cases run
  for (let i = 0; i < 0x600; i += 8) if (rnd() % 6 === 0) b.fill(0, i, i + 8);
  for (let i = 0x400; i < 0x500; i++) if (rnd() % 3 === 0) b[i] = rnd() % 70;
  return b;
}

if (!nat.ok) console.log(`SKIP gcc-compiled BMI kernels: ${nat.reason}`);
else if (!gcc) console.log("SKIP gcc-compiled BMI kernels: no gcc on this host");
else test("gcc -march=x86-64-v3 with BMI1/BMI2 (bits.c, kernels.c k_int; -O2/-O3) matches silicon", () => {
  const emu = new EmuRunner();
  emu.xcr0 = nativeInfo()!.xcr0 ?? emu.xcr0;
  const cases: NativeCase[] = [], labels: string[] = [];
  const seen = new Set<string>();
  for (const [src, k, f] of BUILDS) {
    const { code, mnems } = build(src, k, f);
    mnems.forEach((m) => seen.add(m));
    if (code.length > MAX_CODE) { console.log(`  (${src} ${k} ${f}: ${code.length} bytes, over the harness limit: not run)`); continue; }
    for (let s = 0; s < 3; s++) {
      cases.push({ code, gpr: Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : 0n), dataSeed: 9n, patches: [{ addr: DATA_BASE, bytes: data() }] });
      labels.push(`${src} ${k} ${f} data#${s}`);
    }
  }
  if (objdump) {
    console.log(`gcc BMI instructions emitted: ${[...seen].sort().join(" ")}`);
    for (const m of ["andn", "bzhi", "pdep", "pext", "bextr", "rorx", "sarx", "shlx", "shrx"]) assert.ok(seen.has(m), `gcc emitted no ${m}: the kernels no longer exercise it`);
  } else console.log("SKIP the emitted-instruction check: no objdump");
  assert.ok(cases.length >= 9, "too few builds fit");
  assertBatchMatchesSilicon(emu, cases, labels, wholeRunDiff, 2_000_000);
});
test.run();
