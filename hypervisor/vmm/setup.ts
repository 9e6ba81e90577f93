// One description of a machine to build — the inputs of `x86kvm run` after
// option parsing — and the one function that builds it. The CLI's run command,
// the debug engine (which rebuilds the same machine to re-execute for reverse
// stepping) and the DAP adapter all go through createMachine, so a debugged
// guest starts exactly as a plain run of the same command line would.
import { Machine } from "./machine";
import type { Console } from "./devices";
import type { ImageKind } from "./loader";
import type { HostEventAt, HostEventKind } from "../host";

export interface MachineSpec {
  /** image bytes and kind ('bios' ROM, 'flat' boot sector, 'elf' ELF64) */
  image: Uint8Array;
  kind: ImageKind;
  /** host CPU model name (models table) */
  model: string;
  /** kernel behaviour version ('5.17-rc5' | '6.5' | '6.8' | '6.19') */
  kernel: string;
  /** guest RAM bytes (default: Machine's 128 MiB) */
  memory?: number;
  /** --cpu host[,+feat,-feat] edits */
  cpuEdits?: { add?: string[]; remove?: string[] };
  /** --host-event entries, scheduled on the vCPU in order before the first KVM_RUN */
  hostEvents?: { kind: HostEventKind; at: HostEventAt }[];
}

/** Build, load and arm a machine from a spec (no instruction has run yet). */
export function createMachine(spec: MachineSpec, console?: Console): Machine {
  const m = new Machine({ model: spec.model, kernel: spec.kernel, memory: spec.memory, cpuEdits: spec.cpuEdits, console });
  m.load(spec.kind, spec.image);
  for (const ev of spec.hostEvents ?? []) m.host.scheduleEvent(m.vcpu.fd, ev);
  return m;
}
