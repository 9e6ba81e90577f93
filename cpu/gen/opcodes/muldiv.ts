// Multiply and divide rows.
import { row, type Family } from "../table-format";

export const muldiv: Family = {
  module: "muldiv",
  rows: [
    row("F6 /4", "mul Eb", "mul1(r, false, $S, $MB)"),
    row("F7 /4", "mul Ev", "mul1(r, false, $S, $MB)"),
    row("F6 /5", "imul Eb", "mul1(r, true, $S, $MB)"),
    row("F7 /5", "imul Ev", "mul1(r, true, $S, $MB)"),
    row("F6 /6", "div Eb", "div1(r, false, $S, $MB)"),
    row("F7 /6", "div Ev", "div1(r, false, $S, $MB)"),
    row("F6 /7", "idiv Eb", "div1(r, true, $S, $MB)"),
    row("F7 /7", "idiv Ev", "div1(r, true, $S, $MB)"),
    row("0F AF /r", "imul Gv,Ev", "imul_GE<$T, $M>(r)"),
    row("69 /r", "imul Gv,Ev,Iz", "imul_GEI<$T, $M>(r)"),
    row("6B /r", "imul Gv,Ev,Ib", "imul_GEI<$T, $M>(r)"),
  ],
};
