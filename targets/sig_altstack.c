/*
 * sig_altstack - delivery on an alternate signal stack (sigaltstack +
 * SA_ONSTACK).  Proves that sigdbg finds the frame at the top of the
 * registered stack rather than below the interrupted rsp, and decodes
 * uc_stack (which holds the *registered* altstack, never SS_ONSTACK).
 *
 * usage: sig_altstack [SCENARIO]   (no argument: both, in order)
 *
 *   onstack     64 KiB malloc'd altstack, flags 0; SA_ONSTACK|SA_SIGINFO
 *               handler for SIGUSR1; raise(SIGUSR1).
 *               Expect ss_sp = altbase, ss_flags 0, ss_size = altsize, and
 *               ucp/infop inside [altbase, altbase+altsize).
 *   autodisarm  the same but registered with SS_AUTODISARM (1u<<31):
 *               ss_flags = 0x80000000 in the frame; while the handler runs the
 *               altstack is disarmed, so curflags = SS_DISABLE (2).
 *
 * The handler reports rep_siginfo + rep_ucontext (tag = scenario) plus
 *   altbase   the ss_sp registered with sigaltstack
 *   altsize   the ss_size registered (0x10000)
 *   onstack   1 if a local variable of the handler lies inside the altstack
 *   curflags  ss_flags returned by sigaltstack(NULL, &cur) inside the
 *             handler (onstack: SS_ONSTACK = 1; autodisarm: SS_DISABLE = 2)
 * After each scenario the altstack is disabled again.  Prints SIGDBG-DONE,
 * exits 0.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31)
#endif

#define ALTSIZE (64 * 1024)

static const char *volatile g_tag = "?";
static char *volatile g_base;
static volatile sig_atomic_t g_hits;

static void handler(int sig, siginfo_t *si, void *uc)
{
	volatile char local = 0;
	unsigned long a = (unsigned long)&local, b = (unsigned long)g_base;
	stack_t cur;

	(void)sig;
	memset(&cur, 0, sizeof cur);
	sigaltstack(NULL, &cur);
	rep_begin(g_tag);
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("altbase", b);
	rep_hex("altsize", ALTSIZE);
	rep_hex("onstack", a >= b && a < b + ALTSIZE);
	rep_hex("curflags", (unsigned long)(unsigned)cur.ss_flags);
	rep_end();
	g_hits++;
}

static void run(int flags)
{
	struct sigaction sa;
	stack_t ss;

	g_base = malloc(ALTSIZE);
	if (!g_base) {
		perror("malloc");
		exit(1);
	}
	memset(&ss, 0, sizeof ss);
	ss.ss_sp = g_base;
	ss.ss_size = ALTSIZE;
	ss.ss_flags = flags;
	if (sigaltstack(&ss, NULL) != 0) {
		perror("sigaltstack");
		exit(1);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	raise(SIGUSR1);

	memset(&ss, 0, sizeof ss);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	free(g_base);
	g_base = NULL;
}

static void sc_onstack(void) { run(0); }
static void sc_autodisarm(void) { run((int)SS_AUTODISARM); }

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	{ "onstack", sc_onstack },
	{ "autodisarm", sc_autodisarm },
};
#define NSC (sizeof scenarios / sizeof scenarios[0])

int main(int argc, char **argv)
{
	unsigned i;

	for (i = 0; i < NSC; i++) {
		if (argc > 1 && strcmp(argv[1], scenarios[i].name) != 0)
			continue;
		g_tag = scenarios[i].name;
		g_hits = 0;
		scenarios[i].fn();
		if (!g_hits) {
			fprintf(stderr, "sig_altstack: %s: no signal\n", g_tag);
			return 1;
		}
		if (argc > 1)
			break;
	}
	if (argc > 1 && i == NSC) {
		fprintf(stderr, "sig_altstack: unknown scenario %s\n", argv[1]);
		return 2;
	}
	done();
	return 0;
}
