// The ucall ABI (hypervisor/vmm/ucall.ts, kernel-abi.md §9.1) as a real guest speaks it: the
// selftest guest images (guest-images/src/lib/guest.inc) under ImageVm (hypervisor/vmm/selftests/
// harness.ts) — GUEST_SYNC(stage) and GUEST_PRINTF, GUEST_ASSERT (UCALL_ABORT with expression, file,
// line and both values), GUEST_DONE — and a state save/restore (vcpu_save_state → recreate →
// vcpu_load_state) between syncs resumes the guest. decodeUcall/formatAbort on fabricated structs
// and the Machine's ucall handling: test/kvm/exits.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { ImageVm, guestImagePath } from "../../hypervisor/vmm/selftests/harness";
import { UCALL_SYNC, UCALL_ABORT, UCALL_DONE, UCALL_PIO_PORT, formatAbort } from "../../hypervisor/vmm/ucall";

const image = (name: string) => new Uint8Array(readFileSync(guestImagePath(name)));
const ucallOf = (t: ImageVm) => {
  const s = t.run();
  if (s.kind !== "ucall") throw new Error(`expected a ucall, got ${JSON.stringify(s)}`);
  return s.uc;
};

test("GUEST_SYNC(1), GUEST_SYNC(2), GUEST_DONE: IN on port 0x1000 with RDI = &uc; GUEST_PRINTF reaches the console; then a HLT, not a ucall", () => {
  let con = "";
  const t = new ImageVm(image("state-test.elf"), { console: (s) => { con += s; } });
  for (const stage of [1n, 2n]) {
    const uc = ucallOf(t);
    assert.is(uc.cmd, UCALL_SYNC);
    assert.is(uc.str, "hello");
    assert.is(uc.args[1], stage);
    const r = t.vcpu.getRegs();
    assert.is(r.rdx & 0xffffn, BigInt(UCALL_PIO_PORT));
    const at = Number(r.rdi);
    assert.ok(at > 0 && at + 64 <= t.m.ramSize, `RDI 0x${at.toString(16)} in guest RAM`);
    const d = new DataView(t.readPhys(at, 64).buffer);
    assert.is(d.getBigUint64(0, true), BigInt(UCALL_SYNC), "cmd at RDI");
    assert.is(d.getBigUint64(16, true), stage, "args[1] at RDI + 16");
  }
  assert.is(con, "state-test: stage 1\nstate-test: stage 2, every supported xfeature in use\n");
  assert.is(ucallOf(t).cmd, UCALL_DONE);
  const after = t.run();
  assert.equal(after.kind === "exit" && after.exit, "hlt", "GUEST_DONE's HLT is an exit, not a ucall");
});

test("GUEST_ASSERT: UCALL_ABORT carries the expression, the file:line and both values", () => {
  const img = image("xcr0-cpuid-test.elf");
  const at = Buffer.from(img).indexOf(Buffer.from([0x4d, 0x39, 0xec]));  // cmp %r13,%r12 (initial XCR0 vs supported)
  assert.ok(at > 0);
  img[at + 2] = 0xdc;                                                     // cmp %r11,%r12: r11 differs
  const t = new ImageVm(img, {});
  const uc = ucallOf(t);
  assert.is(uc.cmd, UCALL_ABORT);
  assert.is(uc.assert?.expr, "initial_xcr0 == supported_xcr0");
  assert.is(uc.assert?.file, "xcr0-cpuid-test.S");
  const src = readFileSync(guestImagePath("xcr0-cpuid-test.elf").replace(/bin\/xcr0-cpuid-test\.elf$/, "src/xcr0-cpuid-test.S"), "utf8").split("\n");
  assert.match(src[uc.assert!.line - 1], /GUEST_ASSERT_EQ %r12, %r13, "initial_xcr0 == supported_xcr0"/, "the line of the assertion");
  const regs = t.vcpu.getRegs();
  assert.is(uc.assert?.a, regs.r12, "a: %r12 (initial XCR0)");
  assert.is(uc.assert?.b, t.supportedXcr0(), "b: the supported XCR0 the guest compared");
  assert.is(formatAbort(uc), `xcr0-cpuid-test.S:${uc.assert!.line}: GUEST_ASSERT(initial_xcr0 == supported_xcr0) failed: 0x${regs.r12.toString(16)} vs 0x${t.supportedXcr0().toString(16)}`);
});

test("save → recreate VM → load between syncs: the guest resumes at the next stage, registers equal", () => {
  const t = new ImageVm(image("state-test.elf"), {});
  assert.is(ucallOf(t).args[1], 1n);
  const st = t.save();
  const old = t.vm;
  t.recreate();
  assert.not.equal(t.vm.fd, old.fd, "a new VM fd");
  t.load(st);
  assert.equal(t.vcpu.getRegs(), st.regs);
  const uc = ucallOf(t);
  assert.is(uc.cmd, UCALL_SYNC);
  assert.is(uc.args[1], 2n);
  assert.is(ucallOf(t).cmd, UCALL_DONE);
});

test.run();
