# kind: elf
#
# amx-test.elf — the guest half of the KVM selftest amx_test, pre-2026 (v6.8) form
# (x86_64/amx_test.c; kernel-abi.md §9.3). Host half: hypervisor/vmm/selftests/amx.ts
# (`x86kvm selftest amx`). Needs AMX (sapphire-rapids).
#
# Stage protocol: GUEST_SYNC(stage, &amx_tiledata), stage 1..10; the host migrates the vCPU
# (save, recreate the VM, load, compare registers) after every one, and at stages 4 and 10 also
# checks TMM0 in the saved image (offset xsave_restore_size − 8192 = amx_tiledata, args[2]).
#   1 after the checks; XFD=0; 2; assert XFD==0; ldtilecfg; 3; tileloadd; 4; tilerelease; 5
#   xsavec asserts; XFD=0x40000; xsavec asserts; 6; assert XFD==0x40000; ldtilecfg; tileloadd →
#   #NM → handler: 7 (XFD_ERR pending), asserts, 8, asserts, XFD_ERR=0, XFD=0, 9; the handler
#   returns to the tileloadd, which now succeeds; 10; DONE.
# Without a host half: exit done, status 0.

    .include "lib/guest.inc"
    .include "lib/amx.inc"

    GUEST_MAIN
    GUEST_PRINTF "amx-test (v6.8 form): start\n"
    GUEST_HANDLER 7, nm_handler
    # init_regs() of v6.8: CR4.OSXSAVE and XCR0 |= XTILE (the library set both already)
    movq %cr4, %rax
    orq $0x40000, %rax
    movq %rax, %cr4
    xorl %ecx, %ecx
    xgetbv
    orl $0x60000, %eax
    xsetbv
    CHECK_XTILE_INFO
    GUEST_SYNC $1, $amx_tiledata
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $2, $amx_tiledata
    ASSERT_MSR MSR_XFD, 0, "rdmsr(MSR_IA32_XFD) == 0"
    LOAD_TILECFG
    GUEST_SYNC $3, $amx_tiledata
    TILELOADD_TMM0
    GUEST_SYNC $4, $amx_tiledata
    tilerelease
    GUEST_SYNC $5, $amx_tiledata
    XSAVEC_ASSERTS
    WRMSR_ MSR_XFD, $XFEATURE_XTILEDATA
    XSAVEC_ASSERTS
    GUEST_SYNC $6, $amx_tiledata
    ASSERT_MSR MSR_XFD, XFEATURE_XTILEDATA, "rdmsr(MSR_IA32_XFD) == XFEATURE_MASK_XTILE_DATA"
    LOAD_TILECFG
    xorl %r15d, %r15d
    TILELOADD_TMM0                      # #NM first (stages 7-9 in the handler), then succeeds
    GUEST_ASSERT_EQ %r15, $7, "the #NM handler ran (stages 7-9)"
    GUEST_SYNC $10, $amx_tiledata
    GUEST_PRINTF "amx-test: stage 10, TMM0 reloaded after the #NM\n"
    GUEST_DONE

nm_handler:                             # %rdi = frame; returns to the faulting tileloadd
    movq $7, FR_R15(%rdi)
    GUEST_SYNC $7, $amx_tiledata
    NM_STATE_ASSERTS
    GUEST_SYNC $8, $amx_tiledata
    NM_STATE_ASSERTS
    WRMSR_ MSR_XFD_ERR, $0
    WRMSR_ MSR_XFD, $0
    GUEST_SYNC $9, $amx_tiledata
    ret
