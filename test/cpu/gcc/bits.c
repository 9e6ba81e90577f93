/* Freestanding bit-manipulation kernel compiled by gcc (test/cpu/gcc-bmi.test.ts)
 * with -march=x86-64-v3 (BMI1/BMI2 on): variable shifts (SHLX/SHRX/SARX),
 * a & ~b (ANDN), lowest-set-bit idioms (BLSR/BLSI/BLSMSK), masks below a
 * bit index (BZHI), rotates (RORX), 128-bit products (MULX), counts
 * (TZCNT/LZCNT/POPCNT) and the PDEP/PEXT/BEXTR builtins. `d` points at DATA
 * (random bytes); results go to d + 0x2000... */
typedef unsigned char u8; typedef unsigned int u32; typedef unsigned long u64; typedef long i64; typedef int i32;
#define N 64

static void k_bits(u8 *d, u8 *o) {
  u64 *a = (u64 *)d, *b = (u64 *)(d + 0x200); u32 *c = (u32 *)(d + 0x400);
  u64 *r = (u64 *)o; u32 *s = (u32 *)(o + 0x800);
  for (int i = 0; i < N; i++) {
    u64 x = a[i], y = b[i]; u32 n = c[i];
    r[8 * i + 0] = (x << (n & 63)) ^ (y >> (n >> 26)) ^ (u64)((i64)x >> (y & 63));
    r[8 * i + 1] = x & ~y; r[8 * i + 7] = x & (x - 1); r[N * 8 + i] = y & -y; r[N * 9 + i] = x ^ (x - 1);
    r[8 * i + 2] = x & ((1UL << (n & 63)) - 1);
    r[8 * i + 3] = ((x >> 13) | (x << 51)) + (u64)(((unsigned __int128)x * y) >> 64);
    r[8 * i + 4] = __builtin_ia32_pdep_di(x, y) ^ __builtin_ia32_pext_di(y, x);
    r[8 * i + 5] = __builtin_ia32_bextr_u64(x, n & 0xffff) + __builtin_ia32_bzhi_di(y, n >> 24);
    r[8 * i + 6] = (u64)(x ? __builtin_ctzl(x) : 64) | (u64)(y ? __builtin_clzl(y) : 64) << 8 | (u64)__builtin_popcountl(x ^ y) << 16;
    u32 x32 = (u32)x, y32 = (u32)y;
    s[4 * i + 0] = (x32 << (n & 31)) ^ (y32 >> (n >> 27)) ^ (u32)((i32)x32 >> (y32 & 31));
    s[4 * i + 1] = (x32 & ~y32) ^ (x32 & (x32 - 1)); s[0x100 + i] = (y32 & -y32) ^ (y32 ^ (y32 - 1));
    s[4 * i + 2] = __builtin_ia32_pdep_si(x32, y32) + __builtin_ia32_pext_si(y32, x32) + __builtin_ia32_bzhi_si(x32, n);
    s[4 * i + 3] = ((x32 >> 7) | (x32 << 25)) + (u32)(((u64)x32 * y32) >> 32) + __builtin_ia32_bextr_u32(y32, n >> 16);
  }
}
void entry(u64 which, u8 *d) { (void)which; k_bits(d, d + 0x2000); }
__asm__(".section .text.start,\"ax\"\n.globl _start\n_start:\n  mov %rax, %rdi\n  mov $0x20000000, %esi\n  call entry\n  jmp __end\n");
