// A guest run end to end through the ioctl ABI only: memory slot, vCPU,
// registers, KVM_RUN until port-0xE9 OUT / IN / HLT exits, MMIO, debug exits,
// interrupts, two vCPUs and two VMs on the one CPU.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import { Kvm, VcpuFd, VmFd, decodeExit } from "../../hypervisor/vmm/kvm_ioctls";
import * as K from "../../hypervisor/uapi/ioctl";
import { KVM_CAP, KVM_GUESTDBG, EINTR, EINVAL } from "../../hypervisor/uapi/consts";
import { encodeCpuid2 } from "../../hypervisor/uapi/structs";

const RAM = 0x100000;

function realModeGuest(code: number[], opts: { cpu?: string } = {}) {
  const host = new Host({ cpu: opts.cpu ?? "sapphire-rapids", kernel: "6.19", runBudget: 1_000_000 });
  const kvm = new Kvm(host);
  const vm = kvm.createVm();
  const mem = host.alloc(RAM);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: BigInt(RAM), userspace_addr: BigInt(mem) });
  host.mem(mem + 0x1000, code.length).set(code);
  const vcpu = vm.createVcpu(0);
  const s = vcpu.getSregs();
  s.cs.base = 0n; s.cs.selector = 0;
  vcpu.setSregs(s);
  vcpu.setRegs({ rip: 0x1000n, rflags: 2n });
  return { host, kvm, vm, vcpu, mem };
}

// mov al,'H' ; out 0xe9,al ; in al,0x10 ; inc al ; out 0xe9,al ; hlt
const ECHO = [0xb0, 0x48, 0xe6, 0xe9, 0xe4, 0x10, 0xfe, 0xc0, 0xe6, 0xe9, 0xf4];

test("real-mode guest at 0x1000: OUT 0xE9, IN answered through the PIO page, HLT", () => {
  const { vcpu } = realModeGuest(ECHO);
  let e = vcpu.run();
  assert.equal(e.kind, "IoOut");
  if (e.kind !== "IoOut") return;
  assert.equal(e.port, 0xe9);
  assert.equal([...e.data], [0x48]);
  e = vcpu.run();
  assert.equal(e.kind, "IoIn");
  if (e.kind !== "IoIn") return;
  assert.equal(e.port, 0x10);
  e.data[0] = 0x41;                                 // userspace answers the IN
  e = vcpu.run();
  assert.equal(e.kind, "IoOut");
  if (e.kind !== "IoOut") return;
  assert.equal([...e.data], [0x42]);
  assert.equal(vcpu.run().kind, "Hlt");
  const r = vcpu.getRegs();
  assert.equal(r.rip, 0x1000n + BigInt(ECHO.length));
  assert.equal(r.rax & 0xffn, 0x42n);
});

test("kvm_run layout: exit_reason @8, io fields @32.., data at data_offset = one page in", () => {
  const { host, vcpu } = realModeGuest(ECHO);
  vcpu.run();
  const run = host.mmap(vcpu.fd)!;
  const dv = new DataView(run.buffer, run.byteOffset);
  assert.is(dv.getUint32(8, true), 2);               // KVM_EXIT_IO
  assert.is(run[32], 1);                              // KVM_EXIT_IO_OUT
  assert.is(run[33], 1);
  assert.is(dv.getUint16(34, true), 0xe9);
  assert.is(dv.getUint32(36, true), 1);
  assert.is(dv.getBigUint64(40, true), 4096n);
  assert.is(run[4096], 0x48);
  assert.is(run.length, host.ioctl(host.open(), K.KVM_GET_VCPU_MMAP_SIZE, 0));
});

test("immediate_exit: -EINTR and no guest instruction; an answered IN still completes", () => {
  const { host, vcpu } = realModeGuest(ECHO);
  vcpu.run(); const e = vcpu.run();
  assert.is(e.kind, "IoIn");
  if (e.kind === "IoIn") e.data[0] = 0x30;
  vcpu.setImmediateExit(true);
  assert.is(host.ioctl(vcpu.fd, K.KVM_RUN, 0), -EINTR);
  assert.is(vcpu.getRegs().rax & 0xffn, 0x30n);
  vcpu.setImmediateExit(false);
  const e2 = vcpu.run();
  assert.is(e2.kind, "IoOut");
  if (e2.kind === "IoOut") assert.is(e2.data[0], 0x31);
});

test("an endless loop returns -EINTR with exit_reason KVM_EXIT_INTR after the run budget", () => {
  const { host, vcpu } = realModeGuest([0xeb, 0xfe]);
  assert.is(host.ioctl(vcpu.fd, K.KVM_RUN, 0), -EINTR);
  assert.is(decodeExit(vcpu.runBlock).kind, "Intr");
});

test("MMIO: a read outside every slot exits; the data written into kvm_run.mmio.data reaches the guest", () => {
  // mov eax,[0x200000] via 32-bit address override in real mode: 67 66 A1 00 00 20 00 ; out 0xe9,al ; hlt
  const { vcpu } = realModeGuest([0x67, 0x66, 0xa1, 0x00, 0x00, 0x20, 0x00, 0xe6, 0xe9, 0xf4]);
  const s = vcpu.getSregs(); s.ds.limit = 0xffffffff; vcpu.setSregs(s);
  const e = vcpu.run();
  assert.is(e.kind, "MmioRead");
  if (e.kind !== "MmioRead") return;
  assert.is(e.addr, 0x200000n);
  assert.is(e.data.length, 4);
  e.data.set([0x5a, 0, 0, 0]);
  const o = vcpu.run();
  assert.is(o.kind, "IoOut");
  if (o.kind === "IoOut") assert.is(o.data[0], 0x5a);
});

test("KVM_SET_GUEST_DEBUG: single-step exits with DR6.BS at each instruction; SW_BP intercepts INT3 at its address", () => {
  const { vcpu } = realModeGuest([0x90, 0x90, 0xcc, 0xf4]);
  vcpu.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP, debugreg: [] });
  let e = vcpu.run();
  assert.is(e.kind, "Debug");
  if (e.kind === "Debug") { assert.is(e.exception, 1); assert.is(e.pc, 0x1001n); assert.is(e.dr6, 0xffff4ff0n); }
  vcpu.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.USE_SW_BP, debugreg: [] });
  e = vcpu.run();
  assert.is(e.kind, "Debug");
  if (e.kind === "Debug") { assert.is(e.exception, 3); assert.is(e.pc, 0x1002n); }
  assert.is(vcpu.getRegs().rip, 0x1002n);
  assert.is(vcpu.getVcpuEvents().exception.injected, 0, "the intercepted #BP is not re-injected");
  // the debugger "removes" the breakpoint by stepping over it
  vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1003n });
  vcpu.setGuestDebug({ control: 0, debugreg: [] });
  assert.is(vcpu.run().kind, "Hlt");
});

test("KVM_INTERRUPT: delivered through the real-mode IVT once IF=1; a second one while queued is -ENXIO", () => {
  // sti ; nop ; jmp $ ; handler at 0x2000: out 0xe9,al ; hlt
  const { host, vcpu, mem } = realModeGuest([0xfb, 0x90, 0xeb, 0xfe]);
  host.mem(mem + 0x2000, 3).set([0xe6, 0xe9, 0xf4]);
  new DataView(host.cpu.memory.buffer).setUint32(mem + 0x20 * 4, 0x00002000, true);   // IVT[0x20] = 0000:2000
  vcpu.interrupt(0x20);
  assert.is(host.ioctl(vcpu.fd, K.KVM_INTERRUPT, Uint8Array.of(0x21, 0, 0, 0)), -6);
  assert.is(host.ioctl(vcpu.fd, K.KVM_INTERRUPT, Uint8Array.of(0, 1, 0, 0)), -EINVAL);
  const e = vcpu.run();
  assert.is(e.kind, "IoOut");
  assert.is(vcpu.getRegs().rip, 0x2002n);
});

test("two vCPUs of one VM and a second VM interleave on the one CPU without sharing state", () => {
  const a = realModeGuest(ECHO);
  const b = a.vm.createVcpu(1);
  let s = b.getSregs(); s.cs.base = 0n; s.cs.selector = 0; b.setSregs(s);
  b.setRegs({ rip: 0x1000n, rflags: 2n, rbx: 7n });
  const vm2 = a.kvm.createVm();
  const mem2 = a.host.alloc(RAM);
  vm2.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: BigInt(RAM), userspace_addr: BigInt(mem2) });
  a.host.mem(mem2 + 0x1000, 5).set([0xb0, 0x77, 0xe6, 0xe9, 0xf4]);
  const c = vm2.createVcpu(0);
  s = c.getSregs(); s.cs.base = 0n; s.cs.selector = 0; c.setSregs(s);
  c.setRegs({ rip: 0x1000n, rflags: 2n });
  a.vcpu.run(); b.run();                                   // both at the IN
  const ea = a.vcpu.run(), eb = b.run();
  assert.is(ea.kind, "IoIn"); assert.is(eb.kind, "IoIn");
  const ec = c.run();
  assert.is(ec.kind, "IoOut");
  if (ec.kind === "IoOut") assert.is(ec.data[0], 0x77);
  if (ea.kind === "IoIn") ea.data[0] = 1;
  if (eb.kind === "IoIn") eb.data[0] = 2;
  const oa = a.vcpu.run(), ob = b.run();
  assert.is(oa.kind === "IoOut" && oa.data[0], 2);
  assert.is(ob.kind === "IoOut" && ob.data[0], 3);
  assert.is(b.getRegs().rbx, 7n);
  assert.is(a.vcpu.getRegs().rbx, 0n);
  assert.is(c.run().kind, "Hlt");
});

test("KVM_SET_CPUID2 after KVM_RUN: -EINVAL for a different table, 0 for the same one", () => {
  const { host, kvm, vcpu } = realModeGuest(ECHO);
  const sup = kvm.getSupportedCpuid();
  vcpu.setCpuid2(sup);
  vcpu.run();
  assert.is(host.ioctl(vcpu.fd, K.KVM_SET_CPUID2, encodeCpuid2(sup)), 0);
  assert.is(host.ioctl(vcpu.fd, K.KVM_SET_CPUID2, encodeCpuid2(sup.slice(1))), -EINVAL);
  // as stored, except that CPUID.(0xD,0/1).EBX follow XCR0 (kvm_update_cpuid_runtime): x87 only → 576
  assert.equal(vcpu.getCpuid2(), sup.map((e) => (e.fn === 0xd && e.idx <= 1 ? { ...e, ebx: 576 } : e)));
});

test("long mode set up through KVM_SET_SREGS / KVM_SET_MSRS: paging, 64-bit code, OUT and HLT", () => {
  const host = new Host({ cpu: "sapphire-rapids", runBudget: 1_000_000 });
  const kvm = new Kvm(host), vm = kvm.createVm();
  const mem = host.alloc(0x400000);
  vm.setUserMemoryRegion({ slot: 3, flags: 0, guest_phys_addr: 0n, memory_size: 0x400000n, userspace_addr: BigInt(mem) });
  const dv = new DataView(host.cpu.memory.buffer, mem);
  dv.setBigUint64(0x10000, 0x11000n | 7n, true);                      // PML4[0] → PDPT
  dv.setBigUint64(0x11000, 0x12000n | 7n, true);                      // PDPT[0] → PD
  dv.setBigUint64(0x12000, 0x87n, true);                              // PD[0]: 2 MiB page at 0
  // mov rax, 0x1122334455667788 ; out 0xe9, al ; hlt
  host.mem(mem + 0x1000, 13).set([0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xe6, 0xe9, 0xf4]);
  const v = vm.createVcpu(0);
  v.setCpuid2(kvm.getSupportedCpuid());
  const s = v.getSregs();
  const code = { base: 0n, limit: 0xffffffff, selector: 8, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 };
  const data = { ...code, selector: 16, type: 3, l: 0, db: 1 };
  Object.assign(s, { cs: code, ds: data, es: data, ss: data, fs: data, gs: data, cr3: 0x10000n, cr4: 0x20n, cr0: 0x80000011n, efer: 0x500n });
  v.setSregs(s);
  v.setRegs({ rip: 0x1000n, rflags: 2n, rsp: 0x8000n });
  const e = v.run();
  assert.is(e.kind, "IoOut");
  if (e.kind === "IoOut") assert.is(e.data[0], 0x88);
  assert.is(v.run().kind, "Hlt");
  assert.is(v.getRegs().rax, 0x1122334455667788n);
  assert.is(v.getMsrs([0xc0000080])[0].data, 0x500n);
  assert.is(vm.checkExtension(KVM_CAP.NR_MEMSLOTS), 32);
});

test("PAE paging set up through KVM_SET_SREGS: the PDPTEs are loaded from CR3 at once (load_pdptrs)", () => {
  const host = new Host({ cpu: "haswell", runBudget: 1_000_000 });
  const kvm = new Kvm(host), vm = kvm.createVm();
  const mem = host.alloc(0x400000);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: 0x400000n, userspace_addr: BigInt(mem) });
  const dv = new DataView(host.cpu.memory.buffer, mem);
  dv.setBigUint64(0x10000, 0x11000n | 1n, true);                      // PDPTE[0] → PD
  dv.setBigUint64(0x11000, 0x200000n | 0x83n, true);                  // PD[0]: 2 MiB page at 2 MiB (linear 0 → physical 2 MiB)
  // mov al, [0x10] ; out 0xe9, al ; hlt   (32-bit code at linear 0x1000 = physical 0x201000)
  host.mem(mem + 0x201000, 6).set([0xa0, 0x10, 0x00, 0x00, 0x00, 0xe6]);
  host.mem(mem + 0x201006, 2).set([0xe9, 0xf4]);
  host.mem(mem + 0x200010, 1).set([0x99]);
  const v = vm.createVcpu(0);
  v.setCpuid2(kvm.getSupportedCpuid());
  const s = v.getSregs();
  const code = { base: 0n, limit: 0xffffffff, selector: 8, type: 11, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
  const data = { ...code, selector: 16, type: 3 };
  Object.assign(s, { cs: code, ds: data, es: data, ss: data, fs: data, gs: data, cr3: 0x10000n, cr4: 0x20n, cr0: 0x80000011n, efer: 0n });
  v.setSregs(s);
  v.setRegs({ rip: 0x1000n, rflags: 2n });
  const e = v.run();
  assert.is(e.kind, "IoOut");
  if (e.kind === "IoOut") assert.is(e.data[0], 0x99);
});

test.run();
