// One start-up measurement, run as a fresh process by bench/run.mjs (bundled to
// build/bench/startup-child.mjs). Prints one JSON line of milliseconds:
//   sinceProcessStart  performance.now() when the first guest instruction has retired;
//                      performance.timeOrigin is taken when node starts, so this is
//                      "node starting -> first guest instruction" minus process exec.
//   cpuSinceStart      CPU time (all threads of the process) used by then: less sensitive
//                      than wall time to other processes competing for the cores
//   importMs           evaluating the bundle (module graph + inlined cpu.wasm bytes)
//   compileMs          WebAssembly.Module compile (V8 compiles lazily: Liftoff on first call)
//   machineMs          new Machine(): instantiate, memory, init/reset, CPUID, RAM slots
//   loadMs             loading the ROM image
//   firstInsnMs        run(1): the first guest instruction (compiles `run` with Liftoff)
//   inProcessMs        compile + instantiate + load + first instruction (= the sum of the
//                      last four)
const t0 = performance.now();
const { Machine, WasmCpu } = await import("./entry.mjs" as string);
const t1 = performance.now();
const { readFileSync } = await import("node:fs");
const rom = readFileSync(process.argv[2]);
const t2 = performance.now();
// compile the module explicitly so its cost is separate from instantiation
WasmCpu.precompile();
const t3 = performance.now();
const m = new Machine({ console: { write: () => {} } });
const t4 = performance.now();
m.load("bios", rom);
const t5 = performance.now();
const r = m.run(1);
const t6 = performance.now();
const cpu = process.cpuUsage();
if (r.insns !== 1) throw new Error(`run(1) retired ${r.insns} instructions`);
process.stdout.write(JSON.stringify({
  sinceProcessStart: t6, cpuSinceStart: (cpu.user + cpu.system) / 1000, importMs: t1 - t0, compileMs: t3 - t2, machineMs: t4 - t3, loadMs: t5 - t4,
  firstInsnMs: t6 - t5, inProcessMs: t6 - t2,
}) + "\n");

export {};   // a module: top-level await
