// gdb remote serial protocol framing: `$payload#cc` with a modulo-256
// checksum, `+`/`-` acknowledgements (until QStartNoAckMode), a raw 0x03 byte
// as an interrupt request, and `}` escapes (byte ^ 0x20) in binary data.
// The parser is a byte-at-a-time state machine, so packets may arrive split
// or glued together in any way; oversized or garbled input is dropped
// without ever touching the guest.

export const MAX_PACKET = 0x4800;

export type Incoming = { kind: "packet"; data: string } | { kind: "bad-checksum" } | { kind: "interrupt" } | { kind: "ack" } | { kind: "nak" };

export function checksum(s: string): string {
  let c = 0;
  for (let i = 0; i < s.length; i++) c = (c + s.charCodeAt(i)) & 0xff;
  return c.toString(16).padStart(2, "0");
}

/** Frame a reply; payload is a latin1 string (escaped where binary data needs it). */
export function frame(payload: string): string { return `$${payload}#${checksum(payload)}`; }

/** Escape binary data for `m`/`l` replies of qXfer: `#`, `$`, `}` and `*` become `}` + (b ^ 0x20). */
export function escapeBinary(s: string): string { return s.replace(/[#$}*]/g, (c) => "}" + String.fromCharCode(c.charCodeAt(0) ^ 0x20)); }

export class PacketParser {
  private state: "idle" | "data" | "c1" | "c2" = "idle";
  private buf: number[] = [];
  private sum = "";
  private overflow = false;

  /** Feed bytes; returns what they completed. */
  feed(chunk: Uint8Array): Incoming[] {
    const out: Incoming[] = [];
    for (const b of chunk) {
      switch (this.state) {
        case "idle":
          if (b === 0x24) { this.state = "data"; this.buf = []; this.overflow = false; }
          else if (b === 0x03) out.push({ kind: "interrupt" });
          else if (b === 0x2b) out.push({ kind: "ack" });
          else if (b === 0x2d) out.push({ kind: "nak" });
          break;                                         // anything else between packets is noise
        case "data":
          if (b === 0x23) { this.state = "c1"; this.sum = ""; }
          else if (b === 0x24) { this.buf = []; this.overflow = false; }       // a new packet starts: the old one was cut
          else if (this.buf.length < MAX_PACKET) this.buf.push(b);
          else this.overflow = true;
          break;
        case "c1": this.sum = String.fromCharCode(b); this.state = "c2"; break;
        case "c2": {
          this.sum += String.fromCharCode(b);
          this.state = "idle";
          const data = String.fromCharCode(...this.buf);
          if (this.overflow || this.sum.toLowerCase() !== checksum(data)) out.push({ kind: "bad-checksum" });
          else out.push({ kind: "packet", data: unescape(data) });
          break;
        }
      }
    }
    return out;
  }
}

// `}` escapes in incoming binary packets (X); other packets never contain `}`
function unescape(s: string): string {
  if (!s.includes("}")) return s;
  let r = "";
  for (let i = 0; i < s.length; i++) r += s[i] === "}" && i + 1 < s.length ? String.fromCharCode(s.charCodeAt(++i) ^ 0x20) : s[i];
  return r;
}

export function hexOf(b: Uint8Array): string { return Buffer.from(b).toString("hex"); }
/** strict hex → bytes; null when malformed */
export function bytesOf(h: string): Uint8Array | null {
  if (h.length % 2 || !/^[0-9a-fA-F]*$/.test(h)) return null;
  return new Uint8Array(Buffer.from(h, "hex"));
}
/** a hex number (addresses, lengths); null when malformed or beyond 64 bits */
export function hexNum(h: string): bigint | null {
  if (!/^[0-9a-fA-F]{1,16}$/.test(h)) return null;
  return BigInt("0x" + h);
}
