/*
 * sig_basic.i386 - signal delivery to a 32-bit (ia32 compat) task: both ia32
 * frame types, vDSO vs own restorer, siginfo contents, faults, altstack.
 *
 * Proves (for sigdbg's ia32 decoders): what the kernel puts in
 * struct rt_sigframe_ia32 (SA_SIGINFO) and struct sigframe_ia32 (no SA_SIGINFO)
 * on the user stack, as seen from inside the handler.  Each handler reports
 * one SIGDBG-REPORT line (targets/README.md) that a test compares with what
 * sigdbg decodes from the same frame.
 *
 * Before any scenario the program blocks SIGUSR2 (12) and signal 40, so every
 * saved mask is 0x8000000800 (bits 11 and 39): the high word exercises
 * uc_sigmask.sig[1] / the non-rt extramask.
 *
 * Scenarios (argv[1]; none = all in this order; then SIGDBG-DONE, exit 0):
 *   rt        SA_SIGINFO handler via rt_sigaction WITHOUT SA_RESTORER -> the
 *             kernel sets pretcode = vDSO __kernel_rt_sigreturn; SIGUSR1 by tgkill.
 *             keys: handler sig code pid uid infop ucp pc sp ss_sp ss_flags ss_size mask
 *                   trapno err cr2 fpstate pretcode vdso
 *             (pc/sp/trapno/err/cr2/fpstate from uc_mcontext; mask = 64-bit
 *              uc_sigmask; pretcode = the frame's first word, frame = infop - 16;
 *              handler = the handler's own address;
 *              vdso = AT_SYSINFO_EHDR)
 *   nonrt     plain handler(int sig), rt_sigaction WITHOUT SA_SIGINFO and WITHOUT
 *             SA_RESTORER -> struct sigframe_ia32, pretcode = vDSO __kernel_sigreturn.
 *             The handler finds the frame from &sig (frame = &sig - 4, sc = &sig + 4).
 *             keys: sig pc sp mask scp pretcode vdso
 *             (mask = sc.oldmask | extramask[0] << 32, extramask at frame + 720;
 *              scp = address of the sigcontext = frame + 8)
 *   nonrt_old same as nonrt but installed with the old sigaction(2) (nr 67).
 *             keys as nonrt.
 *   restorer  SA_SIGINFO|SA_RESTORER with our own my_restorer
 *             (movl $173,%eax; int $0x80).  keys: the rt keys + restorer
 *             (pretcode must equal restorer).
 *   sigqueue  rt_sigqueueinfo to itself, SI_QUEUE, si_value 0x1234abcd.
 *             keys: the rt keys + value.
 *   segv      store to 0x10 (sig32_segv_fault in asm32.h), SA_SIGINFO SIGSEGV
 *             handler; it sets uc_mcontext.ip = sig32_segv_resume and returns.
 *             keys: sig code addr cr2 trapno err pc sp infop ucp resume
 *   altstack  sigaltstack (64 KiB mmap) + SA_SIGINFO|SA_ONSTACK.
 *             keys: the rt keys + altbase altsize.  The altstack is disabled
 *             again afterwards, so later frames show ss_* = 0.
 */
#include "sys32.h"
#include "asm32.h"

#define SIG40 40
#define QUEUE_VALUE 0x1234abcdu
#define ALTSTACK_SIZE (64 * 1024)

static const char *nonrt_tag;
static u32 alt_base, alt_size;

/* own rt restorer: rt_sigreturn(173) with esp = frame + 4 */
void my_restorer(void);
__asm__(
	".text\n"
	".globl my_restorer\n"
	".type my_restorer,@function\n"
	"my_restorer:\n"
	"	movl $173, %eax\n"
	"	int $0x80\n"
	".size my_restorer,.-my_restorer\n");

static u64 uc_mask(const struct ucontext_ia32 *uc)
{
	return uc->uc_sigmask.sig[0] | ((u64)uc->uc_sigmask.sig[1] << 32);
}

static void rep_rt_common(struct report *r, void *handler, int sig, compat_siginfo_t *si,
			  struct ucontext_ia32 *uc)
{
	const struct rt_sigframe_ia32 *f =
		(const struct rt_sigframe_ia32 *)((uintptr_t)si - 16);

	rep_kv(r, "handler", (u32)(uintptr_t)handler);
	rep_kv(r, "sig", (u32)sig);
	rep_kv(r, "code", (u32)si->si_code);
	rep_kv(r, "pid", (u32)si->si_pid);
	rep_kv(r, "uid", (u32)si->si_uid);
	rep_kv(r, "infop", (u32)(uintptr_t)si);
	rep_kv(r, "ucp", (u32)(uintptr_t)uc);
	rep_kv(r, "pc", uc->uc_mcontext.ip);
	rep_kv(r, "sp", uc->uc_mcontext.sp);
	rep_kv(r, "ss_sp", uc->uc_stack.ss_sp);
	rep_kv(r, "ss_flags", (u32)uc->uc_stack.ss_flags);
	rep_kv(r, "ss_size", uc->uc_stack.ss_size);
	rep_kv(r, "mask", uc_mask(uc));
	rep_kv(r, "trapno", uc->uc_mcontext.trapno);
	rep_kv(r, "err", uc->uc_mcontext.err);
	rep_kv(r, "cr2", uc->uc_mcontext.cr2);
	rep_kv(r, "fpstate", uc->uc_mcontext.fpstate);
	rep_kv(r, "pretcode", f->pretcode);
	rep_kv(r, "vdso", sys32_getauxval(AT_SYSINFO_EHDR));
}

static void h_rt(int sig, compat_siginfo_t *si, void *ucv)
{
	struct report r;
	rep_begin(&r, "rt");
	rep_rt_common(&r, (void *)h_rt, sig, si, ucv);
	rep_end(&r);
}

static void h_restorer(int sig, compat_siginfo_t *si, void *ucv)
{
	struct report r;
	rep_begin(&r, "restorer");
	rep_rt_common(&r, (void *)h_restorer, sig, si, ucv);
	rep_kv(&r, "restorer", (u32)(uintptr_t)my_restorer);
	rep_end(&r);
}

static void h_sigqueue(int sig, compat_siginfo_t *si, void *ucv)
{
	struct report r;
	rep_begin(&r, "sigqueue");
	rep_rt_common(&r, (void *)h_sigqueue, sig, si, ucv);
	rep_kv(&r, "value", (u32)si->si_value.sival_int);
	rep_end(&r);
}

static void h_altstack(int sig, compat_siginfo_t *si, void *ucv)
{
	struct report r;
	rep_begin(&r, "altstack");
	rep_rt_common(&r, (void *)h_altstack, sig, si, ucv);
	rep_kv(&r, "altbase", alt_base);
	rep_kv(&r, "altsize", alt_size);
	rep_end(&r);
}

static void h_segv(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;
	struct report r;

	rep_begin(&r, "segv");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "code", (u32)si->si_code);
	rep_kv(&r, "addr", si->si_addr);
	rep_kv(&r, "cr2", uc->uc_mcontext.cr2);
	rep_kv(&r, "trapno", uc->uc_mcontext.trapno);
	rep_kv(&r, "err", uc->uc_mcontext.err);
	rep_kv(&r, "pc", uc->uc_mcontext.ip);
	rep_kv(&r, "sp", uc->uc_mcontext.sp);
	rep_kv(&r, "infop", (u32)(uintptr_t)si);
	rep_kv(&r, "ucp", (u32)(uintptr_t)uc);
	rep_kv(&r, "resume", (u32)(uintptr_t)sig32_segv_resume);
	rep_end(&r);
	/* skip the faulting store */
	uc->uc_mcontext.ip = (u32)(uintptr_t)sig32_segv_resume;
}

/* non-rt handler: only `int sig` is passed.  The frame is
 * struct sigframe_ia32 { pretcode; sig; sc; fpstate_unused; extramask; retcode }
 * and `sig` here is the frame's own sig slot (cdecl stack argument), so the
 * frame starts 4 bytes below it. */
static void h_nonrt(int sig)
{
	uintptr_t frame = (uintptr_t)&sig - 4;
	const struct sigframe_ia32 *f = (const struct sigframe_ia32 *)frame;
	const struct sigcontext_32 *sc = &f->sc;
	struct report r;

	rep_begin(&r, nonrt_tag);
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "pc", sc->ip);
	rep_kv(&r, "sp", sc->sp);
	rep_kv(&r, "mask", sc->oldmask | ((u64)f->extramask[0] << 32));
	rep_kv(&r, "scp", (u32)(uintptr_t)sc);
	rep_kv(&r, "pretcode", f->pretcode);
	rep_kv(&r, "vdso", sys32_getauxval(AT_SYSINFO_EHDR));
	rep_end(&r);
}

static void sc_rt(void)
{
	sys32_check(sys32_set_handler(SIGUSR1, h_rt, SA_SIGINFO, 0, 0), "rt_sigaction");
	sys32_check(sys_raise(SIGUSR1), "tgkill");
}

static void sc_nonrt(void)
{
	nonrt_tag = "nonrt";
	sys32_check(sys32_set_handler(SIGUSR1, h_nonrt, 0, 0, 0), "rt_sigaction");
	sys32_check(sys_raise(SIGUSR1), "tgkill");
}

static void sc_nonrt_old(void)
{
	struct compat_old_sigaction sa;

	nonrt_tag = "nonrt_old";
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = (compat_uptr_t)(uintptr_t)h_nonrt;
	sys32_check(sys_sigaction(SIGUSR1, &sa, 0), "sigaction");
	sys32_check(sys_raise(SIGUSR1), "tgkill");
}

static void sc_restorer(void)
{
	sys32_check(sys32_set_handler(SIGUSR1, h_restorer, SA_SIGINFO | SA_RESTORER,
				      my_restorer, 0), "rt_sigaction");
	sys32_check(sys_raise(SIGUSR1), "tgkill");
}

static void sc_sigqueue(void)
{
	compat_siginfo_t si;
	int pid = sys_getpid();

	sys32_check(sys32_set_handler(SIGUSR1, h_sigqueue, SA_SIGINFO, 0, 0),
		    "rt_sigaction");
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGUSR1;
	si.si_code = SI_QUEUE;
	si.si_pid = pid;
	si.si_uid = sys_getuid();
	si.si_value.sival_int = (int)QUEUE_VALUE;
	sys32_check(sys_rt_sigqueueinfo(pid, SIGUSR1, &si), "rt_sigqueueinfo");
}

static void sc_segv(void)
{
	sys32_check(sys32_set_handler(SIGSEGV, h_segv, SA_SIGINFO, 0, 0), "rt_sigaction");
	sig32_segv_store();
	sys32_check(sys32_set_handler(SIGSEGV, (void *)SIG_DFL, 0, 0, 0), "rt_sigaction");
}

static void sc_altstack(void)
{
	compat_stack_t ss;
	void *p = sys_mmap2(0, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	sys32_check(MAP_FAILED_P(p) ? (long)p : 0, "mmap2");
	alt_base = (u32)(uintptr_t)p;
	alt_size = ALTSTACK_SIZE;
	ss.ss_sp = alt_base;
	ss.ss_flags = 0;
	ss.ss_size = alt_size;
	sys32_check(sys_sigaltstack(&ss, 0), "sigaltstack");
	sys32_check(sys32_set_handler(SIGUSR1, h_altstack, SA_SIGINFO | SA_ONSTACK, 0, 0),
		    "rt_sigaction");
	sys32_check(sys_raise(SIGUSR1), "tgkill");

	ss.ss_sp = 0;
	ss.ss_flags = SS_DISABLE;
	ss.ss_size = 0;
	sys32_check(sys_sigaltstack(&ss, 0), "sigaltstack");
	sys_munmap(p, ALTSTACK_SIZE);
}

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	{ "rt", sc_rt },
	{ "nonrt", sc_nonrt },
	{ "nonrt_old", sc_nonrt_old },
	{ "restorer", sc_restorer },
	{ "sigqueue", sc_sigqueue },
	{ "segv", sc_segv },
	{ "altstack", sc_altstack },
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
