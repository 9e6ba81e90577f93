// migrate() end to end on the library: the PKRU-leak path of kernel-abi.md §10 S1/S2/S3 with its
// outcome words, the XSAVE header at each step, refusals before any ioctl, and the source resuming.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { guestImagePath } from "../../hypervisor/vmm/selftests/harness";
import { migrate, parseEndpoint, guestCpuid, type MigrateOptions } from "../../hypervisor/vmm/migration";
import { getModel } from "../../hypervisor/models/models";
import { readFileSync } from "node:fs";

/** the migration tests' guest (guest-images/src/migrate-check.S) */
const ELF = new Uint8Array(readFileSync(guestImagePath("migrate-check.elf")));

const M = (o: Partial<MigrateOptions>) => migrate({ image: ELF, memory: 4 << 20, from: "icelake-server:b1", to: "icelake-server:b1", console: { write: () => {} }, ...o });

test("parseEndpoint takes HOST:KERNEL with versions or aliases", () => {
  assert.equal(parseEndpoint("icelake-server:b1"), { host: "icelake-server", kernel: "5.17-rc5" });
  assert.equal(parseEndpoint("skylake-server:6.19"), { host: "skylake-server", kernel: "6.19" });
  assert.throws(() => parseEndpoint("icelake-server"), /HOST:KERNEL/);
  assert.throws(() => parseEndpoint("nosuch:6.19"));
  assert.throws(() => parseEndpoint("icelake-server:4.0"));
});

test("same host and kernel: ok, the guest's own checks pass after the move", () => {
  const r = M({});
  assert.is(r.outcome, "ok", r.detail);
  assert.is(r.destination?.run?.exit, "done");
  assert.is(r.restore?.complete, true);
  assert.equal(r.source.save.map((x) => x.name)[0], "KVM_RUN");
  assert.ok(r.stream && r.stream.bytes > 0);
});

test("S1 (the bug path): icelake-server:b1 → skylake-server:6.19, guest CPUID baseline (no PKU), strict → migration-refused: KVM_SET_XSAVE -EINVAL", () => {
  const r = M({ to: "skylake-server:6.19", cpu: { base: "baseline" } });
  assert.is(r.outcome, "migration-refused: KVM_SET_XSAVE -EINVAL");
  assert.is(r.detail, "KVM_SET_XSAVE: XSTATE_BV 0x207 has bit 9 (PKRU) outside supported_xcr0 0xe7");
  assert.is(r.destination?.run, undefined, "the destination never ran");
  assert.is(r.source.resumed?.exit, "done", "the source carries on to the end");
  assert.equal(r.restore?.skipped, ["KVM_SET_XCRS", "KVM_SET_MSRS", "KVM_SET_VCPU_EVENTS", "KVM_SET_MP_STATE", "KVM_SET_DEBUGREGS"]);
  const steps = r.xsave.map((x) => `${x.where}:${x.step}:${x.xstateBv}`);
  assert.ok(steps.includes("source:source fpstate at the save:0x207"), steps.join("\n"));
  assert.ok(steps.includes("stream:KVM_GET_XSAVE2 buffer:0x207"));
  assert.ok(steps.includes("destination:after KVM_SET_XSAVE (-EINVAL):0x0"));
});

test("S3: the same under the qemu personality → guest-corruption (its GUEST_ASSERT on XMM3 fires)", () => {
  const r = M({ to: "skylake-server:6.19", cpu: { base: "baseline" }, vmm: "qemu" });
  assert.is(r.outcome, "guest-corruption");
  assert.match(r.detail, /^KVM_SET_XSAVE failed \(-EINVAL: XSTATE_BV 0x207 has bit 9 \(PKRU\) outside supported_xcr0 0xe7\); the qemu VMM ignored it and skipped KVM_SET_XCRS, .*; then migrate-check\.S:\d+: GUEST_ASSERT\(xmm3\[63:0\] == 0x1122334455667788\) failed: 0x0 vs 0x1122334455667788$/);
  assert.is(r.destination?.run?.exit, "guest-assert");
});

test("S1 from a B2/B3/B4 source: XSTATE_BV without PKRU, the migration succeeds under both personalities", () => {
  for (const k of ["b2", "b3", "b4"]) for (const vmm of ["strict", "qemu"] as const) {
    const r = M({ from: `icelake-server:${k}`, to: "skylake-server:6.19", cpu: { base: "baseline" }, vmm });
    assert.is(r.outcome, "ok", `${k} ${vmm}: ${r.detail}`);
    assert.is(r.xsave.find((x) => x.where === "stream")?.xstateBv, "0x7");
  }
});

test("S2: icelake-server:b1 → icelake-server with a PKU-less guest: B2 refuses (user_xfeatures), B1/B3/B4 take it", () => {
  const cpu = { remove: ["pku"] };
  const b2 = M({ to: "icelake-server:b2", cpu });
  assert.is(b2.outcome, "migration-refused: KVM_SET_XSAVE -EINVAL");
  assert.match(b2.detail, /outside the guest fpstate's user_xfeatures 0xe7/);
  assert.is(M({ to: "icelake-server:b2", cpu, vmm: "qemu" }).outcome, "guest-corruption");
  for (const k of ["b1", "b3", "b4"]) assert.is(M({ to: `icelake-server:${k}`, cpu }).outcome, "ok", k);
});

test("the literal 'host,-pku' icelake guest on skylake: refused before any ioctl, like QEMU's enforce, naming the features", () => {
  const r = M({ to: "skylake-server:6.19", cpu: { remove: ["pku"] } });
  assert.is(r.outcome, "migration-refused: incompatible");
  assert.match(r.detail, /guest CPUID needs avx512ifma, .*avx512vbmi.*, which host skylake-server lacks/);
  assert.not.match(r.detail, /\bpku\b/);
  assert.equal(r.restore, undefined);
  assert.is(r.source.resumed?.exit, "done");
});

test("guest CPU choices: baseline = both hosts' features; a model name; +/- edits", () => {
  const ice = getModel("icelake-server"), sky = getModel("skylake-server");
  const bl = guestCpuid({ base: "baseline" }, ice, sky);
  const l7 = bl.find((e) => e.fn === 7 && e.idx === 0)!;
  assert.is((l7.ecx >>> 3) & 1, 0, "no PKU");
  assert.is(bl.find((e) => e.fn === 0xd && e.idx === 0)!.eax, 0xe7);
  const named = guestCpuid({ base: "haswell" }, ice, sky);
  assert.is(named.find((e) => e.fn === 0xd && e.idx === 0)!.eax, 0x7);
});

test("a stream damaged in transit is refused (migration-refused: stream) and the source resumes", () => {
  const r = M({ transit: (b) => { const c = b.slice(); c[c.length - 100] ^= 1; return c; } });
  assert.is(r.outcome, "migration-refused: stream");
  assert.match(r.detail, /^checksum mismatch in section MEMS/);
  assert.is(r.source.resumed?.exit, "done");
});

test("--at-sync beyond the guest's syncs: the source finished first, said so", () => {
  const r = M({ atSync: 9 });
  assert.is(r.outcome, "ok");
  assert.match(r.detail, /^source stopped before GUEST_SYNC 9: guest finished \(done\)/);
  const r3 = M({ atSync: 3, to: "icelake-server:b4" });
  assert.is(r3.outcome, "ok", r3.detail);
  assert.is(r3.destination?.run?.exit, "done");
});

test.run();
