// `--trace`: one line per executed instruction (address, bytes, iced-x86
// disassembly). The vCPU runs with KVM_GUESTDBG_SINGLESTEP-style debug exits
// (S_DBG_CTRL = DBG_ENABLE|DBG_SINGLESTEP), one instruction per run() —
// slow, and meant for debugging only. Every exception vector is intercepted
// too (S_EXC_BITMAP), so a faulting instruction is followed by an
// "exception" line before the CPU delivers it; otherwise the fault and the
// handler's first instruction would happen inside one step.
import type { Machine, RunResult } from "../vmm/machine";
import { KVM_EXIT, HOST_OOPS_STATUS } from "../vmm/machine";
import { codeLocation, readLinear } from "../debug/guestmem";
import type { Disassembler } from "../debug/disasm";
import { handle_wrmsr_exit } from "../kvm/x86";

const VECTORS = ["DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "MF", "TS", "NP", "SS", "GP", "PF", "15", "MF", "AC", "MC", "XM", "VE", "CP"];
const vecName = (v: number) => (v < VECTORS.length && v !== 15 ? `#${VECTORS[v]}` : `vector ${v}`);

function pad(h: string, n: number): string { return h.padStart(n, "0"); }

/** The trace line of the instruction at the current CS:RIP. */
export function traceLine(m: Machine, dis: Disassembler): string {
  const loc = codeLocation(m.cpu);
  const addr = loc.bitness === 64
    ? pad(loc.rip.toString(16), 16)
    : `${pad(loc.cs.toString(16), 4)}:${pad(loc.rip.toString(16), loc.bitness === 16 ? 4 : 8)}`;
  const bytes = readLinear(m.cpu, loc.lin, 15);
  if (bytes.length === 0) return `${addr}  <fetch from unmapped address 0x${loc.lin.toString(16)}>`;
  const d = dis.one(bytes, loc.bitness, loc.rip);
  const shown = bytes.subarray(0, d.length || Math.min(bytes.length, 8));
  const hexBytes = Array.from(shown, (b) => pad(b.toString(16), 2)).join(" ");
  return `${addr}  ${hexBytes.padEnd(3 * 10)}  ${d.text}`;
}

export function runTraced(m: Machine, maxInsns: number, dis: Disassembler, out: (line: string) => void): RunResult {
  const c = m.cpu, L = c.L;
  const start = c.insns;
  const dbg = c.u32(L.S_DBG_CTRL), bitmap = c.u32(L.S_EXC_BITMAP);
  c.setU32(L.S_DBG_CTRL, L.DBG_ENABLE | L.DBG_SINGLESTEP);
  c.setU32(L.S_EXC_BITMAP, 0xffffffff);
  const done = (r: Omit<RunResult, "insns">): RunResult => ({ ...r, insns: c.insns - start });
  // the steps run inside one KVM_RUN's FPU wrapper (guest fpstate in the CPU, the kernel's swap
  // at both ends), each step one VM-entry/exit, as Machine.run's KVM_RUN does
  const v = m.host.kvm.vcpuOf(m.vcpu.fd)!;
  m.host.kvm.vcpuLoad(v);
  let result: RunResult | null = null;
  try {
    const r = v.fpu.run(() => { result = steps(); return 0; });
    return result ?? done({ exit: "host-oops", status: r === -5 ? HOST_OOPS_STATUS : 4 });
  } finally {
    c.setU32(L.S_DBG_CTRL, dbg);
    c.setU32(L.S_EXC_BITMAP, bitmap);
  }
  function steps(): RunResult {
    for (;;) {
      if (c.insns - start >= maxInsns) return done({ exit: "budget", status: 124 });
      out(traceLine(m, dis));
      v.fpu.enterGuest();
      let reason = c.run(1);
      v.fpu.exitGuest();
      // an intercepted WRMSR: KVM's handler, then the step exit it gives (or back into the guest)
      if (reason === L.EXIT_VMX_MSR_WRITE) {
        const r = handle_wrmsr_exit(m.host.kvm, v);
        if (r < 0) continue;
        reason = r;
      }
      if (reason === KVM_EXIT.DEBUG) {
        const vec = c.i32(L.S_PEND_EXC);
        if (vec < 0) continue;          // the single-step exit
        const err = c.u32(L.S_PEND_EXC_HAS_ERR) ? ` error 0x${c.u32(L.S_PEND_EXC_ERR).toString(16)}` : "";
        const cr2 = vec === 14 ? ` cr2 0x${c.u64(L.S_CR2).toString(16)}` : "";
        out(`    exception ${vecName(vec)}${err}${cr2}`);
        // deliver the queued exception without running an instruction
        v.fpu.enterGuest();
        reason = c.run(0);
        v.fpu.exitGuest();
        if (reason === KVM_EXIT.INTR) continue;
      }
      const r = m.handleExit(reason);
      if (r) return done(r);
    }
  }
}
