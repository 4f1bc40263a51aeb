/*
 * srop_self - a program that performs sigreturn-oriented programming (SROP)
 * on itself: it builds a fake struct rt_sigframe and calls rt_sigreturn (15)
 * on it, so the kernel "returns" into landed(), a function nobody called.
 *
 * Proves: sigdbg trace --srop flags a sigreturn whose frame no delivery
 * built, with the reasons the kernel's own rules give, before the kernel
 * acts on it; and that tracing does not change what the program does
 * (landed() prints its marker and exits 0; a frame the kernel rejects ends
 * in SIGSEGV, traced or not).
 *
 * First an honest delivery: SIGUSR1 (SA_SIGINFO) is raised and its handler
 * copies the real FP area of its frame (64-byte aligned, MAGIC2 included)
 * into fpcopy; it returns normally through glibc's __restore_rt.  Then the
 * scenario (argv[1], default forge) forges a frame in the static buffer
 * fake (far from every real frame), with rip = landed, rsp = the top of a
 * private stack, cs 0x33, ss 0x2b, and:
 *   forge      fpstate NULL (the kernel resets the FPU): the kernel accepts it
 *   fpcopy     fpstate = the copied real FP area: accepted
 *   nomagic2   ... with FP_XSTATE_MAGIC2 cleared: the kernel falls back to the
 *              legacy FXSAVE part (fpu/signal.c check_xstate_in_sigframe): accepted
 *   badxbv     ... with xstate_bv bit 62 set (no such feature): XRSTOR faults,
 *              sigreturn fails -> SIGSEGV
 *   xreserved  ... with a reserved byte of the XSAVE header set (byte 21): SIGSEGV
 *   xreserved2 ... the same with byte 40 (the last 40 of the 48 reserved bytes)
 *   badmxcsr   ... with MXCSR bit 31 (reserved) set: SIGSEGV
 *   misalign   fpstate = a copy at a 16- but not 64-byte aligned address: SIGSEGV
 *   badcs      cs = 0x2b (a data segment): the return to user space faults -> SIGSEGV
 *   noncanon   rip = 0x8000000000000000: not canonical -> SIGSEGV
 *   fork       honest, nothing forged: the handler forks, and parent and child
 *              both return from it through the frame the kernel built
 *              before the fork; the child exits 7, the parent reaps it and
 *              prints SROP-FORKED status=7, exit 0
 * "--wait" before the scenario: print SROP-READY pid=<pid> and block reading
 * one byte from stdin first (so a tracer can attach with -p); "--wait-handler":
 * the same inside the SIGUSR1 handler (a tracer attached then finds a frame
 * built before it came).
 * Output: SROP-START <scenario>, the handler's report line, then from
 * landed(): SROP-LANDED <scenario> and exit status 0.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

#define SW_BYTES 464           /* struct _fpx_sw_bytes in the FXSAVE image */
#define XSAVE_HDR 512          /* XSAVE header: xstate_bv, xcomp_bv, reserved */

/* the kernel's x86_64 struct rt_sigframe offsets (arch/x86/include/asm/sigframe.h) */
#define F_UC_FLAGS 8
#define F_MCONTEXT 48           /* uc.uc_mcontext (struct sigcontext) */
#define SC(n) (F_MCONTEXT + 8 * (n))
enum { R8, R9, R10, R11, R12, R13, R14, R15, RDI, RSI, RBP, RBX, RDX, RAX, RCX, RSP, RIP,
       EFLAGS, CSGSFS, ERR, TRAPNO, OLDMASK, CR2, FPSTATE };
#define F_SIGMASK 304
#define F_SIZE 440

static const char *scenario = "forge";
static unsigned char fake[4096] __attribute__((aligned(64)));
static unsigned char fpcopy[16384] __attribute__((aligned(64)));
static unsigned char fpmis[16384 + 64] __attribute__((aligned(64)));
static size_t fpsize;
static int wait_in_handler;
static int fork_in_handler;
static pid_t forked;
static unsigned char landing_stack[65536] __attribute__((aligned(16)));

static void say(const char *a, const char *b)
{
	char line[128];
	int n = snprintf(line, sizeof line, "%s %s\n", a, b);
	write(1, line, (size_t)n);
}

__attribute__((noreturn, used)) static void landed(void)
{
	say("SROP-LANDED", scenario);
	_exit(0);
}

static void wait_for_go(void)
{
	char c, line[64];
	int n = snprintf(line, sizeof line, "SROP-READY pid=%d\n", (int)getpid());
	write(1, line, (size_t)n);
	if (read(0, &c, 1) < 0)
		_exit(3);
}

static void on_usr1(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	if (wait_in_handler)
		wait_for_go();
	if (fork_in_handler)
		forked = fork();
	const unsigned char *fp = (const unsigned char *)uc->uc_mcontext.fpregs;
	uint32_t ext;
	memcpy(&ext, fp + SW_BYTES + 4, 4);    /* extended_size: MAGIC2 included */
	if (ext > sizeof fpcopy)
		ext = sizeof fpcopy;
	memcpy(fpcopy, fp, ext);
	fpsize = ext;
	rep_begin("honest");
	rep_hex("sig", (uint64_t)sig);
	rep_hex("ucp", (uint64_t)(uintptr_t)uc);
	rep_hex("fpstate", (uint64_t)(uintptr_t)fp);
	rep_hex("fpsize", ext);
	rep_end();
	(void)si;
}

static void put64(size_t off, uint64_t v) { memcpy(fake + off, &v, 8); }

int main(int argc, char **argv)
{
	int i = 1;
	if (i < argc && strcmp(argv[i], "--wait") == 0) {
		wait_for_go();
		i++;
	} else if (i < argc && strcmp(argv[i], "--wait-handler") == 0) {
		wait_in_handler = 1;
		i++;
	}
	if (i < argc)
		scenario = argv[i];
	say("SROP-START", scenario);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	fork_in_handler = strcmp(scenario, "fork") == 0;
	raise(SIGUSR1);
	if (fork_in_handler) {
		int status = 0;
		char line[64];
		if (forked == 0)
			_exit(7);
		waitpid(forked, &status, 0);
		int n = snprintf(line, sizeof line, "SROP-FORKED status=%d\n", WEXITSTATUS(status));
		write(1, line, (size_t)n);
		return 0;
	}

	uint64_t fpstate = 0;
	uint32_t xstate_size;
	memcpy(&xstate_size, fpcopy + SW_BYTES + 16, 4);
	if (strcmp(scenario, "forge") == 0 || strcmp(scenario, "badcs") == 0
	    || strcmp(scenario, "noncanon") == 0) {
		fpstate = 0;
	} else if (strcmp(scenario, "fpcopy") == 0) {
		fpstate = (uintptr_t)fpcopy;
	} else if (strcmp(scenario, "nomagic2") == 0) {
		memset(fpcopy + xstate_size, 0, 4);
		fpstate = (uintptr_t)fpcopy;
	} else if (strcmp(scenario, "badxbv") == 0) {
		fpcopy[XSAVE_HDR + 7] |= 0x40;     /* xstate_bv bit 62 */
		fpstate = (uintptr_t)fpcopy;
	} else if (strcmp(scenario, "xreserved") == 0) {
		fpcopy[XSAVE_HDR + 16 + 5] = 1;     /* a reserved header byte */
		fpstate = (uintptr_t)fpcopy;
	} else if (strcmp(scenario, "xreserved2") == 0) {
		fpcopy[XSAVE_HDR + 40] = 1;
		fpstate = (uintptr_t)fpcopy;
	} else if (strcmp(scenario, "badmxcsr") == 0) {
		fpcopy[24 + 3] |= 0x80;              /* mxcsr bit 31 */
		fpstate = (uintptr_t)fpcopy;
	} else if (strcmp(scenario, "misalign") == 0) {
		memcpy(fpmis + 16, fpcopy, fpsize);
		fpstate = (uintptr_t)(fpmis + 16);
	} else {
		say("SROP-UNKNOWN", scenario);
		return 2;
	}

	memset(fake, 0, sizeof fake);
	put64(0, 0);                               /* pretcode: consumed by nobody */
	put64(F_UC_FLAGS, 0);
	put64(SC(RIP), strcmp(scenario, "noncanon") == 0 ? 0x8000000000000000ull
	                                                 : (uint64_t)(uintptr_t)landed);
	put64(SC(RSP), (uint64_t)(uintptr_t)(landing_stack + sizeof landing_stack - 8));
	put64(SC(EFLAGS), 0x202);
	/* cs, gs, fs, ss as four 16-bit fields */
	put64(SC(CSGSFS), (strcmp(scenario, "badcs") == 0 ? 0x2bull : 0x33ull) | (0x2bull << 48));
	put64(SC(FPSTATE), fpstate);
	put64(F_SIGMASK, 0);

	/* the kernel reads the frame at rsp - 8 (signal_64.c: regs->sp - sizeof(long)) */
	__asm__ volatile("mov %0, %%rsp\n\t"
	                 "mov $15, %%eax\n\t"
	                 "syscall\n\t"
	                 "ud2"
	                 : : "r"(fake + 8) : "memory");
	return 1;
}
