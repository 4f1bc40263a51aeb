/*
 * sig_jobctl - a program that job-control signals stop, to prove that a
 * tracer keeps it stopped until SIGCONT, exactly as without a tracer.
 *
 * usage: sig_jobctl COUNTFILE [tstp-handler]
 *
 * First puts itself in a process group of its own (setpgid(0, 0)): the
 * kernel discards SIGTSTP/SIGTTIN/SIGTTOU sent to a process of an orphaned
 * process group (kernel/signal.c get_signal, is_current_pgrp_orphaned), and
 * the group a test runs in may be one; a group whose parent lives in another
 * group of the same session is not.
 *
 * Then counts forever: after every increment it writes "PID COUNT\n" at the
 * start of COUNTFILE (one pwrite) and sleeps 1 ms.  A count that does not
 * advance while the process exists proves it is not running.
 *
 * SIGCONT has a handler (SA_RESTART) that counts its deliveries.  With
 * `tstp-handler`, SIGTSTP has one too (it reports `tag=tstp` with the
 * siginfo), so SIGTSTP does not stop the program.  SIGUSR2 ends the run: it
 * prints
 *     SIGDBG-REPORT tag=jobctl cont=0x<SIGCONTs handled> tstp=0x<SIGTSTPs handled>
 * then SIGDBG-DONE, and exits 0.
 */
#include "report.h"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>

static volatile sig_atomic_t g_cont, g_tstp, g_end;

static void on_cont(int sig)
{
	(void)sig;
	g_cont++;
}

static void on_tstp(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	g_tstp++;
	rep_begin("tstp");
	rep_siginfo(si);
	rep_end();
}

static void on_usr2(int sig)
{
	(void)sig;
	g_end = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	struct timespec ms = { 0, 1000000 };
	unsigned long count = 0;
	char line[64];
	int fd, n;

	if (argc < 2) {
		static const char usage[] = "usage: sig_jobctl COUNTFILE [tstp-handler]\n";
		write(2, usage, sizeof usage - 1);
		return 2;
	}
	setpgid(0, 0);
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 2;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_cont;
	sigaction(SIGCONT, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	if (argc > 2 && strcmp(argv[2], "tstp-handler") == 0) {
		sa.sa_flags = SA_RESTART | SA_SIGINFO;
		sa.sa_sigaction = on_tstp;
		sigaction(SIGTSTP, &sa, NULL);
	}

	while (!g_end) {
		count++;
		n = snprintf(line, sizeof line, "%d %lu\n", (int)getpid(), count);
		pwrite(fd, line, (size_t)n, 0);
		nanosleep(&ms, NULL);
	}
	rep_begin("jobctl");
	rep_hex("cont", (unsigned long)g_cont);
	rep_hex("tstp", (unsigned long)g_tstp);
	rep_end();
	done();
	return 0;
}
