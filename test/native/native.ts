/**
 * Native side of differential testing: runs x86-64 instruction bytes on the
 * host CPU (user mode, via test/native/harness.c) and returns the final GPRs,
 * RFLAGS, fault information and a hash of the scratch memory, so the emulator
 * can run the same bytes and compare.
 *
 * ## What the emulator must set up to run the same case
 *
 *   CODE  [CODE_BASE,  CODE_BASE+CODE_SIZE)   read+execute, NOT writable:
 *         codeImage(code) = the case bytes at CODE_BASE, then the exit jump
 *         `E9 rel32` (jmp STUB_BASE) at CODE_BASE+code.length, then 0xCC.
 *         A store into CODE is a #PF with error code 7 natively.
 *   DATA  [DATA_BASE,  DATA_BASE+DATA_SIZE)   read+write: initialData(c),
 *         i.e. fillData(c.dataSeed) and then c.patches that fall in DATA.
 *   STACK [STACK_BASE, STACK_BASE+STACK_SIZE) read+write: initialStack(c),
 *         zero and then c.patches that fall in STACK.
 *   Everything else is unmapped (accesses are #PF, error code P=0).  The
 *   harness-private exit stub at STUB_BASE is mapped natively (R-X) but the
 *   emulator never needs it.
 *
 *   CPL 3, 64-bit CS (0x33), SS=0x2b, DS=ES=FS=GS=0 with FS.base=GS.base=0.
 *   RFLAGS = (c.rflags & RFLAGS_INPUT_MASK) | 0x202 (IF and bit 1 set).
 *   x87/SSE/AVX/AVX-512 in the init state (registers zero, MXCSR 0x1F80,
 *   FCW 0x037F); PKRU (if the host has PKU) is the host's value.
 *   CR0.AM=1: a case that sets RFLAGS.AC gets #AC(17) on misaligned access.
 *   A case that sets TF gets #DB (vector 1) after the next instruction, except
 *   when that instruction is the exit jump: then the result is a normal 'ok'
 *   with TF set in rflags.
 *
 * ## Exit-stub convention
 *
 * The case ends when execution reaches CODE_BASE + code.length (the appended
 * jmp).  The emulator should stop when RIP == CODE_BASE + code.length and
 * compare: result.rip is exactly that address for status 'ok'.  The jump and
 * the stub behind it modify nothing the guest can observe (no flags, no
 * registers, no memory, nothing pushed on the guest stack).
 *
 * For status 'fault', rip/gpr/rflags are the state the CPU reported with the
 * exception (faults: RIP of the faulting instruction, registers before it;
 * traps such as int3, TF single-step, syscall: RIP after the instruction).
 *
 * ## Result fields and comparison advice
 *
 * - vector: the exception vector (0 #DE, 1 #DB, 3 #BP, 4 #OF, 6 #UD, 7 #NM,
 *   12 #SS, 13 #GP, 14 #PF, 16 #MF, 17 #AC, 19 #XM) or VECTOR_SYSCALL (255)
 *   for syscall / int 0x80 / vsyscall (errorCode = syscall number, cr2 = the
 *   AUDIT_ARCH value; for `syscall` RCX/R11 already hold RIP/RFLAGS).
 * - errorCode: REG_ERR from the kernel.  For #PF on lower-half addresses it
 *   is the hardware code (P=1 W=2 U=4 I=16); Linux sets P for kernel-half
 *   addresses.  #GP from `int n` has (n << 3) | 2.
 * - cr2: the faulting address for #PF only.
 * - rflags: compare (rflags & RFLAGS_COMPARE_MASK) and only the flags the
 *   instruction defines (undefined flags differ between Intel and AMD; this
 *   host is AMD).  Natively IF and bit 1 are always set; fault contexts also
 *   carry RF (bit 16) which the CPU sets when it delivers a fault.
 * - memHash: FNV-1a 64 over DATA then STACK (memHash()).  Ask for dumpData /
 *   dumpStack to get the bytes when a hash differs.
 * - cs: 0x33 normally.  Anything else means the case far-jumped into 32-bit
 *   compatibility mode; the harness survives it but the result is an
 *   artefact of its exit path, so skip such cases.
 *
 * ## Natively unreliable (filter these out of generated cases, or skip them)
 *
 * - Host-specific values: CPUID, RDTSC/RDTSCP, RDPID, RDRAND/RDSEED, XGETBV
 *   (host XCR0), RDPKRU, FXSAVE/XSAVE images (MXCSR_MASK, XINUSE).
 * - Kernel/hypervisor artefacts on this host: SGDT/SIDT/SMSW/SLDT/STR complete
 *   with dummy values (Linux UMIP emulation); VMMCALL/VMCALL at CPL3 return
 *   RAX=-1 and continue; INT1 (F1) reports #DB with RIP *at* the F1; a jump
 *   to the vsyscall page (0xffffffffff600000) is emulated by the kernel
 *   (vector 255 with RIP popped from the stack).
 * - AMD-only instructions that exist here: CLZERO (zeroes the 64-byte line at
 *   RAX), and AMD semantics for undefined flags, BSF/BSR with zero input, etc.
 * - A jump straight to STUB_BASE looks like a normal exit (status 'ok').
 * - status 'timeout' results (RIP/GPRs are wherever the loop was).
 *
 * ## Cost model
 *
 * About 80-140k cases/s when memory is not written (per case: 2 process-free
 * context switches and two 64 KiB compares).  A case that writes DATA filled
 * from a non-zero seed costs up to ~75 us more, because FNV-1a must rehash
 * the rest of DATA serially; so does the first case of a seed not among the
 * 8 most recently used.  Seed 0 (zero DATA) stays cheap.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, parse as parsePath, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---- layout (keep in sync with harness.c) ----------------------------------
export const CODE_BASE = 0x1000_0000n;
export const CODE_SIZE = 0x1_0000;
export const DATA_BASE = 0x2000_0000n;
export const DATA_SIZE = 0x1_0000;
export const STACK_BASE = 0x3000_0000n;
export const STACK_SIZE = 0x1_0000;
/** Harness-private exit stub; the appended jmp at CODE_BASE+len targets it. */
export const STUB_BASE = 0x0f00_0000n;
export const MAX_CODE = 4000;
/** Bytes of CODE after the exit jump. */
export const CODE_FILL = 0xcc;
/** RSP used when a case does not give GPRs: the middle of STACK. */
export const DEFAULT_RSP = STACK_BASE + 0x8000n;

/** RFLAGS bits a case can choose (CF PF AF ZF SF DF OF); the rest is forced. */
export const RFLAGS_INPUT_MASK = 0xcd5n;
/** Status-flag bits worth comparing (CF PF AF ZF SF DF OF); add TF/AC/NT/ID
 * (0x100, 0x40000, 0x4000, 0x200000) only if cases can set them via popf. */
export const RFLAGS_COMPARE_MASK = 0xcd5n;
export const VECTOR_SYSCALL = 255;

/** GPR indices, in instruction-encoding order (the order of every gpr array). */
export const GPR_NAMES = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type GprName = (typeof GPR_NAMES)[number];
export const GPR = Object.fromEntries(GPR_NAMES.map((n, i) => [n, i])) as Record<GprName, number>;

// ---- types -------------------------------------------------------------------
export interface NativePatch {
  /** Absolute address; the patch must lie entirely inside DATA or STACK. */
  addr: bigint;
  bytes: Uint8Array;
}

export interface NativeCase {
  /** At most MAX_CODE bytes, placed at CODE_BASE. */
  code: Uint8Array;
  /** 16 GPRs in encoding order (rax rcx rdx rbx rsp rbp rsi rdi r8..r15).
   * Default: all zero except rsp = DEFAULT_RSP. */
  gpr?: readonly bigint[];
  /** Only RFLAGS_INPUT_MASK bits are used.  Default 0. */
  rflags?: bigint;
  /** DATA = fillData(dataSeed).  Default 0n (all-zero DATA).  Reusing a seed
   * across consecutive cases is cheaper natively. */
  dataSeed?: bigint;
  /** Applied in order after the DATA fill / STACK zeroing. */
  patches?: readonly NativePatch[];
  /** Return the final DATA / STACK bytes. */
  dumpData?: boolean;
  dumpStack?: boolean;
}

export type NativeStatus = 'ok' | 'fault' | 'timeout' | 'lost';

export interface NativeResult {
  /** ok: reached CODE_BASE+code.length.  fault: exception/trap/syscall.
   * timeout: still running after 1-2x timeoutMs of CPU time.
   * lost: the worker process died on this case (see signo / siCode). */
  status: NativeStatus;
  vector: number;
  errorCode: bigint;
  cr2: bigint;
  rip: bigint;
  gpr: bigint[];
  rflags: bigint;
  memHash: bigint;
  /** Host signal that reported the fault (diagnostics), its si_code; for
   * 'lost', signo is the signal that killed the worker (31 = seccomp). */
  signo: number;
  siCode: number;
  /** CS selector in the fault context (0x33 = 64-bit; 0x23 = compat mode). */
  cs: number;
  data?: Uint8Array;
  stack?: Uint8Array;
}

export interface NativeInfo {
  binary: string;
  /** wrfsbase usable (else arch_prctl per case) */
  fsgsbase: boolean;
  /** XRSTOR used to reset vector state */
  xsave: boolean;
  pku: boolean;
  memfd: boolean;
  seccomp: boolean;
  pie: boolean;
  xcr0: bigint;
}

export interface RunOptions {
  /** CPU-time watchdog period in ms (default 25); loops stop after 1-2x. */
  timeoutMs?: number;
  /** Cases per harness process (default 20000). */
  batchSize?: number;
}

// ---- protocol constants ------------------------------------------------------
const REQ_MAGIC = 0x494e4b58;
const RSP_MAGIC = 0x4f4e4b58;
const PROTO_VER = 1;
const HDR_SIZE = 32;
const CASE_FIXED = 160;
const PATCH_FIXED = 16;
const RES_FIXED = 192;
const DUMP_DATA = 1;
const DUMP_STACK = 2;
const STATUS: readonly NativeStatus[] = ['ok', 'fault', 'timeout', 'lost'];

// ---- build / availability ----------------------------------------------------
let availability: { ok: boolean; reason?: string } | undefined;
let info: NativeInfo | undefined;

function findRoot(): string | undefined {
  const starts: string[] = [];
  if (process.env.X86KVM_ROOT) starts.push(process.env.X86KVM_ROOT);
  starts.push(process.cwd());
  try {
    starts.push(dirname(fileURLToPath(import.meta.url)));
  } catch {
    /* not a file: URL */
  }
  for (const s of starts) {
    let d = resolve(s);
    for (;;) {
      if (existsSync(join(d, 'test', 'native', 'harness.c'))) return d;
      const up = dirname(d);
      if (up === d || d === parsePath(d).root) break;
      d = up;
    }
  }
  return undefined;
}

function mtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * Whether native runs are possible here: x86-64 Linux, a C compiler, and a
 * harness that can set up its mappings and seccomp filter.  Compiles the
 * harness into build/native/harness on first use (again when harness.c is
 * newer than the binary).  Set X86KVM_NO_NATIVE=1 to force a skip.
 */
export function nativeAvailable(): { ok: boolean; reason?: string } {
  if (availability) return availability;
  availability = checkAvailable();
  return availability;
}

function checkAvailable(): { ok: boolean; reason?: string } {
  if (process.env.X86KVM_NO_NATIVE) return { ok: false, reason: 'X86KVM_NO_NATIVE is set' };
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return { ok: false, reason: `needs x86_64 Linux, this is ${process.platform}/${process.arch}` };
  const root = findRoot();
  if (!root) return { ok: false, reason: 'test/native/harness.c not found (set X86KVM_ROOT)' };
  const src = join(root, 'test', 'native', 'harness.c');
  const bin = join(root, 'build', 'native', 'harness');
  if (mtime(bin) < mtime(src)) {
    const cc = spawnSync('cc', ['--version'], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) return { ok: false, reason: 'no C compiler (cc) on PATH' };
    mkdirSync(dirname(bin), { recursive: true });
    // Compile to a private name and rename, so concurrent test processes
    // never execute a half-written binary.
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = spawnSync('cc', ['-O1', '-o', tmp, src], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      try {
        unlinkSync(tmp);
      } catch {
        /* nothing to clean */
      }
      return { ok: false, reason: `cc failed: ${(r.stderr || String(r.error)).trim()}` };
    }
    renameSync(tmp, bin);
  }
  // Probe: zero cases still runs one worker through its full setup.
  const res = spawnSync(bin, [], { input: encodeBatch([], 0), maxBuffer: 1 << 20 });
  if (res.error || res.status !== 0)
    return { ok: false, reason: `harness probe failed: ${(res.stderr?.toString() || String(res.error)).trim()}` };
  const out = res.stdout as Buffer;
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (out.byteLength < HDR_SIZE || dv.getUint32(0, true) !== RSP_MAGIC)
    return { ok: false, reason: 'harness probe: bad response' };
  const caps = dv.getUint32(12, true);
  info = {
    binary: bin,
    fsgsbase: (caps & 1) !== 0,
    xsave: (caps & 2) !== 0,
    pku: (caps & 4) !== 0,
    memfd: (caps & 8) !== 0,
    seccomp: (caps & 16) !== 0,
    pie: (caps & 32) !== 0,
    xcr0: dv.getBigUint64(16, true),
  };
  return { ok: true };
}

/** Host capabilities the harness detected (after nativeAvailable() is ok). */
export function nativeInfo(): NativeInfo | undefined {
  nativeAvailable();
  return info;
}

// ---- running -----------------------------------------------------------------
function validate(c: NativeCase, i: number): void {
  if (c.code.length > MAX_CODE) throw new RangeError(`case ${i}: code is ${c.code.length} bytes (max ${MAX_CODE})`);
  if (c.gpr && c.gpr.length !== 16) throw new RangeError(`case ${i}: gpr must have 16 entries`);
  for (const p of c.patches ?? []) {
    const end = p.addr + BigInt(p.bytes.length);
    const inData = p.addr >= DATA_BASE && end <= DATA_BASE + BigInt(DATA_SIZE);
    const inStack = p.addr >= STACK_BASE && end <= STACK_BASE + BigInt(STACK_SIZE);
    if (!inData && !inStack) throw new RangeError(`case ${i}: patch at 0x${p.addr.toString(16)} is outside DATA/STACK`);
  }
}

const U64 = (1n << 64n) - 1n;

function encodeBatch(cases: readonly NativeCase[], timeoutMs: number): Uint8Array {
  let size = HDR_SIZE;
  for (const c of cases) {
    size += CASE_FIXED + c.code.length;
    for (const p of c.patches ?? []) size += PATCH_FIXED + p.bytes.length;
  }
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, REQ_MAGIC, true);
  dv.setUint32(4, PROTO_VER, true);
  dv.setUint32(8, cases.length, true);
  dv.setUint32(12, timeoutMs, true);
  let o = HDR_SIZE;
  for (const c of cases) {
    const patches = c.patches ?? [];
    dv.setUint32(o, c.code.length, true);
    dv.setUint32(o + 4, (c.dumpData ? DUMP_DATA : 0) | (c.dumpStack ? DUMP_STACK : 0), true);
    dv.setUint32(o + 8, patches.length, true);
    for (let r = 0; r < 16; r++) {
      const v = c.gpr ? c.gpr[r] : r === GPR.rsp ? DEFAULT_RSP : 0n;
      dv.setBigUint64(o + 16 + 8 * r, v & U64, true);
    }
    dv.setBigUint64(o + 144, (c.rflags ?? 0n) & U64, true);
    dv.setBigUint64(o + 152, (c.dataSeed ?? 0n) & U64, true);
    o += CASE_FIXED;
    buf.set(c.code, o);
    o += c.code.length;
    for (const p of patches) {
      dv.setBigUint64(o, p.addr, true);
      dv.setUint32(o + 8, p.bytes.length, true);
      buf.set(p.bytes, o + PATCH_FIXED);
      o += PATCH_FIXED + p.bytes.length;
    }
  }
  return buf;
}

function decodeBatch(out: Uint8Array, n: number): NativeResult[] {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (out.byteLength < HDR_SIZE || dv.getUint32(0, true) !== RSP_MAGIC || dv.getUint32(8, true) !== n)
    throw new Error('native harness: malformed response');
  const results: NativeResult[] = [];
  let o = HDR_SIZE;
  for (let i = 0; i < n; i++) {
    const gpr: bigint[] = [];
    for (let r = 0; r < 16; r++) gpr.push(dv.getBigUint64(o + 40 + 8 * r, true));
    const dumps = dv.getUint32(o + 188, true);
    const res: NativeResult = {
      status: STATUS[dv.getUint32(o, true)] ?? 'lost',
      vector: dv.getUint32(o + 4, true),
      signo: dv.getUint32(o + 8, true),
      siCode: dv.getInt32(o + 12, true),
      errorCode: dv.getBigUint64(o + 16, true),
      cr2: dv.getBigUint64(o + 24, true),
      rip: dv.getBigUint64(o + 32, true),
      gpr,
      rflags: dv.getBigUint64(o + 168, true),
      memHash: dv.getBigUint64(o + 176, true),
      cs: dv.getUint32(o + 184, true),
    };
    o += RES_FIXED;
    if (dumps & DUMP_DATA) {
      res.data = new Uint8Array(out.subarray(o, o + DATA_SIZE));
      o += DATA_SIZE;
    }
    if (dumps & DUMP_STACK) {
      res.stack = new Uint8Array(out.subarray(o, o + STACK_SIZE));
      o += STACK_SIZE;
    }
    results.push(res);
  }
  return results;
}

/**
 * Run cases natively, in order.  Throws if the harness is unavailable or the
 * input is invalid; individual cases never throw (see NativeResult.status).
 */
export function runNative(cases: readonly NativeCase[], opts: RunOptions = {}): NativeResult[] {
  const avail = nativeAvailable();
  if (!avail.ok || !info) throw new Error(`native harness unavailable: ${avail.reason}`);
  cases.forEach(validate);
  const batch = Math.max(1, opts.batchSize ?? 20000);
  const timeoutMs = Math.max(1, Math.round(opts.timeoutMs ?? 25));
  const results: NativeResult[] = [];
  for (let start = 0; start < cases.length; start += batch) {
    const part = cases.slice(start, start + batch);
    let outSize = HDR_SIZE;
    for (const c of part) outSize += RES_FIXED + (c.dumpData ? DATA_SIZE : 0) + (c.dumpStack ? STACK_SIZE : 0);
    const r = spawnSync(info.binary, [], {
      input: encodeBatch(part, timeoutMs),
      maxBuffer: outSize + (1 << 20),
    });
    if (r.error || r.status !== 0)
      throw new Error(`native harness failed (${r.status ?? r.signal}): ${(r.stderr?.toString() || String(r.error)).trim()}`);
    results.push(...decodeBatch(r.stdout as Buffer, part.length));
  }
  return results;
}

// ---- memory model shared with harness.c -------------------------------------

// 64-bit arithmetic on (hi, lo) uint32 pairs: BigInt is ~50x slower here.
function mul32(a: number, b: number): [number, number] {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0;
  const hi = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
  return [hi, lo];
}

function mul64(ah: number, al: number, bh: number, bl: number): [number, number] {
  const [h, l] = mul32(al, bl);
  return [(h + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0, l];
}

/**
 * DATA fill: xorshift64* (x ^= x>>12; x ^= x<<25; x ^= x>>27;
 * word = x * 0x2545F4914F6CDD1D), one little-endian 64-bit word per step,
 * starting from x = seed.  Seed 0 gives zeros.  buf.length must be a multiple
 * of 8.
 */
export function fillData(seed: bigint, buf: Uint8Array): void {
  if (buf.length % 8 !== 0) throw new RangeError('fillData: length must be a multiple of 8');
  let hi = Number((seed >> 32n) & 0xffffffffn), lo = Number(seed & 0xffffffffn);
  const MH = 0x2545f491, ML = 0x4f6cdd1d;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < buf.length; i += 8) {
    // x ^= x >> 12
    lo = (lo ^ ((lo >>> 12) | (hi << 20))) >>> 0;
    hi = (hi ^ (hi >>> 12)) >>> 0;
    // x ^= x << 25
    hi = (hi ^ ((hi << 25) | (lo >>> 7))) >>> 0;
    lo = (lo ^ (lo << 25)) >>> 0;
    // x ^= x >> 27
    lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0;
    hi = (hi ^ (hi >>> 27)) >>> 0;
    const [wh, wl] = mul64(hi, lo, MH, ML);
    dv.setUint32(i, wl, true);
    dv.setUint32(i + 4, wh, true);
  }
}

export const FNV_BASIS = 0xcbf29ce484222325n;
export const FNV_PRIME = 0x100000001b3n;

// FNV_PRIME^(2^i) as (hi, lo), for folding runs of zero bytes.
const POW2: [number, number][] = [];
{
  let p = FNV_PRIME;
  for (let i = 0; i < 24; i++) {
    POW2.push([Number(p >> 32n), Number(p & 0xffffffffn)]);
    p = (p * p) & U64;
  }
}

/**
 * Continue a 64-bit FNV-1a hash (default: start from the offset basis) over
 * `bytes`.  Runs of zero bytes cost one multiplication.
 */
export function fnv1a64(bytes: Uint8Array, state: bigint = FNV_BASIS): bigint {
  let hi = Number(state >> 32n), lo = Number(state & 0xffffffffn);
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    if (bytes[i] === 0) {
      let j = i + 1;
      while (j < n && bytes[j] === 0) j++;
      let k = j - i;
      for (let b = 0; k; b++, k = Math.floor(k / 2)) {
        if (k & 1) [hi, lo] = mul64(hi, lo, POW2[b][0], POW2[b][1]);
      }
      i = j;
      continue;
    }
    // h = (h ^ byte) * (2^40 + 0x1b3)
    lo = (lo ^ bytes[i]) >>> 0;
    const plo = lo * 0x1b3; // < 2^41, exact
    hi = (hi * 0x1b3 + Math.floor(plo / 4294967296) + ((lo << 8) >>> 0)) >>> 0;
    lo = plo >>> 0;
    i++;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** The harness's memHash: FNV-1a 64 over DATA (64 KiB) then STACK (64 KiB). */
export function memHash(data: Uint8Array, stack: Uint8Array): bigint {
  if (data.length !== DATA_SIZE || stack.length !== STACK_SIZE) throw new RangeError('memHash: wrong sizes');
  return fnv1a64(stack, fnv1a64(data));
}

/** Initial DATA bytes of a case (seed fill, then DATA patches). */
export function initialData(c: NativeCase): Uint8Array {
  const d = new Uint8Array(DATA_SIZE);
  fillData(c.dataSeed ?? 0n, d);
  for (const p of c.patches ?? [])
    if (p.addr >= DATA_BASE && p.addr < DATA_BASE + BigInt(DATA_SIZE)) d.set(p.bytes, Number(p.addr - DATA_BASE));
  return d;
}

/** Initial STACK bytes of a case (zero, then STACK patches). */
export function initialStack(c: NativeCase): Uint8Array {
  const s = new Uint8Array(STACK_SIZE);
  for (const p of c.patches ?? [])
    if (p.addr >= STACK_BASE && p.addr < STACK_BASE + BigInt(STACK_SIZE)) s.set(p.bytes, Number(p.addr - STACK_BASE));
  return s;
}

/** The exact 64 KiB CODE image the harness maps at CODE_BASE for `code`. */
export function codeImage(code: Uint8Array): Uint8Array {
  if (code.length > MAX_CODE) throw new RangeError('codeImage: code too long');
  const img = new Uint8Array(CODE_SIZE).fill(CODE_FILL);
  img.set(code, 0);
  const at = code.length;
  const rel = Number((STUB_BASE - (CODE_BASE + BigInt(at + 5))) & 0xffffffffn);
  img[at] = 0xe9;
  new DataView(img.buffer).setUint32(at + 1, rel, true);
  return img;
}

/** Initial GPRs of a case (the defaults applied when c.gpr is absent). */
export function initialGprs(c: NativeCase): bigint[] {
  return c.gpr ? c.gpr.map((v) => v & U64) : GPR_NAMES.map((n) => (n === 'rsp' ? DEFAULT_RSP : 0n));
}

/** Initial RFLAGS of a case as the CPU sees it. */
export function initialRflags(c: NativeCase): bigint {
  return ((c.rflags ?? 0n) & RFLAGS_INPUT_MASK) | 0x202n;
}
