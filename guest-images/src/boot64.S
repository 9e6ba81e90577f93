# kind: rom
#
# boot64.rom — the full climb from the reset vector, checking each stage on the way.
# Proves (exit status 1 = all passed; otherwise the exit code names the failed check):
#   real mode       CR0 reset value 0x60000010; CS = F000 after the reset far jump; segment
#                   arithmetic (0700:0010 == 0701:0000); a software `int 0x40` through the IVT
#                   (pushes FLAGS/CS/IP, IRET restores CF); #DE delivered through IVT[0] with
#                   the faulting IP.                                              (codes 1-8)
#   16-bit PM       far jump to a 16-bit code segment (base 0xF0000); a 16-bit data segment
#                   load; CR0.PE visible through SMSW.                          (codes 9-11)
#   32-bit PM       far jump to flat 32-bit code; a 32-bit IDT (lib/idt32.inc): #UD, #DE and
#                   #GP(selector) from loading DS with a selector past the GDT limit, checking
#                   vector, error code and saved EIP.                          (codes 12-19)
#   long mode       PAE + 4-level paging (1 GiB identity map, 2 MiB pages) + EFER.LME, far
#                   jump to a 64-bit segment; CR0/CR4/EFER values; GDT reloaded from RAM with
#                   LRETQ, TSS (LTR), IDT with 256 stubs.                      (codes 20-27)
#   exceptions      #DE (div), #UD (ud2), #BP (int3, trap: RIP after), #GP(0) (load from a
#                   non-canonical address), #PF (read and write of an unmapped page: vector,
#                   error code 0 / 2, CR2, RIP), `int 0x80` through a DPL3 trap gate with a
#                   hook returning a value; 64-bit frames always hold SS:RSP. (codes 28-49)
#   CPL3            IRETQ to CPL3 (CS 0x4B, SS 0x43, RFLAGS 0x2); from user mode: int 0x80,
#                   #PF with error code 6 and 4 (U bit), #GP(0) from HLT, #GP(0x412) from `int
#                   0x82` through a DPL0 gate (0x822 is also accepted: QEMU 7.2 TCG wrongly
#                   scales the vector by 16 in 64-bit mode); back to CPL0 through the DPL3
#                   gate 0x81 on the TSS.RSP0 stack.                          (codes 50-59)
#                   (user-mode checks report their own number 1-16 as the value returned)
#   SYSCALL/SYSRET  STAR/LSTAR/SFMASK/EFER.SCE; SYSCALL CS/SS from STAR, RCX/R11, SFMASK
#                   clears DF; SYSRETQ restores RFLAGS and returns to CPL3; a final SYSCALL
#                   leaves user mode.                                         (codes 60-69)
# Then prints PASS and exits 0.
# Interrupts stay disabled (IF=0) throughout: no PIC/PIT programming is needed.

    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"

    .text
    .code16
rom_start:
    ROM_REAL_INIT
    PRINT16 "boot64: real mode\n"
    mov %cr0, %eax
    EXPECT16L %eax, $0x60000010, 1, "real mode: CR0 at reset"
    EXPECT16 %cs, $0xF000, 2, "real mode: CS after the reset far jump"

    # segment arithmetic: linear = segment * 16 + offset
    mov $0x0700, %ax
    mov %ax, %es
    movw $0x1234, %es:0x0010
    mov $0x0701, %ax
    mov %ax, %fs
    EXPECT16 %fs:0, $0x1234, 3, "real mode: 0700:0010 != 0701:0000"

    # software interrupt through the IVT
    movw $(rm_int40 - ROM_BASE), 0x40*4
    movw $0xF000, 0x40*4+2
    mov $0x1111, %ax
    stc
    int $0x40
rm_int40_ret:
    jc 1f
    FAIL16 4, "real mode: IRET from int 0x40 lost CF"
1:  EXPECT16 %ax, $0x2222, 5, "real mode: int 0x40 handler result"
    EXPECT16 SCRATCH, $(rm_int40_ret-ROM_BASE), 6, "real mode: int 0x40 pushed IP"
    EXPECT16 SCRATCH+2, $0xF000, 7, "real mode: int 0x40 pushed CS"

    # #DE through IVT[0]: the pushed IP is the faulting instruction
    movw $(rm_de - ROM_BASE), 0
    movw $0xF000, 2
    mov $100, %ax
    xor %cl, %cl
rm_div:
    div %cl
rm_div_resume:
    EXPECT16 SCRATCH, $(rm_div-ROM_BASE), 8, "real mode: #DE pushed IP"
    PRINT16 "boot64: real mode ok (CR0, CS, segments, IVT int 0x40, #DE)\n"

    ROM_REAL_TO_PM16 pm16
pm16:
    EXPECT16 %cs, $SEL_KCODE16, 9, "pm16: CS selector"
    mov $SEL_KDATA16, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    EXPECT16 0x7010, $0x1234, 10, "pm16: read through the 16-bit data segment"
    smsw %ax
    and $1, %ax
    EXPECT16 %ax, $1, 11, "pm16: CR0.PE"
    PRINT16 "boot64: 16-bit protected mode ok\n"
    PM16_TO_PM32 pm32

pm32:
    PM32_INIT
    xor %eax, %eax
    mov %cs, %ax
    EXPECT32 %eax, $SEL_KCODE32, 12, "pm32: CS selector"
    call idt32_install

    ARM_EXC32 pm32_ud_resume
pm32_ud:
    ud2
pm32_ud_resume:
    EXPECT32 EXC_REC+EXC_VEC, $6, 13, "pm32: #UD vector"
    EXPECT32 EXC_REC+EXC_RIP, $pm32_ud, 14, "pm32: #UD saved EIP"

    ARM_EXC32 pm32_de_resume
    mov $1, %eax
    xor %edx, %edx
    xor %ecx, %ecx
pm32_de:
    div %ecx
pm32_de_resume:
    EXPECT32 EXC_REC+EXC_VEC, $0, 15, "pm32: #DE vector"
    EXPECT32 EXC_REC+EXC_RIP, $pm32_de, 16, "pm32: #DE saved EIP"

    ARM_EXC32 pm32_gp_resume
    mov $0x1000, %eax
pm32_gp:
    mov %ax, %ds                        # selector 0x1000 is past the GDT limit
pm32_gp_resume:
    EXPECT32 EXC_REC+EXC_VEC, $13, 17, "pm32: #GP vector"
    EXPECT32 EXC_REC+EXC_ERR, $0x1000, 18, "pm32: #GP error code (selector)"
    EXPECT32 EXC_REC+EXC_RIP, $pm32_gp, 19, "pm32: #GP saved EIP"
    PRINT32 "boot64: 32-bit protected mode ok (IDT: #UD #DE #GP)\n"
    PM32_TO_LONG lm64

lm64:
    LM64_INIT
    mov %cr0, %rax
    EXPECT64 %rax, $0x80010031, 20, "long mode: CR0"
    mov %cr4, %rax
    EXPECT64 %rax, $0x20, 21, "long mode: CR4"
    mov $0xC0000080, %ecx
    rdmsr
    EXPECT64 %rax, $0x500, 22, "long mode: EFER (LME|LMA)"
    call gdt64_install
    call tss64_init
    call idt64_install
    call user64_init
    call syscall_init
    xor %eax, %eax
    mov %cs, %ax
    EXPECT64 %rax, $SEL_KCODE64, 23, "long mode: CS after LRETQ"
    xor %eax, %eax
    mov %ss, %ax
    EXPECT64 %rax, $SEL_KDATA64, 24, "long mode: SS"
    xor %eax, %eax
    str %ax
    EXPECT64 %rax, $SEL_TSS, 25, "long mode: TR"
    mov $0xC0000080, %ecx
    rdmsr
    EXPECT64 %rax, $0x501, 26, "long mode: EFER after SCE"
    sub $16, %rsp
    sgdt 6(%rsp)
    EXPECT64 8(%rsp), $GDT_RAM, 27, "long mode: GDTR base"
    add $16, %rsp
    PRINT64 "boot64: long mode ok (CR0 CR4 EFER, GDT TSS IDT loaded)\n"

    # ---- exceptions at CPL0 ------------------------------------------------
    ARM_EXC64 de_resume
    mov $1, %eax
    xor %edx, %edx
    xor %ecx, %ecx
de_insn:
    div %ecx
de_resume:
    EXPECT64 EXC_REC+EXC_VEC, $0, 28, "#DE vector"
    EXPECT64 EXC_REC+EXC_RIP, $de_insn, 29, "#DE saved RIP"
    EXPECT64 EXC_REC+EXC_CS, $SEL_KCODE64, 30, "#DE saved CS"
    EXPECT64 EXC_REC+EXC_ERR, $0, 31, "#DE error code (stub pushes 0)"

    ARM_EXC64 ud_resume
ud_insn:
    ud2
ud_resume:
    EXPECT64 EXC_REC+EXC_VEC, $6, 32, "#UD vector"
    EXPECT64 EXC_REC+EXC_RIP, $ud_insn, 33, "#UD saved RIP"

    ARM_EXC64 bp_after
    int3
bp_after:
    EXPECT64 EXC_REC+EXC_VEC, $3, 34, "#BP vector"
    EXPECT64 EXC_REC+EXC_RIP, $bp_after, 35, "#BP saved RIP (trap: next instruction)"

    ARM_EXC64 gp_resume
    movabs $0x8000000000000000, %rbx
gp_insn:
    mov (%rbx), %rax
gp_resume:
    EXPECT64 EXC_REC+EXC_VEC, $13, 36, "#GP (non-canonical) vector"
    EXPECT64 EXC_REC+EXC_ERR, $0, 37, "#GP (non-canonical) error code"
    EXPECT64 EXC_REC+EXC_RIP, $gp_insn, 38, "#GP (non-canonical) saved RIP"

    ARM_EXC64 pf_resume
    mov $UNMAPPED_ADDR, %ebx
pf_insn:
    mov (%rbx), %rax
pf_resume:
    EXPECT64 EXC_REC+EXC_VEC, $14, 39, "#PF (read) vector"
    EXPECT64 EXC_REC+EXC_ERR, $0, 40, "#PF (read, not present, CPL0) error code"
    EXPECT64 EXC_REC+EXC_CR2, $UNMAPPED_ADDR, 41, "#PF (read) CR2"
    EXPECT64 EXC_REC+EXC_RIP, $pf_insn, 42, "#PF (read) saved RIP"

    ARM_EXC64 pfw_resume
pfw_insn:
    mov %rax, 8(%rbx)
pfw_resume:
    EXPECT64 EXC_REC+EXC_ERR, $2, 43, "#PF (write, not present, CPL0) error code"
    EXPECT64 EXC_REC+EXC_CR2, $UNMAPPED_ADDR+8, 44, "#PF (write) CR2"
    EXPECT64 EXC_REC+EXC_RIP, $pfw_insn, 45, "#PF (write) saved RIP"

    movq $int80_hook, EXC_HOOKS+VEC_INT80*8
    mov %rsp, %r12
    mov $21, %edi
    int $0x80
int80_ret:
    EXPECT64 %rax, $42, 46, "int 0x80: value returned by the hook"
    EXPECT64 EXC_REC+EXC_RIP, $int80_ret, 47, "int 0x80: saved RIP"
    EXPECT64 EXC_REC+EXC_RSP, %r12, 48, "int 0x80: saved RSP (64-bit frames push SS:RSP)"
    mov %r12, %r13
    and $-16, %r13
    sub $40, %r13
    EXPECT64 EXC_REC+EXC_FRAME, %r13, 49, "int 0x80: frame at (RSP & ~15) - 40"
    PRINT64 "boot64: CPL0 exceptions ok (#DE #UD #BP #GP #PF int 0x80)\n"

    # ---- CPL3 via IRETQ, back via int 0x81 -----------------------------------
    mov $user1, %edi
    mov $USTACK_TOP, %esi
    mov $2, %edx
    call enter_user
    EXPECT64 %rax, $0x600D, 50, "CPL3 session 1 (value = number of the failed user check)"
    EXPECT64 EXC_REC+EXC_VEC, $VEC_USER_EXIT, 51, "int 0x81 vector"
    EXPECT64 EXC_REC+EXC_CS, $USER_CS, 52, "int 0x81 saved CS"
    EXPECT64 EXC_REC+EXC_SS, $USER_SS, 53, "int 0x81 saved SS"
    EXPECT64 EXC_REC+EXC_RSP, $USTACK_TOP, 54, "int 0x81 saved RSP"
    EXPECT64 EXC_REC+EXC_RIP, $user1_exit_ret, 55, "int 0x81 saved RIP"
    EXPECT64 EXC_REC+EXC_FRAME, $TRAP_STACK_TOP-40, 56, "int 0x81 frame on TSS.RSP0"
    xor %eax, %eax
    mov %cs, %ax
    EXPECT64 %rax, $SEL_KCODE64, 57, "CS after leaving CPL3"
    PRINT64 "boot64: CPL3 ok (IRETQ; int 0x80, #PF(U), #GP(hlt), #GP(gate DPL), int 0x81 -> CPL0)\n"

    # ---- SYSCALL / SYSRET ------------------------------------------------------
    movq $sys_hook, LIB_VARS+VAR_SYSCALL_HOOK
    mov $user2, %edi
    mov $USTACK_TOP, %esi
    mov $2, %edx
    call enter_user
    EXPECT64 %rax, $0x600D, 60, "CPL3 session 2 (value = number of the failed user check)"
    EXPECT64 SCRATCH+0x10, $0x402, 61, "SYSCALL: R11 = user RFLAGS"
    EXPECT64 SCRATCH+0x18, $0x2, 62, "SYSCALL: RFLAGS masked by SFMASK"
    EXPECT64 SCRATCH+0x20, $user2_sys1_ret, 63, "SYSCALL: RCX = return RIP"
    EXPECT64 LIB_VARS+VAR_SYS_CS, $SEL_KCODE64, 64, "SYSCALL: CS from STAR[47:32]"
    EXPECT64 LIB_VARS+VAR_SYS_SS, $SEL_KDATA64, 65, "SYSCALL: SS from STAR[47:32]+8"
    EXPECT64 LIB_VARS+VAR_SYS_RCX, $user2_exit_ret, 66, "SYSCALL (exit): RCX"
    PRINT64 "boot64: SYSCALL/SYSRET ok\n"

    PRINT64 "PASS\n"
    EXIT 0

# ---- CPL3 code (runs from the ROM; every page is U=1) ------------------------------
# Each user check puts its number in r15 first; `ufail` returns it as the session value.
user1:
    mov $1, %r15d
    xor %eax, %eax
    mov %cs, %ax
    cmp $USER_CS, %eax
    jne ufail
    mov $2, %r15d
    mov %ss, %ax
    cmp $USER_SS, %eax
    jne ufail
    mov $3, %r15d
    mov $21, %edi
    int $0x80
    cmp $42, %rax
    jne ufail
    mov $4, %r15d
    cmpq $TRAP_STACK_TOP-40, EXC_REC+EXC_FRAME
    jne ufail

    mov $5, %r15d
    ARM_EXC64 u_pfw_resume
    mov $UNMAPPED_ADDR, %ebx
u_pfw:
    mov %eax, (%rbx)
u_pfw_resume:
    cmpq $14, EXC_REC+EXC_VEC
    jne ufail
    mov $6, %r15d
    cmpq $6, EXC_REC+EXC_ERR            # W | U
    jne ufail
    mov $7, %r15d
    cmpq $UNMAPPED_ADDR, EXC_REC+EXC_CR2
    jne ufail
    mov $8, %r15d
    cmpq $u_pfw, EXC_REC+EXC_RIP
    jne ufail
    mov $9, %r15d
    cmpq $USER_CS, EXC_REC+EXC_CS
    jne ufail
    mov $10, %r15d
    ARM_EXC64 u_pfr_resume
    mov (%rbx), %eax
u_pfr_resume:
    cmpq $4, EXC_REC+EXC_ERR            # U
    jne ufail

    mov $11, %r15d
    ARM_EXC64 u_hlt_resume
u_hlt:
    hlt
u_hlt_resume:
    cmpq $13, EXC_REC+EXC_VEC
    jne ufail
    mov $12, %r15d
    cmpq $0, EXC_REC+EXC_ERR
    jne ufail
    mov $13, %r15d
    cmpq $u_hlt, EXC_REC+EXC_RIP
    jne ufail

    mov $14, %r15d
    ARM_EXC64 u_int_resume
u_int:
    int $0x82                           # gate DPL0 < CPL3
u_int_resume:
    cmpq $13, EXC_REC+EXC_VEC
    jne ufail
    mov $15, %r15d
    cmpq $0x82*8+2, EXC_REC+EXC_ERR     # IDT bit | vector << 3 (SDM; hardware, KVM)
    je 1f
    cmpq $0x82*16+2, EXC_REC+EXC_ERR    # QEMU <= 7.2 TCG scales the vector by 16 (QEMU bug)
    jne ufail
1:
    mov $16, %r15d
    cmpq $u_int, EXC_REC+EXC_RIP
    jne ufail

    mov $0x600D, %edi
    int $0x81
user1_exit_ret:
    jmp user1_exit_ret

ufail:
    mov %r15, %rdi
    int $0x81
    jmp ufail

user2:
    mov $1, %r15d
    pushq $0x402                        # DF = 1
    popfq
    mov $1, %eax
    mov $0x1233, %edi
    syscall
user2_sys1_ret:
    pushfq
    pop %rbx
    cld
    cmp $0x1234, %rax
    jne ufail_sys
    mov $2, %r15d
    cmp $0x402, %rbx                    # SYSRET restored RFLAGS from R11
    jne ufail_sys
    mov $3, %r15d
    xor %eax, %eax
    mov %cs, %ax
    cmp $USER_CS, %eax
    jne ufail_sys
    mov $4, %r15d
    mov %ss, %ax
    cmp $USER_SS, %eax
    jne ufail_sys
    mov $5, %r15d
    cmp $USTACK_TOP, %rsp
    jne ufail_sys
    xor %eax, %eax
    mov $0x600D, %edi
    syscall
user2_exit_ret:
    jmp user2_exit_ret

ufail_sys:
    xor %eax, %eax
    mov %r15, %rdi
    syscall
    jmp ufail_sys

# ---- CPL0 hooks and real-mode handlers --------------------------------------------
int80_hook:                             # rdi = saved frame: rax := rdi * 2
    mov FR_RDI(%rdi), %rax
    add %rax, %rax
    mov %rax, FR_RAX(%rdi)
    ret

sys_hook:                               # rax = nr, rdi = arg; nr 1: return arg + 1
    mov LIB_VARS+VAR_SYS_R11, %rcx
    mov %rcx, SCRATCH+0x10
    mov LIB_VARS+VAR_SYS_RFLAGS, %rcx
    mov %rcx, SCRATCH+0x18
    mov LIB_VARS+VAR_SYS_RCX, %rcx
    mov %rcx, SCRATCH+0x20
    cmp $1, %rax
    jne 1f
    lea 1(%rdi), %rax
    ret
1:  mov $-1, %rax
    ret

    .code16
rm_int40:                               # ax := ax * 2; records pushed IP/CS/FLAGS
    push %bp
    mov %sp, %bp
    push %ax
    mov 2(%bp), %ax
    mov %ax, SCRATCH
    mov 4(%bp), %ax
    mov %ax, SCRATCH+2
    mov 6(%bp), %ax
    mov %ax, SCRATCH+4
    pop %ax
    add %ax, %ax
    pop %bp
    iret

rm_de:                                  # records the pushed IP, resumes at rm_div_resume
    push %bp
    mov %sp, %bp
    mov 2(%bp), %ax
    mov %ax, SCRATCH
    movw $(rm_div_resume - ROM_BASE), 2(%bp)
    pop %bp
    iret

    .include "lib/console16.inc"
    .include "lib/console32.inc"
    .include "lib/console64.inc"
    .include "lib/gdt.inc"
    .include "lib/idt32.inc"
    .include "lib/idt64.inc"
    .include "lib/user64.inc"
    GDT_TEMPLATE ROM_BASE

    ROM_RESET_VECTOR rom_start
