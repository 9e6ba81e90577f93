// Guest symbols for the debugger's labels: an ELF64 image's own .symtab, or
// for ROM and flat images the NAME.sym beside them (`nm -n` lines:
// "00000000000f096e t tz_insn", as guest-images/build.mjs writes them).
// Used for frame names (puts64+0x3), the Disassembly view's symbol labels,
// and breakpoints/expressions that name a symbol.
import { existsSync, readFileSync } from "node:fs";

export interface Sym { addr: bigint; name: string }

export class Symbols {
  private byAddr: Sym[];
  private byName = new Map<string, bigint>();

  constructor(syms: Sym[]) {
    this.byAddr = syms.filter((s) => s.name && !s.name.startsWith(".")).sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    for (const s of this.byAddr) if (!this.byName.has(s.name)) this.byName.set(s.name, s.addr);
  }

  get size(): number { return this.byAddr.length; }
  lookup(name: string): bigint | undefined { return this.byName.get(name); }

  /** The nearest symbol at or below addr (within 64 KiB), as { name, offset }. */
  symbolize(addr: bigint): { name: string; offset: bigint } | null {
    let lo = 0, hi = this.byAddr.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.byAddr[mid].addr <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (best < 0) return null;
    const s = this.byAddr[best], offset = addr - s.addr;
    return offset < 0x10000n ? { name: s.name, offset } : null;
  }

  /** "name" or "name+0x12" */
  label(addr: bigint): string | null {
    const s = this.symbolize(addr);
    return s ? (s.offset ? `${s.name}+0x${s.offset.toString(16)}` : s.name) : null;
  }

  /** Symbols of an image file: its ELF .symtab, else PATH.sym for the rom/bin beside it. Never throws. */
  static forImage(path: string, bytes: Uint8Array): Symbols {
    try {
      if (bytes.length > 64 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return new Symbols(elfSymbols(bytes));
      const sym = path.replace(/\.[^./]*$/, "") + ".sym";
      if (existsSync(sym)) return new Symbols(nmSymbols(readFileSync(sym, "utf8")));
    } catch { /* a malformed symbol table only costs the labels */ }
    return new Symbols([]);
  }
}

/** `nm -n` output: "ADDR TYPE NAME" per line. */
export function nmSymbols(text: string): Sym[] {
  const out: Sym[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-fA-F]+)\s+[A-Za-z]\s+(\S+)$/.exec(line.trim());
    if (m) out.push({ addr: BigInt("0x" + m[1]), name: m[2] });
  }
  return out;
}

/** FUNC, OBJECT and NOTYPE symbols with a section from an ELF64 little-endian image's SHT_SYMTAB. */
export function elfSymbols(b: Uint8Array): Sym[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[4] !== 2 || b[5] !== 1) return [];
  const shoff = Number(dv.getBigUint64(0x28, true)), shentsize = dv.getUint16(0x3a, true), shnum = dv.getUint16(0x3c, true);
  if (!shoff || shentsize < 64 || shoff + shnum * shentsize > b.length) return [];
  const sh = (i: number) => {
    const o = shoff + i * shentsize;
    return { type: dv.getUint32(o + 4, true), offset: Number(dv.getBigUint64(o + 0x18, true)), size: Number(dv.getBigUint64(o + 0x20, true)), link: dv.getUint32(o + 0x28, true), entsize: Number(dv.getBigUint64(o + 0x38, true)) };
  };
  const out: Sym[] = [];
  for (let i = 0; i < shnum; i++) {
    const s = sh(i);
    if (s.type !== 2 /* SHT_SYMTAB */ || s.link >= shnum || s.entsize < 24) continue;
    const str = sh(s.link);
    for (let o = s.offset; o + 24 <= s.offset + s.size && o + 24 <= b.length; o += s.entsize) {
      const nameOff = dv.getUint32(o, true), info = b[o + 4], shndx = dv.getUint16(o + 6, true);
      const type = info & 0xf;
      if (shndx === 0 || shndx >= 0xff00 || (type !== 0 && type !== 1 && type !== 2)) continue;
      let end = str.offset + nameOff;
      while (end < b.length && b[end] !== 0) end++;
      const name = Buffer.from(b.subarray(str.offset + nameOff, end)).toString("latin1");
      out.push({ addr: dv.getBigUint64(o + 8, true), name });
    }
  }
  return out;
}
