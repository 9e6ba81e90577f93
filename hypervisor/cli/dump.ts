// The machine state as the JSON of the CLI contract (`--dump-state`):
// exit, insns, regs, sregs, xcr0, msrs, xsave. Every 64-bit value is a
// "0x…" hex string; narrower fields (selectors, limits, counts) are numbers.
import type { WasmCpu } from "../cpu/wasm_cpu";
import type { Machine } from "../vmm/machine";

export const hex = (v: bigint | number): string => "0x" + BigInt.asUintN(64, BigInt(v)).toString(16);

// kvm_regs order
const GPRS: [string, number][] = [
  ["rax", 0], ["rbx", 3], ["rcx", 1], ["rdx", 2], ["rsi", 6], ["rdi", 7], ["rsp", 4], ["rbp", 5],
  ["r8", 8], ["r9", 9], ["r10", 10], ["r11", 11], ["r12", 12], ["r13", 13], ["r14", 14], ["r15", 15],
];

export interface SegmentJson { selector: number; base: string; limit: number; attr: number }

export interface StateJson {
  exit: string;
  status: number;
  insns: number;
  host: string;
  kernel: { version: string; id: string; modelled: true };
  regs: Record<string, string>;
  sregs: Record<string, SegmentJson | { base: string; limit: number } | string>;
  xcr0: string;
  msrs: Record<string, string>;
  xsave: string;
}

export function regsJson(cpu: WasmCpu): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, i] of GPRS) out[n] = hex(cpu.gpr(i));
  out.rip = hex(cpu.rip);
  out.rflags = hex(cpu.rflags);
  return out;
}

export function sregsJson(cpu: WasmCpu): StateJson["sregs"] {
  const L = cpu.L;
  const seg = (i: number): SegmentJson => {
    const s = cpu.seg(i);
    return { selector: s.sel, base: hex(s.base), limit: s.limit >>> 0, attr: s.attr };
  };
  return {
    cs: seg(L.SEG_CS), ds: seg(L.SEG_DS), es: seg(L.SEG_ES), fs: seg(L.SEG_FS), gs: seg(L.SEG_GS), ss: seg(L.SEG_SS),
    tr: seg(L.SEG_TR), ldt: seg(L.SEG_LDTR),
    gdt: { base: hex(cpu.u64(L.S_GDTR_BASE)), limit: Number(cpu.u64(L.S_GDTR_LIMIT) & 0xffffn) },
    idt: { base: hex(cpu.u64(L.S_IDTR_BASE)), limit: Number(cpu.u64(L.S_IDTR_LIMIT) & 0xffffn) },
    cr0: hex(cpu.u64(L.S_CR0)), cr2: hex(cpu.u64(L.S_CR2)), cr3: hex(cpu.u64(L.S_CR3)), cr4: hex(cpu.u64(L.S_CR4)),
    cr8: hex(cpu.u64(L.S_CR8)), efer: hex(cpu.u64(L.S_EFER)), apic_base: hex(cpu.u64(L.S_APIC_BASE)),
  };
}

/**
 * The standard-format (non-compacted) XSAVE image of the vCPU, sized like
 * KVM_GET_XSAVE2's buffer (KVM_CAP_XSAVE2: at least 4096 bytes, else
 * CPUID.(EAX=0DH,ECX=0):ECX).
 *
 * Produced by the CPU's own XSAVE (standard format) with the host's XCR0 —
 * every user component the model supports — as the host kernel saves a
 * guest's registers whatever XCR0 the guest set; XFD-disabled components
 * come out as XSTATE_BV[i] = 0. This is the CPU's CURRENT register file: between
 * KVM_RUNs that is the host task's (the kernel swapped the guest's out), so a
 * vCPU's state is read with KVM_GET_XSAVE2 instead (stateJson does).
 */
export function xsaveImage(cpu: WasmCpu): Uint8Array {
  const L = cpu.L;
  cpu.ex.cpuid(0xd, 0);
  const supported = (BigInt(cpu.ex.cpuid_reg(3) >>> 0) << 32n) | BigInt(cpu.ex.cpuid_reg(0) >>> 0);
  const maxSize = cpu.ex.cpuid_reg(2) >>> 0;
  const size = Math.max(4096, maxSize);
  const buf = scratch(cpu, size);
  cpu.bytes.fill(0, buf, buf + size);
  const guestXcr0 = cpu.u64(L.S_XCR0);
  cpu.setU64(L.S_XCR0, supported);
  const save = cpu.ex.hostmode_xsave as (b: number, lo: number, hi: number) => number;
  const fault = save(buf, -1, -1);
  cpu.setU64(L.S_XCR0, guestXcr0);
  if (fault) throw new Error(`XSAVE of the vCPU state faulted (vector ${fault})`);
  return cpu.bytes.slice(buf, buf + size);
}

// one 64-byte-aligned host buffer per CPU for state dumps
const scratchBufs = new WeakMap<WasmCpu, { addr: number; size: number }>();
function scratch(cpu: WasmCpu, size: number): number {
  let b = scratchBufs.get(cpu);
  if (!b || b.size < size) { b = { addr: cpu.alloc(size, 64), size }; scratchBufs.set(cpu, b); }
  return b.addr;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function stateJson(
  m: Machine, run: { exit: string; status: number; insns: number }, kernel: { version: string; id: string },
): StateJson {
  const cpu = m.cpu, L = cpu.L;
  return {
    exit: run.exit,
    status: run.status,
    insns: run.insns,
    host: m.model.name,
    kernel: { version: kernel.version, id: kernel.id, modelled: true },
    regs: regsJson(cpu),
    sregs: sregsJson(cpu),
    ...fpuJson(m),
  };
}

/**
 * The guest's extended state as the VMM sees it, through the vCPU ioctls: after KVM_RUN the
 * guest's registers, XCR0, XFD and PKRU are in the kernel's guest fpstate (the CPU holds the
 * host's), so they are read with KVM_GET_XCRS, KVM_GET_MSRS and KVM_GET_XSAVE2 — the latter
 * with the selected kernel behaviour's header mask. The image is CPUID.(0DH,0):ECX bytes of the
 * guest's table, at least 4096 (the uabi size: 11008 once AMX is enabled in the guest CPUID).
 */
function fpuJson(m: Machine): Pick<StateJson, "xcr0" | "msrs" | "xsave"> {
  const v = m.vcpu;
  let xcr0 = 1n;
  try { xcr0 = v.getXcrs().xcrs.find((x) => x.xcr === 0)?.value ?? 1n; } catch { /* no XSAVE on the host */ }
  const msr = (i: number): bigint => { try { return v.getMsrs([i])[0]?.data ?? 0n; } catch { return 0n; } };
  const d0 = v.getCpuid2().find((e) => e.fn === 0xd && e.idx === 0);
  const size = Math.max(4096, d0 ? d0.ecx >>> 0 : 0);
  const img = v.getXsave2(Math.max(size, m.kvm.checkExtension(208 /* KVM_CAP_XSAVE2 */))).slice(0, size);
  const bv = new DataView(img.buffer).getBigUint64(512, true);
  const pkru = bv & 0x200n && img.length >= 2692 ? BigInt(new DataView(img.buffer).getUint32(2688, true)) : 0n;
  return {
    xcr0: hex(xcr0),
    msrs: { xfd: hex(msr(0x1c4)), xfd_err: hex(msr(0x1c5)), xss: hex(msr(0xda0)), pkru: hex(pkru) },
    xsave: toHex(img),
  };
}
