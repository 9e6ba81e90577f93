// What the benchmarks need from the TypeScript side, bundled by bench/run.mjs
// (esbuild, .wasm inlined) into build/bench/entry.mjs.
export { Machine } from "../hypervisor/vmm/machine";
export { WasmCpu } from "../hypervisor/cpu/wasm_cpu";
export { Host } from "../hypervisor/host";
export { Kvm } from "../hypervisor/vmm/kvm_ioctls";
