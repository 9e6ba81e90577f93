// Host events through the ioctl ABI (Host.scheduleEvent): kernel-abi.md §10 S4 on Host-A
// (sapphire-rapids) under each kernel. A 64-bit guest loads tile data with XFD clear
// (XINUSE[18]=1), then WRMSR IA32_XFD = 1<<18, then OUT 0x80. This CPU runs the WRMSR without an
// exit, so the OUT's exit stands for the WRMSR's (kvm/fpu_kernel.ts); an event scheduled there
// runs before the WRMSR's handler (fpu_update_guest_xfd), and the re-entry that follows is
// switch_fpu_return's XRSTORS: B1–B3 host #NM (KVM_RUN -EIO, host.oops), B4 XSTATE_BV[18]
// cleared, no oops. Without an event every kernel is fine (§10 S4, last line).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host, type HostEventAt, type HostEventKind } from "../../hypervisor/host";
import { Kvm, type VcpuFd } from "../../hypervisor/vmm/kvm_ioctls";
import * as K from "../../hypervisor/uapi/ioctl";
import { ARCH, EIO, EBADF, KVM_CAP, KVM_EXIT } from "../../hypervisor/uapi/consts";

const KERNELS = [["5.17-rc5", "B1"], ["6.5", "B2"], ["6.8", "B3"], ["6.19", "B4"]] as const;
const B18 = 1n << 18n;
const PORT = 0x80;
const TILE_DATA = Uint8Array.from({ length: 1024 }, (_, i) => ((i * 73) & 0xff) | 1);
const TD = 2816;     // XTILE_DATA offset in the standard (uabi) format on sapphire-rapids

// mov edi,0x20000 ; ldtilecfg [rdi] ; mov ebx,0x21000 ; mov esi,64 ; tileloadd tmm0,[rbx+rsi]
const LOAD_TILES = [0xbf, 0x00, 0x00, 0x02, 0x00, 0xc4, 0xe2, 0x78, 0x49, 0x07, 0xbb, 0x00, 0x10, 0x02, 0x00,
  0xbe, 0x40, 0x00, 0x00, 0x00, 0xc4, 0xe2, 0x7b, 0x4b, 0x04, 0x33];
// mov ecx,0x1c4 ; mov eax,0x40000 ; xor edx,edx ; wrmsr
const WRMSR_XFD18 = [0xb9, 0xc4, 0x01, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x04, 0x00, 0x31, 0xd2, 0x0f, 0x30];
// out 0x80,al ; hlt
const OUT_HLT = [0xe6, PORT, 0xf4];
const INSNS_TO_WRMSR = 9;   // LOAD_TILES (5) + WRMSR_XFD18 (4)

/** S4 steps 1–3 through the ioctls: permission, vCPU, CPUID-amx, XCR0 0x602E7, long mode, guest code */
function s4(kernel: string, opts: { wrmsr?: boolean } = {}) {
  const host = new Host({ cpu: "sapphire-rapids", kernel, runBudget: 100_000 });
  const kvm = new Kvm(host);
  assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0);
  assert.is(kvm.checkExtension(KVM_CAP.XSAVE2), 11008);
  const vm = kvm.createVm();
  const mem = host.alloc(0x400000);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: 0x400000n, userspace_addr: BigInt(mem) });
  const dv = new DataView(host.cpu.memory.buffer, mem);
  dv.setBigUint64(0x10000, 0x11000n | 7n, true);                      // PML4[0] → PDPT
  dv.setBigUint64(0x11000, 0x12000n | 7n, true);                      // PDPT[0] → PD
  dv.setBigUint64(0x12000, 0x87n, true);                              // PD[0]: 2 MiB page at 0
  const code = [...LOAD_TILES, ...(opts.wrmsr === false ? [] : WRMSR_XFD18), ...OUT_HLT];
  host.mem(mem + 0x1000, code.length).set(code);
  const cfg = host.mem(mem + 0x20000, 64);
  cfg.fill(0); cfg[0] = 1; cfg[16] = 64; cfg[48] = 16;                // palette 1, tmm0 16 rows × 64 bytes
  host.mem(mem + 0x21000, 1024).set(TILE_DATA);
  const v = vm.createVcpu(0);
  v.setCpuid2(kvm.getSupportedCpuid());
  v.setXcrs({ nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 0x602e7n }] });
  assert.is(host.ioctl(v.fd, K.KVM_GET_XSAVE, new Uint8Array(4096)), -22, "KVM_GET_XSAVE refused (uabi_size 11008)");
  const s = v.getSregs();
  const cs = { base: 0n, limit: 0xffffffff, selector: 8, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 };
  const ds = { ...cs, selector: 16, type: 3, l: 0, db: 1 };
  Object.assign(s, { cs, ds, es: ds, ss: ds, fs: ds, gs: ds, cr3: 0x10000n, cr4: 0x20n | 0x200n | 0x400n | 0x40000n, cr0: 0x80000011n, efer: 0x500n });
  v.setSregs(s);
  v.setRegs({ rip: 0x1000n, rflags: 2n, rsp: 0x8000n });
  return { host, kvm, vm, v };
}

const xsave2 = (host: Host, v: VcpuFd) => { const b = new Uint8Array(11008); assert.is(host.ioctl(v.fd, K.KVM_GET_XSAVE2, b), 0); return b; };
const bvOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(512, true);
const xfdOf = (v: VcpuFd) => v.getMsrs([0x1c4])[0].data;
const runRaw = (host: Host, v: VcpuFd) => host.ioctl(v.fd, K.KVM_RUN, 0);
const exitOf = (v: VcpuFd) => new DataView(v.runBlock.buffer, v.runBlock.byteOffset).getUint32(8, true);
const portOf = (v: VcpuFd) => new DataView(v.runBlock.buffer, v.runBlock.byteOffset).getUint16(34, true);
const SYSCALL_TAIL = ["kvm_vcpu_ioctl", "__x64_sys_ioctl", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"];

const VARIANTS: { name: string; kind: HostEventKind; at: HostEventAt; reason: number; saves: string[] }[] = [
  { name: "IRQ using the FPU at the OUT exit", kind: "irq-fpu", at: { exitReason: KVM_EXIT.IO, port: PORT }, reason: KVM_EXIT.IO,
    saves: ["kernel_fpu_begin", "save_fpregs_to_fpstate", "kernel_fpu_end"] },
  { name: "preemption at the next exit", kind: "preempt", at: "next-exit", reason: KVM_EXIT.IO,
    saves: ["schedule", "switch_fpu_prepare", "save_fpregs_to_fpstate", "schedule"] },
  { name: `IRQ using the FPU after ${INSNS_TO_WRMSR} guest instructions (right after the WRMSR)`, kind: "irq-fpu", at: { afterInsns: INSNS_TO_WRMSR },
    reason: KVM_EXIT.INTR, saves: ["kernel_fpu_begin", "save_fpregs_to_fpstate", "kernel_fpu_end"] },
];

for (const [kernel, B] of KERNELS) {
  const buggy = B !== "B4";
  for (const ev of VARIANTS) {
    test(`${kernel} (${B}): S4 with ${ev.name} — ${buggy ? "host #NM in switch_fpu_return, KVM_RUN -EIO" : "XSTATE_BV[18] cleared, no oops"}`, () => {
      const { host, v } = s4(kernel);
      const id = host.scheduleEvent(v.fd, { at: ev.at, kind: ev.kind });
      assert.ok(id > 0);
      assert.is(host.events.length, 0, "nothing fires before KVM_RUN");
      const r = runRaw(host, v);
      assert.is(host.events.length, 1, "the event fired once");
      const f = host.events[0];
      assert.is(f.id, id);
      assert.is(f.kind, ev.kind);
      assert.is(f.exitReason, ev.reason);
      if (ev.reason === KVM_EXIT.IO) assert.is(f.port, PORT);
      assert.equal(f.calls, ev.saves, "the event saved the guest registers (TIF_NEED_FPU_LOAD was clear)");
      if (buggy) {
        assert.is(r, -EIO);
        const o = host.oops!;
        assert.ok(o, "host oops");
        assert.is(o.caller, "switch_fpu_return");
        assert.is(f.oops, "switch_fpu_return", "the fired event names the oops path that followed it");
        assert.equal(o.callTrace, ["switch_fpu_return", "kvm_arch_vcpu_ioctl_run", ...SYSCALL_TAIL]);
        assert.is(o.warning.function, "exc_device_not_available");
        assert.is(o.rip, "restore_fpregs_from_fpstate");
        assert.is(o.xfd & B18, B18, "XRSTORS ran with the guest's new XFD");
        assert.is(o.xstate_bv & B18, B18, "the event's XSAVE stored the tiles (hardware XFD[18] was still 0)");
        assert.ok(host.dmesg.some((l) => l.startsWith("WARNING: arch/x86/kernel/traps.c")));
        assert.is(runRaw(host, v), -EIO, "the VM is dead");
        assert.is(host.oopses.length, 1);
        return;
      }
      assert.is(r, 0);
      assert.is(host.oops, null);
      assert.is(f.oops, undefined);
      assert.is(exitOf(v), KVM_EXIT.IO);
      assert.is(portOf(v), PORT);
      assert.is(xfdOf(v), B18, "the guest's WRMSR took effect");
      const g = xsave2(host, v);
      assert.is(bvOf(g) & B18, 0n, "B4: fpu_update_guest_xfd cleared XSTATE_BV[18] (TIF_NEED_FPU_LOAD)");
      const fps = host.guestFpstate(v.fd)!;
      assert.equal([fps.kernel.name, fps.xfd, fps.xstate_bv & B18, fps.live, fps.xfeatures & B18],
        ["xfd-clear", B18, 0n, false, B18], "the host's view: fps->xfd set, the saved image without tile data, registers not live after the exit");
      assert.is(bvOf(g) & (1n << 17n), 1n << 17n, "the tile config stays");
      assert.is(runRaw(host, v), 0);
      assert.is(exitOf(v), KVM_EXIT.HLT);
      assert.is(host.oops, null);
    });
  }

  test(`${kernel} (${B}): S4 control, no host event — the exit-time XSAVES runs with XFD[18]=1: no oops`, () => {
    const { host, v } = s4(kernel);
    assert.is(runRaw(host, v), 0);
    assert.is(exitOf(v), KVM_EXIT.IO);
    assert.is(portOf(v), PORT);
    assert.is(host.events.length, 0);
    assert.is(xfdOf(v), B18);
    assert.is(bvOf(xsave2(host, v)) & B18, 0n, "XSTATE_BV[18]=0 for the XFD-disabled tiles");
    assert.is(runRaw(host, v), 0);
    assert.is(exitOf(v), KVM_EXIT.HLT);
    assert.is(host.oops, null);
  });

  test(`${kernel} (${B}): an IRQ at the OUT exit without the WRMSR — the guest tiles are saved and restored intact, no oops`, () => {
    const { host, v } = s4(kernel, { wrmsr: false });
    host.scheduleEvent(v.fd, { at: { exitReason: KVM_EXIT.IO, port: PORT }, kind: "irq-fpu" });
    assert.is(runRaw(host, v), 0);
    assert.is(host.events.length, 1);
    assert.is(xfdOf(v), 0n);
    const g = xsave2(host, v);
    assert.is(bvOf(g) & B18, B18);
    assert.equal(g.subarray(TD, TD + 1024), TILE_DATA);
    assert.is(runRaw(host, v), 0);
    assert.is(exitOf(v), KVM_EXIT.HLT);
    assert.is(host.oops, null);
  });
}

test("scheduleEvent: -EBADF for a non-vCPU fd; an event for another port does not fire", () => {
  const { host, kvm, vm, v } = s4("6.8");
  assert.is(host.scheduleEvent(kvm.fd, { at: "next-exit", kind: "irq-fpu" }), -EBADF);
  assert.is(host.scheduleEvent(vm.fd, { at: "next-exit", kind: "irq-fpu" }), -EBADF);
  host.scheduleEvent(v.fd, { at: { exitReason: KVM_EXIT.IO, port: PORT + 1 }, kind: "irq-fpu" });
  assert.is(runRaw(host, v), 0, "B3 without the event at the WRMSR's exit: no oops");
  assert.is(host.events.length, 0);
  assert.is(host.oops, null);
});

test.run();
