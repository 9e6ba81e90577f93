// Disassembly for traces and debuggers, by iced-x86 (npm). iced-x86 loads its
// own wasm with fs.readFileSync next to its JS file, so bundles must keep it
// external (esbuild `packages: "external"`) and it is loaded lazily: only
// `--trace` and the debuggers pay its ~30 ms start-up.
import { createRequire } from "node:module";

type Iced = typeof import("iced-x86");

export interface Disassembled {
  length: number;     // 0 when the bytes do not hold a complete valid instruction
  text: string;
}

export class Disassembler {
  private formatter: InstanceType<Iced["Formatter"]>;
  private constructor(private iced: Iced) {
    this.formatter = new iced.Formatter(iced.FormatterSyntax.Nasm);
    this.formatter.hexPrefix = "0x";
    this.formatter.hexSuffix = "";
    this.formatter.uppercaseHex = false;
    this.formatter.spaceAfterOperandSeparator = true;
    this.formatter.branchLeadingZeros = false;
  }

  static load(): Disassembler {
    // iced-x86 is CommonJS: require it (also from an ESM bundle)
    const req = createRequire(import.meta.url);
    return new Disassembler(req("iced-x86") as Iced);
  }

  /** Decode one instruction at `ip` from `bytes` (up to 15 of them). */
  one(bytes: Uint8Array, bitness: 16 | 32 | 64, ip: bigint): Disassembled {
    const d = new this.iced.Decoder(bitness, bytes, this.iced.DecoderOptions.None);
    d.ip = ip;
    const insn = d.decode();
    try {
      if (insn.isInvalid) return { length: 0, text: bytes.length < 15 ? "(bad or truncated)" : "(bad)" };
      return { length: insn.length, text: this.formatter.format(insn) };
    } finally {
      insn.free();
      d.free();
    }
  }

  free(): void { this.formatter.free(); }
}
