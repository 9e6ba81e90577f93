// The guest-FPU ABI of /dev/kvm under the four kernel behaviours, through the
// contract surface only (Host.open / Host.ioctl / Host.archPrctl / Host.oops):
// kernel-abi.md §8 — KVM_SET_XSAVE of a guest-unsupported PKRU bit, the
// KVM_GET_XSAVE2 mask, KVM_CAP_XSAVE2 sizes, KVM_SET_XCRS rules — and the S5
// crash (AMX state stuffed past XFD, then KVM_RUN) on sapphire-rapids.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import * as K from "../../hypervisor/uapi/ioctl";
import { KVM_CAP, KVM_EXIT, ARCH, EINVAL, EIO } from "../../hypervisor/uapi/consts";

const KERNELS = ["5.17-rc5", "6.5", "6.8", "6.19"] as const;
type Kernel = (typeof KERNELS)[number];
const BEHAVIOUR: Record<Kernel, string> = { "5.17-rc5": "B1", "6.5": "B2", "6.8": "B3", "6.19": "B4" };

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const bvOf = (b: Uint8Array) => dv(b).getBigUint64(512, true);
const PKRU = 1n << 9n, XTILE_CFG = 1n << 17n, XTILE_DATA = 1n << 18n;

interface Entry { fn: number; idx: number; flags: number; eax: number; ebx: number; ecx: number; edx: number }

/** KVM_GET_SUPPORTED_CPUID through the ioctl */
function supportedCpuid(host: Host, kvm: number): Entry[] {
  const b = new Uint8Array(8 + 40 * 256);
  dv(b).setUint32(0, 256, true);
  assert.is(host.ioctl(kvm, K.KVM_GET_SUPPORTED_CPUID, b), 0);
  const n = dv(b).getUint32(0, true), out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + 40 * i, d = dv(b);
    out.push({ fn: d.getUint32(o, true), idx: d.getUint32(o + 4, true), flags: d.getUint32(o + 8, true),
      eax: d.getUint32(o + 12, true), ebx: d.getUint32(o + 16, true), ecx: d.getUint32(o + 20, true), edx: d.getUint32(o + 24, true) });
  }
  return out;
}
function cpuid2(e: Entry[]): Uint8Array {
  const b = new Uint8Array(8 + 40 * e.length), d = dv(b);
  d.setUint32(0, e.length, true);
  e.forEach((x, i) => {
    const o = 8 + 40 * i;
    d.setUint32(o, x.fn, true); d.setUint32(o + 4, x.idx, true); d.setUint32(o + 8, x.flags, true);
    d.setUint32(o + 12, x.eax >>> 0, true); d.setUint32(o + 16, x.ebx >>> 0, true); d.setUint32(o + 20, x.ecx >>> 0, true); d.setUint32(o + 24, x.edx >>> 0, true);
  });
  return b;
}
/** the supported table without PKU: CPUID.7.0:ECX[3] and XCR0 bit 9 in leaf 0xD */
function withoutPku(e: Entry[]): Entry[] {
  return e.filter((x) => !(x.fn === 0xd && x.idx === 9)).map((x) => {
    if (x.fn === 7 && x.idx === 0) return { ...x, ecx: x.ecx & ~(1 << 3) };
    if (x.fn === 0xd && x.idx === 0) return { ...x, eax: x.eax & ~(1 << 9) };
    return x;
  });
}
function xcrs(value: bigint, opts: { nr?: number; flags?: number; xcr?: number } = {}): Uint8Array {
  const b = new Uint8Array(392), d = dv(b);
  d.setUint32(0, opts.nr ?? 1, true);
  d.setUint32(4, opts.flags ?? 0, true);
  d.setUint32(8, opts.xcr ?? 0, true);
  d.setBigUint64(16, value, true);
  return b;
}

function setup(kernel: Kernel, cpu = "sapphire-rapids") {
  const host = new Host({ cpu, kernel, runBudget: 100_000 });
  const kvm = host.open();
  const vm = host.ioctl(kvm, K.KVM_CREATE_VM, 0);
  assert.ok(vm >= 0);
  return { host, kvm, vm };
}
function createVcpu(host: Host, vm: number, id = 0): number {
  const fd = host.ioctl(vm, K.KVM_CREATE_VCPU, id);
  assert.ok(fd >= 0, `KVM_CREATE_VCPU ${fd}`);
  return fd;
}
function getXsave2(host: Host, kvm: number, vcpu: number): Uint8Array {
  const size = host.ioctl(kvm, K.KVM_CHECK_EXTENSION, KVM_CAP.XSAVE2);
  const b = new Uint8Array(size);
  assert.is(host.ioctl(vcpu, K.KVM_GET_XSAVE2, b), 0);
  return b;
}

for (const kernel of KERNELS) {
  const B = BEHAVIOUR[kernel];

  test(`${kernel} (${B}): KVM_SET_XSAVE with XSTATE_BV[9] (PKRU) on a guest without PKU, and the KVM_GET_XSAVE2 mask`, () => {
    const { host, kvm, vm } = setup(kernel);
    const vcpu = createVcpu(host, vm);
    assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid2(withoutPku(supportedCpuid(host, kvm)))), 0);
    const img = getXsave2(host, kvm, vcpu);
    assert.is(bvOf(img) & PKRU, 0n, "fresh state: PKRU not in XSTATE_BV");
    dv(img).setBigUint64(512, bvOf(img) | PKRU | 3n, true);
    dv(img).setUint32(2688, 0x12345678, true);             // PKRU's standard-format offset on sapphire-rapids
    const r = host.ioctl(vcpu, K.KVM_SET_XSAVE, img);
    // §8: B2 derives user_xfeatures from guest CPUID and rejects the bit; the others accept it
    assert.is(r, B === "B2" ? -EINVAL : 0, "KVM_SET_XSAVE");
    const out = getXsave2(host, kvm, vcpu);
    // §8 "GET leaks host-only PKRU bit": only B1; B3/B4 mask with guest_supported_xcr0 | FP/SSE
    assert.is((bvOf(out) & PKRU) !== 0n, B === "B1", "PKRU in KVM_GET_XSAVE2 XSTATE_BV");
    if (B === "B1") assert.is(dv(out).getUint32(2688, true), 0x12345678);
    // the 4096-byte KVM_GET_XSAVE agrees (no AMX enabled, so it is allowed)
    const x = new Uint8Array(4096);
    assert.is(host.ioctl(vcpu, K.KVM_GET_XSAVE, x), 0);
    assert.is(bvOf(x), bvOf(out));
  });

  test(`${kernel} (${B}): KVM_CAP_XSAVE2 grows with ARCH_REQ_XCOMP_GUEST_PERM; KVM_GET_XSAVE refused once AMX is in CPUID`, () => {
    const { host, kvm, vm } = setup(kernel);
    assert.is(host.ioctl(kvm, K.KVM_CHECK_EXTENSION, KVM_CAP.XSAVE2), 4096);
    const perm = new Uint8Array(8);
    assert.is(host.archPrctl(ARCH.GET_XCOMP_GUEST_PERM, perm), 0);
    assert.is(dv(perm).getBigUint64(0, true) & XTILE_DATA, 0n);
    assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0);
    assert.is(host.archPrctl(ARCH.GET_XCOMP_GUEST_PERM, perm), 0);
    assert.is(dv(perm).getBigUint64(0, true) & XTILE_DATA, XTILE_DATA);
    assert.is(host.ioctl(kvm, K.KVM_CHECK_EXTENSION, KVM_CAP.XSAVE2), 11008);
    const vcpu = createVcpu(host, vm);
    // the first vCPU locks the guest permission
    assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0, "already granted");
    const table = supportedCpuid(host, kvm);
    const d0 = table.find((e) => e.fn === 0xd && e.idx === 0)!;
    assert.is(BigInt(d0.eax) & (XTILE_CFG | XTILE_DATA), XTILE_CFG | XTILE_DATA);
    assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid2(table)), 0);
    assert.is(getXsave2(host, kvm, vcpu).length, 11008);
    assert.is(host.ioctl(vcpu, K.KVM_GET_XSAVE, new Uint8Array(4096)), -EINVAL);
  });

  test(`${kernel} (${B}): without the permission, KVM_SET_CPUID2 with AMX fails, and the permission is locked after the first vCPU`, () => {
    const { host, kvm, vm } = setup(kernel);
    const table = supportedCpuid(host, kvm).map((e) => (e.fn === 0xd && e.idx === 0 ? { ...e, eax: e.eax | 0x60000 } : e));
    const vcpu = createVcpu(host, vm);
    assert.ok(host.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid2(table)) < 0);
    assert.ok(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA) < 0, "-EBUSY once a vCPU exists");
  });

  test(`${kernel} (${B}): KVM_SET_XCRS rules (§3.5)`, () => {
    const { host, kvm, vm } = setup(kernel);
    const vcpu = createVcpu(host, vm);
    // before KVM_SET_CPUID2 only x87 is guest-supported
    assert.is(host.ioctl(vcpu, K.KVM_SET_XCRS, xcrs(1n)), 0);
    assert.is(host.ioctl(vcpu, K.KVM_SET_XCRS, xcrs(3n)), -EINVAL);
    assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid2(withoutPku(supportedCpuid(host, kvm)))), 0);
    const cases: [bigint, number, string][] = [
      [0x7n, 0, "FP|SSE|YMM"],
      [0xe7n, 0, "with AVX-512"],
      [0x2n, -EINVAL, "no FP"],
      [0x5n, -EINVAL, "YMM without SSE"],
      [0x27n, -EINVAL, "partial AVX-512"],
      [0xc3n, -EINVAL, "AVX-512 without YMM"],
      [0x207n, -EINVAL, "PKRU not in guest CPUID"],
      [0x20007n, -EINVAL, "AMX not in guest CPUID"],
    ];
    for (const [x, want, what] of cases) assert.is(host.ioctl(vcpu, K.KVM_SET_XCRS, xcrs(x)), want, what);
    assert.is(host.ioctl(vcpu, K.KVM_SET_XCRS, xcrs(0x7n, { flags: 1 })), -EINVAL, "flags");
    assert.is(host.ioctl(vcpu, K.KVM_SET_XCRS, xcrs(0x7n, { nr: 17 })), -EINVAL, "nr_xcrs > KVM_MAX_XCRS");
    assert.is(host.ioctl(vcpu, K.KVM_SET_XCRS, xcrs(0x2n, { xcr: 1 })), 0, "XCRs other than XCR0 are ignored");
    const out = new Uint8Array(392);
    assert.is(host.ioctl(vcpu, K.KVM_GET_XCRS, out), 0);
    assert.is(dv(out).getUint32(0, true), 1);
    assert.is(dv(out).getBigUint64(16, true), 0xe7n, "the last valid XCR0");
  });

  test(`${kernel} (${B}): S5 — AMX state stuffed with XFD[18]=1, then KVM_RUN`, () => {
    const { host, kvm, vm } = setup(kernel);
    // a real-mode guest: HLT at 0x1000
    const RAM = 0x10000, mem = host.alloc(RAM);
    host.mem(mem + 0x1000, 1)[0] = 0xf4;
    const region = new Uint8Array(32), rd = dv(region);
    rd.setBigUint64(16, BigInt(RAM), true);
    rd.setBigUint64(24, BigInt(mem), true);
    assert.is(host.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, region), 0);
    assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0);
    const vcpu = createVcpu(host, vm);
    assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid2(supportedCpuid(host, kvm))), 0);
    const sregs = new Uint8Array(312);
    assert.is(host.ioctl(vcpu, K.KVM_GET_SREGS, sregs), 0);
    dv(sregs).setBigUint64(0, 0n, true);                    // cs.base
    dv(sregs).setUint16(12, 0, true);                        // cs.selector
    assert.is(host.ioctl(vcpu, K.KVM_SET_SREGS, sregs), 0);
    const regs = new Uint8Array(144);
    dv(regs).setBigUint64(128, 0x1000n, true);
    dv(regs).setBigUint64(136, 2n, true);
    assert.is(host.ioctl(vcpu, K.KVM_SET_REGS, regs), 0);
    // XFD[18] = 1 (host-initiated KVM_SET_MSRS)
    const msrs = new Uint8Array(8 + 16), md = dv(msrs);
    md.setUint32(0, 1, true);
    md.setUint32(8, 0x1c4, true);
    md.setBigUint64(16, XTILE_DATA, true);
    assert.is(host.ioctl(vcpu, K.KVM_SET_MSRS, msrs), 1);
    // tile data in the image, XSTATE_BV[18] = 1
    const img = getXsave2(host, kvm, vcpu);
    assert.is(img.length, 11008);
    dv(img).setBigUint64(512, bvOf(img) | XTILE_DATA, true);
    img.fill(0x5a, 2816, 2816 + 8192);                       // XTILE_DATA at its standard-format offset
    assert.is(host.ioctl(vcpu, K.KVM_SET_XSAVE, img), 0, "every behaviour accepts the image");
    const after = getXsave2(host, kvm, vcpu);
    assert.is((bvOf(after) & XTILE_DATA) !== 0n, B !== "B4", "B4 cleared XSTATE_BV[18] because XFD[18]=1");
    assert.is(host.oops, null);

    const r = host.ioctl(vcpu, K.KVM_RUN, 0);
    if (B === "B4") {
      assert.is(r, 0);
      assert.is(dv(host.mmap(vcpu)!).getUint32(8, true), KVM_EXIT.HLT);
      assert.is(host.oops, null);
      assert.is(host.ioctl(vcpu, K.KVM_RUN, 0), 0, "the VM lives on");
      return;
    }
    assert.is(r, -EIO, "KVM_RUN of the oopsing vCPU");
    const o = host.oops;
    assert.ok(o, "oops report");
    assert.is(o!.die, "unexpected #NM exception");
    assert.is(o!.vector, 7);
    assert.is(o!.rip, "restore_fpregs_from_fpstate");
    assert.is(o!.xfd & XTILE_DATA, XTILE_DATA);
    assert.is(o!.xstate_bv & XTILE_DATA, XTILE_DATA);
    assert.is(o!.caller, "fpu_swap_kvm_fpstate");
    assert.ok(o!.callTrace.includes("kvm_arch_vcpu_ioctl_run"));
    assert.ok(o!.text.includes("Oops: unexpected #NM exception"));
    assert.ok(host.dmesg.some((l) => l.includes("Oops: unexpected #NM exception")));
    assert.is(host.oopses.length, 1);
    assert.is(host.ioctl(vcpu, K.KVM_RUN, 0), -EIO, "the VM is dead");
    assert.is(host.oopses.length, 1, "no second oops");
  });
}

test("the kernel option selects the behaviour: KVM_SET_XSAVE of PKRU differs between 6.5 and 6.8 on the same Host options", () => {
  const res = KERNELS.map((kernel) => {
    const { host, kvm, vm } = setup(kernel);
    const vcpu = createVcpu(host, vm);
    host.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid2(withoutPku(supportedCpuid(host, kvm))));
    const img = getXsave2(host, kvm, vcpu);
    dv(img).setBigUint64(512, bvOf(img) | PKRU, true);
    return host.ioctl(vcpu, K.KVM_SET_XSAVE, img);
  });
  assert.equal(res, [0, -EINVAL, 0, 0]);
});

/** a real-mode guest at 0x1000 on vCPU `id` of an existing VM (CR4 bits added through KVM_SET_SREGS) */
function realModeVcpu(host: Host, kvm: number, vm: number, mem: number, id: number, entry: number, cr4: bigint): number {
  const vcpu = createVcpu(host, vm, id);
  assert.is(host.ioctl(vcpu, K.KVM_SET_CPUID2, cpuid2(supportedCpuid(host, kvm))), 0);
  const sregs = new Uint8Array(312);
  assert.is(host.ioctl(vcpu, K.KVM_GET_SREGS, sregs), 0);
  dv(sregs).setBigUint64(0, 0n, true);
  dv(sregs).setUint16(12, 0, true);
  dv(sregs).setBigUint64(248, dv(sregs).getBigUint64(248, true) | cr4, true);
  assert.is(host.ioctl(vcpu, K.KVM_SET_SREGS, sregs), 0);
  const regs = new Uint8Array(144);
  dv(regs).setBigUint64(128, BigInt(entry), true);
  dv(regs).setBigUint64(136, 2n, true);
  assert.is(host.ioctl(vcpu, K.KVM_SET_REGS, regs), 0);
  return vcpu;
}
function guestMemory(host: Host, vm: number, code: [number, number[]][]): number {
  const RAM = 0x10000, mem = host.alloc(RAM);
  for (const [at, bytes] of code) host.mem(mem + at, bytes.length).set(bytes);
  const region = new Uint8Array(32);
  dv(region).setBigUint64(16, BigInt(RAM), true);
  dv(region).setBigUint64(24, BigInt(mem), true);
  assert.is(host.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, region), 0);
  return mem;
}
const exitReason = (host: Host, vcpu: number) => dv(host.mmap(vcpu)!).getUint32(8, true);

// movd eax,xmm0 ; inc eax ; movd xmm1,eax ; hlt
const XMM_INC = [0x66, 0x0f, 0x7e, 0xc0, 0x66, 0x40, 0x66, 0x0f, 0x6e, 0xc8, 0xf4];
// xor ecx,ecx ; mov eax,7 ; xor edx,edx ; xsetbv ; hlt
const XSETBV7 = [0x66, 0x31, 0xc9, 0x66, 0xb8, 0x07, 0x00, 0x00, 0x00, 0x66, 0x31, 0xd2, 0x0f, 0x01, 0xd1, 0xf4];

for (const cpu of ["sapphire-rapids", "epyc-genoa"]) for (const kernel of KERNELS) {
  test(`${cpu} ${kernel}: guest registers move through KVM_SET_XSAVE → KVM_RUN → KVM_GET_XSAVE2, two vCPUs kept apart`, () => {
    const { host, kvm, vm } = setup(kernel, cpu);
    guestMemory(host, vm, [[0x1000, XMM_INC]]);
    const a = realModeVcpu(host, kvm, vm, 0, 0, 0x1000, 0x200n), b = realModeVcpu(host, kvm, vm, 0, 1, 0x1000, 0x200n);
    for (const [v, x] of [[a, 0x11223344], [b, 0x55667788]] as const) {
      const img = getXsave2(host, kvm, v);
      dv(img).setBigUint64(512, bvOf(img) | 2n, true);
      dv(img).setUint32(160, x, true);                     // XMM0
      assert.is(host.ioctl(v, K.KVM_SET_XSAVE, img), 0);
    }
    assert.is(host.ioctl(a, K.KVM_RUN, 0), 0);
    assert.is(exitReason(host, a), KVM_EXIT.HLT);
    assert.is(host.ioctl(b, K.KVM_RUN, 0), 0);
    assert.is(exitReason(host, b), KVM_EXIT.HLT);
    for (const [v, x] of [[a, 0x11223345], [b, 0x55667789]] as const) {
      const regs = new Uint8Array(144);
      assert.is(host.ioctl(v, K.KVM_GET_REGS, regs), 0);
      assert.is(dv(regs).getBigUint64(0, true) & 0xffffffffn, BigInt(x), "rax");
      const out = getXsave2(host, kvm, v);
      assert.is(dv(out).getUint32(176, true), x, "XMM1 written by the guest");
      assert.is(dv(out).getUint32(160, true), x - 1, "XMM0 as set");
    }
    assert.is(host.oops, null);
  });

  test(`${cpu} ${kernel}: a guest XSETBV is what KVM_GET_XCRS reports; a guest without one keeps XCR0 = FP`, () => {
    const { host, kvm, vm } = setup(kernel, cpu);
    guestMemory(host, vm, [[0x1000, XSETBV7], [0x2000, [0xf4]]]);
    const a = realModeVcpu(host, kvm, vm, 0, 0, 0x1000, 0x40200n), b = realModeVcpu(host, kvm, vm, 0, 1, 0x2000, 0x40200n);
    assert.is(host.ioctl(a, K.KVM_RUN, 0), 0);
    assert.is(exitReason(host, a), KVM_EXIT.HLT);
    assert.is(host.ioctl(b, K.KVM_RUN, 0), 0);
    const x = new Uint8Array(392);
    assert.is(host.ioctl(a, K.KVM_GET_XCRS, x), 0);
    assert.is(dv(x).getBigUint64(16, true), 7n);
    assert.is(host.ioctl(b, K.KVM_GET_XCRS, x), 0);
    assert.is(dv(x).getBigUint64(16, true), 1n, "not the host's XCR0");
  });
}

// mov ecx,0x1c4 ; mov eax,0x40000 ; xor edx,edx ; wrmsr ; hlt
const WRMSR_XFD18 = [0x66, 0xb9, 0xc4, 0x01, 0x00, 0x00, 0x66, 0xb8, 0x00, 0x00, 0x04, 0x00, 0x66, 0x31, 0xd2, 0x0f, 0x30, 0xf4];

for (const kernel of KERNELS) {
  const B = BEHAVIOUR[kernel];
  test(`${kernel} (${B}): the guest's own WRMSR(IA32_XFD) reaches KVM_GET_MSRS, and stuffing XSTATE_BV[18] afterwards crashes B1–B3`, () => {
    const { host, kvm, vm } = setup(kernel);
    guestMemory(host, vm, [[0x1000, WRMSR_XFD18], [0x1020, [0xf4]]]);
    assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0);
    const v = realModeVcpu(host, kvm, vm, 0, 0, 0x1000, 0x40200n);
    assert.is(host.ioctl(v, K.KVM_RUN, 0), 0);
    assert.is(exitReason(host, v), KVM_EXIT.HLT);
    const msrs = new Uint8Array(24);
    dv(msrs).setUint32(0, 1, true);
    dv(msrs).setUint32(8, 0x1c4, true);
    assert.is(host.ioctl(v, K.KVM_GET_MSRS, msrs), 1);
    assert.is(dv(msrs).getBigUint64(16, true), XTILE_DATA, "XFD as the guest wrote it");
    const img = getXsave2(host, kvm, v);
    dv(img).setBigUint64(512, bvOf(img) | XTILE_DATA, true);
    assert.is(host.ioctl(v, K.KVM_SET_XSAVE, img), 0);
    const r = host.ioctl(v, K.KVM_RUN, 0);           // resumes at the HLT after the first one
    if (B === "B4") { assert.is(r, 0); assert.is(host.oops, null); return; }
    assert.is(r, -EIO);
    assert.is(host.oops!.xfd & XTILE_DATA, XTILE_DATA);
  });
}

// mov ecx,0x1c5 ; mov eax,0x40000 ; xor edx,edx ; wrmsr ; hlt ; xor eax,eax ; wrmsr ; hlt
const WRMSR_XFD_ERR = [0x66, 0xb9, 0xc5, 0x01, 0x00, 0x00, 0x66, 0xb8, 0x00, 0x00, 0x04, 0x00, 0x66, 0x31, 0xd2, 0x0f, 0x30, 0xf4, 0x66, 0x31, 0xc0, 0x0f, 0x30, 0xf4];

test("the guest's WRMSR(IA32_XFD_ERR) is guest_fpu.xfd_err: set, then cleared again, as KVM_GET_MSRS reports", () => {
  const { host, kvm, vm } = setup("6.19");
  guestMemory(host, vm, [[0x1000, WRMSR_XFD_ERR]]);
  assert.is(host.archPrctl(ARCH.REQ_XCOMP_GUEST_PERM, ARCH.XCOMP_TILEDATA), 0);
  const v = realModeVcpu(host, kvm, vm, 0, 0, 0x1000, 0x40200n);
  const xfdErr = () => {
    const m = new Uint8Array(24);
    dv(m).setUint32(0, 1, true);
    dv(m).setUint32(8, 0x1c5, true);
    assert.is(host.ioctl(v, K.KVM_GET_MSRS, m), 1);
    return dv(m).getBigUint64(16, true);
  };
  assert.is(host.ioctl(v, K.KVM_RUN, 0), 0);
  assert.is(xfdErr(), XTILE_DATA);
  assert.is(host.ioctl(v, K.KVM_RUN, 0), 0);
  assert.is(exitReason(host, v), KVM_EXIT.HLT);
  assert.is(xfdErr(), 0n, "the guest's clearing write is not undone at the next VM-entry");
});

test.run();
