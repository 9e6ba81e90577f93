// The four host-kernel behaviours of KVM's guest FPU/XSAVE handling, as data
// (shared/reference/kernel-abi.md, table at the top, §8 and the §8.1 seam).
// The CLI validates `--kernel` against this table; the guest-FPU model
// (hypervisor/fpu) reads `fpu` at exactly the four seams where the kernels
// differ — user_xfeatures at KVM_SET_CPUID2, the KVM_GET_XSAVE{2} mask, the
// KVM_SET_XSAVE preprocessing of XSTATE_BV, the XSTATE_BV clearing of
// fpu_update_guest_xfd — plus a few version details of the same code paths.
// Everything else is one implementation shared by all four.

export type BehaviourId = "B1" | "B2" | "B3" | "B4";

/** Where the four behaviours differ (kernel-abi.md §4–7, §8.1). Hooks are pure functions of plain values. */
export interface FpuPolicy {
  /** fpstate.user_xfeatures right after KVM_SET_CPUID2 (kvm_vcpu_after_set_cpuid); B2: guest XCR0 | FP/SSE */
  userXfeaturesAfterSetCpuid(guestSupportedXcr0: bigint, userXfeatures: bigint): bigint;
  /** the extra `xfeatures` mask __copy_xstate_to_uabi_buf applies on KVM_GET_XSAVE{2}; B1/B2: all ones */
  getMask(guestSupportedXcr0: bigint): bigint;
  /** the kernel copy of the user buffer's XSTATE_BV before validation on KVM_SET_XSAVE; B4: bv & ~xfd */
  setPreprocessBv(bv: bigint, fpstateXfd: bigint): bigint;
  /** XSTATE_BV bits fpu_update_guest_xfd clears; B4: xfd when xfd != 0 and TIF_NEED_FPU_LOAD, else none */
  updateGuestXfdClear(xfd: bigint, tifNeedFpuLoad: boolean): bigint;
  /** B4: fpu_copy_uabi_to_guest_fpstate WARNs and fails when BV & fpstate.xfd (unreachable from KVM_SET_XSAVE) */
  copyUabiRejectsXfdBits: boolean;
  /** extended-area writer of __copy_xstate_to_uabi_buf: 'v5.17' walks user_xfeatures (PKRU always written) */
  extendedAreaStyle: "v5.17" | "v6";
  /** fpstate_realloc() also ORs the new dynamic feature into a guest fpstate's user_xfeatures (B2: no) */
  reallocUpdatesGuestUserXfeatures: boolean;
  /** guest_fpu.uabi_size at creation: fpu_user_cfg.default_size (5.17) or sizeof(struct kvm_xsave) */
  uabiBaseSize: "user_default_size" | "kvm_xsave";
  /** 5.17-rc5 quirk of __xstate_request_perm: __state_perm = requested instead of perm | requested */
  permSetsRequestedOnly: boolean;
  /** the `uname -r`-ish version shown in the oops report */
  release: string;
}

const FPSSE = 3n;
const ALL = (1n << 64n) - 1n;
const keepUser = (_g: bigint, u: bigint) => u;
const guestXcr0FpSse = (g: bigint) => g | FPSSE;
const noMask = () => ALL;
const noPre = (bv: bigint) => bv;
const noClear = () => 0n;

export interface KernelBehaviour {
  /** the reference kernel version: the value of `--kernel` */
  version: string;
  /** short alias accepted by `--kernel` */
  alias: "b1" | "b2" | "b3" | "b4";
  id: BehaviourId;
  /** the name the reference uses for the behaviour */
  name: string;
  /** kernels that behave this way */
  range: string;
  summary: string;
  fpu: FpuPolicy;
}

export const KERNELS: readonly KernelBehaviour[] = [
  {
    version: "5.17-rc5", alias: "b1", id: "B1", name: "pre-ad856280", range: "v5.16 … v5.17-rc5",
    summary: "KVM_GET_XSAVE masks only with user_xfeatures: host-only bits such as PKRU leak to userspace",
    fpu: {
      userXfeaturesAfterSetCpuid: keepUser, getMask: noMask, setPreprocessBv: noPre, updateGuestXfdClear: noClear,
      copyUabiRejectsXfdBits: false, extendedAreaStyle: "v5.17", reallocUpdatesGuestUserXfeatures: true,
      uabiBaseSize: "user_default_size", permSetsRequestedOnly: true, release: "5.17.0-rc5",
    },
  },
  {
    version: "6.5", alias: "b2", id: "B2", name: "ad856280", range: "v5.17-rc6 … v6.6-rc6",
    summary: "user_xfeatures = guest XCR0 | FP/SSE after KVM_SET_CPUID2: KVM_SET_XSAVE rejects guest-unsupported bits",
    fpu: {
      userXfeaturesAfterSetCpuid: guestXcr0FpSse, getMask: noMask, setPreprocessBv: noPre, updateGuestXfdClear: noClear,
      copyUabiRejectsXfdBits: false, extendedAreaStyle: "v6", reallocUpdatesGuestUserXfeatures: false,
      uabiBaseSize: "kvm_xsave", permSetsRequestedOnly: false, release: "6.5.0",
    },
  },
  {
    version: "6.8", alias: "b3", id: "B3", name: "constrain-at-get", range: "v6.6-rc7 … v6.19-rc5",
    summary: "guest-supported features constrained only at KVM_GET_XSAVE{2}; XSTATE_BV[18] with XFD[18] set still crashes the host",
    fpu: {
      userXfeaturesAfterSetCpuid: keepUser, getMask: guestXcr0FpSse, setPreprocessBv: noPre, updateGuestXfdClear: noClear,
      copyUabiRejectsXfdBits: false, extendedAreaStyle: "v6", reallocUpdatesGuestUserXfeatures: true,
      uabiBaseSize: "kvm_xsave", permSetsRequestedOnly: false, release: "6.8.0-31-generic",
    },
  },
  {
    version: "6.19", alias: "b4", id: "B4", name: "xfd-clear", range: "v6.19-rc6+ and stable backports",
    summary: "XSTATE_BV[i] cleared whenever XFD[i]=1 (KVM_SET_XSAVE, fpu_update_guest_xfd): the AMX #NM hole is closed",
    fpu: {
      userXfeaturesAfterSetCpuid: keepUser, getMask: guestXcr0FpSse,
      setPreprocessBv: (bv, xfd) => bv & ~xfd,
      updateGuestXfdClear: (xfd, tif) => (xfd !== 0n && tif ? xfd : 0n),
      copyUabiRejectsXfdBits: true, extendedAreaStyle: "v6", reallocUpdatesGuestUserXfeatures: true,
      uabiBaseSize: "kvm_xsave", permSetsRequestedOnly: false, release: "6.19.0",
    },
  },
];

export const DEFAULT_KERNEL = "6.19";

/** Look a kernel up by version ("6.19"), alias ("b4") or behaviour id ("B4"). */
export function getKernel(name: string): KernelBehaviour {
  const k = KERNELS.find((x) => x.version === name || x.alias === name.toLowerCase() || x.id === name.toUpperCase());
  if (!k) {
    throw new Error(`unknown kernel '${name}' (known: ${KERNELS.map((x) => `${x.version} (${x.alias})`).join(", ")})`);
  }
  return k;
}
