// VMM-save and VMM-restore (hypervisor/vmm/migration): the ioctls and their order (kernel-abi.md
// §10), a bit-exact round trip of a running guest, the strict personality (never resumes after a
// failed put, the source stays runnable) and the qemu personality (skips the rest of the put).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { guestImagePath } from "../../hypervisor/vmm/selftests/harness";
import { Machine } from "../../hypervisor/vmm/machine";
import { buildCpuid, getModel } from "../../hypervisor/models/models";
import {
  vmmSave, vmmRestore, encodeStream, decodeStream, MigrationError, RESTORE_ORDER, runToSync, type IoctlRecord, type VmSnapshot,
} from "../../hypervisor/vmm/migration";
import { readFileSync } from "node:fs";

/** the migration tests' guest (guest-images/src/migrate-check.S) */
const ELF = new Uint8Array(readFileSync(guestImagePath("migrate-check.elf")));

const MEM = 4 << 20;
function source(model = "icelake-server", kernel = "b1", cpuid = buildCpuid(getModel(model))): Machine {
  const m = new Machine({ model, kernel, memory: MEM, cpuid, console: { write: () => {} } });
  m.load("elf", ELF);
  return m;
}
const at = (m: Machine, n: number) => { const r = runToSync(m, n, 1e6); assert.is(r.exit, "sync"); assert.is(m.syncs, n); return r; };
const dest = (s: VmSnapshot, model = "icelake-server", kernel = "b1") =>
  new Machine({ model, kernel, memory: s.memorySize, cpuid: s.cpuid, console: { write: () => {} } });

// the final architectural state: registers, control state, extended state, XCR0, MSRs, debug registers
function finalState(m: Machine) {
  const v = m.vcpu;
  return { regs: v.getRegs(), sregs: v.getSregs(), xsave: [...v.getXsave2(4096)], xcrs: v.getXcrs(), msrs: v.getMsrs(m.kvm.getMsrIndexList()), dr: v.getDebugregs(), mp: v.getMpState(), mem: [...m.readPhys(0x200000, 0x3000)] };
}

test("VMM-save issues, in order: KVM_RUN(immediate_exit) -EINTR, EVENTS, MP_STATE, REGS, CAP_XSAVE2, XSAVE2, XCRS, SREGS, MSR list, MSRS, DEBUGREGS", () => {
  const m = source();
  at(m, 1);
  const log: IoctlRecord[] = [];
  const s = vmmSave(m, { ioctls: log });
  assert.equal(log.map((r) => r.name), [
    "KVM_RUN", "KVM_GET_VCPU_EVENTS", "KVM_GET_MP_STATE", "KVM_GET_REGS", "KVM_CHECK_EXTENSION", "KVM_GET_XSAVE2", "KVM_GET_XCRS",
    "KVM_GET_SREGS", "KVM_GET_MSR_INDEX_LIST", "KVM_GET_MSRS", "KVM_GET_DEBUGREGS",
  ]);
  assert.is(log[0].errno, "EINTR", "the IN completes in a KVM_RUN with immediate_exit that returns -EINTR");
  assert.ok(log.slice(1).every((r) => r.result >= 0));
  assert.is(m.vcpu.runBlock[1], 0, "immediate_exit cleared again");
  assert.is(s.vcpus[0].xsave.length, 4096);
  assert.is(s.syncs, 1);
  assert.equal(s.source, { host: "icelake-server", kernel: "5.17-rc5", kernelId: "B1" });
  assert.ok(s.vcpus[0].msrs.length >= 15, "the MSRs of the index list");
  assert.equal(s.slots.map((x) => [x.slot, x.gpa, x.data.length, x.flags]), [[0, 0n, MEM, 0]]);
  // B1 on a host with PKU leaks PKRU into the buffer of a guest without PKU (S1 step 4)
});

test("B1 source with a PKU-less guest: the saved XSTATE_BV has bit 9 (PKRU); B3 source does not (kernel-abi.md §10 S1.4)", () => {
  const nopku = buildCpuid(getModel("icelake-server"), { remove: ["pku"] });
  for (const [k, bit9] of [["b1", true], ["b2", false], ["b3", false], ["b4", false]] as const) {
    const m = source("icelake-server", k, nopku);
    at(m, 1);
    const bv = new DataView(vmmSave(m).vcpus[0].xsave.buffer).getBigUint64(512, true);
    assert.is(((bv >> 9n) & 1n) === 1n, bit9, `${k}: XSTATE_BV 0x${bv.toString(16)}`);
  }
});

test("VMM-restore issues memory, then SET_SREGS, REGS, XSAVE, XCRS, MSRS, VCPU_EVENTS, MP_STATE, DEBUGREGS (QEMU order)", () => {
  const m = source();
  at(m, 1);
  const s = vmmSave(m);
  const d = dest(s);
  const r = vmmRestore(d, s, "strict");
  assert.equal(r.steps.map((x) => x.ioctl), [...RESTORE_ORDER]);
  assert.equal(r.ioctls.map((x) => x.name), [...RESTORE_ORDER], "the RAM slot matched: no KVM_SET_USER_MEMORY_REGION");
  assert.ok(r.complete);
  assert.equal(r.skipped, []);
  assert.is(r.failure, undefined);
  assert.is(d.syncs, 1, "the destination carries on counting GUEST_SYNCs");
  const xs = r.steps.find((x) => x.ioctl === "KVM_SET_XSAVE")!;
  assert.is(xs.buffer.xstateBv, 0x207n);
  assert.is(r.fpstateBefore?.xstateBv, 0n, "a fresh vCPU's fpstate");
  assert.is(xs.fpstate?.xstateBv, 0x207n, "the destination's fpstate after SET_XSAVE");
});

test("a running guest saved at GUEST_SYNC 1 and restored on an identical host ends bit-exactly like an unmigrated run", () => {
  const ref = source();
  const rr = ref.run(1e6);
  assert.is(rr.exit, "done");
  const m = source();
  const r1 = at(m, 1);
  const s = decodeStream(encodeStream(vmmSave(m)));
  const d = dest(s);
  vmmRestore(d, s, "strict");
  const r2 = d.run(1e6);
  assert.is(r2.exit, "done", r2.message);
  assert.is(r1.insns + r2.insns, rr.insns, "same instruction count");
  assert.is(d.syncs, 3);
  const a = finalState(ref), b = finalState(d);
  for (const k of Object.keys(a) as (keyof typeof a)[]) assert.equal(b[k], a[k], k);
});

test("a ROM guest (BIOS slots, read-only aliases) round-trips: slots re-created on the destination", () => {
  const bytes = new Uint8Array(65536).fill(0x90);
  bytes.set([0xf4], 0xfff0);                                   // reset vector: HLT
  const m = new Machine({ model: "skylake-server", memory: MEM, console: { write: () => {} } });
  m.load("bios", bytes);
  const r = m.run(100);
  assert.is(r.exit, "hlt");
  const s = decodeStream(encodeStream(vmmSave(m)));
  assert.equal(s.slots.map((x) => [x.slot, x.flags]), [[0, 0], [1, 2], [2, 2], [3, 0]]);
  const d = dest(s, "skylake-server", "b4");
  const rep = vmmRestore(d, s, "strict");
  assert.ok(rep.ioctls.filter((x) => x.name === "KVM_SET_USER_MEMORY_REGION").length >= 4, "slot 0 deleted and 0–3 created");
  assert.equal([...d.slots.keys()].sort(), [0, 1, 2, 3]);
  assert.equal(d.vcpu.getRegs().rip, m.vcpu.getRegs().rip);
  // the ROM at the top of 4 GiB reads back through the guest's physical view
  assert.is(d.cpu.bytes[Number(d.slots.get(1)!.userspace_addr) + 0xfff0], 0xf4);
});

test("strict: a failed KVM_SET_XSAVE throws MigrationError naming ioctl and errno; nothing after it is issued; the source runs on", () => {
  const nopku = buildCpuid(getModel("icelake-server"), { remove: getModel("icelake-server").features.filter((f) => !getModel("skylake-server").features.includes(f)) });
  const m = source("icelake-server", "b1", nopku);
  at(m, 1);
  const s = vmmSave(m);
  const d = dest(s, "skylake-server", "6.19");
  let err: MigrationError | undefined;
  try { vmmRestore(d, s, "strict"); } catch (e) { err = e as MigrationError; }
  assert.instance(err, MigrationError);
  assert.is(err!.ioctl, "KVM_SET_XSAVE");
  assert.is(err!.errno, "EINVAL");
  assert.match(err!.message, /^KVM_SET_XSAVE: -EINVAL \(XSTATE_BV 0x207 has bit 9 \(PKRU\) outside supported_xcr0 0xe7\)$/);
  assert.equal(err!.report.ioctls.map((x) => x.name), ["KVM_SET_SREGS", "KVM_SET_REGS", "KVM_SET_XSAVE"]);
  assert.equal(err!.report.skipped, ["KVM_SET_XCRS", "KVM_SET_MSRS", "KVM_SET_VCPU_EVENTS", "KVM_SET_MP_STATE", "KVM_SET_DEBUGREGS"]);
  assert.is(d.cpu.insns, 0, "the destination never ran");
  const r = m.run(1e6);
  assert.is(r.exit, "done", `the source resumes and finishes: ${r.message}`);
});

test("qemu: a failed KVM_SET_XSAVE is ignored, the rest of the put skipped; the guest resumes with reset FPU state and finds it", () => {
  const nopku = buildCpuid(getModel("icelake-server"), { remove: ["pku"] });
  const m = source("icelake-server", "b1", nopku);
  at(m, 1);
  const s = vmmSave(m);
  const d = dest(s, "icelake-server", "6.5");          // S2: B2 destination refuses bit 9 (user_xfeatures 0xe7)
  const r = vmmRestore(d, s, "qemu");
  assert.not.ok(r.complete);
  assert.equal(r.failure && [r.failure.ioctl, r.failure.errno], ["KVM_SET_XSAVE", "EINVAL"]);
  assert.match(r.failure!.detail, /user_xfeatures 0xe7/);
  assert.equal(r.ioctls.map((x) => x.name), ["KVM_SET_SREGS", "KVM_SET_REGS", "KVM_SET_XSAVE"]);
  assert.is(r.skipped.length, 5);
  assert.is(d.vcpu.getXcrs().xcrs[0].value, 1n, "XCR0 still the reset value (SET_XCRS skipped)");
  assert.is(d.vcpu.getRegs().r12, 0xdeadbeefcafef00dn, "GPRs were restored");
  const run = d.run(1e6);
  assert.is(run.exit, "guest-assert");
  assert.match(run.message!, /xmm3\[63:0\]/);
});

test("the same S2 restore succeeds under B3/B4 destinations (kernel-abi.md §10 S2.3)", () => {
  const nopku = buildCpuid(getModel("icelake-server"), { remove: ["pku"] });
  for (const k of ["b1", "b3", "b4"]) {
    const m = source("icelake-server", "b1", nopku);
    at(m, 1);
    const s = vmmSave(m);
    const d = dest(s, "icelake-server", k);
    assert.ok(vmmRestore(d, s, "strict").complete, k);
    assert.is(d.run(1e6).exit, "done", k);
  }
});

test.run();
