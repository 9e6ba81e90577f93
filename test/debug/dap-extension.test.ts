// The VS Code side without VS Code: the manifest (package.json contributes.debuggers) and the
// bundled extension entry dist/extension.cjs, loaded with a stand-in for the `vscode` module
// that records what activate() registers. Checks that the factory starts `x86kvm dap` as a
// process by default and, with adapterMode "inline", hands VS Code a working session object.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runOptions } from "../../hypervisor/debug/dap/launch";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

test("package.json is a VS Code extension with an x86kvm debugger and still the library/CLI package", () => {
  assert.is(pkg.main, "./dist/extension.cjs");
  assert.is(pkg.exports["."], "./dist/x86kvm.mjs");
  assert.is(pkg.bin.x86kvm, "dist/x86kvm.mjs");
  assert.match(pkg.engines.vscode, /^\^1\./);
  assert.ok(pkg.activationEvents.includes("onDebugResolve:x86kvm"));
  const d = pkg.contributes.debuggers.find((x: { type: string }) => x.type === "x86kvm");
  assert.ok(d, "contributes.debuggers type x86kvm");
  const props = d.configurationAttributes.launch.properties;
  for (const k of ["program", "bios", "host", "cpu", "kernel", "memory", "maxInsns", "stopOnEntry", "hostEvents", "trace", "stopOn"]) assert.ok(props[k], k);
  assert.ok(d.initialConfigurations.length >= 1 && d.configurationSnippets.length >= 2);
  // every launch attribute that is a run option reaches the run options
  const o = runOptions({ program: "a.elf", host: "haswell", cpu: "host,-avx2", kernel: "b2", memory: "64M", maxInsns: 5, hostEvents: ["preempt"] });
  assert.equal(o, { image: "a.elf", bios: undefined, host: "haswell", cpu: "host,-avx2", kernel: "b2", memory: "64M", maxInsns: "5", hostEvents: ["preempt"] });
});

test("dist/extension.cjs registers a descriptor factory: `x86kvm dap` as a process, or the session inline", async () => {
  const registered: Record<string, { createDebugAdapterDescriptor?: (s: unknown) => unknown; resolveDebugConfiguration?: (f: unknown, c: unknown) => unknown }> = {};
  class DebugAdapterExecutable { constructor(readonly command: string, readonly args: string[], readonly options: { env?: Record<string, string> }) {} }
  class DebugAdapterInlineImplementation { constructor(readonly implementation: { handleMessage(m: unknown): void; onDidSendMessage(cb: (m: unknown) => void): unknown }) {} }
  const vscode = {
    DebugAdapterExecutable, DebugAdapterInlineImplementation,
    debug: {
      registerDebugAdapterDescriptorFactory: (type: string, f: object) => { registered[`factory:${type}`] = f; return { dispose() {} }; },
      registerDebugConfigurationProvider: (type: string, p: object) => { registered[`provider:${type}`] = p; return { dispose() {} }; },
    },
  };
  const req = createRequire(join(root, "dist/extension.cjs"));
  const Module = req("node:module") as { _load: (r: string, ...a: unknown[]) => unknown };
  const load = Module._load;
  Module._load = (r: string, ...a: unknown[]) => (r === "vscode" ? vscode : load(r, ...a));
  let ext: { activate(c: unknown): void };
  try { ext = req(join(root, "dist/extension.cjs")); } finally { Module._load = load; }
  const ctx = { extensionPath: root, subscriptions: [] as unknown[] };
  ext.activate(ctx);
  assert.is(ctx.subscriptions.length, 2);
  const f = registered["factory:x86kvm"]!;
  const proc = (await f.createDebugAdapterDescriptor!({ configuration: { type: "x86kvm", request: "launch", name: "t", program: "x.elf" } })) as DebugAdapterExecutable;
  assert.instance(proc, DebugAdapterExecutable);
  assert.equal(proc.args, [join(root, "dist/x86kvm.mjs"), "dap"]);
  assert.is(proc.options.env?.ELECTRON_RUN_AS_NODE, "1");
  // a launch without program or bios gets the sample guest instead of failing silently
  const resolved = registered["provider:x86kvm"]!.resolveDebugConfiguration!(undefined, { type: "x86kvm", request: "launch", name: "t" }) as { program: string };
  assert.match(resolved.program, /hello64\.elf$/);

  const inline = (await f.createDebugAdapterDescriptor!({ configuration: { type: "x86kvm", request: "launch", name: "t", adapterMode: "inline" } })) as DebugAdapterInlineImplementation;
  assert.instance(inline, DebugAdapterInlineImplementation);
  const sent: { type: string; command?: string; event?: string; body?: { supportsDisassembleRequest?: boolean } }[] = [];
  inline.implementation.onDidSendMessage((m) => sent.push(m as (typeof sent)[number]));
  inline.implementation.handleMessage({ seq: 1, type: "request", command: "initialize", arguments: { adapterID: "x86kvm", pathFormat: "path", linesStartAt1: true, columnsStartAt1: true } });
  await new Promise((r) => setTimeout(r, 20));
  const resp = sent.find((m) => m.type === "response" && m.command === "initialize");
  assert.is(resp?.body?.supportsDisassembleRequest, true);
  // `initialized` follows the launch (the adapter is ready for breakpoints once the guest exists)
  assert.not.ok(sent.some((m) => m.type === "event" && m.event === "initialized"));
});

test.run();
