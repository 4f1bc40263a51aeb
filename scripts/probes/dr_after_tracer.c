/* scripts/probes (see README.md there).
 * Does the kernel disarm ptrace hardware breakpoints when the tracer
 * detaches (PTRACE_DETACH) or dies (SIGKILL)?  Child C waits on a pipe and
 * then calls target_fn(); a tracer sets DR0=&target_fn, DR7=1 and then leaves.
 * mode "detach": the parent tracer PTRACE_DETACHes; mode "die": a separate
 * tracer process sets the DRs and SIGKILLs itself. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void target_fn(void) { __asm__ volatile("nop"); }

static long dr(int n) { return offsetof(struct user, u_debugreg) + 8 * n; }

static void arm(pid_t c)
{
	int st;
	if (ptrace(PTRACE_SEIZE, c, 0, 0) || ptrace(PTRACE_INTERRUPT, c, 0, 0)) { perror("seize"); exit(2); }
	waitpid(c, &st, __WALL);
	if (ptrace(PTRACE_POKEUSER, c, dr(0), (void *)target_fn) || ptrace(PTRACE_POKEUSER, c, dr(7), (void *)1L)) { perror("poke"); exit(2); }
	errno = 0;
	printf("armed: DR7=%#lx\n", ptrace(PTRACE_PEEKUSER, c, dr(7), 0));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int p[2], st;
	pipe(p);
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(p[1]);
		read(p[0], &b, 1);
		target_fn();
		printf("child: target_fn ran without a trap\n");
		return 0;
	}
	close(p[0]);
	if (strcmp(argv[1], "detach") == 0) {
		arm(c);
		if (ptrace(PTRACE_DETACH, c, 0, 0)) { perror("detach"); return 2; }
	} else {
		pid_t t = fork();
		if (t == 0) { arm(c); kill(getpid(), SIGKILL); }
		waitpid(t, &st, 0);
		printf("tracer: %s %d\n", WIFSIGNALED(st) ? "killed by" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	/* look again as a new tracer */
	usleep(100000);
	if (ptrace(PTRACE_SEIZE, c, 0, 0) == 0 && ptrace(PTRACE_INTERRUPT, c, 0, 0) == 0) {
		waitpid(c, &st, __WALL);
		errno = 0;
		printf("after leaving: DR7=%#lx DR0=%#lx (&target_fn=%p)\n", ptrace(PTRACE_PEEKUSER, c, dr(7), 0), ptrace(PTRACE_PEEKUSER, c, dr(0), 0), (void *)target_fn);
		fflush(stdout);
		ptrace(PTRACE_DETACH, c, 0, 0);
	}
	write(p[1], "x", 1);
	waitpid(c, &st, 0);
	if (WIFSIGNALED(st))
		printf("child: killed by signal %d (%s)\n", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		printf("child: exit %d\n", WEXITSTATUS(st));
	return 0;
}
