/*
 * sig_inflight - SIGUSR1s from another process, counted by both ends: a
 * tracer that attaches (PTRACE_SEIZE + PTRACE_INTERRUPT) or detaches while
 * they arrive must lose none.
 *
 * usage: sig_inflight recv         count SIGUSR1 until a byte on stdin
 *        sig_inflight send PID     send SIGUSR1 to PID until SIGTERM
 *
 * recv: a SIGUSR1 handler counts; prints "SIGDBG-REPORT tag=ready pid=0x<pid>",
 * then blocks reading stdin (SA_RESTART: every signal interrupts and
 * restarts the read).  After one byte (or EOF): "SIGDBG-REPORT tag=recv
 * count=0x<count>", SIGDBG-DONE, exit 0.
 *
 * send: kill(PID, SIGUSR1) in a loop, but never while a SIGUSR1 is still
 * pending for PID (SigPnd/ShdPnd of /proc/PID/status): a standard signal
 * sent while one is pending is merged with it, so only this way does every
 * signal sent give one handler call.  Untraced, recv's count equals send's
 * exactly.  A signal a tracer takes out of the queue and then drops (a
 * signal-delivery-stop resumed or detached with 0) is not pending any more,
 * so the next one is sent and the counts differ.  On SIGTERM (or when PID is
 * gone) prints "SIGDBG-REPORT tag=send sent=0x<n>", SIGDBG-DONE, exits 0.
 *
 * The first stop after PTRACE_SEIZE + PTRACE_INTERRUPT is the interrupt's
 * only if no SIGUSR1 was dequeued in between: in such a storm it is often
 * the signal-delivery-stop of the SIGUSR1 in flight (kernel/signal.c
 * get_signal: the job-control trap is checked before dequeue_signal, and
 * ptrace_signal stops after it).
 */
#include "report.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long g_count;
static volatile sig_atomic_t g_stop;

static void count_handler(int sig)
{
	(void)sig;
	g_count++;
}

static void stop_handler(int sig)
{
	(void)sig;
	g_stop = 1;
}

/* Whether SIGUSR1 is pending for the process behind fd (its status file):
 * 1 yes, 0 no, -1 gone. */
static int usr1_pending(int fd)
{
	static char buf[4096];
	unsigned long long mask;
	const char *keys[] = { "\nSigPnd:", "\nShdPnd:" };
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	unsigned i;

	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (i = 0; i < 2; i++) {
		char *p = strstr(buf, keys[i]);

		if (!p)
			return -1;
		mask = strtoull(p + strlen(keys[i]), NULL, 16);
		if (mask & (1ULL << (SIGUSR1 - 1)))
			return 1;
	}
	return 0;
}

static int do_send(pid_t pid)
{
	struct sigaction sa;
	struct timespec pause = { 0, 20000 };
	unsigned long sent = 0;
	char path[64];
	int fd, p;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = stop_handler;
	sigaction(SIGTERM, &sa, NULL);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 2;
	while (!g_stop) {
		p = usr1_pending(fd);
		if (p < 0)
			break;
		if (p) {
			nanosleep(&pause, NULL); /* the receiver is slow or stopped */
			continue;
		}
		if (kill(pid, SIGUSR1) != 0)
			break;
		sent++;
	}
	rep_begin("send");
	rep_hex("sent", sent);
	rep_end();
	done();
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	ssize_t n;
	char b;

	if (argc == 3 && strcmp(argv[1], "send") == 0)
		return do_send((pid_t)strtol(argv[2], NULL, 0));
	if (argc != 2 || strcmp(argv[1], "recv")) {
		static const char usage[] = "usage: sig_inflight recv | sig_inflight send PID\n";
		write(2, usage, sizeof usage - 1);
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = count_handler;
	sigaction(SIGUSR1, &sa, NULL);
	rep_begin("ready");
	rep_hex("pid", (unsigned long)getpid());
	rep_end();
	do
		n = read(0, &b, 1);
	while (n < 0 && errno == EINTR);
	rep_begin("recv");
	rep_hex("count", g_count);
	rep_end();
	done();
	return 0;
}
