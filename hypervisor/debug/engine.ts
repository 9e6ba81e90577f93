// The debug engine: one vCPU stopped, stepped and inspected, shared by the gdb
// stub (gdbstub.ts) and the VS Code adapter. Everything goes through the
// hypervisor the way a VMM's debugger would go through /dev/kvm:
//   - stepping: KVM_SET_GUEST_DEBUG(ENABLE|SINGLESTEP), one KVM_RUN
//   - linear breakpoints: KVM_SET_GUEST_DEBUG(USE_HW_BP) with DR0-DR3 (at most 4)
//   - physical breakpoints (and linear ones beyond the four DRs): INT3 written into guest
//     memory at the physical address (KVM_GUESTDBG_USE_SW_BP, as QEMU's gdbstub does on KVM),
//     present only while the guest runs freely and removed at every stop, so reads, snapshots
//     and hashes never see them. A hit is ours when the physical address of the trapping RIP
//     carries a patch (and, for a linear breakpoint, RIP equals its address); other INT3s are
//     the guest's own and are re-injected.
//   - exception stops: the x86kvm extension bit of KVM_SET_GUEST_DEBUG (X86KVM_GUESTDBG_EXC_BITMAP,
//     kvm/x86.ts): the chosen vectors exit before delivery; resuming re-injects them with
//     KVM_SET_VCPU_EVENTS unless RIP was changed meanwhile
//   - VM exits (IO port, HLT, shutdown), the host oops (KVM_RUN -EIO) and debug-exit are what
//     KVM_RUN returns; the engine decides which of them stop.
// Free running goes in KVM_RUNs of at most SLICE instructions (host.kvm.runBudget) with a
// return to the event loop between them, so pause() takes effect within one slice.
//
// Reverse execution is deterministic re-execution. The engine keeps a journal of what it did
// to the machine since it was built: run segments (guest-debug configuration, INT3 patches and
// the instruction count the segment ended at) and debugger writes (registers, memory, injected
// events) with the count they were made at. To go back to count K it builds a fresh machine
// from the same MachineSpec (createMachine: same image, model, kernel, memory, CPU edits and
// host events) and replays the journal up to K with the same KVM_RUN budgets, so every KVM_RUN
// boundary, VM exit, host event and FPU swap of the forward run happens again at the same
// instruction. The future after K is dropped from the journal (a new forward run re-executes
// it). The CPU's instruction budget is exact (cpu/loop.ts clamps each block to the budget),
// which test/debug/engine.test.ts checks.
import { createHash } from "node:crypto";
import type { Machine } from "../vmm/machine";
import { createMachine, type MachineSpec } from "../vmm/setup";
import { KvmError, type VcpuExit } from "../vmm/kvm_ioctls";
import { KVM_GUESTDBG, EIO, KVM_CAP } from "../uapi/consts";
import { X86KVM_GUESTDBG_EXC_BITMAP } from "../kvm/x86";
import { RegisterAccess, registerList, type RegInfo } from "./regs";
import { linearToPhys, physToHost, readLinear, readPhys, codeLocation } from "./guestmem";
import { Disassembler } from "./disasm";
import { EXCEPTIONS, vectorName } from "../cpu/vectors";

/** "#GP" by vector (gdb's `monitor exc` takes these names) */
export const VECTOR_NAMES: Record<number, string> = Object.fromEntries(Object.keys(EXCEPTIONS).map((v) => [v, vectorName(Number(v))]));

export type StopReason = "entry" | "step" | "breakpoint" | "exception" | "vmexit" | "host-oops" | "exited" | "pause" | "budget" | "history-start";

export interface Stop {
  reason: StopReason;
  /** guest instructions retired since the machine was built */
  insns: number;
  rip: bigint;
  /** linear address of the next instruction (CS.base + RIP outside 64-bit mode) */
  pc: bigint;
  breakpoint?: { id: number; kind: "linear" | "physical"; address: bigint };
  /** exception stops: vector, its name, error code if the exception has one */
  vector?: number; vectorName?: string; errorCode?: number;
  /** vmexit / exited: what KVM_RUN returned ('io' with port and direction, 'hlt', 'shutdown', 'debug-exit', 'internal-error', 'host-oops') */
  exit?: { kind: string; port?: number; out?: boolean; status?: number };
  /** host-oops: the kernel's report (dmesg text) */
  oops?: string;
  /** the guest can run on from here (false after HLT, shutdown, debug-exit, host oops) */
  live: boolean;
  /** one line for people */
  text: string;
}

export interface Breakpoint { id: number; kind: "linear" | "physical"; address: bigint; verified: boolean; message?: string }

export interface EngineOptions {
  /** guest console output (port 0xE9, COM1) of the live run; replays are silent */
  output?: (bytes: Uint8Array) => void;
  /** instructions per KVM_RUN while running freely (default 1<<18) */
  slice?: number;
}

interface GuestDebugCfg { control: number; debugreg: bigint[]; bitmap: number }
type Entry =
  | { op: "run"; cfg: GuestDebugCfg; patches: number[]; to: number }
  | { op: "write"; at: number; what: string; apply: (m: Machine) => void };

interface Outcome { kind: "intr" | "io" | "debug" | "end"; exit?: VcpuExit; end?: { kind: string; status: number } }

const SLICE_DEFAULT = 1 << 18;
/** free-running slices per journal segment (the granularity of the machine prepared ahead) */
const CHECKPOINT_SLICES = 64;
/** idle time after a stop before the machine for the next reverse step is prepared */
const PREP_DELAY_MS = 25;

export class DebugEngine {
  machine: Machine;
  readonly spec: MachineSpec;
  private regsAccess: RegisterAccess;
  private journal: Entry[] = [];
  private bps: Breakpoint[] = [];
  private nextBpId = 1;
  private excStops = new Set<number>();
  private ioStops: Set<number> | "all" = new Set();
  private pausing = false;
  private running = false;
  private pendingExc: { vector: number; err: number; hasErr: boolean; rip: bigint } | null = null;
  private terminal: Stop | null = null;
  private muted = false;
  /** the furthest instruction count a live run has reached (its console output has been shown) */
  private highWater = 0;
  private readonly slice: number;
  private readonly output?: (b: Uint8Array) => void;
  private dis: Disassembler | null = null;
  /** instruction starts seen at stops (disassembly backwards resynchronises on them) */
  private knownStarts = new Set<bigint>();
  lastStop: Stop;
  /** statistics: replays done and instructions re-executed (reverse execution cost) */
  readonly stats = { replays: 0, replayedInsns: 0, replayMs: 0, spareHits: 0 };

  constructor(spec: MachineSpec, opts: EngineOptions = {}) {
    this.spec = spec;
    this.slice = opts.slice ?? SLICE_DEFAULT;
    this.output = opts.output;
    this.machine = this.build();
    this.regsAccess = this.regAccessFor(this.machine);
    this.lastStop = this.makeStop("entry", "stopped at entry");
  }

  private build(): Machine {
    // console output is the live run's: silent while replaying (and for machines prepared ahead),
    // and when a run after a reverse step re-executes instructions whose output was already shown
    const m: Machine = createMachine(this.spec, {
      write: (b) => { if (m === this.machine && !this.muted && m.cpu.insns > this.highWater) this.output?.(b); },
    });
    return m;
  }

  // ---- the machine prepared ahead (a consumable checkpoint) ----
  // After every stop, once the event loop is idle, the engine re-executes a fresh machine along
  // the journal to the last segment boundary before the current instruction, yielding between
  // KVM_RUNs (so it never delays a request) and giving up as soon as anything else happens. The
  // next reverse step that lands at or after that point continues from it instead of from a
  // fresh machine: the same KVM_RUN sequence, so the same state. Long continues are cut into
  // journal segments every CHECKPOINT_SLICES slices so that such a boundary is never far back.
  private spare: { m: Machine; entries: Entry[]; count: number } | null = null;
  private prepTimer: ReturnType<typeof setTimeout> | null = null;
  private prepGen = 0;
  private disposed = false;

  private schedulePrep(): void {
    if (this.disposed) return;
    // once the engine has been left alone for a moment (not between the steps of a stepping spree)
    if (this.prepTimer) clearTimeout(this.prepTimer);
    this.prepTimer = setTimeout(() => { this.prepTimer = null; this.prepare().catch(() => { /* a failed preparation only costs speed */ }); }, PREP_DELAY_MS);
    this.prepTimer.unref();
  }

  /** the spare if it is a prefix of `journal` that ends at or before `target` */
  private spareFor(journal: Entry[], target: number): { m: Machine; entries: Entry[]; count: number } | null {
    const sp = this.spare;
    if (!sp || sp.count > target || sp.entries.length > journal.length) return null;
    for (let i = 0; i < sp.entries.length; i++) if (sp.entries[i] !== journal[i]) return null;
    return sp;
  }

  private async prepare(): Promise<void> {
    if (this.running || this.disposed) return;
    const gen = ++this.prepGen;
    const j = this.journal, want = this.insns - 1;
    // the longest journal prefix whose segments end at or before `want`
    let k = 0, count = 0;
    for (let i = 0; i < j.length; i++) {
      const e = j[i], end = e.op === "run" ? e.to : e.at;
      if (end > want) break;
      k = i + 1;
      if (e.op === "run") count = e.to;
    }
    const have = this.spareFor(j, Math.max(0, want));
    if (have && have.count >= count) return;
    const m = this.build(), entries = j.slice(0, k);
    // ref'd on purpose: libuv's poll phase blocks past unref'd immediates (they would wait for the
    // next timer or socket event); dispose() ends a preparation at its next yield
    const idle = () => new Promise<void>((r) => { setImmediate(r); });
    // work in slices of ~2 ms, then let requests in; anything the engine does meanwhile aborts this
    let since = performance.now();
    const pause = async (): Promise<boolean> => {
      if (performance.now() - since < 2) return true;
      await idle();
      since = performance.now();
      return gen === this.prepGen && !this.disposed;
    };
    for (const e of entries) {
      if (e.op === "write") { e.apply(m); if (!(await pause())) return; continue; }
      // runSync's loop on m, with a yield after every KVM_RUN
      const saved = this.insertPatches(m, e.patches);
      let out: Outcome = { kind: "intr" };
      try {
        this.setGuestDebug(m, e.cfg);
        while (m.cpu.insns < e.to) {
          out = this.once(Math.min(this.slice, e.to - m.cpu.insns), m);
          if (out.kind !== "intr" && out.kind !== "io") break;
          if (!(await pause())) return;
        }
      } finally {
        this.removePatches(m, e.patches, saved);
        if (out.kind === "io") this.completeIo(m);
      }
      if (!(await pause())) return;
    }
    if (gen !== this.prepGen || this.disposed) return;
    this.spare = { m, entries, count: m.cpu.insns };
  }

  private regAccessFor(m: Machine): RegisterAccess {
    return new RegisterAccess(m.vcpu, m.vm.checkExtension(KVM_CAP.XSAVE2) || 4096, () => (m === this.machine ? this.hostView().fpstate?.xstate_bv ?? null : null));
  }

  // ---------------------------------------------------------------- state queries
  get insns(): number { return this.machine.cpu.insns; }
  get isRunning(): boolean { return this.running; }

  private makeStop(reason: StopReason, text: string, extra: Partial<Stop> = {}): Stop {
    const loc = codeLocation(this.machine.cpu);
    this.knownStarts.add(loc.lin);
    return { reason, insns: this.insns, rip: loc.rip, pc: loc.lin, live: true, text, ...extra };
  }

  private present: RegInfo[] | null = null;
  /** the registers this vCPU has (no zmm16+ without AVX-512, no tiles without AMX) */
  registers(): RegInfo[] {
    return (this.present ??= this.readRegisters((rd) => registerList().filter((r) => rd(r.name) !== null)));
  }
  /** bigint for registers up to 8 bytes, little-endian bytes for st0-7, xmm/ymm/zmm, tilecfg, tmm; null when unknown/absent */
  readRegister(name: string): bigint | Uint8Array | null { return this.regsAccess.read(name); }
  /** many reads with the vCPU state fetched once (KVM_GET_REGS/SREGS/XSAVE2 a single time) */
  readRegisters<T>(fn: (read: (name: string) => bigint | Uint8Array | null) => T): T {
    return this.regsAccess.batch(() => fn((n) => this.regsAccess.read(n)));
  }
  /** write a register (journaled: replayed at this instruction count on reverse execution) */
  writeRegister(name: string, value: bigint | Uint8Array): boolean {
    this.assertStopped();
    const v = typeof value === "bigint" ? value : value.slice();
    const ok = this.regsAccess.write(name, v);
    if (ok) this.journal.push({ op: "write", at: this.insns, what: `reg ${name}`, apply: (m) => { this.regAccessFor(m).write(name, v); } });
    return ok;
  }

  /** Read guest memory by linear address (through the guest's page tables, no side effects) or physical address; shorter when unreadable. */
  readMemory(addr: bigint, len: number, space: "linear" | "physical" = "linear"): Uint8Array {
    const c = this.machine.cpu;
    return space === "physical" ? readPhys(c, Number(addr), len) : readLinear(c, addr, len);
  }
  /** Write guest memory; returns the bytes written (stops at the first unmapped byte). Journaled by physical address. */
  writeMemory(addr: bigint, data: Uint8Array, space: "linear" | "physical" = "linear"): number {
    this.assertStopped();
    const c = this.machine.cpu;
    const chunks: { pa: number; bytes: Uint8Array }[] = [];
    let n = 0;
    while (n < data.length) {
      const a = addr + BigInt(n);
      const pa = space === "physical" ? a : linearToPhys(c, a);
      if (pa === null) break;
      const h = physToHost(c, Number(pa));
      if (!h) break;
      const k = Math.min(data.length - n, space === "physical" ? h.avail : Math.min(h.avail, 4096 - Number(a & 0xfffn)));
      chunks.push({ pa: Number(pa), bytes: data.slice(n, n + k) });
      n += k;
    }
    const apply = (m: Machine) => {
      for (const ch of chunks) {
        const h = physToHost(m.cpu, ch.pa)!;
        m.cpu.bytes.set(ch.bytes, h.host);
        m.cpu.ex.code_written(ch.pa, ch.bytes.length);
      }
    };
    apply(this.machine);
    if (chunks.length) this.journal.push({ op: "write", at: this.insns, what: `mem ${addr.toString(16)}+${n}`, apply });
    return n;
  }
  linearToPhysical(lin: bigint): bigint | null { return linearToPhys(this.machine.cpu, lin); }

  /** The host's side: the kernel behaviour in force and the guest fpstate as the kernel model holds it. */
  hostView(): HostView {
    const m = this.machine, k = m.host.kernel;
    const f = m.host.guestFpstate(m.vcpu.fd);
    const fpstate: HostView["fpstate"] = f && {
      xfeatures: f.xfeatures, user_xfeatures: f.user_xfeatures, xfd: f.xfd, size: f.size, user_size: f.user_size,
      is_guest: f.is_guest, in_use: f.in_use, xstate_bv: f.xstate_bv, xcomp_bv: f.xcomp_bv,
    };
    return {
      kernel: { version: k.version, id: k.id },
      model: m.model.name,
      fpstate,
      oops: m.host.oops?.text ?? null,
      events: m.host.events.map((e) => ({ kind: e.kind, insns: e.insns, exitReason: e.exitReason, port: e.port, calls: e.calls, oops: e.oops })),
    };
  }

  /** A hash of everything a reverse step must reproduce: GPRs, RIP, RFLAGS, sregs, XCR0, the XSAVE image, the XSAVE MSRs, and guest RAM. */
  stateHash(): string {
    const h = createHash("sha256"), m = this.machine, v = m.vcpu;
    const r = v.getRegs(), s = v.getSregs();
    h.update(JSON.stringify(r, (_, x) => (typeof x === "bigint" ? x.toString(16) : x)));
    h.update(JSON.stringify(s, (_, x) => (typeof x === "bigint" ? x.toString(16) : x)));
    h.update(JSON.stringify(v.getXcrs(), (_, x) => (typeof x === "bigint" ? x.toString(16) : x)));
    for (const n of ["xfd", "xfd_err", "xss", "k_gs_base"]) h.update(String(this.regsAccess.read(n)));
    h.update(this.regsAccess.xsave());
    h.update(m.cpu.bytes.subarray(m.ram, m.ram + m.ramSize));
    return h.digest("hex");
  }

  // ---------------------------------------------------------------- configuration
  /**
   * Add a breakpoint. Linear ones use DR0-DR3 first; beyond four (or for physical addresses)
   * an INT3 patch at the physical address (a linear one is translated when the guest runs;
   * it is unverified while its page is unmapped).
   */
  addBreakpoint(kind: "linear" | "physical", address: bigint): Breakpoint {
    const existing = this.bps.find((b) => b.kind === kind && b.address === address);
    if (existing) return existing;
    const bp: Breakpoint = { id: this.nextBpId++, kind, address, verified: true };
    if (kind === "physical" && !physToHost(this.machine.cpu, Number(address))) { bp.verified = false; bp.message = "no guest memory at this physical address"; }
    this.bps.push(bp);
    return bp;
  }
  removeBreakpoint(id: number): boolean {
    const n = this.bps.length;
    this.bps = this.bps.filter((b) => b.id !== id);
    return this.bps.length !== n;
  }
  removeBreakpointAt(kind: "linear" | "physical", address: bigint): boolean {
    const b = this.bps.find((x) => x.kind === kind && x.address === address);
    return b ? this.removeBreakpoint(b.id) : false;
  }
  clearBreakpoints(): void { this.bps = []; }
  breakpoints(): readonly Breakpoint[] { return this.bps; }
  /** vectors (0-31) that stop the guest before they are delivered */
  setExceptionStops(vectors: Iterable<number>): void { this.excStops = new Set([...vectors].filter((v) => v >= 0 && v < 32)); }
  exceptionStops(): number[] { return [...this.excStops].sort((a, b) => a - b); }
  /** IO ports whose VM exits stop the guest (after the access is done), or 'all' */
  setIoStops(ports: Iterable<number> | "all"): void { this.ioStops = ports === "all" ? "all" : new Set(ports); }

  // ---------------------------------------------------------------- execution
  private assertStopped(): void { if (this.running) throw new Error("the guest is running"); }

  /** Request a running continue() to stop (at the end of the current slice). */
  pause(): void { if (this.running) this.pausing = true; }

  /** Execute one instruction (KVM_GUESTDBG_SINGLESTEP). */
  stepInstruction(): Stop {
    this.assertStopped();
    if (this.terminal) return this.terminal;
    this.reinject();
    const cfg: GuestDebugCfg = { control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP, debugreg: [], bitmap: this.bitmap() };
    const out = this.runSync(cfg, [], this.insns + 1, true);
    if (out.kind === "io" && !this.ioStopFor(out.exit!)) return this.setStop(this.makeStop("step", "stepped"));
    return this.finish(out, "step");
  }

  /** Run until a breakpoint, a selected exception or exit, the end of the guest, pause() or `maxInsns` more instructions. */
  async continue(maxInsns = Infinity): Promise<Stop> {
    this.assertStopped();
    if (this.terminal) return this.terminal;
    this.running = true;
    this.pausing = false;
    try {
      const limit = this.insns + maxInsns;
      let stepOver = false;
      for (;;) {
        this.reinject();
        // leave a breakpoint we stand on (or a patch seen through another address): one step without breakpoints first
        if (stepOver || this.bpAtPc()) {
          stepOver = false;
          const out = this.runSync({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP, debugreg: [], bitmap: this.bitmap() }, [], this.insns + 1, true);
          // an IO exit of the stepped instruction stops only when asked for (setIoStops)
          const st = out.kind === "io" && !this.ioStopFor(out.exit!) ? null : this.classify(out, null);
          if (st && st.reason !== "step") return this.setStop(st);
        }
        const { cfg, patches, linPatch } = this.bpConfig();
        const saved = this.insertPatches(this.machine, patches);
        let entry: Entry & { op: "run" } = { op: "run", cfg, patches, to: this.insns };
        this.journal.push(entry);
        this.prepGen++;
        let slices = 0;
        let out: Outcome = { kind: "intr" };
        try {
          this.setGuestDebug(this.machine, cfg);
          for (;;) {
            out = this.once(Math.min(this.slice, limit - this.insns));
            entry.to = this.insns;
            if (out.kind === "intr") {
              if (this.insns >= limit) break;
              // a journal segment boundary now and then (between KVM_RUNs: replays the same)
              if (++slices % CHECKPOINT_SLICES === 0) { entry = { op: "run", cfg, patches, to: this.insns }; this.journal.push(entry); }
              await new Promise((r) => setImmediate(r));
              if (this.pausing) break;
              continue;
            }
            if (out.kind === "io" && !this.ioStopFor(out.exit!)) continue;
            break;
          }
        } finally {
          this.removePatches(this.machine, patches, saved);
          if (out.kind === "io") this.completeIo();
        }
        if (out.kind === "intr") return this.setStop(this.makeStop(this.insns >= limit ? "budget" : "pause", this.insns >= limit ? "instruction budget reached" : "paused"));
        // an INT3 patch that is not ours at this linear address (another linear alias, or a linear
        // breakpoint's page now mapped elsewhere): step over it transparently and go on
        const st = this.classify(out, linPatch);
        if (st === null) { stepOver = true; continue; }
        return this.setStop(st);
      }
    } finally {
      this.running = false;
      this.pausing = false;
    }
  }

  /** Run to an exact instruction count (forward only; used by tests and front ends). */
  runTo(count: number): Stop {
    this.assertStopped();
    if (count < this.insns) return this.goTo(count);
    if (this.terminal) return this.terminal;
    this.reinject();
    const out = this.runSync({ control: 0, debugreg: [], bitmap: 0 }, [], count, false);
    return this.finish(out, "budget");
  }

  // ---------------------------------------------------------------- reverse execution
  /** Step back one instruction: the state the forward run had one instruction earlier. */
  stepBack(): Stop {
    this.assertStopped();
    if (this.insns === 0) return this.setStop(this.makeStop("history-start", "at the start of the recorded history"));
    return this.goTo(this.insns - 1, "step");
  }

  /**
   * Run backwards to the latest earlier instruction count at which a breakpoint hits: one
   * re-execution of the recorded history with the current breakpoints to find the hits, then
   * goTo() the last one (an exact replay of the journal).
   */
  reverseContinue(): Stop {
    this.assertStopped();
    const now = this.insns, old = this.journal, hits: { count: number; stop: Stop }[] = [];
    const t0 = performance.now();
    this.muted = true;
    try {
      this.journal = [];
      this.prepGen++;
      this.machine = this.build();
      this.regsAccess = this.regAccessFor(this.machine);
      this.terminal = null;
      this.pendingExc = null;
      for (const e of old) {
        if (e.op === "write") { if (e.at > now) break; e.apply(this.machine); continue; }
        const to = Math.min(e.to, now);
        let skip = false;
        while (this.insns < to) {
          if (skip || (hits.length && hits[hits.length - 1].count === this.insns)) {
            // leave the breakpoint just counted (or a patch seen through another address)
            skip = false;
            const o = this.runSync({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP, debugreg: [], bitmap: 0 }, [], this.insns + 1, false);
            if (o.kind === "end") break;
            continue;
          }
          const { cfg, patches, linPatch } = this.bpConfig();
          cfg.bitmap = e.cfg.bitmap;
          const o = this.runSync(cfg, patches, to, false);
          if (o.kind === "end") break;
          if (o.kind !== "debug") continue;
          const st = this.classify(o, linPatch);
          if (st === null) { skip = true; continue; }
          if (st.reason !== "breakpoint") break;       // an exception stop the forward run had too: its segment ends here
          hits.push({ count: this.insns, stop: st });
        }
        if (e.to > now) break;
      }
    } finally {
      this.muted = false;
      this.journal = old;
      this.stats.replayMs += performance.now() - t0;
    }
    const last = hits[hits.length - 1];
    if (!last) { this.replay(0); return this.setStop(this.makeStop("history-start", "no breakpoint earlier in the history: at its start")); }
    this.replay(last.count);
    return this.setStop({ ...this.makeStop("breakpoint", last.stop.text), breakpoint: last.stop.breakpoint });
  }

  /** Move to instruction count `count` ≤ now by re-execution (the latest recorded state at that count). */
  goTo(count: number, reason: StopReason = "step"): Stop {
    this.assertStopped();
    this.replay(count);
    return this.setStop(this.makeStop(reason, `at instruction ${count}`));
  }

  private replay(target: number): void {
    const t0 = performance.now();
    const old = this.journal;
    this.prepGen++;                                   // a preparation in progress gives up
    const sp = this.spareFor(old, target);
    this.spare = null;
    this.journal = sp ? sp.entries.slice() : [];
    this.muted = true;
    this.terminal = null;
    this.pendingExc = null;
    try {
      this.machine = sp ? sp.m : this.build();
      this.regsAccess = this.regAccessFor(this.machine);
      if (sp) this.stats.spareHits++;
      for (const e of old.slice(sp ? sp.entries.length : 0)) {
        if (e.op === "write") {
          // writes made at the target count are part of the latest state there
          if (e.at > target) break;
          e.apply(this.machine);
          this.journal.push(e);
          continue;
        }
        const to = Math.min(e.to, target);
        if (to > this.insns) this.runSync(e.cfg, e.patches, to, false);
        if (e.to > target) break;
      }
      this.stats.replays++;
      this.stats.replayedInsns += this.insns;
    } finally {
      this.muted = false;
      this.stats.replayMs += performance.now() - t0;
    }
  }

  // ---------------------------------------------------------------- running
  /** Run until `to` or a stop (debug exit, end, selected IO exit when stopIo), journaled as one segment. */
  private runSync(cfg: GuestDebugCfg, patches: number[], to: number, stopIo: boolean): Outcome {
    const entry: Entry = { op: "run", cfg, patches, to: this.insns };
    this.journal.push(entry);
    this.prepGen++;
    const saved = this.insertPatches(this.machine, patches);
    let out: Outcome = { kind: "intr" };
    try {
      this.setGuestDebug(this.machine, cfg);
      while (this.insns < to) {
        out = this.once(Math.min(this.slice, to - this.insns));
        entry.to = this.insns;
        if (out.kind === "intr") continue;
        if (out.kind === "io") { if (stopIo && this.ioStopFor(out.exit!)) break; continue; }
        break;
      }
      // a single step that ends in an IO exit is complete once the IO is
      if (out.kind === "io" && this.insns >= to) entry.to = this.insns;
    } finally {
      this.removePatches(this.machine, patches, saved);
      // a port IN's data reaches RAX at the next KVM_RUN: complete it now (immediate_exit), so a
      // stop after an IO exit shows the finished instruction
      if (out.kind === "io") this.completeIo();
    }
    return out;
  }

  /** One KVM_RUN of at most `budget` instructions, with the exit handled like Machine.run. */
  private once(budget: number, m: Machine = this.machine): Outcome {
    m.host.kvm.runBudget = Math.max(1, budget);
    let e: VcpuExit;
    try { e = m.vcpu.run(); } catch (err) {
      if (err instanceof KvmError && err.errno === EIO && m.host.oops) return { kind: "end", end: { kind: "host-oops", status: 6 } };
      throw err;
    }
    if (e.kind === "Debug") return { kind: "debug", exit: e };
    if (e.kind === "Intr") return { kind: "intr" };
    const r = m.handleVcpuExit(e);
    if (r) return { kind: "end", exit: e, end: { kind: r.exit, status: r.status } };
    if (e.kind === "IoIn" || e.kind === "IoOut") return { kind: "io", exit: e };
    return { kind: "intr" };
  }

  /** complete a pending port IN (KVM_RUN with immediate_exit: complete_userspace_io, -EINTR) */
  private completeIo(m: Machine = this.machine): void {
    if (m.host.oops) return;
    m.vcpu.setImmediateExit(true);
    try { m.vcpu.run(); } catch { /* a dead VM */ } finally { m.vcpu.setImmediateExit(false); }
  }

  private gdKey = new WeakMap<Machine, string>();
  private setGuestDebug(m: Machine, cfg: GuestDebugCfg): void {
    // kvm_guest_debug.pad carries the exception bitmap (x86kvm extension, kvm/x86.ts)
    const control = cfg.control | (cfg.bitmap ? KVM_GUESTDBG.ENABLE | X86KVM_GUESTDBG_EXC_BITMAP : 0);
    // the same setting again changes nothing in KVM: skip the ioctl (replays of many steps)
    const key = `${control}/${cfg.bitmap}/${cfg.debugreg.join(",")}`;
    if (this.gdKey.get(m) === key) return;
    m.vcpu.setGuestDebug({ control, debugreg: cfg.debugreg, pad: cfg.bitmap });
    this.gdKey.set(m, key);
  }

  private bitmap(): number { let b = 0; for (const v of this.excStops) b |= 1 << v; return b >>> 0; }

  /** the guest-debug configuration for free running: DR0-3 for the first linear breakpoints, INT3 patches for the rest */
  private bpConfig(): { cfg: GuestDebugCfg; patches: number[]; linPatch: Map<number, bigint[]> } {
    const c = this.machine.cpu;
    const lin = this.bps.filter((b) => b.kind === "linear");
    const hw = lin.slice(0, 4), sw = lin.slice(4);
    const debugreg = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
    let dr7 = 0n;
    hw.forEach((b, i) => { debugreg[i] = b.address; dr7 |= 1n << BigInt(2 * i + 1); });     // G0-G3, R/W=00 (execute), LEN=00
    debugreg[7] = dr7;
    const patches = new Set<number>();
    const linPatch = new Map<number, bigint[]>();
    for (const b of this.bps) {
      if (b.kind === "physical") { if (physToHost(c, Number(b.address))) patches.add(Number(b.address)); continue; }
      if (!sw.includes(b)) continue;
      const pa = linearToPhys(c, b.address);
      b.verified = pa !== null;
      if (pa === null) { b.message = "page not mapped now"; continue; }
      patches.add(Number(pa));
      linPatch.set(Number(pa), [...(linPatch.get(Number(pa)) ?? []), b.address]);
    }
    let control = KVM_GUESTDBG.ENABLE;
    if (hw.length) control |= KVM_GUESTDBG.USE_HW_BP;
    if (patches.size) control |= KVM_GUESTDBG.USE_SW_BP;
    return { cfg: { control, debugreg, bitmap: this.bitmap() }, patches: [...patches], linPatch };
  }

  /** write INT3 at each patch address; returns the original bytes (fills `saved` when given) */
  private insertPatches(m: Machine, patches: number[], saved = new Map<number, number>()): Map<number, number> {
    for (const pa of patches) {
      const h = physToHost(m.cpu, pa);
      if (!h) continue;
      saved.set(pa, m.cpu.bytes[h.host]);
      m.cpu.bytes[h.host] = 0xcc;
      m.cpu.ex.code_written(pa, 1);
    }
    return saved;
  }
  private removePatches(m: Machine, patches: number[], saved: Map<number, number>): void {
    for (const pa of patches) {
      const h = physToHost(m.cpu, pa), old = saved.get(pa);
      if (!h || old === undefined) continue;
      m.cpu.bytes[h.host] = old;
      m.cpu.ex.code_written(pa, 1);
    }
    saved.clear();
  }

  private bpAtPc(): boolean {
    const pc = codeLocation(this.machine.cpu).lin;
    const pa = linearToPhys(this.machine.cpu, pc);
    return this.bps.some((b) => (b.kind === "linear" ? b.address === pc : pa !== null && b.address === pa));
  }

  private ioStopFor(e: VcpuExit): boolean {
    if (e.kind !== "IoIn" && e.kind !== "IoOut") return false;
    return this.ioStops === "all" || this.ioStops.has(e.port);
  }

  /** re-inject an intercepted exception the guest has not moved past (KVM_SET_VCPU_EVENTS), journaled */
  /** Drop the exception of the last exception stop: resuming runs the faulting instruction again instead of delivering it (gdb's `signal 0`). */
  discardException(): void { this.pendingExc = null; }
  /** the exception an exception stop left to deliver on resume, if any */
  pendingException(): { vector: number; errorCode?: number } | null {
    const p = this.pendingExc;
    return p ? { vector: p.vector, ...(p.hasErr ? { errorCode: p.err } : {}) } : null;
  }

  private reinject(): void {
    const p = this.pendingExc;
    this.pendingExc = null;
    if (!p || this.machine.cpu.rip !== p.rip) return;
    const apply = (m: Machine) => {
      const ev = m.vcpu.getVcpuEvents();
      ev.exception = { injected: 1, nr: p.vector, has_error_code: p.hasErr ? 1 : 0, pending: 0, error_code: p.err };
      m.vcpu.setVcpuEvents(ev);
    };
    apply(this.machine);
    this.journal.push({ op: "write", at: this.insns, what: `inject ${p.vector}`, apply });
  }

  private finish(out: Outcome, plain: StopReason): Stop {
    const st = this.classify(out, null);
    return this.setStop(st ?? this.makeStop(plain, plain === "step" ? "stepped" : "stopped"));
  }

  private setStop(st: Stop): Stop {
    this.lastStop = st;
    this.highWater = Math.max(this.highWater, this.insns);
    this.schedulePrep();
    if (!st.live) this.terminal = st;
    return st;
  }

  /** Turn a KVM_RUN outcome into a stop; null = an INT3 that is not ours at this address (step over it, go on). */
  private classify(out: Outcome, linPatch: Map<number, bigint[]> | null): Stop | null {
    const m = this.machine, c = m.cpu;
    if (out.kind === "end") {
      const k = out.end!.kind;
      if (k === "host-oops") return this.makeStop("host-oops", "host kernel oops in KVM_RUN", { live: false, oops: m.host.oops?.text, exit: { kind: k, status: out.end!.status } });
      const text = k === "hlt" ? "guest halted (HLT)" : k === "shutdown" ? "triple fault (shutdown)" : k === "debug-exit" ? `guest wrote isa-debug-exit: status ${out.end!.status}` : `VM exit: ${k}`;
      return this.makeStop(k === "debug-exit" ? "exited" : "vmexit", text, { live: false, exit: { kind: k, status: out.end!.status } });
    }
    if (out.kind === "io") {
      const e = out.exit as { kind: string; port: number };
      return this.makeStop("vmexit", `VM exit: ${e.kind === "IoOut" ? "OUT to" : "IN from"} port 0x${e.port.toString(16)}`, { exit: { kind: "io", port: e.port, out: e.kind === "IoOut" } });
    }
    if (out.kind !== "debug") return this.makeStop("step", "stepped");
    const e = out.exit as { kind: "Debug"; exception: number; pc: bigint; dr6: bigint };
    if (e.exception === 1 && (e.dr6 & 0x4000n)) return this.makeStop("step", "stepped");
    if (e.exception === 1 && (e.dr6 & 0xfn)) {
      const bp = this.bps.find((b) => b.kind === "linear" && b.address === e.pc);
      return this.makeStop("breakpoint", `breakpoint at 0x${e.pc.toString(16)}`, bp ? { breakpoint: { id: bp.id, kind: bp.kind, address: bp.address } } : {});
    }
    if (e.exception === 3) {
      const pa = linearToPhys(c, e.pc);
      const ours = pa !== null && this.bps.some((b) => b.kind === "physical" && b.address === pa);
      const linHit = pa !== null && linPatch?.get(Number(pa))?.includes(e.pc);
      if (ours || linHit) {
        const bp = this.bps.find((b) => (b.kind === "physical" ? b.address === pa : b.address === e.pc))!;
        return this.makeStop("breakpoint", `breakpoint at ${bp.kind} 0x${bp.address.toString(16)}`, { breakpoint: { id: bp.id, kind: bp.kind, address: bp.address } });
      }
      if (pa !== null && linPatch?.has(Number(pa))) return null;      // our patch, seen through another linear address
      if (!this.excStops.has(3)) {
        // the guest's own INT3: deliver it (a trap: RIP after the INT3) and report nothing
        const apply = (mm: Machine) => {
          const r = mm.vcpu.getRegs(); r.rip += 1n; mm.vcpu.setRegs(r);
          const ev = mm.vcpu.getVcpuEvents();
          ev.exception = { injected: 1, nr: 3, has_error_code: 0, pending: 0, error_code: 0 };
          mm.vcpu.setVcpuEvents(ev);
        };
        apply(m);
        this.journal.push({ op: "write", at: this.insns, what: "guest int3", apply });
        return null;
      }
    }
    const vec = e.exception, L = c.L;
    const hasErr = c.u32(L.S_PEND_EXC_HAS_ERR) !== 0, err = c.u32(L.S_PEND_EXC_ERR);
    this.pendingExc = { vector: vec, err, hasErr, rip: c.rip };
    const name = vectorName(vec);
    return this.makeStop("exception", `exception ${name}${hasErr ? ` (error code 0x${err.toString(16)})` : ""}`, { vector: vec, vectorName: name, ...(hasErr ? { errorCode: err } : {}) });
  }

  // ---------------------------------------------------------------- disassembly
  /**
   * `count` instructions starting `before` instructions ahead of linear `addr` (negative offsets as
   * DAP asks). Backwards, x86 cannot be decoded exactly: the engine decodes forward from candidate
   * starts (instruction starts seen at stops first, then addr-1…addr-15·before) and keeps the first
   * run that lands on `addr`; missing entries are '(bad)'. Always returns exactly `count` entries.
   */
  disassemble(addr: bigint, count: number, before = 0): DisasmLine[] {
    if (!this.dis) this.dis = Disassembler.load();
    const bitness = codeLocation(this.machine.cpu).bitness;
    const decodeAt = (a: bigint): DisasmLine => {
      const bytes = this.readMemory(a, 15);
      if (bytes.length === 0) return { address: a, bytes: new Uint8Array(0), text: "(unreadable)", length: 0 };
      const d = this.dis!.one(bytes, bitness, a);
      return { address: a, bytes: bytes.slice(0, Math.max(1, d.length)), text: d.length ? d.text : "(bad)", length: d.length };
    };
    const out: DisasmLine[] = [];
    if (before > 0) {
      let best: DisasmLine[] = [];
      const known = [...this.knownStarts].filter((s) => s < addr && addr - s <= BigInt(15 * before)).sort((a, b) => (a < b ? -1 : 1));
      const candidates = [...known, ...Array.from({ length: 15 * before }, (_, i) => addr - BigInt(15 * before - i))];
      for (const start of candidates) {
        if (start < 0n) continue;
        const seq: DisasmLine[] = [];
        let a = start;
        while (a < addr) { const l = decodeAt(a); if (!l.length) break; seq.push(l); a += BigInt(l.length); }
        if (a === addr && seq.length >= Math.min(before, best.length + 1)) { best = seq; if (seq.length >= before) break; }
      }
      best = best.slice(-before);
      for (let i = best.length; i < before; i++) out.push({ address: addr - BigInt(before - i), bytes: new Uint8Array(0), text: "(bad)", length: 0 });
      out.push(...best);
    }
    let a = addr;
    while (out.length < count) {
      const l = decodeAt(a);
      out.push(l);
      a += BigInt(Math.max(1, l.length));
    }
    return out.slice(0, count);
  }

  dispose(): void {
    this.dis?.free();
    this.dis = null;
    if (this.prepTimer) clearTimeout(this.prepTimer);
    this.prepTimer = null;
    this.prepGen++;
    this.spare = null;
    this.disposed = true;
  }

}

export interface DisasmLine { address: bigint; bytes: Uint8Array; text: string; length: number }

export interface HostView {
  kernel: { version: string; id: string };
  model: string;
  fpstate: null | { xfeatures: bigint; user_xfeatures: bigint; xfd: bigint; size: number; user_size: number; is_guest: boolean; in_use: boolean; xstate_bv: bigint; xcomp_bv: bigint };
  oops: string | null;
  events: { kind: string; insns: number; exitReason: number; port?: number; calls: string[]; oops?: string }[];
}
