// `x86kvm scenarios` end to end: the JSON contract (exactly six fields), the row filter, the HTML
// report (rows, the per-step XSAVE header data it carries, a script that parses), usage errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const CLI = join(root, "dist/x86kvm.mjs");
const tmp = mkdtempSync(join(tmpdir(), "x86kvm-scen-"));
const x86kvm = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });

test("--json: an array of {scenario, source, destination, vmm, outcome, detail}, exactly", () => {
  const r = x86kvm("scenarios", "--scenario", "S4,S6", "--json");
  assert.is(r.status, 0, r.stderr);
  const cells = JSON.parse(r.stdout) as Record<string, string>[];
  assert.is(cells.length, 8);
  for (const c of cells) {
    assert.equal(Object.keys(c), ["scenario", "source", "destination", "vmm", "outcome", "detail"]);
    assert.match(c.scenario, /^S[46]$/);
    assert.match(c.source, /^[a-z-]+:(5\.17-rc5|6\.5|6\.8|6\.19)$/);
    assert.ok(["strict", "qemu"].includes(c.vmm));
    assert.ok(c.detail.length > 0);
  }
  const s4 = cells.filter((c) => c.scenario === "S4").map((c) => c.outcome);
  assert.equal(s4, ["host-oops", "host-oops", "host-oops", "ok"]);
  const s6 = cells.filter((c) => c.scenario === "S6").map((c) => c.outcome);
  assert.equal(s6, ["ok", "migration-refused: KVM_SET_XSAVE -EINVAL", "ok", "ok"]);
});

test("the table names every scenario and says how many cells match §10", () => {
  const r = x86kvm("scenarios", "--scenario", "s6");
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /# S6: state_test's dummy vCPU/);
  assert.match(r.stdout, /S6 +icelake-server:6\.5 +icelake-server:6\.5 +strict +migration-refused: KVM_SET_XSAVE -EINVAL/);
  assert.match(r.stdout, /4 cells: 4 as kernel-abi\.md §10 says/);
});

test("--html: the matrix, each cell's steps with header bits, and a script that runs", () => {
  const f = join(tmp, "report.html");
  const r = x86kvm("scenarios", "--scenario", "S5", "--html", f);
  assert.is(r.status, 0, r.stderr);
  const h = readFileSync(f, "utf8");
  assert.is((h.match(/<tr data-i=/g) ?? []).length, 4);
  const script = /<script>([\s\S]*)<\/script>/.exec(h)![1];
  const cells = JSON.parse(/const CELLS = (.*);\n/.exec(script)![1]);
  const set = cells[0].steps.find((s: { label: string }) => s.label.startsWith("KVM_SET_XSAVE"));
  assert.is(set.buffer.xstate_bv.startsWith("0x"), true);
  assert.is((BigInt(set.buffer.xstate_bv) >> 18n) & 1n, 1n, "the buffer put back holds XTILEDATA");
  // run the page's script against a minimal DOM: it renders the first cell's steps
  const rows = Array.from({ length: 4 }, (_, i) => ({ dataset: { i: String(i) }, classList: { add() {}, remove() {} }, addEventListener() {} }));
  const steps = { innerHTML: "" };
  const document = {
    querySelectorAll: (q: string) => (q.startsWith("tbody") ? rows : []),
    querySelector: () => rows[0],
    getElementById: () => steps,
  };
  vm.runInNewContext(script, { document, BigInt });
  assert.match(steps.innerHTML, /KVM_SET_XSAVE/);
  assert.match(steps.innerHTML, /18 XTILEDATA/);
});

test("usage errors: an unknown scenario, --html outside 'scenarios', an unwritable report", () => {
  const a = x86kvm("scenarios", "--scenario", "S9");
  assert.is(a.status, 2);
  assert.match(a.stderr, /'S9' is not one of S1\.\.S6/);
  const b = x86kvm("cpus", "--html", "x.html");
  assert.is(b.status, 2);
  assert.match(b.stderr, /--html belongs to 'scenarios'/);
  const c = x86kvm("scenarios", "--scenario", "S6", "--html", join(tmp, "no/such/dir/r.html"));
  assert.is(c.status, 2);
  assert.match(c.stderr, /cannot write/);
});

test.run();
