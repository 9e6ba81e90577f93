// Value formatting and parsing for the DAP views: hex, XSAVE feature masks,
// x87 80-bit reals, vector lanes, and the numbers users type into the
// Variables view or a watch expression.

export const hex = (v: bigint | number): string => "0x" + BigInt.asUintN(64, BigInt(v)).toString(16);
export const hexPad = (v: bigint, digits: number): string => "0x" + BigInt.asUintN(64, v).toString(16).padStart(digits, "0");

/** XSAVE state components (XCR0 / XSS / XFD / XSTATE_BV bit → name, SDM vol. 1 §13.1). */
export const XFEATURES = [
  "x87", "SSE", "AVX", "BNDREGS", "BNDCSR", "opmask", "ZMM_Hi256", "Hi16_ZMM",
  "PT", "PKRU", "PASID", "CET_U", "CET_S", "HDC", "UINTR", "LBR", "HWP", "XTILECFG", "XTILEDATA", "APX",
];

/** "0x602e7 (x87|SSE|AVX|opmask|ZMM_Hi256|Hi16_ZMM|XTILECFG|XTILEDATA)" */
export function xfeatures(v: bigint): string {
  const names: string[] = [];
  for (let i = 0; i < 64; i++) if ((v >> BigInt(i)) & 1n) names.push(XFEATURES[i] ?? `bit${i}`);
  return `${hex(v)}${names.length ? ` (${names.join("|")})` : ""}`;
}

/** Little-endian bytes → bigint. */
export function leToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}
export function bigToLe(v: bigint, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let t = BigInt.asUintN(width * 8, v);
  for (let i = 0; i < width; i++) { out[i] = Number(t & 0xffn); t >>= 8n; }
  return out;
}

/** A wide register as one hex number, most significant byte first (how gdb prints uint128). */
export function wideHex(b: Uint8Array): string {
  let s = "";
  for (let i = b.length - 1; i >= 0; i--) s += b[i].toString(16).padStart(2, "0");
  return "0x" + s;
}

/** x87 double-extended (10 bytes, little-endian) → a decimal string. */
export function f80(b: Uint8Array): string {
  const mant = leToBig(b.subarray(0, 8));
  const se = b[8] | (b[9] << 8);
  const sign = se & 0x8000 ? "-" : "";
  const e = se & 0x7fff;
  if (e === 0x7fff) {
    const frac = mant & ((1n << 63n) - 1n);
    return frac === 0n ? `${sign}inf` : (frac >> 62n) & 1n ? `${sign}nan` : `${sign}snan`;
  }
  if (e === 0 && mant === 0n) return `${sign}0`;
  // mantissa with the explicit integer bit: value = mant / 2^63 * 2^(e - 16383); denormals use e = 1
  const v = Number(mant) * Math.pow(2, (e === 0 ? 1 : e) - 16383 - 63);
  const unnormal = e !== 0 && !(mant >> 63n) ? " (unnormal)" : "";
  return sign + String(v) + unnormal;
}

export type LaneKind = "u8" | "u16" | "u32" | "u64" | "f32" | "f64";
export const LANE_BYTES: Record<LaneKind, number> = { u8: 1, u16: 2, u32: 4, u64: 8, f32: 4, f64: 8 };

export function lane(b: Uint8Array, kind: LaneKind, i: number): string {
  const w = LANE_BYTES[kind], dv = new DataView(b.buffer, b.byteOffset + i * w, w);
  if (kind === "f32") return String(dv.getFloat32(0, true));
  if (kind === "f64") return String(dv.getFloat64(0, true));
  return hex(leToBig(b.subarray(i * w, i * w + w)));
}

/** Write one lane from user text; returns the new register bytes. */
export function setLane(b: Uint8Array, kind: LaneKind, i: number, text: string): Uint8Array {
  const out = b.slice(), w = LANE_BYTES[kind], dv = new DataView(out.buffer, i * w, w);
  if (kind === "f32" || kind === "f64") {
    const f = Number(text.trim());
    if (Number.isNaN(f) && !/^nan$/i.test(text.trim())) throw new Error(`'${text}' is not a number`);
    if (kind === "f32") dv.setFloat32(0, f, true); else dv.setFloat64(0, f, true);
  } else out.set(bigToLe(parseNumber(text), w), i * w);
  return out;
}

/** An integer the way users type it: 0x1f, 1f h, 0b101, 0o17, 42, -1, 1_000. */
export function parseNumber(text: string): bigint {
  let t = text.trim().replace(/_/g, "");
  let neg = false;
  if (t.startsWith("-")) { neg = true; t = t.slice(1).trim(); }
  let v: bigint;
  if (/^0x[0-9a-f]+$/i.test(t) || /^0b[01]+$/i.test(t) || /^0o[0-7]+$/i.test(t)) v = BigInt(t.toLowerCase());
  else if (/^[0-9a-f]+h$/i.test(t)) v = BigInt("0x" + t.slice(0, -1));
  else if (/^\d+$/.test(t)) v = BigInt(t);
  else throw new Error(`'${text}' is not a number (use 0x… for hex)`);
  return neg ? -v : v;
}

/** 80-bit value from a decimal number (for setVariable on st0–st7). */
export function toF80(x: number): Uint8Array {
  const out = new Uint8Array(10);
  if (x === 0) { if (Object.is(x, -0)) out[9] = 0x80; return out; }
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  if (!Number.isFinite(x)) {
    out.set(bigToLe(Number.isNaN(x) ? 0xc000000000000000n : 0x8000000000000000n, 8), 0);
    out[8] = 0xff; out[9] = (0x7f | (sign >> 8)) & 0xff;
    return out;
  }
  // exact: a double's 53-bit significand fits the 64-bit one
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(x));
  const bits = dv.getBigUint64(0);
  let e = Number((bits >> 52n) & 0x7ffn), frac = bits & ((1n << 52n) - 1n);
  if (e === 0) { while (!(frac & (1n << 52n))) { frac <<= 1n; e--; } e++; frac &= (1n << 52n) - 1n; }
  const mant = ((1n << 52n) | frac) << 11n;
  out.set(bigToLe(mant, 8), 0);
  const be = e - 1023 + 16383 | sign;
  out[8] = be & 0xff; out[9] = be >> 8;
  return out;
}

/** RFLAGS bits shown as children of rflags. */
export const RFLAGS_BITS: [string, number, number][] = [
  ["CF", 0, 1], ["PF", 2, 1], ["AF", 4, 1], ["ZF", 6, 1], ["SF", 7, 1], ["TF", 8, 1], ["IF", 9, 1], ["DF", 10, 1],
  ["OF", 11, 1], ["IOPL", 12, 2], ["NT", 14, 1], ["RF", 16, 1], ["VM", 17, 1], ["AC", 18, 1], ["VIF", 19, 1], ["VIP", 20, 1], ["ID", 21, 1],
];
export const CR0_BITS: [string, number, number][] = [
  ["PE", 0, 1], ["MP", 1, 1], ["EM", 2, 1], ["TS", 3, 1], ["ET", 4, 1], ["NE", 5, 1], ["WP", 16, 1], ["AM", 18, 1], ["NW", 29, 1], ["CD", 30, 1], ["PG", 31, 1],
];
export const CR4_BITS: [string, number, number][] = [
  ["VME", 0, 1], ["PVI", 1, 1], ["TSD", 2, 1], ["DE", 3, 1], ["PSE", 4, 1], ["PAE", 5, 1], ["MCE", 6, 1], ["PGE", 7, 1], ["PCE", 8, 1],
  ["OSFXSR", 9, 1], ["OSXMMEXCPT", 10, 1], ["UMIP", 11, 1], ["LA57", 12, 1], ["VMXE", 13, 1], ["SMXE", 14, 1], ["FSGSBASE", 16, 1],
  ["PCIDE", 17, 1], ["OSXSAVE", 18, 1], ["KL", 19, 1], ["SMEP", 20, 1], ["SMAP", 21, 1], ["PKE", 22, 1], ["CET", 23, 1], ["PKS", 24, 1],
];
export const EFER_BITS: [string, number, number][] = [["SCE", 0, 1], ["LME", 8, 1], ["LMA", 10, 1], ["NXE", 11, 1], ["SVME", 12, 1], ["FFXSR", 14, 1]];
export const MXCSR_BITS: [string, number, number][] = [
  ["IE", 0, 1], ["DE", 1, 1], ["ZE", 2, 1], ["OE", 3, 1], ["UE", 4, 1], ["PE", 5, 1], ["DAZ", 6, 1], ["IM", 7, 1], ["DM", 8, 1],
  ["ZM", 9, 1], ["OM", 10, 1], ["UM", 11, 1], ["PM", 12, 1], ["RC", 13, 2], ["FZ", 15, 1],
];
export const FSW_BITS: [string, number, number][] = [
  ["IE", 0, 1], ["DE", 1, 1], ["ZE", 2, 1], ["OE", 3, 1], ["UE", 4, 1], ["PE", 5, 1], ["SF", 6, 1], ["ES", 7, 1],
  ["C0", 8, 1], ["C1", 9, 1], ["C2", 10, 1], ["TOP", 11, 3], ["C3", 14, 1], ["B", 15, 1],
];

/** "ZF PF IF" style summary of set flag bits. */
export function bitsSummary(v: bigint, bits: [string, number, number][]): string {
  const on: string[] = [];
  for (const [n, at, w] of bits) {
    const f = (v >> BigInt(at)) & ((1n << BigInt(w)) - 1n);
    if (w === 1 ? f !== 0n : true) on.push(w === 1 ? n : `${n}=${f}`);
  }
  return on.join(" ");
}

export { EXCEPTIONS as VECTOR_NAMES, vectorName } from "../../cpu/vectors";
