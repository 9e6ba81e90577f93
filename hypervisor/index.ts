// The library surface of the x86kvm package (ESM, bundled into
// dist/x86kvm.mjs): the contract's Host (a /dev/kvm with Linux's ioctl ABI),
// its uapi numbers and structs, the kvm-ioctls-style wrappers, and the
// headless Machine, the wasm CPU, CPU models and loaders.
export { Host, type HostOptions, type HostEventAt, type HostEventKind, type FiredHostEvent } from "./host";
export * from "./uapi/ioctl";
export * from "./uapi/structs";
export {
  KVM_API_VERSION, KVM_CAP, KVM_EXIT as KVM_EXIT_REASON, KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT, KVM_GUESTDBG, KVM_VCPUEVENT, ARCH,
  KVM_MEM_READONLY, KVM_MEM_LOG_DIRTY_PAGES, ERRNO_NAMES,
} from "./uapi/consts";
export { Kvm, VmFd, VcpuFd, KvmError, decodeExit, type VcpuExit } from "./vmm/kvm_ioctls";
export type { HostFpu, VcpuFpu, HostFpuFactory, HostFpuConfig, FpuVcpuContext, FpuMsrResult } from "./kvm/fpu_iface";
export { kernelHostFpu } from "./kvm/fpu_kernel";
export type { HostOopsReport } from "./fpu/fpu";
export { Machine, KVM_EXIT, EXIT_NAMES, HOST_OOPS_STATUS, type MachineOptions, type RunResult, type StopReason } from "./vmm/machine";
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
export * from "./vmm/migration/index";
export { runMatrix, runCell, imagesFrom, type CellResult, type Images } from "./scenarios/run";
export { catalogue, parseHostKernel, SCENARIO_TITLES, type Cell, type ScenarioId, type Outcome } from "./scenarios/catalogue";
export { cellsJson, table as scenarioTable, html as scenarioHtml } from "./scenarios/report";
export type { GuestFpstateView } from "./kvm/fpu_iface";
export {
  SELFTESTS, SELFTEST_STATUS, stateTest, amxTest, amxTest2026, xcr0CpuidTest,
  type SelftestResult, type SelftestOptions, type SelftestOutcome,
} from "./vmm/selftests/index";
export { ImageVm, runSelftest, guestImagePath, HostAssert } from "./vmm/selftests/harness";
export { decodeUcall, formatAbort, saveState, loadState, UCALL_PIO_PORT, UCALL_SYNC, UCALL_ABORT, UCALL_PRINTF, UCALL_DONE, UCALL_UNHANDLED, type Ucall, type VcpuState } from "./vmm/ucall";
export { DebugEngine, type Stop as DebugStop, type StopReason as DebugStopReason, type Breakpoint as DebugBreakpoint, type HostView, type EngineOptions } from "./debug/engine";
export { GdbStub, type GdbStubOptions } from "./debug/gdbstub";
export { createMachine, type MachineSpec } from "./vmm/setup";
export { X86kvmDebugSession } from "./debug/dap/session";
export { runStdio as runDapStdio, startServer as startDapServer } from "./debug/dap/main";
