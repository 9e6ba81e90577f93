// Robustness: for every request this ABI defines (and for unknown/mutated
// request numbers), ≥ 10^5 calls with random and mutated buffers, integers and
// fds. No exception may escape host.ioctl, and every result is ≥ 0 or a known
// −errno. The catch-all inside ioctl() must never have fired either
// (KvmSystem.internalErrors): a caught JavaScript exception is a model bug.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import * as K from "../../hypervisor/uapi/ioctl";
import { ERRNO_NAMES } from "../../hypervisor/uapi/consts";
import { encodeCpuid2, encodeMsrs, encodeUserMemoryRegion, encodeSregs, decodeSregs, encodeXcrs } from "../../hypervisor/uapi/structs";

const N = Number(process.env.KVM_FUZZ_N ?? 100_000);
let seed = 0x9e3779b9;
function rnd(): number { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed >>> 0; }
const pick = <T>(a: T[]): T => a[rnd() % a.length];
const POOL = new Uint8Array(1 << 16);
for (let i = 0; i < POOL.length; i++) POOL[i] = rnd() & 0xff;

const host = new Host({ cpu: "sapphire-rapids", runBudget: 64 });
const kvm = host.open();
let vm = host.ioctl(kvm, K.KVM_CREATE_VM, 0);
const ram = host.alloc(0x10000);
host.ioctl(vm, K.KVM_SET_USER_MEMORY_REGION, encodeUserMemoryRegion({ slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: 0x10000n, userspace_addr: BigInt(ram) }));
const vcpu = host.ioctl(vm, K.KVM_CREATE_VCPU, 0);
const vcpu2 = host.ioctl(vm, K.KVM_CREATE_VCPU, 1);
const freshSregs = new Uint8Array(312);
host.ioctl(vcpu, K.KVM_GET_SREGS, freshSregs);
const supported = (() => { const b = encodeCpuid2([], 256); host.ioctl(kvm, K.KVM_GET_SUPPORTED_CPUID, b); return b; })();
const cap2 = host.ioctl(kvm, K.KVM_CHECK_EXTENSION, 208);

// valid templates per request, which the fuzzer mutates
const TEMPLATES: Record<number, () => Uint8Array> = {
  [K.KVM_SET_USER_MEMORY_REGION]: () => encodeUserMemoryRegion({ slot: rnd() % 40, flags: rnd() % 4, guest_phys_addr: BigInt(rnd() & ~0xfff), memory_size: BigInt((rnd() % 16) << 12), userspace_addr: BigInt(ram + ((rnd() % 16) << 12)) }),
  [K.KVM_SET_CPUID2]: () => supported.slice(),
  [K.KVM_GET_CPUID2]: () => encodeCpuid2([], rnd() % 300),
  [K.KVM_GET_SUPPORTED_CPUID]: () => encodeCpuid2([], rnd() % 300),
  [K.KVM_GET_MSRS]: () => encodeMsrs([{ index: pick([0x10, 0x1b, 0x277, 0x1c4, 0xda0, 0xc0000080, 0xc0000100, rnd()]), data: 0n }, { index: rnd() % 0x2000, data: 0n }]),
  [K.KVM_SET_MSRS]: () => encodeMsrs([{ index: pick([0x10, 0x1b, 0x277, 0x1c4, 0x1c5, 0xda0, 0xc0000080, 0xc0000102, rnd()]), data: BigInt(rnd()) << BigInt(rnd() % 40) }]),
  [K.KVM_SET_SREGS]: () => { const s = decodeSregs(freshSregs); if (rnd() & 1) { s.cr0 = BigInt(rnd()); s.cr4 = BigInt(rnd() & 0x7fff); s.efer = BigInt(rnd() & 0xd01); s.cs.l = rnd() & 1; } return encodeSregs(s); },
  [K.KVM_SET_XCRS]: () => encodeXcrs({ nr_xcrs: rnd() % 18, flags: rnd() % 8 === 0 ? 1 : 0, xcrs: [{ xcr: rnd() % 2, value: BigInt(rnd() & 0x602ff) }] }),
  [K.KVM_SET_XSAVE]: () => { const b = new Uint8Array(Math.max(4096, cap2)); const d = new DataView(b.buffer); d.setUint16(0, 0x37f, true); d.setUint32(24, 0x1f80, true); d.setBigUint64(512, BigInt(rnd() & 0x602ff), true); return b; },
  [K.KVM_SET_GUEST_DEBUG]: () => { const b = new Uint8Array(72); new DataView(b.buffer).setUint32(0, pick([0, 1, 3, 0x10001, 0x40001, 0x80001, rnd()]), true); return b; },
};
const REQUESTS = Object.keys(K.IOCTL_NAMES).map(Number);
const KNOWN = new Set(Object.keys(ERRNO_NAMES).map(Number));

function randomArg(req: number): Uint8Array | number | bigint | undefined {
  const r = rnd() % 16;
  if (r === 0) return undefined;
  if (r === 1) return rnd() % 300;                        // small integer (caps, ids, bad pointers)
  if (r === 2) return pick([-1, NaN, Infinity, 2 ** 53, 0x80000000, ram, ram + 0x10000 - 8, 0]);
  if (r === 3) return pick([0n, -1n, 1n << 63n, BigInt(ram), 0xffffffffffffffffn]);
  const size = K._IOC_SIZE(req);
  if (r < 8 && TEMPLATES[req]) {
    const b = TEMPLATES[req]();
    for (let i = rnd() % 4; i > 0; i--) b[rnd() % b.length] = rnd() & 0xff;    // mutate
    return rnd() % 8 === 0 ? b.subarray(0, rnd() % (b.length + 1)) : b;        // sometimes truncated
  }
  const len = pick([0, 1, 4, 7, 8, 16, 24, size, size, size, size + 8, 48, 312, 392, 4096, 11008, rnd() % 700]);
  if (rnd() & 1) { const o = rnd() % (POOL.length - len); return POOL.slice(o, o + len); }
  const b = new Uint8Array(len);
  for (let i = 0; i < Math.min(len, 16); i++) b[i] = rnd() % 4 === 0 ? rnd() & 0xff : 0;    // mostly zero headers: small counts
  return b;
}

function check(r: number, what: string): void {
  if (!Number.isInteger(r) || (r < 0 && !KNOWN.has(-r))) assert.unreachable(`${what}: result ${r}`);
}

const stats: string[] = [];
for (const req of [...REQUESTS, -1]) {
  const name = req === -1 ? "random/mutated request numbers" : K.IOCTL_NAMES[req];
  test(`fuzz ${name}: ${N} calls, never throws, results ≥ 0 or a known errno`, () => {
    const t0 = performance.now(), errs0 = host.kvm.internalErrors;
    let ok = 0;
    for (let i = 0; i < N; i++) {
      let rq = req;
      if (req === -1) rq = pick([rnd(), rnd() & 0xffff, (pick(REQUESTS) ^ (1 << (rnd() % 32))) >>> 0, (0xae00 | (rnd() & 0xff)) | ((rnd() & 3) << 30)]);
      const fd = rnd() % 8 === 0 ? pick([-1, 0, 1, 2, 99999, kvm + 1000]) : (rnd() % 16 === 0 ? pick([kvm, vm, vcpu2]) : pick([kvm, vm, vcpu, vcpu, vcpu]));
      const arg = randomArg(rq);
      let r: number;
      try { r = host.ioctl(fd, rq, arg); } catch (e) { assert.unreachable(`${name}: threw ${e}`); return; }
      check(r, name);
      if (r >= 0) ok++;
      // fds created by CREATE_VM / CREATE_VCPU are closed again, and the target VM is replaced now and then, to bound memory
      if (r > 0 && (rq === K.KVM_CREATE_VM || rq === K.KVM_CREATE_VCPU) && fd !== kvm + 1000) host.close(r);
      if (rq === K.KVM_CREATE_VCPU && i % 512 === 511) {
        const old = vm;
        vm = host.ioctl(kvm, K.KVM_CREATE_VM, 0);
        host.close(old);
      }
    }
    const ms = performance.now() - t0;
    stats.push(`${name}: ${(ms / N * 1000).toFixed(2)} µs/call, ${ok} succeeded`);
    assert.is(host.kvm.internalErrors - errs0, 0, `caught internally: ${String(host.kvm.lastInternalError)}`);
  });
}
test("report", () => { console.log(stats.join("\n")); assert.ok(stats.length > 0); });

test.run();
