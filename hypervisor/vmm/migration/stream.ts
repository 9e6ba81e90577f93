// The migration stream: a VmSnapshot as bytes, versioned, self-describing and checksummed.
//
//   offset  size  field
//   0       8     magic "X86KVMMS"
//   8       2     version (u16 LE), STREAM_VERSION = 1
//   10      2     flags (0)
//   12      4     number of sections that follow, END included (u32 LE)
//   16      …     sections: tag (4 ASCII bytes), payload length (u64 LE), CRC-32 of the payload
//                 (u32 LE), payload
//
//   HEAD  JSON (UTF-8): format, version, writer, source {host, kernel, kernelId}, guest CPUID entries
//         (hex), memory {size, slots [{slot, gpa, size, flags}]}, xsaveSize, vcpus, syncs,
//         sections (tags in order). Always first: a reader learns what follows before reading it.
//   VCPU  one per vCPU, the uapi structs back to back: id u32, kvm_vcpu_events (64),
//         kvm_mp_state (4), kvm_regs (144), xsave length u32 + the XSAVE buffer, kvm_xcrs (392),
//         kvm_sregs (312), nmsrs u32 + kvm_msr_entry × nmsrs (16 each), kvm_debugregs (128)
//   MEMS  one per memory slot: slot u32, flags u32, gpa u64, size u64, then a bitmap of the
//         non-zero 4 KiB pages (1 bit per page, LSB first) and those pages in order (zero pages
//         are not stored)
//   END   payload: CRC-32 over every byte of the stream before this section's header (u32 LE)
//
// decodeStream refuses with a StreamError saying what is wrong and where: a bad magic, a version
// this code does not read (newer or 0), a truncation (at which byte, in which section), a
// checksum mismatch (which section), a malformed or unknown section.
import { version as writerVersion } from "../../../package.json";
import { crc32 } from "./crc32";
import { StreamError } from "./compat";
import type { VmSnapshot, VcpuSnapshot, MemorySlotSnapshot } from "./snapshot";
import {
  dvOf, decodeRegs, encodeRegs, decodeSregs, encodeSregs, decodeVcpuEvents, encodeVcpuEvents, decodeXcrs, encodeXcrs,
  encodeMpState, decodeMpState, encodeDebugregs, decodeDebugregs, encodeMsrs, decodeMsrs,
} from "../../uapi/structs";
import type { CpuidEntry } from "../../models/cpuid";
import { KERNELS } from "../../kernels";

export { StreamError };
export const STREAM_MAGIC = "X86KVMMS";
export const STREAM_VERSION = 1;
const FILE_HEADER = 16, SECTION_HEADER = 16, PAGE = 4096;
const enc = new TextEncoder(), dec = new TextDecoder("utf-8", { fatal: true });

/** What the HEAD section says (readable without decoding the rest: streamInfo()). */
export interface StreamHeader {
  format: "x86kvm-migration";
  version: number;
  writer: string;
  source: { host: string; kernel: string; kernelId: string };
  cpuid: string[][];
  memory: { size: number; slots: { slot: number; gpa: string; size: number; flags: number }[] };
  xsaveSize: number;
  vcpus: number;
  syncs: number;
  sections: string[];
}

/** The sections of an encoded stream: tag, payload length, CRC (for reports and the README). */
export interface SectionInfo { tag: string; offset: number; length: number; crc: number }

// ---- encoding ----

class Writer {
  private parts: Uint8Array[] = [];
  private n = 0;
  bytes(b: Uint8Array): this { this.parts.push(b); this.n += b.length; return this; }
  u32(v: number): this { const b = new Uint8Array(4); dvOf(b).setUint32(0, v >>> 0, true); return this.bytes(b); }
  u64(v: bigint): this { const b = new Uint8Array(8); dvOf(b).setBigUint64(0, v, true); return this.bytes(b); }
  get length(): number { return this.n; }
  concat(): Uint8Array {
    const o = new Uint8Array(this.n);
    let at = 0;
    for (const p of this.parts) { o.set(p, at); at += p.length; }
    return o;
  }
}

const cpuidHex = (e: CpuidEntry) => [e.fn, e.idx, e.flags, e.eax, e.ebx, e.ecx, e.edx].map((x) => "0x" + (x >>> 0).toString(16));

function encodeVcpu(v: VcpuSnapshot): Uint8Array {
  return new Writer().u32(v.id).bytes(encodeVcpuEvents(v.events)).bytes(encodeMpState(v.mpState)).bytes(encodeRegs(v.regs))
    .u32(v.xsave.length).bytes(v.xsave).bytes(encodeXcrs(v.xcrs)).bytes(encodeSregs(v.sregs))
    .u32(v.msrs.length).bytes(encodeMsrs(v.msrs).subarray(8)).bytes(encodeDebugregs(v.debugregs)).concat();
}

function encodeSlot(s: MemorySlotSnapshot): Uint8Array {
  const pages = Math.ceil(s.data.length / PAGE);
  const bitmap = new Uint8Array(Math.ceil(pages / 8));
  const w = new Writer().u32(s.slot).u32(s.flags).u64(s.gpa).u64(BigInt(s.data.length)).bytes(bitmap);
  const words = s.data.byteOffset % 4 === 0 && s.data.length % 4 === 0 ? new Uint32Array(s.data.buffer, s.data.byteOffset, s.data.length / 4) : null;
  for (let p = 0; p < pages; p++) {
    const lo = p * PAGE, hi = Math.min(lo + PAGE, s.data.length);
    let nz = false;
    if (words) { for (let i = lo >> 2; i < hi >> 2; i++) if (words[i]) { nz = true; break; } }
    else for (let i = lo; i < hi; i++) if (s.data[i]) { nz = true; break; }
    if (nz) { bitmap[p >> 3] |= 1 << (p & 7); w.bytes(s.data.subarray(lo, hi)); }
  }
  return w.concat();
}

/** VmSnapshot → stream bytes. */
export function encodeStream(s: VmSnapshot): Uint8Array {
  const sections: [string, Uint8Array][] = [];
  const tags = ["HEAD", ...s.vcpus.map(() => "VCPU"), ...s.slots.map(() => "MEMS"), "END"];
  const head: StreamHeader = {
    format: "x86kvm-migration", version: STREAM_VERSION, writer: `x86kvm ${writerVersion}`,
    source: { ...s.source }, cpuid: s.cpuid.map(cpuidHex),
    memory: { size: s.memorySize, slots: s.slots.map((sl) => ({ slot: sl.slot, gpa: "0x" + sl.gpa.toString(16), size: sl.data.length, flags: sl.flags })) },
    xsaveSize: s.vcpus[0]?.xsave.length ?? 0, vcpus: s.vcpus.length, syncs: s.syncs, sections: tags,
  };
  sections.push(["HEAD", enc.encode(JSON.stringify(head))]);
  for (const v of s.vcpus) sections.push(["VCPU", encodeVcpu(v)]);
  for (const sl of s.slots) sections.push(["MEMS", encodeSlot(sl)]);
  const w = new Writer();
  const fh = new Uint8Array(FILE_HEADER);
  fh.set(enc.encode(STREAM_MAGIC));
  dvOf(fh).setUint16(8, STREAM_VERSION, true);
  dvOf(fh).setUint32(12, sections.length + 1, true);
  w.bytes(fh);
  for (const [tag, payload] of sections) w.bytes(sectionHeader(tag, payload)).bytes(payload);
  const body = w.concat();
  const end = new Uint8Array(4);
  dvOf(end).setUint32(0, crc32(body), true);
  const out = new Uint8Array(body.length + SECTION_HEADER + 4);
  out.set(body);
  out.set(sectionHeader("END", end), body.length);
  out.set(end, body.length + SECTION_HEADER);
  return out;
}

function sectionHeader(tag: string, payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(SECTION_HEADER), dv = dvOf(h);
  h.set(enc.encode(tag.padEnd(4, "\0")));
  dv.setBigUint64(4, BigInt(payload.length), true);
  dv.setUint32(12, crc32(payload), true);
  return h;
}

// ---- decoding ----

class Reader {
  at = 0;
  constructor(readonly b: Uint8Array, readonly where: string) {}
  need(n: number, what: string): void {
    if (this.at + n > this.b.length) throw new StreamError(`malformed section ${this.where}: ${what} needs ${n} bytes at payload offset ${this.at}, ${this.b.length - this.at} left`);
  }
  take(n: number, what: string): Uint8Array { this.need(n, what); const r = this.b.subarray(this.at, this.at + n); this.at += n; return r; }
  u32(what: string): number { return dvOf(this.take(4, what)).getUint32(0, true); }
  u64(what: string): bigint { return dvOf(this.take(8, what)).getBigUint64(0, true); }
  done(): void { if (this.at !== this.b.length) throw new StreamError(`malformed section ${this.where}: ${this.b.length - this.at} bytes left over`); }
}

function decodeVcpu(p: Uint8Array, where: string): VcpuSnapshot {
  const r = new Reader(p, where);
  const id = r.u32("id");
  const events = decodeVcpuEvents(r.take(64, "kvm_vcpu_events"));
  const mpState = decodeMpState(r.take(4, "kvm_mp_state"));
  const regs = decodeRegs(r.take(144, "kvm_regs"));
  const xn = r.u32("xsave length");
  if (xn < 4096 || xn > 1 << 20) throw new StreamError(`malformed section ${where}: XSAVE buffer of ${xn} bytes (expected 4096 … 1 MiB)`);
  const xsave = r.take(xn, "XSAVE buffer").slice();
  const xcrs = decodeXcrs(r.take(392, "kvm_xcrs"));
  const sregs = decodeSregs(r.take(312, "kvm_sregs"));
  const n = r.u32("nmsrs");
  const mb = new Uint8Array(8 + 16 * n);
  mb.set(r.take(16 * n, `${n} MSR entries`), 8);
  const msrs = decodeMsrs(mb, n);
  const debugregs = decodeDebugregs(r.take(128, "kvm_debugregs"));
  r.done();
  return { id, events, mpState, regs, xsave, xcrs, sregs, msrs, debugregs };
}

function decodeSlot(p: Uint8Array, where: string): MemorySlotSnapshot {
  const r = new Reader(p, where);
  const slot = r.u32("slot"), flags = r.u32("flags"), gpa = r.u64("gpa"), size = r.u64("size");
  if (size > 4n << 30n || size % BigInt(PAGE)) throw new StreamError(`malformed section ${where}: slot size ${size} (not a multiple of 4 KiB up to 4 GiB)`);
  const n = Number(size), pages = n / PAGE;
  const bitmap = r.take(Math.ceil(pages / 8), "page bitmap");
  const data = new Uint8Array(n);
  for (let pg = 0; pg < pages; pg++) if (bitmap[pg >> 3] & (1 << (pg & 7))) data.set(r.take(PAGE, `page ${pg}`), pg * PAGE);
  r.done();
  return { slot, flags, gpa, data };
}

function parseHead(p: Uint8Array): StreamHeader {
  let h: StreamHeader;
  try { h = JSON.parse(dec.decode(p)); } catch (e) { throw new StreamError(`malformed section HEAD: ${(e as Error).message}`); }
  if (h?.format !== "x86kvm-migration") throw new StreamError(`malformed section HEAD: format '${h?.format}'`);
  if (!Array.isArray(h.cpuid) || !h.memory || !Array.isArray(h.memory.slots) || !h.source) throw new StreamError("malformed section HEAD: missing fields");
  return h;
}

/** Walk the sections, checking magic, version, lengths and checksums; returns the payloads. */
function sections(b: Uint8Array): { head: StreamHeader; list: (SectionInfo & { payload: Uint8Array })[] } {
  if (b.length < FILE_HEADER) throw new StreamError(`truncated: ${b.length} bytes, the stream header alone is ${FILE_HEADER}`, "truncated");
  const magic = String.fromCharCode(...b.subarray(0, 8));
  if (magic !== STREAM_MAGIC) throw new StreamError(`not an x86kvm migration stream (magic ${JSON.stringify(magic)}, expected "${STREAM_MAGIC}")`);
  const dv = dvOf(b), version = dv.getUint16(8, true), count = dv.getUint32(12, true);
  if (version > STREAM_VERSION) throw new StreamError(`stream version ${version} is newer than this x86kvm reads (${STREAM_VERSION}): use a newer x86kvm on the destination`, "version");
  if (version !== STREAM_VERSION) throw new StreamError(`unknown stream version ${version} (this x86kvm reads ${STREAM_VERSION})`, "version");
  const list: (SectionInfo & { payload: Uint8Array })[] = [];
  let at = FILE_HEADER, head: StreamHeader | undefined;
  for (let k = 0; k < count; k++) {
    const prev = list.length ? ` after section ${list[list.length - 1].tag} (#${list.length})` : "";
    if (at + SECTION_HEADER > b.length) throw new StreamError(`truncated at byte ${b.length}: section #${k + 1} of ${count} starts at byte ${at}${prev} and its header needs ${SECTION_HEADER} bytes`, "truncated");
    const tag = String.fromCharCode(...b.subarray(at, at + 4)).replace(/\0+$/, "");
    const len = dvOf(b).getBigUint64(at + 4, true), crc = dvOf(b).getUint32(at + 12, true);
    const expect = head ? head.sections[k] : k === 0 ? "HEAD" : undefined;
    if (!["HEAD", "VCPU", "MEMS", "END"].includes(tag) || (expect && tag !== expect)) {
      throw new StreamError(`malformed stream: section #${k + 1} at byte ${at} is '${tag.replace(/[^\x20-\x7e]/g, "?")}', expected ${expect ?? "HEAD, VCPU, MEMS or END"}`);
    }
    const start = at + SECTION_HEADER;
    if (BigInt(start) + len > BigInt(b.length)) {
      throw new StreamError(`truncated at byte ${b.length}: section ${tag} (#${k + 1}) at byte ${at} has ${b.length - start} of its ${len} payload bytes`, "truncated");
    }
    const payload = b.subarray(start, start + Number(len));
    if (tag === "END") {
      if (k !== count - 1) throw new StreamError(`malformed stream: END is section #${k + 1} of ${count}`);
      const got = crc32(b.subarray(0, at)), stored = dvOf(payload).getUint32(0, true);
      if (crc32(payload) !== crc || got !== stored) throw new StreamError(`checksum mismatch in section END (#${k + 1}, the CRC over the whole stream): stored 0x${stored.toString(16)}, computed 0x${got.toString(16)}`, "checksum");
    } else {
      const got = crc32(payload);
      if (got !== crc) {
        const what = tag === "MEMS" && head ? ` (memory slot ${head.memory.slots[list.filter((s) => s.tag === "MEMS").length]?.slot})` : "";
        throw new StreamError(`checksum mismatch in section ${tag} (#${k + 1}${what}, at byte ${at}): stored 0x${crc.toString(16)}, computed 0x${got.toString(16)}`, "checksum");
      }
    }
    if (tag === "HEAD") {
      head = parseHead(payload);
      if (head.sections.length !== count) throw new StreamError(`malformed section HEAD: lists ${head.sections.length} sections, the stream header ${count}`);
    }
    list.push({ tag, offset: at, length: Number(len), crc, payload });
    at = start + Number(len);
  }
  if (!head || list[list.length - 1]?.tag !== "END") throw new StreamError(`truncated: the stream ends without its END section`, "truncated");
  if (at !== b.length) throw new StreamError(`malformed stream: ${b.length - at} bytes after the END section`);
  return { head, list };
}

/** The HEAD of a stream (after checking every checksum): what it holds, for `--json` reports. */
export function streamInfo(b: Uint8Array): { header: StreamHeader; sections: SectionInfo[] } {
  const { head, list } = sections(b);
  return { header: head, sections: list.map(({ tag, offset, length, crc }) => ({ tag, offset, length, crc })) };
}

/** Stream bytes → VmSnapshot; throws StreamError. */
export function decodeStream(b: Uint8Array): VmSnapshot {
  const { head, list } = sections(b);
  const vcpus = list.filter((s) => s.tag === "VCPU").map((s, i) => decodeVcpu(s.payload, `VCPU (#${i + 1})`));
  const slots = list.filter((s) => s.tag === "MEMS").map((s, i) => decodeSlot(s.payload, `MEMS (slot ${head.memory.slots[i]?.slot})`));
  const cpuid: CpuidEntry[] = head.cpuid.map((a) => {
    const [fn, idx, flags, eax, ebx, ecx, edx] = a.map((x) => Number(x) >>> 0);
    return { fn, idx, flags, eax, ebx, ecx, edx };
  });
  const kernel = KERNELS.find((k) => k.version === head.source.kernel);
  if (!kernel) throw new StreamError(`malformed section HEAD: unknown source kernel '${head.source.kernel}'`);
  if (vcpus.length !== head.vcpus) throw new StreamError(`malformed stream: HEAD says ${head.vcpus} vCPUs, ${vcpus.length} VCPU sections`);
  return {
    source: { host: head.source.host, kernel: kernel.version, kernelId: kernel.id },
    cpuid, memorySize: head.memory.size, slots, vcpus, syncs: head.syncs,
  };
}
