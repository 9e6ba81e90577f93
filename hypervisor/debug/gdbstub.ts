// The gdb remote stub over the debug engine: `x86kvm run IMAGE -s [PORT] [-S]`.
// One client at a time on 127.0.0.1 only; a client that goes away (detach,
// disconnect, a dropped connection) leaves the VM paused and the stub accepts
// the next one. Packets (gdb 13's set, ecosystem.md §2): qSupported,
// qXfer:features:read (target.xml: core with x87, sse, segments, avx, avx512,
// pkeys), g/G, p/P, m/M, c/s, vCont (c, s, t), Z0/z0 and Z1/z1 (both linear
// breakpoints in the engine: DR0-3 first, then INT3 patches), bs/bc (reverse
// step/continue by re-execution), ?, k/vKill, D, qC, qAttached,
// qfThreadInfo/qsThreadInfo, QStartNoAckMode, and qRcmd (`monitor …`, see
// MONITOR_HELP). Malformed packets get `E..` replies (bad checksums a `-`)
// and never change the guest. A 0x03 byte pauses a running guest.
import { createServer, type Server, type Socket } from "node:net";
import type { DebugEngine, Stop } from "./engine";
import { PacketParser, frame, escapeBinary, hexOf, bytesOf, hexNum } from "./gdb/packet";
import { GDB_REGS, TARGET_FILES, readGdbReg, gdbRegValue } from "./gdb/regs";
import { VECTOR_NAMES } from "./engine";

export interface GdbStubOptions {
  /** TCP port on 127.0.0.1; 0 = any free port (see listen()'s result) */
  port: number;
  /** diagnostics (connections, protocol errors); default silent */
  log?: (line: string) => void;
  /** called on k / vKill: the client asked to end the emulator */
  onKill?: () => void;
  /** called when a client detaches or disconnects */
  onDetach?: () => void;
}

const SIG = { INT: 2, ILL: 4, TRAP: 5, ABRT: 6, FPE: 8, SEGV: 11 } as const;

export const MONITOR_HELP = `x86kvm monitor commands:
  monitor xsave            XCR0, XINUSE and XSTATE_BV (the guest's XSAVE header), XFD, XFD_ERR, XSS, PKRU
  monitor fpstate          the host kernel's guest fpstate (xfeatures, user_xfeatures, xfd, XSTATE_BV/XCOMP_BV of the saved image) and the kernel behaviour
  monitor insns            instructions retired so far (the reverse-execution position)
  monitor exc [V,V…|none]  stop on these exception vectors before delivery (e.g. 7,13,14 or #NM,#GP); no argument: list
  monitor io [P,P…|all|none]  stop after IO exits on these ports
  monitor pbreak ADDR      breakpoint on a guest-physical address (INT3 patch); pdelete ADDR removes it
  monitor goto N           move to instruction count N (backwards by re-execution)
  monitor dis [N]          disassemble N instructions at RIP
  monitor help
`;

function hexBig(v: bigint, w = 16): string { return "0x" + v.toString(16).padStart(w, "0"); }

export class GdbStub {
  private server: Server | null = null;
  private sock: Socket | null = null;
  private parser = new PacketParser();
  private noAck = false;
  private running: Promise<Stop> | null = null;
  private stopReply = "S05";
  private queue: Promise<void> = Promise.resolve();
  private listenPort = 0;

  constructor(readonly engine: DebugEngine, private readonly opts: GdbStubOptions) {
    this.stopReply = this.replyFor(engine.lastStop);
  }

  /** Start listening on 127.0.0.1; resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = createServer((s) => this.accept(s));
      srv.once("error", reject);
      srv.listen(this.opts.port, "127.0.0.1", () => {
        const a = srv.address();
        this.listenPort = typeof a === "object" && a ? a.port : this.opts.port;
        resolve(this.listenPort);
      });
      this.server = srv;
    });
  }
  get port(): number { return this.listenPort; }
  get connected(): boolean { return this.sock !== null; }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
    this.server?.close();
    this.server = null;
  }

  /** Let the guest run without a client (-s without -S); a client connecting pauses it. */
  runFree(): Promise<Stop> {
    this.running = this.engine.continue();
    void this.running.then((st) => { this.running = null; this.stopReply = this.replyFor(st); });
    return this.running;
  }

  private log(s: string): void { this.opts.log?.(s); }

  private accept(s: Socket): void {
    if (this.sock) {
      // one client at a time: the newcomer is told so and dropped
      s.end(frame("E10"));
      return;
    }
    this.sock = s;
    this.noAck = false;
    this.parser = new PacketParser();
    s.setNoDelay(true);
    this.log(`gdb: client connected from ${s.remoteAddress}:${s.remotePort}`);
    // a guest running freely stops when a debugger attaches
    if (this.running) this.engine.pause();
    s.on("data", (d: Buffer) => {
      // an interrupt must not wait behind the continue it interrupts (packets are handled in order)
      if (this.running && d.includes(0x03)) this.engine.pause();
      this.queue = this.queue.then(() => this.onData(s, d)).catch((e) => this.log(`gdb: ${(e as Error).stack ?? e}`));
    });
    const gone = () => {
      if (this.sock !== s) return;
      this.sock = null;
      // the VM stays paused (a pending continue is interrupted) and the next client is welcome
      if (this.running) this.engine.pause();
      this.log("gdb: client disconnected; the VM is paused");
      this.opts.onDetach?.();
    };
    s.on("close", gone);
    s.on("error", gone);
  }

  private send(s: Socket, payload: string): void {
    if (this.sock === s && !s.destroyed) s.write(frame(payload), "latin1");
  }

  private async onData(s: Socket, d: Buffer): Promise<void> {
    for (const m of this.parser.feed(d)) {
      if (m.kind === "interrupt") { if (this.running) this.engine.pause(); continue; }
      if (m.kind === "ack" || m.kind === "nak") continue;
      if (m.kind === "bad-checksum") { if (!this.noAck) s.write("-"); this.log("gdb: bad checksum"); continue; }
      if (!this.noAck) s.write("+");
      let reply: string | null;
      try { reply = await this.handle(s, m.data); } catch (e) {
        this.log(`gdb: ${m.data.slice(0, 40)}: ${(e as Error).message}`);
        reply = "E01";
      }
      if (reply !== null) this.send(s, reply);
    }
  }

  // ------------------------------------------------------------------ packets
  /** Handle one packet; returns the reply payload, or null for none (k). */
  async handle(s: Socket, p: string): Promise<string | null> {
    const e = this.engine;
    if (this.running) {
      // a packet while the guest runs (gdb only sends those after an interrupt): stop it first
      e.pause();
      await this.running;
    }
    switch (p[0]) {
      case "?": return this.stopReply;
      case "g": return e.readRegisters((rd) => GDB_REGS.map((r) => hexOf(readGdbReg(r, rd))).join(""));
      case "G": return this.writeAll(p.slice(1));
      case "p": {
        const n = hexNum(p.slice(1));
        if (n === null || n >= BigInt(GDB_REGS.length)) return "E00";
        const r = GDB_REGS[Number(n)];
        return e.readRegisters((rd) => hexOf(readGdbReg(r, rd)));
      }
      case "P": {
        const m = /^P([0-9a-fA-F]+)=([0-9a-fA-F]*)$/.exec(p);
        const n = m ? Number(hexNum(m[1]) ?? -1n) : -1;
        if (!m || n < 0 || n >= GDB_REGS.length) return "E00";
        const r = GDB_REGS[n], b = bytesOf(m[2]);
        if (!b || b.length !== r.bytes) return "E00";
        const v = e.readRegisters((rd) => gdbRegValue(r, b, rd));
        if (v === null) return "E01";
        return e.writeRegister(r.src, v) ? "OK" : "E01";
      }
      case "m": {
        const m = /^m([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
        const a = m && hexNum(m[1]), n = m && hexNum(m[2]);
        if (a === null || n === null || n > 0x2000n) return "E00";
        const data = e.readMemory(a, Number(n));
        return data.length || n === 0n ? hexOf(data) : "E14";
      }
      case "M": {
        const m = /^M([0-9a-fA-F]+),([0-9a-fA-F]+):([0-9a-fA-F]*)$/.exec(p);
        const a = m && hexNum(m[1]), n = m && hexNum(m[2]), b = m && bytesOf(m[3]);
        if (a === null || n === null || !b || BigInt(b.length) !== n) return "E00";
        return e.writeMemory(a, b) === b.length ? "OK" : "E14";
      }
      case "c": return this.resume(s, "c", p.slice(1), false);
      case "s": return this.resume(s, "s", p.slice(1), false);
      case "C": case "S": {
        // C sig[;addr]: resume delivering the signal (the intercepted exception)
        const m = /^[CS]([0-9a-fA-F]{2})(?:;([0-9a-fA-F]+))?$/.exec(p);
        if (!m) return "E00";
        return this.resume(s, p[0] === "S" ? "s" : "c", m[2] ?? "", parseInt(m[1], 16) !== 0);
      }
      case "b":
        if (p === "bs") return this.replyStop(e.stepBack());
        if (p === "bc") return this.replyStop(e.reverseContinue());
        return "";
      case "Z": case "z": return this.breakpoint(p);
      case "H": return "OK";
      case "T": return /^Tp?0*1(\.0*1)?$|^T-1$/.test(p) || p === "T1" ? "OK" : "E01";
      case "k": this.opts.onKill?.(); s.end(); return null;
      case "D": this.send(s, "OK"); s.end(); return null;
      case "q": case "Q": return this.query(p);
      case "v": return this.vpacket(s, p);
      default: return "";
    }
  }

  private writeAll(hex: string): string {
    const b = bytesOf(hex);
    const total = GDB_REGS.reduce((a, r) => a + r.bytes, 0);
    if (!b || b.length > total) return "E00";
    const e = this.engine;
    // only what changed is written: every XSAVE write is a KVM_SET_XSAVE
    const changes = e.readRegisters((rd) => {
      const ch: { src: string; v: bigint | Uint8Array }[] = [];
      let off = 0;
      const pending = new Map<string, bigint | Uint8Array>();
      const rdp = (n: string) => pending.get(n) ?? rd(n);
      for (const r of GDB_REGS) {
        if (off + r.bytes > b.length) break;
        const want = b.subarray(off, off + r.bytes);
        off += r.bytes;
        const cur = readGdbReg(r, rdp);
        if (cur.every((x, i) => x === want[i])) continue;
        const v = gdbRegValue(r, want, rdp);
        if (v !== null) pending.set(r.src, v);
      }
      for (const [src, v] of pending) ch.push({ src, v });
      return ch;
    });
    for (const c of changes) if (!e.writeRegister(c.src, c.v)) return "E01";
    return "OK";
  }

  private breakpoint(p: string): string {
    const m = /^([Zz])([0-4]),([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
    if (!m) return "E00";
    if (m[2] !== "0" && m[2] !== "1") return "";           // watchpoints: not supported
    const a = hexNum(m[3]);
    if (a === null) return "E00";
    if (m[1] === "Z") { const bp = this.engine.addBreakpoint("linear", a); return bp.verified ? "OK" : "E01"; }
    this.engine.removeBreakpointAt("linear", a);
    return "OK";
  }

  /**
   * Resume. After an exception stop, gdb passes the signal back (C/S with the signal, its default
   * for SIGSEGV/SIGILL/SIGFPE) to deliver the exception, or resumes without one (`signal 0`, or a
   * signal set to `nopass`) to drop it: the faulting instruction runs again. #DB/#BP stops (SIGTRAP,
   * never passed by gdb) are always delivered.
   */
  private async resume(s: Socket, how: "c" | "s", addr: string, withSignal: boolean): Promise<string | null> {
    const pend = this.engine.pendingException();
    if (pend && !withSignal && pend.vector !== 1 && pend.vector !== 3) this.engine.discardException();
    if (addr) {
      const a = hexNum(addr);
      if (a === null) return "E00";
      if (!this.engine.writeRegister("rip", a)) return "E01";
    }
    if (how === "s") return this.replyStop(this.engine.stepInstruction());
    this.running = this.engine.continue();
    let st: Stop;
    try { st = await this.running; } finally { this.running = null; }
    if (this.sock !== s) { this.stopReply = this.replyFor(st); return null; }     // the client left meanwhile
    return this.replyStop(st);
  }

  private replyStop(st: Stop): string {
    this.stopReply = this.replyFor(st);
    if (st.reason === "exception" || st.reason === "vmexit" || st.reason === "host-oops") this.console(`x86kvm: ${st.text}\n`);
    if (st.oops) this.console(st.oops + "\n");
    return this.stopReply;
  }

  /** 'O' console packets (only while the target is resumed, i.e. before a stop reply) */
  private console(text: string): void {
    if (this.sock) this.send(this.sock, "O" + Buffer.from(text, "utf8").toString("hex"));
  }

  private replyFor(st: Stop): string {
    if (st.reason === "exited") return `W${((st.exit?.status ?? 1) & 0xff).toString(16).padStart(2, "0")}`;
    let sig: number = SIG.TRAP, extra = "";
    switch (st.reason) {
      case "pause": sig = SIG.INT; break;
      case "breakpoint": extra = "hwbreak:;"; break;
      case "history-start": extra = "replaylog:begin;"; break;
      case "host-oops": sig = SIG.ABRT; break;
      case "vmexit": if (st.exit?.kind === "shutdown") sig = SIG.SEGV; break;
      case "exception": {
        const v = st.vector ?? 0;
        sig = v === 6 || v === 7 ? SIG.ILL : v === 0 || v === 16 || v === 19 ? SIG.FPE : v === 1 || v === 3 ? SIG.TRAP : SIG.SEGV;
        break;
      }
    }
    return `T${sig.toString(16).padStart(2, "0")}thread:01;${extra}`;
  }

  private query(p: string): string {
    const e = this.engine;
    if (p.startsWith("qSupported")) {
      return "PacketSize=4800;qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;QStartNoAckMode+;ReverseStep+;ReverseContinue+";
    }
    if (p === "QStartNoAckMode") { this.noAck = true; return "OK"; }
    if (p.startsWith("qXfer:features:read:")) {
      const m = /^qXfer:features:read:([^:]+):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(p);
      if (!m) return "E00";
      const doc = TARGET_FILES[m[1]];
      if (doc === undefined) return "E00";
      const off = Number(hexNum(m[2]) ?? 0n), len = Number(hexNum(m[3]) ?? 0n);
      if (off > doc.length) return "E00";
      const part = doc.slice(off, off + len);
      return (off + len >= doc.length ? "l" : "m") + escapeBinary(part);
    }
    if (p.startsWith("qXfer:")) return "";
    if (p === "qC") return "QC01";
    if (p.startsWith("qAttached")) return "1";
    if (p === "qfThreadInfo") return "m01";
    if (p === "qsThreadInfo") return "l";
    if (p.startsWith("qThreadExtraInfo")) return hexOf(Buffer.from(`vCPU 0, ${e.insns} instructions`));
    if (p === "qOffsets") return "";
    if (p.startsWith("qSymbol")) return "OK";
    if (p.startsWith("qRcmd,")) {
      const cmd = bytesOf(p.slice(6));
      if (!cmd) return "E00";
      const out = this.monitor(Buffer.from(cmd).toString("latin1").trim());
      if (out === null) return "E01";
      return hexOf(Buffer.from(out, "utf8"));
    }
    return "";
  }

  private async vpacket(s: Socket, p: string): Promise<string | null> {
    if (p === "vMustReplyEmpty") return "";
    if (p === "vCont?") return "vCont;c;C;s;S;t";
    if (p.startsWith("vKill")) { this.opts.onKill?.(); this.send(s, "OK"); s.end(); return null; }
    if (p.startsWith("vCont;")) {
      const actions = p.slice(6).split(";");
      const first = actions[0];
      const m = /^([cCsSt])([0-9a-fA-F]{2})?(:[-0-9a-fA-Fp.]+)?$/.exec(first);
      if (!m) return "E00";
      if (m[1] === "t") { if (this.running) this.engine.pause(); return "OK"; }
      const sig = m[2] !== undefined && (m[1] === "C" || m[1] === "S") ? parseInt(m[2], 16) : 0;
      return this.resume(s, m[1] === "s" || m[1] === "S" ? "s" : "c", "", sig !== 0);
    }
    return "";
  }

  // ------------------------------------------------------------------ monitor
  /** A `monitor` command's output, or null for an unknown command. */
  monitor(cmd: string): string | null {
    const e = this.engine, [word, ...args] = cmd.split(/\s+/);
    switch (word) {
      case "help": case "": return MONITOR_HELP;
      case "insns": return `${e.insns}\n`;
      case "xsave": return e.readRegisters((rd) => {
        const line = (n: string, v: bigint | Uint8Array | null) => `${n.padEnd(10)}${v === null ? "(not present)" : typeof v === "bigint" ? hexBig(v) : hexOf(v)}\n`;
        return line("XCR0", rd("xcr0")) + line("XINUSE", rd("xinuse")) + line("XSTATE_BV", rd("xstate_bv")) +
          line("XFD", rd("xfd")) + line("XFD_ERR", rd("xfd_err")) + line("XSS", rd("xss")) + line("PKRU", rd("pkru"));
      });
      case "fpstate": {
        const h = e.hostView();
        let s = `kernel    ${h.kernel.version} (${h.kernel.id}), host ${h.model}\n`;
        if (!h.fpstate) return s + "guest fpstate: not available\n";
        const f = h.fpstate;
        s += `guest fpstate (vcpu->arch.guest_fpu.fpstate):\n` +
          `  xfeatures       ${hexBig(f.xfeatures)}\n  user_xfeatures  ${hexBig(f.user_xfeatures)}\n  xfd             ${hexBig(f.xfd)}\n` +
          `  size            ${f.size}\n  user_size       ${f.user_size}\n  is_guest        ${f.is_guest}\n  in_use          ${f.in_use}\n` +
          `  XSTATE_BV       ${hexBig(f.xstate_bv)}   (of the saved image)\n  XCOMP_BV        ${hexBig(f.xcomp_bv)}\n`;
        if (h.oops) s += "host oops:\n" + h.oops + "\n";
        for (const ev of h.events) s += `host event ${ev.kind} at insn ${ev.insns}: ${ev.calls.join(" → ")}${ev.oops ? ` (oops in ${ev.oops})` : ""}\n`;
        return s;
      }
      case "exc": {
        if (args.length && args[0] !== "none") {
          const vs: number[] = [];
          for (const a of args.join(",").split(",").filter(Boolean)) {
            const byName = Object.entries(VECTOR_NAMES).find(([, n]) => n.toLowerCase() === a.toLowerCase());
            const v = byName ? +byName[0] : /^\d+$/.test(a) ? +a : NaN;
            if (!(v >= 0 && v < 32)) return `unknown vector '${a}'\n`;
            vs.push(v);
          }
          e.setExceptionStops(vs);
        } else if (args[0] === "none") e.setExceptionStops([]);
        return `stop on exceptions: ${e.exceptionStops().map((v) => `${v} ${VECTOR_NAMES[v] ?? ""}`.trim()).join(", ") || "none"}\n`;
      }
      case "io": {
        if (args[0] === "all") e.setIoStops("all");
        else if (args[0] === "none") e.setIoStops([]);
        else if (args.length) {
          const ps = args.join(",").split(",").filter(Boolean).map((x) => Number(x));
          if (ps.some((x) => !(x >= 0 && x <= 0xffff))) return "bad port\n";
          e.setIoStops(ps);
        }
        return "ok\n";
      }
      case "pbreak": case "pdelete": {
        const a = args[0] ? BigInt(/^0x/i.test(args[0]) ? args[0] : "0x" + args[0]) : null;
        if (a === null) return "usage: monitor pbreak ADDR\n";
        if (word === "pdelete") return e.removeBreakpointAt("physical", a) ? "deleted\n" : "no such breakpoint\n";
        const bp = e.addBreakpoint("physical", a);
        return bp.verified ? `physical breakpoint ${bp.id} at ${hexBig(a, 1)}\n` : `not set: ${bp.message}\n`;
      }
      case "goto": {
        const n = Number(args[0]);
        if (!Number.isSafeInteger(n) || n < 0) return "usage: monitor goto N\n";
        const st = n <= e.insns ? e.goTo(n) : e.runTo(n);
        this.stopReply = this.replyFor(st);
        return `at instruction ${e.insns}, rip ${hexBig(st.rip, 1)} (gdb: 'flushregs' to refresh)\n`;
      }
      case "dis": {
        const n = Math.min(64, Number(args[0] ?? 8) || 8);
        return e.disassemble(e.lastStop.pc, n).map((l) => `${hexBig(l.address, 1)}  ${hexOf(l.bytes).padEnd(24)} ${l.text}\n`).join("");
      }
      default: return null;
    }
  }
}
