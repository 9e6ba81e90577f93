// The Disassembly view's request: exactly `count` instructions around an
// address, `instructionOffset` instructions away from it (VS Code asks with
// negative offsets, e.g. -50, and expects that many instructions BEFORE the
// address). x86 cannot be decoded backwards, so the lines before an address
// come from decoding forward from an earlier point that lands exactly on it:
// first instruction starts the debugger has seen executed (every stop's RIP),
// then a few byte offsets far enough back that the decoder has resynchronised
// (x86 decoding self-synchronises within a few instructions in practice).
// Bytes that cannot be read (unmapped, beyond RAM) give invalid entries.
import type { Disassembler } from "../disasm";

export interface DisLine {
  addr: bigint;
  bytes: Uint8Array;
  /** empty when the bytes do not hold a valid instruction */
  text: string;
  valid: boolean;
}

export interface CodeSource {
  read(addr: bigint, len: number): Uint8Array;
  bitness: 16 | 32 | 64;
}

const MAXLEN = 15;
const MASK64 = (1n << 64n) - 1n;

function decodeAt(dis: Disassembler, src: CodeSource, addr: bigint): DisLine {
  const bytes = src.read(addr, MAXLEN);
  if (bytes.length === 0) return { addr, bytes, text: "", valid: false };
  const ip = src.bitness === 64 ? addr : addr & 0xffffffffn;
  const d = dis.one(bytes, src.bitness, ip);
  if (d.length === 0) return { addr, bytes: bytes.subarray(0, 1), text: "", valid: false };
  return { addr, bytes: bytes.subarray(0, d.length), text: d.text, valid: true };
}

/** Forward from `addr`: `n` lines (an invalid byte or unreadable address takes one line, one byte). */
function forward(dis: Disassembler, src: CodeSource, addr: bigint, n: number): DisLine[] {
  const out: DisLine[] = [];
  let a = addr;
  for (let i = 0; i < n; i++) {
    const l = decodeAt(dis, src, a);
    out.push(l);
    a = (a + BigInt(Math.max(1, l.bytes.length))) & MASK64;
  }
  return out;
}

/** Lines that end exactly at `addr`, decoded from `from`; null when the decoding steps over `addr`. */
function landing(dis: Disassembler, src: CodeSource, from: bigint, addr: bigint): DisLine[] | null {
  const out: DisLine[] = [];
  let a = from;
  while (a < addr) {
    const l = decodeAt(dis, src, a);
    if (!l.valid) return null;
    out.push(l);
    a += BigInt(l.bytes.length);
  }
  return a === addr ? out : null;
}

/** `n` lines before `addr` (fewer only when nothing decodes; the caller pads). */
function backward(dis: Disassembler, src: CodeSource, addr: bigint, n: number, known: bigint[]): DisLine[] {
  if (n <= 0) return [];
  const span = BigInt(n * MAXLEN);
  // the nearest instruction start learnt from execution that decodes exactly onto addr wins;
  // what lies before it is found the same way from that start
  for (const s of known.filter((k) => k < addr && addr - k <= span).sort((x, y) => (x > y ? -1 : 1))) {
    const l = landing(dis, src, s, addr);
    if (!l) continue;
    if (l.length >= n) return l.slice(-n);
    return [...backward(dis, src, s, n - l.length, known), ...l];
  }
  // resynchronising guesses: far enough back for n long instructions, then nearer
  let best: DisLine[] = [];
  for (const back of [span, BigInt(n * 8), BigInt(n * 4)]) {
    for (let k = 0n; k < 4n; k++) {
      if (back + k > addr) continue;
      const l = landing(dis, src, addr - back - k, addr);
      if (l && l.length > best.length) best = l;
      if (best.length >= n) return best.slice(-n);
    }
  }
  return best;
}

/**
 * Exactly `count` lines: the first is `instructionOffset` instructions from the instruction at
 * `addr` + `byteOffset`. Missing lines before the first decodable one are invalid entries at
 * decreasing addresses.
 */
export function disassemble(
  dis: Disassembler, src: CodeSource, addr: bigint, byteOffset: number, instructionOffset: number, count: number, known: Iterable<bigint> = [],
): DisLine[] {
  if (count <= 0) return [];
  const base = (addr + BigInt(byteOffset)) & MASK64;
  let out: DisLine[];
  if (instructionOffset >= 0) {
    // skip instructionOffset lines, then take count
    out = forward(dis, src, base, instructionOffset + count).slice(instructionOffset);
  } else {
    const before = -instructionOffset;
    const back = backward(dis, src, base, before, [...known]);
    const pad: DisLine[] = [];
    let a = back.length ? back[0].addr : base;
    for (let i = back.length; i < before; i++) { a = (a - 1n) & MASK64; pad.unshift({ addr: a, bytes: new Uint8Array(0), text: "", valid: false }); }
    out = [...pad, ...back];
    const after = count - before;
    if (after > 0) out.push(...forward(dis, src, base, after));
    out = out.slice(0, count);
  }
  return out;
}
