// Machine (the VMM) over the kernel's guest-FPU model: the selected kernel reaches the Host, and
// a host oops in KVM_RUN ends Machine.run with exit "host-oops" (DESIGN.md CLI contract) and the
// report on Host.oops.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Machine, HOST_OOPS_STATUS } from "../../hypervisor/vmm/machine";

const XTILE_DATA = 1n << 18n;

// S5 through the VMM's own vCPU: XFD[18]=1, then an image with XSTATE_BV[18]=1, then run
function s5(kernel: string) {
  const m = new Machine({ model: "sapphire-rapids", kernel, memory: 1 << 20 });
  m.load("flat", new Uint8Array([0xf4]));
  assert.is(m.vcpu.setMsrs([{ index: 0x1c4, data: XTILE_DATA }]), 1);
  const img = m.vcpu.getXsave2(m.kvm.checkExtension(208));
  const dv = new DataView(img.buffer);
  dv.setBigUint64(512, dv.getBigUint64(512, true) | XTILE_DATA, true);
  m.vcpu.setXsave(img);
  return { m, r: m.run(1000) };
}

test("Machine passes its kernel to the Host", () => {
  for (const k of ["5.17-rc5", "6.5", "6.8", "6.19"]) assert.is(new Machine({ kernel: k, memory: 1 << 20 }).host.kernel.version, k);
});

for (const kernel of ["5.17-rc5", "6.5", "6.8"]) {
  test(`${kernel}: S5 on the Machine's vCPU ends the run with exit host-oops`, () => {
    const { m, r } = s5(kernel);
    assert.is(r.exit, "host-oops");
    assert.is(r.status, HOST_OOPS_STATUS);
    assert.ok(m.host.oops);
    assert.is(m.host.oops!.caller, "fpu_swap_kvm_fpstate");
    assert.ok(m.host.oops!.text.includes(`Comm: vmm`));
  });
}

test("6.19: the same sequence runs to HLT", () => {
  const { m, r } = s5("6.19");
  assert.is(r.exit, "hlt");
  assert.is(r.status, 0);
  assert.is(m.host.oops, null);
});

test.run();
