/*
 * sig_storm.i386 - many signals in a row to a 32-bit task.
 *
 * Proves: sigdbg keeps up with a long series of ia32 signal deliveries and
 * sigreturns (each delivery builds and tears down an rt_sigframe_ia32) without
 * losing or duplicating any: the handler only counts, and the single report at
 * the end must say count == N.
 *
 * Usage: sig_storm.i386 [N]   (default N = 100)
 *   N times tgkill(getpid(), gettid(), SIGUSR1); the SA_SIGINFO handler
 *   (rt_sigaction, no SA_RESTORER -> vDSO __kernel_rt_sigreturn) increments a
 *   counter.  Each signal is delivered on return from its own tgkill, so they
 *   never coalesce.
 * Output: SIGDBG-REPORT tag=storm count=0x<handler runs> n=0x<N>
 *         SIGDBG-DONE
 */
#include "sys32.h"

static volatile u32 count;

static void h_count(int sig, compat_siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	count++;
}

int main(int argc, char **argv, char **envp)
{
	u32 n = 100, i;
	int pid, tid;
	struct report r;

	(void)envp;
	if (argc > 1)
		n = sys32_parse_u32(argv[1]);
	sys32_check(sys32_set_handler(SIGUSR1, h_count, SA_SIGINFO, 0, 0), "rt_sigaction");
	pid = sys_getpid();
	tid = sys_gettid();
	for (i = 0; i < n; i++)
		sys32_check(sys_tgkill(pid, tid, SIGUSR1), "tgkill");

	rep_begin(&r, "storm");
	rep_kv(&r, "count", count);
	rep_kv(&r, "n", n);
	rep_end(&r);
	sys32_done();
	return 0;
}
