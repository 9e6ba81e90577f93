# kind: rom
#
# w3.rom — W3 of perf-anchors §3 with XCR0 = x87|SSE|AVX: N XSAVE+XRSTOR pairs of the
# 832-byte area at CPL0. See lib/w3_body.inc.
    .include "lib/defs.inc"
    .include "lib/rom_layout.inc"
    .include "lib/boot.inc"
    .set W3_MASK, 0x07
    .set W3_BUF, 0x300000
    .include "lib/w3_body.inc"
