// x87 escape opcodes D8–DF (the subset of cpu/exec/x87.ts).
import { row, type Family, type Row } from "../table-format";

const ar = ["fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"];
const rows: Row[] = [];
ar.forEach((m, n) => {
  rows.push(row(`D8 /${n} mem`, `${m} Md`, `farith_mem(r, ${n}, 0)`));
  rows.push(row(`DC /${n} mem`, `${m} Mq`, `farith_mem(r, ${n}, 1)`));
  rows.push(row(`DA /${n} mem`, `fi${m.slice(1)} Md`, `farith_mem(r, ${n}, 4)`));
  rows.push(row(`DE /${n} mem`, `fi${m.slice(1)} Mw`, `farith_mem(r, ${n}, 3)`));
  rows.push(row(`D8 /${n} reg`, `${m} ST0,STi`, `farith_reg(r, ${n}, false, false)`));
  // DC/DE register forms write ST(i) and swap the sub/subr and div/divr encodings
  const sw = n === 4 ? 5 : n === 5 ? 4 : n === 6 ? 7 : n === 7 ? 6 : n;
  if (n !== 2 && n !== 3) {
    rows.push(row(`DC /${n} reg`, `${ar[sw]} STi,ST0`, `farith_reg(r, ${sw}, true, false)`));
    rows.push(row(`DE /${n} reg`, `${ar[sw]}p STi,ST0`, `farith_reg(r, ${sw}, true, true)`));
  }
});
rows.push(
  row("D9 /0 mem", "fld Md", "fld_mem(r, 0)"),
  row("DD /0 mem", "fld Mq", "fld_mem(r, 1)"),
  row("DB /5 mem", "fld Mt", "fld_mem(r, 2)"),
  row("DF /0 mem", "fild Mw", "fld_mem(r, 3)"),
  row("DB /0 mem", "fild Md", "fld_mem(r, 4)"),
  row("DF /5 mem", "fild Mq", "fld_mem(r, 5)"),
  row("D9 /2 mem", "fst Md", "fst_mem(r, 0, false)"),
  row("D9 /3 mem", "fstp Md", "fst_mem(r, 0, true)"),
  row("DD /2 mem", "fst Mq", "fst_mem(r, 1, false)"),
  row("DD /3 mem", "fstp Mq", "fst_mem(r, 1, true)"),
  row("DB /7 mem", "fstp Mt", "fst_mem(r, 2, true)"),
  row("DF /2 mem", "fist Mw", "fst_mem(r, 3, false)"),
  row("DF /3 mem", "fistp Mw", "fst_mem(r, 3, true)"),
  row("DB /2 mem", "fist Md", "fst_mem(r, 4, false)"),
  row("DB /3 mem", "fistp Md", "fst_mem(r, 4, true)"),
  row("DF /7 mem", "fistp Mq", "fst_mem(r, 5, true)"),
  row("D9 /0 reg", "fld STi", "fld_sti(r)"),
  row("DD /2 reg", "fst STi", "fst_sti(r, false)"),
  row("DD /3 reg", "fstp STi", "fst_sti(r, true)"),
  row("D9 /1 reg", "fxch STi", "fxch(r)"),
  row("D9 !E0", "fchs", "fsign(r, false)"),
  row("D9 !E1", "fabs", "fsign(r, true)"),
  row("D9 !E8", "fld1", "fconst(r, 0)"),
  row("D9 !E9", "fldl2t", "fconst(r, 1)"),
  row("D9 !EA", "fldl2e", "fconst(r, 2)"),
  row("D9 !EB", "fldpi", "fconst(r, 3)"),
  row("D9 !EC", "fldlg2", "fconst(r, 4)"),
  row("D9 !ED", "fldln2", "fconst(r, 5)"),
  row("D9 !EE", "fldz", "fconst(r, 6)"),
  row("D9 !F6", "fdecstp", "fstack(r, 1)"),
  row("D9 !F7", "fincstp", "fstack(r, 0)"),
  row("DD /0 reg", "ffree STi", "fstack(r, 2)"),
  row("DB /5 reg", "fucomi ST0,STi", "fcomi(r, false)"),
  row("DB /6 reg", "fcomi ST0,STi", "fcomi(r, false)"),
  row("DF /5 reg", "fucomip ST0,STi", "fcomi(r, true)"),
  row("DF /6 reg", "fcomip ST0,STi", "fcomi(r, true)"),
  row("DB !E2", "fnclex", "fnclex(r)"),
  row("DB !E3", "fninit", "fninit(r)"),
  row("D9 /5 mem", "fldcw Mw", "fcw(r, 0)"),
  row("D9 /7 mem", "fnstcw Mw", "fcw(r, 1)"),
  row("DD /7 mem", "fnstsw Mw", "fcw(r, 2)"),
  row("DF !E0", "fnstsw AX", "fcw(r, 3)"),
  row("9B", "fwait", "fwait(r)"),
);
export const x87: Family = { module: "x87", rows };
