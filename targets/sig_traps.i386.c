/*
 * sig_traps.i386 - the program's own traps, 32-bit freestanding: the trap
 * flag set by the program itself, int3 and ud2 with handlers, and TF set by
 * a handler in its saved context (uc_mcontext.flags).  Handlers are
 * installed with rt_sigaction without SA_RESTORER: they return through the
 * vDSO's __kernel_rt_sigreturn.
 *
 * Proves: a traced 32-bit program receives exactly the SIGTRAPs and SIGILLs
 * it receives untraced (sigdbg neither takes the program's TRAP_TRACE for
 * its own single-step nor makes the kernel reset a blocked SIGTRAP to
 * SIG_DFL by trapping inside a SIGTRAP handler), and that a TF the program
 * set survives an int $0x80 sigreturn that sigdbg steps over
 * (--step-sigreturn).  The tests compare traced and untraced runs.
 *
 * Scenarios (argv[1]; none = all in order; then SIGDBG-DONE, exit 0), the
 * same as sig_traps (x86_64):
 *   tf      pushfl/orl/popfl sets TF; nops, arithmetic, getpid and
 *           kill(getpid(), SIGURG) (ignored) by int $0x80; popfl clears TF.  Handler: tag=tf code= off=<si_addr -
 *           tf_region32>; three rounds.
 *   int3    20 int3: tag=int3 code= off=<ip - int3_once32>
 *   ud2     20 ud2, the SIGILL handler skips them (ip += 2):
 *           tag=ud2 code= off=<ip - ud2_once32>
 *   tf_ctx  SIGUSR1 handler sets TF in uc_mcontext.flags; the SIGTRAP
 *           handler reports tag=tf_ctx code= off=<ip - usr1_self32> and clears
 *           TF in its own saved context at every 4th trap.  Two rounds.
 * Main reports tag=<scenario>_back traps=<traps seen>.
 */
#include "sys32.h"

#define X86_EFLAGS_TF 0x100u

void tf_region32(void);
void int3_once32(void);
void ud2_once32(void);
void usr1_self32(long pid);

__asm__(
	".text\n"
	".globl tf_region32\n"
	".type tf_region32,@function\n"
	"tf_region32:\n"
	"	pushl %ebx\n"
	"	pushfl\n"
	"	orl $0x100, (%esp)\n"
	"	popfl\n"
	"	nop\n"
	"	movl $1, %eax\n"
	"	addl $2, %eax\n"
	"	movl $20, %eax\n"        /* getpid */
	"	int $0x80\n"
	"	movl %eax, %ebx\n"
	"	movl $23, %ecx\n"        /* kill(pid, SIGURG): ignored by default */
	"	movl $37, %eax\n"
	"	int $0x80\n"
	"	nop\n"
	"	nop\n"
	"	pushfl\n"
	"	andl $~0x100, (%esp)\n"
	"	popfl\n"
	"	nop\n"
	"	popl %ebx\n"
	"	ret\n"
	".size tf_region32,.-tf_region32\n"
	".globl int3_once32\n"
	".type int3_once32,@function\n"
	"int3_once32:\n"
	"	int3\n"
	"	ret\n"
	".size int3_once32,.-int3_once32\n"
	".globl ud2_once32\n"
	".type ud2_once32,@function\n"
	"ud2_once32:\n"
	"	ud2\n"
	"	ret\n"
	".size ud2_once32,.-ud2_once32\n"
	".globl usr1_self32\n"
	".type usr1_self32,@function\n"
	"usr1_self32:\n"                 /* kill(pid, SIGUSR1), then a run of nops */
	"	pushl %ebx\n"
	"	movl 8(%esp), %ebx\n"
	"	movl $10, %ecx\n"
	"	movl $37, %eax\n"
	"	int $0x80\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	nop\n"
	"	popl %ebx\n"
	"	ret\n"
	".size usr1_self32,.-usr1_self32\n");

static volatile int traps;
static volatile int mode;  /* 0 tf, 1 int3, 2 ud2, 3 tf_ctx */

static void report_trap(const char *tag, compat_siginfo_t *si, u32 off)
{
	struct report r;

	rep_begin(&r, tag);
	rep_kv(&r, "code", (u32)si->si_code);
	rep_kv(&r, "off", off);
	rep_end(&r);
}

static void on_trap(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;
	u32 ip = uc->uc_mcontext.ip;

	(void)sig;
	traps++;
	if (mode == 1) {
		report_trap("int3", si, ip - (u32)(uintptr_t)int3_once32);
	} else if (mode == 3) {
		report_trap("tf_ctx", si, ip - (u32)(uintptr_t)usr1_self32);
		if (traps % 4 == 0)
			uc->uc_mcontext.flags &= ~X86_EFLAGS_TF;
	} else {
		report_trap("tf", si, (u32)si->si_addr - (u32)(uintptr_t)tf_region32);
	}
}

static void on_ill(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;

	(void)sig;
	traps++;
	report_trap("ud2", si, uc->uc_mcontext.ip - (u32)(uintptr_t)ud2_once32);
	uc->uc_mcontext.ip += 2;
}

static void on_usr1(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;

	(void)sig;
	(void)si;
	uc->uc_mcontext.flags |= X86_EFLAGS_TF;
}

static void back(const char *tag)
{
	struct report r;

	rep_begin(&r, tag);
	rep_kv(&r, "traps", (u32)traps);
	rep_end(&r);
}

static void sc_tf(void)
{
	int i;

	mode = 0;
	traps = 0;
	sys32_check(sys32_set_handler(SIGTRAP, on_trap, SA_SIGINFO, 0, 0), "rt_sigaction");
	for (i = 0; i < 3; i++)
		tf_region32();
	back("tf_back");
}

static void sc_int3(void)
{
	int i;

	mode = 1;
	traps = 0;
	sys32_check(sys32_set_handler(SIGTRAP, on_trap, SA_SIGINFO, 0, 0), "rt_sigaction");
	for (i = 0; i < 20; i++)
		int3_once32();
	back("int3_back");
}

static void sc_ud2(void)
{
	int i;

	mode = 2;
	traps = 0;
	sys32_check(sys32_set_handler(SIGILL, on_ill, SA_SIGINFO, 0, 0), "rt_sigaction");
	for (i = 0; i < 20; i++)
		ud2_once32();
	back("ud2_back");
}

static void sc_tf_ctx(void)
{
	int i;

	mode = 3;
	traps = 0;
	sys32_check(sys32_set_handler(SIGTRAP, on_trap, SA_SIGINFO, 0, 0), "rt_sigaction");
	sys32_check(sys32_set_handler(SIGUSR1, on_usr1, SA_SIGINFO, 0, 0), "rt_sigaction");
	for (i = 0; i < 2; i++)
		usr1_self32(sys_getpid());
	back("tf_ctx_back");
}

int main(int argc, char **argv, char **envp)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} sc[] = { { "tf", sc_tf }, { "int3", sc_int3 }, { "ud2", sc_ud2 },
		   { "tf_ctx", sc_tf_ctx } };
	unsigned i;

	(void)envp;
	for (i = 0; i < sizeof(sc) / sizeof(sc[0]); i++)
		if (argc < 2 || sys32_streq(argv[1], sc[i].name))
			sc[i].fn();
	sys32_done();
	return 0;
}
