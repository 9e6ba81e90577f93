// Bundle the TypeScript the benchmarks need (Machine, WasmCpu, build/cpu.wasm inlined)
// into build/bench/: entry.mjs (imported by run.mjs) and startup-child.mjs (a fresh
// process per start-up sample, importing ./entry.mjs).
import { build } from "esbuild";
import { existsSync } from "node:fs";
const root = new URL("..", import.meta.url).pathname;
export const OUT = root + "build/bench/";
export async function bundle() {
  if (!existsSync(root + "build/cpu.wasm")) throw new Error("build/cpu.wasm missing: run `node scripts/build.mjs gen wasm` (npm run bench does)");
  const common = { bundle: true, platform: "node", format: "esm", target: "node20", loader: { ".wasm": "binary" }, logLevel: "error" };
  await build({ ...common, entryPoints: [root + "bench/entry.ts"], outfile: OUT + "entry.mjs" });
  await build({ ...common, entryPoints: [root + "bench/startup-child.ts"], outfile: OUT + "startup-child.mjs", external: ["./entry.mjs"] });
  return { entry: OUT + "entry.mjs", startupChild: OUT + "startup-child.mjs" };
}
