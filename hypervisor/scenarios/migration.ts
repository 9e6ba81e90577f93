// S1–S3: a live migration of guest-images/bin/pkru-migrate.elf at its GUEST_SYNC(1), with the
// guest CPUID of §10's CPUID-nopku (the host model's table minus pku), through the VMM's
// save/restore (hypervisor/vmm/migration) in the cell's personality.
import type { Cell } from "./catalogue";
import type { CellRun, Images } from "./run";

export function runMigrationCell(cell: Cell, images: Images): CellRun {
  void images;
  throw new Error(`${cell.scenario}: migration not wired yet`);
}
