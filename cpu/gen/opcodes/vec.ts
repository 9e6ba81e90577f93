// SSE / AVX / AVX-512 moves and integer logic, opmask registers.
import { row, type Family, type Row } from "../table-format";

const rows: Row[] = [];
// loads and stores: [opcode load, opcode store, prefix, mnemonic, aligned]
const moves: [string, string, string, string, boolean][] = [
  ["10", "11", "NP", "movups", false], ["28", "29", "NP", "movaps", true],
  ["10", "11", "66", "movupd", false], ["28", "29", "66", "movapd", true],
  ["6F", "7F", "66", "movdqa", true], ["6F", "7F", "F3", "movdqu", false],
];
for (const [ld, stc, p, m, al] of moves) {
  rows.push(row(`${p} 0F ${ld} /r`, `${m} Vx,Wx`, `vmov_load(r, $MB, ${al})`, "strict"));
  rows.push(row(`${p} 0F ${stc} /r`, `${m} Wx,Vx`, `vmov_store(r, $MB, ${al})`, "strict"));
  rows.push(row(`${p} V 0F ${ld} /r`, `v${m} Vx,Wx`, `vmov_load(r, $MB, ${al})`, "strict"));
  rows.push(row(`${p} V 0F ${stc} /r`, `v${m} Wx,Vx`, `vmov_store(r, $MB, ${al})`, "strict"));
}
// EVEX: vmovups/aps/upd/apd, vmovdqa32/64 (66), vmovdqu32/64 (F3), vmovdqu8/16 (F2)
for (const [ld, stc, p, m, al] of [...moves, ["6F", "7F", "F2", "movdqu8/16", false] as [string, string, string, string, boolean]]) {
  const mm = p === "66" && ld === "6F" ? "movdqa32/64" : p === "F3" && ld === "6F" ? "movdqu32/64" : m;
  rows.push(row(`${p} E 0F ${ld} /r`, `v${mm} Vx,Wx`, `vmov_load(r, $MB, ${al})`, "strict"));
  rows.push(row(`${p} E 0F ${stc} /r`, `v${mm} Wx,Vx`, `vmov_store(r, $MB, ${al})`, "strict"));
}
rows.push(
  row("66 0F 6E /r", "movd/q Vx,Ey", "movd(r, true, $MB)", "strict"),
  row("66 0F 7E /r", "movd/q Ey,Vx", "movd(r, false, $MB)", "strict"),
  row("66 V 0F 6E /r L0", "vmovd/q Vx,Ey", "movd(r, true, $MB)", "strict"),
  row("66 V 0F 7E /r L0", "vmovd/q Ey,Vx", "movd(r, false, $MB)", "strict"),
  row("F3 0F 7E /r", "movq Vx,Wq", "movq_xmm(r, true, $MB)", "strict"),
  row("66 0F D6 /r", "movq Wq,Vx", "movq_xmm(r, false, $MB)", "strict"),
  row("F3 V 0F 7E /r L0", "vmovq Vx,Wq", "movq_xmm(r, true, $MB)", "strict"),
  row("66 V 0F D6 /r L0", "vmovq Wq,Vx", "movq_xmm(r, false, $MB)", "strict"),
);
// integer logic/arithmetic: [opcode, mnemonic, OP, element size, evex?]
const ops: [string, string, number, number, boolean][] = [
  ["EF", "pxor", 0, 8, true], ["EB", "por", 1, 8, true], ["DB", "pand", 2, 8, true], ["DF", "pandn", 3, 8, true],
  ["FC", "paddb", 4, 1, false], ["FD", "paddw", 4, 2, false], ["FE", "paddd", 4, 4, true], ["D4", "paddq", 4, 8, true],
  ["F8", "psubb", 5, 1, false], ["F9", "psubw", 5, 2, false], ["FA", "psubd", 5, 4, true], ["FB", "psubq", 5, 8, true],
  ["74", "pcmpeqb", 6, 1, false], ["75", "pcmpeqw", 6, 2, false], ["76", "pcmpeqd", 6, 4, false],
];
for (const [op, m, k, e, ev] of ops) {
  rows.push(row(`66 0F ${op} /r`, `${m} Vx,Wx`, `vlogic(r, $MB, ${k}, ${e})`, "strict"));
  rows.push(row(`66 V 0F ${op} /r`, `v${m} Vx,Hx,Wx`, `vlogic(r, $MB, ${k}, ${e})`, "strict"));
  if (ev) rows.push(row(`66 E 0F ${op} /r`, `v${m}d/q Vx,Hx,Wx`, `vlogic(r, $MB, ${k}, ${e})`, "strict"));
}
rows.push(row("66 0F 38 29 /r", "pcmpeqq Vx,Wx", "vlogic(r, $MB, 6, 8)", "strict"));
for (const [op, m, k] of [["57", "xorps", 0], ["56", "orps", 1], ["54", "andps", 2], ["55", "andnps", 3]] as [string, string, number][]) {
  rows.push(row(`NP 0F ${op} /r`, `${m} Vx,Wx`, `vlogic(r, $MB, ${k}, 8)`, "strict"));
  rows.push(row(`66 0F ${op} /r`, `${m.replace("ps", "pd")} Vx,Wx`, `vlogic(r, $MB, ${k}, 8)`, "strict"));
  rows.push(row(`NP V 0F ${op} /r`, `v${m} Vx,Hx,Wx`, `vlogic(r, $MB, ${k}, 8)`, "strict"));
  rows.push(row(`66 V 0F ${op} /r`, `v${m.replace("ps", "pd")} Vx,Hx,Wx`, `vlogic(r, $MB, ${k}, 8)`, "strict"));
}

// ---- SSE2/SSSE3/SSE4.1 integer, shuffle and partial moves (+ VEX.128/256) ----
// vint(r, OP, ESZ): binary `op Vx,Wx` / `vop Vx,Hx,Wx`; OP numbers in cpu/exec/vec.ts.
// [prefix+map+opcode, mnemonic, OP, ESZ, operands suffix (imm), unary]
const ints: [string, string, number, number, string, boolean][] = [
  ["66 0F 60", "punpcklbw", 30, 1, "", false], ["66 0F 61", "punpcklwd", 30, 2, "", false],
  ["66 0F 62", "punpckldq", 30, 4, "", false], ["66 0F 6C", "punpcklqdq", 30, 8, "", false],
  ["66 0F 68", "punpckhbw", 31, 1, "", false], ["66 0F 69", "punpckhwd", 31, 2, "", false],
  ["66 0F 6A", "punpckhdq", 31, 4, "", false], ["66 0F 6D", "punpckhqdq", 31, 8, "", false],
  ["NP 0F 14", "unpcklps", 30, 4, "", false], ["NP 0F 15", "unpckhps", 31, 4, "", false],
  ["66 0F 14", "unpcklpd", 30, 8, "", false], ["66 0F 15", "unpckhpd", 31, 8, "", false],
  ["66 0F 63", "packsswb", 32, 2, "", false], ["66 0F 6B", "packssdw", 32, 4, "", false],
  ["66 0F 67", "packuswb", 33, 2, "", false], ["66 0F 38 2B", "packusdw", 33, 4, "", false],
  ["66 0F 64", "pcmpgtb", 12, 1, "", false], ["66 0F 65", "pcmpgtw", 12, 2, "", false],
  ["66 0F 66", "pcmpgtd", 12, 4, "", false], ["66 0F 38 37", "pcmpgtq", 12, 8, "", false],
  ["66 0F DC", "paddusb", 1, 1, "", false], ["66 0F DD", "paddusw", 1, 2, "", false],
  ["66 0F D8", "psubusb", 2, 1, "", false], ["66 0F D9", "psubusw", 2, 2, "", false],
  ["66 0F EC", "paddsb", 3, 1, "", false], ["66 0F ED", "paddsw", 3, 2, "", false],
  ["66 0F E8", "psubsb", 4, 1, "", false], ["66 0F E9", "psubsw", 4, 2, "", false],
  ["66 0F D5", "pmullw", 5, 2, "", false], ["66 0F 38 40", "pmulld", 5, 4, "", false],
  ["66 0F E5", "pmulhw", 6, 2, "", false], ["66 0F E4", "pmulhuw", 7, 2, "", false],
  ["66 0F F4", "pmuludq", 17, 8, "", false], ["66 0F 38 28", "pmuldq", 18, 8, "", false],
  ["66 0F F5", "pmaddwd", 19, 4, "", false], ["66 0F F6", "psadbw", 20, 8, "", false],
  ["66 0F DA", "pminub", 8, 1, "", false], ["66 0F DE", "pmaxub", 9, 1, "", false],
  ["66 0F EA", "pminsw", 10, 2, "", false], ["66 0F EE", "pmaxsw", 11, 2, "", false],
  ["66 0F 38 38", "pminsb", 10, 1, "", false], ["66 0F 38 3C", "pmaxsb", 11, 1, "", false],
  ["66 0F 38 39", "pminsd", 10, 4, "", false], ["66 0F 38 3D", "pmaxsd", 11, 4, "", false],
  ["66 0F 38 3A", "pminuw", 8, 2, "", false], ["66 0F 38 3E", "pmaxuw", 9, 2, "", false],
  ["66 0F 38 3B", "pminud", 8, 4, "", false], ["66 0F 38 3F", "pmaxud", 9, 4, "", false],
  ["66 0F E0", "pavgb", 13, 1, "", false], ["66 0F E3", "pavgw", 13, 2, "", false],
  ["66 0F F1", "psllw", 14, 2, "", false], ["66 0F F2", "pslld", 14, 4, "", false], ["66 0F F3", "psllq", 14, 8, "", false],
  ["66 0F D1", "psrlw", 15, 2, "", false], ["66 0F D2", "psrld", 15, 4, "", false], ["66 0F D3", "psrlq", 15, 8, "", false],
  ["66 0F E1", "psraw", 16, 2, "", false], ["66 0F E2", "psrad", 16, 4, "", false],
  ["66 0F 38 00", "pshufb", 34, 1, "", false], ["66 0F 3A 0F", "palignr", 35, 1, ",Ib", false],
  ["NP 0F C6", "shufps", 36, 4, ",Ib", false], ["66 0F C6", "shufpd", 37, 8, ",Ib", false],
  ["66 0F 70", "pshufd", 40, 4, ",Ib", true], ["F2 0F 70", "pshuflw", 41, 2, ",Ib", true],
  ["F3 0F 70", "pshufhw", 42, 2, ",Ib", true],
  ["66 0F 38 08", "psignb", 44, 1, "", false], ["66 0F 38 09", "psignw", 44, 2, "", false], ["66 0F 38 0A", "psignd", 44, 4, "", false],
  ["66 0F 38 01", "phaddw", 45, 2, "", false], ["66 0F 38 02", "phaddd", 45, 4, "", false], ["66 0F 38 03", "phaddsw", 47, 2, "", false],
  ["66 0F 38 05", "phsubw", 46, 2, "", false], ["66 0F 38 06", "phsubd", 46, 4, "", false], ["66 0F 38 07", "phsubsw", 48, 2, "", false],
  ["66 0F 38 04", "pmaddubsw", 49, 1, "", false], ["66 0F 38 0B", "pmulhrsw", 50, 2, "", false],
  ["66 0F 3A 0E", "pblendw", 51, 2, ",Ib", false], ["66 0F 3A 0C", "blendps", 52, 4, ",Ib", false], ["66 0F 3A 0D", "blendpd", 52, 8, ",Ib", false],
  ["F3 0F 12", "movsldup", 54, 4, "", true], ["F3 0F 16", "movshdup", 55, 4, "", true], ["F2 0F 12", "movddup", 56, 8, "", true],
  ["66 0F 38 1C", "pabsb", 43, 1, "", true], ["66 0F 38 1D", "pabsw", 43, 2, "", true], ["66 0F 38 1E", "pabsd", 43, 4, "", true],
];
for (const [enc, m, k, e, imm, un] of ints) {
  const [p, ...rest] = enc.split(" ");
  const vm = m.startsWith("p") || m.startsWith("unpck") || m.startsWith("shuf") ? "v" + m : m;
  rows.push(row(`${enc} /r`, `${m} Vx,Wx${imm}`, `vint(r, ${k}, ${e})`, "strict"));
  rows.push(row(`${p} V ${rest.join(" ")} /r`, `${vm} Vx,${un ? "" : "Hx,"}Wx${imm}`, `vint(r, ${k}, ${e})`, "strict"));
}
// shifts by immediate: 66 0F 71/72/73 /N ib (register form only)
rows.push(
  row("66 0F 38 41 /r", "phminposuw Vx,Wx", "vint(r, 57, 2)", "strict"),
  row("66 V 0F 38 41 /r L0", "vphminposuw Vx,Wx", "vint(r, 57, 2)", "strict"),
  row("66 0F 38 10 /r", "pblendvb Vx,Wx", "vblendv(r, 1)", "strict"),
  row("66 0F 38 14 /r", "blendvps Vx,Wx", "vblendv(r, 4)", "strict"),
  row("66 0F 38 15 /r", "blendvpd Vx,Wx", "vblendv(r, 8)", "strict"),
  row("66 V 0F 3A 4C /r W0", "vpblendvb Vx,Hx,Wx,Ib", "vblendv(r, 1)", "strict"),
  row("66 V 0F 3A 4A /r W0", "vblendvps Vx,Hx,Wx,Ib", "vblendv(r, 4)", "strict"),
  row("66 V 0F 3A 4B /r W0", "vblendvpd Vx,Hx,Wx,Ib", "vblendv(r, 8)", "strict"),
  row("66 0F 3A 21 /r", "insertps Vx,Wd,Ib", "vinsertps(r)", "strict"),
  row("66 V 0F 3A 21 /r L0", "vinsertps Vx,Hx,Wd,Ib", "vinsertps(r)", "strict"),
  row("66 0F 3A 17 /r", "extractps Ed,Vx,Ib", "vpextr(r, 0, false)", "strict"),
  row("66 V 0F 3A 17 /r L0", "vextractps Ed,Vx,Ib", "vpextr(r, 0, false)", "strict"),
  // AVX2 / AVX lane-crossing and broadcast rows (VEX only)
  row("66 V 0F 38 78 /r W0", "vpbroadcastb Vx,Wb", "vbcast(r, 1)", "strict"),
  row("66 V 0F 38 79 /r W0", "vpbroadcastw Vx,Ww", "vbcast(r, 2)", "strict"),
  row("66 V 0F 38 58 /r W0", "vpbroadcastd Vx,Wd", "vbcast(r, 4)", "strict"),
  row("66 V 0F 38 59 /r W0", "vpbroadcastq Vx,Wq", "vbcast(r, 8)", "strict"),
  row("66 V 0F 38 18 /r W0", "vbroadcastss Vx,Wd", "vbcast(r, 4)", "strict"),
  row("66 V 0F 38 19 /r W0 L1", "vbroadcastsd Vx,Wq", "vbcast(r, 8)", "strict"),
  row("66 V 0F 38 5A /r mem W0 L1", "vbroadcasti128 Vx,Mx", "vbcast(r, 16)", "strict"),
  row("66 V 0F 38 1A /r mem W0 L1", "vbroadcastf128 Vx,Mx", "vbcast(r, 16)", "strict"),
  row("66 V 0F 3A 38 /r W0 L1", "vinserti128 Vx,Hx,Wx,Ib", "vinsert128(r)", "strict"),
  row("66 V 0F 3A 18 /r W0 L1", "vinsertf128 Vx,Hx,Wx,Ib", "vinsert128(r)", "strict"),
  row("66 V 0F 3A 39 /r W0 L1", "vextracti128 Wx,Vx,Ib", "vextract128(r)", "strict"),
  row("66 V 0F 3A 19 /r W0 L1", "vextractf128 Wx,Vx,Ib", "vextract128(r)", "strict"),
  // VPERMQ/VPERMPD are W1 in the SDM (iced: W0 invalid); Zen 4 executes W0 too (test/cpu/sse.test.ts)
  row("66 V 0F 3A 00 /r L1", "vpermq Vx,Wx,Ib", "vint(r, 63, 8)", "strict"),
  row("66 V 0F 3A 01 /r L1", "vpermpd Vx,Wx,Ib", "vint(r, 63, 8)", "strict"),
  row("66 V 0F 38 36 /r W0 L1", "vpermd Vx,Hx,Wx", "vint(r, 64, 4)", "strict"),
  row("66 V 0F 38 16 /r W0 L1", "vpermps Vx,Hx,Wx", "vint(r, 64, 4)", "strict"),
  row("66 V 0F 3A 46 /r W0 L1", "vperm2i128 Vx,Hx,Wx,Ib", "vint(r, 65, 16)", "strict"),
  row("66 V 0F 3A 06 /r W0 L1", "vperm2f128 Vx,Hx,Wx,Ib", "vint(r, 65, 16)", "strict"),
  row("66 V 0F 3A 02 /r W0", "vpblendd Vx,Hx,Wx,Ib", "vint(r, 52, 4)", "strict"),
  row("66 V 0F 38 47 /r W0", "vpsllvd Vx,Hx,Wx", "vint(r, 60, 4)", "strict"),
  row("66 V 0F 38 47 /r W1", "vpsllvq Vx,Hx,Wx", "vint(r, 60, 8)", "strict"),
  row("66 V 0F 38 45 /r W0", "vpsrlvd Vx,Hx,Wx", "vint(r, 61, 4)", "strict"),
  row("66 V 0F 38 45 /r W1", "vpsrlvq Vx,Hx,Wx", "vint(r, 61, 8)", "strict"),
  row("66 V 0F 38 46 /r W0", "vpsravd Vx,Hx,Wx", "vint(r, 62, 4)", "strict"),
  row("66 V 0F 3A 04 /r W0", "vpermilps Vx,Wx,Ib", "vint(r, 40, 4)", "strict"),
  row("66 V 0F 3A 05 /r W0", "vpermilpd Vx,Wx,Ib", "vint(r, 66, 8)", "strict"),
  row("66 V 0F 38 0C /r W0", "vpermilps Vx,Hx,Wx", "vint(r, 67, 4)", "strict"),
  row("66 V 0F 38 0D /r W0", "vpermilpd Vx,Hx,Wx", "vint(r, 68, 8)", "strict"),
);
const shimm: [string, number, string, number, number][] = [
  ["71", 2, "psrlw", 15, 2], ["71", 4, "psraw", 16, 2], ["71", 6, "psllw", 14, 2],
  ["72", 2, "psrld", 15, 4], ["72", 4, "psrad", 16, 4], ["72", 6, "pslld", 14, 4],
  ["73", 2, "psrlq", 15, 8], ["73", 3, "psrldq", 22, 1], ["73", 6, "psllq", 14, 8], ["73", 7, "pslldq", 21, 1],
];
for (const [op, n, m, k, e] of shimm) {
  rows.push(row(`66 0F ${op} /${n} reg`, `${m} Ux,Ib`, `vshimm(r, ${k}, ${e})`, "strict"));
  rows.push(row(`66 V 0F ${op} /${n} reg`, `v${m} Hx,Ux,Ib`, `vshimm(r, ${k}, ${e})`, "strict"));
}
// PMOVSX/PMOVZX: [opcode low nibble, suffix, source size, dest size]
for (const [lo, sfx2, s, d] of [[0, "bw", 1, 2], [1, "bd", 1, 4], [2, "bq", 1, 8], [3, "wd", 2, 4], [4, "wq", 2, 8], [5, "dq", 4, 8]] as [number, string, number, number][]) {
  for (const [hi, sg] of [[2, true], [3, false]] as [number, boolean][]) {
    const op = (hi * 16 + lo).toString(16).toUpperCase();
    const m = `pmov${sg ? "sx" : "zx"}${sfx2}`;
    rows.push(row(`66 0F 38 ${op} /r`, `${m} Vx,Wx`, `vpmovx(r, ${s}, ${d}, ${sg})`, "strict"));
    rows.push(row(`66 V 0F 38 ${op} /r`, `v${m} Vx,Wx`, `vpmovx(r, ${s}, ${d}, ${sg})`, "strict"));
  }
}
rows.push(
  row("66 0F 38 17 /r", "ptest Vx,Wx", "vptest(r)", "strict"),
  row("66 V 0F 38 17 /r", "vptest Vx,Wx", "vptest(r)", "strict"),
  row("66 0F D7 /r reg", "pmovmskb Gd,Ux", "vmovmsk(r, 1)", "strict"),
  row("66 V 0F D7 /r reg", "vpmovmskb Gd,Ux", "vmovmsk(r, 1)", "strict"),
  row("NP 0F 50 /r reg", "movmskps Gd,Ux", "vmovmsk(r, 4)", "strict"),
  row("NP V 0F 50 /r reg", "vmovmskps Gd,Ux", "vmovmsk(r, 4)", "strict"),
  row("66 0F 50 /r reg", "movmskpd Gd,Ux", "vmovmsk(r, 8)", "strict"),
  row("66 V 0F 50 /r reg", "vmovmskpd Gd,Ux", "vmovmsk(r, 8)", "strict"),
  // PINSR/PEXTR
  row("66 0F C4 /r", "pinsrw Vx,Ey,Ib", "vpinsr(r, 2)", "strict"),
  row("66 V 0F C4 /r L0", "vpinsrw Vx,Hx,Ey,Ib", "vpinsr(r, 2)", "strict"),
  row("66 0F 3A 20 /r", "pinsrb Vx,Ey,Ib", "vpinsr(r, 1)", "strict"),
  row("66 V 0F 3A 20 /r L0", "vpinsrb Vx,Hx,Ey,Ib", "vpinsr(r, 1)", "strict"),
  row("66 0F 3A 22 /r", "pinsrd/q Vx,Ey,Ib", "vpinsr(r, 4)", "strict"),
  row("66 V 0F 3A 22 /r L0", "vpinsrd/q Vx,Hx,Ey,Ib", "vpinsr(r, 4)", "strict"),
  row("66 0F C5 /r reg", "pextrw Gd,Ux,Ib", "vpextr(r, 2, true)", "strict"),
  row("66 V 0F C5 /r reg L0", "vpextrw Gd,Ux,Ib", "vpextr(r, 2, true)", "strict"),
  row("66 0F 3A 14 /r", "pextrb Ey,Vx,Ib", "vpextr(r, 1, false)", "strict"),
  row("66 V 0F 3A 14 /r L0", "vpextrb Ey,Vx,Ib", "vpextr(r, 1, false)", "strict"),
  row("66 0F 3A 15 /r", "pextrw Ey,Vx,Ib", "vpextr(r, 2, false)", "strict"),
  row("66 V 0F 3A 15 /r L0", "vpextrw Ey,Vx,Ib", "vpextr(r, 2, false)", "strict"),
  row("66 0F 3A 16 /r", "pextrd/q Ey,Vx,Ib", "vpextr(r, 4, false)", "strict"),
  row("66 V 0F 3A 16 /r L0", "vpextrd/q Ey,Vx,Ib", "vpextr(r, 4, false)", "strict"),
  // MOVSS/MOVSD: memory forms have no vvvv; VEX register forms merge from vvvv
  row("F3 0F 10 /r", "movss Vx,Wd", "vmovs(r, false, 4)", "strict"),
  row("F3 0F 11 /r", "movss Wd,Vx", "vmovs(r, true, 4)", "strict"),
  row("F2 0F 10 /r", "movsd Vx,Wq", "vmovs(r, false, 8)", "strict"),
  row("F2 0F 11 /r", "movsd Wq,Vx", "vmovs(r, true, 8)", "strict"),
  row("F3 V 0F 10 /r mem", "vmovss Vx,Md", "vmovs(r, false, 4)", "strict"),
  row("F3 V 0F 10 /r reg", "vmovss Vx,Hx,Ux", "vmovs(r, false, 4)", "strict"),
  row("F3 V 0F 11 /r mem", "vmovss Md,Vx", "vmovs(r, true, 4)", "strict"),
  row("F3 V 0F 11 /r reg", "vmovss Ux,Hx,Vx", "vmovs(r, true, 4)", "strict"),
  row("F2 V 0F 10 /r mem", "vmovsd Vx,Mq", "vmovs(r, false, 8)", "strict"),
  row("F2 V 0F 10 /r reg", "vmovsd Vx,Hx,Ux", "vmovs(r, false, 8)", "strict"),
  row("F2 V 0F 11 /r mem", "vmovsd Mq,Vx", "vmovs(r, true, 8)", "strict"),
  row("F2 V 0F 11 /r reg", "vmovsd Ux,Hx,Vx", "vmovs(r, true, 8)", "strict"),
  // MOVLPS/MOVHPS/MOVLPD/MOVHPD/MOVHLPS/MOVLHPS
  row("NP 0F 12 /r", "movlps/movhlps Vx,Wq", "vmovhl(r, false, false)", "strict"),
  row("NP 0F 16 /r", "movhps/movlhps Vx,Wq", "vmovhl(r, false, true)", "strict"),
  row("66 0F 12 /r mem", "movlpd Vx,Mq", "vmovhl(r, false, false)", "strict"),
  row("66 0F 16 /r mem", "movhpd Vx,Mq", "vmovhl(r, false, true)", "strict"),
  row("NP 0F 13 /r mem", "movlps Mq,Vx", "vmovhl(r, true, false)", "strict"),
  row("66 0F 13 /r mem", "movlpd Mq,Vx", "vmovhl(r, true, false)", "strict"),
  row("NP 0F 17 /r mem", "movhps Mq,Vx", "vmovhl(r, true, true)", "strict"),
  row("66 0F 17 /r mem", "movhpd Mq,Vx", "vmovhl(r, true, true)", "strict"),
  row("NP V 0F 12 /r L0", "vmovlps/vmovhlps Vx,Hx,Wq", "vmovhl(r, false, false)", "strict"),
  row("NP V 0F 16 /r L0", "vmovhps/vmovlhps Vx,Hx,Wq", "vmovhl(r, false, true)", "strict"),
  row("66 V 0F 12 /r mem L0", "vmovlpd Vx,Hx,Mq", "vmovhl(r, false, false)", "strict"),
  row("66 V 0F 16 /r mem L0", "vmovhpd Vx,Hx,Mq", "vmovhl(r, false, true)", "strict"),
  row("NP V 0F 13 /r mem L0", "vmovlps Mq,Vx", "vmovhl(r, true, false)", "strict"),
  row("66 V 0F 13 /r mem L0", "vmovlpd Mq,Vx", "vmovhl(r, true, false)", "strict"),
  row("NP V 0F 17 /r mem L0", "vmovhps Mq,Vx", "vmovhl(r, true, true)", "strict"),
  row("66 V 0F 17 /r mem L0", "vmovhpd Mq,Vx", "vmovhl(r, true, true)", "strict"),
  // non-temporal stores (aligned, VEX too), MOVNTDQA, LDDQU, MOVNTI
  row("66 0F E7 /r mem", "movntdq Mx,Vx", "vmov_store(r, true, true)", "strict"),
  row("66 V 0F E7 /r mem", "vmovntdq Mx,Vx", "vmov_store(r, true, true)", "strict"),
  row("NP 0F 2B /r mem", "movntps Mx,Vx", "vmov_store(r, true, true)", "strict"),
  row("NP V 0F 2B /r mem", "vmovntps Mx,Vx", "vmov_store(r, true, true)", "strict"),
  row("66 0F 2B /r mem", "movntpd Mx,Vx", "vmov_store(r, true, true)", "strict"),
  row("66 V 0F 2B /r mem", "vmovntpd Mx,Vx", "vmov_store(r, true, true)", "strict"),
  row("66 0F 38 2A /r mem", "movntdqa Vx,Mx", "vmov_load(r, true, true)", "strict"),
  row("66 V 0F 38 2A /r mem", "vmovntdqa Vx,Mx", "vmov_load(r, true, true)", "strict"),
  row("F2 0F F0 /r mem", "lddqu Vx,Mx", "vmov_load(r, true, false)", "strict"),
  row("F2 V 0F F0 /r mem", "vlddqu Vx,Mx", "vmov_load(r, true, false)", "strict"),
  row("NP 0F C3 /r mem", "movnti My,Gy", "movnti(r)", "strict"),
);
rows.push(row("66 E 0F 3A 25 /r", "vpternlogd/q Vx,Hx,Wx,Ib", "vpternlog(r, $MB)", "strict"));
rows.push(
  row("NP V 0F 77 L0", "vzeroupper", "vzero(r, false)"),
  row("NP V 0F 77 L1", "vzeroall", "vzero(r, true)"),
);
// opmask: [prefix, W, width] for the 90/91/98/4x group, and for 92/93
const kw: [string, string, number][] = [["NP", "W0", 16], ["66", "W0", 8], ["NP", "W1", 64], ["66", "W1", 32]];
const kw2: [string, string, number][] = [["NP", "W0", 16], ["66", "W0", 8], ["F2", "W0", 32], ["F2", "W1", 64]];
const sfx = (b: number) => (b === 8 ? "b" : b === 16 ? "w" : b === 32 ? "d" : "q");
for (const [p, w, b] of kw) {
  rows.push(row(`${p} V 0F 90 /r ${w} L0`, `kmov${sfx(b)} Kk,Mk`, `kmov(r, 0, ${b}, $MB)`, "strict"));
  rows.push(row(`${p} V 0F 91 /r mem ${w} L0`, `kmov${sfx(b)} Mk,Kk`, `kmov(r, 1, ${b}, true)`, "strict"));
  rows.push(row(`${p} V 0F 98 /r reg ${w} L0`, `kortest${sfx(b)} Kk,Kk`, `kortest(r, ${b})`, "strict"));
  for (const [op, m, k] of [["41", "kand", 0], ["42", "kandn", 1], ["45", "kor", 2], ["46", "kxnor", 3], ["47", "kxor", 4]] as [string, string, number][]) {
    rows.push(row(`${p} V 0F ${op} /r reg ${w} L1`, `${m}${sfx(b)} Kk,Hk,Uk`, `klogic(r, ${k}, ${b})`, "strict"));
  }
}
for (const [p, w, b] of kw2) {
  rows.push(row(`${p} V 0F 92 /r reg ${w} L0`, `kmov${sfx(b)} Kk,Ry`, `kmov(r, 2, ${b}, false)`, "strict"));
  rows.push(row(`${p} V 0F 93 /r reg ${w} L0`, `kmov${sfx(b)} Gy,Kk`, `kmov(r, 3, ${b}, false)`, "strict"));
}

export const vec: Family = { module: "vec", rows };
