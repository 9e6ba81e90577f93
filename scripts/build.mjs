#!/usr/bin/env node
// Build steps: `gen` (opcode table → generated AssemblyScript), `wasm`
// (asc release + debug), `dist` (the CLI/library bundle, which also holds the
// DAP adapter, and the VS Code extension entry). No argument: all.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, statSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
process.chdir(root);
// `node scripts/build.mjs [gen] [wasm] [dist] [--force]`: steps are skipped
// when their outputs are newer than their inputs unless --force is given.
const force = process.argv.includes("--force");
const steps = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const want = (s) => steps.length === 0 || steps.includes(s);

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

mkdirSync("build", { recursive: true });
if (want("gen") || want("wasm")) {
  // the generator leaves unchanged outputs untouched, so a stamp records the run
  if (newest("cpu/gen") > Math.min(mtime("build/gen.stamp"), mtime("cpu/dispatch.gen.ts")) || force) {
    await build({ entryPoints: ["cpu/gen/gen.ts"], bundle: true, platform: "node", format: "esm", target: "node20", outfile: "build/gen.mjs", logLevel: "error" });
    execFileSync(process.execPath, ["build/gen.mjs"], { stdio: "inherit" });
    writeFileSync("build/gen.stamp", "");
  }
}
if (want("wasm")) {
  const asc = join(root, "node_modules/.bin/asc");
  if (newest("cpu") > mtime("build/cpu.wasm") || force) {
    const t0 = Date.now();
    execFileSync(asc, ["--config", "asconfig.json", "--target", "release"], { stdio: "inherit" });
    console.log(`asc: build/cpu.wasm (${statSync("build/cpu.wasm").size} bytes, ${Date.now() - t0} ms)`);
  }
}
if (want("dist")) {
  await build({
    entryPoints: ["hypervisor/cli/main.ts"], bundle: true, platform: "node", format: "esm", target: "node20",
    outfile: "dist/x86kvm.mjs", packages: "external", sourcemap: true, loader: { ".wasm": "binary", ".xml": "text" }, logLevel: "error",
    banner: { js: "" },
  });
  console.log("esbuild: dist/x86kvm.mjs");
  // the VS Code extension entry (package.json "main"): CommonJS as VS Code loads it, `vscode`
  // provided by the editor; it starts the adapter from dist/x86kvm.mjs (process or inline), so it
  // bundles nothing of the emulator. import() must stay a real dynamic import (the CLI is ESM).
  await build({
    entryPoints: ["hypervisor/debug/dap/extension.ts"], bundle: true, platform: "node", format: "cjs", target: "node20",
    outfile: "dist/extension.cjs", external: ["vscode"], supported: { "dynamic-import": true }, sourcemap: true, logLevel: "error",
  });
  console.log("esbuild: dist/extension.cjs");
}
