import { row, type Family } from "../table-format";

export const intr: Family = {
  module: "intr",
  rows: [
    row("CD", "int Ib", "int_n(r)", "end"),
    row("CC", "int3", "int3(r)", "end"),
    row("CE", "into", "into(r)", "i64 end"),
    row("F1", "int1", "int1(r)", "end"),
    row("CF", "iret", "iret(r, $S)", "osz end"),
    row("EA", "jmp Ap", "jmp_far_ptr(r, $S)", "i64 osz end"),
    row("FF /5 mem", "jmp Mp", "jmp_far_mem(r, $S)", "osz end"),
    row("9A", "call Ap", "call_far_ptr(r, $S)", "i64 osz end"),
    row("FF /3 mem", "call Mp", "call_far_mem(r, $S)", "osz end"),
    row("CB", "retf", "retf(r, $S, false)", "osz end"),
    row("CA", "retf Iw", "retf(r, $S, true)", "osz end"),
    row("0F 05", "syscall", "syscall(r)", "end"),
    row("0F 07", "sysret", "sysret(r, $S)", "osz end"),
    row("0F 34", "sysenter", "sysenter(r)", "end"),
    row("0F 35", "sysexit", "sysexit(r, $S)", "osz end"),
  ],
};
