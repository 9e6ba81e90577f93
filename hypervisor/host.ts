// The library entry of the contract (shared/DESIGN.md "ioctl ABI and library
// entry"): a Host is one emulated physical machine (one WasmCpu) with a
// /dev/kvm. Userspace memory is the wasm memory's host heap (host.alloc), so a
// KVM_SET_USER_MEMORY_REGION userspace_addr is an address returned by alloc().
//
//   const host = new Host({ cpu: 'sapphire-rapids', kernel: '6.19' });
//   const kvm = host.open();
//   host.ioctl(kvm, KVM_GET_API_VERSION, 0);        // 12
//
// ioctl() returns ≥ 0 or −errno and never throws.
//
// Host events (kernel-abi.md §3.7, §7.1): what a real host does between a VM-exit and its exit
// handler, made deterministic. scheduleEvent(vcpuFd, { at, kind }) queues one; it fires inside
// KVM_RUN right after the chosen exit, once the exit's interrupts-off FPU steps are done (host
// XCR0/PKRU back, XFD synced) and before the exit is handled:
//   kind 'irq-fpu'  an interrupt whose handler uses the FPU: kernel_fpu_begin() (saves the guest
//                   registers into the guest fpstate with the hardware XFD of that moment and
//                   sets TIF_NEED_FPU_LOAD), SIMD work, kernel_fpu_end()
//   kind 'preempt'  the vCPU thread is preempted (schedule(): switch_fpu_prepare saves the same
//                   way) and later scheduled back; the registers return at switch_fpu_return()
//   at 'next-exit' | { exitReason, port? } | { msrWrite } | { afterInsns }   (kvm/vcpu.ts HostEventAt)
// As on VMX, the guest's WRMSR(IA32_XFD) exits until its first non-zero write; KVM handles that
// exit inside KVM_RUN (kvm_set_msr_common → fpu_update_guest_xfd, after the event) and re-enters
// the guest (switch_fpu_return) without returning to userspace. So S4: guest loads tiles, WRMSR
// XFD[18]=1; scheduleEvent(vcpu, { at: { msrWrite: 0x1c4 }, kind: 'irq-fpu' }) → under B1–B3
// that KVM_RUN returns -EIO with host.oops.caller 'switch_fpu_return'; under B4 it does not oops.
// host.events lists what fired (exit, instruction count, kernel functions run, and `oops`: the
// oops caller when the host oopsed later in that KVM_RUN), oldest first.
import { WasmCpu } from "./cpu/wasm_cpu";
import { getModel, type Model } from "./models/models";
import { getKernel, DEFAULT_KERNEL, type KernelBehaviour } from "./kernels";
import { KvmSystem, type IoctlArg } from "./kvm/kvm_main";
import type { HostFpuFactory } from "./kvm/fpu_iface";
import type { HostOopsReport } from "./fpu/fpu";
import type { HostEventKind, GuestFpstateView } from "./kvm/fpu_iface";
import type { HostEventAt, FiredHostEvent } from "./kvm/vcpu";

export type { HostEventKind, HostEventAt, FiredHostEvent };
export type { GuestFpstateView } from "./kvm/fpu_iface";
import { EBADF, EFAULT } from "./uapi/consts";

export interface HostOptions {
  /** CPU model name (hypervisor/models), default sapphire-rapids */
  cpu?: string;
  /** kernel behaviour: '5.17-rc5' | '6.5' | '6.8' | '6.19' or 'b1'..'b4' (default 6.19) */
  kernel?: string;
  /** bytes of host memory reserved up front for alloc() (grows on demand) */
  memory?: number;
  /** the guest-FPU implementation behind the kvm/fpu_iface.ts seam; default: kvm/fpu_kernel.ts kernelHostFpu (hypervisor/fpu with `kernel`'s behaviour) */
  fpu?: HostFpuFactory;
  /** instructions one KVM_RUN may retire before returning -EINTR, as if a signal arrived (default 2e8) */
  runBudget?: number;
}

export class Host {
  readonly cpu: WasmCpu;
  readonly model: Model;
  readonly kernel: KernelBehaviour;
  /** the kernel's side: fd table, VMs, vCPUs (exposed for tests and tools) */
  readonly kvm: KvmSystem;

  constructor(opts: HostOptions = {}) {
    this.model = getModel(opts.cpu ?? "sapphire-rapids");
    this.kernel = getKernel(opts.kernel ?? DEFAULT_KERNEL);
    this.cpu = new WasmCpu(opts.memory ?? 16 << 20);
    this.kvm = new KvmSystem({ cpu: this.cpu, model: this.model, kernel: this.kernel, fpu: opts.fpu, runBudget: opts.runBudget });
  }

  /** open("/dev/kvm"): a new fd */
  open(): number { return this.kvm.open(); }
  /** close(fd): 0 or -EBADF */
  close(fd: number): number { try { return this.kvm.close(fd); } catch { return -EBADF; } }
  /** ioctl(fd, request, arg): ≥0 or −errno; struct arguments are Uint8Arrays filled in place, or host addresses */
  ioctl(fd: number, request: number, arg?: IoctlArg): number { return this.kvm.ioctl(fd, request, arg); }
  /** arch_prctl(code, arg) for the XCOMP permission codes; u64 results are written into arg (Uint8Array) */
  archPrctl(code: number, arg: number | bigint | Uint8Array): number {
    try { return this.kvm.fpuHost.archPrctl(code, arg); } catch { return -EFAULT; }
  }
  /**
   * The host kernel's last oops (hypervisor/fpu HostOopsReport: warning, call trace, XFD/XFD_ERR/
   * XSTATE_BV, dmesg text), or null. A KVM_RUN during which the host kernel oopsed returns -EIO
   * (the real syscall never returns: the vCPU thread dies and its process with it); the VM is dead
   * from then on and every later KVM_RUN of it returns -EIO too.
   */
  get oops(): HostOopsReport | null { const o = this.kvm.fpuHost.oopses(); return o.length ? o[o.length - 1] : null; }
  /** every host oops so far, oldest first */
  get oopses(): readonly HostOopsReport[] { return this.kvm.fpuHost.oopses(); }
  /** the host kernel log (WARN and oops blocks) */
  get dmesg(): readonly string[] { return this.kvm.fpuHost.dmesg(); }
  /** Host ("userspace") memory: returns its address; alignment default 4 KiB. */
  alloc(size: number, align = 4096): number { return this.cpu.alloc(size, align); }
  /** A view of host memory at addr (re-take it after alloc(), which may grow the memory). */
  mem(addr: number, size: number): Uint8Array { return this.cpu.bytes.subarray(addr, addr + size); }
  /**
   * Queue a host event on a vCPU (see the header): it fires once, inside a later KVM_RUN, right
   * after the VM-exit `at` selects and before that exit is handled. Returns the event's id (> 0),
   * or -EBADF if vcpuFd is not a vCPU. Events due at the same exit fire in scheduling order.
   */
  scheduleEvent(vcpuFd: number, ev: { at: HostEventAt; kind: HostEventKind }): number {
    return this.kvm.scheduleHostEvent(vcpuFd, ev.kind, ev.at);
  }
  /** host events that fired so far, oldest first (an oops right after one names its path in host.oops.callTrace) */
  get events(): readonly FiredHostEvent[] { return this.kvm.hostEventLog; }
  /**
   * The host kernel's view of a vCPU's guest fpstate (xfeatures, user_xfeatures, xfd, the saved
   * image's XSTATE_BV, …: GuestFpstateView), as a debugger on the host would read it from kernel
   * memory; null for a non-vCPU fd. Runs no kernel code and changes nothing.
   */
  guestFpstate(vcpuFd: number): GuestFpstateView | null { return this.kvm.vcpuOf(vcpuFd)?.fpu.inspect() ?? null; }
  /** mmap(vcpuFd): the vCPU's kvm_run block (KVM_GET_VCPU_MMAP_SIZE bytes), or null for a non-vCPU fd */
  mmap(vcpuFd: number): Uint8Array | null { return this.kvm.vcpuOf(vcpuFd)?.run ?? null; }
}
