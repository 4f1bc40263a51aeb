/*
 * srop_self.i386 - a 32-bit program that performs SROP on itself: it builds
 * a fake ia32 signal frame and calls rt_sigreturn (173) or sigreturn (119)
 * on it, so the kernel "returns" into landed(), a function nobody called.
 *
 * Proves: sigdbg trace --srop flags, for the ia32 ABI and both frame kinds,
 * a sigreturn whose frame no delivery built, before the kernel acts on it,
 * and that tracing leaves the program's behaviour as it is untraced.
 *
 * First an honest delivery: SIGUSR1 (SA_SIGINFO, vDSO restorer) raised and
 * returned from normally.  Then the scenario (argv[1], default rt) forges a
 * frame in the static buffer fake, with ip = landed, sp = the top of a
 * private stack, cs 0x23, ss/ds/es 0x2b, fpstate 0:
 *   rt      struct rt_sigframe_ia32, rt_sigreturn with esp = frame + 4
 *           (signal_32.c: the frame is read at regs->sp - 4)
 *   nonrt   struct sigframe_ia32, sigreturn with esp = frame + 8 (sp - 8)
 *   badcs   as rt with cs = 0x2b (a data segment): the return to user
 *           space faults -> SIGSEGV
 *   fpcopy  as rt with fpstate = a copy of the honest frame's FP area (the
 *           FSAVE header, the XSAVE image, MAGIC2), copied by the handler: accepted
 *   badxbv  ... with xstate_bv bit 62 set: validate_user_xstate_header
 *           refuses it (fpu/xstate.c) -> SIGSEGV
 *   xreserved2 ... with byte 40 of the XSAVE header set: refused as well on
 *           this path (all 48 reserved bytes are checked) -> SIGSEGV
 * "--wait" before the scenario: print SROP-READY pid=<pid> and block reading
 * one byte from stdin first.
 * Output: SROP-START <scenario>, the handler's report line, then from
 * landed(): SROP-LANDED <scenario> and exit status 0.
 */
#include "sys32.h"

static const char *scenario = "rt";
static union {
	struct rt_sigframe_ia32 rt;
	struct sigframe_ia32 nonrt;
	unsigned char bytes[1024];
} fake __attribute__((aligned(64)));
static unsigned char landing_stack[16384] __attribute__((aligned(16)));
/* the FP area: the 112-byte FSAVE header, then the 64-aligned XSAVE image */
static unsigned char fpcopy[16384 + 64] __attribute__((aligned(64)));
#define FP_AT 16            /* fpcopy + 16 + 112 is 64-byte aligned, as in frames */
#define FX (FP_AT + 112)

static void say(const char *a, const char *b)
{
	struct report r;
	r.len = 0;
	rep_str(&r, a);
	rep_str(&r, " ");
	rep_str(&r, b);
	rep_str(&r, "\n");
	sys32_write_all(1, r.buf, r.len);
}

__attribute__((noreturn, used)) static void landed(void)
{
	say("SROP-LANDED", scenario);
	sys_exit_group(0);
}

static void on_usr1(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;
	const unsigned char *fp = (const unsigned char *)(uintptr_t)uc->uc_mcontext.fpstate;
	u32 ext;
	memcpy(&ext, fp + 112 + 464 + 4, 4);   /* sw_reserved.extended_size */
	if (112 + ext <= sizeof fpcopy - FP_AT)
		memcpy(fpcopy + FP_AT, fp, 112 + ext);
	struct report r;
	rep_begin(&r, "honest");
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "ucp", (u32)(uintptr_t)ucv);
	rep_end(&r);
	(void)si;
}

static u32 fpstate_for(const char *s)
{
	if (sys32_streq(s, "fpcopy"))
		return (u32)(uintptr_t)(fpcopy + FP_AT);
	if (sys32_streq(s, "badxbv")) {
		fpcopy[FX + 512 + 7] |= 0x40;     /* xstate_bv bit 62 */
		return (u32)(uintptr_t)(fpcopy + FP_AT);
	}
	if (sys32_streq(s, "xreserved2")) {
		fpcopy[FX + 512 + 40] = 1;
		return (u32)(uintptr_t)(fpcopy + FP_AT);
	}
	return 0;
}

static void fill(struct sigcontext_32 *sc, u16 cs)
{
	sc->ip = (u32)(uintptr_t)landed;
	/* at a function's entry (esp + 4) % 16 == 0 */
	sc->sp = (u32)(uintptr_t)(landing_stack + sizeof landing_stack - 4);
	sc->cs = cs;
	sc->ss = sc->ds = sc->es = 0x2b;
	sc->flags = 0x202;
	sc->fpstate = fpstate_for(scenario);
}

int main(int argc, char **argv, char **envp)
{
	int i = 1;
	(void)envp;
	if (i < argc && sys32_streq(argv[i], "--wait")) {
		struct report r;
		char c;
		r.len = 0;
		rep_str(&r, "SROP-READY pid=");
		rep_dec(&r, (u32)sys_getpid());
		rep_str(&r, "\n");
		sys32_write_all(1, r.buf, r.len);
		if (sys_read(0, &c, 1) < 0)
			return 3;
		i++;
	}
	if (i < argc)
		scenario = argv[i];
	say("SROP-START", scenario);

	sys32_check(sys32_set_handler(SIGUSR1, on_usr1, SA_SIGINFO, 0, 0), "rt_sigaction");
	sys32_check(sys_raise(SIGUSR1), "tgkill");

	memset(&fake, 0, sizeof fake);
	if (sys32_streq(scenario, "rt") || sys32_streq(scenario, "badcs")
	    || fpstate_for(scenario) != 0) {
		fill(&fake.rt.uc.uc_mcontext, sys32_streq(scenario, "badcs") ? 0x2b : 0x23);
		__asm__ volatile("movl %0, %%esp\n\t"
		                 "movl $173, %%eax\n\t"
		                 "int $0x80\n\t"
		                 "ud2"
		                 : : "r"((u32)(uintptr_t)&fake.rt + 4) : "memory");
	} else if (sys32_streq(scenario, "nonrt")) {
		fill(&fake.nonrt.sc, 0x23);
		__asm__ volatile("movl %0, %%esp\n\t"
		                 "movl $119, %%eax\n\t"
		                 "int $0x80\n\t"
		                 "ud2"
		                 : : "r"((u32)(uintptr_t)&fake.nonrt + 8) : "memory");
	}
	say("SROP-UNKNOWN", scenario);
	return 2;
}
