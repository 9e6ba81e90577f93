import { row, type Family } from "../table-format";

export const mov: Family = {
  module: "mov",
  rows: [
    row("88 /r", "mov Eb,Gb", "mov_EG<$T, $M>(r)"),
    row("89 /r", "mov Ev,Gv", "mov_EG<$T, $M>(r)"),
    row("8A /r", "mov Gb,Eb", "mov_GE<$T, $M>(r)"),
    row("8B /r", "mov Gv,Ev", "mov_GE<$T, $M>(r)"),
    row("C6 /0", "mov Eb,Ib", "mov_EI<$T, $M>(r)"),
    row("C7 /0", "mov Ev,Iz", "mov_EI<$T, $M>(r)"),
    row("B0 +r", "mov Zb,Ib", "mov_ZI<$T>(r)"),
    row("B8 +r", "mov Zv,Iv", "mov_ZI<$T>(r)"),
    row("A0", "mov AL,Ob", "mov_moffs(r, 8, false)"),
    row("A1", "mov rAX,Ov", "mov_moffs(r, $S, false)"),
    row("A2", "mov Ob,AL", "mov_moffs(r, 8, true)"),
    row("A3", "mov Ov,rAX", "mov_moffs(r, $S, true)"),
    row("8D /r mem", "lea Gv,M", "lea<$T>(r)"),
    row("0F B6 /r", "movzx Gv,Eb", "movx<$T, u8, $M>(r, false)"),
    row("0F B7 /r", "movzx Gv,Ew", "movx<$T, u16, $M>(r, false)"),
    row("0F BE /r", "movsx Gv,Eb", "movx<$T, u8, $M>(r, true)"),
    row("0F BF /r", "movsx Gv,Ew", "movx<$T, u16, $M>(r, true)"),
    row("63 /r", "movsxd Gv,Ed", "movx<$T, u32, $M>(r, $S == 64)", "o64"),
    row("98", "cbw/cwde/cdqe rAX", "cbw(r, $S)"),
    row("99", "cwd/cdq/cqo rAX", "cwd(r, $S)"),
    row("0F 40 /r", "cmovo Gv,Ev", "cmov<$T, $M>(r)"),
    ...["no", "b", "nb", "z", "nz", "be", "nbe", "s", "ns", "p", "np", "l", "nl", "le", "nle"].map((c, i) =>
      row(`0F ${(0x41 + i).toString(16).toUpperCase()} /r`, `cmov${c} Gv,Ev`, "cmov<$T, $M>(r)")),
    ...["o", "no", "b", "nb", "z", "nz", "be", "nbe", "s", "ns", "p", "np", "l", "nl", "le", "nle"].map((c, i) =>
      row(`0F ${(0x90 + i).toString(16).toUpperCase()} /r`, `set${c} Eb`, "setcc<$M>(r)")),
    row("0F C8 +r", "bswap Zv", "bswap_Z(r, $S)"),
    row("D7", "xlat", "xlat(r)"),
    row("9F", "lahf", "lahf(r)"),
    row("9E", "sahf", "sahf(r)"),
    row("NP 0F 38 F0 /r mem", "movbe Gv,Mv", "movbe(r, $S, false)"),
    row("NP 0F 38 F1 /r mem", "movbe Mv,Gv", "movbe(r, $S, true)"),
  ],
};
