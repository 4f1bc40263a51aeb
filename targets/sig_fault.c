/*
 * sig_fault - synchronous hardware faults (#PF, #DE, #UD, #BP) delivered as
 * SIGSEGV / SIGFPE / SIGILL / SIGTRAP, and recovered from by the handler
 * rewriting REG_RIP in the ucontext.  Proves that sigdbg decodes fault
 * siginfo (si_addr) and the sigcontext trapno/err/cr2 fields, and that a
 * handler-modified rip in the frame is what sigreturn resumes at.
 *
 * usage: sig_fault [SCENARIO]   (no argument: every scenario except
 *                                fatal_segv, in order)
 *
 *   maperr_read   movl (0x10),%eax       SIGSEGV SEGV_MAPERR addr 0x10,
 *                                        trapno 14, err 4, cr2 0x10
 *   maperr_write  movl %eax,(0x10)       SIGSEGV SEGV_MAPERR addr 0x10,
 *                                        trapno 14, err 6, cr2 0x10
 *   accerr        store to a PROT_READ page   SIGSEGV SEGV_ACCERR, addr =
 *                                        cr2 = the page, err 6 (never
 *                                        touched, so "not present"); main
 *                                        first prints tag=accerr_page page=..
 *   fpe           divl by a zero register     SIGFPE FPE_INTDIV, addr = pc,
 *                                        trapno 0
 *   ill           ud2                    SIGILL ILL_ILLOPN, addr = pc,
 *                                        trapno 6
 *   trap          int3                   SIGTRAP SI_KERNEL (pid/uid 0, no
 *                                        addr), trapno 3, pc = insn + 1
 *   (cr2 is stale after the accerr scenario: trapno != 14 leaves it alone)
 *   fatal_segv    no handler; load from 0x10: the process dies with SIGSEGV
 *                 (no report, no SIGDBG-DONE)
 *
 * Each handled fault reports rep_siginfo + rep_ucontext (tag = scenario)
 * plus:
 *   insn    address of the faulting instruction (label in the asm block;
 *           for trap the address of the int3)
 *   resume  the rip the handler leaves in the ucontext: the address right
 *           after the faulting instruction (for trap the pc is already past
 *           the int3, so resume == pc and the handler does not change it)
 * The handler then returns; sigreturn continues at resume.  Prints
 * SIGDBG-DONE and exits 0.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static const char *volatile g_tag = "?";
static volatile unsigned long g_insn, g_resume;
static volatile sig_atomic_t g_hits;

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned long resume;

	if (sig == SIGTRAP)
		resume = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
	else
		resume = g_resume;
	rep_begin(g_tag);
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("insn", g_insn);
	rep_hex("resume", resume);
	rep_end();
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)resume;
	g_hits++;
}

static void install_all(void)
{
	static const int sigs[] = { SIGSEGV, SIGFPE, SIGILL, SIGTRAP };
	struct sigaction sa;
	unsigned i;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

/*
 * Every asm block stores the address of label 1 (the faulting instruction)
 * in g_insn and of label 2 (the next instruction) in g_resume before
 * executing the faulting instruction.
 */
#define LABELS                              \
	"lea 1f(%%rip), %%r10\n\t"          \
	"mov %%r10, %[insn]\n\t"            \
	"lea 2f(%%rip), %%r10\n\t"          \
	"mov %%r10, %[resume]\n\t"
#define LABEL_OUTS [insn] "=m"(g_insn), [resume] "=m"(g_resume)

static void sc_maperr_read(void)
{
	int v;
	asm volatile(LABELS
		     "1: movl (%[p]), %[v]\n"
		     "2:\n"
		     : LABEL_OUTS, [v] "=r"(v)
		     : [p] "r"(0x10UL)
		     : "r10", "memory");
	(void)v;
}

static void sc_maperr_write(void)
{
	asm volatile(LABELS
		     "1: movl %[v], (%[p])\n"
		     "2:\n"
		     : LABEL_OUTS
		     : [p] "r"(0x10UL), [v] "r"(0x5a5a5a5a)
		     : "r10", "memory");
}

static void sc_accerr(void)
{
	void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	if (page == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	rep_begin("accerr_page");
	rep_hex("page", (unsigned long)page);
	rep_end();
	asm volatile(LABELS
		     "1: movl %[v], (%[p])\n"
		     "2:\n"
		     : LABEL_OUTS
		     : [p] "r"(page), [v] "r"(0x5a5a5a5a)
		     : "r10", "memory");
	munmap(page, 4096);
}

static void sc_fpe(void)
{
	volatile unsigned zero = 0;
	unsigned d = zero;
	asm volatile(LABELS
		     "xor %%edx, %%edx\n\t"
		     "mov $1, %%eax\n\t"
		     "1: divl %[d]\n"
		     "2:\n"
		     : LABEL_OUTS
		     : [d] "r"(d)
		     : "r10", "rax", "rdx", "memory", "cc");
}

static void sc_ill(void)
{
	asm volatile(LABELS
		     "1: ud2\n"
		     "2:\n"
		     : LABEL_OUTS
		     :
		     : "r10", "memory");
}

static void sc_trap(void)
{
	asm volatile(LABELS
		     "1: int3\n"
		     "2:\n"
		     : LABEL_OUTS
		     :
		     : "r10", "memory");
}

static void sc_fatal_segv(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &sa, NULL);
	{
		int v;
		asm volatile("movl (%1), %0" : "=r"(v) : "r"(0x10UL) : "memory");
		(void)v;
	}
	/* not reached */
	write(2, "sig_fault: fatal_segv survived\n", 31);
	exit(1);
}

static const struct {
	const char *name;
	void (*fn)(void);
	int in_all;
} scenarios[] = {
	{ "maperr_read", sc_maperr_read, 1 },
	{ "maperr_write", sc_maperr_write, 1 },
	{ "accerr", sc_accerr, 1 },
	{ "fpe", sc_fpe, 1 },
	{ "ill", sc_ill, 1 },
	{ "trap", sc_trap, 1 },
	{ "fatal_segv", sc_fatal_segv, 0 },
};
#define NSC (sizeof scenarios / sizeof scenarios[0])

int main(int argc, char **argv)
{
	unsigned i;

	install_all();
	for (i = 0; i < NSC; i++) {
		if (argc > 1 ? strcmp(argv[1], scenarios[i].name) != 0
			     : !scenarios[i].in_all)
			continue;
		g_tag = scenarios[i].name;
		g_hits = 0;
		scenarios[i].fn();
		if (!g_hits) {
			fprintf(stderr, "sig_fault: %s: no signal\n",
				scenarios[i].name);
			return 1;
		}
		if (argc > 1)
			break;
	}
	if (argc > 1 && i == NSC) {
		fprintf(stderr, "sig_fault: unknown scenario %s\n", argv[1]);
		return 2;
	}
	done();
	return 0;
}
