// The ioctls a VMM step issued, in order, with their results: Host.ioctl is wrapped for the
// duration of one call (every typed wrapper goes through it), so the log shows exactly what
// reached the modelled kernel.
import type { Host } from "../../host";
import { IOCTL_NAMES } from "../../uapi/ioctl";
import { ERRNO_NAMES } from "../../uapi/consts";

export interface IoctlRecord {
  /** KVM_* name of the request (hex for unknown requests) */
  name: string;
  fd: number;
  /** what ioctl returned: ≥ 0, or -errno */
  result: number;
  /** the errno's name when result < 0 (e.g. "EINVAL") */
  errno?: string;
}

export function errnoName(errno: number): string { return ERRNO_NAMES[errno] ?? `errno ${errno}`; }

/** Run fn with every host.ioctl appended to `log`; the host is left as it was, even on a throw. */
export function withIoctlLog<T>(host: Host, log: IoctlRecord[], fn: () => T): T {
  const own = Object.prototype.hasOwnProperty.call(host, "ioctl");
  const orig = host.ioctl;
  host.ioctl = (fd, request, arg) => {
    const result = orig.call(host, fd, request, arg);
    const name = IOCTL_NAMES[request >>> 0] ?? `0x${(request >>> 0).toString(16)}`;
    log.push(result < 0 ? { name, fd, result, errno: errnoName(-result) } : { name, fd, result });
    return result;
  };
  try {
    return fn();
  } finally {
    if (own) host.ioctl = orig; else delete (host as { ioctl?: unknown }).ioctl;
  }
}
