/*
 * sig_noreturn - handlers that never return, and signals faster than a
 * tracer can step them.
 *
 * Proves: sigdbg follows thousands of handlers left by siglongjmp in a row
 * without running out of stack (the walk is a loop, not a recursion) and
 * says why each walk ended; and a 5 kHz timer under --step-sigreturn does
 * not livelock the program: it does a fixed amount of work and exits with
 * the same output as untraced.  The tests compare traced and untraced runs.
 *
 * usage: sig_noreturn longjmp [N]   raise(SIGUSR1) N times (default 3000);
 *                                   the handler siglongjmp()s out each time.
 *                                   Reports tag=longjmp n=<handler runs>
 *                                   jumps=<siglongjmp returns>.
 *        sig_noreturn nested [N]    the handler of SIGUSR1 raises SIGUSR2
 *                                   (its handler returns normally) and then
 *                                   siglongjmp()s out; N rounds (default
 *                                   1000).  Reports tag=nested usr1= usr2=.
 *        sig_noreturn timer [N]     setitimer(ITIMER_REAL) every 200 us
 *                                   (5 kHz); main computes N rounds
 *                                   (default 3000) of a checksum with a
 *                                   getppid() each round; reports
 *                                   tag=timer sum=<checksum> (the number of
 *                                   ticks depends on timing: not printed).
 *        sig_noreturn posix_timer [N]  the same with timer_create +
 *                                   timer_settime (SIGEV_SIGNAL, SIGALRM).
 *        sig_noreturn pending       SIGUSR1 and SIGUSR2 handlers (SA_SIGINFO,
 *                                   empty sa_mask: SIGUSR2 is deliverable
 *                                   while the SIGUSR1 handler returns);
 *                                   raise(SIGUSR1).  Each handler reports
 *                                   rep_std (tag=usr1 / tag=usr2): a test
 *                                   sends SIGUSR2 while the tracee stands at
 *                                   SIGUSR1's sigreturn system call, so
 *                                   usr2's pc is that instruction.
 * Then SIGDBG-DONE, exit 0.
 */
#include "report.h"

#include <setjmp.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static sigjmp_buf env;
static volatile unsigned long usr1, usr2, ticks;

static void on_usr1_jump(int sig)
{
	(void)sig;
	usr1++;
	siglongjmp(env, 1);
}

static void on_usr1_nested(int sig)
{
	(void)sig;
	usr1++;
	raise(SIGUSR2);
	siglongjmp(env, 1);
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2++;
}

static void on_report(int sig, siginfo_t *si, void *uc)
{
	rep_std(sig == SIGUSR1 ? "usr1" : "usr2", si, uc);
}

static void on_tick(int sig)
{
	(void)sig;
	ticks++;
}

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, 0) != 0)
		_exit(1);
}

static unsigned long work(unsigned long rounds)
{
	unsigned long sum = 0, i, j;

	for (i = 0; i < rounds; i++) {
		for (j = 0; j < 2000; j++)
			sum = sum * 31 + (i ^ j);
		sum += (unsigned long)getppid() * 0;  /* a syscall per round */
	}
	return sum;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "longjmp";
	unsigned long n = argc > 2 ? strtoul(argv[2], 0, 0) : 0;
	volatile unsigned long jumps = 0;

	if (strcmp(mode, "longjmp") == 0 || strcmp(mode, "nested") == 0) {
		int nested = mode[0] == 'n';
		unsigned long i;

		if (!n)
			n = nested ? 1000 : 3000;
		install(SIGUSR1, nested ? on_usr1_nested : on_usr1_jump);
		install(SIGUSR2, on_usr2);
		for (i = 0; i < n; i++) {
			if (sigsetjmp(env, 1) == 0)
				raise(SIGUSR1);
			else
				jumps++;
		}
		rep_begin(mode);
		rep_hex("n", usr1);
		rep_hex("jumps", jumps);
		if (nested)
			rep_hex("usr2", usr2);
		rep_end();
	} else if (strcmp(mode, "timer") == 0 || strcmp(mode, "posix_timer") == 0) {
		struct itimerval it = { { 0, 200 }, { 0, 200 } };
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		timer_t t;
		unsigned long sum;

		if (!n)
			n = 3000;
		install(SIGALRM, on_tick);
		if (mode[0] == 't') {
			if (setitimer(ITIMER_REAL, &it, 0) != 0)
				_exit(1);
		} else {
			struct sigevent sev;
			struct itimerspec its = { { 0, 200000 }, { 0, 200000 } };

			memset(&sev, 0, sizeof(sev));
			sev.sigev_notify = SIGEV_SIGNAL;
			sev.sigev_signo = SIGALRM;
			if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0 ||
			    timer_settime(t, 0, &its, 0) != 0)
				_exit(1);
		}
		sum = work(n);
		if (mode[0] == 't')
			setitimer(ITIMER_REAL, &off, 0);
		else
			timer_delete(t);
		rep_begin(mode);
		rep_hex("sum", sum);
		rep_end();
	} else if (strcmp(mode, "pending") == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_report;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, 0) != 0 || sigaction(SIGUSR2, &sa, 0) != 0)
			_exit(1);
		raise(SIGUSR1);
	} else {
		return 2;
	}
	done();
	return 0;
}
