/*
 * asm32.h - small i386 assembly routines with global labels at known
 * instructions, so that handlers (and tests, through the ELF symbol table)
 * know exactly where a signal was raised and where to resume.
 *
 *   void sig32_segv_store(void)   stores to address 0x10.
 *        sig32_segv_fault:  movl $0x5a, 0x10     (10 bytes: c7 05 10 00 00 00 5a 00 00 00)
 *        sig32_segv_resume: ret                  (a SIGSEGV handler sets ip here)
 *   void sig32_segv_load(void)    loads from address 0x10 (same pattern, %eax clobbered).
 *        sig32_load_fault:  movl 0x10, %eax      (5 bytes: a1 10 00 00 00)
 *        sig32_load_resume: ret
 *   u32 sig32_raise_magic(int sig)
 *        tgkill(getpid(), gettid(), sig) with esi/edi/ebp holding the magic
 *        values SIG32_MAGIC_SI/DI/BP during the system call.  The signal is
 *        delivered on return from tgkill, so the interrupted ip (sigcontext.ip)
 *        is the label sig32_raise_ret, and sigcontext.si/di/bp hold the magic
 *        values.  Returns 0 if, after the handler and sigreturn, esi/edi/ebp
 *        still hold the magic values and tgkill returned 0; else a bit mask:
 *        1 = esi wrong, 2 = edi wrong, 4 = ebp wrong, 8 = tgkill failed.
 *
 * Include from exactly one translation unit (defines global symbols).
 */
#ifndef SIGDBG_ASM32_H
#define SIGDBG_ASM32_H

#define SIG32_MAGIC_SI 0x51515151u
#define SIG32_MAGIC_DI 0xd1d1d1d1u
#define SIG32_MAGIC_BP 0xb0b0b0b0u

void sig32_segv_store(void);
void sig32_segv_load(void);
u32 sig32_raise_magic(int sig);
extern char sig32_segv_fault[], sig32_segv_resume[];
extern char sig32_load_fault[], sig32_load_resume[];
extern char sig32_raise_syscall[], sig32_raise_ret[];

__asm__(
	".text\n"
	".globl sig32_segv_store, sig32_segv_fault, sig32_segv_resume\n"
	".type sig32_segv_store,@function\n"
	"sig32_segv_store:\n"
	"sig32_segv_fault:\n"
	"	movl $0x5a, 0x10\n"
	"sig32_segv_resume:\n"
	"	ret\n"
	".size sig32_segv_store,.-sig32_segv_store\n"

	".globl sig32_segv_load, sig32_load_fault, sig32_load_resume\n"
	".type sig32_segv_load,@function\n"
	"sig32_segv_load:\n"
	"sig32_load_fault:\n"
	"	movl 0x10, %eax\n"
	"sig32_load_resume:\n"
	"	ret\n"
	".size sig32_segv_load,.-sig32_segv_load\n"

	".globl sig32_raise_magic, sig32_raise_syscall, sig32_raise_ret\n"
	".type sig32_raise_magic,@function\n"
	"sig32_raise_magic:\n"
	"	pushl %ebp\n"
	"	pushl %edi\n"
	"	pushl %esi\n"
	"	pushl %ebx\n"
	"	movl $20, %eax\n"               /* getpid */
	"	int $0x80\n"
	"	movl %eax, %ebx\n"
	"	movl $224, %eax\n"              /* gettid */
	"	int $0x80\n"
	"	movl %eax, %ecx\n"
	"	movl 20(%esp), %edx\n"          /* sig */
	"	movl $0x51515151, %esi\n"
	"	movl $0xd1d1d1d1, %edi\n"
	"	movl $0xb0b0b0b0, %ebp\n"
	"	movl $270, %eax\n"              /* tgkill */
	"sig32_raise_syscall:\n"
	"	int $0x80\n"
	"sig32_raise_ret:\n"
	"	xorl %ecx, %ecx\n"
	"	cmpl $0x51515151, %esi\n"
	"	je 1f\n"
	"	orl $1, %ecx\n"
	"1:	cmpl $0xd1d1d1d1, %edi\n"
	"	je 2f\n"
	"	orl $2, %ecx\n"
	"2:	cmpl $0xb0b0b0b0, %ebp\n"
	"	je 3f\n"
	"	orl $4, %ecx\n"
	"3:	testl %eax, %eax\n"
	"	je 4f\n"
	"	orl $8, %ecx\n"
	"4:	movl %ecx, %eax\n"
	"	popl %ebx\n"
	"	popl %esi\n"
	"	popl %edi\n"
	"	popl %ebp\n"
	"	ret\n"
	".size sig32_raise_magic,.-sig32_raise_magic\n");

#endif /* SIGDBG_ASM32_H */
