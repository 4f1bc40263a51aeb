/*
 * sig_mixed.i386 - a 32-bit (ia32 compat) task that far-jumps to 64-bit code
 * (cs 0x33) and takes signals there (kernel selftests x86/sigreturn.c style).
 *
 * Proves (for sigdbg's mixed-mode handling): a handler installed by this
 * 32-bit task gets an ia32 frame (struct rt_sigframe_ia32; the frame kind
 * follows the handler's registration, arch/x86/kernel/signal.c
 * is_ia32_frame) even though the interrupted code is 64-bit; the frame's
 * sigcontext_32 then holds cs 0x33 and the low 32 bits of rip/rsp; the
 * kernel's NT_PRSTATUS view at a stop in the 64-bit code is the 216-byte
 * x86_64 one (arch/x86/kernel/ptrace.c task_user_regset_view), while at the
 * handler (cs 0x23) it is the 68-byte i386 one.  ia32 rt_sigreturn restores
 * cs 0x33 as saved.
 *
 * run64(which) saves the callee-saved registers, ljmp $0x33 to 64-bit code,
 * which sets esi/edi/ebp to SIG32_MAGIC_SI/DI/BP and then
 *   which 0 (ud2):  ud2 at m64_fault -> SIGILL (ILL_ILLOPN); the handler
 *                   skips it (ip += 2)
 *   which 1 (kill): int $0x80 kill(getpid(), SIGUSR1) at m64_kill_syscall
 *                   (a compat system call from 64-bit code); the signal
 *                   arrives on the return to 64-bit code, at m64_kill_ret
 * and comes back with lretq to 0x23:back32 (kept in edx meanwhile).
 *
 * usage: sig_mixed.i386 [ud2|kill]   (no argument: both)
 * Each SA_SIGINFO handler reports one line:
 *   tag sig code addr (ud2 only) pc cs sp flags si di bp trapno mask infop
 *   ucp fpstate fault (the ud2's address) ret (m64_kill_ret)
 * (all from the rt_sigframe_ia32's siginfo and uc_mcontext).
 * Then SIGDBG-DONE, exit 0.
 */
#include "sys32.h"

void run64(u32 which);
extern char m64_fault[], m64_kill_syscall[], m64_kill_ret[];
__asm__(
	".text\n"
	".globl run64, m64_fault, m64_kill_syscall, m64_kill_ret\n"
	".type run64,@function\n"
	".code32\n"
	"run64:\n"
	"	pushl %ebp\n"
	"	pushl %edi\n"
	"	pushl %esi\n"
	"	pushl %ebx\n"
	"	movl 20(%esp), %eax\n"
	"	movl $back32, %edx\n"          /* (no 32-bit relocations in .code64) */
	"	ljmp $0x33, $m64_entry\n"
	".code64\n"
	"m64_entry:\n"
	"	cmpl $1, %eax\n"
	"	je m64_kill\n"
	"	movl $0x51515151, %esi\n"
	"	movl $0xd1d1d1d1, %edi\n"
	"	movl $0xb0b0b0b0, %ebp\n"
	"m64_fault:\n"
	"	ud2\n"
	"	jmp m64_out\n"
	"m64_kill:\n"
	"	movl $20, %eax\n"
	"	int $0x80\n"
	"	movl %eax, %ebx\n"
	"	movl $10, %ecx\n"
	"	movl $0x51515151, %esi\n"
	"	movl $0xd1d1d1d1, %edi\n"
	"	movl $0xb0b0b0b0, %ebp\n"
	"	movl $37, %eax\n"
	"m64_kill_syscall:\n"
	"	int $0x80\n"
	"m64_kill_ret:\n"
	"m64_out:\n"
	"	movl %edx, %edx\n"             /* back32, zero-extended */
	"	pushq $0x23\n"
	"	pushq %rdx\n"
	"	lretq\n"
	".code32\n"
	"back32:\n"
	"	popl %ebx\n"
	"	popl %esi\n"
	"	popl %edi\n"
	"	popl %ebp\n"
	"	ret\n"
	".size run64,.-run64\n");

static const char *tag = "?";

static void handler(int sig, compat_siginfo_t *si, void *ucv)
{
	struct ucontext_ia32 *uc = ucv;
	struct sigcontext_32 *sc = &uc->uc_mcontext;
	struct report r;

	rep_begin(&r, tag);
	rep_kv(&r, "sig", (u32)sig);
	rep_kv(&r, "code", (u32)si->si_code);
	if (sig == SIGILL)
		rep_kv(&r, "addr", si->si_addr);
	rep_kv(&r, "pc", sc->ip);
	rep_kv(&r, "cs", sc->cs);
	rep_kv(&r, "sp", sc->sp);
	rep_kv(&r, "flags", sc->flags);
	rep_kv(&r, "si", sc->si);
	rep_kv(&r, "di", sc->di);
	rep_kv(&r, "bp", sc->bp);
	rep_kv(&r, "trapno", sc->trapno);
	rep_kv(&r, "mask", uc->uc_sigmask.sig[0] | ((u64)uc->uc_sigmask.sig[1] << 32));
	rep_kv(&r, "infop", (u32)(uintptr_t)si);
	rep_kv(&r, "ucp", (u32)(uintptr_t)uc);
	rep_kv(&r, "fpstate", sc->fpstate);
	rep_kv(&r, "fault", (u32)(uintptr_t)m64_fault);
	rep_kv(&r, "ret", (u32)(uintptr_t)m64_kill_ret);
	rep_end(&r);
	if (sig == SIGILL)
		sc->ip += 2; /* skip the ud2 */
}

int main(int argc, char **argv, char **envp)
{
	const char *only = argc > 1 ? argv[1] : 0;

	(void)envp;

	if (!only || sys32_streq(only, "ud2")) {
		tag = "ud2";
		sys32_check(sys32_set_handler(SIGILL, handler, SA_SIGINFO, 0, 0), "rt_sigaction");
		run64(0);
	}
	if (!only || sys32_streq(only, "kill")) {
		tag = "kill";
		sys32_check(sys32_set_handler(SIGUSR1, handler, SA_SIGINFO, 0, 0), "rt_sigaction");
		run64(1);
	}
	sys32_done();
	return 0;
}
