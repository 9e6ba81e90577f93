// The debugger's view of guest memory (hypervisor/debug/guestmem.ts): the
// side-effect-free page walk for every paging mode, guest-physical reads
// through the slot table (RAM and the BIOS ROM aliases), and the code
// location used by --trace.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Machine } from "../../hypervisor/vmm/machine";
import { linearToPhys, readLinear, readPhys, codeLocation } from "../../hypervisor/debug/guestmem";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const quiet = { write: () => {} };

const P = 1n, RW = 2n, US = 4n, PS = 0x80n, A = 0x20n, D = 0x40n;
const CR0_PE = 1n, CR0_PG = 1n << 31n, CR4_PSE = 0x10n, CR4_PAE = 0x20n, CR4_LA57 = 0x1000n, EFER_LME_LMA = 0x500n;

function machine(): Machine { return new Machine({ memory: 32 << 20, console: quiet }); }
function set64(m: Machine, gpa: number, v: bigint): void {
  const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, v, true); m.writePhys(gpa, b);
}
function set32(m: Machine, gpa: number, v: bigint): void {
  const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, Number(v), true); m.writePhys(gpa, b);
}
function paging(m: Machine, cr0: bigint, cr3: bigint, cr4: bigint, efer: bigint): void {
  const c = m.cpu, L = c.L;
  c.setU64(L.S_CR0, cr0); c.setU64(L.S_CR3, cr3); c.setU64(L.S_CR4, cr4); c.setU64(L.S_EFER, efer);
}
const idx = (lin: bigint, level: number) => Number((lin >> BigInt(12 + 9 * (level - 1))) & 0x1ffn);

test("no paging: linear = physical (32-bit wrap)", () => {
  const m = machine();
  paging(m, CR0_PE, 0n, 0n, 0n);
  assert.is(linearToPhys(m.cpu, 0x12345n), 0x12345n);
  assert.is(linearToPhys(m.cpu, 0x1_0000_1000n), 0x1000n);
});

test("4-level paging: 4 KiB, 2 MiB and 1 GiB pages, not-present, and no A/D bits written", () => {
  const m = machine();
  const pml4 = 0x10000, pdpt = 0x11000, pd = 0x12000, pt = 0x13000;
  const lin4k = 0x7f_1234_5678n, lin2m = 0x7f_1260_0abcn, lin1g = 0x40_4000_0123n;
  set64(m, pml4 + 8 * idx(lin4k, 4), BigInt(pdpt) | P | RW);
  set64(m, pdpt + 8 * idx(lin4k, 3), BigInt(pd) | P | RW);
  set64(m, pd + 8 * idx(lin4k, 2), BigInt(pt) | P | RW);
  set64(m, pt + 8 * idx(lin4k, 1), 0x345000n | P | RW | (1n << 63n));   // NX set: still translates
  set64(m, pd + 8 * idx(lin2m, 2), 0x600000n | P | PS);
  set64(m, pml4 + 8 * idx(lin1g, 4), BigInt(pdpt + 0x1000 * 0) | P);
  set64(m, pdpt + 8 * idx(lin1g, 3), 0x40000000n | P | PS);
  paging(m, CR0_PE | CR0_PG, BigInt(pml4) | 0x5n /* PCID bits ignored */, CR4_PAE, EFER_LME_LMA);
  assert.is(linearToPhys(m.cpu, lin4k), 0x345678n);
  assert.is(linearToPhys(m.cpu, lin2m), 0x600abcn);
  assert.is(linearToPhys(m.cpu, lin1g), 0x40000123n);
  assert.is(linearToPhys(m.cpu, 0x1000n), null);                 // PML4 entry 0 not present
  assert.is(linearToPhys(m.cpu, lin4k + 0x1000n), null);         // PTE not present
  const dv = new DataView(m.readPhys(pt + 8 * idx(lin4k, 1), 8).buffer);
  assert.is(dv.getBigUint64(0, true) & (A | D), 0n);
});

test("5-level paging (CR4.LA57)", () => {
  const m = machine();
  const pml5 = 0x20000, pml4 = 0x21000, pdpt = 0x22000, pd = 0x23000;
  const lin = 0x00ab_cdef_1220_0345n;
  set64(m, pml5 + 8 * Number((lin >> 48n) & 0x1ffn), BigInt(pml4) | P);
  set64(m, pml4 + 8 * idx(lin, 4), BigInt(pdpt) | P);
  set64(m, pdpt + 8 * idx(lin, 3), BigInt(pd) | P);
  set64(m, pd + 8 * idx(lin, 2), 0xa00000n | P | PS);
  paging(m, CR0_PE | CR0_PG, BigInt(pml5), CR4_PAE | CR4_LA57, EFER_LME_LMA);
  assert.is(linearToPhys(m.cpu, lin), 0xa00345n);
});

test("PAE paging uses the PDPTEs loaded in the CPU", () => {
  const m = machine(), c = m.cpu, L = c.L;
  const pd = 0x30000, pt = 0x31000;
  c.setU64(L.S_PDPTE + 8 * 2, BigInt(pd) | P);
  set64(m, pd + 8 * 5, BigInt(pt) | P);
  set64(m, pt + 8 * 7, 0x777000n | P);
  set64(m, pd + 8 * 6, 0xc00000n | P | PS);
  paging(m, CR0_PE | CR0_PG, 0x999000n /* not where the PDPTEs came from */, CR4_PAE, 0n);
  const lin = (2n << 30n) | (5n << 21n) | (7n << 12n) | 0x21n;
  assert.is(linearToPhys(c, lin), 0x777021n);
  assert.is(linearToPhys(c, (2n << 30n) | (6n << 21n) | 0x1234n), 0xc01234n);
  assert.is(linearToPhys(c, 1n << 30n), null);                   // PDPTE 1 not present
});

test("32-bit paging: 4 KiB pages and 4 MiB pages with CR4.PSE", () => {
  const m = machine();
  const pd = 0x40000, pt = 0x41000;
  const lin = 0x8040_3123n;
  set32(m, pd + 4 * Number(lin >> 22n), BigInt(pt) | P | US);
  set32(m, pt + 4 * Number((lin >> 12n) & 0x3ffn), 0x555000n | P);
  set32(m, pd + 4 * 0x3ff, 0x00c00000n | P | PS);
  paging(m, CR0_PE | CR0_PG, BigInt(pd), CR4_PSE, 0n);
  assert.is(linearToPhys(m.cpu, lin), 0x555123n);
  assert.is(linearToPhys(m.cpu, 0xffc0_0042n), 0xc00042n);
  paging(m, CR0_PE | CR0_PG, BigInt(pd), 0n, 0n);                // without PSE the PS bit is ignored: a page table
  assert.is.not(linearToPhys(m.cpu, 0xffc0_0042n), 0xc00042n);
});

test("readLinear follows the mapping across a page boundary and stops at an unmapped page", () => {
  const m = machine();
  const pml4 = 0x10000, pdpt = 0x11000, pd = 0x12000, pt = 0x13000;
  set64(m, pml4, BigInt(pdpt) | P); set64(m, pdpt, BigInt(pd) | P); set64(m, pd, BigInt(pt) | P);
  set64(m, pt + 8 * 1, 0x200000n | P);          // lin 0x1000 → 0x200000
  set64(m, pt + 8 * 2, 0x100000n | P);          // lin 0x2000 → 0x100000 (lower!)
  m.writePhys(0x200ffe, Uint8Array.of(0xaa, 0xbb));
  m.writePhys(0x100000, Uint8Array.of(0xcc, 0xdd));
  paging(m, CR0_PE | CR0_PG, BigInt(pml4), CR4_PAE, EFER_LME_LMA);
  assert.equal([...readLinear(m.cpu, 0x1ffen, 4)], [0xaa, 0xbb, 0xcc, 0xdd]);
  assert.is(readLinear(m.cpu, 0x2ffen, 8).length, 2);          // page 3 not mapped
  assert.is(readLinear(m.cpu, 0x5000n, 8).length, 0);
});

test("readPhys sees the BIOS ROM at both aliases and nothing outside the slots", () => {
  const rom = new Uint8Array(readFileSync(join(root, "guest-images/bin/w0.rom")));
  const m = machine();
  m.load("bios", rom);
  const tail = [...rom.subarray(rom.length - 16)];
  assert.equal([...readPhys(m.cpu, 0xfffffff0, 16)], tail);
  assert.equal([...readPhys(m.cpu, 0xffff0, 16)], tail);
  assert.is(readPhys(m.cpu, 0xfffffff8, 16).length, 8);         // the slot ends at 4 GiB
  assert.is(readPhys(m.cpu, 0xe0000000, 4).length, 0);          // MMIO hole
  const loc = codeLocation(m.cpu);                              // reset: F000:FFF0, real mode
  assert.equal([loc.lin, loc.bitness, loc.cs, loc.rip], [0xfffffff0n, 16, 0xf000, 0xfff0n]);
  assert.is(readLinear(m.cpu, loc.lin, 1)[0], 0xea);            // jmp far
});

test("codeLocation: flat image in real mode, ELF in 64-bit mode", () => {
  const m = machine();
  m.load("flat", Uint8Array.of(0xf4));
  assert.equal(codeLocation(m.cpu), { lin: 0x7c00n, bitness: 16, cs: 0, rip: 0x7c00n });
  const e = machine();
  e.load("elf", new Uint8Array(readFileSync(join(root, "guest-images/bin/hello64.elf"))));
  const loc = codeLocation(e.cpu);
  assert.is(loc.bitness, 64);
  assert.is(loc.lin, 0x100000n);
  assert.is(linearToPhys(e.cpu, 0x100000n), 0x100000n);         // the loader's identity map
});

test.run();
