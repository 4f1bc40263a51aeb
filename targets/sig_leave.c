/*
 * sig_leave - a victim for "leaving never harms the program": a tracer that
 * detaches (Ctrl-C, SIGTERM, `detach`) must lose no signal and leave no
 * debug register armed.
 *
 * usage: sig_leave storm N     count N self-sent SIGUSR1
 *        sig_leave slow        one SIGUSR1 whose handler blocks until told
 *
 * Both first print "SIGDBG-REPORT tag=ready pid=0x<pid>" and wait for one
 * byte on stdin (the test attaches meanwhile).
 *
 * storm: sends itself N SIGUSR1 one at a time with the raw tgkill syscall,
 * each delivered on the return of its own tgkill (as sig_storm), to a
 * handler that counts them.  Untraced the count is exactly N; a signal a
 * tracer drops (e.g. detaching with 0 from its delivery-stop) makes it
 * N - 1.  Prints "SIGDBG-REPORT tag=storm count=0x<count> sent=0x<N>" and
 * SIGDBG-DONE; exits 0 if count == N, else 1.
 *
 * slow: raise(SIGUSR1); the handler reports tag=inhandler, then reads one
 * more byte from stdin (it blocks inside the handler: a tracer stepping to
 * the sigreturn trampoline has its breakpoint on the restorer now) and
 * returns.  After the return: "SIGDBG-REPORT tag=returned", SIGDBG-DONE,
 * exit 0.  A debug register left armed on the restorer kills it with SIGTRAP
 * instead.
 */
#include "report.h"

#include <stdlib.h>
#include <sys/syscall.h>

static volatile unsigned long g_count;

static void count_handler(int sig)
{
	(void)sig;
	g_count++;
}

static void slow_handler(int sig, siginfo_t *si, void *uc)
{
	char b;

	(void)sig;
	(void)uc;
	rep_begin("inhandler");
	rep_siginfo(si);
	rep_end();
	while (read(0, &b, 1) < 0 && errno == EINTR)
		;
}

static int wait_for_go(void)
{
	char b;
	ssize_t n;

	rep_begin("ready");
	rep_hex("pid", (unsigned long)getpid());
	rep_end();
	do
		n = read(0, &b, 1);
	while (n < 0 && errno == EINTR);
	return n == 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pid_t pid = getpid(), tid = gettid();
	unsigned long n, i;

	if (argc < 2 || (strcmp(argv[1], "storm") && strcmp(argv[1], "slow"))) {
		static const char usage[] = "usage: sig_leave storm N | sig_leave slow\n";
		write(2, usage, sizeof usage - 1);
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (strcmp(argv[1], "storm") == 0) {
		n = argc > 2 ? strtoul(argv[2], NULL, 0) : 1000;
		sa.sa_handler = count_handler;
		sigaction(SIGUSR1, &sa, NULL);
		if (!wait_for_go())
			return 2;
		for (i = 0; i < n; i++)
			syscall(SYS_tgkill, pid, tid, SIGUSR1);
		rep_begin("storm");
		rep_hex("count", g_count);
		rep_hex("sent", n);
		rep_end();
		done();
		return g_count == n ? 0 : 1;
	}
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sa.sa_sigaction = slow_handler;
	sigaction(SIGUSR1, &sa, NULL);
	if (!wait_for_go())
		return 2;
	raise(SIGUSR1);
	rep_begin("returned");
	rep_end();
	done();
	return 0;
}
