// `x86kvm migrate IMAGE --from HOST:KERNEL --to HOST:KERNEL [--vmm strict|qemu] [--at-sync N]`
// and `x86kvm run … --save FILE` / `x86kvm run --restore FILE`: the CLI face of
// hypervisor/vmm/migration.
import { readFileSync, writeFileSync, renameSync, existsSync } from "node:fs";
import { basename } from "node:path";
import { Machine, type RunResult } from "../vmm/machine";
import { detectKind, ImageError, type ImageKind } from "../vmm/loader";
import { getModel } from "../models/models";
import { getKernel, DEFAULT_KERNEL } from "../kernels";
import { parseSize, parseCount, parseCpu, featureName, UsageError } from "./options";
import {
  migrate, parseEndpoint, runToSync, vmmSave, vmmRestore, encodeStream, decodeStream, streamInfo,
  MigrationError, StreamError, VMM_PERSONALITIES, RESTORE_ORDER,
  type MigrationReport, type VmmPersonality, type GuestCpu, type RestoreReport,
} from "../vmm/migration";
import { hex } from "./dump";
import type { Io } from "./run";

/** Exit status of a migration (or --restore) the VMM refused: the restore ioctl failed under `strict`,
 * the destination cannot host the guest, or the stream is unusable after transfer (`migrate`). Even. */
export const MIGRATION_REFUSED_STATUS = 12;
/** Exit status of `run --restore` when the stream file is corrupt, truncated, of another version or
 * incompatible: the usage/bad-input status; the file is left as it is. */
export const BAD_STREAM_STATUS = 2;

function vmmOf(s: string | undefined): VmmPersonality {
  const v = s ?? "strict";
  if (!(VMM_PERSONALITIES as readonly string[]).includes(v)) throw new UsageError(`--vmm: expected strict or qemu, got '${v}'`);
  return v as VmmPersonality;
}

function readImage(path: string): { bytes: Uint8Array; kind: ImageKind } {
  let bytes: Uint8Array;
  try { bytes = new Uint8Array(readFileSync(path)); } catch (e) {
    throw new ImageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return { bytes, kind: detectKind(bytes, path) };
}

/** --cpu for migrate: host|baseline|MODEL[,+f,-f]: 'host' = the --from model, 'baseline' = both hosts' common features */
function guestCpuOf(spec: string | undefined): GuestCpu {
  if (spec === undefined) return {};
  const [first, ...rest] = spec.split(",");
  let base = first.trim();
  if (base !== "host" && base !== "baseline") {
    try { base = getModel(base).name; } catch { throw new UsageError(`--cpu: expected host, baseline or a model name, got '${base}'`); }
  }
  const edits = parseCpu(["host", ...rest].join(","), getModel("sapphire-rapids"));
  for (const f of [...edits.add, ...edits.remove]) if (!featureName(f)) throw new UsageError(`--cpu: unknown feature '${f}'`);
  return { base, add: edits.add, remove: edits.remove };
}

const errText = (r: { result: number; errno?: string }) => (r.errno ? `-${r.errno}` : String(r.result));
const pad = (s: string, n: number) => s.padEnd(n);

function restoreLines(rr: RestoreReport): string[] {
  const out = [`restore (${rr.vmm} VMM, QEMU order):`];
  for (const st of rr.steps) {
    const fp = st.fpstate ? `  fpstate XSTATE_BV ${hex(st.fpstate.xstateBv)}` : "";
    out.push(`  ${pad(st.ioctl, 20)} ${pad(st.ok ? String(st.result) : errText(st), 8)}${st.ok ? fp : `  ${st.detail ?? ""}`}`);
  }
  for (const s of rr.skipped) out.push(`  ${pad(s, 20)} skipped`);
  return out;
}

function reportText(r: MigrationReport): string {
  const L: string[] = [];
  L.push(`migrate: ${r.from} -> ${r.to}, vmm ${r.vmm}, at GUEST_SYNC ${r.atSync}`);
  L.push(`source: ${r.source.run.exit} after ${r.source.run.insns} instructions`);
  if (r.source.save.length) L.push(`save: ${r.source.save.map((x) => `${x.name} ${errText(x)}`).join(", ")}`);
  if (r.stream) L.push(`stream: ${r.stream.bytes} bytes (${r.stream.sections.map((s) => `${s.tag} ${s.length}`).join(", ")})`);
  if (r.restore) L.push(...restoreLines(r.restore));
  const x = r.xsave.map((s) => `  ${pad(s.where, 12)} ${pad(s.step, 44)} XSTATE_BV ${s.xstateBv}  XCOMP_BV ${s.xcompBv}`);
  if (x.length) L.push("XSAVE header at each step:", ...x);
  if (r.destination?.run) L.push(`destination: ${r.destination.run.exit} after ${r.destination.run.insns} instructions`);
  if (r.source.resumed) L.push(`source resumed after the refused migration: ${r.source.resumed.exit} after ${r.source.resumed.insns} instructions`);
  L.push(`outcome: ${r.outcome}`, `detail: ${r.detail}`);
  if (r.source.console) L.push("guest console (source):", r.source.console.replace(/\n$/, ""));
  if (r.destination?.console) L.push("guest console (destination):", r.destination.console.replace(/\n$/, ""));
  return L.join("\n") + "\n";
}

const json = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === "bigint" ? "0x" + v.toString(16) : v instanceof Uint8Array ? undefined : v));

export interface MigrateCliOptions {
  image?: string; from?: string; to?: string; vmm?: string; atSync?: string; cpu?: string; memory?: string; maxInsns?: string; json?: boolean;
}

/** `x86kvm migrate`: exit status = the destination guest's when it ran, else MIGRATION_REFUSED_STATUS (12), or the source's if it stopped first. */
export function migrateCommand(o: MigrateCliOptions, io: Io): number {
  if (!o.image) throw new UsageError("migrate: missing IMAGE");
  if (!o.from || !o.to) throw new UsageError("migrate: --from HOST:KERNEL and --to HOST:KERNEL are required");
  let from, to;
  try { from = parseEndpoint(o.from); } catch (e) { throw new UsageError(`--from: ${(e as Error).message}`); }
  try { to = parseEndpoint(o.to); } catch (e) { throw new UsageError(`--to: ${(e as Error).message}`); }
  const vmm = vmmOf(o.vmm);
  const atSync = o.atSync !== undefined ? parseCount("--at-sync", o.atSync) : 1;
  const memory = o.memory !== undefined ? parseSize(o.memory) : undefined;
  const maxInsns = o.maxInsns !== undefined ? parseCount("--max-insns", o.maxInsns) : undefined;
  const cpu = guestCpuOf(o.cpu);
  const { bytes, kind } = readImage(o.image);
  const r = migrate({ image: bytes, kind, from, to, vmm, atSync, cpu, memory, maxInsns, console: { write: () => {} } });
  if (o.json) io.stdout(json({ image: basename(o.image), ...r }) + "\n");
  else io.stdout(reportText(r));
  if (r.outcome.startsWith("migration-refused")) return MIGRATION_REFUSED_STATUS;
  if (r.destination?.run) return r.destination.run.status;
  return r.source.run.status;
}

export interface SaveRestoreOptions {
  image?: string; bios?: string; save?: string; restore?: string; atSync?: string; host?: string; kernel?: string; cpu?: string;
  memory?: string; maxInsns?: string; vmm?: string; json?: boolean;
}

/**
 * `run IMAGE --save FILE [--at-sync N]`: run to the Nth GUEST_SYNC (without --at-sync: to the
 * end), then VMM-save and write the stream (to FILE.tmp, renamed over FILE when complete).
 */
export function runSaveCommand(o: SaveRestoreOptions, io: Io): number {
  const path = o.bios ?? o.image;
  if (!path) throw new UsageError("run: missing IMAGE (or --bios ROM)");
  if (o.image && o.bios) throw new UsageError("give either IMAGE or --bios ROM, not both");
  if (o.vmm !== undefined) throw new UsageError("--vmm belongs to --restore");
  let model;
  try { model = getModel(o.host ?? "sapphire-rapids"); } catch (e) { throw new UsageError(`--host: ${(e as Error).message}`); }
  let kernel;
  try { kernel = getKernel(o.kernel ?? DEFAULT_KERNEL); } catch (e) { throw new UsageError(`--kernel: ${(e as Error).message}`); }
  const cpu = parseCpu(o.cpu ?? "host", model);
  const memory = o.memory !== undefined ? parseSize(o.memory) : undefined;
  const max = o.maxInsns !== undefined ? parseCount("--max-insns", o.maxInsns) : Infinity;
  const atSync = o.atSync !== undefined ? parseCount("--at-sync", o.atSync) : undefined;
  const img = readImage(path);
  const kind = o.bios ? "bios" : img.kind;
  const console_ = { write: (b: Uint8Array) => (o.json ? io.stderr : io.stdout)(b) };
  const m = new Machine({ model: model.name, kernel: kernel.version, memory, cpuEdits: { add: cpu.add, remove: cpu.remove }, console: console_ });
  m.load(kind, img.bytes);
  const r: RunResult = atSync !== undefined ? runToSync(m, atSync, max) : m.run(max);
  if (atSync !== undefined && r.exit !== "sync") {
    io.stderr(`x86kvm: the guest stopped (${r.exit}) before GUEST_SYNC ${atSync}; nothing saved\n`);
    return r.status || 2;
  }
  if (r.exit === "host-oops") { io.stderr(`x86kvm: host oops: nothing saved\n${m.host.oops?.text ?? ""}\n`); return r.status; }
  const t0 = performance.now();
  const stream = encodeStream(vmmSave(m));
  const ms = performance.now() - t0;
  const tmp = `${o.save}.tmp`;
  try { writeFileSync(tmp, stream); renameSync(tmp, o.save!); } catch (e) {
    throw new UsageError(`--save: cannot write ${o.save}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const info = { saved: o.save, bytes: stream.length, saveMs: Math.round(ms * 10) / 10, exit: r.exit, insns: r.insns, syncs: m.syncs, host: model.name, kernel: kernel.version };
  if (o.json) io.stdout(json(info) + "\n");
  else io.stderr(`x86kvm: saved ${stream.length} bytes to ${o.save} at ${r.exit === "sync" ? `GUEST_SYNC ${m.syncs}` : r.exit} after ${r.insns} instructions\n`);
  return 0;
}

/**
 * `run --restore FILE [--host M] [--kernel K] [--vmm strict|qemu]`: rebuild the machine from the
 * stream (host and kernel default to the stream's source; guest CPUID and memory from it), restore,
 * run to the end. A stream that does not decode or does not fit the host: one line on stderr,
 * status 2, the file untouched. A strict restore ioctl failure: status 12.
 */
export function runRestoreCommand(o: SaveRestoreOptions, io: Io): number {
  const file = o.restore!;
  if (o.image || o.bios) throw new UsageError("--restore FILE takes no IMAGE: the stream holds the guest");
  if (o.cpu !== undefined || o.memory !== undefined || o.atSync !== undefined) throw new UsageError("--restore: the guest CPUID, memory size and position come from the stream (--cpu, -m and --at-sync do not apply)");
  const vmm = vmmOf(o.vmm);
  const max = o.maxInsns !== undefined ? parseCount("--max-insns", o.maxInsns) : Infinity;
  if (!existsSync(file)) throw new UsageError(`--restore: ${file} does not exist`);
  const bytes = new Uint8Array(readFileSync(file));
  const bad = (msg: string) => { io.stderr(`x86kvm: ${file}: ${msg}\n`); if (o.json) io.stdout(json({ exit: "bad-stream", status: BAD_STREAM_STATUS, error: msg }) + "\n"); return BAD_STREAM_STATUS; };
  let s;
  try { s = decodeStream(bytes); } catch (e) { if (e instanceof StreamError) return bad(e.message); throw e; }
  let model, kernel;
  try { model = getModel(o.host ?? s.source.host); } catch (e) { throw new UsageError(`--host: ${(e as Error).message}`); }
  try { kernel = getKernel(o.kernel ?? s.source.kernel); } catch (e) { throw new UsageError(`--kernel: ${(e as Error).message}`); }
  const console_ = { write: (b: Uint8Array) => (o.json ? io.stderr : io.stdout)(b) };
  let m: Machine;
  try { m = new Machine({ model: model.name, kernel: kernel.version, memory: s.memorySize, cpuid: s.cpuid, console: console_ }); } catch (e) {
    return bad(`the destination vCPU refused the stream's guest CPUID: ${(e as Error).message}`);
  }
  let rr: RestoreReport;
  const t0 = performance.now();
  try { rr = vmmRestore(m, s, vmm); } catch (e) {
    if (e instanceof StreamError) return bad(e.message);
    if (e instanceof MigrationError) {
      io.stderr(`x86kvm: restore refused: ${e.ioctl} -${e.errno ?? "?"}: ${e.detail}\n`);
      if (o.json) io.stdout(json({ exit: "migration-refused", status: MIGRATION_REFUSED_STATUS, ioctl: e.ioctl, errno: e.errno, detail: e.detail, restore: e.report }) + "\n");
      return MIGRATION_REFUSED_STATUS;
    }
    throw e;
  }
  const restoreMs = performance.now() - t0;
  if (rr.failure) io.stderr(`x86kvm: ${rr.failure.ioctl} failed (${rr.failure.errno ? "-" + rr.failure.errno : rr.failure.result}: ${rr.failure.detail}); the qemu VMM carries on without ${rr.skipped.join(", ")}\n`);
  const r = m.run(max);
  if (o.json) {
    const info = streamInfo(bytes).header;
    io.stdout(json({
      restored: file, source: info.source, host: model.name, kernel: kernel.version, vmm, restoreMs: Math.round(restoreMs * 10) / 10,
      restore: { steps: rr.steps, skipped: rr.skipped, failure: rr.failure, complete: rr.complete },
      exit: r.exit, status: r.status, insns: r.insns, ...(r.message ? { message: r.message } : {}),
      console: Buffer.from(m.devices.captured).toString("latin1"),
    }) + "\n");
  } else if (r.message) io.stderr(`x86kvm: ${r.message}\n`);
  if (r.exit === "host-oops" && m.host.oops) io.stderr(m.host.oops.text + "\n");
  return r.status;
}

export { RESTORE_ORDER };
