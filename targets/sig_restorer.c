/*
 * sig_restorer - a handler installed with the raw rt_sigaction syscall and
 * a program-supplied SA_RESTORER trampoline (not glibc's __restore_rt).
 * Proves that sigdbg takes the return address from the frame's pretcode,
 * recognises a foreign restorer and steps through it into rt_sigreturn.
 *
 * usage: sig_restorer
 *
 * Kernel struct sigaction {handler, flags, restorer, mask(8 bytes)} with
 * flags SA_SIGINFO|SA_RESTORER (0x04000004), restorer = my_restorer:
 *
 *     my_restorer:  mov $15, %eax   (b8 0f 00 00 00)
 *                   syscall         (0f 05)
 *
 * (a global function symbol).  Then raise(SIGUSR1).  The handler reports
 * rep_siginfo + rep_ucontext with tag=restorer plus
 *   restorer  address of my_restorer
 *   retaddr   __builtin_return_address(0) in the handler = the frame's
 *             pretcode (must equal restorer)
 * Prints SIGDBG-DONE, exits 0.
 */
#include "report.h"

#include <stdio.h>
#include <sys/syscall.h>

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

extern void my_restorer(void);
asm(".text\n"
    ".globl my_restorer\n"
    ".type my_restorer, @function\n"
    "my_restorer:\n"
    "\tmov $15, %eax\n"
    "\tsyscall\n"
    "\thlt\n"
    ".size my_restorer, .-my_restorer\n");

struct kernel_sigaction {
	void (*handler)(int, siginfo_t *, void *);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

static volatile sig_atomic_t g_hits;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	rep_begin("restorer");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("restorer", (unsigned long)my_restorer);
	rep_hex("retaddr", (unsigned long)__builtin_return_address(0));
	rep_end();
	g_hits++;
}

int main(void)
{
	struct kernel_sigaction ka;

	memset(&ka, 0, sizeof ka);
	ka.handler = handler;
	ka.flags = SA_SIGINFO | SA_RESTORER;
	ka.restorer = my_restorer;
	ka.mask = 0;
	if (syscall(SYS_rt_sigaction, SIGUSR1, &ka, NULL, 8) != 0) {
		perror("rt_sigaction");
		return 1;
	}
	raise(SIGUSR1);
	if (g_hits != 1) {
		fprintf(stderr, "sig_restorer: handler ran %d times\n",
			(int)g_hits);
		return 1;
	}
	done();
	return 0;
}
