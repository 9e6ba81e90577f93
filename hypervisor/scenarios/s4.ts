// S4 (kernel-abi.md §10): guest-images/bin/amx-xfd-irq.elf loads tiles with XFD clear, sets
// IA32_XFD[18]; an interrupt that uses the FPU (Host.scheduleEvent irq-fpu) fires at that WRMSR's
// VM exit (intercepted, handled inside KVM_RUN), before fpu_update_guest_xfd(). Userspace never
// sees that exit: the guest's OUT 0x80 right after it is the first exit back to the VMM, where
// the step after the handler and the re-entry is recorded.
import { Machine } from "../vmm/machine";
import { parseHostKernel, type Cell } from "./catalogue";
import { classifyRun } from "../vmm/migration";
import { fpstateOf, type Step } from "./steps";
import type { CellRun, Images } from "./run";

const MSR_IA32_XFD = 0x1c4;
const STAGE_PORT = 0x80;     // the guest's OUT after the WRMSR

export function runS4(cell: Cell, images: Images): CellRun {
  const { model, kernel } = parseHostKernel(cell.source);
  const m = new Machine({ model, kernel, memory: 16 << 20, console: { write: () => {} } });
  m.load("elf", images("amx-xfd-irq.elf"));
  const steps: Step[] = [];
  m.host.scheduleEvent(m.vcpu.fd, { at: { msrWrite: MSR_IA32_XFD }, kind: "irq-fpu" });
  steps.push({ label: "KVM_CREATE_VCPU, KVM_SET_CPUID2 (CPUID-amx), guest ELF loaded", fpstate: fpstateOf(m.host, m.vcpu.fd) });
  const r = m.run(10_000_000, {
    onExit: (e) => {
      if (e.kind !== "IoOut" || e.port !== STAGE_PORT) return;
      const ev = m.host.events.at(-1);
      steps.push({
        label: "KVM_RUN: the WRMSR IA32_XFD exit handled inside KVM_RUN, the guest re-entered; its OUT 0x80 exits",
        result: "0", note: ev ? `host ${ev.kind} ran ${ev.calls.join(" → ")} at the WRMSR's exit, before the exit handler` : "no host event fired",
        fpstate: fpstateOf(m.host, m.vcpu.fd),
      });
    },
  });
  const o = classifyRun(r, m);
  const oops = m.host.oops;
  if (oops) {
    const ev = m.host.events.at(-1);
    steps.push({
      label: "KVM_RUN: the WRMSR IA32_XFD exit handled inside KVM_RUN; re-entry", result: `-EIO: host oops in ${oops.caller}`,
      note: `${ev ? `host ${ev.kind} ran ${ev.calls.join(" → ")} at the WRMSR's exit, before the exit handler; ` : ""}the re-entry's XRSTORS ran with XFD ${"0x" + oops.xfd.toString(16)} on an image with XSTATE_BV ${"0x" + oops.xstate_bv.toString(16)}`,
      // the image the faulting XRSTORS loaded, as the oops report recorded it
      fpstate: { ...fpstateOf(m.host, m.vcpu.fd), xstate_bv: "0x" + oops.xstate_bv.toString(16), xfd: "0x" + oops.xfd.toString(16) },
    });
    return { ...o, detail: `host #NM: ${oops.die} (${oops.caller}, XSTATE_BV[18]=${(oops.xstate_bv >> 18n) & 1n} with XFD[18]=${(oops.xfd >> 18n) & 1n})`, steps };
  }
  steps.push({ label: `guest ran to the end (${r.exit})`, fpstate: fpstateOf(m.host, m.vcpu.fd) });
  const ev = m.host.events[0];
  const atExit = steps.find((s) => s.label.includes("WRMSR IA32_XFD exit"))?.fpstate;
  const cleared = atExit && (BigInt(atExit.xstate_bv) >> 18n & 1n) === 0n;
  return { ...o, detail: ev && cleared ? `${o.detail}; fpu_update_guest_xfd cleared XSTATE_BV[18] after the ${ev.kind}` : o.detail, steps };
}
