// KVM_GET_XSAVE / KVM_SET_XSAVE under B1–B4: the §8 rows on user_xfeatures, the GET mask,
// the PKRU leak, SET acceptance, and scenarios S1 (PKU → no-PKU migration), S2 (old → new
// kernel), S3 (a failed SET leaves the vCPU untouched) and S6 (state_test's dummy vCPU).
// Host-P = icelake-server (XCR0 0x2E7, PKU), Host-N = skylake-server (XCR0 0xE7).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BEHAVIOURS, rig, vcpu, cpuid, setupVcpu, runGuest, bvOf, setBv, type Rig } from "./harness";
import { DATA_BASE } from "../native/native";
import {
  kvm_arch_vcpu_ioctl_run, kvm_arch_vcpu_ioctl_get_xsave, kvm_arch_vcpu_ioctl_set_xsave, kvm_set_cpuid,
  fpu_xstate_prctl, ARCH_REQ_XCOMP_GUEST_PERM, EINVAL, type KvmVcpu,
} from "../../hypervisor/fpu";

const HOST_P = "icelake-server", HOST_N = "skylake-server";
const PKRU_OFF = 2688;
const PATTERN = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
// fldpi; movups xmm1,[rdi]; vmovups ymm2,[rdi]
const GUEST_FP_SSE_AVX = "d9eb" + "0f100f" + "c5fc1017";

const get = (v: KvmVcpu) => { const g = kvm_arch_vcpu_ioctl_get_xsave(v); assert.is(g.r, 0); return g.buf!; };
const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o, true);

/** S1 steps 1–4 on Host-P under behaviour `b`: returns the KVM_GET_XSAVE snapshot */
function sourceSnapshot(b: string): { r: Rig; v: KvmVcpu; snap: Uint8Array } {
  const r = rig(HOST_P, b);
  const v = setupVcpu(r, cpuid(HOST_P, ["pku"]), 0xE7n);
  assert.is(v.guest_supported_xcr0, 0xE7n);
  const rc = kvm_arch_vcpu_ioctl_run(v, () => { runGuest(r, v, GUEST_FP_SSE_AVX, [{ addr: DATA_BASE, bytes: PATTERN }]); return 0; });
  assert.is(rc, 0);
  // the kernel image after the exit-time XSAVES: the used components plus PKRU (host PKRU ≠ 0)
  const kbv = r.host.image(v.guest_fpu.fpstate).xstate_bv;
  assert.is(kbv & 0x207n, 0x207n, `kernel XSTATE_BV ${kbv.toString(16)}`);
  return { r, v, snap: get(v) };
}

for (const b of BEHAVIOURS) {
  test(`${b}: §8 row 1 — fpstate.user_xfeatures after KVM_SET_CPUID2(CPUID-nopku) on Host-P`, () => {
    const r = rig(HOST_P, b);
    const v = vcpu(r);
    assert.is(v.guest_fpu.fpstate.user_xfeatures, 0x2E7n, "before any CPUID: the host default");
    assert.is(kvm_set_cpuid(v, cpuid(HOST_P, ["pku"])), 0);
    assert.is(v.guest_fpu.fpstate.user_xfeatures, b === "B2" ? 0xE7n : 0x2E7n);
    assert.is(kvm_set_cpuid(v, cpuid(HOST_P)), 0, "a second, larger CPUID");
    assert.is(v.guest_fpu.fpstate.user_xfeatures, 0x2E7n);
    assert.is(kvm_set_cpuid(v, []), 0, "B2 shrinks destructively");
    assert.is(v.guest_fpu.fpstate.user_xfeatures, b === "B2" ? 0x3n : 0x2E7n);
  });

  test(`${b}: S1 source — GET_XSAVE of a PKU-less guest on a PKU host ${b === "B1" ? "leaks" : "does not leak"} XSTATE_BV[PKRU]`, () => {
    const { snap } = sourceSnapshot(b);
    const bv = bvOf(snap);
    assert.is(bv & 0x7n, 0x7n, "FP/SSE/YMM in use");
    assert.is((bv >> 9n) & 1n, b === "B1" ? 1n : 0n, `XSTATE_BV ${bv.toString(16)}`);
    assert.is(u32(snap, PKRU_OFF), 0, "PKRU area: arch.pkru (0) in B1, zero otherwise");
    assert.equal(snap.subarray(160 + 16, 160 + 32), PATTERN.subarray(0, 16), "XMM1");
    assert.equal(snap.subarray(576 + 32, 576 + 48), PATTERN.subarray(16, 32), "YMM2 upper half");
    assert.is(new DataView(snap.buffer).getUint16(0, true), 0x37f, "FCW");
  });

  test(`${b}: S1 destination Host-N — a B1 snapshot is -EINVAL, a B2–B4 snapshot loads`, () => {
    const leaky = sourceSnapshot("B1").snap, clean = sourceSnapshot("B3").snap;
    const r = rig(HOST_N, b);
    const v = setupVcpu(r, cpuid(HOST_N), 0xE7n);
    const before = r.host.image(v.guest_fpu.fpstate).bytes.slice();
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, leaky), -EINVAL, "bit 9 not in kvm_caps.supported_xcr0");
    assert.equal(r.host.image(v.guest_fpu.fpstate).bytes, before, "S3: validation before any write — the image is untouched");
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, clean), 0);
    const back = get(v);
    assert.equal(back.subarray(160 + 16, 160 + 32), PATTERN.subarray(0, 16));
    assert.equal(back.subarray(576 + 32, 576 + 48), PATTERN.subarray(16, 32));
    assert.is(bvOf(back), bvOf(clean));
  });

  test(`${b}: S2 destination Host-P with CPUID-nopku — B1 snapshot ${b === "B2" ? "-EINVAL" : "accepted"}; later GET ${b === "B1" ? "leaks again" : "is sanitised"}`, () => {
    const leaky = sourceSnapshot("B1").snap.slice();
    new DataView(leaky.buffer).setUint32(PKRU_OFF, 0x1234, true);
    const r = rig(HOST_P, b);
    const v = setupVcpu(r, cpuid(HOST_P, ["pku"]), 0xE7n);
    v.pkru = 0x99;
    const rc = kvm_arch_vcpu_ioctl_set_xsave(v, leaky);
    if (b === "B2") {
      assert.is(rc, -EINVAL, "validate_user_xstate_header: bit 9 ∉ user_xfeatures (0xE7)");
      assert.is(v.guest_fpu.fpstate.user_xfeatures, 0xE7n);
      assert.is(v.pkru, 0x99, "S3: arch.pkru untouched by the failed SET");
      assert.is(v.xcr0, 0xE7n);
      return;
    }
    assert.is(rc, 0);
    assert.is(v.pkru, 0x1234, "arch.pkru := the buffer's PKRU");
    const back = get(v);
    assert.is((bvOf(back) >> 9n) & 1n, b === "B1" ? 1n : 0n);
    assert.is(u32(back, PKRU_OFF), b === "B1" ? 0x1234 : 0);
    assert.equal(back.subarray(160 + 16, 160 + 32), PATTERN.subarray(0, 16));
    // B3/B4: the sanitised snapshot now migrates to Host-N
    if (b !== "B1") {
      const n = rig(HOST_N, b);
      const w = setupVcpu(n, cpuid(HOST_N), 0xE7n);
      assert.is(kvm_arch_vcpu_ioctl_set_xsave(w, back), 0);
    }
  });

  test(`${b}: S6 state_test dummy vCPU — SET before CPUID, SET after KVM_SET_CPUID2(nent=0), GET before CPUID`, () => {
    const r = rig(HOST_P, b);
    const { snap } = sourceSnapshot("B1");
    const n = vcpu(r);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(n, snap), 0, "step 1");
    const all = snap.slice(); setBv(all, 0x2E7n);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(n, all), 0, "step 2: every supported bit");
    const g = get(n);
    assert.is(bvOf(g), b === "B1" || b === "B2" ? 0x2E7n : 0x3n, "GET before any CPUID: B3/B4 show only FP/SSE");
    assert.is(kvm_set_cpuid(n, []), 0);
    assert.is(n.guest_supported_xcr0, 0n);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(n, all), b === "B2" ? -EINVAL : 0, "step 3 (B2 fails here)");
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(n, snap), b === "B2" ? -EINVAL : 0, "step 4");
    const fpsse = snap.slice(); setBv(fpsse, 0x3n);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(n, fpsse), 0, "FP/SSE are always accepted (a1020a25e697)");
  });

  test(`${b}: SET rules common to all behaviours — host-unsupported bits, AMX without CPUID, header and MXCSR checks`, () => {
    const n = rig(HOST_N, b);
    const vn = setupVcpu(n, cpuid(HOST_N), 0xE7n);
    const base = get(vn);
    const t = (bv: bigint, edit?: (d: DataView) => void) => {
      const x = base.slice(); setBv(x, bv); if (edit) edit(new DataView(x.buffer)); return kvm_arch_vcpu_ioctl_set_xsave(vn, x);
    };
    assert.is(t(0x207n), -EINVAL, "PKRU on a host without PKU");
    assert.is(t(0x8n | 0x10n | 3n), -EINVAL, "MPX: not in host XCR0");
    assert.is(t(0x3n, (d) => d.setBigUint64(520, 1n << 63n | 3n, true)), -EINVAL, "XCOMP_BV ≠ 0");
    assert.is(t(0x3n, (d) => d.setBigUint64(528 + 40, 1n, true)), -EINVAL, "reserved header word");
    assert.is(t(0x3n, (d) => d.setUint32(24, 0x10000, true)), -EINVAL, "MXCSR reserved bit");
    assert.is(t(0x0n, (d) => d.setUint32(24, 0x10000, true)), 0, "MXCSR not checked without FP/SSE/YMM");
    assert.is(t(0x4n, (d) => d.setUint32(24, 0x10000, true)), -EINVAL, "YMM alone checks MXCSR");
    // YMM without FP: MXCSR and MXCSR_MASK still land in the image
    assert.is(t(0x4n, (d) => d.setUint32(24, 0x1f00, true)), 0);
    assert.is(r32(n, vn, 24), 0x1f00);
    // AMX data when AMX is not enabled for the guest: rejected everywhere (SPR, permission granted)
    const a = rig("sapphire-rapids", b);
    assert.is(fpu_xstate_prctl(a.host, a.task, ARCH_REQ_XCOMP_GUEST_PERM, 18).r, 0);
    const va = setupVcpu(a, cpuid("sapphire-rapids", ["amx_tile"]), 0x2E7n);
    const xa = get(va); setBv(xa, 0x40003n);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(va, xa), -EINVAL, "XTILE_DATA ∉ user_xfeatures");
    setBv(xa, 0x20003n);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(va, xa), b === "B2" ? -EINVAL : 0, "XTILE_CFG: host default feature, not guest-exposed");
  });

  test(`${b}: PKRU bookkeeping — SET without bit 9 leaves arch.pkru; B1 writes arch.pkru into the area even when the bit is clear`, () => {
    const r = rig(HOST_P, b);
    const v = setupVcpu(r, cpuid(HOST_P), 0x2E7n);
    v.pkru = 0x5a5a;
    const g = get(v);
    assert.is(bvOf(g), 0n);
    assert.is(u32(g, PKRU_OFF), b === "B1" ? 0x5a5a : 0);
    const x = g.slice(); setBv(x, 0x3n); new DataView(x.buffer).setUint32(PKRU_OFF, 0x1111, true);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, x), 0);
    assert.is(v.pkru, 0x5a5a);
    setBv(x, 0x203n);
    assert.is(kvm_arch_vcpu_ioctl_set_xsave(v, x), 0);
    assert.is(v.pkru, 0x1111);
    const h = get(v);
    assert.is(bvOf(h), 0x203n, "PKU guest: bit 9 is guest-supported in every behaviour");
    assert.is(u32(h, PKRU_OFF), 0x1111);
  });
}

function r32(r: Rig, v: KvmVcpu, off: number): number { return r.host.image(v.guest_fpu.fpstate).u32(off); }

test.run();
