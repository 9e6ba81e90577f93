// KVM_RUN overhead: instructions/s of a tight loop through Machine (KVM_RUN path) vs cpu.run directly,
// and IO exits/s. Run: npx esbuild bench/kvm_run.ts --bundle --platform=node --format=esm --target=node20 \
//   --loader:.wasm=binary --outfile=build/bench-kvm.mjs && node build/bench-kvm.mjs
import { Machine } from "../hypervisor/vmm/machine";
const m = new Machine({ memory: 4 << 20, console: { write: () => {} } });
// flat image at 0x7c00: inc eax ; jmp back (a 2-instruction loop)
m.load("flat", Uint8Array.of(0x66, 0x40, 0xeb, 0xfc));
let t = performance.now();
let r = m.run(50_000_000);
console.log("KVM_RUN path:", r.exit, (r.insns / ((performance.now() - t) / 1000) / 1e6).toFixed(1), "M insn/s");
const c = m.cpu; t = performance.now(); const s0 = c.insns;
while (c.insns - s0 < 50_000_000) c.run(1 << 20);
console.log("direct cpu.run:", ((c.insns - s0) / ((performance.now() - t) / 1000) / 1e6).toFixed(1), "M insn/s");
// OUT-heavy: out 0xe9, al ; jmp back
const m2 = new Machine({ memory: 4 << 20, console: { write: () => {} } });
m2.load("flat", Uint8Array.of(0xe6, 0xe9, 0xeb, 0xfc));
t = performance.now(); r = m2.run(1_000_000);
console.log("OUT loop via KVM_RUN:", ((r.insns / 2) / ((performance.now() - t) / 1000) / 1e3).toFixed(0), "k exits/s");
