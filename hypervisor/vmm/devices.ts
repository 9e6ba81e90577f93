// The devices of the CLI contract: port 0xE9 debug console, 0xF4
// isa-debug-exit (a write of v ends the process with status (v<<1)|1), a
// minimal 16550 at COM1 (transmit only; LSR always reports an empty
// transmitter) and port 0x92 (A20 gate). Unknown ports read as all-ones.

export interface Console { write(bytes: Uint8Array): void }

export const stdoutConsole: Console = { write: (b) => { process.stdout.write(b); } };

export class Devices {
  exitStatus: number | null = null;
  private port92 = 0x02;           // A20 enabled after reset, as on QEMU's PC
  private uart = { ier: 0, lcr: 0, mcr: 0, scr: 0, dll: 0, dlm: 0 };
  private out_: Console;
  readonly captured: number[] = [];

  constructor(console: Console | undefined, private setA20: (on: boolean) => void) {
    this.out_ = console ?? stdoutConsole;
  }

  private emit(b: number): void {
    this.captured.push(b);
    this.out_.write(Uint8Array.of(b & 0xff));
  }

  /** text the guest hands over another way (GUEST_PRINTF), shown like console output */
  print(text: string): void { for (let i = 0; i < text.length; i++) this.emit(text.charCodeAt(i) & 0xff); }

  out(port: number, size: number, v: number): void {
    if (port === 0xe9) { this.emit(v); return; }
    if (port === 0xf4) { this.exitStatus = (((v & 0xff) << 1) | 1) & 0xff; return; }
    if (port === 0x92) {
      this.port92 = v & 0xff;
      this.setA20((v & 2) !== 0);
      return;
    }
    if (port >= 0x3f8 && port <= 0x3ff) {
      const r = port - 0x3f8, dlab = (this.uart.lcr & 0x80) !== 0;
      if (r === 0) { if (dlab) this.uart.dll = v & 0xff; else this.emit(v); }
      else if (r === 1) { if (dlab) this.uart.dlm = v & 0xff; else this.uart.ier = v & 0x0f; }
      else if (r === 3) this.uart.lcr = v & 0xff;
      else if (r === 4) this.uart.mcr = v & 0x1f;
      else if (r === 7) this.uart.scr = v & 0xff;
      return;
    }
  }

  in(port: number, size: number): number {
    const ones = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    if (port === 0x92) return this.port92;
    if (port === 0xe9) return 0xe9;          // Bochs/QEMU port-E9 hack reads back 0xE9
    if (port >= 0x3f8 && port <= 0x3ff) {
      const r = port - 0x3f8, dlab = (this.uart.lcr & 0x80) !== 0;
      if (r === 0) return dlab ? this.uart.dll : 0;
      if (r === 1) return dlab ? this.uart.dlm : this.uart.ier;
      if (r === 2) return 0x01;              // IIR: no interrupt pending
      if (r === 3) return this.uart.lcr;
      if (r === 4) return this.uart.mcr;
      if (r === 5) return 0x60;              // LSR: THR and transmitter empty
      if (r === 6) return 0xb0;              // MSR: DCD, DSR, CTS
      return this.uart.scr;
    }
    return ones;
  }
}
