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
    .include "amx.inc"
    .set SAVE_TILEDATA, 1
    .set COMPARE_TILEDATA, 2
    .set RESTORE_TILEDATA, 4
    .set SAVE_RESTORE, 8

    .text
    .code64
    .globl start
start:
    CHECK_XTILE_INFO

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
