# kind: elf
#
# xcr0-cpuid-test.elf — the guest half of the KVM selftest xcr0_cpuid_test (x86/xcr0_cpuid_test.c,
# v6.19 form; kernel-abi.md §9.4). Host half: hypervisor/vmm/selftests/xcr0_cpuid.ts
# (`x86kvm selftest xcr0-cpuid`): run to UCALL_DONE, fail on UCALL_ABORT; the same under B1–B4.
#
#   XCR0 at entry == supported (guest CPUID.(0xD,0) EDX:EAX; lib/guest.inc set XCR0 to it);
#   dependency rules on supported: FP; YMM ⇒ SSE; MPX all or none; AVX-512 all or none and
#   ⇒ SSE|YMM; XTILE all or none; xsetbv(0, FP) and xsetbv(0, supported) do not fault;
#   xsetbv(0, supported | BIT(i)) #GPs with error code 0 for every i not in supported.
# Stage protocol: GUEST_SYNC(number of #GPs taken) — nothing for a host to do but count; DONE.
# Without a host half: exit done, status 0.

    .include "lib/guest.inc"

.macro ALL_OR_NONE mask, what           # (r13 & mask) is 0 or mask
    movq %r13, %rax
    andq $\mask, %rax
    jz .Lnone\@
    GUEST_ASSERT_EQ %rax, $\mask, "\what"
.Lnone\@:
.endm
.macro IMPLIES cond, req, what          # r13 & cond ⇒ (r13 & req) == req
    testq $\cond, %r13
    jz .Lno\@
    movq %r13, %rax
    andq $\req, %rax
    GUEST_ASSERT_EQ %rax, $\req, "\what"
.Lno\@:
.endm
.macro XGETBV0                          # rax = XCR0
    xorl %ecx, %ecx
    xgetbv
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
.endm
.macro XSETBV0 reg                      # xsetbv(0, reg); r15 = vector taken (0: none), r11 = error code
    xorl %r15d, %r15d
    movq \reg, %rax
    movq %rax, %rdx
    shrq $32, %rdx
    xorl %ecx, %ecx
    xsetbv                              # 0f 01 d1: the #GP handler resumes 3 bytes on
.endm

    GUEST_MAIN
    GUEST_HANDLER 13, gp_handler
    xorl %r14d, %r14d                   # #GPs taken
    XGETBV0
    movq %rax, %r12                     # initial XCR0
    movl $0xd, %eax
    xorl %ecx, %ecx
    cpuid
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
    movq %rax, %r13                     # supported XCR0
    GUEST_ASSERT_EQ %r12, %r13, "initial_xcr0 == supported_xcr0"
    movq %r13, %rax
    andq $1, %rax
    GUEST_ASSERT_EQ %rax, $1, "supported_xcr0 & XFEATURE_MASK_FP"
    IMPLIES 0x4, 0x2, "YMM => SSE"
    ALL_OR_NONE 0x18, "MPX (BNDREGS|BNDCSR) all or none"
    ALL_OR_NONE 0xe0, "AVX-512 (OPMASK|ZMM_Hi256|Hi16_ZMM) all or none"
    IMPLIES 0xe0, 0x6, "AVX-512 => SSE|YMM"
    ALL_OR_NONE 0x60000, "XTILE (CFG|DATA) all or none"

    movq $1, %rbx
    XSETBV0 %rbx
    GUEST_ASSERT_EQ %r15, $0, "xsetbv(0, XFEATURE_MASK_FP) does not fault"
    XSETBV0 %r13
    GUEST_ASSERT_EQ %r15, $0, "xsetbv(0, supported_xcr0) does not fault"

    xorl %r12d, %r12d                   # i
next_bit:
    btq %r12, %r13
    jc skip_bit
    movq %r13, %rbx
    btsq %r12, %rbx
    XSETBV0 %rbx
    GUEST_ASSERT_EQ %r15, $13, "xsetbv(0, supported_xcr0 | BIT_ULL(i)) raises #GP"
    GUEST_ASSERT_EQ %r11, $0, "the #GP's error code is 0"
skip_bit:
    incq %r12
    cmpq $64, %r12
    jb next_bit

    XGETBV0
    GUEST_ASSERT_EQ %rax, %r13, "xgetbv(0) == supported_xcr0 at the end"
    GUEST_PRINTF "xcr0-cpuid-test: XCR0 rules hold\n"
    GUEST_SYNC %r14
    GUEST_DONE

gp_handler:                             # %rdi = frame: record, skip the 3-byte XSETBV
    movq FR_ERR(%rdi), %rax
    movq %rax, FR_R11(%rdi)
    addq $3, FR_RIP(%rdi)
    movq $13, FR_R15(%rdi)
    incq FR_R14(%rdi)
    ret
