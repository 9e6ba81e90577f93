// KVM_SET_GUEST_DEBUG as the debug engine uses it, at the ioctl level (hypervisor/kvm/x86.ts):
// USE_HW_BP loads DR0-3/DR7 execute breakpoints (exit: exception 1, DR6.Bn, before the
// instruction), data breakpoints are refused, SINGLESTEP exits with DR6.BS, and the x86kvm
// extension X86KVM_GUESTDBG_EXC_BITMAP (bitmap in kvm_guest_debug.pad) intercepts vectors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMachine } from "../../hypervisor/vmm/setup";
import { KvmError } from "../../hypervisor/vmm/kvm_ioctls";
import { KVM_GUESTDBG, EINVAL } from "../../hypervisor/uapi/consts";
import { X86KVM_GUESTDBG_EXC_BITMAP } from "../../hypervisor/kvm/x86";

const root = [3, 2].map((n) => fileURLToPath(new URL("../".repeat(n), import.meta.url))).find((p) => existsSync(join(p, "package.json")))!;
const hello = () => createMachine({ image: new Uint8Array(readFileSync(join(root, "guest-images/bin/hello64.elf"))), kind: "elf", model: "sapphire-rapids", kernel: "6.19", memory: 8 << 20 }, { write: () => {} });
const zero = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];

test("USE_HW_BP: an execute breakpoint in DR1 exits before the instruction with exception 1 and DR6.B1", () => {
  const m = hello();
  m.vcpu.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.USE_HW_BP, debugreg: [0x200000n, 0x100012n, 0n, 0n, 0n, 0n, 0n, 0b1100n] });
  m.host.kvm.runBudget = 1000;
  let e = m.vcpu.run();
  while (e.kind === "IoOut") { m.handleVcpuExit(e); e = m.vcpu.run(); }
  assert.equal(e.kind, "Debug");
  if (e.kind !== "Debug") return;
  assert.is(e.exception, 1);
  assert.is(e.pc, 0x100012n);
  assert.is(e.dr6 & 0xfn, 2n);
  assert.is(m.cpu.insns, 6);
  // disabled again: runs to the HLT
  m.vcpu.setGuestDebug({ control: 0, debugreg: zero });
  for (;;) { e = m.vcpu.run(); if (e.kind !== "IoOut") break; m.handleVcpuExit(e); }
  assert.is(e.kind, "Hlt");
});

test("USE_HW_BP: data breakpoints are not modelled (-EINVAL); SINGLESTEP reports DR6.BS", () => {
  const m = hello();
  try {
    m.vcpu.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.USE_HW_BP, debugreg: [0x300000n, 0n, 0n, 0n, 0n, 0n, 0n, 0x30002n] });
    assert.unreachable("a write watchpoint was accepted");
  } catch (err) { assert.ok(err instanceof KvmError && err.errno === EINVAL); }
  m.vcpu.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP, debugreg: zero });
  const e = m.vcpu.run();
  assert.is(e.kind, "Debug");
  if (e.kind === "Debug") { assert.is(e.exception, 1); assert.is(e.dr6 & 0x4000n, 0x4000n); assert.is(e.pc, 0x100007n); }
});

test("X86KVM_GUESTDBG_EXC_BITMAP: #UD is intercepted before delivery, RIP at the UD2; not re-injected", () => {
  const m = createMachine({ image: new Uint8Array([0x90, 0x0f, 0x0b]), kind: "flat", model: "sapphire-rapids", kernel: "6.19", memory: 8 << 20 });
  m.vcpu.setGuestDebug({ control: KVM_GUESTDBG.ENABLE | X86KVM_GUESTDBG_EXC_BITMAP, debugreg: zero, pad: 1 << 6 });
  m.host.kvm.runBudget = 100;
  const e = m.vcpu.run();
  assert.is(e.kind, "Debug");
  if (e.kind === "Debug") { assert.is(e.exception, 6); assert.is(e.pc, 0x7c01n); }
  assert.is(m.vcpu.getRegs().rip, 0x7c01n);
  assert.is(m.vcpu.getVcpuEvents().exception.injected, 0, "the debugger decides about re-injection");
  // without the bit in the bitmap the #UD is delivered (real-mode IVT at 0: vector 6 → 0000:0000)
  m.vcpu.setGuestDebug({ control: 0, debugreg: zero });
  m.host.kvm.runBudget = 1;
  m.vcpu.run();
  assert.not.equal(m.vcpu.getRegs().rip, 0x7c01n);
});

test.run();
