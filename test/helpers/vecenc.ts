// Encoders for SSE (legacy, mandatory prefix + REX) and VEX (C4 three-byte
// form) instructions, and the list of vector instruction shapes the tests
// exercise (test/cpu/sse.test.ts, the "vec" family of test/helpers/insngen.ts).

/** pp: 0 NP, 1 66, 2 F3, 3 F2. map: 1 0F, 2 0F38, 3 0F3A. */
export interface VSpec {
  name: string; pp: number; map: number; op: number;
  /** ModRM.reg fixed (group opcodes such as 71 /2), else undefined. */
  ext?: number;
  imm?: boolean;
  /** Which ModRM field names a general register instead of a vector one. */
  gpr?: "reg" | "rm";
  /** register form only (mod=3) / memory form only */
  regOnly?: boolean; memOnly?: boolean;
  /** The size of the memory operand in bytes for the legacy form (for alignment cases). */
  msize?: number;
  /** VEX form has no vvvv source (must be 1111b). */
  noV?: boolean;
  /** The memory form is a store. */
  store?: boolean;
}

export interface ModRMOperand {
  /** register number 0..15 (mod=3) */
  reg?: number;
  /** raw memory encoding: mod (0..2), rm, optional SIB, displacement bytes, REX.X/B */
  mem?: { mod: number; rm: number; sib?: number; disp: number[]; x: number; b: number };
}

export function legacy(s: VSpec, reg: number, rm: ModRMOperand, imm: number | undefined, w = false): number[] {
  const out: number[] = [];
  if (s.pp === 1) out.push(0x66); else if (s.pp === 2) out.push(0xf3); else if (s.pp === 3) out.push(0xf2);
  const R = (reg >> 3) & 1;
  const X = rm.mem ? rm.mem.x : 0, B = rm.mem ? rm.mem.b : ((rm.reg! >> 3) & 1);
  const rex = 0x40 | (w ? 8 : 0) | (R << 2) | (X << 1) | B;
  if (rex !== 0x40) out.push(rex);
  out.push(0x0f);
  if (s.map === 2) out.push(0x38); else if (s.map === 3) out.push(0x3a);
  out.push(s.op);
  modrm(out, reg, rm);
  if (imm !== undefined) out.push(imm & 255);
  return out;
}

export function vex(s: VSpec, reg: number, vvvv: number, rm: ModRMOperand, imm: number | undefined, L: number, W: number): number[] {
  const R = (reg >> 3) & 1;
  const X = rm.mem ? rm.mem.x : 0, B = rm.mem ? rm.mem.b : ((rm.reg! >> 3) & 1);
  const out = [0xc4, ((R ^ 1) << 7) | ((X ^ 1) << 6) | ((B ^ 1) << 5) | s.map,
    (W << 7) | ((~vvvv & 15) << 3) | (L << 2) | s.pp, s.op];
  modrm(out, reg, rm);
  if (imm !== undefined) out.push(imm & 255);
  return out;
}

function modrm(out: number[], reg: number, rm: ModRMOperand): void {
  if (rm.mem) {
    const m = rm.mem;
    out.push((m.mod << 6) | ((reg & 7) << 3) | (m.rm & 7));
    if ((m.rm & 7) === 4 && m.sib !== undefined) out.push(m.sib);
    out.push(...m.disp);
  } else out.push(0xc0 | ((reg & 7) << 3) | (rm.reg! & 7));
}

const P = (pp: string) => ({ NP: 0, "66": 1, F3: 2, F2: 3 } as Record<string, number>)[pp];
function s(enc: string, name: string, extra: Partial<VSpec> = {}): VSpec {
  const t = enc.split(" ");
  const pp = P(t[0]);
  let map = 1, i = 2;
  if (t[2] === "38" && t.length > 3) { map = 2; i = 3; } else if (t[2] === "3A" && t.length > 3) { map = 3; i = 3; }
  return { name, pp, map, op: parseInt(t[i], 16), msize: 16, ...extra };
}
const imm = { imm: true };
/** The vector instructions added with the SSE/SSE2/SSSE3/SSE4.1 rows (and a few older moves). */
export const VSPECS: VSpec[] = [
  ...[["60", "punpcklbw"], ["61", "punpcklwd"], ["62", "punpckldq"], ["6C", "punpcklqdq"], ["68", "punpckhbw"],
    ["69", "punpckhwd"], ["6A", "punpckhdq"], ["6D", "punpckhqdq"], ["14", "unpcklpd"], ["15", "unpckhpd"],
    ["63", "packsswb"], ["6B", "packssdw"], ["67", "packuswb"], ["64", "pcmpgtb"], ["65", "pcmpgtw"], ["66", "pcmpgtd"],
    ["DC", "paddusb"], ["DD", "paddusw"], ["D8", "psubusb"], ["D9", "psubusw"], ["EC", "paddsb"], ["ED", "paddsw"],
    ["E8", "psubsb"], ["E9", "psubsw"], ["D5", "pmullw"], ["E5", "pmulhw"], ["E4", "pmulhuw"], ["F4", "pmuludq"],
    ["F5", "pmaddwd"], ["F6", "psadbw"], ["DA", "pminub"], ["DE", "pmaxub"], ["EA", "pminsw"], ["EE", "pmaxsw"],
    ["E0", "pavgb"], ["E3", "pavgw"], ["F1", "psllw"], ["F2", "pslld"], ["F3", "psllq"], ["D1", "psrlw"], ["D2", "psrld"],
    ["D3", "psrlq"], ["E1", "psraw"], ["E2", "psrad"],
    // pre-existing rows, exercised here for the upper-half and alignment rules
    ["EF", "pxor"], ["FE", "paddd"], ["74", "pcmpeqb"]].map(([o, n]) => s(`66 0F ${o}`, n)),
  s("NP 0F 14", "unpcklps"), s("NP 0F 15", "unpckhps"),
  ...[["2B", "packusdw"], ["37", "pcmpgtq"], ["40", "pmulld"], ["28", "pmuldq"], ["38", "pminsb"], ["3C", "pmaxsb"],
    ["39", "pminsd"], ["3D", "pmaxsd"], ["3A", "pminuw"], ["3E", "pmaxuw"], ["3B", "pminud"], ["3F", "pmaxud"],
    ["00", "pshufb"], ["1C", "pabsb"], ["1D", "pabsw"], ["1E", "pabsd"], ["17", "ptest"]].map(([o, n]) => s(`66 0F 38 ${o}`, n)),
  s("66 0F 3A 0F", "palignr", imm), s("NP 0F C6", "shufps", imm), s("66 0F C6", "shufpd", imm),
  s("66 0F 70", "pshufd", imm), s("F2 0F 70", "pshuflw", imm), s("F3 0F 70", "pshufhw", imm),
  ...[["71", 2, "psrlw"], ["71", 4, "psraw"], ["71", 6, "psllw"], ["72", 2, "psrld"], ["72", 4, "psrad"], ["72", 6, "pslld"],
    ["73", 2, "psrlq"], ["73", 3, "psrldq"], ["73", 6, "psllq"], ["73", 7, "pslldq"]].map(([o, e, n]) =>
    s(`66 0F ${o}`, `${n} imm`, { ext: e as number, imm: true, regOnly: true })),
  ...[0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35].map((o) =>
    s(`66 0F 38 ${o.toString(16)}`, `pmov${o & 0x10 ? "zx" : "sx"}${["bw", "bd", "bq", "wd", "wq", "dq"][o & 7]}`, { msize: [8, 4, 2, 8, 4, 8][o & 7] })),
  s("66 0F D7", "pmovmskb", { gpr: "reg", regOnly: true }), s("NP 0F 50", "movmskps", { gpr: "reg", regOnly: true }),
  s("66 0F 50", "movmskpd", { gpr: "reg", regOnly: true }),
  s("66 0F C4", "pinsrw", { gpr: "rm", imm: true, msize: 2 }), s("66 0F 3A 20", "pinsrb", { gpr: "rm", imm: true, msize: 1 }),
  s("66 0F 3A 22", "pinsrd/q", { gpr: "rm", imm: true, msize: 4 }),
  s("66 0F C5", "pextrw Gd", { gpr: "reg", imm: true, regOnly: true }),
  s("66 0F 3A 14", "pextrb", { gpr: "rm", imm: true, msize: 1 }), s("66 0F 3A 15", "pextrw", { gpr: "rm", imm: true, msize: 2 }),
  s("66 0F 3A 16", "pextrd/q", { gpr: "rm", imm: true, msize: 4 }),
  s("F3 0F 10", "movss load", { msize: 4 }), s("F3 0F 11", "movss store", { msize: 4 }),
  s("F2 0F 10", "movsd load", { msize: 8 }), s("F2 0F 11", "movsd store", { msize: 8 }),
  s("NP 0F 12", "movlps/movhlps", { msize: 8 }), s("NP 0F 16", "movhps/movlhps", { msize: 8 }),
  s("66 0F 12", "movlpd", { msize: 8 }), s("66 0F 16", "movhpd", { msize: 8 }),
  s("NP 0F 13", "movlps store", { msize: 8 }), s("66 0F 13", "movlpd store", { msize: 8 }),
  s("NP 0F 17", "movhps store", { msize: 8 }), s("66 0F 17", "movhpd store", { msize: 8 }),
  s("66 0F E7", "movntdq", { memOnly: true }), s("NP 0F 2B", "movntps", { memOnly: true }), s("66 0F 2B", "movntpd", { memOnly: true }),
  s("66 0F 38 2A", "movntdqa", { memOnly: true }), s("F2 0F F0", "lddqu", { memOnly: true }),
  s("NP 0F C3", "movnti", { gpr: "reg", memOnly: true, msize: 4 }),
  // SSE3 / SSSE3 / SSE4.1
  ...[["08", "psignb"], ["09", "psignw"], ["0A", "psignd"], ["01", "phaddw"], ["02", "phaddd"], ["03", "phaddsw"], ["05", "phsubw"],
    ["06", "phsubd"], ["07", "phsubsw"], ["04", "pmaddubsw"], ["0B", "pmulhrsw"], ["10", "pblendvb"], ["14", "blendvps"], ["15", "blendvpd"]]
    .map(([o, n]) => s(`66 0F 38 ${o}`, n)),
  s("66 0F 38 41", "phminposuw", { noV: true }),
  s("66 0F 3A 0E", "pblendw", imm), s("66 0F 3A 0C", "blendps", imm), s("66 0F 3A 0D", "blendpd", imm),
  s("F3 0F 12", "movsldup", { noV: true }), s("F3 0F 16", "movshdup", { noV: true }), s("F2 0F 12", "movddup", { noV: true, msize: 8 }),
  s("66 0F 3A 21", "insertps", { imm: true, msize: 4 }), s("66 0F 3A 17", "extractps", { imm: true, gpr: "rm", msize: 4, noV: true, store: true }),
  // VEX-only (AVX/AVX2): the legacy encodings are undefined
  s("66 0F 3A 4C", "vpblendvb", imm), s("66 0F 3A 4A", "vblendvps", imm), s("66 0F 3A 4B", "vblendvpd", imm),
  ...[["78", "vpbroadcastb", 1], ["79", "vpbroadcastw", 2], ["58", "vpbroadcastd", 4], ["59", "vpbroadcastq", 8],
    ["18", "vbroadcastss", 4], ["19", "vbroadcastsd", 8], ["5A", "vbroadcasti128", 16], ["1A", "vbroadcastf128", 16]]
    .map(([o, n, m]) => s(`66 0F 38 ${o}`, n as string, { noV: true, msize: m as number })),
  s("66 0F 3A 38", "vinserti128", imm), s("66 0F 3A 18", "vinsertf128", imm),
  s("66 0F 3A 39", "vextracti128", { imm: true, noV: true, store: true }), s("66 0F 3A 19", "vextractf128", { imm: true, noV: true, store: true }),
  s("66 0F 3A 00", "vpermq", { imm: true, noV: true }), s("66 0F 3A 01", "vpermpd", { imm: true, noV: true }),
  s("66 0F 38 36", "vpermd"), s("66 0F 38 16", "vpermps"), s("66 0F 3A 46", "vperm2i128", imm), s("66 0F 3A 06", "vperm2f128", imm),
  s("66 0F 3A 02", "vpblendd", imm), s("66 0F 38 47", "vpsllvd/q"), s("66 0F 38 45", "vpsrlvd/q"), s("66 0F 38 46", "vpsravd"),
  s("66 0F 3A 04", "vpermilps imm", { imm: true, noV: true }), s("66 0F 3A 05", "vpermilpd imm", { imm: true, noV: true }),
  s("66 0F 38 0C", "vpermilps"), s("66 0F 38 0D", "vpermilpd"),
];

/** Rows whose VEX form has a vvvv source (H operand); the others need vvvv = 1111b. */
export function needsV(sp: VSpec): boolean {
  if (sp.gpr === "reg" || sp.memOnly || sp.ext !== undefined || sp.noV) return false;
  if (/pabs|pshuf[dlh]|ptest|pmov[sz]x|pextr|store/.test(sp.name)) return false;
  return true;
}
/** Does the instruction write memory (its memory form is a store)? */
export function isStore(sp: VSpec): boolean {
  return !!sp.store || (/store|pextr|movnt(dq|ps|pd|i)$/.test(sp.name) && !/pextrw Gd/.test(sp.name));
}
/** Does the instruction write the general register its gpr field names? */
export function writesGpr(sp: VSpec): boolean {
  return sp.gpr !== undefined && !/pinsr|movnti/.test(sp.name);
}
