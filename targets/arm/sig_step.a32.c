/*
 * sig_step.a32 - AArch32 handlers that return through sigreturn, each
 * reporting the frame it leaves behind and, after the return, what the
 * interrupted code got back.  Built twice like sig_frame.a32: sig_step.arm
 * (-marm) and sig_step.thumb (-mthumb: the handlers are Thumb code, so the
 * kernel enters them in Thumb state and picks the Thumb [sigpage] entries).
 *
 * Proves (on the real arm64 kernel, compat task, in the QEMU guest;
 * tests/arm/test_a32_step.py holds `sigdbg trace --step-sigreturn` against
 * it): the registers, the signal mask and the VFP state that sigreturn and
 * rt_sigreturn restore are the ones the handler left in its frame,
 * including what the handler changed, for every restorer a 32-bit program
 * returns through.
 *
 * Every handler reports (tag=<scenario>, at its end, so after its edits):
 * the frame address (sp at handler entry, caught by an asm stub), its
 * restorer (lr at entry), the frame's r0-r12, sp, lr, pc, cpsr and
 * uc_sigmask, and the VFP record's fpscr and d16.  After the return the
 * interrupted code reports (tag=<scenario>.after) the blocked mask
 * (sigprocmask) and r4-r10, d16 and fpscr stored right after the svc.
 *
 * Scenarios, in this order:
 *   sigpage  SIGUSR1, rt_sigaction called directly without SA_RESTORER:
 *            the kernel's [sigpage] rt entry (ARM +0xc, Thumb +0x15)
 *   glibc    SIGUSR1 by glibc's sigaction: its Thumb-2 __default_rt_sa_restorer
 *   own      SIGUSR1, SA_RESTORER = the program's own restorer in the
 *            build's instruction set (nop; mov r7, #173; svc #0); the
 *            Thumb one at a halfword address (address & 3 == 2)
 *   nosi     SIGUSR2 without SA_SIGINFO nor SA_RESTORER: the non-rt
 *            compat_sigframe and the [sigpage] sigreturn entry (+0x0 / +0x9)
 *   segv     load from 0xdead000: the handler skips it (pc += 4 ARM, 2 Thumb)
 *            and adds SIGUSR2 to the saved mask, which the program then
 *            reports blocked
 *   vfp      SIGUSR1: the handler writes d16 = 0x5a.. and fpscr = 0x03000000
 *            (DN and FZ; RMode and IXC cleared) into the VFP record
 *   trapfree SIGUSR1 with SIGTRAP in sa_mask: a handler sigdbg must not
 *            trap in, so it follows it to rt_sigreturn with PTRACE_SYSCALL
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "report_arm.h"

/* the entry stub's view: sp, lr */
uint32_t entry_regs[2];
/* what the interrupted code holds right after the svc: r4-r10, d16 (lo, hi), fpscr */
uint32_t after_regs[10];
void handler_entry(int, siginfo_t *, void *);
void trigger_kill(long pid, long sig);
void trigger_fault(long addr);
void own_restorer(void);
extern char after_svc[], fault_insn[];

#ifdef __thumb__
#define MODE ".thumb\n.syntax unified\n"
#define FUNC(n) ".globl " #n "\n.type " #n ",%function\n.thumb_func\n" #n ":\n"
#define INSN_SKIP 2
#define LOAD "	ldr.n r0, [r1]\n"
#define OWN_RESTORER "	nop\n	movs r7, #173\n	svc #0\n"
/* the Thumb restorer starts at a halfword (address & 3 == 2): the
 * breakpoint's byte-address-select is then the word's upper half */
#define OWN_PAD "	nop\n"
#else
#define MODE ".arm\n.syntax unified\n"
#define FUNC(n) ".globl " #n "\n.type " #n ",%function\n" #n ":\n"
#define INSN_SKIP 4
#define LOAD "	ldr r0, [r1]\n"
#define OWN_RESTORER "	nop\n	mov r7, #173\n	svc #0\n"
#define OWN_PAD ""
#endif

__asm__(
	".text\n" MODE
	".fpu neon\n"
	".align 2\n"
	/* entry stub: r3 and r12 are scratch (sigreturn restores them) */
	FUNC(handler_entry)
	"	ldr r12, =entry_regs\n"
	"	mov r3, sp\n"
	"	str r3, [r12]\n"
	"	str lr, [r12, #4]\n"
	"	b c_handler\n"
	".ltorg\n"
	".size handler_entry, .-handler_entry\n"

	/* trigger_kill(pid, sig): patterns in r4-r10, d16, FPSCR; kill by svc;
	 * then stores what it holds into after_regs and restores */
	".align 2\n"
	FUNC(trigger_kill)
	"	push {r4-r11, lr}\n"
	"	ldr r4, =0x04040404\n"
	"	ldr r5, =0x05050505\n"
	"	ldr r6, =0x06060606\n"
	"	ldr r8, =0x08080808\n"
	"	ldr r9, =0x09090909\n"
	"	ldr r10, =0x10101010\n"
	"	vmov.i8 d16, #0x16\n"
	"	vmrs r11, fpscr\n"
	"	ldr r12, =0x00c00010\n"       /* RMode = towards zero, IXC */
	"	vmsr fpscr, r12\n"
	"	mov r7, #37\n"                 /* __NR_kill */
	"	svc #0\n"
	".globl after_svc\n"
	"after_svc:\n"
	"	ldr r12, =after_regs\n"
	"	str r4, [r12]\n"
	"	str r5, [r12, #4]\n"
	"	str r6, [r12, #8]\n"
	"	str r7, [r12, #12]\n"
	"	str r8, [r12, #16]\n"
	"	str r9, [r12, #20]\n"
	"	str r10, [r12, #24]\n"
	"	vstr d16, [r12, #28]\n"
	"	vmrs r3, fpscr\n"
	"	str r3, [r12, #36]\n"
	"	vmsr fpscr, r11\n"
	"	pop {r4-r11, pc}\n"
	".ltorg\n"
	".size trigger_kill, .-trigger_kill\n"

	".align 2\n"
	FUNC(trigger_fault)
	"	mov r1, r0\n"
	".globl fault_insn\n"
	"fault_insn:\n"
	LOAD
	"	bx lr\n"
	".size trigger_fault, .-trigger_fault\n"

	".align 2\n"
	OWN_PAD
	FUNC(own_restorer)
	OWN_RESTORER
	".size own_restorer, .-own_restorer\n");

/* volatile: glibc's sigaction is __THROW (leaf): keep the store before it */
static const char *volatile cur_tag;

#define NON_RT_UC_FLAGS 0x5ac3c35a
#define VFP_MAGIC 0x56465001
#define UC_REGSPACE_OFF 232  /* offsetof(struct ucontext, uc_regspace) */

void c_handler(int sig, siginfo_t *si, void *ucv)
{
	unsigned char *sp = (unsigned char *)(uintptr_t)entry_regs[0];
	uint32_t lr = entry_regs[1];
	/* rt frame: info at sp, uc at +128; non-rt: uc at sp (uc_flags = magic) */
	int rt = *(uint32_t *)sp != NON_RT_UC_FLAGS;
	ucontext_t *uc = (ucontext_t *)(rt ? sp + 128 : sp);
	mcontext_t *mc = &uc->uc_mcontext;
	uint32_t *vfp = (uint32_t *)((unsigned char *)uc + UC_REGSPACE_OFF);
	uint64_t mask, d16;
	const char *tag = cur_tag;

	(void)si;
	(void)ucv;
	memcpy(&mask, &uc->uc_sigmask, 8);
	if (sig == SIGSEGV) {
		mc->arm_pc += INSN_SKIP; /* skip the faulting load */
		mask |= 1ull << (SIGUSR2 - 1);
		memcpy(&uc->uc_sigmask, &mask, 8);
	}
	if (vfp[0] == VFP_MAGIC && tag[0] == 'v') {
		d16 = 0x5a5a5a5a5a5a5a5aull;
		memcpy(vfp + 2 + 2 * 16, &d16, 8);
		vfp[2 + 64] = 0x03000000; /* fpscr: DN, FZ; RMode and IXC cleared */
	}
	rep_begin(tag);
	rep_hex("sig", (unsigned)sig);
	rep_hex("rt", rt);
	rep_hex("frame", (uintptr_t)sp);
	rep_hex("restorer", lr);
	rep_hex("own_restorer", (uintptr_t)own_restorer);
	rep_hex("after_svc", (uintptr_t)after_svc);
	rep_hex("fault_insn", (uintptr_t)fault_insn);
	rep_hex("r0", mc->arm_r0);
	rep_hex("r1", mc->arm_r1);
	rep_hex("r2", mc->arm_r2);
	rep_hex("r3", mc->arm_r3);
	rep_hex("r4", mc->arm_r4);
	rep_hex("r5", mc->arm_r5);
	rep_hex("r6", mc->arm_r6);
	rep_hex("r7", mc->arm_r7);
	rep_hex("r8", mc->arm_r8);
	rep_hex("r9", mc->arm_r9);
	rep_hex("r10", mc->arm_r10);
	rep_hex("r11", mc->arm_fp);
	rep_hex("r12", mc->arm_ip);
	rep_hex("sp", mc->arm_sp);
	rep_hex("lr", mc->arm_lr);
	rep_hex("pc", mc->arm_pc);
	rep_hex("cpsr", mc->arm_cpsr);
	rep_hex("mask", mask);
	if (vfp[0] == VFP_MAGIC) {
		memcpy(&d16, vfp + 2 + 2 * 16, 8);
		rep_hex("d16", d16);
		rep_hex("fpscr", vfp[2 + 64]);
	}
	rep_end();
	{
		/* the restorer's code, as the program reads it (tag=<scenario>.lrcode) */
		char t[32];
		unsigned i = 0;
		while (tag[i] && i < 20) {
			t[i] = tag[i];
			i++;
		}
		memcpy(t + i, ".lrcode", 8);
		rep_dump(t, (void *)(uintptr_t)(lr & ~1u), 12);
	}
}

static void report_after(const char *tag)
{
	char t[32];
	unsigned i = 0;
	sigset_t set;
	uint64_t mask, d16;

	while (tag[i] && i < 20) {
		t[i] = tag[i];
		i++;
	}
	memcpy(t + i, ".after", 7);
	sigprocmask(SIG_BLOCK, 0, &set);
	memcpy(&mask, &set, 8);
	rep_begin(t);
	rep_hex("mask", mask);
	for (unsigned r = 0; r < 7; r++)
		rep_hexn("r", 4 + r, after_regs[r]);
	memcpy(&d16, after_regs + 7, 8);
	rep_hex("d16", d16);
	rep_hex("fpscr", after_regs[9]);
	rep_end();
}

static void install(int sig, int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler_entry;
	sa.sa_flags = flags;
	sigaction(sig, &sa, 0);
}

/* rt_sigaction as the kernel reads it (compat_sigaction): handler, flags,
 * restorer, 64-bit mask; without SA_RESTORER the kernel returns through its
 * [sigpage] */
static void install_raw(int sig, unsigned long flags, void (*restorer)(void))
{
	struct {
		void *handler;
		unsigned long flags, restorer, mask[2];
	} ksa = { (void *)handler_entry, flags, (unsigned long)(uintptr_t)restorer, { 0, 0 } };
	syscall(__NR_rt_sigaction, sig, &ksa, 0, 8);
}

int main(void)
{
	sigset_t none;

	cur_tag = "sigpage";
	install_raw(SIGUSR1, SA_SIGINFO, 0);
	trigger_kill(getpid(), SIGUSR1);
	report_after("sigpage");

	cur_tag = "glibc";
	install(SIGUSR1, SA_SIGINFO);
	trigger_kill(getpid(), SIGUSR1);
	report_after("glibc");

	cur_tag = "own";
	install_raw(SIGUSR1, SA_SIGINFO | 0x04000000 /* SA_RESTORER */, own_restorer);
	trigger_kill(getpid(), SIGUSR1);
	report_after("own");

	cur_tag = "nosi";
	install_raw(SIGUSR2, 0, 0);
	trigger_kill(getpid(), SIGUSR2);
	report_after("nosi");

	cur_tag = "segv";
	install(SIGSEGV, SA_SIGINFO);
	trigger_fault(0xdead000);
	report_after("segv");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, 0);

	cur_tag = "vfp";
	install(SIGUSR1, SA_SIGINFO);
	trigger_kill(getpid(), SIGUSR1);
	report_after("vfp");

	cur_tag = "trapfree";
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = handler_entry;
		sa.sa_flags = SA_SIGINFO;
		sigaddset(&sa.sa_mask, SIGTRAP);
		sigaction(SIGUSR1, &sa, 0);
	}
	trigger_kill(getpid(), SIGUSR1);
	report_after("trapfree");

	done();
	return 0;
}
