# kind: rom
#
# w2.rom — W2 of perf-anchors §3: the 10-instruction memory loop over a 64 KiB array
# through 4-level paging, at CPL3. Boot path of lib/boot.inc to long mode, GDT/TSS/IDT,
# IRETQ to CPL3 (IOPL=0, IF=0), then (all in user mode; rdi = array at 0x200000):
#
#   a[j] = (j + 1) * 0x9e3779b97f4a7c15 for j < 8192        (initialisation loop)
#   rcx = 0 (i), rdx = 0x0f1e2d3c4b5a6978, rsi = N
#   1: mov (%rdi,%rcx,8),%rax ; add %rdx,%rax ; mov %rax,(%rdi,%rcx,8) ; push %rax
#      add %eax,0x8000(%rdi,%rcx,4) ; pop %rdx ; add $7,%rcx ; and $0x1fff,%rcx
#      dec %rsi ; jnz 1b
#   h = rdx; for j < 8192: h = rol(h, 5) ^ a[j]             (checksum loop)
#
# 2 loads, 2 stores and 1 read-modify-write per iteration (N = 0 skips the loop). The user
# code returns h through `int $0x81`; CPL0 prints "W2 N=<16 hex>" and "DONE <16 hex>" and
# exits 0 (status 1). N: u64 LE at ROM offset 0xFFE8 (physical 0xFFFE8) right after the
# ASCII marker "W2N:" at 0xFFE4. Committed N = 1000. Reference model: workloads.mjs.

    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"

    ROM_CLIMB_TO_LM64
    call gdt64_install
    call tss64_init
    call idt64_install
    call user64_init
    PRINT64 "W2 N="
    mov w2_n, %rax
    call puthex64
    PRINT64 "\n"
    mov $w2_user, %edi
    mov $USTACK_TOP, %esi
    mov $2, %edx
    call enter_user
    PRINT64 "DONE "
    call puthex64
    PRINT64 "\n"
    EXIT 0

# ---- CPL3 -------------------------------------------------------------------
w2_user:
    mov $W2_ARRAY, %edi
    movabs $0x9e3779b97f4a7c15, %r8
    xor %eax, %eax
    xor %ecx, %ecx
1:  add %r8, %rax
    mov %rax, (%rdi,%rcx,8)
    inc %ecx
    cmp $8192, %ecx
    jne 1b

    mov w2_n, %rsi
    xor %ecx, %ecx
    movabs $0x0f1e2d3c4b5a6978, %rdx
    test %rsi, %rsi
    jz 2f
w2_loop:
    mov (%rdi,%rcx,8), %rax
    add %rdx, %rax
    mov %rax, (%rdi,%rcx,8)
    push %rax
    add %eax, 0x8000(%rdi,%rcx,4)
    pop %rdx
    add $7, %rcx
    and $0x1fff, %rcx
    dec %rsi
    jnz w2_loop

2:  xor %ecx, %ecx
3:  rol $5, %rdx
    xor (%rdi,%rcx,8), %rdx
    inc %ecx
    cmp $8192, %ecx
    jne 3b
    mov %rdx, %rdi
    int $0x81
    jmp .

    .include "lib/console16.inc"
    .include "lib/console64.inc"
    .include "lib/gdt.inc"
    .include "lib/idt64.inc"
    .include "lib/user64.inc"
    GDT_TEMPLATE ROM_BASE

    .section .param, "a"
    .ascii "W2N:"
w2_n:
    .quad 1000

    ROM_RESET_VECTOR rom_start
