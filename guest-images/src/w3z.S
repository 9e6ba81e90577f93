# kind: rom
#
# w3z.rom — W3 of perf-anchors §3 with AVX-512 state too (XCR0 = 0xE7 where CPUID offers
# it): N XSAVE+XRSTOR pairs of the 2688-byte area at CPL0. See lib/w3_body.inc.
    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"
    .set W3_MASK, 0xe7
    .set W3_BUF, 0x300000
    .include "lib/w3_body.inc"
