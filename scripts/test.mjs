#!/usr/bin/env node
// `npm test`: build what the tests need (opcode tables, cpu.wasm, guest images
// are committed), bundle every test/**/*.test.ts with esbuild, run them with
// uvu, and end with the plain line `N passed, N failed` that CI reads.
// Extra arguments are passed to uvu as a file pattern (e.g. `npm test -- decoder`).
import { build } from "esbuild";
import { spawn, execFileSync } from "node:child_process";
import { readdirSync, rmSync, mkdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
process.chdir(root);
// all build steps, incrementally (gen and asc only when their sources are
// newer than their outputs), including dist/: test/cli spawns the bundled command
execFileSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" });

function find(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) find(p, out);
    else if (e.name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}
const pattern = process.argv[2];
const files = find("test").filter((f) => !pattern || f.includes(pattern)).sort();
rmSync("build/test", { recursive: true, force: true });
mkdirSync("build/test", { recursive: true });
await build({
  entryPoints: files, outdir: "build/test", outbase: "test", bundle: true, platform: "node", format: "esm",
  target: "node20", packages: "external", sourcemap: "inline", loader: { ".wasm": "binary", ".xml": "text" }, logLevel: "error",
  outExtension: { ".js": ".test.mjs" },
});
const outs = files.map((f) => join("build/test", relative("test", f)).replace(/\.test\.ts$/, ".test.test.mjs"));

// run each file in its own process so one crash cannot hide the others
let passed = 0, failed = 0, skipped = 0;
for (const f of outs) {
  const code = await new Promise((resolve) => {
    const p = spawn(process.execPath, [f], { stdio: ["ignore", "pipe", "inherit"] });
    let buf = "";
    p.stdout.on("data", (d) => { process.stdout.write(d); buf += d; });
    p.on("close", (c) => {
      const total = +(buf.match(/Total:\s+(\d+)/)?.[1] ?? 0);
      const ok = +(buf.match(/Passed:\s+(\d+)/)?.[1] ?? 0);
      const sk = +(buf.match(/Skipped:\s+(\d+)/)?.[1] ?? 0);
      passed += ok; skipped += sk;
      failed += Math.max(0, total - ok - sk);
      if (c !== 0 && total - ok - sk <= 0) { failed += 1; console.log(`${f}: exited with ${c}`); }
      resolve(c);
    });
  });
  void code;
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exitCode = failed ? 1 : 0;
