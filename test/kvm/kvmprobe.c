/* kvmprobe: performs model-independent KVM ioctls on the real /dev/kvm and
 * prints one JSON object. Never calls KVM_RUN and never loads XSAVE state.
 * Built by test/kvm/differential.test.ts with the system cc into build/. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int first = 1;
static void key(const char *k) { printf("%s\"%s\":", first ? "" : ",", k); first = 0; }
static void num(const char *k, long long v) { key(k); printf("%lld", v); }
static void hex(const char *k, unsigned long long v) { key(k); printf("\"0x%llx\"", v); }
/* ioctl result as the Host returns it: >= 0 or -errno */
static long rc(int fd, unsigned long req, unsigned long arg) {
  long r = ioctl(fd, req, arg);
  return r < 0 ? -errno : r;
}
static void seg(const char *k, struct kvm_segment *s) {
  key(k);
  printf("{\"base\":\"0x%llx\",\"limit\":%u,\"selector\":%u,\"type\":%u,\"present\":%u,\"dpl\":%u,\"db\":%u,\"s\":%u,\"l\":%u,\"g\":%u,\"avl\":%u,\"unusable\":%u}",
         (unsigned long long)s->base, s->limit, s->selector, s->type, s->present, s->dpl, s->db, s->s, s->l, s->g, s->avl, s->unusable);
}

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) { printf("{\"error\":\"open /dev/kvm: %s\"}\n", strerror(errno)); return 0; }
  printf("{");
  num("api_version", rc(kvm, KVM_GET_API_VERSION, 0));
  num("api_version_arg1", rc(kvm, KVM_GET_API_VERSION, 1));
  num("mmap_size", rc(kvm, KVM_GET_VCPU_MMAP_SIZE, 0));
  num("cap_xsave", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE));
  num("cap_xcrs", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XCRS));
  num("cap_user_memory", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY));
  num("cap_immediate_exit", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT));
  num("cap_vcpu_events", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VCPU_EVENTS));
  num("cap_mp_state", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MP_STATE));
  num("cap_debugregs", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DEBUGREGS));
  num("cap_set_guest_debug", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG));
  num("cap_ext_cpuid", rc(kvm, KVM_CHECK_EXTENSION, KVM_CAP_EXT_CPUID));
  num("cap_unknown", rc(kvm, KVM_CHECK_EXTENSION, 0x7fffffff));
  num("dev_unknown_nr", rc(kvm, _IO(KVMIO, 0x7f), 0));
  num("dev_run", rc(kvm, KVM_RUN, 0));
  num("dev_other_type", rc(kvm, _IO(0x12, 0x00), 0));
  num("create_vm_type7", rc(kvm, KVM_CREATE_VM, 7));
  {
    struct kvm_cpuid2 c = { .nent = 0 };
    num("supported_cpuid_nent0", rc(kvm, KVM_GET_SUPPORTED_CPUID, (unsigned long)&c));
    struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[1]; } c1 = { .h.nent = 1 };
    num("supported_cpuid_nent1", rc(kvm, KVM_GET_SUPPORTED_CPUID, (unsigned long)&c1));
    num("supported_cpuid_nent1_after", c1.h.nent);
  }
  {
    struct kvm_msr_list l = { .nmsrs = 0 };
    num("msr_index_list_n0", rc(kvm, KVM_GET_MSR_INDEX_LIST, (unsigned long)&l));
    num("msr_index_list_n0_after_nonzero", l.nmsrs > 0);
  }
  int vm = rc(kvm, KVM_CREATE_VM, 0);
  num("vm_fd_ok", vm >= 0);
  if (vm >= 0) {
    num("vm_unknown_nr", rc(vm, _IO(KVMIO, 0x7f), 0));
    num("vm_cap_xsave", rc(vm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE));
    struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1001, .userspace_addr = 0x10000 };
    num("mem_size_unaligned", rc(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&r));
    r.memory_size = 0x1000; r.guest_phys_addr = 0x1234;
    num("mem_gpa_unaligned", rc(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&r));
    r.guest_phys_addr = 0x1000; r.userspace_addr = 0x10001;
    num("mem_ua_unaligned", rc(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&r));
    r.userspace_addr = 0x10000; r.flags = 0x80;
    num("mem_bad_flags", rc(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&r));
    r.flags = 0; r.memory_size = 0; r.slot = 5;
    num("mem_delete_absent", rc(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&r));
    num("create_vcpu_big_id", rc(vm, KVM_CREATE_VCPU, 1u << 20));
    int vcpu = rc(vm, KVM_CREATE_VCPU, 0);
    num("vcpu_fd_ok", vcpu >= 0);
    num("create_vcpu_dup", rc(vm, KVM_CREATE_VCPU, 0));
    if (vcpu >= 0) {
      struct kvm_regs regs; struct kvm_sregs sregs;
      memset(&regs, 0xcc, sizeof regs); memset(&sregs, 0xcc, sizeof sregs);
      num("get_regs", rc(vcpu, KVM_GET_REGS, (unsigned long)&regs));
      num("get_sregs", rc(vcpu, KVM_GET_SREGS, (unsigned long)&sregs));
      key("regs"); printf("[");
      unsigned long long *rp = (unsigned long long *)&regs;
      for (int i = 0; i < 18; i++) printf("%s\"0x%llx\"", i ? "," : "", rp[i]);
      printf("]");
      seg("cs", &sregs.cs); seg("ds", &sregs.ds); seg("es", &sregs.es); seg("fs", &sregs.fs);
      seg("gs", &sregs.gs); seg("ss", &sregs.ss); seg("tr", &sregs.tr); seg("ldt", &sregs.ldt);
      hex("gdt_base", sregs.gdt.base); num("gdt_limit", sregs.gdt.limit);
      hex("idt_base", sregs.idt.base); num("idt_limit", sregs.idt.limit);
      hex("cr0", sregs.cr0); hex("cr2", sregs.cr2); hex("cr3", sregs.cr3); hex("cr4", sregs.cr4); hex("cr8", sregs.cr8);
      hex("efer", sregs.efer); hex("apic_base", sregs.apic_base);
      num("vcpu_unknown_nr", rc(vcpu, _IO(KVMIO, 0x7f), 0));
      num("vcpu_other_type", rc(vcpu, _IO(0x12, 0x00), 0));
      num("vcpu_run_arg1", rc(vcpu, KVM_RUN, 1));
      struct kvm_interrupt irq = { .irq = 256 };
      num("interrupt_256", rc(vcpu, KVM_INTERRUPT, (unsigned long)&irq));
      struct kvm_guest_debug dbg = { .control = 0x80000000u };
      num("guest_debug_bad", rc(vcpu, KVM_SET_GUEST_DEBUG, (unsigned long)&dbg));
      struct { struct kvm_msrs h; struct kvm_msr_entry e[2]; } m = { .h.nmsrs = 2 };
      m.e[0].index = 0xc0000080; m.e[1].index = 0x277;
      num("get_msrs_efer_pat", rc(vcpu, KVM_GET_MSRS, (unsigned long)&m));
      hex("msr_efer", m.e[0].data); hex("msr_pat", m.e[1].data);
      m.h.nmsrs = 1; m.e[0].index = 0x4b564dff;   /* not an MSR */
      num("get_msrs_unknown", rc(vcpu, KVM_GET_MSRS, (unsigned long)&m));
      m.h.nmsrs = 256;
      num("get_msrs_256", rc(vcpu, KVM_GET_MSRS, (unsigned long)&m));
      struct kvm_xcrs x; memset(&x, 0, sizeof x);
      num("get_xcrs", rc(vcpu, KVM_GET_XCRS, (unsigned long)&x));
      num("xcrs_nr", x.nr_xcrs); hex("xcr0", x.xcrs[0].value);
      x.flags = 1;
      num("set_xcrs_flags", rc(vcpu, KVM_SET_XCRS, (unsigned long)&x));
      struct kvm_fpu f; memset(&f, 0xcc, sizeof f);
      num("get_fpu", rc(vcpu, KVM_GET_FPU, (unsigned long)&f));
      num("fpu_fcw", f.fcw); num("fpu_fsw", f.fsw); num("fpu_ftwx", f.ftwx); num("fpu_mxcsr", f.mxcsr);
      hex("fpu_xmm0_lo", *(unsigned long long *)f.xmm[0]);
      f.fcw = 0x27f; f.xmm[1][0] = 0x5a; f.mxcsr = 0x1f80;
      num("set_fpu", rc(vcpu, KVM_SET_FPU, (unsigned long)&f));
      memset(&f, 0, sizeof f);
      rc(vcpu, KVM_GET_FPU, (unsigned long)&f);
      num("fpu_fcw_after_set", f.fcw); num("fpu_xmm1_b0_after_set", f.xmm[1][0]);
      struct kvm_cpuid2 c0 = { .nent = 0 };
      num("get_cpuid2_fresh", rc(vcpu, KVM_GET_CPUID2, (unsigned long)&c0));
      num("get_cpuid2_fresh_nent", c0.nent);
      struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[1]; } c1 = { .h.nent = 1 };
      c1.e[0].function = 0x80000008; c1.e[0].eax = 0x2a28;   /* 42 virtual-address bits */
      num("set_cpuid2_bad_vaddr", rc(vcpu, KVM_SET_CPUID2, (unsigned long)&c1));
      struct kvm_vcpu_events ev; memset(&ev, 0, sizeof ev);
      num("get_vcpu_events", rc(vcpu, KVM_GET_VCPU_EVENTS, (unsigned long)&ev));
      num("events_exc_injected", ev.exception.injected); num("events_irq_injected", ev.interrupt.injected);
      ev.exception.injected = 1; ev.exception.nr = 2;
      num("set_vcpu_events_nmi_as_exc", rc(vcpu, KVM_SET_VCPU_EVENTS, (unsigned long)&ev));
      /* KVM_GET/SET_MP_STATE, KVM_GET/SET_DEBUGREGS: only the results (this VM has no irqchip) */
      struct kvm_mp_state mp = { 0 };
      num("get_mp_state", rc(vcpu, KVM_GET_MP_STATE, (unsigned long)&mp));
      static const unsigned mps[] = { 0, 1, 2, 3, 4, 5, 99 };
      for (unsigned i = 0; i < sizeof mps / sizeof mps[0]; i++) {
        char k[32]; snprintf(k, sizeof k, "set_mp_state_%u", mps[i]);
        mp.mp_state = mps[i]; num(k, rc(vcpu, KVM_SET_MP_STATE, (unsigned long)&mp));
      }
      struct kvm_debugregs d; memset(&d, 0, sizeof d);
      num("get_debugregs", rc(vcpu, KVM_GET_DEBUGREGS, (unsigned long)&d));
      memset(&d, 0, sizeof d); d.db[0] = 0x1234; d.dr7 = 0x401;
      num("set_debugregs", rc(vcpu, KVM_SET_DEBUGREGS, (unsigned long)&d));
      memset(&d, 0xcc, sizeof d); rc(vcpu, KVM_GET_DEBUGREGS, (unsigned long)&d);
      hex("debugregs_db0_after_set", d.db[0]); hex("debugregs_dr7_after_set", d.dr7);
      memset(&d, 0, sizeof d); d.flags = 1;
      num("set_debugregs_flags", rc(vcpu, KVM_SET_DEBUGREGS, (unsigned long)&d));
      memset(&d, 0, sizeof d); d.reserved[0] = 1;
      num("set_debugregs_reserved", rc(vcpu, KVM_SET_DEBUGREGS, (unsigned long)&d));
      memset(&d, 0, sizeof d); d.dr6 = 1ull << 32;
      num("set_debugregs_dr6_hi", rc(vcpu, KVM_SET_DEBUGREGS, (unsigned long)&d));
      memset(&d, 0, sizeof d); d.dr7 = 1ull << 63;
      num("set_debugregs_dr7_hi", rc(vcpu, KVM_SET_DEBUGREGS, (unsigned long)&d));
      close(vcpu);
    }
    close(vm);
  }
  num("bad_fd", rc(1000, KVM_GET_API_VERSION, 0));
  close(kvm);
  printf("}\n");
  return 0;
}
