// End-to-end tests of the x86kvm command: spawn `node dist/x86kvm.mjs` (built
// by `npm test`) the way a user or a CI script would, and check stdout,
// stderr and the exit status against the CLI contract (shared DESIGN.md) and
// guest-images/expected.json.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// build/test/cli/cli.test.test.mjs → repository root (also works from test/cli/)
const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const CLI = join(root, "dist/x86kvm.mjs");
const BIN = join(root, "guest-images/bin");
const tmp = mkdtempSync(join(tmpdir(), "x86kvm-cli-"));

interface Out { status: number | null; stdout: string; stderr: string }
function x86kvm(...args: string[]): Out {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: "latin1", timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lines = (s: string) => s.split("\n").filter((l) => l !== "");

interface Expected { kind: string; exit: string; status: number; stdout: string }
const expected = JSON.parse(readFileSync(join(root, "guest-images/expected.json"), "utf8")).images as Record<string, Expected>;
const imageArgs = (name: string) => (expected[name].kind === "rom" ? ["--bios", join(BIN, name)] : [join(BIN, name)]);

for (const [name, want] of Object.entries(expected)) {
  test(`run ${name}: expected console output and exit status ${want.status}`, () => {
    const r = x86kvm("run", ...imageArgs(name), "--max-insns", "5000000");
    assert.is(r.stdout, want.stdout);
    assert.is(r.status, want.status, r.stderr);
  });
}

test("a .rom given without --bios is run as a BIOS image", () => {
  const r = x86kvm("run", join(BIN, "w0.rom"));
  assert.is(r.stdout, expected["w0.rom"].stdout);
  assert.is(r.status, 1);
});

test("--json prints one summary object on stdout; the guest console moves to stderr", () => {
  const r = x86kvm("run", join(BIN, "hello64.elf"), "--json", "--kernel", "b3", "-m", "64M");
  assert.is(r.status, 0);
  assert.is(lines(r.stdout).length, 1);
  const j = JSON.parse(r.stdout);
  assert.is(j.exit, "hlt");
  assert.is(j.status, 0);
  assert.is(j.kind, "elf");
  assert.is(j.image, "hello64.elf");
  assert.is(j.console, expected["hello64.elf"].stdout);
  assert.is(r.stderr, expected["hello64.elf"].stdout);
  assert.ok(Number.isInteger(j.insns) && j.insns > 0);
  assert.is(j.host, "sapphire-rapids");
  assert.equal(j.kernel, { version: "6.8", id: "B3", modelled: true });
  assert.is(j.memory, 64 << 20);
  assert.match(j.rip, /^0x[0-9a-f]+$/);
});

const HEX64 = /^0x[0-9a-f]{1,16}$/;

test("--dump-state FILE writes the contract's JSON", () => {
  const file = join(tmp, "state.json");
  const r = x86kvm("run", join(BIN, "hello64.elf"), "--dump-state", file);
  assert.is(r.status, 0);
  assert.is(r.stdout, expected["hello64.elf"].stdout);
  const s = JSON.parse(readFileSync(file, "utf8"));
  assert.is(s.exit, "hlt");
  assert.ok(Number.isInteger(s.insns) && s.insns > 0);
  const regs = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"];
  for (const k of regs) assert.match(s.regs[k], HEX64, `regs.${k}`);
  for (const k of ["cs", "ds", "es", "fs", "gs", "ss"]) {
    assert.match(s.sregs[k].base, HEX64, `sregs.${k}.base`);
    assert.type(s.sregs[k].selector, "number");
    assert.type(s.sregs[k].limit, "number");
  }
  for (const k of ["cr0", "cr2", "cr3", "cr4", "efer"]) assert.match(s.sregs[k], HEX64, `sregs.${k}`);
  assert.match(s.xcr0, HEX64);
  for (const k of ["xfd", "xfd_err", "xss", "pkru"]) assert.match(s.msrs[k], HEX64, `msrs.${k}`);
  // long mode as the ELF loader set it up; hello64 ends on the HLT at 0x100015
  assert.is(s.regs.rip, "0x100016");
  assert.is(s.sregs.cs.selector, 8);
  assert.is(BigInt(s.sregs.efer) & 0x500n, 0x500n);   // LME | LMA
  assert.is(BigInt(s.sregs.cr0) >> 31n, 1n);          // PG
  // XSAVE image: KVM_CAP_XSAVE2-sized for sapphire-rapids (AMX: 11008 bytes), MXCSR reset value, standard format
  assert.match(s.xsave, /^[0-9a-f]+$/);
  assert.is(s.xsave.length, 2 * 11008);
  const x = Buffer.from(s.xsave, "hex");
  assert.is(x.readUInt32LE(24), 0x1f80);
  assert.is(x.readBigUInt64LE(520), 0n);               // XCOMP_BV
  // a model without AMX: the 4096-byte minimum of KVM_GET_XSAVE
  const r2 = x86kvm("run", join(BIN, "hello64.elf"), "--host", "haswell", "--dump-state", file);
  assert.is(r2.status, 0);
  assert.is(JSON.parse(readFileSync(file, "utf8")).xsave.length, 2 * 4096);
  // --cpu edits reach the guest's CPUID: without AMX, leaf 0xD no longer reports the 8 KiB tile area
  const r3 = x86kvm("run", join(BIN, "hello64.elf"), "--cpu", "host,-amx-tile", "--dump-state", file);
  assert.is(r3.status, 0);
  assert.is(JSON.parse(readFileSync(file, "utf8")).xsave.length, 2 * 4096);
});

test("--dump-state - with --json: still exactly one object on stdout", () => {
  const r = x86kvm("run", join(BIN, "hello64.elf"), "--dump-state", "-", "--json");
  assert.is(r.status, 0);
  const j = JSON.parse(r.stdout);
  assert.is(j.exit, "hlt");
  assert.is(j.state.regs.rip, "0x100016");
  assert.is(j.state.insns, j.insns);
});

test("--max-insns: exit status 124 and exit 'budget' after exactly N instructions", () => {
  const r = x86kvm("run", join(BIN, "hello64.elf"), "--max-insns", "10", "--json");
  assert.is(r.status, 124);
  const j = JSON.parse(r.stdout);
  assert.is(j.exit, "budget");
  assert.is(j.insns, 10);
  const d = x86kvm("run", join(BIN, "hello64.elf"), "--max-insns", "25", "--dump-state", "-");
  assert.is(d.status, 124);
  assert.is(JSON.parse(d.stdout).insns, 25);
});

test("a truncated ELF: status 2 and one line on stderr", () => {
  const elf = readFileSync(join(BIN, "hello64.elf"));
  for (const [n, what] of [[40, "ELF header"], [100, "program headers"]] as const) {
    const f = join(tmp, `trunc${n}.elf`);
    writeFileSync(f, elf.subarray(0, n));
    const r = x86kvm("run", f);
    assert.is(r.status, 2);
    assert.is(r.stdout, "");
    assert.is(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^x86kvm: truncated ELF: ${what} ends at \\d+, file has ${n} bytes\\n$`));
  }
});

test("a bad image with --json: the one line on stderr and an error object on stdout", () => {
  const f = join(tmp, "trunc-json.elf");
  writeFileSync(f, readFileSync(join(BIN, "hello64.elf")).subarray(0, 40));
  const r = x86kvm("run", f, "--json");
  assert.is(r.status, 2);
  assert.is(lines(r.stderr).length, 1);
  const j = JSON.parse(r.stdout);
  assert.is(j.exit, "image-error");
  assert.is(j.status, 2);
  assert.match(j.error, /^truncated ELF/);
});

test("an unreadable image or an empty flat image: status 2, one line", () => {
  for (const r of [x86kvm("run", join(tmp, "nonexistent.bin")), (writeFileSync(join(tmp, "empty.bin"), ""), x86kvm("run", join(tmp, "empty.bin")))]) {
    assert.is(r.status, 2);
    assert.is(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^x86kvm: /);
  }
});

test("usage errors: unknown flag, bad values, missing image → status 2 and a hint", () => {
  const cases: [string[], RegExp][] = [
    [["run", join(BIN, "hello64.elf"), "--bogus"], /Unknown option '--bogus'/],
    [["run"], /missing IMAGE/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [[], /missing command/],
    [["run", join(BIN, "hello64.elf"), "-m", "12Q"], /invalid memory size '12Q'/],
    [["run", join(BIN, "hello64.elf"), "-m", "1"], /outside/],
    [["run", join(BIN, "hello64.elf"), "--max-insns", "many"], /--max-insns: expected a positive integer/],
    [["run", join(BIN, "hello64.elf"), "--host", "pentium"], /--host: unknown CPU model 'pentium'/],
    [["run", join(BIN, "hello64.elf"), "--kernel", "4.19"], /--kernel: unknown kernel '4.19'/],
    [["run", join(BIN, "hello64.elf"), "--cpu", "host,+warp_drive"], /--cpu: unknown feature 'warp_drive'/],
    [["run", join(BIN, "hello64.elf"), "--cpu", "haswell"], /--cpu: expected 'host/],
    [["run", join(BIN, "hello64.elf"), "--bios", join(BIN, "w0.rom")], /either IMAGE or --bios/],
    [["cpus", "--trace"], /--trace belongs to 'run'/],
    [["run", join(BIN, "hello64.elf"), "--dump-state", join(tmp, "no/such/dir/state.json")], /--dump-state: cannot write .*ENOENT/],
  ];
  for (const [args, msg] of cases) {
    const r = x86kvm(...args);
    assert.is(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.match(r.stderr, /Try 'x86kvm --help'\.\n$/);
    assert.is(r.stdout, "");
  }
});

test("valid --cpu, --kernel aliases, --host and -m values are accepted", () => {
  for (const args of [
    ["--cpu", "host,-avx512f,+pku,sse4.1=on,avx512_bf16=off,-amx-tile"], ["--kernel", "b1"], ["--kernel", "5.17-rc5"], ["--kernel", "6.19"],
    ["--host", "epyc-genoa"], ["--host", "icelake-server", "-m", "256M"], ["--memory", "65536K"],
  ]) {
    const r = x86kvm("run", join(BIN, "hello64.elf"), ...args);
    assert.is(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.is(r.stdout, expected["hello64.elf"].stdout);
  }
});

test("-m 3072M: the largest guest RAM works for every image kind (host allocations above 2 GiB)", () => {
  for (const [args, status] of [[["--bios", join(BIN, "w0.rom")], 1], [[join(BIN, "hello64.elf")], 0]] as const) {
    const r = x86kvm("run", "-m", "3072M", ...args);
    assert.is(r.status, status, r.stderr);
  }
});

test("-s/--gdb: a guest that ends before gdb attaches runs like a plain run; bad ports and combinations are usage errors", () => {
  for (const args of [["--gdb", "0"], ["-s", "0"]]) {
    const r = x86kvm("run", join(BIN, "hello64.elf"), ...args);
    assert.is(r.status, 0);
    assert.is(r.stdout, "hello from long mode\n");
    assert.match(r.stderr, /gdb stub listening on 127\.0\.0\.1:\d+/);
  }
  const bad = x86kvm("run", join(BIN, "hello64.elf"), "--gdb", "99999");
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--gdb: expected a TCP port/);
  const combo = x86kvm("run", join(BIN, "hello64.elf"), "-s", "-S", "--trace");
  assert.is(combo.status, 2);
  assert.match(combo.stderr, /do not combine with the gdb stub/);
});

test("--help and --version", () => {
  const h = x86kvm("--help");
  assert.is(h.status, 0);
  for (const s of ["run IMAGE", "--bios ROM", "--max-insns", "--dump-state", "--trace", "--json", "--kernel", "--cpu host", "-s [PORT], --gdb", "124"]) {
    assert.ok(h.stdout.includes(s), `help mentions ${s}`);
  }
  assert.match(h.stdout, /--host-event KIND\[@WHERE\]/);
  assert.match(h.stdout, /6 host kernel oops/);
  const v = x86kvm("--version");
  assert.is(v.status, 0);
  assert.match(v.stdout, /^x86kvm \d+\.\d+\.\d+\n$/);
});

test("cpus: every model with its XCR0 from CPUID leaf 0xD", () => {
  const r = x86kvm("cpus");
  assert.is(r.status, 0);
  const row = (name: string) => lines(r.stdout).find((l) => l.startsWith(name + " ") || l.startsWith(name + "*"));
  for (const name of ["sapphire-rapids", "icelake-server", "skylake-server", "haswell", "epyc-genoa"]) assert.ok(row(name), name);
  assert.match(row("sapphire-rapids")!, /^sapphire-rapids\*\s+intel\s+0x602e7\s+11008\s+x87 sse avx .*xtilecfg xtiledata/);
  assert.match(row("haswell")!, /0x7\s+832\s+x87 sse avx$/);
  const j = JSON.parse(x86kvm("cpus", "--json").stdout);
  const spr = j.find((m: { name: string }) => m.name === "sapphire-rapids");
  assert.is(spr.xcr0, "0x602e7");
  assert.ok(spr.xsaveFeatures.includes("xfd"));
  assert.ok(spr.features.includes("amx_tile"));
});

test("--trace: one line per executed instruction with address and disassembly", () => {
  // (not with --json: the guest console would share stderr with the trace)
  const file = join(tmp, "trace-state.json");
  const r = x86kvm("run", join(BIN, "hello64.elf"), "--trace", "--dump-state", file);
  assert.is(r.status, 0);
  assert.is(r.stdout, expected["hello64.elf"].stdout);
  const j = JSON.parse(readFileSync(file, "utf8"));
  const trace = lines(r.stderr);
  assert.is(trace.length, j.insns);
  for (const l of trace) assert.match(l, /^[0-9a-f]{16}  ([0-9a-f]{2} )+\s+\S/);
  // the first instructions of guest-images/src/hello64.S (objdump -d agrees)
  assert.match(trace[0], /^0000000000100000  48 8d 35 11 00 00 00\s+lea rsi, \[rel 0x100018\]$/);
  assert.match(trace[1], /^0000000000100007  8a 06\s+mov al, \[rsi\]$/);
  assert.match(trace[2], /^0000000000100009  84 c0\s+test al, al$/);
  assert.match(trace[4], /^000000000010000d  e6 e9\s+out 0xe9, al$/);
  assert.match(trace[trace.length - 1], /\shlt$/);
  // tracing does not change what the guest does
  assert.is(j.insns, JSON.parse(x86kvm("run", join(BIN, "hello64.elf"), "--json").stdout).insns);
});

test("--trace in real mode prints CS:IP and 16-bit disassembly", () => {
  const r = x86kvm("run", join(BIN, "realmode.bin"), "--trace", "--max-insns", "3");
  assert.is(r.status, 124);
  const t = lines(r.stderr);
  assert.match(t[0], /^0000:7c00  fa\s+cli$/);
  assert.match(t[2], /^0000:7c02  ea 07 7c 00 00\s+jmp 0(x0)?:0x7c07$/);
});

test("--trace shows an exception before its delivery, then the handler", () => {
  // real mode: IVT[6] = 0000:7C12; ud2; the #UD handler is a hlt
  const img = join(tmp, "ud.bin");
  writeFileSync(img, Uint8Array.of(
    0x31, 0xc0,                               // 7c00 xor ax, ax
    0x8e, 0xd8,                               // 7c02 mov ds, ax
    0xc7, 0x06, 0x18, 0x00, 0x12, 0x7c,       // 7c04 mov word [0x18], 0x7c12
    0xc7, 0x06, 0x1a, 0x00, 0x00, 0x00,       // 7c0a mov word [0x1a], 0
    0x0f, 0x0b,                               // 7c10 ud2
    0xf4,                                     // 7c12 hlt
  ));
  const r = x86kvm("run", img, "--trace");
  assert.is(r.status, 0, r.stderr);
  const t = lines(r.stderr);
  assert.is(t.length, 7);
  assert.match(t[4], /^0000:7c10  0f 0b\s+ud2$/);
  assert.is(t[5], "    exception #UD");
  assert.match(t[6], /^0000:7c12  f4\s+hlt$/);
});

test("demo runs the bundled images and reports each", () => {
  const r = x86kvm("demo");
  for (const img of ["hello64.elf", "realmode.bin", "boot64.rom", "w0.rom"]) assert.ok(r.stdout.includes(`\n${img}  (`), img);
  assert.match(r.stdout, /hello64\.elf[^]*?\n  ok: exit hlt, status 0/);
  assert.match(r.stdout, /w0\.rom[^]*?\n  ok: exit debug-exit, status 1/);
  const ok = +(/(\d) of 4 images behave/.exec(r.stdout)?.[1] ?? -1);
  assert.ok(ok >= 2, r.stdout);
  assert.is(r.status, ok === 4 ? 0 : 1);
});

test("the package's main export is the library, without running the command", () => {
  const code = `
    import * as x from ${JSON.stringify(CLI)};
    const bytes = new Uint8Array((await import("node:fs")).readFileSync(${JSON.stringify(join(BIN, "hello64.elf"))}));
    let out = "";
    const m = new x.Machine({ model: "haswell", console: { write: (b) => { out += Buffer.from(b).toString("latin1"); } } });
    m.load(x.detectKind(bytes, "hello64.elf"), bytes);
    const r = m.run(1e6);
    console.log(JSON.stringify({ r, out, models: x.modelNames(), kernels: x.KERNELS.length, wasm: typeof x.WasmCpu, cpuid: x.buildCpuid(x.getModel("haswell")).length > 0 }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: tmp, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.r.exit, "hlt");
  assert.is(j.out, expected["hello64.elf"].stdout);
  assert.ok(j.models.includes("sapphire-rapids"));
  assert.is(j.kernels, 4);
  assert.is(j.wasm, "function");
  assert.ok(j.cpuid);
});

test("the command also runs through a symlink (npm's bin link)", () => {
  const link = join(tmp, "x86kvm");
  symlinkSync(CLI, link);
  const r = spawnSync(link, ["--version"], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^x86kvm /);
});

// kernel-abi.md §10 S4 from the command line: guest-images/src/amx-xfd-irq.S loads TMM0 with XFD
// clear, sets IA32_XFD[18] (an intercepted WRMSR: a VM exit KVM handles inside KVM_RUN), then
// OUT 0x80 and HLT.
test("--host-event irq-fpu@wrmsr:0x1c4: S4 oopses the host under B1–B3 (status 6, oops on stderr), not under B4", () => {
  const elf = join(BIN, "amx-xfd-irq.elf");
  for (const k of ["b1", "b2", "b3"]) {
    const r = x86kvm("run", elf, "--kernel", k, "--host-event", "irq-fpu@wrmsr:0x1c4", "--json");
    assert.is(r.status, 6, `${k}: ${r.stderr}`);
    const j = JSON.parse(r.stdout);
    assert.is(j.exit, "host-oops", k);
    assert.is(j.hostEvents.length, 1, k);
    assert.is(j.hostEvents[0].kind, "irq-fpu");
    assert.is(j.hostEvents[0].exitReason, 0x10020, "the WRMSR's KVM-internal exit");
    assert.is(j.hostEvents[0].msr, 0x1c4);
    assert.is(j.hostEvents[0].port, undefined);
    assert.is(j.hostEvents[0].oops, "switch_fpu_return", k);
    assert.match(r.stderr, /switch_fpu_return/);
  }
  const ok = x86kvm("run", elf, "--kernel", "b4", "--host-event", "irq-fpu@wrmsr:0x1c4", "--json");
  assert.is(ok.status, 0, ok.stderr);
  const j = JSON.parse(ok.stdout);
  assert.is(j.exit, "hlt");
  assert.is(j.hostEvents.length, 1);
  assert.is(j.hostEvents[0].oops, undefined);
  // without the event every kernel runs the guest to HLT (§10 S4, last line); so does an event at
  // a later exit (the guest's OUT 0x80, after the WRMSR's handler)
  assert.is(x86kvm("run", elf, "--kernel", "b3").status, 0);
  const late = x86kvm("run", elf, "--kernel", "b3", "--host-event", "irq-fpu@io:0x80", "--json");
  assert.is(late.status, 0, late.stderr);
  assert.is(JSON.parse(late.stdout).hostEvents[0].port, 0x80);
});

test("--host-event: a bad kind or place is a usage error (status 2, nothing on stdout)", () => {
  for (const [arg, re] of [["irq@io:0x80", /expected irq-fpu\|preempt/], ["preempt@io:zz", /expected a positive integer/], ["preempt@port:1", /unknown place 'port:1'/], ["irq-fpu@wrmsr:0x100000000", /beyond 0xffffffff/]] as const) {
    const r = x86kvm("run", join(BIN, "hello64.elf"), "--host-event", arg);
    assert.is(r.status, 2, arg);
    assert.match(r.stderr, re);
    assert.match(r.stderr, /Try 'x86kvm --help'\.\n$/);
    assert.is(r.stdout, "");
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
