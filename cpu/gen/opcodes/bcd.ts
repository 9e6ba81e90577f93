import { row, type Family } from "../table-format";

// Legacy-mode arithmetic (cpu/exec/bcd.ts): all invalid in 64-bit mode, where
// 62 is the EVEX escape and 63 is MOVSXD (mov.ts, o64).
export const bcd: Family = {
  module: "bcd",
  rows: [
    row("27", "daa", "daa_das(r, false)", "i64"),
    row("2F", "das", "daa_das(r, true)", "i64"),
    row("37", "aaa", "aaa_aas(r, false)", "i64"),
    row("3F", "aas", "aaa_aas(r, true)", "i64"),
    row("D4", "aam Ib", "aam(r)", "i64"),
    row("D5", "aad Ib", "aad(r)", "i64"),
    row("D6", "salc", "salc(r)", "i64"),
    row("62 /r mem", "bound Gv,Ma", "bound(r, $S)", "i64 osz"),
    row("63 /r", "arpl Ew,Gw", "arpl(r, $MB)", "i64"),
  ],
};
