// Put a CPU model into a WasmCpu: its CPUID table, the feature bits the core
// consults, the vendor flavour of undefined behaviour, and the XSAVE layout.
import type { WasmCpu } from "../cpu/wasm_cpu";
import { buildCpuid, type Model } from "./models";
import { encodeEntries, featuresOf, type CpuidEntry } from "./cpuid";

export function applyModel(cpu: WasmCpu, m: Model, edits?: { add?: string[]; remove?: string[] }): CpuidEntry[] {
  const entries = buildCpuid(m, edits);
  cpu.setCpuid(encodeEntries(entries), entries.length, featuresOf(entries), m.vendor === "amd" ? 1 : 0);
  (cpu.ex.set_mxcsr_mask as (v: number) => void)(m.mxcsrMask ?? 0xffff);
  return entries;
}
