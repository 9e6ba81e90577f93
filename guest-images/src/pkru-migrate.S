# kind: elf
#
# pkru-migrate.elf — the guest of kernel-abi.md §10 S1/S2/S3 (PKRU migration): it owns a full set
# of FPU/vector/syscall state with known, distinct values, offers one migration point
# (GUEST_SYNC(1)) and then verifies every register it owns, so a restore that silently loses
# state (S3: a VMM ignoring a failed KVM_SET_XSAVE) is reported as a GUEST_ASSERT naming the
# register instead of going unnoticed. Uses no PKU itself: it runs under a guest CPUID without
# pku (`--host icelake-server --cpu host,-pku`) as well as with it.
#
# Stage protocol (what the host may do):
#   before sync 1   x87 ST0-7 (distinct normal 80-bit values), FCW 0x0E7F, MXCSR 0x7F80,
#                   XMM/YMM0-15 (ZMM0-31 and k0-7 when CPUID has AVX-512), XCR0 = CPUID.(0xD,0)
#                   ∩ (x87|SSE|AVX[|opmask|ZMM_Hi256|Hi16_ZMM]), EFER.SCE, STAR, LSTAR, SFMASK
#   GUEST_SYNC(1, XCR0)   the migration point: save/restore/migrate the vCPU here
#   after sync 1    stores x87, FCW, MXCSR and XMM (no XCR0 needed) and asserts FCW, MXCSR,
#                   st0..st7 and XCR0 first, so a lost XCR0 is reported rather than hit as #UD;
#                   then stores YMM/ZMM/k and asserts every qword (xmmN[63:0] … zmmN[511:448],
#                   kN), EFER.SCE, STAR, LSTAR, SFMASK (each GUEST_ASSERT names the register);
#                   then an AVX instruction (VPADDQ ymm) and a SYSCALL round trip; GUEST_DONE.
# Without a host half: exit done, status 0.

    .include "lib/guest.inc"

    .set MSR_EFER, 0xc0000080
    .set MSR_STAR, 0xc0000081
    .set MSR_LSTAR, 0xc0000082
    .set MSR_SFMASK, 0xc0000084
    .set FCW_VALUE, 0x0e7f              # PC = 53 bits, RC = toward zero, all exceptions masked
    .set MXCSR_VALUE, 0x7f80            # RC = toward zero, all exceptions masked
    .set STAR_VALUE, 0x001000085eed1234 # SYSCALL CS 0x08 / SS 0x10; SYSRET base 0x10; legacy EIP
    .set SFMASK_VALUE, 0x47700          # AC, NT, IOPL, DF, IF, TF cleared on SYSCALL

# rax = MSR \msr
.macro RDMSR64 msr
    mov $\msr, %ecx
    rdmsr
    shl $32, %rdx
    mov %eax, %eax
    or %rdx, %rax
.endm
.macro WRMSR64 msr, val              # val: a register other than rax/rcx/rdx, or $imm32
    mov \val, %rax
    mov %rax, %rdx
    shr $32, %rdx
    mov $\msr, %ecx
    wrmsr
.endm

# compare the stored qword got+off with want+off, naming it
.macro CHECK_Q got, want, off, what
    movq \want+\off(%rip), %rdx
    movq \got+\off(%rip), %rax
    GUEST_ASSERT_EQ %rax, %rdx, "\what"
.endm

# vector register r, qword q (0..7) of its 64-byte slot
.macro CHECK_VEC r, q
    .if \q == 0
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "xmm\r[63:0]"
    .elseif \q == 1
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "xmm\r[127:64]"
    .elseif \q == 2
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "ymm\r[191:128]"
    .elseif \q == 3
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "ymm\r[255:192]"
    .elseif \q == 4
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "zmm\r[319:256]"
    .elseif \q == 5
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "zmm\r[383:320]"
    .elseif \q == 6
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "zmm\r[447:384]"
    .else
    CHECK_Q got_vec, want_vec, 64*\r+8*\q, "zmm\r[511:448]"
    .endif
.endm

    GUEST_MAIN
    GUEST_PRINTF "pkru-migrate: loading x87, SSE, AVX(-512) and SYSCALL state\n"
    # --- what the CPU offers ---
    mov $1, %eax
    xor %ecx, %ecx
    cpuid
    mov %ecx, %eax
    and $(1 << 28), %eax                # AVX
    GUEST_ASSERT_EQ %rax, $(1 << 28), "CPUID.1:ECX.AVX"
    mov $0xd, %eax
    xor %ecx, %ecx
    cpuid
    mov %eax, %r13d
    and $0xe7, %r13d                    # XCR0 := supported ∩ (x87|SSE|AVX|opmask|ZMM_Hi256|Hi16_ZMM)
    xor %r12d, %r12d                    # r12 = 1: AVX-512 in use
    mov %r13d, %eax
    and $0xe0, %eax
    cmp $0xe0, %eax
    jne 1f
    mov $7, %eax
    xor %ecx, %ecx
    cpuid
    bt $16, %ebx                        # AVX512F
    jnc 1f
    mov $1, %r12d
    jmp 2f
1:  and $0x7, %r13d
2:  mov %r13, %rax
    and $7, %rax
    GUEST_ASSERT_EQ %rax, $7, "XCR0 offers x87|SSE|AVX"
    mov %r13d, %eax
    xor %edx, %edx
    xor %ecx, %ecx
    xsetbv
    mov %r13, xcr0_value(%rip)

    # --- SYSCALL MSRs ---
    RDMSR64 MSR_EFER
    bts $0, %rax                        # EFER.SCE
    mov %rax, %rbx
    WRMSR64 MSR_EFER, %rbx
    movabs $STAR_VALUE, %rbx
    WRMSR64 MSR_STAR, %rbx
    lea syscall_entry(%rip), %rbx
    WRMSR64 MSR_LSTAR, %rbx
    WRMSR64 MSR_SFMASK, $SFMASK_VALUE

    # --- x87: FCW, then ST7..ST0 ---
    fninit
    fldcw fcw_value(%rip)
    .irp i, 0,1,2,3,4,5,6,7
    fldt want_x87+10*\i(%rip)           # after all 8: ST0 = value 7 … ST7 = value 0
    .endr
    ldmxcsr mxcsr_value(%rip)

    # --- vector registers ---
    test %r12, %r12
    jz 3f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vmovdqu64 want_vec+64*\r(%rip), %zmm\r
    .endr
    .irp k, 0,1,2,3,4,5,6,7
    kmovq want_k+8*\k(%rip), %k\k
    .endr
    jmp 4f
3:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqu want_vec+64*\r(%rip), %ymm\r
    .endr
4:
    GUEST_SYNC $1, %r13                 # ---- the migration point ----

    # --- store what needs no XCR0 before touching anything: x87, MXCSR, XMM (legacy SSE) ---
    fnstcw got_fcw(%rip)
    stmxcsr got_mxcsr(%rip)
    .irp i, 0,1,2,3,4,5,6,7
    fstpt got_x87+10*\i(%rip)           # ST0 first
    .endr
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu %xmm\r, got_vec+64*\r(%rip)
    .endr

    GUEST_PRINTF "pkru-migrate: verifying\n"
    movzwl got_fcw(%rip), %eax
    GUEST_ASSERT_EQ %rax, $FCW_VALUE, "FCW"
    mov got_mxcsr(%rip), %eax
    GUEST_ASSERT_EQ %rax, $MXCSR_VALUE, "MXCSR"
    .irp i, 0,1,2,3,4,5,6,7               # ST(i) holds value 7-i
    movq want_x87+10*(7-\i)(%rip), %rdx
    movq got_x87+10*\i(%rip), %rax
    GUEST_ASSERT_EQ %rax, %rdx, "st\i (significand)"
    movzwl want_x87+10*(7-\i)+8(%rip), %edx
    movzwl got_x87+10*\i+8(%rip), %eax
    GUEST_ASSERT_EQ %rax, %rdx, "st\i (sign, exponent)"
    .endr
    # XCR0 before any VEX/EVEX instruction: with a lost XCR0 they would #UD instead of being reported
    xor %ecx, %ecx
    xgetbv
    shl $32, %rdx
    mov %eax, %eax
    or %rdx, %rax
    mov xcr0_value(%rip), %rdx
    GUEST_ASSERT_EQ %rax, %rdx, "XCR0"

    # --- now the VEX/EVEX state (the full 64-byte slots; the low 16 bytes are the XMM again) ---
    test %r12, %r12
    jz 5f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vmovdqu64 %zmm\r, got_vec+64*\r(%rip)
    .endr
    .irp k, 0,1,2,3,4,5,6,7
    kmovq %k\k, got_k+8*\k(%rip)
    .endr
    jmp 6f
5:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqu %ymm\r, got_vec+64*\r(%rip)
    .endr
6:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .irp q, 0,1,2,3
    CHECK_VEC \r, \q
    .endr
    .endr
    test %r12, %r12
    jz 7f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .irp q, 4,5,6,7
    CHECK_VEC \r, \q
    .endr
    .endr
    .irp r, 16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .irp q, 0,1,2,3,4,5,6,7
    CHECK_VEC \r, \q
    .endr
    .endr
    .irp k, 0,1,2,3,4,5,6,7
    CHECK_Q got_k, want_k, 8*\k, "k\k"
    .endr
7:
    RDMSR64 MSR_EFER
    and $1, %eax
    GUEST_ASSERT_EQ %rax, $1, "EFER.SCE"
    RDMSR64 MSR_STAR
    movabs $STAR_VALUE, %rdx
    GUEST_ASSERT_EQ %rax, %rdx, "STAR"
    RDMSR64 MSR_LSTAR
    lea syscall_entry(%rip), %rdx
    GUEST_ASSERT_EQ %rax, %rdx, "LSTAR"
    RDMSR64 MSR_SFMASK
    GUEST_ASSERT_EQ %rax, $SFMASK_VALUE, "SFMASK"

    # --- use the state: an AVX instruction and a SYSCALL round trip ---
    vmovdqu want_vec+64*1(%rip), %ymm1
    vmovdqu want_vec+64*2(%rip), %ymm2
    vpaddq %ymm1, %ymm2, %ymm0
    vmovdqu %ymm0, got_vec(%rip)
    movq got_vec+24(%rip), %rax
    movq want_vec+64*1+24(%rip), %rdx
    addq want_vec+64*2+24(%rip), %rdx
    GUEST_ASSERT_EQ %rax, %rdx, "vpaddq ymm0[255:192]"
    movq $0, syscall_cs(%rip)
    mov $0x5c, %eax
    syscall
    GUEST_ASSERT_EQ %rax, $0x5d, "SYSCALL handler result"
    GUEST_ASSERT_EQ syscall_cs(%rip), $0x08, "CS in the SYSCALL handler"
    GUEST_PRINTF "pkru-migrate: all registers verified\n"
    GUEST_DONE

    # SYSCALL entry (CPL0 to CPL0): rax += 1, note CS, return to RCX with RFLAGS from R11
syscall_entry:
    inc %rax
    mov %cs, %rdx
    mov %rdx, syscall_cs(%rip)
    push %r11
    popfq
    jmp *%rcx

    .section .rodata
    .balign 16
fcw_value:      .word FCW_VALUE
mxcsr_value:    .long MXCSR_VALUE
    .balign 16
want_x87:                               # 8 normal extended values: significand (bit 63 set), sign|exponent
    .irp i, 0,1,2,3,4,5,6,7
    .quad 0x8123456789abcde0 + (\i * 0x1111)
    .word (0x3eff + (0x40 * \i)) + ((\i & 1) << 15)
    .endr
    .balign 64
want_vec:                               # 32 slots of 64 bytes: qword q of register r
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .irp q, 0,1,2,3,4,5,6,7
    .quad 0x40de000000005a5a + (\r << 40) + (\q << 32) + (((\r * 8) + \q) << 16)
    .endr
    .endr
want_k:
    .irp k, 0,1,2,3,4,5,6,7
    .quad 0x6b00000000000000 + (\k * 0x0000010101010101) + (\k << 52)
    .endr

    .bss
    .balign 64
got_vec:        .skip 64 * 32
got_k:          .skip 8 * 8
got_x87:        .skip 10 * 8
    .balign 8
got_fcw:        .skip 8
got_mxcsr:      .skip 8
xcr0_value:     .skip 8
syscall_cs:     .skip 8
