// Can this destination take this snapshot? Checked before anything on the destination is touched
// (a refused stream changes nothing). Like QEMU's `-cpu …,enforce`: a guest CPUID feature the
// destination host cannot provide is a refusal naming the features, not a silent downgrade.
import type { Machine } from "../machine";
import type { VmSnapshot } from "./snapshot";
import { FEATURE_BITS, type Model } from "../../models/models";
import type { CpuidEntry } from "../../models/cpuid";
import { KVM_MEM_READONLY } from "../../uapi/consts";
import { describeBits, hex } from "./xsave_header";

/** A refused snapshot or stream: the message says why; nothing was changed. */
export class StreamError extends Error {
  constructor(message: string, readonly kind: "format" | "checksum" | "truncated" | "version" | "incompatible" = "format") { super(message); }
}

// features KVM offers every guest whatever the host (x2APIC and the TSC deadline timer are
// emulated, the hypervisor bit is KVM's own)
const KVM_EMULATED = new Set(["x2apic", "tsc_deadline", "hypervisor"]);

const MiB = 1 << 20;
const size = (n: number) => (n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`);

function cpuidHas(t: CpuidEntry[], f: string): boolean {
  const [fn, idx, reg, bit] = FEATURE_BITS[f];
  const e = t.find((x) => x.fn === fn && (x.idx === idx || !(x.flags & 1)));
  return !!e && ((e[reg] >>> bit) & 1) === 1;
}

/** guest CPUID features the host model lacks (QEMU's enforce list), in FEATURE_BITS order */
export function missingFeatures(cpuid: CpuidEntry[], host: Model): string[] {
  const have = new Set(host.features);
  return Object.keys(FEATURE_BITS).filter((f) => cpuidHas(cpuid, f) && !have.has(f) && !KVM_EMULATED.has(f));
}

/** XSAVE components the guest CPUID enumerates (leaf 0xD.0 EDX:EAX) that the host's XCR0 lacks */
export function missingXfeatures(cpuid: CpuidEntry[], host: Model): bigint {
  const d0 = cpuid.find((e) => e.fn === 0xd && e.idx === 0);
  const xcr0 = d0 ? (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0) : 0n;
  return xcr0 & ~host.xcr0;
}

/**
 * Every reason `m` cannot take `s` (empty: compatible): a different amount of guest RAM, RAM
 * slots outside it, more vCPUs than the Machine has, a guest CPUID other than the destination's
 * (the Machine was built with another table), or guest CPUID features / XSAVE components the
 * destination host model lacks.
 */
export function incompatibilities(m: Machine, s: VmSnapshot): string[] {
  const why: string[] = [];
  if (s.memorySize !== m.ramSize) why.push(`destination has ${size(m.ramSize)} of guest RAM, the stream ${size(s.memorySize)}`);
  for (const sl of s.slots) {
    const end = sl.gpa + BigInt(sl.data.length);
    if (!(sl.flags & KVM_MEM_READONLY) && end > BigInt(m.ramSize)) why.push(`RAM slot ${sl.slot} (${hex(sl.gpa)}+${size(sl.data.length)}) is outside the destination's RAM`);
  }
  if (s.vcpus.length !== 1) why.push(`the stream has ${s.vcpus.length} vCPUs, the destination 1`);
  const miss = missingFeatures(s.cpuid, m.model);
  if (miss.length) why.push(`guest CPUID needs ${miss.join(", ")}, which host ${m.model.name} lacks`);
  const xmiss = missingXfeatures(s.cpuid, m.model);
  if (xmiss) why.push(`guest CPUID enumerates XSAVE ${describeBits(xmiss)}, which host ${m.model.name} lacks`);
  if (!sameCpuid(s.cpuid, m.cpuid)) why.push("the destination vCPU was given a different guest CPUID than the stream's");
  return why;
}

function sameCpuid(a: CpuidEntry[], b: CpuidEntry[]): boolean {
  if (a.length !== b.length) return false;
  const k = (e: CpuidEntry) => `${e.fn}.${e.idx}.${e.flags}.${e.eax >>> 0}.${e.ebx >>> 0}.${e.ecx >>> 0}.${e.edx >>> 0}`;
  const sb = new Set(b.map(k));
  return a.every((e) => sb.has(k(e)));
}

/** Throw StreamError("incompatible …") listing every reason, if any. */
export function checkCompatible(m: Machine, s: VmSnapshot): void {
  const why = incompatibilities(m, s);
  if (why.length) throw new StreamError(`incompatible destination: ${why.join("; ")}`, "incompatible");
}
