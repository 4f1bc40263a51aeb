/*
 * sig_fork - signals in a parent and in its forked children (SIGCHLD in the
 * parent, SIGUSR1 in each child).  Proves that sigdbg follows children
 * (-f) and decodes SIGCHLD siginfo (pid, status, utime, stime).
 *
 * usage: sig_fork
 *
 * The parent installs SA_SIGINFO handlers for SIGCHLD and SIGUSR1 (the
 * children inherit them), blocks SIGCHLD, and then twice: forks a child,
 * waits for its SIGCHLD with sigsuspend, reaps it with waitpid, and only
 * then forks the next.  Child k (k = 1, 2) does raise(SIGUSR1) (handler
 * reports tag=child with pid = its own pid; its mask is 0x10000 because
 * SIGCHLD is still blocked, inherited from the parent) and then
 * _exit(2 + k), i.e. statuses 3 and 4.  The parent's SIGCHLD handler reports tag=chld (code
 * CLD_EXITED, pid = the child, status 3 then 4; mask = the pre-sigsuspend
 * mask with SIGCHLD blocked, 0x10000).  After reaping, the parent prints
 *     SIGDBG-REPORT tag=reaped child=<pid> wstatus=<waitpid status>
 * All reports are rep_siginfo + rep_ucontext.  Order: child, chld, reaped,
 * child, chld, reaped, SIGDBG-DONE; exits 0.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static volatile sig_atomic_t g_chld;

static void handler(int sig, siginfo_t *si, void *uc)
{
	rep_begin(sig == SIGCHLD ? "chld" : "child");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_end();
	if (sig == SIGCHLD)
		g_chld++;
}

int main(void)
{
	struct sigaction sa;
	sigset_t block, old, wait;
	int k;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	wait = old;
	sigdelset(&wait, SIGCHLD);

	for (k = 1; k <= 2; k++) {
		int st;
		pid_t pid;

		g_chld = 0;
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			raise(SIGUSR1);
			_exit(2 + k);
		}
		while (!g_chld)
			sigsuspend(&wait);
		if (waitpid(pid, &st, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		rep_begin("reaped");
		rep_hex("child", (unsigned long)pid);
		rep_hex("wstatus", (unsigned long)st);
		rep_end();
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	done();
	return 0;
}
