// Differential test against the real /dev/kvm, for what does not depend on the
// host CPU model: API version, mmap size, capabilities, errno of bad
// requests/arguments, fresh-vCPU KVM_GET_REGS / KVM_GET_SREGS reset values,
// MSR/XCR/event defaults. test/kvm/kvmprobe.c performs the ioctls natively
// (no KVM_RUN, no XSAVE state) and prints JSON; probe_mirror.ts does the same
// sequence on a Host. Skips visibly without /dev/kvm or cc.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, accessSync, constants } from "node:fs";
import { execFileSync } from "node:child_process";
import { Host } from "../../hypervisor/host";
import { probe } from "./probe_mirror";

const root = new URL("../..", import.meta.url).pathname.replace(/build\/$/, "");
const src = root + "test/kvm/kvmprobe.c", bin = root + "build/kvmprobe";

function native(): Record<string, unknown> | string {
  if (!existsSync("/dev/kvm")) return "no /dev/kvm";
  try { accessSync("/dev/kvm", constants.R_OK | constants.W_OK); } catch { return "/dev/kvm not accessible"; }
  if (!existsSync(src)) return `${src} missing`;
  try {
    mkdirSync(root + "build", { recursive: true });
    execFileSync("cc", ["-O1", "-o", bin, src], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) { return `cc failed: ${(e as Error).message.split("\n")[0]}`; }
  const out = JSON.parse(execFileSync(bin, { encoding: "utf8" }));
  if (out.error) return out.error;
  return out;
}

const real = native();
if (typeof real === "string") {
  console.log(`SKIP differential vs /dev/kvm: ${real}`);
} else {
  for (const cpu of ["sapphire-rapids", "epyc-genoa"]) {
    test(`${cpu}: every probed value equals the real /dev/kvm's`, () => {
      const mine = probe(new Host({ cpu }));
      assert.equal(Object.keys(mine).sort(), Object.keys(real).sort(), "same keys");
      for (const k of Object.keys(real)) assert.equal(mine[k], real[k], k);
    });
  }
  test("the probe saw what kernel-abi.md / real-kvm.md record (API 12, KVM_CAP_XSAVE 1, reset CS/RIP/CR0)", () => {
    assert.is(real.api_version, 12);
    assert.is(real.cap_xsave, 1);
    assert.equal((real.regs as string[])[16], "0xfff0");
    assert.is((real.cs as { base: string }).base, "0xffff0000");
    assert.is(real.cr0, "0x60000010");
  });
}

test.run();
