/*
 * hello.static - hello linked statically against glibc (no dynamic loader,
 * no AT_BASE, libc code inside the executable).  Proves that sigdbg handles
 * a static executable: start / attach / follow, initial stack and auxv.
 *
 * usage: hello.static [wait|sleep] [more args...]
 *   wait   block reading stdin until EOF before printing SIGDBG-DONE (the
 *          test decides when it ends; for attach tests)
 *   sleep  sleep 30 s before printing SIGDBG-DONE
 *
 * Output (all with write(2), so nothing is buffered while it blocks):
 *   one "argv[i]=<string>" line per argument, then
 *   SIGDBG-REPORT tag=hello argc pid initsp auxv vdso entry minsigstksz
 *     initsp = &argc on the initial stack (= argv - 8 = rsp at the ELF entry)
 *     auxv = address of the first auxv pair on the initial stack
 *     vdso = AT_SYSINFO_EHDR, entry = AT_ENTRY, minsigstksz = AT_MINSIGSTKSZ
 *   then SIGDBG-DONE; exits 0.  Identical to hello.c apart from linking.
 */
#include "report.h"

#include <sys/auxv.h>
#include <time.h>

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

static void puts_fd1(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(1, s, n);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv, char **envp)
{
	char **p = envp;
	int i;

	for (i = 0; i < argc; i++) {
		char num[16];
		int n = 0, v = i;
		char tmp[16];
		do {
			tmp[n++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		for (v = 0; v < n; v++)
			num[v] = tmp[n - 1 - v];
		num[n] = 0;
		puts_fd1("argv[");
		puts_fd1(num);
		puts_fd1("]=");
		puts_fd1(argv[i]);
		puts_fd1("\n");
	}
	while (*p)
		p++;

	rep_begin("hello");
	rep_hex("argc", (unsigned long)argc);
	rep_hex("pid", (unsigned long)getpid());
	rep_hex("initsp", (unsigned long)argv - sizeof(long));
	rep_hex("auxv", (unsigned long)(p + 1));
	rep_hex("vdso", getauxval(AT_SYSINFO_EHDR));
	rep_hex("entry", getauxval(AT_ENTRY));
	rep_hex("minsigstksz", getauxval(AT_MINSIGSTKSZ));
	rep_end();

	if (argc > 1 && strcmp(argv[1], "wait") == 0) {
		char buf[256];
		ssize_t r;
		while ((r = read(0, buf, sizeof buf)) != 0)
			if (r < 0 && errno != EINTR)
				break;
	} else if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
		struct timespec ts = { 30, 0 };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	done();
	return 0;
}
