/*
 * sig_traps - the program's own traps: the trap flag set by the program
 * itself, int3 and ud2 with handlers (in the style of the kernel's
 * tools/testing/selftests/x86/single_step_syscall.c and sigreturn.c).
 *
 * Proves: a traced program receives exactly the SIGTRAPs (and SIGILLs) it
 * receives untraced -- sigdbg neither swallows one (taking the program's
 * TRAP_TRACE for its own single-step) nor injects one (its own step or
 * hardware-breakpoint trap, or the kernel's reset of a blocked SIGTRAP to
 * SIG_DFL by force_sig_fault when sigdbg single-steps a handler that runs
 * with SIGTRAP blocked), and that the program's own EFLAGS.TF survives a
 * sigreturn that sigdbg single-steps (--step-sigreturn).  The tests compare
 * the output and exit status of a traced run with an untraced one.
 *
 * Scenarios (argv[1]; none = all in order; then SIGDBG-DONE, exit 0):
 *   tf      pushf/or/popf sets TF, a fixed run of instructions (with
 *           getpid and kill(getpid(), SIGURG) among them: SIGURG is ignored,
 *           and the program's own trap comes at the instruction that a
 *           tracer steps to deliver it) executes, popf clears TF.  The
 *           SIGTRAP handler reports every trap:
 *             tag=tf code=<si_code> off=<si_addr - tf_region>
 *           three rounds.
 *   int3    int3 executed 20 times; the SIGTRAP handler reports
 *             tag=int3 code=<si_code> off=<pc - int3_once>
 *   ud2     ud2 executed 20 times; the SIGILL handler reports
 *             tag=ud2 code=<si_code> off=<pc - ud2_once>
 *           and skips it (uc_mcontext RIP += 2).
 *   tf_ctx  a SIGUSR1 handler sets TF in its saved context (uc_mcontext
 *           EFL); after sigreturn the program single-steps: the SIGTRAP
 *           handler reports tag=tf_ctx code= off=<pc - usr1_self> and,
 *           at the 4th trap, clears TF in its own saved context.  Two rounds.
 *   fillmask  a SIGUSR1 handler whose sa_mask is full (SIGTRAP blocked while
 *           it runs; a common idiom) runs 3 times, then int3 as above
 *           (tag=int3): a trap caused inside that handler would have made
 *           the kernel reset the SIGTRAP handler to SIG_DFL.
 * Main reports tag=<scenario>_back traps=<number of traps seen> tf=<TF after>.
 */
#include "report.h"

#include <stdint.h>
#include <stdlib.h>

#define X86_EFLAGS_TF 0x100UL

extern char tf_region[], int3_once[], ud2_once[], usr1_self[];
void tf_region_fn(void) __asm__("tf_region");
void int3_once_fn(void) __asm__("int3_once");
void ud2_once_fn(void) __asm__("ud2_once");
void usr1_self_fn(long pid) __asm__("usr1_self");

/* The instruction sequences, in asm so that the trap addresses are fixed. */
__asm__(
	".text\n"
	".globl tf_region\n"
	".type tf_region,@function\n"
	"tf_region:\n"
	"	pushfq\n"
	"	orq $0x100, (%rsp)\n"
	"	popfq\n"
	"	nop\n"
	"	movl $1, %eax\n"
	"	addl $2, %eax\n"
	"	movl $39, %eax\n"        /* getpid */
	"	syscall\n"
	"	movl %eax, %edi\n"
	"	movl $23, %esi\n"        /* kill(pid, SIGURG): ignored by default */
	"	movl $62, %eax\n"
	"	syscall\n"
	"	nop\n"
	"	nop\n"
	"	pushfq\n"
	"	andq $~0x100, (%rsp)\n"
	"	popfq\n"
	"	nop\n"
	"	ret\n"
	".size tf_region,.-tf_region\n"
	".globl int3_once\n"
	".type int3_once,@function\n"
	"int3_once:\n"
	"	int3\n"
	"	ret\n"
	".size int3_once,.-int3_once\n"
	".globl ud2_once\n"
	".type ud2_once,@function\n"
	"ud2_once:\n"
	"	ud2\n"
	"	ret\n"
	".size ud2_once,.-ud2_once\n"
	".globl usr1_self\n"
	".type usr1_self,@function\n"
	"usr1_self:\n"                   /* kill(pid, SIGUSR1), then a run of nops */
	"	movl $10, %esi\n"
	"	movl $62, %eax\n"
	"	syscall\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	ret\n"
	".size usr1_self,.-usr1_self\n");

static volatile int traps;
static const char *mode_tag;

static unsigned long get_eflags(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	return f;
}

static void report_trap(const char *tag, siginfo_t *si, unsigned long off)
{
	rep_begin(tag);
	rep_hex("code", (unsigned int)si->si_code);
	rep_hex("off", off);
	rep_end();
}

static void on_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned long pc = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];

	(void)sig;
	traps++;
	if (mode_tag[0] == 'i') {        /* int3: pc is after the int3 */
		report_trap("int3", si, pc - (unsigned long)int3_once);
	} else if (mode_tag[2] == '_') { /* tf_ctx */
		report_trap("tf_ctx", si, pc - (unsigned long)usr1_self);
		if (traps % 4 == 0)
			uc->uc_mcontext.gregs[REG_EFL] &= ~X86_EFLAGS_TF;
	} else {
		report_trap("tf", si, (unsigned long)si->si_addr - (unsigned long)tf_region);
	}
}

static void on_ill(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	unsigned long pc = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];

	(void)sig;
	traps++;
	report_trap("ud2", si, pc - (unsigned long)ud2_once);
	uc->uc_mcontext.gregs[REG_RIP] += 2;
}

static void on_usr1(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_EFL] |= X86_EFLAGS_TF;
}

static void install_mask(int sig, void (*fn)(int, siginfo_t *, void *), int full)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	if (full)
		sigfillset(&sa.sa_mask);
	else
		sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, 0) != 0)
		_exit(1);
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *))
{
	install_mask(sig, fn, 0);
}

static volatile int usr1_seen;

static void on_usr1_count(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	(void)ucv;
	usr1_seen++;
}

static void back(const char *tag)
{
	char name[32];

	strcpy(name, tag);
	strcat(name, "_back");
	rep_begin(name);
	rep_hex("traps", (unsigned long)traps);
	rep_hex("tf", (get_eflags() & X86_EFLAGS_TF) != 0);
	rep_end();
}

static void sc_tf(void)
{
	int round;

	mode_tag = "tf";
	traps = 0;
	install(SIGTRAP, on_trap);
	for (round = 0; round < 3; round++)
		tf_region_fn();
	back("tf");
}

static void sc_int3(void)
{
	int i;

	mode_tag = "int3";
	traps = 0;
	install(SIGTRAP, on_trap);
	for (i = 0; i < 20; i++)
		int3_once_fn();
	back("int3");
}

static void sc_fillmask(void)
{
	int i;

	mode_tag = "int3";
	traps = 0;
	install(SIGTRAP, on_trap);
	install_mask(SIGUSR1, on_usr1_count, 1);
	for (i = 0; i < 3; i++)
		raise(SIGUSR1);
	for (i = 0; i < 20; i++)
		int3_once_fn();
	back("fillmask");
}

static void sc_ud2(void)
{
	int i;

	mode_tag = "ud2";
	traps = 0;
	install(SIGILL, on_ill);
	for (i = 0; i < 20; i++)
		ud2_once_fn();
	back("ud2");
}

static void sc_tf_ctx(void)
{
	int round;

	mode_tag = "tf_ctx";
	traps = 0;
	install(SIGTRAP, on_trap);
	install(SIGUSR1, on_usr1);
	for (round = 0; round < 2; round++)
		usr1_self_fn(getpid());
	back("tf_ctx");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} sc[] = { { "tf", sc_tf }, { "int3", sc_int3 }, { "ud2", sc_ud2 },
		   { "tf_ctx", sc_tf_ctx }, { "fillmask", sc_fillmask } };
	unsigned i, n = sizeof(sc) / sizeof(sc[0]);

	for (i = 0; i < n; i++)
		if (argc < 2 || strcmp(argv[1], sc[i].name) == 0)
			sc[i].fn();
	done();
	return 0;
}
