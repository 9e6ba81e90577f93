// ioctl request numbers of the KVM API, computed the way include/uapi/asm-generic/ioctl.h
// does (_IOC: dir << 30 | size << 16 | type << 8 | nr), with the struct sizes of
// arch/x86/include/uapi/asm/kvm.h and include/uapi/linux/kvm.h (x86_64).
// test/kvm/ioctl-numbers.test.ts checks every value against shared/reference/kernel-abi.md §1.1.

export const _IOC_NONE = 0, _IOC_WRITE = 1, _IOC_READ = 2;
export const KVMIO = 0xae;

export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
export const _IO = (type: number, nr: number) => _IOC(_IOC_NONE, type, nr, 0);
export const _IOR = (type: number, nr: number, size: number) => _IOC(_IOC_READ, type, nr, size);
export const _IOW = (type: number, nr: number, size: number) => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: number, nr: number, size: number) => _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);
export const _IOC_DIR = (req: number) => (req >>> 30) & 3;
export const _IOC_SIZE = (req: number) => (req >>> 16) & 0x3fff;
export const _IOC_TYPE = (req: number) => (req >>> 8) & 0xff;
export const _IOC_NR = (req: number) => req & 0xff;

/** sizeof() of the structs that appear in request numbers (x86_64). */
export const SIZEOF = {
  kvm_msr_list: 4, kvm_cpuid2: 8, kvm_msrs: 8, kvm_userspace_memory_region: 32, kvm_regs: 144, kvm_sregs: 312,
  kvm_fpu: 416, kvm_interrupt: 4, kvm_enable_cap: 104, kvm_xsave: 4096, kvm_xcrs: 392, kvm_device_attr: 24,
  kvm_guest_debug: 72, kvm_vcpu_events: 64, kvm_run: 2352, kvm_mp_state: 4, kvm_debugregs: 128,
} as const;

// /dev/kvm
export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
export const KVM_GET_MSR_INDEX_LIST = _IOWR(KVMIO, 0x02, SIZEOF.kvm_msr_list);
export const KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03);
export const KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04);
export const KVM_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, SIZEOF.kvm_cpuid2);
export const KVM_GET_MSR_FEATURE_INDEX_LIST = _IOWR(KVMIO, 0x0a, SIZEOF.kvm_msr_list);
// VM
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
export const KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, SIZEOF.kvm_userspace_memory_region);
// vCPU
export const KVM_RUN = _IO(KVMIO, 0x80);
export const KVM_GET_REGS = _IOR(KVMIO, 0x81, SIZEOF.kvm_regs);
export const KVM_SET_REGS = _IOW(KVMIO, 0x82, SIZEOF.kvm_regs);
export const KVM_GET_SREGS = _IOR(KVMIO, 0x83, SIZEOF.kvm_sregs);
export const KVM_SET_SREGS = _IOW(KVMIO, 0x84, SIZEOF.kvm_sregs);
export const KVM_INTERRUPT = _IOW(KVMIO, 0x86, SIZEOF.kvm_interrupt);
export const KVM_GET_MSRS = _IOWR(KVMIO, 0x88, SIZEOF.kvm_msrs);
export const KVM_SET_MSRS = _IOW(KVMIO, 0x89, SIZEOF.kvm_msrs);
export const KVM_GET_FPU = _IOR(KVMIO, 0x8c, SIZEOF.kvm_fpu);
export const KVM_SET_FPU = _IOW(KVMIO, 0x8d, SIZEOF.kvm_fpu);
export const KVM_SET_CPUID2 = _IOW(KVMIO, 0x90, SIZEOF.kvm_cpuid2);
export const KVM_GET_CPUID2 = _IOWR(KVMIO, 0x91, SIZEOF.kvm_cpuid2);
export const KVM_GET_MP_STATE = _IOR(KVMIO, 0x98, SIZEOF.kvm_mp_state);
export const KVM_SET_MP_STATE = _IOW(KVMIO, 0x99, SIZEOF.kvm_mp_state);
export const KVM_SET_GUEST_DEBUG = _IOW(KVMIO, 0x9b, SIZEOF.kvm_guest_debug);
export const KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9f, SIZEOF.kvm_vcpu_events);
export const KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xa0, SIZEOF.kvm_vcpu_events);
export const KVM_GET_DEBUGREGS = _IOR(KVMIO, 0xa1, SIZEOF.kvm_debugregs);
export const KVM_SET_DEBUGREGS = _IOW(KVMIO, 0xa2, SIZEOF.kvm_debugregs);
export const KVM_ENABLE_CAP = _IOW(KVMIO, 0xa3, SIZEOF.kvm_enable_cap);
export const KVM_GET_XSAVE = _IOR(KVMIO, 0xa4, SIZEOF.kvm_xsave);
export const KVM_SET_XSAVE = _IOW(KVMIO, 0xa5, SIZEOF.kvm_xsave);
export const KVM_GET_XCRS = _IOR(KVMIO, 0xa6, SIZEOF.kvm_xcrs);
export const KVM_SET_XCRS = _IOW(KVMIO, 0xa7, SIZEOF.kvm_xcrs);
export const KVM_GET_XSAVE2 = _IOR(KVMIO, 0xcf, SIZEOF.kvm_xsave);
export const KVM_GET_DEVICE_ATTR = _IOW(KVMIO, 0xe2, SIZEOF.kvm_device_attr);
export const KVM_HAS_DEVICE_ATTR = _IOW(KVMIO, 0xe3, SIZEOF.kvm_device_attr);

/** Every request this module defines, by name (tests, tracing). */
export const IOCTL_NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries({
  KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_GET_MSR_INDEX_LIST, KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE,
  KVM_GET_SUPPORTED_CPUID, KVM_GET_MSR_FEATURE_INDEX_LIST, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION, KVM_RUN,
  KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_INTERRUPT, KVM_GET_MSRS, KVM_SET_MSRS, KVM_GET_FPU,
  KVM_SET_FPU, KVM_SET_CPUID2, KVM_GET_CPUID2, KVM_SET_GUEST_DEBUG, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
  KVM_ENABLE_CAP, KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS, KVM_GET_XSAVE2, KVM_GET_DEVICE_ATTR,
  KVM_HAS_DEVICE_ATTR,
})) IOCTL_NAMES[v] = k;
