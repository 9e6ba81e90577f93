// Host events through the ioctl ABI (Host.scheduleEvent): kernel-abi.md §10 S4 on Host-A
// (sapphire-rapids) under each kernel. A 64-bit guest loads tile data with XFD clear
// (XINUSE[18]=1), then WRMSR IA32_XFD = 1<<18, then OUT 0x80. The WRMSR exits as on VMX (KVM
// intercepts IA32_XFD writes until the first non-zero one) with a KVM-internal exit that KVM_RUN
// handles itself (x86.ts handle_wrmsr_exit); an event scheduled at that exit runs before the
// handler (fpu_update_guest_xfd), and the re-entry that follows is switch_fpu_return's XRSTORS:
// B1–B3 host #NM (KVM_RUN -EIO, host.oops), B4 XSTATE_BV[18] cleared, no oops. Without an event,
// or with one at a later exit, every kernel is fine (§10 S4, last line).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host, type HostEventAt, type HostEventKind } from "../../hypervisor/host";
import { Kvm, type VcpuFd } from "../../hypervisor/vmm/kvm_ioctls";
import * as K from "../../hypervisor/uapi/ioctl";
import { ARCH, EIO, EBADF, KVM_CAP, KVM_EXIT, KVM_GUESTDBG } from "../../hypervisor/uapi/consts";
import { X86KVM_GUESTDBG_EXC_BITMAP } from "../../hypervisor/kvm/x86";
import { WRMSR_EXIT_REASON } from "../../hypervisor/kvm/vcpu";

const KERNELS = [["5.17-rc5", "B1"], ["6.5", "B2"], ["6.8", "B3"], ["6.19", "B4"]] as const;
const B18 = 1n << 18n;
const PORT = 0x80;
const MSR_XFD = 0x1c4;
const TILE_DATA = Uint8Array.from({ length: 1024 }, (_, i) => ((i * 73) & 0xff) | 1);
const TD = 2816;     // XTILE_DATA offset in the standard (uabi) format on sapphire-rapids

// mov edi,0x20000 ; ldtilecfg [rdi] ; mov ebx,0x21000 ; mov esi,64 ; tileloadd tmm0,[rbx+rsi]
const LOAD_TILES = [0xbf, 0x00, 0x00, 0x02, 0x00, 0xc4, 0xe2, 0x78, 0x49, 0x07, 0xbb, 0x00, 0x10, 0x02, 0x00,
  0xbe, 0x40, 0x00, 0x00, 0x00, 0xc4, 0xe2, 0x7b, 0x4b, 0x04, 0x33];
// mov ecx,0x1c4 ; mov eax,0x40000 ; xor edx,edx ; wrmsr
const WRMSR_XFD18 = [0xb9, 0xc4, 0x01, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x04, 0x00, 0x31, 0xd2, 0x0f, 0x30];
// mov ecx,0x1c4 ; xor eax,eax ; xor edx,edx ; wrmsr
const WRMSR_XFD0 = [0xb9, 0xc4, 0x01, 0x00, 0x00, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x30];
// mov ecx,0x1c4 ; mov eax,0x20000 (bit 17: TILECFG, not XFD-capable) ; xor edx,edx ; wrmsr
const WRMSR_XFD17 = [0xb9, 0xc4, 0x01, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x02, 0x00, 0x31, 0xd2, 0x0f, 0x30];
// out 0x80,al ; hlt
const OUT = [0xe6, PORT];
const OUT_HLT = [...OUT, 0xf4];
const INSNS_TO_WRMSR = 9;   // LOAD_TILES (5) + WRMSR_XFD18 (4), the WRMSR included (its exit counts it)
const WRMSR_RIP = 0x1000n + BigInt(LOAD_TILES.length + WRMSR_XFD18.length - 2);

/** S4 steps 1–3 through the ioctls: permission, vCPU, CPUID-amx, XCR0 0x602E7, long mode, guest code */
function s4(kernel: string, opts: { wrmsr?: boolean; code?: number[]; cpl3?: boolean } = {}) {
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
  const code = opts.code ?? [...LOAD_TILES, ...(opts.wrmsr === false ? [] : WRMSR_XFD18), ...OUT_HLT];
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
  if (opts.cpl3) Object.assign(cs, { selector: 8 | 3, dpl: 3 });
  const ds = { ...cs, selector: opts.cpl3 ? 16 | 3 : 16, type: 3, l: 0, db: 1 };
  Object.assign(s, { cs, ds, es: ds, ss: ds, fs: ds, gs: ds, cr3: 0x10000n, cr4: 0x20n | 0x200n | 0x400n | 0x40000n, cr0: 0x80000011n, efer: 0x500n });
  v.setSregs(s);
  v.setRegs({ rip: 0x1000n, rflags: 2n, rsp: 0x8000n });
  return { host, kvm, vm, v, mem };
}

const xsave2 = (host: Host, v: VcpuFd) => { const b = new Uint8Array(11008); assert.is(host.ioctl(v.fd, K.KVM_GET_XSAVE2, b), 0); return b; };
const bvOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(512, true);
const xfdOf = (v: VcpuFd) => v.getMsrs([0x1c4])[0].data;
const runRaw = (host: Host, v: VcpuFd) => host.ioctl(v.fd, K.KVM_RUN, 0);
const exitOf = (v: VcpuFd) => new DataView(v.runBlock.buffer, v.runBlock.byteOffset).getUint32(8, true);
const portOf = (v: VcpuFd) => new DataView(v.runBlock.buffer, v.runBlock.byteOffset).getUint16(34, true);
const SYSCALL_TAIL = ["kvm_vcpu_ioctl", "__x64_sys_ioctl", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"];

// every variant fires at the WRMSR's own (KVM-internal) exit: FiredHostEvent.exitReason WRMSR_EXIT_REASON, msr 0x1c4
const VARIANTS: { name: string; kind: HostEventKind; at: HostEventAt; saves: string[] }[] = [
  { name: "IRQ using the FPU at the WRMSR IA32_XFD exit", kind: "irq-fpu", at: { msrWrite: MSR_XFD },
    saves: ["kernel_fpu_begin", "save_fpregs_to_fpstate", "kernel_fpu_end"] },
  { name: "preemption at the WRMSR IA32_XFD exit", kind: "preempt", at: { msrWrite: MSR_XFD },
    saves: ["schedule", "switch_fpu_prepare", "save_fpregs_to_fpstate", "schedule"] },
  { name: "preemption at the next exit (the WRMSR's comes first)", kind: "preempt", at: "next-exit",
    saves: ["schedule", "switch_fpu_prepare", "save_fpregs_to_fpstate", "schedule"] },
  { name: `IRQ using the FPU after ${INSNS_TO_WRMSR} guest instructions (the WRMSR's exit)`, kind: "irq-fpu", at: { afterInsns: INSNS_TO_WRMSR },
    saves: ["kernel_fpu_begin", "save_fpregs_to_fpstate", "kernel_fpu_end"] },
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
      assert.is(f.exitReason, WRMSR_EXIT_REASON, "the WRMSR's exit (KVM-internal)");
      assert.is(f.msr, MSR_XFD);
      assert.is(f.port, undefined);
      assert.is(f.insns, INSNS_TO_WRMSR, "at the WRMSR (the exit counts it)");
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

  test(`${kernel} (${B}): S4 with an IRQ using the FPU at a later exit (the OUT after the WRMSR's handler) — no oops`, () => {
    const { host, v } = s4(kernel);
    host.scheduleEvent(v.fd, { at: { exitReason: KVM_EXIT.IO, port: PORT }, kind: "irq-fpu" });
    assert.is(runRaw(host, v), 0);
    assert.is(host.events.length, 1);
    assert.is(host.events[0].exitReason, KVM_EXIT.IO);
    assert.is(host.events[0].port, PORT);
    assert.is(host.events[0].msr, undefined);
    assert.is(xfdOf(v), B18);
    assert.is(bvOf(xsave2(host, v)) & B18, 0n, "the IRQ's XSAVE ran with XFD[18]=1");
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

test("the WRMSR IA32_XFD exit is KVM-internal: KVM_RUN does not return there, RIP moves past the WRMSR", () => {
  // WRMSR XFD=1<<18 ; hlt — KVM_RUN's only exit to userspace is the HLT
  const { host, v } = s4("6.19", { code: [...LOAD_TILES, ...WRMSR_XFD18, 0xf4] });
  host.scheduleEvent(v.fd, { at: "next-exit", kind: "irq-fpu" });
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.HLT, "not the internal exit");
  assert.is(v.getRegs().rip, WRMSR_RIP + 3n, "after the HLT: the handler skipped the WRMSR (2 bytes)");
  assert.is(xfdOf(v), B18);
  assert.is(host.events.length, 1);
  assert.is(host.events[0].exitReason, WRMSR_EXIT_REASON, "'next-exit' is the WRMSR's when it comes first");
  assert.is(host.events[0].insns, INSNS_TO_WRMSR);
  assert.is(host.cpu.insns, INSNS_TO_WRMSR + 1, "the WRMSR retired once");
});

test("first write of 0 keeps the intercept; after the first non-zero write (xfd_no_write_intercept) XFD writes do not exit", () => {
  // WRMSR XFD=0 ; OUT ; WRMSR XFD=1<<18 ; OUT ; WRMSR XFD=0 ; WRMSR XFD=1<<18 ; OUT ; HLT
  const { host, v } = s4("6.8", { code: [...WRMSR_XFD0, ...OUT, ...WRMSR_XFD18, ...OUT, ...WRMSR_XFD0, ...WRMSR_XFD18, ...OUT_HLT] });
  const at: HostEventAt = { msrWrite: MSR_XFD };
  host.scheduleEvent(v.fd, { at, kind: "irq-fpu" });
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.IO);
  assert.equal(host.events.map((e) => [e.exitReason, e.msr, e.insns]), [[WRMSR_EXIT_REASON, MSR_XFD, 4]], "WRMSR XFD=0 exits");
  assert.is(xfdOf(v), 0n);
  host.scheduleEvent(v.fd, { at, kind: "irq-fpu" });
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.IO);
  assert.equal(host.events.map((e) => [e.exitReason, e.msr, e.insns]).slice(1), [[WRMSR_EXIT_REASON, MSR_XFD, 9]],
    "so does the next write: XFD=0 did not end the interception");
  assert.is(xfdOf(v), B18);
  assert.is(host.oops, null, "no tile data in use: nothing to fault on");
  host.scheduleEvent(v.fd, { at, kind: "irq-fpu" });
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.IO);
  assert.is(host.events.length, 2, "the writes after the first non-zero one went to hardware without an exit");
  assert.is(xfdOf(v), B18, "fpu_sync_guest_vmexit_xfd_state picked the passed-through value up");
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.HLT);
  assert.is(host.events.length, 2);
});

/** IDT at 0x3000 with a gate for `vector` to 0x1800: out 0x81 ; hlt (GDT at 0x4000 for its CS); the frame sits below 0x8000 */
function handlerFor(host: Host, v: VcpuFd, mem: number, vector: number): void {
  const dv = new DataView(host.cpu.memory.buffer, mem);
  dv.setUint16(0x3000 + 16 * vector, 0x1800, true);
  dv.setUint16(0x3000 + 16 * vector + 2, 8, true);
  dv.setUint8(0x3000 + 16 * vector + 5, 0x8e);
  host.mem(mem + 0x1800, 3).set([0xe6, 0x81, 0xf4]);
  const s = v.getSregs();
  s.idt = { base: 0x3000n, limit: 16 * 32 - 1 };
  dv.setBigUint64(0x4008, 0x00209a0000000000n, true);              // GDT[1]: 64-bit code, DPL 0
  s.gdt = { base: 0x4000n, limit: 15 };
  v.setSregs(s);
}

test("a value KVM refuses (XFD bit 17): the exit, then kvm_set_msr_common fails → #GP(0) injected at the WRMSR", () => {
  const { host, v, mem } = s4("6.19", { code: [...WRMSR_XFD17, ...OUT_HLT] });
  handlerFor(host, v, mem, 13);
  host.scheduleEvent(v.fd, { at: { msrWrite: MSR_XFD }, kind: "irq-fpu" });
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.IO);
  assert.is(portOf(v), 0x81, "in the #GP handler");
  const frame = new DataView(host.cpu.memory.buffer, mem + 0x8000 - 48);
  assert.is(frame.getBigUint64(0, true), 0n, "error code 0");
  assert.is(frame.getBigUint64(8, true), 0x1000n + BigInt(WRMSR_XFD17.length - 2), "pushed RIP: the WRMSR");
  assert.is(host.events.length, 1, "the WRMSR exited first (the value is KVM's to check)");
  assert.is(host.events[0].exitReason, WRMSR_EXIT_REASON);
  assert.is(xfdOf(v), 0n, "nothing written");
  assert.is(host.cpu.insns, 4, "mov, mov, xor and the handler's OUT: the faulting WRMSR did not retire");
});

test("CPL 3: WRMSR IA32_XFD raises #GP(0) before any exit", () => {
  const { host, v } = s4("6.19", { code: [...WRMSR_XFD18, ...OUT_HLT], cpl3: true });
  v.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | X86KVM_GUESTDBG_EXC_BITMAP, debugreg: [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n], pad: 1 << 13 });
  host.scheduleEvent(v.fd, { at: "next-exit", kind: "irq-fpu" });
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.DEBUG);
  const dv = new DataView(v.runBlock.buffer, v.runBlock.byteOffset);
  assert.is(dv.getUint32(32, true), 13, "#GP");
  assert.is(v.getRegs().rip, 0x1000n + BigInt(WRMSR_XFD18.length - 2), "RIP at the WRMSR");
  assert.is(host.events.length, 1);
  assert.is(host.events[0].exitReason, KVM_EXIT.DEBUG, "the event fired at the #GP's debug exit, not at a WRMSR exit");
  assert.is(xfdOf(v), 0n);
});

test("KVM_GUESTDBG_SINGLESTEP over the intercepted WRMSR: one step, the debug exit after the emulated instruction", () => {
  const { host, v } = s4("6.19", { code: [...WRMSR_XFD18, ...OUT_HLT] });
  v.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP, debugreg: [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n] });
  const dv = new DataView(v.runBlock.buffer, v.runBlock.byteOffset);
  const wrmsrRip = 0x1000n + BigInt(WRMSR_XFD18.length - 2);
  const pcs: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    assert.is(runRaw(host, v), 0);
    assert.is(exitOf(v), KVM_EXIT.DEBUG);
    assert.is(dv.getUint32(32, true), 1);
    assert.is(dv.getBigUint64(48, true) & 0x4000n, 0x4000n, "DR6.BS");
    pcs.push(dv.getBigUint64(40, true));
  }
  assert.equal(pcs, [0x1005n, 0x100an, 0x100cn, wrmsrRip + 2n], "mov, mov, xor, then past the WRMSR");
  assert.is(xfdOf(v), B18);
});

test("guest RFLAGS.TF over the intercepted WRMSR: the handler's skip queues the single-step #DB after it (DR6.BS)", () => {
  // mov ecx/eax, xor edx ; pushfq ; or qword [rsp],0x100 ; popfq ; wrmsr ; out ; hlt — TF traps after the WRMSR
  const TF_ON = [0x9c, 0x48, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9d];
  const code = [...WRMSR_XFD18.slice(0, -2), ...TF_ON, 0x0f, 0x30, ...OUT_HLT];
  const { host, v, mem } = s4("6.19", { code });
  handlerFor(host, v, mem, 1);
  assert.is(runRaw(host, v), 0);
  assert.is(exitOf(v), KVM_EXIT.IO);
  assert.is(portOf(v), 0x81, "in the #DB handler");
  const frame = new DataView(host.cpu.memory.buffer, mem + 0x8000 - 40);
  assert.is(frame.getBigUint64(0, true), 0x1000n + BigInt(code.length - 3), "pushed RIP: after the WRMSR");
  assert.is(v.getDebugregs().dr6 & 0x4000n, 0x4000n, "DR6.BS");
  assert.is(xfdOf(v), B18);
});

test.run();
