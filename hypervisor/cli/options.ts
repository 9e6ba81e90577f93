// Parsers for option values; each throws UsageError with a one-line message.
import { FEATURE_BITS, type Model } from "../models/models";
import { KVM_EXIT } from "../uapi/consts";
import type { HostEventAt, HostEventKind } from "../host";

export class UsageError extends Error {}

const MiB = 1 << 20;
export const MIN_MEMORY = 2 * MiB;
export const MAX_MEMORY = 3072 * MiB;      // guest RAM lives inside one 4 GiB wasm memory

/** "-m" value: bytes, or a number with a K/M/G suffix (QEMU: a bare number means MiB). */
export function parseSize(s: string): number {
  const m = /^(\d+)([KMGkmg]?)(?:i?[Bb])?$/.exec(s.trim());
  if (!m) throw new UsageError(`invalid memory size '${s}' (expected e.g. 128M, 1G, 65536K)`);
  const unit = m[2].toUpperCase();
  const n = Number(m[1]) * (unit === "K" ? 1024 : unit === "G" ? 1024 * MiB : MiB);
  if (n < MIN_MEMORY || n > MAX_MEMORY) throw new UsageError(`memory size ${s} is outside ${MIN_MEMORY / MiB}M..${MAX_MEMORY / MiB}M`);
  if (n % 4096 !== 0) throw new UsageError(`memory size ${s} is not a multiple of 4 KiB`);
  return n;
}

/** A positive instruction count; accepts 1_000_000, 1e6 and 0x… forms. */
export function parseCount(name: string, s: string): number {
  const t = s.replace(/_/g, "");
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^\d+(e\d+)?$/i.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${name}: expected a positive integer, got '${s}'`);
  return n;
}

/**
 * The table's name for a feature, accepting the usual spellings: ours
 * (avx512bf16, sse4_1), Linux /proc/cpuinfo (avx512_bf16) and QEMU
 * (sse4.1, avx512-bf16, amx-tile): separators are not significant.
 */
export function featureName(name: string): string | undefined {
  if (name in FEATURE_BITS) return name;
  const key = name.toLowerCase().replace(/[-._]/g, "");
  return Object.keys(FEATURE_BITS).find((k) => k.replace(/_/g, "") === key);
}

export interface CpuSpec { base: string; add: string[]; remove: string[] }

/**
 * `--cpu host[,-feat,+feat,feat=on|off]`, QEMU style: the guest's CPUID is
 * the --host model's, edited. (Named guest models need the KVM model, where
 * guest CPUID and host CPU differ; until then only "host" is accepted.)
 */
export function parseCpu(spec: string, host: Model): CpuSpec {
  const [first, ...rest] = spec.split(",").map((x) => x.trim());
  if (first !== "host") {
    throw new UsageError(`--cpu: expected 'host[,+feat,-feat…]', got '${first}' (the guest CPU is the --host model; choose it with --host)`);
  }
  const base = host.name;
  const add: string[] = [], remove: string[] = [];
  for (const item of rest) {
    if (item === "") continue;
    let name: string, on: boolean;
    const kv = /^([\w.-]+)=(on|off|true|false)$/.exec(item);
    if (item[0] === "+" || item[0] === "-") { name = item.slice(1); on = item[0] === "+"; }
    else if (kv) { name = kv[1]; on = kv[2] === "on" || kv[2] === "true"; }
    else { name = item; on = true; }
    const known = featureName(name);
    if (!known) throw new UsageError(`--cpu: unknown feature '${name}' (known: ${Object.keys(FEATURE_BITS).join(" ")})`);
    (on ? add : remove).push(known);
  }
  return { base, add, remove };
}

/**
 * --host-event KIND[@WHERE]: a host event (Host.scheduleEvent) for the run's vCPU.
 * KIND irq-fpu | preempt; WHERE next-exit (default) | io:PORT (the next exit for an OUT/IN
 * on PORT) | wrmsr:MSR (the next exit for an intercepted WRMSR of MSR, handled inside KVM_RUN:
 * IA32_XFD 0x1c4 before its first non-zero write) | insns:N (after N more guest instructions).
 */
export function parseHostEvent(s: string): { kind: HostEventKind; at: HostEventAt } {
  const [kind, where = "next-exit", extra] = s.split("@");
  if (extra !== undefined || (kind !== "irq-fpu" && kind !== "preempt")) {
    throw new UsageError(`--host-event: expected irq-fpu|preempt[@next-exit|@io:PORT|@wrmsr:MSR|@insns:N], got '${s}'`);
  }
  if (where === "next-exit") return { kind, at: "next-exit" };
  const m = /^(io|wrmsr|insns):(.+)$/.exec(where);
  if (!m) throw new UsageError(`--host-event: unknown place '${where}' (next-exit, io:PORT, wrmsr:MSR or insns:N)`);
  const n = parseCount(`--host-event ${m[1]}`, m[2]);
  if (m[1] === "io") {
    if (n > 0xffff) throw new UsageError(`--host-event: port ${m[2]} is beyond 0xffff`);
    return { kind, at: { exitReason: KVM_EXIT.IO, port: n } };
  }
  if (m[1] === "wrmsr") {
    if (n > 0xffffffff) throw new UsageError(`--host-event: MSR ${m[2]} is beyond 0xffffffff`);
    return { kind, at: { msrWrite: n } };
  }
  return { kind, at: { afterInsns: n } };
}
