// S5 (kernel-abi.md §10): guest-images/bin/amx-xfd-set-xsave.elf. At GUEST_SYNC 1 (tiles loaded,
// XFD clear) the VMM takes KVM_GET_XSAVE2; the guest then sets IA32_XFD[18] and syncs again; the
// VMM writes the stage-1 buffer back with KVM_SET_XSAVE and resumes the guest, which clears XFD,
// reloads its tiles and compares them.
import { Machine } from "../vmm/machine";
import * as K from "../uapi/ioctl";
import { KVM_CAP } from "../uapi/consts";
import { parseHostKernel, type Cell } from "./catalogue";
import { classifyRun } from "../vmm/migration";
import { bufferHeader, errnoName, fpstateOf, type Step } from "./steps";
import type { CellRun, Images } from "./run";

const BUDGET = 10_000_000;

export function runS5(cell: Cell, images: Images): CellRun {
  const { model, kernel } = parseHostKernel(cell.source);
  const m = new Machine({ model, kernel, memory: 16 << 20, console: { write: () => {} } });
  m.load("elf", images("amx-xfd-set-xsave.elf"));
  const steps: Step[] = [];
  const fps = () => fpstateOf(m.host, m.vcpu.fd);
  const toSync = (stage: number) => {
    const r = m.run(BUDGET, { stopAtSync: true });
    if (r.exit !== "sync") return r;
    steps.push({ label: `KVM_RUN → GUEST_SYNC(${stage})`, result: "0", fpstate: fps() });
    return null;
  };
  const early = (r: ReturnType<typeof m.run>) => ({ ...classifyRun(r, m), steps });

  let r = toSync(1);
  if (r) return early(r);
  const size = m.vm.checkExtension(KVM_CAP.XSAVE2);
  const buf = new Uint8Array(Math.max(4096, size));
  const g = m.host.ioctl(m.vcpu.fd, K.KVM_GET_XSAVE2, buf);
  steps.push({ label: `KVM_GET_XSAVE2 (${buf.length} bytes)`, result: errnoName(g), buffer: bufferHeader(buf), fpstate: fps() });
  r = toSync(2);
  if (r) return early(r);
  const s = m.host.ioctl(m.vcpu.fd, K.KVM_SET_XSAVE, buf);
  steps.push({ label: "KVM_SET_XSAVE (the stage-1 buffer, after the guest set XFD[18])", result: errnoName(s), buffer: bufferHeader(buf), fpstate: fps() });
  if (s < 0) return { outcome: `migration-refused: KVM_SET_XSAVE ${errnoName(s)}`, detail: "the VMM's KVM_SET_XSAVE was refused", steps };
  r = m.run(BUDGET);
  const o = classifyRun(r, m);
  const oops = m.host.oops;
  steps.push({ label: "KVM_RUN", result: oops ? `-EIO: host oops in ${oops.caller}` : `0 (${r.exit})`, fpstate: fps() });
  if (oops) return { ...o, detail: `host #NM: ${oops.die} (${oops.caller}, XSTATE_BV[18]=${(oops.xstate_bv >> 18n) & 1n} with XFD[18]=${(oops.xfd >> 18n) & 1n})`, steps };
  return { ...o, detail: o.outcome === "ok" ? `${o.detail}; the kernel image kept XSTATE_BV[18]=0, the guest reloaded its tiles` : o.detail, steps };
}
