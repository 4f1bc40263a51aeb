/*
 * sig_storm_threads - sig_storm across 8 threads at once, for the
 * throughput of a tracer that follows threads (strace -f, sigdbg trace -f):
 * many tasks stopping concurrently, each delivery on its own thread's stack.
 *
 * usage: sig_storm_threads [N]      (default N = 1000)
 *
 * Starts 8 pthreads; each sends itself its share of N SIGUSR1 (N / 8, the
 * first N % 8 threads one more) one at a time with the raw tgkill syscall
 * (syscall(SYS_tgkill, pid, gettid(), SIGUSR1)), so each is delivered on the
 * return of its own tgkill, to that thread.  The SA_SIGINFO handler only
 * increments the count of the thread it runs on.  After joining them all,
 * main prints exactly one line
 *     SIGDBG-REPORT tag=storm count=0x<sum of the counts>
 * then SIGDBG-DONE; exits 0 if that sum is N and every thread got exactly
 * its own share, else 1.
 */
#include "report.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>

#define NTHREADS 8

static __thread unsigned long t_count;
static unsigned long g_share[NTHREADS], g_got[NTHREADS];

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	t_count++;
}

static void *worker(void *arg)
{
	long k = (long)arg;
	pid_t pid = getpid(), tid = gettid();

	for (unsigned long i = 0; i < g_share[k]; i++)
		syscall(SYS_tgkill, pid, tid, SIGUSR1);
	g_got[k] = t_count;
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	pthread_t th[NTHREADS];
	unsigned long n = 1000, sum = 0;
	int ok = 1;

	if (argc > 1)
		n = strtoul(argv[1], NULL, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	for (long k = 0; k < NTHREADS; k++)
		g_share[k] = n / NTHREADS + ((unsigned long)k < n % NTHREADS);
	for (long k = 0; k < NTHREADS; k++)
		if (pthread_create(&th[k], NULL, worker, (void *)k) != 0)
			return 2;
	for (int k = 0; k < NTHREADS; k++) {
		pthread_join(th[k], NULL);
		sum += g_got[k];
		ok &= g_got[k] == g_share[k];
	}

	rep_begin("storm");
	rep_hex("count", sum);
	rep_end();
	done();
	return ok && sum == n ? 0 : 1;
}
