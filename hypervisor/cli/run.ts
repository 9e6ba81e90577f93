// `x86kvm run`: load one image, run it headless, report how it ended.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { type RunResult } from "../vmm/machine";
import { createMachine, type MachineSpec } from "../vmm/setup";
import { detectKind, ImageError, type ImageKind } from "../vmm/loader";
import { getModel, type Model } from "../models/models";
import { getKernel, DEFAULT_KERNEL, type KernelBehaviour } from "../kernels";
import { parseSize, parseCount, parseCpu, parseHostEvent, UsageError } from "./options";
import { stateJson, hex } from "./dump";
import { runTraced } from "./trace";
import { Disassembler } from "../debug/disasm";

export interface RunOptions {
  image?: string;
  bios?: string;
  memory?: string;
  maxInsns?: string;
  host?: string;
  cpu?: string;
  kernel?: string;
  dumpState?: string;
  trace?: boolean;
  json?: boolean;
  /** --host-event, repeatable: KIND[@WHERE] (options.ts parseHostEvent) */
  hostEvents?: string[];
}

export interface Io {
  stdout: (s: string | Uint8Array) => void;
  stderr: (s: string | Uint8Array) => void;
}

export const DEFAULT_HOST = "sapphire-rapids";

/** A run command line, validated and read: what to build (createMachine) and how to run it. */
export interface ResolvedRun {
  spec: MachineSpec;
  path: string;
  maxInsns: number;
  model: Model;
  kernel: KernelBehaviour;
}

/**
 * Validate the options of `run` (also a DAP launch's, which takes the same ones) and read the
 * image. Throws UsageError / ImageError with one-line messages; touches nothing else.
 */
export function resolveRun(o: RunOptions): ResolvedRun {
  if (o.image && o.bios) throw new UsageError("give either IMAGE or --bios ROM, not both");
  const path = o.bios ?? o.image;
  if (!path) throw new UsageError("run: missing IMAGE (or --bios ROM)");

  // validate every option before touching the image
  let model;
  try { model = getModel(o.host ?? DEFAULT_HOST); } catch (e) { throw new UsageError(`--host: ${(e as Error).message}`); }
  const cpu = parseCpu(o.cpu ?? "host", model);
  let kernel;
  try { kernel = getKernel(o.kernel ?? DEFAULT_KERNEL); } catch (e) { throw new UsageError(`--kernel: ${(e as Error).message}`); }
  const memory = o.memory !== undefined ? parseSize(o.memory) : undefined;
  const maxInsns = o.maxInsns !== undefined ? parseCount("--max-insns", o.maxInsns) : Infinity;
  const hostEvents = (o.hostEvents ?? []).map(parseHostEvent);

  let bytes: Uint8Array;
  try { bytes = new Uint8Array(readFileSync(path)); } catch (e) {
    throw new ImageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const kind: ImageKind = o.bios ? "bios" : detectKind(bytes, path);
  const spec: MachineSpec = { image: bytes, kind, model: model.name, kernel: kernel.version, memory, cpuEdits: { add: cpu.add, remove: cpu.remove }, hostEvents };
  return { spec, path, maxInsns, model, kernel };
}

/** Runs the command; returns the process exit status. Throws UsageError / ImageError. */
export function runCommand(o: RunOptions, io: Io): number {
  const { spec, path, maxInsns, model, kernel } = resolveRun(o);
  const kind = spec.kind;

  // stdout carries exactly one JSON document with --json or --dump-state -: the guest console moves to stderr
  const jsonOut = o.json || o.dumpState === "-";
  const console_ = { write: (b: Uint8Array) => (jsonOut ? io.stderr : io.stdout)(b) };
  const m = createMachine(spec, console_);

  // open the dump file before the run, so a bad path fails now rather than after a long run
  let dumpFd: number | undefined;
  if (o.dumpState !== undefined && o.dumpState !== "-") {
    try { dumpFd = openSync(o.dumpState, "w"); } catch (e) {
      throw new UsageError(`--dump-state: cannot write ${o.dumpState}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  const t0 = performance.now();
  let r: RunResult;
  if (o.trace) {
    const dis = Disassembler.load();
    try { r = runTraced(m, maxInsns, dis, (line) => io.stderr(line + "\n")); } finally { dis.free(); }
  } else {
    r = m.run(maxInsns);
  }
  const wallMs = performance.now() - t0;

  const state = o.dumpState !== undefined ? stateJson(m, r, kernel) : undefined;
  if (state && dumpFd !== undefined) { writeSync(dumpFd, JSON.stringify(state, null, 2) + "\n"); closeSync(dumpFd); }
  if (o.json) {
    const summary = {
      image: basename(path), kind, exit: r.exit, status: r.status, insns: r.insns, ...(r.message ? { message: r.message } : {}),
      wallMs: Math.round(wallMs * 1000) / 1000, mips: wallMs > 0 ? Math.round((r.insns / wallMs / 1000) * 1000) / 1000 : null,
      rip: hex(m.cpu.rip), host: model.name,
      cpu: o.cpu ?? "host", kernel: { version: kernel.version, id: kernel.id, modelled: true },
      memory: m.ramSize, console: Buffer.from(m.devices.captured).toString("latin1"),
      hostEvents: m.host.events.map((e) => ({ kind: e.kind, exitReason: e.exitReason, port: e.port, msr: e.msr, insns: e.insns, calls: e.calls, oops: e.oops })),
      ...(o.dumpState === "-" ? { state } : {}),
    };
    io.stdout(JSON.stringify(summary) + "\n");
  } else if (state && o.dumpState === "-") {
    io.stdout(JSON.stringify(state, null, 2) + "\n");
  }
  // the host kernel's oops block (dmesg), as the console of the crashed host would show it
  if (r.exit === "host-oops" && m.host.oops) io.stderr(m.host.oops.text + "\n");
  if (!o.json && r.message) io.stderr(`x86kvm: ${r.message}\n`);
  if (!o.json && (r.exit === "shutdown" || r.exit === "internal-error" || r.exit === "budget")) {
    const why = r.exit === "budget" ? `instruction budget of ${maxInsns} used up` : r.exit === "shutdown" ? "triple fault (shutdown)" : "internal error";
    const cap = m.devices.captured, nl = cap.length && cap[cap.length - 1] !== 10 ? "\n" : "";
    io.stderr(`${nl}x86kvm: ${why} at rip=${hex(m.cpu.rip)} after ${r.insns} instructions\n`);
  }
  return r.status;
}
