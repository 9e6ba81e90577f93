// String-instruction throughput on the emulator (not a test; no pass/fail).
// Run:  npx esbuild bench/string-ops.ts --bundle --platform=node --format=esm \
//         --target=node20 --loader:.wasm=binary --outfile=build/bench/string-ops.mjs \
//       && node build/bench/string-ops.mjs
// Each line runs a guest loop (2000 iterations unless noted) around one string
// instruction through EmuRunner and reports guest bytes per second.
import { EmuRunner } from "../test/helpers/emu";
import { DATA_BASE, DEFAULT_RSP } from "../test/native/native";
const emu = new EmuRunner();
const le64 = (v: bigint) => Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 255n));
function prog(body: number[], iters: number, src: bigint, dst: bigint, cnt: number): Uint8Array {
  const head = [0x41, 0xb8, ...le64(BigInt(iters)).slice(0, 4)];
  const loop = [0x48, 0xbe, ...le64(src), 0x48, 0xbf, ...le64(dst), 0xb9, ...le64(BigInt(cnt)).slice(0, 4), ...body, 0x41, 0xff, 0xc8];
  const jnz = [0x75, (256 - (loop.length + 2)) & 255];
  return Uint8Array.from([...head, ...loop, ...jnz]);
}
function bench(name: string, body: number[], bytesPerIter: number, cnt: number, dst = DATA_BASE + 0x8000n, iters = 2000) {
  const code = prog(body, iters, DATA_BASE, dst, cnt);
  emu.run({ code }, 100_000_000); // warm
  const t0 = performance.now();
  const r = emu.run({ code }, 100_000_000);
  const ms = performance.now() - t0;
  console.log(`${name.padEnd(44)} ${r.status} ${(bytesPerIter * iters / ms / 1e6).toFixed(2)} GB/s (${ms.toFixed(1)} ms for ${(bytesPerIter * iters / 1048576).toFixed(1)} MiB)`);
}
bench("rep movsb 32 KiB", [0xf3, 0xa4], 32768, 32768);
bench("rep movsq 32 KiB", [0xf3, 0x48, 0xa5], 32768, 4096);
bench("rep stosb 32 KiB", [0xf3, 0xaa], 32768, 32768);
bench("rep stosq 32 KiB", [0xf3, 0x48, 0xab], 32768, 4096);
bench("rep movsb 32 KiB overlapping (dst=src+1)", [0xf3, 0xa4], 32768, 32768, DATA_BASE + 1n, 200);
bench("repe cmpsb 32 KiB (equal)", [0xf3, 0xa6], 32768, 32768, DATA_BASE + 0x8000n, 500);
bench("byte loop lodsb/stosb/dec ecx/jnz 32 KiB", [0xac, 0xaa, 0xff, 0xc9, 0x75, 0xfa], 32768, 32768, DATA_BASE + 0x8000n, 50);
bench("rep movsb 64 B (short copies)", [0xf3, 0xa4], 64, 64, DATA_BASE + 0x8000n, 200000);
bench("baseline loop inc eax/dec ecx/jnz (bytes=iters)", [0xff, 0xc0, 0xff, 0xc9, 0x75, 0xfa], 32768, 32768, DATA_BASE + 0x8000n, 50);
