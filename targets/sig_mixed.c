/*
 * sig_mixed - a 64-bit task that runs 32-bit code (cs 0x23) and takes
 * signals there, in the style of the kernel selftests (x86/sigreturn.c,
 * x86/ldt_gdt.c).
 *
 * Proves (for sigdbg's mixed-mode handling): which registers and which frame
 * the kernel uses when the code that runs is not of the task's ABI.  The
 * frame kind follows how the handler was installed (a 64-bit rt_sigaction
 * gives struct rt_sigframe, a compat int $0x80 rt_sigaction sets SA_IA32_ABI
 * and gives struct rt_sigframe_ia32: arch/x86/kernel/signal.c
 * is_ia32_frame, signal_64.c sigaction_compat_abi), never the interrupted
 * cs; the saved cs tells what code was interrupted.  The kernel's regset
 * view at a stop follows the cs of the code at that stop
 * (arch/x86/kernel/ptrace.c task_user_regset_view: user_64bit_mode).
 *
 * The 32-bit code and its stack live in a MAP_32BIT mapping: a blob of
 * position-independent code copied there.  64-bit code enters it with a far
 * return (lretq to 0x23:entry); the 32-bit code comes back with a 32-bit far
 * return to a 64-bit stub in the same mapping, which jumps back to the main
 * text.  Before the signal, esi/edi/ebp hold MAGIC_SI/DI/BP.
 *
 * usage: sig_mixed [SCENARIO]   (no argument: all in this order)
 *   ud2    ud2 in 32-bit code -> SIGILL (ILL_ILLOPN, trapno 6), 64-bit
 *          SA_SIGINFO handler; it skips the ud2 (pc += 2).
 *   kill   kill(getpid(), SIGUSR1) with int $0x80 from 32-bit code; the
 *          signal arrives on the return to 32-bit code.
 *   ia32   a SIGILL handler installed with the compat rt_sigaction (int
 *          $0x80, SA_SIGINFO|SA_RESTORER, handler and restorer in 32-bit code
 *          of the blob), then ud2 in 32-bit code: the kernel builds an
 *          rt_sigframe_ia32 in this 64-bit task.  The 32-bit handler records
 *          what it sees in the blob's capture area and skips the ud2; main
 *          reports it after the return to 64-bit code.
 *
 * Report keys (SIGDBG-REPORT, one line per handler invocation):
 *   ud2/kill (from the 64-bit handler): handler sig code errno infop [addr|pid
 *     uid] pc sp ss_sp ss_flags ss_size mask ucp trapno err cr2 fpstate, and
 *     cs ss eflags rsi rdi rbp rax uc_flags (all from the ucontext);
 *     fault = address of the ud2 (ud2 only), entry = the 32-bit entry point.
 *   ia32 (recorded by the 32-bit handler, printed by main): sig frame
 *     (esp at handler entry) pinfo puc code (si_code) pc cs sp flags si di bp
 *     mask (uc_sigmask, 64-bit) fpstate handler restorer fault.
 * Then SIGDBG-DONE, exit 0.
 */
#include "report.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define MAGIC_SI 0x51515151u
#define MAGIC_DI 0xd1d1d1d1u
#define MAGIC_BP 0xb0b0b0b0u
#define LOW_SIZE (64 * 1024) /* code page + stack */
#define SA_RESTORER_ 0x04000000u /* not exported by glibc */

/* The blob: 32-bit code, a 64-bit stub, the capture area.  Position
 * independent; copied to low memory. */
extern char blob_start[], blob_end[], b_ud2[], b_ud2_fault[], b_kill[], b_ret64[],
	b_back[], b_h32[], b_restorer32[], b_cap[];
__asm__(
	".data\n"
	".balign 16\n"
	"blob_start:\n"
	".code32\n"
	/* ud2 scenario */
	"b_ud2:\n"
	"	movl %ss, %eax\n"
	"	movl %eax, %ds\n"
	"	movl %eax, %es\n"
	"	movl $0x51515151, %esi\n"
	"	movl $0xd1d1d1d1, %edi\n"
	"	movl $0xb0b0b0b0, %ebp\n"
	"b_ud2_fault:\n"
	"	ud2\n"
	"	lret\n"
	/* kill scenario: kill(getpid(), SIGUSR1) through the ia32 table */
	"b_kill:\n"
	"	movl %ss, %eax\n"
	"	movl %eax, %ds\n"
	"	movl %eax, %es\n"
	"	movl $20, %eax\n"
	"	int $0x80\n"
	"	movl %eax, %ebx\n"
	"	movl $10, %ecx\n"
	"	movl $0x51515151, %esi\n"
	"	movl $0xd1d1d1d1, %edi\n"
	"	movl $0xb0b0b0b0, %ebp\n"
	"	movl $37, %eax\n"
	"	int $0x80\n"
	"	lret\n"
	/* 32-bit SA_SIGINFO handler: [esp] pretcode, 4 sig, 8 pinfo, 12 puc.
	 * Records into b_cap (found with call/pop), skips the ud2. */
	"b_h32:\n"
	"	call 1f\n"
	"1:	popl %edx\n"
	"	leal (b_cap - 1b)(%edx), %edx\n"
	"	movl 4(%esp), %eax\n"
	"	movl %eax, 0(%edx)\n"          /* sig */
	"	movl %esp, 4(%edx)\n"          /* frame */
	"	movl 8(%esp), %eax\n"
	"	movl %eax, 8(%edx)\n"          /* pinfo */
	"	movl 8(%eax), %eax\n"
	"	movl %eax, 16(%edx)\n"         /* si_code */
	"	movl 12(%esp), %ecx\n"
	"	movl %ecx, 12(%edx)\n"         /* puc */
	"	movl 76(%ecx), %eax\n"         /* uc_mcontext (20) + ip (56) */
	"	movl %eax, 20(%edx)\n"
	"	movl 80(%ecx), %eax\n"         /* cs */
	"	movl %eax, 24(%edx)\n"
	"	movl 48(%ecx), %eax\n"         /* sp */
	"	movl %eax, 28(%edx)\n"
	"	movl 84(%ecx), %eax\n"         /* flags */
	"	movl %eax, 32(%edx)\n"
	"	movl 40(%ecx), %eax\n"         /* si */
	"	movl %eax, 36(%edx)\n"
	"	movl 36(%ecx), %eax\n"         /* di */
	"	movl %eax, 40(%edx)\n"
	"	movl 44(%ecx), %eax\n"         /* bp */
	"	movl %eax, 44(%edx)\n"
	"	movl 108(%ecx), %eax\n"        /* uc_sigmask.sig[0] */
	"	movl %eax, 48(%edx)\n"
	"	movl 112(%ecx), %eax\n"        /* uc_sigmask.sig[1] */
	"	movl %eax, 52(%edx)\n"
	"	movl 96(%ecx), %eax\n"         /* fpstate */
	"	movl %eax, 56(%edx)\n"
	"	addl $2, 76(%ecx)\n"           /* skip the ud2 */
	"	ret\n"
	"b_restorer32:\n"
	"	movl $173, %eax\n"
	"	int $0x80\n"
	".code64\n"
	"b_ret64:\n"
	"	jmp *b_back(%rip)\n"
	".balign 8\n"
	"b_back:	.quad 0\n"
	"b_cap:	.fill 16, 4, 0\n"
	"blob_end:\n"
	".text\n");

/* enter32(entry, stack_top, ret64): run 32-bit code at entry on the low
 * stack; it far-returns to ret64 (0x33), which jumps to back64 here. */
void enter32(uint32_t entry, uint32_t stack_top, uint32_t ret64);
extern char back64[];
__asm__(
	".text\n"
	".globl enter32, back64\n"
	".type enter32,@function\n"
	"enter32:\n"
	"	pushq %rbx\n"
	"	pushq %rbp\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	movq %rsp, saved_rsp(%rip)\n"
	"	movl %esi, %esp\n"
	"	subq $8, %rsp\n"
	"	movl %edx, (%rsp)\n"            /* 32-bit lret: eip */
	"	movl $0x33, 4(%rsp)\n"          /*              cs  */
	"	pushq $0x23\n"
	"	pushq %rdi\n"
	"	lretq\n"
	"back64:\n"
	"	movq saved_rsp(%rip), %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbp\n"
	"	popq %rbx\n"
	"	ret\n"
	".size enter32,.-enter32\n"
	".data\n"
	"saved_rsp: .quad 0\n"
	".text\n");

static char *low;
static const char *volatile g_tag = "?";

#define LOW(sym) ((uint32_t)(uintptr_t)(low + ((sym) - blob_start)))

static void run32(char *sym)
{
	enter32(LOW(sym), (uint32_t)(uintptr_t)(low + LOW_SIZE - 64), LOW(b_ret64));
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;

	rep_begin(g_tag);
	rep_hex("handler", (unsigned long)handler);
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("cs", (unsigned long)g[REG_CSGSFS] & 0xffff);
	rep_hex("ss", ((unsigned long)g[REG_CSGSFS] >> 48) & 0xffff);
	rep_hex("eflags", (unsigned long)g[REG_EFL]);
	rep_hex("rsi", (unsigned long)g[REG_RSI]);
	rep_hex("rdi", (unsigned long)g[REG_RDI]);
	rep_hex("rbp", (unsigned long)g[REG_RBP]);
	rep_hex("rax", (unsigned long)g[REG_RAX]);
	rep_hex("uc_flags", uc->uc_flags);
	if (sig == SIGILL) {
		rep_hex("fault", LOW(b_ud2_fault));
		rep_hex("entry", LOW(b_ud2));
		g[REG_RIP] += 2; /* skip the ud2 */
	} else {
		rep_hex("entry", LOW(b_kill));
	}
	rep_end();
}

static void install(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) != 0) {
		perror("sigaction");
		exit(1);
	}
}

/* struct compat_sigaction (include/linux/compat.h) */
struct compat_sigaction32 {
	uint32_t handler, flags, restorer, mask[2];
};

static void sc_ia32(void)
{
	struct compat_sigaction32 *act = (void *)(low + LOW_SIZE - 4096);
	uint32_t *cap = (uint32_t *)(low + (b_cap - blob_start));
	long r;

	memset(act, 0, sizeof *act);
	act->handler = LOW(b_h32);
	act->flags = SA_SIGINFO | SA_RESTORER_;
	act->restorer = LOW(b_restorer32);
	/* int $0x80 from 64-bit code is a compat system call: SA_IA32_ABI */
	__asm__ volatile("int $0x80" : "=a"(r)
			 : "0"(174L), "b"(SIGILL), "c"(act), "d"(0L), "S"(8L)
			 : "memory", "r8", "r9", "r10", "r11");
	if (r != 0) {
		fprintf(stderr, "compat rt_sigaction: %ld\n", r);
		exit(1);
	}
	run32(b_ud2);
	rep_begin("ia32");
	rep_hex("sig", cap[0]);
	rep_hex("frame", cap[1]);
	rep_hex("pinfo", cap[2]);
	rep_hex("puc", cap[3]);
	rep_hex("code", cap[4]);
	rep_hex("pc", cap[5]);
	rep_hex("cs", cap[6] & 0xffff);
	rep_hex("sp", cap[7]);
	rep_hex("flags", cap[8]);
	rep_hex("si", cap[9]);
	rep_hex("di", cap[10]);
	rep_hex("bp", cap[11]);
	rep_hex("mask", cap[12] | ((unsigned long)cap[13] << 32));
	rep_hex("fpstate", cap[14]);
	rep_hex("handler", LOW(b_h32));
	rep_hex("restorer", LOW(b_restorer32));
	rep_hex("fault", LOW(b_ud2_fault));
	rep_end();
	signal(SIGILL, SIG_DFL);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;

	low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED) {
		perror("mmap MAP_32BIT");
		return 1;
	}
	memcpy(low, blob_start, (size_t)(blob_end - blob_start));
	*(uint64_t *)(low + (b_back - blob_start)) = (uint64_t)(uintptr_t)back64;

	if (!only || !strcmp(only, "ud2")) {
		g_tag = "ud2";
		install(SIGILL);
		run32(b_ud2);
		signal(SIGILL, SIG_DFL);
	}
	if (!only || !strcmp(only, "kill")) {
		g_tag = "kill";
		install(SIGUSR1);
		run32(b_kill);
		signal(SIGUSR1, SIG_DFL);
	}
	if (!only || !strcmp(only, "ia32"))
		sc_ia32();
	done();
	return 0;
}
