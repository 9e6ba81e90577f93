// The debug engine (hypervisor/debug/engine.ts) on real guest images: exact instruction
// budgets, stepping, linear (DR0-3) and physical (INT3) breakpoints, IO and exception stops
// (#NM of an AMX guest with XFD armed through KVM_SET_MSRS), pause, register and memory
// writes, and reverse execution that lands on exactly the forward state (full hash).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DebugEngine } from "../../hypervisor/debug/engine";
import { resolveRun } from "../../hypervisor/cli/run";
import type { MachineSpec } from "../../hypervisor/vmm/setup";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const img = (n: string) => join(root, "guest-images/bin", n);
const spec = (n: string, extra: Record<string, string> = {}): MachineSpec => resolveRun({ image: img(n), memory: "8M", ...extra }).spec;

test("runTo lands on exact instruction counts, the same state as stepping there", () => {
  const a = new DebugEngine(spec("selftest64.elf"));
  const b = new DebugEngine(spec("selftest64.elf"));
  for (const n of [1, 7, 50, 333]) {
    const s = a.runTo(n);
    assert.is(s.insns, n);
    assert.is(a.insns, n);
  }
  for (let i = 0; i < 333; i++) b.stepInstruction();
  assert.is(b.insns, 333);
  assert.is(a.stateHash(), b.stateHash());
});

test("stepInstruction retires one instruction each; OUT steps complete the IO", () => {
  const out: number[] = [];
  const e = new DebugEngine(spec("hello64.elf"), { output: (b) => out.push(...b) });
  assert.is(e.lastStop.reason, "entry");
  assert.is(e.lastStop.rip, 0x100000n);
  for (let i = 1; i <= 6; i++) {
    const s = e.stepInstruction();
    assert.is(s.reason, "step");
    assert.is(s.insns, i);
  }
  assert.is(String.fromCharCode(...out), "h");
});

test("linear breakpoint (DR0) and continue; memory reads never show a patch", async () => {
  const e = new DebugEngine(spec("hello64.elf"));
  const bp = e.addBreakpoint("linear", 0x100012n);
  let s = await e.continue();
  assert.is(s.reason, "breakpoint");
  assert.is(s.rip, 0x100012n);
  assert.is(s.breakpoint?.id, bp.id);
  assert.is(s.insns, 6);
  s = await e.continue();
  assert.is(s.insns, 12);
  e.clearBreakpoints();
  s = await e.continue();
  assert.is(s.reason, "vmexit");
  assert.is(s.exit?.kind, "hlt");
  assert.is(s.live, false);
});

test("physical breakpoint (INT3 patch) and a fifth linear one beyond DR0-3", async () => {
  const e = new DebugEngine(spec("hello64.elf"));
  const orig = e.readMemory(0x100012n, 4, "physical");
  e.addBreakpoint("physical", 0x100012n);
  let s = await e.continue();
  assert.is(s.reason, "breakpoint");
  assert.is(s.breakpoint?.kind, "physical");
  assert.is(s.insns, 6);
  assert.equal([...e.readMemory(0x100012n, 4, "physical")], [...orig]);
  e.clearBreakpoints();
  // four DRs on addresses never reached, the fifth (an INT3 at its translation) is hit
  for (const a of [0x200000n, 0x200010n, 0x200020n, 0x200030n]) e.addBreakpoint("linear", a);
  e.addBreakpoint("linear", 0x10000dn);
  s = await e.continue();
  assert.is(s.reason, "breakpoint");
  assert.is(s.rip, 0x10000dn);
  assert.is(s.insns, 10);
});

test("continue from a breakpoint on an OUT goes on to the next hit (its IO exit is no stop)", async () => {
  const e = new DebugEngine(spec("hello64.elf"));
  e.addBreakpoint("linear", 0x10000dn);
  assert.is((await e.continue()).insns, 4);
  const s = await e.continue();
  assert.is(s.reason, "breakpoint");
  assert.is(s.insns, 10);
});

test("segment fields and the register list of the model", () => {
  const e = new DebugEngine(spec("hello64.elf"));
  assert.is(e.readRegister("cs.l"), 1n);
  assert.is(e.readRegister("cs.selector"), 8n);
  assert.is(e.readRegister("ss.limit"), 0xffffffffn);
  assert.is(e.readRegister("gdtr.limit"), 23n);
  assert.ok(e.writeRegister("fs.base", 0x1234n));
  assert.is(e.readRegister("fs_base"), 0x1234n);
  const names = e.registers().map((r) => r.name);
  assert.ok(names.includes("tmm7") && names.includes("zmm31") && names.includes("pkru"));
  const h = new DebugEngine({ ...spec("hello64.elf"), model: "haswell" });
  const hn = h.registers().map((r) => r.name);
  assert.ok(hn.includes("ymm15"));
  assert.not.ok(hn.includes("zmm0") || hn.includes("tmm0") || hn.includes("k0") || hn.includes("xmm16"));
});

test("IO exit stops", async () => {
  const e = new DebugEngine(spec("hello64.elf"));
  e.setIoStops([0xe9]);
  const s = await e.continue();
  assert.is(s.reason, "vmexit");
  assert.is(s.exit?.kind, "io");
  assert.is(s.exit?.port, 0xe9);
  assert.is(s.insns, 5);
});

test("#NM stop in the AMX guest: XFD armed by the debugger before TILELOADD", async () => {
  const e = new DebugEngine(spec("amx-xfd-irq.elf"));
  e.setExceptionStops([7, 13]);
  // step to the TILELOADD
  let guard = 0;
  while (!/tileloadd/.test(e.disassemble(e.lastStop.pc, 1)[0].text)) { e.stepInstruction(); assert.ok(++guard < 2000); }
  const at = e.lastStop.rip;
  assert.is(e.readRegister("xcr0"), 0x602e7n);
  assert.ok(e.writeRegister("xfd", 1n << 18n));
  assert.is(e.hostView().fpstate?.xfd, 1n << 18n, "the kernel's fpstate follows the guest XFD");
  const s = await e.continue();
  assert.is(s.reason, "exception");
  assert.is(s.vector, 7);
  assert.is(s.vectorName, "#NM");
  assert.is(s.rip, at);
  assert.is(e.readRegister("xfd_err"), 1n << 18n);
  // TILECFG was loaded before: palette 1
  assert.is((e.readRegister("tilecfg") as Uint8Array)[0], 1);
  e.dispose();
});

test("register writes: GPR, ZMM, opmask, x87 and memory — visible, and kept across a step", () => {
  const e = new DebugEngine(spec("amx-xfd-irq.elf"));
  e.stepInstruction();
  const z = new Uint8Array(64).map((_, i) => i + 1);
  assert.ok(e.writeRegister("rax", 0x1122334455667788n));
  assert.ok(e.writeRegister("zmm5", z));
  assert.ok(e.writeRegister("k3", 0xf0f0n));
  assert.ok(e.writeRegister("zmm20", z));
  assert.is(e.readRegister("rax"), 0x1122334455667788n);
  assert.equal([...(e.readRegister("zmm5") as Uint8Array)], [...z]);
  assert.equal([...(e.readRegister("ymm5") as Uint8Array)], [...z.subarray(0, 32)]);
  assert.equal([...(e.readRegister("xmm20") as Uint8Array)], [...z.subarray(0, 16)]);
  assert.is(e.readRegister("k3"), 0xf0f0n);
  assert.is(e.readRegister("fctrl"), 0x37fn);
  assert.is(e.writeRegister("nosuch", 1n), false);
  assert.is(e.writeMemory(0x300000n, new Uint8Array([1, 2, 3, 4])), 4);
  e.stepInstruction();
  assert.is(e.readRegister("k3"), 0xf0f0n);
  assert.equal([...e.readMemory(0x300000n, 4)], [1, 2, 3, 4]);
});

test("reverse steps land on exactly the forward states, writes included", () => {
  const e = new DebugEngine(spec("selftest64.elf"));
  const h: string[] = [e.stateHash()];
  for (let i = 1; i <= 40; i++) {
    e.stepInstruction();
    if (i === 15) { e.writeRegister("rbx", 0xdeadn); e.writeMemory(0x300000n, new Uint8Array([9, 9])); }
    h[i] = e.stateHash();
  }
  for (let i = 39; i >= 25; i--) {
    const s = e.stepBack();
    assert.is(s.insns, i);
    assert.is(e.stateHash(), h[i], `state at ${i}`);
  }
  e.goTo(14);
  assert.is(e.stateHash(), h[14]);
  assert.not.equal(e.readRegister("rbx"), 0xdeadn);
  e.runTo(15);
  assert.not.equal(e.readMemory(0x300000n, 2)[0], 9, "going forward again re-executes: the dropped write is gone");
});

test("reverse continue goes to the previous breakpoint hit", async () => {
  const e = new DebugEngine(spec("hello64.elf"));
  e.addBreakpoint("linear", 0x100012n);
  await e.continue(); await e.continue(); await e.continue();
  assert.is(e.insns, 18);
  const h12 = (() => { const f = new DebugEngine(spec("hello64.elf")); f.runTo(12); return f.stateHash(); })();
  let s = e.reverseContinue();
  assert.is(s.reason, "breakpoint");
  assert.is(s.insns, 12);
  assert.is(e.stateHash(), h12);
  s = e.reverseContinue();
  assert.is(s.insns, 6);
  s = e.reverseContinue();
  assert.is(s.reason, "history-start");
  assert.is(s.insns, 0);
});

test("pause interrupts a spinning guest", async () => {
  // a boot sector that spins: jmp $
  const e = new DebugEngine({ image: new Uint8Array([0xeb, 0xfe]), kind: "flat", model: "sapphire-rapids", kernel: "6.19", memory: 8 << 20 });
  const p = e.continue();
  setTimeout(() => e.pause(), 30);
  const s = await p;
  assert.is(s.reason, "pause");
  assert.ok(s.insns > 1000);
  assert.is(s.rip, 0x7c00n);
});

test("disassemble: exactly count entries, instructions before the address", () => {
  const e = new DebugEngine(spec("hello64.elf"));
  for (let i = 0; i < 4; i++) e.stepInstruction();
  const l = e.disassemble(0x10000dn, 6, 3);
  assert.is(l.length, 6);
  assert.is(l[3].address, 0x10000dn);
  assert.match(l[3].text, /^out 0xe9, al/);
  assert.is(l[2].address, 0x10000bn);
  assert.is(e.disassemble(0x10000dn, 0).length, 0);
  e.dispose();
});


test("real mode with string instructions: runTo(n) equals n single steps; reverse steps exact", () => {
  const a = new DebugEngine(spec("realmode.bin"));
  const b = new DebugEngine(spec("realmode.bin"));
  const hashes: string[] = [b.stateHash()];
  for (let i = 1; i <= 400; i++) { b.stepInstruction(); hashes.push(b.stateHash()); }
  for (const n of [3, 64, 211, 400]) { a.runTo(n); assert.is(a.stateHash(), hashes[n], `runTo(${n})`); }
  for (const n of [399, 398, 250, 17]) { b.goTo(n); assert.is(b.stateHash(), hashes[n], `goTo(${n})`); }
  assert.is(b.stepBack().insns, 16);
  assert.is(b.stateHash(), hashes[16]);
});

test("host events replay at the same point: reverse across an irq-fpu event and out of a host oops", async () => {
  // B3 (6.8) with an FPU-using interrupt at the guest's WRMSR(XFD) exit: the host oopses (kernel-abi.md S4)
  const e = new DebugEngine(spec("amx-xfd-irq.elf", { kernel: "6.8" }));
  e.writeRegister("rbx", 0n);   // a no-op write, journaled at 0
  const sp = resolveRun({ image: img("amx-xfd-irq.elf"), memory: "8M", kernel: "6.8", hostEvents: ["irq-fpu@wrmsr:0x1c4"] }).spec;
  const f = new DebugEngine(sp);
  const st = await f.continue();
  assert.is(st.reason, "host-oops");
  assert.is(st.live, false);
  assert.match(st.oops ?? "", /switch_fpu_return/);
  const n = st.insns;
  // one instruction back: a live guest, the state a plain run to n-1 has
  const back = f.stepBack();
  assert.is(back.insns, n - 1);
  assert.ok(back.live);
  const g = new DebugEngine(sp);
  g.runTo(n - 1);
  assert.is(f.stateHash(), g.stateHash());
  // further back (before the tiles are loaded) and forward again: the same oops at the same instruction
  f.goTo(5);
  const again = await f.continue();
  assert.is(again.reason, "host-oops");
  assert.is(again.insns, n);
  // n - 1 is the stop right before the WRMSR (its exit counts it): a debugger stop is a VM exit
  // with XFD[18] still 0, so the tiles stay in the saved image; continuing, the WRMSR exits, the
  // irq-fpu event fires at that exit and the re-entry oopses at the same instruction count
  assert.match(g.disassemble(g.lastStop.pc, 1)[0].text, /wrmsr/);
  const h = await g.continue();
  assert.is(h.reason, "host-oops");
  assert.is(h.insns, n);
  // without the event the same guest halts normally (the event, not the replay, made the oops)
  assert.is((await e.continue()).exit?.kind, "hlt");
});

test("the machine prepared ahead: reverse steps after idle time start from it and land on the same states", async () => {
  const idle = (ms = 60) => new Promise((r) => setTimeout(r, ms));
  const e = new DebugEngine(spec("selftest64.elf"));
  const h: string[] = [e.stateHash()];
  for (let i = 1; i <= 30; i++) { e.stepInstruction(); h[i] = e.stateHash(); }
  for (let i = 29; i >= 25; i--) {
    await idle();
    assert.is(e.stepBack().insns, i);
    assert.is(e.stateHash(), h[i], `state at ${i}`);
  }
  assert.ok(e.stats.spareHits >= 4, `spare used ${e.stats.spareHits} times`);
  // a long continue is cut into segments: the prepared machine sits close behind its end
  const w = new DebugEngine(resolveRun({ bios: img("w2.rom"), memory: "8M" }).spec, { slice: 256 });
  const end = await w.continue();
  assert.is(end.exit?.kind, "debug-exit");
  const ref = new DebugEngine(resolveRun({ bios: img("w2.rom"), memory: "8M" }).spec, { slice: 256 });
  ref.runTo(end.insns - 1);
  await idle(300);
  const hits = w.stats.spareHits, t0 = performance.now();
  assert.is(w.stepBack().insns, end.insns - 1);
  const ms = performance.now() - t0;
  assert.is(w.stats.spareHits, hits + 1);
  assert.is(w.stateHash(), ref.stateHash());
  console.log(`  (w2.rom: reverse step from instruction ${end.insns} with the prepared machine: ${ms.toFixed(1)} ms)`);
  e.dispose(); w.dispose(); ref.dispose();
});

test.run();
