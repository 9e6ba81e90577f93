// The DAP launch request → run options → a DebugTarget. A launch takes the
// image kinds and flags of `x86kvm run` (hypervisor/cli/run.ts prepareRun):
// `program` (ELF64 or flat image; a *.rom is taken as a BIOS) or `bios`,
// host, cpu, kernel, memory, maxInsns, hostEvents.
import { resolveRun, type RunOptions } from "../../cli/run";
import { UsageError } from "../../cli/options";
import { EngineTarget } from "./engine_target";
import { Symbols } from "./symbols";

export interface LaunchArgs {
  program?: string;
  bios?: string;
  host?: string;
  cpu?: string;
  kernel?: string;
  /** "128M", or a number of MiB */
  memory?: string | number;
  maxInsns?: number | string;
  hostEvents?: string[];
  stopOnEntry?: boolean;
  /** exception filter ids enabled from the start (EXCEPTION_FILTERS) */
  stopOn?: string[];
  trace?: boolean;
}

export function runOptions(a: LaunchArgs): RunOptions {
  const str = (k: keyof LaunchArgs): string | undefined => {
    const v = a[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" && typeof v !== "number") throw new UsageError(`launch: '${k}' must be a string`);
    return String(v);
  };
  if (a.hostEvents !== undefined && (!Array.isArray(a.hostEvents) || a.hostEvents.some((e) => typeof e !== "string"))) {
    throw new UsageError("launch: 'hostEvents' must be an array of strings such as \"irq-fpu@wrmsr:0x1c4\"");
  }
  if (!a.program && !a.bios) throw new UsageError("launch: give 'program' (an ELF64 or flat image) or 'bios' (a ROM)");
  return {
    image: str("program"), bios: str("bios"), host: str("host"), cpu: str("cpu"), kernel: str("kernel"),
    memory: str("memory"), maxInsns: str("maxInsns"), hostEvents: a.hostEvents,
  };
}

/** Build the target (and the image's symbols); guest console bytes go to `console`. Throws UsageError / ImageError. */
export function createTarget(a: LaunchArgs, console: (bytes: Uint8Array) => void): { target: EngineTarget; symbols: Symbols } {
  const { spec, maxInsns, path } = resolveRun(runOptions(a));
  return { target: new EngineTarget(spec, maxInsns, console), symbols: Symbols.forImage(path, spec.image) };
}
