#!/usr/bin/env node
// Side-by-side: the same W1/W2 ROMs under QEMU TCG, with the perf-anchors §3 method
// (fresh process per run, median wall time of N=1 and of a large N, MIPS from the
// difference), then the ratio to x86kvm (bench/run.mjs, same method, in-process).
// Nothing else in the repo needs QEMU: without qemu-system-x86_64 this prints a SKIP line
// and exits 0.
//   node bench/qemu.mjs [--runs=5] [--n1=N] [--n2=N] [--x86kvm-w1=MIPS --x86kvm-w2=MIPS]
import { spawnSync, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { patchN, w1Checksum, w2Checksum, doneLine } from "../guest-images/workloads.mjs";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (k, d) => { const a = args.find((x) => x.startsWith(`--${k}=`)); return a ? a.slice(k.length + 3) : d; };
const log = (s) => process.stderr.write(s + "\n");
const QEMU = "qemu-system-x86_64";

let version;
try { version = execFileSync(QEMU, ["--version"], { encoding: "utf8" }).split("\n")[0]; } catch {
  log(`SKIP qemu side-by-side: ${QEMU} not found (apt-get install -y qemu-system-x86 to measure)`);
  process.exit(0);
}
const runs = +opt("runs", 5);
const dir = mkdtempSync(join(tmpdir(), "x86kvm-qemu-"));
const median = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2; };

function qemuRun(romPath) {
  const t = performance.now();
  const r = spawnSync(QEMU, ["-accel", "tcg", "-cpu", "max", "-nodefaults", "-nographic", "-bios", romPath,
    "-debugcon", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"], { encoding: "latin1", timeout: 120_000 });
  return { ms: performance.now() - t, out: r.stdout, status: r.status };
}

let failed = false;
const results = {};
log(`qemu side-by-side: ${version}, ${runs} runs per point, load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
for (const [which, N, model] of [["w1", BigInt(opt("n1", 300_000_000)), w1Checksum], ["w2", BigInt(opt("n2", 100_000_000)), w2Checksum]]) {
  const base = readFileSync(root + `guest-images/bin/${which}.rom`);
  const t = {};
  for (const n of [1n, N]) {
    const p = join(dir, `${which}-${n}.rom`);
    writeFileSync(p, patchN(base, n));
    const want = doneLine(model(n));
    const ms = [];
    for (let i = 0; i < runs; i++) {
      const r = qemuRun(p);
      if (!r.out.includes(want) || r.status !== 1) { log(`${which} N=${n}: QEMU printed ${JSON.stringify(r.out.slice(-120))} status ${r.status}, want "${want}"`); failed = true; break; }
      ms.push(r.ms);
    }
    t[n] = median(ms);
    log(`  qemu ${which} N=${n}: median ${t[n].toFixed(1)} ms of [${ms.map((x) => x.toFixed(0)).join(", ")}], checksum ok`);
  }
  const mips = Number(N - 1n) * 10 / ((t[N] - t[1n]) / 1e3) / 1e6;
  results[which] = mips;
  const ours = +opt(`x86kvm-${which}`, NaN);
  log(`qemu ${which}: ${mips.toFixed(0)} MIPS` + (ours ? `; x86kvm ${ours} MIPS = ${(ours / mips).toFixed(3)}x QEMU TCG (QEMU ${(mips / ours).toFixed(1)}x faster)` : ""));
  process.stdout.write(JSON.stringify({ name: `qemu-${which}`, N: Number(N), MIPS: +mips.toFixed(1), ms1: +t[1n].toFixed(1), msN: +t[N].toFixed(1), runs, qemu: version, ...(ours ? { x86kvmMIPS: ours, ratio: +(ours / mips).toFixed(4) } : {}) }) + "\n");
}
rmSync(dir, { recursive: true, force: true });
if (failed) process.exitCode = 1;
