// Types for workloads.mjs (the W-workload ROM helpers, plain JS so the guest
// build and the benchmarks can use them without a TypeScript step).
export const MARKER_OFFSET: number;
export const N_OFFSET: number;
export const DEFAULT_N: bigint;
export const INSNS_PER_ITERATION: number;
/** "W1N:"-style marker at MARKER_OFFSET, or null when the ROM is not a workload. */
export function markerOf(rom: Uint8Array): string | null;
export function readN(rom: Uint8Array): bigint;
export function patchN(rom: Uint8Array, n: bigint | number): Uint8Array;
export function w1Checksum(n: bigint | number): bigint;
export function w2Checksum(n: bigint | number): bigint;
export function doneLine(checksum: bigint): string;
