// CPUID tables in the kvm_cpuid_entry2 layout (the same bytes KVM_SET_CPUID2
// carries), and the feature bits the CPU core consults, derived from them.
export interface CpuidEntry {
  fn: number;
  idx: number;
  flags: number;      // KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;
export const ENTRY_SIZE = 40;

export function encodeEntries(entries: CpuidEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * ENTRY_SIZE);
  const dv = new DataView(out.buffer);
  entries.forEach((e, i) => {
    const o = i * ENTRY_SIZE;
    dv.setUint32(o, e.fn >>> 0, true);
    dv.setUint32(o + 4, e.idx >>> 0, true);
    dv.setUint32(o + 8, e.flags >>> 0, true);
    dv.setUint32(o + 12, e.eax >>> 0, true);
    dv.setUint32(o + 16, e.ebx >>> 0, true);
    dv.setUint32(o + 20, e.ecx >>> 0, true);
    dv.setUint32(o + 24, e.edx >>> 0, true);
  });
  return out;
}

export function decodeEntries(buf: Uint8Array, n: number, offset = 0): CpuidEntry[] {
  const dv = new DataView(buf.buffer, buf.byteOffset + offset);
  const out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * ENTRY_SIZE;
    out.push({
      fn: dv.getUint32(o, true), idx: dv.getUint32(o + 4, true), flags: dv.getUint32(o + 8, true),
      eax: dv.getUint32(o + 12, true), ebx: dv.getUint32(o + 16, true), ecx: dv.getUint32(o + 20, true), edx: dv.getUint32(o + 24, true),
    });
  }
  return out;
}

export function find(entries: CpuidEntry[], fn: number, idx = 0): CpuidEntry | undefined {
  return entries.find((e) => e.fn === fn && (!(e.flags & 1) || e.idx === idx));
}

// Bits of S_FEAT (cpu/layout.ts FEAT_*)
export const FEAT = {
  XSAVE: 1, AVX: 2, AVX512: 4, PKU: 8, AMX: 16, XFD: 32, XSAVES: 64, XSAVEC: 128, XSAVEOPT: 256, XGETBV1: 512,
  RDTSCP: 1024, LZCNT: 2048, BMI1: 4096, POPCNT: 8192, NX: 16384, GB1: 32768, FSGSBASE: 65536, MOVBE: 131072, CX16: 262144,
  SSE3: 1 << 19, SSSE3: 1 << 20, SSE41: 1 << 21, SSE42: 1 << 22, AVX2: 1 << 23, BMI2: 1 << 24, FMA: 1 << 25, F16C: 1 << 26,
};

export function featuresOf(entries: CpuidEntry[]): number {
  const l1 = find(entries, 1), l7 = find(entries, 7, 0), d1 = find(entries, 0xd, 1), e1 = find(entries, 0x80000001);
  let f = 0;
  const bit = (v: number | undefined, b: number) => ((v ?? 0) >>> b) & 1;
  if (bit(l1?.ecx, 26)) f |= FEAT.XSAVE;
  if (bit(l1?.ecx, 28)) f |= FEAT.AVX;
  if (bit(l1?.ecx, 22)) f |= FEAT.MOVBE;
  if (bit(l1?.ecx, 23)) f |= FEAT.POPCNT;
  if (bit(l1?.ecx, 13)) f |= FEAT.CX16;
  if (bit(l1?.ecx, 0)) f |= FEAT.SSE3;
  if (bit(l1?.ecx, 9)) f |= FEAT.SSSE3;
  if (bit(l1?.ecx, 19)) f |= FEAT.SSE41;
  if (bit(l1?.ecx, 20)) f |= FEAT.SSE42;
  if (bit(l1?.ecx, 12)) f |= FEAT.FMA;
  if (bit(l1?.ecx, 29)) f |= FEAT.F16C;
  if (bit(l7?.ebx, 5)) f |= FEAT.AVX2;
  if (bit(l7?.ebx, 8)) f |= FEAT.BMI2;
  if (bit(l7?.ebx, 16)) f |= FEAT.AVX512;
  if (bit(l7?.ebx, 3)) f |= FEAT.BMI1;
  if (bit(l7?.ebx, 0)) f |= FEAT.FSGSBASE;
  if (bit(l7?.ecx, 3)) f |= FEAT.PKU;
  if (bit(l7?.edx, 24)) f |= FEAT.AMX;
  if (bit(d1?.eax, 0)) f |= FEAT.XSAVEOPT;
  if (bit(d1?.eax, 1)) f |= FEAT.XSAVEC;
  if (bit(d1?.eax, 2)) f |= FEAT.XGETBV1;
  if (bit(d1?.eax, 3)) f |= FEAT.XSAVES;
  if (bit(d1?.eax, 4)) f |= FEAT.XFD;
  if (bit(e1?.ecx, 5)) f |= FEAT.LZCNT;
  if (bit(e1?.edx, 20)) f |= FEAT.NX;
  if (bit(e1?.edx, 26)) f |= FEAT.GB1;
  if (bit(e1?.edx, 27)) f |= FEAT.RDTSCP;
  return f;
}

export function vendorOf(entries: CpuidEntry[]): "intel" | "amd" {
  const l0 = find(entries, 0);
  return l0 && l0.ebx === 0x68747541 ? "amd" : "intel";   // "Auth"enticAMD
}
