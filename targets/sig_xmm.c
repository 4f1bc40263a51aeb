/*
 * sig_xmm - vector register state saved in the signal frame's FP/XSAVE
 * area.  Proves that sigdbg decodes XMM0-15, MXCSR and (with AVX) the
 * YMM_Hi128 component from the frame exactly as the interrupted code had
 * them.
 *
 * usage: sig_xmm [sse|avx]
 *   (no argument or `avx`: use AVX if the CPU has it; `sse`: force the
 *   XMM-only path, reported as avx=0x0, e.g. to test a frame without YMM
 *   data.  `avx` and `sse` have the same length, so with ASLR off both runs
 *   put the frame at the same address.)
 *
 * Register pattern (n = register number 0..15, i = byte index 0..15,
 * little-endian byte i of the register):
 *     XMMn byte i                  = (n << 4) | i
 *     upper half of YMMn, byte i   = 0xff ^ ((n << 4) | i)
 *     MXCSR                        = 0x9f80 (default 0x1f80 + FZ bit 15)
 * so as 64-bit little-endian words:
 *     xmm0lo  0x0706050403020100   xmm0hi  0x0f0e0d0c0b0a0908
 *     xmm15lo 0xf7f6f5f4f3f2f1f0   xmm15hi 0xfffefdfcfbfaf9f8
 *     ymm0uplo  0xf8f9fafbfcfdfeff ymm0uphi  0xf0f1f2f3f4f5f6f7
 *     ymm15uplo 0x08090a0b0c0d0e0f ymm15uphi 0x0001020304050607
 * (the xmm and ymm-upper patterns never agree at any byte position).
 *
 * One asm block loads all 16 registers (vmovdqu of a 32-byte image per
 * register when the CPU has AVX, else movdqu of the 16-byte XMM image),
 * loads MXCSR, and immediately does a raw `syscall` tgkill(self, SIGUSR1), so
 * the signal is delivered on that syscall's return with the pattern live.
 *
 * The SA_SIGINFO handler reports rep_siginfo + rep_ucontext with tag=xmm
 * plus, read through uc_mcontext.fpregs (= fpstate):
 *   avx        1 if AVX was used (__builtin_cpu_supports("avx")), else 0
 *   xmm0lo xmm0hi xmm15lo xmm15hi    the 64-bit halves (fpstate+160+16n)
 *   mxcsr      fpstate+24 (expect 0x9f80)
 *   only with avx=1:
 *   xstate_bv  XSAVE header word at fpstate+512 (bit 2 set)
 *   ymmoff     CPUID.(0xD,2).EBX, offset of YMM_Hi128 in the XSAVE area
 *   ymm0uplo ymm0uphi ymm15uplo ymm15uphi   fpstate+ymmoff+16n
 *   always:
 *   match      1 if every XMM (and, with avx, every YMM upper half) in the
 *              frame equals the pattern, else 0
 * Prints SIGDBG-DONE, exits 0 (exits 1 if match is 0).
 *
 * SIGDBG_XMM_STALE=XX (two hex digits) in the environment first fills 16 KiB
 * of stack below main's frame with the byte XX.  The kernel's XSAVE leaves
 * components in their init state unwritten (xstate_bv bit clear), so those
 * bytes of the frame's FP area stay whatever the stack held: two runs that
 * differ only in XX have equal registers but different FP-area bytes.
 */
#include "report.h"

#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

#ifndef FP_XSTATE_MAGIC1
#define FP_XSTATE_MAGIC1 0x46505853u
#endif

static unsigned char g_pat[16][32] __attribute__((aligned(32)));
static unsigned int g_mxcsr = 0x9f80;
static volatile int g_avx;
static volatile unsigned g_ymmoff;
static volatile sig_atomic_t g_hits, g_match;

static unsigned long word(const unsigned char *p)
{
	unsigned long v;
	memcpy(&v, p, 8);
	return v;
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	const unsigned char *fp = (const unsigned char *)uc->uc_mcontext.fpregs;
	int match = fp != NULL;
	unsigned mxcsr = 0;

	(void)sig;
	rep_begin("xmm");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("avx", (unsigned long)g_avx);
	if (fp) {
		unsigned n;
		memcpy(&mxcsr, fp + 24, 4);
		rep_hex("xmm0lo", word(fp + 160));
		rep_hex("xmm0hi", word(fp + 168));
		rep_hex("xmm15lo", word(fp + 160 + 16 * 15));
		rep_hex("xmm15hi", word(fp + 168 + 16 * 15));
		rep_hex("mxcsr", mxcsr);
		for (n = 0; n < 16; n++)
			if (memcmp(fp + 160 + 16 * n, g_pat[n], 16) != 0)
				match = 0;
		if (mxcsr != g_mxcsr)
			match = 0;
		if (g_avx) {
			unsigned magic1, off = g_ymmoff;
			unsigned long bv = word(fp + 512);
			memcpy(&magic1, fp + 464, 4);
			rep_hex("xstate_bv", bv);
			rep_hex("ymmoff", off);
			if (magic1 != FP_XSTATE_MAGIC1 || !(bv & 4)) {
				match = 0;
			} else {
				rep_hex("ymm0uplo", word(fp + off));
				rep_hex("ymm0uphi", word(fp + off + 8));
				rep_hex("ymm15uplo", word(fp + off + 16 * 15));
				rep_hex("ymm15uphi", word(fp + off + 16 * 15 + 8));
				for (n = 0; n < 16; n++)
					if (memcmp(fp + off + 16 * n,
						   g_pat[n] + 16, 16) != 0)
						match = 0;
			}
		}
	}
	rep_hex("match", (unsigned long)match);
	rep_end();
	g_match = match;
	g_hits++;
}

#define LOAD16(insn, reg, stride)                                       \
	insn " 0*" stride "(%[p]), %%" reg "0\n\t"                      \
	insn " 1*" stride "(%[p]), %%" reg "1\n\t"                      \
	insn " 2*" stride "(%[p]), %%" reg "2\n\t"                      \
	insn " 3*" stride "(%[p]), %%" reg "3\n\t"                      \
	insn " 4*" stride "(%[p]), %%" reg "4\n\t"                      \
	insn " 5*" stride "(%[p]), %%" reg "5\n\t"                      \
	insn " 6*" stride "(%[p]), %%" reg "6\n\t"                      \
	insn " 7*" stride "(%[p]), %%" reg "7\n\t"                      \
	insn " 8*" stride "(%[p]), %%" reg "8\n\t"                      \
	insn " 9*" stride "(%[p]), %%" reg "9\n\t"                      \
	insn " 10*" stride "(%[p]), %%" reg "10\n\t"                    \
	insn " 11*" stride "(%[p]), %%" reg "11\n\t"                    \
	insn " 12*" stride "(%[p]), %%" reg "12\n\t"                    \
	insn " 13*" stride "(%[p]), %%" reg "13\n\t"                    \
	insn " 14*" stride "(%[p]), %%" reg "14\n\t"                    \
	insn " 15*" stride "(%[p]), %%" reg "15\n\t"

#define VCLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", \
	"xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", \
	"xmm15"

__attribute__((target("avx"), noinline)) static void fire_avx(long pid, long tid)
{
	long rax = SYS_tgkill;
	unsigned int saved;
	asm volatile("stmxcsr %[saved]\n\t"
		     LOAD16("vmovdqu", "ymm", "32")
		     "ldmxcsr %[mx]\n\t"
		     "syscall\n\t"
		     "ldmxcsr %[saved]\n\t"
		     "vzeroupper\n\t"
		     : "+a"(rax), [saved] "=m"(saved)
		     : [p] "r"(g_pat), [mx] "m"(g_mxcsr),
		       "D"(pid), "S"(tid), "d"((long)SIGUSR1)
		     : "rcx", "r11", "memory", VCLOBBERS);
}

__attribute__((noinline)) static void fire_sse(long pid, long tid)
{
	long rax = SYS_tgkill;
	unsigned int saved;
	asm volatile("stmxcsr %[saved]\n\t"
		     LOAD16("movdqu", "xmm", "32")
		     "ldmxcsr %[mx]\n\t"
		     "syscall\n\t"
		     "ldmxcsr %[saved]\n\t"
		     : "+a"(rax), [saved] "=m"(saved)
		     : [p] "r"(g_pat), [mx] "m"(g_mxcsr),
		       "D"(pid), "S"(tid), "d"((long)SIGUSR1)
		     : "rcx", "r11", "memory", VCLOBBERS);
}

__attribute__((noinline)) static void fill_stack(int byte)
{
	unsigned char buf[16384];
	memset(buf, byte, sizeof buf);
	__asm__ volatile("" : : "r"(buf) : "memory");
}

int main(int argc, char **argv)
{
	const char *stale = getenv("SIGDBG_XMM_STALE");

	struct sigaction sa;
	unsigned n, i;

	for (n = 0; n < 16; n++)
		for (i = 0; i < 16; i++) {
			g_pat[n][i] = (unsigned char)((n << 4) | i);
			g_pat[n][16 + i] = (unsigned char)(0xff ^ ((n << 4) | i));
		}
	g_avx = __builtin_cpu_supports("avx") ? 1 : 0;
	if (argc > 1) {
		if (strcmp(argv[1], "sse") == 0) {
			g_avx = 0;
		} else if (strcmp(argv[1], "avx") != 0) {
			fprintf(stderr, "sig_xmm: unknown scenario %s\n", argv[1]);
			return 2;
		}
	}
	if (g_avx) {
		unsigned a, b, c, d;
		__cpuid_count(0xd, 2, a, b, c, d);
		(void)a; (void)c; (void)d;
		g_ymmoff = b;
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	if (stale)
		fill_stack((int)strtol(stale, NULL, 16));
	if (g_avx)
		fire_avx(getpid(), gettid());
	else
		fire_sse(getpid(), gettid());

	if (g_hits != 1 || !g_match) {
		fprintf(stderr, "sig_xmm: hits=%d match=%d\n", (int)g_hits,
			(int)g_match);
		return 1;
	}
	done();
	return 0;
}
