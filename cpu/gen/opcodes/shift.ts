// Shift and rotate rows: group 2 (C0/C1/D0-D3) and SHLD/SHRD.
import { row, type Family, type Row } from "../table-format";

const rows: Row[] = [];
const forms: [string, string, string, string][] = [
  // opcode byte, opcode word, operand token, count source
  ["C0", "C1", "Ib", "OpCNTIB"], ["D0", "D1", "1", "OpCNTONE"], ["D2", "D3", "CL", "OpCNTCL"],
];
const names = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
for (const [ob, ov, tok, cnt] of forms) {
  const c = cnt === "OpCNTONE" ? 0 : cnt === "OpCNTCL" ? 1 : 2;
  names.forEach((nm, n) => {
    let exec: string;
    if (n < 4) exec = `rotate(r, ${n}, ${c}, $S, $MB)`;
    else {
      const k = n === 5 ? "OpSHR" : n === 7 ? "OpSAR" : "OpSHL";   // /6 SAL is SHL
      exec = `shift<${k}, ${cnt}, $T, $M>(r)`;
    }
    rows.push(row(`${ob} /${n}`, `${nm} Eb,${tok}`, exec), row(`${ov} /${n}`, `${nm} Ev,${tok}`, exec));
  });
}

export const shift: Family = {
  module: "shift",
  rows: [
    ...rows,
    row("0F A4 /r", "shld Ev,Gv,Ib", "shld(r, true, false, $S, $MB)"),
    row("0F A5 /r", "shld Ev,Gv,CL", "shld(r, true, true, $S, $MB)"),
    row("0F AC /r", "shrd Ev,Gv,Ib", "shld(r, false, false, $S, $MB)"),
    row("0F AD /r", "shrd Ev,Gv,CL", "shld(r, false, true, $S, $MB)"),
  ],
};
