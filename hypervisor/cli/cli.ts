// The x86kvm command: argument parsing (node:util parseArgs) and dispatch.
import { parseArgs } from "node:util";
import { version } from "../../package.json";
import { ImageError } from "../vmm/loader";
import { MODELS, modelNames } from "../models/models";
import { KERNELS, DEFAULT_KERNEL } from "../kernels";
import { UsageError } from "./options";
import { runCommand, DEFAULT_HOST, type Io } from "./run";
import { cpusText, cpuInfo } from "./cpus";
import { demoCommand } from "./demo";
import { scenariosCommand } from "./scenarios";
import { migrateCommand, runSaveCommand, runRestoreCommand } from "./migrate";
import { runStdio, startServer } from "../debug/dap/main";
import { selftestCommand } from "./selftest";
import { gdbRunCommand, parseGdbPort, DEFAULT_GDB_PORT } from "./gdb";

export const USAGE = `x86kvm ${version} — an x86-64 machine in WebAssembly with a model of Linux KVM's guest FPU handling

Usage:
  x86kvm run IMAGE [options]        run an ELF64 (long mode, CPL0) or a flat image (0000:7C00, real mode)
  x86kvm run --bios ROM [options]   run a firmware ROM (ends at 0xFFFFF and 0xFFFFFFFF; starts at F000:FFF0)
  x86kvm run IMAGE --save FILE [--at-sync N]   run to the Nth GUEST_SYNC (or the end), write a migration stream
  x86kvm run --restore FILE [--host M] [--kernel K] [--vmm strict|qemu]   rebuild the guest from a stream, run it
  x86kvm migrate IMAGE --from HOST:KERNEL --to HOST:KERNEL [--vmm strict|qemu] [--at-sync N] [--cpu …] [--json]
                                    live-migrate a guest between two modelled hosts and say what happened
  x86kvm scenarios [--json] [--html FILE] [--scenario S1,S4]
                                    the bug scenarios S1–S6 over kernel behaviours, hosts and VMM
                                    personalities: outcome and why per cell (npm start)
  x86kvm selftest NAME [--host MODEL] [--kernel VERSION] [--json]
                                    a KVM selftest's host half over its guest image: state,
                                    amx, amx-2026, xcr0-cpuid (exit 0 pass, 6 host oops,
                                    8 guest assert, 10 guest exception, 12 host-side check
                                    failed, 14 skipped: the host model lacks a feature)
  x86kvm dap [--server=PORT]        VS Code debug adapter (DAP) on stdin/stdout, or a server on 127.0.0.1:PORT;
                                    a launch request takes 'program' or 'bios' and the run options (README)
  x86kvm cpus [--json]              list the CPU models and their XSAVE features (CPUID leaf 0xD)
  x86kvm demo                       run the bundled guest images and say what each proved
  x86kvm --help | --version

Image kinds: ELF is detected by its magic; NAME.rom is taken as --bios; anything else is flat.

Run options:
  -m, --memory SIZE      guest RAM, K/M/G suffix, bare number = MiB (default 128M)
      --max-insns N      stop after N instructions (exit status 124)
      --host MODEL       CPU model (default ${DEFAULT_HOST}): ${modelNames().join(", ")}
      --cpu host[,+f,-f] guest CPUID: the host model with features added/removed (QEMU style;
                         also f=on|off); QEMU or /proc/cpuinfo spellings (sse4.1, avx512_bf16);
                         each model's list: 'x86kvm cpus --json'
      --kernel VERSION   host kernel behaviour: ${KERNELS.map((k) => `${k.version} (${k.alias})`).join(", ")};
                         default ${DEFAULT_KERNEL}: the guest-FPU code behind KVM_RUN and the XSAVE ioctls
      --host-event KIND[@WHERE]
                         a host event in the vCPU thread (repeatable): KIND irq-fpu (an interrupt
                         whose handler uses the FPU) or preempt; WHERE next-exit (default),
                         io:PORT (at the exit for an IN/OUT on PORT), wrmsr:MSR (at the exit
                         for an intercepted WRMSR, e.g. wrmsr:0x1c4 = IA32_XFD) or insns:N
      --dump-state FILE  write the final vCPU state as JSON to FILE ('-' = stdout)
      --trace            print every executed instruction (address, bytes, disassembly) on stderr
      --json             print one JSON summary object on stdout at exit (guest console → stderr)
  -s [PORT], --gdb PORT  gdb remote stub on 127.0.0.1 (default port 1234; 0 = any free port)
  -S                     with the stub: wait for gdb before the first instruction
  -h, --help

Migration options (migrate; --save/--restore on run):
      --from/--to HOST:KERNEL   source and destination (e.g. icelake-server:5.17-rc5, skylake-server:b4)
      --vmm strict|qemu  strict: a failed restore ioctl aborts the migration (default); qemu: a failed
                         KVM_SET_XSAVE is ignored and the rest of the register put skipped
      --at-sync N        migrate/save at the guest's Nth GUEST_SYNC (migrate: default 1)
      --cpu host|baseline|MODEL[,+f,-f]   migrate's guest CPU: the --from model, the features both
                         hosts share, or a model; then QEMU-style edits
      --save FILE / --restore FILE      write / read a migration stream (README: stream format)

Devices: port 0xE9 debug console and COM1 (0x3F8) → stdout; port 0xF4 isa-debug-exit; port 0x92 A20;
port 0x1000 the KVM selftests' ucall (GUEST_SYNC / PRINTF / DONE / ASSERT; README).

Exit status: the guest's isa-debug-exit status (value v → (v<<1)|1, always odd), 0 when the guest
halts, 2 triple fault (shutdown), bad image or usage error, 4 internal error (unhandled exit),
6 host kernel oops (the oops text goes to stderr), 8 GUEST_ASSERT, 10 unhandled guest exception,
12 migration refused (a strict VMM's restore ioctl failed, or the destination cannot host the guest),
70 emulator crash, 124 --max-insns used up. A corrupt, truncated or incompatible --restore stream: 2.
`;

const RUN_OPTIONS = {
  bios: { type: "string" },
  memory: { type: "string", short: "m" },
  "max-insns": { type: "string" },
  host: { type: "string" },
  cpu: { type: "string" },
  kernel: { type: "string" },
  "host-event": { type: "string", multiple: true },
  "dump-state": { type: "string" },
  trace: { type: "boolean" },
  json: { type: "boolean" },
  html: { type: "string" },
  scenario: { type: "string" },
  gdb: { type: "string" },
  "gdb-default": { type: "boolean", short: "s" },
  "wait-gdb": { type: "boolean", short: "S" },
  from: { type: "string" },
  to: { type: "string" },
  vmm: { type: "string" },
  "at-sync": { type: "string" },
  save: { type: "string" },
  restore: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  server: { type: "string" },
} as const;

export const defaultIo: Io = {
  stdout: (s) => { process.stdout.write(s); },
  stderr: (s) => { process.stderr.write(s); },
};

/** Run the command line; returns the exit status. */
export async function cli(argv: string[], io: Io = defaultIo): Promise<number> {
  let json = false;
  try {
    const { values: v, positionals } = parseArgs({ args: argv, options: RUN_OPTIONS, allowPositionals: true, strict: true });
    json = v.json === true && (positionals[0] === "run" || positionals[0] === "migrate");
    const scenarioOnly = ["html", "scenario"] as const;
    if (positionals[0] !== "scenarios") {
      const bad = scenarioOnly.find((k) => v[k] !== undefined);
      if (bad) throw new UsageError(`option --${bad} belongs to 'scenarios'`);
    }
    const [cmd, ...rest] = positionals;
    if (v.version) { io.stdout(`x86kvm ${version}\n`); return 0; }
    if (v.help || cmd === "help") { io.stdout(USAGE); return 0; }
    if (cmd === undefined) throw new UsageError("missing command (run, migrate, scenarios, selftest, cpus, demo, dap)");
    if (v.server !== undefined && cmd !== "dap") throw new UsageError("option --server belongs to 'dap'");
    const runOnly = ["bios", "memory", "max-insns", "host", "cpu", "kernel", "host-event", "dump-state", "trace", "gdb", "gdb-default", "wait-gdb"] as const;
    if (cmd === "migrate") {
      const bad = (["bios", "host", "kernel", "host-event", "dump-state", "trace", "gdb", "gdb-default", "wait-gdb", "save", "restore"] as const).find((k) => v[k] !== undefined);
      if (bad) throw new UsageError(`option --${bad} does not apply to 'migrate' (use --from/--to HOST:KERNEL)`);
      if (rest.length > 1) throw new UsageError(`migrate takes one IMAGE, got ${rest.length}: ${rest.join(" ")}`);
      return migrateCommand({ image: rest[0], from: v.from, to: v.to, vmm: v.vmm, atSync: v["at-sync"], cpu: v.cpu, memory: v.memory, maxInsns: v["max-insns"], json: v.json }, io);
    }
    if (cmd !== "run") {
      const bad = [...runOnly, "from", "to", "vmm", "at-sync", "save", "restore"].find((k) => v[k as keyof typeof v] !== undefined && !(cmd === "selftest" && (k === "host" || k === "kernel")));
      if (bad) throw new UsageError(`option ${bad === "gdb-default" ? "-s" : bad === "wait-gdb" ? "-S" : `--${bad}`} belongs to 'run'`);
    }
    switch (cmd) {
      case "run": {
        let image = rest[0], gdbPort: number | undefined;
        if (v.gdb !== undefined) gdbPort = parseGdbPort(v.gdb);
        else if (v["gdb-default"] || v["wait-gdb"]) {
          // -s takes an optional PORT (QEMU's -s has none; `-s 2345` is accepted too)
          if (v["gdb-default"] && rest.length === 2 && /^\d+$/.test(rest[1])) { gdbPort = parseGdbPort(rest[1]); rest.pop(); }
          else gdbPort = DEFAULT_GDB_PORT;
        }
        if (rest.length > 1) throw new UsageError(`run takes one IMAGE, got ${rest.length}: ${rest.join(" ")}`);
        image = rest[0];
        if (gdbPort !== undefined && (v.save !== undefined || v.restore !== undefined)) throw new UsageError("-s/-S do not combine with --save/--restore");
        if (v.from !== undefined || v.to !== undefined) throw new UsageError("--from/--to belong to 'migrate'");
        if (v.save !== undefined || v.restore !== undefined) {
          if (v.save !== undefined && v.restore !== undefined) throw new UsageError("give either --save or --restore, not both");
          const bad = (["host-event", "dump-state", "trace"] as const).find((k) => v[k] !== undefined);
          if (bad) throw new UsageError(`--${bad} cannot be combined with --save/--restore`);
          const so = { image, bios: v.bios, save: v.save, restore: v.restore, atSync: v["at-sync"], host: v.host, kernel: v.kernel, cpu: v.cpu, memory: v.memory, maxInsns: v["max-insns"], vmm: v.vmm, json: v.json };
          return v.save !== undefined ? runSaveCommand(so, io) : runRestoreCommand(so, io);
        }
        if (v.vmm !== undefined || v["at-sync"] !== undefined) throw new UsageError("--vmm and --at-sync go with --save/--restore or 'migrate'");
        if (gdbPort !== undefined) {
          if (v.trace || v["dump-state"] !== undefined || v.json || v["max-insns"] !== undefined) throw new UsageError("--trace, --dump-state, --json and --max-insns do not combine with the gdb stub");
          return await gdbRunCommand({ image, bios: v.bios, memory: v.memory, host: v.host, cpu: v.cpu, kernel: v.kernel, hostEvents: v["host-event"] }, gdbPort, v["wait-gdb"] === true, io);
        }
        return runCommand({
          image, bios: v.bios, memory: v.memory, maxInsns: v["max-insns"], host: v.host, cpu: v.cpu, kernel: v.kernel,
          dumpState: v["dump-state"], trace: v.trace, json: v.json, hostEvents: v["host-event"],
        }, io);
      }
      case "cpus":
        if (rest.length) throw new UsageError(`cpus takes no arguments`);
        io.stdout(v.json ? JSON.stringify(MODELS.map(cpuInfo), null, 2) + "\n" : cpusText(DEFAULT_HOST));
        return 0;
      case "scenarios":
        if (rest.length) throw new UsageError(`scenarios takes no arguments (use --scenario S1,S2 to pick)`);
        return scenariosCommand({ json: v.json, html: v.html, scenario: v.scenario }, io);
      case "demo":
        if (rest.length || v.json) throw new UsageError(`demo takes no arguments`);
        return demoCommand(io);
      case "selftest":
        if (rest.length > 1) throw new UsageError(`selftest takes one NAME, got ${rest.length}: ${rest.join(" ")}`);
        return selftestCommand({ name: rest[0], host: v.host, kernel: v.kernel, json: v.json }, io);
      case "dap": {
        if (rest.length || v.json) throw new UsageError("dap takes no arguments but --server=PORT");
        if (v.server === undefined) return await runStdio();
        const port = /^\d+$/.test(v.server) ? Number(v.server) : NaN;
        if (!(port >= 0 && port <= 65535)) throw new UsageError(`--server: expected a TCP port, got '${v.server}'`);
        const server = await startServer(port);
        const addr = server.address();
        io.stderr(`x86kvm dap: listening on 127.0.0.1:${typeof addr === "object" && addr ? addr.port : port}\n`);
        return await new Promise<number>(() => {});   // serves until killed
      }
      default:
        throw new UsageError(`unknown command '${cmd}' (run, migrate, scenarios, selftest, cpus, demo, dap)`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      // parseArgs appends advice about '--' to unknown-option messages: keep the first sentence
      const msg = (e as Error).message.split("\n")[0].replace(/\. To specify a positional argument.*$/, "");
      io.stderr(`x86kvm: ${msg}\nTry 'x86kvm --help'.\n`);
      return 2;
    }
    if (e instanceof ImageError) {
      io.stderr(`x86kvm: ${e.message}\n`);
      // --json promises one object on stdout: say what happened there too
      if (json) io.stdout(JSON.stringify({ exit: "image-error", status: 2, error: e.message }) + "\n");
      return 2;
    }
    io.stderr(`x86kvm: emulator error: ${(e as Error).stack ?? e}\n`);
    return 70;
  }
}
