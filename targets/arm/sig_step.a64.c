/*
 * sig_step.a64 - AArch64 handlers that return through sigreturn, each
 * reporting the frame it leaves behind and, after the return, what the
 * interrupted code got back.
 *
 * Proves (on a real arm64 kernel, in the QEMU guest; tests/arm/test_a64_step.py
 * holds `sigdbg trace --step-sigreturn` against it): the registers, the
 * signal mask and the FP/SIMD state that rt_sigreturn restores are the ones
 * the handler left in its frame, including what the handler changed.
 *
 * Every handler reports (tag=<scenario>, at its end, so after its edits):
 * the frame address (uc - 128), its restorer (the return address x30 it was
 * entered with), the frame's x0-x30, sp, pc, pstate and uc_sigmask, and the
 * fpsimd record's fpsr, fpcr and v16.  After the return the interrupted code
 * reports what it holds (tag=<scenario>.after): the blocked mask
 * (sigprocmask) and, for the asm triggers, x19-x28 / v16, fpcr, fpsr stored
 * right after the svc.
 *
 * Scenarios, in this order:
 *   plain     SIGUSR1 by an inline svc (x19-x28 patterns), the vDSO restorer
 *   restorer  SIGUSR1 installed with a raw rt_sigaction and SA_RESTORER: the
 *             program's own restorer (nop; mov x8, #139; svc #0)
 *   segv      load from 0xdead000: the handler skips it (pc += 4) and adds
 *             SIGUSR2 to the saved mask, which the program then reports blocked
 *   nest      SIGUSR1 whose handler sends itself SIGUSR2 (tag nest_in)
 *   fp        SIGUSR1 with v16-v31, FPCR (round to zero) and FPSR (IXC) set;
 *             the handler writes v16 = 0x5a.. and FPCR = 0, FPSR = 0 into
 *             the fpsimd record
 *   sve       z16 = 0x16.., p3 all true, then a fault (no syscall between:
 *             6.1 drops SVE state at every syscall), so the sve record
 *             carries the registers; the handler writes z16 = 0x5a.. and
 *             p3 = 0x0f.. into it (and skips the load); the interrupted code
 *             stores z16 and p3 right after the skipped load (tag sve.after)
 *   trapfree  SIGUSR1 with SIGTRAP in sa_mask: a handler sigdbg must not
 *             trap in, so it follows it to rt_sigreturn with PTRACE_SYSCALL
 * With the argument "exit": one SIGUSR1 whose handler calls _exit(3), so the
 * handler never reaches its restorer (tag exit, then no SIGDBG-DONE).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "report_arm.h"

/* what the interrupted code holds right after the svc: x19-x28, v16 (lo, hi),
 * fpcr, fpsr */
uint64_t after_regs[14];
void trigger_kill(long pid, long sig);
void trigger_fault(long addr);
void own_restorer(void);
void trigger_sve_fault(long addr);
extern char after_svc[], fault_insn[];
/* z16 (up to VL 256 bytes) and p3 after the sve scenario's return, and VL */
uint8_t sve_after[256 + 32] __attribute__((aligned(16)));
uint64_t sve_vl;

__asm__(
	".text\n"
	/* trigger_kill(pid, sig): patterns in x19-x28, v16-v31, FPCR, FPSR; kill
	 * by svc; then stores what it holds into after_regs and restores */
	".globl trigger_kill\n.type trigger_kill,%function\n"
	"trigger_kill:\n"
	"	stp x29, x30, [sp, #-112]!\n"
	"	mov x29, sp\n"
	"	stp x19, x20, [sp, #16]\n"
	"	stp x21, x22, [sp, #32]\n"
	"	stp x23, x24, [sp, #48]\n"
	"	stp x25, x26, [sp, #64]\n"
	"	stp x27, x28, [sp, #80]\n"
	"	ldr x19, =0x1919191919191919\n"
	"	ldr x20, =0x2020202020202020\n"
	"	ldr x21, =0x2121212121212121\n"
	"	ldr x22, =0x2222222222222222\n"
	"	ldr x23, =0x2323232323232323\n"
	"	ldr x24, =0x2424242424242424\n"
	"	ldr x25, =0x2525252525252525\n"
	"	ldr x26, =0x2626262626262626\n"
	"	ldr x27, =0x2727272727272727\n"
	"	ldr x28, =0x2828282828282828\n"
	"	movi v16.16b, #0x16\n	movi v17.16b, #0x17\n	movi v31.16b, #0x31\n"
	"	mrs x9, fpcr\n"
	"	mrs x10, fpsr\n"
	"	stp x9, x10, [sp, #96]\n"
	"	mov x9, #0xc00000\n"            /* FPCR.RMode = round towards zero */
	"	msr fpcr, x9\n"
	"	mov x9, #0x10\n"                /* FPSR.IXC */
	"	msr fpsr, x9\n"
	"	mov x8, #129\n"                 /* __NR_kill */
	"	svc #0\n"
	".globl after_svc\n"
	"after_svc:\n"
	"	adrp x9, after_regs\n"
	"	add x9, x9, :lo12:after_regs\n"
	"	stp x19, x20, [x9]\n"
	"	stp x21, x22, [x9, #16]\n"
	"	stp x23, x24, [x9, #32]\n"
	"	stp x25, x26, [x9, #48]\n"
	"	stp x27, x28, [x9, #64]\n"
	"	str q16, [x9, #80]\n"
	"	mrs x10, fpcr\n"
	"	str x10, [x9, #96]\n"
	"	mrs x10, fpsr\n"
	"	str x10, [x9, #104]\n"
	"	ldp x9, x10, [sp, #96]\n"
	"	msr fpcr, x9\n"
	"	msr fpsr, x10\n"
	"	ldp x19, x20, [sp, #16]\n"
	"	ldp x21, x22, [sp, #32]\n"
	"	ldp x23, x24, [sp, #48]\n"
	"	ldp x25, x26, [sp, #64]\n"
	"	ldp x27, x28, [sp, #80]\n"
	"	ldp x29, x30, [sp], #112\n"
	"	ret\n"
	".size trigger_kill, .-trigger_kill\n"

	/* trigger_fault(addr): a load the handler skips (pc += 4) */
	".globl trigger_fault\n.type trigger_fault,%function\n"
	"trigger_fault:\n"
	"	mov x1, x0\n"
	".globl fault_insn\n"
	"fault_insn:\n"
	"	ldr x0, [x1]\n"
	"	ret\n"
	".size trigger_fault, .-trigger_fault\n"

	/* the program's own restorer (SA_RESTORER): one instruction more than
	 * the vDSO's, so the walk steps three */
	".globl own_restorer\n.type own_restorer,%function\n"
	"own_restorer:\n"
	"	nop\n"
	"	mov x8, #139\n"                 /* __NR_rt_sigreturn */
	"	svc #0\n"
	".size own_restorer, .-own_restorer\n"

	/* trigger_sve_fault(addr): SVE registers live, a fault the handler
	 * skips, then z16, p3 and VL stored before any syscall */
	".arch_extension sve\n"
	".globl trigger_sve_fault\n.type trigger_sve_fault,%function\n"
	"trigger_sve_fault:\n"
	"	mov x1, x0\n"
	"	dup z16.b, #0x16\n"
	"	dup z31.b, #0x31\n"
	"	ptrue p3.b\n"
	"	ldr x0, [x1]\n"
	"	adrp x9, sve_after\n"
	"	add x9, x9, :lo12:sve_after\n"
	"	str z16, [x9]\n"
	"	add x10, x9, #256\n"
	"	str p3, [x10]\n"
	"	adrp x9, sve_vl\n"
	"	add x9, x9, :lo12:sve_vl\n"
	"	rdvl x10, #1\n"
	"	str x10, [x9]\n"
	"	ret\n"
	".size trigger_sve_fault, .-trigger_sve_fault\n"
	".ltorg\n");

static const char *cur_tag;
static int depth;

static void *record_of(mcontext_t *mc, unsigned magic)
{
	unsigned char *p = mc->__reserved;
	for (;;) {
		struct _aarch64_ctx *h = (void *)p;
		if (h->magic == 0 || h->size == 0 || p >= mc->__reserved + sizeof mc->__reserved)
			return 0;
		if (h->magic == magic)
			return (void *)p;
		p += h->size;
	}
}

static struct fpsimd_context *fpsimd_of(mcontext_t *mc)
{
	return record_of(mc, FPSIMD_MAGIC);
}

static void report_frame(const char *tag, ucontext_t *uc, void *restorer)
{
	mcontext_t *mc = &uc->uc_mcontext;
	struct fpsimd_context *fp = fpsimd_of(mc);
	uint64_t mask, w[2];

	memcpy(&mask, &uc->uc_sigmask, 8);
	rep_begin(tag);
	rep_hex("frame", (uintptr_t)uc - 128);
	rep_hex("restorer", (uintptr_t)restorer);
	rep_hex("own_restorer", (uintptr_t)own_restorer);
	rep_hex("after_svc", (uintptr_t)after_svc);
	rep_hex("fault_insn", (uintptr_t)fault_insn);
	for (unsigned r = 0; r < 31; r++)
		rep_hexn("x", r, mc->regs[r]);
	rep_hex("sp", mc->sp);
	rep_hex("pc", mc->pc);
	rep_hex("pstate", mc->pstate);
	rep_hex("mask", mask);
	if (fp) {
		rep_hex("fpsr", fp->fpsr);
		rep_hex("fpcr", fp->fpcr);
		memcpy(w, &fp->vregs[16], 16);
		rep_hex("v16_lo", w[0]);
		rep_hex("v16_hi", w[1]);
	}
	{
		struct sve_context *sve = record_of(mc, SVE_MAGIC);
		if (sve) {
			rep_hex("sve_vl", sve->vl);
			rep_hex("sve_size", sve->head.size);
		}
	}
	rep_end();
}

static void report_after(const char *tag, int regs)
{
	char t[32];
	unsigned i = 0;
	sigset_t set;
	uint64_t mask;

	while (tag[i] && i < 20) {
		t[i] = tag[i];
		i++;
	}
	memcpy(t + i, ".after", 7);
	sigprocmask(SIG_BLOCK, 0, &set);
	memcpy(&mask, &set, 8);
	rep_begin(t);
	rep_hex("mask", mask);
	if (regs) {
		for (unsigned r = 0; r < 10; r++)
			rep_hexn("x", 19 + r, after_regs[r]);
		rep_hex("v16_lo", after_regs[10]);
		rep_hex("v16_hi", after_regs[11]);
		rep_hex("fpcr", after_regs[12]);
		rep_hex("fpsr", after_regs[13]);
	}
	rep_end();
}

void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	void *restorer = __builtin_return_address(0);
	const char *tag = depth ? "nest_in" : cur_tag;

	(void)si;
	if (sig == SIGSEGV) {
		uc->uc_mcontext.pc += 4; /* skip the faulting load */
		sigaddset(&uc->uc_sigmask, SIGUSR2);
	}
	if (tag[0] == 'f' && tag[1] == 'p') {
		struct fpsimd_context *fp = fpsimd_of(&uc->uc_mcontext);
		if (fp) {
			memset(&fp->vregs[16], 0x5a, 16);
			fp->fpcr = 0;
			fp->fpsr = 0;
		}
	}
	if (tag[0] == 's' && tag[1] == 'v') {
		struct sve_context *sve = record_of(&uc->uc_mcontext, SVE_MAGIC);
		if (sve && sve->head.size > sizeof *sve) { /* the registers are there */
			unsigned vq = sve->vl / 16;
			unsigned char *p = (unsigned char *)sve;
			memset(p + SVE_SIG_ZREG_OFFSET(vq, 16), 0x5a, SVE_SIG_ZREG_SIZE(vq));
			memset(p + SVE_SIG_PREG_OFFSET(vq, 3), 0x0f, SVE_SIG_PREG_SIZE(vq));
		}
	}
	if (!depth && tag[0] == 'n' && tag[1] == 'e') { /* nest: a signal inside */
		depth++;
		trigger_kill(getpid(), SIGUSR2);
		depth--;
	}
	report_frame(tag, uc, restorer);
}

static void install(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(sig, &sa, 0);
}

/* the kernel's struct sigaction (arch/arm64: the generic one with sa_restorer) */
struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static void install_own_restorer(int sig)
{
	struct k_sigaction ka = { (void *)handler, SA_SIGINFO | 0x04000000 /* SA_RESTORER */,
				  (void *)own_restorer, 0 };
	syscall(SYS_rt_sigaction, sig, &ka, 0, 8);
}

static void exit_handler(int sig)
{
	rep_begin("exit");
	rep_hex("sig", (unsigned)sig);
	rep_end();
	_exit(3);
}

int main(int argc, char **argv)
{
	sigset_t usr2;

	if (argc > 1 && strcmp(argv[1], "exit") == 0) {
		signal(SIGUSR1, exit_handler);
		trigger_kill(getpid(), SIGUSR1);
		return 0;
	}

	(void)rep_dump; /* report_arm.h: not needed here */

	install(SIGUSR1);
	install(SIGUSR2);
	install(SIGSEGV);

	cur_tag = "plain";
	trigger_kill(getpid(), SIGUSR1);
	report_after("plain", 1);

	cur_tag = "restorer";
	install_own_restorer(SIGUSR1);
	trigger_kill(getpid(), SIGUSR1);
	report_after("restorer", 1);
	install(SIGUSR1);

	cur_tag = "segv";
	trigger_fault(0xdead000);
	report_after("segv", 0); /* SIGUSR2 blocked now: the handler's edit */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_UNBLOCK, &usr2, 0);

	cur_tag = "nest";
	trigger_kill(getpid(), SIGUSR1);
	report_after("nest", 1);

	cur_tag = "fp";
	trigger_kill(getpid(), SIGUSR1);
	report_after("fp", 1);

	cur_tag = "sve";
	trigger_sve_fault(0xdead000);
	report_after("sve", 0);
	{
		uint64_t w[4];
		memcpy(w, sve_after, 8);
		memcpy(w + 1, sve_after + 16, 8);
		memcpy(w + 2, sve_after + sve_vl - 8, 8);
		memcpy(w + 3, sve_after + 256, 8);
		rep_begin("sve.regs");
		rep_hex("vl", sve_vl);
		rep_hex("z16_0", w[0]);  /* bytes 0-7: from the fpsimd record */
		rep_hex("z16_16", w[1]); /* bytes 16-23: from the sve record */
		rep_hex("z16_end", w[2]);
		rep_hex("p3", w[3]);     /* the first 8 bytes (VL 64: exactly p3) */
		rep_end();
	}
	sigprocmask(SIG_UNBLOCK, &usr2, 0);

	cur_tag = "trapfree";
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = handler;
		sa.sa_flags = SA_SIGINFO;
		sigaddset(&sa.sa_mask, SIGTRAP);
		sigaction(SIGUSR1, &sa, 0);
	}
	trigger_kill(getpid(), SIGUSR1);
	report_after("trapfree", 1);

	done();
	return 0;
}
