# kind: elf
#
# selftest64.elf — ELF64 guest for the ELF contract (entered at e_entry in 64-bit mode,
# CPL0, low memory identity-mapped; nothing else assumed: it sets its own RSP, GDT, TSS
# and IDT). Proves:
#   codes 1-4    the entry state: CPL0, CR0.PG|PE, CR4.PAE, EFER.LME|LMA
#   codes 5-6    its own GDT (LGDT + LRETQ to CS 0x28), TSS (LTR) and 256-vector IDT work
#   codes 10-13  CPUID: leaf 0 max leaf >= 1, 0x80000000 max >= 0x80000001,
#                0x80000001 EDX.LM, leaf 1 EDX.MSR|PAE (nothing model-specific is printed)
#   codes 20-23  RDMSR/WRMSR: EFER.SCE set and cleared and EFER restored;
#                IA32_KERNEL_GS_BASE round trip of a 64-bit value (EDX:EAX halves)
#   codes 24-26  #GP(0) from WRMSR of IA32_PKRS (0x6E1) with reserved bits 63:32 set (an
#                unknown MSR where PKS is absent), caught by its own IDT: vector, error
#                code, saved RIP (= the faulting instruction)
#   codes 30-37  #GP(0) from RDMSR and from WRMSR of an unknown MSR (UNKNOWN_MSR below):
#                vector, error code, saved RIP; exactly 3 exceptions taken in total.
#                QEMU 7.2 TCG does not raise #GP for unknown MSRs (RDMSR returns 0, WRMSR
#                is ignored), so under QEMU the image stops at code 30 (status 61); KVM and
#                hardware raise #GP, and so must x86kvm.
# Prints progress, PASS, and exits 0 via port 0xF4 (status 1).

    .include "lib/defs.inc"
    .include "lib/elf_layout.inc"

    .set UNKNOWN_MSR, 0x4B564D00        # not an architectural or known model-specific MSR

    .text
    .code64
    .globl _start
_start:
    mov $KSTACK_TOP, %rsp
    PRINT64 "selftest64: entered in long mode\n"
    xor %eax, %eax
    mov %cs, %ax
    and $3, %eax
    EXPECT64 %rax, $0, 1, "entry: CPL (CS.RPL) must be 0"
    mov %cr0, %rax
    and $0x80000001, %eax
    EXPECT64 %rax, $0x80000001, 2, "entry: CR0.PG|PE"
    mov %cr4, %rax
    and $0x20, %eax
    EXPECT64 %rax, $0x20, 3, "entry: CR4.PAE"
    mov $0xC0000080, %ecx
    rdmsr
    and $0x500, %eax
    EXPECT64 %rax, $0x500, 4, "entry: EFER.LME|LMA"

    call gdt64_install
    call tss64_init
    call idt64_install
    xor %eax, %eax
    mov %cs, %ax
    EXPECT64 %rax, $SEL_KCODE64, 5, "CS after LGDT + LRETQ"
    xor %eax, %eax
    str %ax
    EXPECT64 %rax, $SEL_TSS, 6, "TR after LTR"
    PRINT64 "selftest64: own GDT, TSS and IDT loaded\n"

    xor %eax, %eax
    xor %ecx, %ecx
    cpuid
    cmp $1, %eax
    jae 1f
    FAIL64 10, "CPUID.0: max leaf < 1"
1:  mov $0x80000000, %eax
    xor %ecx, %ecx
    cpuid
    cmp $0x80000001, %eax
    jae 1f
    FAIL64 11, "CPUID.80000000: max extended leaf < 0x80000001"
1:  mov $0x80000001, %eax
    xor %ecx, %ecx
    cpuid
    mov %edx, %eax
    shr $29, %eax
    and $1, %eax
    EXPECT64 %rax, $1, 12, "CPUID.80000001:EDX.LM"
    mov $1, %eax
    xor %ecx, %ecx
    cpuid
    mov %edx, %eax
    and $0x60, %eax
    EXPECT64 %rax, $0x60, 13, "CPUID.1:EDX.MSR|PAE"
    PRINT64 "selftest64: CPUID ok\n"

    mov $0xC0000080, %ecx
    rdmsr
    mov %eax, %r12d
    mov %edx, %r13d
    or $1, %eax
    wrmsr
    rdmsr
    and $1, %eax
    EXPECT64 %rax, $1, 20, "EFER.SCE after setting it"
    mov $0xC0000080, %ecx
    mov %r12d, %eax
    mov %r13d, %edx
    and $~1, %eax
    wrmsr
    rdmsr
    and $1, %eax
    EXPECT64 %rax, $0, 21, "EFER.SCE after clearing it"
    mov $0xC0000080, %ecx
    mov %r12d, %eax
    mov %r13d, %edx
    wrmsr
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    mov %r13, %rdx
    shl $32, %rdx
    or %r12, %rdx
    EXPECT64 %rax, %rdx, 22, "EFER restored"
    mov $0xC0000102, %ecx               # IA32_KERNEL_GS_BASE
    mov $0x9abcdef0, %eax
    mov $0x00001234, %edx
    wrmsr
    xor %eax, %eax
    xor %edx, %edx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    EXPECT64 %rax, $0x000012349abcdef0, 23, "IA32_KERNEL_GS_BASE round trip"
    PRINT64 "selftest64: RDMSR/WRMSR ok\n"

    ARM_EXC64 pkrs_resume
    mov $0x6E1, %ecx                    # IA32_PKRS: bits 63:32 reserved (or no PKS: unknown)
    xor %eax, %eax
    mov $1, %edx
pkrs_insn:
    wrmsr
pkrs_resume:
    EXPECT64 EXC_REC+EXC_VEC, $13, 24, "WRMSR IA32_PKRS with reserved bits: vector (#GP)"
    EXPECT64 EXC_REC+EXC_ERR, $0, 25, "WRMSR IA32_PKRS with reserved bits: error code"
    EXPECT64 EXC_REC+EXC_RIP, $pkrs_insn, 26, "WRMSR IA32_PKRS with reserved bits: saved RIP"
    PRINT64 "selftest64: #GP on WRMSR of a reserved value ok\n"

    # Last on purpose: QEMU TCG (7.2) returns 0 for unknown MSRs instead of raising #GP,
    # so under QEMU this image stops here with exit code 30 (status 61).
    ARM_EXC64 rd_resume
    mov $UNKNOWN_MSR, %ecx
rd_insn:
    rdmsr
rd_resume:
    EXPECT64 EXC_REC+EXC_VEC, $13, 30, "RDMSR of an unknown MSR: vector (#GP)"
    EXPECT64 EXC_REC+EXC_ERR, $0, 31, "RDMSR of an unknown MSR: error code"
    EXPECT64 EXC_REC+EXC_RIP, $rd_insn, 32, "RDMSR of an unknown MSR: saved RIP"
    EXPECT64 EXC_REC+EXC_CS, $SEL_KCODE64, 33, "RDMSR of an unknown MSR: saved CS"

    ARM_EXC64 wr_resume
    mov $UNKNOWN_MSR, %ecx
    xor %eax, %eax
    xor %edx, %edx
wr_insn:
    wrmsr
wr_resume:
    EXPECT64 EXC_REC+EXC_VEC, $13, 34, "WRMSR of an unknown MSR: vector (#GP)"
    EXPECT64 EXC_REC+EXC_ERR, $0, 35, "WRMSR of an unknown MSR: error code"
    EXPECT64 EXC_REC+EXC_RIP, $wr_insn, 36, "WRMSR of an unknown MSR: saved RIP"
    EXPECT64 EXC_REC+EXC_COUNT, $3, 37, "number of exceptions taken"
    PRINT64 "selftest64: #GP on unknown MSR ok\n"

    PRINT64 "PASS\n"
    EXIT 0

    .include "lib/console64.inc"
    .include "lib/gdt.inc"
    .include "lib/idt64.inc"
    GDT_TEMPLATE 0
