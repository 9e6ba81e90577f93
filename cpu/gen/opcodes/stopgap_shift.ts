// STOPGAP (bench branch): group-2 SHL/SAL/SHR/SAR/ROL/ROR so that the W1/W2 benchmark guests
// (and the boot path they share) run on this branch. The ISA work owns the real shift family:
// when it lands, delete this file, cpu/exec/stopgap_shift.ts and its line in index.ts.
// RCL/RCR are not here (they stay #UD).
import { row, type Family, type Row } from "../table-format";

const rows: Row[] = [];
const forms: [string, string][] = [["C0", "Eb,Ib"], ["C1", "Ev,Ib"], ["D0", "Eb,1"], ["D1", "Ev,1"], ["D2", "Eb,CL"], ["D3", "Ev,CL"]];
for (const [op, args] of forms) {
  rows.push(
    row(`${op} /0`, `rol ${args}`, "rot_E(r, ROL, $S, $MB)"),
    row(`${op} /1`, `ror ${args}`, "rot_E(r, ROR, $S, $MB)"),
    row(`${op} /4`, `shl ${args}`, "shl_E<$T, $M>(r)"),
    row(`${op} /5`, `shr ${args}`, "shr_E<$T, $M>(r)"),
    row(`${op} /6`, `sal ${args}`, "shl_E<$T, $M>(r)"),
    row(`${op} /7`, `sar ${args}`, "sar_E<$T, $M>(r)"),
  );
}

export const stopgap_shift: Family = { module: "stopgap_shift", rows };
