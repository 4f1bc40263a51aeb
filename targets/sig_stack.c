/*
 * sig_stack - SIGUSR1 raised three calls deep, for `trace -k` (the stack of
 * the interrupted context) and for `trace -p` (attach to a running program).
 * This file is built WITHOUT frame pointers (the pragma below overrides the
 * Makefile's -fno-omit-frame-pointer), and libc has none either: a correct
 * stack needs the .eh_frame call-frame information.
 *
 * usage: sig_stack [N|wait]
 *   N      raise SIGUSR1 N times (default 1) from level3
 *   wait   once per byte read from stdin, raise SIGUSR1; at EOF finish
 *          (the test decides when signals come and when it ends)
 *
 * main -> level1 -> level2 -> level3 -> raise(SIGUSR1).  Before each raise
 * the levels record their own return addresses (__builtin_return_address(0):
 * where each returns to in its caller), and main reports, after the first
 * raise (not from the handler, which only counts):
 *   SIGDBG-REPORT tag=stack pid ret3 ret2 ret1 level1 level2 level3 main handler
 *     ret3 = return address of level3 (inside level2), ret2 (inside level1),
 *     ret1 (inside main); levelN / main / handler = the function addresses.
 * With "wait" it reports tag=waiting (pid) first, then tag=stack after the
 * first signal.  At the end: SIGDBG-REPORT tag=count count=<handler runs>,
 * SIGDBG-DONE, exit 0.
 */
#pragma GCC optimize("omit-frame-pointer")
#include "report.h"

#include <stdlib.h>

static volatile sig_atomic_t g_count;
static void *volatile g_ret[4];
static volatile unsigned long g_after;

static void handler(int sig)
{
	(void)sig;
	g_count++;
}

static __attribute__((noinline)) void level3(void)
{
	g_ret[3] = __builtin_return_address(0);
	raise(SIGUSR1);
	g_after++;  /* no tail call: level3's frame is live across raise */
}

static __attribute__((noinline)) void level2(void)
{
	g_ret[2] = __builtin_return_address(0);
	level3();
	g_after++;
}

static __attribute__((noinline)) void level1(void)
{
	g_ret[1] = __builtin_return_address(0);
	level2();
	g_after++;
}

int main(int argc, char **argv);

static void report_stack(void)
{
	rep_begin("stack");
	rep_hex("pid", (unsigned long)getpid());
	rep_hex("ret3", (unsigned long)g_ret[3]);
	rep_hex("ret2", (unsigned long)g_ret[2]);
	rep_hex("ret1", (unsigned long)g_ret[1]);
	rep_hex("level1", (unsigned long)level1);
	rep_hex("level2", (unsigned long)level2);
	rep_hex("level3", (unsigned long)level3);
	rep_hex("main", (unsigned long)main);
	rep_hex("handler", (unsigned long)handler);
	rep_end();
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	long n = 1, i;
	int wait_mode = argc > 1 && strcmp(argv[1], "wait") == 0;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	if (wait_mode) {
		char c;
		int first = 1;

		rep_begin("waiting");
		rep_hex("pid", (unsigned long)getpid());
		rep_end();
		while (read(0, &c, 1) == 1) {
			level1();
			if (first)
				report_stack();
			first = 0;
		}
	} else {
		if (argc > 1)
			n = strtol(argv[1], NULL, 0);
		for (i = 0; i < n; i++) {
			level1();
			if (i == 0)
				report_stack();
		}
	}
	rep_begin("count");
	rep_hex("count", (unsigned long)g_count);
	rep_end();
	done();
	return 0;
}
