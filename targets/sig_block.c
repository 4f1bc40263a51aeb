/*
 * sig_block - a signal handler that never returns.  Used to test
 * interrupting (Ctrl-C / PTRACE_INTERRUPT / detach) a tracee that is stuck
 * inside a handler, with its frame still live on the stack.
 *
 * usage: sig_block
 *
 * Installs an SA_SIGINFO handler for SIGUSR1 whose sa_mask blocks every
 * signal, then raise(SIGUSR1).  The handler first reports rep_siginfo +
 * rep_ucontext with tag=blocking, then loops `for (;;) pause();` forever
 * (only SIGKILL/SIGSTOP, which cannot be blocked, can end or stop it).
 * Never prints SIGDBG-DONE and never exits by itself.
 */
#include "report.h"

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	rep_begin("blocking");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_end();
	for (;;)
		pause();
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	return 1; /* not reached */
}
