import { row, type Family } from "../table-format";

export const stack: Family = {
  module: "stack",
  rows: [
    row("50 +r", "push Zv", "push_Z<$T>(r)", "d64"),
    row("58 +r", "pop Zv", "pop_Z<$T>(r)", "d64"),
    row("6A", "push Ib", "push_I<$T>(r)", "d64"),
    row("68", "push Iz", "push_I<$T>(r)", "d64"),
    row("FF /6", "push Ev", "push_E<$T, $M>(r)", "d64"),
    row("8F /0", "pop Ev", "pop_E(r, $S, $MB)", "d64"),
    row("60", "pusha", "pusha(r, $S)", "i64 osz"),
    row("61", "popa", "popa(r, $S)", "i64 osz"),
    row("C8", "enter Iw,Ib", "enter(r, $S)", "d64"),
    row("C9", "leave", "leave(r, $S)", "d64"),
  ],
};
