// Shared set-up for the guest-FPU model tests: a host (FpuHost on an EmuRunner's CPU, so the
// guest's instructions and the kernel's XSAVES/XRSTORS run on the same emulated processor), a
// VMM process and its thread, a VM, vCPUs, and a guest-code runner.
import { EmuRunner } from "../helpers/emu";
import { DATA_BASE, DEFAULT_RSP, type NativeCase } from "../native/native";
import { getModel, buildCpuid } from "../../hypervisor/models/models";
import type { CpuidEntry } from "../../hypervisor/models/cpuid";
import {
  FpuHost, KvmVm, KvmVcpu, kvm_arch_vcpu_create, kvm_set_cpuid, kvm_vcpu_ioctl_x86_set_xcrs,
  vcpu_enter_guest_fpu, vcpu_exit_guest_fpu, type HostTask, type HostProcess,
} from "../../hypervisor/fpu";

export const BEHAVIOURS = ["B1", "B2", "B3", "B4"] as const;

export const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));

export interface Rig {
  emu: EmuRunner;
  host: FpuHost;
  proc: HostProcess;
  task: HostTask;
  kvm: KvmVm;
}

const emus = new Map<string, EmuRunner>();
/** One emulated machine per model (creating a wasm instance per test would be slow); each rig resets its state. */
export function rig(model: string, kernel: string): Rig {
  let emu = emus.get(model);
  if (!emu) { emu = new EmuRunner(model); emus.set(model, emu); }
  emu.cpu.ex.reset();
  const host = new FpuHost(emu.cpu, getModel(model), { kernel });
  const { proc, task } = host.spawnProcess("qemu-system-x86");
  host.switchTo(task);
  const kvm = new KvmVm(host, task);
  return { emu, host, proc, task, kvm };
}

export function vcpu(r: Rig): KvmVcpu {
  const v = kvm_arch_vcpu_create(r.kvm, r.task);
  if (typeof v === "number") throw new Error(`vcpu create ${v}`);
  v.cr4_osxsave = true;
  return v;
}

export function cpuid(model: string, remove: string[] = []): CpuidEntry[] {
  return buildCpuid(getModel(model), { remove });
}

/** vCPU with CPUID set and XCR0 loaded (VMM-style set-up). */
export function setupVcpu(r: Rig, entries: CpuidEntry[], xcr0: bigint): KvmVcpu {
  const v = vcpu(r);
  const e = kvm_set_cpuid(v, entries);
  if (e) throw new Error(`set_cpuid ${e}`);
  const x = kvm_vcpu_ioctl_x86_set_xcrs(v, { nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: xcr0 }] });
  if (x) throw new Error(`set_xcrs ${x}`);
  return v;
}

/**
 * Run guest code between vcpu_enter_guest_fpu and vcpu_exit_guest_fpu. The EmuRunner resets the
 * CPU to build its user-mode environment; the hardware state that vcpu_enter_guest loaded (XCR0,
 * XSS, XFD, XFD_ERR, PKRU) is put back before the first instruction. Register contents restored
 * from the guest fpstate are lost by that reset: the guest code creates the state it needs.
 */
export function runGuest(r: Rig, v: KvmVcpu, code: string, patches: NativeCase["patches"] = []): void {
  vcpu_enter_guest_fpu(v);
  const cpu = r.emu.cpu, L = cpu.L;
  const s = [L.S_XCR0, L.S_XSS, L.S_XFD, L.S_XFD_ERR, L.S_PKRU].map((o) => [o, cpu.u64(o)] as const);
  const pkruInUse = cpu.u64(L.S_XINUSE) & 0x200n;
  r.emu.xcr0 = cpu.u64(L.S_XCR0);
  const gpr = Array.from({ length: 16 }, (_, i) =>
    i === 4 ? DEFAULT_RSP : i === 7 ? DATA_BASE : i === 6 ? 64n : i === 3 ? DATA_BASE + 0x1000n : 0n);
  const res = r.emu.run({ code: hex(code), gpr, dataSeed: 0n, patches }, 100_000, (c) => {
    for (const [o, x] of s) c.setU64(o, x);
    c.setU64(L.S_XINUSE, c.u64(L.S_XINUSE) | pkruInUse);
  });
  if (res.status !== "ok") throw new Error(`guest faulted: vector ${res.vector}`);
  vcpu_exit_guest_fpu(v);
}

// AMX guest code (encodings as in test/cpu/amx.test.ts): rdi = tile config, rbx = tile data, rsi = stride
export const LDTILECFG = "c4e2784907";
export const TILELOADD_T0 = "c4e27b4b0433";   // tileloadd tmm0, [rbx+rsi]
export function tilecfg(): Uint8Array {
  const c = new Uint8Array(64);
  c[0] = 1; c[16] = 64; c[48] = 16;             // palette 1, tmm0: 16 rows × 64 bytes
  return c;
}
export const TILE_DATA = Uint8Array.from({ length: 1024 }, (_, i) => ((i * 73) & 0xff) | 1);
export const amxPatches = () => [{ addr: DATA_BASE, bytes: tilecfg() }, { addr: DATA_BASE + 0x1000n, bytes: TILE_DATA }];

export const bvOf = (buf: Uint8Array) => new DataView(buf.buffer, buf.byteOffset).getBigUint64(512, true);
export const setBv = (buf: Uint8Array, bv: bigint) => new DataView(buf.buffer, buf.byteOffset).setBigUint64(512, bv, true);
