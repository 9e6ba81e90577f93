# migrate-check.elf — the migration tests' guest (test/vmm/*.test.ts), an ELF64 for Machine
# (long mode, CPL0, identity-mapped, no IDT: any exception ends in a triple fault).
#   1. XCR0 = x87|SSE|AVX (XSETBV), x87 st0 = pi / st1 = 1, YMM3 = {0x1122334455667788,
#      0x99aabbccddeeff00, 0x0123456789abcdef, 0xfedcba9876543210}, MXCSR = 0x3f80 (round toward zero, masked),
#      R12 = 0xdeadbeefcafef00d, PKRU untouched
#   2. GUEST_SYNC(1) (the migration point); then a loop of N_LOOP iterations updating R13,
#      GUEST_SYNC(2), more work, GUEST_SYNC(3)
#   3. checks every value of step 1 after the syncs; a mismatch is GUEST_ASSERT (UCALL_ABORT with
#      expression, file, line, the two values): silent corruption after an incomplete restore
#   4. GUEST_DONE
# Built by test/vmm/guests/build.mjs into migrate-check.gen.ts (committed; tests need no binutils).
    .set UCALL_PORT, 0x1000
    .set UCALL_SYNC, 1
    .set UCALL_ABORT, 2
    .set UCALL_DONE, 4

.macro UCALL cmd, a0, a1, a2, a3, a4
    movq \a0, %rax
    movq %rax, uc+8
    movq \a1, %rax
    movq %rax, uc+16
    movq \a2, %rax
    movq %rax, uc+24
    movq \a3, %rax
    movq %rax, uc+32
    movq \a4, %rax
    movq %rax, uc+40
    movq $\cmd, uc
    lea uc, %rdi
    movw $UCALL_PORT, %dx
    inb %dx, %al
.endm

.macro GUEST_SYNC stage
    UCALL UCALL_SYNC, $hello, $\stage, $0, $0, $0
.endm

# ASSERT_EQ a, b, id, expr: a and b are registers (not rax/rdx/rdi); id goes where the selftests put __LINE__
.macro ASSERT_EQ a, b, line, expr
    cmpq \b, \a
    je 1f
    .section .rodata
2:  .asciz "\expr"
    .text
    UCALL UCALL_ABORT, $2b, $file, $\line, \a, \b
    hlt
1:
.endm

    .text
    .code64
    .globl _start
_start:
    # XCR0 = x87 | SSE | AVX
    xorl %ecx, %ecx
    xorl %edx, %edx
    movl $7, %eax
    xsetbv
    # x87: st1 = 1, st0 = pi
    fninit
    fld1
    fldpi
    # XMM3 / YMM3
    vmovdqu v256, %ymm3
    # MXCSR
    movl $0x3f80, mx
    ldmxcsr mx
    movabsq $0xdeadbeefcafef00d, %r12
    xorl %r13d, %r13d

    GUEST_SYNC 1
    movl $1000, %ecx
3:  addq %rcx, %r13
    loop 3b
    GUEST_SYNC 2
    movl $1000, %ecx
4:  xorq %rcx, %r13
    loop 4b
    GUEST_SYNC 3

    # checks
    movabsq $0xdeadbeefcafef00d, %r8
    ASSERT_EQ %r12, %r8, 1, "r12 == 0xdeadbeefcafef00d"
    movdqu %xmm3, out
    movq out, %r9
    movabsq $0x1122334455667788, %r8
    ASSERT_EQ %r9, %r8, 2, "xmm3[63:0] == 0x1122334455667788"
    stmxcsr mx
    movl mx, %r9d
    movl $0x3f80, %r8d
    ASSERT_EQ %r9, %r8, 3, "mxcsr == 0x3f80"
    fnstsw %ax
    movzwq %ax, %r9
    shrq $11, %r9
    andq $7, %r9
    movl $6, %r8d
    ASSERT_EQ %r9, %r8, 4, "x87 TOP == 6 (two values pushed)"
    xorl %ecx, %ecx
    xgetbv
    movl %eax, %r9d
    movl $7, %r8d
    ASSERT_EQ %r9, %r8, 5, "xcr0 == 7"
    vmovdqu %ymm3, out
    movq out+16, %r9
    movabsq $0x0123456789abcdef, %r8
    ASSERT_EQ %r9, %r8, 6, "ymm3[191:128] == 0x0123456789abcdef"
    UCALL UCALL_DONE, $0, $0, $0, $0, $0
    hlt

    .section .rodata
hello: .asciz "hello"
file:  .asciz "migrate-check.S"
    .data
    .balign 64
uc: .fill 8, 8, 0
mx: .long 0
    .balign 32
v256: .quad 0x1122334455667788, 0x99aabbccddeeff00, 0x0123456789abcdef, 0xfedcba9876543210
out:  .fill 4, 8, 0
