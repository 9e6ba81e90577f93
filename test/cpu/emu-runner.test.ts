// The emulator-side runner reproduces the native harness's environment:
// simple cases give the same registers, flags and faults as silicon.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { DEFAULT_RSP, CODE_BASE } from "../native/native";

const emu = new EmuRunner();
const gprs = (over: Record<number, bigint>) => Array.from({ length: 16 }, (_, i) => over[i] ?? (i === 4 ? DEFAULT_RSP : 0n));

test("add rax, rbx sets the sum and flags", () => {
  const r = emu.run({ code: Uint8Array.of(0x48, 0x01, 0xd8), gpr: gprs({ 0: 0xffffffffffffffffn, 3: 1n }) });
  assert.is(r.status, "ok");
  assert.is(r.gpr[0], 0n);
  assert.is(r.rflags & 0xcd5n, 0x55n);   // CF PF AF ZF
  assert.is(r.rip, CODE_BASE + 3n);
});

test("ud2 is #UD at the instruction", () => {
  const r = emu.run({ code: Uint8Array.of(0x90, 0x0f, 0x0b) });
  assert.is(r.status, "fault");
  assert.is(r.vector, 6);
  assert.is(r.rip, CODE_BASE + 1n);
});

test("a store to an unmapped page is #PF with CR2 and error code 6", () => {
  // mov [rax], rbx with rax = 0x5000_0000
  const r = emu.run({ code: Uint8Array.of(0x48, 0x89, 0x18), gpr: gprs({ 0: 0x50000000n }) });
  assert.is(r.vector, 14);
  assert.is(r.cr2, 0x50000000n);
  assert.is(r.errorCode, 6n);
});

test("an endless loop times out", () => {
  const r = emu.run({ code: Uint8Array.of(0xeb, 0xfe) }, 10_000);
  assert.is(r.status, "timeout");
});

test.run();
