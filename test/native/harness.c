/*
 * x86kvm native differential-testing harness.
 *
 * Runs many small user-mode test cases on the host CPU and reports the final
 * architectural state, so the emulator can run the same bytes and compare.
 *
 * Build:  cc -O1 -o build/native/harness test/native/harness.c
 * (x86-64 Linux, libc and kernel UAPI headers only).
 *
 * ---------------------------------------------------------------------------
 * Guest-visible environment (what the emulator must reproduce)
 * ---------------------------------------------------------------------------
 *   CODE   0x10000000..0x1000ffff  R-X  case code at CODE_BASE, followed by
 *                                       E9 rel32 (jmp STUB_BASE), rest 0xCC
 *   DATA   0x20000000..0x2000ffff  RW-  xorshift64* fill from the case seed,
 *                                       then the case's patches
 *   STACK  0x30000000..0x3000ffff  RW-  zero, then the case's patches
 *   STUB   0x0f000000..0x0f000fff  R-X  harness-private exit stub (the
 *                                       emulator stops at CODE_BASE+len and
 *                                       never needs it)
 *   Everything else in the low 4 GiB is unmapped.  The harness itself lives at
 *   ASLR-randomised high addresses (PIE), out of reach of rel32/abs32 forms.
 *
 *   CPL 3, CS=0x33 (64-bit), SS=0x2b, DS=ES=FS=GS=0, FS.base=GS.base=0.
 *   RFLAGS = (case.rflags & (CF|PF|AF|ZF|SF|DF|OF)) | IF | bit1.
 *   x87/SSE/AVX/AVX-512 in the XRSTOR init state: all vector and opmask
 *   registers zero, MXCSR=0x1F80, FCW=0x037F, x87 stack empty.  PKRU (only
 *   on PKU hosts) is the host value; AMX state (XFD-managed) is left alone.
 *
 * Everything the case can change that would affect the harness is put back
 * after each case: RFLAGS (DF, AC, TF, NT), DS/ES/FS/GS selectors, FS/GS
 * base, vector/x87 state, PKRU; DATA/STACK/CODE contents.
 *
 * ---------------------------------------------------------------------------
 * How a case runs
 * ---------------------------------------------------------------------------
 * The parent process reads the whole request from stdin, then forks a worker.
 * The worker maps the fixed regions, installs signal handlers on an alternate
 * stack, an ITIMER_VIRTUAL watchdog and a seccomp filter, then runs the cases
 * one after another, writing each result into memory shared with the parent.
 * If a worker dies (a case managed to corrupt it, or seccomp killed it) the
 * parent marks the case it was running as LOST and forks a fresh worker for
 * the remaining cases, so no input can take the whole batch down.
 *
 * Entry: xk_enter (asm) saves the host callee-saved registers and RSP, puts
 * the FPU/vector state into the init state, sets FS/GS base to 0, loads the
 * guest RFLAGS with popfq and the 16 GPRs (RDI last, RSP before it) and jumps
 * to CODE_BASE through a RIP-relative memory operand, so no guest register is
 * used for the jump.
 *
 * Normal exit: the case falls through into the appended `jmp STUB_BASE`.  The
 * stub first stores RAX with `movabs [abs64], rax`, then uses RAX as the base
 * for the other 15 stores, switches to the host stack, captures RFLAGS with
 * pushfq and jumps to xk_resume.  Nothing the guest can observe is modified
 * before its registers are saved.
 *
 * Faults: the signal handler (entered through xk_sigentry, which first puts
 * the host FS base back so that libc/TLS work) records vector, error code,
 * CR2, RIP and the GPRs from the ucontext, then rewrites the ucontext so that
 * sigreturn lands in xk_resume on the host stack.
 *
 * Syscalls: seccomp returns SECCOMP_RET_TRAP for any syscall issued from the
 * CODE/STUB area (syscall, int 0x80, sysenter) or from the vsyscall page; the
 * SIGSYS is reported as vector 255.  The rest of the worker may only use a
 * short allowlist of syscalls; anything else kills the worker (and the parent
 * reports the case as LOST), so a case that jumps into libc cannot do harm.
 *
 * Timeouts: ITIMER_VIRTUAL ticks every timeout_ms of user CPU time.  A tick
 * that finds the same case running as the previous tick did aborts it, so an
 * endless loop is stopped after 1-2 periods.  User CPU time (not wall time)
 * keeps the decision independent of machine load.  The parent also kills a
 * worker that makes no progress for a long wall-clock time.
 *
 * ---------------------------------------------------------------------------
 * Protocol (all integers little-endian)
 * ---------------------------------------------------------------------------
 * Request header, 32 bytes:
 *   u32 magic 'XKNI' (0x494e4b58)  u32 version (1)  u32 ncases
 *   u32 timeout_ms (0 = 25)        u32 flags (0)    u32 reserved[3]
 * Each case:
 *   u32 code_len (<= 4000)  u32 flags (bit0: dump DATA, bit1: dump STACK)
 *   u32 npatches            u32 reserved (0)
 *   u64 gpr[16]  (rax rcx rdx rbx rsp rbp rsi rdi r8..r15)
 *   u64 rflags   u64 data_seed
 *   u8  code[code_len]
 *   npatches x { u64 addr, u32 len, u32 reserved, u8 bytes[len] }
 *     (each patch lies entirely inside DATA or STACK; applied in order)
 * Response header, 32 bytes:
 *   u32 magic 'XKNO' (0x4f4e4b58)  u32 version (1)  u32 ncases  u32 caps
 *   u64 xcr0  u32 workers  u32 reserved
 * Each result, 192 bytes, then the dumps requested (65536 bytes each, DATA
 * first):
 *   u32 status (0 ok, 1 fault, 2 timeout, 3 lost)   u32 vector
 *   u32 signo   u32 si_code
 *   u64 error_code   u64 cr2   u64 rip
 *   u64 gpr[16]   u64 rflags   u64 mem_hash
 *   u32 cs   u32 dump_flags
 *
 * mem_hash is 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3) over the 65536 DATA bytes followed by the 65536 STACK bytes.
 *
 * DATA fill (xorshift64*, Vigna): x = seed; for each 8-byte word i in order:
 *   x ^= x >> 12; x ^= x << 25; x ^= x >> 27; word[i] = x * 0x2545F4914F6CDD1D
 * stored little-endian.  Seed 0 is a fixed point and yields all-zero DATA.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

/* ---- guest layout (keep in sync with test/native/native.ts) ------------- */
#define CODE_BASE  0x10000000UL
#define CODE_SIZE  0x10000UL
#define DATA_BASE  0x20000000UL
#define DATA_SIZE  0x10000UL
#define STACK_BASE 0x30000000UL
#define STACK_SIZE 0x10000UL
#define STUB_BASE  0x0f000000UL
#define STUB_SIZE  0x1000UL
#define MAX_CODE   4000
#define FILL_BYTE  0xCC

/* RFLAGS bits a case may choose; everything else comes from the host. */
#define RFLAGS_INPUT_MASK 0xCD5UL /* CF PF AF ZF SF DF OF */
#define RFLAGS_HOST       0x202UL /* IF, reserved bit 1 */
#define RFLAGS_AC         0x40000UL

/* ---- protocol ------------------------------------------------------------ */
#define REQ_MAGIC   0x494e4b58U /* "XKNI" */
#define RSP_MAGIC   0x4f4e4b58U /* "XKNO" */
#define PROTO_VER   1
#define HDR_SIZE    32
#define CASE_FIXED  160
#define PATCH_FIXED 16
#define RES_FIXED   192
#define DEFAULT_TIMEOUT_MS 25

enum { ST_OK = 0, ST_FAULT = 1, ST_TIMEOUT = 2, ST_LOST = 3 };
#define VEC_SYSCALL 255
#define DUMP_DATA  1U
#define DUMP_STACK 2U

/* capability bits (reported in the response header) */
#define CAP_FSGSBASE 0x01U /* wrfsbase usable; otherwise arch_prctl */
#define CAP_XSAVE    0x02U /* XRSTOR used to reset vector state */
#define CAP_PKU      0x04U /* PKRU saved/restored around cases */
#define CAP_MEMFD    0x08U /* CODE written through an RW alias */
#define CAP_SECCOMP  0x10U /* always set when cases ran */
#define CAP_PIE      0x20U /* harness image above 4 GiB */

/* ---- the context shared by C and the asm below --------------------------- */
/* Offsets are used from asm; the static asserts keep them honest. */
#define CTX_GPR       0
#define CTX_RFLAGS    128
#define CTX_HOST_RSP  136
#define CTX_RESUME    144
#define CTX_ENTRY     152
#define CTX_HOST_FS   160
#define CTX_HOST_GS   168
#define CTX_XMASK     176
#define CTX_XAREA     184
#define CTX_CAPS      192
#define CTX_PKRU      196
#define CTX_MXCSR     200
#define CTX_HOST_SEL  204

struct xk_ctx {
	uint64_t gpr[16];     /* in: initial guest GPRs; out: final GPRs */
	uint64_t rflags;      /* in: initial RFLAGS; out: final RFLAGS */
	uint64_t host_rsp;    /* host RSP after xk_enter pushed its registers */
	uint64_t resume;      /* &xk_resume, for the stub's indirect jump */
	uint64_t entry;       /* CODE_BASE, for xk_enter's indirect jump */
	uint64_t host_fsbase; /* glibc TLS pointer */
	uint64_t host_gsbase;
	uint64_t xmask;       /* XRSTOR RFBM used to reset vector state */
	uint64_t xarea;       /* 64-byte aligned XSAVE image in init state */
	uint32_t caps;
	uint32_t host_pkru;
	uint32_t mxcsr_init;  /* 0x1F80, for the no-XSAVE path */
	uint16_t host_sel[4]; /* DS ES FS GS selectors */
	/* ---- C-only below ---- */
	volatile uint32_t in_guest; /* set while guest code may be running */
	volatile uint64_t seq;      /* case sequence number, for the watchdog */
	uint32_t status, vector, signo, si_code;
	uint64_t err, cr2, rip;
	uint32_t cs;
	uint32_t code_len;
	uint16_t host_cs, host_ss;
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct xk_ctx, rflags) == CTX_RFLAGS, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, host_rsp) == CTX_HOST_RSP, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, resume) == CTX_RESUME, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, entry) == CTX_ENTRY, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, host_fsbase) == CTX_HOST_FS, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, host_gsbase) == CTX_HOST_GS, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, xmask) == CTX_XMASK, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, xarea) == CTX_XAREA, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, caps) == CTX_CAPS, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, host_pkru) == CTX_PKRU, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, mxcsr_init) == CTX_MXCSR, "ctx layout");
_Static_assert(offsetof(struct xk_ctx, host_sel) == CTX_HOST_SEL, "ctx layout");

__attribute__((visibility("hidden"))) struct xk_ctx xk_ctx;

/* asm entry points and markers (defined below) */
extern char xk_asm_begin[], xk_asm_end[];
extern char xk_stub_begin[], xk_stub_end[], xk_stub_p1[], xk_stub_p2[];
extern void xk_enter(void);
extern void xk_resume(void);
extern void xk_sigentry(int, siginfo_t *, void *);
__attribute__((visibility("hidden"))) void xk_on_signal(int sig, siginfo_t *si, void *ucv);

#define S_(x) #x
#define S(x) S_(x)
#define SYS_ARCH_PRCTL 158
#define ARCH_SET_GS_ 0x1001
#define ARCH_SET_FS_ 0x1002
#define ARCH_GET_FS_ 0x1003
#define ARCH_GET_GS_ 0x1004

/*
 * xk_enter / xk_resume / xk_clean_state / xk_sigentry.
 * Everything between xk_asm_begin and xk_asm_end is harness code that must
 * never fault; the signal handler treats a fault there as a harness bug and
 * ignores watchdog ticks there (the guest is not running yet / any more).
 */
__asm__(
	".text\n"
	".p2align 4\n"
	".globl xk_asm_begin\n.hidden xk_asm_begin\n"
	"xk_asm_begin:\n"

	/* void xk_enter(void): run the guest described by xk_ctx. Returns after
	 * the guest reached the stub or the signal handler redirected to
	 * xk_resume. */
	".globl xk_enter\n.hidden xk_enter\n.type xk_enter,@function\n"
	"xk_enter:\n"
	"	push %rbx\n	push %rbp\n	push %r12\n	push %r13\n	push %r14\n	push %r15\n"
	"	lea xk_ctx(%rip), %rdi\n"
	"	mov %rsp, " S(CTX_HOST_RSP) "(%rdi)\n"
	"	call xk_clean_state\n"
	"	lea xk_ctx(%rip), %rdi\n"
	"	testl $" S(CAP_FSGSBASE) ", " S(CTX_CAPS) "(%rdi)\n"
	"	jz 1f\n"
	"	xor %eax, %eax\n"
	"	wrfsbase %rax\n"
	"	wrgsbase %rax\n"
	"	jmp 2f\n"
	"1:	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_FS_) ", %edi\n	xor %esi, %esi\n	syscall\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_GS_) ", %edi\n	xor %esi, %esi\n	syscall\n"
	"	lea xk_ctx(%rip), %rdi\n"
	/* From here on only loads from xk_ctx: flags first (popfq needs the
	 * host stack), RSP late, RDI last, then a jump through memory. */
	"2:	pushq " S(CTX_RFLAGS) "(%rdi)\n"
	"	popfq\n"
	"	mov 0(%rdi), %rax\n"
	"	mov 8(%rdi), %rcx\n"
	"	mov 16(%rdi), %rdx\n"
	"	mov 24(%rdi), %rbx\n"
	"	mov 40(%rdi), %rbp\n"
	"	mov 48(%rdi), %rsi\n"
	"	mov 64(%rdi), %r8\n"
	"	mov 72(%rdi), %r9\n"
	"	mov 80(%rdi), %r10\n"
	"	mov 88(%rdi), %r11\n"
	"	mov 96(%rdi), %r12\n"
	"	mov 104(%rdi), %r13\n"
	"	mov 112(%rdi), %r14\n"
	"	mov 120(%rdi), %r15\n"
	"	mov 32(%rdi), %rsp\n"
	"	mov 56(%rdi), %rdi\n"
	"	jmp *xk_ctx+" S(CTX_ENTRY) "(%rip)\n"

	/* xk_resume: reached from the stub or from a rewritten signal context,
	 * with RSP = host_rsp and every other register undefined. */
	".globl xk_resume\n.hidden xk_resume\n"
	"xk_resume:\n"
	"	pushq $" S(RFLAGS_HOST) "\n"  /* clears DF, AC, TF, NT set by the guest */
	"	popfq\n"
	"	lea xk_ctx(%rip), %rdi\n"
	/* Selectors before bases: loading a selector may reload the base. */
	"	movzwl " S(CTX_HOST_SEL) "+0(%rdi), %eax\n	mov %eax, %ds\n"
	"	movzwl " S(CTX_HOST_SEL) "+2(%rdi), %eax\n	mov %eax, %es\n"
	"	movzwl " S(CTX_HOST_SEL) "+4(%rdi), %eax\n	mov %eax, %fs\n"
	"	movzwl " S(CTX_HOST_SEL) "+6(%rdi), %eax\n	mov %eax, %gs\n"
	"	testl $" S(CAP_FSGSBASE) ", " S(CTX_CAPS) "(%rdi)\n"
	"	jz 1f\n"
	"	mov " S(CTX_HOST_FS) "(%rdi), %rax\n	wrfsbase %rax\n"
	"	mov " S(CTX_HOST_GS) "(%rdi), %rax\n	wrgsbase %rax\n"
	"	jmp 2f\n"
	"1:	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_FS_) ", %edi\n"
	"	mov xk_ctx+" S(CTX_HOST_FS) "(%rip), %rsi\n	syscall\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_GS_) ", %edi\n"
	"	mov xk_ctx+" S(CTX_HOST_GS) "(%rip), %rsi\n	syscall\n"
	"	lea xk_ctx(%rip), %rdi\n"
	"2:	call xk_clean_state\n"
	"	pop %r15\n	pop %r14\n	pop %r13\n	pop %r12\n	pop %rbp\n	pop %rbx\n"
	"	ret\n"

	/* xk_clean_state(rdi=&xk_ctx): x87/SSE/AVX/AVX-512 to the init state
	 * (XRSTOR of an image whose XSTATE_BV is 0), host PKRU back.
	 * Clobbers rax, rcx, rdx. */
	"xk_clean_state:\n"
	"	testl $" S(CAP_XSAVE) ", " S(CTX_CAPS) "(%rdi)\n"
	"	jz 1f\n"
	"	mov " S(CTX_XMASK) "(%rdi), %eax\n"
	"	mov " S(CTX_XMASK) "+4(%rdi), %edx\n"
	"	mov " S(CTX_XAREA) "(%rdi), %rcx\n"
	"	xrstor64 (%rcx)\n"
	"	jmp 2f\n"
	"1:	fninit\n"
	"	ldmxcsr " S(CTX_MXCSR) "(%rdi)\n"
	"	pxor %xmm0, %xmm0\n	pxor %xmm1, %xmm1\n	pxor %xmm2, %xmm2\n	pxor %xmm3, %xmm3\n"
	"	pxor %xmm4, %xmm4\n	pxor %xmm5, %xmm5\n	pxor %xmm6, %xmm6\n	pxor %xmm7, %xmm7\n"
	"	pxor %xmm8, %xmm8\n	pxor %xmm9, %xmm9\n	pxor %xmm10, %xmm10\n	pxor %xmm11, %xmm11\n"
	"	pxor %xmm12, %xmm12\n	pxor %xmm13, %xmm13\n	pxor %xmm14, %xmm14\n	pxor %xmm15, %xmm15\n"
	"2:	testl $" S(CAP_PKU) ", " S(CTX_CAPS) "(%rdi)\n"
	"	jz 3f\n"
	"	mov " S(CTX_PKRU) "(%rdi), %eax\n	xor %ecx, %ecx\n	xor %edx, %edx\n	wrpkru\n"
	"3:	ret\n"

	/* xk_sigentry(sig, info, uc): runs on the alternate stack.  The
	 * interrupted code may be the guest, whose FS base is 0, so restore the
	 * host FS/GS base before any C runs (glibc and the stack protector read
	 * %fs:) and put the interrupted bases back afterwards.  AC is cleared
	 * because the guest may have set it and Linux does not clear it. */
	".globl xk_sigentry\n.hidden xk_sigentry\n.type xk_sigentry,@function\n"
	"xk_sigentry:\n"
	"	cld\n"
	"	pushfq\n	andq $~" S(RFLAGS_AC) ", (%rsp)\n	popfq\n"
	"	sub $40, %rsp\n" /* 0: fs base, 8: gs base, 16..32: args; keeps 16-byte alignment */
	"	testl $" S(CAP_FSGSBASE) ", xk_ctx+" S(CTX_CAPS) "(%rip)\n"
	"	jz 5f\n"
	"	rdfsbase %rax\n	mov %rax, 0(%rsp)\n"
	"	rdgsbase %rax\n	mov %rax, 8(%rsp)\n"
	"	mov xk_ctx+" S(CTX_HOST_FS) "(%rip), %rax\n	wrfsbase %rax\n"
	"	mov xk_ctx+" S(CTX_HOST_GS) "(%rip), %rax\n	wrgsbase %rax\n"
	"	call xk_on_signal\n"
	"	mov 0(%rsp), %rax\n	wrfsbase %rax\n"
	"	mov 8(%rsp), %rax\n	wrgsbase %rax\n"
	"	add $40, %rsp\n"
	"	ret\n"
	"5:	mov %rdi, 16(%rsp)\n	mov %rsi, 24(%rsp)\n	mov %rdx, 32(%rsp)\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_GET_FS_) ", %edi\n	lea 0(%rsp), %rsi\n	syscall\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_GET_GS_) ", %edi\n	lea 8(%rsp), %rsi\n	syscall\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_FS_) ", %edi\n"
	"	mov xk_ctx+" S(CTX_HOST_FS) "(%rip), %rsi\n	syscall\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_GS_) ", %edi\n"
	"	mov xk_ctx+" S(CTX_HOST_GS) "(%rip), %rsi\n	syscall\n"
	"	mov 16(%rsp), %rdi\n	mov 24(%rsp), %rsi\n	mov 32(%rsp), %rdx\n"
	"	call xk_on_signal\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_FS_) ", %edi\n	mov 0(%rsp), %rsi\n	syscall\n"
	"	mov $" S(SYS_ARCH_PRCTL) ", %eax\n	mov $" S(ARCH_SET_GS_) ", %edi\n	mov 8(%rsp), %rsi\n	syscall\n"
	"	add $40, %rsp\n"
	"	ret\n"
	".globl xk_asm_end\n.hidden xk_asm_end\n"
	"xk_asm_end:\n"

	/* Exit stub template, copied to STUB_BASE with both imm64 fields set to
	 * the address of xk_ctx.  Never executed in place. */
	".globl xk_stub_begin\n.hidden xk_stub_begin\n"
	".globl xk_stub_p1\n.hidden xk_stub_p1\n"
	".globl xk_stub_p2\n.hidden xk_stub_p2\n"
	".globl xk_stub_end\n.hidden xk_stub_end\n"
	"xk_stub_begin:\n"
	"	.byte 0x48, 0xa3\n" /* movabs %rax, (imm64)   -> ctx.gpr[0] */
	"xk_stub_p1:\n"
	"	.quad 0\n"
	"	.byte 0x48, 0xb8\n" /* movabs $imm64, %rax    -> &ctx */
	"xk_stub_p2:\n"
	"	.quad 0\n"
	"	mov %rcx, 8(%rax)\n	mov %rdx, 16(%rax)\n	mov %rbx, 24(%rax)\n	mov %rsp, 32(%rax)\n"
	"	mov %rbp, 40(%rax)\n	mov %rsi, 48(%rax)\n	mov %rdi, 56(%rax)\n	mov %r8, 64(%rax)\n"
	"	mov %r9, 72(%rax)\n	mov %r10, 80(%rax)\n	mov %r11, 88(%rax)\n	mov %r12, 96(%rax)\n"
	"	mov %r13, 104(%rax)\n	mov %r14, 112(%rax)\n	mov %r15, 120(%rax)\n"
	"	mov " S(CTX_HOST_RSP) "(%rax), %rsp\n" /* never push on the guest stack */
	"	pushfq\n"
	"	popq " S(CTX_RFLAGS) "(%rax)\n"
	"	jmp *" S(CTX_RESUME) "(%rax)\n"
	"xk_stub_end:\n");

/* ---- small helpers -------------------------------------------------------- */

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Async-signal-safe message to stderr. */
static void say(const char *a, const char *b)
{
	ssize_t r;
	r = write(2, "harness: ", 9);
	r = write(2, a, strlen(a));
	if (b) {
		r = write(2, ": ", 2);
		r = write(2, b, strlen(b));
	}
	r = write(2, "\n", 1);
	(void)r;
}

static void die(const char *what)
{
	say(what, errno ? strerror(errno) : NULL);
	exit(2);
}

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/* ---- DATA fill and memory hash (mirrored in native.ts) -------------------- */

static void fill_data(uint64_t seed, uint8_t *buf, size_t n)
{
	uint64_t x = seed;
	for (size_t i = 0; i < n; i += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		wr64(buf + i, x * 0x2545F4914F6CDD1DULL);
	}
}

#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_pow2[20]; /* FNV_PRIME^(2^i) */

/* FNV_PRIME^n: what hashing n zero bytes multiplies the state by. */
static uint64_t fnv_pow(uint64_t n)
{
	uint64_t r = 1;
	for (int i = 0; n; i++, n >>= 1)
		if (n & 1)
			r *= fnv_pow2[i];
	return r;
}

/* FNV-1a over n bytes (n % 8 == 0) starting from state h.  A zero byte only
 * multiplies the state by the prime, so runs of zero words are folded into
 * one multiplication: the mostly-empty STACK costs a scan, not 64K steps. */
static uint64_t fnv_run(uint64_t h, const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (rd64(p + i) == 0) {
			size_t j = i + 8;
			while (j < n && rd64(p + j) == 0)
				j += 8;
			h *= fnv_pow(j - i);
			i = j;
			continue;
		}
		for (size_t k = 0; k < 8; k++) {
			h ^= p[i + k];
			h *= FNV_PRIME;
		}
		i += 8;
	}
	return h;
}

/* First / last offset (multiple of 8) where a and b differ, or n. */
static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (memcmp(a, b, n) == 0)
		return n;
	size_t i = 0;
	while (i + 256 <= n && memcmp(a + i, b + i, 256) == 0)
		i += 256;
	while (i < n && rd64(a + i) == rd64(b + i))
		i += 8;
	return i;
}

static size_t last_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i = n;
	while (i >= 256 && memcmp(a + i - 256, b + i - 256, 256) == 0)
		i -= 256;
	while (i > 0 && rd64(a + i - 8) == rd64(b + i - 8))
		i -= 8;
	return i; /* one past the last differing word */
}

/* ---- parent/worker shared state ------------------------------------------ */

struct shared {
	volatile uint32_t done;     /* results [0, done) are final */
	volatile uint32_t setup_ok; /* the worker finished its setup */
	volatile uint32_t caps;
	char msg[512];              /* worker setup error */
};

static struct shared *sh;
static uint8_t *req;          /* whole request */
static size_t *case_off;      /* offset of each case in req */
static size_t *res_off;       /* offset of each result in the response */
static uint8_t *resp;         /* response (shared mapping) */
static size_t resp_len;
static uint32_t ncases, timeout_ms;
/* Test hook (XK_TEST_DIE_AT=n): the worker makes a forbidden syscall before
 * case n, so seccomp kills it; exercises the parent's recovery path. */
static uint32_t die_at = UINT32_MAX;
static uint64_t host_xcr0;

/* ---- worker state ---------------------------------------------------------- */

static uint8_t *code_rw;      /* writable view of CODE */
static size_t code_dirty;     /* bytes of CODE not equal to FILL_BYTE */
/* Pristine DATA images for the most recently used seeds.  ckpt[] holds the
 * FNV state of the image at each KiB boundary, ckpt[0..ckpt_n) being valid.
 * They are filled lazily: the first hash of a fresh seed's DATA fills them
 * over its unchanged prefix, so a new seed costs one hashing pass and a
 * recently used seed costs a 64 KiB copy. */
#define NCKPT (DATA_SIZE / 1024)
#define NSEEDS 8
struct seed_slot {
	uint64_t seed;
	uint64_t last_use;
	uint8_t *img;
	size_t ckpt_n;
	uint64_t ckpt[NCKPT + 1];
};
static struct seed_slot seeds[NSEEDS];
static struct seed_slot *cur;  /* DATA equals cur->img between cases */
static uint64_t seed_clock;
static const uint8_t zero_page[STACK_SIZE];
static uint64_t tick_seq = ~0ULL;

static void worker_fail(const char *what)
{
	snprintf(sh->msg, sizeof sh->msg, "%s: %s", what, strerror(errno));
	_exit(3);
}

static void capture_context(const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	static const int order[16] = { REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
				       REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
				       REG_R12, REG_R13, REG_R14, REG_R15 };
	for (int i = 0; i < 16; i++)
		xk_ctx.gpr[i] = (uint64_t)g[order[i]];
	xk_ctx.rflags = (uint64_t)g[REG_EFL];
	xk_ctx.rip = (uint64_t)g[REG_RIP];
	xk_ctx.cs = (uint16_t)g[REG_CSGSFS];
}

/* Make sigreturn continue in xk_resume on the host stack, in 64-bit mode. */
static void redirect(ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uint16_t *seg = (uint16_t *)&g[REG_CSGSFS]; /* cs, gs, fs, ss */
	g[REG_RIP] = (greg_t)(uintptr_t)xk_resume;
	g[REG_RSP] = (greg_t)xk_ctx.host_rsp;
	g[REG_EFL] = (greg_t)RFLAGS_HOST;
	seg[0] = xk_ctx.host_cs;
	seg[3] = xk_ctx.host_ss;
}

void xk_on_signal(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	int in_asm = rip >= (uintptr_t)xk_asm_begin && rip < (uintptr_t)xk_asm_end;
	int in_stub = rip >= STUB_BASE && rip < STUB_BASE + STUB_SIZE;

	if (sig == SIGVTALRM) {
		if (!xk_ctx.in_guest || in_asm || in_stub)
			return;
		if (xk_ctx.seq != tick_seq) { /* first tick seen in this case */
			tick_seq = xk_ctx.seq;
			return;
		}
		capture_context(uc);
		xk_ctx.status = ST_TIMEOUT;
		xk_ctx.signo = (uint32_t)sig;
		redirect(uc);
		return;
	}

	if (!xk_ctx.in_guest || in_asm) {
		/* A fault in the harness itself: never continue with bad state. */
		char b[32];
		snprintf(b, sizeof b, "signal %d at %#lx", sig, (unsigned long)rip);
		say("fault inside the harness", b);
		_exit(70);
	}

	capture_context(uc);
	xk_ctx.signo = (uint32_t)sig;
	xk_ctx.si_code = (uint32_t)si->si_code;
	if (sig == SIGTRAP && rip == STUB_BASE) {
		/* The guest set TF: the single-step trap fired after the appended
		 * jmp, i.e. exactly when the guest finished.  That is a normal end
		 * (the context holds the final registers; RFLAGS shows TF). */
		xk_ctx.status = ST_OK;
		xk_ctx.signo = 0;
		xk_ctx.si_code = 0;
		xk_ctx.rip = CODE_BASE + xk_ctx.code_len;
		redirect(uc);
		return;
	}
	xk_ctx.status = ST_FAULT;
	xk_ctx.err = (uint64_t)uc->uc_mcontext.gregs[REG_ERR];
	xk_ctx.vector = (uint32_t)uc->uc_mcontext.gregs[REG_TRAPNO];
	if (sig == SIGSYS) {
		/* seccomp trap: report the syscall number and audit arch instead. */
		xk_ctx.vector = VEC_SYSCALL;
		xk_ctx.err = (uint64_t)(uint32_t)si->si_syscall;
		xk_ctx.cr2 = si->si_arch;
	} else if (sig == SIGILL && si->si_code == ILL_ILLOPC) {
		/* Linux reports an XFD #NM (AMX without permission) as
		 * SIGILL/ILL_ILLOPC and leaves trapno stale; #UD is ILL_ILLOPN. */
		xk_ctx.vector = 7;
		xk_ctx.err = 0;
	} else if (xk_ctx.vector == 14) {
		xk_ctx.cr2 = (uint64_t)(uintptr_t)si->si_addr;
	}
	redirect(uc);
}

/* Build the seccomp filter: trap syscalls issued from guest-reachable code,
 * allow a short list for the harness itself, kill on anything else. */
static int install_seccomp(void)
{
	static const uint32_t allow[] = {
		SYS_write,          /* diagnostics on stderr */
		SYS_mprotect,       /* CODE updates when memfd is unavailable */
		SYS_rt_sigprocmask,
		SYS_rt_sigreturn,   /* returning from our signal handler */
		SYS_exit,
		SYS_exit_group,
		SYS_arch_prctl,     /* FS/GS base when FSGSBASE is unavailable */
	};
	enum { NA = sizeof allow / sizeof allow[0] };
	enum { L_ARCH = 6, L_KILL = 9 + NA, L_TRAP = 10 + NA, L_ALLOW = 11 + NA };
	struct sock_filter f[L_ALLOW + 1];
	const uint32_t ip_lo = offsetof(struct seccomp_data, instruction_pointer);
	const uint32_t ip_hi = ip_lo + 4;
	int n = 0;
#define AT(i) ((uint8_t)((i) - (n + 1)))
	f[n] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_hi); n++;
	/* vsyscall page / kernel half */
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, AT(L_TRAP), 0); n++;
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, AT(L_ARCH)); n++;
	f[n] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_lo); n++;
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)(CODE_BASE + CODE_SIZE), AT(L_ARCH), 0); n++;
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)STUB_BASE, AT(L_TRAP), AT(L_ARCH)); n++;
	/* L_ARCH */
	f[n] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)); n++;
	f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, AT(L_KILL)); n++;
	f[n] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)); n++;
	for (int i = 0; i < NA; i++) {
		f[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, allow[i], AT(L_ALLOW), 0);
		n++;
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
#undef AT
	if (n != L_ALLOW + 1) {
		errno = EINVAL;
		return -1;
	}
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

static void *map_fixed(uint64_t addr, size_t len, int prot, int flags, int fd)
{
	void *p = mmap((void *)addr, len, prot, flags | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	if ((uint64_t)p != addr) { /* pre-4.17 kernels treat the flag as a hint */
		munmap(p, len);
		errno = EEXIST;
		return NULL;
	}
	return p;
}

static void set_seed(uint64_t seed)
{
	struct seed_slot *victim = &seeds[0];
	for (int i = 0; i < NSEEDS; i++) {
		struct seed_slot *sl = &seeds[i];
		if (sl->last_use && sl->seed == seed) {
			victim = sl;
			goto found;
		}
		if (sl->last_use < victim->last_use) /* unused slots have 0 */
			victim = sl;
	}
	fill_data(seed, victim->img, DATA_SIZE);
	victim->seed = seed;
	victim->ckpt[0] = FNV_BASIS;
	victim->ckpt_n = 1;
	cur = NULL; /* DATA must be rewritten from the new image */
found:
	victim->last_use = ++seed_clock;
	if (cur != victim)
		memcpy((void *)DATA_BASE, victim->img, DATA_SIZE);
	cur = victim;
}

/* FNV-1a of the final DATA: reuse the pristine prefix up to the KiB block
 * holding the first changed byte (at offset f, DATA_SIZE if none). */
static uint64_t hash_data(const uint8_t *data, size_t f)
{
	size_t b = f / 1024;
	for (; cur->ckpt_n <= b; cur->ckpt_n++)
		cur->ckpt[cur->ckpt_n] = fnv_run(cur->ckpt[cur->ckpt_n - 1], cur->img + (cur->ckpt_n - 1) * 1024, 1024);
	if (b == NCKPT)
		return cur->ckpt[NCKPT];
	return fnv_run(cur->ckpt[b], data + b * 1024, DATA_SIZE - b * 1024);
}

static void worker_setup(void)
{
	/* exit stub */
	uint8_t *stub = map_fixed(STUB_BASE, STUB_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (!stub)
		worker_fail("mmap STUB at 0x0f000000");
	memset(stub, FILL_BYTE, STUB_SIZE);
	memcpy(stub, xk_stub_begin, (size_t)(xk_stub_end - xk_stub_begin));
	wr64(stub + (xk_stub_p1 - xk_stub_begin), (uint64_t)(uintptr_t)&xk_ctx.gpr[0]);
	wr64(stub + (xk_stub_p2 - xk_stub_begin), (uint64_t)(uintptr_t)&xk_ctx);
	if (mprotect(stub, STUB_SIZE, PROT_READ | PROT_EXEC) != 0)
		worker_fail("mprotect STUB");

	/* CODE: read+exec for the guest.  Prefer a memfd mapped twice so the
	 * harness writes through a private RW alias (no syscalls per case). */
	int fd = getenv("XK_NO_MEMFD") ? -1 : (int)syscall(SYS_memfd_create, "xk-code", 1U /* MFD_CLOEXEC */);
	if (fd >= 0 && ftruncate(fd, CODE_SIZE) == 0 &&
	    map_fixed(CODE_BASE, CODE_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, fd)) {
		code_rw = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (code_rw == MAP_FAILED)
			worker_fail("mmap CODE alias");
		sh->caps |= CAP_MEMFD;
		close(fd);
	} else {
		if (fd >= 0)
			close(fd);
		code_rw = map_fixed(CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		if (!code_rw)
			worker_fail("mmap CODE at 0x10000000");
	}
	memset(code_rw, FILL_BYTE, CODE_SIZE);
	code_dirty = 0;
	if (!(sh->caps & CAP_MEMFD) && mprotect(code_rw, CODE_SIZE, PROT_READ | PROT_EXEC) != 0)
		worker_fail("mprotect CODE");

	if (!map_fixed(DATA_BASE, DATA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1))
		worker_fail("mmap DATA at 0x20000000");
	if (!map_fixed(STACK_BASE, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1))
		worker_fail("mmap STACK at 0x30000000");
	/* Everything is allocated now: after seccomp, malloc could not grow. */
	for (int i = 0; i < NSEEDS; i++)
		if (!(seeds[i].img = aligned_alloc(64, DATA_SIZE)))
			worker_fail("alloc");
	set_seed(0); /* DATA is fresh zero pages: matches seed 0 */

	/* signals: alternate stack (the guest RSP is arbitrary), all our
	 * signals blocked while one is handled (no nesting on the FS juggling) */
	size_t alt = 256 * 1024;
	void *altp = mmap(NULL, alt, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (altp == MAP_FAILED)
		worker_fail("mmap altstack");
	stack_t ss = { .ss_sp = altp, .ss_size = alt, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) != 0)
		worker_fail("sigaltstack");
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGVTALRM };
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = xk_sigentry;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (sigaction(sigs[i], &sa, NULL) != 0)
			worker_fail("sigaction");
	sigset_t unblock = sa.sa_mask;
	sigprocmask(SIG_UNBLOCK, &unblock, NULL);

	struct itimerval it;
	it.it_interval.tv_sec = timeout_ms / 1000;
	it.it_interval.tv_usec = (timeout_ms % 1000) * 1000;
	it.it_value = it.it_interval;
	if (setitimer(ITIMER_VIRTUAL, &it, NULL) != 0)
		worker_fail("setitimer");

	/* Must be last: it forbids most syscalls. */
	if (install_seccomp() != 0)
		worker_fail("seccomp filter (required to contain guest syscalls)");
	sh->caps |= CAP_SECCOMP;
	sh->setup_ok = 1;
}

static void write_code(const uint8_t *code, uint32_t len)
{
	if (!(sh->caps & CAP_MEMFD) && mprotect(code_rw, 4096, PROT_READ | PROT_WRITE) != 0)
		_exit(71);
	memcpy(code_rw, code, len);
	code_rw[len] = 0xE9; /* jmp rel32 -> STUB_BASE */
	wr32(code_rw + len + 1, (uint32_t)(STUB_BASE - (CODE_BASE + len + 5)));
	if (code_dirty > len + 5)
		memset(code_rw + len + 5, FILL_BYTE, code_dirty - (len + 5));
	code_dirty = len + 5;
	if (!(sh->caps & CAP_MEMFD) && mprotect(code_rw, 4096, PROT_READ | PROT_EXEC) != 0)
		_exit(71);
}

static void run_case(uint32_t idx)
{
	const uint8_t *c = req + case_off[idx];
	uint8_t *r = resp + res_off[idx];
	uint32_t len = rd32(c), flags = rd32(c + 4), npatch = rd32(c + 8);
	uint64_t seed = rd64(c + 16 + 16 * 8 + 8);
	const uint8_t *code = c + CASE_FIXED;

	if (seed != cur->seed)
		set_seed(seed);
	const uint8_t *p = code + len;
	for (uint32_t i = 0; i < npatch; i++) {
		uint64_t addr = rd64(p);
		uint32_t plen = rd32(p + 8);
		memcpy((void *)addr, p + PATCH_FIXED, plen);
		p += PATCH_FIXED + plen;
	}
	write_code(code, len);

	for (int i = 0; i < 16; i++)
		xk_ctx.gpr[i] = rd64(c + 16 + 8 * i);
	xk_ctx.rflags = (rd64(c + 16 + 128) & RFLAGS_INPUT_MASK) | RFLAGS_HOST;
	xk_ctx.status = ST_OK;
	xk_ctx.vector = xk_ctx.signo = xk_ctx.si_code = 0;
	xk_ctx.err = xk_ctx.cr2 = 0;
	xk_ctx.rip = CODE_BASE + len;
	xk_ctx.cs = xk_ctx.host_cs;
	xk_ctx.code_len = len;

	xk_ctx.seq++;
	xk_ctx.in_guest = 1;
	xk_enter();
	xk_ctx.in_guest = 0;

	/* memory: hash, optional dumps, then back to the pristine state */
	uint8_t *data = (uint8_t *)DATA_BASE, *stack = (uint8_t *)STACK_BASE;
	size_t f = first_diff(data, cur->img, DATA_SIZE);
	uint64_t h = hash_data(data, f);
	size_t sf = first_diff(stack, zero_page, STACK_SIZE);
	h = fnv_run(h, stack, STACK_SIZE);

	wr32(r + 0, xk_ctx.status);
	wr32(r + 4, xk_ctx.vector);
	wr32(r + 8, xk_ctx.signo);
	wr32(r + 12, xk_ctx.si_code);
	wr64(r + 16, xk_ctx.err);
	wr64(r + 24, xk_ctx.cr2);
	wr64(r + 32, xk_ctx.rip);
	for (int i = 0; i < 16; i++)
		wr64(r + 40 + 8 * i, xk_ctx.gpr[i]);
	wr64(r + 168, xk_ctx.rflags);
	wr64(r + 176, h);
	wr32(r + 184, xk_ctx.cs);
	wr32(r + 188, flags & (DUMP_DATA | DUMP_STACK));
	uint8_t *d = r + RES_FIXED;
	if (flags & DUMP_DATA) {
		memcpy(d, data, DATA_SIZE);
		d += DATA_SIZE;
	}
	if (flags & DUMP_STACK)
		memcpy(d, stack, STACK_SIZE);

	if (f != DATA_SIZE) {
		size_t l = last_diff(data, cur->img, DATA_SIZE);
		memcpy(data + f, cur->img + f, l - f);
	}
	if (sf != STACK_SIZE) {
		size_t l = last_diff(stack, zero_page, STACK_SIZE);
		memset(stack + sf, 0, l - sf);
	}
}

static void worker(uint32_t start)
{
	worker_setup();
	for (uint32_t i = start; i < ncases; i++) {
		if (i == die_at)
			syscall(SYS_getpid); /* not allowlisted: kills the worker */
		run_case(i);
		__atomic_store_n(&sh->done, i + 1, __ATOMIC_RELEASE);
	}
	_exit(0);
}

/* ---- parent ---------------------------------------------------------------- */

static void detect_host(void)
{
	uint32_t r[4];
	memset(&xk_ctx, 0, sizeof xk_ctx);
	xk_ctx.resume = (uint64_t)(uintptr_t)xk_resume;
	xk_ctx.entry = CODE_BASE;
	xk_ctx.mxcsr_init = 0x1F80;

	if ((getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) && !getenv("XK_NO_FSGSBASE"))
		xk_ctx.caps |= CAP_FSGSBASE;
	if (syscall(SYS_arch_prctl, ARCH_GET_FS_, &xk_ctx.host_fsbase) != 0 ||
	    syscall(SYS_arch_prctl, ARCH_GET_GS_, &xk_ctx.host_gsbase) != 0)
		die("arch_prctl(ARCH_GET_FS)");
	uint16_t s;
	__asm__ volatile("mov %%ds, %0" : "=r"(s)); xk_ctx.host_sel[0] = s;
	__asm__ volatile("mov %%es, %0" : "=r"(s)); xk_ctx.host_sel[1] = s;
	__asm__ volatile("mov %%fs, %0" : "=r"(s)); xk_ctx.host_sel[2] = s;
	__asm__ volatile("mov %%gs, %0" : "=r"(s)); xk_ctx.host_sel[3] = s;
	__asm__ volatile("mov %%cs, %0" : "=r"(s)); xk_ctx.host_cs = s;
	__asm__ volatile("mov %%ss, %0" : "=r"(s)); xk_ctx.host_ss = s;

	cpuid(1, 0, r);
	if ((r[2] & (1U << 27)) && !getenv("XK_NO_XSAVE")) { /* OSXSAVE */
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		host_xcr0 = ((uint64_t)hi << 32) | lo;
		/* Reset every enabled component except PKRU (restored to the host
		 * value separately) and the XFD-capable AMX components, whose
		 * XRSTOR may #NM without arch_prctl(ARCH_REQ_XCOMP_PERM). */
		xk_ctx.xmask = host_xcr0 & ~((1ULL << 9) | (1ULL << 17) | (1ULL << 18));
		cpuid(0xd, 0, r);
		size_t sz = r[1] > 4096 ? r[1] : 4096;
		sz = (sz + 4095) & ~(size_t)4095;
		uint8_t *xa = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (xa == MAP_FAILED)
			die("mmap xsave area");
		/* Legacy area all zero except MXCSR: standard-form XRSTOR loads
		 * MXCSR from the image even when XSTATE_BV[1] is 0. */
		wr32(xa + 24, 0x1F80);
		xk_ctx.xarea = (uint64_t)(uintptr_t)xa;
		xk_ctx.caps |= CAP_XSAVE;
	}
	cpuid(0, 0, r);
	if (r[0] >= 7) {
		cpuid(7, 0, r);
		if (r[2] & (1U << 4)) { /* OSPKE */
			uint32_t pk;
			__asm__ volatile("xor %%ecx, %%ecx\n\trdpkru" : "=a"(pk) : : "rcx", "rdx");
			xk_ctx.host_pkru = pk;
			xk_ctx.caps |= CAP_PKU;
		}
	}
	if ((uintptr_t)&detect_host >= (1ULL << 32))
		xk_ctx.caps |= CAP_PIE;
	else
		say("warning: harness is not PIE; its image is reachable by 32-bit absolute addresses", NULL);

	fnv_pow2[0] = FNV_PRIME;
	for (int i = 1; i < 20; i++)
		fnv_pow2[i] = fnv_pow2[i - 1] * fnv_pow2[i - 1];
}

static void read_request(size_t *len_out)
{
	size_t cap = 1 << 20, len = 0;
	req = malloc(cap);
	if (!req)
		die("malloc");
	for (;;) {
		if (len == cap) {
			cap *= 2;
			req = realloc(req, cap);
			if (!req)
				die("realloc");
		}
		ssize_t n = read(0, req + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("read stdin");
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*len_out = len;
}

static void bad_request(const char *why, uint32_t idx)
{
	char b[64];
	snprintf(b, sizeof b, "case %u", idx);
	errno = 0;
	say(why, b);
	exit(2);
}

/* Validate the whole request up front and index cases and results. */
static void parse_request(size_t len)
{
	if (len < HDR_SIZE || rd32(req) != REQ_MAGIC || rd32(req + 4) != PROTO_VER) {
		errno = 0;
		die("bad request header (magic/version)");
	}
	ncases = rd32(req + 8);
	timeout_ms = rd32(req + 12);
	if (timeout_ms == 0)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	case_off = malloc(sizeof(size_t) * (ncases + 1));
	res_off = malloc(sizeof(size_t) * (ncases + 1));
	if (!case_off || !res_off)
		die("malloc");
	size_t o = HDR_SIZE, ro = HDR_SIZE;
	for (uint32_t i = 0; i < ncases; i++) {
		if (len - o < CASE_FIXED)
			bad_request("truncated case", i);
		uint32_t clen = rd32(req + o), flags = rd32(req + o + 4), np = rd32(req + o + 8);
		if (clen > MAX_CODE)
			bad_request("code longer than 4000 bytes", i);
		if (flags & ~(DUMP_DATA | DUMP_STACK))
			bad_request("unknown case flags", i);
		case_off[i] = o;
		o += CASE_FIXED;
		if (len - o < clen)
			bad_request("truncated code", i);
		o += clen;
		for (uint32_t k = 0; k < np; k++) {
			if (len - o < PATCH_FIXED)
				bad_request("truncated patch", i);
			uint64_t a = rd64(req + o);
			uint64_t pl = rd32(req + o + 8);
			int in_data = a >= DATA_BASE && a <= DATA_BASE + DATA_SIZE && pl <= DATA_BASE + DATA_SIZE - a;
			int in_stack = a >= STACK_BASE && a <= STACK_BASE + STACK_SIZE && pl <= STACK_BASE + STACK_SIZE - a;
			if (!in_data && !in_stack)
				bad_request("patch outside DATA/STACK", i);
			o += PATCH_FIXED;
			if (len - o < pl)
				bad_request("truncated patch bytes", i);
			o += pl;
		}
		res_off[i] = ro;
		ro += RES_FIXED + ((flags & DUMP_DATA) ? DATA_SIZE : 0) + ((flags & DUMP_STACK) ? STACK_SIZE : 0);
	}
	if (o != len) {
		errno = 0;
		die("trailing bytes after the last case");
	}
	resp_len = ro;
}

static void mark_lost(uint32_t idx, int wstatus)
{
	uint8_t *r = resp + res_off[idx];
	memset(r, 0, RES_FIXED);
	wr32(r + 0, ST_LOST);
	/* signo: the signal that ended the worker (SIGSYS = seccomp kill,
	 * SIGKILL = wall-clock watchdog); si_code: its exit status otherwise */
	if (WIFSIGNALED(wstatus))
		wr32(r + 8, (uint32_t)WTERMSIG(wstatus));
	else if (WIFEXITED(wstatus))
		wr32(r + 12, (uint32_t)WEXITSTATUS(wstatus));
	const uint8_t *c = req + case_off[idx];
	wr32(r + 188, rd32(c + 4) & (DUMP_DATA | DUMP_STACK)); /* dumps stay zero */
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(void)
{
	size_t len;
	read_request(&len);
	parse_request(len);
	detect_host();
	if (getenv("XK_TEST_DIE_AT"))
		die_at = (uint32_t)strtoul(getenv("XK_TEST_DIE_AT"), NULL, 0);

	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	resp = mmap(NULL, resp_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || resp == MAP_FAILED)
		die("mmap shared");

	/* A stalled worker (should never happen: guest loops are stopped by the
	 * CPU-time watchdog) is killed after this much wall time without
	 * progress. */
	const uint64_t stall_ms = 10000 + 8 * (uint64_t)timeout_ms;
	uint32_t next = 0, workers = 0, lost_reports = 0;
	do {
		int pfd[2];
		if (pipe(pfd) != 0)
			die("pipe");
		sh->done = next;
		sh->setup_ok = 0;
		fflush(stderr);
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(pfd[0]);
			worker(next);
		}
		workers++;
		close(pfd[1]);
		/* The pipe reaches EOF when the worker exits, however it exits. */
		uint32_t seen = next;
		uint64_t last = now_ms();
		for (;;) {
			struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
			int pr = poll(&pf, 1, 500);
			if (pr > 0)
				break;
			if (pr < 0 && errno != EINTR)
				die("poll");
			uint32_t d = __atomic_load_n(&sh->done, __ATOMIC_ACQUIRE);
			if (d != seen) {
				seen = d;
				last = now_ms();
			} else if (now_ms() - last > stall_ms) {
				kill(pid, SIGKILL);
				break;
			}
		}
		close(pfd[0]);
		int ws = 0;
		while (waitpid(pid, &ws, 0) < 0)
			if (errno != EINTR)
				die("waitpid");
		if (!sh->setup_ok) {
			errno = 0;
			say("worker setup failed", sh->msg[0] ? sh->msg : "unknown");
			return 2;
		}
		uint32_t d = __atomic_load_n(&sh->done, __ATOMIC_ACQUIRE);
		if (d >= ncases)
			break;
		mark_lost(d, ws);
		if (lost_reports++ < 5) {
			char b[96];
			snprintf(b, sizeof b, "case %u: worker %s %d; continuing with a new worker", d,
				 WIFSIGNALED(ws) ? "killed by signal" : "exited with", WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
			errno = 0;
			say("lost", b);
		}
		next = d + 1;
	} while (next < ncases);

	wr32(resp + 0, RSP_MAGIC);
	wr32(resp + 4, PROTO_VER);
	wr32(resp + 8, ncases);
	wr32(resp + 12, xk_ctx.caps | sh->caps);
	wr64(resp + 16, host_xcr0);
	wr32(resp + 24, workers);
	wr32(resp + 28, 0);
	for (size_t o = 0; o < resp_len;) {
		ssize_t n = write(1, resp + o, resp_len - o);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write stdout");
		}
		o += (size_t)n;
	}
	return 0;
}
