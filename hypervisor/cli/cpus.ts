// `x86kvm cpus`: the CPU models and what their CPUID leaf 0xD reports.
import { MODELS, buildCpuid, type Model } from "../models/models";
import { find } from "../models/cpuid";
import { hex } from "./dump";

// XSAVE state components (SDM Vol. 1 §13.1; Linux xfeature names in comments)
export const XCOMPONENTS = [
  "x87", "sse", "avx", "bndregs", "bndcsr", "opmask", "zmm_hi256", "hi16_zmm", "pt", "pkru", "pasid", "cet_u", "cet_s",
  "hdc", "uintr", "lbr", "hwp", "xtilecfg", "xtiledata", "apx",
];

export interface CpuInfo {
  name: string; vendor: string; brand: string;
  xcr0: string; xss: string;            // CPUID.(0DH,0):EDX:EAX and (0DH,1):EDX:ECX
  xsaveSize: number;                    // CPUID.(0DH,0):ECX, all XCR0 components
  components: string[];
  xsaveFeatures: string[];              // CPUID.(0DH,1):EAX
  features: string[];                   // the model's CPUID feature names (--cpu +f/-f)
}

const bits = (v: bigint) => XCOMPONENTS.filter((_, i) => (v >> BigInt(i)) & 1n);

export function cpuInfo(m: Model): CpuInfo {
  const e = buildCpuid(m);
  const d0 = find(e, 0xd, 0), d1 = find(e, 0xd, 1);
  const xcr0 = d0 ? (BigInt(d0.edx >>> 0) << 32n) | BigInt(d0.eax >>> 0) : 0n;
  const xss = d1 ? (BigInt(d1.edx >>> 0) << 32n) | BigInt(d1.ecx >>> 0) : 0n;
  const fa = d1?.eax ?? 0;
  return {
    name: m.name, vendor: m.vendor, brand: m.brand, xcr0: hex(xcr0), xss: hex(xss), xsaveSize: d0?.ecx ?? 0,
    components: [...bits(xcr0), ...bits(xss).map((n) => `${n}(xss)`)],
    xsaveFeatures: ["xsaveopt", "xsavec", "xgetbv1", "xsaves", "xfd"].filter((_, i) => (fa >> i) & 1),
    features: [...m.features],
  };
}

export function cpusText(defaultModel: string): string {
  const rows = MODELS.map(cpuInfo);
  const w = Math.max(...rows.map((r) => r.name.length)) + 2;
  const lines = [`${"model".padEnd(w)}${"vendor".padEnd(7)}${"XCR0".padEnd(10)}${"size".padEnd(7)}XSAVE components / features`];
  for (const r of rows) {
    const name = (r.name + (r.name === defaultModel ? "*" : "")).padEnd(w);
    lines.push(`${name}${r.vendor.padEnd(7)}${r.xcr0.padEnd(10)}${String(r.xsaveSize).padEnd(7)}${r.components.join(" ")}`);
    lines.push(`${"".padEnd(w + 24)}${r.xsaveFeatures.join(" ") || "-"}`);
  }
  lines.push(`* default (--host). XCR0 = CPUID.(EAX=0DH,ECX=0):EDX:EAX, size = its ECX (bytes, standard format).`);
  return lines.join("\n") + "\n";
}
