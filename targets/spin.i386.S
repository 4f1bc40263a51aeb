/*
 * spin.i386 - the i386 twin of spin.nolibc.S (x86_64): freestanding, static,
 * no system calls, no stack use:
 *     _start: jmp _start
 * It never exits (kill it).
 * Proves: sigdbg can start / attach to, stop, inspect (32-bit register set,
 * cs = 0x23), signal and kill a 32-bit task that never enters the kernel on
 * its own.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	jmp	_start
	.size	_start, .-_start

	.section .note.GNU-stack, "", @progbits
