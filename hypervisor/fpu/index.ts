// hypervisor/fpu: the host kernel's guest-FPU model (kernel-abi.md). See kvm.ts for the
// functions the /dev/kvm ioctl layer calls and fpu.ts for the arch/x86/kernel/fpu core.
export * from "./xstate";
export * from "./fpu";
export * from "./kvm";
