// Save, restore and live migration (README "Save, restore and live migration"):
//   snapshot.ts  vmmSave — VMM-save in QEMU/selftest order, memory slots
//   restore.ts   vmmRestore — memory, then the put in QEMU order; personalities strict / qemu
//   stream.ts    encodeStream / decodeStream — the versioned, checksummed migration stream
//   compat.ts    StreamError and the destination checks (memory, CPUID "enforce")
//   migrate.ts   migrate — source run → save → stream → destination restore → run, with an outcome
export { vmmSave, vmmSaveWithHeaders, type VmSnapshot, type VcpuSnapshot, type MemorySlotSnapshot, type SaveOptions, type SaveHeaders } from "./snapshot";
export {
  vmmRestore, MigrationError, RESTORE_ORDER, VMM_PERSONALITIES,
  type VmmPersonality, type RestoreReport, type RestoreStep, type RestoreFailure, type RestoreIoctl,
} from "./restore";
export { encodeStream, decodeStream, streamInfo, STREAM_MAGIC, STREAM_VERSION, type StreamHeader, type SectionInfo } from "./stream";
export { StreamError, checkCompatible, incompatibilities, missingFeatures, missingXfeatures } from "./compat";
export {
  migrate, parseEndpoint, guestCpuid, classifyRun, runToSync,
  type MigrateOptions, type MigrationReport, type MigrationOutcome, type Endpoint, type GuestCpu, type XsaveStep,
} from "./migrate";
export { withIoctlLog, type IoctlRecord } from "./ioctl_log";
export { bufferHeader, fpstateHeader, explainSetXsave, describeBits, XFEATURE_NAMES, type XsaveHeader } from "./xsave_header";
export { crc32 } from "./crc32";
