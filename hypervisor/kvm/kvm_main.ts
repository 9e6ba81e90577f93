// virt/kvm/kvm_main.c in miniature: the file-descriptor table, the three
// ioctl levels (kvm_dev_ioctl, kvm_vm_ioctl, kvm_vcpu_ioctl), VM and vCPU
// creation, memory slots, and vcpu_load()/vcpu_put() onto the one CPU.
// Architecture ioctls of a vCPU are in x86.ts.
import type { WasmCpu } from "../cpu/wasm_cpu";
import type { Model } from "../models/models";
import { buildCpuid } from "../models/models";
import { encodeEntries, type CpuidEntry } from "../models/cpuid";
import type { KernelBehaviour } from "../kernels";
import * as K from "../uapi/ioctl";
import {
  KVM_API_VERSION, KVM_CAP, EBADF, EINVAL, EFAULT, E2BIG, EEXIST, ENOTTY, ENXIO, KVM_MAX_VCPUS, KVM_MAX_VCPU_IDS,
  KVM_MAX_CPUID_ENTRIES, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY,
} from "../uapi/consts";
import { dvOf, writeCpuidEntry } from "../uapi/structs";
import type { HostFpu, HostFpuFactory, FpuVcpuContext, HostEventKind } from "./fpu_iface";
import { kernelHostFpu } from "./fpu_kernel";
import { Vm, Vcpu, STATE_BYTES, KVM_RUN_PAGES, type FiredHostEvent, type HostEventAt } from "./vcpu";
import { kvm_arch_vcpu_ioctl, MSR_INDEX_LIST } from "./x86";

export type IoctlArg = Uint8Array | number | bigint | undefined;
type File = { kind: "kvm" } | { kind: "vm"; vm: Vm } | { kind: "vcpu"; vcpu: Vcpu };

export interface KvmConfig {
  cpu: WasmCpu;
  model: Model;
  kernel: KernelBehaviour;
  fpu?: HostFpuFactory;
  /** instructions one KVM_RUN may execute before it returns -EINTR (a "signal") */
  runBudget?: number;
}

/** A user pointer value for an ioctl that takes an integer but was given a buffer. */
const BUFFER_AS_INT = 0x7ffd00001000n;
const TASK_SIZE_MAX = 0x00007ffffffff000n;
const KVM_MEM_MAX_NR_PAGES = (1n << 31n) - 1n;
export const NR_MEMSLOTS = 32;             // the CPU's slot table (cpu/mmu/phys.ts NSLOTS)

export class KvmSystem {
  readonly cpu: WasmCpu;
  readonly model: Model;
  readonly kernel: KernelBehaviour;
  readonly fpuHost: HostFpu;
  readonly hostCpuid: CpuidEntry[];
  runBudget: number;
  /** host events that fired (Host.scheduleEvent / Host.events), oldest first */
  readonly hostEventLog: FiredHostEvent[] = [];
  private nextHostEvent = 1;
  private readonly fds = new Map<number, File>();
  private nextFd = 3;
  private vmCount = 0;
  private loaded: Vcpu | null = null;
  private slotsOf: Vm | null = null;
  private slotsGen = -1;
  readonly cpuidBuf: number;       // the loaded vCPU's CPUID table (kvm_cpuid_entry2 × 256)
  private readonly vcpuTemplate: Uint8Array;
  private readonly hostRegions: [number, Uint8Array][];
  private readonly savedRegions: Uint8Array[];
  private readonly hostMxcsrMask: number;
  readonly vendor: number;

  constructor(cfg: KvmConfig) {
    const c = (this.cpu = cfg.cpu), L = c.L;
    this.model = cfg.model;
    this.kernel = cfg.kernel;
    this.runBudget = cfg.runBudget ?? 200_000_000;
    this.hostCpuid = buildCpuid(cfg.model);
    this.vendor = cfg.model.vendor === "amd" ? 1 : 0;
    this.hostMxcsrMask = cfg.model.mxcsrMask ?? 0xffff;
    this.cpuidBuf = c.alloc(KVM_MAX_CPUID_ENTRIES * 40, 64);
    // the host's own view: CPUID leaf 0xD layout and pointers, used while the
    // kernel (the fpu code) converts guest state with host-mode XSAVE
    c.ex.reset();
    c.bytes.set(encodeEntries(this.hostCpuid), this.cpuidBuf);
    c.setU32(L.S_CPUID_PTR, this.cpuidBuf);
    this.loadCpuidRegs(this.hostCpuid);
    this.hostRegions = [[L.S_CPUID_PTR, 16], [L.S_XCOMP, L.S_MXCSR_MASK + 4 - L.S_XCOMP]].map(
      ([o, n]) => [o, c.bytes.slice(L.STATE + o, L.STATE + o + n)] as [number, Uint8Array]);
    // the host's table lives in its own buffer, so the kernel context only swaps the pointer and caches
    const hostTable = c.alloc(40 * Math.max(1, this.hostCpuid.length), 64);
    c.bytes.copyWithin(hostTable, this.cpuidBuf, this.cpuidBuf + 40 * this.hostCpuid.length);
    dvOf(this.hostRegions[0][1]).setUint32(0, hostTable, true);
    this.savedRegions = this.hostRegions.map(([, h]) => new Uint8Array(h.length));
    // a fresh vCPU: architectural reset, empty CPUID (until KVM_SET_CPUID2)
    c.ex.reset();
    c.setU32(L.S_CPUID_PTR, this.cpuidBuf);
    this.loadCpuidRegs([]);
    c.setGpr(2, 0x600n);             // kvm_vcpu_reset: RDX = CPUID.1:EAX, 0x600 while the vCPU has no CPUID
    this.vcpuTemplate = c.bytes.slice(L.STATE, L.STATE + STATE_BYTES);
    this.fpuHost = (cfg.fpu ?? kernelHostFpu)({
      cpu: c, model: cfg.model, kernel: cfg.kernel, hostCpuid: this.hostCpuid,
      withHostCpuid: (fn) => this.withHostCpuid(fn),
    });
  }

  /** Write a CPUID table into the CPU (the loaded vCPU's, or the host's) and re-derive the feature cache. */
  loadCpuidRegs(entries: CpuidEntry[]): void {
    const c = this.cpu, L = c.L;
    const n = Math.min(entries.length, KVM_MAX_CPUID_ENTRIES);
    for (let i = 0; i < n; i++) writeCpuidEntry(c.bytes, entries[i], this.cpuidBuf + 40 * i);
    c.setU32(L.S_CPUID_N, n);
    c.setU32(L.S_FEAT, featuresFrom(entries));
    c.setU32(L.S_VENDOR, this.vendor);
    (c.ex.xsave_init as () => void)();
    (c.ex.set_mxcsr_mask as (v: number) => void)(this.hostMxcsrMask);
  }

  // the kernel's context for XSAVES/XRSTORS: the host's CPUID table and the layout derived from it
  private withHostCpuid<T>(fn: () => T): T {
    if (this.inHost) return fn();
    const c = this.cpu, L = c.L, b = c.bytes, saved = this.savedRegions;
    this.hostRegions.forEach(([o, h], i) => { saved[i].set(b.subarray(L.STATE + o, L.STATE + o + h.length)); b.set(h, L.STATE + o); });
    this.inHost = true;
    try {
      return fn();
    } finally {
      this.inHost = false;
      const b2 = c.bytes;
      this.hostRegions.forEach(([o], i) => b2.set(saved[i], L.STATE + o));
    }
  }
  private inHost = false;

  // ---- file descriptors ----
  open(): number { const fd = this.nextFd++; this.fds.set(fd, { kind: "kvm" }); return fd; }
  close(fd: number): number { return this.fds.delete(fd) ? 0 : -EBADF; }
  private install(f: File): number { const fd = this.nextFd++; this.fds.set(fd, f); return fd; }
  /** Host.scheduleEvent: queue a host event on a vCPU; its id, or -EBADF for a non-vCPU fd */
  scheduleHostEvent(fd: number, kind: HostEventKind, at: HostEventAt): number {
    const v = this.vcpuOf(fd);
    if (!v) return -EBADF;
    const id = this.nextHostEvent++;
    v.hostEvents.push({ id, kind, at, left: typeof at === "object" && "afterInsns" in at ? Math.max(0, Math.floor(at.afterInsns)) : undefined });
    return id;
  }
  vcpuOf(fd: number): Vcpu | null { const f = this.fds.get(fd); return f && f.kind === "vcpu" ? f.vcpu : null; }

  /** ioctl(2): ≥0 or -errno, never throws. */
  ioctl(fd: number, request: number, arg?: IoctlArg): number {
    try {
      if (typeof fd !== "number" || !Number.isInteger(fd)) return -EBADF;
      const f = this.fds.get(fd);
      if (!f) return -EBADF;
      const req = (typeof request === "number" ? request : Number(request)) >>> 0;
      if (!Number.isFinite(Number(request))) return -ENOTTY;
      if (f.kind === "kvm") return this.kvm_dev_ioctl(req, arg);
      if (f.kind === "vm") return this.kvm_vm_ioctl(f.vm, req, arg);
      return this.kvm_vcpu_ioctl(f.vcpu, req, arg);
    } catch (e) {
      this.internalErrors++;
      this.lastInternalError = e;
      return -EFAULT;
    }
  }
  /** exceptions the catch-all in ioctl() turned into -EFAULT (a bug in this model if ever non-zero) */
  internalErrors = 0;
  lastInternalError: unknown = null;

  // ---- argument access: user pointers are Uint8Arrays, or addresses in the host heap ----
  /** copy_{from,to}_user range check: a view of `size` bytes at the user pointer, or null (-EFAULT). */
  user(arg: IoctlArg, size: number, offset = 0): Uint8Array | null {
    if (arg instanceof Uint8Array) return arg.length >= offset + size ? arg.subarray(offset, offset + size) : null;
    if (typeof arg !== "number" && typeof arg !== "bigint") return null;
    if (typeof arg === "number" && !Number.isSafeInteger(arg)) return null;
    const a = Number(BigInt.asUintN(64, BigInt(arg))) + offset;
    const b = this.cpu.bytes;
    if (a < this.cpu.L.HOST_HEAP || a + size > b.length) return null;
    return b.subarray(a, a + size);
  }
  /** an ioctl's integer argument (unsigned long) */
  static int(arg: IoctlArg): bigint {
    if (arg === undefined) return 0n;
    if (arg instanceof Uint8Array) return BUFFER_AS_INT;
    if (typeof arg === "number") return Number.isFinite(arg) ? BigInt.asUintN(64, BigInt(Math.trunc(arg))) : BUFFER_AS_INT;
    if (typeof arg !== "bigint") return BUFFER_AS_INT;
    return BigInt.asUintN(64, arg);
  }

  // ---- /dev/kvm ----
  kvm_dev_ioctl(req: number, arg: IoctlArg): number {
    const n = KvmSystem.int(arg);
    switch (req) {
      case K.KVM_GET_API_VERSION: return n ? -EINVAL : KVM_API_VERSION;
      case K.KVM_CREATE_VM: return this.kvm_dev_ioctl_create_vm(n);
      case K.KVM_CHECK_EXTENSION: return this.kvm_vm_ioctl_check_extension_generic(n);
      case K.KVM_GET_VCPU_MMAP_SIZE: return n ? -EINVAL : KVM_RUN_PAGES * 4096;
      default: return this.kvm_arch_dev_ioctl(req, arg);
    }
  }

  private kvm_dev_ioctl_create_vm(type: bigint): number {
    if (type !== 0n) return -EINVAL;     // KVM_X86_DEFAULT_VM only
    return this.install({ kind: "vm", vm: new Vm(this.vmCount++) });
  }

  kvm_vm_ioctl_check_extension_generic(cap: bigint): number {
    if (cap > 0xffffffffn) return 0;
    switch (Number(cap)) {
      case KVM_CAP.USER_MEMORY: case KVM_CAP.EXT_CPUID: case KVM_CAP.SET_GUEST_DEBUG:
      case KVM_CAP.VCPU_EVENTS: case KVM_CAP.XSAVE: case KVM_CAP.IMMEDIATE_EXIT: case KVM_CAP.READONLY_MEM:
      case KVM_CAP.GET_MSR_FEATURES: case KVM_CAP.SYS_ATTRIBUTES: case KVM_CAP.SYNC_MMU: case KVM_CAP.HLT: case KVM_CAP.ENABLE_CAP:
      case KVM_CAP.MP_STATE: case KVM_CAP.DEBUGREGS:
        return 1;
      case KVM_CAP.XCRS: return this.fpuHost.supportedXcr0 ? 1 : 0;
      case KVM_CAP.XSAVE2: return this.fpuHost.capXsave2();
      case KVM_CAP.NR_VCPUS: return KVM_MAX_VCPUS;
      case KVM_CAP.MAX_VCPUS: return KVM_MAX_VCPUS;
      case KVM_CAP.MAX_VCPU_ID: return KVM_MAX_VCPU_IDS;
      case KVM_CAP.NR_MEMSLOTS: return NR_MEMSLOTS;
      default: return 0;
    }
  }

  // arch/x86/kvm/x86.c kvm_arch_dev_ioctl
  private kvm_arch_dev_ioctl(req: number, arg: IoctlArg): number {
    switch (req) {
      case K.KVM_GET_MSR_INDEX_LIST: {
        const h = this.user(arg, 4);
        if (!h) return -EFAULT;
        const list = [...MSR_INDEX_LIST, ...this.fpuHost.msrIndexList()];
        const dv = dvOf(h), n = dv.getUint32(0, true);
        dv.setUint32(0, list.length, true);
        if (n < list.length) return -E2BIG;
        const body = this.user(arg, 4 * list.length, 4);
        if (!body) return -EFAULT;
        const bd = dvOf(body);
        list.forEach((m, i) => bd.setUint32(4 * i, m, true));
        return 0;
      }
      case K.KVM_GET_SUPPORTED_CPUID: return this.kvm_dev_ioctl_get_cpuid(arg);
      case K.KVM_GET_DEVICE_ATTR:
      case K.KVM_HAS_DEVICE_ATTR: {
        const a = this.user(arg, 24);
        if (!a) return -EFAULT;
        const dv = dvOf(a);
        if (dv.getUint32(4, true) !== 0 || dv.getBigUint64(8, true) !== 0n) return -ENXIO;   // group 0, KVM_X86_XCOMP_GUEST_SUPP
        if (req === K.KVM_HAS_DEVICE_ATTR) return 0;
        const out = this.user(dv.getBigUint64(16, true), 8);
        if (!out) return -EFAULT;
        dvOf(out).setBigUint64(0, this.fpuHost.supportedXcr0, true);
        return 0;
      }
      default: return -EINVAL;
    }
  }

  /** The table KVM_GET_SUPPORTED_CPUID reports: the host model as KVM passes it through. */
  supportedCpuid(): CpuidEntry[] {
    const out = this.fpuHost.supportedCpuid(this.hostCpuid).map((e) => ({ ...e }));
    const l1 = out.find((e) => e.fn === 1);
    // KVM emulates x2APIC and the TSC deadline timer and sets the hypervisor bit
    if (l1) l1.ecx = (l1.ecx | (1 << 21) | (1 << 24) | (1 << 31)) >>> 0;
    const kvmSig = [0x4b4d564b, 0x564b4d56, 0x4d];   // "KVMKVMKVM\0\0\0"
    out.push({ fn: 0x40000000, idx: 0, flags: 0, eax: 0x40000001, ebx: kvmSig[0], ecx: kvmSig[1], edx: kvmSig[2] });
    out.push({ fn: 0x40000001, idx: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 });
    out.sort((a, b) => (a.fn >>> 0) - (b.fn >>> 0) || a.idx - b.idx);
    return out;
  }

  private kvm_dev_ioctl_get_cpuid(arg: IoctlArg): number {
    const h = this.user(arg, 8);
    if (!h) return -EFAULT;
    const dv = dvOf(h);
    let nent = dv.getUint32(0, true);
    if (nent < 1) return -E2BIG;
    if (nent > KVM_MAX_CPUID_ENTRIES) nent = KVM_MAX_CPUID_ENTRIES;
    const list = this.supportedCpuid();
    if (list.length > nent) return -E2BIG;
    const body = this.user(arg, 40 * list.length, 8);
    if (!body) return -EFAULT;
    list.forEach((e, i) => writeCpuidEntry(body, e, 40 * i));
    dv.setUint32(0, list.length, true);
    return 0;
  }

  // ---- VM ----
  kvm_vm_ioctl(vm: Vm, req: number, arg: IoctlArg): number {
    switch (req) {
      case K.KVM_CREATE_VCPU: return this.kvm_vm_ioctl_create_vcpu(vm, KvmSystem.int(arg));
      case K.KVM_SET_USER_MEMORY_REGION: {
        const a = this.user(arg, 32);
        if (!a) return -EFAULT;
        return this.kvm_set_memory_region(vm, a);
      }
      case K.KVM_CHECK_EXTENSION: return this.kvm_vm_ioctl_check_extension_generic(KvmSystem.int(arg));
      case K.KVM_ENABLE_CAP: {
        const a = this.user(arg, K.SIZEOF.kvm_enable_cap);
        return a ? -EINVAL : -EFAULT;
      }
      default: return -ENOTTY;            // kvm_arch_vm_ioctl
    }
  }

  private kvm_vm_ioctl_create_vcpu(vm: Vm, id: bigint): number {
    if (id >= BigInt(KVM_MAX_VCPU_IDS)) return -EINVAL;
    if (vm.vcpus.size >= KVM_MAX_VCPUS) return -EINVAL;
    const vid = Number(id);
    if (vm.vcpus.has(vid)) return -EEXIST;
    const v = new Vcpu(vm, vid);
    v.state.set(this.vcpuTemplate);
    if (vid !== 0) dvOf(v.state).setBigUint64(this.cpu.L.S_APIC_BASE, 0xfee00800n, true);   // only vCPU 0 is the BSP
    const ctx: FpuVcpuContext = {
      cpu: this.cpu, kernel: this.kernel, vcpuId: vid, vmId: vm.id,
      guestSupportedXcr0: () => v.guestSupportedXcr0,
      hasRun: () => v.hasRun,
      isLoaded: () => this.loaded === v,
    };
    const fpu = this.fpuHost.createVcpu(ctx);
    if (typeof fpu === "number") return fpu;
    v.fpu = fpu;
    vm.vcpus.set(vid, v);
    return this.install({ kind: "vcpu", vcpu: v });
  }

  // virt/kvm/kvm_main.c __kvm_set_memory_region (v6.x order of checks)
  private kvm_set_memory_region(vm: Vm, a: Uint8Array): number {
    const dv = dvOf(a);
    const slot = dv.getUint32(0, true), flags = dv.getUint32(4, true);
    const gpa = dv.getBigUint64(8, true), size = dv.getBigUint64(16, true), ua = dv.getBigUint64(24, true);
    if (flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) return -EINVAL;
    const asId = slot >>> 16, id = slot & 0xffff;
    if (size & 0xfffn) return -EINVAL;
    if (gpa & 0xfffn) return -EINVAL;
    if ((ua & 0xfffn) || ua + size > TASK_SIZE_MAX) return -EINVAL;
    if (asId >= 1 || id >= NR_MEMSLOTS) return -EINVAL;
    if (gpa + size > 0xffffffffffffffffn) return -EINVAL;
    if ((size >> 12n) > KVM_MEM_MAX_NR_PAGES) return -EINVAL;
    const old = vm.slots.get(id);
    if (size === 0n) {
      if (!old) return -EINVAL;
      vm.slots.delete(id);
      vm.slotGen++;
      if (this.loaded?.vm === vm) this.applySlots(vm);
      return 0;
    }
    let move = false;
    if (old) {
      if (ua !== BigInt(old.uaddr) || size !== old.size || ((flags ^ old.flags) & KVM_MEM_READONLY)) return -EINVAL;
      if (gpa !== old.gpa) move = true;
      else if (flags === old.flags) return 0;
    }
    if (!old || move) {
      for (const s of vm.slots.values()) if (s.id !== id && gpa < s.gpa + s.size && s.gpa < gpa + size) return -EEXIST;
      // kvm_arch_prepare_memory_region: beyond the host's MAXPHYADDR
      if (gpa + size > 1n << BigInt(this.model.physBits)) return -EINVAL;
    }
    // our user address space is the host heap: a range outside it faults on first use in Linux; here at once
    if (ua < BigInt(this.cpu.L.HOST_HEAP) || ua + size > BigInt(this.cpu.bytes.length)) return -EFAULT;
    vm.slots.set(id, { id, flags, gpa, size, uaddr: Number(ua) });
    vm.slotGen++;
    if (this.loaded?.vm === vm) this.applySlots(vm);      // the CPU is running this VM: update its slot table now
    return 0;
  }

  // ---- vCPU ----
  kvm_vcpu_ioctl(v: Vcpu, req: number, arg: IoctlArg): number {
    if (K._IOC_TYPE(req) !== K.KVMIO) return -EINVAL;
    this.vcpuLoad(v);
    return kvm_arch_vcpu_ioctl(this, v, req, arg);
  }

  /** vcpu_load(): make `v` the vCPU in the CPU (state block, pending IN, the VM's slots; the fpu keeps the physical FPU fields). */
  vcpuLoad(v: Vcpu): void {
    const c = this.cpu, L = c.L;
    if (this.loaded !== v) {
      if (this.loaded) this.vcpuPut(this.loaded);
      c.bytes.set(v.state, L.STATE);
      this.loadCpuidTable(v.cpuid);
      const ex = c.ex as unknown as Record<string, (...a: number[]) => number>;
      ex.io_restore(v.ioPending[0], v.ioPending[1], v.ioPending[2], v.ioPending[3]);
      this.loaded = v;
      v.fpu.load();
      c.ex.state_changed();
    }
    if (this.slotsOf !== v.vm || this.slotsGen !== v.vm.slotGen) this.applySlots(v.vm);
  }

  /** vcpu_put(): save the loaded vCPU out of the CPU. */
  vcpuPut(v: Vcpu): void {
    const c = this.cpu, L = c.L;
    if (this.loaded !== v) return;
    v.fpu.put();
    const ex = c.ex as unknown as Record<string, (...a: number[]) => number>;
    for (let i = 0; i < 4; i++) v.ioPending[i] = ex.io_pending(i);
    ex.io_restore(0, 0, 0, 0);
    v.state.set(c.bytes.subarray(L.STATE, L.STATE + STATE_BYTES));
    this.loaded = null;
  }

  isLoaded(v: Vcpu): boolean { return this.loaded === v; }

  private loadCpuidTable(entries: CpuidEntry[]): void {
    const b = this.cpu.bytes;
    for (let i = 0; i < entries.length; i++) writeCpuidEntry(b, entries[i], this.cpuidBuf + 40 * i);
  }

  private applySlots(vm: Vm): void {
    const c = this.cpu, L = c.L, dv = c.view;
    for (let i = 0; i < NR_MEMSLOTS; i++) {
      const s = vm.slots.get(i), p = L.SLOTS + 32 * i;
      dv.setBigUint64(p, s ? s.gpa : 0n, true);
      dv.setBigUint64(p + 8, s ? s.size : 0n, true);
      dv.setBigUint64(p + 16, s ? BigInt(s.uaddr) : 0n, true);
      dv.setUint32(p + 24, s && (s.flags & KVM_MEM_READONLY) ? 1 : 0, true);
      dv.setUint32(p + 28, s ? 1 : 0, true);
    }
    c.ex.flush_code();
    this.slotsOf = vm;
    this.slotsGen = vm.slotGen;
  }
}

// Feature bits (S_FEAT) from a CPUID table: the same derivation the models use.
import { featuresOf } from "../models/cpuid";
function featuresFrom(entries: CpuidEntry[]): number { return entries.length ? featuresOf(entries) : 0; }
