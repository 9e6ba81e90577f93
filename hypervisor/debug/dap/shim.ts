// A DebugTarget over a bare Machine, through the /dev/kvm ABI the way a VMM
// debugs a guest: KVM_RUN with the CPU's debug controls (single step, linear
// breakpoints, an exception bitmap), KVM_GET/SET_REGS, _SREGS, _XSAVE2, _XCRS,
// _MSRS for state, KVM_SET_VCPU_EVENTS to re-inject an intercepted exception.
// It stands in for the shared engine (hypervisor/debug/engine.ts) where that
// is missing. Reverse execution is deterministic re-execution from a fresh
// Machine built from the same options (the factory), replaying the debugger's
// own edits at the instruction counts where they were made.
import type { Machine } from "../../vmm/machine";
import { HOST_OOPS_STATUS } from "../../vmm/machine";
import { KvmError } from "../../vmm/kvm_ioctls";
import type { KvmRegs, KvmSregs, KvmSegment } from "../../uapi/structs";
import { REGS_ORDER } from "../../uapi/structs";
import { EIO } from "../../uapi/consts";
import { codeLocation, linearToPhys, physToHost, readLinear, readPhys } from "../guestmem";
import type { Breakpoint, DebugTarget, HostFpstateView, RegValue, Stop, StopFilters } from "./target";

const MSR = { xfd: 0x1c4, xfd_err: 0x1c5, xss: 0xda0, kernel_gs_base: 0xc0000102, fs_base: 0xc0000100, gs_base: 0xc0000101 } as const;
const SEGS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;
const SREG_U64 = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base"] as const;

interface Snapshot {
  regs: KvmRegs;
  sregs: KvmSregs;
  xsave: Uint8Array;
  xcr0: bigint;
  msrs: Map<number, bigint>;
}

/** XSAVE standard-format layout of the guest CPUID (leaf 0xD): component → [offset, size]. */
type XLayout = Map<number, [number, number]>;

export class ShimTarget implements DebugTarget {
  private m: Machine;
  private snap: Snapshot | null = null;
  private bps: Breakpoint[] = [];
  private filters: StopFilters = { vectors: [], vmExits: [], hostOops: true };
  private pendingExc: { vector: number; hasErr: boolean; err: number } | null = null;
  private edits: { at: number; apply: () => void }[] = [];
  private layout: XLayout;
  private uabiSize: number;
  finished: Stop | null = null;
  readonly canReverse = true;

  /**
   * `make` builds the machine (the launch options, image loaded, host events queued); it is called
   * again for reverse steps, with `quiet(true)` around the re-execution so the guest's console
   * output is not repeated up to the point the user is going back to.
   */
  constructor(private readonly make: () => Machine, private readonly maxInsns = Infinity, private readonly quiet: (on: boolean) => void = () => {}) {
    this.m = make();
    this.layout = new Map();
    for (const e of this.m.vcpu.getCpuid2()) if (e.fn === 0xd && e.idx >= 2 && e.eax) this.layout.set(e.idx, [e.ebx, e.eax]);
    const d0 = this.m.vcpu.getCpuid2().find((e) => e.fn === 0xd && e.idx === 0);
    this.uabiSize = Math.max(4096, d0 ? d0.ecx >>> 0 : 0, this.m.kvm.checkExtension(208 /* KVM_CAP_XSAVE2 */));
  }

  get machine(): Machine { return this.m; }
  get insns(): number { return this.m.cpu.insns; }

  // ---- execution ----

  step(): Stop { return this.run(1, true); }
  cont(budget: number): Stop { return this.run(budget, false); }

  private run(budget: number, single: boolean): Stop {
    const deferred = this.takeDeferred();
    if (deferred) return deferred;
    if (this.finished) return this.finished;
    const m = this.m, c = m.cpu, L = c.L;
    this.snap = null;
    if (this.insns >= this.maxInsns) return this.finish({ kind: "exited", exit: "budget", status: 124, text: `instruction budget of ${this.maxInsns} used up` });
    budget = Math.min(budget, this.maxInsns - this.insns);
    // the CPU's guest-debug controls (what KVM_SET_GUEST_DEBUG programs), plus every filtered vector
    let bitmap = 0;
    for (const v of this.filters.vectors) bitmap |= 1 << v;
    // the CPU's list is linear: a physical breakpoint is taken at the same linear address (right for
    // real mode, unpaged and identity-mapped code; the engine translates properly)
    const lins = this.bps.map((b) => b.addr);
    const n = Math.min(lins.length, 64);
    for (let i = 0; i < n; i++) c.view.setBigUint64(L.SCRATCH + L.BP_LIST + 8 * i, lins[i], true);
    c.setU32(L.S_NBP, n);
    // a breakpoint at the current instruction must not stop the run that leaves it
    c.setU32(L.S_DBG_CTRL, L.DBG_ENABLE | (single ? L.DBG_SINGLESTEP : 0) | (n ? L.DBG_SW_BP | L.DBG_RESUME_BP : 0));
    c.setU32(L.S_EXC_BITMAP, bitmap >>> 0);
    if (this.pendingExc) {
      const ev = m.vcpu.getVcpuEvents();
      ev.exception = { injected: 1, nr: this.pendingExc.vector, has_error_code: this.pendingExc.hasErr ? 1 : 0, pending: 0, error_code: this.pendingExc.err };
      m.vcpu.setVcpuEvents(ev);
      this.pendingExc = null;
    }
    const start = this.insns;
    for (;;) {
      const left = budget - (this.insns - start);
      if (left <= 0 && !single) return { kind: "budget" };
      m.host.kvm.runBudget = Math.max(1, left);
      let e;
      try { e = m.vcpu.run(); } catch (err) {
        if (err instanceof KvmError && err.errno === EIO && m.host.oops) {
          const oops = m.host.oops;
          return this.finish({ kind: "exited", exit: "host-oops", status: HOST_OOPS_STATUS, text: oops.text }, this.filters.hostOops ? { kind: "host-oops", text: oops.text } : undefined);
        }
        throw err;
      }
      switch (e.kind) {
        case "Debug": {
          if (e.exception === 1 && single && c.i32(L.S_PEND_EXC) < 0 && !(bitmap & 2)) return { kind: "step" };
          if (e.exception === 3 && lins.includes(e.pc) && !(bitmap & 8)) return { kind: "breakpoint" };
          if (e.exception === 1 && single) return { kind: "step" };
          // an intercepted exception: RIP at the faulting instruction, not delivered (re-injected on the next run)
          const hasErr = c.u32(L.S_PEND_EXC_HAS_ERR) !== 0, err = c.u32(L.S_PEND_EXC_ERR);
          this.pendingExc = { vector: e.exception, hasErr, err };
          return { kind: "exception", vector: e.exception, errorCode: hasErr ? err : undefined, cr2: e.exception === 14 ? m.vcpu.getSregs().cr2 : undefined };
        }
        case "Intr":
          if (single) return { kind: "step" };
          return { kind: "budget" };
        case "IoOut": case "IoIn": {
          const r = m.handleVcpuExit(e);
          if (r) return this.finish({ kind: "exited", exit: r.exit, status: r.status });
          if (this.filters.vmExits.includes("io")) return { kind: "vmexit", exit: "io", port: e.port, text: `${e.kind === "IoOut" ? "OUT to" : "IN from"} port 0x${e.port.toString(16)}` };
          if (single) return { kind: "step" };
          break;
        }
        case "MmioRead": case "MmioWrite":
          m.handleVcpuExit(e);
          if (this.filters.vmExits.includes("mmio")) return { kind: "vmexit", exit: "mmio", text: `MMIO ${e.kind === "MmioRead" ? "read" : "write"} at 0x${e.addr.toString(16)}` };
          if (single) return { kind: "step" };
          break;
        default: {
          const r = m.handleVcpuExit(e);
          const stop: Stop = r ? { kind: "exited", exit: r.exit, status: r.status } : { kind: "exited", exit: "internal-error", status: 4 };
          const ex = stop.exit ?? "";
          return this.finish(stop, this.filters.vmExits.includes(ex) ? { kind: "vmexit", exit: ex, text: ex === "hlt" ? "HLT" : ex === "shutdown" ? "triple fault (shutdown)" : ex } : undefined);
        }
      }
    }
  }

  /** The guest is done: remember how; report `first` (a filtered stop at the exit) before the exit itself. */
  private finish(stop: Stop, first?: Stop): Stop {
    this.finished = stop;
    if (first) { this.finished = null; this.deferred = stop; return first; }
    return stop;
  }
  private deferred: Stop | null = null;

  // after a filtered stop at the final exit, the next run reports the exit
  private takeDeferred(): Stop | null {
    if (!this.deferred) return null;
    this.finished = this.deferred;
    this.deferred = null;
    return this.finished;
  }

  // ---- reverse execution: replay from a fresh machine ----

  private replayTo(target: number, onStop?: (at: number) => void): void {
    this.quiet(true);
    try { this.replayQuiet(target, onStop); } finally { this.quiet(false); }
  }
  private replayQuiet(target: number, onStop?: (at: number) => void): void {
    this.m = this.make();
    this.snap = null;
    this.finished = null;
    this.deferred = null;
    this.pendingExc = null;
    const edits = this.edits.filter((e) => e.at <= target);
    this.edits = [];
    for (const e of edits) {
      this.runQuiet(e.at, onStop);
      e.apply();
      this.edits.push(e);
    }
    this.runQuiet(target, onStop);
  }

  // run to exactly `target` instructions, noting where breakpoints would have stopped
  private runQuiet(target: number, onStop?: (at: number) => void): void {
    const saved = this.filters;
    this.filters = onStop ? saved : { vectors: [], vmExits: [], hostOops: false };
    const bps = this.bps;
    if (!onStop) this.bps = [];
    try {
      while (this.insns < target && !this.finished) {
        const s = this.run(target - this.insns, false);
        if (s.kind === "breakpoint" || s.kind === "exception") onStop?.(this.insns);
      }
    } finally { this.filters = saved; this.bps = bps; }
  }

  stepBack(): Stop {
    const at = this.insns;
    if (at === 0) return { kind: "step", text: "at the first instruction" };
    this.replayTo(at - 1);
    return { kind: "step" };
  }

  reverseCont(): Stop {
    const at = this.insns;
    let last = -1;
    this.replayTo(at, (n) => { if (n < at) last = n; });
    if (last < 0) { this.replayTo(0); return { kind: "entry", text: "reached the first instruction" }; }
    this.replayTo(last);
    return { kind: "breakpoint" };
  }

  setBreakpoints(bps: Breakpoint[]): void {
    // physical breakpoints: the CPU's list is linear; map through the current page tables
    this.bps = bps.map((b) => b);
  }
  setFilters(f: StopFilters): void { this.filters = { vectors: [...f.vectors], vmExits: [...f.vmExits], hostOops: f.hostOops }; }

  // ---- state ----

  private state(): Snapshot {
    if (this.snap) return this.snap;
    const v = this.m.vcpu;
    const regs = v.getRegs(), sregs = v.getSregs();
    const xsave = v.getXsave2(this.uabiSize).slice(0, this.uabiSize);
    let xcr0 = 1n;
    try { xcr0 = v.getXcrs().xcrs.find((x) => x.xcr === 0)?.value ?? 1n; } catch { /* no XSAVE */ }
    const msrs = new Map<number, bigint>();
    for (const i of Object.values(MSR)) { try { const r = v.getMsrs([i]); if (r.length) msrs.set(i, r[0].data); } catch { /* absent */ } }
    return (this.snap = { regs, sregs, xsave, xcr0, msrs });
  }

  private comp(i: number): [number, number] | undefined { return this.layout.get(i); }
  private bv(): bigint { return new DataView(this.state().xsave.buffer).getBigUint64(512, true); }

  hasReg(name: string): boolean {
    try { return this.readReg(name) !== undefined; } catch { return false; }
  }

  readReg(name: string): RegValue | undefined {
    const s = this.state();
    const x = s.xsave, dv = new DataView(x.buffer, x.byteOffset, x.byteLength);
    const n = name.toLowerCase();
    if (n === "eflags") return s.regs.rflags;
    if ((REGS_ORDER as readonly string[]).includes(n)) return s.regs[n as keyof KvmRegs];
    if ((SREG_U64 as readonly string[]).includes(n)) return s.sregs[n as (typeof SREG_U64)[number]];
    let mm = /^(cs|ds|es|fs|gs|ss|tr|ldt)(?:\.(selector|base|limit|attr|type|dpl|present|db|l|g|s|avl|unusable))?$/.exec(n);
    if (mm) {
      const seg = s.sregs[mm[1] as (typeof SEGS)[number]] as KvmSegment;
      const f = mm[2] ?? "selector";
      if (f === "attr") return BigInt(seg.type | (seg.s << 4) | (seg.dpl << 5) | (seg.present << 7) | (seg.avl << 12) | (seg.l << 13) | (seg.db << 14) | (seg.g << 15) | (seg.unusable << 16));
      return BigInt((seg as unknown as Record<string, number | bigint>)[f]);
    }
    if (n === "fs_base") return s.sregs.fs.base;
    if (n === "gs_base") return s.sregs.gs.base;
    mm = /^(gdtr|idtr)\.(base|limit)$/.exec(n);
    if (mm) { const t = mm[1] === "gdtr" ? s.sregs.gdt : s.sregs.idt; return mm[2] === "base" ? t.base : BigInt(t.limit); }
    if (n === "kernel_gs_base") return s.msrs.get(MSR.kernel_gs_base);
    if (n === "xcr0") return s.xcr0;
    if (n === "xfd" || n === "xfd_err" || n === "xss") return s.msrs.get(MSR[n]);
    if (n === "xstate_bv" || n === "xinuse") return dv.getBigUint64(512, true);
    if (n === "xcomp_bv") return dv.getBigUint64(520, true);
    // legacy area
    if (n === "fctrl" || n === "fcw") return BigInt(dv.getUint16(0, true));
    if (n === "fstat" || n === "fsw") return BigInt(dv.getUint16(2, true));
    if (n === "ftag" || n === "ftw") return BigInt(x[4]);
    if (n === "fop") return BigInt(dv.getUint16(6, true));
    if (n === "fioff" || n === "fip") return dv.getBigUint64(8, true);
    if (n === "fooff" || n === "fdp") return dv.getBigUint64(16, true);
    if (n === "mxcsr") return BigInt(dv.getUint32(24, true));
    mm = /^st([0-7])$/.exec(n);
    if (mm) return x.slice(32 + 16 * +mm[1], 32 + 16 * +mm[1] + 10);
    mm = /^(xmm|ymm|zmm)(\d+)$/.exec(n);
    if (mm) return this.vec(mm[1], +mm[2]);
    mm = /^k([0-7])$/.exec(n);
    if (mm) { const c = this.comp(5); if (!c) return undefined; return (this.bv() & 32n) ? dv.getBigUint64(c[0] + 8 * +mm[1], true) : 0n; }
    if (n === "pkru") { const c = this.comp(9); if (!c) return undefined; return (this.bv() & 0x200n) ? BigInt(dv.getUint32(c[0], true)) : 0n; }
    if (n === "tilecfg") { const c = this.comp(17); if (!c) return undefined; return (this.bv() & (1n << 17n)) ? x.slice(c[0], c[0] + 64) : new Uint8Array(64); }
    mm = /^tmm([0-7])$/.exec(n);
    if (mm) { const c = this.comp(18); if (!c) return undefined; const o = c[0] + 1024 * +mm[1]; return (this.bv() & (1n << 18n)) ? x.slice(o, o + 1024) : new Uint8Array(1024); }
    return undefined;
  }

  private vec(kind: string, i: number): Uint8Array | undefined {
    const width = kind === "xmm" ? 16 : kind === "ymm" ? 32 : 64;
    const x = this.state().xsave, bv = this.bv();
    const out = new Uint8Array(width);
    if (i >= 32 || (i >= 16 && !this.comp(7)) || (width >= 32 && !this.comp(2)) || (width === 64 && !this.comp(6))) return undefined;
    if (i < 16) {
      out.set(x.subarray(160 + 16 * i, 176 + 16 * i), 0);
      const avx = this.comp(2);
      if (width >= 32 && avx && (bv & 4n)) out.set(x.subarray(avx[0] + 16 * i, avx[0] + 16 * i + 16), 16);
      const hi = this.comp(6);
      if (width === 64 && hi && (bv & 64n)) out.set(x.subarray(hi[0] + 32 * i, hi[0] + 32 * i + 32), 32);
    } else {
      const h = this.comp(7)!;
      if (bv & 128n) out.set(x.subarray(h[0] + 64 * (i - 16), h[0] + 64 * (i - 16) + width), 0);
    }
    return out;
  }

  writeReg(name: string, value: RegValue): void {
    const n = name.toLowerCase();
    const cur = this.readReg(n);
    if (cur === undefined) throw new Error(`no register '${name}' on this CPU model`);
    if (typeof cur === "bigint" && typeof value !== "bigint") throw new Error(`${name} takes a number`);
    const apply = () => this.writeNow(n, value);
    apply();
    this.edits.push({ at: this.insns, apply });
  }

  private writeNow(n: string, value: RegValue): void {
    const v = this.m.vcpu, s = this.state();
    this.snap = null;
    const big = typeof value === "bigint" ? BigInt.asUintN(64, value) : 0n;
    if (n === "eflags") n = "rflags";
    if ((REGS_ORDER as readonly string[]).includes(n)) { v.setRegs({ ...s.regs, [n]: big }); return; }
    if ((SREG_U64 as readonly string[]).includes(n)) { v.setSregs({ ...s.sregs, [n]: big }); return; }
    if (n === "fs_base" || n === "gs_base") { const k = n.slice(0, 2) as "fs" | "gs"; v.setSregs({ ...s.sregs, [k]: { ...s.sregs[k], base: big } }); return; }
    const mm = /^(cs|ds|es|fs|gs|ss|tr|ldt)(?:\.(selector|base|limit))?$/.exec(n);
    if (mm) {
      const k = mm[1] as (typeof SEGS)[number], f = mm[2] ?? "selector";
      v.setSregs({ ...s.sregs, [k]: { ...s.sregs[k], [f]: f === "base" ? big : Number(big & 0xffffffffn) } });
      return;
    }
    if (n === "xcr0") {
      const x = v.getXcrs();
      x.xcrs = [{ xcr: 0, value: big }];
      x.nr_xcrs = 1;
      v.setXcrs(x);
      return;
    }
    if (n === "xfd" || n === "xfd_err" || n === "xss" || n === "kernel_gs_base") {
      if (v.setMsrs([{ index: MSR[n], data: big }]) !== 1) throw new Error(`the host kernel refused ${n} = 0x${big.toString(16)} (KVM_SET_MSRS)`);
      return;
    }
    // everything else lives in the XSAVE image: edit it and KVM_SET_XSAVE it back
    const x = s.xsave.slice(), dv = new DataView(x.buffer);
    const setBv = (bit: number) => {
      const bv = dv.getBigUint64(512, true);
      if (!(bv & (1n << BigInt(bit)))) {
        const c = this.comp(bit);
        if (c) x.fill(0, c[0], c[0] + c[1]);
        dv.setBigUint64(512, bv | (1n << BigInt(bit)), true);
      }
    };
    const bytes = (w: number): Uint8Array => {
      if (value instanceof Uint8Array) { const o = new Uint8Array(w); o.set(value.subarray(0, w)); return o; }
      const o = new Uint8Array(w); let t = BigInt.asUintN(w * 8, value);
      for (let i = 0; i < w; i++) { o[i] = Number(t & 0xffn); t >>= 8n; }
      return o;
    };
    let m2: RegExpExecArray | null;
    if (n === "fctrl" || n === "fcw") { setBv(0); dv.setUint16(0, Number(big & 0xffffn), true); }
    else if (n === "fstat" || n === "fsw") { setBv(0); dv.setUint16(2, Number(big & 0xffffn), true); }
    else if (n === "ftag" || n === "ftw") { setBv(0); x[4] = Number(big & 0xffn); }
    else if (n === "fop") { setBv(0); dv.setUint16(6, Number(big & 0x7ffn), true); }
    else if (n === "fioff" || n === "fip") { setBv(0); dv.setBigUint64(8, big, true); }
    else if (n === "fooff" || n === "fdp") { setBv(0); dv.setBigUint64(16, big, true); }
    else if (n === "mxcsr") { setBv(1); dv.setUint32(24, Number(big & 0xffffffffn), true); }
    else if ((m2 = /^st([0-7])$/.exec(n))) { setBv(0); x.set(bytes(10), 32 + 16 * +m2[1]); }
    else if ((m2 = /^(xmm|ymm|zmm)(\d+)$/.exec(n))) {
      const w = m2[1] === "xmm" ? 16 : m2[1] === "ymm" ? 32 : 64, i = +m2[2], b = bytes(w);
      if (i < 16) {
        setBv(1); x.set(b.subarray(0, 16), 160 + 16 * i);
        if (w >= 32) { setBv(2); x.set(b.subarray(16, 32), this.comp(2)![0] + 16 * i); }
        if (w === 64) { setBv(6); x.set(b.subarray(32, 64), this.comp(6)![0] + 32 * i); }
      } else { setBv(7); x.set(b, this.comp(7)![0] + 64 * (i - 16)); }
    } else if ((m2 = /^k([0-7])$/.exec(n))) { setBv(5); dv.setBigUint64(this.comp(5)![0] + 8 * +m2[1], big, true); }
    else if (n === "pkru") { setBv(9); dv.setUint32(this.comp(9)![0], Number(big & 0xffffffffn), true); }
    else if (n === "tilecfg") { setBv(17); x.set(bytes(64), this.comp(17)![0]); }
    else if ((m2 = /^tmm([0-7])$/.exec(n))) { setBv(18); x.set(bytes(1024), this.comp(18)![0] + 1024 * +m2[1]); }
    else if (n === "xstate_bv" || n === "xinuse") dv.setBigUint64(512, big, true);
    else throw new Error(`${n} is read-only here`);
    try { v.setXsave(x); } catch (e) { throw new Error(`the host kernel refused the new ${n} (KVM_SET_XSAVE: ${(e as Error).message})`); }
  }

  // ---- memory ----

  readMemory(addr: bigint, len: number, physical: boolean): Uint8Array {
    const c = this.m.cpu;
    if (physical) return addr > 0xffffffffffffn ? new Uint8Array(0) : readPhys(c, Number(addr), len);
    return readLinear(c, BigInt.asUintN(64, addr), len);
  }

  writeMemory(addr: bigint, bytes: Uint8Array, physical: boolean): number {
    const apply = () => this.writeNowMem(addr, bytes, physical);
    const n = apply();
    if (n) this.edits.push({ at: this.insns, apply });
    return n;
  }
  private writeNowMem(addr: bigint, bytes: Uint8Array, physical: boolean): number {
    const c = this.m.cpu;
    let n = 0;
    while (n < bytes.length) {
      const a = addr + BigInt(n);
      const pa = physical ? a : linearToPhys(c, a);
      if (pa === null || pa > 0xffffffffffffn) break;
      const h = physToHost(c, Number(pa));
      if (!h) break;
      const k = Math.min(bytes.length - n, h.avail, physical ? bytes.length : 4096 - Number(a & 0xfffn));
      c.bytes.set(bytes.subarray(n, n + k), h.host);
      c.ex.code_written(Number(pa), k);
      n += k;
    }
    return n;
  }

  translate(lin: bigint): bigint | null { return linearToPhys(this.m.cpu, lin); }
  codeLocation() { return codeLocation(this.m.cpu); }

  hostFpstate(): HostFpstateView {
    const m = this.m, k = m.host.kernel;
    const out: HostFpstateView = { kernel: `${k.version} (${k.id})` };
    // the kernel model's struct fpu_guest behind the vCPU (kvm/fpu_kernel.ts)
    const vfpu = m.host.kvm.vcpuOf(m.vcpu.fd)?.fpu as unknown as { v?: { guest_fpu?: { fpstate: Record<string, unknown>; xfeatures: bigint; xfd_err: bigint; uabi_size: number } } };
    const g = vfpu?.v?.guest_fpu;
    if (g) {
      const f = g.fpstate as { xfeatures: bigint; user_xfeatures: bigint; xfd: bigint; size: number; user_size: number; in_use: boolean; is_guest: boolean; regs: number };
      out.xfeatures = f.xfeatures;
      out.user_xfeatures = f.user_xfeatures;
      out.xfd = f.xfd;
      out.size = f.size;
      out.user_size = f.user_size;
      out.in_use = f.in_use;
      out.is_guest = f.is_guest;
      if (f.regs) out.saved_xstate_bv = m.cpu.view.getBigUint64(f.regs + 512, true), out.saved_xcomp_bv = m.cpu.view.getBigUint64(f.regs + 520, true);
      out["guest_fpu.xfeatures"] = g.xfeatures;
      out["guest_fpu.xfd_err"] = g.xfd_err;
      out["guest_fpu.uabi_size"] = g.uabi_size;
    }
    const oops = m.host.oops;
    if (oops) out.oops = oops.text.split("\n")[0];
    return out;
  }
}
