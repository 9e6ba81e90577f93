/* Freestanding C kernels compiled by gcc (test/cpu/gcc-sse.test.ts) with
 * -O2/-O3 for x86-64 (SSE2), x86-64-v2 (SSE4.2) and x86-64-v3 (AVX2, FMA, F16C):
 * ordinary integer and floating-point code whose vector instructions come
 * from the compiler, not from us. `d` points at DATA (random bytes from the
 * test, doubles/floats in the first 2 KiB); results go to d + 0x2000.. */
typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;
typedef unsigned long u64; typedef long i64; typedef int i32; typedef signed char i8; typedef short i16;
#define N 128
struct S { u64 a, b, c; double x; float f[4]; };

static void k_int(u8 *d, u8 *o) {
  u8 *b = d + 0x800; i32 *w = (i32 *)(d + 0x1000); u16 *h = (u16 *)(d + 0x1400);
  u32 sum = 0; for (int i = 0; i < 4 * N; i++) sum += b[i];
  i32 mn = w[0], mx = w[0]; for (int i = 0; i < N; i++) { if (w[i] < mn) mn = w[i]; if (w[i] > mx) mx = w[i]; }
  u32 cnt = 0; for (int i = 0; i < 4 * N; i++) cnt += b[i] > 0x80;
  i32 *r = (i32 *)(o); for (int i = 0; i < N; i++) r[i] = w[i] * 3 + (w[i] >> 2) - (i32)h[i];
  u16 *rs = (u16 *)(o + 0x200); for (int i = 0; i < N; i++) rs[i] = (u16)(h[i] + b[i]) ^ (h[i] >> 3);
  u8 *rb = o + 0x300; for (int i = 0; i < N; i++) rb[i] = b[i] > b[i + N] ? b[i] : b[i + N];
  i64 *q = (i64 *)(o + 0x400); for (int i = 0; i < N / 2; i++) q[i] = (i64)w[i] * w[i + 1];
  u32 *x = (u32 *)(o + 0x600); x[0] = sum; x[1] = (u32)mn; x[2] = (u32)mx; x[3] = cnt;
  i16 *sw = (i16 *)(o + 0x620); for (int i = 0; i < 32; i++) { i32 v = (i16)h[i] * 2; sw[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v; }
  for (int i = 0; i < N; i++) { u64 v = ((u64 *)d)[i & 63]; o[0x700 + i] = (u8)(v >> (i & 31)); }
}
static void k_double(u8 *d, u8 *o) {
  double *a = (double *)d, *b = (double *)(d + 0x400); double *r = (double *)(o + 0x800);
  double dot = 0, poly = 0, mn = 1e300, mx = -1e300;
  for (int i = 0; i < 64; i++) dot += a[i] * b[i];
  for (int i = 0; i < 16; i++) poly = poly * 0.5 + a[i];
  for (int i = 0; i < 64; i++) { if (b[i] < mn) mn = b[i]; if (b[i] > mx) mx = b[i]; }
  for (int i = 0; i < 64; i++) r[i] = a[i] / (b[i] + 1.5) - __builtin_sqrt(__builtin_fabs(a[i]));
  r[64] = dot; r[65] = poly; r[66] = mn; r[67] = mx;
  i32 *ri = (i32 *)(o + 0xc00); for (int i = 0; i < 64; i++) ri[i] = (a[i] > -2e9 && a[i] < 2e9) ? (i32)a[i] : -1;
  i64 *rl = (i64 *)(o + 0xd00); for (int i = 0; i < 32; i++) rl[i] = (i64)(b[i] * 1e3 > 1e18 || !(b[i] * 1e3 > -1e18) ? 7 : b[i] * 1e3);
  u64 *ru = (u64 *)(d + 0x1800); double *rc = (double *)(o + 0xe00); for (int i = 0; i < 16; i++) rc[i] = (double)ru[i] + (double)(i64)ru[i + 16];
  u32 *fl = (u32 *)(o + 0xf00); for (int i = 0; i < 64; i++) fl[i] = (a[i] < b[i]) | (a[i] == b[i]) << 1 | (a[i] != a[i]) << 2 | __builtin_isless(a[i], 1.0) << 3;
}
static void k_float(u8 *d, u8 *o) {
  float *a = (float *)(d + 0x200), *b = (float *)(d + 0x600); float *r = (float *)(o + 0x1000);
  float s = 0; for (int i = 0; i < 64; i++) { r[i] = a[i] * b[i] + 2.0f * a[i]; s += r[i]; }
  double *rd = (double *)(o + 0x1100); for (int i = 0; i < 32; i++) rd[i] = (double)a[i] * 3.0 + b[i];
  float *rf = (float *)(o + 0x1200); for (int i = 0; i < 32; i++) rf[i] = (float)((double *)d)[i];
  i32 *ri = (i32 *)(o + 0x1280); for (int i = 0; i < 32; i++) ri[i] = (i32)(float)(((i32 *)(d + 0x1000))[i]);
  float *m = (float *)(o + 0x1300); for (int i = 0; i < 32; i++) m[i] = a[i] < b[i] ? a[i] : b[i];
  r[64] = s;
}
static void k_struct(u8 *d, u8 *o) {
  struct S *s = (struct S *)(d + 0x1c00), *t = (struct S *)(o + 0x1400);
  for (int i = 0; i < 8; i++) { t[i] = s[7 - i]; t[i].x *= 2; t[i].f[1] += t[i].f[2]; }
  u64 *p = (u64 *)(o + 0x1700); for (int i = 0; i < 16; i++) p[i] = s[i & 7].a + s[i & 7].b * 3;
}
/* _Float16 <-> float: VCVTPS2PH/VCVTPH2PS with -mf16c (x86-64-v3); other
   targets would call libgcc, which this freestanding build does not link. */
static void k_half(u8 *d, u8 *o) {
#ifdef __F16C__
  float *a = (float *)(d + 0x200); _Float16 *hi = (_Float16 *)(d + 0x1400);
  _Float16 *h = (_Float16 *)(o + 0x1800); float *r = (float *)(o + 0x1900);
  for (int i = 0; i < 64; i++) h[i] = (_Float16)a[i];
  for (int i = 0; i < 64; i++) r[i] = (float)hi[i] * 2.0f + (float)h[i];
#else
  (void)d; (void)o;
#endif
}
/* -DKERNEL=k_int (etc.) builds one kernel: -O3 AVX2 code for all four does
   not fit in the harness's 4000-byte code limit. */
void entry(u64 which, u8 *d) { (void)which; KERNEL(d, d + 0x2000); }
__asm__(".section .text.start,\"ax\"\n.globl _start\n_start:\n  mov %rax, %rdi\n  mov $0x20000000, %esi\n  call entry\n  jmp __end\n");
