// gdb's register numbering for x86kvm's target description (target.xml): the
// registers of each feature in the order the XML lists them, numbered from 0
// (xmm0 is pinned at 40 by sse.xml, which is where the core feature ends
// anyway). Each entry says how to get its bytes from the debug engine's named
// registers: whole (rax), narrowed (eflags: 32 bits of RFLAGS; selectors as 32
// bits) or a slice (ymm5h = bytes 16..31 of ymm5, zmm5h = bytes 32..63 of zmm5).
import coreXml from "./core.xml";
import sseXml from "./sse.xml";
import segmentsXml from "./segments.xml";
import avxXml from "./avx.xml";
import avx512Xml from "./avx512.xml";
import pkeysXml from "./pkeys.xml";
import targetXml from "./target.xml";
import { bigToLeBytes, leBytesToBig } from "../regs";

export const TARGET_FILES: Record<string, string> = {
  "target.xml": targetXml, "core.xml": coreXml, "sse.xml": sseXml, "segments.xml": segmentsXml,
  "avx.xml": avxXml, "avx512.xml": avx512Xml, "pkeys.xml": pkeysXml,
};

export interface GdbReg {
  name: string;
  bytes: number;
  /** the engine register it lives in, and where in it */
  src: string;
  off: number;
}

function parse(xml: string): GdbReg[] {
  const out: GdbReg[] = [];
  for (const m of xml.matchAll(/<reg name="([^"]+)" bitsize="(\d+)"/g)) {
    const name = m[1], bytes = +m[2] / 8;
    let src = name, off = 0;
    const h = /^(ymm|zmm)(\d+)h$/.exec(name);
    if (h) { src = `${h[1]}${h[2]}`; off = h[1] === "ymm" ? 16 : 32; }
    out.push({ name, bytes, src, off });
  }
  return out;
}

/** gdb register number → register, in target.xml order */
export const GDB_REGS: readonly GdbReg[] = [coreXml, sseXml, segmentsXml, avxXml, avx512Xml, pkeysXml].flatMap(parse);

/** A batch read of the engine's registers, each source register fetched once. */
export function readGdbReg(r: GdbReg, read: (name: string) => bigint | Uint8Array | null): Uint8Array {
  const v = read(r.src);
  if (v === null) return new Uint8Array(r.bytes);          // a register this CPU does not have reads as zero
  if (typeof v === "bigint") return bigToLeBytes(v, r.bytes);
  const out = new Uint8Array(r.bytes);
  out.set(v.subarray(r.off, r.off + r.bytes));
  return out;
}

/** The engine-register value that puts `bytes` into gdb register r (read-modify-write for slices). */
export function gdbRegValue(r: GdbReg, bytes: Uint8Array, read: (name: string) => bigint | Uint8Array | null): bigint | Uint8Array | null {
  const cur = read(r.src);
  if (cur === null) return null;
  if (typeof cur === "bigint") {
    // narrowed registers (eflags, selectors): keep the bits gdb does not see
    const bits = BigInt(r.bytes * 8), mask = (1n << bits) - 1n;
    return (cur & ~mask) | (leBytesToBig(bytes) & mask);
  }
  const v = cur.slice();
  v.set(bytes.subarray(0, r.bytes), r.off);
  return v;
}
