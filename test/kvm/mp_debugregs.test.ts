// KVM_GET/SET_MP_STATE and KVM_GET/SET_DEBUGREGS: struct layouts, request numbers (measured with
// the system's <linux/kvm.h>: 0x8004AE98 / 0x4004AE99 / 0x8080AEA1 / 0x4080AEA2), the kernel's
// argument checks, and the wiring to the CPU's DR0–3/DR6/DR7 (read back by guest MOV from DRn).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Host } from "../../hypervisor/host";
import { Kvm, KvmError } from "../../hypervisor/vmm/kvm_ioctls";
import * as K from "../../hypervisor/uapi/ioctl";
import { KVM_CAP, KVM_MP_STATE, EINVAL } from "../../hypervisor/uapi/consts";
import { encodeDebugregs, decodeDebugregs, encodeMpState, decodeMpState, dvOf } from "../../hypervisor/uapi/structs";
import { Machine } from "../../hypervisor/vmm/machine";

test("request numbers and sizes", () => {
  assert.is(K.KVM_GET_MP_STATE, 0x8004ae98);
  assert.is(K.KVM_SET_MP_STATE, 0x4004ae99);
  assert.is(K.KVM_GET_DEBUGREGS, 0x8080aea1);
  assert.is(K.KVM_SET_DEBUGREGS, 0x4080aea2);
  assert.is(K._IOC_SIZE(K.KVM_GET_DEBUGREGS), 128);
  assert.is(K._IOC_SIZE(K.KVM_SET_MP_STATE), 4);
});

test("kvm_debugregs: db[4] @0, dr6 @32, dr7 @40, flags @48 (128 bytes); kvm_mp_state u32", () => {
  const b = encodeDebugregs({ db: [1n, 2n, 3n, 0xffffffffffffffffn], dr6: 0xffff0ff0n, dr7: 0x400n, flags: 5n });
  assert.is(b.length, 128);
  const dv = dvOf(b);
  assert.is(dv.getBigUint64(24, true), 0xffffffffffffffffn);
  assert.is(dv.getBigUint64(32, true), 0xffff0ff0n);
  assert.is(dv.getBigUint64(40, true), 0x400n);
  assert.is(dv.getBigUint64(48, true), 5n);
  assert.equal(decodeDebugregs(b), { db: [1n, 2n, 3n, 0xffffffffffffffffn], dr6: 0xffff0ff0n, dr7: 0x400n, flags: 5n });
  assert.is(decodeMpState(encodeMpState(3)), 3);
});

function vcpu() {
  const host = new Host({ cpu: "skylake-server" });
  const kvm = new Kvm(host), vm = kvm.createVm(), v = vm.createVcpu(0);
  return { host, kvm, vm, v };
}

test("KVM_CAP_MP_STATE and KVM_CAP_DEBUGREGS are 1", () => {
  const { kvm } = vcpu();
  assert.is(kvm.checkExtension(KVM_CAP.MP_STATE), 1);
  assert.is(kvm.checkExtension(KVM_CAP.DEBUGREGS), 1);
});

test("MP_STATE without an in-kernel irqchip: RUNNABLE, and only RUNNABLE can be set", () => {
  const { host, v } = vcpu();
  assert.is(v.getMpState(), KVM_MP_STATE.RUNNABLE);
  v.setMpState(KVM_MP_STATE.RUNNABLE);
  for (const s of [1, 2, 3, 4, 5, 6, 99, 0xffffffff]) {
    assert.is(host.ioctl(v.fd, K.KVM_SET_MP_STATE, encodeMpState(s)), -EINVAL, `state ${s}`);
  }
  try { v.setMpState(KVM_MP_STATE.HALTED); assert.unreachable(); } catch (e) {
    assert.instance(e, KvmError);
    assert.is((e as Error).message, "KVM_SET_MP_STATE: EINVAL");
  }
  assert.is(v.getMpState(), KVM_MP_STATE.RUNNABLE);
  assert.is(host.ioctl(v.fd, K.KVM_GET_MP_STATE, new Uint8Array(3)), -14, "short buffer → -EFAULT");
});

test("DEBUGREGS: reset values; flags ≠ 0, DR6/DR7 bits 63:32 → -EINVAL; reserved[] unchecked; round trip", () => {
  const { host, v } = vcpu();
  const d0 = v.getDebugregs();
  assert.equal(d0.db, [0n, 0n, 0n, 0n]);
  assert.is(d0.dr6, 0xffff0ff0n, "DR6 reset");
  assert.is(d0.dr7, 0x400n, "DR7 reset");
  assert.is(d0.flags, 0n);
  const bad = (f: (d: DataView) => void) => { const b = new Uint8Array(128); f(dvOf(b)); return host.ioctl(v.fd, K.KVM_SET_DEBUGREGS, b); };
  assert.is(bad((d) => d.setBigUint64(48, 1n, true)), -EINVAL, "flags");
  assert.is(bad((d) => d.setBigUint64(32, 1n << 32n, true)), -EINVAL, "dr6 hi");
  assert.is(bad((d) => d.setBigUint64(40, 1n << 63n, true)), -EINVAL, "dr7 hi");
  assert.is(bad((d) => d.setBigUint64(56, 1n, true)), 0, "reserved ignored");
  v.setDebugregs({ db: [0x1000n, 0x2000n, 0xffffffffffffffffn, 0x4000n], dr6: 0xffff4ff1n, dr7: 0x401n, flags: 0n });
  assert.equal(v.getDebugregs(), { db: [0x1000n, 0x2000n, 0xffffffffffffffffn, 0x4000n], dr6: 0xffff4ff1n, dr7: 0x401n, flags: 0n });
  // a failed SET changes nothing
  assert.is(bad((d) => { d.setBigUint64(0, 7n, true); d.setBigUint64(48, 1n, true); }), -EINVAL);
  assert.is(v.getDebugregs().db[0], 0x1000n);
});

test("DEBUGREGS reach the CPU: the guest reads DR0 and DR7 set by the VMM", () => {
  // real mode at 0x7C00 (CPL 0): mov eax, dr0; mov ebx, dr7; mov dx, 0x1000; in al, dx (ends the run at an IN exit)
  const code = new Uint8Array([0x0f, 0x21, 0xc0, 0x0f, 0x21, 0xfb, 0xba, 0x00, 0x10, 0xec]);
  const m = new Machine({ model: "skylake-server", memory: 2 << 20 });
  m.load("flat", code);
  const v = m.vcpu;
  v.setDebugregs({ db: [0xabcdef00n, 0n, 0n, 0n], dr6: 0xffff0ff0n, dr7: 0x403n, flags: 0n });
  const e = v.run();
  assert.is(e.kind, "IoIn");
  const r = v.getRegs();
  assert.is(r.rax & 0xffffffffn, 0xabcdef00n);
  assert.is(r.rbx & 0xffffffffn, 0x403n);
});

test.run();
