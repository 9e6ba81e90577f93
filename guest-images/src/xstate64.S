# kind: rom
#
# xstate64.rom — the privileged extended-state rules (shared/reference/isa.md §3, SDM Vol. 1
# ch. 13, §13.14 XFD) on a CPU with AVX-512, AMX, XSAVES, XFD and PKU (x86kvm's default model
# sapphire-rapids: XCR0 support 0x602e7, XSS bits 11-12, XFD bit 18 only). QEMU 7.2 TCG
# lacks AVX-512/AMX/XFD/XSAVES and cannot run it.
#
# After the long-mode climb (lib/boot.inc), CR4 |= OSFXSR|OSXMMEXCPT|OSXSAVE, then:
#   1. XSETBV at CPL0: each of x87 clear (0x2), AVX without SSE (0x5), partial AVX-512 (0x27),
#      AVX-512 without AVX (0xe3), TILECFG without TILEDATA (0x20003) and the reverse
#      (0x40003), the XSS-only bit 11 (0x803), reserved bit 63, ECX=1 raises #GP(0)
#      (codes 1-9); XCR0 := 0x602e7 succeeds and XGETBV returns it (10).
#   2. XSAVES/XRSTORS (RFBM = 7, IA32_XSS = 0) round trip at CPL0: XCOMP_BV = bit 63 | 7 (11),
#      XSTATE_BV[2:1] = 11b (12), compacted AVX component at offset 576 (13), YMM0 restored
#      (14-17); at CPL3 (lib/user64.inc enter_user) XSAVES (18) and XRSTORS (19) raise #GP(0).
#   3. IA32_XFD: WRMSR 0x1C4 with bit 17 -> #GP(0) (20); with bit 18 OK, RDMSR reads it back
#      (21). LDTILECFG (palette 1, tmm0 16x64) and TILELOADD of non-zero data with XFD = 0,
#      XSAVE reports XSTATE_BV[18] = 1 (22); with XFD[18] = 1 XSAVE reports XSTATE_BV[18] = 0
#      and [17] = 1 (23). TILEZERO then raises #NM (vector 7 at the TILEZERO: 24, 25); the
#      #NM hook reads IA32_XFD_ERR = 1<<18 (26), writes XFD_ERR = 0 and XFD = 0, returns
#      with IRETQ and the TILEZERO re-executes: one #NM in total (27), XFD = 0 (28),
#      XFD_ERR = 0 (29), TILESTORED of tmm0 gives zeros (30, 31).
#   4. Protection keys: CR4.PKE = 1, the 2 MiB page at 0x400000 gets key 1 (PDE bits 62:59).
#      At CPL3: WRPKRU AD(key 1) -> RDPKRU = 4 (32), a read gives #PF (33) error 0x25 (34)
#      with CR2 = the address (35); WRPKRU WD(key 1) -> RDPKRU = 8 (36), a read works, a
#      write gives #PF (37) error 0x27 (38); PKRU back to 0 (39: the CPL3 session's value).
# Prints one line per check, then PASS, and exits 0 (status 1); a failed check prints
# "FAIL <what> got=<hex> want=<hex>" and exits with its code N (status 2N+1).

    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"

    .set XS_FULL,   0x300000            # standard-format XSAVE area for XCR0 = 0x602e7 (~11 KiB)
    .set XS_COMP,   0x310000            # compacted XSAVES area
    .set TILE_SRC,  0x320000            # 16 rows x 64 bytes
    .set TILE_DST,  0x321000
    .set PK_PAGE,   0x400000            # 2 MiB page with protection key 1 (PD index 2)
    .set NM_XFDERR, SCRATCH + 0x100     # IA32_XFD_ERR as read by the #NM hook
    .set NM_COUNT,  SCRATCH + 0x108     # number of #NM taken
    .set PK_RES,    SCRATCH + 0x200     # results of the CPL3 protection-key session

# vector << 32 | error code of the last exception must be 13 << 32 (#GP(0)).
.macro EXPECT_GP0 code, what
    mov EXC_REC+EXC_VEC, %rax
    shl $32, %rax
    or EXC_REC+EXC_ERR, %rax
    movabs $(13 << 32), %rdx
    EXPECT64 %rax, %rdx, \code, "\what (vector<<32|error)"
.endm

# XSETBV with EDX:EAX = hi:lo and ECX = xcr must raise #GP(0).
.macro XSETBV_GP lo, hi, xcr, code, what
    ARM_EXC64 .Lr\@
    mov $(\lo), %eax
    mov $(\hi), %edx
    mov $(\xcr), %ecx
    xsetbv
.Lr\@:
    EXPECT_GP0 \code, "XSETBV \what: #GP(0)"
    PRINT64 "xstate64: XSETBV \what -> #GP(0) ok\n"
.endm

    ROM_CLIMB_TO_LM64
    call gdt64_install
    call tss64_init
    call idt64_install
    call user64_init
    mov %cr4, %rax
    or $0x40600, %rax                   # OSFXSR | OSXMMEXCPT | OSXSAVE
    mov %rax, %cr4
    PRINT64 "xstate64: long mode, CR4.OSXSAVE=1\n"

    # ---- 1. XSETBV #GP table -----------------------------------------------------
    XSETBV_GP 0x2, 0, 0, 1, "0x2 (x87 clear)"
    XSETBV_GP 0x5, 0, 0, 2, "0x5 (AVX without SSE)"
    XSETBV_GP 0x27, 0, 0, 3, "0x27 (partial AVX-512)"
    XSETBV_GP 0xe3, 0, 0, 4, "0xe3 (AVX-512 without AVX)"
    XSETBV_GP 0x20003, 0, 0, 5, "0x20003 (TILECFG without TILEDATA)"
    XSETBV_GP 0x40003, 0, 0, 6, "0x40003 (TILEDATA without TILECFG)"
    XSETBV_GP 0x803, 0, 0, 7, "0x803 (XSS-only bit 11)"
    XSETBV_GP 0x3, 0x80000000, 0, 8, "0x8000000000000003 (reserved bit 63)"
    XSETBV_GP 0x602e7, 0, 1, 9, "ECX=1"
    mov $0x602e7, %eax
    xor %edx, %edx
    xor %ecx, %ecx
    xsetbv
    xor %ecx, %ecx
    xgetbv
    shl $32, %rdx
    or %rdx, %rax
    EXPECT64 %rax, $0x602e7, 10, "XGETBV after XSETBV 0x602e7"
    PRINT64 "xstate64: XSETBV 0x602e7 ok, XGETBV = 0x602e7\n"

    # ---- 2. XSAVES / XRSTORS -------------------------------------------------------
    vmovdqu ymm_pattern, %ymm0
    mov $XS_COMP, %edi
    xor %eax, %eax
    mov $(4096 / 8), %ecx
    rep stosq
    mov $XS_COMP, %edi
    mov $7, %eax
    xor %edx, %edx
    xsaves64 (%rdi)
    movabs $0x8000000000000007, %rdx
    EXPECT64 XS_COMP+520, %rdx, 11, "XSAVES XCOMP_BV"
    mov XS_COMP+512, %rax
    and $6, %eax
    EXPECT64 %rax, $6, 12, "XSAVES XSTATE_BV[2:1]"
    EXPECT64 XS_COMP+576, ymm_pattern+16, 13, "XSAVES compacted AVX component at 576"
    vpxor %ymm0, %ymm0, %ymm0
    mov $XS_COMP, %edi
    mov $7, %eax
    xor %edx, %edx
    xrstors64 (%rdi)
    vmovdqu %ymm0, SCRATCH
    EXPECT64 SCRATCH, ymm_pattern, 14, "XRSTORS ymm0[63:0]"
    EXPECT64 SCRATCH+8, ymm_pattern+8, 15, "XRSTORS ymm0[127:64]"
    EXPECT64 SCRATCH+16, ymm_pattern+16, 16, "XRSTORS ymm0[191:128]"
    EXPECT64 SCRATCH+24, ymm_pattern+24, 17, "XRSTORS ymm0[255:192]"
    PRINT64 "xstate64: XSAVES/XRSTORS round trip at CPL0 ok (XCOMP_BV = 0x8000000000000007)\n"

    ARM_EXC64 user_gp_resume
    mov $user_xsaves, %edi
    mov $USTACK_TOP, %esi
    mov $2, %edx
    call enter_user
    movabs $(13 << 32), %rdx
    EXPECT64 %rax, %rdx, 18, "XSAVES at CPL3: #GP(0) (vector<<32|error)"
    PRINT64 "xstate64: XSAVES at CPL3 -> #GP(0) ok\n"
    ARM_EXC64 user_gp_resume
    mov $user_xrstors, %edi
    mov $USTACK_TOP, %esi
    mov $2, %edx
    call enter_user
    movabs $(13 << 32), %rdx
    EXPECT64 %rax, %rdx, 19, "XRSTORS at CPL3: #GP(0) (vector<<32|error)"
    PRINT64 "xstate64: XRSTORS at CPL3 -> #GP(0) ok\n"

    # ---- 3. IA32_XFD -----------------------------------------------------------------
    ARM_EXC64 1f
    mov $0x1c4, %ecx
    mov $0x20000, %eax
    xor %edx, %edx
    wrmsr
1:  EXPECT_GP0 20, "WRMSR IA32_XFD bit 17: #GP(0)"
    PRINT64 "xstate64: WRMSR IA32_XFD bit 17 -> #GP(0) ok\n"
    mov $0x1c4, %ecx
    mov $0x40000, %eax
    xor %edx, %edx
    wrmsr
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    EXPECT64 %rax, $0x40000, 21, "RDMSR IA32_XFD after writing bit 18"
    PRINT64 "xstate64: WRMSR IA32_XFD bit 18 ok\n"
    mov $0x1c4, %ecx                    # back to 0 for the set-up
    xor %eax, %eax
    xor %edx, %edx
    wrmsr

    ldtilecfg tilecfg
    mov $TILE_SRC, %edi                 # non-zero tile data
    movabs $0x0102030405060708, %rax
    mov $(1024 / 8), %ecx
2:  mov %rax, (%rdi)
    add $8, %rdi
    inc %rax
    dec %ecx
    jnz 2b
    mov $TILE_SRC, %esi
    mov $64, %edi
    tileloadd (%rsi,%rdi,1), %tmm0
    mov $XS_FULL, %edi
    mov $-1, %eax
    mov $-1, %edx
    xsave64 (%rdi)
    mov XS_FULL+512, %rax
    and $0x60000, %eax
    EXPECT64 %rax, $0x60000, 22, "XSAVE XSTATE_BV[18:17] with XFD = 0 (tiles in use)"
    mov $0x1c4, %ecx
    mov $0x40000, %eax
    xor %edx, %edx
    wrmsr
    mov $XS_FULL, %edi
    mov $-1, %eax
    mov $-1, %edx
    xsave64 (%rdi)
    mov XS_FULL+512, %rax
    and $0x60000, %eax
    EXPECT64 %rax, $0x20000, 23, "XSAVE XSTATE_BV[18:17] with XFD[18] = 1"
    PRINT64 "xstate64: XSAVE with XFD[18]=1 writes XSTATE_BV[18]=0 ok\n"

    movq $nm_hook, EXC_HOOKS + 7*8
    movq $0, NM_COUNT
    movq $-1, NM_XFDERR
    movq $-1, EXC_REC+EXC_VEC
tz_insn:
    tilezero %tmm0
    EXPECT64 EXC_REC+EXC_VEC, $7, 24, "TILEZERO with XFD[18]=1: vector"
    EXPECT64 EXC_REC+EXC_RIP, $tz_insn, 25, "TILEZERO #NM: saved RIP"
    EXPECT64 NM_XFDERR, $0x40000, 26, "#NM handler: IA32_XFD_ERR"
    EXPECT64 NM_COUNT, $1, 27, "number of #NM"
    mov $0x1c4, %ecx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    EXPECT64 %rax, $0, 28, "IA32_XFD after the #NM handler"
    mov $0x1c5, %ecx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    EXPECT64 %rax, $0, 29, "IA32_XFD_ERR after the #NM handler"
    mov $TILE_DST, %edi                 # poison, then store the re-executed TILEZERO's tile
    mov $-1, %rax
    mov $(1024 / 8), %ecx
    rep stosq
    mov $TILE_DST, %esi
    mov $64, %edi
    tilestored %tmm0, (%rsi,%rdi,1)
    EXPECT64 TILE_DST, $0, 30, "tmm0 row 0 after the re-executed TILEZERO"
    EXPECT64 TILE_DST+1016, $0, 31, "tmm0 row 15 after the re-executed TILEZERO"
    tilerelease
    PRINT64 "xstate64: TILEZERO with XFD[18]=1 -> #NM, XFD_ERR = 0x40000, re-executed after IRETQ ok\n"

    # ---- 4. protection keys -----------------------------------------------------------
    mov %cr4, %rax
    or $0x400000, %rax                  # CR4.PKE
    mov %rax, %cr4
    orl $(1 << (59 - 32)), PD_ADDR + (PK_PAGE >> 21) * 8 + 4   # key 1
    invlpg PK_PAGE
    mov $user_pk, %edi
    mov $USTACK_TOP, %esi
    mov $2, %edx
    call enter_user
    mov %rax, %rbx                      # EXPECT64 clobbers rax
    EXPECT64 PK_RES+0x00, $4, 32, "RDPKRU after WRPKRU AD(key 1)"
    EXPECT64 PK_RES+0x08, $14, 33, "read with AD(key 1): vector"
    EXPECT64 PK_RES+0x10, $0x25, 34, "read with AD(key 1): #PF error code"
    EXPECT64 PK_RES+0x18, $PK_PAGE+0x10, 35, "read with AD(key 1): CR2"
    PRINT64 "xstate64: PKRU AD(key 1): read at CPL3 -> #PF(0x25) ok\n"
    EXPECT64 PK_RES+0x20, $8, 36, "RDPKRU after WRPKRU WD(key 1)"
    EXPECT64 PK_RES+0x28, $14, 37, "write with WD(key 1): vector"
    EXPECT64 PK_RES+0x30, $0x27, 38, "write with WD(key 1): #PF error code"
    EXPECT64 %rbx, $0x600D, 39, "CPL3 protection-key session (value returned, want PKRU = 0 at the end)"
    PRINT64 "xstate64: PKRU WD(key 1): read ok, write at CPL3 -> #PF(0x27) ok; RDPKRU ok\n"

    PRINT64 "PASS\n"
    EXIT 0

# #NM hook (CPL0): record IA32_XFD_ERR, clear it and IA32_XFD, return (the common handler
# IRETQs to the faulting TILEZERO, which then re-executes).
nm_hook:
    mov $0x1c5, %ecx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, NM_XFDERR
    xor %eax, %eax
    xor %edx, %edx
    wrmsr
    mov $0x1c4, %ecx
    wrmsr
    incq NM_COUNT
    ret

# ---- CPL3 ---------------------------------------------------------------------------
user_xsaves:
    mov $XS_COMP, %edi
    mov $7, %eax
    xor %edx, %edx
    xsaves64 (%rdi)
    mov $0xBAD, %edi
    int $0x81
user_xrstors:
    mov $XS_COMP, %edi
    mov $7, %eax
    xor %edx, %edx
    xrstors64 (%rdi)
    mov $0xBAD, %edi
    int $0x81
# resume point of the expected #GP: return vector << 32 | error code
user_gp_resume:
    mov EXC_REC+EXC_VEC, %rdi
    shl $32, %rdi
    or EXC_REC+EXC_ERR, %rdi
    int $0x81

user_pk:
    xor %ecx, %ecx
    xor %edx, %edx
    mov $4, %eax                        # AD for key 1
    wrpkru
    rdpkru
    mov %rax, PK_RES+0x00
    ARM_EXC64 1f
    mov PK_PAGE+0x10, %rax
1:  mov EXC_REC+EXC_VEC, %rax
    mov %rax, PK_RES+0x08
    mov EXC_REC+EXC_ERR, %rax
    mov %rax, PK_RES+0x10
    mov EXC_REC+EXC_CR2, %rax
    mov %rax, PK_RES+0x18
    xor %ecx, %ecx
    xor %edx, %edx
    mov $8, %eax                        # WD for key 1
    wrpkru
    rdpkru
    mov %rax, PK_RES+0x20
    mov PK_PAGE+0x10, %rax              # reads are allowed (a fault here is unexpected: 0x7E)
    ARM_EXC64 2f
    movq $1, PK_PAGE+0x10
2:  mov EXC_REC+EXC_VEC, %rax
    mov %rax, PK_RES+0x28
    mov EXC_REC+EXC_ERR, %rax
    mov %rax, PK_RES+0x30
    xor %eax, %eax
    xor %ecx, %ecx
    xor %edx, %edx
    wrpkru
    rdpkru
    mov $0x600D, %edi
    test %eax, %eax
    jz 3f
    mov %eax, %edi
3:  int $0x81

    .section .rodata
    .balign 64
tilecfg:                                # palette 1, tmm0 = 16 rows x 64 bytes
    .byte 1, 0
    .fill 14, 1, 0
    .word 64
    .fill 15, 2, 0
    .byte 16
    .fill 15, 1, 0
    .balign 32
ymm_pattern:
    .quad 0x1111111122222222, 0x3333333344444444, 0x5555555566666666, 0x7777777788888888

    .text
    .include "lib/console16.inc"
    .include "lib/console64.inc"
    .include "lib/gdt.inc"
    .include "lib/idt64.inc"
    .include "lib/user64.inc"
    GDT_TEMPLATE ROM_BASE

    ROM_RESET_VECTOR rom_start
