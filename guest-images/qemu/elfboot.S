# kind: rom
#
# qemu/elfboot.S — QEMU validation helper, not a guest image. Stands in for x86kvm's ELF64
# loader under QEMU: the ELF's PT_LOADs are put in memory by `-device loader,file=X.elf`,
# and this ROM climbs to long mode with lib/boot.inc (flat 64-bit CS = 0x28 from the ROM
# GDT, CPL0, identity-mapped first 1 GiB with 2 MiB pages, CR0 = 0x80010031, CR4 = 0x20,
# EFER = 0x500), loads an empty IDT (limit 0: any exception before the guest installs its
# own IDT triple-faults, which the ROM reports as "unexpected reset"), zeroes the GPRs
# including RSP, and jumps to e_entry, which the validator patches in as a u64 at ROM
# offset 0xFFE8 (marker "ENT:" at 0xFFE4).
    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"

    ROM_CLIMB_TO_LM64
    pushq $0
    pushq $0
    lidt 6(%rsp)                        # limit 0, base 0
    mov elf_entry, %rax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    xor %esp, %esp
    jmp *%rax

    .include "lib/console16.inc"
    .include "lib/gdt.inc"
    GDT_TEMPLATE ROM_BASE

    .section .param, "a"
    .ascii "ENT:"
elf_entry:
    .quad 0

    ROM_RESET_VECTOR rom_start
