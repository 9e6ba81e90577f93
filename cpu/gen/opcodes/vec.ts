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
