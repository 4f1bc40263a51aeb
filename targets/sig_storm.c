/*
 * sig_storm - many back-to-back signal deliveries with a trivial handler,
 * for throughput benchmarks of a tracer (each delivery costs the tracer a
 * signal-delivery-stop) and for checking that none is lost or duplicated.
 *
 * usage: sig_storm [N]      (default N = 1000)
 *
 * Sends itself N SIGUSR1, one at a time, with the raw tgkill syscall
 * (syscall(SYS_tgkill, pid, tid, SIGUSR1)); each one is delivered on the
 * return of its own tgkill.  The SA_SIGINFO handler only increments a
 * counter (no per-signal report).  At the end prints exactly one line
 *     SIGDBG-REPORT tag=storm count=0x<N>
 * then SIGDBG-DONE; exits 0 if count == N, else 1.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

static volatile unsigned long g_count;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	g_count++;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	unsigned long n = 1000, i;
	pid_t pid = getpid(), tid = gettid();

	if (argc > 1)
		n = strtoul(argv[1], NULL, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	for (i = 0; i < n; i++)
		syscall(SYS_tgkill, pid, tid, SIGUSR1);

	rep_begin("storm");
	rep_hex("count", g_count);
	rep_end();
	done();
	return g_count == n ? 0 : 1;
}
