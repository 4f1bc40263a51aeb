/*
 * run_ctl - one call for the run-control recordings (tests/runrec.py,
 * replayed by tests/unit/test_runcontrol_fake.py on the fake backend).
 *
 * usage: run_ctl SCENARIO
 *
 * main() calls outer(), whose first call is work(); work() reports where
 * it is and where it returns to, then:
 *
 *   call    returns at once.
 *   signal  raise(SIGUSR1) first; the handler reports rep_std tag=signal.
 *   sleep   sleeps 10 s in nanosleep (the recorder interrupts it before),
 *           then reports tag=slept.
 *
 * outer() reports tag=back after work() returned, main prints SIGDBG-DONE.
 *
 *   tag=work  fn=&work  ret=__builtin_return_address(0) (the instruction
 *             after outer's call)  frame=__builtin_frame_address(0)
 */
#include "report.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_scenario;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	rep_std("signal", si, uc);
}

__attribute__((noinline)) void work(void)
{
	rep_begin("work");
	rep_hex("fn", (unsigned long)work);
	rep_hex("ret", (unsigned long)__builtin_return_address(0));
	rep_hex("frame", (unsigned long)__builtin_frame_address(0));
	rep_end();
	if (strcmp(g_scenario, "signal") == 0) {
		raise(SIGUSR1);
	} else if (strcmp(g_scenario, "sleep") == 0) {
		struct timespec ts = { 10, 0 };
		nanosleep(&ts, NULL);
		rep_begin("slept");
		rep_end();
	}
}

__attribute__((noinline)) void outer(void)
{
	work();
	rep_begin("back");
	rep_end();
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	if (argc < 2) {
		static const char msg[] = "usage: run_ctl call|signal|sleep\n";
		write(2, msg, sizeof msg - 1);
		return 2;
	}
	g_scenario = argv[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	outer();
	done();
	return 0;
}
