# kind: elf
#
# hello64.elf — the smallest guest for the ELF64 contract: one PT_LOAD of code at
# 0x100000, entered at e_entry in 64-bit long mode at CPL0 with paging set up by the VMM.
# Uses no stack, no segment loads and no IDT: prints "hello from long mode\n" to port 0xE9
# with OUT, then CLI; HLT (x86kvm: exit "hlt", status 0; QEMU just stays halted).
    .text
    .code64
    .globl _start
_start:
    lea msg(%rip), %rsi
1:  movb (%rsi), %al
    testb %al, %al
    jz 2f
    outb %al, $0xE9
    inc %rsi
    jmp 1b
2:  cli
3:  hlt
    jmp 3b

msg:
    .asciz "hello from long mode\n"
