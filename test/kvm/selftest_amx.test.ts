// amx_test (kernel-abi.md §9.3), 2026 (v6.19) form, as a guest (test/kvm/guests/amx.S) on
// sapphire-rapids under B1–B4. Each GUEST_SYNC carries action bits (SAVE_TILEDATA 1,
// COMPARE_TILEDATA 2, RESTORE_TILEDATA 4, SAVE_RESTORE 8) which the host carries out as the selftest
// does. RESTORE_TILEDATA is KVM_SET_XSAVE of an image with XSTATE_BV[18] = 1 while the guest has
// XFD[18] = 1: B1–B3 accept it as is and the next KVM_RUN oopses the host (host #NM in
// restore_fpregs_from_fpstate; Host.ioctl KVM_RUN → −EIO, Host.oops set); B4 clears the bit and
// the test runs to UCALL_DONE with TMM0 surviving every save/restore.
// The pre-2026 (v6.8) form (test/kvm/guests/amx_v68.S) only migrates after every sync and passes
// under all four behaviours.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import { KvmError } from "../../hypervisor/vmm/kvm_ioctls";
import { ARCH, EIO, KVM_CAP } from "../../hypervisor/uapi/consts";
import { SelftestVm, UCALL_SYNC, UCALL_DONE, saveState, loadState, type VcpuState } from "../../hypervisor/vmm/ucall";
import { CODE, SYM } from "./guests/amx.gen";
import * as V68 from "./guests/amx_v68.gen";

const KERNELS = ["5.17-rc5", "6.5", "6.8", "6.19"] as const;
const BEHAVIOUR: Record<string, string> = { "5.17-rc5": "B1", "6.5": "B2", "6.8": "B3", "6.19": "B4" };
const SAVE_TILEDATA = 1, COMPARE_TILEDATA = 2, RESTORE_TILEDATA = 4, SAVE_RESTORE = 8;
const TILECFG = 0x100000, TILEDATA = 0x101000;
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

interface Outcome { syncs: number[]; done: boolean; compares: number; runError?: { afterSync: number; errno: number }; restoredBv18?: boolean }

function setup(kernel: string, code: Uint8Array, nmHandler: number) {
  const host = new Host({ cpu: "sapphire-rapids", kernel, runBudget: 2_000_000 });
  assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0);   // vm_xsave_require_permission
  const t = new SelftestVm(host, code, { idt: { 7: nmHandler } });
  const sup = t.kvm.getSupportedCpuid();
  const d0 = sup.find((e) => e.fn === 0xd && e.idx === 0)!;
  assert.is(d0.eax & 0x60000, 0x60000, "XTILE in supported XCR0");
  const m = t.memory();
  m[TILECFG] = 1;                                                      // palette 1
  for (let i = 0; i < 8; i++) { dv(m).setUint16(TILECFG + 16 + 2 * i, 64, true); m[TILECFG + 48 + i] = 16; }
  let seed = 0x2545f491;
  for (let i = 0; i < 8192; i += 4) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; dv(m).setUint32(TILEDATA + i, (seed >>> 1) | 1, true); }
  const tiledata = m.slice(TILEDATA, TILEDATA + 1024);
  const v = t.addVcpu(0);
  const xsaveRestoreSize = v.getCpuid2().find((e) => e.fn === 0xd && e.idx === 0)!.ecx >>> 0;
  assert.is(xsaveRestoreSize, 11008);
  const compare = (s: VcpuState, o: { compares: number }) => {
    const at = xsaveRestoreSize - 8192;
    assert.is(dv(s.xsave).getBigUint64(512, true) & 0x40000n, 0x40000n, "XSTATE_BV[18] in the saved image");
    assert.equal(s.xsave.slice(at, at + 1024), tiledata, "TMM0 in the saved image");
    o.compares++;
  };
  return { host, t, v, compare };
}

function amxTest(kernel: string): { o: Outcome; host: Host } {
  const { host, t, compare: cmp } = setup(kernel, CODE, SYM.nm_handler);
  let v = t.vcpus[0];
  const o: Outcome = { syncs: [], done: false, compares: 0 };
  const compare = (s: VcpuState) => cmp(s, o);
  let tileState: VcpuState | undefined;
  for (;;) {
    let uc;
    try { uc = t.runUntilUcall(v); } catch (e) {
      if (!(e instanceof KvmError)) throw e;
      o.runError = { afterSync: o.syncs[o.syncs.length - 1], errno: e.errno };
      return { o, host };
    }
    if (uc.cmd === UCALL_DONE) { o.done = true; return { o, host }; }
    assert.is(uc.cmd, UCALL_SYNC);
    const act = Number(uc.args[1]);
    o.syncs.push(act);
    if (act & SAVE_TILEDATA) tileState = saveState(t.kvm, t.vm, v);
    if (act & COMPARE_TILEDATA) compare(act & SAVE_TILEDATA ? tileState! : saveState(t.kvm, t.vm, v));
    if (act & RESTORE_TILEDATA) {
      v.setXsave(tileState!.xsave);                                    // the live vCPU, XFD[18] = 1
      o.restoredBv18 = (dv(v.getXsave2(t.vm.checkExtension(KVM_CAP.XSAVE2))).getBigUint64(512, true) & 0x40000n) !== 0n;
    }
    if (act & SAVE_RESTORE) {
      const st = saveState(t.kvm, t.vm, v);
      v = t.recreate();
      loadState(v, st);
      assert.equal(v.getRegs(), st.regs);
    }
  }
}

const SYNCS = [8, 8, 8, SAVE_TILEDATA | COMPARE_TILEDATA | SAVE_RESTORE, RESTORE_TILEDATA];

for (const kernel of KERNELS) {
  const B = BEHAVIOUR[kernel];
  test(`sapphire-rapids ${kernel} (${B}): amx_test (2026 form) ${B === "B4" ? "passes" : "oopses the host at the KVM_RUN after RESTORE_TILEDATA"}`, () => {
    const { o, host } = amxTest(kernel);
    if (B === "B4") {
      assert.is(o.runError, undefined);
      assert.ok(o.done, "UCALL_DONE");
      assert.equal(o.syncs, [...SYNCS, 8, 8, 8, 8, 8, COMPARE_TILEDATA | SAVE_RESTORE]);
      assert.is(o.compares, 2);
      assert.is(o.restoredBv18, false, "B4 cleared XSTATE_BV[18] because XFD[18] = 1");
      assert.is(host.oops, null);
      return;
    }
    assert.is(o.done, false);
    assert.equal(o.syncs, SYNCS, "ran up to RESTORE_TILEDATA");
    assert.is(o.restoredBv18, true, "XSTATE_BV[18] = 1 accepted past XFD[18] = 1");
    assert.equal(o.runError, { afterSync: RESTORE_TILEDATA, errno: EIO });
    const oops = host.oops;
    assert.ok(oops, "host oops");
    assert.is(oops!.vector, 7);
    assert.is(oops!.rip, "restore_fpregs_from_fpstate");
    assert.is(oops!.xfd & 0x40000n, 0x40000n);
    assert.is(oops!.xstate_bv & 0x40000n, 0x40000n);
    assert.is(host.oopses.length, 1);
  });
}

for (const kernel of KERNELS) {
  test(`sapphire-rapids ${kernel} (${BEHAVIOUR[kernel]}): amx_test pre-2026 form passes (migration after every sync, #NM with XFD_ERR pending)`, () => {
    const { host, t, compare } = setup(kernel, V68.CODE, V68.SYM.nm_handler);
    let v = t.vcpus[0];
    const o = { compares: 0 }, stages: number[] = [];
    for (;;) {
      const uc = t.runUntilUcall(v);
      if (uc.cmd === UCALL_DONE) break;
      assert.is(uc.cmd, UCALL_SYNC);
      const stage = Number(uc.args[1]);
      stages.push(stage);
      const st = saveState(t.kvm, t.vm, v);
      if (stage === 4 || stage === 10) compare(st, o);
      if (stage === 8) assert.equal(st.msrs.find((m) => m.index === 0x1c5)?.data, 0x40000n, "XFD_ERR pending in the migrated state");
      v = t.recreate();
      loadState(v, st);
      assert.equal(v.getRegs(), st.regs);
    }
    assert.equal(stages, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.is(o.compares, 2);
    assert.is(host.oops, null);
  });
}

test.run();
