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
import { stopgap_shift } from "./stopgap_shift";   // bench branch stopgap: drop when the ISA shift family lands

export const FAMILIES: Family[] = [alu, mov, stack, ctrl, flagctl, misc, io, intr, system, stopgap_shift];
