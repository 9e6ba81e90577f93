// test/guest-images/run.test.ts — every image of guest-images/expected.json runs on the
// Machine and produces exactly the expected console output and exit status.
//
// Each guest is self-checking: it prints progress, then PASS, and exits through
// isa-debug-exit, or prints `FAIL <what> got=… want=…` with a check-specific status
// (guest-images/README.md). A budget keeps a stuck guest from hanging the test: the
// biggest image (w2.rom) retires about 109 000 instructions.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Machine, type RunResult } from "../../hypervisor/vmm/machine";
import { patchN, w1Checksum, w2Checksum, doneLine } from "../../guest-images/workloads.mjs";

function findRoot(): string {
  const starts = [process.cwd()];
  try { starts.push(dirname(fileURLToPath(import.meta.url))); } catch { /* bundled */ }
  for (const start of starts) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      if (existsSync(join(dir, "guest-images", "expected.json"))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error("cannot find the repository root (guest-images/expected.json)");
}
const ROOT = findRoot();
const BIN = join(ROOT, "guest-images", "bin");
const expected = JSON.parse(readFileSync(join(ROOT, "guest-images", "expected.json"), "utf8"));
const KIND = { rom: "bios", bin: "flat", elf: "elf" } as const;
const BUDGET = 2_000_000;

interface Outcome extends RunResult { stdout: string; machine: Machine }

function runImage(kind: keyof typeof KIND, bytes: Uint8Array): Outcome {
  const out: number[] = [];
  // 4 MiB of RAM is what the README promises is enough (realmode.bin needs RAM above 1 MiB)
  const m = new Machine({ memory: 4 << 20, console: { write: (b) => { out.push(...b); } } });
  m.load(KIND[kind], bytes);
  const r = m.run(BUDGET);
  return { ...r, stdout: Buffer.from(out).toString("latin1"), machine: m };
}

function where(o: Outcome): string {
  const c = o.machine.cpu;
  return `exit=${o.exit} status=${o.status} insns=${o.insns} cs=${c.seg(c.L.SEG_CS).sel.toString(16)} rip=0x${c.rip.toString(16)}`;
}

for (const [name, e] of Object.entries<any>(expected.images)) {
  test(`${name} (${e.kind}): console output and exit status`, () => {
    const o = runImage(e.kind, readFileSync(join(BIN, name)));
    assert.is(o.stdout, e.stdout, `${name}: console output (${where(o)})`);
    assert.is(o.exit, e.exit, `${name}: exit kind (${where(o)})`);
    assert.is(o.status, e.status, `${name}: exit status (${where(o)})`);
  });
}

// W1/W2 read N from the ROM: a patched copy must give the reference model's checksum,
// including N = 0 (the loop is skipped) and N = 1.
for (const w of ["w1", "w2"] as const) {
  for (const n of [0n, 1n, 37n]) {
    test(`${w}.rom with N=${n}: checksum matches workloads.mjs`, () => {
      const rom = patchN(readFileSync(join(BIN, `${w}.rom`)), n);
      const o = runImage("rom", rom);
      const sum = w === "w1" ? w1Checksum(n) : w2Checksum(n);
      const want = `${w.toUpperCase()} N=${n.toString(16).padStart(16, "0")}\n${doneLine(sum)}`;
      assert.is(o.stdout.trimEnd(), want.trimEnd(), `${w} N=${n} (${where(o)})`);
      assert.is(o.status, 1);
    });
  }
}

test.run();
