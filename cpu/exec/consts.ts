// Constant selectors used in the opcode table's exec templates.
//
// Hot handlers take their selectors as type parameters (operand size as the
// integer type u8..u64, the operation and the r/m form as marker classes) so
// the AssemblyScript frontend folds every `is<K, ADD>()` test: each dispatch
// case compiles to just its own operation. Cold handlers take plain values.

// marker classes
export class Reg {}
export class Mem {}
export class OpADD {}
export class OpOR {}
export class OpADC {}
export class OpSBB {}
export class OpAND {}
export class OpSUB {}
export class OpXOR {}
export class OpCMP {}
export class OpTEST {}

// compile-time type identity
@inline export function is<A, B>(): bool { return idof<A>() == idof<B>(); }
// operand size in bits of an integer type
@inline export function bits<T>(): u32 { return <u32>sizeof<T>() * 8; }

// ALU kinds in opcode order (00..3D step 8), plus TEST
export const ADD: u32 = 0;
export const OR: u32 = 1;
export const ADC: u32 = 2;
export const SBB: u32 = 3;
export const AND: u32 = 4;
export const SUB: u32 = 5;
export const XOR: u32 = 6;
export const CMP: u32 = 7;
export const TEST: u32 = 8;

// shift/rotate kinds in group-2 order
export const ROL: u32 = 0;
export const ROR: u32 = 1;
export const RCL: u32 = 2;
export const RCR: u32 = 3;
export const SHL: u32 = 4;
export const SHR: u32 = 5;
export const SAL: u32 = 6;
export const SAR: u32 = 7;

// shift-count sources
export const CNT_1: u32 = 0;
export const CNT_CL: u32 = 1;
export const CNT_IB: u32 = 2;

// bit-test kinds
export const BT: u32 = 0;
export const BTS: u32 = 1;
export const BTR: u32 = 2;
export const BTC: u32 = 3;

// string ops
export const MOVS: u32 = 0;
export const CMPS: u32 = 1;
export const STOS: u32 = 2;
export const LODS: u32 = 3;
export const SCAS: u32 = 4;
export const INS: u32 = 5;
export const OUTS: u32 = 6;

// segment registers (layout order)
export const ES: u32 = 0;
export const CS: u32 = 1;
export const SS: u32 = 2;
export const DS: u32 = 3;
export const FS: u32 = 4;
export const GS: u32 = 5;

// port operand sources
export const PORT_IB: u32 = 0;
export const PORT_DX: u32 = 1;

// shift/rotate marker classes (hot group-2 handlers) and count sources
export class OpSHL {}
export class OpSHR {}
export class OpSAR {}
export class OpCNTONE {}
export class OpCNTCL {}
export class OpCNTIB {}
