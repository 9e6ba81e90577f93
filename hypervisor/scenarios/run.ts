// Running the matrix: each cell by its scenario's runner, compared with the catalogue.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { catalogue, type Cell, type Outcome } from "./catalogue";
import type { Step } from "./steps";
import { runS4 } from "./s4";
import { runS5 } from "./s5";
import { runS6 } from "./s6";
import { runMigrationCell } from "./migration";

/** a guest image by file name (guest-images/bin) */
export type Images = (name: string) => Uint8Array;

export interface CellRun { outcome: Outcome; detail: string; steps: Step[] }

export interface CellResult {
  scenario: Cell["scenario"]; source: string; destination: string; vmm: Cell["vmm"];
  outcome: Outcome; detail: string;
  expected: Outcome; why: string; pass: boolean;
  steps: Step[];
}

export function imagesFrom(dir: string): Images {
  const cache = new Map<string, Uint8Array>();
  return (name) => {
    let b = cache.get(name);
    if (!b) { b = new Uint8Array(readFileSync(join(dir, "bin", name))); cache.set(name, b); }
    return b;
  };
}

export function runCell(cell: Cell, images: Images): CellResult {
  let r: CellRun;
  try {
    switch (cell.scenario) {
      case "S1": case "S2": case "S3": r = runMigrationCell(cell, images); break;
      case "S4": r = runS4(cell, images); break;
      case "S5": r = runS5(cell, images); break;
      case "S6": r = runS6(cell); break;
    }
  } catch (e) {
    // a runner that throws is a bug of ours, not an outcome of the scenario: say which cell
    throw new Error(`${cell.scenario} ${cell.source} → ${cell.destination} (${cell.vmm}): ${(e as Error).message}`, { cause: e });
  }
  return { ...cell, ...r, pass: r.outcome === cell.expected };
}

export function runMatrix(images: Images, filter?: (c: Cell) => boolean): CellResult[] {
  return catalogue().filter((c) => !filter || filter(c)).map((c) => runCell(c, images));
}
