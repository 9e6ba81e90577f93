#!/usr/bin/env node
// x86kvm benchmarks (`npm run bench`, which builds first; or `node bench/run.mjs [suite...]`).
//
//   w1       perf-anchors W1: 10-instruction ALU loop at CPL3 (guest-images/bin/w1.rom)
//   w2       perf-anchors W2: 10-instruction memory loop through 4-level paging (w2.rom)
//   w3, w3z  perf-anchors W3: XSAVE+XRSTOR pairs at CPL0 (w3.rom: x87|SSE|AVX, 832-byte area;
//            w3z.rom: + AVX-512 state, 2688 bytes); reports ns per pair. The guest's DONE value
//            (XOR of the saved area) does not depend on N and is checked against
//            guest-images/expected.json
//   exit     KVM_RUN round trip: a real-mode guest doing OUT 0xE9 in a loop, one exit per
//            iteration, through Host.ioctl (VcpuFd.run) under each kernel behaviour; the
//            guest-FPU swap (host-mode XSAVES/XRSTORS at entry and exit) is most of the cost
//   startup  node start -> first guest instruction (fresh processes), and in-process
//            compile + instantiate + load + first instruction; `node -e 0` as baseline
//
// Method for w1/w2 (perf-anchors §3): each sample is a fresh Machine running the ROM with
// N patched in (little-endian u64 at ROM offset 0xFFE8), timed with benchmark.js; the run
// with N=1 holds the set-up (reset -> long mode -> CPL3, ~7 k guest instructions, plus
// Machine construction) and is subtracted:
//     MIPS = (insns(N) - insns(1)) / (median_time(N) - median_time(1))
// Every sample checks the "DONE <checksum>" line the guest prints against the models in
// guest-images/workloads.mjs, so a fast but wrong emulator fails the benchmark (exit 1).
// "MIPS" uses wall time; "cpuMIPS" uses process CPU time over the same runs (the machine
// is shared, and wall time includes waiting for a core).
//
// Output: human lines on stderr, one JSON line per benchmark on stdout.
// Options: --quick (smaller N, fewer samples), --n1=N / --n2=N (iterations), --max-time=S.
import Benchmark from "benchmark";
import { readFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { bundle } from "./bundle.mjs";
import { patchN, w1Checksum, w2Checksum, doneLine, INSNS_PER_ITERATION } from "../guest-images/workloads.mjs";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (k, d) => { const a = args.find((x) => x.startsWith(`--${k}=`)); return a ? a.slice(k.length + 3) : d; };
const quick = args.includes("--quick");
const suites = args.filter((a) => !a.startsWith("--"));
const want = (s) => suites.length === 0 || suites.includes(s);
const maxTime = +opt("max-time", quick ? 1 : 4);
const minSamples = quick ? 3 : 5;

const wasmSha = createHash("sha256").update(readFileSync(root + "build/cpu.wasm")).digest("hex").slice(0, 12);
const files = await bundle();
const { Machine, Host, Kvm } = await import(files.entry);
const meta = { node: process.version, wasm: wasmSha };
const log = (s) => process.stderr.write(s + "\n");
const emit = (o) => process.stdout.write(JSON.stringify({ ...o, ...meta }) + "\n");
let failed = false;

const median = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

/** Run one image to completion on a fresh Machine; returns { insns, out, exit, status }. */
function runImage(rom) {
  const bytes = [];
  const m = new Machine({ console: { write: (b) => { for (const x of b) bytes.push(x); } } });
  m.load("bios", rom);
  const r = m.run();
  return { ...r, out: String.fromCharCode(...bytes) };
}

/** benchmark.js over fn, synchronously; no setup/teardown (they make benchmark.js
 *  decompile fn into a new Function, which loses its closure). */
function bench(name, fn) {
  return new Promise((resolve, reject) => {
    const b = new Benchmark(name, fn, {
      maxTime, minSamples, initCount: 1,
      onError: (e) => reject(e.target.error),
      onComplete: () => resolve(b),
    });
    b.run({ async: false });
  });
}

async function workload(which, N) {
  const base = readFileSync(root + `guest-images/bin/${which}.rom`);
  const model = which === "w1" ? w1Checksum : w2Checksum;
  const res = {};
  for (const n of [1n, N]) {
    const rom = patchN(base, n);
    const want = doneLine(model(n));
    // warm-up: the first run in a process executes Liftoff code while TurboFan compiles
    const w = runImage(rom);
    if (!w.out.includes(want)) {
      log(`${which} N=${n}: WRONG RESULT: want "${want}", guest printed ${JSON.stringify(w.out.slice(-200))} (exit ${w.exit})`);
      failed = true;
      return;
    }
    let insns = w.insns, bad = null;
    const cpu = [];
    const b = await bench(`${which} N=${n}`, () => {
      const c0 = cpuNow();
      const r = runImage(rom);
      cpu.push(cpuNow() - c0);
      if (r.insns !== insns || !r.out.includes(want)) bad = r;
    });
    if (bad) { log(`${which} N=${n}: a sample differed: ${JSON.stringify(bad.out.slice(-120))}`); failed = true; return; }
    res[n] = { b, insns, t: median(b.stats.sample), cpu: median(cpu) };
    log(`  ${b.name}: ${(b.stats.mean * 1e3).toFixed(2)} ms ±${b.stats.rme.toFixed(1)}% (${b.stats.sample.length} samples), ${insns} insns, checksum ok`);
  }
  const a = res[1n], z = res[N];
  const dI = z.insns - a.insns;
  const mips = dI / (z.t - a.t) / 1e6, cpuMips = dI / (z.cpu - a.cpu) / 1e6;
  log(`${which}: ${mips.toFixed(1)} MIPS (wall), ${cpuMips.toFixed(1)} MIPS (CPU time); ` +
    `${dI} insns in the delta (${(dI / Number(N - 1n)).toFixed(2)} per iteration, ${INSNS_PER_ITERATION} in the loop), set-up ${(a.t * 1e3).toFixed(1)} ms`);
  emit({
    name: which, N: Number(N), hz: z.b.hz, rme: z.b.stats.rme, samples: z.b.stats.sample.length,
    MIPS: +mips.toFixed(2), cpuMIPS: +cpuMips.toFixed(2), insns: z.insns, setupInsns: a.insns,
    msN: +(z.t * 1e3).toFixed(3), ms1: +(a.t * 1e3).toFixed(3),
  });
}

// W3: ns per XSAVE+XRSTOR pair = (time(N) - time(1)) / (N - 1); each iteration is
// xsave64, xrstor64, dec, jnz, so the two loop instructions are included, as in perf-anchors.
async function xsavePair(which, N) {
  const base = readFileSync(root + `guest-images/bin/${which}.rom`);
  const expected = JSON.parse(readFileSync(root + "guest-images/expected.json", "utf8")).images[`${which}.rom`].stdout;
  const want = expected.split("\n").find((l) => l.startsWith("DONE "));
  const res = {};
  for (const n of [1n, N]) {
    const rom = patchN(base, n);
    const w = runImage(rom);
    if (!w.out.includes(want)) {
      log(`${which} N=${n}: WRONG RESULT: want "${want}", guest printed ${JSON.stringify(w.out.slice(-200))}`);
      failed = true;
      return;
    }
    const cpu = [];
    const b = await bench(`${which} N=${n}`, () => {
      const c0 = cpuNow();
      const r = runImage(rom);
      cpu.push(cpuNow() - c0);
      if (!r.out.includes(want)) failed = true;
    });
    res[n] = { b, insns: w.insns, t: median(b.stats.sample), cpu: median(cpu) };
    log(`  ${b.name}: ${(b.stats.mean * 1e3).toFixed(2)} ms ±${b.stats.rme.toFixed(1)}% (${b.stats.sample.length} samples), ${w.insns} insns, checksum ok`);
  }
  const a = res[1n], z = res[N];
  const pairs = Number(N - 1n);
  const ns = (z.t - a.t) / pairs * 1e9, cpuNs = (z.cpu - a.cpu) / pairs * 1e9;
  log(`${which}: ${ns.toFixed(1)} ns per XSAVE+XRSTOR pair (wall), ${cpuNs.toFixed(1)} ns (CPU time)`);
  emit({ name: which, N: Number(N), hz: z.b.hz, rme: z.b.stats.rme, samples: z.b.stats.sample.length, nsPerPair: +ns.toFixed(1), cpuNsPerPair: +cpuNs.toFixed(1) });
}

async function startup() {
  const rom = root + "guest-images/bin/w0.rom";
  const spawnMs = (argv) => { const t = performance.now(); const r = spawnSync(process.execPath, argv, { encoding: "utf8" }); if (r.status !== 0) throw new Error(r.stderr); return { ms: performance.now() - t, out: r.stdout }; };
  const base = await bench("startup baseline: node -e 0", () => spawnMs(["-e", "0"]));
  const kids = [];
  const full = await bench("startup: spawn node -> first guest instruction -> exit", () => kids.push(JSON.parse(spawnMs([files.startupChild, rom]).out)));
  const med = (k) => median(kids.map((x) => x[k]));
  const f = (x) => x.toFixed(1);
  log(`  node -e 0 (spawn to exit): ${f(base.stats.mean * 1e3)} ms ±${base.stats.rme.toFixed(1)}%`);
  log(`  x86kvm child (spawn to exit): ${f(full.stats.mean * 1e3)} ms ±${full.stats.rme.toFixed(1)}%`);
  log(`startup: node start -> first guest instruction ${f(med("sinceProcessStart"))} ms (median of ${kids.length}; performance.now() in the child; CPU time by then ${f(med("cpuSinceStart"))} ms); ` +
    `in-process compile+instantiate+load+first insn ${f(med("inProcessMs"))} ms ` +
    `[import ${f(med("importMs"))}, compile ${f(med("compileMs"))}, machine ${f(med("machineMs"))}, load ${f(med("loadMs"))}, run(1) ${f(med("firstInsnMs"))}]`);
  emit({ name: "startup-node-baseline", hz: base.hz, rme: base.stats.rme, samples: base.stats.sample.length, ms: +(median(base.stats.sample) * 1e3).toFixed(2) });
  emit({
    name: "startup", hz: full.hz, rme: full.stats.rme, samples: full.stats.sample.length,
    spawnToExitMs: +(median(full.stats.sample) * 1e3).toFixed(2),
    processStartToFirstInsnMs: +med("sinceProcessStart").toFixed(2), cpuMsToFirstInsn: +med("cpuSinceStart").toFixed(2), inProcessMs: +med("inProcessMs").toFixed(2),
    importMs: +med("importMs").toFixed(2), compileMs: +med("compileMs").toFixed(2), machineMs: +med("machineMs").toFixed(2),
    loadMs: +med("loadMs").toFixed(2), firstInsnMs: +med("firstInsnMs").toFixed(2),
  });
}

async function exitRoundTrip() {
  for (const kernel of ["b1", "b3", "b4"]) {
    const host = new Host({ cpu: "sapphire-rapids", kernel, runBudget: 1_000_000 });
    const vm = new Kvm(host).createVm();
    const mem = host.alloc(0x10000);
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: 0x10000n, userspace_addr: BigInt(mem) });
    host.mem(mem + 0x1000, 4).set([0xe6, 0xe9, 0xeb, 0xfc]);   // out 0xe9,al ; jmp back
    const vcpu = vm.createVcpu(0);
    const sr = vcpu.getSregs(); sr.cs.base = 0n; sr.cs.selector = 0; vcpu.setSregs(sr);
    vcpu.setRegs({ rip: 0x1000n, rflags: 2n });
    const K = 1000;
    const b = await bench(`exit: KVM_RUN round trip (kernel ${kernel})`, () => {
      for (let i = 0; i < K; i++) if (vcpu.run().kind !== "IoOut") throw new Error("unexpected exit");
    });
    const us = median(b.stats.sample) / K * 1e6;
    log(`exit (kernel ${kernel}): ${us.toFixed(2)} µs per KVM_RUN round trip (median of ${b.stats.sample.length} samples of ${K})`);
    emit({ name: `exit-${kernel}`, usPerRun: +us.toFixed(3), samples: b.stats.sample.length, rme: b.stats.rme });
  }
}

log(`x86kvm bench: node ${process.version}, cpu.wasm sha256 ${wasmSha}, load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
if (want("w1")) await workload("w1", BigInt(opt("n1", quick ? 1_000_000 : 3_000_000)));
if (want("w2")) await workload("w2", BigInt(opt("n2", quick ? 500_000 : 2_000_000)));
if (want("w3")) await xsavePair("w3", BigInt(opt("n3", quick ? 200_000 : 1_000_000)));
if (want("w3z")) await xsavePair("w3z", BigInt(opt("n3", quick ? 200_000 : 1_000_000)));
if (want("exit")) await exitRoundTrip();
if (want("startup")) await startup();
if (failed) { log("FAILED: a workload produced a wrong checksum"); process.exitCode = 1; }
