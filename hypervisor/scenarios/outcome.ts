// How a run's end becomes a scenario outcome. The guest images report what
// they see through the selftests' ucall (guest-images/src/lib): a GUEST_ASSERT
// after a migration means the guest found its registers changed under it
// (silent corruption made visible); an exception it has no handler for, a
// triple fault or a guest that never finishes is a crash; an oops of the
// modelled host kernel outranks anything the guest could say.
import type { RunResult } from "../vmm/machine";
import type { Outcome } from "./catalogue";

export function outcomeOfRun(r: RunResult): { outcome: Outcome; detail: string } {
  switch (r.exit) {
    case "host-oops": return { outcome: "host-oops", detail: "the host kernel oopsed in KVM_RUN" };
    case "done": case "hlt": return { outcome: "ok", detail: `guest finished (${r.exit})` };
    case "debug-exit": return r.status === 1 ? { outcome: "ok", detail: "guest finished (debug-exit 0)" }
      : { outcome: "guest-corruption", detail: `guest reported failure through isa-debug-exit (status ${r.status})` };
    case "guest-assert": return { outcome: "guest-corruption", detail: r.message ?? "GUEST_ASSERT failed" };
    case "guest-exception": return { outcome: "guest-crash", detail: r.message ?? "unhandled guest exception" };
    case "shutdown": return { outcome: "guest-crash", detail: "triple fault (KVM_EXIT_SHUTDOWN)" };
    case "budget": return { outcome: "guest-crash", detail: `the guest did not finish within ${r.insns} instructions` };
    default: return { outcome: "guest-crash", detail: r.message ?? `the VM stopped: ${r.exit}` };
  }
}
