// Run-control globals shared by the loop and the handlers. They are wasm
// globals (cheap to read) rather than loop locals so that handlers living in
// other functions can steer the block loop.

// RIP of the first instruction of the executing block (offset in CS, not linear).
export let blk_rip: u64 = 0;
// Next RIP after the block; control-transfer handlers overwrite it.
export let next_rip: u64 = 0;
// End of the record range the block loop may execute. Setting it to 0 makes the
// loop stop after the current instruction (self-modifying code, MMIO write).
export let blk_end: usize = 0;
// An MMIO write or other completed-instruction exit is waiting to be returned.
export let exit_after: bool = false;

// Physical page (and its 64-byte chunk mask) of the executing block, so a
// store into it can stop the block after the storing instruction.
export let blk_ppn: u64 = <u64>-1;

@inline export function set_blk_rip(v: u64): void { blk_rip = v; }
@inline export function set_next_rip(v: u64): void { next_rip = v; }
@inline export function set_blk_end(v: usize): void { blk_end = v; }
@inline export function set_exit_after(v: bool): void { exit_after = v; }
@inline export function set_blk_ppn(v: u64): void { blk_ppn = v; }
// The current instruction takes no single-step trap although TF was set when it
// started: a software interrupt (INT n/INT3/INTO/INT1; the handler starts with
// TF=0 and the INT reports none, measured with INT3 on Zen 4), or a SYSCALL whose
// SFMASK cleared TF (the trap follows the resulting RFLAGS, XSA-204).
export let no_step_trap: bool = false;
@inline export function set_no_step_trap(v: bool): void { no_step_trap = v; }
// The current instruction takes a single-step trap although TF was clear when it
// started: SYSRET loading TF from R11 traps at once, before the first instruction
// at the return address (unlike POPF/IRET; Linux's entry code avoids SYSRET for it).
export let step_trap_after: bool = false;
@inline export function set_step_trap_after(v: bool): void { step_trap_after = v; }
