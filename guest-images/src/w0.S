# kind: rom
#
# w0.rom — W0 of perf-anchors §3: start-up measurement. Reset vector (F000:FFF0, real
# mode) -> 16-bit protected mode -> 32-bit protected mode -> PAE + 4-level paging (1 GiB
# identity map, 2 MiB pages) + EFER.LME -> 64-bit long mode, prints "W0 DONE" and exits
# via isa-debug-exit with 0 (status 1). About 3,700 guest instructions; no IDT, no string
# instructions. Proves only that the boot path of lib/boot.inc works.

    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"

    ROM_CLIMB_TO_LM64
    PRINT64 "W0 DONE\n"
    EXIT 0

    .include "lib/console16.inc"
    .include "lib/console64.inc"
    .include "lib/gdt.inc"
    GDT_TEMPLATE ROM_BASE

    ROM_RESET_VECTOR rom_start
