// Decode one instruction into a 32-byte record. The opcode table (generated
// into tables.gen.ts) is a tree: a (map, opcode) entry is either a leaf or a
// node selecting on the mandatory prefix, REX.W/VEX.W, VEX.L, 64-bit mode,
// ModRM.reg, ModRM.mod or ModRM.rm. A leaf gives the handler's base id and
// the operand attributes; the variant id adds the operand-size index and the
// register/memory form, so handlers are specialised by size and form.
//
// Record layout (offsets):
//   0 u16 handler id        2 u16 start offset in block   4 u8 length
//   5 u8 reg operand (GPR byte offset; raw number for segment/control regs in 26..27)
//   6 u8 rm / base (GPR byte offset; NONE, RIPREL)          7 u8 index (GPR byte offset; NONE)
//   8 u8 scale shift        9 u8 segment                    10 u8 address size (16/32/64 → 0/1/2)
//   11 u8 prefix bits (P_*) 12 i32 displacement             16 u64 immediate
//   24 u16 second immediate 26 u8 opcode byte               27 u8 ModRM byte
//   28 u32 VEX/EVEX fields (V_*)
import { PRIMARY, NODES, LEAF } from "./tables.gen";
import { MODE_64, MODE_D, MODE_AMD, SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS } from "../layout";

export const R_ID: u32 = 0;
export const R_START: u32 = 2;
export const R_LEN: u32 = 4;
export const R_REG: u32 = 5;
export const R_RM: u32 = 6;
export const R_INDEX: u32 = 7;
export const R_SCALE: u32 = 8;
export const R_SEG: u32 = 9;
export const R_ASZ: u32 = 10;
export const R_PFX: u32 = 11;
export const R_DISP: u32 = 12;
export const R_IMM: u32 = 16;
export const R_IMM2: u32 = 24;
export const R_OPC: u32 = 26;
export const R_MODRM: u32 = 27;
export const R_VEX: u32 = 28;

export const NONE: u8 = 0xFF;
export const RIPREL: u8 = 0xFE;

export const P_REP: u8 = 1;      // F3
export const P_REPNE: u8 = 2;    // F2
export const P_LOCK: u8 = 4;
export const P_OSZ: u8 = 8;      // 66
export const P_SEGOVR: u8 = 16;
export const P_REX: u8 = 32;
export const P_REXW: u8 = 64;
export const P_ASZ: u8 = 128;    // 67

// leaf attributes (cpu/gen/gen.ts)
const OSZ_B: u32 = 1, OSZ_V: u32 = 2, OSZ_D64: u32 = 3, OSZ_F64: u32 = 4;
const IMM_B: u32 = 1, IMM_W: u32 = 2, IMM_Z: u32 = 3, IMM_V: u32 = 4, IMM_JB: u32 = 5, IMM_JZ: u32 = 6,
  IMM_MOFFS: u32 = 7, IMM_AP: u32 = 8, IMM_WB: u32 = 9, IMM_D: u32 = 10;
export const A_MODRM: u32 = 1 << 7;
export const A_SPLIT: u32 = 1 << 8;
export const A_LOCK: u32 = 1 << 9;
export const A_I64: u32 = 1 << 10;
export const A_O64: u32 = 1 << 11;
export const A_END: u32 = 1 << 12;
export const A_REG_BYTE: u32 = 1 << 13;
export const A_RM_BYTE: u32 = 1 << 14;
export const A_OPREG: u32 = 1 << 15;
export const A_REP: u32 = 1 << 16;
export const A_MEMONLY: u32 = 1 << 17;
export const A_NOVVVV: u32 = 1 << 20;
export const A_KREGS: u32 = 1 << 21;
export const A_MODREG: u32 = 1 << 19;   // mod ignored: always the register form (MOV CR/DR)

// decode results
export const D_MORE: i32 = -1;   // needs more bytes than available
export const D_UD: i32 = -2;
export const D_GP: i32 = -3;     // longer than 15 bytes

// Attributes of the last decoded instruction (for the block builder).
export let last_attr: u32 = 0;
export let last_rel: bool = false;   // imm holds a relative branch displacement

// Register operand encoding → GPR byte offset. Without REX, byte registers
// 4..7 are AH, CH, DH, BH: the second byte of rax, rcx, rdx, rbx.
@inline function reg_off(n: u32, byte: bool, rex: u32): u8 {
  if (byte && rex == 0 && n >= 4 && n < 8) return <u8>((n - 4) * 8 + 1);
  return <u8>(n * 8);
}

// 16-bit addressing: rm → (base, index)
const RM16_BASE: usize = memory.data<u8>([24, 24, 40, 40, 48, 56, 40, 24]);   // bx bx bp bp si di bp bx
const RM16_INDEX: usize = memory.data<u8>([48, 56, 48, 56, 0xFF, 0xFF, 0xFF, 0xFF]);

export function decode(p: usize, avail: u32, m: u32, r: usize): i32 {
  const is64 = (m & MODE_64) != 0;
  const d32 = (m & MODE_D) != 0;
  let i: u32 = 0;
  let pfx: u32 = 0;
  let seg: i32 = -1;
  let rex: u32 = 0;
  let b: u32 = 0;
  // ---- prefixes ----
  while (true) {
    if (i >= avail) return D_MORE;
    if (i >= 15) return D_GP;
    b = load<u8>(p + i);
    if (b == 0x66) pfx |= P_OSZ;
    else if (b == 0x67) pfx |= P_ASZ;
    else if (b == 0xF0) pfx |= P_LOCK;
    else if (b == 0xF3) pfx = (pfx & ~P_REPNE) | P_REP;
    else if (b == 0xF2) pfx = (pfx & ~P_REP) | P_REPNE;
    else if (b == 0x26) { if (!is64) seg = SEG_ES; }
    else if (b == 0x2E) { if (!is64) seg = SEG_CS; }
    else if (b == 0x36) { if (!is64) seg = SEG_SS; }
    else if (b == 0x3E) { if (!is64) seg = SEG_DS; }
    else if (b == 0x64) seg = SEG_FS;
    else if (b == 0x65) seg = SEG_GS;
    else if (is64 && (b & 0xF0) == 0x40) {
      rex = b;
      // REX counts only immediately before the opcode
      if (i + 1 >= avail) return D_MORE;
      const nb = load<u8>(p + i + 1);
      if (nb == 0x66 || nb == 0x67 || nb == 0xF0 || nb == 0xF2 || nb == 0xF3 || nb == 0x26 ||
          nb == 0x2E || nb == 0x36 || nb == 0x3E || nb == 0x64 || nb == 0x65 || (nb & 0xF0) == 0x40) rex = 0;
    }
    else break;
    i++;
  }
  if (rex) pfx |= P_REX;
  if (rex & 8) pfx |= P_REXW;
  if (seg >= 0) pfx |= P_SEGOVR;
  // ---- opcode (legacy maps, or VEX C4/C5 and EVEX 62) ----
  let map: u32 = 0;
  let vex: u32 = 0;
  let rext: u32 = 0;   // EVEX R' (reg bit 4) | X as rm bit 4 (register form) << 1
  if ((b == 0xC4 || b == 0xC5 || b == 0x62)) {
    // outside 64-bit mode these are LES/LDS/BOUND unless the next byte has mod=11
    if (i + 1 >= avail) return D_MORE;
    const b1 = <u32>load<u8>(p + i + 1);
    if (is64 || (b1 >> 6) == 3) {
      // 66/F2/F3/REX/LOCK before VEX or EVEX is #UD
      if ((pfx & (P_OSZ | P_REP | P_REPNE | P_LOCK)) || rex) return D_UD;
      let R: u32, X: u32, B: u32, W: u32 = 0, vvvv: u32, L: u32, pp: u32, mm: u32;
      if (b == 0xC5) {
        R = (~b1 >> 7) & 1; X = 0; B = 0; vvvv = (~b1 >> 3) & 15; L = (b1 >> 2) & 1; pp = b1 & 3; mm = 1;
        i += 2;
        vex = 1 << 16;
      } else if (b == 0xC4) {
        if (i + 2 >= avail) return D_MORE;
        const b2 = <u32>load<u8>(p + i + 2);
        R = (~b1 >> 7) & 1; X = (~b1 >> 6) & 1; B = (~b1 >> 5) & 1; mm = b1 & 31;
        W = b2 >> 7; vvvv = (~b2 >> 3) & 15; L = (b2 >> 2) & 1; pp = b2 & 3;
        if (mm < 1 || mm > 3) return D_UD;
        i += 3;
        vex = 1 << 16;
      } else {
        if (i + 3 >= avail) return D_MORE;
        const b2 = <u32>load<u8>(p + i + 2), b3 = <u32>load<u8>(p + i + 3);
        R = (~b1 >> 7) & 1; X = (~b1 >> 6) & 1; B = (~b1 >> 5) & 1; mm = b1 & 7;
        const Rp = (~b1 >> 4) & 1;
        if ((b1 & 8) || !(b2 & 4) || mm < 1 || mm > 3) return D_UD;
        W = b2 >> 7; vvvv = ((~b2 >> 3) & 15) | (((~b3 >> 3) & 1) << 4); pp = b2 & 3;
        L = (b3 >> 5) & 3;
        vex = (2 << 16) | ((b3 & 7) << 10) | ((b3 >> 7) << 13) | (((b3 >> 4) & 1) << 14);
        rext = Rp | (X << 1);
        i += 4;
      }
      // outside 64-bit mode VEX/EVEX.B and vvvv[3] are ignored (eight registers;
      // measured on Zen 4, test/cpu/bmi.test.ts compatibility-mode cases; iced agrees)
      if (!is64) { B = 0; vvvv &= ~8; }
      vex |= vvvv | (L << 5) | (W << 7) | (pp << 8);
      rex = 0x40 | (W << 3) | (R << 2) | (X << 1) | B;
      pfx = (pfx & ~(P_OSZ | P_REP | P_REPNE)) | (pp == 1 ? P_OSZ : pp == 2 ? P_REP : pp == 3 ? P_REPNE : 0);
      map = (vex >> 16) * 3 + mm;
      if (i >= avail) return D_MORE;
      b = load<u8>(p + i);
    }
  }
  if (vex == 0 && b == 0x0F) {
    i++;
    if (i >= avail) return D_MORE;
    b = load<u8>(p + i);
    map = 1;
    if (b == 0x38 || b == 0x3A) {
      map = b == 0x38 ? 2 : 3;
      i++;
      if (i >= avail) return D_MORE;
      b = load<u8>(p + i);
    }
  }
  const opc = b;
  i++;
  // ---- walk the decode tree ----
  let e = load<u32>(PRIMARY + (map * 256 + opc) * 4);
  let modrm: u32 = 0;
  let have_modrm = false;
  while ((e & 3) == 2) {
    const sel = (e >> 2) & 7;
    let v: u32 = 0;
    if (sel == 1) v = (pfx & P_REP) ? 2 : (pfx & P_REPNE) ? 3 : (pfx & P_OSZ) ? 1 : 0;
    else if (sel == 2) v = (rex >> 3) & 1;
    else if (sel == 3) v = (vex >> 5) & 1;
    else if (sel == 4) v = is64 ? 1 : 0;
    else {
      if (!have_modrm) {
        if (i >= avail) return D_MORE;
        modrm = load<u8>(p + i);
        i++;
        have_modrm = true;
      }
      if (sel == 5) v = (modrm >> 3) & 7;
      else if (sel == 6) v = (modrm >> 6) == 3 ? 1 : 0;
      else v = modrm & 7;
    }
    e = load<u32>(NODES + ((e >> 5) + v) * 4);
  }
  if ((e & 3) == 0) return D_UD;
  const li = e >> 2;
  const attr = load<u32>(LEAF + li * 8);
  const base = load<u32>(LEAF + li * 8 + 4);
  last_attr = attr;
  if ((attr & A_I64) && is64) return D_UD;
  if ((attr & A_NOVVVV) && (vex & 31) != 0) return D_UD;
  if ((attr & A_O64) && !is64) return D_UD;
  // ---- sizes ----
  const osz_class = attr & 7;
  let size: u32 = 0;
  const o16 = (pfx & P_OSZ) != 0;
  if (osz_class == OSZ_B) size = 8;
  else if (osz_class >= OSZ_V) {
    if (is64) {
      if (rex & 8) size = 64;
      // near branches: Intel ignores 66, AMD makes them 16-bit (IP truncated,
      // rel16, 2-byte return addresses); measured on Zen 4
      else if (osz_class == OSZ_F64) size = (o16 && (m & MODE_AMD)) ? 16 : 64;
      else if (osz_class == OSZ_D64) size = o16 ? 16 : 64;
      else size = o16 ? 16 : 32;
    } else size = (d32 != o16) ? 32 : 16;
  }
  let asz: u32;
  if (is64) asz = (pfx & P_ASZ) ? 1 : 2;
  else asz = (d32 != ((pfx & P_ASZ) != 0)) ? 1 : 0;

  // clear the record
  store<u64>(r, 0, 0); store<u64>(r, 0, 8); store<u64>(r, 0, 16); store<u64>(r, 0, 24);
  store<u8>(r, NONE, R_RM);
  store<u8>(r, NONE, R_INDEX);
  let is_mem = false;
  let dflt_seg: u32 = SEG_DS;
  if (attr & A_MODRM) {
    if (!have_modrm) {
      if (i >= avail) return D_MORE;
      modrm = load<u8>(p + i);
      i++;
    }
    const mod = (attr & A_MODREG) ? 3 : modrm >> 6;
    const regn = ((modrm >> 3) & 7) | ((rex & 4) << 1) | ((rext & 1) << 4);
    store<u8>(r, reg_off(regn, (attr & A_REG_BYTE) != 0, rex), R_REG);
    // opmask rows: k operands are 0..7 (0F 93 has a GPR in reg, 0F 92 a GPR in r/m)
    if ((attr & A_KREGS) && (((regn & 8) && opc != 0x93) || (vex & 31) >= 8 || (mod == 3 && (rex & 1) && opc != 0x92))) return D_UD;
    if (mod == 3) {
      const rmn = (modrm & 7) | ((rex & 1) << 3) | ((rext & 2) << 3);
      store<u8>(r, reg_off(rmn, (attr & A_RM_BYTE) != 0, rex), R_RM);
      if (attr & A_MEMONLY) return D_UD;
    } else {
      is_mem = true;
      const rm = modrm & 7;
      let disp: i32 = 0;
      if (asz == 0) {
        if (mod == 0 && rm == 6) {
          if (i + 2 > avail) return D_MORE;
          disp = <i32>load<u16>(p + i); i += 2;
        } else {
          store<u8>(r, load<u8>(RM16_BASE + rm), R_RM);
          store<u8>(r, load<u8>(RM16_INDEX + rm), R_INDEX);
          if (rm == 2 || rm == 3 || rm == 6) dflt_seg = SEG_SS;
        }
        if (mod == 1) { if (i >= avail) return D_MORE; disp = <i32><i8>load<u8>(p + i); i++; }
        else if (mod == 2) { if (i + 2 > avail) return D_MORE; disp = <i32><i16>load<u16>(p + i); i += 2; }
      } else {
        let basen: u32 = rm;
        if (rm == 4) {
          if (i >= avail) return D_MORE;
          const sib = <u32>load<u8>(p + i); i++;
          const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
          if (idx != 4) { store<u8>(r, <u8>(idx * 8), R_INDEX); store<u8>(r, <u8>(sib >> 6), R_SCALE); }
          basen = sib & 7;
          if (basen == 5 && mod == 0) {
            if (i + 4 > avail) return D_MORE;
            disp = load<i32>(p + i); i += 4;
            basen = 0xFF;
          }
        } else if (rm == 5 && mod == 0) {
          if (i + 4 > avail) return D_MORE;
          disp = load<i32>(p + i); i += 4;
          basen = 0xFF;
          if (is64) store<u8>(r, RIPREL, R_RM);
        }
        if (basen != 0xFF) {
          if (basen == 4 || basen == 5) dflt_seg = SEG_SS;
          store<u8>(r, <u8>((basen | ((rex & 1) << 3)) * 8), R_RM);
        }
        if (mod == 1) { if (i >= avail) return D_MORE; disp = <i32><i8>load<u8>(p + i); i++; }
        else if (mod == 2) { if (i + 4 > avail) return D_MORE; disp = load<i32>(p + i); i += 4; }
      }
      // EVEX disp8*N: a one-byte displacement counts in units of the memory
      // operand — the element with embedded broadcast, else the whole vector
      // (every EVEX row we decode is of the Full / Full Mem tuple types)
      if (mod == 1 && (vex >> 16) == 2) disp <<= (vex & V_B) ? ((vex & V_W) ? 3 : 2) : 4 + ((vex >> V_L_SHIFT) & 3);
      store<i32>(r, disp, R_DISP);
    }
  } else if (attr & A_OPREG) {
    store<u8>(r, reg_off((opc & 7) | ((rex & 1) << 3), (attr & A_REG_BYTE) != 0, rex), R_REG);
  }
  if ((pfx & P_LOCK) && (!(attr & A_LOCK) || !is_mem)) return D_UD;

  // ---- immediates ----
  const imm = (attr >> 3) & 15;
  last_rel = false;
  if (imm != 0) {
    let v: u64 = 0;
    if (imm == IMM_B) { if (i >= avail) return D_MORE; v = <u64><i64><i8>load<u8>(p + i); i += 1; }
    else if (imm == IMM_W) { if (i + 2 > avail) return D_MORE; v = <u64>load<u16>(p + i); i += 2; }
    else if (imm == IMM_D) { if (i + 4 > avail) return D_MORE; v = <u64><i64>load<i32>(p + i); i += 4; }
    else if (imm == IMM_Z || imm == IMM_JZ) {
      // (Jz in 64-bit mode is 16-bit only on AMD, see above)
      if (size == 16) { if (i + 2 > avail) return D_MORE; v = <u64><i64><i16>load<u16>(p + i); i += 2; }
      else { if (i + 4 > avail) return D_MORE; v = <u64><i64>load<i32>(p + i); i += 4; }
      if (imm == IMM_JZ) last_rel = true;
    }
    else if (imm == IMM_V) {
      const n = size >> 3;
      if (i + n > avail) return D_MORE;
      v = n == 8 ? load<u64>(p + i) : n == 4 ? <u64>load<u32>(p + i) : <u64>load<u16>(p + i);
      i += n;
    }
    else if (imm == IMM_JB) { if (i >= avail) return D_MORE; v = <u64><i64><i8>load<u8>(p + i); i += 1; last_rel = true; }
    else if (imm == IMM_MOFFS) {
      const n: u32 = asz == 2 ? 8 : asz == 1 ? 4 : 2;
      if (i + n > avail) return D_MORE;
      v = n == 8 ? load<u64>(p + i) : n == 4 ? <u64>load<u32>(p + i) : <u64>load<u16>(p + i);
      i += n;
      is_mem = true;
    }
    else if (imm == IMM_AP) {
      const n: u32 = size == 16 ? 2 : 4;
      if (i + n + 2 > avail) return D_MORE;
      v = n == 4 ? <u64>load<u32>(p + i) : <u64>load<u16>(p + i);
      store<u16>(r, load<u16>(p + i + n), R_IMM2);
      i += n + 2;
    }
    else if (imm == IMM_WB) {
      if (i + 3 > avail) return D_MORE;
      v = <u64>load<u16>(p + i);
      store<u16>(r, <u16>load<u8>(p + i + 2), R_IMM2);
      i += 3;
    }
    store<u64>(r, v, R_IMM);
  }
  if (i > 15) return D_GP;

  // ---- variant id ----
  let szidx: u32 = 0;
  if (osz_class >= OSZ_V) szidx = size == 16 ? 0 : size == 32 ? 1 : 2;
  let id = base;
  if (attr & A_SPLIT) id += szidx * 2 + (is_mem ? 1 : 0);
  else id += szidx;
  store<u16>(r, <u16>id, R_ID);
  store<u8>(r, <u8>i, R_LEN);
  store<u8>(r, <u8>(seg >= 0 ? seg : dflt_seg), R_SEG);
  store<u8>(r, <u8>asz, R_ASZ);
  store<u8>(r, <u8>pfx, R_PFX);
  store<u8>(r, <u8>opc, R_OPC);
  store<u8>(r, <u8>modrm, R_MODRM);
  store<u32>(r, vex, R_VEX);
  return <i32>i;
}

// VEX/EVEX fields in R_VEX
export const V_VVVV: u32 = 31;           // bits 4:0, already inverted (register number)
export const V_L_SHIFT: u32 = 5;         // 2 bits: 0 = 128, 1 = 256, 2 = 512
export const V_W: u32 = 1 << 7;
export const V_PP_SHIFT: u32 = 8;
export const V_AAA_SHIFT: u32 = 10;      // EVEX opmask register
export const V_Z: u32 = 1 << 13;         // EVEX zeroing-masking
export const V_B: u32 = 1 << 14;         // EVEX broadcast / rounding
export const V_KIND_SHIFT: u32 = 16;     // 0 legacy, 1 VEX, 2 EVEX

// the raw ModRM.reg number (segment and control register operands)
@inline export function modrm_reg(r: usize): u32 { return (<u32>load<u8>(r, R_MODRM) >> 3) & 7; }
