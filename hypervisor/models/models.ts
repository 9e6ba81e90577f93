// CPU models as data. A model is one row: vendor, signature, feature names
// and the XSAVE layout (CPUID leaf 0xD). The builder below turns a row into
// a full CPUID table; adding a model is adding a row.
//
// Leaf 0xD values: sapphire-rapids from the measured SPR host
// (shared/reference/isa.md §2.3); epyc-genoa from this development machine
// (AMD EPYC, read natively by test/cpu/models.test.ts); the Intel client and
// server generations use the SDM's standard offsets.
import type { CpuidEntry } from "./cpuid";

export interface XComp { i: number; size: number; offset: number; ecx: number }
export interface Model {
  name: string;
  vendor: "intel" | "amd";
  signature: number;           // CPUID.1:EAX
  brand: string;
  features: string[];          // names from FEATURE_BITS
  xcomps: XComp[];             // leaf 0xD sub-leaves ≥ 2
  xcr0: bigint;                // CPUID.(0DH,0):EDX:EAX
  xss: bigint;                 // CPUID.(0DH,1):EDX:ECX
  xsaveFeatures: string[];     // leaf 0xD.1 EAX: xsaveopt xsavec xgetbv1 xsaves xfd
  physBits: number;
  virtBits: number;
  amx?: boolean;
  maxLeaf: number;
  mxcsrMask?: number;          // FXSAVE's MXCSR_MASK (default 0xFFFF; AMD adds MM, bit 17)
}

// feature name → [leaf, subleaf, register, bit]
type Reg = "eax" | "ebx" | "ecx" | "edx";
export const FEATURE_BITS: Record<string, [number, number, Reg, number]> = {
  fpu: [1, 0, "edx", 0], vme: [1, 0, "edx", 1], de: [1, 0, "edx", 2], pse: [1, 0, "edx", 3], tsc: [1, 0, "edx", 4],
  msr: [1, 0, "edx", 5], pae: [1, 0, "edx", 6], mce: [1, 0, "edx", 7], cx8: [1, 0, "edx", 8], apic: [1, 0, "edx", 9],
  sep: [1, 0, "edx", 11], mtrr: [1, 0, "edx", 12], pge: [1, 0, "edx", 13], mca: [1, 0, "edx", 14], cmov: [1, 0, "edx", 15],
  pat: [1, 0, "edx", 16], pse36: [1, 0, "edx", 17], clflush: [1, 0, "edx", 19], mmx: [1, 0, "edx", 23], fxsr: [1, 0, "edx", 24],
  sse: [1, 0, "edx", 25], sse2: [1, 0, "edx", 26], ss: [1, 0, "edx", 27],
  sse3: [1, 0, "ecx", 0], pclmulqdq: [1, 0, "ecx", 1], ssse3: [1, 0, "ecx", 9], fma: [1, 0, "ecx", 12], cx16: [1, 0, "ecx", 13],
  pcid: [1, 0, "ecx", 17], sse4_1: [1, 0, "ecx", 19], sse4_2: [1, 0, "ecx", 20], x2apic: [1, 0, "ecx", 21], movbe: [1, 0, "ecx", 22],
  popcnt: [1, 0, "ecx", 23], tsc_deadline: [1, 0, "ecx", 24], aes: [1, 0, "ecx", 25], xsave: [1, 0, "ecx", 26],
  avx: [1, 0, "ecx", 28], f16c: [1, 0, "ecx", 29], rdrand: [1, 0, "ecx", 30], hypervisor: [1, 0, "ecx", 31],
  fsgsbase: [7, 0, "ebx", 0], bmi1: [7, 0, "ebx", 3], avx2: [7, 0, "ebx", 5], smep: [7, 0, "ebx", 7], bmi2: [7, 0, "ebx", 8],
  erms: [7, 0, "ebx", 9], invpcid: [7, 0, "ebx", 10], avx512f: [7, 0, "ebx", 16], avx512dq: [7, 0, "ebx", 17],
  rdseed: [7, 0, "ebx", 18], adx: [7, 0, "ebx", 19], smap: [7, 0, "ebx", 20], avx512ifma: [7, 0, "ebx", 21],
  clflushopt: [7, 0, "ebx", 23], clwb: [7, 0, "ebx", 24], avx512cd: [7, 0, "ebx", 28], sha: [7, 0, "ebx", 29],
  avx512bw: [7, 0, "ebx", 30], avx512vl: [7, 0, "ebx", 31],
  avx512vbmi: [7, 0, "ecx", 1], umip: [7, 0, "ecx", 2], pku: [7, 0, "ecx", 3], waitpkg: [7, 0, "ecx", 5],
  avx512vbmi2: [7, 0, "ecx", 6], gfni: [7, 0, "ecx", 8], vaes: [7, 0, "ecx", 9], vpclmulqdq: [7, 0, "ecx", 10],
  avx512vnni: [7, 0, "ecx", 11], avx512bitalg: [7, 0, "ecx", 12], avx512vpopcntdq: [7, 0, "ecx", 14], rdpid: [7, 0, "ecx", 22],
  fsrm: [7, 0, "edx", 4], serialize: [7, 0, "edx", 14], amx_bf16: [7, 0, "edx", 22], avx512fp16: [7, 0, "edx", 23],
  amx_tile: [7, 0, "edx", 24], amx_int8: [7, 0, "edx", 25],
  avx512bf16: [7, 1, "eax", 5],
  lahf_lm: [0x80000001, 0, "ecx", 0], abm: [0x80000001, 0, "ecx", 5], prefetchw: [0x80000001, 0, "ecx", 8],
  syscall: [0x80000001, 0, "edx", 11], nx: [0x80000001, 0, "edx", 20], pdpe1gb: [0x80000001, 0, "edx", 26],
  rdtscp: [0x80000001, 0, "edx", 27], lm: [0x80000001, 0, "edx", 29],
};

const BASE = ["fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge", "mca", "cmov", "pat",
  "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "sse3", "pclmulqdq", "ssse3", "cx16", "sse4_1", "sse4_2", "x2apic",
  "popcnt", "aes", "lahf_lm", "syscall", "nx", "lm", "rdtscp"];
const HSW = [...BASE, "fma", "movbe", "pcid", "xsave", "avx", "f16c", "rdrand", "fsgsbase", "bmi1", "avx2", "smep", "bmi2",
  "erms", "invpcid", "abm", "pdpe1gb"];
const SKX = [...HSW, "avx512f", "avx512dq", "rdseed", "adx", "smap", "clflushopt", "clwb", "avx512cd", "avx512bw", "avx512vl", "prefetchw"];
const ICX = [...SKX, "avx512ifma", "avx512vbmi", "umip", "pku", "avx512vbmi2", "gfni", "vaes", "vpclmulqdq", "avx512vnni",
  "avx512bitalg", "avx512vpopcntdq", "rdpid", "fsrm", "sha"];
const SPR = [...ICX, "serialize", "amx_bf16", "avx512fp16", "amx_tile", "amx_int8", "avx512bf16", "waitpkg"];

// Intel standard-format layout (SDM Vol. 1 §13.4.3; measured on SPR)
const X_AVX: XComp = { i: 2, size: 256, offset: 576, ecx: 0 };
const X_INTEL_AVX512: XComp[] = [
  { i: 5, size: 64, offset: 1088, ecx: 0 }, { i: 6, size: 512, offset: 1152, ecx: 0 }, { i: 7, size: 1024, offset: 1664, ecx: 0 },
];
const X_PKRU_INTEL: XComp = { i: 9, size: 8, offset: 2688, ecx: 0 };
const X_CET: XComp[] = [{ i: 11, size: 16, offset: 0, ecx: 1 }, { i: 12, size: 24, offset: 0, ecx: 1 }];
const X_AMX: XComp[] = [{ i: 17, size: 64, offset: 2752, ecx: 2 }, { i: 18, size: 8192, offset: 2816, ecx: 6 }];

export const MODELS: Model[] = [
  {
    name: "sapphire-rapids", vendor: "intel", signature: 0x000806F8, brand: "Intel(R) Xeon(R) Sapphire Rapids (x86kvm)",
    features: SPR, xcomps: [X_AVX, ...X_INTEL_AVX512, X_PKRU_INTEL, ...X_CET, ...X_AMX], xcr0: 0x602E7n, xss: 0x1800n,
    xsaveFeatures: ["xsaveopt", "xsavec", "xgetbv1", "xsaves", "xfd"], physBits: 46, virtBits: 48, amx: true, maxLeaf: 0x20,
  },
  {
    name: "icelake-server", vendor: "intel", signature: 0x000606A6, brand: "Intel(R) Xeon(R) Ice Lake (x86kvm)",
    features: ICX, xcomps: [X_AVX, ...X_INTEL_AVX512, X_PKRU_INTEL], xcr0: 0x2E7n, xss: 0n,
    xsaveFeatures: ["xsaveopt", "xsavec", "xgetbv1", "xsaves"], physBits: 46, virtBits: 48, maxLeaf: 0x1B,
  },
  {
    name: "skylake-server", vendor: "intel", signature: 0x00050654, brand: "Intel(R) Xeon(R) Skylake (x86kvm)",
    features: SKX, xcomps: [X_AVX, ...X_INTEL_AVX512], xcr0: 0xE7n, xss: 0n,
    xsaveFeatures: ["xsaveopt", "xsavec", "xgetbv1", "xsaves"], physBits: 46, virtBits: 48, maxLeaf: 0x16,
  },
  {
    name: "haswell", vendor: "intel", signature: 0x000306C3, brand: "Intel(R) Core(TM) Haswell (x86kvm)",
    features: HSW, xcomps: [X_AVX], xcr0: 0x7n, xss: 0n,
    xsaveFeatures: ["xsaveopt"], physBits: 39, virtBits: 48, maxLeaf: 0xD,
  },
  {
    // the development machine: AMD EPYC (Zen 4) with AVX-512, AMD's compact XSAVE layout, no PKU exposed
    name: "epyc-genoa", vendor: "amd", signature: 0x00A10F11, brand: "AMD EPYC Genoa (x86kvm)",
    features: [...SKX.filter((f) => f !== "invpcid"), "avx512ifma", "avx512vbmi", "umip", "avx512vbmi2", "gfni", "vaes",
      "vpclmulqdq", "avx512vnni", "avx512bitalg", "avx512vpopcntdq", "rdpid", "fsrm", "sha", "avx512bf16"],
    xcomps: [X_AVX, { i: 5, size: 64, offset: 832, ecx: 0 }, { i: 6, size: 512, offset: 896, ecx: 0 }, { i: 7, size: 1024, offset: 1408, ecx: 0 },
      ...X_CET],
    xcr0: 0xE7n, xss: 0x1800n, xsaveFeatures: ["xsaveopt", "xsavec", "xgetbv1", "xsaves"], physBits: 52, virtBits: 57, maxLeaf: 0x10,
    mxcsrMask: 0x2FFFF,
  },
];

export function modelNames(): string[] { return MODELS.map((m) => m.name); }

export function getModel(name: string): Model {
  const m = MODELS.find((x) => x.name === name);
  if (!m) throw new Error(`unknown CPU model '${name}' (known: ${modelNames().join(", ")})`);
  return m;
}

function str4(s: string, i: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) v |= (s.charCodeAt(i + k) || 0) << (8 * k);
  return v >>> 0;
}

// Build the CPUID table of a model, optionally with features removed/added
// (QEMU-style "-feat,+feat").
export function buildCpuid(m: Model, edits: { add?: string[]; remove?: string[] } = {}): CpuidEntry[] {
  const feats = new Set(m.features);
  for (const f of edits.remove ?? []) feats.delete(f);
  for (const f of edits.add ?? []) {
    if (!(f in FEATURE_BITS)) throw new Error(`unknown CPU feature '${f}'`);
    feats.add(f);
  }
  const E = new Map<string, CpuidEntry>();
  const ent = (fn: number, idx: number, sig = false): CpuidEntry => {
    const k = `${fn}.${idx}`;
    let e = E.get(k);
    if (!e) { e = { fn, idx, flags: sig ? 1 : 0, eax: 0, ebx: 0, ecx: 0, edx: 0 }; E.set(k, e); }
    return e;
  };
  const vendor = m.vendor === "amd" ? "AuthenticAMD" : "GenuineIntel";
  const l0 = ent(0, 0);
  l0.eax = m.maxLeaf; l0.ebx = str4(vendor, 0); l0.edx = str4(vendor, 4); l0.ecx = str4(vendor, 8);
  const l1 = ent(1, 0);
  l1.eax = m.signature; l1.ebx = 0x00010800;   // CLFLUSH line 8 qwords, 1 logical processor
  ent(7, 0, true).eax = 1;
  ent(7, 1, true);
  for (const f of feats) {
    const [fn, idx, reg, b] = FEATURE_BITS[f];
    const e = ent(fn, idx, fn === 7);
    e[reg] = (e[reg] | (1 << b)) >>> 0;
  }
  const has = (f: string) => feats.has(f);
  if (has("xsave")) {
    // leaf 0xD: only components whose features remain
    const keep = (c: XComp) => {
      if (c.i === 2) return has("avx");
      if (c.i >= 5 && c.i <= 7) return has("avx512f");
      if (c.i === 9) return has("pku");
      if (c.i === 17 || c.i === 18) return has("amx_tile");
      return true;
    };
    const comps = m.xcomps.filter(keep);
    let xcr0 = 3n, xss = 0n;
    for (const c of comps) { if (c.ecx & 1) xss |= 1n << BigInt(c.i); else xcr0 |= 1n << BigInt(c.i); }
    xcr0 &= m.xcr0; xss &= m.xss;
    const std = comps.filter((c) => !(c.ecx & 1) && ((xcr0 >> BigInt(c.i)) & 1n));
    const maxStd = std.reduce((a, c) => Math.max(a, c.offset + c.size), 576);
    const d0 = ent(0xd, 0, true);
    d0.eax = Number(xcr0 & 0xFFFFFFFFn); d0.edx = Number(xcr0 >> 32n); d0.ebx = 576; d0.ecx = maxStd;
    const d1 = ent(0xd, 1, true);
    const xf = m.xsaveFeatures.filter((f) => f !== "xfd" || has("amx_tile"));
    d1.eax = (xf.includes("xsaveopt") ? 1 : 0) | (xf.includes("xsavec") ? 2 : 0) | (xf.includes("xgetbv1") ? 4 : 0) |
      (xf.includes("xsaves") ? 8 : 0) | (xf.includes("xfd") ? 16 : 0);
    d1.ecx = Number(xss & 0xFFFFFFFFn); d1.edx = Number(xss >> 32n);
    for (const c of comps) {
      if (!((xcr0 | xss) >> BigInt(c.i) & 1n)) continue;
      const e = ent(0xd, c.i, true);
      e.eax = c.size; e.ebx = c.ecx & 1 ? 0 : c.offset;
      e.ecx = xf.includes("xfd") ? c.ecx : c.ecx & ~4;
    }
  } else {
    l1.ecx &= ~(1 << 28);
  }
  if (has("amx_tile") && m.amx) {
    const a0 = ent(0x1d, 0, true); a0.eax = 1;
    const a1 = ent(0x1d, 1, true); a1.eax = 0x04002000; a1.ebx = 0x00080040; a1.ecx = 0x10;
    const t0 = ent(0x1e, 0, true); t0.ebx = 0x4010;
  }
  const x0 = ent(0x80000000, 0);
  x0.eax = 0x80000008;
  if (m.vendor === "amd") { x0.ebx = l0.ebx; x0.ecx = l0.ecx; x0.edx = l0.edx; }
  for (let i = 0; i < 3; i++) {
    const e = ent(0x80000002 + i, 0);
    e.eax = str4(m.brand.padEnd(48, "\0"), 16 * i); e.ebx = str4(m.brand.padEnd(48, "\0"), 16 * i + 4);
    e.ecx = str4(m.brand.padEnd(48, "\0"), 16 * i + 8); e.edx = str4(m.brand.padEnd(48, "\0"), 16 * i + 12);
  }
  ent(0x80000008, 0).eax = m.physBits | (m.virtBits << 8);
  return [...E.values()].sort((a, b) => a.fn - b.fn || a.idx - b.idx);
}
