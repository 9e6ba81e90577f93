// struct kvm_vcpu / struct kvm: the per-vCPU and per-VM state the ioctl layer
// keeps while a vCPU is not loaded in the (single) emulated CPU, and the
// vcpu_load()/vcpu_put() that swap it in and out.
//
// One Host = one WasmCpu = the physical machine. A vCPU's architectural state
// is the CPU's state block (STATE, 0x2000 bytes) plus its guest fpstate, which
// the vCPU's VcpuFpu (kvm/fpu_kernel.ts) owns: the register file (XSTATE) and
// the XCR0/XFD/PKRU fields are the physical CPU's and hold the guest's values
// only inside KVM_RUN (fpu_iface.ts). Whichever vCPU an ioctl
// addresses is loaded first (kvm_main.ts vcpuLoad), so every handler works on
// the live CPU. A pending port-IN (the CPU keeps it outside the state block) is
// saved and restored with it; the guest-physical slots are the VM's and are
// re-programmed when a vCPU of another VM is loaded.
import type { CpuidEntry } from "../models/cpuid";
import type { VcpuFpu, HostEventKind } from "./fpu_iface";

/**
 * When a scheduled host event fires (Host.scheduleEvent): at a VM-exit, after the exit's
 * interrupts-off FPU steps and before its exit handler.
 *   'next-exit'            the next exit (any reason but a time-slice exit): one that ends KVM_RUN,
 *                          or an intercepted WRMSR's, which KVM handles inside KVM_RUN
 *   { exitReason, port? }  the next exit with this KVM_EXIT_* reason (for KVM_EXIT_IO: this port)
 *   { msrWrite: index }    the next exit for an intercepted guest WRMSR of this MSR (KVM-internal:
 *                          handled inside KVM_RUN; on VMX only IA32_XFD 0x1C4, and only until its
 *                          first non-zero write — kernel-abi.md §3.8); 'next-exit' includes it
 *   { afterInsns: n }      the first exit once the guest has retired n more instructions (counted
 *                          from scheduling); KVM_RUN stops the guest there (an external-interrupt
 *                          exit, as the host timer would), fires, and re-enters the guest
 */
export type HostEventAt = "next-exit" | { exitReason: number; port?: number } | { msrWrite: number } | { afterInsns: number };
export interface PendingHostEvent { id: number; kind: HostEventKind; at: HostEventAt; /** afterInsns: guest instructions still to retire */ left?: number }
/** a host event that fired: where, and what the kernel did (see Host.events) */
export interface FiredHostEvent {
  id: number; vcpuId: number; kind: HostEventKind; at: HostEventAt;
  /**
   * KVM_EXIT_* of the exit it fired at (KVM_EXIT_INTR for an afterInsns stop), or for an exit KVM
   * handles internally 0x10000 | its VMX basic exit reason: WRMSR_EXIT_REASON (0x10020, an
   * intercepted WRMSR; `msr` is its index) — a value no kvm_run ever carries
   */
  exitReason: number; port?: number; msr?: number;
  /** guest instructions the CPU had retired (WasmCpu.insns) */
  insns: number;
  /** the kernel functions it ran, in order */
  calls: string[];
  /** set when the host oopsed later in the same KVM_RUN: the oops's caller (HostOopsReport.caller, e.g. 'switch_fpu_return') */
  oops?: string;
}

/** FiredHostEvent.exitReason of an intercepted WRMSR's exit (cpu/layout.ts EXIT_VMX_MSR_WRITE) */
export const WRMSR_EXIT_REASON = 0x10020;

export const STATE_BYTES = 0x2000;         // STATE .. XSTATE
export const KVM_RUN_PAGES = 3;            // kvm_run, the PIO data page (KVM_PIO_PAGE_OFFSET 1), coalesced MMIO page
export const KVM_PIO_PAGE_OFFSET = 1;

export interface MemSlot { id: number; flags: number; gpa: bigint; size: bigint; uaddr: number }

export class Vm {
  readonly slots = new Map<number, MemSlot>();
  slotGen = 0;
  readonly vcpus = new Map<number, Vcpu>();
  constructor(readonly id: number) {}
}

export class Vcpu {
  /** the CPU state block while not loaded */
  readonly state = new Uint8Array(STATE_BYTES);
  /** the mmap()ed kvm_run block */
  readonly run = new Uint8Array(KVM_RUN_PAGES * 4096);
  cpuid: CpuidEntry[] = [];
  guestSupportedXcr0 = 0n;
  hasRun = false;
  /** the CPU's pending IN (kind, size, address lo/hi) while not loaded */
  ioPending = [0, 0, 0, 0];
  /** the last exit was an MMIO read: its data comes back in kvm_run.mmio.data */
  mmioReadPa: bigint | null = null;
  guestDebug = 0;
  /** vcpu->arch.mp_state: always KVM_MP_STATE_RUNNABLE (0) without an in-kernel irqchip (x86.ts) */
  mpState = 0;
  debugRegs: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  fpu!: VcpuFpu;
  /** host events waiting for their exit (Host.scheduleEvent), in scheduling order */
  hostEvents: PendingHostEvent[] = [];
  constructor(readonly vm: Vm, readonly id: number) {}
}
