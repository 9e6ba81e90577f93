// Bit test / scan / count rows.
import { row, type Family } from "../table-format";

export const bit: Family = {
  module: "bit",
  rows: [
    row("0F A3 /r", "bt Ev,Gv", "bt_EG(r, 0, $S, $MB)"),
    row("0F AB /r", "bts Ev,Gv", "bt_EG(r, 1, $S, $MB)", "lock"),
    row("0F B3 /r", "btr Ev,Gv", "bt_EG(r, 2, $S, $MB)", "lock"),
    row("0F BB /r", "btc Ev,Gv", "bt_EG(r, 3, $S, $MB)", "lock"),
    row("0F BA /4", "bt Ev,Ib", "bt_EI(r, 0, $S, $MB)"),
    row("0F BA /5", "bts Ev,Ib", "bt_EI(r, 1, $S, $MB)", "lock"),
    row("0F BA /6", "btr Ev,Ib", "bt_EI(r, 2, $S, $MB)", "lock"),
    row("0F BA /7", "btc Ev,Ib", "bt_EI(r, 3, $S, $MB)", "lock"),
    row("0F BC /r", "bsf Gv,Ev", "bsf(r, false, $S, $MB)"),
    row("0F BD /r", "bsr Gv,Ev", "bsf(r, true, $S, $MB)"),
    row("F3 0F BC /r", "tzcnt Gv,Ev", "tzcnt(r, false, $S, $MB)"),
    row("F3 0F BD /r", "lzcnt Gv,Ev", "tzcnt(r, true, $S, $MB)"),
    row("F3 0F B8 /r", "popcnt Gv,Ev", "popcnt_op(r, $S, $MB)"),
  ],
};
