// XSAVE family against this CPU: the same bytes run natively (user mode) and
// on the emulator, and the whole DATA region (where the XSAVE areas live) is
// compared byte for byte, plus XGETBV(1) and the #GP cases of XRSTOR.
// The emulator uses the CPU model whose layout matches the host (leaf 0xD).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EmuRunner, hostVendor } from "../helpers/emu";
import { nativeAvailable, nativeInfo, runNative, DATA_BASE, DEFAULT_RSP, type NativeCase } from "../native/native";

const nat = nativeAvailable();
const emu = new EmuRunner();
if (nat.ok) emu.xcr0 = nativeInfo()!.xcr0 ?? emu.xcr0;

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
// rsi = DATA (source), rdi = DATA+0x1000 (area), eax = edx = -1 (all of XCR0), ecx = 1
const gpr = Array.from({ length: 16 }, (_, i) =>
  i === 0 || i === 2 ? 0xffffffffn : i === 1 ? 1n : i === 4 ? DEFAULT_RSP : i === 6 ? DATA_BASE : i === 7 ? DATA_BASE + 0x1000n : 0n);

const TOUCH: Record<string, string> = {
  none: "",
  "pxor xmm0": "660fefc0",
  "movq xmm1, rax": "66480f6ec8",
  "ldmxcsr [rsi] (0x1f00)": "0fae16",
  "vpxor ymm0 (VEX.256)": "c5fdefc0",
  "vpcmpeqd ymm0; vzeroupper": "c5fd76c0 c5f877",
  "vpcmpeqd ymm0; vzeroall": "c5fd76c0 c5fc77",
  "kxnorw k1": "c5f446c9",
  "vmovdqu64 zmm0, [rsi]": "62f1fe486f06",
  "vmovdqu64 zmm16, [rsi]": "62e1fe486f06",
  "vmovdqu64 zmm3, [rsi]; vzeroupper": "62f1fe486f1e c5f877",
};
const SAVE: Record<string, string> = {
  xsave64: "480fae27",
  xsaveopt64: "480fae37",
  xsavec64: "480fc727",
  "xsave (32-bit FIP form)": "0fae27",
  "xgetbv(1)": "0f01d0",
};

function cases(): { name: string; c: NativeCase }[] {
  const out: { name: string; c: NativeCase }[] = [];
  for (const [tn, tb] of Object.entries(TOUCH)) {
    for (const [sn, sb] of Object.entries(SAVE)) {
      const patches = tn.startsWith("ldmxcsr") ? [{ addr: DATA_BASE, bytes: hex("001f0000") }] : [];
      out.push({ name: `${tn}; ${sn}`, c: { code: hex(tb + sb), gpr, dataSeed: 7n, dumpData: true, patches } });
    }
  }
  return out;
}

// A context switch in the middle of a native case can leave components in
// use (the kernel's XRSTORS loads whatever the task's saved XSTATE_BV says),
// which shows up as extra XINUSE bits. A mismatching case is therefore run
// natively again (twice at most) before it counts as a difference.
function compare(name: string, c: NativeCase, first: ReturnType<typeof runNative>[number]) {
  const e = emu.run(c);
  let n = first;
  for (let retry = 0; retry < 2 && !same(e, n); retry++) n = runNative([c])[0];
  assert.is(e.status, n.status, `${name}: status`);
  assert.is(e.vector, n.vector, `${name}: vector`);
  assert.equal(e.gpr.map((v) => v.toString(16)), n.gpr.map((v) => v.toString(16)), `${name}: registers`);
  if (n.data && e.data) {
    for (let i = 0; i < n.data.length; i++) {
      if (n.data[i] !== e.data[i]) {
        const area = i - 0x1000;
        assert.unreachable(`${name}: byte ${i} (area+${area}) native 0x${n.data[i].toString(16)} emulator 0x${e.data[i].toString(16)}`);
      }
    }
  }
}

function same(e: ReturnType<EmuRunner["run"]>, n: ReturnType<typeof runNative>[number]): boolean {
  if (e.status !== n.status || e.vector !== n.vector || e.gpr.some((v, i) => v !== n.gpr[i])) return false;
  return !n.data || !e.data || n.data.every((b, i) => b === e.data![i]);
}

if (!nat.ok) {
  console.log(`SKIP xsave differential: ${nat.reason}`);
} else {
  const cs = cases();
  const res = runNative(cs.map((x) => x.c));
  cs.forEach((x, i) => test(`${x.name} matches ${hostVendor()} silicon`, () => compare(x.name, x.c, res[i])));

  // XRSTOR of crafted headers: rsi = area with XSTATE_BV/XCOMP_BV patched
  const bad: [string, string][] = [
    ["XSTATE_BV bit outside XCR0", "0800000000000000 0000000000000000"],
    ["XCOMP_BV nonzero in standard form", "0100000000000000 0100000000000000"],
    ["compacted without bit 63... XCOMP_BV=1", "0000000000000000 0100000000000000"],
    ["valid init", "0000000000000000 0000000000000000"],
    ["compacted, XSTATE_BV not in XCOMP_BV", "0200000000000000 0100000000000080"],
    ["compacted, all init", "0000000000000000 0000000000000080"],
  ];
  const rcs: NativeCase[] = bad.map(([, h]) => ({
    code: hex("480fae2e 480fae27"),                                // xrstor64 [rsi]; xsave64 [rdi]
    gpr, dataSeed: 0n, dumpData: true,
    patches: [{ addr: DATA_BASE + 24n, bytes: hex("801f0000") }, { addr: DATA_BASE + 512n, bytes: hex(h) }],
  }));
  const rres = runNative(rcs);
  bad.forEach(([n], i) => test(`xrstor: ${n}`, () => compare(n, rcs[i], rres[i])));
}

test.run();
