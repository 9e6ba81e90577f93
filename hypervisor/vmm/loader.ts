// Image loaders: a BIOS ROM (QEMU -bios semantics), a flat boot image at
// 0x7C00, and ELF64 (PT_LOAD by physical address, started in long mode the
// way the KVM selftests' vm_create does it). Bad images are refused with an
// ImageError carrying a one-line message.

export class ImageError extends Error {}

export type ImageKind = "bios" | "flat" | "elf";

export interface LoadedImage {
  kind: ImageKind;
  /** guest-physical chunks to copy into RAM (or map as ROM) */
  chunks: { gpa: number; bytes: Uint8Array; memsz: number }[];
  entry: bigint;
}

export function detectKind(bytes: Uint8Array, name: string): ImageKind {
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return "elf";
  if (/\.rom$/i.test(name)) return "bios";
  return "flat";
}

export function loadBios(bytes: Uint8Array): LoadedImage {
  if (bytes.length === 0) throw new ImageError("BIOS image is empty");
  if (bytes.length % 4096 !== 0 || bytes.length > 16 << 20) {
    throw new ImageError(`BIOS image size ${bytes.length} is not a multiple of 4 KiB up to 16 MiB`);
  }
  return { kind: "bios", chunks: [{ gpa: 0x100000000 - bytes.length, bytes, memsz: bytes.length }], entry: 0xfff0n };
}

export function loadFlat(bytes: Uint8Array): LoadedImage {
  if (bytes.length === 0) throw new ImageError("flat image is empty");
  if (bytes.length > 0x9FC00 - 0x7C00) throw new ImageError(`flat image of ${bytes.length} bytes does not fit below 0x9FC00`);
  return { kind: "flat", chunks: [{ gpa: 0x7c00, bytes, memsz: bytes.length }], entry: 0x7c00n };
}

export function loadElf64(bytes: Uint8Array, ramSize: number): LoadedImage {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number, what: string) => {
    if (bytes.length < n) throw new ImageError(`truncated ELF: ${what} ends at ${n}, file has ${bytes.length} bytes`);
  };
  need(64, "ELF header");
  if (bytes[4] !== 2) throw new ImageError("not an ELF64 image (EI_CLASS is not ELFCLASS64)");
  if (bytes[5] !== 1) throw new ImageError("not a little-endian ELF image");
  const machine = dv.getUint16(18, true);
  if (machine !== 62) throw new ImageError(`ELF machine ${machine} is not x86-64 (62)`);
  const entry = dv.getBigUint64(24, true);
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (phentsize < 56) throw new ImageError(`ELF program header size ${phentsize} is too small`);
  need(phoff + phentsize * phnum, "program headers");
  const chunks: LoadedImage["chunks"] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (dv.getUint32(o, true) !== 1) continue;   // PT_LOAD
    const off = Number(dv.getBigUint64(o + 8, true));
    const paddr = Number(dv.getBigUint64(o + 24, true));
    const filesz = Number(dv.getBigUint64(o + 32, true));
    const memsz = Number(dv.getBigUint64(o + 40, true));
    if (filesz > memsz) throw new ImageError(`PT_LOAD ${i}: p_filesz ${filesz} > p_memsz ${memsz}`);
    need(off + filesz, `PT_LOAD ${i}`);
    if (paddr + memsz > ramSize) throw new ImageError(`PT_LOAD ${i} at 0x${paddr.toString(16)} (+${memsz}) is outside guest RAM (${ramSize} bytes)`);
    chunks.push({ gpa: paddr, bytes: bytes.subarray(off, off + filesz), memsz });
  }
  if (chunks.length === 0) throw new ImageError("ELF image has no PT_LOAD segment");
  return { kind: "elf", chunks, entry };
}
