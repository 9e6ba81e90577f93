import { row, type Family } from "../table-format";

// String instructions. The unprefixed forms run inline in their block; the
// F3/F2 forms end the block so a long REP can yield to the run loop with RIP
// still at the instruction (cpu/exec/string.ts). F2 on MOVS/STOS/LODS is a
// plain REP on silicon.
const ops: [number, string, string, string][] = [
  // opcode (byte form), mnemonic, byte operands, v operands
  [0xa4, "movs", "Yb,Xb", "Yv,Xv"],
  [0xa6, "cmps", "Xb,Yb", "Xv,Yv"],
  [0xaa, "stos", "Yb,AL", "Yv,rAX"],
  [0xac, "lods", "AL,Xb", "rAX,Xv"],
  [0xae, "scas", "AL,Yb", "rAX,Yv"],
];
const hex = (v: number) => v.toString(16).toUpperCase();
const rows = [];
for (const [op, m, b, v] of ops) {
  const cmp = m === "cmps" || m === "scas";
  rows.push(row(hex(op), `${m} ${b}`, `${m}<$T>(r)`, "size8"));
  rows.push(row(hex(op + 1), `${m} ${v}`, `${m}<$T>(r)`, "osz"));
  rows.push(row(`F3 ${hex(op)}`, `${cmp ? "repe" : "rep"} ${m} ${b}`, `rep_${m}<$T>(r)`, "size8 rep end"));
  rows.push(row(`F3 ${hex(op + 1)}`, `${cmp ? "repe" : "rep"} ${m} ${v}`, `rep_${m}<$T>(r)`, "osz rep end"));
  rows.push(row(`F2 ${hex(op)}`, `${cmp ? "repne" : "rep"} ${m} ${b}`, `rep_${m}<$T>(r)`, "size8 rep end"));
  rows.push(row(`F2 ${hex(op + 1)}`, `${cmp ? "repne" : "rep"} ${m} ${v}`, `rep_${m}<$T>(r)`, "osz rep end"));
}

export const string: Family = { module: "string", rows };
