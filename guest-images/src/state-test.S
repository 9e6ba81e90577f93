# kind: elf
#
# state-test.elf — the guest half of the KVM selftest state_test (x86/state_test.c, v6.6-rc7+
# form, non-nested stages; kernel-abi.md §9.2). Host half: hypervisor/vmm/selftests/state.ts
# (`x86kvm selftest state`).
#
# Stage protocol (what the host may do):
#   GUEST_SYNC(1)   save state, recreate the VM, load state, then the dummy-vCPU KVM_SET_XSAVE steps
#   take every supported xfeature out of its init state so it shows in XSTATE_BV: FP (fincstp),
#   SSE (xmm0), YMM (ymm0), AVX-512 (k1, zmm0 upper half, zmm16), PKRU (CR4.PKE, wrpkru(-1))
#   GUEST_SYNC(2)   the same host actions, now with every supported xfeature in the image
#   GUEST_DONE
# XCR0 is the supported mask (lib/guest.inc sets it from CPUID.(0xD,0), as the v6.19 library does).
# Without a host half: exit done, status 0.

    .include "lib/guest.inc"

    GUEST_MAIN
    GUEST_PRINTF "state-test: stage 1\n"
    GUEST_SYNC $1
    xorl %ecx, %ecx
    xgetbv
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
    movq %rax, %r13                     # XCR0 = supported
    andq $0x18, %rax                    # MPX: this guest does not exercise it, so refuse to pass silently
    GUEST_ASSERT_EQ %rax, $0, "!(supported_xcr0 & XFEATURE_MASK_BNDREGS|BNDCSR) (MPX not exercised here)"
    fincstp                             # FP: TOP != 0
    pcmpeqd %xmm0, %xmm0                # SSE: xmm0 = all ones
    testq $0x4, %r13
    jz 2f
    vpcmpeqd %ymm0, %ymm0, %ymm0        # YMM: ymm0[255:128] = all ones
2:  testq $0xe0, %r13
    jz 3f
    movq $-1, %rax
    kmovq %rax, %k1                     # OPMASK
    vpternlogd $0xff, %zmm0, %zmm0, %zmm0    # ZMM_Hi256: zmm0 = all ones
    vpternlogd $0xff, %zmm16, %zmm16, %zmm16 # Hi16_ZMM
3:  testq $0x200, %r13
    jz 4f
    movq %cr4, %rax
    orq $0x400000, %rax                 # CR4.PKE
    movq %rax, %cr4
    movl $7, %eax
    xorl %ecx, %ecx
    cpuid
    shrl $4, %ecx                       # OSPKE
    andq $1, %rcx
    GUEST_ASSERT_EQ %rcx, $1, "this_cpu_has(X86_FEATURE_OSPKE)"
    movl $-1, %eax
    xorl %ecx, %ecx
    xorl %edx, %edx
    wrpkru
4:  GUEST_PRINTF "state-test: stage 2, every supported xfeature in use\n"
    GUEST_SYNC $2
    GUEST_DONE
