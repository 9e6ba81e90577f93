# Ucall smoke guest: GUEST_SYNC(1), GUEST_SYNC(2), GUEST_ASSERT_EQ(rbx, 0) as assertion 42, GUEST_DONE.
# The host sets RBX before the third run to make the assertion fail.
    .include "lib.inc"
    .text
    .code64
    .globl start
start:
    GUEST_SYNC $1
    GUEST_SYNC $2
    xorl %r8d, %r8d
    GUEST_ASSERT_EQ %rbx, %r8, 42
    GUEST_DONE
