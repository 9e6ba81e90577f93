// Tests of the native differential-testing harness itself (not the emulator).
// Run: npx esbuild test/native/native.test.ts --bundle --platform=node \
//        --format=esm --outfile=build/test/native.test.mjs && node build/test/native.test.mjs
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CODE_BASE,
  DATA_BASE,
  DATA_SIZE,
  DEFAULT_RSP,
  GPR,
  STACK_BASE,
  STACK_SIZE,
  VECTOR_SYSCALL,
  codeImage,
  fillData,
  fnv1a64,
  initialData,
  initialStack,
  memHash,
  nativeAvailable,
  nativeInfo,
  runNative,
  type NativeCase,
  type NativeResult,
} from './native';

const CF = 0x1n, PF = 0x4n, AF = 0x10n, ZF = 0x40n, SF = 0x80n, TF = 0x100n, DF = 0x400n, OF = 0x800n;
const STATUS_FLAGS = CF | PF | AF | ZF | SF | OF;

const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));

/** GPRs with defaults (zero, rsp = DEFAULT_RSP) overridden by name. */
function regs(set: Partial<Record<keyof typeof GPR, bigint>> = {}): bigint[] {
  const g = Array.from({ length: 16 }, (_, i) => (i === GPR.rsp ? DEFAULT_RSP : 0n));
  for (const [k, v] of Object.entries(set)) g[GPR[k as keyof typeof GPR]] = v as bigint;
  return g;
}

function one(c: NativeCase): NativeResult {
  return runNative([c])[0];
}

const h = (v: bigint): string => '0x' + v.toString(16);

/** Byte-array equality that reports the first mismatch instead of a 64K-line diff. */
function sameBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  assert.ok(actual, `${what}: missing`);
  assert.is(actual!.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    if (actual![i] !== expected[i])
      assert.unreachable(`${what}: byte 0x${i.toString(16)} is 0x${actual![i].toString(16)}, expected 0x${expected[i].toString(16)}`);
}

const avail = nativeAvailable();
if (!avail.ok) {
  console.log(`SKIP native: ${avail.reason}`);
} else {
  const inf = nativeInfo()!;
  console.log(
    `native harness: fsgsbase=${inf.fsgsbase} xsave=${inf.xsave} pku=${inf.pku} memfd=${inf.memfd} ` +
      `seccomp=${inf.seccomp} pie=${inf.pie} xcr0=${h(inf.xcr0)}`,
  );

  test('add rax, rbx: result, flags, RIP at the end of the code', () => {
    const [a, b] = runNative([
      { code: hex('48 01 d8'), gpr: regs({ rax: 5n, rbx: 7n }) },
      { code: hex('48 01 d8'), gpr: regs({ rax: 0x7fffffffffffffffn, rbx: 1n }), rflags: CF | ZF },
    ]);
    assert.is(a.status, 'ok');
    assert.is(a.gpr[GPR.rax], 12n);
    assert.is(a.gpr[GPR.rbx], 7n);
    assert.is(a.gpr[GPR.rsp], DEFAULT_RSP);
    assert.is(a.rip, CODE_BASE + 3n);
    assert.is(a.rflags & STATUS_FLAGS, PF); // 12 = 0b1100: even parity
    assert.is(a.rflags & 0x202n, 0x202n); // IF and bit 1 always set natively

    assert.is(b.status, 'ok');
    assert.is(b.gpr[GPR.rax], 0x8000000000000000n);
    // input CF|ZF must be overwritten by add
    assert.is(b.rflags & STATUS_FLAGS, OF | SF | AF | PF);
  });

  test('initial RFLAGS: only the status flags and DF are honoured', () => {
    // pushfq; pop rax
    const r = one({ code: hex('9c 58'), rflags: CF | PF | AF | ZF | SF | DF | OF | TF | 0x40000n });
    assert.is(r.status, 'ok');
    assert.is(r.gpr[GPR.rax], CF | PF | AF | ZF | SF | DF | OF | 0x202n);
  });

  test('div by zero: #DE is vector 0 at the div, registers before it', () => {
    const r = one({ code: hex('90 48 f7 f3'), gpr: regs({ rax: 5n, rdx: 0n, rbx: 0n }) });
    assert.is(r.status, 'fault');
    assert.is(r.vector, 0);
    assert.is(r.rip, CODE_BASE + 1n);
    assert.is(r.gpr[GPR.rax], 5n);
  });

  test('ud2: #UD is vector 6', () => {
    const r = one({ code: hex('90 90 0f 0b') });
    assert.is(r.status, 'fault');
    assert.is(r.vector, 6);
    assert.is(r.errorCode, 0n);
    assert.is(r.rip, CODE_BASE + 2n);
  });

  test('#PF: vector 14 with CR2 and error code', () => {
    const target = 0x5000_0123n;
    const [w, rd, code, nx] = runNative([
      { code: hex('48 89 18'), gpr: regs({ rax: target }) }, // mov [rax], rbx
      { code: hex('48 8b 18'), gpr: regs({ rax: target }) }, // mov rbx, [rax]
      { code: hex('48 89 18'), gpr: regs({ rax: CODE_BASE + 0x10n }) }, // CODE is read-only
      { code: hex('ff e0'), gpr: regs({ rax: DATA_BASE + 8n }) }, // jmp rax: DATA is NX
    ]);
    for (const r of [w, rd, code, nx]) {
      assert.is(r.status, 'fault');
      assert.is(r.vector, 14);
    }
    assert.is(w.cr2, target);
    assert.is(w.errorCode, 6n); // not present | write | user
    assert.is(w.rip, CODE_BASE);
    assert.is(rd.cr2, target);
    assert.is(rd.errorCode, 4n); // not present | read | user
    assert.is(code.cr2, CODE_BASE + 0x10n);
    assert.is(code.errorCode, 7n); // present | write | user
    assert.is(nx.cr2, DATA_BASE + 8n);
    assert.is(nx.errorCode, 0x15n); // present | user | instruction fetch
    assert.is(nx.rip, DATA_BASE + 8n);
  });

  test('int3, int n, hlt and non-canonical accesses', () => {
    const [bp, intn, hlt, nc] = runNative([
      { code: hex('90 cc') },
      { code: hex('cd 21') },
      { code: hex('f4') },
      { code: hex('48 8b 00'), gpr: regs({ rax: 0x8000_0000_0000_0000n }) },
    ]);
    assert.is(bp.vector, 3);
    assert.is(bp.rip, CODE_BASE + 2n); // trap: RIP after int3
    assert.is(intn.vector, 13);
    assert.is(intn.errorCode, (0x21n << 3n) | 2n);
    assert.is(hlt.vector, 13);
    assert.is(nc.vector, 13);
    assert.is(nc.errorCode, 0n);
  });

  test('syscall and int 0x80 are trapped (vector 255), never executed', () => {
    const [sc, i80] = runNative([
      { code: hex('0f 05'), gpr: regs({ rax: 60n /* exit */ }) },
      { code: hex('cd 80'), gpr: regs({ rax: 1n /* i386 exit */ }) },
    ]);
    assert.is(sc.status, 'fault');
    assert.is(sc.vector, VECTOR_SYSCALL);
    assert.is(sc.errorCode, 60n);
    assert.is(sc.cr2, 0xc000003en); // AUDIT_ARCH_X86_64
    assert.is(sc.rip, CODE_BASE + 2n);
    assert.is(sc.gpr[GPR.rcx], CODE_BASE + 2n); // syscall wrote RCX/R11
    assert.is(i80.vector, VECTOR_SYSCALL);
    assert.is(i80.cr2, 0x40000003n); // AUDIT_ARCH_I386
  });

  test('infinite loop times out without hanging; the next case still runs', () => {
    const t0 = performance.now();
    const [loop, after] = runNative(
      [{ code: hex('48 ff c0 eb fb') }, { code: hex('48 ff c0'), gpr: regs({ rax: 41n }) }],
      { timeoutMs: 20 },
    );
    const ms = performance.now() - t0;
    assert.is(loop.status, 'timeout');
    assert.ok(loop.rip >= CODE_BASE && loop.rip < CODE_BASE + 5n);
    assert.ok(loop.gpr[GPR.rax] > 0n, 'loop made progress before the timeout');
    assert.is(after.status, 'ok');
    assert.is(after.gpr[GPR.rax], 42n);
    assert.ok(ms < 2000, `took ${ms} ms`);
  });

  test('TF set by the case: #DB after the next instruction; at the very end it is a normal exit', () => {
    // pushfq; or qword [rsp], 0x100; popfq; nop; nop
    const setTf = '9c 48 81 0c 24 00 01 00 00 9d';
    const [mid, end] = runNative([{ code: hex(setTf + ' 90 90') }, { code: hex(setTf) }]);
    assert.is(mid.status, 'fault');
    assert.is(mid.vector, 1);
    assert.is(mid.rip, CODE_BASE + 11n);
    assert.is(end.status, 'ok');
    assert.is(end.rip, CODE_BASE + 10n);
    assert.is(end.rflags & TF, TF);
  });

  test('DATA fill, patches, dumps and memHash agree with the TS model', () => {
    const c: NativeCase = {
      // mov [rax], rbx; push rbx; mov fs:[rcx], bl (FS base is 0)
      code: hex('48 89 18 53 64 88 19'),
      gpr: regs({ rax: DATA_BASE + 0x100n, rbx: 0x1122334455667788n, rcx: DATA_BASE + 0xfff0n }),
      dataSeed: 0x1234_5678_9abc_def0n,
      patches: [
        { addr: DATA_BASE + 0x2000n, bytes: hex('de ad be ef') },
        { addr: STACK_BASE + 0x10n, bytes: hex('01 02 03') },
      ],
      dumpData: true,
      dumpStack: true,
    };
    const r = one(c);
    assert.is(r.status, 'ok');
    const data = initialData(c);
    const stack = initialStack(c);
    assert.is(data[0x2000], 0xde);
    assert.is(stack[0x10], 0x01);
    new DataView(data.buffer).setBigUint64(0x100, 0x1122334455667788n, true);
    new DataView(stack.buffer).setBigUint64(0x8000 - 8, 0x1122334455667788n, true);
    data[0xfff0] = 0x88;
    sameBytes(r.data, data, 'DATA');
    sameBytes(r.stack, stack, 'STACK');
    assert.is(r.memHash, memHash(data, stack));
    assert.is(r.gpr[GPR.rsp], DEFAULT_RSP - 8n);
    // The next case with the same seed sees pristine memory again.
    const again = one({ code: new Uint8Array(0), dataSeed: c.dataSeed, dumpData: true });
    const fresh = new Uint8Array(DATA_SIZE);
    fillData(c.dataSeed!, fresh);
    sameBytes(again.data, fresh, 'DATA after reset');
    assert.is(again.memHash, memHash(fresh, new Uint8Array(STACK_SIZE)));
  });

  test('fnv1a64 and fillData reference values', () => {
    assert.is(fnv1a64(new Uint8Array(0)), 0xcbf29ce484222325n);
    assert.is(fnv1a64(new TextEncoder().encode('a')), 0xaf63dc4c8601ec8cn);
    assert.is(fnv1a64(new TextEncoder().encode('foobar')), 0x85944171f73967e8n);
    // zero-run folding must match the plain byte loop
    const z = new Uint8Array(1000);
    z[500] = 7;
    let ref = 0xcbf29ce484222325n;
    for (const b of z) ref = ((ref ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
    assert.is(fnv1a64(z), ref);
    // xorshift64* against a BigInt reference
    const buf = new Uint8Array(64);
    fillData(0x9e3779b97f4a7c15n, buf);
    let x = 0x9e3779b97f4a7c15n;
    const M = 0xffffffffffffffffn;
    const dv = new DataView(buf.buffer);
    for (let i = 0; i < 8; i++) {
      x ^= x >> 12n;
      x ^= (x << 25n) & M;
      x ^= x >> 27n;
      assert.is(dv.getBigUint64(i * 8, true), (x * 0x2545f4914f6cdd1dn) & M);
    }
    const zero = new Uint8Array(16);
    fillData(0n, zero);
    assert.equal(zero, new Uint8Array(16));
  });

  test('CODE image: the exit jmp and 0xCC fill are what the case can read', () => {
    // mov rax, [rip+0]: reads the 8 bytes that follow the instruction
    const code = hex('48 8b 05 00 00 00 00');
    const r = one({ code });
    const img = codeImage(code);
    assert.is(r.status, 'ok');
    assert.is(r.gpr[GPR.rax], new DataView(img.buffer).getBigUint64(7, true));
    // a jump into the fill hits int3
    const f = one({ code: hex('ff e0'), gpr: regs({ rax: CODE_BASE + 0x800n }) });
    assert.is(f.vector, 3);
    assert.is(f.rip, CODE_BASE + 0x801n);
  });

  test('no state leaks between cases (vector regs, DF, FS base, code bytes)', () => {
    const [set, read, longc, short] = runNative([
      // mov eax, -1; movd xmm3, eax; std
      { code: hex('b8 ff ff ff ff 66 0f 6e d8 fd') },
      // movq rax, xmm3; pushfq; pop rbx; rdfsbase rcx
      { code: hex('66 48 0f 7e d8 9c 5b f3 48 0f ae c1'), gpr: regs({ rcx: 5n }) },
      { code: new Uint8Array(3000).fill(0x90) },
      // jmp to offset 2000, which the previous case filled with nops
      { code: hex('ff e0'), gpr: regs({ rax: CODE_BASE + 2000n }) },
    ]);
    assert.is(set.status, 'ok');
    assert.is(set.rflags & DF, DF);
    assert.is(read.status, 'ok');
    assert.is(read.gpr[GPR.rax], 0n);
    assert.is(read.gpr[GPR.rbx] & DF, 0n);
    if (nativeInfo()!.fsgsbase) assert.is(read.gpr[GPR.rcx], 0n);
    assert.is(longc.status, 'ok');
    assert.is(short.vector, 3); // 0xCC, not a stale nop
  });

  test('10,000 trivial cases complete', () => {
    const n = 10000;
    const cases: NativeCase[] = [];
    for (let i = 0; i < n; i++)
      cases.push({ code: hex('48 ff c0 48 01 cb'), gpr: regs({ rax: BigInt(i), rbx: 1n, rcx: BigInt(i) }) });
    const t0 = performance.now();
    const res = runNative(cases);
    const ms = performance.now() - t0;
    assert.is(res.length, n);
    for (let i = 0; i < n; i++) {
      const r = res[i];
      if (r.status !== 'ok' || r.gpr[GPR.rax] !== BigInt(i + 1) || r.gpr[GPR.rbx] !== BigInt(i + 1))
        assert.unreachable(`case ${i}: ${r.status} rax=${h(r.gpr[GPR.rax])}`);
    }
    console.log(`  10000 cases in ${ms.toFixed(0)} ms (${Math.round((n / ms) * 1000)} cases/s)`);
    assert.ok(ms < 3000);
  });

  test('a worker that dies is replaced: only its case is lost', () => {
    process.env.XK_TEST_DIE_AT = '2'; // harness test hook: seccomp kills the worker before case 2
    let res: NativeResult[];
    try {
      res = runNative(Array.from({ length: 5 }, (_, i) => ({ code: hex('48 ff c0'), gpr: regs({ rax: BigInt(i) }) })));
    } finally {
      delete process.env.XK_TEST_DIE_AT;
    }
    assert.is(res.length, 5);
    res.forEach((r, i) => {
      if (i === 2) {
        assert.is(r.status, 'lost');
        assert.is(r.signo, 31); // SIGSYS from SECCOMP_RET_KILL_PROCESS
      } else {
        assert.is(r.status, 'ok');
        assert.is(r.gpr[GPR.rax], BigInt(i + 1));
      }
    });
  });

  test('random instruction bytes never take the harness down', () => {
    // xorshift32 so failures are reproducible
    let s = 0x12345678;
    const rnd = (): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return s >>> 0;
    };
    const pick = (): bigint => {
      switch (rnd() & 3) {
        case 0: return BigInt(rnd() & 0xff);
        case 1: return DATA_BASE + BigInt(rnd() & 0xfff8);
        case 2: return STACK_BASE + BigInt(rnd() & 0xfff8);
        default: return (BigInt(rnd()) << 32n) | BigInt(rnd());
      }
    };
    const cases: NativeCase[] = [];
    for (let i = 0; i < 3000; i++) {
      const code = new Uint8Array(1 + (rnd() % 24));
      for (let k = 0; k < code.length; k++) code[k] = rnd() & 0xff;
      const gpr = regs();
      for (let r = 0; r < 16; r++) if (r !== GPR.rsp) gpr[r] = pick();
      gpr[GPR.rsp] = rnd() & 1 ? DEFAULT_RSP : pick();
      cases.push({ code, gpr, rflags: BigInt(rnd()), dataSeed: BigInt(1 + (i % 4)) });
    }
    const res = runNative(cases, { timeoutMs: 10 });
    const count: Record<string, number> = {};
    for (const r of res) count[r.status] = (count[r.status] ?? 0) + 1;
    console.log(`  random bytes: ${JSON.stringify(count)}`);
    assert.is(res.length, cases.length);
    assert.is(count.lost ?? 0, 0);
  });

  test.run();
}
