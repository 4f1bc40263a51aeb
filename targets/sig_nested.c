/*
 * sig_nested - a handler interrupted by another handler: two rt_sigframes
 * stacked on the same stack.  Proves that sigdbg can walk/decode a frame
 * whose interrupted context is itself a signal handler, and that the inner
 * frame lies below the outer one.
 *
 * usage: sig_nested
 *
 * SIGUSR1 handler (sa_mask empty, so SIGUSR2 is not blocked) reports
 * tag=outer, then raise(SIGUSR2) from inside itself; the SIGUSR2 handler
 * reports tag=inner and returns, then the outer handler returns.
 * Both lines carry rep_siginfo + rep_ucontext; the outer line additionally
 * has depth=0x1 and the inner one depth=0x2 (handler nesting level), and
 * inner's mask has SIGUSR1 (bit 9) set = 0x200.  Output order: outer, inner,
 * SIGDBG-DONE; exits 0.
 */
#include "report.h"

#include <stdio.h>

static volatile sig_atomic_t g_depth, g_outer, g_inner;

static void inner(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	g_depth++;
	rep_begin("inner");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("depth", (unsigned long)g_depth);
	rep_end();
	g_inner++;
	g_depth--;
}

static void outer(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	g_depth++;
	rep_begin("outer");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("depth", (unsigned long)g_depth);
	rep_end();
	raise(SIGUSR2);
	g_outer++;
	g_depth--;
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = outer;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = inner;
	sigaction(SIGUSR2, &sa, NULL);

	raise(SIGUSR1);
	if (g_outer != 1 || g_inner != 1) {
		fprintf(stderr, "sig_nested: outer=%d inner=%d\n",
			(int)g_outer, (int)g_inner);
		return 1;
	}
	done();
	return 0;
}
