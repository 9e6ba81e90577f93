// Throughput of tight loops of the shift / multiply / bit-test families next
// to plain ALU ops, on the emulator (EmuRunner's user-mode machine). Not a
// test: run by hand after `node scripts/build.mjs gen wasm`:
//   npx esbuild --bundle --platform=node --format=esm --target=node20 --packages=external \
//     --loader:.wasm=binary bench/arith-loop.ts --outfile=build/arith-loop.mjs && node build/arith-loop.mjs
// Each loop iteration is five listed instructions + `dec r8; jnz`.
import { EmuRunner } from "../test/helpers/emu";
import { DEFAULT_RSP } from "../test/native/native";

const emu = new EmuRunner();
const g = (o: Record<number, bigint>) => Array.from({ length: 16 }, (_, i) => o[i] ?? (i === 4 ? DEFAULT_RSP : 0n));
const N = 2_000_000n;
function bench(name: string, body: number[]): void {
  const code = Uint8Array.from([...body, 0x49, 0xff, 0xc8, 0x75, 256 - (body.length + 5)]);
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    const r = emu.run({ code, gpr: g({ 0: 1n, 1: 3n, 2: 0xffffn, 3: 123456789n, 6: 7n, 8: N }) }, 100_000_000);
    best = Math.min(best, performance.now() - t);
    if (r.status !== "ok") throw new Error(`${name}: ${r.status}`);
  }
  const it = Number(N) / best / 1000;
  console.log(`${name.padEnd(30)} ${it.toFixed(2)} M iterations/s  ${(it * 7).toFixed(1)} M insns/s`);
}
bench("alu: add sub xor and or", [0x01, 0xc8, 0x83, 0xea, 0x03, 0x48, 0x31, 0xc3, 0x21, 0xd0, 0x09, 0xc2]);
bench("shl/shr/sar by cl, imm, 1", [0xd3, 0xe0, 0xc1, 0xea, 0x03, 0x48, 0xd1, 0xfb, 0xd3, 0xe2, 0xc1, 0xf8, 0x02]);
bench("imul r32,r32 x5", [0x0f, 0xaf, 0xc6, 0x0f, 0xaf, 0xd6, 0x0f, 0xaf, 0xde, 0x0f, 0xaf, 0xc6, 0x0f, 0xaf, 0xd6]);
bench("bt r32,r32 x5", [0x0f, 0xa3, 0xd0, 0x0f, 0xa3, 0xd0, 0x0f, 0xa3, 0xd0, 0x0f, 0xa3, 0xd0, 0x0f, 0xa3, 0xd0]);
bench("rol r32,cl x5", [0xd3, 0xc0, 0xd3, 0xc0, 0xd3, 0xc0, 0xd3, 0xc0, 0xd3, 0xc0]);
