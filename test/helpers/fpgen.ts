// Floating-point operand and MXCSR generators for the SSE FP differential
// tests (test/cpu/ssefp.test.ts and the "vec" family of insngen.ts), and the
// instruction shapes they exercise.
import type { VSpec } from "./vecenc";

/** A boundary-heavy f32 (as its bits) or f64 value. */
export function fpValue(r: () => number, f64: boolean): bigint {
  const M = f64 ? 52 : 23, E = f64 ? 0x7ff : 0xff, EB = BigInt(M);
  const mant = () => f64 ? ((BigInt(r()) << 32n) | BigInt(r())) & ((1n << 52n) - 1n) : BigInt(r() & 0x7fffff);
  const sign = r() & 1 ? 1n << (f64 ? 63n : 31n) : 0n;
  const k = r() % 16;
  let e: number, m: bigint;
  switch (k) {
    case 0: e = 0; m = 0n; break;                                    // zero
    case 1: e = 0; m = mant() | 1n; break;                           // denormal
    case 2: e = 0; m = r() & 1 ? 1n : (1n << EB) - 1n; break;        // smallest / largest denormal
    case 3: e = r() & 1 ? 1 : E - 1; m = r() & 1 ? 0n : (1n << EB) - 1n; break;   // min normal / max finite
    case 4: e = E; m = 0n; break;                                    // infinity
    case 5: e = E; m = (1n << (EB - 1n)) | (mant() & BigInt(r() & 1 ? 0 : -1)); break;   // QNaN
    case 6: e = E; m = (mant() & ((1n << (EB - 1n)) - 1n)) | 1n; break;   // SNaN
    case 7: e = (f64 ? 1023 : 127) + (r() % 3) - 1; m = r() & 1 ? 0n : mant() & ~((1n << BigInt(r() % M)) - 1n); break;   // near 1, short mantissas
    case 8: e = 1 + (r() % 30); m = mant(); break;                   // tiny normals
    case 9: e = E - 1 - (r() % 30); m = mant(); break;               // huge
    case 10: e = (f64 ? 1023 : 127) + (r() % 64) - 10; m = BigInt(r() & 0xff) << (EB - 8n); break;   // integers / few bits
    default: e = 1 + (r() % (E - 1)); m = mant(); break;
  }
  return sign | (BigInt(e) << EB) | m;
}

/** A boundary-heavy binary16 value (as its bits). */
export function fpHalf(r: () => number): number {
  const sign = r() & 1 ? 0x8000 : 0, m = r() & 0x3ff;
  switch (r() % 8) {
    case 0: return sign;                                  // zero
    case 1: return sign | (m | 1);                        // denormal
    case 2: return sign | 0x7c00;                         // infinity
    case 3: return sign | 0x7e00 | (m & (r() & 1 ? 0 : 0x1ff));   // QNaN
    case 4: return sign | 0x7c00 | (m & 0x1ff) | 1;       // SNaN
    case 5: return sign | (r() & 1 ? 0x0400 : 0x7bff);    // min normal / max finite
    default: return sign | ((1 + (r() % 30)) << 10) | m;
  }
}

/** MXCSR: any rounding mode, DAZ/FTZ, mostly masked; some unmasked exceptions. */
export function fpMxcsr(r: () => number): number {
  let masks = 0x3f;
  if (r() % 4 === 0) masks = r() & 0x3f;
  let v = (masks << 7) | ((r() & 3) << 13);
  if (r() % 3 === 0) v |= 0x40;
  if (r() % 3 === 0) v |= 0x8000;
  if (r() % 8 === 0) v |= r() & 0x3f;   // sticky flags already set
  return v;
}

export interface FSpec extends VSpec {
  f64: boolean; scalar?: boolean; noV?: boolean;
  /** VEX only (no legacy encoding), with VEX.W fixed to this value */
  vexW?: number;
  /** the source elements are binary16 */
  f16?: boolean;
}
const P: Record<string, number> = { NP: 0, "66": 1, F3: 2, F2: 3 };
function f(pp: string, op: number, name: string, f64: boolean, extra: Partial<FSpec> = {}): FSpec {
  return { name, pp: P[pp], map: 1, op, f64, msize: 16, ...extra };
}
export const FSPECS: FSpec[] = [];
for (const [op, m] of [[0x58, "add"], [0x59, "mul"], [0x5c, "sub"], [0x5d, "min"], [0x5e, "div"], [0x5f, "max"], [0x51, "sqrt"], [0xc2, "cmp"]] as [number, string][]) {
  const imm = op === 0xc2;
  FSPECS.push(f("NP", op, `${m}ps`, false, { imm, noV: op === 0x51 }), f("66", op, `${m}pd`, true, { imm, noV: op === 0x51 }),
    f("F3", op, `${m}ss`, false, { imm, scalar: true, msize: 4 }), f("F2", op, `${m}sd`, true, { imm, scalar: true, msize: 8 }));
}
FSPECS.push(
  f("NP", 0x2e, "ucomiss", false, { scalar: true, noV: true, msize: 4 }), f("NP", 0x2f, "comiss", false, { scalar: true, noV: true, msize: 4 }),
  f("66", 0x2e, "ucomisd", true, { scalar: true, noV: true, msize: 8 }), f("66", 0x2f, "comisd", true, { scalar: true, noV: true, msize: 8 }),
  f("F3", 0x2a, "cvtsi2ss", false, { scalar: true, gpr: "rm", msize: 4 }), f("F2", 0x2a, "cvtsi2sd", true, { scalar: true, gpr: "rm", msize: 4 }),
  f("F3", 0x2c, "cvttss2si", false, { scalar: true, gpr: "reg", noV: true, msize: 4 }), f("F3", 0x2d, "cvtss2si", false, { scalar: true, gpr: "reg", noV: true, msize: 4 }),
  f("F2", 0x2c, "cvttsd2si", true, { scalar: true, gpr: "reg", noV: true, msize: 8 }), f("F2", 0x2d, "cvtsd2si", true, { scalar: true, gpr: "reg", noV: true, msize: 8 }),
  f("F3", 0x5a, "cvtss2sd", false, { scalar: true, msize: 4 }), f("F2", 0x5a, "cvtsd2ss", true, { scalar: true, msize: 8 }),
  f("NP", 0x5a, "cvtps2pd", false, { noV: true, msize: 8 }), f("66", 0x5a, "cvtpd2ps", true, { noV: true }),
  f("NP", 0x5b, "cvtdq2ps", false, { noV: true }), f("66", 0x5b, "cvtps2dq", false, { noV: true }), f("F3", 0x5b, "cvttps2dq", false, { noV: true }),
  f("F3", 0xe6, "cvtdq2pd", false, { noV: true, msize: 8 }), f("F2", 0xe6, "cvtpd2dq", true, { noV: true }), f("66", 0xe6, "cvttpd2dq", true, { noV: true }),
  f("F2", 0x7c, "haddps", false), f("66", 0x7c, "haddpd", true), f("F2", 0x7d, "hsubps", false), f("66", 0x7d, "hsubpd", true),
  f("F2", 0xd0, "addsubps", false), f("66", 0xd0, "addsubpd", true),
  f("66", 0x08, "roundps", false, { map: 3, imm: true, noV: true }), f("66", 0x09, "roundpd", true, { map: 3, imm: true, noV: true }),
  f("66", 0x0a, "roundss", false, { map: 3, imm: true, scalar: true, msize: 4 }), f("66", 0x0b, "roundsd", true, { map: 3, imm: true, scalar: true, msize: 8 }),
);
// FMA3 (VEX 66 0F38, W0 ps/ss, W1 pd/sd) and F16C
for (const [base, m, packed] of [[0x96, "fmaddsub", true], [0x97, "fmsubadd", true], [0x98, "fmadd", true], [0x99, "fmadd", false],
  [0x9a, "fmsub", true], [0x9b, "fmsub", false], [0x9c, "fnmadd", true], [0x9d, "fnmadd", false],
  [0x9e, "fnmsub", true], [0x9f, "fnmsub", false]] as [number, string, boolean][]) {
  for (const [o, ord] of [[0, "132"], [0x10, "213"], [0x20, "231"]] as [number, string][]) for (const w of [0, 1]) {
    const sfx = packed ? (w ? "pd" : "ps") : (w ? "sd" : "ss");
    FSPECS.push(f("66", base + o, `v${m}${ord}${sfx}`, w === 1, { map: 2, vexW: w, ...(packed ? {} : { scalar: true, msize: w ? 8 : 4 }) }));
  }
}
FSPECS.push(
  f("66", 0x13, "vcvtph2ps", false, { map: 2, vexW: 0, noV: true, msize: 8, f16: true }),
  f("66", 0x1d, "vcvtps2ph", false, { map: 3, vexW: 0, noV: true, msize: 8, imm: true, store: true }),
);
