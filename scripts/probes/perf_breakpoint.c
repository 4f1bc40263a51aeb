/* scripts/probes (see README.md there).
 * Can a tracer stop its tracee at an address with a perf_event hardware
 * breakpoint (sigtrap) that dies with the tracer's file descriptor? */
#define _GNU_SOURCE
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void target_fn(void) { __asm__ volatile("nop"); }

int main(void)
{
	int p[2], st;
	pipe(p);
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(p[1]);
		read(p[0], &b, 1);
		target_fn();
		printf("child: first call done\n"); fflush(stdout);
		read(p[0], &b, 1);
		target_fn();
		printf("child: second call done (no trap)\n");
		return 0;
	}
	close(p[0]);
	ptrace(PTRACE_SEIZE, c, 0, 0);
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.type = PERF_TYPE_BREAKPOINT;
	a.size = sizeof a;
	a.bp_type = HW_BREAKPOINT_X;
	a.bp_addr = (unsigned long)target_fn;
	a.bp_len = sizeof(long);
	a.sample_period = 1;
	a.sigtrap = 1;
	a.remove_on_exec = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	a.sig_data = 0x5167;
	int fd = syscall(SYS_perf_event_open, &a, c, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) { perror("perf_event_open"); return 1; }
	write(p[1], "x", 1);
	waitpid(c, &st, __WALL);
	siginfo_t si;
	ptrace(PTRACE_GETSIGINFO, c, 0, &si);
	long rip = ptrace(PTRACE_PEEKUSER, c, 16 * 8, 0);
	printf("stop: sig %d si_code %d addr %p rip %#lx (&target_fn %p)\n", WSTOPSIG(st), si.si_code, si.si_addr, rip, (void *)target_fn);
	ptrace(PTRACE_CONT, c, 0, 0);  /* suppress it */
	close(fd);  /* as if the tracer died */
	ptrace(PTRACE_DETACH, c, 0, 0) ;
	usleep(100000);
	write(p[1], "x", 1);
	waitpid(c, &st, __WALL);
	if (WIFSTOPPED(st)) { printf("stopped again: %d\n", WSTOPSIG(st)); ptrace(PTRACE_DETACH, c, 0, 0); waitpid(c, &st, 0);} 
	printf("child: %s %d\n", WIFSIGNALED(st) ? "killed by" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	return 0;
}
