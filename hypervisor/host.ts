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
import { WasmCpu } from "./cpu/wasm_cpu";
import { getModel, type Model } from "./models/models";
import { getKernel, DEFAULT_KERNEL, type KernelBehaviour } from "./kernels";
import { KvmSystem, type IoctlArg } from "./kvm/kvm_main";
import type { HostFpuFactory } from "./kvm/fpu_iface";
import type { HostOopsReport } from "./fpu/fpu";
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
  /** mmap(vcpuFd): the vCPU's kvm_run block (KVM_GET_VCPU_MMAP_SIZE bytes), or null for a non-vCPU fd */
  mmap(vcpuFd: number): Uint8Array | null { return this.kvm.vcpuOf(vcpuFd)?.run ?? null; }
}
