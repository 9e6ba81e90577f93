// System-level behaviour of the core: far returns, IRET, interrupt and
// exception delivery (frames, error codes, #DF / triple fault), SYSCALL/SYSRET
// per vendor, CR0/CR4 write checks, LTR. Each test builds a tiny machine state
// (GDT, IDT, TSS in guest RAM; hand-encoded code) on the real Machine and runs
// it until a HLT: every IDT vector points at its own `hlt`, so the RIP after
// the run names the vector that was delivered and the stack holds its frame.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Machine } from "../../hypervisor/vmm/machine";

const GDT = 0x1000, IDT = 0x2000, IDT32 = 0x2800, HANDLERS = 0x3000, TSS = 0x4000, TSS32 = 0x4800;
const CODE = 0x10000, UCODE = 0x20000, KSTACK = 0x8000, RSP0 = 0x9000, USTACK = 0x6000;
const SYS_HLT = HANDLERS + 0x800;           // a spare `hlt` (SYSCALL targets)
// selectors
const KCODE64 = 0x08, KDATA = 0x10, UCODE32 = 0x18, UDATA = 0x20, UCODE64 = 0x28, TSS_SEL = 0x30, KCODE32 = 0x40, KCODE16 = 0x48, TSS32_SEL = 0x50;
const RF = 0x10000n, IF = 0x200n, VM = 0x20000n;

type Env = { m: Machine; dv: DataView };

function put(m: Machine, gpa: number, bytes: number[]): void { m.writePhys(gpa, Uint8Array.from(bytes)); }
function seg(dv: DataView, sel: number, v: bigint): void { dv.setBigUint64(GDT + sel, v, true); }
function sysDesc(base: number, limit: number, type: number): bigint {
  return BigInt(limit & 0xffff) | (BigInt(base & 0xffffff) << 16n) | (BigInt(0x80 | type) << 40n) | (BigInt((base >>> 24) & 0xff) << 56n);
}

function common(model?: string): Env {
  const m = new Machine({ memory: 4 << 20, model, console: { write: () => {} } });
  const dv = new DataView(m.cpu.bytes.buffer, m.ram);
  seg(dv, KCODE64, 0x00af9b000000ffffn);
  seg(dv, KDATA, 0x00cf93000000ffffn);
  seg(dv, UCODE32, 0x00cffb000000ffffn);
  seg(dv, UDATA, 0x00cff3000000ffffn);
  seg(dv, UCODE64, 0x00affb000000ffffn);
  seg(dv, TSS_SEL, sysDesc(TSS, 0x67, 9));          // 64-bit TSS, available (upper half: 0)
  seg(dv, KCODE32, 0x00cf9b000000ffffn);
  seg(dv, KCODE16, 0x00009b000000ffffn);          // 16-bit code, limit 0xFFFF
  seg(dv, TSS32_SEL, sysDesc(TSS32, 0x67, 9));      // 32-bit TSS
  for (let v = 0; v < 256; v++) put(m, HANDLERS + 4 * v, [0xf4, 0x90, 0x90, 0x90]);
  put(m, SYS_HLT, [0xf4]);
  dv.setBigUint64(TSS + 4, BigInt(RSP0), true);     // RSP0
  dv.setUint32(TSS32 + 4, RSP0, true);              // ESP0
  dv.setUint32(TSS32 + 8, KDATA, true);             // SS0
  return { m, dv };
}

/** 64-bit mode at CPL0: our GDT/IDT/TSS, code at CODE, RSP = KSTACK. */
function lm(code: number[], model?: string): Env {
  const e = common(model);
  const { m, dv } = e;
  (m as any).setupLongMode(BigInt(CODE));
  const c = m.cpu, L = c.L;
  for (let v = 0; v < 256; v++) gate64(dv, v, { dpl: v === 0x80 ? 3 : 0 });
  c.setU64(L.S_GDTR_BASE, BigInt(GDT)); c.setU64(L.S_GDTR_LIMIT, 0x57n);
  c.setU64(L.S_IDTR_BASE, BigInt(IDT)); c.setU64(L.S_IDTR_LIMIT, 0xfffn);
  c.setSeg(L.SEG_TR, { base: BigInt(TSS), limit: 0x67, sel: TSS_SEL, attr: 0x8b });
  c.setGpr(4, BigInt(KSTACK));
  put(m, CODE, code);
  c.ex.state_changed();
  return e;
}

function gate64(dv: DataView, v: number, o: { dpl?: number; present?: boolean; sel?: number; type?: number; ist?: number; off?: number } = {}): void {
  const off = o.off ?? HANDLERS + 4 * v;
  const w1 = (off & 0xffff) | ((o.sel ?? KCODE64) << 16);
  const w2 = (o.ist ?? 0) | ((o.type ?? 0xe) << 8) | ((o.dpl ?? 0) << 13) | ((o.present ?? true) ? 0x8000 : 0) | (off & 0xffff0000);
  dv.setUint32(IDT + 16 * v, w1, true);
  dv.setUint32(IDT + 16 * v + 4, w2 >>> 0, true);
  dv.setBigUint64(IDT + 16 * v + 8, 0n, true);
}

/** 32-bit protected mode at CPL0 (no paging): flat segments, 32-bit IDT and TSS. */
function pm32(code: number[]): Env {
  const e = common();
  const { m, dv } = e;
  const c = m.cpu, L = c.L;
  for (let v = 0; v < 256; v++) {
    const off = HANDLERS + 4 * v;
    dv.setUint32(IDT32 + 8 * v, (off & 0xffff) | (KCODE32 << 16), true);
    dv.setUint32(IDT32 + 8 * v + 4, (0x8e00 | (off & 0xffff0000)) >>> 0, true);
  }
  c.setU64(L.S_CR0, 0x11n); c.setU64(L.S_CR4, 0n); c.setU64(L.S_EFER, 0n); c.setU64(L.S_CR3, 0n);
  c.setU64(L.S_GDTR_BASE, BigInt(GDT)); c.setU64(L.S_GDTR_LIMIT, 0x57n);
  c.setU64(L.S_IDTR_BASE, BigInt(IDT32)); c.setU64(L.S_IDTR_LIMIT, 0x7ffn);
  c.setSeg(L.SEG_CS, { base: 0n, limit: 0xffffffff, sel: KCODE32, attr: 0xc09b });
  for (const s of [L.SEG_DS, L.SEG_ES, L.SEG_FS, L.SEG_GS, L.SEG_SS]) c.setSeg(s, { base: 0n, limit: 0xffffffff, sel: KDATA, attr: 0xc093 });
  c.setSeg(L.SEG_TR, { base: BigInt(TSS32), limit: 0x67, sel: TSS32_SEL, attr: 0x8b });
  c.setU32(L.S_CPL, 0);
  c.rip = BigInt(CODE);
  c.setGpr(4, BigInt(KSTACK));
  c.rflags = 2n;
  put(m, CODE, code);
  c.ex.state_changed();
  return e;
}

interface Stop { exit: string; vector: number; rsp: number; q: (i: number) => bigint; d: (i: number) => number }
function go(e: Env, budget = 10_000): Stop {
  const r = e.m.run(budget);
  const c = e.m.cpu;
  const rip = Number(c.rip), rsp = Number(c.gpr(4) & 0xffffffffn);
  const vector = rip > HANDLERS && rip <= HANDLERS + 0x400 ? (rip - 1 - HANDLERS) / 4 : -1;
  return {
    exit: r.exit, vector, rsp,
    q: (i) => e.dv.getBigUint64(rsp + 8 * i, true),
    d: (i) => e.dv.getUint32(rsp + 4 * i, true),
  };
}
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const push32 = (v: number) => [0x68, ...le32(v)];
// push SS, RSP, RFLAGS, CS, RIP and IRETQ
const iretqTo = (ss: number, rsp: number, fl: number, cs: number, rip: number) =>
  [...push32(ss), ...push32(rsp), ...push32(fl), ...push32(cs), ...push32(rip), 0x48, 0xcf];

// ---- IRET / RETF ----------------------------------------------------------------

test("IRETQ to CPL3 loads IF and IOPL from the image (checked at CPL0, before CS changes)", () => {
  const e = lm(iretqTo(UDATA | 3, USTACK, 0x3202, UCODE64 | 3, UCODE));
  put(e.m, UCODE, [0x0f, 0x0b]);                   // ud2 at CPL3
  const s = go(e);
  assert.is(s.vector, 6);
  assert.is(s.rsp, RSP0 - 40, "#UD from CPL3 runs on TSS.RSP0");
  assert.is(s.q(0), BigInt(UCODE));
  assert.is(s.q(1), BigInt(UCODE64 | 3));
  assert.is(s.q(2) & 0x3200n, 0x3200n, "IF and IOPL=3 reached CPL3");
  assert.is(s.q(3), BigInt(USTACK));
  assert.is(s.q(4), BigInt(UDATA | 3));
});

test("IRETQ with an unusable SS is #GP(SS) and changes neither CS nor CPL", () => {
  const at = CODE + 25;                            // the iretq after five 5-byte pushes
  const e = lm(iretqTo(KDATA | 3, USTACK, 0x202, UCODE64 | 3, UCODE));
  const s = go(e);
  assert.is(s.vector, 13);
  assert.is(s.q(0), BigInt(KDATA), "error code: the SS selector");
  assert.is(s.q(1), BigInt(at), "RIP of the IRETQ");
  assert.is(s.q(2), BigInt(KCODE64), "still CPL0 code");
  assert.is(s.q(5), BigInt(KDATA), "no stack switch");
});

test("RETF to CPL3 with a bad SS is #GP(SS) before anything changes", () => {
  // push ss; push rsp; push cs; push rip; retfq
  const code = [...push32(KDATA | 3), ...push32(USTACK), ...push32(UCODE64 | 3), ...push32(UCODE), 0x48, 0xcb];
  const s = go(lm(code));
  assert.is(s.vector, 13);
  assert.is(s.q(0), BigInt(KDATA));
  assert.is(s.q(1), BigInt(CODE + 20));
  assert.is(s.q(2), BigInt(KCODE64));
});

test("RETF to CPL3 loads CS, SS and RSP", () => {
  const code = [...push32(UDATA | 3), ...push32(USTACK), ...push32(UCODE64 | 3), ...push32(UCODE), 0x48, 0xcb];
  const e = lm(code);
  put(e.m, UCODE, [0xf4]);                         // hlt at CPL3: #GP(0)
  const s = go(e);
  assert.is(s.vector, 13);
  assert.is(s.q(0), 0n);
  assert.is(s.q(2), BigInt(UCODE64 | 3));
  assert.is(s.q(4), BigInt(USTACK));
  assert.is(s.q(5), BigInt(UDATA | 3));
});

test("32-bit IRET to CPL3 nulls DS/ES (DPL0), keeps FS (DPL3); the #UD comes back on SS0:ESP0", () => {
  const code = [
    0x66, 0xb8, UDATA | 3, 0x00, 0x8e, 0xe0,       // mov ax, UDATA|3; mov fs, ax
    ...push32(UDATA | 3), ...push32(USTACK), ...push32(0x202), ...push32(UCODE32 | 3), ...push32(UCODE), 0xcf,
  ];
  const e = pm32(code);
  put(e.m, UCODE, [0x0f, 0x0b]);
  const s = go(e);
  const c = e.m.cpu, L = c.L;
  assert.is(s.vector, 6);
  assert.is(s.rsp, RSP0 - 20, "ESP0 minus EIP, CS, EFLAGS, ESP, SS");
  assert.is(c.seg(L.SEG_SS).sel, KDATA, "SS0 from the TSS");
  assert.is(s.d(0), UCODE);
  assert.is(s.d(1), UCODE32 | 3);
  assert.is(s.d(2) & 0x10200, 0x10200, "IF from the IRET image, RF for a fault");
  assert.is(s.d(3), USTACK);
  assert.is(s.d(4), UDATA | 3);
  assert.is(c.seg(L.SEG_DS).sel, 0, "DS nulled");
  assert.is(c.seg(L.SEG_ES).sel, 0, "ES nulled");
  assert.is(c.seg(L.SEG_FS).sel, UDATA | 3, "FS (DPL3) kept");
});

test("real-mode IRETD does not load VM from the image", () => {
  const m = new Machine({ memory: 4 << 20, console: { write: () => {} } });
  // push dword 0x20002 (VM); push dword 0 (CS); push dword 0x7c11; iretd; 0x7c11: hlt
  const code = [0x66, 0x68, ...le32(0x20002), 0x66, 0x6a, 0x00, 0x66, 0x68, ...le32(0x7c11), 0x66, 0xcf, 0xf4];
  m.load("flat", Uint8Array.from(code));
  const r = m.run(100);
  assert.is(r.exit, "hlt");
  assert.is(m.cpu.rip, 0x7c12n);
  assert.is(m.cpu.rflags & VM, 0n);
  assert.is(m.cpu.ex.mode() & m.cpu.L.MODE_VM86, 0);
});

test("IRETQ to a non-canonical RIP is #GP(0) at the IRETQ, still at CPL0", () => {
  // push ss; push rsp; push rflags; push cs; mov rax, 0x0000800000000000; push rax; iretq
  const code = [...push32(UDATA | 3), ...push32(USTACK), ...push32(0x2), ...push32(UCODE64 | 3),
    0x48, 0xb8, ...le32(0), ...le32(0x8000), 0x50, 0x48, 0xcf];
  const s = go(lm(code));
  assert.is(s.vector, 13);
  assert.is(s.q(0), 0n);
  assert.is(s.q(1), BigInt(CODE + 31));
  assert.is(s.q(2), BigInt(KCODE64));
});

test("far JMP past the target's CS limit is #GP(0); to a DPL3 non-conforming segment from CPL0 #GP(sel)", () => {
  const s = go(pm32([0xea, ...le32(0x12345), KCODE16, 0x00]));   // jmp 0x48:0x12345 (32-bit offset, 16-bit segment)
  assert.is(s.vector, 13);
  assert.is(s.d(0), 0);
  assert.is(s.d(1), CODE);
  assert.is(s.d(2), KCODE32);
  const t = go(pm32([0xea, ...le32(UCODE), UCODE32 | 3, 0x00]));
  assert.is(t.vector, 13);
  assert.is(t.d(0), UCODE32);
});

// ---- call gates ----
const GATE = 0x58;
function callGate(e: Env, o: { type: number; dpl: number; sel: number; off: number; params?: number; bits64?: boolean }): void {
  const lo = (o.off & 0xffff) | (o.sel << 16);
  const hi = (o.params ?? 0) | (o.type << 8) | (o.dpl << 13) | 0x8000 | (o.off & 0xffff0000);
  e.dv.setUint32(GDT + GATE, lo >>> 0, true);
  e.dv.setUint32(GDT + GATE + 4, hi >>> 0, true);
  e.dv.setBigUint64(GDT + GATE + 8, 0n, true);
  e.m.cpu.setU64(e.m.cpu.L.S_GDTR_LIMIT, BigInt(GATE + 15));
}

test("64-bit CALL through a DPL3 call gate from CPL3: TSS.RSP0, null SS, SS:RSP:CS:RIP pushed", () => {
  const e = lm(iretqTo(UDATA | 3, USTACK, 0x2, UCODE64 | 3, UCODE));
  callGate(e, { type: 0xc, dpl: 3, sel: KCODE64, off: SYS_HLT });
  put(e.m, UCODE, [0xff, 0x1c, 0x25, ...le32(UCODE + 0x40)]);   // call far [UCODE+0x40] (m16:32)
  put(e.m, UCODE + 0x40, [...le32(0), GATE | 3, 0]);
  const s = go(e);
  const c = e.m.cpu, L = c.L;
  assert.is(s.exit, "hlt");
  assert.is(Number(c.rip), SYS_HLT + 1);
  assert.is(c.ex.cpl(), 0);
  assert.is(s.rsp, RSP0 - 32);
  assert.is(s.q(0), BigInt(UCODE + 7));
  assert.is(s.q(1), BigInt(UCODE64 | 3));
  assert.is(s.q(2), BigInt(USTACK));
  assert.is(s.q(3), BigInt(UDATA | 3));
  assert.is(c.seg(L.SEG_SS).sel, 0);
});

test("32-bit CALL through a call gate to CPL0 copies the parameters; a DPL0 gate from CPL3 is #GP(gate)", () => {
  const code = [...push32(UDATA | 3), ...push32(USTACK), ...push32(0x2), ...push32(UCODE32 | 3), ...push32(UCODE), 0xcf];
  const e = pm32(code);
  callGate(e, { type: 0xc, dpl: 3, sel: KCODE32, off: SYS_HLT, params: 1 });
  put(e.m, UCODE, [...push32(0x1234), 0x9a, ...le32(0), GATE | 3, 0]);   // push 0x1234; call 0x5b:0
  const s = go(e);
  const c = e.m.cpu, L = c.L;
  assert.is(Number(c.rip), SYS_HLT + 1);
  assert.is(s.rsp, RSP0 - 20);
  assert.equal([s.d(0), s.d(1), s.d(2), s.d(3), s.d(4)], [UCODE + 12, UCODE32 | 3, 0x1234, USTACK - 4, UDATA | 3]);
  assert.is(c.seg(L.SEG_SS).sel, KDATA);
  const e2 = pm32(code);
  callGate(e2, { type: 0xc, dpl: 0, sel: KCODE32, off: SYS_HLT });
  put(e2.m, UCODE, [0x9a, ...le32(0), GATE | 3, 0]);
  const t = go(e2);
  assert.is(t.vector, 13);
  assert.is(t.d(0), GATE);
});

test("JMP through a call gate keeps CPL; to a more privileged non-conforming segment it is #GP(target)", () => {
  const e = lm([0xff, 0x2c, 0x25, ...le32(CODE + 0x40)]);       // jmp far [CODE+0x40]
  callGate(e, { type: 0xc, dpl: 0, sel: KCODE64, off: SYS_HLT });
  put(e.m, CODE + 0x40, [...le32(0), GATE, 0]);
  go(e);
  assert.is(Number(e.m.cpu.rip), SYS_HLT + 1);
  const u = lm(iretqTo(UDATA | 3, USTACK, 0x2, UCODE64 | 3, UCODE));
  callGate(u, { type: 0xc, dpl: 3, sel: KCODE64, off: SYS_HLT });
  put(u.m, UCODE, [0xff, 0x2c, 0x25, ...le32(UCODE + 0x40)]);
  put(u.m, UCODE + 0x40, [...le32(0), GATE | 3, 0]);
  const s = go(u);
  assert.is(s.vector, 13);
  assert.is(s.q(0), BigInt(KCODE64));
});

test("A20 off: code run through the FFFF:xxxx alias is the same physical code (stores to it are seen)", () => {
  const m = new Machine({ memory: 4 << 20, console: { write: () => {} } });
  const code = [
    0xe4, 0x92, 0x24, 0xfd, 0xe6, 0x92,              // in al, 0x92; and al, ~2; out 0x92, al (A20 off)
    0xc6, 0x06, 0x00, 0x05, 0xb0,                    // mov byte [0x500], 0xb0   (mov al, imm8)
    0xc6, 0x06, 0x01, 0x05, 0x01,                    // mov byte [0x501], 1
    0xc6, 0x06, 0x02, 0x05, 0xcb,                    // mov byte [0x502], 0xcb   (retf)
    0x9a, 0x10, 0x05, 0xff, 0xff,                    // call ffff:0510 -> linear 0x100500 -> 0x500
    0x88, 0xc3,                                      // mov bl, al
    0xc6, 0x06, 0x01, 0x05, 0x02,                    // mov byte [0x501], 2
    0x9a, 0x10, 0x05, 0xff, 0xff,                    // call ffff:0510 again
    0xf4,
  ];
  m.load("flat", Uint8Array.from(code));
  assert.is(m.run(1000).exit, "hlt");
  assert.is(m.cpu.gpr(3) & 0xffn, 1n);
  assert.is(m.cpu.gpr(0) & 0xffn, 2n, "the second call ran the modified byte");
});

// ---- exception delivery -----------------------------------------------------------

test("fault frames carry RF=1, trap frames (INT3) do not", () => {
  const f = go(lm([0x0f, 0x0b]));
  assert.is(f.vector, 6);
  assert.is(f.q(2) & RF, RF, "#UD is a fault");
  const t = go(lm([0xcc]));
  assert.is(t.vector, 3);
  assert.is(t.q(2) & RF, 0n, "#BP is a trap");
  assert.is(t.q(0), BigInt(CODE + 1));
});

test("RF from an IRETQ back to a faulting instruction lasts one instruction", () => {
  // ud2; nop; int3 -- the #UD handler skips the ud2 and IRETQs with RF=1 from the fault frame
  const e = lm([0x0f, 0x0b, 0x90, 0xcc]);
  put(e.m, CODE + 0x100, [0x48, 0x83, 0x04, 0x24, 0x02, 0x48, 0xcf]);   // add qword [rsp], 2; iretq
  gate64(e.dv, 6, { off: CODE + 0x100 });
  const s = go(e);
  assert.is(s.vector, 3);
  assert.is(s.q(0), BigInt(CODE + 4));
  assert.is(s.q(2) & RF, 0n, "RF was cleared after the NOP");
});

test("#GP through a not-present #GP gate is #DF(0); without a #DF gate, a triple fault", () => {
  const code = [0xb8, 0x00, 0x10, 0x00, 0x00, 0x8e, 0xd8];   // mov eax, 0x1000; mov ds, eax (past the GDT limit)
  const e = lm(code);
  gate64(e.dv, 13, { present: false });
  const s = go(e);
  assert.is(s.vector, 8);
  assert.is(s.q(0), 0n);
  const e2 = lm(code);
  gate64(e2.dv, 13, { present: false });
  gate64(e2.dv, 8, { present: false });
  assert.is(go(e2).exit, "shutdown");
});

test("a benign exception whose gate is missing is followed by #NP(vector*8+2+EXT), not #DF", () => {
  const e = lm([0x0f, 0x0b]);
  gate64(e.dv, 6, { present: false });
  const s = go(e);
  assert.is(s.vector, 11);
  assert.is(s.q(0), BigInt(6 * 8 + 2 + 1));
});

test("a gate whose code selector is past the GDT limit is #GP(selector+EXT)", () => {
  const e = lm([0x0f, 0x0b]);
  gate64(e.dv, 6, { sel: 0x1000 });
  const s = go(e);
  assert.is(s.vector, 13);
  assert.is(s.q(0), 0x1001n);
});

test("a 64-bit gate with a non-zero type in its upper half is #GP(vector*8+2+EXT)", () => {
  const e = lm([0x0f, 0x0b]);
  e.dv.setUint32(IDT + 16 * 6 + 12, 0x100, true);
  const s = go(e);
  assert.is(s.vector, 13);
  assert.is(s.q(0), BigInt(6 * 8 + 3));
});

test("INT n through a DPL0 gate at CPL3 is #GP(n*8+2) = 0x412 for int 0x82", () => {
  const e = lm(iretqTo(UDATA | 3, USTACK, 0x2, UCODE64 | 3, UCODE));
  put(e.m, UCODE, [0xcd, 0x82]);
  const s = go(e);
  assert.is(s.vector, 13);
  assert.is(s.q(0), 0x412n);
  assert.is(s.q(1), BigInt(UCODE), "INT n fault: RIP of the INT");
});

// ---- SYSCALL / SYSRET ---------------------------------------------------------

function compatSyscall(model: string): Stop {
  const e = lm(iretqTo(UDATA | 3, USTACK, 0x2, UCODE32 | 3, UCODE), model);
  const c = e.m.cpu, L = c.L;
  c.setU64(L.S_STAR, BigInt(KCODE64) << 32n);
  c.setU64(L.S_CSTAR, BigInt(SYS_HLT));
  c.setU64(L.S_LSTAR, BigInt(SYS_HLT));
  put(e.m, UCODE, [0x0f, 0x05]);                  // syscall in compatibility mode
  return go(e);
}

test("SYSCALL in compatibility mode: #UD on Intel, CSTAR entry on AMD", () => {
  const intel = compatSyscall("sapphire-rapids");
  assert.is(intel.vector, 6);
  assert.is(intel.q(1), BigInt(UCODE32 | 3));
  const amd = compatSyscall("epyc-genoa");
  assert.is(amd.exit, "hlt");
  assert.is(amd.vector, -1);
  const c = amd.q; void c;
});

test("SYSRET restoring TF from R11 traps right after it, at the return address (before the first user instruction)", () => {
  // Linux relies on this (arch/x86/entry: "restoring TF results in a trap from userspace
  // immediately after SYSRET"), which is why it never SYSRETs with TF set. Both vendors.
  for (const model of ["sapphire-rapids", "epyc-genoa"]) {
    const e = lm([
      0x49, 0xc7, 0xc3, ...le32(0x302),             // mov r11, TF|IF|1
      0x48, 0xc7, 0xc1, ...le32(UCODE),             // mov rcx, UCODE
      0x48, 0x0f, 0x07,                             // sysretq
    ], model);
    e.m.cpu.setU64(e.m.cpu.L.S_STAR, BigInt(UCODE32 | 3) << 48n | BigInt(KCODE64) << 32n);
    put(e.m, UCODE, [0x90, 0x90, 0xf4]);
    const s = go(e);
    assert.is(s.vector, 1, model);
    assert.is(s.q(0), BigInt(UCODE), `${model}: #DB frame RIP = the SYSRET target, no user instruction ran`);
    assert.is(s.q(1), BigInt(UCODE64 | 3), model);
    assert.is(s.q(2) & 0x100n, 0x100n, `${model}: the frame's RFLAGS has TF`);
    assert.is(e.m.cpu.u64(e.m.cpu.L.S_DR + 48) & 0x4000n, 0x4000n, `${model}: DR6.BS`);
  }
});

test("SYSRET outside 64-bit mode is #UD on Intel", () => {
  // far jump to 32-bit code at CPL0 (compatibility mode), then sysret
  const e = lm([0xff, 0x2c, 0x25, ...le32(CODE + 0x40)]);   // jmp far [CODE+0x40] (m16:32)
  put(e.m, CODE + 0x40, [...le32(CODE + 0x80), KCODE32, 0x00]);
  put(e.m, CODE + 0x80, [0x0f, 0x07]);
  const s = go(e);
  assert.is(s.vector, 6);
  assert.is(s.q(0), BigInt(CODE + 0x80));
  assert.is(s.q(1), BigInt(KCODE32));
});

test("SYSEXIT takes RIP from RDX and RSP from RCX (Intel); SYSENTER is #UD in long mode on AMD", () => {
  // mov edx, UCODE; mov ecx, USTACK; sysexitq (SYSENTER_CS = KCODE64 - 32 + ... : CS = cs+32 = UCODE64, SS = cs+40)
  const code = [0xba, ...le32(UCODE), 0xb9, ...le32(USTACK), 0x48, 0x0f, 0x35];
  const e = lm(code);
  e.m.cpu.setU64(e.m.cpu.L.S_SYSENTER_CS, BigInt(UCODE64 - 32));
  put(e.m, UCODE, [0x0f, 0x0b]);
  const s = go(e);
  assert.is(s.vector, 6);
  assert.is(s.q(0), BigInt(UCODE));
  assert.is(s.q(1), BigInt(UCODE64 | 3));
  assert.is(s.q(3), BigInt(USTACK));
  const a = lm([0x0f, 0x34], "epyc-genoa");
  a.m.cpu.setU64(a.m.cpu.L.S_SYSENTER_CS, BigInt(KCODE64));
  const t = go(a);
  assert.is(t.vector, 6);
  assert.is(t.q(0), BigInt(CODE));
});

test("CR4.UMIP: SGDT and STR at CPL3 are #GP(0); without UMIP they work", () => {
  const user = (umip: boolean) => {
    const pre = umip ? [0x0f, 0x20, 0xe0, 0x0d, ...le32(0x800), 0x0f, 0x22, 0xe0] : [];   // CR4 |= UMIP
    const e = lm([...pre, ...iretqTo(UDATA | 3, USTACK, 0x2, UCODE64 | 3, UCODE)]);
    put(e.m, UCODE, [0x0f, 0x01, 0x04, 0x24, 0x0f, 0x00, 0xc8, 0x0f, 0x0b]);   // sgdt [rsp]; str eax; ud2
    return go(e);
  };
  const on = user(true);
  assert.is(on.vector, 13);
  assert.is(on.q(1), BigInt(UCODE));
  const off = user(false);
  assert.is(off.vector, 6, "sgdt and str completed, then ud2");
});

// ---- control registers, LTR ------------------------------------------------------

test("MOV CR0 ignores reserved bits 31:0", () => {
  // mov rax, cr0; or eax, 0x40; mov cr0, rax; mov rbx, cr0; hlt
  const e = lm([0x0f, 0x20, 0xc0, 0x83, 0xc8, 0x40, 0x0f, 0x22, 0xc0, 0x0f, 0x20, 0xc3, 0xf4]);
  const s = go(e);
  assert.is(s.exit, "hlt");
  assert.is(e.m.cpu.gpr(3), 0x80050033n);
});

test("legacy PAE: PDPTEs are loaded with CR0.PG, not reloaded by a CR0.TS write; reserved bits are #GP", () => {
  const PDPT = 0x5000, PD = 0xa000;
  const code = [
    0xb8, ...le32(PDPT), 0x0f, 0x22, 0xd8,                   // mov eax, PDPT; mov cr3, eax
    0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0,    // cr4 |= PAE
    0x0f, 0x20, 0xc0, 0x0d, ...le32(0x80000000), 0x0f, 0x22, 0xc0,   // cr0 |= PG
    0x83, 0x0d, ...le32(PDPT), 0x02,                         // or dword [PDPT], 2 (reserved bit)
    0x0f, 0x20, 0xc0, 0x83, 0xc8, 0x08, 0x0f, 0x22, 0xc0,    // cr0 |= TS: no reload, no #GP
    0x8b, 0x1d, ...le32(0x7000),                             // mov ebx, [0x7000] through the loaded PDPTE
    0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8,                      // mov eax, cr3; mov cr3, eax: reload -> #GP(0)
  ];
  const e = pm32(code);
  e.dv.setBigUint64(PDPT, BigInt(PD) | 1n, true);
  e.dv.setBigUint64(PD, 0x83n, true);                       // 2 MiB identity page
  e.dv.setUint32(0x7000, 0xabcd, true);
  const s = go(e);

  assert.is(e.m.cpu.gpr(3), 0xabcdn);
  assert.is(s.vector, 13);
  assert.is(s.d(1), CODE + code.length - 3, "the MOV CR3 faults");
});

test("CR4.PCIDE with a non-zero PCID in CR3 is #GP(0)", () => {
  // mov rax, cr3; or eax, 1; mov cr3, rax; mov rax, cr4; or eax, 0x20000; mov cr4, rax
  const code = [0x0f, 0x20, 0xd8, 0x83, 0xc8, 0x01, 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xe0, 0x0d, ...le32(0x20000), 0x0f, 0x22, 0xe0];
  const s = go(lm(code));
  assert.is(s.vector, 13);
  assert.is(s.q(0), 0n);
  assert.is(s.q(1), BigInt(CODE + 17));
});

test("LTR marks the TSS busy; LTR of a busy TSS is #GP(selector)", () => {
  // mov eax, TSS_SEL; ltr ax; ltr ax
  const e = lm([0xb8, ...le32(TSS_SEL), 0x0f, 0x00, 0xd8, 0x0f, 0x00, 0xd8]);
  const s = go(e);
  assert.is(e.dv.getUint8(GDT + TSS_SEL + 5), 0x8b, "busy bit set in the GDT");
  assert.is(s.vector, 13);
  assert.is(s.q(0), BigInt(TSS_SEL));
  assert.is(s.q(1), BigInt(CODE + 8));
});

test("LTR in IA-32e mode needs the whole 16-byte descriptor inside the GDT limit", () => {
  const e = lm([0xb8, ...le32(TSS_SEL), 0x0f, 0x00, 0xd8]);
  e.m.cpu.setU64(e.m.cpu.L.S_GDTR_LIMIT, BigInt(TSS_SEL + 7));
  const s = go(e);
  assert.is(s.vector, 13);
  assert.is(s.q(0), BigInt(TSS_SEL));
});

test("SMAP: a supervisor read of a user page is #PF(P) unless STAC set AC; STAC at CPL3 is #UD", () => {
  // mov rax, cr4; or eax, SMAP; mov cr4, rax; [stac;] mov rbx, [0x200000]; hlt
  const pre = [0x0f, 0x20, 0xe0, 0x0d, ...le32(0x200000), 0x0f, 0x22, 0xe0];
  const load = [0x48, 0x8b, 0x1c, 0x25, ...le32(0x200000), 0xf4];
  const supervisorLow = (e: Env) => {
    // the first 2 MiB (tables, code, stacks) become supervisor pages; 0x200000 stays a user page
    const pd = (4 << 20) - 0x10000 + 0x2000;
    e.dv.setBigUint64(pd, e.dv.getBigUint64(pd, true) & ~4n, true);
  };
  const e = lm([...pre, ...load]);
  supervisorLow(e);
  const s = go(e);
  assert.is(s.vector, 14);
  assert.is(s.q(0), 1n, "present, read, supervisor");
  assert.is(e.m.cpu.u64(e.m.cpu.L.S_CR2), 0x200000n);
  const e2 = lm([...pre, 0x0f, 0x01, 0xcb, ...load]);
  supervisorLow(e2);
  assert.is(go(e2).exit, "hlt", "with AC=1 the read is allowed");
  // a second read after CLAC faults again: the permitted access was not cached
  const e3 = lm([...pre, 0x0f, 0x01, 0xcb, 0x48, 0x8b, 0x1c, 0x25, ...le32(0x200000), 0x0f, 0x01, 0xca, ...load]);
  supervisorLow(e3);
  assert.is(go(e3).vector, 14);
  const e4 = lm(iretqTo(UDATA | 3, USTACK, 0x2, UCODE64 | 3, UCODE));
  put(e4.m, UCODE, [0x0f, 0x01, 0xcb]);
  assert.is(go(e4).vector, 6);
});

test.run();
