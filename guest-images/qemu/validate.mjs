#!/usr/bin/env node
// guest-images/qemu/validate.mjs — run every committed guest image under QEMU TCG and compare
// its debug-console output and exit status with guest-images/expected.json. A validation aid
// only: nothing in the repo needs QEMU (without qemu-system-x86_64 this prints SKIP, exits 0).
//
//   node guest-images/qemu/validate.mjs                 all images in guest-images/bin/
//   node guest-images/qemu/validate.mjs boot64.rom ...  some of them
//   node guest-images/qemu/validate.mjs --workloads     also W1/W2 for every N in expected.json
//                                                       (patched copies; large N take a while)
//   node guest-images/qemu/validate.mjs --record        write what QEMU printed into expected.json
//                                                       (an entry's "qemu" block when it has one:
//                                                       a documented QEMU deviation)
//
// ROMs run exactly as `qemu-system-x86_64 -accel tcg -cpu max -nodefaults -nographic -bios ROM
// -debugcon stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04`. Flat .bin and ELF images
// have no QEMU equivalent of x86kvm's loaders, so they run with a stand-in ROM from this
// directory (flatboot.S: jmp 0000:7C00; elfboot.S: long mode + jmp e_entry) and
// `-device loader` to place the image. An image whose expected exit is "hlt" stays halted in
// QEMU; it is stopped after a short timeout and counts as halted.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { patchN, doneLine, w1Checksum, w2Checksum } from '../workloads.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const SRC = join(ROOT, 'src');
const BIN = join(ROOT, 'bin');
const QEMU = 'qemu-system-x86_64';
const BASE_ARGS = ['-accel', 'tcg', '-cpu', 'max', '-nodefaults', '-nographic',
  '-debugcon', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'];

function have(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return !r.error && r.status === 0 ? r.stdout : null;
}

function buildStub(name, work) {
  const obj = join(work, `${name}.o`), elf = join(work, `${name}.elf`), rom = join(work, `${name}.rom`);
  for (const [cmd, args] of [
    ['as', ['--64', '-o', obj, `../qemu/${name}.S`]],
    ['ld', ['-m', 'elf_x86_64', '-nostdlib', '-static', '--build-id=none', '-z', 'noexecstack',
      '--no-warn-rwx-segments', '-T', 'lib/rom.ld', '-o', elf, obj]],
    ['objcopy', ['-O', 'binary', elf, rom]],
  ]) {
    const r = spawnSync(cmd, args, { cwd: SRC, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  }
  return readFileSync(rom);
}

function runQemu(args, timeoutMs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(QEMU, [...BASE_ARGS, ...args], { encoding: 'latin1', timeout: timeoutMs, killSignal: 'SIGKILL' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const timedOut = r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL';
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status, timedOut, ms };
}

function main(argv) {
  const ver = have(QEMU, ['--version']);
  if (!ver) {
    console.log(`SKIP guest-images qemu validation: no ${QEMU}`);
    return 0;
  }
  if (!have('as', ['--version'])) {
    console.log('SKIP guest-images qemu validation: no assembler (needed for the stand-in ROMs)');
    return 0;
  }
  console.log(ver.split('\n')[0]);
  const expected = JSON.parse(readFileSync(join(ROOT, 'expected.json'), 'utf8'));
  const workloads = argv.includes('--workloads');
  const record = argv.includes('--record');
  const names = argv.filter((a) => !a.startsWith('--'));
  const images = names.length ? names : readdirSync(BIN).filter((f) => /\.(rom|bin|elf)$/.test(f)).sort();

  const work = mkdtempSync(join(tmpdir(), 'x86kvm-qemu-'));
  let failures = 0;
  try {
    const flatboot = join(work, 'flatboot.rom');
    writeFileSync(flatboot, buildStub('flatboot', work));
    const elfbootBytes = buildStub('elfboot', work);

    const runImage = (file, bytes) => {
      const path = join(work, file);
      writeFileSync(path, bytes);
      const exp = expected.images[file];
      const halts = exp?.exit === 'hlt';
      const timeout = halts ? 3000 : 120000;
      if (file.endsWith('.rom')) return runQemu(['-bios', path], timeout);
      if (file.endsWith('.bin')) {
        return runQemu(['-bios', flatboot, '-device', `loader,file=${path},addr=0x7c00,force-raw=on`], timeout);
      }
      const entry = Buffer.from(bytes).readBigUInt64LE(0x18);
      const stub = Buffer.from(elfbootBytes);
      stub.writeBigUInt64LE(entry, 0xffe8);
      const stubPath = join(work, `elfboot-${file}.rom`);
      writeFileSync(stubPath, stub);
      return runQemu(['-bios', stubPath, '-device', `loader,file=${path}`], timeout);
    };

    for (const file of images) {
      const entry = expected.images[file];
      if (entry?.qemu?.skip) { console.log(`skip ${file.padEnd(16)} (${entry.qemu.why})`); continue; }
      const exp = entry?.qemu ? { ...entry, ...entry.qemu } : entry; // a documented QEMU deviation
      const r = runImage(file, readFileSync(join(BIN, file)));
      const exit = r.timedOut ? 'hlt/timeout' : `status ${r.status}`;
      if (record) {
        if (!entry) throw new Error(`--record: add an entry for ${file} to expected.json first`);
        const target = entry.qemu ?? entry;
        target.stdout = r.stdout;
        if (entry.exit !== 'hlt') target.status = r.status;
      }
      let ok = !!exp && r.stdout === exp.stdout;
      if (exp?.exit === 'hlt') ok &&= r.timedOut;
      else ok &&= !r.timedOut && r.status === exp?.status;
      const note = entry?.qemu ? ` (expected QEMU deviation: ${entry.qemu.why})` : '';
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${file.padEnd(16)} ${exit.padEnd(12)} ${r.ms.toFixed(0).padStart(6)} ms${note}`);
      if (!ok) {
        failures++;
        console.log(`--- expected (${exp ? `${exp.exit} ${exp.status}` : 'no entry in expected.json'}):\n${exp?.stdout ?? ''}--- got:\n${r.stdout}${r.stderr}`);
      }
    }

    if (workloads) {
      for (const [w, model] of [['w1', w1Checksum], ['w2', w2Checksum]]) {
        const rom = readFileSync(join(BIN, `${w}.rom`));
        for (const [n, sum] of Object.entries(expected.workloads[w].checksums)) {
          const r = runImage(`${w}.rom`, patchN(rom, BigInt(n)));
          const want = `DONE ${sum}`;
          const got = /DONE [0-9a-f]{16}/.exec(r.stdout)?.[0];
          if (record && got) expected.workloads[w].checksums[n] = got.slice(5);
          const modelLine = BigInt(n) <= 10_000_000n ? doneLine(model(BigInt(n))) : want;
          const ok = got === want && modelLine === want && r.status === 1;
          if (!ok) failures++;
          console.log(`${ok ? 'ok  ' : 'FAIL'} ${w} N=${n.padEnd(12)} qemu: ${got} model: ${modelLine} ${r.ms.toFixed(0).padStart(6)} ms`);
        }
      }
    }
    if (record) {
      writeFileSync(join(ROOT, 'expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
      console.log('recorded QEMU results into guest-images/expected.json');
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(failures ? `${failures} FAILED` : 'all ok');
  return failures ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
