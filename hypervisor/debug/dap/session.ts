// The VS Code debug adapter: DAP requests ⇄ a DebugTarget (target.ts). One
// thread (vCPU 0), one frame (CS:RIP, source-less: VS Code shows the
// Disassembly view), scopes for every register group the bugs are about,
// instruction breakpoints, exception/VM-exit/host-oops filters, reverse
// execution, memory, and expressions over registers and memory.
//
// The engine runs a continuing guest in slices with the event loop turning
// in between, so `pause`, `disconnect` and the guest's console output get
// through while a guest runs.
import {
  LoggingDebugSession, Logger, logger, InitializedEvent, TerminatedEvent, ExitedEvent, StoppedEvent, OutputEvent,
  InvalidatedEvent, MemoryEvent, Thread, StackFrame, Scope, Handles, Breakpoint as DapBreakpoint,
} from "@vscode/debugadapter";
import type { DebugProtocol } from "@vscode/debugprotocol";
import { UsageError } from "../../cli/options";
import { ImageError } from "../../vmm/loader";
import { Disassembler } from "../disasm";
import { disassemble } from "./disasm_view";
import { evaluate, parseReference, ExprError, type ExprContext } from "./expr";
import {
  hex, xfeatures, wideHex, f80, lane, setLane, parseNumber, toF80, bigToLe, leToBig, bitsSummary, vectorName, VECTOR_NAMES,
  RFLAGS_BITS, CR0_BITS, CR4_BITS, EFER_BITS, MXCSR_BITS, FSW_BITS, LANE_BYTES, type LaneKind,
} from "./format";
import type { DebugTarget, Stop, StopFilters, RegValue } from "./target";
import { createTarget, type LaunchArgs } from "./launch";
import { Symbols } from "./symbols";

const THREAD = 1;

/** The exception filters shown in the Breakpoints view. */
const VECTOR_FILTERS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 21];
export const EXCEPTION_FILTERS: DebugProtocol.ExceptionBreakpointsFilter[] = [
  ...VECTOR_FILTERS.map((v) => ({
    filter: VECTOR_NAMES[v][0], label: `#${VECTOR_NAMES[v][0]} ${VECTOR_NAMES[v][1]}`,
    description: `stop when the guest raises vector ${v}, before it is delivered (RIP at the faulting instruction)`, default: false,
  })),
  { filter: "host-oops", label: "Host kernel oops", description: "stop when the host kernel model oopses inside KVM_RUN (e.g. the AMX/XFD #NM in host mode)", default: true },
  { filter: "exit-shutdown", label: "VM exit: shutdown (triple fault)", description: "stop at the triple fault before the session ends", default: true },
  { filter: "exit-hlt", label: "VM exit: HLT", description: "stop at the HLT exit before the session ends", default: false },
  { filter: "exit-io", label: "VM exit: port I/O", description: "stop after every IN/OUT exit (the device has handled it)", default: false },
  { filter: "exit-mmio", label: "VM exit: MMIO", description: "stop after every access to unmapped physical memory", default: false },
];

function filtersFromIds(ids: string[]): StopFilters {
  const f: StopFilters = { vectors: [], vmExits: [], hostOops: false };
  for (const id of ids) {
    const v = VECTOR_FILTERS.find((x) => VECTOR_NAMES[x][0] === id.replace(/^#/, "").toUpperCase());
    if (v !== undefined) f.vectors.push(v);
    else if (id === "host-oops") f.hostOops = true;
    else if (id.startsWith("exit-")) f.vmExits.push(id.slice(5));
  }
  return f;
}

/** What a variablesReference stands for. */
type VarRef =
  | { k: "scope"; scope: ScopeId }
  | { k: "bits"; reg: string; bits: [string, number, number][] }
  | { k: "seg"; reg: string }
  | { k: "vec"; reg: string }
  | { k: "lanes"; reg: string; lane: LaneKind }
  | { k: "tilecfg" }
  | { k: "tile"; reg: string };

type ScopeId = "general" | "segments" | "x87" | "vector" | "opmask" | "amx" | "xsave" | "host";
const SCOPES: [ScopeId, string][] = [
  ["general", "General registers"], ["segments", "Segments & control"], ["x87", "x87"], ["vector", "SSE/AVX/AVX-512"],
  ["opmask", "Opmasks"], ["amx", "AMX"], ["xsave", "XSAVE state"], ["host", "Host fpstate"],
];

const GPRS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const POINTERS = new Set(["rip", "rsp", "rbp", "rsi", "rdi"]);

export class X86kvmDebugSession extends LoggingDebugSession {
  private target: DebugTarget | null = null;
  private symbols = new Symbols([]);
  private dis: Disassembler | null = null;
  private refs = new Handles<VarRef>();
  private configDone!: Promise<void>;
  private configDoneResolve!: () => void;
  private instBps: { addr: bigint; physical: boolean }[] = [];
  private funcBps: { addr: bigint; physical: boolean }[] = [];
  private filters: StopFilters = filtersFromIds(EXCEPTION_FILTERS.filter((f) => f.default).map((f) => f.filter));
  private running = false;
  /** pause asked for while running (the engine's continue sees its own flag; stepOut polls this one) */
  private pausing = false;
  private ended = false;
  private lastStop: Stop | null = null;
  /** instruction starts seen at stops: anchors for backward disassembly */
  private known = new Set<bigint>();
  private out = "";
  private outTimer: NodeJS.Immediate | null = null;

  constructor() {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
    this.configDone = new Promise((r) => { this.configDoneResolve = r; });
  }

  // ---- lifecycle ----

  protected initializeRequest(response: DebugProtocol.InitializeResponse, _args: DebugProtocol.InitializeRequestArguments): void {
    response.body = {
      ...response.body,
      supportsConfigurationDoneRequest: true,
      supportsSteppingGranularity: true,
      supportsInstructionBreakpoints: true,
      supportsFunctionBreakpoints: true,
      supportsDisassembleRequest: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsSetVariable: true,
      supportsSetExpression: true,
      supportsEvaluateForHovers: true,
      supportsStepBack: true,
      supportsExceptionInfoRequest: true,
      supportsTerminateRequest: true,
      supportsConditionalBreakpoints: false,
      supportsHitConditionalBreakpoints: false,
      supportsDataBreakpoints: false,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
    };
    this.sendResponse(response);
  }

  protected configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.configDoneResolve();
    this.sendResponse(response);
  }

  protected async launchRequest(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments & LaunchArgs): Promise<void> {
    args ??= {};
    logger.setup(args.trace ? Logger.LogLevel.Verbose : Logger.LogLevel.Stop, false);
    if (this.target) return this.fail(response, "already launched: one guest per debug session");
    try {
      ({ target: this.target, symbols: this.symbols } = createTarget(args, (bytes) => this.console(bytes)));
    } catch (e) {
      const msg = e instanceof UsageError || e instanceof ImageError ? (e as Error).message : `emulator error: ${(e as Error).message}`;
      return this.fail(response, `x86kvm: ${msg}`);
    }
    this.pushBreakpoints();
    if (Array.isArray(args.stopOn)) this.filters = mergeFilters(this.filters, filtersFromIds(args.stopOn.map(String)));
    this.target.setFilters(this.filters);
    // ready for breakpoints and filters now that the guest (and its symbols) exist; they arrive
    // between `initialized` and configurationDone, while this launch request waits
    this.sendEvent(new InitializedEvent());
    await Promise.race([this.configDone, new Promise((r) => setTimeout(r, 2000))]);
    this.sendResponse(response);
    if (args.stopOnEntry !== false) this.reportStop({ kind: "entry" });
    else this.resume("cont");
  }

  protected disconnectRequest(response: DebugProtocol.DisconnectResponse): void {
    this.pausing = true;
    this.target?.pause();
    this.ended = true;
    this.flushConsole();
    this.dis?.free();
    this.dis = null;
    this.target?.dispose();
    this.sendResponse(response);
  }

  protected terminateRequest(response: DebugProtocol.TerminateResponse): void {
    this.pausing = true;
    this.target?.pause();
    this.sendResponse(response);
    if (!this.ended) { this.ended = true; this.flushConsole(); this.sendEvent(new TerminatedEvent()); }
  }

  // ---- breakpoints and filters ----

  protected setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): void {
    this.instBps = [];
    this.answerBreakpoints(response, args.breakpoints, (b) => {
      const r = parseReference(b.instructionReference, this.exprCtx());
      const at = { addr: BigInt.asUintN(64, r.addr + BigInt(b.offset ?? 0)), physical: r.physical };
      this.instBps.push(at);
      return { at, message: b.condition || b.hitCondition ? "conditions are not supported: stops every time" : undefined };
    });
  }

  // function breakpoints: an address expression (0x100010, phys:0x7c00, rip+5)
  protected setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    this.funcBps = [];
    this.answerBreakpoints(response, args.breakpoints, (b) => {
      const r = parseReference(b.name, this.target ? this.exprCtx() : undefined);
      this.funcBps.push(r);
      return { at: r };
    });
  }

  /** one verified breakpoint per request entry that `place` accepts, an unverified one with the reason otherwise */
  private answerBreakpoints<T>(
    response: DebugProtocol.Response & { body: { breakpoints: DebugProtocol.Breakpoint[] } }, requested: T[],
    place: (b: T) => { at: { addr: bigint; physical: boolean }; message?: string },
  ): void {
    const bps = requested.map((b) => {
      try {
        const { at, message } = place(b);
        const bp = new DapBreakpoint(true) as DebugProtocol.Breakpoint;
        bp.instructionReference = (at.physical ? "phys:" : "") + hex(at.addr);
        if (message) bp.message = message;
        return bp;
      } catch (e) {
        const bp = new DapBreakpoint(false) as DebugProtocol.Breakpoint;
        bp.message = (e as Error).message;
        return bp;
      }
    });
    this.pushBreakpoints();
    response.body = { breakpoints: bps };
    this.sendResponse(response);
  }

  // guest images have no source lines: source breakpoints cannot be placed
  protected setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    response.body = {
      breakpoints: (args.breakpoints ?? []).map(() => {
        const bp = new DapBreakpoint(false) as DebugProtocol.Breakpoint;
        bp.message = "x86kvm has no source line information: set breakpoints in the Disassembly view";
        return bp;
      }),
    };
    this.sendResponse(response);
  }

  protected setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    const ids = [...args.filters, ...(args.filterOptions ?? []).map((o) => o.filterId)];
    const unknown = ids.filter((id) => !EXCEPTION_FILTERS.some((f) => f.filter === id));
    this.filters = filtersFromIds(ids);
    this.target?.setFilters(this.filters);
    response.body = { breakpoints: ids.map((id) => ({ verified: !unknown.includes(id) })) };
    this.sendResponse(response);
  }

  private pushBreakpoints(): void { this.target?.setBreakpoints([...this.instBps, ...this.funcBps]); }

  // ---- execution ----

  protected threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD, "vCPU 0")] };
    this.sendResponse(response);
  }

  protected continueRequest(response: DebugProtocol.ContinueResponse): void {
    if (!this.ready(response)) return;
    response.body = { allThreadsContinued: true };
    this.sendResponse(response);
    this.resume("cont");
  }
  // without source lines every granularity is an instruction: stepIn executes one (into calls and
  // interrupt handlers), next steps over CALL/INT/SYSCALL/REP, stepOut runs to the return
  protected nextRequest(response: DebugProtocol.NextResponse): void { this.stepOne(response, "next"); }
  protected stepInRequest(response: DebugProtocol.StepInResponse): void { this.stepOne(response, "step"); }
  protected stepOutRequest(response: DebugProtocol.StepOutResponse): void { this.stepOne(response, "stepOut"); }
  protected stepBackRequest(response: DebugProtocol.StepBackResponse): void {
    if (!this.ready(response)) return;
    this.sendResponse(response);
    this.resume("stepBack");
  }
  protected reverseContinueRequest(response: DebugProtocol.ReverseContinueResponse): void {
    if (!this.ready(response)) return;
    this.sendResponse(response);
    this.resume("reverseCont");
  }
  protected pauseRequest(response: DebugProtocol.PauseResponse): void {
    this.pausing = true;
    this.target?.pause();
    this.sendResponse(response);
    // stopped already: say so again, VS Code waits for a stopped event
    if (!this.running && this.target && !this.ended) this.reportStop({ kind: "pause" });
  }

  private stepOne(response: DebugProtocol.Response, how: "step" | "next" | "stepOut"): void {
    if (!this.ready(response)) return;
    this.sendResponse(response);
    this.resume(how);
  }

  private ready(response: DebugProtocol.Response): boolean {
    if (!this.target) { this.fail(response, "no guest: launch first"); return false; }
    if (this.running) { this.fail(response, "the guest is running: pause it first"); return false; }
    if (this.ended) { this.fail(response, "the guest has finished"); return false; }
    return true;
  }

  private resume(how: "cont" | "step" | "next" | "stepOut" | "stepBack" | "reverseCont"): void {
    const t = this.target!;
    this.running = true;
    this.pausing = false;
    this.refs.reset();
    setImmediate(async () => {
      let s: Stop;
      try {
        s = how === "cont" ? await t.cont() : how === "next" ? await this.stepOver() : how === "stepOut" ? await this.stepOut()
          : how === "step" ? t.step() : how === "stepBack" ? t.stepBack() : t.reverseCont();
      } catch (e) {
        s = { kind: "exited", exit: "emulator-error", status: 70 };
        this.sendEvent(new OutputEvent(`x86kvm: emulator error: ${(e as Error).stack ?? e}\n`, "stderr"));
      }
      this.running = false;
      this.reportStop(s);
    });
  }

  /** The instruction at RIP, decoded. */
  private current(): { lin: bigint; text: string; len: number } {
    const lin = this.target!.codeLocation().lin;
    const l = this.disasm(lin, 0, 0, 1)[0];
    return { lin, text: l?.valid ? l.text : "", len: l?.valid ? l.bytes.length : 0 };
  }

  /**
   * next: a CALL, INT n, SYSCALL or REP-prefixed instruction runs to the instruction after it (a
   * temporary breakpoint there, the user's breakpoints and filters still stop it); anything else
   * is one instruction.
   */
  private async stepOver(): Promise<Stop> {
    const t = this.target!, cur = this.current();
    if (!cur.len || !/^(call|int[13o ]|int$|syscall|sysenter|rep|repe|repne|repz|repnz) ?/.test(cur.text)) return t.step();
    const after = cur.lin + BigInt(cur.len);
    const user = [...this.instBps, ...this.funcBps];
    t.setBreakpoints([...user, { addr: after, physical: false }]);
    try {
      const s = await t.cont();
      const userHere = user.some((b) => !b.physical && b.addr === after);
      return s.kind === "breakpoint" && !userHere && t.codeLocation().lin === after ? { kind: "step" } : s;
    } finally { this.pushBreakpoints(); }
  }

  /**
   * stepOut: single-steps until a RET/IRET/SYSRET at the current call depth has executed
   * (CALL/INT/SYSCALL deepen it), stopping early at a user breakpoint, another stop, or pause.
   */
  private async stepOut(): Promise<Stop> {
    const t = this.target!;
    const bps = new Set([...this.instBps, ...this.funcBps].filter((b) => !b.physical).map((b) => b.addr));
    let depth = 0;
    for (let i = 1; ; i++) {
      const text = this.current().text;
      const s = t.step();
      if (s.kind !== "step") return s;
      if (/^(call|int|syscall|sysenter)/.test(text)) depth++;
      else if (/^(ret|iret|sysret|sysexit)/.test(text) && depth-- === 0) return { kind: "step" };
      if (bps.has(t.codeLocation().lin)) return { kind: "breakpoint" };
      if (i % 4096 === 0) {
        await new Promise((r) => setImmediate(r));
        if (this.pausing) return { kind: "pause" };
      }
    }
  }

  private reportStop(s: Stop): void {
    this.flushConsole();
    this.refs.reset();
    if (this.ended) return;
    this.lastStop = s;
    if (s.kind === "exited") {
      this.ended = true;
      const why = s.exit === "hlt" ? "the guest halted (HLT)" : s.exit === "debug-exit" ? "the guest wrote to isa-debug-exit (port 0xF4)"
        : s.exit === "shutdown" ? "triple fault (shutdown)" : s.exit === "host-oops" ? "the host kernel oopsed in KVM_RUN" : s.exit === "budget" ? s.text ?? "instruction budget used up" : s.exit ?? "exit";
      if (s.exit === "host-oops" && s.text) this.sendEvent(new OutputEvent(s.text + "\n", "stderr"));
      this.sendEvent(new OutputEvent(`x86kvm: ${why}; exit status ${s.status} after ${this.target?.insns ?? 0} instructions\n`, "console"));
      this.sendEvent(new ExitedEvent(s.status ?? 0));
      this.sendEvent(new TerminatedEvent());
      return;
    }
    try { this.known.add(this.target!.codeLocation().lin); } catch { /* state unreadable */ }
    let reason: string, text: string | undefined;
    switch (s.kind) {
      case "entry": reason = "entry"; break;
      case "step": reason = "step"; break;
      case "breakpoint": reason = "instruction breakpoint"; break;
      case "pause": reason = "pause"; break;
      case "exception": reason = "exception"; text = this.describe(s); break;
      case "vmexit": reason = "exception"; text = `VM exit: ${s.text ?? s.exit}`; break;
      case "host-oops": reason = "exception"; text = "host kernel oops"; if (s.text) this.sendEvent(new OutputEvent(s.text + "\n", "stderr")); break;
      default: reason = "step";
    }
    const ev = new StoppedEvent(reason, THREAD, text) as DebugProtocol.StoppedEvent;
    ev.body.allThreadsStopped = true;
    if (text) ev.body.description = text;
    this.sendEvent(ev);
  }

  private describe(s: Stop): string {
    let t = `${vectorName(s.vector ?? -1)} ${VECTOR_NAMES[s.vector ?? -1]?.[1] ?? ""}`.trim();
    if (s.errorCode !== undefined) t += `, error code ${hex(s.errorCode)}`;
    if (s.cr2 !== undefined) t += `, CR2 ${hex(s.cr2)}`;
    return t;
  }

  protected exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    const s = this.lastStop;
    if (!s || (s.kind !== "exception" && s.kind !== "vmexit" && s.kind !== "host-oops")) return this.fail(response, "not stopped at an exception");
    const id = s.kind === "exception" ? VECTOR_NAMES[s.vector ?? -1]?.[0] ?? String(s.vector) : s.kind === "host-oops" ? "host-oops" : `exit-${s.exit}`;
    response.body = {
      exceptionId: id,
      description: s.kind === "exception" ? this.describe(s) : s.kind === "host-oops" ? (s.text ?? "host kernel oops").split("\n")[0] : `VM exit: ${s.text ?? s.exit}`,
      breakMode: "always",
      details: s.kind === "host-oops" ? { message: s.text, stackTrace: s.text } : undefined,
    };
    this.sendResponse(response);
  }

  // ---- stack, scopes, variables ----

  protected stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    const t = this.target;
    if (!t) return this.fail(response, "no guest: launch first");
    const loc = t.codeLocation();
    const start = args.startFrame ?? 0;
    const frames: DebugProtocol.StackFrame[] = [];
    if (start === 0 && (args.levels ?? 1) !== 0) {
      const line = this.disasm(loc.lin, 0, 0, 1)[0];
      const where = loc.bitness === 64 ? hex(loc.rip) : `${loc.cs.toString(16).padStart(4, "0")}:${loc.rip.toString(16).padStart(loc.bitness === 16 ? 4 : 8, "0")}`;
      const sym = this.symbols.label(loc.lin);
      const f = new StackFrame(0, `${where}${sym ? ` <${sym}>` : ""}  ${line?.valid ? this.withTarget(line.text) : "(no instruction)"}`) as DebugProtocol.StackFrame;
      f.instructionPointerReference = hex(loc.lin);
      f.line = 0; f.column = 0;
      f.presentationHint = "normal";
      frames.push(f);
    }
    response.body = { stackFrames: frames, totalFrames: 1 };
    this.sendResponse(response);
  }

  protected scopesRequest(response: DebugProtocol.ScopesResponse): void {
    const t = this.target;
    if (!t) return this.fail(response, "no guest: launch first");
    const has: Record<ScopeId, boolean> = {
      general: true, segments: true, x87: true, vector: true, opmask: t.hasReg("k0"), amx: t.hasReg("tilecfg"), xsave: t.hasReg("xcr0"), host: true,
    };
    response.body = {
      scopes: SCOPES.filter(([id]) => has[id]).map(([id, name]) => {
        const s = new Scope(name, this.refs.create({ k: "scope", scope: id }), id !== "general") as DebugProtocol.Scope;
        s.presentationHint = id === "general" ? "registers" : undefined;
        return s;
      }),
    };
    this.sendResponse(response);
  }

  protected variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    const t = this.target, ref = this.refs.get(args.variablesReference);
    if (!t || !ref) return this.fail(response, "stale or unknown variablesReference");
    try {
      let vars = this.variablesOf(t, ref);
      if (args.start !== undefined || args.count !== undefined) vars = vars.slice(args.start ?? 0, args.count ? (args.start ?? 0) + args.count : undefined);
      response.body = { variables: vars };
      this.sendResponse(response);
    } catch (e) { this.fail(response, (e as Error).message); }
  }

  private v(name: string, value: string, extra: Partial<DebugProtocol.Variable> = {}): DebugProtocol.Variable {
    return { name, value, variablesReference: 0, ...extra };
  }

  /** A register as a Variable: scalars in hex (with a summary for flag registers), wide ones expandable. */
  private regVar(t: DebugTarget, name: string, label = name): DebugProtocol.Variable | null {
    const val = t.readReg(name);
    if (val === undefined) return null;
    const evaluateName = "$" + name;
    if (typeof val === "bigint") {
      const bits = name === "rflags" ? RFLAGS_BITS : name === "cr0" ? CR0_BITS : name === "cr4" ? CR4_BITS : name === "efer" ? EFER_BITS
        : name === "mxcsr" ? MXCSR_BITS : name === "fstat" ? FSW_BITS : null;
      const masks = ["xcr0", "xinuse", "xfd", "xfd_err", "xss", "xstate_bv", "xcomp_bv"];
      let value = masks.includes(name) ? xfeatures(name === "xcomp_bv" ? val & ~(1n << 63n) : val) + (name === "xcomp_bv" && val >> 63n ? " compacted" : "") : hex(val);
      if (bits) value += `  [${bitsSummary(val, bits)}]`;
      return this.v(label, value, {
        evaluateName, type: "register",
        variablesReference: bits ? this.refs.create({ k: "bits", reg: name, bits }) : 0,
        memoryReference: POINTERS.has(name) ? hex(val) : name === "cr3" ? "phys:" + hex(val & 0x000ffffffffff000n) : undefined,
      });
    }
    if (/^st[0-7]$/.test(name)) return this.v(label, `${f80(val)}  (${wideHex(val)})`, { evaluateName, type: "float80" });
    if (/^(xmm|ymm|zmm)\d+$/.test(name)) return this.v(label, wideHex(val), { evaluateName, type: `vec${val.length * 8}`, variablesReference: this.refs.create({ k: "vec", reg: name }) });
    if (name === "tilecfg") return this.v(label, tilecfgSummary(val), { evaluateName, type: "tilecfg", variablesReference: this.refs.create({ k: "tilecfg" }) });
    if (/^tmm[0-7]$/.test(name)) {
      const nz = val.some((b) => b !== 0);
      return this.v(label, nz ? `${wideHex(val.subarray(0, 16))}… (${val.length} bytes)` : `all zero (${val.length} bytes)`, { evaluateName, type: "tile", variablesReference: this.refs.create({ k: "tile", reg: name }) });
    }
    return this.v(label, wideHex(val), { evaluateName });
  }

  private variablesOf(t: DebugTarget, ref: VarRef): DebugProtocol.Variable[] {
    const regs = (names: string[]) => names.map((n) => this.regVar(t, n)).filter((x): x is DebugProtocol.Variable => x !== null);
    switch (ref.k) {
      case "scope": switch (ref.scope) {
        case "general": return regs([...GPRS, "rip", "rflags"]);
        case "segments": {
          const segs = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"].map((s) => {
            const sel = t.readReg(s) as bigint, base = t.readReg(`${s}.base`) as bigint, lim = t.readReg(`${s}.limit`) as bigint;
            return this.v(s, `${hex(sel)}  base ${hex(base)} limit ${hex(lim)}`, { evaluateName: "$" + s, variablesReference: this.refs.create({ k: "seg", reg: s }) });
          });
          const dt = ["gdtr", "idtr"].map((d) => this.v(d, `base ${hex(t.readReg(`${d}.base`) as bigint)} limit ${hex(t.readReg(`${d}.limit`) as bigint)}`, { memoryReference: hex(t.readReg(`${d}.base`) as bigint) }));
          const loc = t.codeLocation();
          const mode = this.v("mode", `${loc.bitness}-bit code, CPL ${Number((t.readReg("cs") as bigint) & 3n)}`);
          return [mode, ...segs, ...dt, ...regs(["fs_base", "gs_base", "kernel_gs_base", "cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base"])];
        }
        case "x87": return regs(["st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7", "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"]).map((v) => {
          if (v.name === "ftag") v.value += "  (2 bits per physical register: 00 valid, 01 zero, 10 special, 11 empty)";
          return v;
        });
        case "vector": {
          const kind = t.hasReg("zmm0") ? "zmm" : t.hasReg("ymm0") ? "ymm" : "xmm";
          const n = t.hasReg(`${kind}16`) ? 32 : 16;
          return regs(["mxcsr", ...Array.from({ length: n }, (_, i) => `${kind}${i}`)]);
        }
        case "opmask": return regs(["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"]);
        case "amx": return regs(["tilecfg", "tmm0", "tmm1", "tmm2", "tmm3", "tmm4", "tmm5", "tmm6", "tmm7"]);
        case "xsave": {
          const out = regs(["xcr0", "xinuse", "xfd", "xfd_err", "xss", "pkru", "xstate_bv"]);
          for (const v of out) {
            if (v.name === "xinuse") v.value += "  (components not in their init state, as the host's XSAVE sees them)";
            if (v.name === "xstate_bv") { v.name = "XSTATE_BV (host save)"; v.value += "  (header of the image KVM_GET_XSAVE2 returns)"; }
            if (v.name === "xfd") v.name = "IA32_XFD";
            if (v.name === "xfd_err") v.name = "IA32_XFD_ERR";
            if (v.name === "xss") v.name = "IA32_XSS";
            if (v.name === "pkru") v.name = "PKRU";
          }
          return out;
        }
        case "host": {
          const h = t.hostFpstate();
          return Object.entries(h).map(([k, val]) => this.v(k, typeof val === "bigint"
            ? (/xfeatures|xfd|xstate_bv|xcomp_bv|perm/.test(k) && !/err/.test(k) ? xfeatures(k.includes("xcomp_bv") ? val & ~(1n << 63n) : val) : hex(val))
            : String(val)));
        }
      }
      // falls through only for an unknown scope id
      return [];
      case "bits": {
        const val = t.readReg(ref.reg) as bigint;
        return ref.bits.map(([n, at, w]) => this.v(n, String((val >> BigInt(at)) & ((1n << BigInt(w)) - 1n)), { evaluateName: `$${ref.reg}.${n}` }));
      }
      case "seg": {
        const f = (x: string) => t.readReg(`${ref.reg}.${x}`) as bigint;
        return [
          this.v("selector", hex(f("selector"))), this.v("base", hex(f("base"))), this.v("limit", hex(f("limit"))),
          this.v("type", String(f("type"))), this.v("dpl", String(f("dpl"))), this.v("present", String(f("present"))),
          this.v("s", String(f("s"))), this.v("l", String(f("l"))), this.v("db", String(f("db"))), this.v("g", String(f("g"))), this.v("unusable", String(f("unusable"))),
        ];
      }
      case "vec": {
        const val = t.readReg(ref.reg) as Uint8Array;
        const out: DebugProtocol.Variable[] = [];
        const idx = ref.reg.replace(/^\D+/, "");
        if (val.length >= 32) out.push(this.v(`xmm${idx}`, wideHex(val.subarray(0, 16)), { evaluateName: `$xmm${idx}` }));
        if (val.length >= 64) out.push(this.v(`ymm${idx}`, wideHex(val.subarray(0, 32)), { evaluateName: `$ymm${idx}` }));
        for (const lk of ["u64", "u32", "u16", "u8", "f64", "f32"] as LaneKind[]) {
          const n = val.length / LANE_BYTES[lk];
          const preview = Array.from({ length: Math.min(n, 4) }, (_, i) => lane(val, lk, i)).join(", ") + (n > 4 ? ", …" : "");
          out.push(this.v(lk, `[${n}] ${preview}`, { variablesReference: this.refs.create({ k: "lanes", reg: ref.reg, lane: lk }), indexedVariables: n }));
        }
        return out;
      }
      case "lanes": {
        const val = t.readReg(ref.reg) as Uint8Array;
        const n = val.length / LANE_BYTES[ref.lane];
        return Array.from({ length: n }, (_, i) => this.v(`[${i}]`, lane(val, ref.lane, i)));
      }
      case "tilecfg": {
        const c = t.readReg("tilecfg") as Uint8Array, dv = new DataView(c.buffer, c.byteOffset, 64);
        const out = [this.v("palette", String(c[0])), this.v("start_row", String(c[1]))];
        for (let i = 0; i < 8; i++) out.push(this.v(`tmm${i}`, `${c[48 + i]} rows × ${dv.getUint16(16 + 2 * i, true)} bytes`));
        return out;
      }
      case "tile": {
        const val = t.readReg(ref.reg) as Uint8Array;
        return Array.from({ length: 16 }, (_, r) => this.v(`row ${r}`, wideHex(val.subarray(64 * r, 64 * r + 64))));
      }
    }
  }

  protected setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    const t = this.target, ref = this.refs.get(args.variablesReference);
    if (!t || !ref) return this.fail(response, "stale or unknown variablesReference");
    if (this.running) return this.fail(response, "the guest is running: pause it first");
    try {
      let reg: string, value: RegValue;
      if (ref.k === "lanes") {
        const i = Number(/^\[(\d+)\]$/.exec(args.name)?.[1] ?? NaN);
        if (!Number.isInteger(i)) throw new Error(`no lane ${args.name}`);
        reg = ref.reg;
        value = setLane(t.readReg(reg) as Uint8Array, ref.lane, i, args.value);
      } else if (ref.k === "bits") {
        const b = ref.bits.find(([n]) => n === args.name);
        if (!b) throw new Error(`no field ${args.name}`);
        const cur = t.readReg(ref.reg) as bigint, mask = ((1n << BigInt(b[2])) - 1n) << BigInt(b[1]);
        reg = ref.reg;
        value = (cur & ~mask) | ((parseNumber(args.value) << BigInt(b[1])) & mask);
      } else if (ref.k === "seg") {
        if (!["selector", "base", "limit"].includes(args.name)) throw new Error(`${ref.reg}.${args.name} cannot be set here (selector, base, limit can)`);
        reg = args.name === "selector" ? ref.reg : `${ref.reg}.${args.name}`;
        value = parseNumber(args.value);
      } else if (ref.k === "scope") {
        reg = canonicalReg(args.name);
        value = parseValueFor(t, reg, args.value);
      } else if (ref.k === "vec") {
        reg = args.name;
        value = parseValueFor(t, reg, args.value);
      } else throw new Error(`${args.name} cannot be set`);
      t.writeReg(reg, value);
      const shown = this.regVar(t, reg);
      response.body = { value: ref.k === "lanes" ? lane(t.readReg(reg) as Uint8Array, ref.lane, Number(/\d+/.exec(args.name)![0])) : ref.k === "bits" || ref.k === "seg" ? args.value : shown?.value ?? args.value };
      this.sendResponse(response);
      this.sendEvent(new InvalidatedEvent(["variables"], THREAD));
    } catch (e) { this.fail(response, (e as Error).message); }
  }

  protected setExpressionRequest(response: DebugProtocol.SetExpressionResponse, args: DebugProtocol.SetExpressionArguments): void {
    const t = this.target;
    if (!t) return this.fail(response, "no guest: launch first");
    try {
      const r = evaluate(args.expression, this.exprCtx());
      if (r.reg) t.writeReg(r.reg, parseValueFor(t, r.reg, args.value));
      else if (r.mem) {
        const n = t.writeMemory(r.mem.addr, bigToLe(parseNumber(args.value), r.mem.size), r.mem.physical);
        if (n < r.mem.size) throw new Error(`cannot write at ${hex(r.mem.addr)}`);
      } else throw new Error(`'${args.expression}' is not a register or memory location`);
      const again = evaluate(args.expression, this.exprCtx());
      response.body = { value: typeof again.value === "bigint" ? hex(again.value) : wideHex(again.value) };
      this.sendResponse(response);
      this.sendEvent(new InvalidatedEvent(["variables"], THREAD));
    } catch (e) { this.fail(response, (e as Error).message); }
  }

  protected evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    const t = this.target;
    if (!t) return this.fail(response, "no guest: launch first");
    try {
      const r = evaluate(args.expression, this.exprCtx());
      if (r.reg) {
        const v = this.regVar(t, r.reg);
        if (v) {
          response.body = { result: v.value, variablesReference: v.variablesReference, memoryReference: v.memoryReference, type: v.type };
          return this.sendResponse(response);
        }
      }
      const val = r.value;
      if (typeof val === "bigint") {
        const signed = r.mem?.signed && val < 0n;
        response.body = {
          result: signed ? `${val} (${hex(BigInt.asUintN(r.mem!.size * 8, val))})` : hex(val) + (val < 10n ? "" : ` (${val})`),
          variablesReference: 0,
          memoryReference: r.mem ? (r.mem.physical ? "phys:" : "") + hex(r.mem.addr) : hex(val),
        };
      } else response.body = { result: wideHex(val), variablesReference: 0 };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, e instanceof ExprError ? e.message : `cannot evaluate: ${(e as Error).message}`);
    }
  }

  /** "call 0x1004fe" → "call 0x1004fe <puts64>" */
  private withTarget(text: string): string {
    const m = /^(call|j[a-z]+|loop[a-z]*|jmp)\s+(?:near |far |short )?(0x[0-9a-f]+)$/.exec(text);
    const sym = m ? this.symbols.label(BigInt(m[2])) : null;
    return sym ? `${text} <${sym}>` : text;
  }

  private exprCtx(): ExprContext {
    const t = this.target;
    return {
      symbol: (n) => this.symbols.lookup(n),
      readReg: (n) => t?.readReg(canonicalReg(n)),
      readMemory: (a, len, phys) => (t ? t.readMemory(a, len, phys) : new Uint8Array(0)),
    };
  }

  // ---- memory and disassembly ----

  protected readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    const t = this.target;
    if (!t) return this.fail(response, "no guest: launch first");
    try {
      const r = parseReference(args.memoryReference);
      const addr = BigInt.asUintN(64, r.addr + BigInt(args.offset ?? 0));
      const count = Math.max(0, Math.min(args.count, 1 << 20));
      const data = t.readMemory(addr, count, r.physical);
      response.body = { address: (r.physical ? "phys:" : "") + hex(addr), data: Buffer.from(data).toString("base64"), unreadableBytes: count - data.length };
      this.sendResponse(response);
    } catch (e) { this.fail(response, (e as Error).message); }
  }

  protected writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    const t = this.target;
    if (!t) return this.fail(response, "no guest: launch first");
    if (this.running) return this.fail(response, "the guest is running: pause it first");
    try {
      const r = parseReference(args.memoryReference);
      const addr = BigInt.asUintN(64, r.addr + BigInt(args.offset ?? 0));
      const data = new Uint8Array(Buffer.from(args.data, "base64"));
      if (!args.allowPartial && t.readMemory(addr, data.length, r.physical).length < data.length) {
        return this.fail(response, `cannot write ${data.length} bytes at ${r.physical ? "physical " : ""}${hex(addr)}: not all mapped`);
      }
      const n = t.writeMemory(addr, data, r.physical);
      response.body = { bytesWritten: n };
      this.sendResponse(response);
      this.sendEvent(new MemoryEvent(args.memoryReference, args.offset ?? 0, n));
      this.sendEvent(new InvalidatedEvent(["variables"], THREAD));
    } catch (e) { this.fail(response, (e as Error).message); }
  }

  private disasm(addr: bigint, byteOffset: number, instructionOffset: number, count: number) {
    const t = this.target!;
    this.dis ??= Disassembler.load();
    return disassemble(this.dis, { read: (a, n) => t.readMemory(a, n, false), bitness: t.codeLocation().bitness }, addr, byteOffset, instructionOffset, count, this.known);
  }

  protected disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): void {
    const t = this.target;
    if (!t) return this.fail(response, "no guest: launch first");
    try {
      const r = parseReference(args.memoryReference);
      if (r.physical) throw new Error("disassembly works on linear addresses");
      const lines = this.disasm(r.addr, args.offset ?? 0, args.instructionOffset ?? 0, Math.min(args.instructionCount, 100_000));
      response.body = {
        instructions: lines.map((l) => ({
          address: hex(l.addr),
          instructionBytes: Array.from(l.bytes, (b) => b.toString(16).padStart(2, "0")).join(" "),
          instruction: l.valid ? this.withTarget(l.text) : l.bytes.length ? "(bad)" : "??",
          presentationHint: l.valid ? undefined : "invalid",
          symbol: this.symbols.symbolize(l.addr)?.name,
        } as DebugProtocol.DisassembledInstruction)),
      };
      this.sendResponse(response);
    } catch (e) { this.fail(response, (e as Error).message); }
  }

  // ---- helpers ----

  private fail(response: DebugProtocol.Response, message: string): void {
    this.sendErrorResponse(response, { id: 1, format: message.replace(/[{}]/g, ""), showUser: true });
  }

  /** Guest console bytes → output events, a line (or a run slice) at a time. */
  private console(bytes: Uint8Array): void {
    this.out += Buffer.from(bytes).toString("latin1");
    if (this.out.includes("\n") || this.out.length > 4096) this.flushConsole();
    else this.outTimer ??= setImmediate(() => this.flushConsole());
  }
  private flushConsole(): void {
    if (this.outTimer) { clearImmediate(this.outTimer); this.outTimer = null; }
    if (!this.out) return;
    this.sendEvent(new OutputEvent(this.out, "stdout"));
    this.out = "";
  }
}

function mergeFilters(a: StopFilters, b: StopFilters): StopFilters {
  return { vectors: [...new Set([...a.vectors, ...b.vectors])], vmExits: [...new Set([...a.vmExits, ...b.vmExits])], hostOops: a.hostOops || b.hostOops };
}

/** Variables-view labels and aliases → the target's register names. */
function canonicalReg(name: string): string {
  const n = name.replace(/^\$/, "").toLowerCase();
  const alias: Record<string, string> = {
    eflags: "rflags", "ia32_xfd": "xfd", "ia32_xfd_err": "xfd_err", "ia32_xss": "xss", "xstate_bv (host save)": "xstate_bv", "xcomp_bv (host save)": "xcomp_bv",
    fcw: "fctrl", fsw: "fstat", ftw: "ftag", fip: "fioff", fdp: "fooff",
  };
  return alias[n] ?? n;
}

/** User text → a value for `reg`: a number, a float for st0–st7, or a full-width hex number for wide registers. */
function parseValueFor(t: DebugTarget, reg: string, text: string): RegValue {
  const cur = t.readReg(reg);
  if (cur === undefined) throw new Error(`no register '${reg}' on this CPU model`);
  if (typeof cur === "bigint") return BigInt.asUintN(64, parseNumber(text));
  if (/^st[0-7]$/.test(reg)) {
    const s = text.trim();
    if (/^0x[0-9a-f]+$/i.test(s) && s.length > 18) return bigToLe(BigInt(s), 10);
    const f = Number(s);
    if (Number.isNaN(f) && !/^nan$/i.test(s)) throw new Error(`'${text}' is not a number`);
    return toF80(f);
  }
  const v = parseNumber(text);
  if (v < 0n || leToBig(new Uint8Array(cur.length).fill(0xff)) < v) throw new Error(`${text} does not fit ${reg} (${cur.length * 8} bits)`);
  return bigToLe(v, cur.length);
}

function tilecfgSummary(c: Uint8Array): string {
  if (c[0] === 0) return "palette 0 (tiles not configured)";
  const dv = new DataView(c.buffer, c.byteOffset, 64);
  const used: string[] = [];
  for (let i = 0; i < 8; i++) if (c[48 + i]) used.push(`tmm${i} ${c[48 + i]}×${dv.getUint16(16 + 2 * i, true)}`);
  return `palette ${c[0]}, start_row ${c[1]}${used.length ? ": " + used.join(", ") : ""}`;
}
