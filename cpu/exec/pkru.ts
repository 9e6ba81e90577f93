// Protection keys: RDPKRU / WRPKRU (isa.md §9.1). The key check itself is in
// mmu/paging.ts; a PKRU change drops cached translations, whose permissions
// were computed with the old keys.
import { STATE, S_CR4, S_PKRU } from "../layout";
import { rd32, wr32, RAX, RCX, RDX, CR4_PKE } from "../state";
import { R_PFX, P_LOCK } from "../decode/decoder";
import { ST_OK, ST_END, raise_gp, raise_ud } from "../except/fault";
import { tlb_flush } from "../mmu/access";
import { touch } from "./xsave";

// NP 0F 01 EE RDPKRU: #GP unless ECX = 0; EDX := 0
export function rdpkru(r: usize): i32 {
  if (!(load<u64>(STATE + S_CR4) & CR4_PKE) || (load<u8>(r, R_PFX) & P_LOCK)) return raise_ud();
  if (rd32(RCX) != 0) return raise_gp(0);
  wr32(RAX, load<u32>(STATE + S_PKRU));
  wr32(RDX, 0);
  return ST_OK;
}
// NP 0F 01 EF WRPKRU: #GP unless ECX = EDX = 0; marks XINUSE[9] whatever the value (measured)
export function wrpkru(r: usize): i32 {
  if (!(load<u64>(STATE + S_CR4) & CR4_PKE) || (load<u8>(r, R_PFX) & P_LOCK)) return raise_ud();
  if (rd32(RCX) != 0 || rd32(RDX) != 0) return raise_gp(0);
  store<u32>(STATE + S_PKRU, rd32(RAX));
  touch(0x200);
  tlb_flush();
  return ST_END;
}
