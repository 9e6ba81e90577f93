import { row, type Family } from "../table-format";

export const io: Family = {
  module: "io",
  rows: [
    row("E4", "in AL,Ib", "io_in(r, 8, PORT_IB)"),
    row("E5", "in eAX,Ib", "io_in(r, $S == 64 ? 32 : $S, PORT_IB)"),
    row("EC", "in AL,DX", "io_in(r, 8, PORT_DX)"),
    row("ED", "in eAX,DX", "io_in(r, $S == 64 ? 32 : $S, PORT_DX)"),
    row("E6", "out Ib,AL", "io_out(r, 8, PORT_IB)"),
    row("E7", "out Ib,eAX", "io_out(r, $S == 64 ? 32 : $S, PORT_IB)"),
    row("EE", "out DX,AL", "io_out(r, 8, PORT_DX)"),
    row("EF", "out DX,eAX", "io_out(r, $S == 64 ? 32 : $S, PORT_DX)"),
    row("6C", "insb", "io_string(r, 8, false)", "rep end"),
    row("6D", "insd", "io_string(r, $S == 64 ? 32 : $S, false)", "rep osz end"),
    row("6E", "outsb", "io_string(r, 8, true)", "rep end"),
    row("6F", "outsd", "io_string(r, $S == 64 ? 32 : $S, true)", "rep osz end"),
  ],
};
