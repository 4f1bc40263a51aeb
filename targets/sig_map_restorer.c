/*
 * sig_map_restorer - a handler whose SA_RESTORER lies in a page mapped from a
 * file that the test chooses: a file with a hostile name (bytes that are not
 * UTF-8, terminal escapes), a sparse 100 GiB file, or one whose name in
 * /proc/PID/maps is, by the time the signal arrives, a FIFO.
 *
 * Proves that sigdbg classifies a restorer in such a mapping (symbol lookup
 * opens the mapped file) reading only the few bytes it needs: never the whole
 * file, never blocking on a FIFO; and that the mapping's path reaches the
 * JSON losslessly and the terminal escaped.
 *
 * usage: sig_map_restorer FILE OFFSET [fifo]
 *
 * Opens FILE read-write, maps one page at byte OFFSET (decimal, a multiple of
 * the page size) MAP_SHARED, writes the restorer there
 *
 *     mov $15, %eax   (b8 0f 00 00 00)
 *     syscall         (0f 05)
 *
 * and makes the page read+execute.  With `fifo` it then unlinks FILE and
 * creates a FIFO named "FILE (deleted)": exactly what /proc/PID/maps shows
 * for the mapping of an unlinked file, so that name now opens a FIFO (whose
 * open(2) for reading blocks until a writer comes).
 * Installs an SA_SIGINFO|SA_RESTORER handler for SIGUSR1 with the raw
 * rt_sigaction syscall, restorer = the page, and raises SIGUSR1.  The handler
 * reports rep_siginfo + rep_ucontext with tag=maprestorer plus
 *   restorer  the page address
 *   retaddr   __builtin_return_address(0) = the frame's pretcode
 * Prints SIGDBG-DONE and exits 0; 1 if the handler did not run.
 */
#include "report.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

struct kernel_sigaction {
	void (*handler)(int, siginfo_t *, void *);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

static const unsigned char restorer_code[] = {
	0xb8, 0x0f, 0x00, 0x00, 0x00, /* mov $15, %eax */
	0x0f, 0x05,                   /* syscall */
	0xf4,                         /* hlt: never reached */
};

static void *g_page;
static volatile sig_atomic_t g_hits;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	rep_begin("maprestorer");
	rep_siginfo(si);
	rep_ucontext(uc);
	rep_hex("restorer", (unsigned long)g_page);
	rep_hex("retaddr", (unsigned long)__builtin_return_address(0));
	rep_end();
	g_hits++;
}

int main(int argc, char **argv)
{
	struct kernel_sigaction ksa;
	long page = sysconf(_SC_PAGESIZE);
	off_t off;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: sig_map_restorer FILE OFFSET [fifo]\n");
		return 2;
	}
	off = (off_t)strtoull(argv[2], NULL, 10);
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror("open");
		return 2;
	}
	g_page = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (g_page == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	close(fd);
	memcpy(g_page, restorer_code, sizeof restorer_code);
	if (mprotect(g_page, page, PROT_READ | PROT_EXEC) != 0) {
		perror("mprotect");
		return 2;
	}
	if (argc > 3 && strcmp(argv[3], "fifo") == 0) {
		char name[4096];
		snprintf(name, sizeof name, "%s (deleted)", argv[1]);
		if (unlink(argv[1]) != 0 || mkfifo(name, 0600) != 0) {
			perror("fifo");
			return 2;
		}
	}

	memset(&ksa, 0, sizeof ksa);
	ksa.handler = handler;
	ksa.flags = SA_SIGINFO | SA_RESTORER;
	ksa.restorer = (void (*)(void))g_page;
	if (syscall(SYS_rt_sigaction, SIGUSR1, &ksa, NULL, 8) != 0) {
		perror("rt_sigaction");
		return 2;
	}
	raise(SIGUSR1);
	if (g_hits != 1)
		return 1;
	done();
	return 0;
}
