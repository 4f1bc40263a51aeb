/*
 * sig_xstate_bad - a handler that corrupts the XSAVE area of its own frame
 * (kernel selftest style: tools/testing/selftests/x86 corrupt_xstate_header):
 * the sigreturn that follows is the kernel's to judge, and a tracer must
 * change nothing about its outcome, nor choke on decoding the frame.
 *
 * usage: sig_xstate_bad MODE     MODE is one of
 *   magic1     clear fpstate->sw_reserved.magic1 (FP_XSTATE_MAGIC1)
 *   magic2     clear the FP_XSTATE_MAGIC2 word after the xstate
 *   bv         set bit 63 (reserved) of the XSAVE header's xstate_bv
 *   xcomp      set bit 63 of the XSAVE header's xcomp_bv (compacted form)
 *
 * main loads XMM3 with OLD (bytes 0x30..0x3f) and raises SIGUSR1 with a raw
 * tgkill; the SA_SIGINFO handler writes NEW into fpregs->_xmm[3] (in the
 * legacy FXSAVE part of the frame, which every restore path reads), then
 * corrupts the frame as MODE says and reports
 *   SIGDBG-REPORT tag=corrupt uc_flags=.. magic1=.. xstate_size=..
 *                 xstate_bv=.. xcomp_bv=.. (values before the corruption)
 * After the sigreturn main reports "SIGDBG-REPORT tag=after lo hi" (XMM3),
 * SIGDBG-DONE, and exits 0.
 *
 * What the kernel does (arch/x86/kernel/fpu/signal.c __fpu_restore_sig,
 * check_xstate_in_sigframe): a bad magic1 or magic2 makes it restore only
 * the legacy FXSAVE area (fx_only), so the program goes on with XMM3 = NEW;
 * a reserved xstate_bv bit or a non-zero xcomp_bv makes XRSTOR fault (#GP),
 * the sigreturn fails and the task gets SIGSEGV (signal_fault): the program
 * dies of SIGSEGV before "after".  Without XSAVE frames (no UC_FP_XSTATE)
 * the handler reports uc_flags and corrupts nothing.
 */
#include "report.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>

#define NEW_LO 0x0123456789abcdefUL
#define NEW_HI 0xfedcba9876543210UL
#define FP_XSTATE_MAGIC1 0x46505853U
#define UC_FP_XSTATE 0x1

/* struct _fpstate_64 (arch/x86/include/uapi/asm/sigcontext.h): _xmm[16] at
 * 160, sw_reserved (struct _fpx_sw_bytes: magic1, extended_size, xfeatures,
 * xstate_size) at 464; the XSAVE header (xstate_bv, xcomp_bv) at 512 */
#define XMM3_OFF (160 + 16 * 3)
#define MAGIC1_OFF 464
#define XSTATE_SIZE_OFF 480
#define XSTATE_BV_OFF 512
#define XCOMP_BV_OFF 520

static unsigned char g_old[16] __attribute__((aligned(16)));
static unsigned char g_after[16] __attribute__((aligned(16)));
static const char *g_mode;

static uint64_t word(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint32_t word32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
	uint64_t lo = NEW_LO, hi = NEW_HI, bit63 = 1UL << 63, v;
	uint32_t zero = 0, size = word32(fp + XSTATE_SIZE_OFF);
	int xsave = (uc->uc_flags & UC_FP_XSTATE) && word32(fp + MAGIC1_OFF) == FP_XSTATE_MAGIC1;

	(void)sig;
	rep_begin("corrupt");
	rep_siginfo(si);
	rep_hex("uc_flags", uc->uc_flags);
	rep_hex("magic1", word32(fp + MAGIC1_OFF));
	rep_hex("xstate_size", size);
	rep_hex("xstate_bv", word(fp + XSTATE_BV_OFF));
	rep_hex("xcomp_bv", word(fp + XCOMP_BV_OFF));
	rep_end();
	memcpy(fp + XMM3_OFF, &lo, 8);
	memcpy(fp + XMM3_OFF + 8, &hi, 8);
	if (!xsave)
		return;
	if (strcmp(g_mode, "magic1") == 0) {
		memcpy(fp + MAGIC1_OFF, &zero, 4);
	} else if (strcmp(g_mode, "magic2") == 0) {
		memcpy(fp + size, &zero, 4);
	} else if (strcmp(g_mode, "bv") == 0) {
		v = word(fp + XSTATE_BV_OFF) | bit63;
		memcpy(fp + XSTATE_BV_OFF, &v, 8);
	} else {
		v = word(fp + XCOMP_BV_OFF) | bit63;
		memcpy(fp + XCOMP_BV_OFF, &v, 8);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	long rax = SYS_tgkill;
	unsigned i;

	if (argc != 2 || (strcmp(argv[1], "magic1") && strcmp(argv[1], "magic2") &&
			  strcmp(argv[1], "bv") && strcmp(argv[1], "xcomp"))) {
		fprintf(stderr, "usage: sig_xstate_bad magic1|magic2|bv|xcomp\n");
		return 2;
	}
	g_mode = argv[1];
	for (i = 0; i < 16; i++)
		g_old[i] = (unsigned char)(0x30 | i);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	asm volatile("movdqu %[old], %%xmm3\n\t"
		     "syscall\n\t"
		     "movdqu %%xmm3, %[after]\n\t"
		     : "+a"(rax), [after] "=m"(g_after)
		     : [old] "m"(g_old), "D"((long)getpid()), "S"((long)gettid()),
		       "d"((long)SIGUSR1)
		     : "rcx", "r11", "memory", "xmm3");

	rep_begin("after");
	rep_hex("lo", word(g_after));
	rep_hex("hi", word(g_after + 8));
	rep_end();
	done();
	return 0;
}
