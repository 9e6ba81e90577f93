// Constants, the host XSAVE layout and the kernel's fpu_state_config, as in
// arch/x86/include/asm/fpu/{types,xstate}.h and arch/x86/kernel/fpu/xstate.c
// (shared/reference/kernel-abi.md §1.4, §1.5, §2).
//
// The layout comes from the HOST model's CPUID leaf 0xD (never from guest
// CPUID): standard-format offsets are CPUID.(0xD,i).EBX, compacted offsets
// are computed from XCOMP_BV with the 64-byte alignment bit CPUID.(0xD,i).ECX[1].
import type { Model } from "../models/models";

export const XFEATURE_FP = 0, XFEATURE_SSE = 1, XFEATURE_YMM = 2, XFEATURE_BNDREGS = 3, XFEATURE_BNDCSR = 4,
  XFEATURE_OPMASK = 5, XFEATURE_ZMM_Hi256 = 6, XFEATURE_Hi16_ZMM = 7, XFEATURE_PT = 8, XFEATURE_PKRU = 9,
  XFEATURE_PASID = 10, XFEATURE_CET_USER = 11, XFEATURE_CET_KERNEL = 12, XFEATURE_LBR = 15,
  XFEATURE_XTILE_CFG = 17, XFEATURE_XTILE_DATA = 18, XFEATURE_MAX = 20;

const B = (i: number) => 1n << BigInt(i);
export const XFEATURE_MASK_FP = 1n;
export const XFEATURE_MASK_SSE = 2n;
export const XFEATURE_MASK_FPSSE = 3n;
export const XFEATURE_MASK_YMM = 4n;
export const XFEATURE_MASK_BNDREGS = 8n;
export const XFEATURE_MASK_BNDCSR = 0x10n;
export const XFEATURE_MASK_AVX512 = 0xE0n;
export const XFEATURE_MASK_PKRU = 0x200n;
export const XFEATURE_MASK_XTILE_CFG = 0x20000n;
export const XFEATURE_MASK_XTILE_DATA = 0x40000n;
export const XFEATURE_MASK_XTILE = 0x60000n;
export const XFEATURE_MASK_USER_DYNAMIC = XFEATURE_MASK_XTILE_DATA;
export const XFEATURE_MASK_USER_SUPPORTED = XFEATURE_MASK_FPSSE | XFEATURE_MASK_YMM | XFEATURE_MASK_BNDREGS |
  XFEATURE_MASK_BNDCSR | XFEATURE_MASK_AVX512 | XFEATURE_MASK_PKRU | XFEATURE_MASK_XTILE;
/** Supervisor features the modelled host kernel manages: none (PASID/CET are out of scope, kernel-abi.md §11.6). */
export const XFEATURE_MASK_SUPERVISOR_SUPPORTED = 0n;
/** Every supervisor component bit (PASID, CET_U, CET_S, HDC, UINTR, LBR, HWP). */
export const XFEATURE_MASK_SUPERVISOR_ALL = B(10) | B(11) | B(12) | B(13) | B(14) | B(15) | B(16);
export const XFEATURE_MASK_USER_RESTORE = XFEATURE_MASK_USER_SUPPORTED & ~XFEATURE_MASK_PKRU;
/** The restore mask of restore_fpregs_from_fpstate(): everything except PKRU. */
export const XFEATURE_MASK_FPSTATE = XFEATURE_MASK_USER_RESTORE | XFEATURE_MASK_SUPERVISOR_SUPPORTED;
export const XFEATURE_MASK_EXTEND = BigInt.asUintN(64, ~(XFEATURE_MASK_FPSSE | B(63)));
export const XCOMP_BV_COMPACTED_FORMAT = B(63);
/** arch/x86/kvm/x86.c */
export const KVM_SUPPORTED_XCR0 = XFEATURE_MASK_FP | XFEATURE_MASK_SSE | XFEATURE_MASK_YMM | XFEATURE_MASK_BNDREGS |
  XFEATURE_MASK_BNDCSR | XFEATURE_MASK_AVX512 | XFEATURE_MASK_PKRU | XFEATURE_MASK_XTILE;
/** Bit of fpu_state_perm.__state_perm set by the first vCPU (fpu_init_guest_permissions). */
export const FPU_GUEST_PERM_LOCKED = B(63);

export const FXSAVE_SIZE = 512;
export const XSAVE_HDR_OFFSET = 512;
export const XSAVE_HDR_SIZE = 64;
export const XSAVE_EXT_OFFSET = 576;
export const MXCSR_DEFAULT = 0x1F80;
export const FCW_DEFAULT = 0x037F;
/** sizeof(struct kvm_xsave): the 4096-byte region (the flexible extra[] does not count) */
export const KVM_XSAVE_SIZE = 4096;
/** init_pkru_value: the default PKRU of host tasks */
export const INIT_PKRU_VALUE = 0x55555554;

/** errno values used by the model (returned negated, kernel style). */
export const EPERM = 1, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, ENOMEM = 12, EFAULT = 14, EBUSY = 16, EINVAL = 22,
  ENOSPC = 28, EOPNOTSUPP = 95;

/** arch/x86/include/uapi/asm/prctl.h */
export const ARCH_GET_XCOMP_SUPP = 0x1021, ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023,
  ARCH_GET_XCOMP_GUEST_PERM = 0x1024, ARCH_REQ_XCOMP_GUEST_PERM = 0x1025;
export const ARCH_XCOMP_TILECFG = 17, ARCH_XCOMP_TILEDATA = 18;

export const MSR_IA32_XSS = 0xDA0, MSR_IA32_XFD = 0x1C4, MSR_IA32_XFD_ERR = 0x1C5;

/** Bits of a mask, lowest first. */
export function bitsOf(mask: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; mask >> BigInt(i); i++) if ((mask >> BigInt(i)) & 1n) out.push(i);
  return out;
}

/** The host's CPUID leaf 0xD table: per component offset (standard), size, aligned, supervisor, xfd-capable. */
export class XstateLayout {
  readonly offset = new Array<number>(64).fill(0);
  readonly size = new Array<number>(64).fill(0);
  readonly aligned = new Array<boolean>(64).fill(false);
  readonly supervisor = new Array<boolean>(64).fill(false);

  constructor(m: Model) {
    // legacy components as setup_xstate_cache() sees them: FP = bytes 0..159, SSE = 160..415
    this.offset[0] = 0; this.size[0] = 160;
    this.offset[1] = 160; this.size[1] = 256;
    for (const c of m.xcomps) {
      this.offset[c.i] = c.ecx & 1 ? 0 : c.offset;
      this.size[c.i] = c.size;
      this.aligned[c.i] = (c.ecx & 2) !== 0;
      this.supervisor[c.i] = (c.ecx & 1) !== 0;
    }
  }

  /** Offset of component i in a compacted image whose XCOMP_BV is `xcomp` (xfeature_get_offset). */
  compactedOffset(xcomp: bigint, i: number): number {
    if (i < 2) return this.offset[i];
    let off = XSAVE_EXT_OFFSET;
    for (let k = 2; k < i; k++) {
      if (!((xcomp >> BigInt(k)) & 1n)) continue;
      if (this.aligned[k]) off = (off + 63) & ~63;
      off += this.size[k];
    }
    if (this.aligned[i]) off = (off + 63) & ~63;
    return off;
  }

  /** xstate_calculate_size() / KVM's xstate_required_size(): bytes needed for `xfeatures`. */
  requiredSize(xfeatures: bigint, compacted: boolean): number {
    let ret = XSAVE_EXT_OFFSET;
    for (const i of bitsOf(xfeatures)) {
      if (i < 2) continue;
      if (compacted) {
        if (this.aligned[i]) ret = (ret + 63) & ~63;
        ret += this.size[i];
      } else {
        ret = Math.max(ret, this.offset[i] + this.size[i]);
      }
    }
    return ret;
  }
}

/** struct fpu_state_config (fpu_kernel_cfg, fpu_user_cfg). */
export interface FpuStateConfig {
  max_size: number;
  default_size: number;
  max_features: bigint;
  default_features: bigint;
  legacy_features: bigint;
}

/** struct fpu_state_perm */
export interface FpuStatePerm {
  __state_perm: bigint;
  __state_size: number;
  __user_state_size: number;
}
