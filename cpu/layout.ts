// The fixed layout of the CPU's linear memory: where the architectural state,
// the exit record, the software TLB, the decoded-block cache and the host's own
// allocations live. Every constant is exported so the TypeScript side reads the
// offsets from the instance instead of keeping a second copy.

// ---- memory map (byte addresses in the wasm memory) ----
export const STATE: u32 = 0x1000;        // architectural state block (see offsets below)
export const XSTATE: u32 = 0x3000;       // extended register file (x87, ZMM, k, tiles), 16 KiB
export const RUN: u32 = 0x8000;          // kvm_run-shaped exit record, 4 KiB
export const SCRATCH: u32 = 0x9000;      // decode buffer for page-crossing instructions, breakpoints
export const TLB: u32 = 0x100000;        // TLB sets (supervisor, user, alignment-check: never filled), 1024 entries × 64 B each
export const SLOTS: u32 = 0x130000;      // guest-physical memory slots, 32 × 32 B
export const BLK_HASH: u32 = 0x200000;   // block hash heads, 256 Ki × u32
export const CODEGEN: u32 = 0x400000;    // u32 generation per guest-physical 4 KiB page (< 4 GiB)
export const CODEMAP: u32 = 0x800000;    // u64 per page: which 64-byte chunks hold decoded code
export const BLK_ARENA: u32 = 0x1000000; // decoded blocks
export const BLK_ARENA_END: u32 = 0x5000000;
export const HOST_HEAP: u32 = 0x5000000; // host.alloc(): guest RAM, fpstate buffers, …

// ---- state block offsets (relative to STATE) ----
// GPRs in encoding order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15, 8 bytes each.
export const S_GPR: u32 = 0;
export const S_RIP: u32 = 128;
export const S_RFLAGS: u32 = 136;        // the non-lazy bits; arithmetic bits valid when LF_OP = LF_NONE
export const S_LF_OP: u32 = 144;         // lazy flags: op kind | size << 8
export const S_LF_RES: u32 = 152;        // result, masked to the operand size
export const S_LF_A: u32 = 160;          // first source
export const S_LF_B: u32 = 168;          // second source (or shift count)
export const S_LF_CF: u32 = 176;         // carry-in (ADC/SBB) or preserved CF (INC/DEC)
// Segment registers ES CS SS DS FS GS LDTR TR: 16 bytes each:
//   base u64 @0, limit u32 @8, selector u16 @12, attr u16 @14 (VMX access-rights layout:
//   type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15; bit 16 "unusable" is kept in bit 11).
export const S_SEG: u32 = 256;
export const SEG_ES: u32 = 0;
export const SEG_CS: u32 = 1;
export const SEG_SS: u32 = 2;
export const SEG_DS: u32 = 3;
export const SEG_FS: u32 = 4;
export const SEG_GS: u32 = 5;
export const SEG_LDTR: u32 = 6;
export const SEG_TR: u32 = 7;
export const S_GDTR_BASE: u32 = 384;
export const S_GDTR_LIMIT: u32 = 392;
export const S_IDTR_BASE: u32 = 400;
export const S_IDTR_LIMIT: u32 = 408;
export const S_CR0: u32 = 416;
export const S_CR2: u32 = 424;
export const S_CR3: u32 = 432;
export const S_CR4: u32 = 440;
export const S_CR8: u32 = 448;
export const S_EFER: u32 = 456;
export const S_XCR0: u32 = 464;
export const S_DR: u32 = 472;            // DR0..DR7, 8 bytes each (DR4/5 alias 6/7)
export const S_STAR: u32 = 536;
export const S_LSTAR: u32 = 544;
export const S_CSTAR: u32 = 552;
export const S_SFMASK: u32 = 560;
export const S_KGSBASE: u32 = 568;
export const S_SYSENTER_CS: u32 = 576;
export const S_SYSENTER_ESP: u32 = 584;
export const S_SYSENTER_EIP: u32 = 592;
export const S_TSC: u32 = 600;           // deterministic: advanced by retired instructions
export const S_TSC_AUX: u32 = 608;
export const S_APIC_BASE: u32 = 616;
export const S_PAT: u32 = 624;
export const S_MISC_ENABLE: u32 = 632;
export const S_XSS: u32 = 640;
export const S_XFD: u32 = 648;
export const S_XFD_ERR: u32 = 656;
export const S_PKRU: u32 = 664;
export const S_XINUSE: u32 = 672;
export const S_MTRR_DEF: u32 = 680;
export const S_SPEC_CTRL: u32 = 688;
export const S_TSC_ADJUST: u32 = 696;
// run-control and bookkeeping
export const S_INSNS: u32 = 704;         // retired instructions (u64, as f64-safe counter)
export const S_CPL: u32 = 712;           // u32
export const S_MODE: u32 = 716;          // u32 decode-mode bits (MODE_*)
export const S_HALTED: u32 = 720;        // u32
export const S_SHADOW: u32 = 724;        // u32 interrupt shadow after STI / MOV SS
export const S_PEND_IRQ: u32 = 728;      // i32 vector of an injected external interrupt, -1 none
export const S_PEND_EXC: u32 = 732;      // i32 exception queued by the host (KVM_SET_VCPU_EVENTS), -1 none
export const S_PEND_EXC_ERR: u32 = 736;  // u32
export const S_PEND_EXC_HAS_ERR: u32 = 740;
export const S_DBG_CTRL: u32 = 744;      // u32 DBG_* bits (KVM_SET_GUEST_DEBUG)
export const S_EXC_BITMAP: u32 = 748;    // u32 vectors that exit to the host instead of being delivered
export const S_NBP: u32 = 752;           // number of software breakpoints in SCRATCH+BP_LIST
export const S_PDPTE: u32 = 768;         // 4 PAE PDPTEs loaded at CR3 write
export const S_MSR_ICPT: u32 = 800;      // u32 MSRI_* bits: guest WRMSRs the hypervisor intercepts (VMX MSR bitmap)
export const S_MSR_MISC: u32 = 808;      // spare
export const S_CPUID_PTR: u32 = 896;     // u32 pointer to the CPUID table (host heap)
export const S_CPUID_N: u32 = 900;       // u32 number of entries
export const S_FEAT: u32 = 904;          // u32 feature bits the core consults (FEAT_*)
export const S_VENDOR: u32 = 908;        // u32 0 Intel, 1 AMD: flavour of architecturally undefined flags
export const S_HOSTMODE_FAULT: u32 = 912;// last fault of a host-mode primitive
export const S_XMODIFIED: u32 = 920;     // u64: components written since the last XRSTOR (modified optimisation)
export const S_XRSTOR_LA: u32 = 928;     // linear address of the last XRSTOR(S) (XRSTOR_INFO), all-ones = none
export const S_XRSTOR_INFO: u32 = 936;   // u64 XCOMP_BV | CPL << 62 … of the last XRSTOR(S)
// Per-component XSAVE layout of the CPU model (CPUID leaf 0xD), filled by xsave_setup():
// 32 entries × 16 bytes: offset u32 @0 (standard format), size u32 @4, ecx u32 @8 (bit 0 supervisor,
// bit 1 64-byte aligned when compacted, bit 2 XFD-capable), valid u32 @12.
export const S_XCOMP: u32 = 0x400;
export const S_XCR0_SUPPORTED: u32 = 0x600;   // u64 CPUID.(0DH,0):EDX:EAX
export const S_XSS_SUPPORTED: u32 = 0x608;    // u64 CPUID.(0DH,1):EDX:ECX
export const S_XFD_SUPPORTED: u32 = 0x610;    // u64 components whose ECX[2] is set
export const S_XFEAT: u32 = 0x618;            // u32 CPUID.(0DH,1):EAX (xsaveopt/xsavec/xgetbv1/xsaves/xfd)
export const S_MXCSR_MASK: u32 = 0x61C;       // u32
// AMD flavour of XINUSE: per-register in-use bits (a zero idiom returns a
// register to its init state), OR-ed per component by xinuse().
export const S_DIRTY_XMM: u32 = 0x330;        // u32 bit n: XMMn (low 128 bits of register n < 16)
export const S_DIRTY_YMMH: u32 = 0x334;       // u32 bit n: YMMn bits 255:128
export const S_DIRTY_ZMMH: u32 = 0x338;       // u32 bit n: ZMMn bits 511:256
export const S_DIRTY_HI16: u32 = 0x33C;       // u32 bit n-16: ZMM16..31
export const S_DIRTY_K: u32 = 0x340;          // u32 bit n: kn

// ---- extended register file (at XSTATE): the standard-format XSAVE image with Intel's offsets ----
// Legacy region as FXSAVE lays it out, except that the ST slots hold the PHYSICAL registers
// R0..R7 (XSAVE/FXSAVE rotate them by TOP into stack order).
export const X_FCW: u32 = 0;
export const X_FSW: u32 = 2;
export const X_FTW: u32 = 4;              // abridged tag: bit i = physical register Ri is not empty
export const X_FOP: u32 = 6;
export const X_FIP: u32 = 8;
export const X_FDP: u32 = 16;
export const X_MXCSR: u32 = 24;
export const X_ST: u32 = 32;              // R0..R7, 16-byte slots (80-bit values)
export const X_XMM: u32 = 160;            // XMM0..15 (low 128 bits of ZMM0..15)
export const X_YMMH: u32 = 576;           // YMM0..15 bits 255:128
export const X_KREG: u32 = 1088;          // k0..k7
export const X_ZMMH: u32 = 1152;          // ZMM0..15 bits 511:256
export const X_HI16: u32 = 1664;          // ZMM16..31, 64 bytes each
export const X_TILECFG: u32 = 2752;       // LDTILECFG image (palette 0 = unconfigured)
export const X_TILES: u32 = 2816;         // tmm0..7, 16 rows × 64 bytes each
export const X_END: u32 = 11008;

// ---- exit record (at RUN), kvm_run layout for the fields we use ----
export const R_EXIT_REASON: u32 = 8;
export const R_IF_FLAG: u32 = 13;
export const R_CR8: u32 = 16;
export const R_APIC_BASE: u32 = 24;
export const R_U: u32 = 32;              // union
export const R_IO_DIR: u32 = 32;
export const R_IO_SIZE: u32 = 33;
export const R_IO_PORT: u32 = 34;
export const R_IO_COUNT: u32 = 36;
export const R_IO_DATA_OFFSET: u32 = 40;
export const R_MMIO_PHYS: u32 = 32;      // u64
export const R_MMIO_DATA: u32 = 40;      // 8 bytes
export const R_MMIO_LEN: u32 = 48;       // u32
export const R_MMIO_WRITE: u32 = 52;     // u8
export const R_DEBUG_EXC: u32 = 32;      // kvm_debug_exit_arch: exception u32, pad, pc u64, dr6, dr7
export const R_DEBUG_PC: u32 = 40;
export const R_DEBUG_DR6: u32 = 48;
export const R_DEBUG_DR7: u32 = 56;
export const R_IO_DATA: u32 = 0x400;     // where IO data lives (data_offset)

// KVM_EXIT_* numbers (include/uapi/linux/kvm.h)
export const EXIT_UNKNOWN: u32 = 0;
export const EXIT_EXCEPTION: u32 = 1;
export const EXIT_IO: u32 = 2;
export const EXIT_DEBUG: u32 = 4;
export const EXIT_HLT: u32 = 5;
export const EXIT_MMIO: u32 = 6;
export const EXIT_SHUTDOWN: u32 = 8;
export const EXIT_INTR: u32 = 10;        // budget used up (the run was "interrupted")
export const EXIT_INTERNAL_ERROR: u32 = 17;
// KVM-internal exits: handled inside KVM_RUN, never written to userspace's kvm_run.
// 0x10000 | the VMX basic exit reason (32 = WRMSR), outside every KVM_EXIT_* number.
// Record: R_MSR_INDEX (u32), R_MSR_LEN (u32, VM-exit instruction length), R_MSR_DATA (u64);
// RIP stays at the WRMSR, nothing was written (the exit handler completes or #GPs it).
export const EXIT_VMX_MSR_WRITE: u32 = 0x10020;
export const R_MSR_INDEX: u32 = 32;
export const R_MSR_LEN: u32 = 36;
export const R_MSR_DATA: u32 = 40;
// S_MSR_ICPT bits
export const MSRI_XFD_WRITE: u32 = 1;    // WRMSR IA32_XFD (0x1C4) exits (KVM: until xfd_no_write_intercept)

// ---- mode bits (S_MODE): what the decoder and the MMU need to know ----
export const MODE_PE: u32 = 1;           // CR0.PE
export const MODE_LMA: u32 = 2;          // EFER.LMA
export const MODE_64: u32 = 4;           // 64-bit code segment (LMA and CS.L)
export const MODE_D: u32 = 8;            // CS.D: default operand/address size 32
export const MODE_VM86: u32 = 16;
export const MODE_SS32: u32 = 32;        // SS.B: 32-bit stack pointer (legacy modes)
export const MODE_AMD: u32 = 64;         // AMD decoding: 66 makes near branches 16-bit in 64-bit mode

// ---- feature bits (S_FEAT), set from the CPU model's CPUID ----
export const FEAT_XSAVE: u32 = 1;
export const FEAT_AVX: u32 = 2;
export const FEAT_AVX512: u32 = 4;
export const FEAT_PKU: u32 = 8;
export const FEAT_AMX: u32 = 16;
export const FEAT_XFD: u32 = 32;
export const FEAT_XSAVES: u32 = 64;
export const FEAT_XSAVEC: u32 = 128;
export const FEAT_XSAVEOPT: u32 = 256;
export const FEAT_XGETBV1: u32 = 512;
export const FEAT_RDTSCP: u32 = 1024;
export const FEAT_LZCNT: u32 = 2048;
export const FEAT_BMI1: u32 = 4096;
export const FEAT_POPCNT: u32 = 8192;
export const FEAT_NX: u32 = 16384;
export const FEAT_1G: u32 = 32768;
export const FEAT_FSGSBASE: u32 = 65536;
export const FEAT_MOVBE: u32 = 131072;
export const FEAT_CX16: u32 = 262144;
// vector and bit-manipulation extensions a guest CPUID can take away (`--cpu host,-avx2`)
//
// Decision (BMI/vector helper): these bits are for REPORTING, NOT for gating
// execution. Nothing raises #UD because SSE3, SSSE3, SSE4.1, SSE4.2, AVX2,
// BMI1, BMI2 (or FMA, F16C) is missing from the guest CPUID. Reason:
//   - CPUID is a report. Under VMX/SVM a hypervisor's CPUID values (KVM_SET_CPUID2)
//     change what the guest reads, not what the core executes. These extensions
//     have no enable bit: no CR0/CR4 bit, XCR0 bit or VMCS/VMCB control that makes
//     them #UD. So KVM cannot make a masked SSE4.1 or ANDN #UD, and the guest runs
//     them on the host's silicon. (The SDM's "#UD if CPUID.01H:ECX.SSE4_1 = 0"
//     describes a processor that really lacks the extension.)
//   - The gates that do exist are already modelled: CR0.EM / CR4.OSFXSR for
//     legacy SSE, CR4.OSXSAVE + XCR0 for VEX and EVEX (cpu/exec/vec.ts gate()).
//     KVM refuses an XCR0 the guest CPUID does not allow, so a guest without
//     CPUID AVX cannot enable YMM state. AVX2 uses the same XCR0 bits as AVX,
//     so a guest that has AVX but not CPUID AVX2 runs AVX2 code, as on silicon.
//   - Every host model (haswell … sapphire-rapids, epyc-genoa) has all of these
//     extensions, so the only place they could be missing is the guest CPUID,
//     which does not gate execution.
// Not covered by this decision: the older rows that do consult the guest CPUID
// (TZCNT/LZCNT run as BSF/BSR without BMI1/LZCNT, POPCNT #UD, cpu/exec/bit.ts).
// Under KVM on these host models they would execute.
export const FEAT_SSE3: u32 = 1 << 19;
export const FEAT_SSSE3: u32 = 1 << 20;
export const FEAT_SSE41: u32 = 1 << 21;
export const FEAT_SSE42: u32 = 1 << 22;
export const FEAT_AVX2: u32 = 1 << 23;
export const FEAT_BMI2: u32 = 1 << 24;
export const FEAT_FMA: u32 = 1 << 25;
export const FEAT_F16C: u32 = 1 << 26;

// ---- guest debug control (S_DBG_CTRL), mirrors KVM_GUESTDBG_* ----
export const DBG_ENABLE: u32 = 1;
export const DBG_SINGLESTEP: u32 = 2;
export const DBG_SW_BP: u32 = 4;         // breakpoints from the list at SCRATCH+BP_LIST
export const DBG_INT3: u32 = 8;          // KVM_GUESTDBG_USE_SW_BP: INT3 faults with #BP (RIP at the INT3) so S_EXC_BITMAP can intercept it
export const DBG_RESUME_BP: u32 = 0x100; // internal: skip the breakpoint at the current RIP once
export const BP_LIST: u32 = 0x100;       // up to 64 u64 linear addresses at SCRATCH+BP_LIST
export const BP_MAX: u32 = 64;
export const XBUF: u32 = 0x800;          // 16-byte fetch buffer for page-crossing instructions

// Decoded-record layout (32 bytes per instruction) — see decode/decoder.ts.
export const REC: u32 = 32;
