// The VS Code debug adapter end to end, headless: @vscode/debugadapter-testsupport's DebugClient
// talks DAP over a loopback socket to the adapter served in this process by the same code path as
// `x86kvm dap --server=PORT` (hypervisor/debug/dap/main.ts startServer), and once over stdio to a
// spawned `node dist/x86kvm.mjs dap`. Guests: hello64.elf (a 6-instruction print loop at 0x100000),
// xstate64.rom (TILEZERO with XFD[18]=1 raises #NM in the guest), amx-xfd-irq.elf (host oops).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DebugClient } from "@vscode/debugadapter-testsupport";
import type { DebugProtocol } from "@vscode/debugprotocol";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Server, AddressInfo } from "node:net";
import { startServer } from "../../hypervisor/debug/dap/main";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const BIN = join(root, "guest-images/bin");
const HELLO = join(BIN, "hello64.elf");

let server: Server;
let port = 0;

async function client(): Promise<DebugClient> {
  const dc = new DebugClient("node", "unused", "x86kvm");
  dc.defaultTimeout = 10_000;
  await dc.start(port);
  return dc;
}

/** initialize + launch + configurationDone; resolves with the first stopped event (stopOnEntry). */
async function launch(dc: DebugClient, args: Record<string, unknown>, setup?: () => Promise<unknown>): Promise<DebugProtocol.StoppedEvent> {
  const stopped = dc.waitForEvent("stopped");
  await Promise.all([
    dc.waitForEvent("initialized").then(async () => { await setup?.(); return dc.configurationDoneRequest(); }),
    dc.launch({ stopOnEntry: true, ...args }),
  ]);
  return (await stopped) as DebugProtocol.StoppedEvent;
}

async function rip(dc: DebugClient): Promise<string> {
  const st = await dc.stackTraceRequest({ threadId: 1 });
  return st.body.stackFrames[0].instructionPointerReference!;
}

async function scopeVars(dc: DebugClient, scope: string): Promise<Map<string, DebugProtocol.Variable>> {
  const st = await dc.stackTraceRequest({ threadId: 1 });
  const sc = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
  const s = sc.body.scopes.find((x) => x.name === scope);
  assert.ok(s, `scope ${scope} in ${sc.body.scopes.map((x) => x.name).join(", ")}`);
  const vs = await dc.variablesRequest({ variablesReference: s!.variablesReference });
  return new Map(vs.body.variables.map((v) => [v.name, v]));
}

// requests this DebugClient version has no typed helper for
const setInstructionBreakpoints = (dc: DebugClient, a: DebugProtocol.SetInstructionBreakpointsArguments) =>
  dc.customRequest("setInstructionBreakpoints", a) as Promise<DebugProtocol.SetInstructionBreakpointsResponse>;
const readMemory = (dc: DebugClient, a: DebugProtocol.ReadMemoryArguments) => dc.customRequest("readMemory", a) as Promise<DebugProtocol.ReadMemoryResponse>;
const writeMemory = (dc: DebugClient, a: DebugProtocol.WriteMemoryArguments) => dc.customRequest("writeMemory", a) as Promise<DebugProtocol.WriteMemoryResponse>;

const regValue = async (dc: DebugClient, name: string) => (await dc.evaluateRequest({ expression: name, context: "watch" })).body.result;

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error response matching ${re}`);
}

test.before(async () => {
  server = await startServer(0);
  port = (server.address() as AddressInfo).port;
});
test.after(() => { server.close(); });

test("initialize advertises the instruction-level capabilities and the exception filters", async () => {
  const dc = await client();
  try {
    const r = await dc.initializeRequest();
    const c = r.body!;
    for (const k of ["supportsConfigurationDoneRequest", "supportsInstructionBreakpoints", "supportsDisassembleRequest", "supportsReadMemoryRequest",
      "supportsWriteMemoryRequest", "supportsSetVariable", "supportsStepBack", "supportsEvaluateForHovers", "supportsSteppingGranularity"] as const) {
      assert.is(c[k], true, k);
    }
    const ids = c.exceptionBreakpointFilters!.map((f) => f.filter);
    for (const id of ["DE", "DB", "BP", "UD", "NM", "DF", "GP", "PF", "MF", "AC", "XM", "host-oops", "exit-hlt", "exit-io", "exit-shutdown"]) assert.ok(ids.includes(id), id);
  } finally { await dc.stop(); }
});

test("launch with stopOnEntry, step, instruction breakpoint, continue, step back, console output, exit", async () => {
  const dc = await client();
  try {
    const ev = await launch(dc, { program: HELLO, host: "sapphire-rapids", kernel: "6.19", memory: "64M" });
    assert.is(ev.body.reason, "entry");
    const th = await dc.threadsRequest();
    assert.equal(th.body.threads.map((t) => t.id), [1]);
    assert.is(await rip(dc), "0x100000");
    const st = await dc.stackTraceRequest({ threadId: 1 });
    assert.match(st.body.stackFrames[0].name, /lea rsi, \[(rel )?0x100018\]/);

    // step: lea rsi,[msg] (7 bytes) then mov al,[rsi]
    let stopped = dc.waitForEvent("stopped");
    await dc.stepInRequest({ threadId: 1, granularity: "instruction" });
    assert.is(((await stopped) as DebugProtocol.StoppedEvent).body.reason, "step");
    assert.is(await rip(dc), "0x100007");
    assert.is(await regValue(dc, "rsi"), "0x100018");
    stopped = dc.waitForEvent("stopped");
    await dc.nextRequest({ threadId: 1, granularity: "instruction" });
    await stopped;
    assert.is(await rip(dc), "0x100009");
    assert.is(await regValue(dc, "al"), "0x68 (104)");              // 'h'

    // instruction breakpoint on the OUT: continue stops there, before the first character is out
    const bp = await setInstructionBreakpoints(dc, { breakpoints: [{ instructionReference: "0x10000d" }] });
    assert.is(bp.body.breakpoints[0].verified, true);
    stopped = dc.waitForEvent("stopped");
    await dc.continueRequest({ threadId: 1 });
    assert.is(((await stopped) as DebugProtocol.StoppedEvent).body.reason, "instruction breakpoint");
    assert.is(await rip(dc), "0x10000d");
    // again: the next character, one loop iteration later (the breakpoint at RIP does not re-trigger at once)
    const out: string[] = [];
    dc.on("output", (e) => { if ((e as DebugProtocol.OutputEvent).body.category === "stdout") out.push((e as DebugProtocol.OutputEvent).body.output); });
    stopped = dc.waitForEvent("stopped");
    await dc.continueRequest({ threadId: 1 });
    await stopped;
    assert.is(await rip(dc), "0x10000d");
    assert.is(await regValue(dc, "rsi"), "0x100019");

    // step back: to the instruction before the OUT, with the state the forward run had there
    stopped = dc.waitForEvent("stopped");
    await dc.stepBackRequest({ threadId: 1 });
    await stopped;
    assert.is(await rip(dc), "0x10000b");
    assert.is(await regValue(dc, "rsi"), "0x100019");
    // reverse-continue: back to the previous breakpoint hit (the first character)
    stopped = dc.waitForEvent("stopped");
    await dc.reverseContinueRequest({ threadId: 1 });
    await stopped;
    assert.is(await rip(dc), "0x10000d");
    assert.is(await regValue(dc, "rsi"), "0x100018");

    // clear the breakpoint and run to the end: the guest's console arrives as output events, then exited(0)
    await setInstructionBreakpoints(dc, { breakpoints: [] });
    const exited = dc.waitForEvent("exited");
    const terminated = dc.waitForEvent("terminated");
    await dc.continueRequest({ threadId: 1 });
    assert.is(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 0);
    await terminated;
    assert.ok(out.join("").includes("llo from long mode\n"), JSON.stringify(out.join("")));
  } finally { await dc.stop(); }
});

test("registers: general, segments & control, vector (zmm expandable), opmasks, XSAVE state, host fpstate", async () => {
  const dc = await client();
  try {
    await launch(dc, { program: HELLO });
    const g = await scopeVars(dc, "General registers");
    assert.is(g.get("rip")!.value, "0x100000");
    assert.is(g.get("rip")!.memoryReference, "0x100000");
    assert.match(g.get("rflags")!.value, /^0x2/);
    const seg = await scopeVars(dc, "Segments & control");
    assert.match(seg.get("cs")!.value, /^0x8 /);
    assert.match(seg.get("efer")!.value, /^0xd01 .*LME.*LMA/);
    assert.match(seg.get("cr0")!.value, /PG/);
    assert.match(seg.get("mode")!.value, /64-bit code, CPL 0/);

    const vec = await scopeVars(dc, "SSE/AVX/AVX-512");
    assert.ok(vec.has("zmm31"), "sapphire-rapids has 32 zmm registers");
    assert.is(vec.get("zmm0")!.value, "0x" + "0".repeat(128));
    // set a lane, read it back through evaluate and the lanes view
    const z = vec.get("zmm0")!;
    const kids = await dc.variablesRequest({ variablesReference: z.variablesReference });
    const names = kids.body.variables.map((v) => v.name);
    assert.equal(names.slice(0, 2), ["xmm0", "ymm0"]);
    const u64 = kids.body.variables.find((v) => v.name === "u64")!;
    await dc.setVariableRequest({ variablesReference: u64.variablesReference, name: "[7]", value: "0x1122334455667788" });
    assert.is(await regValue(dc, "$zmm0"), "0x1122334455667788" + "0".repeat(112));
    await dc.setVariableRequest({ variablesReference: z.variablesReference, name: "zmm0", value: "0xabcdef" });
    assert.is(await regValue(dc, "xmm0"), "0x" + "0".repeat(26) + "abcdef");

    const k = await scopeVars(dc, "Opmasks");
    assert.equal([...k.keys()], ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"]);
    const amx = await scopeVars(dc, "AMX");
    assert.match(amx.get("tilecfg")!.value, /palette 0/);
    const xs = await scopeVars(dc, "XSAVE state");
    assert.match(xs.get("xcr0")!.value, /^0x1 \(x87\)|^0x[0-9a-f]+ \(x87\|SSE/);
    assert.ok(xs.has("IA32_XFD") && xs.has("IA32_XFD_ERR") && xs.has("PKRU") && xs.has("xinuse") && xs.has("XSTATE_BV (host save)"));
    const host = await scopeVars(dc, "Host fpstate");
    assert.match(host.get("kernel")!.value, /^6\.19/);
    assert.match(host.get("xfeatures")!.value, /XTILEDATA/);
    assert.ok(host.has("user_xfeatures") && host.has("xfd") && host.has("saved_xstate_bv"));
    const x87 = await scopeVars(dc, "x87");
    assert.match(x87.get("fctrl")!.value, /^0x37f/);
    assert.match(x87.get("st0")!.value, /^0 /);
  } finally { await dc.stop(); }
});

test("setVariable and evaluate: registers by name, memory expressions, physical addresses", async () => {
  const dc = await client();
  try {
    await launch(dc, { program: HELLO });
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const sc = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
    const r = await dc.setVariableRequest({ variablesReference: sc.body.scopes[0].variablesReference, name: "rax", value: "0x1234" });
    assert.is(r.body.value, "0x1234");
    assert.is(await regValue(dc, "$rax"), "0x1234");
    assert.is(await regValue(dc, "eax"), "0x1234 (4660)");
    assert.is(await regValue(dc, "ah"), "0x12 (18)");
    // memory: the code bytes at the entry (lea rsi,[rip+0x11] = 48 8d 35 11 00 00 00)
    assert.is(await regValue(dc, "*(u32*)0x100000"), "0x11358d48 (288722248)");
    assert.is(await regValue(dc, "byte [rip+1]"), "0x8d (141)");
    assert.is(await regValue(dc, "*(u16*)phys:0x100007"), "0x68a (1674)");
    const q = await regValue(dc, "qword [0x100000]");
    assert.match(q, /^0x[0-9a-f]+11358d48 /);
    assert.is(await regValue(dc, "[phys:0x100000]"), q);
    assert.is(await regValue(dc, "phys:0x100000"), q);
    assert.is(await regValue(dc, "*(i8*)(0x100000 + 1)"), "-115 (0x8d)");
    const xcr0 = await dc.evaluateRequest({ expression: "xcr0", context: "hover" });
    assert.match(xcr0.body.result, /x87/);
    const k1 = await dc.evaluateRequest({ expression: "$k1", context: "watch" });
    assert.is(k1.body.result, "0x0");
    // setExpression on a memory location, read back
    const rsp = BigInt((await dc.evaluateRequest({ expression: "rsp", context: "watch" })).body.result.split(" ")[0]);
    await dc.customRequest("setExpression", { expression: "*(u64*)(rsp-8)", value: "0xfeedface" });
    assert.is(await regValue(dc, `qword [0x${(rsp - 8n).toString(16)}]`), "0xfeedface (4277009102)");
    await rejects(dc.evaluateRequest({ expression: "nosuchreg + 1", context: "watch" }), /unknown register/);
    await rejects(dc.evaluateRequest({ expression: "*(u64*)0xdead00000000", context: "watch" }), /not mapped/);
    // the session still answers
    assert.is(await rip(dc), "0x100000");
  } finally { await dc.stop(); }
});

test("disassemble: exactly instructionCount entries, negative instructionOffset ends at the address", async () => {
  const dc = await client();
  try {
    await launch(dc, { program: HELLO });
    // go to 0x10000d so there are real instructions before RIP
    await setInstructionBreakpoints(dc, { breakpoints: [{ instructionReference: "0x10000d" }] });
    const stopped = dc.waitForEvent("stopped");
    await dc.continueRequest({ threadId: 1 });
    await stopped;
    const d = await dc.disassembleRequest({ memoryReference: "0x10000d", instructionOffset: -50, instructionCount: 100 });
    const ins = d.body!.instructions;
    assert.is(ins.length, 100);
    assert.is(ins[50].address, "0x10000d");
    assert.match(ins[50].instruction, /^out 0xe9, al$/);
    // the four before it, decoded forward from the entry (a known instruction start)
    assert.equal(ins.slice(46, 50).map((i) => i.address), ["0x100000", "0x100007", "0x100009", "0x10000b"]);
    assert.match(ins[49].instruction, /^je /);
    assert.equal(ins.slice(50, 54).map((i) => i.instructionBytes), ["e6 e9", "48 ff c6", "eb f3", "fa"]);
    // addresses strictly increase
    for (let i = 1; i < ins.length; i++) assert.ok(BigInt(ins[i].address) > BigInt(ins[i - 1].address), `order at ${i}`);
    const small = await dc.disassembleRequest({ memoryReference: "0x100000", instructionOffset: 1, instructionCount: 3 });
    assert.equal(small.body!.instructions.map((i) => i.address), ["0x100007", "0x100009", "0x10000b"]);
    // beyond guest RAM (64M default is 128M): invalid entries, still exactly the count
    const far = await dc.disassembleRequest({ memoryReference: "0x7ffffffff000", instructionCount: 5 });
    assert.is(far.body!.instructions.length, 5);
    assert.ok(far.body!.instructions.every((i) => i.presentationHint === "invalid"));
  } finally { await dc.stop(); }
});

test("readMemory and writeMemory (linear and phys:), unreadable bytes reported, code writes take effect", async () => {
  const dc = await client();
  try {
    await launch(dc, { program: HELLO });
    const r = await readMemory(dc, { memoryReference: "0x100018", count: 6 });
    assert.is(Buffer.from(r.body!.data!, "base64").toString("latin1"), "hello ");
    assert.is(r.body!.unreadableBytes ?? 0, 0);
    const w = await writeMemory(dc, { memoryReference: "phys:0x100018", data: Buffer.from("J").toString("base64") });
    assert.is(w.body!.bytesWritten, 1);
    const r2 = await readMemory(dc, { memoryReference: "0x100018", offset: 0, count: 2 });
    assert.is(Buffer.from(r2.body!.data!, "base64").toString("latin1"), "Je");
    // end of RAM: the tail is unreadable, not an error
    const end = await readMemory(dc, { memoryReference: "phys:" + (128 * 1024 * 1024 - 4), count: 8 });
    assert.is(Buffer.from(end.body!.data!, "base64").length, 4);
    assert.is(end.body!.unreadableBytes, 4);
    // patch the code: `out 0xe9, al` → `nop; nop`: the guest prints nothing
    await writeMemory(dc, { memoryReference: "0x10000d", data: Buffer.from([0x90, 0x90]).toString("base64") });
    const out: string[] = [];
    dc.on("output", (e) => { if ((e as DebugProtocol.OutputEvent).body.category === "stdout") out.push((e as DebugProtocol.OutputEvent).body.output); });
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    assert.is(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 0);
    assert.is(out.join(""), "");
  } finally { await dc.stop(); }
});

test("AMX guest: stop on #NM from TILEZERO with XFD[18]=1, inspect, continue to PASS", async () => {
  const dc = await client();
  try {
    const ev = await launch(dc, { bios: join(BIN, "xstate64.rom"), stopOnEntry: false },
      () => dc.setExceptionBreakpointsRequest({ filters: ["NM", "host-oops"] }));
    assert.is(ev.body.reason, "exception");
    assert.match(ev.body.description ?? ev.body.text ?? "", /#NM/);
    const sym = readFileSync(join(BIN, "xstate64.sym"), "utf8");
    const tz = BigInt("0x" + /^([0-9a-f]+) t tz_insn$/m.exec(sym)![1]);
    assert.is(BigInt(await rip(dc)), tz);
    // ROM symbols come from xstate64.sym beside the image
    assert.is(BigInt((await dc.evaluateRequest({ expression: "tz_insn", context: "watch" })).body.result.split(" ")[0]), tz);
    const d = await dc.disassembleRequest({ memoryReference: await rip(dc), instructionCount: 1 });
    assert.match(d.body!.instructions[0].instruction, /^tilezero tmm0/);
    const info = await dc.exceptionInfoRequest({ threadId: 1 });
    assert.is(info.body.exceptionId, "NM");
    const xs = await scopeVars(dc, "XSAVE state");
    assert.match(xs.get("IA32_XFD")!.value, /^0x40000 \(XTILEDATA\)/);
    assert.match(xs.get("xcr0")!.value, /^0x602e7 /);
    const amx = await scopeVars(dc, "AMX");
    assert.match(amx.get("tilecfg")!.value, /palette 1/);
    // continue: the #NM is delivered to the guest's handler, which clears XFD, and the guest passes
    const out: string[] = [];
    dc.on("output", (e) => { if ((e as DebugProtocol.OutputEvent).body.category === "stdout") out.push((e as DebugProtocol.OutputEvent).body.output); });
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    assert.is(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 1);
    assert.match(out.join(""), /PASS/);
  } finally { await dc.stop(); }
});

test("host oops: amx-xfd-irq.elf under 6.5 with irq-fpu at the XFD exit stops with the oops, then exits 6", async () => {
  const dc = await client();
  try {
    const errs: string[] = [];
    dc.on("output", (e) => { if ((e as DebugProtocol.OutputEvent).body.category === "stderr") errs.push((e as DebugProtocol.OutputEvent).body.output); });
    const ev = await launch(dc, { program: join(BIN, "amx-xfd-irq.elf"), kernel: "6.5", hostEvents: ["irq-fpu@wrmsr:0x1c4"], stopOnEntry: false });
    assert.is(ev.body.reason, "exception");
    assert.match(ev.body.description ?? "", /host kernel oops/);
    assert.match(errs.join(""), /exc_device_not_available|switch_fpu_return/);
    const host = await scopeVars(dc, "Host fpstate");
    assert.match(host.get("kernel")!.value, /^6\.5/);
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    assert.is(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 6);
  } finally { await dc.stop(); }
});

test("stepOut runs to the return, next steps over a call (selftest64.elf: call puts64 at 0x10000f)", async () => {
  const dc = await client();
  try {
    await launch(dc, { program: join(BIN, "selftest64.elf") });
    await setInstructionBreakpoints(dc, { breakpoints: [{ instructionReference: "0x10000f" }] });
    let stopped = dc.waitForEvent("stopped");
    await dc.continueRequest({ threadId: 1 });
    await stopped;
    assert.is(await rip(dc), "0x10000f");
    // symbols from the ELF's .symtab: the frame and the call target are labelled
    const st = await dc.stackTraceRequest({ threadId: 1 });
    assert.is(st.body.stackFrames[0].name, "0x10000f <_start+0xf>  call 0x1004fe <puts64>");
    const d = await dc.disassembleRequest({ memoryReference: "0x1004fe", instructionCount: 2 });
    assert.is(d.body!.instructions[0].symbol, "puts64");
    stopped = dc.waitForEvent("stopped");
    await dc.stepInRequest({ threadId: 1, granularity: "instruction" });
    await stopped;
    assert.is(await rip(dc), "0x1004fe");                         // puts64
    stopped = dc.waitForEvent("stopped");
    await dc.stepOutRequest({ threadId: 1, granularity: "instruction" });
    assert.is(((await stopped) as DebugProtocol.StoppedEvent).body.reason, "step");
    assert.is(await rip(dc), "0x100014");
    // a function breakpoint by symbol name: the next puts64 call stops in it
    const fb = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: "puts64" }] });
    assert.is(fb.body.breakpoints[0].verified, true);
    stopped = dc.waitForEvent("stopped");
    await dc.continueRequest({ threadId: 1 });
    await stopped;
    assert.is(await rip(dc), "0x1004fe");
    await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    assert.is(await regValue(dc, "puts64 + 2"), "0x100500 (1049856)");
    // back to the call, and over it in one request
    stopped = dc.waitForEvent("stopped");
    await dc.reverseContinueRequest({ threadId: 1 });
    await stopped;
    assert.is(await rip(dc), "0x10000f");
    stopped = dc.waitForEvent("stopped");
    await dc.nextRequest({ threadId: 1, granularity: "instruction" });
    assert.is(((await stopped) as DebugProtocol.StoppedEvent).body.reason, "step");
    assert.is(await rip(dc), "0x100014");
  } finally { await dc.stop(); }
});

test("pause stops a guest spinning in a loop; maxInsns ends the session with status 124", async () => {
  const dc = await client();
  try {
    await launch(dc, { program: HELLO });
    // hlt → jmp $ : the guest never stops by itself
    await writeMemory(dc, { memoryReference: "0x100015", data: Buffer.from([0xeb, 0xfe]).toString("base64") });
    await dc.continueRequest({ threadId: 1 });
    await new Promise((r) => setTimeout(r, 100));
    const stopped = dc.waitForEvent("stopped");
    await dc.pauseRequest({ threadId: 1 });
    assert.is(((await stopped) as DebugProtocol.StoppedEvent).body.reason, "pause");
    assert.is(await rip(dc), "0x100015");
  } finally { await dc.stop(); }
  const dc2 = await client();
  try {
    const exited = dc2.waitForEvent("exited");
    await launch(dc2, { program: HELLO, maxInsns: 10 });
    await dc2.continueRequest({ threadId: 1 });
    assert.is(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 124);
  } finally { await dc2.stop(); }
});

test("bad requests get error responses and leave the session usable", async () => {
  const dc = await client();
  try {
    await dc.initializeRequest();
    await rejects(dc.launchRequest({ program: join(BIN, "no-such-image.elf") } as DebugProtocol.LaunchRequestArguments), /cannot read .*no-such-image\.elf: ENOENT/);
    await rejects(dc.launchRequest({ program: HELLO, kernel: "4.19" } as DebugProtocol.LaunchRequestArguments), /--kernel/);
    await rejects(dc.launchRequest({} as DebugProtocol.LaunchRequestArguments), /give 'program'/);
    await rejects(dc.stackTraceRequest({ threadId: 1 }), /launch first/);
    // now a good launch on the same session
    const stopped = dc.waitForEvent("stopped");
    await Promise.all([dc.configurationDoneRequest(), dc.launchRequest({ program: HELLO, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments)]);
    await stopped;
    await rejects(readMemory(dc, { memoryReference: "not-an-address", count: 4 }), /bad memory reference/);
    await rejects(dc.disassembleRequest({ memoryReference: "zz", instructionCount: 4 }), /bad memory reference/);
    await rejects(dc.variablesRequest({ variablesReference: 99999 }), /unknown variablesReference/);
    await rejects(writeMemory(dc, { memoryReference: "phys:0x7fffffffff", data: "AAAA" }), /not all mapped/);
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const sc = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
    await rejects(dc.setVariableRequest({ variablesReference: sc.body.scopes[0].variablesReference, name: "rax", value: "banana" }), /not a number/);
    await rejects(dc.setVariableRequest({ variablesReference: sc.body.scopes[0].variablesReference, name: "zmm99", value: "1" }), /no register/);
    // malformed arguments: error responses, never a dead adapter
    for (const [cmd, args] of [
      ["disassemble", { memoryReference: 5, instructionCount: "x" }], ["setInstructionBreakpoints", {}], ["evaluate", {}],
      ["variables", {}], ["readMemory", { memoryReference: null, count: 4 }], ["writeMemory", { memoryReference: "0x100000" }],
      ["setVariable", { variablesReference: "x" }], ["noSuchRequest", {}], ["stackTrace", null],
    ] as [string, unknown][]) {
      await dc.customRequest(cmd, args).then(
        (r) => { assert.ok(cmd === "stackTrace" || cmd === "writeMemory", `${cmd} should fail: ${JSON.stringify(r.body)}`); },
        (e: Error) => { assert.type(e.message, "string"); },
      );
    }
    assert.is(await rip(dc), "0x100000");
    const s2 = dc.waitForEvent("stopped");
    await dc.stepInRequest({ threadId: 1 });
    await s2;
    assert.is(await rip(dc), "0x100007");
  } finally { await dc.stop(); }
});

test("physical breakpoint (INT3 patch): stops at its linear alias, memory reads show the original bytes", async () => {
  const dc = await client();
  try {
    await launch(dc, { program: HELLO });
    const bp = await setInstructionBreakpoints(dc, { breakpoints: [{ instructionReference: "phys:0x10000d" }] });
    assert.is(bp.body.breakpoints[0].verified, true);
    assert.is(bp.body.breakpoints[0].instructionReference, "phys:0x10000d");
    const stopped = dc.waitForEvent("stopped");
    await dc.continueRequest({ threadId: 1 });
    assert.is(((await stopped) as DebugProtocol.StoppedEvent).body.reason, "instruction breakpoint");
    assert.is(await rip(dc), "0x10000d");
    const r = await readMemory(dc, { memoryReference: "phys:0x10000d", count: 2 });
    assert.equal([...Buffer.from(r.body!.data!, "base64")], [0xe6, 0xe9]);
  } finally { await dc.stop(); }
});

test("`x86kvm dap --server=0` listens on 127.0.0.1 and serves a session", async () => {
  const p = spawn(process.execPath, [join(root, "dist/x86kvm.mjs"), "dap", "--server=0"], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const listening = await new Promise<string>((resolve, reject) => {
      let err = "";
      p.stderr!.on("data", (d) => { err += d; const m = /listening on (127\.0\.0\.1):(\d+)/.exec(err); if (m) resolve(m[2]); });
      p.on("exit", (c) => reject(new Error(`exited ${c}: ${err}`)));
    });
    const dc = new DebugClient("node", "unused", "x86kvm");
    await dc.start(Number(listening));
    const r = await dc.initializeRequest();
    assert.is(r.body!.supportsStepBack, true);
    await dc.stop();
  } finally { p.kill(); }
});

test("stdio: `x86kvm dap` (the bundled CLI) answers initialize and runs a launch to the exit", async () => {
  const cli = join(root, "dist/x86kvm.mjs");
  const p = spawn(process.execPath, [cli, "dap"], { stdio: ["pipe", "pipe", "inherit"] });
  const dc = new DebugClient("node", "unused", "x86kvm");
  dc.defaultTimeout = 10_000;
  (dc as unknown as { connect(r: NodeJS.ReadableStream, w: NodeJS.WritableStream): void }).connect(p.stdout!, p.stdin!);
  try {
    const ev = await launch(dc, { program: HELLO });
    assert.is(ev.body.reason, "entry");
    const exited = dc.waitForEvent("exited");
    await dc.continueRequest({ threadId: 1 });
    assert.is(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 0);
    await dc.disconnectRequest({});
  } finally {
    const gone = new Promise((r) => p.on("exit", r));
    setTimeout(() => p.kill(), 2000).unref();
    await gone;
  }
});

test.run();
