// `x86kvm selftest NAME [--host MODEL] [--kernel K] [--json]`: a KVM selftest's host half
// (hypervisor/vmm/selftests) over its guest image from guest-images/bin.
// Exit status: 0 pass, 6 host oops, 8 GUEST_ASSERT failed, 10 unhandled guest exception,
// 12 a host-side check failed (an ioctl returned an error, a compare failed), 14 skipped (the host
// model lacks what the test needs, like KSFT_SKIP), 124 instruction budget used up, 2 usage.
import { SELFTESTS } from "../vmm/selftests/index";
import { getModel } from "../models/models";
import { getKernel, DEFAULT_KERNEL } from "../kernels";
import { UsageError } from "./options";
import { DEFAULT_HOST, type Io } from "./run";

export interface SelftestCliOptions { name?: string; host?: string; kernel?: string; json?: boolean }

export function selftestCommand(o: SelftestCliOptions, io: Io): number {
  const names = Object.keys(SELFTESTS).join(", ");
  if (!o.name) throw new UsageError(`selftest: missing NAME (${names})`);
  const t = SELFTESTS[o.name];
  if (!t) throw new UsageError(`selftest: unknown test '${o.name}' (${names})`);
  let host: string, kernel: string;
  try { host = getModel(o.host ?? DEFAULT_HOST).name; } catch (e) { throw new UsageError(`--host: ${(e as Error).message}`); }
  try { kernel = getKernel(o.kernel ?? DEFAULT_KERNEL).version; } catch (e) { throw new UsageError(`--kernel: ${(e as Error).message}`); }
  const console_ = (s: string) => (o.json ? io.stderr : io.stdout)(s);
  const t0 = performance.now();
  const r = t.run({ host, kernel, console: console_ });
  const wallMs = Math.round((performance.now() - t0) * 1000) / 1000;
  if (r.oops) io.stderr(r.oops + "\n");
  if (o.json) {
    const { oops: _oops, ...rest } = r;
    io.stdout(JSON.stringify({ ...rest, image: t.image, wallMs }) + "\n");
  } else {
    const verdict = r.outcome === "pass" ? "PASS" : r.outcome === "skip" ? "SKIP" : `FAIL (${r.outcome})`;
    io.stdout(`selftest ${r.name} on ${r.host}, kernel ${r.kernel} (${r.behaviour}): ${verdict}, stage ${r.stage}, ${r.syncs.length} GUEST_SYNCs\n  ${r.message}\n`);
  }
  return r.status;
}
