// guest-images/workloads.mjs — the N-patch convention of the W1/W2 ROMs and reference models
// of their checksums (BigInt re-implementations of the guest loops, checked against QEMU TCG;
// see guest-images/README.md). Plain ESM, no dependencies: import it from tests and bench/.
//
//   import { patchN, readN, w1Checksum, w2Checksum, N_OFFSET } from '../guest-images/workloads.mjs';
//   const rom = patchN(readFileSync('guest-images/bin/w1.rom'), 1_000_000n); // a patched copy
//   // ... run it; the guest prints `DONE ${w1Checksum(1_000_000n).toString(16).padStart(16, '0')}`

/** ROM offset of the 4-byte ASCII marker ("W1N:" / "W2N:"). */
export const MARKER_OFFSET = 0xffe4;
/** ROM offset of N: u64 little-endian (physical address 0xFFFE8 in the running machine). */
export const N_OFFSET = 0xffe8;
/** N in the committed images. */
export const DEFAULT_N = 1000n;
/** Instructions per loop iteration (perf-anchors §3). */
export const INSNS_PER_ITERATION = 10;

const MASK = (1n << 64n) - 1n;

/** The marker of a workload ROM ("W1N:", "W2N:"), or null if the image has none. */
export function markerOf(rom) {
  const s = String.fromCharCode(...rom.subarray(MARKER_OFFSET, MARKER_OFFSET + 4));
  return /^W\dN:$/.test(s) ? s : null;
}

/** Read N from a workload ROM. */
export function readN(rom) {
  if (!markerOf(rom)) throw new Error('not a W-workload ROM (no "WxN:" marker at 0xFFE4)');
  return new DataView(rom.buffer, rom.byteOffset, rom.byteLength).getBigUint64(N_OFFSET, true);
}

/** Return a copy of a workload ROM with N patched (N >= 0; 0 skips the loop). */
export function patchN(rom, n) {
  if (!markerOf(rom)) throw new Error('not a W-workload ROM (no "WxN:" marker at 0xFFE4)');
  const out = Uint8Array.from(rom);
  new DataView(out.buffer).setBigUint64(N_OFFSET, BigInt(n) & MASK, true);
  return out;
}

/** W1 checksum for N iterations (what the guest prints after "DONE "). O(N). */
export function w1Checksum(n) {
  n = BigInt(n);
  let a = 0x0123456789abcdefn, b = 0xfedcba9876543210n, c = 0n;
  for (let i = 0n; i < n; i++) {
    a = (a + i) & MASK;             // add  %rcx,%rax
    b ^= a;                         // xor  %rax,%rbx
    a = (a << 5n) & MASK;           // shl  $5,%rax
    a = (a + b) & MASK;             // add  %rbx,%rax
    b >>= 3n;                       // shr  $3,%rbx
    c ^= a;                         // xor  %rax,%rdx
    c = (c - b) & MASK;             // sub  %rbx,%rdx
  }
  return a ^ b ^ c;
}

/** W2 checksum for N iterations (what the guest prints after "DONE "). O(N + 8192). */
export function w2Checksum(n) {
  n = BigInt(n);
  const view = new DataView(new ArrayBuffer(0x10000)); // the 64 KiB array, little-endian
  const K = 0x9e3779b97f4a7c15n;
  let v = 0n;
  for (let j = 0; j < 8192; j++) { v = (v + K) & MASK; view.setBigUint64(j * 8, v, true); }
  let i = 0, d = 0x0f1e2d3c4b5a6978n;
  for (let k = 0n; k < n; k++) {
    const x = (view.getBigUint64(i * 8, true) + d) & MASK; // mov (%rdi,%rcx,8),%rax ; add %rdx,%rax
    view.setBigUint64(i * 8, x, true);                    // mov %rax,(%rdi,%rcx,8) ; push %rax
    const off = 0x8000 + i * 4;                            // add %eax,0x8000(%rdi,%rcx,4)
    view.setUint32(off, (view.getUint32(off, true) + Number(x & 0xffffffffn)) >>> 0, true);
    d = x;                                                 // pop %rdx
    i = (i + 7) & 0x1fff;                                  // add $7,%rcx ; and $0x1fff,%rcx
  }
  let h = d;
  for (let j = 0; j < 8192; j++) {
    h = ((h << 5n) | (h >> 59n)) & MASK;                   // rol $5,%rdx
    h ^= view.getBigUint64(j * 8, true);                   // xor (%rdi,%rcx,8),%rdx
  }
  return h;
}

/** "DONE <16 hex digits>" as printed by the guest. */
export function doneLine(checksum) {
  return `DONE ${BigInt(checksum).toString(16).padStart(16, '0')}`;
}
