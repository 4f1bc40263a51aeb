/*
 * sig_bt.a64: signals reached through a known call chain, each handler
 * reporting the interrupted stack as it walks it itself
 * (tests/arm/test_a64_stack.py compares ``sigdbg trace -k`` with it).
 *
 * Scenarios, in this order (argv[1] picks one; none: all three):
 *   usr1  main -> a -> b -> kill(getpid(), SIGUSR1) by an inline svc in b
 *   segv  main -> a -> b -> a store to NULL in b (the handler skips it)
 *   nest  as usr1; the SIGUSR1 handler calls c, which sends SIGUSR2 by an
 *         inline svc: the SIGUSR2 stack runs through the SIGUSR1 frame
 *
 * The handler's walk is its own, from the kernel's ucontext: the interrupted
 * pc (uc_mcontext.pc), then the AAPCS64 frame records ({x29, x30} pairs,
 * built with -fno-omit-frame-pointer) from uc_mcontext.regs[29].  A record
 * whose return address is the restorer this handler returns to (its own
 * __builtin_return_address(0) at entry: the vDSO's __kernel_rt_sigreturn)
 * is the SIGUSR1 handler's: the walk reports that address, then continues
 * with the interrupted context of the SIGUSR1 frame (the ucontext that
 * handler was given).  One line per handler:
 *   SIGDBG-REPORT tag=bt_<scenario> sig= pc= sp= n= f0= f1= ...
 * and the addresses of the functions:
 *   SIGDBG-REPORT tag=syms main= a= b= c= on_signal=
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "report_arm.h"

#define NOINLINE __attribute__((noinline))

static volatile int *volatile null_ptr;
static volatile unsigned long sink;
static const char *scenario;
/* the SIGUSR1 frame's interrupted context and restorer, while its handler runs */
static ucontext_t *volatile outer_uc;
static volatile unsigned long outer_restorer;

static long svc_kill(long pid, long sig)
{
	register long x0 asm("x0") = pid;
	register long x1 asm("x1") = sig;
	register long x8 asm("x8") = 129; /* __NR_kill */
	asm volatile("svc #0" : "+r"(x0) : "r"(x1), "r"(x8) : "memory");
	return x0;
}

static void walk(const char *tag, int sig, const ucontext_t *uc)
{
	unsigned long fp = uc->uc_mcontext.regs[29];
	unsigned n = 0;

	rep_begin(tag);
	rep_hex("sig", (unsigned)sig);
	rep_hex("pc", uc->uc_mcontext.pc);
	rep_hex("sp", uc->uc_mcontext.sp);
	while (fp && n < 40) {
		const unsigned long *rec = (const unsigned long *)fp;
		unsigned long lr = rec[1];
		rep_hexn("f", n++, lr);
		(void)rep_dump;
		if (outer_uc && lr == outer_restorer) {
			/* the SIGUSR1 handler's record: on in its interrupted context */
			rep_hexn("f", n++, outer_uc->uc_mcontext.pc);
			fp = outer_uc->uc_mcontext.regs[29];
			outer_uc = 0;
			continue;
		}
		fp = rec[0];
	}
	rep_hex("n", n);
	rep_end();
}

NOINLINE void c(void)
{
	svc_kill(getpid(), SIGUSR2);
	sink++;
}

NOINLINE void on_signal(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	char tag[32] = "bt_";

	(void)si;
	strncat(tag, sig == SIGUSR2 ? "nested" : scenario, 20);
	walk(tag, sig, uc);
	if (sig == SIGSEGV)
		uc->uc_mcontext.pc += 4; /* past the faulting str */
	if (sig == SIGUSR1 && strcmp(scenario, "nest") == 0) {
		outer_uc = uc;
		outer_restorer = (unsigned long)__builtin_extract_return_addr(
			__builtin_return_address(0));
		c();
		outer_uc = 0;
	}
}

NOINLINE void step(void)
{
	sink++;
}

/* not a leaf (it calls step): b has a frame record of its own */
NOINLINE void b(int mode)
{
	step();
	if (mode == 1)
		*null_ptr = 1; /* SIGSEGV here */
	else
		svc_kill(getpid(), SIGUSR1);
	sink++;
}

NOINLINE void a(int mode)
{
	b(mode);
	sink++;
}

int main(int argc, char **argv)
{
	static const char *const all[] = {"usr1", "segv", "nest"};
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, 0);
	sigaction(SIGUSR2, &sa, 0);
	sigaction(SIGSEGV, &sa, 0);

	rep_begin("syms");
	rep_hex("main", (unsigned long)main);
	rep_hex("a", (unsigned long)a);
	rep_hex("b", (unsigned long)b);
	rep_hex("c", (unsigned long)c);
	rep_hex("on_signal", (unsigned long)on_signal);
	rep_end();
	for (unsigned i = 0; i < 3; i++) {
		if (argc > 1 && strcmp(argv[1], all[i]) != 0)
			continue;
		scenario = all[i];
		a(strcmp(scenario, "segv") == 0);
	}
	done();
	return 0;
}
