/*
 * sig_walk - handlers that end in ways the sigreturn walk must report:
 * the recordings of tests/data/walk/ (tests/walkrec.py) come from it.
 *
 * usage: sig_walk SCENARIO
 *
 *   fatal   raise(SIGUSR1); the handler reports tag=fatal and raises
 *           SIGSEGV, whose disposition is the default: the process is
 *           killed by SIGSEGV inside the handler (exit by signal 11).
 *   stop    raise(SIGUSR1); the handler reports tag=stop and raises
 *           SIGSTOP: a group-stop inside the handler.  Continued, the
 *           handler returns, SIGDBG-DONE, exit 0.
 *   exec    raise(SIGUSR1); the handler reports tag=exec and execve()s
 *           /proc/self/exe with the argument "done" (the new image prints
 *           SIGDBG-DONE and exits 0): the handler never returns.
 *   done    prints SIGDBG-DONE, exits 0.
 *
 * Every report is rep_siginfo + rep_ucontext.
 */
#include "report.h"

#include <string.h>
#include <unistd.h>

static const char *g_scenario;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	rep_std(g_scenario, si, uc);
	if (strcmp(g_scenario, "fatal") == 0) {
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
	} else if (strcmp(g_scenario, "stop") == 0) {
		raise(SIGSTOP);
	} else if (strcmp(g_scenario, "exec") == 0) {
		char *argv[] = { "sig_walk", "done", NULL };
		execve("/proc/self/exe", argv, NULL);
		_exit(127);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	if (argc < 2) {
		static const char msg[] = "usage: sig_walk fatal|stop|exec|done\n";
		write(2, msg, sizeof msg - 1);
		return 2;
	}
	g_scenario = argv[1];
	if (strcmp(g_scenario, "done") == 0) {
		done();
		return 0;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	done();
	return 0;
}
