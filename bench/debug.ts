// Debug-engine costs (not a test): `node bench/debug.mjs`. Prints one line per measurement:
//   step       stepInstruction() latency (KVM_SET_GUEST_DEBUG + KVM_RUN + the IO-completion KVM_RUN)
//   build      a fresh machine from the spec (the base snapshot of every re-execution)
//   stepBack   at instruction counts N: build + replay of the journal to N-1
//   continue   free-running MIPS under the engine (slices of 2^18) vs Machine.run, a spinning guest
import { DebugEngine } from "../hypervisor/debug/engine";
import { resolveRun } from "../hypervisor/cli/run";
import { createMachine } from "../hypervisor/vmm/setup";

// bundled into build/bench/: the repository root is two levels up
const root = new URL("../..", import.meta.url).pathname;
const spec = resolveRun({ image: root + "guest-images/bin/selftest64.elf", memory: "8M" }).spec;
const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];

const e = new DebugEngine(spec);
for (let i = 0; i < 200; i++) e.stepInstruction();
let t = performance.now();
const N = 2000;
for (let i = 0; i < N; i++) e.stepInstruction();
console.log(`step       ${((performance.now() - t) * 1000 / N).toFixed(1)} µs/instruction (selftest64, ${N} steps)`);

const bt: number[] = [];
for (let i = 0; i < 7; i++) { t = performance.now(); createMachine(spec); bt.push(performance.now() - t); }
console.log(`build      ${med(bt).toFixed(1)} ms (createMachine, median of 7)`);

for (const n of [100, 2000, 11000]) {
  const f = new DebugEngine(spec);
  f.runTo(n);
  const s: number[] = [];
  for (let i = 0; i < 5; i++) { t = performance.now(); f.stepBack(); s.push(performance.now() - t); f.runTo(n); }
  console.log(`stepBack   ${med(s).toFixed(1)} ms at instruction ${n} (after one continue-style segment)`);
}
{
  // as a front end sees it: the event loop turns between requests, so the next fresh machine is ready
  const f = new DebugEngine(spec);
  f.runTo(2000);
  const s: number[] = [];
  for (let i = 0; i < 7; i++) { await new Promise((r) => setTimeout(r, 80)); t = performance.now(); f.stepBack(); s.push(performance.now() - t); }
  console.log(`stepBack   ${med(s).toFixed(1)} ms at instruction 2000 with the event loop idle between steps (machine prepared ahead)`);
  f.dispose();
}
{
  const f = new DebugEngine(spec);
  for (let i = 0; i < 1000; i++) f.stepInstruction();
  t = performance.now();
  f.stepBack();
  console.log(`stepBack   ${(performance.now() - t).toFixed(1)} ms at instruction 1000 reached by 1000 single steps (1000 journal segments)`);
}
const spin = { image: new Uint8Array([0xeb, 0xfe]), kind: "flat" as const, model: "sapphire-rapids", kernel: "6.19", memory: 8 << 20 };
const M = 20_000_000;
const g = new DebugEngine(spin);
t = performance.now();
await g.continue(M);
const te = performance.now() - t;
const m = createMachine(spin);
t = performance.now();
m.run(M);
const tm = performance.now() - t;
console.log(`continue   engine ${(M / te / 1000).toFixed(0)} MIPS, Machine.run ${(M / tm / 1000).toFixed(0)} MIPS (jmp $, ${M} instructions)`);
e.dispose();
