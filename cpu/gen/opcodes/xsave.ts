import { row, type Family } from "../table-format";

export const xsave: Family = {
  module: "xsave",
  rows: [
    row("NP 0F AE /0 mem", "fxsave M", "fxsave(r, false)", "strict"),
    row("NP 0F AE /1 mem", "fxrstor M", "fxsave(r, true)", "end strict"),
    row("NP 0F AE /2 mem", "ldmxcsr Md", "ldmxcsr(r, false)", "strict"),
    row("NP 0F AE /3 mem", "stmxcsr Md", "ldmxcsr(r, true)", "strict"),
    row("NP 0F AE /4 mem", "xsave M", "xsave_op(r, 0)", "strict"),
    row("NP 0F AE /5 mem", "xrstor M", "xrstor_op(r, false)", "end strict"),
    row("NP 0F AE /6 mem", "xsaveopt M", "xsave_op(r, 1)", "strict"),
    row("NP 0F C7 /4 mem", "xsavec M", "xsave_op(r, 2)", "strict"),
    row("NP 0F C7 /5 mem", "xsaves M", "xsave_op(r, 3)", "strict"),
    row("NP 0F C7 /3 mem", "xrstors M", "xrstor_op(r, true)", "end strict"),
    row("0F 01 !D0", "xgetbv", "xgetbv(r)"),
    row("0F 01 !D1", "xsetbv", "xsetbv(r)", "end"),
  ],
};
