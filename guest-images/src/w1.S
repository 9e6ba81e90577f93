# kind: rom
#
# w1.rom — W1 of perf-anchors §3: the 10-instruction ALU loop on 64-bit registers at CPL3.
# Boot path of lib/boot.inc to long mode, GDT/TSS/IDT, IRETQ to CPL3 (IOPL=0, IF=0), then
#
#   rax = 0x0123456789abcdef, rbx = 0xfedcba9876543210, rdx = 0, rcx = 0, rsi = N
#   1: add %rcx,%rax ; xor %rax,%rbx ; shl $5,%rax ; add %rbx,%rax ; shr $3,%rbx
#      xor %rax,%rdx ; sub %rbx,%rdx ; inc %rcx   ; cmp %rsi,%rcx ; jnz 1b
#   checksum = rax ^ rbx ^ rdx
#
# (N = 0 skips the loop.) The user code returns the checksum through `int $0x81` (DPL3
# gate); CPL0 prints "W1 N=<16 hex>" and "DONE <16 hex checksum>" and exits 0 (status 1).
# N is read from the ROM: u64 little-endian at ROM offset 0xFFE8 (physical 0xFFFE8),
# right after the ASCII marker "W1N:" at offset 0xFFE4; patch it without reassembling.
# The committed image has N = 1000. Reference model: guest-images/workloads.mjs.

    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"

    ROM_CLIMB_TO_LM64
    call gdt64_install
    call tss64_init
    call idt64_install
    call user64_init
    PRINT64 "W1 N="
    mov w1_n, %rax
    call puthex64
    PRINT64 "\n"
    mov $w1_user, %edi
    mov $USTACK_TOP, %esi
    mov $2, %edx
    call enter_user
    PRINT64 "DONE "
    call puthex64
    PRINT64 "\n"
    EXIT 0

# ---- CPL3 -------------------------------------------------------------------
w1_user:
    mov w1_n, %rsi
    movabs $0x0123456789abcdef, %rax
    movabs $0xfedcba9876543210, %rbx
    xor %edx, %edx
    xor %ecx, %ecx
    test %rsi, %rsi
    jz 2f
w1_loop:
    add %rcx, %rax
    xor %rax, %rbx
    shl $5, %rax
    add %rbx, %rax
    shr $3, %rbx
    xor %rax, %rdx
    sub %rbx, %rdx
    inc %rcx
    cmp %rsi, %rcx
    jnz w1_loop
2:  mov %rax, %rdi
    xor %rbx, %rdi
    xor %rdx, %rdi
    int $0x81
    jmp .

    .include "lib/console16.inc"
    .include "lib/console64.inc"
    .include "lib/gdt.inc"
    .include "lib/idt64.inc"
    .include "lib/user64.inc"
    GDT_TEMPLATE ROM_BASE

    .section .param, "a"
    .ascii "W1N:"
w1_n:
    .quad 1000

    ROM_RESET_VECTOR rom_start
