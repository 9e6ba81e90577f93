# state_test (tools/testing/selftests/kvm/x86/state_test.c, v6.6-rc7+ form; kernel-abi.md §9.2),
# the non-nested stages. XCR0 is the supported mask (set by the library, v6.19 form).
#   GUEST_SYNC(1); take every supported xfeature out of its init state so it shows in XSTATE_BV:
#   FP (fincstp), SSE (xmm0), YMM (ymm0), AVX-512 (k1, zmm0 upper half, zmm16), PKRU (CR4.PKE,
#   wrpkru(-1)); GUEST_SYNC(2); GUEST_DONE.
# Assertion ids: 1 MPX supported (this guest does not exercise MPX, so it refuses to pass silently)
#                2 CR4.PKE set but CPUID.7.0:ECX.OSPKE clear
    .include "lib.inc"

    .text
    .code64
    .globl start
start:
    GUEST_SYNC $1
    xorl %ecx, %ecx
    xgetbv
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
    movq %rax, %r13                 # XCR0 = supported

    testq $0x18, %r13
    jz 1f
    movq %r13, %rax
    andq $0x18, %rax
    xorl %r8d, %r8d
    GUEST_ASSERT_EQ %rax, %r8, 1
1:
    fincstp                         # FP: TOP != 0
    pcmpeqd %xmm0, %xmm0            # SSE: xmm0 = all ones
    testq $0x4, %r13
    jz 2f
    vpcmpeqd %ymm0, %ymm0, %ymm0    # YMM: ymm0[255:128] = all ones
2:
    testq $0xe0, %r13
    jz 3f
    movq $-1, %rax
    kmovq %rax, %k1                 # OPMASK
    # the selftest uses vpternlogd $0xff; this emulator has no VPTERNLOGD yet, so load all ones
    vmovdqu %ymm0, 0x100000         # ymm0 is all ones here (AVX-512 implies YMM)
    vmovdqu %ymm0, 0x100020
    vmovdqu64 0x100000, %zmm0       # ZMM_Hi256
    vmovdqu64 0x100000, %zmm16      # Hi16_ZMM
3:
    testq $0x200, %r13
    jz 4f
    movq %cr4, %rax
    orq $0x400000, %rax             # CR4.PKE
    movq %rax, %cr4
    movl $7, %eax
    xorl %ecx, %ecx
    cpuid
    shrl $4, %ecx                   # OSPKE
    andq $1, %rcx
    movq $1, %r8
    GUEST_ASSERT_EQ %rcx, %r8, 2
    movl $-1, %eax
    xorl %ecx, %ecx
    xorl %edx, %edx
    wrpkru
4:
    GUEST_SYNC $2
    GUEST_DONE
