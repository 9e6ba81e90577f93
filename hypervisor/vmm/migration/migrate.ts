// Live migration of one guest between two modelled hosts, end to end:
//   source Machine (from: host model + kernel) runs the image to its Nth GUEST_SYNC →
//   vmmSave → encodeStream → decodeStream → destination Machine (to: host + kernel, the guest
//   CPUID and memory size from the stream) → vmmRestore(vmm) → the destination runs to the end.
// The outcome is one of the words the scenario matrix prints (MigrationOutcome), with a one-line
// detail from the kernel model where it records one.
import { Machine, type RunResult } from "../machine";
import { KvmError } from "../kvm_ioctls";
import { detectKind, type ImageKind } from "../loader";
import type { Console } from "../devices";
import { getModel, buildCpuid, type Model } from "../../models/models";
import { getKernel } from "../../kernels";
import type { CpuidEntry } from "../../models/cpuid";
import { vmmSaveWithHeaders, type VmSnapshot } from "./snapshot";
import { vmmRestore, MigrationError, type VmmPersonality, type RestoreReport } from "./restore";
import { encodeStream, decodeStream, streamInfo, type SectionInfo } from "./stream";
import { StreamError } from "./compat";
import { fpstateHeader, bufferHeader, type XsaveHeader } from "./xsave_header";
import type { IoctlRecord } from "./ioctl_log";

/**
 * `ok` — the guest finished (GUEST_DONE, HLT or isa-debug-exit);
 * `migration-refused: <IOCTL> -<ERRNO>` — a strict VMM's restore ioctl failed (e.g. KVM_SET_XSAVE -EINVAL);
 * `migration-refused: incompatible` / `migration-refused: stream` — refused before any ioctl
 *   (destination cannot host the guest / the stream does not decode);
 * `guest-corruption` — the guest's GUEST_ASSERT fired (it found its state wrong);
 * `guest-crash` — an unhandled exception (UCALL_UNHANDLED), a triple fault, or a VM that cannot run;
 * `host-oops` — the modelled host kernel oopsed (Host.oops).
 */
export type MigrationOutcome = "ok" | "guest-corruption" | "guest-crash" | "host-oops" | `migration-refused: ${string}`;

/** A side of the migration: CPU model name and kernel behaviour ('5.17-rc5' … or b1..b4). */
export interface Endpoint { host: string; kernel: string }

/** "HOST:KERNEL" → Endpoint (validated against the model and kernel tables). */
export function parseEndpoint(s: string): Endpoint {
  const i = s.lastIndexOf(":");
  if (i <= 0 || i === s.length - 1) throw new Error(`expected HOST:KERNEL (e.g. icelake-server:5.17-rc5), got '${s}'`);
  const host = getModel(s.slice(0, i)).name, kernel = getKernel(s.slice(i + 1)).version;
  return { host, kernel };
}
const fmt = (e: Endpoint) => `${e.host}:${e.kernel}`;

/**
 * The guest CPU: `base` 'host' (the source host model's table; default), 'baseline' (the
 * features both hosts have, like libvirt's cpu-baseline: what a guest must be given to migrate
 * between different hosts) or a model name; then features added / removed (QEMU's +f / -f).
 */
export interface GuestCpu { base?: string; add?: string[]; remove?: string[] }

export function guestCpuid(cpu: GuestCpu, from: Model, to: Model): CpuidEntry[] {
  const base = cpu.base ?? "host";
  if (base === "baseline") {
    const common = new Set(to.features);
    return buildCpuid(from, { add: cpu.add, remove: [...from.features.filter((f) => !common.has(f)), ...(cpu.remove ?? [])] });
  }
  return buildCpuid(base === "host" ? from : getModel(base), { add: cpu.add, remove: cpu.remove });
}

export interface MigrateOptions {
  image: Uint8Array;
  /** image kind (default: detected as the CLI does; 'bios' for a ROM) */
  kind?: ImageKind;
  from: Endpoint | string;
  to: Endpoint | string;
  /** default 'strict' */
  vmm?: VmmPersonality;
  /** migrate at the guest's Nth GUEST_SYNC (default 1) */
  atSync?: number;
  cpu?: GuestCpu;
  /** guest RAM bytes (default 128 MiB) */
  memory?: number;
  /** instruction budget for each side's run (default 2e8) */
  maxInsns?: number;
  /** where the guests' consoles go (both are captured in the report as well) */
  console?: Console;
  /** a hook on the stream bytes between encode and decode (tests: corruption in transit) */
  transit?: (stream: Uint8Array) => Uint8Array;
}

/** An XSAVE header at one step of the migration (the HTML report's "header bits at each step"). */
export interface XsaveStep { step: string; where: "source" | "stream" | "destination"; xstateBv: string; xcompBv: string }

export interface MigrationReport {
  outcome: MigrationOutcome;
  /** one line: why */
  detail: string;
  from: string;
  to: string;
  vmm: VmmPersonality;
  atSync: number;
  source: {
    /** the run up to the migration point */
    run: RunResult;
    /** the ioctls of the save */
    save: IoctlRecord[];
    /** after a refused migration the source resumes, as a VMM does: how that run ended */
    resumed?: RunResult;
    console: string;
  };
  stream?: { bytes: number; sections: SectionInfo[] };
  restore?: RestoreReport;
  destination?: { run?: RunResult; console: string };
  xsave: XsaveStep[];
}

const hx = (h: XsaveHeader | undefined) => (h ? { xstateBv: "0x" + h.xstateBv.toString(16), xcompBv: "0x" + h.xcompBv.toString(16) } : undefined);
const DONE_EXITS = new Set(["done", "hlt", "debug-exit"]);

/** How a run ended, as a migration outcome (exit 'sync' is not an end). */
export function classifyRun(r: RunResult, m: Machine): { outcome: MigrationOutcome; detail: string } {
  if (DONE_EXITS.has(r.exit)) return { outcome: "ok", detail: `guest finished (${r.exit}${r.exit === "debug-exit" ? `, status ${r.status}` : ""})` };
  if (r.exit === "guest-assert") return { outcome: "guest-corruption", detail: r.message ?? "GUEST_ASSERT failed" };
  if (r.exit === "host-oops") {
    const o = m.host.oops;
    return { outcome: "host-oops", detail: o ? `host #NM in ${o.rip} via ${o.caller} (XFD 0x${o.xfd.toString(16)}, XSTATE_BV 0x${o.xstate_bv.toString(16)}): WARNING in ${o.warning.function}, ${o.die}` : "host kernel oops" };
  }
  if (r.exit === "guest-exception") return { outcome: "guest-crash", detail: r.message ?? "unhandled guest exception" };
  if (r.exit === "shutdown") return { outcome: "guest-crash", detail: `triple fault (KVM_EXIT_SHUTDOWN) at rip 0x${m.cpu.rip.toString(16)}` };
  if (r.exit === "budget") return { outcome: "guest-crash", detail: `the guest did not finish within its instruction budget (rip 0x${m.cpu.rip.toString(16)})` };
  return { outcome: "guest-crash", detail: r.message ?? `the VM stopped: ${r.exit}` };
}

/** Run until the guest's Nth GUEST_SYNC (counted from the start) or until it stops otherwise. */
export function runToSync(m: Machine, n: number, maxInsns: number): RunResult {
  let insns = 0;
  for (;;) {
    const r = m.run(maxInsns - insns, { stopAtSync: true });
    insns += r.insns;
    if (r.exit !== "sync" || m.syncs >= n) return { ...r, insns };
  }
}

export function migrate(opts: MigrateOptions): MigrationReport {
  const from = typeof opts.from === "string" ? parseEndpoint(opts.from) : opts.from;
  const to = typeof opts.to === "string" ? parseEndpoint(opts.to) : opts.to;
  const vmm = opts.vmm ?? "strict", atSync = opts.atSync ?? 1, max = opts.maxInsns ?? 2e8;
  const kind = opts.kind ?? detectKind(opts.image, "image");
  const cpuid = guestCpuid(opts.cpu ?? {}, getModel(from.host), getModel(to.host));
  const xsave: XsaveStep[] = [];
  const note = (step: string, where: XsaveStep["where"], h: XsaveHeader | undefined) => { const x = hx(h); if (x) xsave.push({ step, where, ...x }); };

  const src = new Machine({ model: from.host, kernel: from.kernel, memory: opts.memory, cpuid, console: opts.console });
  src.load(kind, opts.image);
  const srcRun = runToSync(src, atSync, max);
  const report: MigrationReport = {
    outcome: "ok", detail: "", from: fmt(from), to: fmt(to), vmm, atSync,
    source: { run: srcRun, save: [], console: "" }, xsave,
  };
  const srcConsole = () => Buffer.from(src.devices.captured).toString("latin1");
  const finish = (outcome: MigrationOutcome, detail: string) => {
    report.outcome = outcome; report.detail = detail; report.source.console = srcConsole();
    return report;
  };
  // a refused migration: the source VM carries on, as a VMM resumes it after a failed migration
  const refuse = (outcome: MigrationOutcome, detail: string) => {
    report.source.resumed = src.run(max);
    return finish(outcome, detail);
  };
  if (srcRun.exit !== "sync") {
    const c = classifyRun(srcRun, src);
    return finish(c.outcome, `source stopped before GUEST_SYNC ${atSync}: ${c.detail}`);
  }

  const { snapshot, headers } = vmmSaveWithHeaders(src, { ioctls: report.source.save });
  note("source fpstate at the save", "source", headers.fpstate);
  note(report.source.save.some((r) => r.name === "KVM_GET_XSAVE2") ? "KVM_GET_XSAVE2 buffer" : "KVM_GET_XSAVE buffer", "stream", headers.buffer);
  let bytes = encodeStream(snapshot);
  if (opts.transit) bytes = opts.transit(bytes);
  let s: VmSnapshot;
  try {
    report.stream = { bytes: bytes.length, sections: streamInfo(bytes).sections };
    s = decodeStream(bytes);
  } catch (e) {
    if (e instanceof StreamError) return refuse("migration-refused: stream", e.message);
    throw e;
  }

  let dst: Machine;
  const dstConsole = () => Buffer.from(dst.devices.captured).toString("latin1");
  try {
    dst = new Machine({ model: to.host, kernel: to.kernel, memory: s.memorySize, cpuid: s.cpuid, console: opts.console });
  } catch (e) {
    if (e instanceof KvmError) return refuse(`migration-refused: ${e.op} -${errnoOf(e)}`, `destination vCPU setup failed: ${e.message}`);
    throw e;
  }
  try {
    report.restore = vmmRestore(dst, s, vmm);
  } catch (e) {
    if (e instanceof MigrationError) {
      report.restore = e.report;
      note("destination fpstate before the restore", "destination", e.report.fpstateBefore);
      for (const st of e.report.steps) note(`after ${st.ioctl} (${st.ok ? "ok" : "-" + (st.errno ?? st.result)})`, "destination", st.fpstate);
      report.destination = { console: dstConsole() };
      return refuse(`migration-refused: ${e.ioctl} -${e.errno ?? "E?"}`, `${e.ioctl}: ${e.detail}`);
    }
    if (e instanceof StreamError) return refuse("migration-refused: incompatible", e.message);
    throw e;
  }
  const rr = report.restore;
  note("destination fpstate before the restore", "destination", rr.fpstateBefore);
  for (const st of rr.steps) note(`after ${st.ioctl} (${st.ok ? "ok" : "-" + (st.errno ?? st.result)})`, "destination", st.fpstate);
  const dstRun = dst.run(max);
  note("destination fpstate after the run", "destination", fpstateHeader(dst));
  report.destination = { run: dstRun, console: dstConsole() };
  const c = classifyRun(dstRun, dst);
  const ignored = rr.failure
    ? `${rr.failure.ioctl} failed (-${rr.failure.errno ?? rr.failure.result}: ${rr.failure.detail}); the qemu VMM ignored it and skipped ${rr.skipped.join(", ") || "nothing"}; then `
    : "";
  return finish(c.outcome, ignored + c.detail);
}

function errnoOf(e: KvmError): string { return e.message.split(": ").pop() ?? String(e.errno); }

export { bufferHeader };
