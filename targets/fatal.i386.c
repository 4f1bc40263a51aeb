/*
 * fatal.i386 - a 32-bit task that dies of SIGSEGV: it loads from address 0x10
 * with no handler installed.
 *
 * Proves: sigdbg reports an ia32 fault that ends the process (signal-delivery
 * stop for SIGSEGV with si_addr 0x10, SEGV_MAPERR, then death by signal 11;
 * no frame is built because the action is SIG_DFL).
 *
 * Before faulting it prints (not from a handler; there is none)
 *   SIGDBG-REPORT tag=fatal pc=<sig32_load_fault> addr=0x10
 * where pc is the address of the faulting instruction `movl 0x10,%eax`
 * (lib32/asm32.h; a read, so the page-fault error code is 4).
 * It never prints SIGDBG-DONE.
 */
#include "sys32.h"
#include "asm32.h"

int main(int argc, char **argv, char **envp)
{
	struct report r;

	(void)argc; (void)argv; (void)envp;
	rep_begin(&r, "fatal");
	rep_kv(&r, "pc", (u32)(uintptr_t)sig32_load_fault);
	rep_kv(&r, "addr", 0x10);
	rep_end(&r);
	sig32_segv_load();
	sys32_write_all(2, "fatal.i386: survived the fault?\n", 32);
	return 1;
}
