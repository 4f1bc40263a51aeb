/*
 * sig_exec - a signal handled before execve(), then a new program image.
 * Proves that sigdbg keeps tracing across exec (handlers reset, new
 * executable/maps/auxv) and still decodes signals in the new image.
 *
 * usage: sig_exec [PROG [ARGS...]]
 *
 * raise(SIGUSR1); the SA_SIGINFO handler reports rep_siginfo +
 * rep_ucontext with tag=exec.  Then execv(PROG, [PROG, ARGS...]) (PROG is a
 * path, no PATH search).  If execv fails: message on stderr, exit 127.
 * Without PROG: prints SIGDBG-DONE and exits 0 after the report.
 */
#include "report.h"

#include <stdio.h>

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	rep_begin("exec");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_end();
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);

	if (argc < 2) {
		done();
		return 0;
	}
	execv(argv[1], argv + 1);
	perror("sig_exec: execv");
	return 127;
}
