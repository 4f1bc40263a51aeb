/*
 * sig_basic - one ordinary signal delivery per scenario, each with a
 * different sender, so the tests can check that sigdbg decodes the siginfo
 * (si_code and the matching union member) and the ucontext of a plain
 * x86_64 rt_sigframe exactly as the handler itself sees them.
 *
 * usage: sig_basic [SCENARIO]      (no argument: all scenarios in order)
 *
 *   raise      raise(SIGUSR1)                  code SI_TKILL, pid, uid
 *   kill       kill(getpid(), SIGUSR2)         code SI_USER, pid, uid
 *   tgkill     raw SYS_tgkill SIGUSR1 to self  code SI_TKILL, pid, uid
 *   sigqueue   sigqueue(SIGRTMIN+1, 0x1234abcd) code SI_QUEUE, pid, uid, value
 *   timer      POSIX timer CLOCK_MONOTONIC, SIGEV_SIGNAL SIGALRM,
 *              sival_ptr 0xfeedbeef, one-shot 1 ms, awaited with sigsuspend
 *              code SI_TIMER, timerid, overrun, value; mask = the
 *              pre-sigsuspend mask (SIGALRM blocked), because the kernel saves
 *              the caller's mask.  Then main prints a second line
 *              tag=timer_id ktimer=<the timer_t glibc returned>
 *   chld       fork a child that _exit(7), SIGCHLD awaited with sigsuspend
 *              code CLD_EXITED, pid, uid, status 7, utime, stime; mask has
 *              SIGCHLD blocked (pre-sigsuspend mask).  Then main prints
 *              tag=chld_parent child=<pid> wstatus=<waitpid status, 0x700>
 *   nosiginfo  SIGUSR1 handler installed WITHOUT SA_SIGINFO; reports only
 *              tag and sig (the frame's siginfo bytes are stale)
 *   ignored    SIGUSR2 set to SIG_IGN, then raised: no report
 *   default_nonfatal  SIGWINCH with SIG_DFL (default action: ignore): no
 *              report
 *   mask       SIGUSR2 and SIGRTMIN blocked with sigprocmask, then
 *              raise(SIGUSR1) whose handler has sa_mask {SIGTERM}; the
 *              reported mask is the interrupted mask {SIGUSR2, SIGRTMIN}
 *              (0x200000800 with glibc's SIGRTMIN 34) and extra key curmask
 *              is the mask while the handler runs (interrupted | SIGUSR1 |
 *              SIGTERM = 0x200004a00)
 *
 * Handlers are SA_SIGINFO (except nosiginfo) and report handler (their own
 * address: the pc at handler entry) + rep_siginfo + rep_ucontext with
 * tag = scenario name.  Prints SIGDBG-DONE, exits 0.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

static const char *volatile g_tag = "?";
static volatile sig_atomic_t g_hits;
static volatile sig_atomic_t g_curmask_wanted;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	rep_begin(g_tag);
	rep_hex("handler", (unsigned long)handler);
	rep_siginfo(si);
	rep_ucontext(uc);
	if (g_curmask_wanted) {
		sigset_t cur;
		unsigned long m;
		sigprocmask(SIG_BLOCK, NULL, &cur);
		memcpy(&m, &cur, sizeof m);
		rep_hex("curmask", m);
	}
	rep_end();
	g_hits++;
}

static void plain_handler(int sig)
{
	rep_begin(g_tag);
	rep_hex("sig", (unsigned long)sig);
	rep_end();
	g_hits++;
}

static void install(int sig, const sigset_t *mask)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	if (mask)
		sa.sa_mask = *mask;
	else
		sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0) {
		perror("sigaction");
		exit(1);
	}
}

static void set_disp(int sig, void (*h)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void sc_raise(void)
{
	install(SIGUSR1, NULL);
	raise(SIGUSR1);
}

static void sc_kill(void)
{
	install(SIGUSR2, NULL);
	kill(getpid(), SIGUSR2);
}

static void sc_tgkill(void)
{
	install(SIGUSR1, NULL);
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
}

static void sc_sigqueue(void)
{
	union sigval v;
	memset(&v, 0, sizeof v);
	v.sival_int = 0x1234abcd;
	install(SIGRTMIN + 1, NULL);
	if (sigqueue(getpid(), SIGRTMIN + 1, v) != 0)
		perror("sigqueue");
}

static void sc_timer(void)
{
	struct sigevent sev;
	struct itimerspec its;
	timer_t tid;
	sigset_t block, old;

	install(SIGALRM, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &old);

	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGALRM;
	sev.sigev_value.sival_ptr = (void *)0xfeedbeefUL;
	if (timer_create(CLOCK_MONOTONIC, &sev, &tid) != 0) {
		perror("timer_create");
		exit(1);
	}
	g_hits = 0;
	memset(&its, 0, sizeof its);
	its.it_value.tv_nsec = 1000000; /* 1 ms, one-shot */
	timer_settime(tid, 0, &its, NULL);
	{
		sigset_t wait = old;
		sigdelset(&wait, SIGALRM);
		while (!g_hits)
			sigsuspend(&wait);
	}
	rep_begin("timer_id");
	rep_hex("ktimer", (unsigned long)tid);
	rep_end();
	timer_delete(tid);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void sc_chld(void)
{
	sigset_t block, old;
	pid_t pid;
	int st;

	install(SIGCHLD, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	g_hits = 0;
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0)
		_exit(7);
	{
		sigset_t wait = old;
		sigdelset(&wait, SIGCHLD);
		while (!g_hits)
			sigsuspend(&wait);
	}
	waitpid(pid, &st, 0);
	rep_begin("chld_parent");
	rep_hex("child", (unsigned long)pid);
	rep_hex("wstatus", (unsigned long)st);
	rep_end();
	sigprocmask(SIG_SETMASK, &old, NULL);
	set_disp(SIGCHLD, SIG_DFL);
}

static void sc_nosiginfo(void)
{
	set_disp(SIGUSR1, plain_handler);
	raise(SIGUSR1);
}

static void sc_ignored(void)
{
	set_disp(SIGUSR2, SIG_IGN);
	raise(SIGUSR2);
}

static void sc_default_nonfatal(void)
{
	set_disp(SIGWINCH, SIG_DFL);
	raise(SIGWINCH);
}

static void sc_mask(void)
{
	sigset_t block, old, hmask;

	sigemptyset(&hmask);
	sigaddset(&hmask, SIGTERM);
	install(SIGUSR1, &hmask);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &block, &old);
	g_curmask_wanted = 1;
	raise(SIGUSR1);
	g_curmask_wanted = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	{ "raise", sc_raise },
	{ "kill", sc_kill },
	{ "tgkill", sc_tgkill },
	{ "sigqueue", sc_sigqueue },
	{ "timer", sc_timer },
	{ "chld", sc_chld },
	{ "nosiginfo", sc_nosiginfo },
	{ "ignored", sc_ignored },
	{ "default_nonfatal", sc_default_nonfatal },
	{ "mask", sc_mask },
};
#define NSC (sizeof scenarios / sizeof scenarios[0])

int main(int argc, char **argv)
{
	unsigned i;

	for (i = 0; i < NSC; i++) {
		if (argc > 1 && strcmp(argv[1], scenarios[i].name) != 0)
			continue;
		g_tag = scenarios[i].name;
		scenarios[i].fn();
		if (argc > 1)
			break;
	}
	if (argc > 1 && i == NSC) {
		fprintf(stderr, "sig_basic: unknown scenario %s\n", argv[1]);
		return 2;
	}
	done();
	return 0;
}
