// The four host-kernel behaviours of KVM's guest FPU/XSAVE handling, as data
// (shared/reference/kernel-abi.md, table at the top and §8). Only the names
// exist so far: the CLI validates `--kernel` against this table and reports
// the choice. The hooks (user_xfeatures after KVM_SET_CPUID2, the GET mask,
// the SET preprocessing of XSTATE_BV, fpu_update_guest_xfd) are added with the
// KVM model.

export type BehaviourId = "B1" | "B2" | "B3" | "B4";

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
}

export const KERNELS: readonly KernelBehaviour[] = [
  {
    version: "5.17-rc5", alias: "b1", id: "B1", name: "pre-ad856280", range: "v5.16 … v5.17-rc5",
    summary: "KVM_GET_XSAVE masks only with user_xfeatures: host-only bits such as PKRU leak to userspace",
  },
  {
    version: "6.5", alias: "b2", id: "B2", name: "ad856280", range: "v5.17-rc6 … v6.6-rc6",
    summary: "user_xfeatures = guest XCR0 | FP/SSE after KVM_SET_CPUID2: KVM_SET_XSAVE rejects guest-unsupported bits",
  },
  {
    version: "6.8", alias: "b3", id: "B3", name: "constrain-at-get", range: "v6.6-rc7 … v6.19-rc5",
    summary: "guest-supported features constrained only at KVM_GET_XSAVE{2}; XSTATE_BV[18] with XFD[18] set still crashes the host",
  },
  {
    version: "6.19", alias: "b4", id: "B4", name: "xfd-clear", range: "v6.19-rc6+ and stable backports",
    summary: "XSTATE_BV[i] cleared whenever XFD[i]=1 (KVM_SET_XSAVE, fpu_update_guest_xfd): the AMX #NM hole is closed",
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
