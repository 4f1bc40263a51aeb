/*
 * spin.nolibc - x86_64, no libc, no stack use, no system calls:
 *     _start: jmp _start
 * The smallest possible tracee; it never exits (kill it).
 * Proves: sigdbg can attach to / start, stop, inspect, signal and kill a
 * process that never enters the kernel on its own (every stop comes from
 * the tracer or from a signal sent to it).
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	jmp	_start
	.size	_start, .-_start

	.section .note.GNU-stack, "", @progbits
