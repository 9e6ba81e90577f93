# xcr0_cpuid_test (tools/testing/selftests/kvm/x86/xcr0_cpuid_test.c, v6.19 form; kernel-abi.md §9.4).
# Assertion ids (UCALL_ABORT args[0]):
#   1  XCR0 at entry == supported (guest CPUID.(0xD,0) EDX:EAX; the library set XCR0 to it)
#   2  FP supported            3  YMM => SSE            4  MPX (BNDREGS|BNDCSR) all or none
#   5  AVX-512 (OPMASK|ZMM_Hi256|Hi16_ZMM) all or none  6  AVX-512 => SSE|YMM
#   7  XTILE (CFG|DATA) all or none
#   8  xsetbv(0, FP) does not fault                     9  xsetbv(0, supported) does not fault
#  10  xsetbv(0, supported | BIT(i)) #GPs for every i not in supported (args: vector taken, i)
#  11  that #GP's error code is 0                      12  XCR0 == supported at the end
# Then GUEST_SYNC(number of #GPs taken), GUEST_DONE.
    .include "lib.inc"

# r13 & mask must be 0 or mask
.macro ALL_OR_NONE mask, id
    movq %r13, %rax
    andq $\mask, %rax
    jz .Lnone\@
    movq $\mask, %r8
    GUEST_ASSERT_EQ %rax, %r8, \id
.Lnone\@:
.endm

# if r13 & cond then r13 & req == req
.macro IMPLIES cond, req, id
    testq $\cond, %r13
    jz .Lno\@
    movq %r13, %rax
    andq $\req, %rax
    movq $\req, %r8
    GUEST_ASSERT_EQ %rax, %r8, \id
.Lno\@:
.endm

# rax = XCR0
.macro XGETBV0
    xorl %ecx, %ecx
    xgetbv
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
.endm

# xsetbv(0, reg); r15 = vector taken (0 if none), r11 = error code. Clobbers rax, rcx, rdx.
.macro XSETBV0 reg
    xorl %r15d, %r15d
    movq \reg, %rax
    movq %rax, %rdx
    shrq $32, %rdx
    xorl %ecx, %ecx
    xsetbv                          # 0f 01 d1: the #GP handler resumes 3 bytes on
.endm

    .text
    .code64
    .globl start
start:
    xorl %r14d, %r14d               # #GPs taken
    XGETBV0
    movq %rax, %r12                 # initial XCR0
    movl $0xd, %eax
    xorl %ecx, %ecx
    cpuid
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
    movq %rax, %r13                 # supported XCR0
    GUEST_ASSERT_EQ %r12, %r13, 1

    movq %r13, %rax
    andq $1, %rax
    movq $1, %r8
    GUEST_ASSERT_EQ %rax, %r8, 2
    IMPLIES 0x4, 0x2, 3
    ALL_OR_NONE 0x18, 4
    ALL_OR_NONE 0xe0, 5
    IMPLIES 0xe0, 0x6, 6
    ALL_OR_NONE 0x60000, 7

    movq $1, %rbx
    XSETBV0 %rbx
    xorl %r8d, %r8d
    GUEST_ASSERT_EQ %r15, %r8, 8
    XSETBV0 %r13
    xorl %r8d, %r8d
    GUEST_ASSERT_EQ %r15, %r8, 9

    xorl %r12d, %r12d               # i
next_bit:
    btq %r12, %r13
    jc skip_bit
    movq %r13, %rbx
    btsq %r12, %rbx
    XSETBV0 %rbx
    cmpq $13, %r15
    je 1f
    UCALL UCALL_ABORT, $10, %r15, %r12
    hlt
1:  xorl %r8d, %r8d
    GUEST_ASSERT_EQ %r11, %r8, 11
skip_bit:
    incq %r12
    cmpq $64, %r12
    jb next_bit

    XGETBV0
    GUEST_ASSERT_EQ %rax, %r13, 12
    GUEST_SYNC %r14
    GUEST_DONE

    .globl gp_handler
gp_handler:                         # vector 13: record, skip the 3-byte XSETBV, return
    popq %r11                       # error code
    addq $3, (%rsp)
    movl $13, %r15d
    incq %r14
    iretq
