# kind: elf
#
# amx-xfd-irq.elf — kernel-abi.md §10 S4: the AMX/XFD host #NM that an interrupt using the FPU
# (or preemption) triggers between a guest's WRMSR(IA32_XFD) exit and its handler. Needs a host
# model with AMX (default sapphire-rapids; the VMM grants the AMX guest permission).
#   1. XCR0 := x87|SSE|AVX|AVX-512|TILECFG|TILEDATA (0x602e7)
#   2. LDTILECFG, TILELOADD tmm0 (XFD clear: XINUSE[18] = 1, tile data live)
#   3. WRMSR IA32_XFD = 1 << 18: the first non-zero XFD write, intercepted as on VMX (kernel-abi.md
#      §3.8): a VM exit that KVM handles inside KVM_RUN (fpu_update_guest_xfd), then re-enters the
#      guest; userspace never sees it. A host event scheduled at it (--host-event
#      irq-fpu@wrmsr:0x1c4, or @next-exit) runs between that exit and its handler.
#   4. OUT 0x80: a stage marker, the first exit to userspace after the WRMSR (hypervisor/scenarios
#      /s4.ts reads the guest fpstate there); prints that it resumed, HLT.
# Run: `x86kvm run amx-xfd-irq.elf --kernel b3 --host-event irq-fpu@wrmsr:0x1c4` → host oops in
# switch_fpu_return (status 6) under B1–B3; under B4 (6.19) or without the event: HLT, status 0.

    .include "lib/defs.inc"
    .include "lib/elf_layout.inc"

    .set MSR_IA32_XFD, 0x1c4
    .set XFEATURE_MASK_XTILEDATA, 1 << 18

    .text
    .code64
    .globl _start
_start:
    mov $KSTACK_TOP, %rsp
    PRINT64 "amx-xfd-irq: long mode\n"
    xor %ecx, %ecx
    mov $0x602e7, %eax
    xor %edx, %edx
    xsetbv
    ldtilecfg tilecfg(%rip)
    lea tiledata(%rip), %rbx
    mov $64, %esi
    tileloadd (%rbx,%rsi,1), %tmm0
    PRINT64 "amx-xfd-irq: tmm0 loaded with XFD[18]=0\n"
    mov $MSR_IA32_XFD, %ecx
    mov $XFEATURE_MASK_XTILEDATA, %eax
    xor %edx, %edx
    wrmsr
    outb %al, $0x80                     # stage marker: back in the guest after the WRMSR's exit
    PRINT64 "amx-xfd-irq: resumed after WRMSR IA32_XFD = 1<<18\n"
    cli
1:  hlt
    jmp 1b

    .include "lib/console64.inc"

    .section .rodata
    .balign 64
tilecfg:                                # palette 1; tmm0: 16 rows of 64 bytes
    .byte 1, 0
    .fill 14, 1, 0
    .word 64
    .fill 30, 1, 0
    .byte 16
    .fill 15, 1, 0
    .balign 64
tiledata:
    .set i, 0
    .rept 1024
    .byte ((i * 73) & 0xff) | 1
    .set i, i + 1
    .endr
