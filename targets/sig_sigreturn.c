/*
 * sig_sigreturn - ways out of a signal handler, for stepping a tracee
 * through the restorer and rt_sigreturn (and through the cases that never
 * reach it).  Proves that sigdbg follows the return path correctly: normal
 * return, return with a handler-edited rip, siglongjmp (no sigreturn),
 * _exit inside the handler, and a second signal that becomes deliverable at
 * rt_sigreturn itself.
 *
 * usage: sig_sigreturn [SCENARIO]   (no argument: every scenario except
 *                                    exit_in_handler, in order)
 *
 *   plain          raise(SIGUSR1); minimal handler reports tag=plain and
 *                  returns through glibc's __restore_rt.
 *   skip_segv      store to 0x10 (movl %eax,(%reg) inside an asm block);
 *                  SIGSEGV handler reports tag=skip_segv with pc = faulting
 *                  rip and resume = the rip it writes into the ucontext
 *                  (the next instruction), then returns; execution continues
 *                  at resume.
 *   longjmp        sigsetjmp(env, 1); raise(SIGUSR1); handler reports
 *                  tag=longjmp and siglongjmp()s out (rt_sigreturn never
 *                  runs; the mask is restored by siglongjmp).  Then
 *                  raise(SIGUSR1) again: the handler reports tag=after and
 *                  returns normally (mask 0 again proves the first exit
 *                  restored it).
 *   exit_in_handler  raise(SIGUSR1); handler reports tag=exit_in_handler and
 *                  calls _exit(3): exit status 3, no SIGDBG-DONE.
 *   nested_in_trampoline  SIGUSR1 handler with SIGUSR2 in its sa_mask reports
 *                  tag=first, then raise(SIGUSR2): SIGUSR2 stays pending
 *                  until rt_sigreturn restores the mask, so it is delivered
 *                  right at the exit of rt_sigreturn (after the trampoline).
 *                  Its handler reports tag=second; second's pc/sp equal
 *                  first's pc/sp (the context rt_sigreturn had restored) and
 *                  its mask is 0.
 *
 * Every report is rep_siginfo + rep_ucontext (+ resume for skip_segv).
 * Prints SIGDBG-DONE and exits 0 unless stated.
 */
#include "report.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

static const char *volatile g_tag = "?";
static volatile sig_atomic_t g_hits, g_jump;
static volatile unsigned long g_resume;
static sigjmp_buf g_env;

static void report(const char *tag, siginfo_t *si, void *uc)
{
	rep_begin(tag);
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_end();
}

static void h_plain(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	report(g_tag, si, uc);
	g_hits++;
	if (g_jump) {
		g_jump = 0;
		siglongjmp(g_env, 1);
	}
}

static void h_exit(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	report("exit_in_handler", si, uc);
	_exit(3);
}

static void h_segv(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	(void)sig;
	rep_begin("skip_segv");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("resume", g_resume);
	rep_end();
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)g_resume;
	g_hits++;
}

static void h_first(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	report("first", si, uc);
	raise(SIGUSR2);
	g_hits++;
}

static void h_second(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	report("second", si, uc);
	g_hits++;
}

static void install(int sig, void (*h)(int, siginfo_t *, void *), int blocked)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (blocked)
		sigaddset(&sa.sa_mask, blocked);
	sigaction(sig, &sa, NULL);
}

static void sc_plain(void)
{
	install(SIGUSR1, h_plain, 0);
	raise(SIGUSR1);
}

static void sc_skip_segv(void)
{
	install(SIGSEGV, h_segv, 0);
	asm volatile("lea 2f(%%rip), %%r10\n\t"
		     "mov %%r10, %[resume]\n\t"
		     "1: movl %[v], (%[p])\n"
		     "2:\n"
		     : [resume] "=m"(g_resume)
		     : [p] "r"(0x10UL), [v] "r"(0x5a5a5a5a)
		     : "r10", "memory");
	signal(SIGSEGV, SIG_DFL);
}

static void sc_longjmp(void)
{
	install(SIGUSR1, h_plain, 0);
	if (sigsetjmp(g_env, 1) == 0) {
		g_jump = 1;
		raise(SIGUSR1);
		write(2, "sig_sigreturn: longjmp did not happen\n", 38);
		exit(1);
	}
	g_tag = "after";
	raise(SIGUSR1);
}

static void sc_exit_in_handler(void)
{
	install(SIGUSR1, h_exit, 0);
	raise(SIGUSR1);
	write(2, "sig_sigreturn: survived _exit\n", 30);
	exit(1);
}

static void sc_nested_in_trampoline(void)
{
	install(SIGUSR1, h_first, SIGUSR2);
	install(SIGUSR2, h_second, 0);
	raise(SIGUSR1);
}

static const struct {
	const char *name;
	void (*fn)(void);
	int hits;   /* handler invocations expected */
	int in_all;
} scenarios[] = {
	{ "plain", sc_plain, 1, 1 },
	{ "skip_segv", sc_skip_segv, 1, 1 },
	{ "longjmp", sc_longjmp, 2, 1 },
	{ "exit_in_handler", sc_exit_in_handler, 0, 0 },
	{ "nested_in_trampoline", sc_nested_in_trampoline, 2, 1 },
};
#define NSC (sizeof scenarios / sizeof scenarios[0])

int main(int argc, char **argv)
{
	unsigned i;

	for (i = 0; i < NSC; i++) {
		if (argc > 1 ? strcmp(argv[1], scenarios[i].name) != 0
			     : !scenarios[i].in_all)
			continue;
		g_tag = scenarios[i].name;
		g_hits = 0;
		scenarios[i].fn();
		if (g_hits != scenarios[i].hits) {
			fprintf(stderr, "sig_sigreturn: %s: %d handler runs\n",
				scenarios[i].name, (int)g_hits);
			return 1;
		}
		if (argc > 1)
			break;
	}
	if (argc > 1 && i == NSC) {
		fprintf(stderr, "sig_sigreturn: unknown scenario %s\n", argv[1]);
		return 2;
	}
	done();
	return 0;
}
