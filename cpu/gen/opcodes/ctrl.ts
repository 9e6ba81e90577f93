import { row, type Family } from "../table-format";

const cc = ["o", "no", "b", "nb", "z", "nz", "be", "nbe", "s", "ns", "p", "np", "l", "nl", "le", "nle"];
const h = (x: number) => x.toString(16).toUpperCase().padStart(2, "0");

export const ctrl: Family = {
  module: "ctrl",
  rows: [
    ...cc.map((c, i) => row(h(0x70 + i), `j${c} Jb`, "jcc<$T>(r)", "f64 end")),
    ...cc.map((c, i) => row(`0F ${h(0x80 + i)}`, `j${c} Jz`, "jcc<$T>(r)", "f64 end")),
    row("EB", "jmp Jb", "jmp_rel<$T>(r)", "f64 end"),
    row("E9", "jmp Jz", "jmp_rel<$T>(r)", "f64 end"),
    row("E8", "call Jz", "call_rel<$T>(r)", "f64 end"),
    row("FF /2", "call Ev", "call_E<$T, $M>(r)", "f64 end"),
    row("FF /4", "jmp Ev", "jmp_E<$T, $M>(r)", "f64 end"),
    row("C3", "ret", "ret_near<$T>(r, false)", "f64 end"),
    row("C2", "ret Iw", "ret_near<$T>(r, true)", "f64 end"),
    row("E0", "loopne Jb", "loop_jcxz(r, $S)", "f64 end"),
    row("E1", "loope Jb", "loop_jcxz(r, $S)", "f64 end"),
    row("E2", "loop Jb", "loop_jcxz(r, $S)", "f64 end"),
    row("E3", "jrcxz Jb", "loop_jcxz(r, $S)", "f64 end"),
  ],
};
