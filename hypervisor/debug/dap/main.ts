// `x86kvm dap`: the debug adapter on stdin/stdout, or with --server=PORT a
// TCP server on 127.0.0.1 (never beyond loopback) giving each connection its
// own session (VS Code's launch.json "debugServer": PORT; DebugClient tests).
import { createServer, type Server } from "node:net";
import { X86kvmDebugSession } from "./session";

export { X86kvmDebugSession };

/** Serve DAP on stdio until the client goes away. */
export function runStdio(): Promise<number> {
  const s = new X86kvmDebugSession();
  s.start(process.stdin, process.stdout);
  return new Promise((resolve) => {
    process.stdin.on("end", () => resolve(0));
    s.on("close", () => resolve(0));
  });
}

/** A loopback DAP server; port 0 picks a free one (server.address().port). */
export function startServer(port: number, onSession?: (s: X86kvmDebugSession) => void): Promise<Server> {
  const server = createServer((socket) => {
    // small request/response messages: without this, Nagle + delayed ACK add ~40 ms to a step
    socket.setNoDelay(true);
    const s = new X86kvmDebugSession();
    s.setRunAsServer(true);
    s.start(socket, socket);
    socket.on("error", () => socket.destroy());
    onSession?.(s);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => { server.off("error", reject); resolve(server); });
  });
}
