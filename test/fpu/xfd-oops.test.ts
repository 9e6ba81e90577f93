// The XFD / XSTATE_BV hole (kernel-abi.md §7, scenarios S4 and S5) on Host-A (sapphire-rapids),
// driven through the kernel's functions in the kernel's order with real CPU state: the guest
// loads tile data with XFD clear (TILELOADD on the emulated CPU), the kernel saves it with
// XSAVES, the guest's XFD[18] is set, and the next XRSTORS either raises #NM in the host (B1–B3:
// WARNING in exc_device_not_available, oops, VMM dead) or finds XSTATE_BV[18] cleared (B4).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BEHAVIOURS, rig, cpuid, setupVcpu, runGuest, bvOf, LDTILECFG, TILELOADD_T0, TILE_DATA, amxPatches, type Rig } from "./harness";
import {
  HostOops, kvm_arch_vcpu_ioctl_run, kvm_arch_vcpu_ioctl_get_xsave2, kvm_arch_vcpu_ioctl_set_xsave, kvm_arch_vcpu_ioctl_get_xsave,
  kvm_set_msr_common, kvm_get_msr_common, kvm_arch_vcpu_destroy, vcpu_enter_guest_fpu, vcpu_exit_guest_fpu, host_irq_uses_fpu,
  fpu_xstate_prctl, fpu_copy_uabi_to_guest_fpstate, switch_fpu_prepare,
  ARCH_REQ_XCOMP_GUEST_PERM, MSR_IA32_XFD, MSR_IA32_XFD_ERR, EINVAL, EIO, type KvmVcpu, type HostOopsReport,
} from "../../hypervisor/fpu";

const SPR = "sapphire-rapids";
const TD = 2816;            // XTILE_DATA offset in the standard format (= 11008 - 8192)
const B18 = 1n << 18n;
const isBuggy = (b: string) => b !== "B4";

/** S4/S5 steps 1–2: permission, vCPU, CPUID-amx, XCR0 0x602E7 */
function amxVcpu(b: string): { r: Rig; v: KvmVcpu } {
  const r = rig(SPR, b);
  assert.is(fpu_xstate_prctl(r.host, r.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, 0);
  const v = setupVcpu(r, cpuid(SPR), 0x602E7n);
  assert.is(v.guest_fpu.uabi_size, 11008);
  assert.is(kvm_arch_vcpu_ioctl_get_xsave(v).r, -EINVAL);
  return { r, v };
}

/** KVM_RUN; returns the oops report if the host oopsed inside it */
function run(v: KvmVcpu, loop: () => void): HostOopsReport | null {
  try {
    assert.is(kvm_arch_vcpu_ioctl_run(v, () => { loop(); return 0; }), 0);
    return null;
  } catch (e) {
    if (e instanceof HostOops) return e.report;
    throw e;
  }
}

const kbv = (r: Rig, v: KvmVcpu) => r.host.image(v.guest_fpu.fpstate).xstate_bv;
const cpuXinuse = (r: Rig) => r.emu.cpu.u64(r.emu.cpu.L.S_XINUSE);
const SYSCALL_TAIL = ["kvm_vcpu_ioctl", "__x64_sys_ioctl", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"];

function assertOops(r: Rig, v: KvmVcpu, o: HostOopsReport | null, trace: string[]) {
  assert.ok(o, "host #NM oops");
  assert.is(o!.warning.function, "exc_device_not_available");
  assert.is(o!.warning.site, "handle_xfd_event");
  assert.match(o!.warning.text, /^WARNING: arch\/x86\/kernel\/traps\.c:\d+ at exc_device_not_available\+0x101\/0x110, CPU#0: qemu-system-x86\/\d+$/);
  assert.is(o!.rip, "restore_fpregs_from_fpstate");
  assert.equal(o!.callTrace, [...trace, ...SYSCALL_TAIL]);
  assert.is(o!.die, "unexpected #NM exception");
  assert.is(o!.xfd, B18, "XRSTORS ran with the guest's XFD");
  assert.is(o!.xfd_err, B18, "XFD_ERR as silicon set it");
  assert.ok(o!.xstate_bv & B18);
  assert.match(o!.text, /RIP: 0010:restore_fpregs_from_fpstate\+0x36\/0x90/);
  assert.match(o!.text, /Oops: unexpected #NM exception/);
  assert.ok(r.host.dmesg.some((l) => l.startsWith("WARNING: arch/x86/kernel/traps.c")));
  assert.is(r.emu.cpu.u64(r.emu.cpu.L.S_XFD_ERR), 0n, "handle_xfd_event cleared XFD_ERR");
  assert.ok(r.kvm.dead && r.task.dead && r.proc.killed, "VMM killed inside KVM_RUN, VM dead");
  assert.ok(r.host.taint.has("D") && r.host.taint.has("W"));
  assert.is(kvm_arch_vcpu_ioctl_run(v, () => 0), -EIO, "nothing runs on a dead VM");
  // teardown: the guest fpstate was never swapped out
  assert.ok(v.guest_fpu.fpstate.in_use);
  const n = r.host.dmesg.length;
  kvm_arch_vcpu_destroy(v);
  assert.ok(r.host.dmesg.slice(n).some((l) => /fpu_free_guest_fpstate/.test(l)), "WARN in fpu_free_guest_fpstate");
}

for (const b of BEHAVIOURS) {
  test(`${b}: S4 — host IRQ saves the guest tiles with XFD=0, guest XFD[18]:=1, re-entry ${isBuggy(b) ? "oopses in switch_fpu_return" : "is safe"}`, () => {
    const { r, v } = amxVcpu(b);
    let sawImage = -1n;
    const o = run(v, () => {
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0n, false), 0, "step 3: guest WRMSR(XFD, 0), intercepted");
      runGuest(r, v, LDTILECFG + TILELOADD_T0, amxPatches());          // ldtilecfg; tileloadd — then WRMSR(XFD) exits
      assert.is(cpuXinuse(r) & B18, B18, "tile data in use in the CPU");
      assert.is(r.host.rdmsr_xfd(), 0n);
      host_irq_uses_fpu(r.host);                                          // step 5
      assert.ok(r.task.TIF_NEED_FPU_LOAD);
      sawImage = kbv(r, v);
      assert.equal(r.host.cpu.bytes.subarray(v.guest_fpu.fpstate.regs + r.host.image(v.guest_fpu.fpstate).offsetOf(18)).subarray(0, 1024), TILE_DATA, "tiles saved");
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, B18, false), 0);       // step 6: the exit handler
      assert.is(r.host.rdmsr_xfd(), B18, "fpu_update_guest_xfd wrote the MSR (fpstate in use)");
      assert.is(kbv(r, v) & B18, isBuggy(b) ? B18 : 0n, "B4 clears XSTATE_BV[18] (TIF_NEED_FPU_LOAD set)");
      vcpu_enter_guest_fpu(v);                                            // step 7
      // B4 only: the guest runs with its tiles in init state; the IRQ's clobber of XMM0 is undone
      assert.is(cpuXinuse(r) & B18, 0n);
      const L = r.emu.cpu.L;
      assert.ok(r.emu.cpu.bytes.subarray(L.XSTATE + L.X_XMM, L.XSTATE + L.X_XMM + 16).every((x) => x === 0), "XMM0 restored");
      vcpu_exit_guest_fpu(v);
    });
    assert.is(sawImage & B18, B18, "the IRQ-time XSAVES ran with XFD[18]=0");
    if (isBuggy(b)) {
      assertOops(r, v, o, ["switch_fpu_return", "kvm_arch_vcpu_ioctl_run"]);
      assert.is(o!.caller, "switch_fpu_return");
      return;
    }
    assert.is(o, null);
    const g = kvm_arch_vcpu_ioctl_get_xsave2(v).buf;
    assert.is(bvOf(g) & B18, 0n, "step 8: GET_XSAVE2 with XFD[18]=1 shows XSTATE_BV[18]=0");
    assert.equal(kvm_get_msr_common(v, MSR_IA32_XFD, true), { r: 0, data: B18 });
    assert.is(r.host.rdmsr_xfd(), r.host.init_fpstate.xfd, "back in the VMM task: its own XFD");
    assert.is(r.host.oopses.length, 0);
  });

  test(`${b}: S4 without the IRQ — the exit-time XSAVES runs with XFD[18]=1 and stores XSTATE_BV[18]=0: no oops`, () => {
    const { r, v } = amxVcpu(b);
    const o = run(v, () => {
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0n, false), 0);
      runGuest(r, v, LDTILECFG + TILELOADD_T0, amxPatches());
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, B18, false), 0);
      vcpu_enter_guest_fpu(v);
      assert.is(cpuXinuse(r) & B18, B18, "tiles still loaded: XFD does not init them");
      vcpu_exit_guest_fpu(v);
    });
    assert.is(o, null);
    assert.is(kbv(r, v) & B18, 0n);
    assert.is(bvOf(kvm_arch_vcpu_ioctl_get_xsave2(v).buf) & B18, 0n);
  });

  test(`${b}: S4 with preemption instead of an IRQ — same outcome`, () => {
    const { r, v } = amxVcpu(b);
    const other = r.host.spawnProcess("kworker").task;
    const o = run(v, () => {
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0n, false), 0);
      runGuest(r, v, LDTILECFG + TILELOADD_T0, amxPatches());
      switch_fpu_prepare(r.host, r.task);          // the vCPU thread is preempted …
      r.host.current = other;
      r.host.switchTo(r.task);                    // … and scheduled back
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, B18, false), 0);
      vcpu_enter_guest_fpu(v);
      vcpu_exit_guest_fpu(v);
    });
    if (isBuggy(b)) assertOops(r, v, o, ["switch_fpu_return", "kvm_arch_vcpu_ioctl_run"]);
    else assert.is(o, null);
  });

  test(`${b}: S5 — KVM_SET_XSAVE stuffs XSTATE_BV[18]=1 while XFD[18]=1: ${isBuggy(b) ? "oops in fpu_swap_kvm_fpstate" : "bit cleared, safe"}`, () => {
    const { r, v } = amxVcpu(b);
    // step 2: tiles loaded, GUEST_SYNC exit
    assert.is(run(v, () => {
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0n, false), 0);
      runGuest(r, v, LDTILECFG + TILELOADD_T0, amxPatches());
    }), null);
    // step 3: GET_XSAVE2
    const buf = kvm_arch_vcpu_ioctl_get_xsave2(v).buf;
    assert.is(buf.length, 11008);
    assert.is(bvOf(buf) & 0x60000n, 0x60000n);
    assert.equal(buf.subarray(TD, TD + 1024), TILE_DATA, "TMM0 at xsave_restore_size - 8192");
    // step 4: guest sets XFD[18] and syncs; the exit-time XSAVES drops the tiles
    let snap4: Uint8Array | null = null;
    assert.is(run(v, () => {
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, B18, false), 0);
      vcpu_enter_guest_fpu(v);
      vcpu_exit_guest_fpu(v);
    }), null);
    assert.is(kbv(r, v) & B18, 0n);
    snap4 = kvm_arch_vcpu_ioctl_get_xsave2(v).buf;
    // step 5
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, buf), 0, "accepted in every behaviour");
    assert.is(bvOf(buf) & B18, B18, "the user's buffer is not modified");
    assert.is(kbv(r, v) & B18, isBuggy(b) ? B18 : 0n);
    // step 6
    const o = run(v, () => { vcpu_enter_guest_fpu(v); vcpu_exit_guest_fpu(v); });
    if (isBuggy(b)) {
      assertOops(r, v, o, ["fpu_swap_kvm_fpstate", "kvm_load_guest_fpu", "kvm_arch_vcpu_ioctl_run"]);
      assert.is(o!.caller, "fpu_swap_kvm_fpstate");
      return;
    }
    assert.is(o, null);
    // B4 guest continues: WRMSR(XFD,0) goes straight to hardware now, then re-loads its tiles
    assert.is(run(v, () => {
      vcpu_enter_guest_fpu(v);
      r.host.wrmsr_xfd(0n);
      vcpu_exit_guest_fpu(v);
      assert.is(v.guest_fpu.fpstate.xfd, 0n, "fpu_sync_guest_vmexit_xfd_state");
      runGuest(r, v, LDTILECFG + TILELOADD_T0, amxPatches());
    }), null);
    const g = kvm_arch_vcpu_ioctl_get_xsave2(v).buf;
    assert.equal(g.subarray(TD, TD + 1024), TILE_DATA);
    // step 8: the snapshot of step 4 (bv[18]=0) into a new VM, MSRS before XSAVE: safe everywhere
    void snap4;
  });

  test(`${b}: S5 step 8 — a snapshot taken with XFD[18]=1, loaded MSRS-then-XSAVE into a new VM, is safe`, () => {
    const { r, v } = amxVcpu(b);
    assert.is(run(v, () => {
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0n, false), 0);
      runGuest(r, v, LDTILECFG + TILELOADD_T0, amxPatches());
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, B18, false), 0);
      vcpu_enter_guest_fpu(v);
      vcpu_exit_guest_fpu(v);
    }), null);
    const snap = kvm_arch_vcpu_ioctl_get_xsave2(v).buf;
    assert.is(bvOf(snap) & B18, 0n);
    const d = amxVcpu(b);
    assert.is(kvm_set_msr_common(d.v, MSR_IA32_XFD, B18, true), 0);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(d.v, snap), 0);
    assert.is(run(d.v, () => { vcpu_enter_guest_fpu(d.v); vcpu_exit_guest_fpu(d.v); }), null);
  });

  test(`${b}: S5 step 7 — SET_XSAVE(bv[18]=1) with XFD=0, then host-initiated SET_MSRS(XFD[18]=1): #NM unless the VMM thread has TIF_NEED_FPU_LOAD`, () => {
    for (const tif of [false, true]) {
      const { r, v } = amxVcpu(b);
      assert.is(run(v, () => {
        assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0n, false), 0);
        runGuest(r, v, LDTILECFG + TILELOADD_T0, amxPatches());
      }), null);
      const buf = kvm_arch_vcpu_ioctl_get_xsave2(v).buf;
      assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, buf), 0);
      r.task.TIF_NEED_FPU_LOAD = tif;     // kernel-abi.md §7.3 / §11.5: the model's configurable flag
      assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, B18, true), 0);
      const o = run(v, () => { vcpu_enter_guest_fpu(v); vcpu_exit_guest_fpu(v); });
      if (isBuggy(b) || !tif) assertOops(r, v, o, ["fpu_swap_kvm_fpstate", "kvm_load_guest_fpu", "kvm_arch_vcpu_ioctl_run"]);
      else assert.is(o, null, "B4 with TIF_NEED_FPU_LOAD: cleared");
    }
  });

  test(`${b}: fpu_copy_uabi_to_guest_fpstate called directly with BV & xfd — ${b === "B4" ? "WARN and -EINVAL" : "accepted"}; XFD_ERR round trip`, () => {
    const { r, v } = amxVcpu(b);
    assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, B18, true), 0);
    const buf = new Uint8Array(11008);
    new DataView(buf.buffer).setBigUint64(512, 0x40003n, true);
    new DataView(buf.buffer).setUint32(24, 0x1f80, true);
    const pk = { value: 0 };
    const rc = fpu_copy_uabi_to_guest_fpstate(r.host, v.guest_fpu, buf, r.host.kvm_caps.supported_xcr0, pk);
    assert.is(rc, b === "B4" ? -EINVAL : 0);
    assert.is(r.host.dmesg.some((l) => /fpu_copy_uabi_to_guest_fpstate/.test(l)), b === "B4");
    assert.is(kvm_set_msr_common(v, MSR_IA32_XFD_ERR, B18, true), 0);
    assert.equal(kvm_get_msr_common(v, MSR_IA32_XFD_ERR, true), { r: 0, data: B18 });
  });
}

test.run();
