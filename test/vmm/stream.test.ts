// The migration stream (hypervisor/vmm/migration/stream.ts): round trip, and every way a stream
// is refused — flipped byte (the section is named), truncation (where), bad magic, newer or unknown
// version, an incompatible destination (memory size, CPUID features) — without touching the
// destination.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { guestImagePath } from "../../hypervisor/vmm/selftests/harness";
import { Machine } from "../../hypervisor/vmm/machine";
import { buildCpuid, getModel } from "../../hypervisor/models/models";
import {
  vmmSave, vmmRestore, encodeStream, decodeStream, streamInfo, runToSync, StreamError, crc32, STREAM_MAGIC, type VmSnapshot,
} from "../../hypervisor/vmm/migration";
import { readFileSync } from "node:fs";

/** the migration tests' guest (guest-images/src/migrate-check.S) */
const ELF = new Uint8Array(readFileSync(guestImagePath("migrate-check.elf")));

const MEM = 4 << 20;
const quiet = { write: () => {} };
function saved(model = "icelake-server", kernel = "b3", cpuid?: ReturnType<typeof buildCpuid>): { s: VmSnapshot; bytes: Uint8Array } {
  const m = new Machine({ model, kernel, memory: MEM, cpuid, console: quiet });
  m.load("elf", ELF);
  assert.is(runToSync(m, 1, 1e6).exit, "sync");
  const s = vmmSave(m);
  return { s, bytes: encodeStream(s) };
}
const base = saved();

function refused(b: Uint8Array, re: RegExp, kind?: string): StreamError {
  try { decodeStream(b); } catch (e) {
    assert.instance(e, StreamError);
    assert.match((e as Error).message, re);
    if (kind) assert.is((e as StreamError).kind, kind);
    return e as StreamError;
  }
  assert.unreachable(`accepted, expected ${re}`);
  throw new Error();
}

test("crc32 is zlib's", () => {
  assert.is(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.is(crc32(new Uint8Array(0)), 0);
});

test("round trip: decode(encode(s)) equals s; HEAD describes the stream", () => {
  const d = decodeStream(base.bytes);
  assert.equal(d.source, base.s.source);
  assert.equal(d.cpuid, base.s.cpuid);
  assert.is(d.memorySize, MEM);
  assert.is(d.syncs, 1);
  assert.equal(d.vcpus, base.s.vcpus);
  assert.equal(d.slots.map((x) => [x.slot, x.gpa, x.flags]), base.s.slots.map((x) => [x.slot, x.gpa, x.flags]));
  assert.ok(d.slots.every((x, i) => Buffer.compare(Buffer.from(x.data), Buffer.from(base.s.slots[i].data)) === 0), "memory bytes");
  const { header, sections } = streamInfo(base.bytes);
  assert.equal(sections.map((x) => x.tag), ["HEAD", "VCPU", "MEMS", "END"]);
  assert.equal(header.sections, ["HEAD", "VCPU", "MEMS", "END"]);
  assert.is(header.version, 1);
  assert.equal(header.source, { host: "icelake-server", kernel: "6.8", kernelId: "B3" });
  assert.is(header.memory.size, MEM);
  assert.is(header.xsaveSize, 4096);
  assert.is(header.vcpus, 1);
  assert.is(header.cpuid.length, base.s.cpuid.length);
  assert.is(String.fromCharCode(...base.bytes.subarray(0, 8)), STREAM_MAGIC);
  assert.ok(base.bytes.length < 100_000, `zero pages are not stored: ${base.bytes.length} bytes for ${MEM} of RAM`);
});

test("a flipped byte in any section's payload: checksum mismatch naming that section", () => {
  const { sections } = streamInfo(base.bytes);
  for (const sec of sections) {
    for (const off of [0, sec.length >> 1, sec.length - 1]) {
      const b = base.bytes.slice();
      b[sec.offset + 16 + off] ^= 0x40;
      const e = refused(b, new RegExp(`^checksum mismatch in section ${sec.tag} \\(#\\d+`), "checksum");
      if (sec.tag === "MEMS") assert.match(e.message, /memory slot 0/);
      if (sec.tag === "END") assert.match(e.message, /over the whole stream/);
    }
  }
  // a flipped byte in a section header's CRC field
  const b = base.bytes.slice();
  b[sections[1].offset + 12] ^= 1;
  refused(b, /^checksum mismatch in section VCPU/);
});

test("truncated streams say where", () => {
  const { sections } = streamInfo(base.bytes);
  refused(base.bytes.subarray(0, 0), /^truncated: 0 bytes, the stream header alone is 16/, "truncated");
  refused(base.bytes.subarray(0, 10), /^truncated: 10 bytes/, "truncated");
  refused(base.bytes.subarray(0, 20), /^truncated at byte 20: section #1 of 4 starts at byte 16 .* header needs 16 bytes/, "truncated");
  refused(base.bytes.subarray(0, sections[1].offset + 100), /^truncated at byte \d+: section VCPU \(#2\) at byte \d+ has 84 of its \d+ payload bytes/, "truncated");
  refused(base.bytes.subarray(0, sections[2].offset + 5000), /^truncated at byte \d+: section MEMS \(#3\)/, "truncated");
  refused(base.bytes.subarray(0, sections[3].offset), /^truncated at byte \d+: section #4 of 4 .* after section MEMS \(#3\)/, "truncated");
  refused(base.bytes.subarray(0, base.bytes.length - 1), /^truncated at byte \d+: section END \(#4\)/, "truncated");
});

test("bad magic, newer version, unknown version, trailing bytes", () => {
  const b = base.bytes.slice();
  b.set(new TextEncoder().encode("QEVM"), 0);
  refused(b, /^not an x86kvm migration stream \(magic "QEVMMMS"|^not an x86kvm migration stream/);
  const v2 = base.bytes.slice();
  new DataView(v2.buffer).setUint16(8, 2, true);
  refused(v2, /^stream version 2 is newer than this x86kvm reads \(1\)/, "version");
  const v0 = base.bytes.slice();
  new DataView(v0.buffer).setUint16(8, 0, true);
  refused(v0, /^unknown stream version 0/, "version");
  const extra = new Uint8Array(base.bytes.length + 3);
  extra.set(base.bytes);
  refused(extra, /3 bytes after the END section/);
});

test("incompatible destination: memory size, CPUID features (named), nothing touched", () => {
  const d8 = new Machine({ model: "icelake-server", memory: 8 << 20, cpuid: base.s.cpuid, console: quiet });
  const before = d8.vcpu.getRegs();
  try { vmmRestore(d8, base.s, "strict"); assert.unreachable(); } catch (e) {
    assert.instance(e, StreamError);
    assert.is((e as StreamError).kind, "incompatible");
    assert.match((e as Error).message, /^incompatible destination: destination has 8 MiB of guest RAM, the stream 4 MiB/);
  }
  assert.equal(d8.vcpu.getRegs(), before, "destination untouched");
  assert.is(d8.readPhys(0x200000, 4).every((x) => x === 0), true, "no memory copied");
  // the icelake guest CPUID (with PKU) on a skylake host: QEMU's enforce refuses, naming the features
  const sky = new Machine({ model: "skylake-server", memory: MEM, cpuid: base.s.cpuid, console: quiet });
  try { vmmRestore(sky, base.s, "qemu"); assert.unreachable(); } catch (e) {
    assert.instance(e, StreamError);
    assert.match((e as Error).message, /guest CPUID needs avx512ifma, .*\bpku\b.*, which host skylake-server lacks/);
    assert.match((e as Error).message, /guest CPUID enumerates XSAVE bit 9 \(PKRU\), which host skylake-server lacks/);
  }
  assert.is(sky.cpu.insns, 0);
  // the destination built with another CPUID than the stream's
  const other = new Machine({ model: "icelake-server", memory: MEM, cpuid: buildCpuid(getModel("icelake-server"), { remove: ["avx2"] }), console: quiet });
  try { vmmRestore(other, base.s, "strict"); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /different guest CPUID/); }
});

test("a stream survives a round trip through a file-like copy and restores (encode → bytes → decode → restore → run)", () => {
  const s = decodeStream(new Uint8Array(Buffer.from(base.bytes)));
  const d = new Machine({ model: "icelake-server", kernel: "b4", memory: s.memorySize, cpuid: s.cpuid, console: quiet });
  assert.ok(vmmRestore(d, s, "strict").complete);
  assert.is(d.run(1e6).exit, "done");
});

test.run();
