// `x86kvm demo` (`npm start`): run the bundled guest images and say what
// each one proved, checked against guest-images/expected.json. (A later
// issue replaces this with the matrix of bug scenarios × kernel behaviours.)
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Machine } from "../vmm/machine";
import { detectKind } from "../vmm/loader";
import type { Io } from "./run";

const DEMO: { image: string; how: string; proves: string }[] = [
  { image: "hello64.elf", how: "x86kvm run guest-images/bin/hello64.elf",
    proves: "the ELF contract: PT_LOAD at 0x100000, entered in long mode at CPL0 with the selftests' page tables; port 0xE9 console; HLT ends the run with status 0" },
  { image: "realmode.bin", how: "x86kvm run guest-images/bin/realmode.bin",
    proves: "a flat image at 0000:7C00 in real mode: segment arithmetic, string instructions, mul/div, far calls, IVT interrupts, A20 via port 0x92" },
  { image: "boot64.rom", how: "x86kvm run --bios guest-images/bin/boot64.rom",
    proves: "a ROM at F000:FFF0 booting real mode → protected mode → long mode, exceptions at CPL0 and CPL3, SYSCALL/SYSRET" },
  { image: "w0.rom", how: "x86kvm run --bios guest-images/bin/w0.rom",
    proves: "the start-up benchmark anchor: reset → long mode → isa-debug-exit (status (0<<1)|1 = 1)" },
];

export function guestImagesDir(): string | null {
  // dist/x86kvm.mjs → ../guest-images (also hypervisor/cli/… when run from sources)
  for (const rel of ["../guest-images", "../../guest-images"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(p, "expected.json"))) return p;
  }
  return null;
}

export function demoCommand(io: Io, maxInsns = 10_000_000): number {
  const dir = guestImagesDir();
  if (!dir) { io.stderr("x86kvm demo: guest-images/ not found next to the package\n"); return 2; }
  const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")).images as Record<string, { exit: string; status: number; stdout: string }>;
  io.stdout(`x86kvm demo: the bundled guest images on the default CPU model (sapphire-rapids)\n`);
  let ok = 0;
  for (const d of DEMO) {
    const bytes = new Uint8Array(readFileSync(join(dir, "bin", d.image)));
    const out: number[] = [];
    const m = new Machine({ console: { write: (b) => out.push(...b) } });
    m.load(detectKind(bytes, d.image), bytes);
    const t0 = performance.now();
    const r = m.run(maxInsns);
    const ms = performance.now() - t0;
    const text = Buffer.from(out).toString("latin1");
    const want = expected[d.image];
    const pass = r.exit === want.exit && r.status === want.status && text === want.stdout;
    if (pass) ok++;
    io.stdout(`\n${d.image}  (${d.how})\n  ${pass ? "proved" : "would prove"}: ${d.proves}\n`);
    for (const line of text.split("\n").filter((l) => l !== "")) io.stdout(`  | ${line}\n`);
    io.stdout(`  ${pass ? "ok" : "NOT YET"}: exit ${r.exit}, status ${r.status}, ${r.insns} instructions in ${ms.toFixed(1)} ms` +
      (pass ? "\n" : ` (expected exit ${want.exit}, status ${want.status}${text === want.stdout ? "" : ", and different console output"})\n`));
  }
  io.stdout(`\n${ok} of ${DEMO.length} images behave as guest-images/expected.json says.\n`);
  return ok === DEMO.length ? 0 : 1;
}
