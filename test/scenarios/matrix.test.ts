// The S1–S6 matrix against kernel-abi.md §10, written out here independently of
// hypervisor/scenarios/catalogue.ts so a slip in either shows up, plus the XSAVE
// header bits the report claims at the steps that decide each bug.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runMatrix, imagesFrom, type CellResult } from "../../hypervisor/scenarios/run";
import { catalogue } from "../../hypervisor/scenarios/catalogue";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const images = imagesFrom(join(root, "guest-images"));
const K = ["5.17-rc5", "6.5", "6.8", "6.19"];
const REFUSED = "migration-refused: KVM_SET_XSAVE -EINVAL";

// §10, cell by cell: [scenario, source kernel, destination kernel, vmm, outcome]
const SPEC: [string, string, string, string, string][] = [
  ...K.flatMap((s) => K.map((d): [string, string, string, string, string] => ["S1", s, d, "strict", s === "5.17-rc5" ? REFUSED : "ok"])),
  ...K.map((d): [string, string, string, string, string] => ["S2", "5.17-rc5", d, "strict", d === "6.5" ? REFUSED : "ok"]),
  ...K.map((d): [string, string, string, string, string] => ["S3", "5.17-rc5", d, "qemu", d === "6.5" ? "guest-corruption" : "ok"]),
  ...K.map((d): [string, string, string, string, string] => ["S3", "5.17-rc5", d, "qemu", "guest-corruption"]),
  ...K.map((k): [string, string, string, string, string] => ["S4", k, k, "strict", k === "6.19" ? "ok" : "host-oops"]),
  ...K.map((k): [string, string, string, string, string] => ["S5", k, k, "strict", k === "6.19" ? "ok" : "host-oops"]),
  ...K.map((k): [string, string, string, string, string] => ["S6", k, k, "strict", k === "6.5" ? REFUSED : "ok"]),
];

let cells: CellResult[] = [];
test.before(() => { cells = runMatrix(images); });

test("the catalogue has exactly the cells of §10, each expecting what §10 says", () => {
  const got = catalogue().map((c) => [c.scenario, c.source.split(":")[1], c.destination.split(":")[1], c.vmm, c.expected]);
  assert.equal(got, SPEC);
});

test("every cell's outcome equals §10", () => {
  const bad = cells.filter((c) => !c.pass).map((c) => `${c.scenario} ${c.source} → ${c.destination} ${c.vmm}: ${c.outcome} (${c.detail}), expected ${c.expected}`);
  assert.equal(bad, []);
  assert.equal(cells.map((c) => c.outcome), SPEC.map((s) => s[4]));
});

test("hosts: S1 Host-P → Host-N, S2/S3 Host-P → Host-P or Host-N, S4/S5 Host-A, S6 Host-P", () => {
  const host = (s: string) => s.split(":")[0];
  for (const c of cells) {
    const pair = `${host(c.source)}>${host(c.destination)}`;
    if (c.scenario === "S1") assert.is(pair, "icelake-server>skylake-server");
    if (c.scenario === "S2") assert.is(pair, "icelake-server>icelake-server");
    if (c.scenario === "S4" || c.scenario === "S5") assert.is(pair, "sapphire-rapids>sapphire-rapids");
    if (c.scenario === "S6") assert.is(pair, "icelake-server>icelake-server");
  }
});

const bit = (h: string | undefined, i: number) => (h === undefined ? -1 : Number((BigInt(h) >> BigInt(i)) & 1n));

test("S4 steps: the image saved at the WRMSR exit holds the tiles (XSTATE_BV[18]) except under B4", () => {
  for (const c of cells.filter((c) => c.scenario === "S4")) {
    const atExit = c.steps.find((s) => s.label.includes("WRMSR IA32_XFD exit"));
    assert.ok(atExit, c.source);
    assert.is(bit(atExit!.fpstate?.xfd, 18), 1, `${c.source}: fps->xfd[18] set by the exit handler`);
    assert.is(bit(atExit!.fpstate?.xstate_bv, 18), c.source.endsWith("6.19") ? 0 : 1, c.source);
  }
});

test("S5 steps: the stage-1 buffer has XSTATE_BV[18]; after KVM_SET_XSAVE the kernel image keeps it except under B4", () => {
  for (const c of cells.filter((c) => c.scenario === "S5")) {
    const get = c.steps.find((s) => s.label.startsWith("KVM_GET_XSAVE2"));
    const set = c.steps.find((s) => s.label.startsWith("KVM_SET_XSAVE"));
    assert.ok(get && set, `${c.source}: ${c.detail}`);
    assert.is(bit(get!.buffer?.xstate_bv, 18), 1, c.source);
    assert.is(set!.result, "0");
    assert.is(bit(set!.fpstate?.xfd, 18), 1, `${c.source}: the guest's XFD[18] is in fps->xfd`);
    assert.is(bit(set!.fpstate?.xstate_bv, 18), c.source.endsWith("6.19") ? 0 : 1, c.source);
  }
});

test("S6 steps: user_xfeatures after KVM_SET_CPUID2(nent=0) is FP|SSE only under B2", () => {
  for (const c of cells.filter((c) => c.scenario === "S6")) {
    const after = c.steps.find((s) => s.label.includes("nent = 0"));
    assert.is(after?.fpstate?.user_xfeatures, c.source.endsWith("6.5") ? "0x3" : "0x2e7", c.source);
  }
});

test("S1/S2 steps: the source's KVM_GET_XSAVE leaks XSTATE_BV[9] (PKRU) only under B1", () => {
  for (const c of cells.filter((c) => c.scenario === "S1" || c.scenario === "S2")) {
    const get = c.steps.find((s) => s.label.startsWith("KVM_GET_XSAVE"));
    assert.ok(get, `${c.scenario} ${c.source}: ${c.detail}`);
    assert.is(bit(get!.buffer?.xstate_bv, 9), c.source.endsWith("5.17-rc5") ? 1 : 0, `${c.scenario} ${c.source}`);
  }
});

test.run();
