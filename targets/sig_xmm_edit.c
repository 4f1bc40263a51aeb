/*
 * sig_xmm_edit - a handler that edits a vector register in its frame.
 *
 * Proves that sigdbg's --step-sigreturn diff reports a 128-bit XMM value the
 * handler wrote into uc_mcontext.fpregs (the frame's FP/XSAVE area), as the
 * documented hex strings in JSON, and that sigreturn hands the edited value
 * to the interrupted code (the kernel restores XMM from the frame).
 *
 * main loads XMM3 with OLD (bytes 0x30..0x3f, i.e. lo=0x3736353433323130
 * hi=0x3f3e3d3c3b3a3938) and, in the same asm block, raises SIGUSR1 with a
 * raw tgkill syscall; right after the syscall returns (after sigreturn) it
 * stores XMM3 to memory.  The SA_SIGINFO handler overwrites fpregs->_xmm[3]
 * with NEW (lo=0x0123456789abcdef hi=0xfedcba9876543210) and reports
 *   SIGDBG-REPORT tag=xmm_edit oldlo oldhi newlo newhi (+ rep_siginfo/ucontext)
 * (oldlo/oldhi: what the kernel saved; newlo/newhi: what it wrote).  Then main
 * reports
 *   SIGDBG-REPORT tag=after lo hi    (XMM3 after sigreturn: must be NEW)
 * prints SIGDBG-DONE and exits 0 (1 if XMM3 is not NEW after the return).
 */
#include "report.h"

#include <stdio.h>
#include <sys/syscall.h>

#define NEW_LO 0x0123456789abcdefUL
#define NEW_HI 0xfedcba9876543210UL

static unsigned char g_old[16] __attribute__((aligned(16)));
static unsigned char g_after[16] __attribute__((aligned(16)));
static volatile sig_atomic_t g_hits;

static unsigned long word(const unsigned char *p)
{
	unsigned long v;
	memcpy(&v, p, 8);
	return v;
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned char *fp = (unsigned char *)uc->uc_mcontext.fpregs;
	unsigned char *x3 = fp + 160 + 16 * 3; /* struct _fpstate_64: _xmm[3] */
	unsigned long lo = NEW_LO, hi = NEW_HI;

	(void)sig;
	rep_begin("xmm_edit");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("oldlo", word(x3));
	rep_hex("oldhi", word(x3 + 8));
	memcpy(x3, &lo, 8);
	memcpy(x3 + 8, &hi, 8);
	rep_hex("newlo", word(x3));
	rep_hex("newhi", word(x3 + 8));
	rep_end();
	g_hits++;
}

int main(void)
{
	struct sigaction sa;
	long rax = SYS_tgkill;
	unsigned i;

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
	if (g_hits != 1 || word(g_after) != NEW_LO || word(g_after + 8) != NEW_HI) {
		fprintf(stderr, "sig_xmm_edit: hits=%d xmm3 not the handler's value\n",
			(int)g_hits);
		return 1;
	}
	done();
	return 0;
}
