# kind: rom
#
# qemu/flatboot.S — QEMU validation helper, not a guest image. Stands in for x86kvm's flat
# (.bin) loader under QEMU: the image is put at 0x7C00 by `-device loader,...,addr=0x7c00,
# force-raw=on` and this ROM jumps to 0000:7C00 in real mode with DS/ES/SS = 0, SP = 0x7C00
# and the general registers zero (interrupts disabled, no IVT set up, no BIOS services).
    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"

    .text
    .code16
rom_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7C00, %sp
    xor %bx, %bx
    xor %cx, %cx
    xor %dx, %dx
    xor %si, %si
    xor %di, %di
    xor %bp, %bp
    ljmp $0, $0x7C00

    ROM_RESET_VECTOR rom_start
