// The debugger's register file: every register a front end can name, read and
// written through the vCPU ioctls (KVM_GET/SET_REGS, _SREGS, _MSRS, _XCRS and
// KVM_GET_XSAVE2/KVM_SET_XSAVE) — never by poking the CPU's state block, so a
// debugger sees and changes exactly what a VMM could.
//
// Extended state comes from the standard-format (non-compacted) kvm_xsave
// image: the legacy FXSAVE area (x87, MXCSR, XMM0-15), the header (XSTATE_BV)
// and the components at the offsets the guest's CPUID leaf 0xD gives. A write
// sets the component's XSTATE_BV bit (the component is no longer in its init
// state) and goes back with KVM_SET_XSAVE.
import type { VcpuFd } from "../vmm/kvm_ioctls";
import type { KvmRegs, KvmSregs, KvmSegment } from "../uapi/structs";

export const MSR_IDX = { xfd: 0x1c4, xfd_err: 0x1c5, xss: 0xda0, fs_base: 0xc0000100, gs_base: 0xc0000101, k_gs_base: 0xc0000102 } as const;

export const GPR_NAMES = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"] as const;
export const SEG_NAMES = ["cs", "ss", "ds", "es", "fs", "gs"] as const;

/** XSAVE component numbers */
export const XC = { X87: 0, SSE: 1, AVX: 2, OPMASK: 5, ZMM_HI256: 6, HI16_ZMM: 7, PKRU: 9, TILECFG: 17, TILEDATA: 18 } as const;

export interface RegInfo { name: string; group: string; bytes: number }

/** Every register name the engine knows, in groups (for the front ends' lists). */
export function registerList(): RegInfo[] {
  const r: RegInfo[] = [];
  const add = (group: string, bytes: number, ...names: string[]) => names.forEach((name) => r.push({ name, group, bytes }));
  add("general", 8, ...GPR_NAMES, "rip", "rflags");
  add("segment", 2, ...SEG_NAMES, "tr", "ldtr");
  add("segment", 8, "fs_base", "gs_base", "k_gs_base", "gdtr_base", "idtr_base");
  for (const sg of [...SEG_NAMES, "tr", "ldtr"]) add("segment", 8, `${sg}.base`, `${sg}.limit`, `${sg}.type`, `${sg}.dpl`, `${sg}.present`, `${sg}.db`, `${sg}.l`, `${sg}.g`, `${sg}.s`, `${sg}.avl`, `${sg}.unusable`);
  add("segment", 8, "gdtr.base", "gdtr.limit", "idtr.base", "idtr.limit");
  add("control", 8, "cr0", "cr2", "cr3", "cr4", "cr8", "efer");
  add("xsave", 8, "xcr0", "xinuse", "xstate_bv", "xfd", "xfd_err", "xss");
  add("xsave", 4, "pkru");
  add("x87", 10, ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => `st${i}`));
  add("x87", 4, "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop");
  add("sse", 4, "mxcsr");
  add("sse", 16, ...Array.from({ length: 32 }, (_, i) => `xmm${i}`));
  add("avx", 32, ...Array.from({ length: 32 }, (_, i) => `ymm${i}`));
  add("avx512", 64, ...Array.from({ length: 32 }, (_, i) => `zmm${i}`));
  add("avx512", 8, ...Array.from({ length: 8 }, (_, i) => `k${i}`));
  add("amx", 64, "tilecfg");
  add("amx", 1024, ...Array.from({ length: 8 }, (_, i) => `tmm${i}`));
  return r;
}

export function leBytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}
export function bigToLeBytes(v: bigint, n: number): Uint8Array {
  const b = new Uint8Array(n);
  v = BigInt.asUintN(n * 8, v);
  for (let i = 0; i < n; i++) { b[i] = Number(v & 0xffn); v >>= 8n; }
  return b;
}

const SEG_SREGS: Record<string, keyof KvmSregs> = { cs: "cs", ss: "ss", ds: "ds", es: "es", fs: "fs", gs: "gs", tr: "tr", ldtr: "ldt" };

/** Reads and writes named registers of one vCPU through its fd. */
export class RegisterAccess {
  private offsets = new Map<number, { off: number; size: number }>();
  private xsaveSize: number;
  constructor(private readonly vcpu: VcpuFd, xsaveSize: number, private readonly xinuse?: () => bigint | null) {
    this.xsaveSize = Math.max(4096, xsaveSize);
    for (const e of vcpu.getCpuid2()) if (e.fn === 0xd && e.idx >= 2 && e.idx < 64 && e.eax) this.offsets.set(e.idx, { off: e.ebx >>> 0, size: e.eax >>> 0 });
  }

  /** where component `c` lives in the standard-format image, or null when the guest has none */
  component(c: number): { off: number; size: number } | null { return this.offsets.get(c) ?? null; }

  xsave(): Uint8Array { return this.cache ? (this.cache.xsave ??= this.vcpu.getXsave2(this.xsaveSize)) : this.vcpu.getXsave2(this.xsaveSize); }
  private getRegs(): KvmRegs { return this.cache ? (this.cache.regs ??= this.vcpu.getRegs()) : this.vcpu.getRegs(); }
  private getSregs(): KvmSregs { return this.cache ? (this.cache.sregs ??= this.vcpu.getSregs()) : this.vcpu.getSregs(); }
  private cache: { xsave?: Uint8Array; regs?: KvmRegs; sregs?: KvmSregs } | null = null;
  /** run fn with the vCPU state read once (many reads, no writes in between) */
  batch<T>(fn: () => T): T {
    this.cache = {};
    try { return fn(); } finally { this.cache = null; }
  }
  xstateBv(buf = this.xsave()): bigint { return new DataView(buf.buffer, buf.byteOffset).getBigUint64(512, true); }

  private msr(idx: number): bigint | null {
    try { const r = this.vcpu.getMsrs([idx]); return r.length ? r[0].data : null; } catch { return null; }
  }

  /** cs.base, ss.limit, tr.type …, gdtr.limit: one field of a segment or descriptor-table register (KVM_GET_SREGS) */
  private segField(n: string): bigint | null | undefined {
    const m = /^(cs|ss|ds|es|fs|gs|tr|ldtr|gdtr|idtr)\.(base|limit|selector|type|dpl|present|db|l|g|s|avl|unusable)$/.exec(n);
    if (!m) return undefined;
    const sr = this.getSregs();
    if (m[1] === "gdtr" || m[1] === "idtr") {
      const t = sr[m[1] === "gdtr" ? "gdt" : "idt"];
      return m[2] === "base" ? t.base : m[2] === "limit" ? BigInt(t.limit) : null;
    }
    const seg = sr[SEG_SREGS[m[1]]] as KvmSegment;
    const v = seg[m[2] as keyof KvmSegment];
    return typeof v === "bigint" ? v : BigInt(v >>> 0);
  }

  /** The value of a register: bigint for scalars (≤ 8 bytes), little-endian bytes for wider ones. null: unknown name or not present. */
  read(name: string): bigint | Uint8Array | null {
    const n = name.toLowerCase();
    if ((GPR_NAMES as readonly string[]).includes(n) || n === "rip" || n === "rflags" || n === "eflags") {
      return this.getRegs()[(n === "eflags" ? "rflags" : n) as keyof KvmRegs];
    }
    if (n in SEG_SREGS) return BigInt((this.getSregs()[SEG_SREGS[n]] as KvmSegment).selector);
    const sf = this.segField(n);
    if (sf !== undefined) return sf;
    if (n === "fs_base" || n === "gs_base") return (this.getSregs()[n === "fs_base" ? "fs" : "gs"] as KvmSegment).base;
    if (n === "k_gs_base" || n === "xfd" || n === "xfd_err" || n === "xss") return this.msr(MSR_IDX[n]);
    if (n === "gdtr_base" || n === "idtr_base") return this.getSregs()[n === "gdtr_base" ? "gdt" : "idt"].base;
    if (["cr0", "cr2", "cr3", "cr4", "cr8", "efer"].includes(n)) return this.getSregs()[n as "cr0"] as bigint;
    if (n === "xcr0") return this.vcpu.getXcrs().xcrs.find((x) => x.xcr === 0)?.value ?? null;
    const buf = this.xsave(), dv = new DataView(buf.buffer, buf.byteOffset);
    // XINUSE as the host knows it: the XSTATE_BV of the image the kernel saved with XSAVES at the
    // last VM exit (XINUSE & RFBM); xstate_bv is the header of the KVM_GET_XSAVE2 (uabi) copy
    if (n === "xinuse") { const x = this.xinuse?.(); if (x !== undefined && x !== null) return x; }
    if (n === "xinuse" || n === "xstate_bv") return dv.getBigUint64(512, true);
    const x = this.xmmLike(n, buf);
    if (x !== undefined) return x;
    switch (n) {
      case "fctrl": return BigInt(dv.getUint16(0, true));
      case "fstat": return BigInt(dv.getUint16(2, true));
      case "ftag": return BigInt(fullTag(buf));
      case "fop": return BigInt(dv.getUint16(6, true) & 0x7ff);
      case "fioff": return BigInt(dv.getUint32(8, true));
      case "fiseg": return BigInt(dv.getUint16(12, true));
      case "fooff": return BigInt(dv.getUint32(16, true));
      case "foseg": return BigInt(dv.getUint16(20, true));
      case "mxcsr": return BigInt(dv.getUint32(24, true));
      case "pkru": { const c = this.component(XC.PKRU); return c ? BigInt(dv.getUint32(c.off, true)) : null; }
      case "tilecfg": { const c = this.component(XC.TILECFG); return c ? buf.slice(c.off, c.off + 64) : null; }
    }
    return null;
  }

  private xmmLike(n: string, buf: Uint8Array): bigint | Uint8Array | null | undefined {
    let m = /^st([0-7])$/.exec(n);
    if (m) return buf.slice(32 + 16 * +m[1], 32 + 16 * +m[1] + 10);
    m = /^(xmm|ymm|zmm)([0-9]|[12][0-9]|3[01])$/.exec(n);
    if (m) {
      const i = +m[2], w = m[1] === "xmm" ? 16 : m[1] === "ymm" ? 32 : 64;
      const out = new Uint8Array(w);
      if (i < 16) {
        out.set(buf.subarray(160 + 16 * i, 176 + 16 * i), 0);
        if (w >= 32) { const c = this.component(XC.AVX); if (!c) return null; out.set(buf.subarray(c.off + 16 * i, c.off + 16 * i + 16), 16); }
        if (w === 64) { const c = this.component(XC.ZMM_HI256); if (!c) return null; out.set(buf.subarray(c.off + 32 * i, c.off + 32 * i + 32), 32); }
      } else {
        const c = this.component(XC.HI16_ZMM);
        if (!c) return null;
        out.set(buf.subarray(c.off + 64 * (i - 16), c.off + 64 * (i - 16) + w), 0);
      }
      return out;
    }
    m = /^k([0-7])$/.exec(n);
    if (m) { const c = this.component(XC.OPMASK); return c ? new DataView(buf.buffer, buf.byteOffset).getBigUint64(c.off + 8 * +m[1], true) : null; }
    m = /^tmm([0-7])$/.exec(n);
    if (m) { const c = this.component(XC.TILEDATA); return c ? buf.slice(c.off + 1024 * +m[1], c.off + 1024 * +m[1] + 1024) : null; }
    return undefined;
  }

  /** Write a register. Returns false for an unknown name, a register the guest does not have, or a value KVM rejects. */
  write(name: string, value: bigint | Uint8Array): boolean {
    const n = name.toLowerCase();
    const big = typeof value === "bigint" ? value : leBytesToBig(value);
    try {
      if ((GPR_NAMES as readonly string[]).includes(n) || n === "rip" || n === "rflags" || n === "eflags") {
        const r = this.vcpu.getRegs();
        r[(n === "eflags" ? "rflags" : n) as keyof KvmRegs] = BigInt.asUintN(64, big);
        this.vcpu.setRegs(r);
        return true;
      }
      if (n in SEG_SREGS || n === "fs_base" || n === "gs_base" || ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "gdtr_base", "idtr_base"].includes(n)) {
        const s = this.vcpu.getSregs();
        if (n in SEG_SREGS) (s[SEG_SREGS[n]] as KvmSegment).selector = Number(big & 0xffffn);
        else if (n === "fs_base" || n === "gs_base") (s[n === "fs_base" ? "fs" : "gs"] as KvmSegment).base = BigInt.asUintN(64, big);
        else if (n === "gdtr_base" || n === "idtr_base") s[n === "gdtr_base" ? "gdt" : "idt"].base = BigInt.asUintN(64, big);
        else (s as unknown as Record<string, bigint>)[n] = BigInt.asUintN(64, big);
        this.vcpu.setSregs(s);
        return true;
      }
      const sm = /^(cs|ss|ds|es|fs|gs|tr|ldtr|gdtr|idtr)\.(base|limit|selector|type|dpl|present|db|l|g|s|avl|unusable)$/.exec(n);
      if (sm) {
        const s = this.vcpu.getSregs();
        if (sm[1] === "gdtr" || sm[1] === "idtr") {
          const t = s[sm[1] === "gdtr" ? "gdt" : "idt"];
          if (sm[2] === "base") t.base = BigInt.asUintN(64, big); else if (sm[2] === "limit") t.limit = Number(big & 0xffffn); else return false;
        } else {
          const seg = s[SEG_SREGS[sm[1]]] as KvmSegment;
          if (sm[2] === "base") seg.base = BigInt.asUintN(64, big);
          else (seg as unknown as Record<string, number>)[sm[2]] = Number(big & 0xffffffffn);
        }
        this.vcpu.setSregs(s);
        return true;
      }
      if (n === "k_gs_base" || n === "xfd" || n === "xfd_err" || n === "xss") return this.vcpu.setMsrs([{ index: MSR_IDX[n], data: BigInt.asUintN(64, big) }]) === 1;
      if (n === "xcr0") { this.vcpu.setXcrs({ nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: BigInt.asUintN(64, big) }] }); return true; }
    } catch { return false; }
    const buf = this.xsave(), dv = new DataView(buf.buffer, buf.byteOffset);
    const put = (off: number, bytes: Uint8Array, comp: number) => { buf.set(bytes, off); dv.setBigUint64(512, dv.getBigUint64(512, true) | (1n << BigInt(comp)), true); };
    const bytesOf = (w: number) => (typeof value === "bigint" ? bigToLeBytes(value, w) : (() => { const b = new Uint8Array(w); b.set(value.subarray(0, w)); return b; })());
    let m: RegExpExecArray | null;
    if ((m = /^st([0-7])$/.exec(n))) put(32 + 16 * +m[1], bytesOf(10), XC.X87);
    else if ((m = /^(xmm|ymm|zmm)([0-9]|[12][0-9]|3[01])$/.exec(n))) {
      const i = +m[2], w = m[1] === "xmm" ? 16 : m[1] === "ymm" ? 32 : 64, b = bytesOf(w);
      if (i < 16) {
        put(160 + 16 * i, b.subarray(0, 16), XC.SSE);
        if (w >= 32) { const c = this.component(XC.AVX); if (!c) return false; put(c.off + 16 * i, b.subarray(16, 32), XC.AVX); }
        if (w === 64) { const c = this.component(XC.ZMM_HI256); if (!c) return false; put(c.off + 32 * i, b.subarray(32, 64), XC.ZMM_HI256); }
      } else {
        const c = this.component(XC.HI16_ZMM);
        if (!c) return false;
        put(c.off + 64 * (i - 16), b, XC.HI16_ZMM);
      }
    } else if ((m = /^k([0-7])$/.exec(n))) { const c = this.component(XC.OPMASK); if (!c) return false; put(c.off + 8 * +m[1], bytesOf(8), XC.OPMASK); }
    else if ((m = /^tmm([0-7])$/.exec(n))) { const c = this.component(XC.TILEDATA); if (!c) return false; put(c.off + 1024 * +m[1], bytesOf(1024), XC.TILEDATA); }
    else if (n === "tilecfg") { const c = this.component(XC.TILECFG); if (!c) return false; put(c.off, bytesOf(64), XC.TILECFG); }
    else if (n === "pkru") { const c = this.component(XC.PKRU); if (!c) return false; put(c.off, bytesOf(4), XC.PKRU); }
    else if (n === "fctrl") put(0, bytesOf(2), XC.X87);
    else if (n === "fstat") put(2, bytesOf(2), XC.X87);
    else if (n === "ftag") put(4, new Uint8Array([abridgedTag(Number(big & 0xffffn))]), XC.X87);
    else if (n === "fop") put(6, bytesOf(2), XC.X87);
    else if (n === "fioff") put(8, bytesOf(4), XC.X87);
    else if (n === "fiseg") put(12, bytesOf(2), XC.X87);
    else if (n === "fooff") put(16, bytesOf(4), XC.X87);
    else if (n === "foseg") put(20, bytesOf(2), XC.X87);
    else if (n === "mxcsr") put(24, bytesOf(4), XC.SSE);
    else return false;
    try { this.vcpu.setXsave(buf); return true; } catch { return false; }
  }
}

// The FXSAVE abridged tag (one bit per physical register: valid) → the full x87 tag word
// (2 bits per physical register: 00 valid, 01 zero, 10 special, 11 empty), as FSTENV stores it.
function fullTag(buf: Uint8Array): number {
  const ftw = buf[4], top = (buf[2] | (buf[3] << 8)) >> 11 & 7;
  let tag = 0;
  for (let p = 0; p < 8; p++) {
    let t = 3;
    if (ftw & (1 << p)) {
      const st = (p - top) & 7, o = 32 + 16 * st;
      const exp = (buf[o + 8] | (buf[o + 9] << 8)) & 0x7fff;
      let mantZero = true;
      for (let i = 0; i < 8; i++) if (buf[o + i]) mantZero = false;
      const jbit = (buf[o + 7] & 0x80) !== 0;
      t = exp === 0x7fff ? 2 : exp === 0 ? (mantZero ? 1 : 2) : jbit ? 0 : 2;
    }
    tag |= t << (2 * p);
  }
  return tag;
}
function abridgedTag(full: number): number {
  let a = 0;
  for (let p = 0; p < 8; p++) if (((full >> (2 * p)) & 3) !== 3) a |= 1 << p;
  return a;
}
