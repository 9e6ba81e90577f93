// BMI1 / BMI2: VEX-encoded general-purpose register instructions (SDM Vol. 2
// "ANDN", "BEXTR", "BLSI", "BLSMSK", "BLSR", "BZHI", "MULX", "PDEP", "PEXT",
// "RORX", "SARX/SHLX/SHRX"). TZCNT/LZCNT (legacy-encoded) live in bit.ts.
//
// Operand size is 32 bits, or 64 with VEX.W1 in 64-bit mode (W is ignored
// elsewhere); the 66 prefix and the code-segment size do not apply, so the
// rows are size-less (`y` operands) and the handler reads VEX.W. VEX.L1 is
// #UD (the L0 selector leaves L1 without a row). `B` names the GPR in
// VEX.vvvv; the rows without a B operand require vvvv = 1111b.
import { row, type Family } from "../table-format";

export const bmi: Family = {
  module: "bmi",
  rows: [
    row("NP V 0F 38 F2 /r L0", "andn Gy,By,Ey", "bmi_andn(r, $MB)", "strict vvvv"),
    row("NP V 0F 38 F3 /1 L0", "blsr By,Ey", "bmi_bls(r, 1, $MB)", "strict vvvv"),
    row("NP V 0F 38 F3 /2 L0", "blsmsk By,Ey", "bmi_bls(r, 2, $MB)", "strict vvvv"),
    row("NP V 0F 38 F3 /3 L0", "blsi By,Ey", "bmi_bls(r, 3, $MB)", "strict vvvv"),
    row("NP V 0F 38 F5 /r L0", "bzhi Gy,Ey,By", "bmi_bzhi(r, $MB)", "strict vvvv"),
    row("F3 V 0F 38 F5 /r L0", "pext Gy,By,Ey", "bmi_pdep(r, false, $MB)", "strict vvvv"),
    row("F2 V 0F 38 F5 /r L0", "pdep Gy,By,Ey", "bmi_pdep(r, true, $MB)", "strict vvvv"),
    row("F2 V 0F 38 F6 /r L0", "mulx Gy,By,Ey", "bmi_mulx(r, $MB)", "strict vvvv"),
    row("NP V 0F 38 F7 /r L0", "bextr Gy,Ey,By", "bmi_bextr(r, $MB)", "strict vvvv"),
    row("66 V 0F 38 F7 /r L0", "shlx Gy,Ey,By", "bmi_shx(r, 0, $MB)", "strict vvvv"),
    row("F2 V 0F 38 F7 /r L0", "shrx Gy,Ey,By", "bmi_shx(r, 1, $MB)", "strict vvvv"),
    row("F3 V 0F 38 F7 /r L0", "sarx Gy,Ey,By", "bmi_shx(r, 2, $MB)", "strict vvvv"),
    row("F2 V 0F 3A F0 /r L0", "rorx Gy,Ey,Ib", "bmi_rorx(r, $MB)", "strict"),
  ],
};
