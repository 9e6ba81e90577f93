// CPU models as data: the model matching this host reproduces its CPUID leaf
// 0xD (sizes, offsets, alignment and XFD flags) as read natively, and every
// model's table is self-consistent (leaf 0xD sizes computed by the CPU match
// the layout, XCR0 support obeys the XSETBV pairing rules).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { MODELS, buildCpuid, getModel } from "../../hypervisor/models/models";
import { find } from "../../hypervisor/models/cpuid";
import { hostModel, hostVendor, EmuRunner } from "../helpers/emu";
import { nativeAvailable, runNative, DEFAULT_RSP } from "../native/native";

const nat = nativeAvailable();

function nativeCpuid(leaf: number, sub: number): [number, number, number, number] | null {
  // cpuid in the harness: eax/ecx in, all four out
  const gpr = Array.from({ length: 16 }, (_, i) => (i === 0 ? BigInt(leaf) : i === 1 ? BigInt(sub) : i === 4 ? DEFAULT_RSP : 0n));
  const [r] = runNative([{ code: Uint8Array.of(0x0f, 0xa2), gpr }]);
  if (r.status !== "ok") return null;
  return [Number(r.gpr[0] & 0xffffffffn), Number(r.gpr[3] & 0xffffffffn), Number(r.gpr[1] & 0xffffffffn), Number(r.gpr[2] & 0xffffffffn)];
}

if (!nat.ok) console.log(`SKIP models vs host CPUID: ${nat.reason}`);
else {
  const name = hostModel();
  console.log(`host is ${hostVendor()}: comparing leaf 0xD with model ${name}` +
    (name !== "sapphire-rapids" ? " (sapphire-rapids' leaf 0xD comes from the measured SPR host, isa.md §2.3; not checkable here)" : ""));
  test(`${name}: CPUID.(0DH, i) sizes, offsets and flags equal this machine's for every component it enables`, () => {
    const entries = buildCpuid(getModel(name));
    const d0 = find(entries, 0xd, 0)!;
    const host0 = nativeCpuid(0xd, 0)!;
    assert.is(d0.eax & host0[0], d0.eax, "model XCR0 support is a subset of the host's");
    for (let i = 2; i < 19; i++) {
      if (!((d0.eax >>> i) & 1) && !((find(entries, 0xd, 1)!.ecx >>> i) & 1)) continue;
      const m = find(entries, 0xd, i)!;
      const h = nativeCpuid(0xd, i)!;
      assert.equal([m.eax, m.ebx, m.ecx & 3], [h[0], h[1], h[2] & 3], `sub-leaf ${i}`);
    }
  });
}

for (const m of MODELS) {
  test(`${m.name}: XCR0 support follows the XSETBV pairing rules and the CPU's leaf 0xD sizes match`, () => {
    const x = m.xcr0;
    assert.ok(x & 1n && (!(x & 4n) || x & 2n), "x87, SSE before AVX");
    assert.ok(((x >> 5n) & 7n) === 0n || ((x >> 5n) & 7n) === 7n, "AVX-512 all or nothing");
    assert.is((x >> 17n) & 1n, (x >> 18n) & 1n, "AMX pair");
    const emu = new EmuRunner(m.name);
    emu.cpu.ex.cpuid(0xd, 0);
    const eax = emu.cpu.ex.cpuid_reg(0), ecx = emu.cpu.ex.cpuid_reg(2);
    const d0 = find(buildCpuid(m), 0xd, 0)!;
    assert.is(eax >>> 0, d0.eax);
    assert.is(ecx >>> 0, d0.ecx, "ECX: size for all supported components");
    if (m.amx) {
      assert.is(d0.ecx, 0x2b00, "SPR: 11008 bytes with AMX");
      assert.is(find(buildCpuid(m), 0xd, 18)!.ecx, 6, "TILEDATA: aligned + XFD-capable");
    }
  });
}
test.run();
