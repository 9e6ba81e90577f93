// DebugTarget over the shared debug engine (hypervisor/debug/engine.ts).
// The engine speaks registers, breakpoints, exception stops and re-execution;
// this file adds what only the DAP front end wants: the launch's instruction
// limit (maxInsns → exit status 124), VM-exit filters that present the end
// of the guest (HLT, shutdown, host oops) as a stop first, segment details
// beyond the selector (read with KVM_GET_SREGS), and register-name aliases.
import { DebugEngine, type Stop as EngineStop } from "../engine";
import { HOST_OOPS_STATUS } from "../../vmm/machine";
import type { MachineSpec } from "../../vmm/setup";
import type { KvmSegment } from "../../uapi/structs";
import { codeLocation } from "../guestmem";
import type { Breakpoint, DebugTarget, HostFpstateView, RegValue, Stop, StopFilters } from "./target";

const SEG_KEY: Record<string, "cs" | "ds" | "es" | "fs" | "gs" | "ss" | "tr" | "ldt"> = { cs: "cs", ds: "ds", es: "es", fs: "fs", gs: "gs", ss: "ss", tr: "tr", ldt: "ldt", ldtr: "ldt" };
const ALIASES: Record<string, string> = { ldt: "ldtr", kernel_gs_base: "k_gs_base", "gdtr.base": "gdtr_base", "idtr.base": "idtr_base", eflags: "rflags" };
// end-of-guest exits and their statuses (CLI contract)
const END_STATUS: Record<string, number> = { hlt: 0, shutdown: 2, "host-oops": HOST_OOPS_STATUS, "internal-error": 4 };

export class EngineTarget implements DebugTarget {
  readonly eng: DebugEngine;
  private filters: StopFilters = { vectors: [], vmExits: [], hostOops: true };
  /** an end-of-guest stop already shown as a stop (filter): the next run reports the exit */
  private shownEnd = false;
  readonly canReverse = true;

  constructor(spec: MachineSpec, private readonly maxInsns: number, output: (b: Uint8Array) => void) {
    this.eng = new DebugEngine(spec, { output });
  }

  get insns(): number { return this.eng.insns; }
  get finished(): Stop | null { const s = this.eng.lastStop; return s.live ? null : this.exitOf(s); }

  // ---- execution ----

  private exitOf(s: EngineStop): Stop {
    const kind = s.exit?.kind ?? (s.reason === "host-oops" ? "host-oops" : "exit");
    return { kind: "exited", exit: kind, status: s.exit?.status ?? END_STATUS[kind] ?? 4, text: s.oops ?? s.text };
  }

  /** Engine stop → session stop; the end of the guest is shown as a stop first when a filter asks for it. */
  private convert(s: EngineStop): Stop {
    if (!s.live) {
      const kind = s.exit?.kind ?? s.reason;
      const show = !this.shownEnd && (kind === "host-oops" ? this.filters.hostOops : this.filters.vmExits.includes(kind));
      if (!show) return this.exitOf(s);
      this.shownEnd = true;
      return kind === "host-oops" ? { kind: "host-oops", text: s.oops ?? s.text } : { kind: "vmexit", exit: kind, text: s.text.replace(/^VM exit: /, "") };
    }
    this.shownEnd = false;
    switch (s.reason) {
      case "exception": {
        const cr2 = s.vector === 14 ? (this.eng.readRegister("cr2") as bigint) : undefined;
        return { kind: "exception", vector: s.vector, errorCode: s.errorCode, cr2 };
      }
      case "vmexit": return { kind: "vmexit", exit: s.exit?.kind, port: s.exit?.port, text: s.text.replace(/^VM exit: /, "") };
      case "history-start": return { kind: "step", text: "at the start of the recorded history" };
      case "budget":
        return this.insns >= this.maxInsns ? { kind: "exited", exit: "budget", status: 124, text: `instruction budget of ${this.maxInsns} used up` } : { kind: "budget" };
      default: return { kind: s.reason as Stop["kind"] };
    }
  }

  private overBudget(): Stop | null {
    return this.insns >= this.maxInsns ? { kind: "exited", exit: "budget", status: 124, text: `instruction budget of ${this.maxInsns} used up` } : null;
  }

  step(): Stop { return this.overBudget() ?? this.convert(this.eng.stepInstruction()); }
  async cont(): Promise<Stop> {
    for (;;) {
      const over = this.overBudget();
      if (over) return over;
      const s = await this.eng.continue(this.maxInsns - this.insns);
      // engine 4baf01e: leaving a breakpoint on an IN/OUT reports the IO exit even when no IO stop
      // is set (ENGINE_REQUESTS.md A); that is no stop for us: go on
      if (s.reason === "vmexit" && s.live && s.exit?.kind === "io" && !this.filters.vmExits.includes("io")) continue;
      return this.convert(s);
    }
  }
  pause(): void { this.eng.pause(); }
  stepBack(): Stop { return this.convert(this.eng.stepBack()); }
  reverseCont(): Stop {
    const s = this.eng.reverseContinue();
    return s.reason === "history-start" ? { kind: "entry", text: "reached the start of the recorded history" } : this.convert(s);
  }

  setBreakpoints(bps: Breakpoint[]): void {
    this.eng.clearBreakpoints();
    for (const b of bps) this.eng.addBreakpoint(b.physical ? "physical" : "linear", b.addr);
  }
  setFilters(f: StopFilters): void {
    this.filters = { vectors: [...f.vectors], vmExits: [...f.vmExits], hostOops: f.hostOops };
    this.eng.setExceptionStops(f.vectors);
    this.eng.setIoStops(f.vmExits.includes("io") ? "all" : []);
  }

  // ---- state ----

  readReg(name: string): RegValue | undefined {
    const n = name.toLowerCase();
    const seg = /^(cs|ds|es|fs|gs|ss|tr|ldtr?)\.(selector|base|limit|attr|type|dpl|present|db|l|g|s|avl|unusable)$/.exec(n);
    if (seg) {
      const sg = this.eng.machine.vcpu.getSregs()[SEG_KEY[seg[1]]] as KvmSegment;
      if (seg[2] === "attr") return BigInt(sg.type | (sg.s << 4) | (sg.dpl << 5) | (sg.present << 7) | (sg.avl << 12) | (sg.l << 13) | (sg.db << 14) | (sg.g << 15) | (sg.unusable << 16));
      return BigInt((sg as unknown as Record<string, number | bigint>)[seg[2]]);
    }
    if (n === "gdtr.limit" || n === "idtr.limit") return BigInt(this.eng.machine.vcpu.getSregs()[n === "gdtr.limit" ? "gdt" : "idt"].limit);
    if (n === "apic_base") return this.eng.machine.vcpu.getSregs().apic_base;
    return this.eng.readRegister(ALIASES[n] ?? n) ?? undefined;
  }

  hasReg(name: string): boolean { return this.readReg(name) !== undefined; }

  writeReg(name: string, value: RegValue): void {
    const n = ALIASES[name.toLowerCase()] ?? name.toLowerCase();
    if (/\.(base|limit|attr|type|dpl|present|db|l|g|s|avl|unusable)$/.test(n)) throw new Error(`${name} is read-only here (set the selector, fs_base or gs_base)`);
    if (this.readReg(n) === undefined) throw new Error(`no register '${name}' on this CPU model`);
    if (!this.eng.writeRegister(n, value)) throw new Error(`the host kernel refused the new ${name} (KVM_SET_* ioctl failed)`);
  }

  readMemory(addr: bigint, len: number, physical: boolean): Uint8Array {
    if (physical && addr > 0xffffffffffffn) return new Uint8Array(0);
    return this.eng.readMemory(BigInt.asUintN(64, addr), len, physical ? "physical" : "linear");
  }
  writeMemory(addr: bigint, bytes: Uint8Array, physical: boolean): number {
    if (physical && addr > 0xffffffffffffn) return 0;
    return this.eng.writeMemory(BigInt.asUintN(64, addr), bytes, physical ? "physical" : "linear");
  }
  translate(lin: bigint): bigint | null { return this.eng.linearToPhysical(lin); }
  codeLocation() { return codeLocation(this.eng.machine.cpu); }

  hostFpstate(): HostFpstateView {
    const h = this.eng.hostView();
    const out: HostFpstateView = { kernel: `${h.kernel.version} (${h.kernel.id})`, model: h.model };
    if (h.fpstate) {
      const f = h.fpstate;
      Object.assign(out, {
        xfeatures: f.xfeatures, user_xfeatures: f.user_xfeatures, xfd: f.xfd, saved_xstate_bv: f.xstate_bv, saved_xcomp_bv: f.xcomp_bv,
        size: f.size, user_size: f.user_size, is_guest: f.is_guest, in_use: f.in_use,
      });
    }
    if (h.events.length) out.host_events = h.events.map((e) => `${e.kind}@${e.insns}${e.port !== undefined ? ` port 0x${e.port.toString(16)}` : ""}: ${e.calls.join(" → ")}${e.oops ? ` (oops in ${e.oops})` : ""}`).join("; ");
    if (h.oops) out.oops = h.oops.split("\n").find((l) => /WARNING|BUG|Oops/.test(l)) ?? h.oops.split("\n")[0];
    return out;
  }

  dispose(): void { this.eng.dispose(); }
}
