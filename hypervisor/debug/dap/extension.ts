// The VS Code extension (package.json "main": dist/extension.cjs, bundled by
// scripts/build.mjs with `vscode` external). All it does is say how the debug
// adapter for `"type": "x86kvm"` runs:
//   adapterMode "process" (default): `node dist/x86kvm.mjs dap` over stdio, a
//     separate process, so the emulator's hot loop never blocks the extension
//     host and the same adapter serves any DAP client;
//   adapterMode "inline": the session class from dist/x86kvm.mjs inside the
//     extension host (no spawn; for quick starts on small guests).
// For developing the adapter itself, launch.json's `"debugServer": PORT`
// attaches to `x86kvm dap --server=PORT` (VS Code then skips this factory).
import * as vscode from "vscode";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export function activate(context: vscode.ExtensionContext): void {
  const cli = join(context.extensionPath, "dist", "x86kvm.mjs");
  context.subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider("x86kvm", {
      // F5 without a launch.json: nothing to guess a guest image from, so ask for one
      resolveDebugConfiguration(_folder, config) {
        if (!config.type && !config.request && !config.name) return undefined;
        if (config.request === "launch" && !config.program && !config.bios) {
          config.program = "${workspaceFolder}/guest-images/bin/hello64.elf";
        }
        return config;
      },
    }),
    vscode.debug.registerDebugAdapterDescriptorFactory("x86kvm", {
      async createDebugAdapterDescriptor(session) {
        if (session.configuration.adapterMode === "inline") {
          // the ESM bundle exports the session class (hypervisor/cli/main.ts)
          const mod = (await import(pathToFileURL(cli).href)) as { X86kvmDebugSession: new () => unknown };
          return new vscode.DebugAdapterInlineImplementation(new mod.X86kvmDebugSession());
        }
        // VS Code's own Electron binary runs as Node with ELECTRON_RUN_AS_NODE (no separate Node install needed)
        return new vscode.DebugAdapterExecutable(process.execPath, [cli, "dap"], { env: { ELECTRON_RUN_AS_NODE: "1" } });
      },
    }),
  );
}

export function deactivate(): void {}
