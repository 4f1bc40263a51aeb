/*
 * core_crash - a process that dumps core (or waits for gcore) while a signal
 * handler is running, so its core file holds live signal frames.
 *
 * Proves (for sigdbg's core-file decoders, `--core FILE` and the shell's
 * `core FILE`): the frames found on the stack of a core are the ones the
 * kernel built (compared with what the handlers report from inside), the
 * core's NT_AUXV is the process's auxv, its NT_FILE/PT_LOAD are its maps and
 * its NT_SIGINFO/NT_PRSTATUS are the crash.
 *
 * Before anything else it prints, with write(2) only:
 *   SIGDBG-AUXV <hex>          the raw bytes of /proc/self/auxv
 *   SIGDBG-MAPS-BEGIN / ... / SIGDBG-MAPS-END   /proc/self/maps verbatim
 * Then it blocks SIGUSR2, so every saved mask has bit 11 set.
 *
 * usage: core_crash [SCENARIO]
 *   once     (default) SA_SIGINFO SIGUSR1 handler (glibc's sigaction: the
 *            restorer is libc's __restore_rt) reports, then stores to address
 *            0x10 at core_crash_insn: SIGSEGV SEGV_MAPERR addr 0x10, no handler,
 *            the process dumps core with the SIGUSR1 frame on its stack.
 *   nested   the SIGUSR1 handler raises SIGALRM, whose handler reports and then
 *            crashes the same way: two signal frames on the stack.
 *   wait     the SIGUSR1 handler reports, prints SIGDBG-READY and waits in
 *            pause() until killed (for gcore).
 *   threads  main reports tag=main tid=<its tid>, then starts a pthread that raises
 *            SIGUSR1 at itself; the handler (on that thread's stack) crashes while
 *            main waits in pause(): the dumping thread is not the main thread.
 *   plain    SIGUSR1 is installed WITHOUT SA_SIGINFO (the kernel leaves the frame's
 *            info unwritten: stale stack bytes, which main first fills with 0xa5);
 *            the handler still gets &uc in %rdx (signal_64.c sets rsi/rdx for
 *            every handler) and reports tag=plain sig + rep_ucontext + frame
 *            pretcode insn, then crashes.
 *   altstack SIGUSR1 is installed with SA_ONSTACK on a 64 KiB sigaltstack; main
 *            raises SIGALRM, whose handler (on the normal stack) raises SIGUSR1,
 *            whose handler (on the alternate stack) crashes: the innermost frame
 *            is on the altstack, the next one on the main stack.  Extra report
 *            keys: altbase altsize.
 * Report keys (tag usr1 / alrm): rep_siginfo + rep_ucontext plus
 *   frame     address of the rt_sigframe (= ucp - 8: pretcode precedes uc)
 *   pretcode  the frame's first word (the restorer)
 *   insn      address of the faulting store (only in the crashing handler)
 *   tid       gettid() of the thread that runs the handler
 *   xmm8lo xmm8hi   the value the crashing handler loads into %xmm8 right
 *             before the faulting store (the core's NT_X86_XSTATE must hold it)
 */
#include "report.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>

extern char core_crash_insn[];
static int g_mode; /* 0 once, 1 nested, 2 wait, 3 altstack, 4 threads, 5 plain */
static char g_alt[64 * 1024] __attribute__((aligned(16)));

static const unsigned long g_xmm8[2] __attribute__((aligned(16))) = {
	0x0123456789abcdefUL, 0xfedcba9876543210UL };

__attribute__((noinline)) static void crash(void)
{
	__asm__ volatile("movdqa %0, %%xmm8\n"
			 ".globl core_crash_insn\n"
			 "core_crash_insn: movl $0x5a, 0x10\n" :: "m"(g_xmm8) : "memory", "xmm8");
}

static void copy_file(const char *path, int hex)
{
	static const char digits[] = "0123456789abcdef";
	char buf[4096], out[8192];
	int fd = open(path, O_RDONLY);
	long n;

	if (fd < 0)
		_exit(3);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (hex) {
			for (long i = 0; i < n; i++) {
				out[2 * i] = digits[(unsigned char)buf[i] >> 4];
				out[2 * i + 1] = digits[buf[i] & 15];
			}
			rep__write_all(out, 2 * n);
		} else {
			rep__write_all(buf, n);
		}
	}
	close(fd);
}

static void report(const char *tag, siginfo_t *si, ucontext_t *uc, int crashing)
{
	rep_begin(tag);
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("frame", (unsigned long)uc - 8);
	rep_hex("pretcode", *(unsigned long *)((char *)uc - 8));
	rep_hex("tid", (unsigned long)gettid());
	if (crashing) {
		rep_hex("insn", (unsigned long)core_crash_insn);
		rep_hex("xmm8lo", g_xmm8[0]);
		rep_hex("xmm8hi", g_xmm8[1]);
	}
	if (g_mode == 3) {
		rep_hex("altbase", (unsigned long)g_alt);
		rep_hex("altsize", sizeof(g_alt));
	}
	rep_end();
}

static void h_alrm(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	report("alrm", si, ucv, g_mode != 3);
	if (g_mode == 3)
		raise(SIGUSR1);
	crash();
}

static void h_usr1(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	report("usr1", si, ucv, g_mode == 0 || g_mode == 3 || g_mode == 4);
	if (g_mode == 1) {
		raise(SIGALRM);
	} else if (g_mode == 2) {
		rep__write_all("SIGDBG-READY\n", 13);
		for (;;)
			pause();
	}
	crash();
}

static void h_plain(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)si; /* not written by the kernel without SA_SIGINFO */
	rep_begin("plain");
	rep_hex("sig", (unsigned long)sig);
	rep_ucontext(uc);
	rep_hex("frame", (unsigned long)uc - 8);
	rep_hex("pretcode", *(unsigned long *)((char *)uc - 8));
	rep_hex("insn", (unsigned long)core_crash_insn);
	rep_end();
	crash();
}

__attribute__((noinline)) static void dirty_stack(void)
{
	volatile char junk[16384];

	memset((char *)junk, 0xa5, sizeof(junk));
}

static void *thread_main(void *arg)
{
	(void)arg;
	raise(SIGUSR1); /* tgkill(getpid(), gettid()): this thread takes it */
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t block;

	if (argc > 1)
		g_mode = !strcmp(argv[1], "nested") ? 1 : !strcmp(argv[1], "wait") ? 2 :
			 !strcmp(argv[1], "altstack") ? 3 : !strcmp(argv[1], "threads") ? 4 :
			 !strcmp(argv[1], "plain") ? 5 : 0;
	rep__write_all("SIGDBG-AUXV ", 12);
	copy_file("/proc/self/auxv", 1);
	rep__write_all("\nSIGDBG-MAPS-BEGIN\n", 19);
	copy_file("/proc/self/maps", 0);
	rep__write_all("SIGDBG-MAPS-END\n", 16);

	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h_alrm;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_sigaction = h_usr1;
	if (g_mode == 3) {
		stack_t ss = { .ss_sp = g_alt, .ss_size = sizeof(g_alt), .ss_flags = 0 };

		sigaltstack(&ss, NULL);
		sa.sa_flags |= SA_ONSTACK;
	}
	if (g_mode == 5) {
		sa.sa_handler = (void (*)(int))h_plain;
		sa.sa_flags = 0;
		dirty_stack();
	}
	sigaction(SIGUSR1, &sa, NULL);
	if (g_mode == 4) {
		pthread_t t;

		rep_begin("main");
		rep_hex("tid", (unsigned long)gettid());
		rep_end();
		pthread_create(&t, NULL, thread_main, NULL);
		for (;;)
			pause();
	}
	raise(g_mode == 3 ? SIGALRM : SIGUSR1);
	return 1; /* not reached */
}
