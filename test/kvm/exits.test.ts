// Exit handling as pure functions (the Firecracker habit): VcpuExit decoded
// from fabricated kvm_run blocks, and Machine.handleVcpuExit fed fabricated
// exits, no guest needed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeExit } from "../../hypervisor/vmm/kvm_ioctls";
import { Machine } from "../../hypervisor/vmm/machine";

function block(reason: number, fill: (d: DataView, b: Uint8Array) => void): Uint8Array {
  const b = new Uint8Array(12288), d = new DataView(b.buffer);
  d.setUint32(8, reason, true);
  fill(d, b);
  return b;
}

test("decodeExit: IO in/out with data views into the PIO page, MMIO read/write, HLT, debug, internal error, unknown", () => {
  const io = block(2, (d, b) => { b[32] = 1; b[33] = 2; d.setUint16(34, 0x3f8, true); d.setUint32(36, 1, true); d.setBigUint64(40, 4096n, true); b[4096] = 0x34; b[4097] = 0x12; });
  const e = decodeExit(io);
  assert.equal(e.kind === "IoOut" && [e.port, [...e.data]], [0x3f8, [0x34, 0x12]]);
  io[32] = 0;
  const i = decodeExit(io);
  assert.is(i.kind, "IoIn");
  if (i.kind === "IoIn") { i.data[0] = 0x77; assert.is(io[4096], 0x77, "IN data aliases the run block"); }
  const mm = block(6, (d, b) => { d.setBigUint64(32, 0xfee00030n, true); d.setUint32(48, 4, true); b[52] = 0; });
  const m = decodeExit(mm);
  assert.ok(m.kind === "MmioRead" && m.addr === 0xfee00030n && m.data.length === 4 && m.data.byteOffset === mm.byteOffset + 40);
  mm[52] = 1;
  assert.is(decodeExit(mm).kind, "MmioWrite");
  assert.equal(decodeExit(block(5, () => {})), { kind: "Hlt" });
  assert.equal(decodeExit(block(8, () => {})), { kind: "Shutdown" });
  assert.equal(decodeExit(block(4, (d) => { d.setUint32(32, 3, true); d.setBigUint64(40, 0x1000n, true); d.setBigUint64(48, 0xffff0ff0n, true); d.setBigUint64(56, 0x400n, true); })),
    { kind: "Debug", exception: 3, pc: 0x1000n, dr6: 0xffff0ff0n, dr7: 0x400n });
  assert.equal(decodeExit(block(17, (d) => d.setUint32(32, 1, true))), { kind: "InternalError", suberror: 1 });
  assert.equal(decodeExit(block(29, () => {})), { kind: "Unsupported", reason: 29 });
});

test("Machine.handleVcpuExit: console OUT, isa-debug-exit, IN from a device, MMIO read as all-ones, stop reasons", () => {
  const out: number[] = [];
  const m = new Machine({ memory: 4 << 20, console: { write: (b) => out.push(...b) } });
  assert.is(m.handleVcpuExit({ kind: "IoOut", port: 0xe9, data: Uint8Array.of(0x41) }), null);
  assert.equal(out, [0x41]);
  const lsr = new Uint8Array(1);
  assert.is(m.handleVcpuExit({ kind: "IoIn", port: 0x3fd, data: lsr }), null);
  assert.is(lsr[0], 0x60);
  const w = new Uint8Array(4);
  m.handleVcpuExit({ kind: "MmioRead", addr: 0xfed00000n, data: w });
  assert.equal([...w], [0xff, 0xff, 0xff, 0xff]);
  assert.equal(m.handleVcpuExit({ kind: "Hlt" }), { exit: "hlt", status: 0 });
  assert.equal(m.handleVcpuExit({ kind: "Shutdown" }), { exit: "shutdown", status: 2 });
  assert.equal(m.handleVcpuExit({ kind: "InternalError", suberror: 1 }), { exit: "internal-error", status: 4 });
  assert.is(m.handleVcpuExit({ kind: "Intr" }), null);
  assert.equal(m.handleVcpuExit({ kind: "IoOut", port: 0xf4, data: Uint8Array.of(3) }), { exit: "debug-exit", status: 7 });
});

test("Machine: the ucall protocol — SYNC (continue or stop), PRINTF to the console, ABORT with file:line and values, DONE", () => {
  const out: number[] = [];
  const m = new Machine({ memory: 4 << 20, console: { write: (b) => out.push(...b) } });
  const enc = new TextEncoder();
  const put = (gpa: number, b: Uint8Array) => m.writePhys(gpa, b);
  put(0x600, enc.encode("x == 0x1234\0")); put(0x700, enc.encode("pkru-migrate.S\0")); put(0x800, enc.encode("hi\n\0"));
  const uc = (cmd: number, ...args: bigint[]) => {
    const b = new Uint8Array(64), d = new DataView(b.buffer);
    d.setBigUint64(0, BigInt(cmd), true);
    args.forEach((a, i) => d.setBigUint64(8 + 8 * i, a, true));
    put(0x500, b);
  };
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rdi: 0x500n });
  const io = () => ({ kind: "IoIn" as const, port: 0x1000, data: new Uint8Array(1) });
  uc(1, 0n, 3n);
  assert.is(m.handleVcpuExit(io()), null, "SYNC continues unless the run asked to stop");
  assert.is(m.syncs, 1);
  uc(3, 0x800n);
  assert.is(m.handleVcpuExit(io()), null);
  assert.is(String.fromCharCode(...out), "hi\n");
  uc(2, 0x600n, 0x700n, 42n, 0x1234n, 0x1230n);
  const r = m.handleVcpuExit(io());
  assert.is(r?.exit, "guest-assert");
  assert.is(r?.status, 8);
  assert.is(r?.message, "pkru-migrate.S:42: GUEST_ASSERT(x == 0x1234) failed: 0x1234 vs 0x1230");
  uc(4);
  assert.is(m.handleVcpuExit(io())?.exit, "done");
  uc(5, 6n, 0n, 0x401234n, 0n);
  const x = m.handleVcpuExit(io());
  assert.equal([x?.exit, x?.status, x?.message], ["guest-exception", 10, "unhandled exception #UD (vector 6) at rip 0x401234, error code 0x0"]);
  m.vcpu.setRegs({ ...m.vcpu.getRegs(), rdi: 0x7fffff00n });
  assert.is(m.handleVcpuExit(io())?.exit, "internal-error", "a ucall pointer outside RAM is refused, not read");
});

test.run();
