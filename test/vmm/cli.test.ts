// `x86kvm migrate` and `x86kvm run --save/--restore` end to end: spawn node dist/x86kvm.mjs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { guestImagePath } from "../../hypervisor/vmm/selftests/harness";

/** the migration tests' guest (guest-images/src/migrate-check.S) */
const ELF = new Uint8Array(readFileSync(guestImagePath("migrate-check.elf")));

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const CLI = join(root, "dist/x86kvm.mjs");
const dir = mkdtempSync(join(tmpdir(), "x86kvm-mig-"));
const IMG = join(dir, "migrate-check.elf");
writeFileSync(IMG, ELF);
function x86kvm(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: "latin1", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("migrate, S1 under strict: the restore's ioctls, the outcome, status 12", () => {
  const r = x86kvm("migrate", IMG, "--from", "icelake-server:b1", "--to", "skylake-server:6.19", "--cpu", "baseline", "-m", "4M");
  assert.is(r.status, 12, r.stderr);
  assert.match(r.stdout, /^migrate: icelake-server:5\.17-rc5 -> skylake-server:6\.19, vmm strict, at GUEST_SYNC 1$/m);
  assert.match(r.stdout, /^ {2}KVM_SET_SREGS +0 /m);
  assert.match(r.stdout, /^ {2}KVM_SET_XSAVE +-EINVAL +XSTATE_BV 0x207 has bit 9 \(PKRU\) outside supported_xcr0 0xe7$/m);
  assert.match(r.stdout, /^ {2}KVM_SET_DEBUGREGS +skipped$/m);
  assert.match(r.stdout, /^outcome: migration-refused: KVM_SET_XSAVE -EINVAL$/m);
  assert.match(r.stdout, /^source resumed after the refused migration: done/m);
});

test("migrate --vmm qemu --json: one object, outcome guest-corruption, status 8 (the destination guest's)", () => {
  const r = x86kvm("migrate", IMG, "--from", "icelake-server:b1", "--to", "skylake-server:b4", "--cpu", "baseline", "-m", "4M", "--vmm", "qemu", "--json");
  assert.is(r.status, 8, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.outcome, "guest-corruption");
  assert.is(j.vmm, "qemu");
  assert.is(j.restore.failure.ioctl, "KVM_SET_XSAVE");
  assert.equal(j.restore.skipped.length, 5);
  assert.ok(Array.isArray(j.xsave) && j.xsave.length >= 5);
});

test("migrate ok between identical hosts at sync 2: status 0", () => {
  const r = x86kvm("migrate", IMG, "--from", "sapphire-rapids:6.19", "--to", "sapphire-rapids:6.19", "--at-sync", "2", "-m", "4M");
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^outcome: ok$/m);
});

test("migrate usage errors: status 2", () => {
  assert.is(x86kvm("migrate", IMG, "--from", "icelake-server:b1").status, 2);
  assert.match(x86kvm("migrate", IMG, "--from", "icelake-server", "--to", "skylake-server:b4").stderr, /--from: expected HOST:KERNEL/);
  assert.match(x86kvm("migrate", IMG, "--from", "icelake-server:b1", "--to", "skylake-server:b4", "--vmm", "libvirt").stderr, /--vmm: expected strict or qemu/);
  assert.is(x86kvm("run", IMG, "--vmm", "qemu").status, 2);
});

test("run --save at a sync, then run --restore on another kernel and with the qemu VMM", () => {
  const f = join(dir, "s.x86kvm");
  const s = x86kvm("run", IMG, "--host", "icelake-server", "--kernel", "b1", "-m", "4M", "--save", f, "--at-sync", "1");
  assert.is(s.status, 0, s.stderr);
  assert.match(s.stderr, /saved \d+ bytes to .* at GUEST_SYNC 1/);
  assert.ok(!existsSync(f + ".tmp"));
  const r = x86kvm("run", "--restore", f, "--kernel", "6.8", "--json");
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.exit, "done");
  assert.equal(j.source, { host: "icelake-server", kernel: "5.17-rc5", kernelId: "B1" });
  assert.is(j.kernel, "6.8");
  assert.is(j.restore.complete, true);
  // onto a host without PKU: enforce refuses the icelake guest CPUID; status 2, file untouched
  const before = readFileSync(f);
  const bad = x86kvm("run", "--restore", f, "--host", "skylake-server");
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /^x86kvm: .*: incompatible destination: guest CPUID needs .*which host skylake-server lacks/);
  assert.is(bad.stderr.trim().split("\n").length, 1, "one line");
  assert.ok(readFileSync(f).equals(before), "file untouched");
});

test("run --restore of a corrupt, truncated, foreign or missing stream: one line on stderr, status 2, the file untouched", () => {
  const f = join(dir, "c.x86kvm");
  assert.is(x86kvm("run", IMG, "-m", "4M", "--save", f, "--at-sync", "1").status, 0);
  const good = readFileSync(f);
  const cases: [string, Buffer, RegExp][] = [
    ["flip", Buffer.from(good.map((b, i) => (i === 2000 ? b ^ 0xff : b))), /checksum mismatch in section VCPU/],
    ["trunc", good.subarray(0, good.length >> 1), /^x86kvm: .*: truncated at byte \d+: section MEMS/],
    ["magic", Buffer.concat([Buffer.from("ELF!\0\0\0\0"), good.subarray(8)]), /not an x86kvm migration stream/],
    ["future", Buffer.from(good.map((b, i) => (i === 8 ? 9 : b))), /stream version 9 is newer than this x86kvm reads \(1\)/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = join(dir, `${name}.x86kvm`);
    writeFileSync(p, bytes);
    const r = x86kvm("run", "--restore", p);
    assert.is(r.status, 2, name);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split("\n").length, 1, `${name}: one line`);
    assert.is(r.stdout, "", name);
    assert.ok(readFileSync(p).equals(bytes), `${name}: file untouched`);
  }
  const r = x86kvm("run", "--restore", join(dir, "nope"));
  assert.is(r.status, 2);
});

test("run --save without --at-sync saves the finished guest; --restore runs it to the same end", () => {
  const f = join(dir, "end.x86kvm");
  assert.is(x86kvm("run", IMG, "-m", "4M", "--save", f).status, 0);
  const r = x86kvm("run", "--restore", f, "--json");
  assert.is(JSON.parse(r.stdout).exit, "hlt", "the restored guest sits after GUEST_DONE's HLT and runs on to the next HLT");
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
