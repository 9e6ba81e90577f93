// The opcode table: every family's rows. Order does not matter; the
// generator rejects two rows that claim the same encoding.
import type { Family } from "../table-format";
import { alu } from "./alu";
import { mov } from "./mov";
import { stack } from "./stack";
import { ctrl } from "./ctrl";
import { flagctl } from "./flagctl";
import { misc } from "./misc";
import { io } from "./io";
import { intr } from "./intr";
import { system } from "./system";
import { xsave } from "./xsave";
import { vec } from "./vec";
import { ssefp } from "./ssefp";
import { pkru } from "./pkru";
import { amx } from "./amx";
import { x87 } from "./x87";
import { shift } from "./shift";
import { muldiv } from "./muldiv";
import { bit } from "./bit";
import { string } from "./string";
import { bcd } from "./bcd";

export const FAMILIES: Family[] = [alu, mov, stack, ctrl, flagctl, misc, io, intr, system, shift, muldiv, bit, string, bcd, xsave, vec, ssefp, pkru, amx, x87];
import { bmi } from "./bmi"; FAMILIES.push(bmi);   // BMI1/BMI2 (VEX GPR rows)
