/*
 * sig_edge.i386 - an ia32 signal frame at the very end of readable memory.
 *
 * Proves that sigdbg decodes a 32-bit frame (and its FP area) that the
 * kernel put at the top of a sigaltstack which ends where the mapping ends,
 * with an unmapped page right after it: a read of a fixed size from the frame
 * (sigdbg reads 4 KiB at once) runs past the end of the mapping, and the
 * decoder must use only the readable bytes.
 *
 * The altstack: mmap2 of ALTSTACK_SIZE + 4096 bytes, then munmap of the
 * last page, so alt_base + ALTSTACK_SIZE is the first unmapped address.  The
 * kernel places the FP area at the top of the altstack and the frame right
 * below it (arch/x86/kernel/signal.c get_sigframe), so frame + 4096 lies in
 * the hole.
 *
 * usage: sig_edge.i386 [rt|nonrt]   (none = both, rt first)
 *   rt     SA_SIGINFO|SA_ONSTACK, no SA_RESTORER: struct rt_sigframe_ia32
 *          keys: sig code pid infop ucp frame pc sp ss_sp ss_size fpstate mask
 *                end pretcode
 *          (frame = infop - 16; end = the first unmapped address)
 *   nonrt  SA_ONSTACK only: struct sigframe_ia32 (frame = &sig - 4)
 *          keys: sig frame pc sp fpstate mask end pretcode
 * Prints SIGDBG-DONE and exits 0.
 */
#include "sys32.h"

#define ALTSTACK_SIZE (16 * 4096)

static u32 alt_end;

static void h_rt(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;
	const struct rt_sigframe_ia32 *f =
		(const struct rt_sigframe_ia32 *)((uintptr_t)si - 16);
	struct report r;

	rep_begin(&r, "edge_rt");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "code", (u32)si->si_code);
	rep_kv(&r, "pid", (u32)si->si_pid);
	rep_kv(&r, "infop", (u32)(uintptr_t)si);
	rep_kv(&r, "ucp", (u32)(uintptr_t)uc);
	rep_kv(&r, "frame", (u32)(uintptr_t)f);
	rep_kv(&r, "pc", uc->uc_mcontext.ip);
	rep_kv(&r, "sp", uc->uc_mcontext.sp);
	rep_kv(&r, "ss_sp", uc->uc_stack.ss_sp);
	rep_kv(&r, "ss_size", uc->uc_stack.ss_size);
	rep_kv(&r, "fpstate", uc->uc_mcontext.fpstate);
	rep_kv(&r, "mask", uc->uc_sigmask.sig[0] | ((u64)uc->uc_sigmask.sig[1] << 32));
	rep_kv(&r, "end", alt_end);
	rep_kv(&r, "pretcode", f->pretcode);
	rep_end(&r);
}

static void h_nonrt(int sig)
{
	uintptr_t frame = (uintptr_t)&sig - 4;
	const struct sigframe_ia32 *f = (const struct sigframe_ia32 *)frame;
	const struct sigcontext_32 *sc = &f->sc;
	struct report r;

	rep_begin(&r, "edge_nonrt");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "frame", (u32)frame);
	rep_kv(&r, "pc", sc->ip);
	rep_kv(&r, "sp", sc->sp);
	rep_kv(&r, "fpstate", sc->fpstate);
	rep_kv(&r, "mask", sc->oldmask | ((u64)f->extramask[0] << 32));
	rep_kv(&r, "end", alt_end);
	rep_kv(&r, "pretcode", f->pretcode);
	rep_end(&r);
}

int main(int argc, char **argv, char **envp)
{
	compat_stack_t ss;
	int rt = argc < 2 || sys32_streq(argv[1], "rt");
	int nonrt = argc < 2 || sys32_streq(argv[1], "nonrt");
	char *p = sys_mmap2(0, ALTSTACK_SIZE + 4096, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)envp;
	if (!rt && !nonrt) {
		sys32_write_all(2, "unknown scenario\n", 17);
		return 2;
	}
	sys32_check(MAP_FAILED_P(p) ? (long)p : 0, "mmap2");
	sys32_check(sys_munmap(p + ALTSTACK_SIZE, 4096), "munmap");
	alt_end = (u32)(uintptr_t)(p + ALTSTACK_SIZE);
	ss.ss_sp = (u32)(uintptr_t)p;
	ss.ss_flags = 0;
	ss.ss_size = ALTSTACK_SIZE;
	sys32_check(sys_sigaltstack(&ss, 0), "sigaltstack");
	if (rt) {
		sys32_check(sys32_set_handler(SIGUSR1, h_rt, SA_SIGINFO | SA_ONSTACK, 0, 0),
			    "rt_sigaction");
		sys32_check(sys_raise(SIGUSR1), "tgkill");
	}
	if (nonrt) {
		sys32_check(sys32_set_handler(SIGUSR2, h_nonrt, SA_ONSTACK, 0, 0),
			    "rt_sigaction");
		sys32_check(sys_raise(SIGUSR2), "tgkill");
	}
	sys32_done();
	return 0;
}
