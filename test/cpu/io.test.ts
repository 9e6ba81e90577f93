// Port I/O through the machine's devices: OUT/IN exits, and REP OUTS that is
// not the first instruction of its block restarts at itself, not at the
// block's start (each element is its own exit).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Machine } from "../../hypervisor/vmm/machine";

function runFlat(code: number[]): { out: string; exit: string } {
  const bytes: number[] = [];
  const m = new Machine({ memory: 4 << 20, console: { write: (b) => bytes.push(...b) } });
  m.load("flat", Uint8Array.from(code));
  const r = m.run(100_000);
  return { out: String.fromCharCode(...bytes), exit: r.exit };
}

test("rep outsb after other instructions in the same block prints each byte once", () => {
  // mov cx,3; mov si,0x7c0f; mov dx,0xe9; rep outsb; hlt; "abc"
  const code = [0xb9, 0x03, 0x00, 0xbe, 0x0f, 0x7c, 0xba, 0xe9, 0x00, 0xf3, 0x6e, 0xf4, 0x90, 0x90, 0x90, 0x61, 0x62, 0x63];
  const r = runFlat(code);
  assert.is(r.out, "abc");
  assert.is(r.exit, "hlt");
});

test("in al, 0x92 reads the A20 port; out to 0xE9 prints", () => {
  // in al,0x92; add al,0x40 (2+0x40 = 'B'); out 0xe9,al; hlt
  const r = runFlat([0xe4, 0x92, 0x04, 0x40, 0xe6, 0xe9, 0xf4]);
  assert.is(r.out, "B");
});

test.run();
