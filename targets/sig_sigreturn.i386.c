/*
 * sig_sigreturn.i386 - a 32-bit handler returns through the vDSO trampoline
 * (__kernel_rt_sigreturn / __kernel_sigreturn) and the kernel's sigreturn
 * restores the interrupted context.
 *
 * Proves: the ia32 rt_sigreturn (173) / sigreturn (119) path that sigdbg
 * steps over restores pc, sp, the general registers and the blocked mask
 * exactly as saved in the frame, and that a handler's change to
 * uc_mcontext.ip takes effect (skip_segv).
 *
 * The signal is raised by sig32_raise_magic() (lib32/asm32.h): tgkill with
 * esi/edi/ebp = 0x51515151/0xd1d1d1d1/0xb0b0b0b0, so the interrupted ip is
 * always the symbol sig32_raise_ret and the saved si/di/bp are known.
 * SIGUSR2 and signal 40 are blocked first, so the saved mask is 0x8000000800.
 * Handlers are installed with rt_sigaction without SA_RESTORER.
 *
 * Scenarios (argv[1]; none = all in order; then SIGDBG-DONE, exit 0):
 *   rt         SA_SIGINFO handler (rt_sigframe_ia32).
 *              handler keys: sig code pc sp si di bp mask infop ucp pretcode
 *   nonrt      handler(int sig) without SA_SIGINFO (sigframe_ia32; the frame
 *              is found at &sig - 4).
 *              handler keys: sig pc sp si di bp mask scp pretcode
 *              (mask = sc.oldmask | extramask << 32)
 *   skip_segv  store to 0x10 at sig32_segv_fault; the SA_SIGINFO SIGSEGV
 *              handler sets uc_mcontext.ip = sig32_segv_resume.
 *              handler keys: sig code addr trapno err cr2 pc sp ucp resume
 * After the handler has returned, main reports tag=<scenario>_back with
 *   handled (number of handler runs, 0x1), regs (0x0 = esi/edi/ebp restored
 *   and tgkill returned 0; see asm32.h; absent for skip_segv) and mask (the
 *   blocked mask after sigreturn, 0x8000000800).
 */
#include "sys32.h"
#include "asm32.h"

#define SIG40 40

static volatile int handled;

static u64 blocked_now(void)
{
	u64 cur = 0;
	sys_rt_sigprocmask(SIG_BLOCK, 0, &cur);
	return cur;
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
	rep_kv(&r, "pc", uc->uc_mcontext.ip);
	rep_kv(&r, "sp", uc->uc_mcontext.sp);
	rep_kv(&r, "si", uc->uc_mcontext.si);
	rep_kv(&r, "di", uc->uc_mcontext.di);
	rep_kv(&r, "bp", uc->uc_mcontext.bp);
	rep_kv(&r, "mask", uc->uc_sigmask.sig[0] | ((u64)uc->uc_sigmask.sig[1] << 32));
	rep_kv(&r, "infop", (u32)(uintptr_t)si);
	rep_kv(&r, "ucp", (u32)(uintptr_t)uc);
	rep_kv(&r, "pretcode", f->pretcode);
	rep_end(&r);
	handled++;
}

static void h_nonrt(int sig)
{
	uintptr_t frame = (uintptr_t)&sig - 4;
	const struct sigframe_ia32 *f = (const struct sigframe_ia32 *)frame;
	const struct sigcontext_32 *sc = &f->sc;
	struct report r;

	rep_begin(&r, "nonrt");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "pc", sc->ip);
	rep_kv(&r, "sp", sc->sp);
	rep_kv(&r, "si", sc->si);
	rep_kv(&r, "di", sc->di);
	rep_kv(&r, "bp", sc->bp);
	rep_kv(&r, "mask", sc->oldmask | ((u64)f->extramask[0] << 32));
	rep_kv(&r, "scp", (u32)(uintptr_t)sc);
	rep_kv(&r, "pretcode", f->pretcode);
	rep_end(&r);
	handled++;
}

static void h_segv(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;
	struct report r;

	rep_begin(&r, "skip_segv");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "code", (u32)si->si_code);
	rep_kv(&r, "addr", si->si_addr);
	rep_kv(&r, "trapno", uc->uc_mcontext.trapno);
	rep_kv(&r, "err", uc->uc_mcontext.err);
	rep_kv(&r, "cr2", uc->uc_mcontext.cr2);
	rep_kv(&r, "pc", uc->uc_mcontext.ip);
	rep_kv(&r, "sp", uc->uc_mcontext.sp);
	rep_kv(&r, "ucp", (u32)(uintptr_t)uc);
	rep_kv(&r, "resume", (u32)(uintptr_t)sig32_segv_resume);
	rep_end(&r);
	uc->uc_mcontext.ip = (u32)(uintptr_t)sig32_segv_resume;
	handled++;
}

static void report_back(const char *tag, int with_regs, u32 regs)
{
	struct report r;

	rep_begin(&r, tag);
	rep_kv(&r, "handled", (u32)handled);
	if (with_regs)
		rep_kv(&r, "regs", regs);
	rep_kv(&r, "mask", blocked_now());
	rep_end(&r);
}

static void sc_rt(void)
{
	u32 regs;

	handled = 0;
	sys32_check(sys32_set_handler(SIGUSR1, h_rt, SA_SIGINFO, 0, 0), "rt_sigaction");
	regs = sig32_raise_magic(SIGUSR1);
	report_back("rt_back", 1, regs);
}

static void sc_nonrt(void)
{
	u32 regs;

	handled = 0;
	sys32_check(sys32_set_handler(SIGUSR1, h_nonrt, 0, 0, 0), "rt_sigaction");
	regs = sig32_raise_magic(SIGUSR1);
	report_back("nonrt_back", 1, regs);
}

static void sc_skip_segv(void)
{
	handled = 0;
	sys32_check(sys32_set_handler(SIGSEGV, h_segv, SA_SIGINFO, 0, 0), "rt_sigaction");
	sig32_segv_store();
	sys32_check(sys32_set_handler(SIGSEGV, (void *)SIG_DFL, 0, 0, 0), "rt_sigaction");
	report_back("skip_segv_back", 0, 0);
}

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	{ "rt", sc_rt },
	{ "nonrt", sc_nonrt },
	{ "skip_segv", sc_skip_segv },
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

int main(int argc, char **argv, char **envp)
{
	u64 block = SIGBIT(SIGUSR2) | SIGBIT(SIG40);
	unsigned i;

	(void)envp;
	sys32_check(sys_rt_sigprocmask(SIG_BLOCK, &block, 0), "rt_sigprocmask");

	if (argc < 2) {
		for (i = 0; i < NSCEN; i++)
			scenarios[i].fn();
	} else {
		for (i = 0; i < NSCEN; i++)
			if (sys32_streq(argv[1], scenarios[i].name))
				break;
		if (i == NSCEN) {
			sys32_write_all(2, "unknown scenario\n", 17);
			return 2;
		}
		scenarios[i].fn();
	}
	sys32_done();
	return 0;
}
