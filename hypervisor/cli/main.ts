#!/usr/bin/env node
// dist/x86kvm.mjs: the package's main export (the library API of
// hypervisor/index.ts) and the x86kvm command. The command runs only when
// this file is the program node was started with (directly, or through the
// npm bin symlink), so `import … from "x86kvm"` has no side effects.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { cli } from "./cli";

export * from "../index";
// the VS Code extension's inline mode (hypervisor/debug/dap/extension.ts) takes the session class from here
export { X86kvmDebugSession } from "../debug/dap/session";

function isEntry(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) process.exitCode = await cli(process.argv.slice(2));
