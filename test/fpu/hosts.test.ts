// The model on other hosts: a host without XSAVES (haswell: standard-format kernel image), the
// AMD layout (epyc-genoa: AVX-512 at AMD's offsets, read from host CPUID), KVM_GET/SET_FPU and
// the leaf-0xD filtering of KVM_GET_SUPPORTED_CPUID.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { rig, cpuid, setupVcpu, runGuest, bvOf } from "./harness";
import { DATA_BASE } from "../native/native";
import {
  kvm_arch_vcpu_ioctl_run, kvm_arch_vcpu_ioctl_get_xsave, kvm_arch_vcpu_ioctl_set_xsave, kvm_arch_vcpu_ioctl_get_fpu,
  kvm_arch_vcpu_ioctl_set_fpu, kvm_supported_cpuid_0xd, fpu_xstate_prctl, ARCH_REQ_XCOMP_GUEST_PERM,
} from "../../hypervisor/fpu";

const PAT = Uint8Array.from({ length: 64 }, (_, i) => 0x80 + i);

test("haswell (no XSAVES): the kernel image is standard format; GET/SET round-trip AVX state", () => {
  const r = rig("haswell", "B3");
  assert.not.ok(r.host.has_xsaves);
  const v = setupVcpu(r, cpuid("haswell"), 0x7n);
  assert.is(r.host.image(v.guest_fpu.fpstate).xcomp_bv, 0n);
  // vmovups ymm3,[rdi]
  assert.is(kvm_arch_vcpu_ioctl_run(v, () => { runGuest(r, v, "c5fc101f", [{ addr: DATA_BASE, bytes: PAT }]); return 0; }), 0);
  const g = kvm_arch_vcpu_ioctl_get_xsave(v).buf!;
  assert.is(bvOf(g) & 0x6n, 0x6n);
  assert.equal(g.subarray(160 + 48, 160 + 64), PAT.subarray(0, 16), "XMM3");
  assert.equal(g.subarray(576 + 48, 576 + 64), PAT.subarray(16, 32), "YMM3 upper");
  const w = setupVcpu(rig("haswell", "B3"), cpuid("haswell"), 0x7n);
  assert.is(kvm_arch_vcpu_ioctl_set_xsave(w, g), 0);
  assert.equal(kvm_arch_vcpu_ioctl_get_xsave(w).buf!, g);
});

test("epyc-genoa: AVX-512 components at the host's (AMD) offsets", () => {
  const r = rig("epyc-genoa", "B4");
  assert.is(r.host.host_xcr0, 0xE7n);
  const v = setupVcpu(r, cpuid("epyc-genoa"), 0xE7n);
  // vmovups zmm4,[rdi] (EVEX.512.0F.W0 10 /r)
  assert.is(kvm_arch_vcpu_ioctl_run(v, () => { runGuest(r, v, "62f17c481027", [{ addr: DATA_BASE, bytes: PAT }]); return 0; }), 0);
  const g = kvm_arch_vcpu_ioctl_get_xsave(v).buf!;
  assert.is(bvOf(g) & 0x46n, 0x46n, "SSE, YMM, ZMM_Hi256");
  assert.equal(g.subarray(896 + 4 * 32, 896 + 5 * 32), PAT.subarray(32, 64), "ZMM4 bits 511:256 at AMD's ZMM_Hi256 offset 896");
});

test("KVM_GET_FPU / KVM_SET_FPU move the FXSAVE fields only (no MXCSR, XSTATE_BV untouched)", () => {
  const r = rig("sapphire-rapids", "B4");
  const v = setupVcpu(r, cpuid("sapphire-rapids", ["amx_tile"]), 0x2E7n);
  const f = kvm_arch_vcpu_ioctl_get_fpu(v).buf;
  const d = new DataView(f.buffer);
  assert.is(d.getUint16(128, true), 0x37f);
  d.setUint16(128, 0x27f, true);
  f.fill(0x11, 152, 168);                 // XMM0
  d.setUint32(408, 0xffff, true);         // mxcsr: ignored
  assert.is(kvm_arch_vcpu_ioctl_set_fpu(v, f), 0);
  const g = kvm_arch_vcpu_ioctl_get_xsave(v).buf!;
  assert.is(bvOf(g), 0n, "XSTATE_BV not touched: GET writes init values");
  const im = r.host.image(v.guest_fpu.fpstate);
  assert.is(im.u16(0), 0x27f);
  assert.is(im.u32(24), 0x1f80);
  assert.equal(kvm_arch_vcpu_ioctl_get_fpu(v).buf.subarray(152, 168), new Uint8Array(16).fill(0x11));
});

test("KVM_GET_SUPPORTED_CPUID leaf 0xD: AMX only after ARCH_REQ_XCOMP_GUEST_PERM", () => {
  const r = rig("sapphire-rapids", "B4");
  const before = kvm_supported_cpuid_0xd(r.host, r.task, cpuid("sapphire-rapids"));
  const d0 = before.find((e) => e.fn === 0xd && e.idx === 0)!;
  assert.is(d0.eax, 0x2E7);
  assert.is(d0.ecx, 2696);
  assert.not.ok(before.some((e) => e.fn === 0xd && (e.idx === 17 || e.idx === 18)));
  assert.is(fpu_xstate_prctl(r.host, r.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, 0);
  const after = kvm_supported_cpuid_0xd(r.host, r.task, cpuid("sapphire-rapids"));
  const a0 = after.find((e) => e.fn === 0xd && e.idx === 0)!;
  assert.is(a0.eax, 0x602E7);
  assert.is(a0.ebx, 11008);
  const t = after.find((e) => e.fn === 0xd && e.idx === 18)!;
  assert.is(t.ebx, 2816); assert.is(t.eax, 8192); assert.is(t.ecx & 4, 4, "XFD-capable");
  assert.is(after.find((e) => e.fn === 0xd && e.idx === 1)!.eax & 0x10, 0x10, "XFD");
});

test.run();
