/* scripts/probes (see README.md there).
 * A tracee sits in a signal-delivery-stop for SIGUSR1 when its tracer is
 * SIGKILLed: is the signal delivered or lost? */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void h(int s) { got++; }
int main(void)
{
	int p[2], st;
	pipe(p);
	pid_t c = fork();
	if (c == 0) {
		char b;
		signal(SIGUSR1, h);
		close(p[1]);
		read(p[0], &b, 1);
		printf("child: handler ran %d times\n", (int)got);
		return 0;
	}
	close(p[0]);
	pid_t t = fork();
	if (t == 0) {
		ptrace(PTRACE_SEIZE, c, 0, 0);
		kill(c, SIGUSR1);
		waitpid(c, &st, __WALL);
		printf("tracer: stop sig %d\n", WSTOPSIG(st));
		fflush(stdout);
		kill(getpid(), SIGKILL);
	}
	waitpid(t, &st, 0);
	usleep(100000);
	write(p[1], "x", 1);
	waitpid(c, &st, 0);
	return 0;
}
