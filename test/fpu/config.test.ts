// fpu_state_config, xstate permissions (arch_prctl), KVM_CAP_XSAVE2, KVM_SET_CPUID2's fpstate
// realloc, fresh fpstate contents, XCR0 rules and the XFD/XFD_ERR/XSS MSR paths
// (kernel-abi.md §3.1–3.5, §3.8; the §8 rows "KVM_GET_XSAVE when AMX enabled" and "KVM_CAP_XSAVE2").
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BEHAVIOURS, rig, vcpu, cpuid, setupVcpu, bvOf } from "./harness";
import {
  fpu_xstate_prctl, kvm_cap_xsave2, kvm_set_cpuid, kvm_arch_vcpu_ioctl_get_xsave, kvm_arch_vcpu_ioctl_get_xsave2,
  kvm_arch_vcpu_ioctl_set_xsave, __kvm_set_xcr, kvm_emulate_xsetbv, kvm_vcpu_ioctl_x86_get_xcrs, kvm_vcpu_ioctl_x86_set_xcrs,
  kvm_set_msr_common, kvm_get_msr_common, kvm_arch_vcpu_create, KvmVm, kvm_x86_xcomp_guest_supp, FPU_GUEST_PERM_LOCKED,
  ARCH_GET_XCOMP_SUPP, ARCH_GET_XCOMP_GUEST_PERM, ARCH_REQ_XCOMP_GUEST_PERM, ARCH_GET_XCOMP_PERM, ARCH_REQ_XCOMP_PERM,
  MSR_IA32_XFD, MSR_IA32_XFD_ERR, MSR_IA32_XSS, EBUSY, EINVAL, EOPNOTSUPP, EPERM, FCW_DEFAULT, MXCSR_DEFAULT,
} from "../../hypervisor/fpu";

const SPR = "sapphire-rapids";

test("fpu_kernel_cfg / fpu_user_cfg / kvm_caps on Sapphire Rapids (Host-A) and Ice Lake (Host-P)", () => {
  const { host } = rig(SPR, "B4");
  assert.is(host.host_xcr0, 0x602E7n);
  assert.is(host.fpu_user_cfg.max_features, 0x602E7n);
  assert.is(host.fpu_user_cfg.default_features, 0x202E7n, "XTILE_DATA is off by default");
  assert.is(host.fpu_user_cfg.default_size, 2816);
  assert.is(host.fpu_user_cfg.max_size, 11008);
  assert.is(host.kvm_caps.supported_xcr0, 0x602E7n);
  assert.is(host.fpu_kernel_cfg.default_features, 0x202E7n);
  assert.ok(host.has_xsaves, "SPR kernels use XSAVES: compacted fpstate");
  assert.is(host.init_fpstate.xfd, 0x40000n, "host tasks run with XFD[18]=1");
  assert.is(host.rdmsr_xfd(), 0x40000n);
  assert.is(host.rdpkru(), 0x55555554);
  assert.is(kvm_x86_xcomp_guest_supp(host), 0x602E7n);
  const p = rig("icelake-server", "B4").host;
  assert.is(p.host_xcr0, 0x2E7n);
  assert.is(p.fpu_user_cfg.default_size, 2696);
  assert.not.ok(p.has_xfd);
});

for (const b of BEHAVIOURS) {
  test(`${b}: arch_prctl guest permission: supported set, request, -EBUSY after the first vCPU, KVM_CAP_XSAVE2`, () => {
    const r = rig(SPR, b);
    const t = r.task;
    assert.equal(fpu_xstate_prctl(r.host, t, ARCH_GET_XCOMP_SUPP, 0), { r: 0, value: 0x602E7n });
    assert.equal(fpu_xstate_prctl(r.host, t, ARCH_GET_XCOMP_GUEST_PERM, 0), { r: 0, value: 0x202E7n });
    assert.is(kvm_cap_xsave2(r.host, t), 4096, "before the permission: AMX hidden");
    assert.is(fpu_xstate_prctl(r.host, t, ARCH_REQ_XCOMP_GUEST_PERM, 17).r, -EOPNOTSUPP, "TILECFG is not requestable");
    assert.is(fpu_xstate_prctl(r.host, t, ARCH_REQ_XCOMP_GUEST_PERM, 64).r, -EINVAL);
    assert.is(fpu_xstate_prctl(r.host, t, 0x1099, 0).r, -EINVAL);
    assert.is(fpu_xstate_prctl(r.host, t, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, 0);
    // B1 (5.17-rc5) stored only the requested bit
    assert.is(fpu_xstate_prctl(r.host, t, ARCH_GET_XCOMP_GUEST_PERM, 0).value, b === "B1" ? 0x40000n : 0x602E7n);
    assert.is(fpu_xstate_prctl(r.host, t, ARCH_GET_XCOMP_PERM, 0).value, 0x202E7n, "the non-guest permission is separate");
    assert.is(kvm_cap_xsave2(r.host, t), 11008);
    assert.is(fpu_xstate_prctl(r.host, t, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, 0, "already permitted");
    // a second process: vCPU first, then the request → -EBUSY; the non-guest request still works
    const q = r.host.spawnProcess("late");
    r.host.switchTo(q.task);
    const v = kvm_arch_vcpu_create(new KvmVm(r.host, q.task), q.task);
    assert.ok(typeof v !== "number");
    assert.ok(q.proc.guest_perm.__state_perm & FPU_GUEST_PERM_LOCKED);
    assert.is(fpu_xstate_prctl(r.host, q.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, -EBUSY);
    assert.is(fpu_xstate_prctl(r.host, q.task, ARCH_REQ_XCOMP_PERM, 18).r, 0);
    // no AMX on the host
    const p = rig("icelake-server", b);
    assert.is(fpu_xstate_prctl(p.host, p.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, -EOPNOTSUPP);
  });

  test(`${b}: KVM_SET_CPUID2 with AMX: -EPERM without permission; with it the fpstate grows and KVM_GET_XSAVE is -EINVAL`, () => {
    const r = rig(SPR, b);
    const v0 = vcpu(r);
    assert.is(kvm_set_cpuid(v0, cpuid(SPR)), -EPERM, "no ARCH_REQ_XCOMP_GUEST_PERM");
    const r2 = rig(SPR, b);
    assert.is(fpu_xstate_prctl(r2.host, r2.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, 0);
    const v = vcpu(r2);
    assert.is(v.guest_fpu.uabi_size, b === "B1" ? 2816 : 4096, "uabi_size base (5.17: fpu_user_cfg.default_size)");
    assert.is(kvm_arch_vcpu_ioctl_get_xsave(v).r, 0, "GET_XSAVE works before AMX is enabled");
    const old = v.guest_fpu.fpstate;
    assert.is(kvm_set_cpuid(v, cpuid(SPR)), 0);
    const fps = v.guest_fpu.fpstate;
    assert.is.not(fps, old, "fpstate_realloc");
    assert.is(v.guest_fpu.uabi_size, 11008);
    assert.is(fps.xfeatures, 0x602E7n);
    assert.is(fps.xfd, 0n);
    assert.is(fps.user_xfeatures, 0x602E7n, "B2: guest XCR0|FPSSE; others: default | XTILE_DATA — the same here");
    assert.is(v.guest_supported_xcr0, 0x602E7n);
    assert.is(kvm_arch_vcpu_ioctl_get_xsave(v).r, -EINVAL, "§8: KVM_GET_XSAVE when AMX enabled in CPUID");
    const g2 = kvm_arch_vcpu_ioctl_get_xsave2(v);
    assert.is(g2.buf.length, 11008);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, new Uint8Array(4096)), -14, "SET_XSAVE reads uabi_size bytes: -EFAULT");
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, g2.buf), 0);
  });

  test(`${b}: a fresh guest fpstate reads back as the init image`, () => {
    const r = rig(SPR, b);
    const v = vcpu(r);
    const { r: e, buf } = kvm_arch_vcpu_ioctl_get_xsave(v);
    assert.is(e, 0);
    const dv = new DataView(buf!.buffer);
    assert.is(dv.getUint16(0, true), FCW_DEFAULT);
    assert.is(dv.getUint32(24, true), MXCSR_DEFAULT);
    assert.is(dv.getUint32(28, true), 0xffff, "MXCSR_MASK of the host");
    assert.is(bvOf(buf!), 0n);
    assert.is(dv.getBigUint64(520, true), 0n, "XCOMP_BV: standard format");
    assert.is(dv.getBigUint64(464, true), 0x602E7n, "sw_reserved: fpu_user_cfg.max_features");
    assert.ok(buf!.subarray(32, 416).every((x) => x === 0));
    assert.ok(buf!.subarray(576).every((x) => x === 0));
    // the kernel image is XSAVES-compacted with every fpstate feature
    const im = r.host.image(v.guest_fpu.fpstate);
    assert.is(im.xcomp_bv, (1n << 63n) | 0x202E7n);
    assert.is(v.xcr0, 1n);
  });

  test(`${b}: XCR0 rules (§3.5): __kvm_set_xcr, KVM_SET_XCRS/GET_XCRS, guest XSETBV`, () => {
    const r = rig(SPR, b);
    const v = vcpu(r);
    assert.is(__kvm_set_xcr(v, 0, 0x7n), 1, "before KVM_SET_CPUID2 only FP is allowed");
    assert.is(__kvm_set_xcr(v, 0, 0x1n), 0);
    assert.is(fpu_xstate_prctl(r.host, r.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, -EBUSY);
    assert.is(kvm_set_cpuid(v, cpuid(SPR, ["amx_tile"])), 0);
    assert.is(v.guest_supported_xcr0, 0x2E7n);
    const bad: [bigint, string][] = [[0x2n, "no FP"], [0x5n, "YMM without SSE"], [0x60007n, "AMX not in guest CPUID"],
      [0x27n, "partial AVX-512"], [0xC7n, "AVX-512 without OPMASK"], [0xE3n, "AVX-512 without YMM"], [0xFn, "BNDREGS: not supported"]];
    for (const [x, why] of bad) assert.is(__kvm_set_xcr(v, 0, x), 1, why);
    assert.is(__kvm_set_xcr(v, 1, 0x3n), 1, "index 1");
    for (const x of [0x1n, 0x3n, 0x7n, 0xE7n, 0x2E7n, 0x201n]) assert.is(__kvm_set_xcr(v, 0, x), 0, x.toString(16));
    assert.is(kvm_vcpu_ioctl_x86_set_xcrs(v, { nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 0xE7n }] }), 0);
    assert.equal(kvm_vcpu_ioctl_x86_get_xcrs(v), { nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 0xE7n }] });
    assert.is(kvm_vcpu_ioctl_x86_set_xcrs(v, { nr_xcrs: 1, flags: 1, xcrs: [{ xcr: 0, value: 0x7n }] }), -EINVAL, "flags");
    assert.is(kvm_vcpu_ioctl_x86_set_xcrs(v, { nr_xcrs: 17, flags: 0, xcrs: [] }), -EINVAL, "nr_xcrs > 16");
    assert.is(kvm_vcpu_ioctl_x86_set_xcrs(v, { nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 0x5n }] }), -EINVAL);
    assert.is(kvm_vcpu_ioctl_x86_set_xcrs(v, { nr_xcrs: 2, flags: 0, xcrs: [{ xcr: 1, value: 5n }, { xcr: 0, value: 0x7n }] }), 0, "other indices ignored");
    assert.is(v.xcr0, 0x7n);
    assert.is(kvm_vcpu_ioctl_x86_set_xcrs(v, { nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 5, value: 5n }] }), 0, "no XCR0 entry");
    assert.is(kvm_emulate_xsetbv(v, 3, 0, 0x7n), "#GP", "CPL 3");
    assert.is(kvm_emulate_xsetbv(v, 0, 0, 0x207n), "ok");
    assert.is(kvm_emulate_xsetbv(v, 0, 0, 0x60207n), "#GP");
    assert.is(v.cpuid.find((e) => e.fn === 0xd && e.idx === 0)!.ebx, 2696, "CPUID.(0xD,0).EBX follows XCR0");
  });

  test(`${b}: IA32_XFD / IA32_XFD_ERR / IA32_XSS MSR rules (§3.8)`, () => {
    const r = rig(SPR, b);
    assert.is(fpu_xstate_prctl(r.host, r.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, 0);
    const n = vcpu(r);
    assert.is(kvm_set_cpuid(n, cpuid(SPR, ["amx_tile"])), 0);
    assert.is(kvm_set_msr_common(n, MSR_IA32_XFD, 0n, false), 1, "guest without XFD in CPUID: #GP");
    assert.is(kvm_set_msr_common(n, MSR_IA32_XFD, 0n, true), 0, "host-initiated 0 is fine");
    assert.is(kvm_set_msr_common(n, MSR_IA32_XFD, 0x40000n, true), 1, "not a guest-supported dynamic feature");
    const v = setupVcpu(r, cpuid(SPR), 0x602E7n);
    assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0x20000n, false), 1, "XTILE_CFG is not XFD-able");
    assert.is(kvm_set_msr_common(v, MSR_IA32_XFD, 0x40000n, false), 0);
    assert.is(v.guest_fpu.fpstate.xfd, 0x40000n);
    assert.ok(v.xfd_no_write_intercept, "the first non-zero write ends interception");
    assert.equal(kvm_get_msr_common(v, MSR_IA32_XFD, false), { r: 0, data: 0x40000n });
    assert.is(kvm_set_msr_common(v, MSR_IA32_XFD_ERR, 0x40000n, false), 0);
    assert.is(kvm_set_msr_common(v, MSR_IA32_XFD_ERR, 0x1n, false), 1);
    assert.equal(kvm_get_msr_common(v, MSR_IA32_XFD_ERR, true), { r: 0, data: 0x40000n });
    assert.is(kvm_set_msr_common(v, MSR_IA32_XSS, 0n, false), 0);
    assert.is(kvm_set_msr_common(v, MSR_IA32_XSS, 0x800n, false), 1, "no supervisor states supported");
    assert.equal(kvm_get_msr_common(n, MSR_IA32_XFD, false), { r: 1, data: 0n });
  });
}

test.run();
