// Generates, from the opcode table (cpu/gen/opcodes/*.ts):
//   cpu/decode/tables.gen.ts  decode tree: primary map entries, selector nodes, leaf attributes
//   cpu/dispatch.gen.ts       the dispatch switch (one case per handler variant)
//   cpu/gen/ids.gen.json      handler id → mnemonic, operands, size, memory form (tests, trace)
// Run with `node scripts/build.mjs gen` (the build runs it when the table changed).
import { writeFileSync, readFileSync, existsSync } from "node:fs";
import { FAMILIES } from "./opcodes/index";
import type { Row } from "./table-format";

// ---- leaf attribute bits (must match cpu/decode/decoder.ts) ----
export const A = {
  OSZ_NONE: 0, OSZ_B: 1, OSZ_V: 2, OSZ_D64: 3, OSZ_F64: 4,
  IMM_SHIFT: 3,
  IMM_NONE: 0, IMM_B: 1, IMM_W: 2, IMM_Z: 3, IMM_V: 4, IMM_JB: 5, IMM_JZ: 6, IMM_MOFFS: 7, IMM_AP: 8, IMM_WB: 9, IMM_D: 10,
  MODRM: 1 << 7, SPLIT: 1 << 8, LOCK: 1 << 9, I64: 1 << 10, O64: 1 << 11, END: 1 << 12,
  REG_BYTE: 1 << 13, RM_BYTE: 1 << 14, OPREG: 1 << 15, REP: 1 << 16, MEMONLY: 1 << 17, REGONLY: 1 << 18,
  NOVVVV: 1 << 20, KREGS: 1 << 21, MODREG: 1 << 19,
};
// selectors, in tree order
const SELS = ["pfx", "w", "l", "m64", "reg", "mod", "rm"] as const;
type Sel = typeof SELS[number];
const SEL_ID: Record<Sel, number> = { pfx: 1, w: 2, l: 3, m64: 4, reg: 5, mod: 6, rm: 7 };
const SEL_N: Record<Sel, number> = { pfx: 4, w: 2, l: 2, m64: 2, reg: 8, mod: 2, rm: 8 };

interface Parsed {
  row: Row; family: string;
  map: number; opcode: number;
  sel: Partial<Record<Sel, number>>;
  attr: number; sizes: number[]; split: boolean; strict: boolean;
  base?: number;
}

function parseOp(r: Row, family: string): Parsed[] {
  const t = r.op.trim().split(/\s+/);
  let i = 0;
  const sel: Partial<Record<Sel, number>> = {};
  let enc = 0; // 0 legacy, 1 VEX, 2 EVEX
  const pfxs: Record<string, number> = { NP: 0, "66": 1, F3: 2, F2: 3 };
  if (t[i] in pfxs) sel.pfx = pfxs[t[i++]];
  if (t[i] === "V") { enc = 1; i++; } else if (t[i] === "E") { enc = 2; i++; }
  let map = 0;
  if (t[i] === "0F") {
    map = 1; i++;
    if (t[i] === "38" && t.length > i + 1) { map = 2; i++; } else if (t[i] === "3A" && t.length > i + 1) { map = 3; i++; }
  }
  if (enc) map += enc * 3;
  const opcode = parseInt(t[i++], 16);
  let plusr = false, modrm = false;
  for (; i < t.length; i++) {
    const x = t[i];
    if (x === "+r") plusr = true;
    else if (x === "/r") modrm = true;
    else if (/^\/[0-7]$/.test(x)) { modrm = true; sel.reg = +x[1]; }
    else if (x === "mem") { modrm = true; sel.mod = 0; }
    else if (x === "reg") { modrm = true; sel.mod = 1; }
    else if (/^rm=[0-7]$/.test(x)) sel.rm = +x[3];
    else if (/^![0-9A-F]{2}$/.test(x)) {
      const m = parseInt(x.slice(1), 16);
      modrm = true; sel.mod = 1; sel.reg = (m >> 3) & 7; sel.rm = m & 7;
      if (m >> 6 !== 3) throw new Error(`${r.op}: !XX needs mod=11`);
    }
    else if (x === "W0" || x === "W1") sel.w = +x[1];
    else if (x === "L0" || x === "L1") sel.l = +x[1];
    else throw new Error(`bad op token ${x} in ${r.op}`);
  }
  const flags = new Set((r.flags ?? "").split(/\s+/).filter(Boolean));
  if (flags.has("o64")) sel.m64 = 1;
  if (flags.has("i64")) sel.m64 = 0;
  const ops = (r.asm.split(/\s+/)[1] ?? "").split(",").filter(Boolean);
  let osz = A.OSZ_NONE;
  let imm = A.IMM_NONE;
  let attr = 0;
  for (const o of ops) {
    const kind = o[0], sz = o.slice(1);
    if (["E", "G", "M", "Z", "I", "J", "O", "R"].includes(kind) && (sz === "v" || sz === "z")) osz = A.OSZ_V;
    if (o === "rAX" || o === "eAX") osz = A.OSZ_V;
    if (osz === A.OSZ_NONE && sz === "b" && ["E", "G", "Z", "O"].includes(kind)) osz = A.OSZ_B;
    if (kind === "G" && sz === "b") attr |= A.REG_BYTE;
    if (kind === "Z" && sz === "b") attr |= A.REG_BYTE;
    if (kind === "E" && sz === "b") attr |= A.RM_BYTE;
    if (o === "Ib") imm = imm === A.IMM_W ? A.IMM_WB : A.IMM_B;
    if (o === "Iw") imm = A.IMM_W;
    if (o === "Id") imm = A.IMM_D;
    if (o === "Iz") imm = A.IMM_Z;
    if (o === "Iv") imm = A.IMM_V;
    if (o === "Jb") imm = A.IMM_JB;
    if (o === "Jz") imm = A.IMM_JZ;
    if (o === "Ob" || o === "Ov") imm = A.IMM_MOFFS;
    if (o === "Ap") imm = A.IMM_AP;
  }
  // byte-sized rows where b operands dominate (e.g. `mov Eb,Gb`) keep OSZ_B
  if (ops.length && ops.every((o) => o.endsWith("b") || o === "AL" || o === "CL" || o === "1" || o === "DX")) {
    if (ops.some((o) => o.endsWith("b") && o !== "Ib" && o !== "Jb")) osz = A.OSZ_B;
  }
  if (flags.has("d64")) osz = A.OSZ_D64;
  if (flags.has("f64")) osz = A.OSZ_F64;
  if (flags.has("size8")) osz = A.OSZ_B;
  if (flags.has("osz")) osz = A.OSZ_V;
  if (flags.has("nosize")) osz = A.OSZ_NONE;
  attr |= osz | (imm << A.IMM_SHIFT);
  if (modrm) attr |= A.MODRM;
  if (plusr) attr |= A.OPREG;
  if (flags.has("lock")) attr |= A.LOCK;
  if (flags.has("i64")) attr |= A.I64;
  if (flags.has("o64")) attr |= A.O64;
  if (flags.has("end")) attr |= A.END;
  if (flags.has("rep")) attr |= A.REP;
  // VEX/EVEX forms without an H (vvvv) operand require vvvv = 1111b, else #UD at decode
  if (enc && !ops.some((o) => o[0] === "H") && !flags.has("vvvv")) attr |= A.NOVVVV;
  // opmask operands name k0..k7 only: VEX.R̄, vvvv and the register r/m must not reach 8
  if (ops.some((o) => o[0] === "K")) attr |= A.KREGS;
  if (flags.has("modreg")) attr |= A.MODREG;
  if (sel.mod === 0) attr |= A.MEMONLY;
  if (sel.mod === 1) attr |= A.REGONLY;
  const split = modrm && sel.mod === undefined && r.exec.includes("$M");  // $M (type) or $MB (bool)
  if (split) attr |= A.SPLIT;
  const sizes = osz === A.OSZ_NONE ? [0] : osz === A.OSZ_B ? [8] : [16, 32, 64];
  const out: Parsed[] = [];
  const opcodes = plusr ? [0, 1, 2, 3, 4, 5, 6, 7].map((k) => opcode + k) : [opcode];
  for (const oc of opcodes) out.push({ row: r, family, map, opcode: oc, sel: { ...sel }, attr, sizes, split, strict: flags.has("strict") });
  return out;
}

// ---- build ----
const parsed: Parsed[] = [];
for (const f of FAMILIES) for (const r of f.rows) parsed.push(...parseOp(r, f.module));

// assign handler ids; rows with identical (exec, attr) share ids (e.g. +r expansions)
interface Variant { id: number; exec: string; size: number; mem: boolean | null; asm: string; family: string; op: string; }
// id 0: undefined encoding (#UD); id 1: longer than 15 bytes (#GP(0))
const variants: Variant[] = [
  { id: 0, exec: "op_ud(r)", size: 0, mem: null, asm: "(bad)", family: "misc", op: "" },
  { id: 1, exec: "op_gp_len(r)", size: 0, mem: null, asm: "(too long)", family: "misc", op: "" },
];
const baseByKey = new Map<string, number>();
let next = 2;
for (const p of parsed) {
  const key = `${p.row.exec}|${p.attr}|${p.row.asm}`;
  if (baseByKey.has(key)) { p.base = baseByKey.get(key); continue; }
  p.base = next;
  baseByKey.set(key, next);
  for (const s of p.sizes) {
    const mems = p.split ? [false, true] : [p.attr & A.MEMONLY ? true : p.attr & A.REGONLY ? false : null];
    for (const m of mems) {
      const T = s === 8 ? "u8" : s === 16 ? "u16" : s === 32 ? "u32" : "u64";
      const exec = p.row.exec.replace(/\$S/g, String(s)).replace(/\$T/g, T)
        .replace(/\$MB/g, String(m === true)).replace(/\$M/g, m === true ? "Mem" : "Reg");
      variants.push({ id: next++, exec, size: s, mem: m, asm: p.row.asm, family: p.family, op: p.row.op });
    }
  }
}

// decode tree: entries are u32: kind in bits 1:0 (0 invalid, 1 leaf, 2 node);
// leaf: index into LEAF (attr, base) << 2; node: selector << 2 | index into NODES << 5
const LEAF: number[] = [];
const NODES: number[] = [];
const leafIndex = new Map<string, number>();
function leaf(p: Parsed): number {
  const k = `${p.attr}|${p.base}`;
  let i = leafIndex.get(k);
  if (i === undefined) { i = LEAF.length / 2; LEAF.push(p.attr >>> 0, p.base!); leafIndex.set(k, i); }
  return 1 | (i << 2);
}
function build(rows: Parsed[], level: number): number {
  if (rows.length === 0) return 0;
  if (level === SELS.length) {
    if (rows.length > 1) throw new Error(`ambiguous encodings: ${rows.map((r) => r.row.op + " " + r.row.asm).join(" | ")}`);
    return leaf(rows[0]);
  }
  const s = SELS[level];
  if (rows.every((r) => r.sel[s] === undefined)) return build(rows, level + 1);
  const n = SEL_N[s];
  const strict = rows.some((r) => r.strict);
  const children: number[] = [];
  for (let v = 0; v < n; v++) {
    let sub = rows.filter((r) => r.sel[s] === v || r.sel[s] === undefined);
    if (s === "pfx" && sub.every((r) => r.sel.pfx === undefined) && !strict) {
      // an ignored prefix: F3/F2/66 fall back to the NP form
      sub = rows.filter((r) => r.sel.pfx === 0 || r.sel.pfx === undefined);
    }
    if (s === "pfx" && v === 1 && !strict && sub.length === 0) sub = rows.filter((r) => r.sel.pfx === 0);
    // explicit-constraint rows win over wildcard rows at this selector
    const exact = sub.filter((r) => r.sel[s] === v);
    if (exact.length && sub.length > exact.length && rows.some((r) => r.sel[s] !== undefined)) {
      const wild = sub.filter((r) => r.sel[s] === undefined);
      // keep wildcards only if they do not collide with exact rows further down
      sub = exact.concat(wild.filter((w) => !exact.some((e) => sameRest(e, w, level))));
    }
    children.push(build(sub, level + 1));
  }
  const idx = NODES.length;
  NODES.push(...children);
  return 2 | (SEL_ID[s] << 2) | (idx << 5);
}
function sameRest(a: Parsed, b: Parsed, level: number): boolean {
  for (let l = level + 1; l < SELS.length; l++) {
    const s = SELS[l];
    if (a.sel[s] !== undefined && b.sel[s] !== undefined && a.sel[s] !== b.sel[s]) return false;
  }
  return true;
}

const NMAPS = 10;
const PRIMARY: number[] = new Array(NMAPS * 256).fill(0);
const groups = new Map<number, Parsed[]>();
for (const p of parsed) {
  const k = p.map * 256 + p.opcode;
  if (!groups.has(k)) groups.set(k, []);
  groups.get(k)!.push(p);
}
for (const [k, rows] of groups) PRIMARY[k] = build(rows, 0);

// ---- emit ----
function arr(name: string, a: number[]): string {
  const lines: string[] = [];
  for (let i = 0; i < a.length; i += 16) lines.push("  " + a.slice(i, i + 16).map((x) => "0x" + (x >>> 0).toString(16)).join(", ") + ",");
  return `export const ${name}: usize = memory.data<u32>([\n${lines.join("\n")}\n]);\n`;
}
const header = "// GENERATED by cpu/gen/gen.ts from the opcode table in cpu/gen/opcodes/. Do not edit.\n";
const tables = header + arr("PRIMARY", PRIMARY) + arr("NODES", NODES.length ? NODES : [0]) + arr("LEAF", LEAF) +
  `export const NHANDLERS: u32 = ${next};\n`;

const fnsByFamily = new Map<string, Set<string>>();
for (const v of variants) {
  const fn = v.exec.match(/^([A-Za-z_][A-Za-z0-9_]*)[(<]/)![1];
  if (!fnsByFamily.has(v.family)) fnsByFamily.set(v.family, new Set());
  fnsByFamily.get(v.family)!.add(fn);
}
const constNames = new Set<string>();
for (const v of variants) for (const m of v.exec.matchAll(/\b([A-Z][A-Z0-9_]+|Op[A-Z]+|Reg|Mem)\b/g)) constNames.add(m[1]);
const imports = [...fnsByFamily].map(([fam, fns]) => `import { ${[...fns].sort().join(", ")} } from "./exec/${fam}";`);
// Families whose handlers are ordinary calls (vector, x87, XSAVE, AMX, PKRU) are dispatched from a
// separate function: the run loop keeps only the cases of the integer families, whose handlers
// are inlined into it. V8 compiled the loop noticeably worse when it grew by ~800 cases of
// vector rows (W1 232 → 186 MIPS) even though none of them ran.
const COLD_FAMILIES = new Set(["xsave", "vec", "ssefp", "pkru", "amx", "x87", "bmi"]);
const hot = variants.filter((v) => !COLD_FAMILIES.has(v.family));
const cold = variants.filter((v) => COLD_FAMILIES.has(v.family));
const dispatch = header +
  `// One case per handler variant; the switch compiles to a br_table inside the run loop.\n` +
  imports.join("\n") + "\n" +
  (constNames.size ? `import { ${[...constNames].sort().join(", ")} } from "./exec/consts";\n` : "") +
  `\n@inline export function dispatch(id: u32, r: usize): i32 {\n` + dispatchBody(hot, true) + `}\n` +
  `\n// the cold families, out of the run loop\nfunction dispatch_cold(id: u32, r: usize): i32 {\n` + dispatchBody(cold, false) + `}\n`;

// Binaryen turns a switch into one br_table only while the case range is at
// most 1024 (RemoveUnusedBrs' tablify MAX_RANGE); beyond that every dispatch
// became a linear chain of compares (measured: 6x slower for ids near 1100).
// So the switch is split into chunks of DISPATCH_CHUNK ids under an outer
// switch on id / DISPATCH_CHUNK: two br_tables per dispatch.
function dispatchBody(vs: Variant[], withCold: boolean): string {
  const DISPATCH_CHUNK = 512;
  const chunks: string[] = [];
  const byChunk = new Map<number, Variant[]>();
  for (const v of vs) {
    const c = Math.floor(v.id / DISPATCH_CHUNK);
    if (!byChunk.has(c)) byChunk.set(c, []);
    byChunk.get(c)!.push(v);
  }
  const fallback = withCold ? "dispatch_cold(id, r)" : "op_ud(r)";
  for (const [c, cvs] of [...byChunk].sort((a, b) => a[0] - b[0])) {
    chunks.push(`    case ${c}: {\n      switch (id) {\n` +
      cvs.map((v) => `        case ${v.id}: return ${v.exec};`).join("\n") +
      `\n        default: return ${fallback};\n      }\n    }`);
  }
  return `  switch (id >> ${Math.log2(DISPATCH_CHUNK)}) {\n` + chunks.join("\n") + `\n    default: return ${fallback};\n  }\n`;
}

const ids = variants.map((v) => ({ id: v.id, asm: v.asm, size: v.size, mem: v.mem, family: v.family, op: v.op }));

function writeIfChanged(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  writeFileSync(path, text);
  console.log(`gen: wrote ${path}`);
}
writeIfChanged("cpu/decode/tables.gen.ts", tables);
writeIfChanged("cpu/dispatch.gen.ts", dispatch);
writeIfChanged("cpu/gen/ids.gen.json", JSON.stringify(ids, null, 0).replace(/\},\{/g, "},\n{") + "\n");
console.log(`gen: ${parsed.length} encodings, ${next} handler variants, ${NODES.length} node slots`);
