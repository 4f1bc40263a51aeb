/*
 * sys32.h - tiny freestanding runtime for the i386 sigdbg targets.
 *
 * This machine has no 32-bit libc, so *.i386.c programs are built with
 *   -m32 -ffreestanding -nostdlib -static -fno-pic -no-pie -fno-stack-protector
 * and talk to the kernel with raw `int $0x80` system calls only.
 *
 * Provides:
 *   - _start (asm stub, 16-byte aligned call) -> main(argc, argv, envp) -> exit_group;
 *     the initial stack pointer, environ and the auxv are kept (sys32_getauxval);
 *   - raw syscall wrappers (negative errno on failure, like the kernel);
 *   - memset/memcpy/memmove/memcmp (gcc may emit calls to them) and small
 *     string helpers;
 *   - async-signal-safe report helpers that produce one targets/README.md line
 *       SIGDBG-REPORT tag=<word> key=0x<hex> ...\n
 *     with exactly ONE write(1, ...) per line.
 *
 * Everything is defined in this header: each target is a single translation
 * unit, so include it from exactly one .c file.
 */
#ifndef SIGDBG_SYS32_H
#define SIGDBG_SYS32_H

#include <stddef.h>     /* gcc's freestanding headers */
#include <stdint.h>
#include "abi32.h"

/* ---- constants (i386 values) -------------------------------------------- */

#define NR32_exit              1
#define NR32_fork              2
#define NR32_read              3
#define NR32_write             4
#define NR32_execve           11
#define NR32_getpid           20
#define NR32_pause            29
#define NR32_kill             37
#define NR32_sigaction        67
#define NR32_munmap           91
#define NR32_wait4           114
#define NR32_sigreturn       119
#define NR32_mprotect        125
#define NR32_nanosleep       162
#define NR32_rt_sigreturn    173
#define NR32_rt_sigaction    174
#define NR32_rt_sigprocmask  175
#define NR32_rt_sigqueueinfo 178
#define NR32_sigaltstack     186
#define NR32_mmap2           192
#define NR32_getuid32        199
#define NR32_gettid          224
#define NR32_exit_group      252
#define NR32_timer_create    259
#define NR32_timer_settime   260
#define NR32_timer_delete    263
#define NR32_tgkill          270

#define SIGHUP     1
#define SIGINT     2
#define SIGQUIT    3
#define SIGILL     4
#define SIGTRAP    5
#define SIGABRT    6
#define SIGBUS     7
#define SIGFPE     8
#define SIGKILL    9
#define SIGUSR1   10
#define SIGSEGV   11
#define SIGUSR2   12
#define SIGPIPE   13
#define SIGALRM   14
#define SIGTERM   15
#define SIGCHLD   17
#define SIGCONT   18
#define SIGSTOP   19
#define SIGSYS    31
#define SIGRTMIN  32     /* kernel value; glibc reserves 32..34 */

#define SA_NOCLDSTOP  0x00000001u
#define SA_NOCLDWAIT  0x00000002u
#define SA_SIGINFO    0x00000004u
#define SA_RESTORER   0x04000000u
#define SA_ONSTACK    0x08000000u
#define SA_RESTART    0x10000000u
#define SA_NODEFER    0x40000000u
#define SA_RESETHAND  0x80000000u

#define SIG_DFL  0u
#define SIG_IGN  1u

#define SIG_BLOCK    0
#define SIG_UNBLOCK  1
#define SIG_SETMASK  2

#define SS_ONSTACK     1
#define SS_DISABLE     2
#define SS_AUTODISARM  (1u << 31)

#define SI_USER     0
#define SI_KERNEL   0x80
#define SI_QUEUE    (-1)
#define SI_TIMER    (-2)
#define SI_TKILL    (-6)
#define SEGV_MAPERR 1
#define SEGV_ACCERR 2

#define PROT_NONE   0
#define PROT_READ   1
#define PROT_WRITE  2
#define PROT_EXEC   4
#define MAP_SHARED     0x01
#define MAP_PRIVATE    0x02
#define MAP_FIXED      0x10
#define MAP_ANONYMOUS  0x20
#define MAP_FAILED_P(p) ((unsigned long)(p) > 0xfffff000ul)

#define CLOCK_REALTIME   0
#define CLOCK_MONOTONIC  1
#define SIGEV_SIGNAL     0
#define SIGEV_NONE       1
#define SIGEV_THREAD_ID  4

#define AT_NULL           0
#define AT_PAGESZ         6
#define AT_ENTRY          9
#define AT_SYSINFO       32
#define AT_SYSINFO_EHDR  33
#define AT_MINSIGSTKSZ   51

/* 64-bit signal mask helpers: bit (sig-1) */
#define SIGBIT(s) (1ull << ((s) - 1))

struct old_timespec32 {
	s32 tv_sec;
	s32 tv_nsec;
};

struct old_itimerspec32 {
	struct old_timespec32 it_interval;
	struct old_timespec32 it_value;
};

/* ---- raw system calls ---------------------------------------------------- */

static inline long sys32_syscall0(long n)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(n) : "memory");
	return r;
}
static inline long sys32_syscall1(long n, long a)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(n), "b"(a) : "memory");
	return r;
}
static inline long sys32_syscall2(long n, long a, long b)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(n), "b"(a), "c"(b) : "memory");
	return r;
}
static inline long sys32_syscall3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r)
			 : "0"(n), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}
static inline long sys32_syscall4(long n, long a, long b, long c, long d)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r)
			 : "0"(n), "b"(a), "c"(b), "d"(c), "S"(d) : "memory");
	return r;
}
static inline long sys32_syscall5(long n, long a, long b, long c, long d, long e)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r)
			 : "0"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
	return r;
}

/* Six arguments need %ebp too: out of line, cdecl. */
long sys32_syscall6(long n, long a, long b, long c, long d, long e, long f);
__asm__(
	".text\n"
	".globl sys32_syscall6\n"
	".type sys32_syscall6,@function\n"
	"sys32_syscall6:\n"
	"	pushl %ebp\n"
	"	pushl %edi\n"
	"	pushl %esi\n"
	"	pushl %ebx\n"
	"	movl 20(%esp),%eax\n"
	"	movl 24(%esp),%ebx\n"
	"	movl 28(%esp),%ecx\n"
	"	movl 32(%esp),%edx\n"
	"	movl 36(%esp),%esi\n"
	"	movl 40(%esp),%edi\n"
	"	movl 44(%esp),%ebp\n"
	"	int $0x80\n"
	"	popl %ebx\n"
	"	popl %esi\n"
	"	popl %edi\n"
	"	popl %ebp\n"
	"	ret\n"
	".size sys32_syscall6,.-sys32_syscall6\n");

#define L(x) ((long)(x))

static inline __attribute__((noreturn)) void sys_exit(int code)
{
	for (;;)
		sys32_syscall1(NR32_exit, code);
}
static inline __attribute__((noreturn)) void sys_exit_group(int code)
{
	for (;;)
		sys32_syscall1(NR32_exit_group, code);
}
static inline long sys_read(int fd, void *buf, size_t n)
{
	return sys32_syscall3(NR32_read, fd, L(buf), L(n));
}
static inline long sys_write(int fd, const void *buf, size_t n)
{
	return sys32_syscall3(NR32_write, fd, L(buf), L(n));
}
static inline long sys_getpid(void) { return sys32_syscall0(NR32_getpid); }
static inline long sys_gettid(void) { return sys32_syscall0(NR32_gettid); }
static inline long sys_getuid(void) { return sys32_syscall0(NR32_getuid32); }
static inline long sys_kill(int pid, int sig)
{
	return sys32_syscall2(NR32_kill, pid, sig);
}
static inline long sys_tgkill(int tgid, int tid, int sig)
{
	return sys32_syscall3(NR32_tgkill, tgid, tid, sig);
}
/* raise(): tgkill to the calling thread, si_code SI_TKILL like glibc raise() */
static inline long sys_raise(int sig)
{
	return sys_tgkill(sys_getpid(), sys_gettid(), sig);
}
static inline long sys_rt_sigaction(int sig, const struct compat_sigaction *act,
				    struct compat_sigaction *old)
{
	return sys32_syscall4(NR32_rt_sigaction, sig, L(act), L(old), 8);
}
static inline long sys_sigaction(int sig, const struct compat_old_sigaction *act,
				 struct compat_old_sigaction *old)
{
	return sys32_syscall3(NR32_sigaction, sig, L(act), L(old));
}
static inline long sys_rt_sigprocmask(int how, const u64 *set, u64 *old)
{
	return sys32_syscall4(NR32_rt_sigprocmask, how, L(set), L(old), 8);
}
static inline long sys_sigaltstack(const compat_stack_t *ss, compat_stack_t *old)
{
	return sys32_syscall2(NR32_sigaltstack, L(ss), L(old));
}
static inline void *sys_mmap2(void *addr, size_t len, int prot, int flags,
			      int fd, unsigned long pgoff)
{
	return (void *)sys32_syscall6(NR32_mmap2, L(addr), L(len), prot, flags,
				      fd, L(pgoff));
}
static inline long sys_munmap(void *addr, size_t len)
{
	return sys32_syscall2(NR32_munmap, L(addr), L(len));
}
static inline long sys_mprotect(void *addr, size_t len, int prot)
{
	return sys32_syscall3(NR32_mprotect, L(addr), L(len), prot);
}
static inline long sys_pause(void) { return sys32_syscall0(NR32_pause); }
static inline long sys_nanosleep(const struct old_timespec32 *req,
				 struct old_timespec32 *rem)
{
	return sys32_syscall2(NR32_nanosleep, L(req), L(rem));
}
static inline long sys_fork(void) { return sys32_syscall0(NR32_fork); }
static inline long sys_wait4(int pid, int *status, int options, void *rusage)
{
	return sys32_syscall4(NR32_wait4, pid, L(status), options, L(rusage));
}
static inline long sys_rt_sigqueueinfo(int tgid, int sig, const compat_siginfo_t *info)
{
	return sys32_syscall3(NR32_rt_sigqueueinfo, tgid, sig, L(info));
}
static inline long sys_timer_create(int clockid, const compat_sigevent_t *sev,
				    int *timerid)
{
	return sys32_syscall3(NR32_timer_create, clockid, L(sev), L(timerid));
}
static inline long sys_timer_settime(int timerid, int flags,
				     const struct old_itimerspec32 *new_value,
				     struct old_itimerspec32 *old_value)
{
	return sys32_syscall4(NR32_timer_settime, timerid, flags, L(new_value),
			      L(old_value));
}
static inline long sys_timer_delete(int timerid)
{
	return sys32_syscall1(NR32_timer_delete, timerid);
}
static inline long sys_execve(const char *path, char *const argv[], char *const envp[])
{
	return sys32_syscall3(NR32_execve, L(path), L(argv), L(envp));
}

/* ---- memory and string helpers ------------------------------------------ */

/* gcc may emit calls to these even with -ffreestanding; keep them global and
 * stop the optimiser from turning the loops back into calls to themselves. */
#define SYS32_NOLIBCALL __attribute__((used, optimize("no-tree-loop-distribute-patterns")))

SYS32_NOLIBCALL void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}
SYS32_NOLIBCALL void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}
SYS32_NOLIBCALL void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}
SYS32_NOLIBCALL int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

static inline size_t sys32_strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}
static inline int sys32_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}
static inline int sys32_streq(const char *a, const char *b)
{
	return sys32_strcmp(a, b) == 0;
}
/* decimal, or hex with 0x; stops at the first bad character */
static inline u32 sys32_parse_u32(const char *s)
{
	u32 v = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (s += 2;; s++) {
			unsigned d;
			if (*s >= '0' && *s <= '9') d = *s - '0';
			else if (*s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
			else if (*s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
			else break;
			v = v * 16 + d;
		}
	} else {
		for (; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (*s - '0');
	}
	return v;
}

/* write all of buf (retrying short writes) */
static inline void sys32_write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		long r = sys_write(fd, buf, n);
		if (r <= 0)
			return;
		buf += r;
		n -= r;
	}
}
static inline void sys32_puts(const char *s)   /* no newline added */
{
	sys32_write_all(1, s, sys32_strlen(s));
}

/* ---- report lines (async-signal-safe) ----------------------------------- */

struct report {
	char buf[1024];
	unsigned len;
};

static inline void rep_str(struct report *r, const char *s)
{
	while (*s && r->len < sizeof(r->buf) - 1)
		r->buf[r->len++] = *s++;
}
static inline void rep_hex(struct report *r, u64 v)
{
	char tmp[16];
	int n = 0;
	rep_str(r, "0x");
	do {
		tmp[n++] = "0123456789abcdef"[(unsigned)v & 15];
		v >>= 4;
	} while (v);
	while (n && r->len < sizeof(r->buf) - 1)
		r->buf[r->len++] = tmp[--n];
}
static inline void rep_dec(struct report *r, u32 v)
{
	char tmp[12];
	int n = 0;
	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (n && r->len < sizeof(r->buf) - 1)
		r->buf[r->len++] = tmp[--n];
}
/* "SIGDBG-REPORT tag=<tag>" */
static inline void rep_begin(struct report *r, const char *tag)
{
	r->len = 0;
	rep_str(r, "SIGDBG-REPORT tag=");
	rep_str(r, tag);
}
/* " key=0x<hex>" (unsigned; pass 32-bit quantities as u32 so that e.g.
 * si_code -6 prints as 0xfffffffa) */
static inline void rep_kv(struct report *r, const char *key, u64 v)
{
	rep_str(r, " ");
	rep_str(r, key);
	rep_str(r, "=");
	rep_hex(r, v);
}
/* newline + the single write(1, ...) */
static inline void rep_end(struct report *r)
{
	r->buf[r->len++] = '\n';
	sys_write(1, r->buf, r->len);
}

static inline void sys32_done(void)
{
	static const char done[] = "SIGDBG-DONE\n";
	sys_write(1, done, sizeof(done) - 1);
}

/* ---- process start ------------------------------------------------------- */

static u32 *sys32_initial_sp;   /* esp at _start: &argc */
static char **sys32_environ;
static u32 *sys32_auxv;         /* {a_type, a_val} pairs, AT_NULL-terminated */

static inline u32 sys32_getauxval(u32 type)
{
	u32 *a;
	for (a = sys32_auxv; a && a[0] != AT_NULL; a += 2)
		if (a[0] == type)
			return a[1];
	return 0;
}

int main(int argc, char **argv, char **envp);

__attribute__((noreturn, used)) void sys32_start_c(u32 *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	char **e = envp;

	while (*e)
		e++;
	sys32_initial_sp = sp;
	sys32_environ = envp;
	sys32_auxv = (u32 *)(e + 1);
	sys_exit_group(main(argc, argv, envp));
}

/* The kernel enters with esp = &argc.  Align to 16 so that esp is 16-byte
 * aligned at the call (i386 psABI), pass the original esp as the argument. */
__asm__(
	".text\n"
	".globl _start\n"
	".type _start,@function\n"
	"_start:\n"
	"	xorl %ebp,%ebp\n"
	"	movl %esp,%eax\n"
	"	andl $-16,%esp\n"
	"	subl $12,%esp\n"
	"	pushl %eax\n"
	"	call sys32_start_c\n"
	"	hlt\n"
	".size _start,.-_start\n");

/* ---- signal helpers ------------------------------------------------------ */

/* install with rt_sigaction; flags as given (no implicit SA_RESTORER) */
static inline long sys32_set_handler(int sig, void *handler, u32 flags, void *restorer,
				     u64 mask)
{
	struct compat_sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = (compat_uptr_t)(uintptr_t)handler;
	sa.sa_flags = flags;
	sa.sa_restorer = (compat_uptr_t)(uintptr_t)restorer;
	sa.sa_mask.sig[0] = (u32)mask;
	sa.sa_mask.sig[1] = (u32)(mask >> 32);
	return sys_rt_sigaction(sig, &sa, 0);
}

/* print "FAIL <what> <-errno>" on stderr and exit 1 when r < 0 */
static inline void sys32_check(long r, const char *what)
{
	if (r < 0 && r > -4096) {
		struct report rp;
		rp.len = 0;
		rep_str(&rp, "FAIL ");
		rep_str(&rp, what);
		rep_str(&rp, " errno=");
		rep_dec(&rp, (u32)-r);
		rp.buf[rp.len++] = '\n';
		sys_write(2, rp.buf, rp.len);
		sys_exit_group(1);
	}
}

#endif /* SIGDBG_SYS32_H */
