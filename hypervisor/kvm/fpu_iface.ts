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
// The default implementations below are deliberately minimal (no B1–B4
// differences beyond the GET mask): they keep the vCPU's register file as the
// CPU's own raw image and convert with the CPU's host-mode XSAVE/XRSTOR
// primitives (cpu/index.ts hostmode_xsave / hostmode_xrstor), run — like the
// kernel's — with the HOST's XCR0 and CPUID leaf 0xD layout in effect. The
// fpu engineer replaces them via HostOptions.fpu (a HostFpu factory).
import type { WasmCpu } from "../cpu/wasm_cpu";
import type { CpuidEntry } from "../models/cpuid";
import type { KernelBehaviour } from "../kernels";
import { EINVAL, EFAULT, EPERM, EBUSY, EOPNOTSUPP, ARCH } from "../uapi/consts";
import { dvOf } from "../uapi/structs";

/** What the fpu code may know about the vCPU it belongs to (read-only view of vcpu->arch). */
export interface FpuVcpuContext {
  readonly cpu: WasmCpu;
  readonly kernel: KernelBehaviour;
  readonly vcpuId: number;
  /** vcpu->arch.guest_supported_xcr0 (0 until KVM_SET_CPUID2) */
  guestSupportedXcr0(): bigint;
  /** kvm_vcpu_has_run() */
  hasRun(): boolean;
  /** the CPU currently holds this vCPU's state block (always true inside the VcpuFpu calls below, except load/put) */
  isLoaded(): boolean;
}

/** Result of an MSR access the fpu code owns: ok=false makes KVM_GET/SET_MSRS stop at this entry. */
export type FpuMsrResult = { ok: boolean; value?: bigint };

export interface VcpuFpu {
  /** fpu_swap_kvm_fpstate(enter): put this vCPU's register file into the CPU (called with the state block already loaded). */
  load(): void;
  /** fpu_swap_kvm_fpstate(exit): take the register file out of the CPU (state block still loaded). */
  put(): void;
  /** gfpu.uabi_size: bytes KVM_GET_XSAVE2 writes and KVM_SET_XSAVE reads. */
  uabiSize(): number;
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
}

/** Host facts the fpu needs, gathered by the Host from its CPU model. */
export interface HostFpuConfig {
  cpu: WasmCpu;
  kernel: KernelBehaviour;
  hostCpuid: CpuidEntry[];
  /** run fn with the host's CPUID leaf 0xD layout, XCR0 = xcr0 and XSS = 0 in the CPU (kernel context), then restore */
  inHostContext<T>(xcr0: bigint, fn: () => T): T;
  /** 64-byte-aligned scratch buffer in the wasm memory, ≥ 16 KiB */
  scratch: number;
}
export type HostFpuFactory = (cfg: HostFpuConfig) => HostFpu;

// ---- constants (arch/x86/include/asm/fpu/xstate.h, arch/x86/kvm/x86.c) ----
export const XFEATURE_MASK_FPSSE = 0x3n;
export const XFEATURE_MASK_XTILE = 0x60000n;
export const XFEATURE_MASK_USER_DYNAMIC = 0x40000n;
export const KVM_SUPPORTED_XCR0 = 0x1n | 0x2n | 0x4n | 0x8n | 0x10n | 0xe0n | 0x200n | XFEATURE_MASK_XTILE;

const leaf = (e: CpuidEntry[], fn: number, idx = 0) => e.find((x) => x.fn === fn && x.idx === idx);

/** KVM's xstate_required_size(xstate_bv, compacted = false) over a CPUID table. */
export function xstateRequiredSize(entries: CpuidEntry[], bv: bigint): number {
  let ret = 576;
  for (let i = 2; i < 64; i++) {
    if (!((bv >> BigInt(i)) & 1n)) continue;
    const e = leaf(entries, 0xd, i);
    if (e) ret = Math.max(ret, e.ebx + e.eax);
  }
  return ret;
}

/** The default HostFpu: a plain v6.x host with the permission model of §3.2, no behaviour hooks. */
export const defaultHostFpu: HostFpuFactory = (cfg) => {
  const d0 = leaf(cfg.hostCpuid, 0xd, 0);
  const hostXcr0 = d0 ? (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0) : 0n;
  const hasXfd = ((leaf(cfg.hostCpuid, 0xd, 1)?.eax ?? 0) & 16) !== 0;
  const supportedXcr0 = hostXcr0 & KVM_SUPPORTED_XCR0;
  // guest_perm: default features (all but the dynamic ones); locked by the first vCPU
  let guestPerm = hostXcr0 & ~XFEATURE_MASK_USER_DYNAMIC;
  let locked = false;
  const filtered = () => {
    let x = supportedXcr0;
    if (x & XFEATURE_MASK_USER_DYNAMIC) {
      x &= guestPerm;
      if (!(x & XFEATURE_MASK_USER_DYNAMIC)) x &= ~0x20000n;
    }
    return x;
  };
  const putU64 = (arg: number | bigint | Uint8Array, v: bigint): number => {
    if (!(arg instanceof Uint8Array) || arg.length < 8) return -EFAULT;
    dvOf(arg).setBigUint64(0, v, true);
    return 0;
  };
  const host: HostFpu = {
    supportedXcr0,
    archPrctl(code, arg) {
      switch (code) {
        case ARCH.GET_XCOMP_SUPP: return putU64(arg, hostXcr0);
        case ARCH.GET_XCOMP_PERM: return putU64(arg, hostXcr0 & ~XFEATURE_MASK_USER_DYNAMIC);   // process perm: not modelled
        case ARCH.GET_XCOMP_GUEST_PERM: return putU64(arg, guestPerm);
        case ARCH.REQ_XCOMP_PERM:
        case ARCH.REQ_XCOMP_GUEST_PERM: {
          if (typeof arg === "object") return -EINVAL;
          const idx = Number(arg);
          if (!Number.isInteger(idx) || idx < 0 || idx > 63) return -EINVAL;
          const bit = 1n << BigInt(idx);
          if (!(hostXcr0 & bit)) return -EOPNOTSUPP;
          if (!(bit & XFEATURE_MASK_USER_DYNAMIC)) return (guestPerm & bit) ? 0 : -EOPNOTSUPP;
          if (code === ARCH.REQ_XCOMP_PERM) return 0;
          if ((guestPerm & bit) === bit) return 0;
          if (locked) return -EBUSY;
          guestPerm |= XFEATURE_MASK_XTILE & hostXcr0;
          return 0;
        }
        default: return -EINVAL;
      }
    },
    capXsave2: () => Math.max(4096, xstateRequiredSize(cfg.hostCpuid, filtered())),
    supportedCpuid(entries) {
      const x = filtered();
      const size = xstateRequiredSize(entries, x);
      const out: CpuidEntry[] = [];
      for (const e of entries) {
        if (e.fn !== 0xd) { out.push({ ...e }); continue; }
        if (e.idx === 0) { out.push({ ...e, eax: Number(x & 0xffffffffn) >>> 0, edx: Number(x >> 32n) >>> 0, ebx: size, ecx: size }); continue; }
        if (e.idx === 1) { out.push({ ...e, ebx: 0 }); continue; }
        if (!((x >> BigInt(e.idx)) & 1n) && !(e.ecx & 1)) continue;
        out.push({ ...e, ecx: hasXfd ? e.ecx : e.ecx & ~4 });
      }
      return out;
    },
    msrIndexList: () => (hasXfd ? [0x1c4, 0x1c5] : []),
    createVcpu(ctx) {
      locked = true;
      return new DefaultVcpuFpu(ctx, cfg, host, () => guestPerm, hasXfd);
    },
  };
  return host;
};

/**
 * The default guest fpstate: the CPU's raw register file (XSTATE, X_END bytes)
 * saved per vCPU; KVM_GET/SET_XSAVE convert through hostmode_xsave/xrstor.
 * B1–B4 differences are NOT modelled here except the B3/B4 GET mask.
 */
export class DefaultVcpuFpu implements VcpuFpu {
  private regs: Uint8Array;          // the register file while the vCPU is not loaded
  private uabi = 4096;
  private xfeatures: bigint;         // gfpu.xfeatures (grows with dynamic features)

  constructor(private ctx: FpuVcpuContext, private cfg: HostFpuConfig, private host: HostFpu, private perm: () => bigint, private hasXfd: boolean) {
    const L = ctx.cpu.L;
    this.regs = new Uint8Array(L.X_END);
    const dv = dvOf(this.regs);
    dv.setUint16(L.X_FCW, 0x37f, true);     // fpstate_init_user: FCW 0x37F, MXCSR 0x1F80, XSTATE_BV 0
    dv.setUint32(L.X_MXCSR, 0x1f80, true);
    this.xfeatures = host.supportedXcr0 & ~XFEATURE_MASK_USER_DYNAMIC;
  }

  load(): void { const c = this.ctx.cpu; c.bytes.set(this.regs, c.L.XSTATE); }
  put(): void { const c = this.ctx.cpu; this.regs.set(c.bytes.subarray(c.L.XSTATE, c.L.XSTATE + c.L.X_END)); }
  uabiSize(): number { return this.uabi; }

  getXsave(buf: Uint8Array, size: number): number {
    if (size === 4096 && this.uabi > 4096) return -EINVAL;
    if (buf.length < size) return -EFAULT;
    const c = this.ctx.cpu, S = this.cfg.scratch;
    c.bytes.fill(0, S, S + Math.max(size, 4096));
    const ex = c.ex as unknown as Record<string, (...a: number[]) => number>;
    const mask = this.host.supportedXcr0 & this.xfeatures;
    const r = this.cfg.inHostContext(mask, () => ex.hostmode_xsave(S, -1, -1));
    if (r !== 0) return -EFAULT;
    const out = c.bytes.subarray(S, S + size);
    const dv = dvOf(out);
    out.fill(0, 416, 512);
    dv.setBigUint64(464, hostXcr0Of(this.cfg), true);   // xstate_fx_sw_bytes.xfeatures
    if (this.ctx.kernel.id === "B3" || this.ctx.kernel.id === "B4") {
      dv.setBigUint64(512, dv.getBigUint64(512, true) & (this.ctx.guestSupportedXcr0() | XFEATURE_MASK_FPSSE), true);
    }
    buf.set(out.subarray(0, size));
    return 0;
  }

  setXsave(buf: Uint8Array): number {
    if (buf.length < this.uabi) return -EFAULT;
    const c = this.ctx.cpu, S = this.cfg.scratch, dv = dvOf(buf);
    const bv = dv.getBigUint64(512, true);
    if (bv & ~(this.host.supportedXcr0 & this.xfeatures)) return -EINVAL;
    c.bytes.set(buf.subarray(0, this.uabi), S);
    const ex = c.ex as unknown as Record<string, (...a: number[]) => number>;
    const mask = this.host.supportedXcr0 & this.xfeatures;
    const r = this.cfg.inHostContext(mask, () => ex.hostmode_xrstor(S, -1, -1));
    return r === 0 ? 0 : -EINVAL;
  }

  // The legacy region as the kernel image holds it (FXSAVE layout, ST in stack order), via a host-mode XSAVE of FP|SSE.
  private legacy(): Uint8Array | null {
    const c = this.ctx.cpu, S = this.cfg.scratch;
    c.bytes.fill(0, S, S + 576);
    const ex = c.ex as unknown as Record<string, (...a: number[]) => number>;
    const r = this.cfg.inHostContext(this.host.supportedXcr0 | 3n, () => ex.hostmode_xsave(S, 3, 0));
    return r === 0 ? c.bytes.slice(S, S + 576) : null;
  }

  // kvm_arch_vcpu_ioctl_get_fpu: fpr, fcw, fsw, ftwx, last_opcode, last_ip, last_dp, xmm (MXCSR is not copied)
  getFpu(buf: Uint8Array): number {
    if (buf.length < 416) return -EFAULT;
    const x = this.legacy();
    if (!x) return -EINVAL;
    buf.fill(0, 0, 416);
    buf.set(x.subarray(32, 160), 0);
    buf.set(x.subarray(0, 4), 128);           // fcw, fsw
    buf[132] = x[4];                          // abridged tag
    buf.set(x.subarray(6, 8), 134);           // fop
    buf.set(x.subarray(8, 24), 136);          // last_ip, last_dp
    buf.set(x.subarray(160, 416), 152);
    return 0;
  }

  // kvm_arch_vcpu_ioctl_set_fpu: the same fields back; XSTATE_BV is not touched by the kernel, but restoring
  // through XRSTOR needs FP|SSE marked present so the values land
  setFpu(buf: Uint8Array): number {
    if (buf.length < 416) return -EFAULT;
    const x = this.legacy();
    if (!x) return -EINVAL;
    x.set(buf.subarray(0, 128), 32);
    x.set(buf.subarray(128, 132), 0);
    x[4] = buf[132]; x[5] = 0;
    x.set(buf.subarray(134, 136), 6);
    x.set(buf.subarray(136, 152), 8);
    x.set(buf.subarray(152, 408), 160);
    x.fill(0, 512, 576);
    dvOf(x).setBigUint64(512, 3n, true);
    const c = this.ctx.cpu, S = this.cfg.scratch;
    c.bytes.set(x, S);
    const ex = c.ex as unknown as Record<string, (...a: number[]) => number>;
    const r = this.cfg.inHostContext(this.host.supportedXcr0 | 3n, () => ex.hostmode_xrstor(S, 3, 0));
    return r === 0 ? 0 : -EINVAL;
  }

  getXcrs(buf: Uint8Array): number {
    if (buf.length < 392) return -EFAULT;
    buf.fill(0, 0, 392);
    const c = this.ctx.cpu, dv = dvOf(buf);
    if (!this.host.supportedXcr0) return 0;
    dv.setUint32(0, 1, true);
    dv.setBigUint64(16, c.u64(c.L.S_XCR0), true);
    return 0;
  }

  setXcrs(buf: Uint8Array): number {
    if (buf.length < 392) return -EFAULT;
    const dv = dvOf(buf), n = dv.getUint32(0, true), flags = dv.getUint32(4, true);
    if (!this.host.supportedXcr0) return -EINVAL;
    if (n > 16 || flags) return -EINVAL;
    for (let i = 0; i < n; i++) {
      if (dv.getUint32(8 + 16 * i, true) !== 0) continue;
      const v = dv.getBigUint64(16 + 16 * i, true);
      if (!validXcr0(v, this.ctx.guestSupportedXcr0())) return -EINVAL;
      this.ctx.cpu.setU64(this.ctx.cpu.L.S_XCR0, v);
      break;
    }
    return 0;
  }

  setCpuid(entries: CpuidEntry[]): number {
    const d0 = leaf(entries, 0xd, 0);
    const xf = d0 ? ((BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0)) & XFEATURE_MASK_USER_DYNAMIC & ~this.xfeatures : 0n;
    if (!xf) return 0;
    if ((this.perm() & xf) !== xf) return -EPERM;
    // fpstate_realloc: the new (zeroed) buffer grows to the permitted size
    this.xfeatures |= xf | (XFEATURE_MASK_XTILE & this.perm());
    this.uabi = xstateRequiredSize(this.cfg.hostCpuid, this.xfeatures & this.host.supportedXcr0);
    return 0;
  }

  getMsr(index: number, hostInitiated: boolean): FpuMsrResult | undefined {
    const c = this.ctx.cpu, L = c.L;
    if (index === 0x1c4 || index === 0x1c5) {
      if (!this.hasXfd) return { ok: false };
      if (!hostInitiated && !(c.u32(L.S_FEAT) & 32)) return { ok: false };
      return { ok: true, value: c.u64(index === 0x1c4 ? L.S_XFD : L.S_XFD_ERR) };
    }
    if (index === 0xda0) return { ok: true, value: c.u64(L.S_XSS) };
    return undefined;
  }

  setMsr(index: number, value: bigint, hostInitiated: boolean): FpuMsrResult | undefined {
    const c = this.ctx.cpu, L = c.L;
    if (index === 0x1c4 || index === 0x1c5) {
      if (!this.hasXfd) return { ok: false };
      if (!hostInitiated && !(c.u32(L.S_FEAT) & 32)) return { ok: false };
      if (value & ~(this.ctx.guestSupportedXcr0() & XFEATURE_MASK_USER_DYNAMIC)) return { ok: false };
      c.setU64(index === 0x1c4 ? L.S_XFD : L.S_XFD_ERR, value);
      return { ok: true };
    }
    if (index === 0xda0) {
      // KVM supports no supervisor states here: only 0 is accepted
      if (value !== 0n) return { ok: false };
      c.setU64(L.S_XSS, 0n);
      return { ok: true };
    }
    return undefined;
  }
}

function hostXcr0Of(cfg: HostFpuConfig): bigint {
  const d0 = leaf(cfg.hostCpuid, 0xd, 0);
  return d0 ? (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0) : 0n;
}

/** __kvm_set_xcr's checks for XCR0 (kernel-abi.md §3.5), true when valid. */
export function validXcr0(x: bigint, guestSupported: bigint): boolean {
  if (!(x & 1n)) return false;
  if ((x & 4n) && !(x & 2n)) return false;
  if (x & ~(guestSupported | 1n)) return false;
  if (((x & 8n) !== 0n) !== ((x & 16n) !== 0n)) return false;
  if (x & 0xe0n) { if (!(x & 4n) || (x & 0xe0n) !== 0xe0n) return false; }
  if ((x & XFEATURE_MASK_XTILE) && (x & XFEATURE_MASK_XTILE) !== XFEATURE_MASK_XTILE) return false;
  return true;
}
