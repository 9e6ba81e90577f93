// Error paths: the errno Linux gives for bad fds, request numbers, argument
// sizes, counts and values (kernel-abi.md §1.4, §3.3–3.5, virt/kvm/kvm_main.c).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import * as K from "../../hypervisor/uapi/ioctl";
import { EBADF, EINVAL, EFAULT, E2BIG, EEXIST, ENOTTY, ENXIO, EPERM, EBUSY, ARCH, KVM_CAP } from "../../hypervisor/uapi/consts";
import { encodeCpuid2, encodeMsrs, encodeUserMemoryRegion, encodeXcrs, dvOf } from "../../hypervisor/uapi/structs";

function setup(cpu = "sapphire-rapids") {
  const host = new Host({ cpu, runBudget: 1000 });
  const kvm = host.open();
  const vm = host.ioctl(kvm, K.KVM_CREATE_VM, 0);
  const vcpu = host.ioctl(vm, K.KVM_CREATE_VCPU, 0);
  return { host, kvm, vm, vcpu };
}

test("bad fds: -EBADF, also after close()", () => {
  const { host, kvm, vcpu } = setup();
  assert.is(host.ioctl(12345, K.KVM_GET_API_VERSION, 0), -EBADF);
  assert.is(host.ioctl(-1, K.KVM_RUN, 0), -EBADF);
  assert.is(host.ioctl(1.5, K.KVM_RUN, 0), -EBADF);
  assert.is(host.close(vcpu), 0);
  assert.is(host.ioctl(vcpu, K.KVM_GET_REGS, new Uint8Array(144)), -EBADF);
  assert.is(host.close(vcpu), -EBADF);
  assert.is(host.ioctl(kvm, K.KVM_GET_API_VERSION, 0), 12);
  assert.is(host.mmap(kvm), null);
});

test("unknown requests: /dev/kvm -EINVAL, VM -ENOTTY, vCPU -EINVAL (also vCPU requests on the wrong fd)", () => {
  const { host, kvm, vm, vcpu } = setup();
  assert.is(host.ioctl(kvm, K._IO(K.KVMIO, 0x7f), 0), -EINVAL);
  assert.is(host.ioctl(kvm, K.KVM_GET_REGS, new Uint8Array(144)), -EINVAL);
  assert.is(host.ioctl(vm, K._IO(K.KVMIO, 0x7f), 0), -ENOTTY);
  assert.is(host.ioctl(vm, K.KVM_RUN, 0), -ENOTTY);
  assert.is(host.ioctl(vcpu, K._IO(K.KVMIO, 0x7f), 0), -EINVAL);
  assert.is(host.ioctl(vcpu, K.KVM_CREATE_VCPU, 1), -EINVAL);
  assert.is(host.ioctl(vcpu, K._IO(0x54, 0x01), 0), -EINVAL);
});

test("short buffers and bad pointers: -EFAULT", () => {
  const { host, vm, vcpu } = setup();
  assert.is(host.ioctl(vcpu, K.KVM_GET_REGS, new Uint8Array(143)), -EFAULT);
  assert.is(host.ioctl(vcpu, K.KVM_GET_SREGS, 0), -EFAULT);
  assert.is(host.ioctl(vcpu, K.KVM_SET_SREGS, undefined), -EFAULT);
  assert.is(host.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, new Uint8Array(31)), -EFAULT);
  const m = encodeMsrs([{ index: 0x10, data: 0n }]);
  assert.is(host.ioctl(vcpu, K.KVM_GET_MSRS, m.subarray(0, 20)), -EFAULT);
  const c = encodeCpuid2([], 4);
  assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, c.subarray(0, 8 + 40 * 3)), -EFAULT);
  assert.is(host.ioctl(vcpu, K.KVM_GET_XSAVE, new Uint8Array(4095)), -EFAULT);
  // a host-heap address is a valid user pointer
  const p = host.alloc(144);
  assert.is(host.ioctl(vcpu, K.KVM_GET_REGS, p), 0);
  assert.is(new DataView(host.cpu.memory.buffer).getBigUint64(p + 128, true), 0xfff0n);
});

test("counts: KVM_GET/SET_MSRS nmsrs ≥ 256 → -E2BIG; GET_MSRS stops at the first unknown MSR", () => {
  const { host, vcpu } = setup();
  const big = new Uint8Array(8 + 16 * 256); dvOf(big).setUint32(0, 256, true);
  assert.is(host.ioctl(vcpu, K.KVM_GET_MSRS, big), -E2BIG);
  assert.is(host.ioctl(vcpu, K.KVM_SET_MSRS, big), -E2BIG);
  const m = encodeMsrs([{ index: 0x277, data: 0n }, { index: 0x12345, data: 0n }, { index: 0x10, data: 0n }]);
  assert.is(host.ioctl(vcpu, K.KVM_GET_MSRS, m), 1);
  assert.is(dvOf(m).getBigUint64(16, true), 0x0007040600070406n);
  // PAT with a reserved memory type: the write is refused, 0 processed
  assert.is(host.ioctl(vcpu, K.KVM_SET_MSRS, encodeMsrs([{ index: 0x277, data: 0x02n }])), 0);
});

test("CPUID: GET_SUPPORTED nent 0 / too small → -E2BIG, nent untouched; SET nent > 256 → -E2BIG; GET_CPUID2 too small → -E2BIG", () => {
  const { host, kvm, vcpu } = setup();
  const b = encodeCpuid2([], 2);
  assert.is(host.ioctl(kvm, K.KVM_GET_SUPPORTED_CPUID, b), -E2BIG);
  assert.is(dvOf(b).getUint32(0, true), 2);
  assert.is(host.ioctl(kvm, K.KVM_GET_SUPPORTED_CPUID, new Uint8Array(8)), -E2BIG);
  const full = encodeCpuid2([], 256);
  assert.is(host.ioctl(kvm, K.KVM_GET_SUPPORTED_CPUID, full), 0);
  const n = dvOf(full).getUint32(0, true);
  assert.ok(n > 10 && n < 256);
  const huge = new Uint8Array(8 + 40 * 257); dvOf(huge).setUint32(0, 257, true);
  assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, huge), -E2BIG);
  assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, full.subarray(0, 8 + 40 * n)), 0);
  const small = encodeCpuid2([], n - 1);
  assert.is(host.ioctl(vcpu, K.KVM_GET_CPUID2, small), -E2BIG);
  assert.is(dvOf(small).getUint32(0, true), n - 1);
});

test("memory regions: alignment, flags, slot range, overlap (-EEXIST), delete of an empty slot, changes to a live slot", () => {
  const { host, vm } = setup();
  const ua = host.alloc(0x20000);
  const reg = (slot: number, gpa: number, size: number, u = ua, flags = 0) =>
    host.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, encodeUserMemoryRegion({ slot, flags, guest_phys_addr: BigInt(gpa), memory_size: BigInt(size), userspace_addr: BigInt(u) }));
  assert.is(reg(0, 0, 0x10000), 0);
  assert.is(reg(1, 0x8000, 0x10000, ua + 0x10000), -EEXIST);
  assert.is(reg(1, 0x10000, 0x10000, ua + 0x10000), 0);
  assert.is(reg(2, 0x100000, 0x1001), -EINVAL);
  assert.is(reg(2, 0x100800, 0x1000), -EINVAL);
  assert.is(reg(2, 0x100000, 0x1000, ua + 8), -EINVAL);
  assert.is(reg(2, 0x100000, 0x1000, ua, 4), -EINVAL);
  assert.is(reg(32, 0x100000, 0x1000), -EINVAL);
  assert.is(reg(0x10002, 0x100000, 0x1000), -EINVAL);      // address space 1 (SMM) does not exist
  assert.is(reg(3, 0, 0), -EINVAL);                          // delete an empty slot
  assert.is(reg(0, 0, 0x20000), -EINVAL);                    // resize a live slot
  assert.is(reg(0, 0, 0x10000, ua, 2), -EINVAL);             // toggle READONLY
  assert.is(reg(0, 0x40000, 0x10000), 0);                    // move
  assert.is(reg(0, 0, 0), 0);                                // delete
  assert.is(reg(4, 0, 0x1000, 0x1000), -EFAULT);             // outside the host heap
  assert.is(reg(4, 1 << 30, 0x1000, ua), 0);
});

test("vCPU creation: ids ≥ KVM_MAX_VCPU_IDS → -EINVAL, duplicates → -EEXIST, CREATE_VM type ≠ 0 → -EINVAL", () => {
  const { host, kvm, vm } = setup();
  assert.is(host.ioctl(vm, K.KVM_CREATE_VCPU, 0), -EEXIST);
  assert.is(host.ioctl(vm, K.KVM_CREATE_VCPU, 4096), -EINVAL);
  assert.ok(host.ioctl(vm, K.KVM_CREATE_VCPU, 4095) > 0);
  assert.is(host.ioctl(kvm, K.KVM_CREATE_VM, 1), -EINVAL);
  assert.is(host.ioctl(kvm, K.KVM_GET_API_VERSION, 1), -EINVAL);
  assert.is(host.ioctl(kvm, K.KVM_GET_VCPU_MMAP_SIZE, 1), -EINVAL);
});

test("SET_SREGS validity (kvm_is_valid_sregs): LME+PG needs PAE and LMA; LMA or CS.L without paging; CR0 PG without PE", () => {
  const { host, vcpu } = setup();
  const s = new Uint8Array(312);
  host.ioctl(vcpu, K.KVM_GET_SREGS, s);
  const d = dvOf(s), put = (cr0: bigint, cr4: bigint, efer: bigint, l = 0) => {
    const b = s.slice(); const dv = dvOf(b);
    dv.setBigUint64(224, cr0, true); dv.setBigUint64(248, cr4, true); dv.setBigUint64(264, efer, true); b[19] = l;
    return host.ioctl(vcpu, K.KVM_SET_SREGS, b);
  };
  void d;
  assert.is(put(0x80000011n, 0n, 0x500n), -EINVAL);
  assert.is(put(0x80000011n, 0x20n, 0x100n), -EINVAL);
  assert.is(put(0x11n, 0n, 0x400n), -EINVAL);
  assert.is(put(0x11n, 0n, 0n, 1), -EINVAL);
  assert.is(put(0x80000010n, 0n, 0n), -EINVAL);
  assert.is(put(0x20000011n, 0n, 0n), -EINVAL);             // NW without CD
  assert.is(put(0x80000011n, 0x20n, 0x500n), 0);
});

test("events and interrupts: KVM_INTERRUPT ≥ 256 → -EINVAL, while one is queued → -ENXIO; SET_VCPU_EVENTS exception 2 or > 31 → -EINVAL; INJECT_BP while an exception is pending → -EBUSY", () => {
  const { host, vcpu } = setup();
  const irq = (n: number) => { const b = new Uint8Array(4); dvOf(b).setUint32(0, n, true); return host.ioctl(vcpu, K.KVM_INTERRUPT, b); };
  assert.is(irq(256), -EINVAL);
  assert.is(irq(0x30), 0);
  assert.is(irq(0x31), -ENXIO);
  const ev = new Uint8Array(64);
  assert.is(host.ioctl(vcpu, K.KVM_GET_VCPU_EVENTS, ev), 0);
  assert.is(ev[8], 1); assert.is(ev[9], 0x30);
  const e2 = new Uint8Array(64); e2[0] = 1; e2[1] = 2;
  assert.is(host.ioctl(vcpu, K.KVM_SET_VCPU_EVENTS, e2), -EINVAL);
  e2[1] = 32;
  assert.is(host.ioctl(vcpu, K.KVM_SET_VCPU_EVENTS, e2), -EINVAL);
  e2[1] = 13; e2[2] = 1; dvOf(e2).setUint32(4, 0x18, true);
  assert.is(host.ioctl(vcpu, K.KVM_SET_VCPU_EVENTS, e2), 0);
  const back = new Uint8Array(64); host.ioctl(vcpu, K.KVM_GET_VCPU_EVENTS, back);
  assert.equal([back[0], back[1], back[2], dvOf(back).getUint32(4, true)], [1, 13, 1, 0x18]);
  const dbg = new Uint8Array(72); dvOf(dbg).setUint32(0, 0x80001, true);
  assert.is(host.ioctl(vcpu, K.KVM_SET_GUEST_DEBUG, dbg), -EBUSY);
});

test("XCRS and XSAVE through the fpu interface: XCR0 rules, 4096-byte GET_XSAVE, KVM_CAP_XSAVE2 size, AMX permission", () => {
  const { host, kvm, vm, vcpu } = setup();
  const xcrs = (v: bigint, flags = 0, n = 1) => host.ioctl(vcpu, K.KVM_SET_XCRS, encodeXcrs({ nr_xcrs: n, flags, xcrs: [{ xcr: 0, value: v }] }));
  assert.is(xcrs(0x3n), -EINVAL);                            // guest XCR0 support is 0 before SET_CPUID2
  assert.is(xcrs(0x1n), 0);
  assert.is(xcrs(0x1n, 1), -EINVAL);
  assert.is(xcrs(0x1n, 0, 17), -EINVAL);
  const full = encodeCpuid2([], 256); host.ioctl(kvm, K.KVM_GET_SUPPORTED_CPUID, full);
  assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, full.subarray(0, 8 + 40 * dvOf(full).getUint32(0, true))), 0);
  assert.is(xcrs(0x7n), 0);
  assert.is(xcrs(0x5n), -EINVAL);
  assert.is(xcrs(0x27n), -EINVAL);
  assert.is(xcrs(0xe7n), 0);
  const x = new Uint8Array(392); host.ioctl(vcpu, K.KVM_GET_XCRS, x);
  assert.is(dvOf(x).getBigUint64(16, true), 0xe7n);
  const xs = new Uint8Array(4096);
  assert.is(host.ioctl(vcpu, K.KVM_GET_XSAVE, xs), 0);
  assert.is(dvOf(xs).getUint16(0, true), 0x37f);
  assert.is(dvOf(xs).getUint32(24, true), 0x1f80);
  assert.is(dvOf(xs).getBigUint64(520, true), 0n);
  // SPR has AMX: XSAVE2 stays 4096 until the guest permission is requested
  assert.is(host.ioctl(kvm, K.KVM_CHECK_EXTENSION, KVM_CAP.XSAVE2), 4096);
  const perm = new Uint8Array(8);
  assert.is(host.archPrctl(ARCH.GET_XCOMP_GUEST_PERM, perm), 0);
  assert.is(dvOf(perm).getBigUint64(0, true) & 0x40000n, 0n);
  assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, 18), -EBUSY, "locked by the first vCPU");
  const h2 = new Host({ cpu: "sapphire-rapids" }), k2 = h2.open();
  assert.is(h2.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, 18), 0);
  assert.is(h2.ioctl(k2, K.KVM_CHECK_EXTENSION, KVM_CAP.XSAVE2), 11008);
  // AMX in the CPUID without permission: -EPERM
  const h3 = new Host({ cpu: "sapphire-rapids" }), k3 = h3.open(), vm3 = h3.ioctl(k3, K.KVM_CREATE_VM, 0), v3 = h3.ioctl(vm3, K.KVM_CREATE_VCPU, 0);
  const amx = encodeCpuid2([{ fn: 0xd, idx: 0, flags: 1, eax: 0x602e7, ebx: 0, ecx: 0, edx: 0 }]);
  assert.is(h3.ioctl(v3, K.KVM_SET_CPUID2, amx), -EPERM);
  void vm;
});

test("a guest that restores the XSAVE image it was given sees it back: SET_XSAVE → GET_XSAVE round trip of XMM0 and YMM0.hi", () => {
  const { host, kvm, vcpu } = setup();
  const full = encodeCpuid2([], 256); host.ioctl(kvm, K.KVM_GET_SUPPORTED_CPUID, full);
  host.ioctl(vcpu, K.KVM_SET_CPUID2, full.subarray(0, 8 + 40 * dvOf(full).getUint32(0, true)));
  const xs = new Uint8Array(4096); host.ioctl(vcpu, K.KVM_GET_XSAVE, xs);
  const d = dvOf(xs);
  for (let i = 0; i < 16; i++) xs[160 + i] = 0xa0 + i;
  for (let i = 0; i < 16; i++) xs[576 + i] = 0x50 + i;
  d.setBigUint64(512, 0x7n, true);
  assert.is(host.ioctl(vcpu, K.KVM_SET_XSAVE, xs), 0);
  const back = new Uint8Array(4096); host.ioctl(vcpu, K.KVM_GET_XSAVE, back);
  assert.equal([...back.subarray(160, 176)], [...xs.subarray(160, 176)]);
  assert.equal([...back.subarray(576, 592)], [...xs.subarray(576, 592)]);
  assert.is(dvOf(back).getBigUint64(512, true) & 0x6n, 0x6n);
  d.setBigUint64(520, 1n << 63n, true);                      // compacted format: rejected
  assert.is(host.ioctl(vcpu, K.KVM_SET_XSAVE, xs), -EINVAL);
});

test.run();
