# kind: bin
#
# realmode.bin — a flat boot image (loaded at 0x7C00, entered at 0000:7C00 in real mode)
# that exercises 16-bit real-mode code and checks every result. Proves:
#   codes 1-4    CS = 0 after a far jmp; segment arithmetic (1234:0010 == 1235:0000 ==
#                1000:2350); a 16-bit effective address wraps at 64 KiB ([bx+si] = 0x10010
#                -> offset 0x0010)
#   codes 5-7    [bp] addresses SS by default, [bx] DS; a DS: override on [bp]
#   codes 8-19   string instructions: rep movsb, repe cmpsb (equal, and stopping after a
#                mismatch), repne scasb, rep stosw, lodsw, std + rep movsw (backwards,
#                overlapping)
#   codes 20-29  16-bit and 8-bit mul/div/imul/idiv (incl. CF after mul, 3-operand imul,
#                negative idiv)
#   codes 30-36  far call/ret: lcall ptr16:16 into another segment (CS = 07C0 inside),
#                lcall m16:16 with stack arguments and `lret $4`
#   codes 40-46  interrupts through the IVT: `int 0x40` (pushes FLAGS/CS/IP; IRET restores
#                CF), #DE from div (pushed IP = the faulting div), int3 (pushed IP = next)
#   codes 50-56  pusha/popa, les, loop, xlatb, cbw, lea with 16-bit wrap
#   codes 60-62  A20 through port 0x92: with A20 on FFFF:0510 (linear 0x100500) is distinct
#                from 0000:0500; with A20 off it aliases it
# Prints progress, then PASS; exits 0 via port 0xF4 (status 1); a failed check prints
# "FAIL <what> got=.. want=.." and exits with its code. Interrupts stay disabled.
# Memory: 0x0000-0x03FF IVT, 0x0500-0x08FF scratch, stack below 0x7C00, 0x20000 buffer.

    .include "lib/defs.inc"
    .set RM_BASE, 0                     # CS = 0: CS offsets are linear addresses

    .text
    .code16
    .globl _start
_start:
    cli
    cld
    ljmp $0, $start2                    # normalise CS:IP to 0000:7Cxx
start2:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7C00, %sp
    PRINT16 "realmode: start\n"
    EXPECT16 %cs, $0, 1, "CS after jmp far 0000:start2"

    # ---- segment arithmetic --------------------------------------------------
    mov $0x1234, %ax
    mov %ax, %es
    movw $0xA55A, %es:0x0010            # linear 0x12350
    mov $0x1235, %ax
    mov %ax, %fs
    EXPECT16 %fs:0, $0xA55A, 2, "1234:0010 != 1235:0000"
    mov $0x1000, %ax
    mov %ax, %gs
    EXPECT16 %gs:0x2350, $0xA55A, 3, "1234:0010 != 1000:2350"
    mov $0xFFF0, %bx
    mov $0x0020, %si
    mov %es:(%bx,%si), %cx
    EXPECT16 %cx, $0xA55A, 4, "[bx+si] = 0x10010 must wrap to offset 0x0010"

    # ---- default segment of [bp] is SS ----------------------------------------
    movw $0x1111, 0x0700
    movw $0x2222, 0x0800
    mov $0x0010, %ax
    mov %ax, %ds                        # DS base 0x100, SS base 0
    mov $0x0700, %bx
    mov $0x0700, %bp
    mov (%bx), %cx                      # DS:0700 = linear 0x800
    mov (%bp), %dx                      # SS:0700 = linear 0x700
    mov %ds:(%bp), %di                  # DS:0700 = linear 0x800
    xor %ax, %ax
    mov %ax, %ds
    EXPECT16 %dx, $0x1111, 5, "[bp] must use SS"
    EXPECT16 %cx, $0x2222, 6, "[bx] must use DS"
    EXPECT16 %di, $0x2222, 7, "ds:[bp] override"
    PRINT16 "realmode: segments ok\n"

    # ---- string instructions -------------------------------------------------
    mov $0x2000, %ax
    mov %ax, %es
    mov $hello_str, %si
    xor %di, %di
    mov $13, %cx
    rep movsb
    EXPECT16 %cx, $0, 8, "rep movsb: CX"
    EXPECT16 %di, $13, 9, "rep movsb: DI"
    EXPECT16 %es:4, $0x2C6F, 10, "rep movsb: copied bytes 4-5"

    mov $hello_str, %si
    xor %di, %di
    mov $13, %cx
    repe cmpsb
    je 1f
    FAIL16 11, "repe cmpsb: equal strings compared unequal"
1:  EXPECT16 %cx, $0, 11, "repe cmpsb (equal): CX"

    movb $0x58, %es:5                   # 'X' over ','
    mov $hello_str, %si
    xor %di, %di
    mov $13, %cx
    repe cmpsb
    jne 1f
    FAIL16 12, "repe cmpsb: missed the mismatch"
1:  EXPECT16 %cx, $7, 12, "repe cmpsb (mismatch at 5): CX"
    EXPECT16 %si, $hello_str+6, 13, "repe cmpsb (mismatch at 5): SI"

    xor %di, %di
    mov $13, %cx
    mov $0x21, %al                      # '!'
    repne scasb
    je 1f
    FAIL16 14, "repne scasb: '!' not found"
1:  EXPECT16 %di, $13, 14, "repne scasb: DI after '!'"

    mov $0x100, %di
    mov $0x80, %cx
    mov $0xBEEF, %ax
    rep stosw
    EXPECT16 %di, $0x200, 15, "rep stosw: DI"
    EXPECT16 %es:0x1FE, $0xBEEF, 16, "rep stosw: last word"

    push %ds
    mov $0x2000, %ax
    mov %ax, %ds
    mov $0x100, %si
    mov $0x80, %cx
    xor %bx, %bx
1:  lodsw
    add %ax, %bx
    loop 1b
    pop %ds
    EXPECT16 %bx, $0x7780, 17, "lodsw: sum of 0x80 x 0xBEEF"

    push %ds
    mov $0x2000, %ax
    mov %ax, %ds
    std
    mov $14, %si
    mov $16, %di
    mov $8, %cx
    rep movsw                           # move words 0..7 up by 2 bytes, backwards
    cld
    mov %si, %bx
    mov %di, %cx
    mov %ds:2, %di
    pop %ds
    EXPECT16 %bx, $0xFFFE, 18, "std; rep movsw: SI"
    EXPECT16 %cx, $0, 18, "std; rep movsw: DI"
    EXPECT16 %di, $0x6548, 19, "std; rep movsw: word 2 = old word 0 ('He')"
    PRINT16 "realmode: string instructions ok\n"

    # ---- multiply / divide -----------------------------------------------------
    mov $0x1234, %ax
    mov $0x5678, %bx
    mul %bx
    jc 1f
    FAIL16 20, "mul: CF must be set when DX != 0"
1:  mov %ax, %bx
    mov %dx, %cx
    EXPECT16 %bx, $0x0060, 21, "mul 1234*5678: AX"
    EXPECT16 %cx, $0x0626, 21, "mul 1234*5678: DX"
    mov $0x0626, %dx
    mov $0x0060, %ax
    mov $0x5678, %cx
    div %cx
    mov %dx, %cx
    EXPECT16 %ax, $0x1234, 22, "div 06260060/5678: AX"
    EXPECT16 %cx, $0, 22, "div 06260060/5678: DX"
    mov $1, %dx
    xor %ax, %ax
    mov $3, %cx
    div %cx
    mov %dx, %cx
    EXPECT16 %ax, $0x5555, 23, "div 10000/3: AX"
    EXPECT16 %cx, $1, 23, "div 10000/3: DX"
    mov $-1000, %ax
    cwd
    mov $7, %cx
    idiv %cx
    mov %dx, %cx
    EXPECT16 %ax, $0xFF72, 24, "idiv -1000/7: AX = -142"
    EXPECT16 %cx, $0xFFFA, 24, "idiv -1000/7: DX = -6"
    mov $-300, %ax
    mov $200, %bx
    imul %bx
    jc 1f
    FAIL16 25, "imul: CF must be set when the product needs DX"
1:  mov %dx, %cx
    EXPECT16 %ax, $0x15A0, 25, "imul -300*200: AX"
    EXPECT16 %cx, $0xFFFF, 25, "imul -300*200: DX"
    mov $200, %bx
    imul $-3, %bx, %cx
    EXPECT16 %cx, $0xFDA8, 26, "imul $-3, bx=200: -600"
    mov $200, %al
    mov $3, %bl
    mul %bl
    EXPECT16 %ax, $0x0258, 27, "mul bl: 200*3"
    mov $7, %bl
    div %bl
    EXPECT16 %ax, $0x0555, 28, "div bl: 600/7 (AH=5, AL=0x55)"
    mov $-7, %al
    cbw
    mov $2, %bl
    idiv %bl
    EXPECT16 %ax, $0xFFFD, 29, "idiv bl: -7/2 (AH=-1, AL=-3)"
    PRINT16 "realmode: mul/div ok\n"

    # ---- far call / far return -----------------------------------------------
    mov %sp, 0x0510
    lcall $0x07C0, $(far_func - 0x7C00)
far_ret_point:
    EXPECT16 0x0502, $0x07C0, 30, "far call: CS inside the callee"
    EXPECT16 0x0504, $far_ret_point, 31, "far call: pushed IP"
    EXPECT16 0x0506, $0, 32, "far call: pushed CS"
    EXPECT16 %sp, 0x0510, 33, "far call/ret: SP balanced"
    EXPECT16 %cs, $0, 34, "far ret: CS restored"
    pushw $0x1111
    pushw $0x2222
    lcall *farptr
    EXPECT16 %ax, $0x3333, 35, "lcall m16:16 with stack arguments: result"
    EXPECT16 %sp, 0x0510, 36, "lret $4: SP balanced"
    PRINT16 "realmode: far call/ret ok\n"

    # ---- interrupts through the IVT ------------------------------------------
    movw $rec_handler, 0x40*4
    movw $0, 0x40*4+2
    movw $0x1234, %ax
    stc
    int $0x40
int40_ret:
    jc 1f
    FAIL16 40, "IRET from int 0x40 lost CF"
1:  EXPECT16 %ax, $0x1234, 41, "int 0x40: AX preserved by the handler"
    EXPECT16 0x0520, $int40_ret, 42, "int 0x40: pushed IP"
    EXPECT16 0x0522, $0, 43, "int 0x40: pushed CS"
    mov 0x0524, %ax
    and $1, %ax
    EXPECT16 %ax, $1, 44, "int 0x40: pushed FLAGS.CF"

    movw $de_handler, 0
    movw $0, 2
    mov $100, %ax
    xor %cl, %cl
de_insn:
    div %cl
de_resume:
    EXPECT16 0x0520, $de_insn, 45, "#DE through IVT[0]: pushed IP = the div"

    movw $rec_handler, 3*4
    movw $0, 3*4+2
    int3
int3_after:
    EXPECT16 0x0520, $int3_after, 46, "int3 through IVT[3]: pushed IP = next instruction"
    PRINT16 "realmode: IVT interrupts ok\n"

    # ---- misc ----------------------------------------------------------------
    mov $1, %ax
    mov $2, %cx
    mov $3, %dx
    mov $4, %bx
    mov $5, %bp
    mov $6, %si
    mov $7, %di
    mov %sp, 0x0510
    pusha
    mov %sp, %bp
    mov 6(%bp), %cx                     # pushed SP = SP before pusha
    mov 14(%bp), %dx                    # pushed AX
    mov %cx, 0x0530
    mov %dx, 0x0532
    xor %ax, %ax
    mov %ax, %cx
    mov %ax, %dx
    mov %ax, %bx
    mov %ax, %si
    mov %ax, %di
    popa
    EXPECT16 %bx, $4, 50, "popa: BX"
    EXPECT16 %di, $7, 50, "popa: DI"
    EXPECT16 0x0530, 0x0510, 50, "pusha: pushed SP"
    EXPECT16 0x0532, $1, 50, "pusha: pushed AX"

    les farptr, %bx
    mov %es, %cx
    EXPECT16 %cx, $0x07C0, 51, "les: segment"
    EXPECT16 %bx, $(far_add - 0x7C00), 51, "les: offset"

    mov $10, %cx
    xor %bx, %bx
1:  add %cx, %bx
    loop 1b
    EXPECT16 %bx, $55, 52, "loop: sum 10..1"

    mov $xlat_table, %bx
    mov $3, %al
    xlatb
    xor %ah, %ah
    EXPECT16 %ax, $0x0040, 53, "xlatb"

    mov $0x80, %al
    cbw
    EXPECT16 %ax, $0xFF80, 54, "cbw"

    mov $0xFFF0, %bx
    mov $0x0008, %si
    lea 0x10(%bx,%si), %cx
    EXPECT16 %cx, $0x0008, 55, "lea wraps at 64 KiB"

    mov $0x12, %ah
    sahf                                # SF=0 ZF=0 AF=1 PF=0 CF=0 from 0x12
    lahf
    mov %ah, %cl
    xor %ch, %ch
    EXPECT16 %cx, $0x12, 56, "sahf/lahf"
    PRINT16 "realmode: misc ok\n"

    # ---- A20 gate (port 0x92) -----------------------------------------------
    xor %ax, %ax
    mov %ax, %es
    inb $PORT_A20, %al
    orb $2, %al
    andb $0xFE, %al
    outb %al, $PORT_A20
    movw $0xAAAA, 0x0500
    mov $0xFFFF, %ax
    mov %ax, %fs
    movw $0x5555, %fs:0x0510            # linear 0x100500 with A20 on
    EXPECT16 0x0500, $0xAAAA, 60, "A20 on: FFFF:0510 must not alias 0000:0500"
    inb $PORT_A20, %al
    andb $0xFC, %al
    outb %al, $PORT_A20                 # A20 off
    EXPECT16 %fs:0x0510, $0xAAAA, 61, "A20 off: FFFF:0510 must alias 0000:0500"
    inb $PORT_A20, %al
    orb $2, %al
    andb $0xFE, %al
    outb %al, $PORT_A20                 # A20 on again
    EXPECT16 %fs:0x0510, $0x5555, 62, "A20 on again: FFFF:0510 = linear 0x100500"
    PRINT16 "realmode: A20 ok\n"

    PRINT16 "PASS\n"
    EXIT 0

# ---- callees and handlers ------------------------------------------------------
# far_func runs with CS = 0x07C0 (same bytes, other segment): records CS and the return
# address it was given.
far_func:
    mov %cs, %ax
    mov %ax, 0x0502
    mov %sp, %bp
    mov (%bp), %ax
    mov %ax, 0x0504
    mov 2(%bp), %ax
    mov %ax, 0x0506
    lret

# far_add: ax = sum of two word arguments; callee pops them (lret $4).
far_add:
    push %bp
    mov %sp, %bp
    mov 6(%bp), %ax
    add 8(%bp), %ax
    pop %bp
    lret $4

# rec_handler: records the pushed IP/CS/FLAGS at 0x520/0x522/0x524, preserves registers.
rec_handler:
    push %bp
    push %ax
    mov %sp, %bp
    mov 4(%bp), %ax
    mov %ax, 0x0520
    mov 6(%bp), %ax
    mov %ax, 0x0522
    mov 8(%bp), %ax
    mov %ax, 0x0524
    pop %ax
    pop %bp
    iret

# de_handler: records the pushed IP and resumes at de_resume.
de_handler:
    push %bp
    mov %sp, %bp
    mov 2(%bp), %ax
    mov %ax, 0x0520
    movw $de_resume, 2(%bp)
    pop %bp
    iret

    .include "lib/console16.inc"

    .section .rodata
hello_str:
    .ascii "Hello, world!"
farptr:
    .word far_add - 0x7C00, 0x07C0
xlat_table:
    .byte 0x10, 0x20, 0x30, 0x40, 0x50
