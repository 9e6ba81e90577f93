// `node bench/debug.mjs`: bundles bench/debug.ts (engine + cpu.wasm) and runs it; see its header.
import { build } from "esbuild";
const root = new URL("..", import.meta.url).pathname;
await build({
  entryPoints: [root + "bench/debug.ts"], outfile: root + "build/bench/debug.mjs", bundle: true, platform: "node", format: "esm",
  target: "node20", packages: "external", loader: { ".wasm": "binary", ".xml": "text" }, logLevel: "error",
});
await import(root + "build/bench/debug.mjs");
