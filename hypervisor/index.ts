// The library surface of the x86kvm package (ESM, bundled into
// dist/x86kvm.mjs). The contract's Host/ioctl API arrives with the KVM model;
// until then: the headless Machine, the wasm CPU, CPU models and loaders.
export { Machine, KVM_EXIT, EXIT_NAMES, type MachineOptions, type RunResult, type StopReason } from "./vmm/machine";
export { WasmCpu, type CpuExports, type Layout } from "./cpu/wasm_cpu";
export { Devices, stdoutConsole, type Console } from "./vmm/devices";
export { detectKind, loadBios, loadElf64, loadFlat, ImageError, type ImageKind, type LoadedImage } from "./vmm/loader";
export { MODELS, FEATURE_BITS, getModel, modelNames, buildCpuid, type Model, type XComp } from "./models/models";
export { encodeEntries, decodeEntries, featuresOf, vendorOf, FEAT, type CpuidEntry } from "./models/cpuid";
export { find as findCpuidEntry } from "./models/cpuid";
export { KERNELS, DEFAULT_KERNEL, getKernel, type KernelBehaviour, type BehaviourId } from "./kernels";
export { linearToPhys, readLinear, readPhys, codeLocation } from "./debug/guestmem";
export { Disassembler } from "./debug/disasm";
export { stateJson, xsaveImage, type StateJson } from "./cli/dump";
export { cpuInfo, type CpuInfo } from "./cli/cpus";
export { cli } from "./cli/cli";
