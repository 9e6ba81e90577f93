// AVX-512 against this CPU: EVEX ternary logic, opmask merging and zeroing,
// masked stores, the upper bank (zmm16-31) and the opmask instructions, each
// run natively and in the emulator on the same bytes and inputs.
import { test } from "uvu";
import { EmuRunner } from "../helpers/emu";
import { assertSameAsSilicon } from "../helpers/diff";
import { nativeAvailable, nativeInfo, runNative, DATA_BASE, DEFAULT_RSP, type NativeCase } from "../native/native";

const nat = nativeAvailable();
const emu = new EmuRunner();
if (nat.ok) emu.xcr0 = nativeInfo()!.xcr0 ?? emu.xcr0;
const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((x) => parseInt(x, 16)));
// rsi = DATA (two 64-byte vectors, then the k1 mask at +128), rdi = DATA+0x100 (outputs)
const gpr = Array.from({ length: 16 }, (_, i) => i === 4 ? DEFAULT_RSP : i === 6 ? DATA_BASE : i === 7 ? DATA_BASE + 0x100n : 0n);
const vec = (seed: number) => Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + seed * 101 + (i >> 3) * 13) & 0xff);
const inputs = [
  { addr: DATA_BASE, bytes: vec(1) }, { addr: DATA_BASE + 64n, bytes: vec(2) },
  { addr: DATA_BASE + 128n, bytes: hex("a5c3") },
];
const LOAD = "62f1fe486f0e 62f1fe486f5601 c5f8908e80000000";   // zmm1=[rsi], zmm2=[rsi+64], k1=[rsi+128]
const CASES: Record<string, string> = {
  "vpternlogd zmm0, zmm1, zmm2, 0x96 (3-way xor)": "62f3754825c296 62f1fe487f07",
  "vpternlogq zmm3{k1}{z}, zmm1, m512, 0xe8 (majority, zeroing)": "62f3f5c9255e01e8 62f1fe487f5f01",
  "vpaddd zmm4{k1}, zmm1, zmm2 (merging)": "62f17549fee2 62f1fe487f6702",
  "vpxorq; vmovdqu32 m512{k1} (masked store leaves memory)": "62f1f548efea 62f17e497f6f03",
  "vpcmpeqd ymm6; vmovdqu m256 (VEX zeroes upper lanes)": "c5f576f1 c5fe7fb700010000",
  "vpsubq xmm7, xmm2, xmm1": "c5e9fbf9 c5fa7fbf20010000",
  "zmm17: vmovdqu64; vpternlogd 0x3c; store": "62e1fe486f0e 62e3754025ca3c 62e1fe487f4f05",
  "kortestw k1,k1; setc; setz; kmovw ecx,k1": "c5f898c9 0f92c0 0f94c3 c5f893c9",
  "vpaddd zmm4, zmm1, m32bcst [rsi+4] (disp8*4)": "62f17558fe6601 62f1fe487f6702",
  "vpternlogq zmm3, zmm1, m64bcst [rsi+8], 0xe8 (disp8*8)": "62f3f558255e01e8 62f1fe487f5f01",
  "vpxorq xmm5{k1}{z}, xmm1, [rsi+16] (disp8*16)": "62f1f589ef6e01 62f1fe487f6f03",
  "vmovdqu64 with EVEX.b is #UD": "62f1fe586f0e",
  "vpxord with EVEX.b on registers (ignored by silicon)": "62f17558efc2 62f1fe487f07",
  "vmovdqu64 register form with EVEX.b is #UD": "62f1fe586fc1 62f1fe487f07",
  "vmovdqu64 store with EVEX.b is #UD": "62f1fe587f07",
  "whole sequence then vzeroupper": "62f3754825c296 62f1fe487f07 62f3f5c9255e01e8 62f1fe487f5f01 62f17549fee2 62f1fe487f6702 62f1f548efea 62f17e497f6f03 c5f576f1 c5fe7fb700010000 c5e9fbf9 c5fa7fbf20010000 62e1fe486f0e 62e3754025ca3c 62e1fe487f4f05 c5f898c9 0f92c0 0f94c3 c5f893c9 c5f877",
};

if (!nat.ok) console.log(`SKIP AVX-512 differential: ${nat.reason}`);
else if ((nativeInfo()!.xcr0 & 0xe0n) !== 0xe0n) console.log("SKIP AVX-512 differential: XCR0 has no opmask/ZMM state on this host");
else {
  const names = Object.keys(CASES);
  const cs: NativeCase[] = names.map((n) => ({ code: hex(LOAD + CASES[n]), gpr, dataSeed: 5n, patches: inputs, dumpData: true }));
  const res = runNative(cs);
  names.forEach((n, i) => test(`${n}: matches silicon`, () => {
    assertSameAsSilicon(emu.run(cs[i]), res[i], 0x400);
  }));
}
test.run();
