// The seam between the KVM ioctl layer (hypervisor/kvm/*) and the guest-FPU
// model (hypervisor/fpu, built separately): everything KVM does with guest
// extended state goes through these two interfaces, and nothing else in
// hypervisor/kvm touches the CPU's register file (XSTATE) or the XSAVE uabi
// buffer.
//
//   HostFpu  — one per Host: the host kernel's fpu configuration
//              (kvm_caps.supported_xcr0, fpu_user_cfg, guest permissions):
//              arch_prctl(ARCH_*_XCOMP_*), KVM_CAP_XSAVE2, leaf 0xD of
//              KVM_GET_SUPPORTED_CPUID, and fpu_alloc_guest_fpstate().
//   VcpuFpu  — one per vCPU: vcpu->arch.guest_fpu. The KVM layer calls
//              load()/put() whenever it switches the CPU between vCPUs (that is
//              fpu_swap_kvm_fpstate's job; KVM_RUN runs between them), and
//              forwards KVM_GET/SET_XSAVE, KVM_GET_XSAVE2, KVM_GET/SET_XCRS,
//              the XFD/XFD_ERR/XSS MSRs and the CPUID update to it.
//
// The implementation is kvm/fpu_kernel.ts (kernelHostFpu), an adapter over the
// host kernel's guest-FPU model in hypervisor/fpu with the B1–B4 behaviour of
// the Host's `kernel`. HostOptions.fpu can plug in another factory (tests).
//
// The register file (XSTATE) and the XCR0/XSS/XFD/XFD_ERR/PKRU/XINUSE/
// XMODIFIED fields of the state block are the PHYSICAL CPU's: whatever task's
// or guest's fpstate the kernel last restored. They are not per-vCPU state,
// so load()/put() (vcpu_load/vcpu_put) only keep them in the CPU while the
// state block is swapped; guest FPU state moves in and out of the registers
// only at KVM_RUN (run(), enterGuest(), exitGuest()), as in the kernel.
import type { WasmCpu } from "../cpu/wasm_cpu";
import type { CpuidEntry } from "../models/cpuid";
import type { KernelBehaviour } from "../kernels";
import type { Model } from "../models/models";
import type { HostOopsReport } from "../fpu/fpu";

/** What the fpu code may know about the vCPU it belongs to (read-only view of vcpu->arch). */
export interface FpuVcpuContext {
  readonly cpu: WasmCpu;
  readonly kernel: KernelBehaviour;
  readonly vcpuId: number;
  /** the VM the vCPU belongs to (struct kvm): KVM_CREATE_VM order, unique per Host */
  readonly vmId: number;
  /** vcpu->arch.guest_supported_xcr0 (0 until KVM_SET_CPUID2) */
  guestSupportedXcr0(): bigint;
  /** kvm_vcpu_has_run() */
  hasRun(): boolean;
  /** the CPU currently holds this vCPU's state block (always true inside the VcpuFpu calls below, except load/put) */
  isLoaded(): boolean;
}

/** What the host does between a VM-exit and its exit handler (Host.scheduleEvent). */
export type HostEventKind = "irq-fpu" | "preempt";

/** Result of an MSR access the fpu code owns: ok=false makes KVM_GET/SET_MSRS stop at this entry. */
export type FpuMsrResult = { ok: boolean; value?: bigint };

/**
 * The guest fpstate as the host kernel holds it (vcpu->arch.guest_fpu), for debuggers and
 * reports: a read-only snapshot, taken without running any kernel code.
 */
export interface GuestFpstateView {
  /** the kernel behaviour in force (hypervisor/kernels.ts: id 'B4', name 'xfd-clear', reference version '6.19') */
  kernel: { id: string; name: string; version: string };
  /** fpstate->xfeatures, ->user_xfeatures, ->xfd, ->size, ->user_size; fpu_guest->xfeatures, ->xfd_err, ->uabi_size */
  xfeatures: bigint; user_xfeatures: bigint; xfd: bigint; size: number; user_size: number; is_guest: boolean; in_use: boolean;
  guest_xfeatures: bigint; xfd_err: bigint; uabi_size: number;
  /** XSTATE_BV / XCOMP_BV of the saved register image in kernel memory */
  xstate_bv: bigint; xcomp_bv: bigint;
  /** true while the guest's registers are in the CPU (the image above is then stale: the next save refreshes it) */
  live: boolean;
  /** vcpu->arch.xcr0, vcpu->arch.pkru, guest_supported_xcr0 */
  xcr0: bigint; pkru: number; guest_supported_xcr0: bigint;
  /** the vCPU thread's TIF_NEED_FPU_LOAD, and whether its task died in a host oops */
  need_fpu_load: boolean; dead: boolean;
}

export interface VcpuFpu {
  /** vcpu_load(): the vCPU's state block was just copied into the CPU; put the physical FPU fields back. */
  load(): void;
  /** vcpu_put(): the state block is about to be copied out; remember the physical FPU fields. */
  put(): void;
  /**
   * KVM_RUN: kvm_arch_vcpu_ioctl_run's FPU wrapper around `loop` (the ioctl layer's vcpu_run):
   * switch to the vCPU thread, kvm_load_guest_fpu (fpu_swap_kvm_fpstate enter), loop(),
   * kvm_put_guest_fpu. Returns loop()'s result, or -EIO when the VM is dead — including the
   * KVM_RUN during which the host kernel oopsed (the report is in HostFpu.oopses()).
   */
  run(loop: () => number): number;
  /**
   * vcpu_enter_guest, right before VM-entry: switch_fpu_return if needed, XFD_ERR, guest XCR0/XSS/PKRU,
   * and the CPU's MSR intercepts it owns (S_MSR_ICPT MSRI_XFD_WRITE while KVM intercepts IA32_XFD
   * writes: such a WRMSR then exits with EXIT_VMX_MSR_WRITE, which x86.ts handles through setMsr).
   * May throw (caught by run()).
   */
  enterGuest(): void;
  /**
   * right after VM-exit: sync what the guest changed in hardware (XSETBV, a passed-through WRMSR XFD,
   * #NM's XFD_ERR), host XCR0/XSS/PKRU (interrupts still off). Then `irqWindow` runs where the kernel
   * enables interrupts, before the exit handler (host events, Host.scheduleEvent). The exit handler
   * itself (e.g. an intercepted WRMSR(XFD): setMsr) is the caller's. May throw HostOops (caught by run()).
   */
  exitGuest(irqWindow?: () => void): void;
  /**
   * A host event inside KVM_RUN, with interrupts enabled, on the vCPU thread:
   * 'irq-fpu' = an interrupt whose handler uses the FPU (kernel_fpu_begin … kernel_fpu_end);
   * 'preempt' = the vCPU thread is preempted by another task and scheduled back.
   * Returns the kernel functions it ran, in order (recorded in Host.events).
   */
  hostEvent?(kind: HostEventKind): string[];
  /** gfpu.uabi_size: bytes KVM_GET_XSAVE2 writes and KVM_SET_XSAVE reads. */
  uabiSize(): number;
  /** read-only view of the kernel's guest fpstate (GuestFpstateView) */
  inspect(): GuestFpstateView;
  /** KVM_GET_XSAVE (size = 4096) or KVM_GET_XSAVE2 (size = uabiSize()): fill buf[0, size); 0 or -errno. */
  getXsave(buf: Uint8Array, size: number): number;
  /** KVM_SET_XSAVE: buf holds (at least) uabiSize() bytes; 0 or -errno. */
  setXsave(buf: Uint8Array): number;
  /** KVM_GET_FPU into a 416-byte kvm_fpu (legacy FXSAVE fields, no MXCSR); 0 or -errno. */
  getFpu(buf: Uint8Array): number;
  /** KVM_SET_FPU from a 416-byte kvm_fpu; 0 or -errno. */
  setFpu(buf: Uint8Array): number;
  /** KVM_GET_XCRS into a 392-byte kvm_xcrs; 0 or -errno. */
  getXcrs(buf: Uint8Array): number;
  /** KVM_SET_XCRS from a 392-byte kvm_xcrs; 0 or -errno. */
  setXcrs(buf: Uint8Array): number;
  /**
   * KVM_SET_CPUID2, after the common checks and before the entries are installed
   * (kvm_check_cpuid's fpu_enable_guest_xfd_features): 0 or -errno (e.g. -EPERM).
   * `guestSupportedXcr0` is the value vcpu->arch.guest_supported_xcr0 will take.
   */
  setCpuid(entries: CpuidEntry[], guestSupportedXcr0: bigint): number;
  /**
   * kvm_update_cpuid_runtime's XSAVE part on a table, in place: CPUID.(0xD,0).EBX and, with
   * XSAVEC/XSAVES in (0xD,1).EAX, (0xD,1).EBX become the XSAVE sizes for the current XCR0 (| XSS).
   * Applied to the incoming KVM_SET_CPUID2 table and to the stored one before KVM_GET_CPUID2.
   */
  updateCpuidRuntime(entries: CpuidEntry[]): void;
  /** MSRs the fpu owns (XFD 0x1C4, XFD_ERR 0x1C5, XSS 0xDA0); undefined = not an fpu MSR. */
  getMsr(index: number, hostInitiated: boolean): FpuMsrResult | undefined;
  setMsr(index: number, value: bigint, hostInitiated: boolean): FpuMsrResult | undefined;
}

export interface HostFpu {
  /** kvm_caps.supported_xcr0 = host XCR0 & KVM_SUPPORTED_XCR0 */
  readonly supportedXcr0: bigint;
  /** arch_prctl(ARCH_GET_XCOMP_SUPP / _GUEST_PERM / ARCH_REQ_XCOMP_GUEST_PERM …): ≥0 or -errno; u64 results into arg. */
  archPrctl(code: number, arg: number | bigint | Uint8Array): number;
  /** KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) */
  capXsave2(): number;
  /** KVM_GET_SUPPORTED_CPUID: rewrite leaf 0xD of the host table (kvm_get_filtered_xcr0). */
  supportedCpuid(hostEntries: CpuidEntry[]): CpuidEntry[];
  /** MSRs the fpu adds to KVM_GET_MSR_INDEX_LIST (XFD, XFD_ERR when the host has XFD). */
  msrIndexList(): number[];
  /** kvm_arch_vcpu_create → fpu_alloc_guest_fpstate(); locks the guest permissions. A number is -errno. */
  createVcpu(ctx: FpuVcpuContext): VcpuFpu | number;
  /** host kernel oopses so far (a KVM_RUN that oopsed returned -EIO), oldest first */
  oopses(): readonly HostOopsReport[];
  /** the host kernel log (WARNs, oops blocks) */
  dmesg(): readonly string[];
}

/** Host facts the fpu needs, gathered by the Host from its CPU model. */
export interface HostFpuConfig {
  cpu: WasmCpu;
  model: Model;
  kernel: KernelBehaviour;
  hostCpuid: CpuidEntry[];
  /**
   * run fn with the host's CPUID table and the XSAVE layout/supported masks derived from it in
   * the CPU (kernel context: host-mode XSAVES/XRSTORS use the host's layout), then put the loaded
   * vCPU's back. XCR0, XSS, XFD, PKRU and the register file are left as fn leaves them.
   */
  withHostCpuid<T>(fn: () => T): T;
}
export type HostFpuFactory = (cfg: HostFpuConfig) => HostFpu;

