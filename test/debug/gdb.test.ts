// The gdb remote stub end to end: the real gdb (13.x, batch mode) against
// `node dist/x86kvm.mjs run IMAGE -s 0 -S`, every printed value asserted; and
// the protocol's edges over a raw socket against the stub in-process
// (malformed packets, a second client, disconnect + reconnect, Ctrl-C).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, execFile, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DebugEngine } from "../../hypervisor/debug/engine";
import { GdbStub } from "../../hypervisor/debug/gdbstub";
import { frame } from "../../hypervisor/debug/gdb/packet";
import { GDB_REGS } from "../../hypervisor/debug/gdb/regs";
import { resolveRun } from "../../hypervisor/cli/run";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const img = (n: string) => join(root, "guest-images/bin", n);
const cli = join(root, "dist/x86kvm.mjs");

let gdbOk = false;
try { gdbOk = /GNU gdb/.test(execFileSync("gdb", ["--version"], { encoding: "utf8" })); } catch { /* missing */ }
if (!gdbOk) console.log("SKIP gdb.test.ts real-gdb tests: gdb is not installed");

/** Start `x86kvm run IMAGE -s 0 -S …`; resolves with the process and its port. */
function startStub(image: string, extra: string[] = []): Promise<{ p: ChildProcess; port: number; err: () => string; out: () => string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli, "run", image, "-m", "8M", "-s", "0", "-S", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "", out = "";
    p.stdout!.on("data", (d) => { out += d; });
    p.stderr!.on("data", (d) => {
      err += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve({ p, port: +m[1], err: () => err, out: () => out });
    });
    p.on("exit", (c) => reject(new Error(`stub exited (${c}): ${err}`)));
  });
}

function gdb(port: number, cmds: string[]): Promise<string> {
  const args = ["--batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off", "-ex", `target remote 127.0.0.1:${port}`];
  for (const c of cmds) args.push("-ex", c);
  return new Promise((resolve) => {
    execFile("timeout", ["30", "gdb", ...args], { encoding: "utf8" }, (_e, stdout, stderr) => resolve(stdout + stderr));
  });
}
const line = (out: string, re: RegExp): string => { const m = re.exec(out); assert.ok(m, `no match for ${re} in:\n${out}`); return m![1]; };

test("real gdb: registers, stepi, break/continue, x/4gx, zmm, reverse-stepi, detach", async () => {
  if (!gdbOk) return;
  const s = await startStub(img("hello64.elf"));
  try {
    const out = await gdb(s.port, [
      "info registers rip rax rsp eflags cs pkru k0 k7 fs_base gs_base",
      "x/3i $pc",
      "stepi",
      "info registers rip rsi",
      "break *0x100012",
      "continue",
      "info registers rip rax",
      "x/4gx 0x100000",
      "set $zmm0.v8_int64[0] = 0x1122334455667788",
      "set $zmm0.v8_int64[7] = 0x7777",
      "set $k3 = 0xf0f0",
      "set $rbx = 0xabcdef",
      "p/x $zmm0.v8_int64",
      "p/x $k3",
      "p/x $rbx",
      "reverse-stepi",
      "info registers rip",
      "reverse-stepi",
      "info registers rip",
      "monitor insns",
      "detach",
    ]);
    assert.not.match(out, /rejected|Remote 'g' packet reply is too long|Invalid register/);
    assert.is(line(out, /^rip\s+(0x[0-9a-f]+)/m), "0x100000");
    assert.is(line(out, /^rax\s+(0x[0-9a-f]+)/m), "0x0");
    assert.is(line(out, /^eflags\s+(0x[0-9a-f]+)/m), "0x2");
    assert.is(line(out, /^cs\s+(0x[0-9a-f]+)/m), "0x8");
    assert.is(line(out, /^pkru\s+(0x[0-9a-f]+)/m), "0x0");
    assert.is(line(out, /^k0\s+(0x[0-9a-f]+)/m), "0x0");
    assert.is(line(out, /^k7\s+(0x[0-9a-f]+)/m), "0x0");
    assert.is(line(out, /^fs_base\s+(0x[0-9a-f]+)/m), "0x0");
    assert.match(out, /=> 0x100000:\s+lea\s+0x11\(%rip\),%rsi/);
    // after one stepi: RSI = 0x100018 (the string), RIP at the next instruction
    assert.match(out, /^rip\s+0x100007/m);
    assert.match(out, /^rsi\s+0x100018/m);
    assert.match(out, /Breakpoint 1, 0x0*100012 in/);
    assert.match(out, /^rip\s+0x100012/m);
    assert.match(out, /^rax\s+0x68\s/m);                                 // 'h' was just printed
    assert.match(out, /0x100000:\s+0x8a00000011358d48\s+0x48e9e60774c08406/);
    assert.match(out, /= \{0x1122334455667788, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x7777\}/);
    assert.match(out, /= 0xf0f0/);
    assert.match(out, /= 0xabcdef/);
    // reverse-stepi from the breakpoint (insn 6): 0x10000f (insn 5), then 0x10000d (insn 4)
    const rips = [...out.matchAll(/^rip\s+(0x[0-9a-f]+)/gm)].map((m) => m[1]);
    assert.equal(rips.slice(-2), ["0x10000f", "0x10000d"]);
    assert.match(out, /^4$/m);
    assert.match(out, /Inferior 1 \(Remote target\) detached/);
  } finally { s.p.kill(); }
});

test("real gdb: AMX guest — continue to HLT, monitor xsave / fpstate, vector registers", async () => {
  if (!gdbOk) return;
  const s = await startStub(img("amx-xfd-irq.elf"));
  try {
    const out = await gdb(s.port, ["continue", "monitor xsave", "monitor fpstate", "info registers k1", "p/x $xmm1.uint128", "kill"]);
    assert.match(out, /^XCR0\s+0x00000000000602e7/m);
    assert.match(out, /^XFD\s+0x0000000000040000/m);
    assert.match(out, /XINUSE\s+0x0000000000020200/m);           // TILECFG in use; TILEDATA saved as init under XFD[18]=1
    assert.match(out, /kernel\s+6\.19 \(B4\)/);
    assert.match(out, /xfd\s+0x0000000000040000/);
    assert.match(out, /xfeatures\s+0x00000000000602e7/);
    assert.match(out, /^k1\s+0x0/m);
    assert.match(out, /x86kvm: guest halted \(HLT\)/);
    assert.match(s.out(), /amx-xfd-irq: resumed after WRMSR/);
    const code = await new Promise((r) => s.p.on("exit", r));
    assert.is(code, 0, "kill ends the emulator");
  } finally { s.p.kill(); }
});

test("real gdb: the S4 host oops (B3, irq-fpu at the XFD exit) stops with SIGABRT; reverse-stepi leaves it", async () => {
  if (!gdbOk) return;
  const s = await startStub(img("amx-xfd-irq.elf"), ["--kernel", "b3", "--host-event", "irq-fpu@wrmsr:0x1c4"]);
  try {
    const out = await gdb(s.port, ["continue", "monitor insns", "monitor fpstate", "reverse-stepi", "info registers rip", "monitor insns", "monitor fpstate", "kill"]);
    assert.match(out, /Program received signal SIGABRT/);
    assert.match(out, /x86kvm: host kernel oops in KVM_RUN/);
    assert.match(out, /switch_fpu_return/);
    const counts = [...out.matchAll(/^(\d+)$/gm)].map((m) => +m[1]);
    assert.is(counts.length, 2);
    assert.is(counts[1], counts[0] - 1);
    assert.match(out, /kernel\s+6\.8 \(B3\)/);
    assert.match(out, /host event irq-fpu at insn \d+: kernel_fpu_begin → save_fpregs_to_fpstate → kernel_fpu_end \(oops in switch_fpu_return\)/);
    // one instruction back (at the WRMSR: its exit counts it) the host has neither run the event
    // nor oopsed, and the guest XFD is still 0
    const after = out.slice(out.lastIndexOf("kernel    6.8"));
    assert.not.match(after, /host oops|host event/);
    assert.match(after, /xfd\s+0x0000000000000000/);
  } finally { s.p.kill(); }
});

// ---------------------------------------------------------------- raw protocol, in process
class Client {
  private buf = "";
  private waiters: (() => void)[] = [];
  constructor(readonly sock: Socket) {
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => { this.buf += d; this.waiters.splice(0).forEach((w) => w()); });
  }
  static open(port: number): Promise<Client> {
    return new Promise((res, rej) => { const s = connect(port, "127.0.0.1", () => res(new Client(s))); s.on("error", rej); });
  }
  /** the next reply packet's payload (acks skipped) */
  async reply(): Promise<string> {
    for (;;) {
      this.buf = this.buf.replace(/^[+-]+/, "");
      const m = /^\$([^#]*)#[0-9a-f]{2}/.exec(this.buf);
      if (m) { this.buf = this.buf.slice(m[0].length); if (!/^O[0-9a-f]+$/.test(m[1])) return m[1]; continue; }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  async raw(): Promise<string> { while (!this.buf.length) await new Promise<void>((r) => this.waiters.push(r)); const b = this.buf; this.buf = ""; return b; }
  send(p: string): void { this.sock.write(frame(p), "latin1"); }
  async ask(p: string): Promise<string> { this.send(p); return this.reply(); }
}

async function stubFor(image: Uint8Array | string): Promise<{ e: DebugEngine; stub: GdbStub; port: number }> {
  const spec = typeof image === "string" ? resolveRun({ image: img(image), memory: "8M" }).spec
    : { image, kind: "flat" as const, model: "sapphire-rapids", kernel: "6.19", memory: 8 << 20 };
  const e = new DebugEngine(spec);
  const stub = new GdbStub(e, { port: 0 });
  const port = await stub.listen();
  return { e, stub, port };
}

test("protocol: malformed packets get errors and leave the guest untouched", async () => {
  const { e, stub, port } = await stubFor("hello64.elf");
  const c = await Client.open(port);
  try {
    const h0 = e.stateHash();
    c.sock.write("$g#00", "latin1");                            // bad checksum
    assert.is(await c.raw(), "-");
    for (const [p, want] of [
      ["mzz,4", "E00"], ["m100000", "E00"], ["m100000,99999", "E00"], ["Mfff,2:0", "E00"], ["M100000,2:001", "E00"],
      ["P1000=00", "E00"], ["P0=12", "E00"], ["pzz", "E00"], ["Z0,nothex,1", "E00"], ["Z2,100000,1", ""],
      ["qXfer:features:read:nosuch.xml:0,100", "E00"], ["qRcmd,zz", "E00"], ["qRcmd," + Buffer.from("bogus").toString("hex"), "E01"],
      ["vCont;x", "E00"], ["Xbogus", ""], ["G123", "E00"], ["m0,0", ""],
    ] as const) assert.is(await c.ask(p), want, p);
    assert.is(e.insns, 0);
    assert.is(e.stateHash(), h0, "no malformed packet changed the guest");
    // a well-formed session still works
    assert.match(await c.ask("qSupported:xmlRegisters=i386"), /PacketSize=4800;qXfer:features:read\+.*ReverseStep\+;ReverseContinue\+/);
    const x = await c.ask("qXfer:features:read:target.xml:0,ffff");
    assert.match(x, /^l<\?xml/);
    assert.match(x, /i386:x86-64/);
    const g = await c.ask("g");
    assert.is(g.length, GDB_REGS.reduce((a, r) => a + 2 * r.bytes, 0));
    assert.is(await c.ask("p10"), "0000100000000000");        // rip
    assert.is(await c.ask("s"), "T05thread:01;");
    assert.is(await c.ask("p10"), "0700100000000000");
    assert.is(await c.ask("bs"), "T05thread:01;");
    assert.is(await c.ask("bs"), "T05thread:01;replaylog:begin;");
  } finally { c.sock.destroy(); stub.close(); }
});

test("protocol: exception stops — C<sig> delivers the #GP, a plain c drops it and the instruction faults again", async () => {
  const { e, stub, port } = await stubFor("selftest64.elf");
  const c = await Client.open(port);
  const hex = (t: string) => Buffer.from(t).toString("hex");
  try {
    assert.match(Buffer.from(await c.ask("qRcmd," + hex("exc 13")), "hex").toString(), /13 #GP/);
    assert.is(await c.ask("vCont;c"), "T0bthread:01;");
    const rip = e.lastStop.rip, n = e.insns;
    assert.is(await c.ask("c"), "T0bthread:01;");               // dropped: the WRMSR runs again and faults again
    assert.is(e.lastStop.rip, rip);
    assert.is(e.insns, n);
    assert.is(await c.ask("vCont;C0b"), "T0bthread:01;");       // delivered: the guest's handler runs, the next #GP stops
    assert.ok(e.insns > n);
    assert.not.equal(e.lastStop.rip, rip);
    assert.match(Buffer.from(await c.ask("qRcmd," + hex("exc none")), "hex").toString(), /none/);
    assert.is(await c.ask("C0b"), "W01");                         // the selftest passes and exits with status 0 → (0<<1)|1
  } finally { c.sock.destroy(); stub.close(); }
});

test("protocol: one client at a time; a disconnect leaves the VM paused for the next client; Ctrl-C", async () => {
  const { e, stub, port } = await stubFor(new Uint8Array([0xeb, 0xfe]));     // jmp $
  const a = await Client.open(port);
  try {
    assert.is(await a.ask("?"), "T05thread:01;");
    const b = await Client.open(port);
    assert.is(await b.reply(), "E10");                             // refused: one client at a time
    b.sock.destroy();
    a.send("vCont;c");
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(e.isRunning);
    a.sock.write(Buffer.from([3]));
    assert.is(await a.reply(), "T02thread:01;");
    const n = e.insns;
    assert.ok(n > 1000);
    a.send("c");
    await new Promise((r) => setTimeout(r, 30));
    a.sock.destroy();                                              // gone while running
    await new Promise((r) => setTimeout(r, 50));
    assert.not.ok(e.isRunning, "paused after the client left");
    const stopped = e.insns;
    await new Promise((r) => setTimeout(r, 30));
    assert.is(e.insns, stopped);
    const c = await Client.open(port);
    assert.is(await c.ask("?"), "T02thread:01;");
    assert.is(await c.ask("p10"), "007c000000000000");
    assert.is(await c.ask("D"), "OK");
    c.sock.destroy();
  } finally { a.sock.destroy(); stub.close(); }
});

test.run();
