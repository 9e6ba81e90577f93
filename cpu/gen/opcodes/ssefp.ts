// SSE/SSE2 floating point and its VEX forms (cpu/exec/ssefp.ts): arithmetic,
// FMA3, F16C,
// compares, (U)COMIS, conversions. Packed rows: legacy m128 aligned, VEX.128/256;
// scalar rows: m32/m64 unaligned, VEX.L ignored, the rest of the register
// from the destination (legacy) or vvvv (VEX).
import { row, type Family, type Row } from "../table-format";

const rows: Row[] = [];
const fmts: [string, string, number][] = [["NP", "ps", 0], ["66", "pd", 1], ["F3", "ss", 2], ["F2", "sd", 3]];
const ariths: [string, string, number][] = [
  ["58", "add", 0], ["59", "mul", 1], ["5C", "sub", 2], ["5D", "min", 3], ["5E", "div", 4], ["5F", "max", 5], ["51", "sqrt", 6],
];
for (const [op, m, k] of ariths) for (const [p, sfx, f] of fmts) {
  const W = f >= 2 ? (f === 2 ? "Wd" : "Wq") : "Wx";
  const ex = `fparith(r, ${k}, ${f})`;
  rows.push(row(`${p} 0F ${op} /r`, `${m}${sfx} Vx,${W}`, ex, "strict"));
  rows.push(row(`${p} V 0F ${op} /r`, `v${m}${sfx} Vx,${k === 6 && f < 2 ? "" : "Hx,"}${W}`, ex, "strict"));
}
for (const [p, sfx, f] of fmts) {
  const W = f >= 2 ? (f === 2 ? "Wd" : "Wq") : "Wx";
  rows.push(row(`${p} 0F C2 /r`, `cmp${sfx} Vx,${W},Ib`, `fparith(r, 7, ${f})`, "strict"));
  rows.push(row(`${p} V 0F C2 /r`, `vcmp${sfx} Vx,Hx,${W},Ib`, `fparith(r, 7, ${f})`, "strict"));
}
for (const [p, sfx, d] of [["NP", "ss", false], ["66", "sd", true]] as [string, string, boolean][]) {
  for (const [op, m, sg] of [["2E", "ucomi", false], ["2F", "comi", true]] as [string, string, boolean][]) {
    rows.push(row(`${p} 0F ${op} /r`, `${m}${sfx} Vx,W${d ? "q" : "d"}`, `sse_comi(r, ${sg}, ${d})`, "strict"));
    rows.push(row(`${p} V 0F ${op} /r`, `v${m}${sfx} Vx,W${d ? "q" : "d"}`, `sse_comi(r, ${sg}, ${d})`, "strict"));
  }
}
for (const [p, sfx, d] of [["F3", "ss", false], ["F2", "sd", true]] as [string, string, boolean][]) {
  rows.push(row(`${p} 0F 2A /r`, `cvtsi2${sfx} Vx,Ey`, `cvtsi2f(r, ${d})`, "strict"));
  rows.push(row(`${p} V 0F 2A /r`, `vcvtsi2${sfx} Vx,Hx,Ey`, `cvtsi2f(r, ${d})`, "strict"));
  for (const [op, t] of [["2C", true], ["2D", false]] as [string, boolean][]) {
    rows.push(row(`${p} 0F ${op} /r`, `cvt${t ? "t" : ""}${sfx}2si Gy,W${d ? "q" : "d"}`, `cvtf2si(r, ${d}, ${t})`, "strict"));
    rows.push(row(`${p} V 0F ${op} /r`, `vcvt${t ? "t" : ""}${sfx}2si Gy,W${d ? "q" : "d"}`, `cvtf2si(r, ${d}, ${t})`, "strict"));
  }
}
const cvts: [string, string, string, number, boolean][] = [
  ["F3", "5A", "cvtss2sd", 0, true], ["F2", "5A", "cvtsd2ss", 1, true],
  ["NP", "5A", "cvtps2pd", 2, false], ["66", "5A", "cvtpd2ps", 3, false],
  ["NP", "5B", "cvtdq2ps", 4, false], ["66", "5B", "cvtps2dq", 5, false], ["F3", "5B", "cvttps2dq", 6, false],
  ["F3", "E6", "cvtdq2pd", 7, false], ["F2", "E6", "cvtpd2dq", 8, false], ["66", "E6", "cvttpd2dq", 9, false],
];
for (const [p, op, m, k, sc] of cvts) {
  rows.push(row(`${p} 0F ${op} /r`, `${m} Vx,Wx`, `fcvt(r, ${k})`, "strict"));
  rows.push(row(`${p} V 0F ${op} /r`, `v${m} Vx,${sc ? "Hx," : ""}Wx`, `fcvt(r, ${k})`, "strict"));
}

// SSE3 horizontal/alternating and SSE4.1 ROUND*
for (const [p, op, m, k, f] of [["F2", "7C", "haddps", 8, 0], ["66", "7C", "haddpd", 8, 1], ["F2", "7D", "hsubps", 9, 0],
  ["66", "7D", "hsubpd", 9, 1], ["F2", "D0", "addsubps", 10, 0], ["66", "D0", "addsubpd", 10, 1]] as [string, string, string, number, number][]) {
  rows.push(row(`${p} 0F ${op} /r`, `${m} Vx,Wx`, `fparith(r, ${k}, ${f})`, "strict"));
  rows.push(row(`${p} V 0F ${op} /r`, `v${m} Vx,Hx,Wx`, `fparith(r, ${k}, ${f})`, "strict"));
}
for (const [op, m, f] of [["08", "roundps", 0], ["09", "roundpd", 1], ["0A", "roundss", 2], ["0B", "roundsd", 3]] as [string, string, number][]) {
  const W = f >= 2 ? (f === 2 ? "Wd" : "Wq") : "Wx";
  rows.push(row(`66 0F 3A ${op} /r`, `${m} Vx,${W},Ib`, `fparith(r, 11, ${f})`, "strict"));
  rows.push(row(`66 V 0F 3A ${op} /r${f < 2 ? "" : ""}`, `v${m} Vx,${f >= 2 ? "Hx," : ""}${W},Ib`, `fparith(r, 11, ${f})`, "strict"));
}

// FMA3 (VEX 66 0F38 96-BF): W selects ps/pd (packed) or ss/sd (scalar)
const fmaops: [number, string, number, boolean][] = [
  [0x96, "fmaddsub", 4, true], [0x97, "fmsubadd", 5, true], [0x98, "fmadd", 0, true], [0x99, "fmadd", 0, false],
  [0x9A, "fmsub", 1, true], [0x9B, "fmsub", 1, false], [0x9C, "fnmadd", 2, true], [0x9D, "fnmadd", 2, false],
  [0x9E, "fnmsub", 3, true], [0x9F, "fnmsub", 3, false],
];
for (const [base, m, k, packed] of fmaops) for (const [ord, o] of [["132", 0], ["213", 1], ["231", 2]] as [string, number][]) {
  const op = (base + o * 0x10).toString(16).toUpperCase();
  for (const w of [0, 1]) {
    const sfx = packed ? (w ? "pd" : "ps") : (w ? "sd" : "ss");
    const W = packed ? "Wx" : w ? "Wq" : "Wd";
    rows.push(row(`66 V 0F 38 ${op} /r W${w}`, `v${m}${ord}${sfx} Vx,Hx,${W}`, `fma(r, ${k}, ${(packed ? 0 : 2) + w}, ${o})`, "strict"));
  }
}
// F16C
rows.push(row("66 V 0F 38 13 /r W0", "vcvtph2ps Vx,Wx", "cvtph2ps(r)", "strict"));
rows.push(row("66 V 0F 3A 1D /r W0", "vcvtps2ph Wx,Vx,Ib", "cvtps2ph(r)", "strict"));

export const ssefp: Family = { module: "ssefp", rows };
