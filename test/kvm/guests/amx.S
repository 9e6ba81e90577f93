# amx_test (tools/testing/selftests/kvm/x86/amx_test.c; kernel-abi.md §9.3), the 2026 (v6.19) form:
# every GUEST_SYNC carries action bits for the host in args[1]:
#   SAVE_TILEDATA 1 (tile_state = vcpu_save_state), COMPARE_TILEDATA 2 (TMM0 in the saved XSAVE image
#   at xsave_restore_size - 8192 equals the tile data), RESTORE_TILEDATA 4 (KVM_SET_XSAVE(tile_state)
#   on the live vCPU), SAVE_RESTORE 8 (full migrate cycle).
# Memory (host-filled): tile config at 0x100000, tile data (16 rows x 64 bytes) at 0x101000,
# 64-byte-aligned XSAVEC area at 0x104000. IDT vector 7 -> nm_handler.
# Assertion ids: 1 CPUID.1:ECX.XSAVE  2 CR4.OSXSAVE  3 XCR0 & XTILE == XTILE  4 0xD.0 EBX <= 12288
#   5 0xD.18 EBX (offset) == 2816  6 0xD.18 EAX (size) == 8192  7 0x1D.0 EAX (max palette) >= 1
#   8 0x1D.1 EAX == 1024<<16 | 8192  9 0x1D.1 EBX == 8<<16 | 64  10 0x1D.1 ECX == 16
#   11 XFD == 0  12/13 xsavec: XSTATE_BV[18] == 0 / XCOMP_BV[18] == 1 (XFD clear)
#   14/15 the same with XFD[18] = 1  16 XFD == 0x40000  17 tileloadd with XFD[18]=1 -> #NM
#   18 CR0.TS clear  19 XFD_ERR == 0x40000  20 XFD == 0x40000  (21-23 the same after a sync)
    .include "lib.inc"
    .set SAVE_TILEDATA, 1
    .set COMPARE_TILEDATA, 2
    .set RESTORE_TILEDATA, 4
    .set SAVE_RESTORE, 8
    .set TILECFG, 0x100000
    .set TILEDATA, 0x101000
    .set XSAVE_AREA, 0x104000
    .set MSR_XFD, 0x1c4
    .set MSR_XFD_ERR, 0x1c5

.macro WRMSR_ msr, val               # clobbers rax, rcx, rdx
    movl $\msr, %ecx
    movq \val, %rax
    movq %rax, %rdx
    shrq $32, %rdx
    wrmsr
.endm
.macro RDMSR_ msr                    # rax = MSR
    movl $\msr, %ecx
    rdmsr
    shlq $32, %rdx
    movl %eax, %eax
    orq %rdx, %rax
.endm
.macro ASSERT_MSR msr, val, id
    RDMSR_ \msr
    movq $\val, %r8
    GUEST_ASSERT_EQ %rax, %r8, \id
.endm
# rax & mask == want
.macro ASSERT_BITS mask, want, id
    andq $\mask, %rax
    movq $\want, %r8
    GUEST_ASSERT_EQ %rax, %r8, \id
.endm
.macro CPUID_LEAF leaf, sub
    movl $\leaf, %eax
    movl $\sub, %ecx
    cpuid
.endm
.macro TILELOADD_TMM0                # tmm0 <- TILEDATA, stride 64
    movl $TILEDATA, %ebx
    movl $64, %esi
    tileloadd (%rbx,%rsi,1), %tmm0
.endm
# xsavec(RFBM = XTILE_DATA); assert XSTATE_BV[18] == 0 and XCOMP_BV[18] == 1
.macro XSAVEC_ASSERTS id_bv, id_comp
    movl $0x40000, %eax
    xorl %edx, %edx
    movl $XSAVE_AREA, %edi
    xsavec (%rdi)
    movq XSAVE_AREA+512, %rax
    ASSERT_BITS 0x40000, 0, \id_bv
    movq XSAVE_AREA+520, %rax
    ASSERT_BITS 0x40000, 0x40000, \id_comp
.endm
.macro NM_STATE_ASSERTS id
    movq %cr0, %rax
    ASSERT_BITS 8, 0, \id
    ASSERT_MSR MSR_XFD_ERR, 0x40000, \id+1
    ASSERT_MSR MSR_XFD, 0x40000, \id+2
.endm

    .text
    .code64
    .globl start
start:
    # check_xtile_info() and the v6.19 XCR0 expectations
    CPUID_LEAF 1, 0
    movq %rcx, %rax
    ASSERT_BITS 0x4000000, 0x4000000, 1
    movq %cr4, %rax
    ASSERT_BITS 0x40000, 0x40000, 2
    xorl %ecx, %ecx
    xgetbv
    ASSERT_BITS 0x60000, 0x60000, 3
    CPUID_LEAF 0xd, 0
    movl %ebx, %eax
    cmpq $12288, %rax
    jbe 1f
    UCALL UCALL_ABORT, $4, %rax, $12288
    hlt
1:  CPUID_LEAF 0xd, 18
    movl %ebx, %r9d
    movl %eax, %r10d
    movq $2816, %r8
    GUEST_ASSERT_EQ %r9, %r8, 5
    movq $8192, %r8
    GUEST_ASSERT_EQ %r10, %r8, 6
    CPUID_LEAF 0x1d, 0
    movl %eax, %eax
    testq %rax, %rax
    jnz 1f
    UCALL UCALL_ABORT, $7, %rax, $1
    hlt
1:  CPUID_LEAF 0x1d, 1
    movl %eax, %eax
    movl %ebx, %r9d
    movl %ecx, %r10d
    movq $(1024 << 16 | 8192), %r8
    GUEST_ASSERT_EQ %rax, %r8, 8
    movq $(8 << 16 | 64), %r8
    GUEST_ASSERT_EQ %r9, %r8, 9
    movq $16, %r8
    GUEST_ASSERT_EQ %r10, %r8, 10

    GUEST_SYNC $SAVE_RESTORE
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $SAVE_RESTORE
    ASSERT_MSR MSR_XFD, 0, 11
    ldtilecfg TILECFG
    GUEST_SYNC $SAVE_RESTORE
    TILELOADD_TMM0
    GUEST_SYNC $(SAVE_TILEDATA | COMPARE_TILEDATA | SAVE_RESTORE)
    WRMSR_ MSR_XFD, $0x40000         # XFD[18] = 1 with TMM0 live in the guest FPU
    GUEST_SYNC $RESTORE_TILEDATA    # host stuffs XSTATE_BV[18] = 1 past XFD[18] = 1
    GUEST_SYNC $SAVE_RESTORE
    WRMSR_ MSR_XFD, $0
    tilerelease
    GUEST_SYNC $SAVE_RESTORE
    XSAVEC_ASSERTS 12, 13
    WRMSR_ MSR_XFD, $0x40000
    XSAVEC_ASSERTS 14, 15
    GUEST_SYNC $SAVE_RESTORE
    ASSERT_MSR MSR_XFD, 0x40000, 16
    ldtilecfg TILECFG
    # tileloadd_safe(): the #NM handler records the vector in r15 and resumes at r14
    xorl %r15d, %r15d
    leaq 1f(%rip), %r14
    TILELOADD_TMM0
1:  movq $7, %r8
    GUEST_ASSERT_EQ %r15, %r8, 17
    NM_STATE_ASSERTS 18
    GUEST_SYNC $SAVE_RESTORE
    NM_STATE_ASSERTS 21
    WRMSR_ MSR_XFD_ERR, $0
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $SAVE_RESTORE
    TILELOADD_TMM0
    GUEST_SYNC $(COMPARE_TILEDATA | SAVE_RESTORE)
    GUEST_DONE

    .globl nm_handler
nm_handler:
    movl $7, %r15d
    movq %r14, (%rsp)
    iretq
