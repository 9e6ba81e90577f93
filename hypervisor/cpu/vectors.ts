// The x86 exception vectors by number: mnemonic and what the SDM calls them. One table for every
// place that names a vector (exit messages, the debug engine, gdb's monitor, the VS Code filters).
export const EXCEPTIONS: Record<number, readonly [string, string]> = {
  0: ["DE", "divide error"], 1: ["DB", "debug"], 2: ["NMI", "non-maskable interrupt"], 3: ["BP", "breakpoint (INT3)"],
  4: ["OF", "overflow (INTO)"], 5: ["BR", "BOUND range exceeded"], 6: ["UD", "invalid opcode"], 7: ["NM", "device not available"],
  8: ["DF", "double fault"], 10: ["TS", "invalid TSS"], 11: ["NP", "segment not present"], 12: ["SS", "stack-segment fault"],
  13: ["GP", "general protection"], 14: ["PF", "page fault"], 16: ["MF", "x87 floating-point error"], 17: ["AC", "alignment check"],
  18: ["MC", "machine check"], 19: ["XM", "SIMD floating-point exception"], 20: ["VE", "virtualization exception"], 21: ["CP", "control protection"],
};

/** "#GP", "NMI", or "vector 9" for a vector without a mnemonic */
export function vectorName(v: number): string {
  const e = EXCEPTIONS[v];
  return e ? (v === 2 ? e[0] : `#${e[0]}`) : `vector ${v}`;
}
