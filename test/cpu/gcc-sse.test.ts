// End to end: freestanding C compiled by the host gcc (test/cpu/gcc/kernels.c:
// integer loops, double and float arithmetic and conversions, struct copies)
// at -O2/-O3 for x86-64 (SSE2), x86-64-v2 (SSE4.2) and x86-64-v3 (AVX2), run
// natively and in the emulator on the same random data; the compiler chooses
// the vector instructions (unpcklpd, cvtsi2sdq, movddup, pblendvb, vpbroadcast,
// vinserti128, …). Compared: status, GPRs, RIP, flags, DATA+STACK hash.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import { EmuRunner } from "../helpers/emu";
import { assertBatchMatchesSilicon, wholeRunDiff } from "../helpers/diff";
import { fpValue } from "../helpers/fpgen";
import { nativeAvailable, nativeInfo, DATA_BASE, DEFAULT_RSP, MAX_CODE, type NativeCase } from "../native/native";

const nat = nativeAvailable();
const SRC = "test/cpu/gcc/kernels.c", LD = "test/cpu/gcc/kernels.ld";
const gcc = (() => { try { execFileSync("gcc", ["--version"], { stdio: "ignore" }); return true; } catch { return false; } })();
// the whole x86-64-v3 level: BMI1/BMI2 (SHRX, ANDN, …), FMA and F16C on, with
// GNU C's default -ffp-contract=fast: a*b+c becomes VFMADD*.
const V3 = "-march=x86-64-v3";
const FLAVOURS = ["-O2", "-O3", "-O2 -march=x86-64-v2", "-O3 -march=x86-64-v2", `-O2 ${V3}`, `-O3 ${V3}`];
const KERNELS = ["k_int", "k_double", "k_float", "k_struct", "k_half"];
const COMMON = ["-ffreestanding", "-fno-pic", "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-tree-loop-distribute-patterns",
  "-fno-math-errno", "-mno-red-zone", "-nostdlib", "-static", "-Wl,--build-id=none", "-T", LD];

// Mnemonics seen in the -march=x86-64-v3 builds (objdump), so the test knows
// the compiler really emitted FMA3 and F16C instructions.
const seenV3 = new Set<string>();
function build(k: string, f: string): Uint8Array {
  mkdirSync("build/test/gcc", { recursive: true });
  const out = `build/test/gcc/${k}${f.replace(/[ =-]+/g, "_").slice(0, 24)}`;
  execFileSync("gcc", [...f.split(" "), `-DKERNEL=${k}`, ...COMMON, "-o", out + ".elf", SRC]);
  if (f.includes(V3)) {
    try {
      for (const m of execFileSync("objdump", ["-d", out + ".elf"], { encoding: "utf8" }).matchAll(/\t(vf\w+|vcvtp[sh]2p[sh])\s/g)) seenV3.add(m[1]);
    } catch { /* no objdump: the check below says so */ }
  }
  execFileSync("objcopy", ["-O", "binary", "-j", ".text", out + ".elf", out + ".bin"]);
  return new Uint8Array(readFileSync(out + ".bin"));
}

let rs = 0x2545f491;
const rnd = () => { rs ^= rs << 13; rs ^= rs >>> 17; rs ^= rs << 5; return rs >>> 0; };
function data(): Uint8Array {
  const b = new Uint8Array(0x2000);
  for (let i = 0; i < b.length; i++) b[i] = rnd() & 255;
  const dv = new DataView(b.buffer);
  for (let o = 0; o < 0x800; o += 8) dv.setBigUint64(o, rnd() % 4 ? BigInt(Math.round((rnd() - 2 ** 31) / 1000)) === 0n ? 0n : doubleBits((rnd() - 2 ** 31) / (1 + (rnd() % 1000))) : fpValue(rnd, true), true);
  return b;
}
function doubleBits(x: number): bigint { const v = new DataView(new ArrayBuffer(8)); v.setFloat64(0, x, true); return v.getBigUint64(0, true); }

if (!nat.ok) console.log(`SKIP gcc-compiled SSE/AVX kernels: ${nat.reason}`);
else if (!gcc || !existsSync(SRC)) console.log("SKIP gcc-compiled SSE/AVX kernels: no gcc on this host");
else {
  const emu = new EmuRunner();
  emu.xcr0 = nativeInfo()!.xcr0 ?? emu.xcr0;
  for (const k of KERNELS) test(`${k}: gcc ${FLAVOURS.map((f) => f.replace(V3, "x86-64-v3")).join(" | ")} matches silicon`, () => {
    const cases: NativeCase[] = [], labels: string[] = [];
    for (const f of FLAVOURS) {
      const code = build(k, f);
      if (code.length > MAX_CODE) { console.log(`  (${k} ${f}: ${code.length} bytes, over the harness limit: not run)`); continue; }
      for (let s = 0; s < 3; s++) {
        cases.push({ code, gpr: Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : 0n), dataSeed: 9n,
          patches: [{ addr: DATA_BASE, bytes: data() }] });
        labels.push(`${k} ${f} data#${s}`);
      }
    }
    assert.ok(cases.length >= 9, "too few flavours fit");
    assertBatchMatchesSilicon(emu, cases, labels, wholeRunDiff, 2_000_000);
  });
  test("x86-64-v3 builds contain FMA3 and F16C instructions", () => {
    const list = [...seenV3].sort().join(" ");
    assert.ok([...seenV3].some((m) => /^vfn?m(add|sub)\d{3}[sp][sd]$/.test(m)), `no FMA in the v3 builds: ${list}`);
    assert.ok(seenV3.has("vcvtps2ph") && seenV3.has("vcvtph2ps"), `no F16C in the v3 builds: ${list}`);
    console.log(`  v3 FMA/F16C: ${list}`);
  });
}
test.run();
