// test/guest-images/guest_lib.test.ts — the guests built on lib/guest.inc (the selftest-style
// library: ucall, GUEST_SYNC/ASSERT, exception reporting):
//  - every `runs` configuration of expected.json through `node dist/x86kvm.mjs run` (host model,
//    --cpu edits) gives its exit and status;
//  - pkru-migrate detects corruption: a register changed by the host at its migration point
//    (KVM_SET_XSAVE / KVM_SET_MSRS at GUEST_SYNC(1), Machine.run with stopAtSync) ends the run as
//    guest-assert naming that register, with the library's file:line and both values;
//  - an exception the guest has no handler for ends as guest-exception with its vector (CR4.OSXSAVE
//    cleared at the sync → #UD from XGETBV; amx-test on a host without AMX → #GP);
//  - amx-xfd-set-xsave with the S5 host actions: host oops under B1–B3, done under B4, as
//    expected.json's withHostHalf says.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Machine } from "../../hypervisor/vmm/machine";
import { KVM_CAP } from "../../hypervisor/uapi/consts";
import { ImageVm, runSelftest } from "../../hypervisor/vmm/selftests/harness";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const CLI = join(root, "dist/x86kvm.mjs");
const BIN = join(root, "guest-images/bin");
const expected = JSON.parse(readFileSync(join(root, "guest-images/expected.json"), "utf8"));
const KERNELS = ["b1", "b2", "b3", "b4"] as const;

function x86kvm(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: "latin1", timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const libImages = Object.entries<any>(expected.images).filter(([name]) => {
  const src = join(root, "guest-images/src", name.replace(/\.elf$/, ".S"));
  return existsSync(src) && /\.include "lib\/guest\.inc"/.test(readFileSync(src, "utf8"));
});

test("the library's images: the six of issue 5 and the migration tests' guest", () => {
  assert.equal(libImages.map(([n]) => n).sort(),
    ["amx-test-2026.elf", "amx-test.elf", "amx-xfd-set-xsave.elf", "migrate-check.elf", "pkru-migrate.elf", "state-test.elf", "xcr0-cpuid-test.elf"]);
});

for (const [name, e] of libImages) {
  for (const run of e.runs ?? []) {
    const args = ["--host", run.host, ...(run.cpu ? ["--cpu", run.cpu] : [])];
    test(`x86kvm run ${name} ${args.join(" ")}: exit ${run.exit}, status ${run.status}`, () => {
      const r = x86kvm("run", join(BIN, name), ...args, "--json", "--max-insns", "5000000");
      const j = JSON.parse(r.stdout);
      assert.is(j.exit, run.exit, r.stderr);
      assert.is(r.status, run.status, r.stderr);
      if (run.exit === "done") assert.is(j.console, e.stdout);
    });
  }
}

test("x86kvm run pkru-migrate.elf under every kernel behaviour: done, status 0", () => {
  for (const k of KERNELS) {
    const r = x86kvm("run", join(BIN, "pkru-migrate.elf"), "--host", "icelake-server", "--cpu", "host,-pku", "--kernel", k);
    assert.is(r.status, 0, `${k}: ${r.stderr}`);
    assert.is(r.stdout, expected.images["pkru-migrate.elf"].stdout);
  }
});

/** pkru-migrate on a Machine, stopped at its migration point */
function atSync(model = "icelake-server", kernel = "6.19") {
  const out: number[] = [];
  const m = new Machine({ model, kernel, memory: 8 << 20, cpuEdits: { remove: ["pku"] }, console: { write: (b) => { out.push(...b); } } });
  m.load("elf", readFileSync(join(BIN, "pkru-migrate.elf")));
  const r = m.run(5_000_000, { stopAtSync: true });
  assert.is(r.exit, "sync");
  assert.is(r.ucall!.args[1], 1n, "GUEST_SYNC(1)");
  assert.is(r.ucall!.args[2], 0xe7n, "args[2]: the XCR0 it uses (x87|SSE|AVX|AVX-512, no PKRU)");
  const size = m.vm.checkExtension(KVM_CAP.XSAVE2);
  return { m, xsave: m.vcpu.getXsave2(size), console: () => Buffer.from(out).toString("latin1") };
}

/** run on from the sync: the guest stops at its GUEST_ASSERT of `expr` (with the values a, b where given) */
function firstAssert(m: Machine, expr: string, a?: bigint, b?: bigint) {
  const r = m.run(5_000_000);
  assert.is(r.exit, "guest-assert", expr);
  assert.is(r.status, 8);
  assert.is(r.ucall!.assert!.expr, expr);
  if (a !== undefined) assert.is(r.ucall!.assert!.a, a, `${expr}: a`);
  if (b !== undefined) assert.is(r.ucall!.assert!.b, b, `${expr}: b`);
  return r;
}

test("pkru-migrate: untouched at the sync, it runs to done", () => {
  const { m, xsave } = atSync();
  m.vcpu.setXsave(xsave);                                              // a faithful restore
  const r = m.run(5_000_000);
  assert.is(r.exit, "done");
  assert.is(r.status, 0);
});

test("pkru-migrate: saved, VM recreated and loaded (the selftests' migration idiom) at its sync under B1-B4 → done", () => {
  for (const kernel of KERNELS) {
    const t = new ImageVm(readFileSync(join(BIN, "pkru-migrate.elf")), { host: "icelake-server", kernel });
    const r = runSelftest("pkru-migrate", t, () => { t.migrate(); });
    assert.ok(r.pass, `${kernel}: ${r.message}`);
    assert.equal(r.syncs, [1]);
  }
});

test("pkru-migrate: XMM3 changed by KVM_SET_XSAVE at the sync → guest-assert naming xmm3, file:line and both values", () => {
  const { m, xsave } = atSync();
  const at = 160 + 3 * 16;                                             // legacy area: XMM3 low qword
  const dv = new DataView(xsave.buffer);
  const want = dv.getBigUint64(at, true);
  dv.setBigUint64(at, want ^ 0x10n, true);
  m.vcpu.setXsave(xsave);
  const r = m.run(5_000_000);
  assert.is(r.exit, "guest-assert");
  assert.is(r.status, 8);
  assert.is(r.ucall!.assert!.expr, "xmm3[63:0]");
  assert.is(r.ucall!.assert!.file, "pkru-migrate.S");
  assert.ok(r.ucall!.assert!.line > 100, `line ${r.ucall!.assert!.line}`);
  assert.is(r.ucall!.assert!.a, want ^ 0x10n);
  assert.is(r.ucall!.assert!.b, want);
  assert.match(r.message!, /^pkru-migrate\.S:\d+: GUEST_ASSERT\(xmm3\[63:0\]\) failed: 0x[0-9a-f]+ vs 0x[0-9a-f]+$/);
});

test("pkru-migrate: a ZMM upper half and an opmask changed → guest-assert naming each", () => {
  // ZMM_Hi256 component (2): offset from CPUID.(0xD,6).EBX; zmm5 bits 319:256 at +5*32
  for (const [comp, off, name] of [[6, 5 * 32, "zmm5[319:256]"], [5, 2 * 8, "k2"]] as const) {
    const { m, xsave } = atSync();
    const base = m.vcpu.getCpuid2().find((e) => e.fn === 0xd && e.idx === comp)!.ebx;
    const dv = new DataView(xsave.buffer);
    dv.setBigUint64(base + off, dv.getBigUint64(base + off, true) + 1n, true);
    m.vcpu.setXsave(xsave);
    firstAssert(m, name);
  }
});

test("pkru-migrate: FCW, MXCSR and ST0 reset (an init XSAVE image, as after a failed KVM_SET_XSAVE) → FCW is the first assert", () => {
  const { m, xsave } = atSync();
  const dv = new DataView(xsave.buffer);
  dv.setUint16(0, 0x37f, true);                                        // FCW default
  dv.setUint32(24, 0x1f80, true);                                      // MXCSR default
  m.vcpu.setXsave(xsave);
  firstAssert(m, "FCW", 0x37fn, 0xe7fn);
});

test("pkru-migrate: LSTAR lost (KVM_SET_MSRS 0 at the sync, as when the put stops early) → guest-assert LSTAR before any SYSCALL", () => {
  const { m } = atSync();
  assert.is(m.vcpu.setMsrs([{ index: 0xc0000082, data: 0n }]), 1);
  firstAssert(m, "LSTAR", 0n);
});

test("pkru-migrate: XCR0 reset to x87 at the sync (SET_XCRS never issued) → guest-assert XCR0, before any VEX instruction could #UD", () => {
  const { m } = atSync();
  m.vcpu.setXcrs({ nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 1n }] });
  firstAssert(m, "XCR0", 1n, 0xe7n);
});

test("pkru-migrate: the S3 destination (fresh vCPU state: init XSAVE image, XCR0 1) → the first assert is FCW", () => {
  const { m } = atSync();
  const fresh = new Uint8Array(m.vm.checkExtension(KVM_CAP.XSAVE2));
  const dv = new DataView(fresh.buffer);
  dv.setUint16(0, 0x37f, true);
  dv.setUint32(24, 0x1f80, true);
  dv.setBigUint64(512, 3n, true);                                      // XSTATE_BV = x87|SSE, all registers zero
  m.vcpu.setXsave(fresh);
  m.vcpu.setXcrs({ nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: 1n }] });
  firstAssert(m, "FCW");
});

test("pkru-migrate: CR4.OSXSAVE cleared at the sync → XGETBV raises #UD: guest-exception, vector 6, status 10", () => {
  const { m } = atSync();
  const s = m.vcpu.getSregs();
  m.vcpu.setSregs({ ...s, cr4: s.cr4 & ~0x40000n });
  const r = m.run(5_000_000);
  assert.is(r.exit, "guest-exception");
  assert.is(r.status, 10);
  assert.is(r.ucall!.args[0], 6n, "vector");
  assert.match(r.message!, /#UD \(vector 6\) at rip 0x10[0-9a-f]+/);
});

test("an unhandled exception through the CLI: amx-test.elf on a host without AMX → guest-exception #GP (vector 13), status 10", () => {
  const r = x86kvm("run", join(BIN, "amx-test.elf"), "--host", "epyc-genoa");
  assert.is(r.status, 10);
  assert.match(r.stderr, /unhandled exception #GP \(vector 13\) at rip 0x[0-9a-f]+, error code 0x0/);
});

for (const k of KERNELS) {
  const want = expected.images["amx-xfd-set-xsave.elf"].withHostHalf[k];
  test(`amx-xfd-set-xsave with the S5 host actions under ${k}: ${want.exit}, status ${want.status}`, () => {
    const m = new Machine({ kernel: k, memory: 8 << 20 });
    m.load("elf", readFileSync(join(BIN, "amx-xfd-set-xsave.elf")));
    let r = m.run(5_000_000, { stopAtSync: true });
    assert.is(r.exit, "sync");
    assert.is(r.ucall!.args[1], 1n);
    const img = m.vcpu.getXsave2(m.vm.checkExtension(KVM_CAP.XSAVE2));
    assert.is(new DataView(img.buffer).getBigUint64(512, true) & 0x40000n, 0x40000n, "stage 1 image: XSTATE_BV[18] = 1");
    const tiledata = m.readPhys(Number(r.ucall!.args[2]), 1024);
    assert.equal(img.slice(2816, 2816 + 1024), tiledata, "TMM0 at offset 2816");
    r = m.run(5_000_000, { stopAtSync: true });
    assert.is(r.exit, "sync");
    assert.is(r.ucall!.args[1], 2n);
    m.vcpu.setXsave(img);                                              // stuff XSTATE_BV[18] while XFD[18] = 1
    r = m.run(5_000_000);
    assert.is(r.exit, want.exit);
    assert.is(r.status, want.status);
    if (want.exit === "host-oops") assert.is(m.host.oops!.caller, "fpu_swap_kvm_fpstate");
    else assert.is(m.host.oops, null);
  });
}

test.run();
