/*
 * bench_floor - a minimal C ptrace tracer doing the least work a signal
 * debugger must do per delivery: the performance floor that sigdbg's
 * overhead is measured against.  Proves nothing by itself; its timing is the
 * baseline.
 *
 * usage: bench_floor [--step] PROG [ARGS...]
 *
 * Forks; the child does PTRACE_TRACEME and execvp(PROG, ARGS).  At the
 * post-exec SIGTRAP stop the tracer sets PTRACE_O_EXITKILL|PTRACE_O_TRACEEXEC
 * and continues.  Then, for every signal-delivery-stop:
 *   1. PTRACE_GETSIGINFO;
 *   2. PTRACE_SINGLESTEP with the signal, wait for the handler-entry SIGTRAP
 *      stop (the tracee is then at the handler's first instruction);
 *   3. PTRACE_GETREGS, and one process_vm_readv of 4096 bytes at rsp (the
 *      signal frame);
 *   4. PTRACE_CONT with signal 0.
 * With --step, step 4 is replaced by single-stepping every instruction of the
 * handler until the `syscall` instruction executed with rax == 15
 * (rt_sigreturn) has been stepped over; before each step PTRACE_GETREGS is
 * read, and the instruction bytes are peeked only when rax == 15.  A signal
 * that arrives while stepping is delivered the same way and stepped through
 * as well (a nesting depth is kept); stepping ends when the depth is 0.
 * (In --step mode one PTRACE_GETSIGINFO at the handler-entry stop tells a
 * real handler entry -- si_code SIGTRAP from signal_delivered()'s
 * ptrace_notify -- from a signal that had no handler and merely completed an
 * ordinary step.)
 * A handler that never calls rt_sigreturn (siglongjmp, _exit) is stepped
 * until the process exits.
 *
 * With --sigreturn, the stops of `sigdbg trace --step-sigreturn` instead:
 * after the handler-entry stop (confirmed by PTRACE_GETSIGINFO), DR0 is set
 * to the frame's pretcode and DR7 enables it (PTRACE_POKEUSER); the task
 * runs to the restorer (the debug trap, GETSIGINFO and GETREGS); then each
 * restorer instruction is single-stepped with PTRACE_GETREGS and a
 * PTRACE_PEEKTEXT of the instruction before it, the frame is read again
 * just before the step over the `syscall` (rax == 15), and after it the
 * registers are read once more; DR7 is cleared and the task continued.  A
 * signal that arrives while the handler runs is delivered with PTRACE_CONT
 * (x86_64 tracees; the storm target never nests).
 *
 * Every stop that is not the answer to one of our single-steps is treated as
 * a signal-delivery-stop, including a real SIGTRAP (int3) -- only the
 * post-exec SIGTRAP and the SIGTRAPs that complete our own single-steps are
 * swallowed; PTRACE_EVENT stops are resumed; a group-stop (GETSIGINFO fails
 * with EINVAL) is resumed with PTRACE_CONT 0.  Only the initial thread is
 * traced (no TRACECLONE/TRACEFORK).
 *
 * At the end prints to stderr
 *     floor: N signals
 * (N = signal-delivery-stops handled, counted at the stop, so a fatal signal
 * counts too)
 * (and with --step a second line "floor: M steps"), and exits with the
 * tracee's exit status (128 + signal number if it was killed by a signal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

/* --sigreturn: where a delivery is */
enum { SR_IDLE, SR_RUN_TO_RESTORER, SR_STEP_RESTORER };
#define DR_OFFSET(n) (offsetof(struct user, u_debugreg) + 8 * (n))

static pid_t g_pid;

static void die(const char *what)
{
	perror(what);
	if (g_pid > 0)
		kill(g_pid, SIGKILL);
	exit(125);
}

static void req(enum __ptrace_request r, long data)
{
	if (ptrace(r, g_pid, 0L, data) != 0 && errno != ESRCH)
		die("ptrace");
}

static void req_poke(unsigned long off, unsigned long value)
{
	if (ptrace(PTRACE_POKEUSER, g_pid, (void *)off, (void *)value) != 0 &&
	    errno != ESRCH)
		die("PTRACE_POKEUSER");
}

/*
 * --sigreturn: a SIGTRAP while a delivery is being followed.  Returns 1 when
 * it was ours (and the task has been resumed), 0 to handle it as usual.
 */
static int sr_step(int *state, unsigned long frame_at, char *frame, int stepping)
{
	struct user_regs_struct regs;
	siginfo_t ti;
	long insn;

	if (ptrace(PTRACE_GETSIGINFO, g_pid, 0L, &ti) != 0)
		return 0;
	if (*state == SR_RUN_TO_RESTORER) {
		if (ti.si_code != TRAP_HWBKPT)
			return 0;
		req(PTRACE_GETREGS, (long)&regs);
		if (regs.rsp != frame_at + 8) {  /* a nested handler's return */
			req(PTRACE_CONT, 0);
			return 1;
		}
		*state = SR_STEP_RESTORER;
	} else {
		if (!stepping || (ti.si_code != TRAP_TRACE && ti.si_code != TRAP_BRKPT))
			return 0;
		req(PTRACE_GETREGS, (long)&regs);
	}
	/* at a restorer instruction: look at it, then step it */
	errno = 0;
	insn = ptrace(PTRACE_PEEKTEXT, g_pid, (void *)regs.rip, 0L);
	if (errno == 0 && (insn & 0xffff) == 0x050f && regs.rax == 15) {
		struct iovec local = { frame, 4096 };
		struct iovec remote = { (void *)(regs.rsp - 8), 4096 };
		int st;

		process_vm_readv(g_pid, &local, 1, &remote, 1, 0);
		req(PTRACE_SINGLESTEP, 0);
		/* the step over rt_sigreturn: its stop ends the walk */
		if (waitpid(g_pid, &st, __WALL) != g_pid || !WIFSTOPPED(st))
			die("waitpid after rt_sigreturn");
		req(PTRACE_GETREGS, (long)&regs);
		req_poke(DR_OFFSET(7), 0);
		*state = SR_IDLE;
		req(PTRACE_CONT, 0);
		return 1;
	}
	req(PTRACE_SINGLESTEP, 0);
	return 1;
}

int main(int argc, char **argv)
{
	int step = 0, ai = 1, st, rc = 0;
	unsigned long nsig = 0, nsteps = 0;
	int stepping = 0;       /* a PTRACE_SINGLESTEP of ours is outstanding */
	int entry = 0;          /* ... and it was the one delivering a signal */
	int sigret = 0;         /* ... and it is stepping rt_sigreturn */
	int depth = 0;          /* --step: handlers being stepped through */
	static char frame[4096];
	int sr = 0;             /* --sigreturn mode */
	int sr_state = SR_IDLE;
	unsigned long sr_frame = 0, sr_dr0 = 0, nsr = 0;

	if (argc > 1 && strcmp(argv[1], "--step") == 0) {
		step = 1;
		ai = 2;
	} else if (argc > 1 && strcmp(argv[1], "--sigreturn") == 0) {
		sr = 1;
		ai = 2;
	}
	if (ai >= argc) {
		fprintf(stderr, "usage: bench_floor [--step|--sigreturn] PROG [ARGS...]\n");
		return 2;
	}

	g_pid = fork();
	if (g_pid < 0)
		die("fork");
	if (g_pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0L, 0L, 0L) != 0) {
			perror("PTRACE_TRACEME");
			_exit(126);
		}
		execvp(argv[ai], argv + ai);
		perror("bench_floor: execvp");
		_exit(127);
	}

	if (waitpid(g_pid, &st, __WALL) != g_pid)
		die("waitpid");
	if (!WIFSTOPPED(st)) {
		/* exec failed: the child exited without stopping */
		fprintf(stderr, "floor: 0 signals\n");
		return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	req(PTRACE_SETOPTIONS, PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC);
	req(PTRACE_CONT, 0);

	for (;;) {
		int sig;

		if (waitpid(g_pid, &st, __WALL) != g_pid) {
			if (errno == EINTR)
				continue;
			die("waitpid");
		}
		if (WIFEXITED(st)) {
			rc = WEXITSTATUS(st);
			break;
		}
		if (WIFSIGNALED(st)) {
			rc = 128 + WTERMSIG(st);
			break;
		}
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);

		if (st >> 16) {
			/* PTRACE_EVENT stop (exec): resume the way we were going */
			req(stepping ? PTRACE_SINGLESTEP : PTRACE_CONT, 0);
			continue;
		}

		if (sr && sig == SIGTRAP && sr_state != SR_IDLE &&
		    sr_step(&sr_state, sr_frame, frame, stepping)) {
			stepping = sr_state == SR_STEP_RESTORER;
			if (sr_state == SR_IDLE)
				nsr++;
			continue;
		}

		if (sig == SIGTRAP && stepping) {
			/* our single-step completed */
			stepping = 0;
			if (entry) {
				struct user_regs_struct regs;
				struct iovec local = { frame, sizeof frame };
				struct iovec remote;

				entry = 0;
				req(PTRACE_GETREGS, (long)&regs);
				remote.iov_base = (void *)regs.rsp;
				remote.iov_len = sizeof frame;
				process_vm_readv(g_pid, &local, 1, &remote, 1, 0);
				if (sr) {
					siginfo_t ti;
					if (ptrace(PTRACE_GETSIGINFO, g_pid, 0L,
						   &ti) == 0 &&
					    ti.si_code == SIGTRAP) {
						unsigned long pretcode =
							*(unsigned long *)frame;
						sr_frame = regs.rsp;
						/* like sigdbg: DR0 rewritten only when it changes */
						if (pretcode != sr_dr0)
							req_poke(DR_OFFSET(0), pretcode);
						sr_dr0 = pretcode;
						req_poke(DR_OFFSET(7), 1);
						sr_state = SR_RUN_TO_RESTORER;
					}
				}
				if (step) {
					/*
					 * A handler was entered only if this is the
					 * ptrace_notify stop of signal_delivered()
					 * (si_code == SIGTRAP); a signal without a
					 * handler (ignored, default-ignore) just
					 * completes an ordinary step (TRAP_TRACE or
					 * TRAP_BRKPT).
					 */
					siginfo_t ti;
					if (ptrace(PTRACE_GETSIGINFO, g_pid, 0L,
						   &ti) == 0 &&
					    ti.si_code == SIGTRAP)
						depth++;
				}
			} else if (sigret) {
				sigret = 0;
				if (depth > 0)
					depth--;
			}
			if (step && depth > 0) {
				struct user_regs_struct regs;

				req(PTRACE_GETREGS, (long)&regs);
				if (regs.rax == 15) {
					long w;
					errno = 0;
					w = ptrace(PTRACE_PEEKTEXT, g_pid,
						   (void *)regs.rip, 0L);
					if (errno == 0 && (w & 0xffff) == 0x050f)
						sigret = 1;
				}
				nsteps++;
				stepping = 1;
				req(PTRACE_SINGLESTEP, 0);
			} else {
				req(PTRACE_CONT, 0);
			}
			continue;
		}

		/* a signal-delivery-stop (or a group-stop) */
		{
			siginfo_t si;
			if (ptrace(PTRACE_GETSIGINFO, g_pid, 0L, &si) != 0) {
				if (errno == ESRCH)
					continue;
				/* EINVAL: group-stop of a TRACEME tracee */
				stepping = entry = sigret = 0;
				req(PTRACE_CONT, 0);
				continue;
			}
		}
		nsig++;
		stepping = 1;
		entry = 1;
		sigret = 0;
		req(PTRACE_SINGLESTEP, sig);
	}

	fprintf(stderr, "floor: %lu signals\n", nsig);
	if (step)
		fprintf(stderr, "floor: %lu steps\n", nsteps);
	if (sr)
		fprintf(stderr, "floor: %lu sigreturns\n", nsr);
	return rc;
}
