// The uapi layer: every request number computed with _IOC equals the table in
// shared/reference/kernel-abi.md §1.1 (parsed from the document itself, with
// a copy of its values below so the test runs where /work/shared is absent),
// and every struct encoder/decoder round-trips at the documented offsets.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import * as K from "../../hypervisor/uapi/ioctl";
import * as S from "../../hypervisor/uapi/structs";

// kernel-abi.md §1.1 (name → value)
const TABLE: Record<string, number> = {
  KVM_GET_API_VERSION: 0x0000AE00, KVM_CREATE_VM: 0x0000AE01, KVM_GET_MSR_INDEX_LIST: 0xC004AE02, KVM_CHECK_EXTENSION: 0x0000AE03,
  KVM_GET_VCPU_MMAP_SIZE: 0x0000AE04, KVM_GET_SUPPORTED_CPUID: 0xC008AE05, KVM_CREATE_VCPU: 0x0000AE41,
  KVM_SET_USER_MEMORY_REGION: 0x4020AE46, KVM_RUN: 0x0000AE80, KVM_GET_REGS: 0x8090AE81, KVM_SET_REGS: 0x4090AE82,
  KVM_GET_SREGS: 0x8138AE83, KVM_SET_SREGS: 0x4138AE84, KVM_GET_MSRS: 0xC008AE88, KVM_SET_MSRS: 0x4008AE89,
  KVM_GET_FPU: 0x81A0AE8C, KVM_SET_FPU: 0x41A0AE8D, KVM_SET_CPUID2: 0x4008AE90, KVM_GET_CPUID2: 0xC008AE91,
  KVM_ENABLE_CAP: 0x4068AEA3, KVM_GET_XSAVE: 0x9000AEA4, KVM_SET_XSAVE: 0x5000AEA5, KVM_GET_XCRS: 0x8188AEA6,
  KVM_SET_XCRS: 0x4188AEA7, KVM_GET_XSAVE2: 0x9000AECF, KVM_GET_DEVICE_ATTR: 0x4018AEE2, KVM_HAS_DEVICE_ATTR: 0x4018AEE3,
  // not in §1.1; values from include/uapi/linux/kvm.h arithmetic checked by hand
  KVM_INTERRUPT: 0x4004AE86, KVM_SET_GUEST_DEBUG: 0x4048AE9B, KVM_GET_VCPU_EVENTS: 0x8040AE9F, KVM_SET_VCPU_EVENTS: 0x4040AEA0,
  KVM_GET_MP_STATE: 0x8004AE98, KVM_SET_MP_STATE: 0x4004AE99, KVM_GET_DEBUGREGS: 0x8080AEA1, KVM_SET_DEBUGREGS: 0x4080AEA2,
};

test("request numbers equal the reference table", () => {
  for (const [name, v] of Object.entries(TABLE)) assert.is((K as unknown as Record<string, number>)[name], v >>> 0, name);
});

const DOC = "/work/shared/reference/kernel-abi.md";
test("request numbers equal kernel-abi.md §1.1 as written in the document", () => {
  if (!existsSync(DOC)) { console.log(`SKIP kernel-abi.md cross-check: ${DOC} not present`); return; }
  const md = readFileSync(DOC, "utf8");
  const sec = md.slice(md.indexOf("### 1.1"), md.indexOf("### 1.2"));
  let n = 0;
  for (const line of sec.split("\n")) {
    const m = /^\| ([A-Z_0-9 /]+) \| `[^|]*` \| ([0-9A-Fx /]+) \|/.exec(line);
    if (!m) continue;
    const names = m[1].split("/").map((s) => s.trim());
    const vals = m[2].split("/").map((s) => parseInt(s.trim(), 16));
    names.forEach((nm, i) => { assert.is((K as unknown as Record<string, number>)[nm], vals[i] >>> 0, nm); n++; });
  }
  assert.ok(n >= 27, `parsed ${n} rows`);
});

test("_IOC field extractors invert _IOC", () => {
  assert.is(K._IOC_DIR(K.KVM_GET_MSRS), 3);
  assert.is(K._IOC_SIZE(K.KVM_GET_SREGS), 312);
  assert.is(K._IOC_TYPE(K.KVM_RUN), 0xae);
  assert.is(K._IOC_NR(K.KVM_GET_XSAVE2), 0xcf);
});

const rnd = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (Math.random() * 256) | 0; return b; };

test("kvm_regs: 18 u64 in the kernel's order (rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags)", () => {
  const r = S.decodeRegs(S.encodeRegs({ rbx: 0x1111n, rsp: 0x2222n, r15: 0x3333n, rip: 0x4444n, rflags: 0x202n }));
  assert.is(r.rbx, 0x1111n); assert.is(r.rsp, 0x2222n); assert.is(r.r15, 0x3333n);
  const b = S.encodeRegs(r), d = S.dvOf(b);
  assert.is(b.length, 144);
  assert.is(d.getBigUint64(8, true), 0x1111n);
  assert.is(d.getBigUint64(48, true), 0x2222n);
  assert.is(d.getBigUint64(120, true), 0x3333n);
  assert.is(d.getBigUint64(128, true), 0x4444n);
  assert.is(d.getBigUint64(136, true), 0x202n);
  for (let i = 0; i < 50; i++) { const x = rnd(144); assert.equal(S.encodeRegs(S.decodeRegs(x)), x); }
});

test("kvm_sregs: segments @0..168 (24 bytes), dtables @192/@208, crs @224.., efer @264, apic_base @272, bitmap @280", () => {
  for (let i = 0; i < 50; i++) {
    const x = rnd(312);
    for (let s = 0; s < 8; s++) x[24 * s + 23] = 0;          // kvm_segment.padding
    for (const o of [192, 208]) x.fill(0, o + 10, o + 16);   // kvm_dtable.padding
    assert.equal(S.encodeSregs(S.decodeSregs(x)), x);
  }
  const b = new Uint8Array(312), d = S.dvOf(b);
  d.setBigUint64(24 * 0, 0xffff0000n, true); d.setUint16(12, 0xf000, true); b[14] = 11; b[15] = 1; b[18] = 1;
  d.setBigUint64(224, 0x60000010n, true); d.setBigUint64(264, 0x500n, true); d.setBigUint64(272, 0xfee00900n, true);
  d.setUint16(200, 0xffff, true);
  const s = S.decodeSregs(b);
  assert.is(s.cs.base, 0xffff0000n); assert.is(s.cs.selector, 0xf000); assert.is(s.cs.type, 11); assert.is(s.cs.present, 1); assert.is(s.cs.s, 1);
  assert.is(s.cr0, 0x60000010n); assert.is(s.efer, 0x500n); assert.is(s.apic_base, 0xfee00900n); assert.is(s.gdt.limit, 0xffff);
});

test("kvm_msrs / kvm_msr_list / kvm_cpuid2 / kvm_userspace_memory_region / kvm_xcrs / kvm_vcpu_events / kvm_guest_debug", () => {
  const m = S.encodeMsrs([{ index: 0xc0000080, data: 0x500n }, { index: 0x10, data: 1n << 63n }]);
  assert.is(m.length, 8 + 32);
  assert.is(S.dvOf(m).getUint32(24, true), 0x10);
  assert.equal(S.decodeMsrs(m), [{ index: 0xc0000080, data: 0x500n }, { index: 0x10, data: 1n << 63n }]);
  const l = S.encodeMsrList(3); S.dvOf(l).setUint32(8, 0x1b, true);
  assert.equal(S.decodeMsrList(l), [0, 0x1b, 0]);
  const e = [{ fn: 0xd, idx: 1, flags: 1, eax: 0xf, ebx: 2, ecx: 3, edx: 0xffffffff }];
  const c = S.encodeCpuid2(e, 4);
  assert.is(c.length, 8 + 160);
  assert.is(S.dvOf(c).getUint32(0, true), 4);
  assert.is(S.dvOf(c).getUint32(8 + 12, true), 0xf);
  S.dvOf(c).setUint32(0, 1, true);
  assert.equal(S.decodeCpuid2(c), e);
  const r = { slot: 0x10002, flags: 2, guest_phys_addr: 0x100000n, memory_size: 0x200000n, userspace_addr: 0x7f0000000000n };
  const rb = S.encodeUserMemoryRegion(r);
  assert.is(rb.length, 32);
  assert.is(S.dvOf(rb).getBigUint64(24, true), 0x7f0000000000n);
  assert.equal(S.decodeUserMemoryRegion(rb), r);
  const x = { nr_xcrs: 2, flags: 0, xcrs: [{ xcr: 0, value: 0x2e7n }, { xcr: 1, value: 5n }] };
  const xb = S.encodeXcrs(x);
  assert.is(xb.length, 392);
  assert.is(S.dvOf(xb).getBigUint64(16, true), 0x2e7n);
  assert.is(S.dvOf(xb).getUint32(24, true), 1);
  assert.equal(S.decodeXcrs(xb), x);
  for (let i = 0; i < 50; i++) {
    const v = rnd(64); v[15] = 0; v.fill(0, 29, 55);
    assert.equal(S.encodeVcpuEvents(S.decodeVcpuEvents(v)), v);
  }
  const g = S.encodeGuestDebug({ control: 0x10003, debugreg: [1n, 2n, 3n, 4n, 0n, 0n, 0xffff0ff0n, 0x400n] });
  assert.is(g.length, 72);
  assert.is(S.dvOf(g).getBigUint64(8 + 56, true), 0x400n);
  assert.equal(S.decodeGuestDebug(g).debugreg[6], 0xffff0ff0n);
});

test("kvm_run header and exit unions at the uapi offsets", () => {
  const run = new Uint8Array(12288), d = S.dvOf(run);
  d.setUint32(8, 2, true); run[13] = 1; d.setBigUint64(16, 5n, true); d.setBigUint64(24, 0xfee00900n, true);
  run[32] = 1; run[33] = 2; d.setUint16(34, 0x3f8, true); d.setUint32(36, 1, true); d.setBigUint64(40, 4096n, true);
  assert.equal(S.decodeRunHeader(run), { request_interrupt_window: 0, immediate_exit: 0, exit_reason: 2, ready_for_interrupt_injection: 0, if_flag: 1, flags: 0, cr8: 5n, apic_base: 0xfee00900n });
  assert.equal(S.decodeRunIo(run), { direction: 1, size: 2, port: 0x3f8, count: 1, data_offset: 4096n });
  d.setBigUint64(32, 0xfed00000n, true); d.setUint32(48, 4, true); run[52] = 1;
  const m = S.decodeRunMmio(run);
  assert.is(m.phys_addr, 0xfed00000n); assert.is(m.len, 4); assert.is(m.is_write, 1); assert.is(m.data.byteOffset - run.byteOffset, 40);
  d.setUint32(32, 3, true); d.setBigUint64(40, 0x1000n, true); d.setBigUint64(48, 0xffff0ff0n, true); d.setBigUint64(56, 0x400n, true);
  assert.equal(S.decodeRunDebug(run), { exception: 3, pc: 0x1000n, dr6: 0xffff0ff0n, dr7: 0x400n });
  assert.is(S.RUN.SIZE, 2352);
});

test.run();
