// test/guest-images/sources.test.ts — the committed guest images match their sources and parse.
//
// 1. When GNU as/ld/objcopy/nm exist: `node guest-images/build.mjs --check` rebuilds every
//    guest-images/src/*.S into a temp dir and must find the committed guest-images/bin/ identical.
//    Without an assembler the check prints a visible SKIP line instead.
// 2. Always: every committed image parses for its kind (ROM: 64 KiB with a far jmp at the reset
//    vector; flat .bin: fits below the EBDA; ELF: ELF64 x86-64 EXEC with a PT_LOAD that covers
//    e_entry), expected.json covers exactly the committed images, and the W1/W2 ROMs carry their
//    N-patch marker with the default N whose checksum the reference model reproduces.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

function findRoot(): string {
  const starts = [process.cwd()];
  try {
    starts.push(dirname(fileURLToPath(import.meta.url)));
  } catch {
    /* bundled without import.meta.url */
  }
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      if (existsSync(join(dir, 'guest-images', 'build.mjs'))) return dir;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  throw new Error('cannot find the repository root (guest-images/build.mjs)');
}

const ROOT = findRoot();
const BIN = join(ROOT, 'guest-images', 'bin');
const SRC = join(ROOT, 'guest-images', 'src');

function hasTool(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

const images = readdirSync(BIN).filter((f) => /\.(rom|bin|elf)$/.test(f)).sort();

test('every source has a committed image and vice versa', () => {
  const sources = readdirSync(SRC).filter((f) => f.endsWith('.S')).map((f) => f.slice(0, -2)).sort();
  const built = images.map((f) => f.replace(/\.(rom|bin|elf)$/, '')).sort();
  assert.equal(built, sources);
  for (const want of ['boot64.rom', 'realmode.bin', 'hello64.elf', 'selftest64.elf', 'w0.rom', 'w1.rom', 'w2.rom']) {
    assert.ok(images.includes(want), `missing guest-images/bin/${want}`);
  }
});

test('build.mjs --check: committed binaries match their sources', () => {
  const tools = ['as', 'ld', 'objcopy', 'nm'];
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length) {
    console.log(`SKIP guest-images: no assembler (missing ${missing.join(', ')}); binaries not rebuilt`);
    return;
  }
  const r = spawnSync(process.execPath, [join(ROOT, 'guest-images', 'build.mjs'), '--check', '--quiet'], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  assert.is(r.status, 0, `guest-images/build.mjs --check failed:\n${r.stdout}${r.stderr}`);
});

function checkRom(name: string, b: Buffer) {
  assert.is(b.length, 0x10000, `${name}: ROM size`);
  assert.is(b[0xfff0], 0xea, `${name}: jmp far at the reset vector (ROM offset 0xFFF0)`);
  assert.is(b.readUInt16LE(0xfff3), 0xf000, `${name}: reset jmp goes to segment F000`);
}

function checkBin(name: string, b: Buffer) {
  assert.ok(b.length > 0 && b.length <= 0x80000 - 0x7c00, `${name}: flat image size ${b.length}`);
}

function checkElf(name: string, b: Buffer) {
  assert.is(b.readUInt32BE(0), 0x7f454c46, `${name}: ELF magic`);
  assert.is(b[4], 2, `${name}: ELFCLASS64`);
  assert.is(b[5], 1, `${name}: little-endian`);
  assert.is(b.readUInt16LE(0x10), 2, `${name}: ET_EXEC`);
  assert.is(b.readUInt16LE(0x12), 0x3e, `${name}: EM_X86_64`);
  const entry = b.readBigUInt64LE(0x18);
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  assert.ok(phnum > 0 && phentsize >= 56, `${name}: program headers`);
  let loads = 0;
  let entryCovered = false;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (b.readUInt32LE(ph) !== 1) continue; // PT_LOAD
    loads++;
    const offset = Number(b.readBigUInt64LE(ph + 8));
    const paddr = b.readBigUInt64LE(ph + 24);
    const filesz = Number(b.readBigUInt64LE(ph + 32));
    const memsz = b.readBigUInt64LE(ph + 40);
    assert.ok(offset + filesz <= b.length, `${name}: PT_LOAD ${i} lies inside the file`);
    assert.ok(BigInt(filesz) <= memsz, `${name}: PT_LOAD ${i} filesz <= memsz`);
    if (entry >= paddr && entry < paddr + BigInt(filesz)) entryCovered = true;
  }
  assert.ok(loads > 0, `${name}: at least one PT_LOAD`);
  assert.ok(entryCovered, `${name}: e_entry 0x${entry.toString(16)} inside a PT_LOAD`);
}

for (const name of images) {
  test(`${name} parses`, () => {
    const b = readFileSync(join(BIN, name));
    if (name.endsWith('.rom')) checkRom(name, b);
    else if (name.endsWith('.bin')) checkBin(name, b);
    else checkElf(name, b);
  });
}

test('expected.json describes exactly the committed images', () => {
  const expected = JSON.parse(readFileSync(join(ROOT, 'guest-images', 'expected.json'), 'utf8'));
  assert.equal(Object.keys(expected.images).sort(), images);
  for (const [name, e] of Object.entries<any>(expected.images)) {
    assert.ok(typeof e.stdout === 'string' && e.stdout.length > 0, `${name}: stdout`);
    if (e.exit === 'debug-exit') assert.is(e.status, (e.code << 1) | 1, `${name}: status = (code << 1) | 1`);
    else if (e.exit === 'done') assert.is(e.status, 0, `${name}: UCALL_DONE (lib/guest.inc images) is status 0`);
    else assert.is(e.exit, 'hlt', `${name}: exit kind`);
  }
});

test('W1/W2 ROMs: N-patch marker, default N and reference checksums', async () => {
  const wl: any = await import(pathToFileURL(join(ROOT, 'guest-images', 'workloads.mjs')).href);
  const expected = JSON.parse(readFileSync(join(ROOT, 'guest-images', 'expected.json'), 'utf8'));
  for (const w of ['w1', 'w2']) {
    const rom = new Uint8Array(readFileSync(join(BIN, `${w}.rom`)));
    const meta = expected.workloads[w];
    assert.is(wl.markerOf(rom), meta.marker);
    assert.is(wl.MARKER_OFFSET, meta.markerOffset);
    assert.is(wl.N_OFFSET, meta.nOffset);
    assert.is(wl.readN(rom), BigInt(meta.defaultN));
    const patched = wl.patchN(rom, 123457n);
    assert.is(wl.readN(patched), 123457n);
    assert.is(wl.readN(rom), BigInt(meta.defaultN), 'patchN must not modify its input');
    assert.is(patched.length, rom.length);
    const model = w === 'w1' ? wl.w1Checksum : wl.w2Checksum;
    for (const [n, sum] of Object.entries<string>(meta.checksums)) {
      if (BigInt(n) > 200_000n) continue; // large N: recorded from QEMU, too slow for a unit test
      assert.is(model(BigInt(n)).toString(16).padStart(16, '0'), sum, `${w} N=${n}`);
    }
    const out = expected.images[`${w}.rom`].stdout as string;
    assert.ok(out.includes(wl.doneLine(model(BigInt(meta.defaultN)))), `${w}.rom expected stdout has the DONE line`);
  }
});

test.run();
