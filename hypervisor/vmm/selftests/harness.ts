// The host side of the KVM selftests for guest images built on guest-images/src/lib/guest.inc
// (kernel-abi.md §9): a Machine loads the ELF (long mode as vm_create does it, the model's AMX
// permission), the vCPU gets the full KVM_GET_SUPPORTED_CPUID (vm_vcpu_add), and then the
// selftests' idioms run over the typed ioctl wrappers: run to the next ucall, vcpu_save_state(),
// vm_recreate_with_one_vcpu() (a new VM fd over the same memory), vcpu_load_state().
//
// Each host half (state.ts, amx.ts, xcr0_cpuid.ts) returns a SelftestResult; `x86kvm selftest`
// turns it into an exit status (SELFTEST_STATUS).
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { Machine } from "../machine";
import { ImageError } from "../loader";
import { KvmError, type VcpuFd, type VmFd } from "../kvm_ioctls";
import { EIO } from "../../uapi/consts";
import { getKernel } from "../../kernels";
import type { CpuidEntry } from "../../models/cpuid";
import {
  UCALL_PIO_PORT, UCALL_SYNC, UCALL_ABORT, UCALL_PRINTF, UCALL_DONE, UCALL_UNHANDLED,
  decodeUcall, formatAbort, saveState, loadState, type Ucall, type VcpuState,
} from "../ucall";

export type SelftestOutcome = "pass" | "guest-assert" | "guest-exception" | "host-oops" | "host-assert" | "skip" | "budget";

/** `x86kvm selftest` exit status per outcome (even, like every status the emulator chooses) */
export const SELFTEST_STATUS: Record<SelftestOutcome, number> = {
  pass: 0, "host-oops": 6, "guest-assert": 8, "guest-exception": 10, "host-assert": 12, skip: 14, budget: 124,
};

export interface SelftestResult {
  name: string;
  host: string;
  /** kernel version ('6.19') and behaviour id ('B4') */
  kernel: string;
  behaviour: string;
  pass: boolean;
  outcome: SelftestOutcome;
  status: number;
  /** the stage reached: args[1] of the last GUEST_SYNC (0 before the first) */
  stage: number;
  /** args[1] of every GUEST_SYNC, in order */
  syncs: number[];
  /** one line: why it failed (the GUEST_ASSERT text, the failing ioctl, the oops), or what passed */
  message: string;
  /** outcome host-oops: the host kernel's oops block (dmesg) */
  oops?: string;
}

export interface SelftestOptions {
  /** CPU model (default sapphire-rapids) */
  host?: string;
  /** kernel behaviour: version or b1..b4 (default 6.19) */
  kernel?: string;
  /** the guest image (default: guest-images/bin/<image> found next to the package) */
  image?: Uint8Array;
  /** guest console (GUEST_PRINTF, port 0xE9) */
  console?: (s: string) => void;
  /** instruction budget for the whole test */
  maxInsns?: number;
  /** vm_xsave_require_permission(XTILE_DATA) or not, whatever the selftest itself asks (amx: yes, the others: no) */
  xtilePermission?: boolean;
}

/** what a host half asks of its VM */
export interface VmRequirements {
  /** vm_xsave_require_permission(XTILE_DATA) before any supported-CPUID query (amx_test); default false */
  xtilePermission?: boolean;
}

/** A host-side TEST_ASSERT failed (an ioctl, a comparison): ends the test as outcome host-assert */
export class HostAssert extends Error {}
export function hostAssert(cond: unknown, msg: string): asserts cond { if (!cond) throw new HostAssert(msg); }

/** Where guest-images/bin is: next to dist/ (the package), or above the sources / the cwd. */
export function guestImagePath(name: string): string {
  const starts: string[] = [process.cwd()];
  try { starts.push(dirname(fileURLToPath(import.meta.url))); } catch { /* not a file URL */ }
  for (const start of starts) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      const p = join(dir, "guest-images", "bin", name);
      if (existsSync(p)) return p;
      if (dirname(dir) === dir) break;
    }
  }
  throw new ImageError(`guest image ${name} not found (guest-images/bin next to the package or above ${process.cwd()})`);
}

export type RunStop =
  | { kind: "ucall"; uc: Ucall }
  | { kind: "host-oops"; message: string }
  | { kind: "budget" }
  | { kind: "exit"; exit: string; message: string };

/** A selftest VM over an ELF guest image: Machine for the loading, the selftest idioms by ioctl. */
export class ImageVm {
  readonly m: Machine;
  vm: VmFd;
  vcpu: VcpuFd;
  /** every vCPU of the current VM (recreate() closes them all) */
  vcpus: VcpuFd[] = [];
  readonly cpuid: CpuidEntry[];
  readonly kernelVersion: string;
  readonly behaviour: string;
  private insnsLeft: number;

  constructor(image: Uint8Array, readonly opts: SelftestOptions = {}, req: VmRequirements = {}) {
    const k = getKernel(opts.kernel ?? "6.19");
    this.kernelVersion = k.version;
    this.behaviour = k.id;
    this.m = new Machine({
      model: opts.host ?? "sapphire-rapids", kernel: k.version, memory: 8 << 20, xtilePermission: opts.xtilePermission ?? req.xtilePermission ?? false,
      console: { write: (b) => opts.console?.(Buffer.from(b).toString("latin1")) },
    });
    this.vm = this.m.vm;
    this.vcpu = this.m.vcpu;
    this.vcpus = [this.vcpu];
    // vm_vcpu_add(): the full supported CPUID (the Machine's vCPU has not run yet, so it may change)
    this.cpuid = this.m.kvm.getSupportedCpuid();
    this.vcpu.setCpuid2(this.cpuid);
    this.m.load("elf", image);
    this.insnsLeft = opts.maxInsns ?? 50_000_000;
  }

  get kvm() { return this.m.kvm; }
  get host() { return this.m.host; }

  /** CPUID.(0xD,0) EDX:EAX of the supported CPUID: kvm_cpu_supported_xcr0() */
  supportedXcr0(): bigint {
    const d0 = this.cpuid.find((e) => e.fn === 0xd && e.idx === 0);
    return d0 ? (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0) : 0n;
  }

  readPhys(gpa: number, len: number): Uint8Array { return this.m.readPhys(gpa, len); }

  /** KVM_RUN until the next ucall (PRINTF is printed and the run goes on) or another stop */
  run(): RunStop {
    const c = this.m.cpu;
    for (;;) {
      if (this.insnsLeft <= 0) return { kind: "budget" };
      const before = c.insns;
      this.host.kvm.runBudget = Math.min(1 << 20, this.insnsLeft);
      let e;
      try { e = this.vcpu.run(); } catch (err) {
        this.insnsLeft -= c.insns - before;
        if (err instanceof KvmError && err.errno === EIO && this.host.oops) {
          const o = this.host.oops;
          return { kind: "host-oops", message: `host #NM in ${o.rip} (caller ${o.caller}; XFD 0x${o.xfd.toString(16)}, XSTATE_BV 0x${o.xstate_bv.toString(16)}): KVM_RUN -EIO` };
        }
        throw err;
      }
      this.insnsLeft -= c.insns - before;
      if (e.kind === "IoIn" && e.port === UCALL_PIO_PORT) {
        const gpa = Number(this.vcpu.getRegs().rdi & 0xffffffffffffn);
        const uc = decodeUcall(gpa, (pa, len) => (pa >= 0 && pa + len <= this.m.ramSize ? this.m.readPhys(pa, len) : null));
        if (!uc) return { kind: "exit", exit: "internal-error", message: `ucall struct at 0x${gpa.toString(16)} is outside guest memory` };
        if (uc.cmd === UCALL_PRINTF) { this.m.devices.print(uc.str); continue; }
        return { kind: "ucall", uc };
      }
      const r = this.m.handleVcpuExit(e);
      if (r) return { kind: "exit", exit: r.exit, message: r.message ?? `unexpected exit ${r.exit}` };
    }
  }

  /** vcpu_save_state() (completes the pending IN first) */
  save(): VcpuState { return saveState(this.kvm, this.vm, this.vcpu); }

  /** vm_recreate_with_one_vcpu(): release the VM, a new VM fd over the same memory, vCPU 0 with the same CPUID */
  recreate(): VcpuFd {
    for (const v of this.vcpus.splice(0)) this.host.close(v.fd);
    this.host.close(this.vm.fd);
    this.vm = this.kvm.createVm();
    this.vm.setUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: BigInt(this.m.ramSize), userspace_addr: BigInt(this.m.ram) });
    this.vcpu = this.vm.createVcpu(0);
    this.vcpu.setCpuid2(this.cpuid);
    this.vcpus.push(this.vcpu);
    return this.vcpu;
  }

  /** vcpu_load_state() */
  load(s: VcpuState): void { loadState(this.vcpu, s); }

  /** the migration idiom: save, recreate, load, compare KVM_GET_REGS */
  migrate(): VcpuState {
    const st = this.save();
    this.recreate();
    this.load(st);
    const regs = this.vcpu.getRegs();
    for (const k of Object.keys(st.regs) as (keyof typeof st.regs)[]) {
      hostAssert(regs[k] === st.regs[k], `registers after vcpu_load_state: ${k} 0x${regs[k].toString(16)} != 0x${st.regs[k].toString(16)}`);
    }
    return st;
  }
}

/**
 * Drive a selftest: `step(uc)` handles each GUEST_SYNC (the host's actions for that stage) and
 * may throw HostAssert or KvmError; everything else ends the test with its outcome.
 */
export function runSelftest(name: string, t: ImageVm, step: (uc: Ucall) => void, onDone?: () => string): SelftestResult {
  const syncs: number[] = [];
  const res = (outcome: SelftestOutcome, message: string): SelftestResult => ({
    name, host: t.m.model.name, kernel: t.kernelVersion, behaviour: t.behaviour,
    pass: outcome === "pass", outcome, status: SELFTEST_STATUS[outcome], stage: syncs.length ? syncs[syncs.length - 1] : 0, syncs, message,
  });
  for (;;) {
    const r = t.run();
    if (r.kind === "host-oops") return { ...res("host-oops", `after GUEST_SYNC #${syncs.length}: ${r.message}`), oops: t.host.oops?.text };
    if (r.kind === "budget") return res("budget", `instruction budget used up after GUEST_SYNC #${syncs.length}`);
    if (r.kind === "exit") return res(r.exit === "guest-exception" ? "guest-exception" : "host-assert", `unexpected exit ${r.exit}: ${r.message}`);
    const uc = r.uc;
    switch (uc.cmd) {
      case UCALL_DONE: {
        let msg = `UCALL_DONE after ${syncs.length} GUEST_SYNCs`;
        try { if (onDone) msg = onDone(); } catch (e) {
          if (e instanceof HostAssert) return res("host-assert", e.message);
          throw e;
        }
        return res("pass", msg);
      }
      case UCALL_ABORT: return res("guest-assert", formatAbort(uc));
      case UCALL_UNHANDLED: {
        const [vec, err, rip] = uc.args;
        return res("guest-exception", `unhandled exception vector ${vec} at rip 0x${rip.toString(16)}, error code 0x${err.toString(16)}`);
      }
      case UCALL_SYNC: {
        syncs.push(Number(uc.args[1]));
        try {
          hostAssert(uc.str === "hello", `GUEST_SYNC args[0] is "${uc.str}", not "hello"`);
          step(uc);
        } catch (e) {
          if (e instanceof HostAssert) return res("host-assert", `stage ${syncs[syncs.length - 1]}: ${e.message}`);
          if (e instanceof KvmError) return res("host-assert", `stage ${syncs[syncs.length - 1]}: ${e.message}`);
          throw e;
        }
        break;
      }
      default: return res("host-assert", `unknown ucall ${uc.cmd}`);
    }
  }
}

export function skipResult(name: string, t: ImageVm, why: string): SelftestResult {
  return { name, host: t.m.model.name, kernel: t.kernelVersion, behaviour: t.behaviour, pass: false, outcome: "skip", status: SELFTEST_STATUS.skip, stage: 0, syncs: [], message: why };
}

export function loadImage(name: string, opts: SelftestOptions): Uint8Array {
  return opts.image ?? new Uint8Array(readFileSync(guestImagePath(name)));
}
