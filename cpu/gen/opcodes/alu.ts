// ALU rows: the eight classic operations in all six encodings, group 1,
// TEST, INC/DEC, NOT/NEG, XCHG, XADD, CMPXCHG.
import { row, type Family, type Row } from "../table-format";

const K = ["ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP"];
const rows: Row[] = [];
K.forEach((k, n) => {
  const b = n * 8, lock = k === "CMP" ? "" : "lock";
  const m = k.toLowerCase();
  const h = (x: number) => x.toString(16).toUpperCase().padStart(2, "0");
  rows.push(
    row(`${h(b)} /r`, `${m} Eb,Gb`, `alu_EG<Op${k}, $T, $M>(r)`, lock),
    row(`${h(b + 1)} /r`, `${m} Ev,Gv`, `alu_EG<Op${k}, $T, $M>(r)`, lock),
    row(`${h(b + 2)} /r`, `${m} Gb,Eb`, `alu_GE<Op${k}, $T, $M>(r)`),
    row(`${h(b + 3)} /r`, `${m} Gv,Ev`, `alu_GE<Op${k}, $T, $M>(r)`),
    row(`${h(b + 4)}`, `${m} AL,Ib`, `alu_AI<Op${k}, u8>(r)`),
    row(`${h(b + 5)}`, `${m} rAX,Iz`, `alu_AI<Op${k}, $T>(r)`),
    row(`80 /${n}`, `${m} Eb,Ib`, `alu_EI<Op${k}, $T, $M>(r)`, lock),
    row(`81 /${n}`, `${m} Ev,Iz`, `alu_EI<Op${k}, $T, $M>(r)`, lock),
    row(`82 /${n}`, `${m} Eb,Ib`, `alu_EI<Op${k}, $T, $M>(r)`, `i64 ${lock}`),
    row(`83 /${n}`, `${m} Ev,Ib`, `alu_EI<Op${k}, $T, $M>(r)`, lock),
  );
});

export const alu: Family = {
  module: "alu",
  rows: [
    ...rows,
    row("84 /r", "test Eb,Gb", "alu_EG<OpTEST, $T, $M>(r)"),
    row("85 /r", "test Ev,Gv", "alu_EG<OpTEST, $T, $M>(r)"),
    row("A8", "test AL,Ib", "alu_AI<OpTEST, u8>(r)"),
    row("A9", "test rAX,Iz", "alu_AI<OpTEST, $T>(r)"),
    row("F6 /0", "test Eb,Ib", "alu_EI<OpTEST, $T, $M>(r)"),
    row("F6 /1", "test Eb,Ib", "alu_EI<OpTEST, $T, $M>(r)"),
    row("F7 /0", "test Ev,Iz", "alu_EI<OpTEST, $T, $M>(r)"),
    row("F7 /1", "test Ev,Iz", "alu_EI<OpTEST, $T, $M>(r)"),
    row("FE /0", "inc Eb", "incdec<$T, $M>(r, false, false)", "lock"),
    row("FE /1", "dec Eb", "incdec<$T, $M>(r, true, false)", "lock"),
    row("FF /0", "inc Ev", "incdec<$T, $M>(r, false, false)", "lock"),
    row("FF /1", "dec Ev", "incdec<$T, $M>(r, true, false)", "lock"),
    row("40 +r", "inc Zv", "incdec<$T, Reg>(r, false, true)", "i64"),
    row("48 +r", "dec Zv", "incdec<$T, Reg>(r, true, true)", "i64"),
    row("F6 /2", "not Eb", "not_neg<$T, $M>(r, false)", "lock"),
    row("F6 /3", "neg Eb", "not_neg<$T, $M>(r, true)", "lock"),
    row("F7 /2", "not Ev", "not_neg<$T, $M>(r, false)", "lock"),
    row("F7 /3", "neg Ev", "not_neg<$T, $M>(r, true)", "lock"),
    row("86 /r", "xchg Eb,Gb", "xchg_EG(r, $S, $MB)", "lock"),
    row("87 /r", "xchg Ev,Gv", "xchg_EG(r, $S, $MB)", "lock"),
    row("90 +r", "xchg Zv,rAX", "xchg_AZ(r, $S)"),
    row("0F C0 /r", "xadd Eb,Gb", "xadd(r, $S, $MB)", "lock"),
    row("0F C1 /r", "xadd Ev,Gv", "xadd(r, $S, $MB)", "lock"),
    row("0F B0 /r", "cmpxchg Eb,Gb", "cmpxchg(r, $S, $MB)", "lock"),
    row("0F B1 /r", "cmpxchg Ev,Gv", "cmpxchg(r, $S, $MB)", "lock"),
    row("0F C7 /1 mem", "cmpxchg8b Mv", "cmpxchg8b(r, $S)", "lock"),
  ],
};
