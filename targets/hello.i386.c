/*
 * hello.i386 - the smallest 32-bit (ia32 compat) target: freestanding, static,
 * raw int $0x80 system calls, no signal handlers.
 *
 * Proves: sigdbg can start / attach to / follow a 32-bit task and tell its
 * ABI, and read its initial stack and auxv.  It prints
 *   one "argv[i]=<string>" line per argument,
 *   SIGDBG-REPORT tag=hello argc pid initsp auxv sysinfo vdso entry minsigstksz
 *     (initsp = esp at _start = &argc; auxv = address of the first auxv pair
 *      on the initial stack; sysinfo = AT_SYSINFO (__kernel_vsyscall);
 *      vdso = AT_SYSINFO_EHDR; entry = AT_ENTRY; minsigstksz = AT_MINSIGSTKSZ)
 * then SIGDBG-DONE.
 *
 * Usage: hello.i386 [wait|sleep] [more args...]
 *   wait   block in read(0) until EOF before printing SIGDBG-DONE
 *          (the test controls when it ends; handy for attach tests)
 *   sleep  nanosleep 30 s before printing SIGDBG-DONE
 */
#include "sys32.h"

int main(int argc, char **argv, char **envp)
{
	struct report r;
	int i;

	(void)envp;
	for (i = 0; i < argc; i++) {
		r.len = 0;
		rep_str(&r, "argv[");
		rep_dec(&r, i);
		rep_str(&r, "]=");
		rep_str(&r, argv[i]);
		rep_end(&r);
	}

	rep_begin(&r, "hello");
	rep_kv(&r, "argc", (u32)argc);
	rep_kv(&r, "pid", (u32)sys_getpid());
	rep_kv(&r, "initsp", (u32)(uintptr_t)sys32_initial_sp);
	rep_kv(&r, "auxv", (u32)(uintptr_t)sys32_auxv);
	rep_kv(&r, "sysinfo", sys32_getauxval(AT_SYSINFO));
	rep_kv(&r, "vdso", sys32_getauxval(AT_SYSINFO_EHDR));
	rep_kv(&r, "entry", sys32_getauxval(AT_ENTRY));
	rep_kv(&r, "minsigstksz", sys32_getauxval(AT_MINSIGSTKSZ));
	rep_end(&r);

	if (argc > 1 && sys32_streq(argv[1], "wait")) {
		char buf[256];
		while (sys_read(0, buf, sizeof(buf)) > 0)
			;
	} else if (argc > 1 && sys32_streq(argv[1], "sleep")) {
		struct old_timespec32 ts = { 30, 0 };
		sys_nanosleep(&ts, 0);
	}

	sys32_done();
	return 0;
}
