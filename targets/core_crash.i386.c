/*
 * core_crash.i386 - a 32-bit (ia32 compat) process that dumps core (or waits
 * for gcore) while signal handlers run, so its core file (ELFCLASS32,
 * EM_386) holds live ia32 signal frames whose pretcodes are the vDSO's
 * __kernel_rt_sigreturn and __kernel_sigreturn.
 *
 * Proves (for sigdbg's core-file decoders): the ia32 frames found on the
 * stack of a core (rt_sigframe_ia32 and sigframe_ia32) are the ones the
 * kernel built, compared with what the handlers report from inside; the
 * core's NT_AUXV is the auxv the kernel put on the initial stack; its
 * NT_FILE/PT_LOAD are the process's maps; NT_SIGINFO/NT_PRSTATUS the crash.
 *
 * Before anything else it prints, with write(2) only:
 *   SIGDBG-REPORT tag=auxv a<TYPE>=<value> ...   the auxv pairs from its initial stack
 *   SIGDBG-MAPS-BEGIN / ... / SIGDBG-MAPS-END     /proc/self/maps verbatim
 * Then it blocks SIGUSR2 and signal 40, so every saved mask is 0x8000000800.
 *
 * SIGUSR1 has an SA_SIGINFO handler installed WITHOUT SA_RESTORER (the kernel
 * sets pretcode = vDSO __kernel_rt_sigreturn); it reports
 *   tag=rt sig code pid infop ucp pc sp mask fpstate frame pretcode
 *   (frame = infop - 16)
 * SIGALRM has a plain handler(int) WITHOUT SA_SIGINFO and WITHOUT SA_RESTORER
 * (struct sigframe_ia32, pretcode = vDSO __kernel_sigreturn); it reports
 *   tag=nonrt sig pc sp mask frame pretcode   (frame = &sig - 4)
 * The handler that crashes adds insn = sig32_segv_fault, the store to 0x10
 * (SIGSEGV SEGV_MAPERR addr 0x10, no handler: the process dumps core).
 *
 * usage: core_crash.i386 [SCENARIO]
 *   rt       (default) raise SIGUSR1; its handler crashes
 *   nonrt    raise SIGALRM; its handler crashes
 *   nested   raise SIGUSR1; its handler raises SIGALRM, whose handler
 *            crashes: two frames of both kinds on the stack
 *   wait     raise SIGUSR1; its handler prints SIGDBG-READY and waits in
 *            pause() until killed (for gcore)
 */
#include "sys32.h"
#include "asm32.h"

#define NR32_open  5
#define NR32_close 6
#define SIG40 40

static int g_mode; /* 0 rt, 1 nonrt, 2 nested, 3 wait */

static void copy_maps(void)
{
	char buf[2048];
	long fd = sys32_syscall3(NR32_open, (long)"/proc/self/maps", 0, 0);
	long n;

	sys32_check(fd, "open");
	sys32_puts("SIGDBG-MAPS-BEGIN\n");
	while ((n = sys_read((int)fd, buf, sizeof(buf))) > 0)
		sys32_write_all(1, buf, (size_t)n);
	sys32_syscall1(NR32_close, fd);
	sys32_puts("SIGDBG-MAPS-END\n");
}

static void report_auxv(void)
{
	struct report r;
	u32 *a;

	rep_begin(&r, "auxv");
	for (a = sys32_auxv; a[0] != AT_NULL; a += 2) {
		rep_str(&r, " a");
		rep_dec(&r, a[0]);
		rep_str(&r, "=");
		rep_hex(&r, a[1]);
	}
	rep_end(&r);
}

static void h_nonrt(int sig)
{
	uintptr_t frame = (uintptr_t)&sig - 4;
	const struct sigframe_ia32 *f = (const struct sigframe_ia32 *)frame;
	struct report r;

	rep_begin(&r, "nonrt");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "pc", f->sc.ip);
	rep_kv(&r, "sp", f->sc.sp);
	rep_kv(&r, "mask", f->sc.oldmask | ((u64)f->extramask[0] << 32));
	rep_kv(&r, "frame", (u32)frame);
	rep_kv(&r, "pretcode", f->pretcode);
	rep_kv(&r, "insn", (u32)(uintptr_t)sig32_segv_fault);
	rep_end(&r);
	sig32_segv_store();
}

static void h_rt(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;
	const struct rt_sigframe_ia32 *f =
		(const struct rt_sigframe_ia32 *)((uintptr_t)si - 16);
	struct report r;

	rep_begin(&r, "rt");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "code", (u32)si->si_code);
	rep_kv(&r, "pid", (u32)si->si_pid);
	rep_kv(&r, "infop", (u32)(uintptr_t)si);
	rep_kv(&r, "ucp", (u32)(uintptr_t)uc);
	rep_kv(&r, "pc", uc->uc_mcontext.ip);
	rep_kv(&r, "sp", uc->uc_mcontext.sp);
	rep_kv(&r, "mask", uc->uc_sigmask.sig[0] | ((u64)uc->uc_sigmask.sig[1] << 32));
	rep_kv(&r, "fpstate", uc->uc_mcontext.fpstate);
	rep_kv(&r, "frame", (u32)(uintptr_t)f);
	rep_kv(&r, "pretcode", f->pretcode);
	if (g_mode == 0)
		rep_kv(&r, "insn", (u32)(uintptr_t)sig32_segv_fault);
	rep_end(&r);
	if (g_mode == 2) {
		sys32_check(sys_raise(SIGALRM), "tgkill");
	} else if (g_mode == 3) {
		sys32_puts("SIGDBG-READY\n");
		for (;;)
			sys_pause();
	}
	sig32_segv_store();
}

int main(int argc, char **argv, char **envp)
{
	u64 block = SIGBIT(SIGUSR2) | SIGBIT(SIG40);

	(void)envp;
	if (argc > 1) {
		if (sys32_streq(argv[1], "nonrt"))
			g_mode = 1;
		else if (sys32_streq(argv[1], "nested"))
			g_mode = 2;
		else if (sys32_streq(argv[1], "wait"))
			g_mode = 3;
	}
	report_auxv();
	copy_maps();
	sys32_check(sys_rt_sigprocmask(SIG_BLOCK, &block, 0), "rt_sigprocmask");
	sys32_check(sys32_set_handler(SIGUSR1, h_rt, SA_SIGINFO, 0, 0), "rt_sigaction");
	sys32_check(sys32_set_handler(SIGALRM, h_nonrt, 0, 0, 0), "rt_sigaction");
	sys32_check(sys_raise(g_mode == 1 ? SIGALRM : SIGUSR1), "tgkill");
	return 1; /* not reached */
}
