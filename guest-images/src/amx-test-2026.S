# kind: elf
#
# amx-test-2026.elf — the guest half of the KVM selftest amx_test, 2026 (v6.19) form
# (x86/amx_test.c with a1025dcd377e/0383a8edef39/3611ca7c12b7; kernel-abi.md §9.3). Host half:
# hypervisor/vmm/selftests/amx.ts (`x86kvm selftest amx-2026`). Needs AMX (sapphire-rapids).
#
# Stage protocol: every GUEST_SYNC(action, &amx_tiledata) carries action bits for the host in
# args[1]: SAVE_TILEDATA 1 (tile_state = vcpu_save_state), COMPARE_TILEDATA 2 (TMM0 in the saved
# image at xsave_restore_size − 8192 equals amx_tiledata, whose address is args[2]),
# RESTORE_TILEDATA 4 (KVM_SET_XSAVE(tile_state) on the live vCPU), SAVE_RESTORE 8 (save,
# recreate the VM, load). Sequence:
#   checks; SYNC(SR); XFD=0; SYNC(SR); ldtilecfg; SYNC(SR); tileloadd; SYNC(SAVE|COMPARE|SR)
#   XFD=0x40000; SYNC(RESTORE_TILEDATA)   ← B1–B3: the next KVM_RUN oopses the host; B4 clears bv[18]
#   SYNC(SR); XFD=0; tilerelease; SYNC(SR); xsavec asserts; XFD=0x40000; xsavec asserts; SYNC(SR)
#   ldtilecfg; tileloadd → #NM (handler: vector 7, resume after it); #NM state asserts; SYNC(SR)
#   same asserts; XFD_ERR=0; XFD=0; SYNC(SR); tileloadd; SYNC(COMPARE|SR); DONE
# Without a host half: exit done, status 0 (no RESTORE_TILEDATA is carried out).

    .include "lib/guest.inc"
    .include "lib/amx.inc"
    .set SAVE_TILEDATA, 1
    .set COMPARE_TILEDATA, 2
    .set RESTORE_TILEDATA, 4
    .set SAVE_RESTORE, 8

    GUEST_MAIN
    GUEST_PRINTF "amx-test-2026: start\n"
    GUEST_HANDLER 7, nm_handler
    CHECK_XTILE_INFO
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    ASSERT_MSR MSR_XFD, 0, "rdmsr(MSR_IA32_XFD) == 0"
    LOAD_TILECFG
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    TILELOADD_TMM0
    GUEST_SYNC $(SAVE_TILEDATA | COMPARE_TILEDATA | SAVE_RESTORE), $amx_tiledata
    WRMSR_ MSR_XFD, $XFEATURE_XTILEDATA # XFD[18] = 1 with TMM0 live in the guest FPU
    GUEST_SYNC $RESTORE_TILEDATA, $amx_tiledata   # host stuffs XSTATE_BV[18] = 1 past XFD[18] = 1
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    WRMSR_ MSR_XFD, $0
    tilerelease
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    XSAVEC_ASSERTS
    WRMSR_ MSR_XFD, $XFEATURE_XTILEDATA
    XSAVEC_ASSERTS
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    ASSERT_MSR MSR_XFD, XFEATURE_XTILEDATA, "rdmsr(MSR_IA32_XFD) == XFEATURE_MASK_XTILE_DATA"
    LOAD_TILECFG
    # tileloadd_safe(): the #NM handler puts the vector in r15 and resumes at r14
    xorl %r15d, %r15d
    leaq 1f(%rip), %r14
    TILELOADD_TMM0
1:  GUEST_ASSERT_EQ %r15, $7, "Wanted #NM on tileloadd with XFD[18]=1"
    NM_STATE_ASSERTS
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    NM_STATE_ASSERTS
    WRMSR_ MSR_XFD_ERR, $0
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $SAVE_RESTORE, $amx_tiledata
    TILELOADD_TMM0
    GUEST_SYNC $(COMPARE_TILEDATA | SAVE_RESTORE), $amx_tiledata
    GUEST_PRINTF "amx-test-2026: all stages passed\n"
    GUEST_DONE

nm_handler:                             # %rdi = frame
    movq $7, FR_R15(%rdi)
    movq FR_R14(%rdi), %rax
    movq %rax, FR_RIP(%rdi)
    ret
