/*
 * sig_stepmix - a signal storm whose handlers now and then do what the
 * sigreturn walk of --step-sigreturn must not take for a plain return: the
 * C trace loop follows the plain ones with templates, and must hand every
 * other one back to the Python walk at the point it parts from the plain
 * walk (engine/faststep.py).  Deterministic: the same deliveries in the
 * same order every run.
 *
 * usage: sig_stepmix N [END]      (default N = 200, END = return)
 *
 * Sends itself N SIGUSR1 with the raw tgkill syscall, one at a time.  The
 * handler of the i-th (from 0):
 *   i % 7 == 3    edits the saved context (unless it leaves by siglongjmp,
 *                 below): r11 (which the syscall instruction clobbers
 *                 anyway) = 0x5eed0000 + i, so the frame at sigreturn
 *                 differs from the frame at entry;
 *   i % 11 == 5   sends itself SIGUSR2 (a nested delivery while the handler
 *                 runs; the SIGUSR2 handler counts);
 *   i % 13 == 8   leaves with siglongjmp (no sigreturn);
 *   else          returns.
 * The last signal's handler then ends the program by END: "return" (the
 * program reports and exits 0), "exit" (_exit(0) inside the handler) or
 * "fault" (a store to address 0: SIGSEGV, default action, inside the
 * handler).  Before a normal end it prints
 *     SIGDBG-REPORT tag=stepmix count=0x<N> nested=0x<SIGUSR2 handled>
 *                   edited=0x<edits> jumped=0x<siglongjmps>
 * then SIGDBG-DONE.
 */
#define _GNU_SOURCE
#include "report.h"

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

static volatile unsigned long g_count, g_nested, g_edited, g_jumped, g_n;
static volatile int g_end;  /* 0 return, 1 exit, 2 fault */
static sigjmp_buf g_jmp;
static pid_t g_pid, g_tid;

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	g_nested++;
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned long i = g_count++;

	(void)sig; (void)si;
	if (i + 1 == g_n && g_end == 1)
		_exit(0);
	if (i + 1 == g_n && g_end == 2)
		*(volatile int *)0 = 1;
	if (i % 7 == 3 && i % 13 != 8) {
		uc->uc_mcontext.gregs[REG_R11] = (greg_t)(0x5eed0000UL + i);
		g_edited++;
	}
	if (i % 11 == 5)
		syscall(SYS_tgkill, g_pid, g_tid, SIGUSR2);
	if (i % 13 == 8) {
		g_jumped++;
		siglongjmp(g_jmp, 1);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	unsigned long i;

	g_n = argc > 1 ? strtoul(argv[1], NULL, 0) : 200;
	if (argc > 2)
		g_end = !strcmp(argv[2], "exit") ? 1 : !strcmp(argv[2], "fault") ? 2 : 0;
	g_pid = getpid();
	g_tid = gettid();
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_sigaction = handler;
	sigaction(SIGUSR1, &sa, NULL);

	for (i = 0; i < g_n; i++) {
		/* a siglongjmp lands here, SIGUSR1 unblocked again (savemask) */
		if (sigsetjmp(g_jmp, 1) == 0)
			syscall(SYS_tgkill, g_pid, g_tid, SIGUSR1);
	}

	rep_begin("stepmix");
	rep_hex("count", g_count);
	rep_hex("nested", g_nested);
	rep_hex("edited", g_edited);
	rep_hex("jumped", g_jumped);
	rep_end();
	done();
	return g_count == g_n ? 0 : 1;
}
