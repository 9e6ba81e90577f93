// Regression tests for the emulator bugs the differential test found
// (test/cpu/differential.test.ts). Expected values were measured on the
// host (AMD Zen 4) with the native harness; where it is available the same
// case is also run natively so the expectation itself is checked.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner } from "../helpers/emu";
import { nativeAvailable, runNative, DEFAULT_RSP, DATA_BASE, CODE_BASE, type NativeCase, type NativeResult } from "../native/native";

const emu = new EmuRunner();
const native = nativeAvailable().ok;
const gprs = (over: Record<number, bigint>) => Array.from({ length: 16 }, (_, i) => over[i] ?? (i === 4 ? DEFAULT_RSP : 0n));

function both(c: NativeCase, check: (r: NativeResult) => void): void {
  check(emu.run(c));
  if (native) check(runNative([c])[0]);
}

test("misaligned access with RFLAGS.AC at CPL3 is #AC(0)", () => {
  // push 0x40000 ; popfq ; mov rax, [rbx+1]
  const code = Uint8Array.of(0x68, 0x00, 0x00, 0x04, 0x00, 0x9d, 0x48, 0x8b, 0x43, 0x01);
  both({ code, gpr: gprs({ 3: DATA_BASE }) }, (r) => {
    assert.is(r.status, "fault"); assert.is(r.vector, 17); assert.is(r.errorCode, 0n); assert.is(r.rip, CODE_BASE + 6n);
  });
  // aligned access, and byte access, stay fine
  const ok = Uint8Array.of(0x68, 0x00, 0x00, 0x04, 0x00, 0x9d, 0x48, 0x8b, 0x43, 0x08, 0x8a, 0x4b, 0x03);
  both({ code: ok, gpr: gprs({ 3: DATA_BASE }) }, (r) => { assert.is(r.status, "ok"); });
});

test("#AC takes priority over #PF for a misaligned locked cmpxchg8b on a read-only page", () => {
  // push 0x40000 ; popfq ; lock cmpxchg8b [rip+1] (CODE is read-only, target misaligned)
  const code = Uint8Array.of(0x68, 0x00, 0x00, 0x04, 0x00, 0x9d, 0xf0, 0x0f, 0xc7, 0x0d, 0x01, 0x00, 0x00, 0x00);
  both({ code }, (r) => { assert.is(r.vector, 17); });
});

test("a non-canonical misaligned access under AC is #SS/#GP, not #AC", () => {
  // push 0x40000 ; popfq ; enter 8,2 with a non-canonical, misaligned RBP (#SS)
  const code = Uint8Array.of(0x68, 0x00, 0x00, 0x04, 0x00, 0x9d, 0xc8, 0x08, 0x00, 0x02);
  both({ code, gpr: gprs({ 5: 0x53a9a0f4915576cfn }) }, (r) => { assert.is(r.vector, 12); });
  // mov rax, [rbx] with a non-canonical, misaligned RBX (#GP)
  const code2 = Uint8Array.of(0x68, 0x00, 0x00, 0x04, 0x00, 0x9d, 0x48, 0x8b, 0x03);
  both({ code: code2, gpr: gprs({ 3: 0x8000000000000001n }) }, (r) => { assert.is(r.vector, 13); });
});

test("INT3 with TF set delivers #BP and no single-step #DB", () => {
  // push 0x100 ; popfq ; int3
  const code = Uint8Array.of(0x68, 0x00, 0x01, 0x00, 0x00, 0x9d, 0xcc, 0x90);
  both({ code }, (r) => { assert.is(r.vector, 3); assert.is(r.rip, CODE_BASE + 7n); });
  // and TF still traps after an ordinary instruction
  const code2 = Uint8Array.of(0x68, 0x00, 0x01, 0x00, 0x00, 0x9d, 0x90, 0x90);
  both({ code: code2 }, (r) => { assert.is(r.vector, 1); assert.is(r.rip, CODE_BASE + 7n); });
});

test("AMD: a 66 prefix makes near branches 16-bit in 64-bit mode (IP truncated, rel16, 2-byte stack slots)", () => {
  const pf = (at: bigint) => (r: NativeResult) => { assert.is(r.vector, 14); assert.is(r.rip, at); assert.is(r.cr2, at); };
  both({ code: Uint8Array.of(0x66, 0xeb, 0x00, 0x90) }, pf(3n));                  // jmp rel8
  both({ code: Uint8Array.of(0x66, 0xe9, 0x00, 0x00, 0x90) }, pf(4n));            // jmp rel16
  both({ code: Uint8Array.of(0x66, 0x0f, 0x84, 0x00, 0x00, 0x90), rflags: 0x40n }, pf(5n));   // jz rel16
  both({ code: Uint8Array.of(0x66, 0xe8, 0x00, 0x00, 0x90) }, (r) => { pf(4n)(r); assert.is(r.gpr[4], DEFAULT_RSP - 2n); });
  // push 0x10000010 ; ret16 pops 2 bytes (0x0010)
  both({ code: Uint8Array.of(0x68, 0x10, 0x00, 0x00, 0x10, 0x66, 0xc3) }, (r) => { pf(0x10n)(r); assert.is(r.gpr[4], DEFAULT_RSP - 6n); });
  // lea rax,[rip] ; jmp ax
  both({ code: Uint8Array.of(0x48, 0x8d, 0x05, 0, 0, 0, 0, 0x66, 0xff, 0xe0) }, pf(7n));
});

test("AMD: indirect far JMP/CALL ignore REX.W (m16:32): a 64-bit pointer reads a null selector", () => {
  // lea rsi,[rip+9] ; mov [rbx],rsi ; mov word [rbx+8],0x33 ; rex.w jmp far [rbx]
  const g = gprs({ 3: DATA_BASE + 0x100n });
  const jmp = Uint8Array.of(0x48, 0x8d, 0x35, 9, 0, 0, 0, 0x48, 0x89, 0x33, 0x66, 0xc7, 0x43, 0x08, 0x33, 0x00, 0x48, 0xff, 0x2b, 0x90);
  both({ code: jmp, gpr: g }, (r) => { assert.is(r.vector, 13); assert.is(r.errorCode, 0n); assert.is(r.rip, CODE_BASE + 0x10n); });
  // the m16:32 form with selector 0x33 at offset 4 jumps (to the nop after it)
  const ok = Uint8Array.of(0x48, 0x8d, 0x35, 11, 0, 0, 0, 0x48, 0x89, 0x33, 0x66, 0xc7, 0x43, 0x04, 0x33, 0x00, 0xff, 0x2b, 0x90);
  both({ code: ok, gpr: g }, (r) => { assert.is(r.status, "ok"); assert.is(r.rip, CODE_BASE + 0x13n); });
});

test("IRET at CPL3 in 64-bit mode popping a null SS is #GP(0) and changes nothing", () => {
  // push 0 (ss) ; push 0 (rsp) ; push 0 (rflags) ; push 0x33 ; lea rax,[rip+2] ; push rax ; iretq
  const code = Uint8Array.of(0x6a, 0x00, 0x6a, 0x00, 0x6a, 0x00, 0x6a, 0x33, 0x48, 0x8d, 0x05, 0x03, 0, 0, 0, 0x50, 0x48, 0xcf, 0x90);
  both({ code, rflags: 0x81n }, (r) => {
    assert.is(r.vector, 13); assert.is(r.errorCode, 0n); assert.is(r.rip, CODE_BASE + 0x10n);
    assert.is(r.gpr[4], DEFAULT_RSP - 40n); assert.is(r.rflags & 0xcd5n, 0x81n);
  });
});

test("SYSENTER is #UD in long mode on AMD; SYSEXIT at CPL3 is #GP(0)", () => {
  both({ code: Uint8Array.of(0x0f, 0x34) }, (r) => { assert.is(r.vector, 6); });
  both({ code: Uint8Array.of(0x0f, 0x35) }, (r) => { assert.is(r.vector, 13); assert.is(r.errorCode, 0n); });
});

test("MOV from/to a non-existent CR or DR8+ is #UD even at CPL3; CR0 is #GP", () => {
  both({ code: Uint8Array.of(0x0f, 0x20, 0xf9) }, (r) => { assert.is(r.vector, 6); });        // mov rcx, cr7
  both({ code: Uint8Array.of(0x0f, 0x22, 0xe9) }, (r) => { assert.is(r.vector, 6); });        // mov cr5, rcx
  both({ code: Uint8Array.of(0x0f, 0x20, 0xc1) }, (r) => { assert.is(r.vector, 13); });       // mov rcx, cr0
});

test("CLFLUSH checks its address like a read (#PF error 4 on an unmapped page)", () => {
  both({ code: Uint8Array.of(0x0f, 0xae, 0x38), gpr: gprs({ 0: 0x7ffff000n }) }, (r) => {
    assert.is(r.vector, 14); assert.is(r.errorCode, 4n); assert.is(r.cr2, 0x7ffff000n);
  });
  both({ code: Uint8Array.of(0x0f, 0xae, 0x38), gpr: gprs({ 0: DATA_BASE }) }, (r) => { assert.is(r.status, "ok"); });
});

test("reset keeps the CPU model (vendor, CPUID): CPUID still answers after reset", () => {
  const cpu = emu.cpu, L = cpu.L;
  const vendor = cpu.u32(L.S_VENDOR);
  cpu.ex.reset();
  assert.is(cpu.u32(L.S_VENDOR), vendor);
  cpu.ex.cpuid(0, 0);
  assert.ok(cpu.ex.cpuid_reg(0) >= 0xd, "max basic leaf survives reset");
});

test("IN/OUT at CPL3 without I/O permission is #GP(0)", () => {
  both({ code: Uint8Array.of(0xe4, 0x80) }, (r) => { assert.is(r.vector, 13); assert.is(r.errorCode, 0n); });
  both({ code: Uint8Array.of(0xee) }, (r) => { assert.is(r.vector, 13); });
});

test("SYSCALL with TF set takes no single-step trap when SFMASK clears TF (the trap follows the resulting RFLAGS)", () => {
  // push 0x102 ; popfq ; syscall (rax = 0xffffffff: the harness reports the syscall as vector 255)
  const code = Uint8Array.of(0x68, 0x02, 0x01, 0x00, 0x00, 0x9d, 0x0f, 0x05, 0x90);
  both({ code, gpr: gprs({ 0: 0xffffffffn }) }, (r) => {
    assert.is(r.status, "fault"); assert.is(r.vector, 255); assert.is(r.rip, CODE_BASE + 8n);
    assert.is(r.rflags & 0x100n, 0x100n, "R11 keeps TF");
  });
});

test("64-bit IRETQ on AMD reads the RFLAGS slot first: a frame on an unmapped page faults at RSP+16", () => {
  // mov rsp, 0x3000 (unmapped) ; iretq
  const code = Uint8Array.of(0x48, 0xc7, 0xc4, 0x00, 0x30, 0x00, 0x00, 0x48, 0xcf);
  both({ code }, (r) => { assert.is(r.vector, 14); assert.is(r.cr2, 0x3010n); assert.is(r.rip, CODE_BASE + 7n); });
});

test("a vector store crossing into an unmapped page reports the page's first byte in CR2 (MOVHPS, VCVTPS2PH)", () => {
  // movhps [rbx], xmm5 ; rbx = stack top - 3 (the next page is unmapped)
  const top = DEFAULT_RSP & ~0xffffn;
  both({ code: Uint8Array.of(0x0f, 0x17, 0x2b), gpr: gprs({ 3: top + 0x10000n - 3n }) }, (r) => {
    assert.is(r.vector, 14); assert.is(r.cr2, top + 0x10000n);
  });
});

test.run();
