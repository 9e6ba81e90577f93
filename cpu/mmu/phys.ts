// Guest-physical memory: slots like KVM_SET_USER_MEMORY_REGION (slot, gpa,
// size, host address inside this wasm memory, read-only flag). Anything that
// is not in a slot is MMIO: the access ends the run with an MMIO exit.
import { SLOTS } from "../layout";

export const NSLOTS: u32 = 32;
// slot record: gpa u64 @0, size u64 @8, host u64 @16, flags u32 @24 (1 = read-only), used u32 @28
export const SLOT_READONLY: u32 = 1;

export let a20_mask: u64 = <u64>-1;    // port 0x92 bit 1 clear → address bit 20 forced to 0
export let phys_host: usize = 0;       // result of phys_lookup: host address
export let phys_ro: bool = false;      // result of phys_lookup: slot is read-only
let last_slot: u32 = 0;

export function set_slot(slot: u32, gpa: u64, size: u64, host: u64, flags: u32): void {
  if (slot >= NSLOTS) return;
  const p = SLOTS + slot * 32;
  store<u64>(p, gpa);
  store<u64>(p, size, 8);
  store<u64>(p, host, 16);
  store<u32>(p, flags, 24);
  store<u32>(p, size != 0 ? 1 : 0, 28);
}

export function set_a20(on: bool): void { a20_mask = on ? <u64>-1 : ~(<u64>1 << 20); }

// Find the slot holding guest-physical `pa`; sets phys_host/phys_ro.
export function phys_lookup(pa: u64): bool {
  pa &= a20_mask;
  let p = SLOTS + last_slot * 32;
  if (load<u32>(p, 28) != 0) {
    const g = load<u64>(p);
    if (pa - g < load<u64>(p, 8)) {
      phys_host = <usize>(load<u64>(p, 16) + (pa - g));
      phys_ro = (load<u32>(p, 24) & SLOT_READONLY) != 0;
      return true;
    }
  }
  for (let i: u32 = 0; i < NSLOTS; i++) {
    p = SLOTS + i * 32;
    if (load<u32>(p, 28) == 0) continue;
    const g = load<u64>(p);
    if (pa - g < load<u64>(p, 8)) {
      last_slot = i;
      phys_host = <usize>(load<u64>(p, 16) + (pa - g));
      phys_ro = (load<u32>(p, 24) & SLOT_READONLY) != 0;
      return true;
    }
  }
  return false;
}

// Physical reads used by the page walker and descriptor loads from real mode.
// Reads outside RAM return all-ones like an open bus; the walker treats that
// as a reserved-bit pattern only through the usual checks.
export function phys_read64(pa: u64): u64 {
  if (phys_lookup(pa)) return load<u64>(phys_host);
  return <u64>-1;
}
export function phys_read32(pa: u64): u32 {
  if (phys_lookup(pa)) return load<u32>(phys_host);
  return <u32>-1;
}
export function phys_write64(pa: u64, v: u64): void {
  if (phys_lookup(pa) && !phys_ro) store<u64>(phys_host, v);
}
export function phys_write32(pa: u64, v: u32): void {
  if (phys_lookup(pa) && !phys_ro) store<u32>(phys_host, v);
}
