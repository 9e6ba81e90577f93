// `x86kvm run IMAGE -s [PORT] [-S]`: the run under the gdb stub. The machine is
// the one `run` builds (resolveRun/createMachine via the debug engine); the
// stub listens on 127.0.0.1 only. Without -S the guest starts at once and a
// connecting gdb stops it; with -S it waits at the first instruction.
// The process ends when gdb kills the target (k / vKill: status of the run so
// far, 0 if it is still live), or, when the guest has ended (HLT, shutdown,
// debug-exit, host oops), once no client is connected — so a run whose guest
// ends before anyone attaches exits like a plain `run`.
import { DebugEngine, type Stop } from "../debug/engine";
import { GdbStub } from "../debug/gdbstub";
import { resolveRun, type RunOptions, type Io } from "./run";
import { UsageError } from "./options";

export const DEFAULT_GDB_PORT = 1234;

export function parseGdbPort(s: string): number {
  const m = /^(?:tcp:)?(?::|localhost:|127\.0\.0\.1:)?(\d+)$/.exec(s.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 0 && n <= 65535)) throw new UsageError(`--gdb: expected a TCP port (0-65535), got '${s}'`);
  return n;
}

function statusOf(st: Stop): number {
  if (st.live) return 0;
  return st.exit?.status ?? 0;
}

export async function gdbRunCommand(o: RunOptions, port: number, waitGdb: boolean, io: Io): Promise<number> {
  const { spec } = resolveRun(o);
  const engine = new DebugEngine(spec, { output: (b) => io.stdout(b) });
  let finish!: (status: number) => void;
  const done = new Promise<number>((r) => { finish = r; });
  const stub = new GdbStub(engine, {
    port,
    log: (l) => io.stderr(`x86kvm: ${l}\n`),
    onKill: () => finish(statusOf(engine.lastStop)),
    onDetach: () => { if (!engine.lastStop.live) finish(statusOf(engine.lastStop)); },
  });
  let actual: number;
  try { actual = await stub.listen(); } catch (e) {
    throw new UsageError(`--gdb: cannot listen on 127.0.0.1:${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  io.stderr(`x86kvm: gdb stub listening on 127.0.0.1:${actual}${waitGdb ? " (waiting for gdb before the first instruction)" : ""}\n`);
  if (!waitGdb) {
    void stub.runFree().then((st) => {
      if (!st.live && !stub.connected) finish(statusOf(st));
      else if (!st.live) io.stderr(`x86kvm: ${st.text}; gdb is attached: waiting for it to detach\n`);
    });
  }
  const status = await done;
  stub.close();
  engine.dispose();
  const st = engine.lastStop;
  if (st.reason === "host-oops" && st.oops) io.stderr(st.oops + "\n");
  return status;
}
