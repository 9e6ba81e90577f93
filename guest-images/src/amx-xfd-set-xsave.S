# kind: elf
#
# amx-xfd-set-xsave.elf — kernel-abi.md §10 S5: an XFD-disabled component stuffed back with
# KVM_SET_XSAVE. Needs a host with AMX (sapphire-rapids; the VMM grants the tile permission).
#
# Stage protocol (what the host may do):
#   WRMSR XFD 0, LDTILECFG, TILELOADD TMM0 (amx_tiledata: XINUSE[18] = 1)
#   GUEST_SYNC(1, &amx_tiledata)   host: KVM_GET_XSAVE2 → an image with XSTATE_BV[18] = 1 and TMM0
#                                  at offset 2816
#   WRMSR XFD 0x40000 (XFD[18] = 1)
#   GUEST_SYNC(2, &amx_tiledata)   host: KVM_SET_XSAVE(the stage-1 image), then KVM_RUN:
#                                  B1–B3 accept XSTATE_BV[18] = 1 with XFD[18] = 1 → host #NM in
#                                  restore_fpregs_from_fpstate at that KVM_RUN (host-oops);
#                                  B4 clears the bit (tile data back to init) and the guest runs on
#   ASSERT XFD == 0x40000, WRMSR XFD 0, TILELOADD again (the SDM's rule after XFD), TILESTORED,
#   compare with amx_tiledata (GUEST_ASSERT "TMM0 …"), GUEST_DONE.
# Without a host half (plain `x86kvm run`): exit done, status 0 under every kernel.

    .include "lib/guest.inc"
    .include "lib/amx.inc"

    GUEST_MAIN
    GUEST_PRINTF "amx-xfd-set-xsave: tiles\n"
    xorl %ecx, %ecx
    xgetbv
    ASSERT_BITS 0x60000, 0x60000, "XCR0 & XFEATURE_MASK_XTILE"
    WRMSR_ MSR_XFD, $0
    LOAD_TILECFG
    TILELOADD_TMM0
    GUEST_SYNC $1, $amx_tiledata        # host: KVM_GET_XSAVE2 (XSTATE_BV[18] = 1)
    WRMSR_ MSR_XFD, $XFEATURE_XTILEDATA
    GUEST_SYNC $2, $amx_tiledata        # host: KVM_SET_XSAVE(stage-1 image), KVM_RUN
    ASSERT_MSR MSR_XFD, XFEATURE_XTILEDATA, "rdmsr(MSR_IA32_XFD) == XFEATURE_MASK_XTILE_DATA"
    WRMSR_ MSR_XFD, $0
    TILELOADD_TMM0
    TILESTORED_TMM0
    ASSERT_TMM0_DATA "TMM0 == amx_tiledata after XFD 0 and TILELOADD"
    GUEST_PRINTF "amx-xfd-set-xsave: TMM0 reloaded and compared\n"
    GUEST_DONE
