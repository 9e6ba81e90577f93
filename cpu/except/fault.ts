// A fault is a value, not a throw: the instruction that meets one records it
// here and returns ST_FAULT; the run loop rewinds RIP to the instruction start
// and delivers it (except/deliver.ts).

// Handler status codes
export const ST_OK: i32 = 0;        // continue with the next record
export const ST_FAULT: i32 = 1;     // fault recorded; instruction did not complete
export const ST_EXIT: i32 = 2;      // instruction completed; leave run() with the exit record filled
export const ST_END: i32 = 3;       // instruction completed; end the block (state that decode depends on changed)

// Vectors (arch/x86/include/asm/trapnr.h names)
export const X86_TRAP_DE: u32 = 0;
export const X86_TRAP_DB: u32 = 1;
export const X86_TRAP_NMI: u32 = 2;
export const X86_TRAP_BP: u32 = 3;
export const X86_TRAP_OF: u32 = 4;
export const X86_TRAP_BR: u32 = 5;
export const X86_TRAP_UD: u32 = 6;
export const X86_TRAP_NM: u32 = 7;
export const X86_TRAP_DF: u32 = 8;
export const X86_TRAP_TS: u32 = 10;
export const X86_TRAP_NP: u32 = 11;
export const X86_TRAP_SS: u32 = 12;
export const X86_TRAP_GP: u32 = 13;
export const X86_TRAP_PF: u32 = 14;
export const X86_TRAP_MF: u32 = 16;
export const X86_TRAP_AC: u32 = 17;
export const X86_TRAP_XF: u32 = 19;
// Pseudo-vectors: not exceptions but reasons to stop the instruction and exit.
export const VEC_MMIO: u32 = 256;      // a read from outside RAM: exit, re-execute with the data
export const VEC_INTERNAL: u32 = 257;  // something the emulator cannot do (e.g. fetch from MMIO)
export const VEC_SHUTDOWN: u32 = 258;  // triple fault

export let fault_vec: u32 = 0;
export let fault_err: u32 = 0;
export let fault_has_err: bool = false;
export let fault_pending: bool = false;

@inline export function raise(vec: u32, err: u32, has_err: bool): i32 {
  if (!fault_pending) {
    fault_pending = true;
    fault_vec = vec;
    fault_err = err;
    fault_has_err = has_err;
  }
  return ST_FAULT;
}
@inline export function raise_gp(err: u32): i32 { return raise(X86_TRAP_GP, err, true); }
@inline export function raise_ud(): i32 { return raise(X86_TRAP_UD, 0, false); }
@inline export function raise_ss(err: u32): i32 { return raise(X86_TRAP_SS, err, true); }

export function clear_fault(): void { fault_pending = false; }

// Vectors that push an error code in protected/long mode.
export function has_error_code(vec: u32): bool {
  return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30;
}
