/*
 * sig_altsmall - a handler on an alternate signal stack smaller than the
 * kernel's AT_MINSIGSTKSZ (but above MINSIGSTKSZ, so sigaltstack accepts it
 * and the frame still fits on this machine).  Proves sigdbg's headroom
 * report: bytes left below the frame = frame - ss_sp, and the flag for a
 * stack below AT_MINSIGSTKSZ.
 *
 * usage: sig_altsmall [big]
 *   (none)  ss_size = AT_MINSIGSTKSZ - 256: the x86_64 frame needs about
 *           480 bytes less than AT_MINSIGSTKSZ (which counts the larger ia32
 *           frame and its fsave header), so it fits with little room left
 *   big     ss_size = 4 * AT_MINSIGSTKSZ (comfortable, not flagged)
 *
 * The handler (SA_ONSTACK|SA_SIGINFO, for SIGUSR1 sent by raise) only stores
 * its ucontext pointer: it must not need stack of its own.  main reports
 * afterwards:
 *   SIGDBG-REPORT tag=altsmall altbase altsize ucp minsigstksz
 *     altbase/altsize = what was registered, ucp = the handler's uc argument
 *     (the rt_sigframe starts 8 bytes below it, at its pretcode),
 *     minsigstksz = getauxval(AT_MINSIGSTKSZ)
 * then SIGDBG-DONE, exit 0.
 */
#include "report.h"

#include <stdlib.h>
#include <stdio.h>
#include <sys/auxv.h>

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

static void *volatile g_uc;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	g_uc = uc;
}

int main(int argc, char **argv)
{
	unsigned long min = getauxval(AT_MINSIGSTKSZ);
	unsigned long size;
	struct sigaction sa;
	stack_t ss;
	char *base;

	if (min == 0) {
		fprintf(stderr, "sig_altsmall: no AT_MINSIGSTKSZ in the auxv\n");
		return 1;
	}
	size = argc > 1 && strcmp(argv[1], "big") == 0 ? 4 * min : min - 256;
	base = malloc(size);
	if (!base)
		return 1;
	memset(&ss, 0, sizeof ss);
	ss.ss_sp = base;
	ss.ss_size = size;
	if (sigaltstack(&ss, NULL) != 0) {
		perror("sigaltstack");
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	rep_begin("altsmall");
	rep_hex("altbase", (unsigned long)base);
	rep_hex("altsize", size);
	rep_hex("ucp", (unsigned long)g_uc);
	rep_hex("minsigstksz", min);
	rep_end();
	done();
	return 0;
}
