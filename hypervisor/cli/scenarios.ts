// `x86kvm scenarios` (and `npm start`): the S1–S6 matrix of kernel-abi.md §10 — every bug
// scenario on the kernel behaviours, hosts and VMM personalities where it matters — as a table,
// JSON or an HTML report.
import { writeFileSync } from "node:fs";
import { runMatrix, imagesFrom } from "../scenarios/run";
import { cellsJson, table, html } from "../scenarios/report";
import type { ScenarioId } from "../scenarios/catalogue";
import { guestImagesDir } from "./demo";
import { UsageError } from "./options";
import type { Io } from "./run";

export interface ScenariosOptions { json?: boolean; html?: string; scenario?: string }

/** 0 when every cell ends as §10 says, 1 when one does not, 2 on a usage error */
export function scenariosCommand(o: ScenariosOptions, io: Io): number {
  const dir = guestImagesDir();
  if (!dir) { io.stderr("x86kvm scenarios: guest-images/ not found next to the package\n"); return 2; }
  let only: Set<string> | null = null;
  if (o.scenario !== undefined) {
    only = new Set(o.scenario.split(",").map((s) => s.trim().toUpperCase()));
    for (const s of only) if (!/^S[1-6]$/.test(s)) throw new UsageError(`--scenario: '${s}' is not one of S1..S6`);
  }
  const t0 = performance.now();
  const cells = runMatrix(imagesFrom(dir), only ? (c) => only!.has(c.scenario as ScenarioId) : undefined);
  const ms = performance.now() - t0;
  if (o.html !== undefined) {
    try { writeFileSync(o.html, html(cells)); } catch (e) {
      throw new UsageError(`--html: cannot write ${o.html}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (o.json) io.stdout(JSON.stringify(cellsJson(cells), null, 2) + "\n");
  else {
    io.stdout(table(cells));
    io.stdout(`(${Math.round(ms)} ms${o.html !== undefined ? `; report with the XSAVE header bits of each step: ${o.html}` : ""})\n`);
  }
  return cells.every((c) => c.pass) ? 0 : 1;
}
