# amx_test (tools/testing/selftests/kvm/x86_64/amx_test.c), the pre-2026 (v6.8) form
# (kernel-abi.md §9.3): GUEST_SYNC(stage) 1..10 and the host migrates the vCPU (save, recreate,
# load, compare registers) after every one; at stages 4 and 10 it also checks TMM0 in a saved image.
# Stages 7-9 are taken inside the #NM handler (state migrated while XFD_ERR is pending); the
# handler returns to the faulting tileloadd, which then succeeds. Memory as in amx.S.
# Assertion ids as in amx.S; 17: the #NM handler was entered before stage 10.
    .include "lib.inc"
    .include "amx.inc"

    .text
    .code64
    .globl start
start:
    # init_regs() of v6.8: CR4.OSXSAVE (set by our library already) and XCR0 |= XTILE
    movq %cr4, %rax
    orq $0x40000, %rax
    movq %rax, %cr4
    xorl %ecx, %ecx
    xgetbv
    orl $0x60000, %eax
    xsetbv
    CHECK_XTILE_INFO
    GUEST_SYNC $1
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $2
    ASSERT_MSR MSR_XFD, 0, 11
    ldtilecfg TILECFG
    GUEST_SYNC $3
    TILELOADD_TMM0
    GUEST_SYNC $4
    tilerelease
    GUEST_SYNC $5
    XSAVEC_ASSERTS 12, 13
    WRMSR_ MSR_XFD, $0x40000
    XSAVEC_ASSERTS 14, 15
    GUEST_SYNC $6
    ASSERT_MSR MSR_XFD, 0x40000, 16
    ldtilecfg TILECFG
    xorl %r15d, %r15d
    TILELOADD_TMM0                  # #NM first (stages 7-9 in the handler), then succeeds
    movq $7, %r8
    GUEST_ASSERT_EQ %r15, %r8, 17
    GUEST_SYNC $10
    GUEST_DONE

    .globl nm_handler
nm_handler:
    pushq %rbx                      # the tileloadd operands, re-used when it is re-executed
    pushq %rsi
    movl $7, %r15d
    GUEST_SYNC $7
    NM_STATE_ASSERTS 18
    GUEST_SYNC $8
    NM_STATE_ASSERTS 21
    WRMSR_ MSR_XFD_ERR, $0
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $9
    popq %rsi
    popq %rbx
    iretq
