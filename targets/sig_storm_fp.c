/*
 * sig_storm_fp - sig_storm with FP and vector registers that change on every
 * signal, for the throughput of a tracer that decodes the frame's XSAVE area
 * (no two frames carry the same FP state, so nothing decoded from one can be
 * reused for the next).
 *
 * usage: sig_storm_fp [N]      (default N = 1000)
 *
 * For signal i (0 <= i < N), one asm block loads every vector register the
 * CPU has from a 64-byte image per register whose 8-byte words are
 * i * 0x0101010101010101 + (register number << 8) + word index -- ZMM0-31 and
 * the opmask registers K1-K7 (= i + k) with AVX-512F, else YMM0-15 with AVX,
 * else XMM0-15 -- pushes i onto the x87 stack (fild), and does a raw
 * `syscall` tgkill(self, SIGUSR1), so the signal is delivered on that
 * syscall's return with all of it live in the frame; then pops the x87
 * stack.  The SA_SIGINFO handler only increments a counter.  At the end
 * prints exactly one line
 *     SIGDBG-REPORT tag=storm count=0x<N> isa=<0 sse, 1 avx, 2 avx512f>
 * then SIGDBG-DONE; exits 0 if count == N, else 1.
 */
#include "report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

static volatile unsigned long g_count;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	g_count++;
}

#define CLOBBER_XMM "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

static long tgkill_with(int isa, const uint64_t *img, const uint64_t *kimg, long long x87,
			long pid, long tid)
{
	long ret = SYS_tgkill;

	if (isa == 2) {
		__asm__ volatile(
#define Z(n) "vmovdqu64 " #n "*64(%[img]), %%zmm" #n "\n\t"
			Z(0) Z(1) Z(2) Z(3) Z(4) Z(5) Z(6) Z(7) Z(8) Z(9) Z(10) Z(11) Z(12)
			Z(13) Z(14) Z(15) Z(16) Z(17) Z(18) Z(19) Z(20) Z(21) Z(22) Z(23)
			Z(24) Z(25) Z(26) Z(27) Z(28) Z(29) Z(30) Z(31)
#undef Z
#define K(n) "kmovq " #n "*8-8(%[kimg]), %%k" #n "\n\t"
			K(1) K(2) K(3) K(4) K(5) K(6) K(7)
#undef K
			"fildq %[x87]\n\t"
			"syscall\n\t"
			"fstp %%st(0)\n\t"
			"vzeroupper\n\t"
			: "+a"(ret)
			: "D"(pid), "S"(tid), "d"((long)SIGUSR1), [img] "r"(img), [kimg] "r"(kimg),
			  [x87] "m"(x87)
			: "rcx", "r11", "memory", CLOBBER_XMM);
	} else if (isa == 1) {
		__asm__ volatile(
#define Y(n) "vmovdqu " #n "*64(%[img]), %%ymm" #n "\n\t"
			Y(0) Y(1) Y(2) Y(3) Y(4) Y(5) Y(6) Y(7) Y(8) Y(9) Y(10) Y(11) Y(12)
			Y(13) Y(14) Y(15)
#undef Y
			"fildq %[x87]\n\t"
			"syscall\n\t"
			"fstp %%st(0)\n\t"
			"vzeroupper\n\t"
			: "+a"(ret)
			: "D"(pid), "S"(tid), "d"((long)SIGUSR1), [img] "r"(img), [x87] "m"(x87)
			: "rcx", "r11", "memory", CLOBBER_XMM);
	} else {
		__asm__ volatile(
#define X(n) "movdqu " #n "*64(%[img]), %%xmm" #n "\n\t"
			X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
			X(13) X(14) X(15)
#undef X
			"fildq %[x87]\n\t"
			"syscall\n\t"
			"fstp %%st(0)\n\t"
			: "+a"(ret)
			: "D"(pid), "S"(tid), "d"((long)SIGUSR1), [img] "r"(img), [x87] "m"(x87)
			: "rcx", "r11", "memory", CLOBBER_XMM);
	}
	return ret;
}

int main(int argc, char **argv)
{
	static uint64_t img[32 * 8] __attribute__((aligned(64)));
	uint64_t kimg[7];
	struct sigaction sa;
	unsigned long n = 1000, i;
	pid_t pid = getpid(), tid = gettid();
	int isa;

	__builtin_cpu_init();
	isa = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx") ? 1 : 0;
	if (argc > 1)
		n = strtoul(argv[1], NULL, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	for (i = 0; i < n; i++) {
		for (int r = 0; r < 32; r++)
			for (int w = 0; w < 8; w++)
				img[r * 8 + w] = i * 0x0101010101010101ULL + ((uint64_t)r << 8) + w;
		for (int k = 0; k < 7; k++)
			kimg[k] = i + k + 1;
		tgkill_with(isa, img, kimg, (long long)i, pid, tid);
	}

	rep_begin("storm");
	rep_hex("count", g_count);
	rep_hex("isa", (unsigned long)isa);
	rep_end();
	done();
	return g_count == n ? 0 : 1;
}
