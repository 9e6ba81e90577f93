// KVM's side of the guest FPU: arch/x86/kvm/{x86.c,cpuid.c,vmx/vmx.c} as far as
// XCR0, XSAVE state, XFD/XFD_ERR/XSS and the FPU swap around KVM_RUN go
// (shared/reference/kernel-abi.md §3.1, §3.3–3.9, §4–7). This is the library the
// /dev/kvm ioctl layer (hypervisor/kvm, hypervisor/uapi) calls; each ioctl's call
// point is documented at the function it should call.
//
// Return conventions: kernel style. ioctl-level functions return 0 or -errno;
// __kvm_set_xcr / kvm_set_msr_* return 0 (ok) or 1 (invalid, #GP for the guest).
// Functions that XRSTOR the guest fpstate (kvm_load_guest_fpu, vcpu_enter_guest_fpu,
// kvm_arch_vcpu_ioctl_run) may throw HostOops: the host kernel oopsed, the calling
// thread died inside KVM_RUN, and the VM (KvmVm.dead) and its process are dead.
import type { CpuidEntry } from "../models/cpuid";
import {
  FpuGuest, FpuHost, HostTask, fpu_alloc_guest_fpstate, fpu_free_guest_fpstate, fpu_swap_kvm_fpstate,
  fpu_enable_guest_xfd_features, fpu_update_guest_xfd, fpu_copy_guest_fpstate_to_uabi, fpu_copy_uabi_to_guest_fpstate,
  fpu_sync_guest_vmexit_xfd_state, switch_fpu_return, xstate_get_guest_group_perm,
} from "./fpu";
import {
  XFEATURE_MASK_FP, XFEATURE_MASK_SSE, XFEATURE_MASK_YMM, XFEATURE_MASK_BNDREGS, XFEATURE_MASK_BNDCSR,
  XFEATURE_MASK_AVX512, XFEATURE_MASK_XTILE, XFEATURE_MASK_XTILE_CFG, XFEATURE_MASK_XTILE_DATA, XFEATURE_MASK_PKRU,
  XFEATURE_MASK_USER_DYNAMIC, XFEATURE_MASK_FPSSE, XFEATURE_MASK_EXTEND, KVM_XSAVE_SIZE,
  MSR_IA32_XFD, MSR_IA32_XFD_ERR, MSR_IA32_XSS, EINVAL, EFAULT, ENOMEM, EIO,
} from "./xstate";

/** struct kvm, as far as this model needs it: dead after the owning process oopsed. */
export class KvmVm {
  dead = false;
  constructor(readonly host: FpuHost, readonly owner: HostTask) { owner.proc.vms.push(this); }
}

/** The FPU/XSAVE part of struct kvm_vcpu / kvm_vcpu_arch. */
export class KvmVcpu {
  readonly guest_fpu = new FpuGuest();
  /** arch.xcr0 (reset value XFEATURE_MASK_FP) */
  xcr0 = XFEATURE_MASK_FP;
  guest_supported_xcr0 = 0n;
  /** arch.pkru: the guest's PKRU while it is not in hardware */
  pkru = 0;
  host_pkru = 0;
  ia32_xss = 0n;
  /** VMX: XFD writes pass through after the first non-zero guest write; #NM is then intercepted */
  xfd_no_write_intercept = false;
  nm_intercept = false;
  cpuid: CpuidEntry[] = [];
  /** guest CR4.OSXSAVE / CR4.PKE, kept current by the register layer (KVM_SET_SREGS, MOV CR4) */
  cr4_osxsave = false;
  cr4_pke = false;
  /** set after the first VM-entry (KVM_SET_CPUID2 then only accepts identical tables) */
  has_run = false;
  constructor(readonly kvm: KvmVm, readonly task: HostTask) {}
  get host(): FpuHost { return this.kvm.host; }
}

// ---------------------------------------------------------------------------
// enumeration (KVM_CHECK_EXTENSION, KVM_GET_SUPPORTED_CPUID, KVM_GET_DEVICE_ATTR)

/** kvm_get_filtered_xcr0(): supported XCR0 with dynamic features limited to the process's guest permission */
export function kvm_get_filtered_xcr0(host: FpuHost, task: HostTask): bigint {
  let x = host.kvm_caps.supported_xcr0;
  if (x & XFEATURE_MASK_USER_DYNAMIC) {
    x &= xstate_get_guest_group_perm(task) | ~XFEATURE_MASK_USER_DYNAMIC;
    if (!(x & XFEATURE_MASK_XTILE_DATA)) x &= ~XFEATURE_MASK_XTILE_CFG;
  }
  return x;
}

/** KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2): bytes KVM_GET_XSAVE2 / KVM_SET_XSAVE transfer (≥ 4096) */
export function kvm_cap_xsave2(host: FpuHost, task: HostTask): number {
  // 5.17-rc5: xstate_required_size(supported_xcr0 & xstate_get_guest_group_perm(), false)
  const x = host.kernel.id === "B1"
    ? host.kvm_caps.supported_xcr0 & xstate_get_guest_group_perm(task)
    : kvm_get_filtered_xcr0(host, task);
  return Math.max(KVM_XSAVE_SIZE, host.layout.requiredSize(x, false));
}

/** KVM_GET_DEVICE_ATTR(/dev/kvm, group 0, KVM_X86_XCOMP_GUEST_SUPP): the u64 written to attr.addr */
export function kvm_x86_xcomp_guest_supp(host: FpuHost): bigint { return host.kvm_caps.supported_xcr0; }

// ---------------------------------------------------------------------------
// vCPU lifetime

/**
 * kvm_arch_vcpu_create() (FPU part) + kvm_vcpu_reset(): KVM_CREATE_VCPU calls this in the
 * calling thread. Allocates the guest fpstate, locks ARCH_REQ_XCOMP_GUEST_PERM for the
 * process, XCR0 = FP, XSS = 0. Returns the vCPU or -ENOMEM.
 */
export function kvm_arch_vcpu_create(kvm: KvmVm, task: HostTask = kvm.host.current): KvmVcpu | number {
  const v = new KvmVcpu(kvm, task);
  if (!fpu_alloc_guest_fpstate(kvm.host, v.guest_fpu, task)) return -ENOMEM;
  kvm_vcpu_reset(v, false);
  return v;
}

/** kvm_vcpu_reset() FPU/XCR part: XCR0 = FP, IA32_XSS = 0 (the fpstate contents are not touched here) */
export function kvm_vcpu_reset(v: KvmVcpu, _init_event: boolean): void {
  __kvm_set_xcr(v, 0, XFEATURE_MASK_FP);
  v.ia32_xss = 0n;
}

/** kvm_arch_vcpu_destroy() FPU part: WARNs if the vCPU thread died with the guest fpstate loaded */
export function kvm_arch_vcpu_destroy(v: KvmVcpu): void { fpu_free_guest_fpstate(v.host, v.guest_fpu); }

// ---------------------------------------------------------------------------
// KVM_SET_CPUID2 (cpuid.c)

function findEntry(e: CpuidEntry[], fn: number, idx = 0): CpuidEntry | undefined {
  return e.find((x) => x.fn === fn && (!(x.flags & 1) || x.idx === idx));
}

/** cpuid_get_supported_xcr0(): guest CPUID 0xD.0 EDX:EAX limited to what KVM supports */
export function cpuid_get_supported_xcr0(host: FpuHost, entries: CpuidEntry[]): bigint {
  const e = findEntry(entries, 0xd, 0);
  if (!e) return 0n;
  return ((BigInt(e.edx >>> 0) << 32n) | BigInt(e.eax >>> 0)) & host.kvm_caps.supported_xcr0;
}

/** guest_cpuid_has(X86_FEATURE_XFD) = CPUID.(0xD,1).EAX[4] */
export function guest_cpuid_has_xfd(v: KvmVcpu): boolean { return ((findEntry(v.cpuid, 0xd, 1)?.eax ?? 0) & 16) !== 0; }
/** guest_cpuid_has(X86_FEATURE_XSAVES) = CPUID.(0xD,1).EAX[3] */
export function guest_cpuid_has_xsaves(v: KvmVcpu): boolean { return ((findEntry(v.cpuid, 0xd, 1)?.eax ?? 0) & 8) !== 0; }

/**
 * The XSAVE part of kvm_check_cpuid(): enable dynamic features (AMX) named in guest CPUID 0xD.0,
 * which reallocates the guest fpstate (fresh init contents) and grows uabi_size. 0 or -EPERM
 * (no ARCH_REQ_XCOMP_GUEST_PERM) / -EFAULT.
 */
export function kvm_check_cpuid(v: KvmVcpu, entries: CpuidEntry[]): number {
  const e = findEntry(entries, 0xd, 0);
  if (!e) return 0;
  const xf = ((BigInt(e.edx >>> 0) << 32n) | BigInt(e.eax >>> 0)) & XFEATURE_MASK_USER_DYNAMIC;
  if (!xf) return 0;
  return fpu_enable_guest_xfd_features(v.host, v.guest_fpu, xf, v.task);
}

/** The XSAVE part of kvm_vcpu_after_set_cpuid(): guest_supported_xcr0, and B2's user_xfeatures (§8.1 seam 1) */
export function kvm_vcpu_after_set_cpuid(v: KvmVcpu): void {
  v.guest_supported_xcr0 = cpuid_get_supported_xcr0(v.host, v.cpuid);
  const fps = v.guest_fpu.fpstate;
  fps.user_xfeatures = v.host.kernel.fpu.userXfeaturesAfterSetCpuid(v.guest_supported_xcr0, fps.user_xfeatures);
}

/**
 * KVM_SET_CPUID2 → kvm_set_cpuid(), XSAVE-relevant steps in kernel order: (after the ioctl layer's
 * nent/E2BIG/EFAULT checks and, once the vCPU has run, kvm_cpuid_check_equal) kvm_check_cpuid's
 * dynamic-feature enabling, then install the entries and kvm_vcpu_after_set_cpuid. 0 or -errno.
 */
export function kvm_set_cpuid(v: KvmVcpu, entries: CpuidEntry[]): number {
  const r = kvm_check_cpuid(v, entries);
  if (r) return r;
  v.cpuid = entries.map((e) => ({ ...e }));
  kvm_vcpu_after_set_cpuid(v);
  return 0;
}

// ---------------------------------------------------------------------------
// XCR0 (x86.c)

/** __kvm_set_xcr(vcpu, index, xcr): 0 = set, 1 = invalid (rules of §3.5 in order) */
export function __kvm_set_xcr(v: KvmVcpu, index: number, xcr: bigint): number {
  if (index !== 0) return 1;
  if (!(xcr & XFEATURE_MASK_FP)) return 1;
  if ((xcr & XFEATURE_MASK_YMM) && !(xcr & XFEATURE_MASK_SSE)) return 1;
  const valid_bits = v.guest_supported_xcr0 | XFEATURE_MASK_FP;
  if (xcr & ~valid_bits) return 1;
  if (!(xcr & XFEATURE_MASK_BNDREGS) !== !(xcr & XFEATURE_MASK_BNDCSR)) return 1;
  if (xcr & XFEATURE_MASK_AVX512) {
    if (!(xcr & XFEATURE_MASK_YMM)) return 1;
    if ((xcr & XFEATURE_MASK_AVX512) !== XFEATURE_MASK_AVX512) return 1;
  }
  if ((xcr & XFEATURE_MASK_XTILE) && (xcr & XFEATURE_MASK_XTILE) !== XFEATURE_MASK_XTILE) return 1;
  const old = v.xcr0;
  v.xcr0 = xcr;
  if ((xcr ^ old) & XFEATURE_MASK_EXTEND) kvm_update_cpuid_runtime(v);
  return 0;
}

/**
 * kvm_update_cpuid_runtime() XSAVE part: CPUID.(0xD,0).EBX and (0xD,1).EBX follow XCR0 (and XSS).
 * `entries` defaults to the stored table; KVM_SET_CPUID2 first applies it to the incoming one
 * (__kvm_update_cpuid_runtime(vcpu, e2, nent)), and KVM_GET_CPUID2 shows the result.
 */
export function kvm_update_cpuid_runtime(v: KvmVcpu, entries: CpuidEntry[] = v.cpuid): void {
  const d0 = findEntry(entries, 0xd, 0);
  if (d0) d0.ebx = v.host.layout.requiredSize(v.xcr0, false);
  const d1 = findEntry(entries, 0xd, 1);
  if (d1 && (d1.eax & 0xa)) d1.ebx = v.host.layout.requiredSize(v.xcr0 | v.ia32_xss, true);
}

/**
 * Guest XSETBV exit → kvm_emulate_xsetbv(): "#GP" (inject #GP(0), RIP not advanced) when CPL ≠ 0
 * or __kvm_set_xcr fails, else "ok" (skip the instruction). #UD for CR4.OSXSAVE=0 comes from
 * the CPU before any exit.
 */
export function kvm_emulate_xsetbv(v: KvmVcpu, cpl: number, ecx: number, value: bigint): "ok" | "#GP" {
  if (cpl !== 0 || __kvm_set_xcr(v, ecx >>> 0, value)) return "#GP";
  return "ok";
}

export interface KvmXcrs { nr_xcrs: number; flags: number; xcrs: { xcr: number; value: bigint }[] }

/** KVM_GET_XCRS → kvm_vcpu_ioctl_x86_get_xcrs(): always 0 */
export function kvm_vcpu_ioctl_x86_get_xcrs(v: KvmVcpu): KvmXcrs {
  if (!v.host.has_xsave) return { nr_xcrs: 0, flags: 0, xcrs: [] };
  return { nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: v.xcr0 }] };
}

/** KVM_SET_XCRS → kvm_vcpu_ioctl_x86_set_xcrs(): 0 or -EINVAL; `xcrs` holds the first nr_xcrs entries */
export function kvm_vcpu_ioctl_x86_set_xcrs(v: KvmVcpu, x: KvmXcrs): number {
  if (!v.host.has_xsave) return -EINVAL;
  if (x.nr_xcrs > 16 || x.flags) return -EINVAL;
  for (let i = 0; i < x.nr_xcrs; i++) {
    const e = x.xcrs[i];
    if (e && e.xcr === 0) return __kvm_set_xcr(v, 0, e.value) ? -EINVAL : 0;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// KVM_GET_XSAVE / KVM_GET_XSAVE2 / KVM_SET_XSAVE

/** kvm_vcpu_ioctl_x86_get_xsave2(vcpu, state, size): B3/B4 pass guest_supported_xcr0 | FP/SSE (§8.1 seam 2) */
export function kvm_vcpu_ioctl_x86_get_xsave2(v: KvmVcpu, state: Uint8Array, size: number): void {
  if (v.guest_fpu.fpstate.is_confidential) return;
  const mask = v.host.kernel.fpu.getMask(v.guest_supported_xcr0);
  fpu_copy_guest_fpstate_to_uabi(v.host, v.guest_fpu, state, size, mask, v.pkru);
}

/** kvm_vcpu_ioctl_x86_get_xsave(vcpu, guest_xsave): the 4096-byte region */
export function kvm_vcpu_ioctl_x86_get_xsave(v: KvmVcpu, region: Uint8Array): void {
  kvm_vcpu_ioctl_x86_get_xsave2(v, region, KVM_XSAVE_SIZE);
}

/**
 * kvm_vcpu_ioctl_x86_set_xsave(vcpu, guest_xsave): `buf` is the kernel's copy (memdup_user of
 * uabi_size bytes); B4 clears XFD-disabled bits in it first (§8.1 seam 3). 0 or -EINVAL.
 */
export function kvm_vcpu_ioctl_x86_set_xsave(v: KvmVcpu, buf: Uint8Array): number {
  const fps = v.guest_fpu.fpstate;
  if (fps.is_confidential) return 0;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  dv.setBigUint64(512, v.host.kernel.fpu.setPreprocessBv(dv.getBigUint64(512, true), fps.xfd), true);
  const pkru = { value: v.pkru };
  const r = fpu_copy_uabi_to_guest_fpstate(v.host, v.guest_fpu, buf, v.host.kvm_caps.supported_xcr0, pkru);
  v.pkru = pkru.value;
  return r;
}

/**
 * ioctl KVM_GET_XSAVE (kvm_arch_vcpu_ioctl case): -EINVAL when uabi_size > 4096 (AMX enabled in
 * CPUID), else the 4096-byte struct kvm_xsave to copy_to_user.
 */
export function kvm_arch_vcpu_ioctl_get_xsave(v: KvmVcpu): { r: number; buf?: Uint8Array } {
  if (v.guest_fpu.uabi_size > KVM_XSAVE_SIZE) return { r: -EINVAL };
  const buf = new Uint8Array(KVM_XSAVE_SIZE);
  kvm_vcpu_ioctl_x86_get_xsave(v, buf);
  return { r: 0, buf };
}

/** ioctl KVM_GET_XSAVE2: uabi_size bytes (userspace sized its buffer with KVM_CAP_XSAVE2) */
export function kvm_arch_vcpu_ioctl_get_xsave2(v: KvmVcpu): { r: number; buf: Uint8Array } {
  const size = v.guest_fpu.uabi_size;
  const buf = new Uint8Array(size);
  kvm_vcpu_ioctl_x86_get_xsave2(v, buf, size);
  return { r: 0, buf };
}

/**
 * ioctl KVM_SET_XSAVE: memdup_user(argp, uabi_size) — `user` is what userspace can provide from
 * argp; fewer than uabi_size readable bytes → -EFAULT. The user's memory is never modified.
 */
export function kvm_arch_vcpu_ioctl_set_xsave(v: KvmVcpu, user: Uint8Array): number {
  const size = v.guest_fpu.uabi_size;
  if (user.length < size) return -EFAULT;
  return kvm_vcpu_ioctl_x86_set_xsave(v, user.slice(0, size));
}

// ---------------------------------------------------------------------------
// MSRs (kvm_set_msr_common / kvm_get_msr_common, VMX interception)

/** kvm_guest_supported_xfd() */
export function kvm_guest_supported_xfd(v: KvmVcpu): bigint { return v.guest_supported_xcr0 & XFEATURE_MASK_USER_DYNAMIC; }

/** true for the MSRs this module owns: route them here from KVM_SET_MSRS/KVM_GET_MSRS and WRMSR/RDMSR exits */
export function kvm_fpu_msr(index: number): boolean {
  return index === MSR_IA32_XFD || index === MSR_IA32_XFD_ERR || index === MSR_IA32_XSS;
}

/**
 * kvm_set_msr_common() for IA32_XFD / IA32_XFD_ERR / IA32_XSS: 0 ok, 1 fail (guest #GP; for
 * KVM_SET_MSRS the loop stops at this entry). The first non-zero guest XFD write switches VMX to
 * pass-through XFD and #NM interception (xfd_no_write_intercept).
 */
export function kvm_set_msr_common(v: KvmVcpu, index: number, data: bigint, host_initiated: boolean): number {
  switch (index) {
    case MSR_IA32_XFD:
      if (!host_initiated && !guest_cpuid_has_xfd(v)) return 1;
      if (data & ~kvm_guest_supported_xfd(v)) return 1;
      fpu_update_guest_xfd(v.host, v.guest_fpu, data);
      if (data !== 0n && !v.xfd_no_write_intercept) {    // vmx_set_msr
        v.xfd_no_write_intercept = true;
        v.nm_intercept = true;
      }
      return 0;
    case MSR_IA32_XFD_ERR:
      if (!host_initiated && !guest_cpuid_has_xfd(v)) return 1;
      if (data & ~kvm_guest_supported_xfd(v)) return 1;
      v.guest_fpu.xfd_err = data;
      return 0;
    case MSR_IA32_XSS:
      if (!host_initiated && !guest_cpuid_has_xsaves(v)) return 1;
      if (data & ~v.host.host_xss) return 1;          // kvm_caps.supported_xss (no supervisor features modelled)
      v.ia32_xss = data;
      kvm_update_cpuid_runtime(v);
      return 0;
  }
  return 1;
}

/** kvm_get_msr_common() for IA32_XFD / IA32_XFD_ERR / IA32_XSS: {r: 0|1, data} */
export function kvm_get_msr_common(v: KvmVcpu, index: number, host_initiated: boolean): { r: number; data: bigint } {
  switch (index) {
    case MSR_IA32_XFD:
      if (!host_initiated && !guest_cpuid_has_xfd(v)) return { r: 1, data: 0n };
      // with pass-through the live value is in hardware while the guest fpstate is loaded
      if (v.xfd_no_write_intercept && v.guest_fpu.fpstate.in_use && !v.task.TIF_NEED_FPU_LOAD) fpu_sync_guest_vmexit_xfd_state(v.host);
      return { r: 0, data: v.guest_fpu.fpstate.xfd };
    case MSR_IA32_XFD_ERR:
      if (!host_initiated && !guest_cpuid_has_xfd(v)) return { r: 1, data: 0n };
      return { r: 0, data: v.guest_fpu.xfd_err };
    case MSR_IA32_XSS:
      if (!host_initiated && !guest_cpuid_has_xsaves(v)) return { r: 1, data: 0n };
      return { r: 0, data: v.ia32_xss };
  }
  return { r: 1, data: 0n };
}

/** MSR indices for KVM_GET_MSR_INDEX_LIST that this module owns */
export function kvm_fpu_msr_index_list(host: FpuHost): number[] {
  const l: number[] = [];
  if (host.has_xsaves) l.push(MSR_IA32_XSS);
  if (host.has_xfd) l.push(MSR_IA32_XFD, MSR_IA32_XFD_ERR);
  return l;
}

// ---------------------------------------------------------------------------
// KVM_RUN (x86.c kvm_arch_vcpu_ioctl_run / vcpu_enter_guest)

/** kvm_load_guest_fpu(): the start of KVM_RUN (also for immediate_exit). May throw HostOops. */
export function kvm_load_guest_fpu(v: KvmVcpu): void {
  v.host.call("kvm_load_guest_fpu", () => fpu_swap_kvm_fpstate(v.host, v.guest_fpu, true));
}

/** kvm_put_guest_fpu(): the end of KVM_RUN. */
export function kvm_put_guest_fpu(v: KvmVcpu): void {
  v.host.call("kvm_put_guest_fpu", () => fpu_swap_kvm_fpstate(v.host, v.guest_fpu, false));
}

/**
 * KVM_RUN: `kvm_arch_vcpu_ioctl_run(vcpu, loop)` runs on the vCPU's thread, does
 * kvm_load_guest_fpu, runs `loop` (the ioctl layer's vcpu_run loop, which calls
 * vcpu_enter_guest_fpu before and vcpu_exit_guest_fpu after each guest run and handles exits,
 * e.g. kvm_set_msr_common for WRMSR(XFD)), then kvm_put_guest_fpu — also when `loop` returns
 * -EINTR (immediate_exit). Throws HostOops if the host oopsed (never returns, like the real
 * ioctl); a dead VM gives -EIO.
 */
export function kvm_arch_vcpu_ioctl_run(v: KvmVcpu, loop: () => number): number {
  const host = v.host;
  if (v.kvm.dead || v.task.dead) return -EIO;
  host.switchTo(v.task);
  return host.call("kvm_vcpu_ioctl", () => host.call("kvm_arch_vcpu_ioctl_run", () => {
    kvm_load_guest_fpu(v);
    const r = loop();
    kvm_put_guest_fpu(v);
    return r;
  }));
}

/** kvm_load_guest_xsave_state(): guest XCR0/XSS/PKRU into hardware just before VM-entry */
export function kvm_load_guest_xsave_state(v: KvmVcpu): void {
  const h = v.host;
  if (v.cr4_osxsave) {
    if (v.xcr0 !== h.xgetbv0()) h.xsetbv0(v.xcr0);
    if (guest_cpuid_has_xsaves(v) && v.ia32_xss !== h.rdmsr_xss()) h.wrmsr_xss(v.ia32_xss);
  }
  if (h.has_pku && v.pkru !== v.host_pkru && ((v.xcr0 & XFEATURE_MASK_PKRU) || v.cr4_pke)) h.wrpkru(v.pkru);
}

/** kvm_load_host_xsave_state(): right after VM-exit; all later kernel XSAVE/XRSTOR run with host XCR0 */
export function kvm_load_host_xsave_state(v: KvmVcpu): void {
  const h = v.host;
  if (h.has_pku && ((v.xcr0 & XFEATURE_MASK_PKRU) || v.cr4_pke)) {
    v.pkru = h.rdpkru();
    if (v.pkru !== v.host_pkru) h.wrpkru(v.host_pkru);
  }
  if (v.cr4_osxsave) {
    if (h.xgetbv0() !== h.host_xcr0) h.xsetbv0(h.host_xcr0);
    if (guest_cpuid_has_xsaves(v) && h.rdmsr_xss() !== h.host_xss) h.wrmsr_xss(h.host_xss);
  }
}

/**
 * The FPU steps of vcpu_enter_guest() before VM-entry (IRQs off): switch_fpu_return() if
 * TIF_NEED_FPU_LOAD (a host IRQ or preemption saved the guest state since the last entry — the
 * XRSTORS here is where S4 oopses), XFD_ERR for a pending guest #NM, guest XCR0/XSS/PKRU.
 * May throw HostOops.
 */
export function vcpu_enter_guest_fpu(v: KvmVcpu): void {
  const h = v.host;
  if (v.task.TIF_NEED_FPU_LOAD) switch_fpu_return(h);
  if (v.guest_fpu.xfd_err) h.wrmsr_xfd_err(v.guest_fpu.xfd_err);
  v.host_pkru = h.rdpkru();
  kvm_load_guest_xsave_state(v);
  v.has_run = true;
}

/**
 * The FPU steps after VM-exit, before IRQs are enabled: host XCR0/XSS/PKRU, the XFD sync when
 * writes are not intercepted, VMX's #NM exit handling (XFD_ERR into guest_fpu.xfd_err), and
 * XFD_ERR cleared. `nm_exit`: the exit was an intercepted guest #NM.
 */
export function vcpu_exit_guest_fpu(v: KvmVcpu, nm_exit = false): void {
  const h = v.host;
  kvm_load_host_xsave_state(v);
  if (v.xfd_no_write_intercept) fpu_sync_guest_vmexit_xfd_state(h);
  if (nm_exit && v.guest_fpu.fpstate.xfd) v.guest_fpu.xfd_err = h.rdmsr_xfd_err();   // handle_nm_fault_irqoff
  if (v.guest_fpu.xfd_err) h.wrmsr_xfd_err(0n);
}

// ---------------------------------------------------------------------------
// KVM_GET_FPU / KVM_SET_FPU (x86.c kvm_arch_vcpu_ioctl_get_fpu/set_fpu): only the FXSAVE
// fields of the kernel image (no MXCSR in either direction, XSTATE_BV untouched), §3.9.

/** struct kvm_fpu (416 bytes) as a byte buffer: fpr@0 fcw@128 fsw@130 ftwx@132 last_opcode@134 last_ip@136 last_dp@144 xmm@152 mxcsr@408 */
export const KVM_FPU_SIZE = 416;

/** KVM_GET_FPU: 0 and the struct kvm_fpu bytes (confidential guests: 0 and zeros) */
export function kvm_arch_vcpu_ioctl_get_fpu(v: KvmVcpu): { r: number; buf: Uint8Array } {
  const out = new Uint8Array(KVM_FPU_SIZE);
  const fps = v.guest_fpu.fpstate;
  if (fps.is_confidential) return { r: 0, buf: out };
  const k = v.host.cpu.bytes, b = fps.regs;
  const o = new DataView(out.buffer), im = v.host.image(fps);
  out.set(k.subarray(b + 32, b + 160), 0);            // st_space
  o.setUint16(128, im.u16(0), true);                  // cwd
  o.setUint16(130, im.u16(2), true);                  // swd
  out[132] = k[b + 4];                                // twd (abridged)
  o.setUint16(134, im.u16(6), true);                  // fop
  out.set(k.subarray(b + 8, b + 24), 136);            // rip, rdp
  out.set(k.subarray(b + 160, b + 416), 152);         // xmm_space
  return { r: 0, buf: out };
}

/** KVM_SET_FPU: 0 (confidential guests: 0, nothing written) */
export function kvm_arch_vcpu_ioctl_set_fpu(v: KvmVcpu, fpu: Uint8Array): number {
  const fps = v.guest_fpu.fpstate;
  if (fps.is_confidential) return 0;
  if (fpu.length < KVM_FPU_SIZE) return -EFAULT;
  const k = v.host.cpu.bytes, b = fps.regs;
  const i = new DataView(fpu.buffer, fpu.byteOffset), im = v.host.image(fps);
  k.set(fpu.subarray(0, 128), b + 32);
  im.setU16(0, i.getUint16(128, true));
  im.setU16(2, i.getUint16(130, true));
  k[b + 4] = fpu[132];
  im.setU16(6, i.getUint16(134, true));
  k.set(fpu.subarray(136, 152), b + 8);
  k.set(fpu.subarray(152, 408), b + 160);
  return 0;
}

// ---------------------------------------------------------------------------
// KVM_GET_SUPPORTED_CPUID leaf 0xD (cpuid.c __do_cpuid_func case 0xd), §3.4

/**
 * Rewrite the leaf-0xD entries of a supported-CPUID table for the calling process: sub-leaf 0
 * EAX/EDX = kvm_get_filtered_xcr0, EBX = ECX = its standard-format size; sub-leaf 1 keeps
 * XSAVEOPT/XSAVEC/XGETBV1/XSAVES/XFD as the host has them (EBX = compacted size, ECX/EDX = 0: no
 * supervisor states);
 * sub-leaves i ≥ 2 only for permitted features, ECX[2] cleared without host XFD.
 */
export function kvm_supported_cpuid_0xd(host: FpuHost, task: HostTask, entries: CpuidEntry[]): CpuidEntry[] {
  const x = kvm_get_filtered_xcr0(host, task);
  const size = host.layout.requiredSize(x, false);
  const out: CpuidEntry[] = [];
  for (const e of entries) {
    if (e.fn !== 0xd) { out.push({ ...e }); continue; }
    const n = { ...e };
    if (e.idx === 0) {
      n.eax = Number(x & 0xffffffffn); n.edx = Number(x >> 32n); n.ebx = size; n.ecx = size;
    } else if (e.idx === 1) {
      n.eax &= 0x1f; if (!host.has_xfd) n.eax &= ~0x10;
      n.ebx = n.eax & 0xa ? host.layout.requiredSize(x, true) : 0;   // XSAVES/XSAVEC: compacted size
      n.ecx = 0; n.edx = 0;
    } else {
      if (!((x >> BigInt(e.idx)) & 1n)) continue;
      if (!host.has_xfd) n.ecx &= ~4;
    }
    out.push(n);
  }
  return out;
}
