// What the DAP session needs from a debug engine, in the session's own terms.
// The session (session.ts) talks only to this interface; engine_target.ts
// implements it over the shared engine (hypervisor/debug/engine.ts), which
// the gdb stub uses too. Keeping the seam lets tests drive the session over a
// fake target and keeps DAP vocabulary out of the engine.

/** Why execution stopped. "exited" means the guest is finished (status set). */
export type StopKind = "entry" | "step" | "breakpoint" | "exception" | "vmexit" | "host-oops" | "pause" | "budget" | "exited";

export interface Stop {
  kind: StopKind;
  /** exception vector for kind "exception" */
  vector?: number;
  errorCode?: number;
  cr2?: bigint;
  /** VM exit for kind "vmexit" / "exited": hlt, io, shutdown, debug-exit, host-oops, budget, … */
  exit?: string;
  port?: number;
  /** process exit status per the CLI contract, for kind "exited" */
  status?: number;
  /** free text for the UI (oops report, exit description) */
  text?: string;
}

/** Stop filters (exception bitmap, VM exits, host oops). */
export interface StopFilters {
  vectors: number[];
  /** "io" | "hlt" | "shutdown" | "mmio" */
  vmExits: string[];
  hostOops: boolean;
}

export interface Breakpoint { addr: bigint; physical: boolean }

/** A register value: scalars as bigint, wide registers (x87 80-bit, vectors, tiles) as little-endian bytes. */
export type RegValue = bigint | Uint8Array;

export interface HostFpstateView {
  kernel: string;
  [field: string]: string | bigint | number | boolean;
}

export interface DebugTarget {
  /** instructions retired since the machine started */
  readonly insns: number;
  /** the guest finished (debug-exit, hlt, shutdown, host oops, budget): further runs return that stop again */
  readonly finished: Stop | null;
  readonly canReverse: boolean;

  step(): Stop;
  /** run until a stop; yields to the event loop while the guest runs; pause() ends it with { kind: "pause" } */
  cont(): Promise<Stop>;
  pause(): void;
  stepBack(): Stop;
  reverseCont(): Stop;

  setBreakpoints(bps: Breakpoint[]): void;
  setFilters(f: StopFilters): void;

  /** Register by (gdb-style) name, undefined when this model has no such register. */
  readReg(name: string): RegValue | undefined;
  /** Throws Error with a user-facing message when the name or value is not acceptable. */
  writeReg(name: string, value: RegValue): void;
  /** Names available on this model (so the UI does not show zmm16 on an AVX2 model). */
  hasReg(name: string): boolean;
  /** Disassemble `count` instructions, the first `instructionOffset` instructions away from linear `addr` (exactly count entries). */
  disassemble?(addr: bigint, instructionOffset: number, count: number): { addr: bigint; bytes: Uint8Array; text: string; valid: boolean }[];

  /** Bytes at a linear (through the guest's page tables) or physical address; short at the first unreadable byte. */
  readMemory(addr: bigint, len: number, physical: boolean): Uint8Array;
  /** Returns the number of bytes written (short at the first unwritable byte). */
  writeMemory(addr: bigint, bytes: Uint8Array, physical: boolean): number;
  /** Linear → physical with the current paging mode, null when unmapped. */
  translate(lin: bigint): bigint | null;
  /** Where the next instruction is: linear address, code size, CS selector, RIP. */
  codeLocation(): { lin: bigint; bitness: 16 | 32 | 64; cs: number; rip: bigint };

  /** The host kernel's view of the vCPU's guest fpstate. */
  hostFpstate(): HostFpstateView;
  /** Free what the target holds outside the JS heap (the disassembler's wasm objects). */
  dispose(): void;
}
