// hypervisor/vmm/ucall.ts: a selftests-style long-mode guest (test/kvm/guests/ucall.S) talks to the
// host through ucalls — GUEST_SYNC(stage), GUEST_ASSERT (UCALL_ABORT with id and values), GUEST_DONE
// — and a state save/restore (vcpu_save_state → recreate → vcpu_load_state) between syncs resumes it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import { SelftestVm, UCALL_SYNC, UCALL_ABORT, UCALL_DONE, UCALL_PIO_PORT, LAYOUT, UcallError, saveState, loadState } from "../../hypervisor/vmm/ucall";
import { CODE } from "./guests/ucall.gen";

const mk = () => new SelftestVm(new Host({ cpu: "sapphire-rapids", kernel: "6.19", runBudget: 1_000_000 }), CODE);

test("GUEST_SYNC(1), GUEST_SYNC(2), GUEST_DONE: IN on port 0x1000 with RDI = &uc", () => {
  const t = mk(), v = t.addVcpu(0);
  for (const stage of [1n, 2n]) {
    const uc = t.runUntilUcall(v);
    assert.is(uc.cmd, UCALL_SYNC);
    assert.is(uc.str, "hello");
    assert.is(uc.args[1], stage);
    const r = v.getRegs();
    assert.is(r.rdi, BigInt(LAYOUT.UCALL));
    assert.is(r.rdx & 0xffffn, BigInt(UCALL_PIO_PORT));
  }
  assert.is(t.runUntilUcall(v).cmd, UCALL_DONE);
  assert.is(v.run().kind, "Hlt");
});

test("GUEST_ASSERT: UCALL_ABORT carries the assertion id and both values; runUntilUcall throws on it", () => {
  const t = mk(), v = t.addVcpu(0);
  t.runUntilUcall(v); t.runUntilUcall(v);
  v.setRegs({ ...v.getRegs(), rbx: 0x55n });
  const uc = t.runUntilUcall(v, true);
  assert.is(uc.cmd, UCALL_ABORT);
  assert.equal(uc.args.slice(0, 3), [42n, 0x55n, 0n]);
  // the same guest again, without abortOk
  const t2 = mk(), v2 = t2.addVcpu(0);
  t2.runUntilUcall(v2); t2.runUntilUcall(v2);
  v2.setRegs({ ...v2.getRegs(), rbx: 1n });
  assert.throws(() => t2.runUntilUcall(v2), (e: unknown) => e instanceof UcallError && /GUEST_ASSERT 42/.test(e.message));
});

test("a non-ucall exit is an error, not a ucall", () => {
  const t = mk(), v = t.addVcpu(0);
  t.runUntilUcall(v); t.runUntilUcall(v); t.runUntilUcall(v);
  assert.throws(() => t.runUntilUcall(v), /expected a ucall, got \{"kind":"Hlt"\}/);
});

test("save → recreate VM → load between syncs: the guest resumes at the next stage, registers equal", () => {
  const t = mk(); let v = t.addVcpu(0);
  assert.is(t.runUntilUcall(v).args[1], 1n);
  const st = saveState(t.kvm, t.vm, v);
  v = t.recreate();
  loadState(v, st);
  assert.equal(v.getRegs(), st.regs);
  const uc = t.runUntilUcall(v);
  assert.is(uc.cmd, UCALL_SYNC);
  assert.is(uc.args[1], 2n);
});

test.run();
