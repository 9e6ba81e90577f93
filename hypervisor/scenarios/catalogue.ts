// The scenario matrix of kernel-abi.md §10 as data: which cells exist and what
// the kernel code says each must end in. A cell is one scenario on one
// (source host:kernel, destination host:kernel, VMM personality); run.ts runs
// it and compares. The expectation's `why` is the catalogue's reasoning in
// one line, so a mismatch report says what should have happened and why.
//
// Hosts (§10 "common setup names"): Host-P = icelake-server (PKU + AVX-512,
// XCR0 0x2E7), Host-N = skylake-server (no PKU, XCR0 0xE7), Host-A =
// sapphire-rapids (AMX + XFD, XCR0 0x602E7). Guests in S1–S3 see CPUID-nopku
// (the model's table minus pku): guest_supported_xcr0 = 0xE7 on both hosts.
import { KERNELS } from "../kernels";

export type ScenarioId = "S1" | "S2" | "S3" | "S4" | "S5" | "S6";
export type Vmm = "strict" | "qemu";
/** `migration-refused: IOCTL -ERRNO` names the restore ioctl that failed */
export type Outcome = "ok" | `migration-refused: ${string}` | "guest-corruption" | "guest-crash" | "host-oops";

export const HOST_P = "icelake-server", HOST_N = "skylake-server", HOST_A = "sapphire-rapids";
export const REFUSED_SET_XSAVE: Outcome = "migration-refused: KVM_SET_XSAVE -EINVAL";

export interface Cell {
  scenario: ScenarioId;
  /** HOST:KERNEL, e.g. icelake-server:5.17-rc5 */
  source: string;
  destination: string;
  vmm: Vmm;
  expected: Outcome;
  /** why the catalogue expects it (§10), one line */
  why: string;
}

export const SCENARIO_TITLES: Record<ScenarioId, string> = {
  S1: "PKRU migration from a host with PKU to a host without",
  S2: "old-kernel → new-kernel migration on the same PKU hardware",
  S3: "QEMU ignoring a failed KVM_SET_XSAVE",
  S4: "AMX: host #NM via an interrupt between the XFD VM-exit and fpu_update_guest_xfd()",
  S5: "AMX: XFD-disabled tile data stuffed back with KVM_SET_XSAVE",
  S6: "state_test's dummy vCPU: KVM_SET_XSAVE after KVM_SET_CPUID2(nent=0)",
};

const V = KERNELS.map((k) => k.version);               // 5.17-rc5, 6.5, 6.8, 6.19 = B1..B4
const B = (version: string) => KERNELS.find((k) => k.version === version)!.id;
const at = (host: string, version: string) => `${host}:${version}`;

/** every cell of the matrix, in report order */
export function catalogue(): Cell[] {
  const cells: Cell[] = [];
  // S1: the source's KVM_GET_XSAVE decides. B1 leaks XSTATE_BV[9] (PKRU), which no destination
  // without PKU accepts (BV & ~supported_xcr0); B2–B4 mask it at GET.
  for (const s of V) for (const d of V) {
    const leak = B(s) === "B1";
    cells.push({
      scenario: "S1", source: at(HOST_P, s), destination: at(HOST_N, d), vmm: "strict",
      expected: leak ? REFUSED_SET_XSAVE : "ok",
      why: leak ? "B1 GET_XSAVE keeps XSTATE_BV[9] (host PKRU); Host-N's supported_xcr0 0xE7 lacks it"
        : `${B(s)} GET_XSAVE masks XSTATE_BV to the guest's 0xE7; every destination accepts it`,
    });
  }
  // S2: a B1 snapshot (bit 9 set) into the same PKU hardware: only B2 validates against the
  // guest's CPUID-derived user_xfeatures (0xE7) at SET and refuses.
  for (const d of V) {
    const b2 = B(d) === "B2";
    cells.push({
      scenario: "S2", source: at(HOST_P, V[0]), destination: at(HOST_P, d), vmm: "strict",
      expected: b2 ? REFUSED_SET_XSAVE : "ok",
      why: b2 ? "B2 SET_XSAVE: XSTATE_BV[9] ∉ user_xfeatures 0xE7 (ad856280 constrained it at KVM_SET_CPUID2)"
        : B(d) === "B1" ? "B1 user_xfeatures stays 0x2E7: PKRU accepted (arch.pkru := 0)"
        : `${B(d)} constrains only at GET: SET accepts the leaked bit, the next GET sanitises it`,
    });
  }
  // S3: the same failing restores with QEMU's habit: SET_XSAVE's -EINVAL is ignored and the rest
  // of kvm_arch_put_registers skipped — the guest resumes with reset FPU state and XCR0 = 1.
  for (const d of V) {
    const b2 = B(d) === "B2";
    cells.push({
      scenario: "S3", source: at(HOST_P, V[0]), destination: at(HOST_P, d), vmm: "qemu",
      expected: b2 ? "guest-corruption" : "ok",
      why: b2 ? "SET_XSAVE -EINVAL ignored: FPU/SSE/AVX registers reset, XCR0 1, MSRs and events never restored"
        : `${B(d)} accepts the snapshot: nothing is skipped`,
    });
  }
  for (const d of V) {
    cells.push({
      scenario: "S3", source: at(HOST_P, V[0]), destination: at(HOST_N, d), vmm: "qemu",
      expected: "guest-corruption",
      why: "B1 snapshot to Host-N: SET_XSAVE -EINVAL on every kernel (not fixable in the kernel); ignored, the guest resumes with reset state",
    });
  }
  // S4: the interrupt's kernel_fpu_begin() saves the tiles while hardware XFD is still 0; the
  // re-entry's XRSTORS then runs with XFD[18]=1 and XSTATE_BV[18]=1 → #NM in the host.
  // S5: the host writes back a stage-1 buffer (XSTATE_BV[18]=1) after the guest set XFD[18].
  // Both on one Host-A: B4 is fixed, B1–B3 oops.
  const amx: [ScenarioId, string, string][] = [
    ["S4", "B4 fpu_update_guest_xfd clears XSTATE_BV[18] when TIF_NEED_FPU_LOAD: re-entry is safe",
      "image saved with XFD=0 keeps XSTATE_BV[18]; switch_fpu_return's XRSTORS with XFD[18]=1 → host #NM"],
    ["S5", "B4 clears XSTATE_BV[i] for XFD-disabled i in fpu_copy_uabi_to_guest_fpstate",
      "SET_XSAVE stores XSTATE_BV[18]=1 beside fps->xfd[18]=1; the next KVM_RUN's XRSTORS → host #NM"],
  ];
  for (const [scenario, fixedWhy, oopsWhy] of amx) for (const k of V) {
    const fixed = B(k) === "B4";
    cells.push({
      scenario, source: at(HOST_A, k), destination: at(HOST_A, k), vmm: "strict",
      expected: fixed ? "ok" : "host-oops", why: fixed ? fixedWhy : oopsWhy,
    });
  }
  // S6: state_test's vcpuN after KVM_SET_CPUID2(nent=0): only B2 constrained user_xfeatures to FP|SSE.
  for (const k of V) {
    const b2 = B(k) === "B2";
    cells.push({
      scenario: "S6", source: at(HOST_P, k), destination: at(HOST_P, k), vmm: "strict",
      expected: b2 ? REFUSED_SET_XSAVE : "ok",
      why: b2 ? "B2: empty CPUID → user_xfeatures = FP|SSE; the saved BV 0x2E7 is refused"
        : B(k) === "B1" ? "B1 keeps user_xfeatures = 0x2E7 after KVM_SET_CPUID2" : `${B(k)} does not constrain at SET`,
    });
  }
  return cells;
}

/** "icelake-server:6.19" → { model, kernel } */
export function parseHostKernel(s: string): { model: string; kernel: string } {
  const i = s.lastIndexOf(":");
  if (i <= 0 || i === s.length - 1) throw new Error(`'${s}' is not HOST:KERNEL (e.g. icelake-server:5.17-rc5)`);
  return { model: s.slice(0, i), kernel: s.slice(i + 1) };
}
