// `x86kvm selftest NAME --kernel bN --json` for every selftest × kernel behaviour, against
// guest-images/expected.json "selftests" (kernel-abi.md §9): outcome, exit status, last stage and
// number of GUEST_SYNCs; the text form, the oops on stderr, skip on a host without AMX, usage errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const CLI = join(root, "dist/x86kvm.mjs");
const expected = JSON.parse(readFileSync(join(root, "guest-images/expected.json"), "utf8")).selftests;

function x86kvm(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: "latin1", timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NAMES = ["state", "amx", "amx-2026", "xcr0-cpuid"];
test("expected.json lists the four selftests", () => {
  assert.equal(Object.keys(expected).filter((k) => NAMES.includes(k)).sort(), [...NAMES].sort());
});

for (const name of NAMES) {
  for (const k of ["b1", "b2", "b3", "b4"]) {
    const want = expected[name][k];
    test(`x86kvm selftest ${name} --kernel ${k}: ${want.outcome}, status ${want.status}, stage ${want.stage}`, () => {
      const r = x86kvm("selftest", name, "--host", expected.host, "--kernel", k, "--json");
      assert.is(r.status, want.status, r.stderr);
      const lines = r.stdout.split("\n").filter((l) => l);
      assert.is(lines.length, 1, "one JSON object on stdout");
      const j = JSON.parse(lines[0]);
      assert.is(j.name, name);
      assert.is(j.outcome, want.outcome, j.message);
      assert.is(j.pass, want.outcome === "pass");
      assert.is(j.stage, want.stage, `stage (${JSON.stringify(j.syncs)})`);
      assert.is(j.syncs.length, want.syncs);
      assert.is(j.behaviour, k.toUpperCase());
      assert.is(j.image, expected[name].image);
      if (want.outcome === "host-oops") assert.match(r.stderr, /WARNING.*exc_device_not_available/);
    });
  }
}

test("text form: verdict line and the reason; B2 state_test names the failing dummy-vCPU step", () => {
  const r = x86kvm("selftest", "state", "--kernel", "6.5");
  assert.is(r.status, 12);
  assert.match(r.stdout, /^state-test: stage 1\n/);
  assert.match(r.stdout, /^selftest state on sapphire-rapids, kernel 6\.5 \(B2\): FAIL \(host-assert\), stage 1/m);
  assert.match(r.stdout, /dummy vCPU step 3 \(KVM_SET_CPUID2 with nent = 0.*EINVAL/);
  const ok = x86kvm("selftest", "xcr0-cpuid", "--host", "epyc-genoa");
  assert.is(ok.status, 0);
  assert.match(ok.stdout, /: PASS, stage 58, 1 GUEST_SYNCs/);
});

test("amx on a host without AMX: skip, status 14", () => {
  for (const n of ["amx", "amx-2026"]) {
    const r = x86kvm("selftest", n, "--host", "icelake-server", "--json");
    assert.is(r.status, 14);
    assert.is(JSON.parse(r.stdout).outcome, "skip");
  }
});

test("usage errors: no name, unknown name, run-only options: status 2", () => {
  for (const args of [["selftest"], ["selftest", "nope"], ["selftest", "state", "--max-insns", "5"], ["selftest", "state", "--kernel", "4.0"]]) {
    const r = x86kvm(...args);
    assert.is(r.status, 2, args.join(" "));
    assert.match(r.stderr, /^x86kvm: /);
  }
});

test.run();
