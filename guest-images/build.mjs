#!/usr/bin/env node
// guest-images/build.mjs — assemble every guest-images/src/*.S into guest-images/bin/.
//
//   node guest-images/build.mjs            build all images into guest-images/bin/
//   node guest-images/build.mjs --check    rebuild into a temp dir; exit 1 if any committed file
//                                          in bin/ differs from what its source produces, is
//                                          missing, or has no source (stale)
//   node guest-images/build.mjs --out DIR  build into DIR instead of bin/
//   node guest-images/build.mjs NAME...    only these sources (e.g. boot64 w1)
//
// Each source declares its kind in a comment near the top: `# kind: rom|bin|elf`.
//   rom  64 KiB BIOS ROM (lib/rom.ld, linked at 0xF0000, reset vector at offset 0xFFF0) -> NAME.rom
//   bin  flat real-mode image loaded and entered at 0000:7C00 (lib/bin.ld)               -> NAME.bin
//   elf  ELF64, PT_LOADs at physical addresses, entered in long mode at CPL0 (lib/elf.ld) -> NAME.elf
// rom and bin images also get NAME.sym: `nm -n` of the linked image (address, type, name;
// code and data labels only), so tests and debuggers can find labels (e.g. where to put a
// breakpoint) without the intermediate ELF. ELF images keep their own .symtab.
//
// Tools: GNU as, ld, objcopy, nm (binutils). No C preprocessor, no timestamps, no build ids:
// the output is a pure function of the sources (for a given binutils version; the committed
// images were built with GNU binutils 2.40). Sources are assembled with cwd = src/ and a
// relative file name, so no absolute path ends up in the ELF symbol table.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync, existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(fileURLToPath(import.meta.url));
const SRC = join(ROOT, 'src');
const BIN = join(ROOT, 'bin');

export const ROM_SIZE = 0x10000;

const KINDS = {
  rom: { ld: 'lib/rom.ld', ext: '.rom', flat: true },
  bin: { ld: 'lib/bin.ld', ext: '.bin', flat: true },
  elf: { ld: 'lib/elf.ld', ext: '.elf', flat: false },
};

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: SRC, encoding: opts.encoding ?? 'utf8', maxBuffer: 64 << 20, input: opts.input });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status}):\n${r.stderr}${r.stdout ?? ''}`);
  }
  if (r.stderr && r.stderr.trim() && !opts.quietStderr) process.stderr.write(r.stderr);
  return r.stdout;
}

/** A source built on the guest library (lib/guest.inc) gets __FILE__/__LINE__ (see preprocess). */
export function usesGuestLib(text) {
  return /^\s*\.include\s+"lib\/guest\.inc"/m.test(text);
}

/**
 * GNU as has no __FILE__ or __LINE__, which GUEST_ASSERT reports (lib/guest.inc). For sources
 * that include lib/guest.inc the assembler reads this text on stdin instead of the file:
 * line 1 gets `.file "NAME.S"` (the ELF's STT_FILE symbol, as when assembling the file) and the
 * string label .L__file__; every line whose first word (after an optional label) is an
 * upper-case macro name gets `.set .L__line__, N;` in front of that word, N = its line number
 * in the source — except inside .macro bodies of the file, so an assertion in a macro reports
 * the line that invoked the macro. Line numbers stay those of the file; the output is a pure function of it.
 */
export function preprocess(text, file) {
  let inMacro = 0;
  const lines = text.split('\n').map((l, i) => {
    // inside a .macro defined in this file the line is that of the macro's invocation
    if (/^\s*\.macro\b/.test(l)) inMacro++;
    else if (/^\s*\.endm\b/.test(l)) inMacro--;
    if (inMacro) return l;
    const m = /^(\s*(?:[A-Za-z_.$][\w.$]*:\s*)?)([A-Z][A-Z0-9_]*)(?=\s|$)/.exec(l);
    return m ? `${m[1]}.set .L__line__, ${i + 1}; ${l.slice(m[1].length)}` : l;
  });
  lines[0] = `.file "${file}"; .pushsection .rodata; .L__file__: .asciz "${file}"; .popsection; ${lines[0]}`;
  return lines.join('\n');
}

export function sourceKind(text, name) {
  const head = text.split('\n').slice(0, 10).join('\n');
  const m = /^#\s*kind:\s*(rom|bin|elf)\b/m.exec(head);
  if (!m) throw new Error(`${name}: no "# kind: rom|bin|elf" line in its first 10 lines`);
  return m[1];
}

function listSources(only) {
  const all = readdirSync(SRC).filter((f) => f.endsWith('.S')).sort();
  if (!only.length) return all;
  return only.map((n) => {
    const f = n.endsWith('.S') ? n : `${n}.S`;
    if (!all.includes(f)) throw new Error(`no source guest-images/src/${f}`);
    return f;
  });
}

function validate(kind, name, bytes) {
  if (kind === 'rom') {
    if (bytes.length !== ROM_SIZE) throw new Error(`${name}: ROM is ${bytes.length} bytes, want ${ROM_SIZE}`);
    if (bytes[0xfff0] !== 0xea) throw new Error(`${name}: no far jmp at the reset vector (offset 0xFFF0)`);
  } else if (kind === 'bin') {
    if (bytes.length === 0 || bytes.length > 0x70000 - 0x7c00) throw new Error(`${name}: bad flat image size ${bytes.length}`);
  } else {
    if (bytes.readUInt32LE(0) !== 0x464c457f || bytes[4] !== 2 || bytes[5] !== 1) throw new Error(`${name}: not an ELF64 LE file`);
    const phoff = Number(bytes.readBigUInt64LE(0x20));
    const phentsize = bytes.readUInt16LE(0x36);
    const phnum = bytes.readUInt16LE(0x38);
    let loads = 0;
    for (let i = 0; i < phnum; i++) if (bytes.readUInt32LE(phoff + i * phentsize) === 1) loads++;
    if (!loads) throw new Error(`${name}: no PT_LOAD`);
  }
}

/** Build one source into outDir; returns the list of files written (basenames). */
function buildOne(file, outDir, work) {
  const name = basename(file, '.S');
  const kind = sourceKind(readFileSync(join(SRC, file), 'utf8'), file);
  const k = KINDS[kind];
  const obj = join(work, `${name}.o`);
  const elf = join(work, `${name}.elf`);
  const text = readFileSync(join(SRC, file), 'utf8');
  if (usesGuestLib(text)) run('as', ['--64', '-o', obj, '-'], { input: preprocess(text, file) });
  else run('as', ['--64', '-o', obj, file]);
  run('ld', ['-m', 'elf_x86_64', '-nostdlib', '-static', '--build-id=none', '-z', 'noexecstack',
    '--no-warn-rwx-segments', '-T', k.ld, '-o', elf, obj]);
  const out = [];
  let bytes;
  if (k.flat) {
    const flat = join(work, `${name}${k.ext}`);
    run('objcopy', ['-O', 'binary', elf, flat]);
    bytes = readFileSync(flat);
    // code/data labels only (the absolute constants of lib/defs.inc are left out)
    const sym = run('nm', ['-n', '--defined-only', elf]).split('\n')
      .filter((l) => /^[0-9a-f]+ [tTdDrRbB] /.test(l)).join('\n');
    writeFileSync(join(outDir, `${name}.sym`), `${sym}\n`);
    out.push(`${name}.sym`);
  } else {
    bytes = readFileSync(elf);
  }
  validate(kind, name, bytes);
  writeFileSync(join(outDir, `${name}${k.ext}`), bytes);
  out.unshift(`${name}${k.ext}`);
  return { name, kind, files: out, size: bytes.length };
}

function buildAll(files, outDir, quiet) {
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'x86kvm-guests-'));
  try {
    const results = [];
    for (const f of files) {
      const r = buildOne(f, outDir, work);
      results.push(r);
      if (!quiet) console.log(`built ${r.kind.padEnd(3)} ${r.files.join(' ')} (${r.size} bytes) from src/${f}`);
    }
    return results;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function main(argv) {
  const check = argv.includes('--check');
  const quiet = argv.includes('--quiet');
  const oi = argv.indexOf('--out');
  const outArg = oi >= 0 ? argv[oi + 1] : undefined;
  const only = argv.filter((a, i) => !a.startsWith('--') && !(oi >= 0 && i === oi + 1));
  const files = listSources(only);

  if (!check) {
    buildAll(files, outArg ?? BIN, quiet);
    return 0;
  }

  const tmp = mkdtempSync(join(tmpdir(), 'x86kvm-guests-check-'));
  try {
    const results = buildAll(files, tmp, true);
    const problems = [];
    const expected = new Set();
    for (const r of results) {
      for (const f of r.files) {
        expected.add(f);
        const committed = join(BIN, f);
        if (!existsSync(committed)) { problems.push(`missing: bin/${f} (run npm run build:guests)`); continue; }
        const a = readFileSync(committed);
        const b = readFileSync(join(tmp, f));
        if (!a.equals(b)) {
          let at = 0;
          while (at < a.length && at < b.length && a[at] === b[at]) at++;
          problems.push(`differs: bin/${f} (committed ${a.length} bytes, rebuilt ${b.length} bytes, first difference at offset 0x${at.toString(16)})`);
        } else if (!quiet) {
          console.log(`ok ${f}`);
        }
      }
    }
    if (!only.length && existsSync(BIN)) {
      for (const f of readdirSync(BIN).sort()) {
        if (/\.(rom|bin|elf|sym)$/.test(f) && !expected.has(f)) problems.push(`stale: bin/${f} has no source in src/`);
      }
    }
    if (problems.length) {
      for (const p of problems) console.error(`guest-images --check: ${p}`);
      return 1;
    }
    console.log(`guest-images --check: ${results.length} images match their sources`);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const invokedDirectly = (() => {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`guest-images/build.mjs: ${e instanceof Error ? e.message : e}`);
    process.exitCode = 2;
  }
}
