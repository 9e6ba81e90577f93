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
import { gdbRunCommand, parseGdbPort, DEFAULT_GDB_PORT } from "./gdb";

export const USAGE = `x86kvm ${version} — an x86-64 machine in WebAssembly with a model of Linux KVM's guest FPU handling

Usage:
  x86kvm run IMAGE [options]        run an ELF64 (long mode, CPL0) or a flat image (0000:7C00, real mode)
  x86kvm run --bios ROM [options]   run a firmware ROM (ends at 0xFFFFF and 0xFFFFFFFF; starts at F000:FFF0)
  x86kvm cpus [--json]              list the CPU models and their XSAVE features (CPUID leaf 0xD)
  x86kvm demo                       run the bundled guest images and say what each proved (npm start)
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
                         io:PORT (at the exit for an IN/OUT on PORT) or insns:N
      --dump-state FILE  write the final vCPU state as JSON to FILE ('-' = stdout)
      --trace            print every executed instruction (address, bytes, disassembly) on stderr
      --json             print one JSON summary object on stdout at exit (guest console → stderr)
  -s [PORT], --gdb PORT  gdb remote stub on 127.0.0.1 (default port 1234; 0 = any free port)
  -S                     with the stub: wait for gdb before the first instruction
  -h, --help

Devices: port 0xE9 debug console and COM1 (0x3F8) → stdout; port 0xF4 isa-debug-exit; port 0x92 A20.

Exit status: the guest's isa-debug-exit status (value v → (v<<1)|1, always odd), 0 when the guest
halts, 2 triple fault (shutdown), bad image or usage error, 4 internal error (unhandled exit),
6 host kernel oops (the oops text goes to stderr), 70 emulator crash, 124 --max-insns used up.
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
  gdb: { type: "string" },
  "gdb-default": { type: "boolean", short: "s" },
  "wait-gdb": { type: "boolean", short: "S" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
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
    json = v.json === true && positionals[0] === "run";
    const [cmd, ...rest] = positionals;
    if (v.version) { io.stdout(`x86kvm ${version}\n`); return 0; }
    if (v.help || cmd === "help") { io.stdout(USAGE); return 0; }
    if (cmd === undefined) throw new UsageError("missing command (run, cpus, demo)");
    const runOnly = ["bios", "memory", "max-insns", "host", "cpu", "kernel", "host-event", "dump-state", "trace", "gdb", "gdb-default", "wait-gdb"] as const;
    if (cmd !== "run") {
      const bad = runOnly.find((k) => v[k] !== undefined);
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
      case "demo":
        if (rest.length || v.json) throw new UsageError(`demo takes no arguments`);
        return demoCommand(io);
      default:
        throw new UsageError(`unknown command '${cmd}' (run, cpus, demo)`);
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
