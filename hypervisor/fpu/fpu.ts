// The host kernel's FPU core for KVM guests: arch/x86/kernel/fpu/{core,xstate}.c
// and the #NM path of arch/x86/kernel/traps.c, modelled function by function
// (shared/reference/kernel-abi.md §2, §3.1–3.3, §3.7, §3.10–3.12, §4–7).
//
// The "hardware" is a WasmCpu: the FPU registers, XCR0, IA32_XSS, IA32_XFD,
// IA32_XFD_ERR and PKRU live in its state block, and every save/restore the
// kernel does runs the CPU's host-mode XSAVES/XRSTORS (or XSAVE/XRSTOR when
// the model lacks XSAVES) on a buffer in the CPU's host memory — so XFD's
// effect on XSTATE_BV and the #NM of XRSTORS are silicon's, not re-derived here.
//
// One FpuHost = one host CPU running one kernel behaviour (hypervisor/kernels.ts).
// Functions keep the kernel's names and argument order, with the host first.
// Where the four behaviours differ, the code asks `host.kernel.fpu` (the §8.1 seam).
import type { WasmCpu } from "../cpu/wasm_cpu";
import type { Model } from "../models/models";
import { getKernel, type KernelBehaviour } from "../kernels";
import {
  XstateLayout, bitsOf, type FpuStateConfig, type FpuStatePerm,
  XFEATURE_MASK_USER_SUPPORTED, XFEATURE_MASK_SUPERVISOR_SUPPORTED, XFEATURE_MASK_USER_DYNAMIC,
  XFEATURE_MASK_FPSTATE, XFEATURE_MASK_FPSSE, XFEATURE_MASK_FP, XFEATURE_MASK_SSE, XFEATURE_MASK_YMM,
  XFEATURE_MASK_PKRU, XFEATURE_MASK_SUPERVISOR_ALL, XFEATURE_MASK_XTILE_DATA, XFEATURE_PKRU, XFEATURE_MAX,
  XCOMP_BV_COMPACTED_FORMAT, FPU_GUEST_PERM_LOCKED, KVM_SUPPORTED_XCR0, KVM_XSAVE_SIZE,
  MXCSR_DEFAULT, FCW_DEFAULT, XSAVE_HDR_OFFSET, XSAVE_EXT_OFFSET, INIT_PKRU_VALUE,
  ARCH_GET_XCOMP_SUPP, ARCH_GET_XCOMP_PERM, ARCH_REQ_XCOMP_PERM, ARCH_GET_XCOMP_GUEST_PERM, ARCH_REQ_XCOMP_GUEST_PERM,
  EINVAL, EOPNOTSUPP, EBUSY, EPERM, EFAULT, ENOMEM,
} from "./xstate";

type HostOp = (buf: number, lo: number, hi: number) => number;

/** struct fpstate */
export class Fpstate {
  size = 0;
  user_size = 0;
  xfeatures = 0n;
  user_xfeatures = 0n;
  xfd = 0n;
  is_valloc = false;
  is_guest = false;
  is_confidential = false;
  in_use = false;
  /** host address of union fpregs_state (64-byte aligned), compacted when the host has XSAVES */
  regs = 0;
  /** bytes allocated at `regs` */
  alloc_size = 0;
  constructor(readonly id: number) {}
}

/** struct fpu (per task) */
export class Fpu {
  fpstate!: Fpstate;
  __task_fpstate: Fpstate | null = null;
  last_cpu = -1;
}

/** struct fpu_guest */
export class FpuGuest {
  fpstate!: Fpstate;
  xfeatures = 0n;
  /** 5.17 only: copy of the guest permission (B1 `perm`) */
  perm = 0n;
  xfd_err = 0n;
  uabi_size = 0;
}

/** A thread-group leader: where fpu_state_perm lives (group_leader->thread.fpu.{perm,guest_perm}). */
export class HostProcess {
  perm!: FpuStatePerm;
  guest_perm!: FpuStatePerm;
  killed = false;
  /** per-VM objects created by this process, told when the process dies (see HostOops) */
  readonly vms: { dead: boolean }[] = [];
  constructor(readonly pid: number, readonly comm: string) {}
}

/** A thread: its struct fpu and TIF_NEED_FPU_LOAD. */
export class HostTask {
  readonly fpu = new Fpu();
  TIF_NEED_FPU_LOAD = false;
  dead = false;
  constructor(readonly proc: HostProcess, readonly pid: number) {}
  get comm(): string { return this.proc.comm; }
}

/** What the kernel log shows for a host #NM in kernel mode (seed 003's traces, kernel-abi.md §3.12). */
export interface HostOopsReport {
  /** the WARN_ON in handle_xfd_event (inlined into exc_device_not_available) */
  warning: { file: string; line: number; function: "exc_device_not_available"; site: "handle_xfd_event"; text: string };
  /** where the #NM was raised */
  rip: "restore_fpregs_from_fpstate";
  /** callers, innermost first, e.g. switch_fpu_return, kvm_arch_vcpu_ioctl_run, kvm_vcpu_ioctl, __x64_sys_ioctl, … */
  callTrace: string[];
  /** the caller that matters: switch_fpu_return (IRQ/preemption race) or fpu_swap_kvm_fpstate (KVM_SET_XSAVE stuffing) */
  caller: string;
  die: string;
  vector: 7;
  xfd: bigint;
  xfd_err: bigint;
  xstate_bv: bigint;
  task: { pid: number; comm: string };
  taint: string;
  /** dmesg block in the format of the seed */
  text: string;
}

/** Thrown out of the kernel function that faulted: the task dies inside the syscall (KVM_RUN never returns). */
export class HostOops extends Error {
  constructor(readonly report: HostOopsReport) { super(`host oops: ${report.die}`); this.name = "HostOops"; }
}

export interface FpuHostOptions {
  /** kernel behaviour: version, alias or id (hypervisor/kernels.ts); default 6.19 */
  kernel?: string | KernelBehaviour;
  /** host PKRU of user tasks (default init_pkru_value when the host has PKU) */
  hostPkru?: number;
}

/**
 * The host: one CPU (WasmCpu with a model applied) and the kernel state that
 * is global or per-CPU (fpu_kernel_cfg, fpu_user_cfg, kvm_caps.supported_xcr0,
 * init_fpstate, the per-CPU xfd_state cache and fpregs owner).
 */
export class FpuHost {
  readonly kernel: KernelBehaviour;
  readonly layout: XstateLayout;
  readonly has_xsave: boolean;
  readonly has_xsaves: boolean;
  readonly has_xfd: boolean;
  readonly has_pku: boolean;
  readonly host_xcr0: bigint;
  readonly host_xss: bigint;
  readonly fpu_kernel_cfg: FpuStateConfig;
  readonly fpu_user_cfg: FpuStateConfig;
  readonly kvm_caps: { supported_xcr0: bigint };
  readonly mxcsr_feature_mask: number;
  readonly init_fpstate: Fpstate;
  readonly init_pkru: number;
  /** per-CPU xfd_state: the IA32_XFD value the kernel believes is in hardware */
  xfd_state: bigint;
  /** per-CPU fpu_fpregs_owner_ctx: whose registers are in the CPU (null after kernel_fpu_begin) */
  fpregs_owner: Fpu | null = null;
  /** kernel log lines */
  readonly dmesg: string[] = [];
  readonly oopses: HostOopsReport[] = [];
  taint = new Set<string>();
  /** the model's call stack, outermost first (for call traces) */
  readonly frames: string[] = [];
  current!: HostTask;
  private nextFpstate = 1;
  private nextPid = 1000;
  private readonly op: { xsaves: HostOp; xrstors: HostOp; xsave: HostOp; xrstor: HostOp };
  /** host CR0.TS: Linux never sets it (eager FPU), kept for exc_device_not_available's WARN branch */
  cr0_ts = false;

  constructor(readonly cpu: WasmCpu, readonly model: Model, opts: FpuHostOptions = {}) {
    this.kernel = typeof opts.kernel === "object" ? opts.kernel : getKernel(opts.kernel ?? "6.19");
    this.layout = new XstateLayout(model);
    const feats = new Set(model.features);
    this.has_xsave = feats.has("xsave");
    this.has_xsaves = this.has_xsave && model.xsaveFeatures.includes("xsaves");
    this.has_xfd = model.xsaveFeatures.includes("xfd") && feats.has("amx_tile");
    this.has_pku = feats.has("pku");
    const ex = cpu.ex as unknown as Record<string, HostOp>;
    this.op = { xsaves: ex.hostmode_xsaves, xrstors: ex.hostmode_xrstors, xsave: ex.hostmode_xsave, xrstor: ex.hostmode_xrstor };
    this.mxcsr_feature_mask = model.mxcsrMask ?? 0xffff;

    // fpu__init_system_xstate(): the kernel enables every supported user feature in XCR0 and
    // every supported supervisor feature in IA32_XSS
    const cpuXcr0 = this.has_xsave ? cpu.u64(cpu.L.S_XCR0_SUPPORTED) : 3n;
    this.host_xcr0 = cpuXcr0 & XFEATURE_MASK_USER_SUPPORTED;
    this.host_xss = this.has_xsaves ? cpu.u64(cpu.L.S_XSS_SUPPORTED) & XFEATURE_MASK_SUPERVISOR_SUPPORTED : 0n;
    const max = this.host_xcr0 | this.host_xss;
    const kdef = max & ~XFEATURE_MASK_USER_DYNAMIC;
    this.fpu_kernel_cfg = {
      max_features: max, default_features: kdef,
      max_size: this.layout.requiredSize(max, this.has_xsaves), default_size: this.layout.requiredSize(kdef, this.has_xsaves),
      legacy_features: XFEATURE_MASK_FPSSE,
    };
    const umax = max & XFEATURE_MASK_USER_SUPPORTED, udef = umax & ~XFEATURE_MASK_USER_DYNAMIC;
    this.fpu_user_cfg = {
      max_features: umax, default_features: udef,
      max_size: this.layout.requiredSize(umax, false), default_size: this.layout.requiredSize(udef, false),
      legacy_features: XFEATURE_MASK_FPSSE,
    };
    this.kvm_caps = { supported_xcr0: this.host_xcr0 & KVM_SUPPORTED_XCR0 };
    this.init_pkru = opts.hostPkru ?? (this.has_pku ? INIT_PKRU_VALUE : 0);

    // init_fpstate: the init image; host tasks start with XFD = XTILE_DATA on AMX hosts
    this.init_fpstate = this.newFpstate(this.fpu_kernel_cfg.max_size);
    __fpstate_reset_cfg(this, this.init_fpstate, fpu_state_size_dynamic(this) ? XFEATURE_MASK_USER_DYNAMIC : 0n);
    this.init_fpstate.xfeatures = this.fpu_kernel_cfg.max_features;
    fpstate_init_user(this, this.init_fpstate);

    // hardware state as the booted kernel leaves it
    cpu.setU64(cpu.L.S_XCR0, this.has_xsave ? this.host_xcr0 : 1n);
    cpu.setU64(cpu.L.S_XSS, this.host_xss);
    this.xfd_state = this.init_fpstate.xfd;
    if (this.has_xfd) { cpu.setU64(cpu.L.S_XFD, this.xfd_state); cpu.setU64(cpu.L.S_XFD_ERR, 0n); }
    if (this.has_pku) this.wrpkru(this.init_pkru);
    cpu.ex.state_changed();
    this.current = this.spawnProcess("init").task;
  }

  /** fork+exec of a user process (fpu_clone: default fpstate, init register contents, default permissions). */
  spawnProcess(comm: string): { proc: HostProcess; task: HostTask } {
    const proc = new HostProcess(this.nextPid, comm);
    const perm = (): FpuStatePerm => ({
      __state_perm: this.fpu_kernel_cfg.default_features, __state_size: this.fpu_kernel_cfg.default_size,
      __user_state_size: this.fpu_user_cfg.default_size,
    });
    proc.perm = perm(); proc.guest_perm = perm();
    const task = this.spawnThread(proc);
    return { proc, task };
  }

  /** A new thread of `proc`: its fpstate starts as a copy of init_fpstate and is not loaded (TIF_NEED_FPU_LOAD). */
  spawnThread(proc: HostProcess): HostTask {
    const t = new HostTask(proc, this.nextPid++);
    const fps = this.newFpstate(this.fpu_kernel_cfg.default_size);
    __fpstate_reset_cfg(this, fps, this.init_fpstate.xfd);
    fpstate_init_user(this, fps);
    t.fpu.fpstate = fps;
    t.TIF_NEED_FPU_LOAD = true;
    return t;
  }

  /** Make `task` current (a context switch done by the scheduler, §3.7): see switch_fpu_prepare. */
  switchTo(task: HostTask): void {
    if (task === this.current) return;
    switch_fpu_prepare(this, this.current);
    this.current = task;
  }

  newFpstate(size: number): Fpstate {
    const f = new Fpstate(this.nextFpstate++);
    f.regs = this.cpu.alloc(Math.max(size, XSAVE_EXT_OFFSET), 64);
    f.alloc_size = Math.max(size, XSAVE_EXT_OFFSET);
    return f;
  }

  /** Run `fn` with `name` on the model's call stack (for oops call traces). */
  call<T>(name: string, fn: () => T): T {
    this.frames.push(name);
    try { return fn(); } finally { this.frames.pop(); }
  }

  // ---- hardware access ----
  xsaveHw(buf: number, mask: bigint): number {
    const f = this.has_xsaves ? this.op.xsaves : this.op.xsave;
    return f(buf, Number(mask & 0xffffffffn) | 0, Number(mask >> 32n) | 0);
  }
  xrstorHw(buf: number, mask: bigint): number {
    const f = this.has_xsaves ? this.op.xrstors : this.op.xrstor;
    return f(buf, Number(mask & 0xffffffffn) | 0, Number(mask >> 32n) | 0);
  }
  rdmsr_xfd(): bigint { return this.cpu.u64(this.cpu.L.S_XFD); }
  wrmsr_xfd(v: bigint): void { this.cpu.setU64(this.cpu.L.S_XFD, v); this.cpu.ex.state_changed(); }
  rdmsr_xfd_err(): bigint { return this.cpu.u64(this.cpu.L.S_XFD_ERR); }
  wrmsr_xfd_err(v: bigint): void { this.cpu.setU64(this.cpu.L.S_XFD_ERR, v); }
  rdpkru(): number { return Number(this.cpu.u64(this.cpu.L.S_PKRU) & 0xffffffffn); }
  /** WRPKRU: like the instruction, marks PKRU in use (XINUSE[9]) and modified, whatever the value */
  wrpkru(v: number): void {
    const L = this.cpu.L;
    this.cpu.setU64(L.S_PKRU, BigInt(v >>> 0));
    this.cpu.setU64(L.S_XINUSE, this.cpu.u64(L.S_XINUSE) | XFEATURE_MASK_PKRU);
    this.cpu.setU64(L.S_XMODIFIED, this.cpu.u64(L.S_XMODIFIED) | XFEATURE_MASK_PKRU);
  }
  xgetbv0(): bigint { return this.cpu.u64(this.cpu.L.S_XCR0); }
  xsetbv0(v: bigint): void { this.cpu.setU64(this.cpu.L.S_XCR0, v); this.cpu.ex.state_changed(); }
  rdmsr_xss(): bigint { return this.cpu.u64(this.cpu.L.S_XSS); }
  wrmsr_xss(v: bigint): void { this.cpu.setU64(this.cpu.L.S_XSS, v); this.cpu.ex.state_changed(); }

  /** A view of an fpstate's register image. */
  image(fps: Fpstate): KernelImage { return new KernelImage(this, fps); }

  printk(line: string): void { this.dmesg.push(line); }
}

/** Reader/writer of a kernel register image (struct xregs_state in kernel memory). */
export class KernelImage {
  constructor(readonly host: FpuHost, readonly fps: Fpstate) {}
  get dv(): DataView { return this.host.cpu.view; }
  get bytes(): Uint8Array { return this.host.cpu.bytes.subarray(this.fps.regs, this.fps.regs + this.fps.alloc_size); }
  get xstate_bv(): bigint { return this.dv.getBigUint64(this.fps.regs + XSAVE_HDR_OFFSET, true); }
  set xstate_bv(v: bigint) { this.dv.setBigUint64(this.fps.regs + XSAVE_HDR_OFFSET, v, true); }
  get xcomp_bv(): bigint { return this.dv.getBigUint64(this.fps.regs + XSAVE_HDR_OFFSET + 8, true); }
  set xcomp_bv(v: bigint) { this.dv.setBigUint64(this.fps.regs + XSAVE_HDR_OFFSET + 8, v, true); }
  get compacted(): boolean { return (this.xcomp_bv & XCOMP_BV_COMPACTED_FORMAT) !== 0n; }
  /** __raw_xsave_addr(): byte offset of component i inside the image */
  offsetOf(i: number): number {
    return this.compacted ? this.host.layout.compactedOffset(this.xcomp_bv, i) : this.host.layout.offset[i];
  }
  component(i: number): Uint8Array {
    const o = this.fps.regs + this.offsetOf(i);
    return this.host.cpu.bytes.subarray(o, o + this.host.layout.size[i]);
  }
  u16(off: number): number { return this.dv.getUint16(this.fps.regs + off, true); }
  u32(off: number): number { return this.dv.getUint32(this.fps.regs + off, true); }
  setU16(off: number, v: number): void { this.dv.setUint16(this.fps.regs + off, v, true); }
  setU32(off: number, v: number): void { this.dv.setUint32(this.fps.regs + off, v >>> 0, true); }
}

// ---------------------------------------------------------------------------
// fpstate setup (arch/x86/kernel/fpu/core.c)

export function fpu_state_size_dynamic(host: FpuHost): boolean {
  return host.has_xfd && (host.fpu_kernel_cfg.max_features & XFEATURE_MASK_USER_DYNAMIC) !== 0n;
}

function __fpstate_reset_cfg(host: FpuHost, fps: Fpstate, xfd: bigint): void {
  fps.size = host.fpu_kernel_cfg.default_size;
  fps.user_size = host.fpu_user_cfg.default_size;
  fps.xfeatures = host.fpu_kernel_cfg.default_features;
  fps.user_xfeatures = host.fpu_user_cfg.default_features;
  fps.xfd = xfd;
}
/** __fpstate_reset(fpstate, xfd) */
export function __fpstate_reset(host: FpuHost, fps: Fpstate, xfd: bigint): void { __fpstate_reset_cfg(host, fps, xfd); }

/** fpstate_init_user(): zeroed image, FCW/MXCSR defaults, XSTATE_BV = 0, XCOMP_BV for the compacted format */
export function fpstate_init_user(host: FpuHost, fps: Fpstate): void {
  host.cpu.bytes.fill(0, fps.regs, fps.regs + fps.alloc_size);
  const im = host.image(fps);
  im.setU16(0, FCW_DEFAULT);
  im.setU32(24, MXCSR_DEFAULT);
  // fpstate_init_xstate(): the compacted format with every feature of this fpstate
  if (host.has_xsaves) im.xcomp_bv = XCOMP_BV_COMPACTED_FORMAT | fps.xfeatures;
}

/** fpu_init_guest_permissions(): the first vCPU locks ARCH_REQ_XCOMP_GUEST_PERM */
export function fpu_init_guest_permissions(host: FpuHost, gfpu: FpuGuest, proc: HostProcess): void {
  proc.guest_perm.__state_perm |= FPU_GUEST_PERM_LOCKED;
  gfpu.perm = proc.guest_perm.__state_perm & ~FPU_GUEST_PERM_LOCKED;
}

/**
 * fpu_alloc_guest_fpstate(gfpu) — kvm_arch_vcpu_create(). Returns false on allocation failure
 * (KVM then fails vCPU creation with -ENOMEM). `task` is the calling (VMM) thread.
 */
export function fpu_alloc_guest_fpstate(host: FpuHost, gfpu: FpuGuest, task: HostTask = host.current): boolean {
  let fps: Fpstate;
  try { fps = host.newFpstate(host.fpu_kernel_cfg.default_size); } catch { return false; }
  __fpstate_reset(host, fps, 0n);      // guests start with XFD = 0 (architectural reset value)
  fpstate_init_user(host, fps);
  fps.is_valloc = true;
  fps.is_guest = true;
  gfpu.fpstate = fps;
  gfpu.xfeatures = host.fpu_user_cfg.default_features;
  gfpu.uabi_size = host.kernel.fpu.uabiBaseSize === "kvm_xsave" ? KVM_XSAVE_SIZE : host.fpu_user_cfg.default_size;
  fpu_init_guest_permissions(host, gfpu, task.proc);
  return true;
}

/** fpu_free_guest_fpstate(): WARNs when the fpstate is still in use (a vCPU thread that died in KVM_RUN). */
export function fpu_free_guest_fpstate(host: FpuHost, gfpu: FpuGuest): void {
  const fps = gfpu.fpstate;
  if (!fps) return;
  if (fps.in_use) warn(host, "arch/x86/kernel/fpu/core.c", "fpu_free_guest_fpstate", "WARN_ON_FPU(fpstate->in_use)");
  // vfree(): the bump allocator does not reuse memory
  (gfpu as { fpstate: Fpstate | null }).fpstate = null;
}

// ---------------------------------------------------------------------------
// permissions (arch/x86/kernel/fpu/xstate.c)

/** xstate_prctl_req[]: only ARCH_XCOMP_TILEDATA requests anything */
function xstate_prctl_req(idx: number): bigint { return idx === 18 ? XFEATURE_MASK_XTILE_DATA : 0n; }

/** xstate_request_perm(idx, guest): 0 or -errno */
export function xstate_request_perm(host: FpuHost, task: HostTask, idx: number, guest: boolean): number {
  if (idx >= XFEATURE_MAX) return -EINVAL;
  const requested = xstate_prctl_req(idx);
  if (!requested) return -EOPNOTSUPP;
  if ((host.fpu_user_cfg.max_features & requested) !== requested) return -EOPNOTSUPP;
  const p = guest ? task.proc.guest_perm : task.proc.perm;
  if ((p.__state_perm & requested) === requested) return 0;
  if (guest && (p.__state_perm & FPU_GUEST_PERM_LOCKED)) return -EBUSY;
  return __xstate_request_perm(host, p, requested, guest);
}

function __xstate_request_perm(host: FpuHost, p: FpuStatePerm, requested: bigint, guest: boolean): number {
  const mask = (p.__state_perm | requested) & ~FPU_GUEST_PERM_LOCKED;
  const ksize = host.layout.requiredSize(mask, host.has_xsaves);
  const usize = host.layout.requiredSize(mask & XFEATURE_MASK_USER_SUPPORTED, false);
  void guest;   // !guest: validate_sigaltstack(usize) — no alternate stacks in the model
  p.__state_perm = host.kernel.fpu.permSetsRequestedOnly ? requested : mask;
  p.__state_size = ksize;
  p.__user_state_size = usize;
  return 0;
}

function group_perm(task: HostTask, guest: boolean): bigint {
  return (guest ? task.proc.guest_perm : task.proc.perm).__state_perm;
}

/** xstate_get_guest_group_perm() (used by KVM_CAP_XSAVE2 / KVM_GET_SUPPORTED_CPUID filtering) */
export function xstate_get_guest_group_perm(task: HostTask): bigint {
  return task.proc.guest_perm.__state_perm & ~FPU_GUEST_PERM_LOCKED;
}

/**
 * fpu_xstate_prctl(option, arg2) — arch_prctl(2). Returns the syscall result; for the GET options
 * the value put_user() would store is in `value`.
 */
export function fpu_xstate_prctl(host: FpuHost, task: HostTask, option: number, arg2: number | bigint): { r: number; value?: bigint } {
  switch (option) {
    case ARCH_GET_XCOMP_SUPP:
      return { r: 0, value: host.fpu_user_cfg.max_features | host.fpu_user_cfg.legacy_features };
    case ARCH_GET_XCOMP_PERM:
      return { r: 0, value: group_perm(task, false) & XFEATURE_MASK_USER_SUPPORTED };
    case ARCH_GET_XCOMP_GUEST_PERM:
      return { r: 0, value: group_perm(task, true) & XFEATURE_MASK_USER_SUPPORTED };
    case ARCH_REQ_XCOMP_PERM:
      return { r: xstate_request_perm(host, task, Number(arg2), false) };
    case ARCH_REQ_XCOMP_GUEST_PERM:
      return { r: xstate_request_perm(host, task, Number(arg2), true) };
    default:
      return { r: -EINVAL };
  }
}

// ---------------------------------------------------------------------------
// dynamic features (xstate.c)

/** fpstate_realloc(xfeatures, ksize, usize, guest_fpu) — only guest fpstates are modelled here */
export function fpstate_realloc(host: FpuHost, xfeatures: bigint, ksize: number, usize: number, gfpu: FpuGuest): number {
  const cur = gfpu.fpstate;
  let nw: Fpstate;
  try { nw = host.newFpstate(ksize); } catch { return -ENOMEM; }
  nw.size = ksize;
  nw.user_size = usize;
  nw.is_valloc = true;
  nw.is_guest = true;
  nw.is_confidential = cur.is_confidential;
  nw.in_use = cur.in_use;
  nw.xfeatures = cur.xfeatures | xfeatures;
  nw.user_xfeatures = host.kernel.fpu.reallocUpdatesGuestUserXfeatures ? cur.user_xfeatures | xfeatures : cur.user_xfeatures;
  nw.xfd = cur.xfd & ~xfeatures;
  gfpu.xfeatures |= xfeatures;
  gfpu.uabi_size = usize;
  // The new buffer starts as a fresh init image (XSTATE_BV = 0). When the fpstate is live on
  // this task the kernel saves the registers first and copies; KVM calls this from
  // KVM_SET_CPUID2 with the guest fpstate not in use, so guest contents are NOT carried over.
  if (cur.in_use && !host.current.TIF_NEED_FPU_LOAD && host.current.fpu.fpstate === cur) {
    save_fpregs_to_fpstate(host, host.current.fpu);
    host.cpu.bytes.copyWithin(nw.regs, cur.regs, cur.regs + Math.min(cur.alloc_size, nw.alloc_size));
    const im = host.image(nw);
    if (host.has_xsaves) im.xcomp_bv = XCOMP_BV_COMPACTED_FORMAT | nw.xfeatures;
    host.current.fpu.fpstate = nw;
  } else {
    fpstate_init_user(host, nw);
  }
  gfpu.fpstate = nw;
  return 0;
}

/** __xfd_enable_feature(xfd_err, guest_fpu) */
export function __xfd_enable_feature(host: FpuHost, xfd_err: bigint, gfpu: FpuGuest, task: HostTask = host.current): number {
  xfd_err &= XFEATURE_MASK_USER_DYNAMIC;
  const p = task.proc.guest_perm;
  if ((p.__state_perm & xfd_err) !== xfd_err) return -EPERM;
  const r = fpstate_realloc(host, xfd_err, p.__state_size, p.__user_state_size, gfpu);
  return r === -ENOMEM ? -EFAULT : r;
}

/** fpu_enable_guest_xfd_features(guest_fpu, xfeatures) — from kvm_check_cpuid() */
export function fpu_enable_guest_xfd_features(host: FpuHost, gfpu: FpuGuest, xfeatures: bigint, task: HostTask = host.current): number {
  xfeatures &= ~gfpu.xfeatures;
  if (!xfeatures) return 0;
  return __xfd_enable_feature(host, xfeatures, gfpu, task);
}

// ---------------------------------------------------------------------------
// save / restore / context switching (core.c, context.h)

/** save_fpregs_to_fpstate(fpu): os_xsave() with mask = fpstate->xfeatures and whatever XCR0/XFD/PKRU are live */
export function save_fpregs_to_fpstate(host: FpuHost, fpu: Fpu): void {
  host.call("save_fpregs_to_fpstate", () => {
    const fps = fpu.fpstate;
    const r = host.xsaveHw(fps.regs, fps.xfeatures);
    if (r !== 0) warn(host, "arch/x86/kernel/fpu/xstate.h", "save_fpregs_to_fpstate", `XSAVES faulted (vector ${r})`);
  });
}

/** xfd_update_state(fpstate): write IA32_XFD when the per-CPU cache differs */
export function xfd_update_state(host: FpuHost, fps: Fpstate): void {
  if (!fpu_state_size_dynamic(host)) return;
  if (host.xfd_state !== fps.xfd) {
    host.wrmsr_xfd(fps.xfd);
    host.xfd_state = fps.xfd;
  }
}

/**
 * restore_fpregs_from_fpstate(fpstate, mask): xfd_update_state, then XRSTORS with
 * fpu_kernel_cfg.max_features & mask. An #NM from the XRSTORS (XSTATE_BV[i]=1 with XFD[i]=1)
 * goes to exc_device_not_available → HostOops (thrown). A #GP (bad image) takes the
 * EX_TYPE_FPU_RESTORE fixup: WARN and reinitialise the registers from init_fpstate.
 */
export function restore_fpregs_from_fpstate(host: FpuHost, fps: Fpstate, mask: bigint = XFEATURE_MASK_FPSTATE): void {
  host.call("restore_fpregs_from_fpstate", () => {
    xfd_update_state(host, fps);
    const m = host.fpu_kernel_cfg.max_features & mask;
    const v = host.xrstorHw(fps.regs, m);
    if (v === 0) return;
    if (v === 7) {
      exc_device_not_available(host, { user_mode: false, rip: "restore_fpregs_from_fpstate", xstate_bv: host.image(fps).xstate_bv });
      return;
    }
    // ex_handler_fprestore()
    warn(host, "arch/x86/mm/extable.c", "ex_handler_fprestore", "Bad FPU state detected at restore_fpregs_from_fpstate, reinitializing FPU registers.");
    host.xrstorHw(host.init_fpstate.regs, m);
  });
}

function fpregs_mark_activate(host: FpuHost): void {
  const t = host.current;
  host.fpregs_owner = t.fpu;
  t.fpu.last_cpu = 0;
  t.TIF_NEED_FPU_LOAD = false;
}

/**
 * fpu_swap_kvm_fpstate(guest_fpu, enter) — kvm_load_guest_fpu() (enter=true) at the start of
 * KVM_RUN and kvm_put_guest_fpu() (enter=false) at its end, in the current (vCPU) thread.
 * May throw HostOops (the restore's #NM).
 */
export function fpu_swap_kvm_fpstate(host: FpuHost, gfpu: FpuGuest, enter: boolean): void {
  host.call("fpu_swap_kvm_fpstate", () => {
    const task = host.current;
    const fpu = task.fpu;
    const cur = fpu.fpstate;
    // fpregs_lock()
    if (!cur.is_confidential && !task.TIF_NEED_FPU_LOAD) save_fpregs_to_fpstate(host, fpu);
    if (enter) {
      fpu.__task_fpstate = cur;
      fpu.fpstate = gfpu.fpstate;
      gfpu.fpstate.in_use = true;
    } else {
      gfpu.fpstate.in_use = false;
      fpu.fpstate = fpu.__task_fpstate!;
      fpu.__task_fpstate = null;
    }
    const nw = fpu.fpstate;
    if (!nw.is_confidential) restore_fpregs_from_fpstate(host, nw, XFEATURE_MASK_FPSTATE);
    else xfd_update_state(host, nw);
    fpregs_mark_activate(host);
    // fpregs_unlock()
  });
}

/**
 * kernel_fpu_begin_mask() — an in-kernel FPU user (e.g. a hard/soft IRQ with irq_fpu_usable()).
 * Saves the current task's registers into its CURRENT fpstate (the guest fpstate during
 * KVM_RUN) with the hardware XFD of this moment, and sets TIF_NEED_FPU_LOAD.
 */
export function kernel_fpu_begin_mask(host: FpuHost, _kfpu_mask = 3): void {
  host.call("kernel_fpu_begin_mask", () => {
    const t = host.current;
    if (!t.TIF_NEED_FPU_LOAD) {
      t.TIF_NEED_FPU_LOAD = true;
      save_fpregs_to_fpstate(host, t.fpu);
    }
    host.fpregs_owner = null;      // __cpu_invalidate_fpregs_state()
  });
}
export function kernel_fpu_begin(host: FpuHost): void { kernel_fpu_begin_mask(host, 3); }
/** kernel_fpu_end(): nothing to restore eagerly; the task's registers come back at switch_fpu_return(). */
export function kernel_fpu_end(_host: FpuHost): void { /* preempt_enable() */ }

/**
 * A host interrupt whose handler uses the FPU (S4 step 5): kernel_fpu_begin, clobber some
 * registers (the handler's own SIMD work), kernel_fpu_end.
 */
export function host_irq_uses_fpu(host: FpuHost): void {
  host.call("irq_exit_rcu", () => {
    kernel_fpu_begin(host);
    // the handler runs SIMD code: XMM0 and MXCSR are no longer the task's
    const x = host.cpu.L;
    host.cpu.bytes.fill(0xa5, x.XSTATE + x.X_XMM, x.XSTATE + x.X_XMM + 16);
    kernel_fpu_end(host);
  });
}

/** switch_fpu_prepare(prev): a context switch away from `prev` saves its registers (preemption, §3.7) */
export function switch_fpu_prepare(host: FpuHost, prev: HostTask): void {
  if (!prev.TIF_NEED_FPU_LOAD && !prev.dead) {
    save_fpregs_to_fpstate(host, prev.fpu);
    prev.TIF_NEED_FPU_LOAD = true;
  }
  host.fpregs_owner = null;
}

/**
 * switch_fpu_return() → fpregs_restore_userregs(): reload the current task's fpstate if its
 * registers are not in the CPU (vcpu_enter_guest() calls it when TIF_NEED_FPU_LOAD is set).
 * May throw HostOops.
 */
export function switch_fpu_return(host: FpuHost): void {
  host.call("switch_fpu_return", () => {
    const t = host.current;
    if (host.fpregs_owner !== t.fpu || t.fpu.last_cpu !== 0 || t.TIF_NEED_FPU_LOAD) {
      restore_fpregs_from_fpstate(host, t.fpu.fpstate, XFEATURE_MASK_FPSTATE);
      host.fpregs_owner = t.fpu;
      t.fpu.last_cpu = 0;
    }
    t.TIF_NEED_FPU_LOAD = false;
  });
}

/** fpu_sync_guest_vmexit_xfd_state(): after VM-exit when XFD writes are not intercepted */
export function fpu_sync_guest_vmexit_xfd_state(host: FpuHost): void {
  const fps = host.current.fpu.fpstate;
  if (!fpu_state_size_dynamic(host)) return;
  fps.xfd = host.rdmsr_xfd();
  host.xfd_state = fps.xfd;
}

/**
 * fpu_update_guest_xfd(guest_fpu, xfd) — the IA32_XFD write path (kvm_set_msr_common).
 * B4 first clears XSTATE_BV[xfd] when the guest state is not in the registers
 * (TIF_NEED_FPU_LOAD of the calling thread); B1–B3 only set fpstate->xfd.
 */
export function fpu_update_guest_xfd(host: FpuHost, gfpu: FpuGuest, xfd: bigint): void {
  host.call("fpu_update_guest_xfd", () => {
    const fps = gfpu.fpstate;
    const clear = host.kernel.fpu.updateGuestXfdClear(xfd, host.current.TIF_NEED_FPU_LOAD);
    if (clear) {
      const im = host.image(fps);
      im.xstate_bv = im.xstate_bv & ~clear;
    }
    fps.xfd = xfd;
    if (fps.in_use) xfd_update_state(host, fps);
  });
}

// ---------------------------------------------------------------------------
// uabi conversion (xstate.c)

/**
 * __copy_xstate_to_uabi_buf(to, fpstate, xfeatures, pkru_val, XSTATE_COPY_XSAVE): the
 * standard-format image of `fpstate` into `to` (its length is the membuf size: 4096 for
 * KVM_GET_XSAVE, uabi_size for KVM_GET_XSAVE2). `xfeatures` is B3/B4's extra mask (all ones
 * for B1/B2, whose signature has no such argument).
 */
export function __copy_xstate_to_uabi_buf(host: FpuHost, to: Uint8Array, fps: Fpstate, xfeatures: bigint, pkru_val: number): void {
  const out = new Membuf(to);
  const im = host.image(fps);
  const k = host.cpu.bytes;
  const base = fps.regs;
  const hdrBv = im.xstate_bv & fps.user_xfeatures & xfeatures;
  // init values (xinit): FCW 0x37F, MXCSR 0x1F80 with the host MXCSR_MASK, the rest zero
  const init = new Uint8Array(512);
  const idv = new DataView(init.buffer);
  idv.setUint16(0, FCW_DEFAULT, true);
  idv.setUint32(24, MXCSR_DEFAULT, true);
  idv.setUint32(28, host.mxcsr_feature_mask, true);
  const feat = (on: boolean, off: number, len: number) => out.write(on ? k.subarray(base + off, base + off + len) : init.subarray(off, off + len));
  feat((hdrBv & XFEATURE_MASK_FP) !== 0n, 0, 24);
  feat((hdrBv & (XFEATURE_MASK_SSE | XFEATURE_MASK_YMM)) !== 0n, 24, 8);
  feat((hdrBv & XFEATURE_MASK_FP) !== 0n, 32, 128);
  feat((hdrBv & XFEATURE_MASK_SSE) !== 0n, 160, 256);
  out.zero(48);                                              // i387.padding
  const sw = new Uint8Array(48);                             // xstate_fx_sw_bytes
  new DataView(sw.buffer).setBigUint64(0, host.fpu_user_cfg.max_features, true);
  out.write(sw);
  const hdr = new Uint8Array(64);
  new DataView(hdr.buffer).setBigUint64(0, hdrBv, true);
  out.write(hdr);
  let zerofrom = XSAVE_EXT_OFFSET;
  const L = host.layout;
  const v517 = host.kernel.fpu.extendedAreaStyle === "v5.17";
  const walk = v517 ? fps.user_xfeatures : hdrBv;
  for (const i of bitsOf(walk).filter((b) => b >= 2).sort((a, b) => L.offset[a] - L.offset[b])) {
    if (zerofrom < L.offset[i]) out.zero(L.offset[i] - zerofrom);
    if (i === XFEATURE_PKRU) {
      const p = new Uint8Array(L.size[i]);
      new DataView(p.buffer).setUint32(0, pkru_val >>> 0, true);
      out.write(p);
    } else if (!v517 || (hdrBv >> BigInt(i)) & 1n) {
      out.write(im.component(i));
    } else {
      out.zero(L.size[i]);                                     // init state of AVX/AVX-512/AMX: zeros
    }
    zerofrom = L.offset[i] + L.size[i];
  }
  out.zero(out.left);
}

/**
 * fpu_copy_guest_fpstate_to_uabi(gfpu, buf, size, xfeatures, pkru) — KVM_GET_XSAVE{,2}.
 * Hosts without XSAVE get the FXSAVE image with XSTATE_BV = FP|SSE.
 */
export function fpu_copy_guest_fpstate_to_uabi(host: FpuHost, gfpu: FpuGuest, buf: Uint8Array, size: number, xfeatures: bigint, pkru: number): void {
  const to = buf.subarray(0, size);
  const fps = gfpu.fpstate;
  if (host.has_xsave) {
    __copy_xstate_to_uabi_buf(host, to, fps, xfeatures, pkru);
  } else {
    to.fill(0);
    to.set(host.cpu.bytes.subarray(fps.regs, fps.regs + 512));
    new DataView(to.buffer, to.byteOffset).setBigUint64(512, XFEATURE_MASK_FPSSE, true);
  }
}

/** validate_user_xstate_header(hdr, fpstate): 0 or -EINVAL */
export function validate_user_xstate_header(hdr: { xfeatures: bigint; xcomp_bv: bigint; reserved: bigint[] }, fps: Fpstate): number {
  if (hdr.xfeatures & ~fps.user_xfeatures) return -EINVAL;
  if (hdr.xcomp_bv) return -EINVAL;
  if (hdr.reserved.some((r) => r !== 0n)) return -EINVAL;
  return 0;
}

function readHeader(dv: DataView): { xfeatures: bigint; xcomp_bv: bigint; reserved: bigint[] } {
  return {
    xfeatures: dv.getBigUint64(512, true), xcomp_bv: dv.getBigUint64(520, true),
    reserved: Array.from({ length: 6 }, (_, k) => dv.getBigUint64(528 + 8 * k, true)),
  };
}

/**
 * copy_uabi_to_xstate(fpstate, kbuf, pkru) — validate the user image, then copy each component
 * with XSTATE_BV[i]=1 into the kernel image. All checks happen before any write.
 */
export function copy_uabi_to_xstate(host: FpuHost, fps: Fpstate, kbuf: Uint8Array, pkru: { value: number } | null): number {
  const dv = new DataView(kbuf.buffer, kbuf.byteOffset, kbuf.byteLength);
  const hdr = readHeader(dv);
  if (validate_user_xstate_header(hdr, fps)) return -EINVAL;
  const im = host.image(fps);
  if (hdr.xfeatures & (XFEATURE_MASK_FP | XFEATURE_MASK_SSE | XFEATURE_MASK_YMM)) {
    const mxcsr = dv.getUint32(24, true), mxcsr_mask = dv.getUint32(28, true);
    if (mxcsr & ~host.mxcsr_feature_mask) return -EINVAL;
    if (!(hdr.xfeatures & XFEATURE_MASK_FP)) { im.setU32(24, mxcsr); im.setU32(28, mxcsr_mask); }
  }
  const L = host.layout;
  for (const i of bitsOf(hdr.xfeatures)) {
    const dst = fps.regs + im.offsetOf(i);
    host.cpu.bytes.set(kbuf.subarray(L.offset[i], L.offset[i] + L.size[i]), dst);
  }
  if ((hdr.xfeatures & XFEATURE_MASK_PKRU) && pkru) pkru.value = dv.getUint32(L.offset[XFEATURE_PKRU], true);
  im.xstate_bv = (im.xstate_bv & XFEATURE_MASK_SUPERVISOR_ALL) | hdr.xfeatures;
  return 0;
}

/**
 * fpu_copy_uabi_to_guest_fpstate(gfpu, buf, xcr0, vpkru) — KVM_SET_XSAVE after KVM's own
 * preprocessing. `vpkru.value` is vcpu->arch.pkru; it changes only when XSTATE_BV[PKRU]=1.
 */
export function fpu_copy_uabi_to_guest_fpstate(host: FpuHost, gfpu: FpuGuest, buf: Uint8Array, xcr0: bigint, vpkru: { value: number }): number {
  const kstate = gfpu.fpstate;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bv = dv.getBigUint64(512, true);
  if (!host.has_xsave) {
    if (bv & ~XFEATURE_MASK_FPSSE) return -EINVAL;
    if (dv.getUint32(24, true) & ~host.mxcsr_feature_mask) return -EINVAL;
    host.cpu.bytes.set(buf.subarray(0, 512), kstate.regs);
    return 0;
  }
  if (bv & ~xcr0) return -EINVAL;
  if (host.kernel.fpu.copyUabiRejectsXfdBits && (bv & kstate.xfd)) {
    warn(host, "arch/x86/kernel/fpu/core.c", "fpu_copy_uabi_to_guest_fpstate", "WARN_ON_ONCE(ustate->xsave.header.xfeatures & kstate->xfd)");
    return -EINVAL;
  }
  return copy_uabi_to_xstate(host, kstate, buf, bv & XFEATURE_MASK_PKRU ? vpkru : null);
}

// ---------------------------------------------------------------------------
// traps.c

export interface PtRegs { user_mode: boolean; rip: "restore_fpregs_from_fpstate" | string; xstate_bv?: bigint }

/** handle_xfd_event(regs): true when the #NM was an XFD fault handled for user mode */
export function handle_xfd_event(host: FpuHost, regs: PtRegs): { handled: boolean; xfd_err: bigint; warned: boolean } {
  if (!host.has_xfd) return { handled: false, xfd_err: 0n, warned: false };
  const xfd_err = host.rdmsr_xfd_err();
  if (!xfd_err) return { handled: false, xfd_err, warned: false };
  host.wrmsr_xfd_err(0n);
  if (!regs.user_mode) return { handled: false, xfd_err, warned: true };      // WARN_ON(!user_mode(regs))
  // user mode: xfd_enable_feature() → realloc or SIGILL; not reachable from the kernel's own XRSTORS
  return { handled: true, xfd_err, warned: false };
}

const TRAPS_LINE = 1524;   // arch/x86/kernel/traps.c line of the 6.19-rc2 report (seed 003); other trees differ

/**
 * exc_device_not_available(regs) for a kernel-mode #NM: the WARN in handle_xfd_event, then
 * die("unexpected #NM exception"): the current task is killed inside its syscall, its process
 * and the VMs it owns are dead. Throws HostOops.
 */
export function exc_device_not_available(host: FpuHost, regs: PtRegs): void {
  const xfd = host.rdmsr_xfd();
  const ev = handle_xfd_event(host, regs);
  if (ev.handled) return;
  const t = host.current;
  const frames = [...host.frames].reverse().filter((f) => f !== "restore_fpregs_from_fpstate");
  if (!frames.includes("do_syscall_64") && frames.includes("kvm_arch_vcpu_ioctl_run")) {
    if (!frames.includes("kvm_vcpu_ioctl")) frames.push("kvm_vcpu_ioctl");
    frames.push("__x64_sys_ioctl", "do_syscall_64", "entry_SYSCALL_64_after_hwframe");
  }
  const caller = frames[0] ?? "?";
  const release = host.kernel.fpu.release;
  const warnText = `WARNING: arch/x86/kernel/traps.c:${TRAPS_LINE} at exc_device_not_available+0x101/0x110, CPU#0: ${t.comm}/${t.pid}`;
  // the WARNING's header shows the taint before the WARN itself adds W
  const taintStr = host.taint.size ? `Tainted: G ${[...host.taint].sort().join(" ")}` : "Not tainted";
  if (ev.warned) host.taint.add("W");
  if (host.cr0_ts) {
    host.printk("CR0.TS was set");
    host.cr0_ts = false;
    return;
  }
  const lines = [
    "------------[ cut here ]------------",
    ...(ev.warned ? [
      warnText,
      "Modules linked in: kvm_intel kvm irqbypass",
      `CPU: 0 UID: 0 PID: ${t.pid} Comm: ${t.comm} ${taintStr} ${release} #1`,
      "Hardware name: x86kvm host (" + host.model.name + ")",
      "RIP: 0010:exc_device_not_available+0x101/0x110",
      "Call Trace:",
      " <TASK>",
      " asm_exc_device_not_available+0x1a/0x20",
      `RIP: 0010:${regs.rip}+0x36/0x90`,
      ...frames.map((f) => ` ${f}${f.startsWith("kvm_") ? " [kvm]" : ""}`),
      " </TASK>",
      "---[ end trace 0000000000000000 ]---",
    ] : []),
    "Oops: unexpected #NM exception: 0000 [#1] PREEMPT SMP NOPTI",
    `CPU: 0 UID: 0 PID: ${t.pid} Comm: ${t.comm} Tainted: G D${ev.warned ? " W" : ""} ${release} #1`,
    `RIP: 0010:${regs.rip}+0x36/0x90`,
    `XFD: ${hex(xfd)} XFD_ERR: ${hex(ev.xfd_err)} XSTATE_BV: ${hex(regs.xstate_bv ?? 0n)}`,
    "---[ end trace 0000000000000000 ]---",
  ];
  host.taint.add("D");
  for (const l of lines) host.printk(l);
  const report: HostOopsReport = {
    warning: { file: "arch/x86/kernel/traps.c", line: TRAPS_LINE, function: "exc_device_not_available", site: "handle_xfd_event", text: warnText },
    rip: "restore_fpregs_from_fpstate", callTrace: frames, caller, die: "unexpected #NM exception", vector: 7,
    xfd, xfd_err: ev.xfd_err, xstate_bv: regs.xstate_bv ?? 0n, task: { pid: t.pid, comm: t.comm },
    taint: [...host.taint].sort().join(""), text: lines.join("\n"),
  };
  host.oopses.push(report);
  // make_task_dead(SIGSEGV): the vCPU thread never returns from its ioctl; the VMM dies
  t.dead = true;
  t.proc.killed = true;
  for (const vm of t.proc.vms) vm.dead = true;
  throw new HostOops(report);
}

function warn(host: FpuHost, file: string, fn: string, what: string): void {
  host.taint.add("W");
  host.printk("------------[ cut here ]------------");
  host.printk(`WARNING: ${file} at ${fn}: ${what}`);
}

function hex(v: bigint): string { return "0x" + v.toString(16); }

/** A bounded output buffer (struct membuf): writes past the end are dropped. */
class Membuf {
  pos = 0;
  constructor(readonly to: Uint8Array) {}
  get left(): number { return this.to.length - this.pos; }
  write(src: Uint8Array): void {
    const n = Math.min(src.length, this.left);
    this.to.set(src.subarray(0, n), this.pos);
    this.pos += n;
  }
  zero(n: number): void {
    n = Math.min(n, this.left);
    this.to.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
}

export { XFEATURE_MASK_FPSTATE, XFEATURE_MASK_USER_DYNAMIC };
