// Watch/hover/REPL expressions: register names and memory reads.
//   rax  $rax  eax  al  rip  zmm0  k1  xcr0  cs.base  gdtr.limit
//   0x1000  rsp+8  rbx + rsi*4 - 0x10  (rax)
//   [rsp+8]  qword [rsp]  dword ptr [rbx]  byte [phys:0xb8000]     (Intel syntax memory)
//   *(u64*)0x1000  *(u32*)(rsp+4)  *(i16*)phys:0x7c00              (C-style memory)
//   phys:0x1000                                                    (a u64 at a physical address)
// Memory is read through the guest's page tables unless the address carries `phys:`.
import { parseNumber, leToBig } from "./format";
import type { RegValue } from "./target";

export interface ExprContext {
  readReg(name: string): RegValue | undefined;
  /** a guest symbol's address (ELF .symtab or the image's .sym file) */
  symbol?(name: string): bigint | undefined;
  readMemory(addr: bigint, len: number, physical: boolean): Uint8Array;
}

export interface ExprResult {
  value: RegValue;
  /** the register the expression names, when it is exactly one register (setExpression / expandable vectors) */
  reg?: string;
  /** where a memory read came from */
  mem?: { addr: bigint; size: number; physical: boolean; signed: boolean };
}

export class ExprError extends Error {}

// sub-registers of the 16 GPRs: name → [full register, shift, bits]
const GPR64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const SUBREGS: Record<string, [string, number, number]> = {};
["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"].forEach((b, i) => {
  SUBREGS["e" + b] = [GPR64[i], 0, 32];
  SUBREGS[b] = [GPR64[i], 0, 16];
});
["al", "cl", "dl", "bl"].forEach((n, i) => { SUBREGS[n] = [GPR64[i], 0, 8]; SUBREGS[n[0] + "h"] = [GPR64[i], 8, 8]; });
["spl", "bpl", "sil", "dil"].forEach((n, i) => { SUBREGS[n] = [GPR64[4 + i], 0, 8]; });
for (let i = 8; i < 16; i++) { SUBREGS[`r${i}d`] = [`r${i}`, 0, 32]; SUBREGS[`r${i}w`] = [`r${i}`, 0, 16]; SUBREGS[`r${i}b`] = [`r${i}`, 0, 8]; SUBREGS[`r${i}l`] = [`r${i}`, 0, 8]; }
SUBREGS.eip = ["rip", 0, 32]; SUBREGS.ip = ["rip", 0, 16];

const TYPES: Record<string, [number, boolean]> = {
  u8: [1, false], u16: [2, false], u32: [4, false], u64: [8, false], i8: [1, true], i16: [2, true], i32: [4, true], i64: [8, true],
  uint8_t: [1, false], uint16_t: [2, false], uint32_t: [4, false], uint64_t: [8, false], int8_t: [1, true], int16_t: [2, true], int32_t: [4, true], int64_t: [8, true],
  char: [1, true], short: [2, true], int: [4, true], long: [8, true], byte: [1, false], word: [2, false], dword: [4, false], qword: [8, false],
};
const SIZE_WORDS: Record<string, number> = { byte: 1, word: 2, dword: 4, qword: 8 };

type Tok = { t: "num"; v: bigint } | { t: "id"; v: string } | { t: "op"; v: string };

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) { i++; continue; }
    const num = /^(0x[0-9a-f_]+|0b[01_]+|0o[0-7_]+|[0-9][0-9a-f_]*h\b|\d[\d_]*)/i.exec(s.slice(i));
    if (num && /[0-9]/.test(c)) { out.push({ t: "num", v: parseNumber(num[1]) }); i += num[1].length; continue; }
    const id = /^\$?[a-z_][a-z0-9_]*(\.[a-z_]+)?/i.exec(s.slice(i));
    if (id) { out.push({ t: "id", v: id[0].replace(/^\$/, "").toLowerCase() }); i += id[0].length; continue; }
    if ("+-*()[]:".includes(c)) { out.push({ t: "op", v: c }); i++; continue; }
    throw new ExprError(`unexpected '${c}' in expression`);
  }
  return out;
}

export function evaluate(text: string, ctx: ExprContext): ExprResult {
  const toks = tokenize(text);
  if (toks.length === 0) throw new ExprError("empty expression");
  let p = 0;
  const peek = (): Tok | undefined => toks[p];
  const isOp = (v: string) => { const t = peek(); return t?.t === "op" && t.v === v; };
  const expect = (v: string) => { if (!isOp(v)) throw new ExprError(`expected '${v}'`); p++; };
  const scalar = (r: ExprResult): bigint => {
    if (typeof r.value === "bigint") return r.value;
    throw new ExprError(`${r.reg ?? "a vector register"} cannot be used in arithmetic`);
  };

  const read = (addr: bigint, size: number, physical: boolean, signed: boolean): ExprResult => {
    const a = BigInt.asUintN(64, addr);
    const b = ctx.readMemory(a, size, physical);
    if (b.length < size) throw new ExprError(`cannot read ${size} bytes at ${physical ? "physical " : ""}0x${a.toString(16)} (not mapped)`);
    let v = leToBig(b);
    if (signed) v = BigInt.asIntN(size * 8, v);
    return { value: v, mem: { addr: a, size, physical, signed } };
  };

  // an address, optionally prefixed by phys:
  const address = (): { addr: bigint; physical: boolean } => {
    const t = peek();
    if (t?.t === "id" && t.v === "phys" && toks[p + 1]?.t === "op" && (toks[p + 1] as { v: string }).v === ":") {
      p += 2;
      return { addr: scalar(unary()), physical: true };
    }
    return { addr: scalar(unary()), physical: false };
  };

  function primary(): ExprResult {
    const t = peek();
    if (!t) throw new ExprError("unexpected end of expression");
    if (t.t === "num") { p++; return { value: t.v }; }
    if (t.t === "op" && t.v === "(") {
      p++;
      const r = sum();
      expect(")");
      return r;
    }
    if (t.t === "op" && t.v === "[") return bracket(8);
    if (t.t === "id") {
      // Intel size word: qword [..], dword ptr [..]
      if (SIZE_WORDS[t.v] && (toks[p + 1]?.t === "op" || (toks[p + 1]?.t === "id" && (toks[p + 1] as { v: string }).v === "ptr"))) {
        p++;
        if (peek()?.t === "id" && (peek() as { v: string }).v === "ptr") p++;
        if (!isOp("[")) throw new ExprError(`expected '[' after ${t.v}`);
        return bracket(SIZE_WORDS[t.v]);
      }
      if (t.v === "phys" && toks[p + 1]?.t === "op" && (toks[p + 1] as { v: string }).v === ":") {
        const a = address();
        return read(a.addr, 8, true, false);
      }
      p++;
      return register(t.v);
    }
    throw new ExprError(`unexpected '${t.v}'`);
  }

  function bracket(size: number): ExprResult {
    expect("[");
    let physical = false;
    const t = peek();
    if (t?.t === "id" && t.v === "phys" && toks[p + 1]?.t === "op" && (toks[p + 1] as { v: string }).v === ":") { p += 2; physical = true; }
    const a = scalar(sum());
    expect("]");
    return read(a, size, physical, false);
  }

  function register(name: string): ExprResult {
    const sub = SUBREGS[name];
    if (sub) {
      const full = ctx.readReg(sub[0]);
      if (typeof full !== "bigint") throw new ExprError(`no register '${name}'`);
      return { value: (full >> BigInt(sub[1])) & ((1n << BigInt(sub[2])) - 1n) };
    }
    const v = ctx.readReg(name);
    if (v !== undefined) return { value: v, reg: name };
    const sym = ctx.symbol?.(name);
    if (sym !== undefined) return { value: sym };
    throw new ExprError(`unknown register or symbol '${name}'`);
  }

  function unary(): ExprResult {
    if (isOp("-")) { p++; return { value: -scalar(unary()) }; }
    if (isOp("+")) { p++; return unary(); }
    if (isOp("*")) {
      p++;
      // C cast: *(u64*)ADDR; without a cast, a u64
      let size = 8, signed = false;
      if (isOp("(") && toks[p + 1]?.t === "id" && TYPES[(toks[p + 1] as { v: string }).v] && toks[p + 2]?.t === "op" && (toks[p + 2] as { v: string }).v === "*") {
        const ty = TYPES[(toks[p + 1] as { v: string }).v];
        p += 3;
        expect(")");
        [size, signed] = ty;
      }
      const a = address();
      return read(a.addr, size, a.physical, signed);
    }
    return primary();
  }

  function product(): ExprResult {
    let r = unary();
    while (isOp("*")) { p++; r = { value: scalar(r) * scalar(unary()) }; }
    return r;
  }

  function sum(): ExprResult {
    let r = product();
    while (isOp("+") || isOp("-")) {
      const op = (peek() as { v: string }).v;
      p++;
      const b = scalar(product());
      r = { value: op === "+" ? scalar(r) + b : scalar(r) - b };
    }
    return r;
  }

  const r = sum();
  if (p < toks.length) throw new ExprError(`unexpected '${String(toks[p].v)}' after the expression`);
  if (typeof r.value === "bigint" && !r.mem && !r.reg) r.value = BigInt.asUintN(64, r.value);
  return r;
}

/** A memoryReference / instructionReference: "0x1000", "4096", "phys:0x1000" (optionally an expression). */
export function parseReference(ref: string, ctx?: ExprContext): { addr: bigint; physical: boolean } {
  let s = ref.trim(), physical = false;
  if (/^phys:/i.test(s)) { physical = true; s = s.slice(5); }
  try { return { addr: BigInt.asUintN(64, parseNumber(s)), physical }; } catch { /* maybe an expression */ }
  if (!ctx) throw new ExprError(`bad memory reference '${ref}'`);
  let r: ExprResult;
  try { r = evaluate(s, ctx); } catch (e) { throw new ExprError(`bad memory reference '${ref}': ${(e as Error).message}`); }
  if (typeof r.value !== "bigint") throw new ExprError(`bad memory reference '${ref}'`);
  return { addr: BigInt.asUintN(64, r.value), physical };
}
