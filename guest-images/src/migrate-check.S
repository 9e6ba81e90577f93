# kind: elf
#
# migrate-check.elf — the migration tests' guest (test/vmm/*.test.ts: VMM save/restore, the
# migration stream, `x86kvm migrate`, `run --save/--restore`). Unlike pkru-migrate (one migration
# point, every register) it offers three syncs with work between them, so a migration can be taken
# at any of them and the instruction counts of a split run compared with an unbroken one.
#   1. XCR0 = x87|SSE|AVX (XSETBV), x87 st0 = pi / st1 = 1, YMM3 = {0x1122334455667788,
#      0x99aabbccddeeff00, 0x0123456789abcdef, 0xfedcba9876543210}, MXCSR = 0x3f80 (round toward
#      zero, masked), R12 = 0xdeadbeefcafef00d, PKRU untouched
#   2. GUEST_SYNC(1) (the migration point); a loop of 1000 iterations updating R13, GUEST_SYNC(2),
#      more work, GUEST_SYNC(3)
#   3. checks every value of step 1 after the syncs: a mismatch is a GUEST_ASSERT naming it (silent
#      corruption after an incomplete restore)
#   4. GUEST_DONE (GUEST_PRINTF before sync 1 and after the checks)
# Without a host half: exit done, status 0.

    .include "lib/guest.inc"

    GUEST_MAIN
    xorl %ecx, %ecx                     # XCR0 = x87 | SSE | AVX
    xorl %edx, %edx
    movl $7, %eax
    xsetbv
    fninit                              # x87: st1 = 1, st0 = pi
    fld1
    fldpi
    vmovdqu v256(%rip), %ymm3           # XMM3 / YMM3
    ldmxcsr mxcsr_value(%rip)
    movabsq $0xdeadbeefcafef00d, %r12
    xorl %r13d, %r13d
    GUEST_PRINTF "migrate-check: state loaded (XCR0 7, x87, YMM3, MXCSR, R12)\n"
    GUEST_SYNC $1
    movl $1000, %ecx
3:  addq %rcx, %r13
    loop 3b
    GUEST_SYNC $2
    movl $1000, %ecx
4:  xorq %rcx, %r13
    loop 4b
    GUEST_SYNC $3

    movabsq $0xdeadbeefcafef00d, %r8
    GUEST_ASSERT_EQ %r12, %r8, "r12 == 0xdeadbeefcafef00d"
    movdqu %xmm3, out(%rip)
    movabsq $0x1122334455667788, %r8
    GUEST_ASSERT_EQ out(%rip), %r8, "xmm3[63:0] == 0x1122334455667788"
    stmxcsr mx(%rip)
    movl mx(%rip), %r9d
    GUEST_ASSERT_EQ %r9, $0x3f80, "mxcsr == 0x3f80"
    fnstsw %ax
    movzwq %ax, %r9
    shrq $11, %r9
    andq $7, %r9
    GUEST_ASSERT_EQ %r9, $6, "x87 TOP == 6 (two values pushed)"
    xorl %ecx, %ecx
    xgetbv
    movl %eax, %r9d
    GUEST_ASSERT_EQ %r9, $7, "xcr0 == 7"
    vmovdqu %ymm3, out(%rip)
    movabsq $0x0123456789abcdef, %r8
    GUEST_ASSERT_EQ out+16(%rip), %r8, "ymm3[191:128] == 0x0123456789abcdef"
    GUEST_PRINTF "migrate-check: every value survived the syncs\n"
    GUEST_DONE

    .section .rodata
mxcsr_value: .long 0x3f80
    .balign 32
v256: .quad 0x1122334455667788, 0x99aabbccddeeff00, 0x0123456789abcdef, 0xfedcba9876543210
    .bss
mx:   .skip 4
    .balign 32
out:  .skip 32
