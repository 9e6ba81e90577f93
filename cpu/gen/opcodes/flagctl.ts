import { row, type Family } from "../table-format";

export const flagctl: Family = {
  module: "flagctl",
  rows: [
    row("9C", "pushf", "pushf(r, $S)", "d64"),
    row("9D", "popf", "popf(r, $S)", "d64 end"),
    row("F8", "clc", "clc(r)"),
    row("F9", "stc", "stc(r)"),
    row("F5", "cmc", "cmc(r)"),
    row("FC", "cld", "cld(r)"),
    row("FD", "std", "std_(r)"),
    row("FA", "cli", "cli(r)"),
    row("FB", "sti", "sti(r)", "end"),
  ],
};
