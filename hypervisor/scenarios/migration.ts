// S1–S3: a live migration of guest-images/bin/pkru-migrate.elf at its GUEST_SYNC(1) through the
// VMM's save/restore (hypervisor/vmm/migration) in the cell's personality. The guest CPU is the
// hosts' baseline minus PKU — §10's CPUID-nopku, and a CPU both hosts can give (the stream's
// compatibility check refuses anything else before a single ioctl).
import { migrate } from "../vmm/migration";
import type { Cell } from "./catalogue";
import type { CellRun, Images } from "./run";
import type { Step } from "./steps";

export const MIGRATION_GUEST = "pkru-migrate.elf";

export function runMigrationCell(cell: Cell, images: Images): CellRun {
  const r = migrate({
    image: images(MIGRATION_GUEST), kind: "elf", from: cell.source, to: cell.destination, vmm: cell.vmm, atSync: 1,
    cpu: { base: "baseline", remove: ["pku"] }, memory: 16 << 20, console: { write: () => {} },
  });
  const steps: Step[] = [];
  steps.push({ label: `source KVM_RUN → GUEST_SYNC(1) (${r.source.run.insns} instructions)`, result: r.source.run.exit });
  for (const x of r.xsave) {
    const h = { xstate_bv: x.xstateBv, xcomp_bv: x.xcompBv };
    steps.push(x.where === "stream" ? { label: `${x.step} (source, VMM-save)`, buffer: h } : { label: `${x.where}: ${x.step}`, fpstate: h });
  }
  const rr = r.restore;
  if (rr) {
    const issued = rr.steps.map((s) => `${s.ioctl} ${s.ok ? "0" : "-" + (s.errno ?? s.result)}`).join(", ");
    steps.push({ label: `VMM-restore (${cell.vmm}, QEMU order)`, result: rr.complete ? "complete" : "incomplete", note: issued + (rr.skipped.length ? `; skipped ${rr.skipped.join(", ")}` : "") });
  }
  if (r.destination?.run) steps.push({ label: "destination KVM_RUN to the end", result: r.destination.run.exit, note: r.destination.run.message });
  if (r.source.resumed) steps.push({ label: "source resumed after the refused migration", result: r.source.resumed.exit });
  return { outcome: r.outcome, detail: r.detail, steps };
}
