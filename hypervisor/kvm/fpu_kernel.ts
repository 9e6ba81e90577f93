// The HostFpu the ioctl layer uses: an adapter from the fpu_iface seam to the
// host kernel's guest-FPU model (hypervisor/fpu, kernel-abi.md §2–§8), with the
// B1–B4 behaviour of the Host's `kernel`. Each seam call goes to the kernel
// function README.md (hypervisor/fpu) names for it:
//
//   archPrctl          → fpu_xstate_prctl (in the VMM's main thread)
//   capXsave2          → kvm_cap_xsave2
//   supportedCpuid     → kvm_supported_cpuid_0xd
//   msrIndexList       → kvm_fpu_msr_index_list
//   createVcpu         → a new VMM thread (the vCPU thread) + kvm_arch_vcpu_create
//   run                → kvm_arch_vcpu_ioctl_run (kvm_load_guest_fpu … kvm_put_guest_fpu)
//   enterGuest/exitGuest → vcpu_enter_guest_fpu / vcpu_exit_guest_fpu
//   getXsave/setXsave  → kvm_arch_vcpu_ioctl_get_xsave / _get_xsave2 / _set_xsave
//   getFpu/setFpu      → kvm_arch_vcpu_ioctl_get_fpu / _set_fpu
//   getXcrs/setXcrs    → kvm_vcpu_ioctl_x86_get_xcrs / _set_xcrs
//   getMsr/setMsr      → kvm_get_msr_common / kvm_set_msr_common (host-initiated: KVM_GET/SET_MSRS)
//   setCpuid           → kvm_set_cpuid (after x86.ts's nent and has-run checks)
//
// The model's processes: one VMM process per Host (everything that calls
// host.ioctl), its main thread issues arch_prctl and the /dev/kvm and VM
// ioctls; each vCPU gets its own thread, as QEMU does, and KVM_RUN runs there.
//
// Hardware sharing: the model's "hardware" is the Host's WasmCpu. Its register
// file and its XCR0/XSS/XFD/XFD_ERR/PKRU/XINUSE/XMODIFIED are physical (see
// fpu_iface.ts), so load()/put() carry them across vcpu_load/vcpu_put. Every
// kernel XSAVES/XRSTORS runs with the host's CPUID leaf 0xD layout
// (cfg.withHostCpuid), the guest with its own.
//
// Where this CPU differs from VMX, and what the adapter does about it:
// - MOV CR4 is not intercepted, so KVM cannot load guest XCR0 "when CR4.OSXSAVE
//   becomes 1". The guest's XCR0 and PKRU are therefore always put into the CPU
//   at VM-entry (cr4_osxsave/cr4_pke treated as set for the swap). Without
//   OSXSAVE the guest cannot observe XCR0, so only the timing differs.
// - XSETBV executes in the CPU without an exit. After each VM-exit the adapter
//   folds it back into the kernel's view: a changed XCR0 becomes vcpu->arch.xcr0
//   (what kvm_emulate_xsetbv would have set; the CPU applied the same checks).
// - WRMSR(IA32_XFD) exits as on VMX while KVM intercepts it (before the first
//   non-zero write): enterGuest() sets the CPU's MSR intercept (S_MSR_ICPT
//   MSRI_XFD_WRITE) while !xfd_no_write_intercept, the CPU stops at the WRMSR
//   with the old value still in hardware (a KVM-internal exit), exitGuest() does
//   the exit's FPU steps and the IRQ window (host events, Host.scheduleEvent),
//   and x86.ts handle_wrmsr_exit runs kvm_set_msr_common (setMsr below:
//   fpu_update_guest_xfd, then xfd_no_write_intercept and the #NM intercept)
//   and re-enters the guest without returning to userspace — the entry's
//   switch_fpu_return is S4's host #NM under B1–B3 when the window left
//   TIF_NEED_FPU_LOAD. Once passed through, the guest's WRMSRs go to hardware
//   and fpu_sync_guest_vmexit_xfd_state picks XFD up at each exit. The CPU's
//   XFD_ERR (set by a guest #NM or the guest's WRMSR) becomes guest_fpu.xfd_err.
//
// Host oops: when the kernel's XRSTORS of a guest fpstate raises #NM
// (kernel-abi.md §3.12, the S4/S5 crashes under B1–B3) the model throws
// HostOops with the task, its process and the VM already dead. run() catches it
// and returns -EIO (the errno KVM gives for a dead VM; the real syscall never
// returns), the report is kept in oopses() (Host.oops / Host.dmesg), and every
// later KVM_RUN of that VM returns -EIO.
import type { HostFpu, HostFpuFactory, VcpuFpu, FpuVcpuContext, FpuMsrResult, HostEventKind, GuestFpstateView } from "./fpu_iface";
import type { CpuidEntry } from "../models/cpuid";
import { EFAULT, EINVAL, EIO } from "../uapi/consts";
import { dvOf } from "../uapi/structs";
import {
  FpuHost, HostOops, KvmVm, KvmVcpu, type HostTask, type HostProcess,
  fpu_xstate_prctl, kvm_cap_xsave2, kvm_supported_cpuid_0xd, kvm_fpu_msr_index_list, kvm_arch_vcpu_create,
  kvm_arch_vcpu_ioctl_run, vcpu_enter_guest_fpu, vcpu_exit_guest_fpu, kvm_arch_vcpu_ioctl_get_xsave,
  kvm_arch_vcpu_ioctl_get_xsave2, kvm_arch_vcpu_ioctl_set_xsave, kvm_arch_vcpu_ioctl_get_fpu, kvm_arch_vcpu_ioctl_set_fpu,
  kvm_vcpu_ioctl_x86_get_xcrs, kvm_vcpu_ioctl_x86_set_xcrs, kvm_get_msr_common, kvm_set_msr_common, kvm_fpu_msr,
  kvm_set_cpuid, kvm_update_cpuid_runtime, __kvm_set_xcr, host_irq_uses_fpu, ARCH_GET_XCOMP_SUPP, ARCH_GET_XCOMP_PERM, ARCH_GET_XCOMP_GUEST_PERM,
} from "../fpu";

const KVM_MAX_XCRS = 16;

// the task a preempted vCPU thread is switched away to (one per FpuHost, made on first use)
const kworkers = new WeakMap<FpuHost, HostTask>();
function kworker(h: FpuHost): HostTask {
  let t = kworkers.get(h);
  if (!t) { t = h.spawnProcess("kworker/0:1").task; kworkers.set(h, t); }
  return t;
}

export const kernelHostFpu: HostFpuFactory = (cfg) => {
  const c = cfg.cpu, L = c.L;
  // the physical FPU fields of the state block (u64 each)
  const HW = [L.S_XCR0, L.S_XSS, L.S_XFD, L.S_XFD_ERR, L.S_PKRU, L.S_XINUSE, L.S_XMODIFIED];

  // every kernel XSAVES/XRSTORS runs with the host's layout in the CPU
  class KernelFpuHost extends FpuHost {
    override xsaveHw(buf: number, mask: bigint): number { return cfg.withHostCpuid(() => super.xsaveHw(buf, mask)); }
    override xrstorHw(buf: number, mask: bigint): number { return cfg.withHostCpuid(() => super.xrstorHw(buf, mask)); }
  }
  // boot: the kernel reads the host's CPUID and leaves XCR0/XSS/XFD/PKRU set up in the CPU
  const host = cfg.withHostCpuid(() => new KernelFpuHost(cfg.cpu, cfg.model, { kernel: cfg.kernel }));
  const { proc, task: main } = host.spawnProcess("vmm") as { proc: HostProcess; task: HostTask };
  host.switchTo(main);
  const vms = new Map<number, KvmVm>();
  // the physical fields while a vCPU's state block is in the CPU's place
  const hw = HW.map((o) => c.u64(o));

  /** syscalls from the VMM's main thread: a context switch to it first (a vCPU thread may be current) */
  const onMain = <T>(fn: () => T): T => { if (!main.dead) host.switchTo(main); return fn(); };

  const fpuHost: HostFpu = {
    supportedXcr0: host.kvm_caps.supported_xcr0,
    archPrctl(code, arg) {
      return onMain(() => {
        const get = code === ARCH_GET_XCOMP_SUPP || code === ARCH_GET_XCOMP_PERM || code === ARCH_GET_XCOMP_GUEST_PERM;
        if (get && !(arg instanceof Uint8Array && arg.length >= 8)) {
          // put_user() to a bad pointer; the value is computed first, as in the kernel
          const r = fpu_xstate_prctl(host, main, code, 0);
          return r.r < 0 ? r.r : -EFAULT;
        }
        const n = arg instanceof Uint8Array ? 0 : arg;
        const r = fpu_xstate_prctl(host, main, code, n);
        if (r.r === 0 && r.value !== undefined && arg instanceof Uint8Array) dvOf(arg).setBigUint64(0, r.value, true);
        return r.r;
      });
    },
    capXsave2: () => kvm_cap_xsave2(host, main),
    supportedCpuid: (entries) => kvm_supported_cpuid_0xd(host, main, entries),
    msrIndexList: () => kvm_fpu_msr_index_list(host),
    createVcpu(ctx) {
      return onMain(() => {
        let vm = vms.get(ctx.vmId);
        if (!vm) { vm = new KvmVm(host, main); vms.set(ctx.vmId, vm); }
        const thread = host.spawnThread(proc);
        const v = kvm_arch_vcpu_create(vm, thread);
        if (typeof v === "number") return v;
        // CR4 is not intercepted (see the header): guest XCR0/PKRU are swapped at every entry/exit
        v.cr4_osxsave = true;
        v.cr4_pke = true;
        return new KernelVcpuFpu(ctx, host, v, hw, HW);
      });
    },
    oopses: () => host.oopses,
    dmesg: () => host.dmesg,
  };
  return fpuHost;
};

class KernelVcpuFpu implements VcpuFpu {
  constructor(
    private readonly ctx: FpuVcpuContext, private readonly host: FpuHost, readonly v: KvmVcpu,
    private readonly hw: bigint[], private readonly HW: number[],
  ) {}

  load(): void { const c = this.ctx.cpu; this.HW.forEach((o, i) => c.setU64(o, this.hw[i])); }
  put(): void { const c = this.ctx.cpu; this.HW.forEach((o, i) => { this.hw[i] = c.u64(o); }); }

  run(loop: () => number): number {
    try {
      return kvm_arch_vcpu_ioctl_run(this.v, loop);
    } catch (e) {
      if (e instanceof HostOops) { this.ctx.cpu.ex.state_changed(); return -EIO; }
      throw e;
    }
  }

  enterGuest(): void {
    vcpu_enter_guest_fpu(this.v);
    // the MSR bitmap: IA32_XFD writes exit until the first non-zero one (vmx_set_msr)
    const c = this.ctx.cpu, L = c.L, icpt = c.u32(L.S_MSR_ICPT) & ~L.MSRI_XFD_WRITE;
    c.setU32(L.S_MSR_ICPT, this.v.xfd_no_write_intercept ? icpt : icpt | L.MSRI_XFD_WRITE);
    c.ex.state_changed();
  }

  exitGuest(irqWindow?: () => void): void {
    const v = this.v, h = this.host;
    // fold what the guest did to the hardware without an exit back into KVM's view
    const xcr0 = h.xgetbv0();
    if (xcr0 !== v.xcr0 && __kvm_set_xcr(v, 0, xcr0)) v.xcr0 = xcr0;
    // XFD_ERR: VMX passes reads through and intercepts writes (kvm_set_msr_common sets
    // guest_fpu.xfd_err); here the guest's WRMSR and the #NM's hardware update both land in the
    // CPU, so the live value is the guest's — the same value handle_nm_fault_irqoff would read
    if (h.has_xfd) v.guest_fpu.xfd_err = h.rdmsr_xfd_err();
    vcpu_exit_guest_fpu(v, false);
    this.ctx.cpu.ex.state_changed();
    // local_irq_enable(): host interrupts / preemption (Host.scheduleEvent) happen here, before the
    // exit handler (for an intercepted WRMSR(XFD): x86.ts handle_wrmsr_exit → setMsr)
    if (irqWindow) { irqWindow(); this.ctx.cpu.ex.state_changed(); }
  }

  hostEvent(kind: HostEventKind): string[] {
    const h = this.host, saves = !this.v.task.TIF_NEED_FPU_LOAD && !this.v.task.dead;
    if (kind === "irq-fpu") {
      host_irq_uses_fpu(h);
      return ["kernel_fpu_begin", ...(saves ? ["save_fpregs_to_fpstate"] : []), "kernel_fpu_end"];
    }
    // preemption: schedule() to another task (switch_fpu_prepare saves the guest registers and
    // sets TIF_NEED_FPU_LOAD), later back to the vCPU thread; the registers come back at
    // vcpu_enter_guest's switch_fpu_return
    const other = kworker(h);
    h.switchTo(other);
    h.switchTo(this.v.task);
    return ["schedule", "switch_fpu_prepare", ...(saves ? ["save_fpregs_to_fpstate"] : []), "schedule"];
  }

  uabiSize(): number { return this.v.guest_fpu.uabi_size; }

  inspect(): GuestFpstateView {
    const v = this.v, g = v.guest_fpu, fps = g.fpstate, img = this.host.image(fps), k = this.host.kernel;
    return {
      kernel: { id: k.id, name: k.name, version: k.version },
      xfeatures: fps.xfeatures, user_xfeatures: fps.user_xfeatures, xfd: fps.xfd, size: fps.size, user_size: fps.user_size,
      is_guest: fps.is_guest, in_use: fps.in_use,
      guest_xfeatures: g.xfeatures, xfd_err: g.xfd_err, uabi_size: g.uabi_size,
      xstate_bv: img.xstate_bv, xcomp_bv: img.xcomp_bv,
      live: !v.task.TIF_NEED_FPU_LOAD && !v.task.dead && this.host.fpregs_owner === v.task.fpu && v.task.fpu.fpstate === fps,
      xcr0: v.xcr0, pkru: v.pkru, guest_supported_xcr0: v.guest_supported_xcr0,
      need_fpu_load: v.task.TIF_NEED_FPU_LOAD, dead: v.task.dead,
    };
  }

  getXsave(buf: Uint8Array, size: number): number {
    if (size === 4096) {
      const r = kvm_arch_vcpu_ioctl_get_xsave(this.v);
      if (r.r) return r.r;
      if (buf.length < 4096) return -EFAULT;
      buf.set(r.buf!.subarray(0, 4096));
      return 0;
    }
    const r = kvm_arch_vcpu_ioctl_get_xsave2(this.v);
    if (r.r) return r.r;
    if (buf.length < r.buf.length) return -EFAULT;
    buf.set(r.buf);
    return 0;
  }

  setXsave(buf: Uint8Array): number { return kvm_arch_vcpu_ioctl_set_xsave(this.v, buf); }

  getFpu(buf: Uint8Array): number {
    const r = kvm_arch_vcpu_ioctl_get_fpu(this.v);
    if (r.r) return r.r;
    if (buf.length < r.buf.length) return -EFAULT;
    buf.set(r.buf);
    return 0;
  }
  setFpu(buf: Uint8Array): number { return kvm_arch_vcpu_ioctl_set_fpu(this.v, buf); }

  getXcrs(buf: Uint8Array): number {
    if (buf.length < 392) return -EFAULT;
    const x = kvm_vcpu_ioctl_x86_get_xcrs(this.v), dv = dvOf(buf);
    buf.fill(0, 0, 392);
    dv.setUint32(0, x.nr_xcrs, true);
    dv.setUint32(4, x.flags, true);
    x.xcrs.forEach((e, i) => { dv.setUint32(8 + 16 * i, e.xcr, true); dv.setBigUint64(16 + 16 * i, e.value, true); });
    return 0;
  }

  setXcrs(buf: Uint8Array): number {
    if (buf.length < 392) return -EFAULT;
    const dv = dvOf(buf), nr = dv.getUint32(0, true), flags = dv.getUint32(4, true);
    const xcrs = [];
    for (let i = 0; i < Math.min(nr, KVM_MAX_XCRS); i++) xcrs.push({ xcr: dv.getUint32(8 + 16 * i, true), value: dv.getBigUint64(16 + 16 * i, true) });
    return kvm_vcpu_ioctl_x86_set_xcrs(this.v, { nr_xcrs: nr, flags, xcrs });
  }

  setCpuid(entries: CpuidEntry[], _guestSupportedXcr0: bigint): number {
    const r = kvm_set_cpuid(this.v, entries);
    return r > 0 ? -EINVAL : r;
  }

  updateCpuidRuntime(entries: CpuidEntry[]): void { kvm_update_cpuid_runtime(this.v, entries); }

  getMsr(index: number, hostInitiated: boolean): FpuMsrResult | undefined {
    if (!kvm_fpu_msr(index)) return undefined;
    const r = kvm_get_msr_common(this.v, index, hostInitiated);
    return r.r ? { ok: false } : { ok: true, value: r.data };
  }

  setMsr(index: number, value: bigint, hostInitiated: boolean): FpuMsrResult | undefined {
    if (!kvm_fpu_msr(index)) return undefined;
    return { ok: kvm_set_msr_common(this.v, index, value, hostInitiated) === 0 };
  }
}
