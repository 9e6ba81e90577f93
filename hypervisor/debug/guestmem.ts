// Guest memory as a debugger sees it: guest-physical reads through the CPU's
// memory-slot table, and linear → physical translation by a page walk done
// here in TypeScript. Unlike the CPU's own walker (cpu/mmu/paging.ts) this
// one has no side effects: it sets no accessed/dirty bits, fills no TLB entry
// and raises no #PF — a trace or a debugger must not change what the guest
// will see. It checks presence only (no reserved-bit, U/S, R/W or NX checks),
// and ignores the A20 gate (assumed enabled).
import type { WasmCpu } from "../cpu/wasm_cpu";

const CR0_PG = 1n << 31n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const CR4_LA57 = 1n << 12n;
const EFER_LMA = 1n << 10n;
const ADDR = 0x000ffffffffff000n;        // bits 51:12 of a 64-bit paging entry
const SLOT_SIZE = 32;                    // cpu/mmu/phys.ts: gpa u64, size u64, host u64, flags u32, used u32
const NSLOTS = 32;

/** Host address (inside the wasm memory) of guest-physical `pa`, and how many bytes follow in the same slot. */
export function physToHost(cpu: WasmCpu, pa: number): { host: number; avail: number } | null {
  const dv = cpu.view, base = cpu.L.SLOTS;
  for (let i = 0; i < NSLOTS; i++) {
    const p = base + i * SLOT_SIZE;
    if (dv.getUint32(p + 28, true) === 0) continue;
    const gpa = Number(dv.getBigUint64(p, true)), size = Number(dv.getBigUint64(p + 8, true));
    if (pa >= gpa && pa < gpa + size) return { host: Number(dv.getBigUint64(p + 16, true)) + (pa - gpa), avail: gpa + size - pa };
  }
  return null;
}

/** Read guest-physical memory; stops early (shorter result) at an address no slot covers. */
export function readPhys(cpu: WasmCpu, pa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let n = 0;
  while (n < len) {
    const h = physToHost(cpu, pa + n);
    if (!h) break;
    const k = Math.min(h.avail, len - n);
    out.set(cpu.bytes.subarray(h.host, h.host + k), n);
    n += k;
  }
  return out.subarray(0, n);
}

function phys64(cpu: WasmCpu, pa: bigint): bigint | null {
  const h = physToHost(cpu, Number(pa));
  return h && h.avail >= 8 ? cpu.view.getBigUint64(h.host, true) : null;
}
function phys32(cpu: WasmCpu, pa: bigint): bigint | null {
  const h = physToHost(cpu, Number(pa));
  return h && h.avail >= 4 ? BigInt(cpu.view.getUint32(h.host, true)) : null;
}

/**
 * Translate a linear address with the current CR0/CR3/CR4/EFER (no paging,
 * 32-bit, PAE, 4- and 5-level). Returns the physical address, or null when
 * the address is not mapped (or a table lies outside guest memory).
 */
export function linearToPhys(cpu: WasmCpu, lin: bigint): bigint | null {
  const L = cpu.L;
  const cr0 = cpu.u64(L.S_CR0), cr3 = cpu.u64(L.S_CR3), cr4 = cpu.u64(L.S_CR4), efer = cpu.u64(L.S_EFER);
  if (!(cr0 & CR0_PG)) return lin & 0xffffffffn;
  if (!(cr4 & CR4_PAE)) {
    const l = lin & 0xffffffffn;
    const pde = phys32(cpu, (cr3 & 0xfffff000n) + ((l >> 22n) & 0x3ffn) * 4n);
    if (pde === null || !(pde & 1n)) return null;
    if ((pde & 0x80n) && (cr4 & CR4_PSE)) return ((pde & 0xffc00000n) | (((pde >> 13n) & 0xffn) << 32n)) + (l & 0x3fffffn);
    const pte = phys32(cpu, (pde & 0xfffff000n) + ((l >> 12n) & 0x3ffn) * 4n);
    if (pte === null || !(pte & 1n)) return null;
    return (pte & 0xfffff000n) | (l & 0xfffn);
  }
  let table: bigint, level: number;
  if (efer & EFER_LMA) {
    table = cr3 & ADDR;
    level = cr4 & CR4_LA57 ? 5 : 4;
  } else {
    // PAE: the four PDPTEs were loaded into the CPU at the CR3 write
    lin &= 0xffffffffn;
    const pdpte = cpu.u64(L.S_PDPTE + 8 * Number((lin >> 30n) & 3n));
    if (!(pdpte & 1n)) return null;
    table = pdpte & ADDR;
    level = 2;
  }
  for (; level >= 1; level--) {
    const shift = BigInt(12 + 9 * (level - 1));
    const e = phys64(cpu, table + ((lin >> shift) & 0x1ffn) * 8n);
    if (e === null || !(e & 1n)) return null;
    if (level === 1 || ((level === 2 || level === 3) && (e & 0x80n))) {
      const mask = (1n << shift) - 1n;
      return ((e & ADDR) & ~mask) | (lin & mask);
    }
    table = e & ADDR;
  }
  return null;
}

/** Read `len` bytes at a linear address, page by page; stops early at an unmapped page. */
export function readLinear(cpu: WasmCpu, lin: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let n = 0;
  while (n < len) {
    const a = lin + BigInt(n);
    const pa = linearToPhys(cpu, a);
    if (pa === null) break;
    const k = Math.min(len - n, 4096 - Number(a & 0xfffn));
    const got = readPhys(cpu, Number(pa), k);
    out.set(got, n);
    n += got.length;
    if (got.length < k) break;
  }
  return out.subarray(0, n);
}

/** Where the next instruction is: CS:RIP as a linear address, and the code size (16/32/64). */
export function codeLocation(cpu: WasmCpu): { lin: bigint; bitness: 16 | 32 | 64; cs: number; rip: bigint } {
  const L = cpu.L, mode = cpu.ex.mode(), rip = cpu.rip, cs = cpu.seg(L.SEG_CS);
  if (mode & L.MODE_64) return { lin: rip, bitness: 64, cs: cs.sel, rip };
  return { lin: (cs.base + rip) & 0xffffffffn, bitness: mode & L.MODE_D ? 32 : 16, cs: cs.sel, rip };
}
