// Bit test and scan: BT/BTS/BTR/BTC (0F A3/AB/B3/BB, 0F BA /4-/7), BSF/BSR
// (0F BC/BD), TZCNT/LZCNT (F3 0F BC/BD), POPCNT (F3 0F B8).
// SDM Vol. 2A "BT", "BTS", "BTR", "BTC", "BSF", "BSR", "LZCNT", "POPCNT";
// Vol. 2B "TZCNT".
//
// Undefined flags (measured on this AMD EPYC Zen 4, test/cpu/bit.test.ts):
//   BT*      only CF changes (OF SF AF PF keep their values). Intel: the
//            same is assumed (not measurable here).
//   BSF/BSR  CF = OF = SF = AF = 0, ZF = (src == 0), PF = parity of the
//            bit index (of 0 when src == 0). With src == 0 the destination
//            is not written at all (a 32-bit destination keeps its upper
//            half). The sandpile.org "undefined integer FLAGS behavior"
//            table gives the same for the Intel P4 core with src == 0
//            (OF SF AF CF = 0, PF = 1). Intel flavour for src != 0 here:
//            QEMU's model, flags as for a logic operation on the source
//            (SF/PF from the source); not measurable on this host.
//   TZCNT/LZCNT  CF and ZF defined; PF AF SF cleared, OF unchanged (AMD;
//            used for both flavours).
// Without CPUID BMI1 (TZCNT) / LZCNT the F3 forms execute as BSF/BSR, as on
// older parts; POPCNT is #UD without CPUID POPCNT.
import { read_E, read_G, write_E, write_G, ea, mode64, seg_lin, mask, sext } from "./operand";
import { rdreg, wrreg, seg_base, CF, OF, AF, ZF, SF, PF } from "../state";
import { STATE, S_VENDOR, S_FEAT, FEAT_BMI1, FEAT_LZCNT, FEAT_POPCNT } from "../layout";
import { set_arith } from "../flags";
import { R_RM, R_IMM, R_SEG, R_ASZ } from "../decode/decoder";
import { fault_pending, ST_OK, ST_FAULT, raise_ud } from "../except/fault";
import { ld, ld_rmw, st } from "../mmu/access";

@inline function amd(): bool { return load<u32>(STATE + S_VENDOR) == 1; }
@inline function parity(v: u64): u64 { return (popcnt<u32>(<u32>v & 0xFF) & 1) == 0 ? PF : 0; }

// Linear address of the memory operand displaced by `disp` bytes (the bit
// string addressing of BT Ev,Gv); wraps at the address size like any EA.
function ea_lin_disp(r: usize, disp: i64, n: u32, write: bool): u64 {
  let a = ea(r) + <u64>disp;
  const asz = load<u8>(r, R_ASZ);
  if (asz == 1) a &= 0xFFFFFFFF; else if (asz == 0) a &= 0xFFFF;
  const s = <u32>load<u8>(r, R_SEG);
  if (mode64()) return s >= 4 ? a + seg_base(s) : a;
  return seg_lin(s, a, n, write);
}

// kind: 0 BT, 1 BTS, 2 BTR, 3 BTC
@inline function bt_apply(v: u64, bit: u64, kind: u32): u64 {
  const m: u64 = <u64>1 << bit;
  return kind == 1 ? v | m : kind == 2 ? v & ~m : v ^ m;
}

function bt_common(r: usize, kind: u32, S: u32, M: bool, off: u64, disp: i64): i32 {
  let v: u64;
  const n = S >> 3;
  const seg = <u32>load<u8>(r, R_SEG);
  let lin: u64 = 0;
  if (!M) v = rdreg(load<u8>(r, R_RM), S);
  else {
    lin = ea_lin_disp(r, disp, n, kind != 0);
    if (fault_pending) return ST_FAULT;
    v = kind == 0 ? ld(lin, n, seg) : ld_rmw(lin, n, seg);
    if (fault_pending) return ST_FAULT;
  }
  if (kind != 0) {
    const nv = bt_apply(v, off, kind);
    if (M) { if (!st(lin, n, nv, seg)) return ST_FAULT; }
    else wrreg(load<u8>(r, R_RM), S, nv);
  }
  set_arith((v >> off) & 1, CF);
  return ST_OK;
}

// 0F A3/AB/B3/BB /r BT/BTS/BTR/BTC Ev,Gv. Register form: offset mod size.
// Memory form: the signed offset in Gv selects the operand-sized unit at
// EA + (offset >> log2(size)) * size/8 (SDM "BT": bit base and offset).
export function bt_EG(r: usize, kind: u32, S: u32, M: bool): i32 {
  const g = read_G(r, S);
  const off = g & <u64>(S - 1);
  let disp: i64 = 0;
  if (M) {
    const sg = <i64>sext(g, S);
    const sh: i64 = S == 64 ? 6 : S == 32 ? 5 : 4;
    disp = (sg >> sh) * <i64>(S >> 3);
  }
  return bt_common(r, kind, S, M, off, disp);
}

// 0F BA /4-/7 ib BT/BTS/BTR/BTC Ev,Ib: offset = imm8 mod size.
export function bt_EI(r: usize, kind: u32, S: u32, M: bool): i32 {
  return bt_common(r, kind, S, M, load<u64>(r, R_IMM) & <u64>(S - 1), 0);
}

// 0F BC /r BSF, 0F BD /r BSR
export function bsf(r: usize, rev: bool, S: u32, M: bool): i32 {
  const v = read_E(r, S, M);
  if (fault_pending) return ST_FAULT;
  if (v == 0) {
    set_arith(amd() ? ZF | PF : ZF | PF, CF | PF | AF | ZF | SF | OF);
    return ST_OK;
  }
  const idx: u64 = rev ? <u64>(63 - clz<u64>(v)) : ctz<u64>(v);
  write_G(r, S, idx);
  if (amd()) set_arith(parity(idx), CF | PF | AF | ZF | SF | OF);
  else set_arith(parity(v) | (((v >> <u64>(S - 1)) & 1) != 0 ? SF : 0), CF | PF | AF | ZF | SF | OF);
  return ST_OK;
}

// F3 0F BC /r TZCNT, F3 0F BD /r LZCNT (BSF/BSR without the feature)
export function tzcnt(r: usize, lz: bool, S: u32, M: bool): i32 {
  const feat = load<u32>(STATE + S_FEAT) & (lz ? FEAT_LZCNT : FEAT_BMI1);
  if (!feat) return bsf(r, lz, S, M);
  const v = read_E(r, S, M);
  if (fault_pending) return ST_FAULT;
  let res: u64;
  if (v == 0) res = <u64>S;
  else res = lz ? clz<u64>(v) - <u64>(64 - S) : ctz<u64>(v);
  write_G(r, S, res);
  set_arith((v == 0 ? CF : 0) | (res == 0 ? ZF : 0), CF | PF | AF | ZF | SF);
  return ST_OK;
}

// F3 0F B8 /r POPCNT: ZF = (src == 0), the other flags cleared
export function popcnt_op(r: usize, S: u32, M: bool): i32 {
  if (!(load<u32>(STATE + S_FEAT) & FEAT_POPCNT)) return raise_ud();
  const v = read_E(r, S, M);
  if (fault_pending) return ST_FAULT;
  write_G(r, S, popcnt<u64>(v));
  set_arith(v == 0 ? ZF : 0, CF | PF | AF | ZF | SF | OF);
  return ST_OK;
}
