/*
 * report.h - async-signal-safe report helpers for the x86_64 glibc targets.
 *
 * A handler writes exactly one line per invocation on fd 1:
 *
 *     SIGDBG-REPORT tag=xxx key=0x.. key=0x..\n
 *
 * (see README.md, "The report convention").  Everything here uses only
 * write(2) and plain C (no stdio, no allocation, no locks), so it may be
 * called from any signal handler.  errno is preserved.
 *
 *     rep_begin(tag);                 start a line
 *     rep_hex(key, value);            append " key=0x<hex>"
 *     rep_siginfo(si);                append the siginfo keys (below)
 *     rep_ucontext(uc);               append the ucontext keys (below)
 *     rep_end();                      emit the line with one write(2)
 *     done();                         write "SIGDBG-DONE\n"
 *     rep_std(tag, si, uc);           begin + siginfo + ucontext + end
 *
 * The line being built lives in a small per-thread stack of buffers (one
 * 2 KiB slot per nesting level, 8 levels), so a handler that interrupts
 * another handler in the middle of a report gets its own line and both come
 * out intact.  (Deeper nesting reuses the last slot: no overflow, but the
 * interrupted line is garbled.)  Lines are cut at 2047 characters.
 *
 * rep_siginfo keys:
 *   sig     si_signo
 *   code    si_code as unsigned 32-bit (SI_TKILL -6 -> 0xfffffffa)
 *   errno   si_errno
 *   infop   address of the siginfo_t
 *   then, following the kernel's union-member rule (kernel/signal.c
 *   siginfo_layout):
 *   - SIGILL/SIGFPE/SIGSEGV/SIGBUS/SIGTRAP with 0 < code < 0x80:   addr
 *   - SIGCHLD with 0 < code < 0x80:                   pid uid status utime stime
 *   - SI_TIMER (-2):                                  timerid overrun value
 *   - SI_QUEUE (-1) and other negative codes (rt):    pid uid value
 *   - SI_USER (0), SI_TKILL (-6), SI_KERNEL (0x80):   pid uid
 *   - anything else (e.g. SI_SIGIO, SIGPOLL codes):   nothing more
 *   value is si_value.sival_ptr (all 8 bytes).
 *
 * rep_ucontext keys:
 *   pc sp        gregs[REG_RIP], gregs[REG_RSP] (interrupted rip / rsp)
 *   ss_sp ss_flags ss_size   uc_stack
 *   mask         first 8 bytes of uc_sigmask (bit n-1 = signal n)
 *   ucp          address of the ucontext
 *   trapno err cr2           gregs[REG_TRAPNO], gregs[REG_ERR], gregs[REG_CR2]
 *   fpstate      uc_mcontext.fpregs
 *
 * Include this header before any system header (it defines _GNU_SOURCE).
 */
#ifndef SIGDBG_REPORT_H
#define SIGDBG_REPORT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define REP_BUFSZ 2048 /* below PIPE_BUF: one write is atomic on a pipe */
#define REP_DEPTH 8

struct rep__state {
	int depth;                      /* nesting level of open lines */
	char *p, *lim;                  /* cursor / limit of the open line */
	char *savep[REP_DEPTH];         /* cursors of interrupted lines */
	char buf[REP_DEPTH][REP_BUFSZ];
};

static __thread struct rep__state rep__st;

static inline void rep__putc(char c)
{
	char *q = rep__st.p;
	if (q < rep__st.lim) {
		*q = c;
		rep__st.p = q + 1;
	}
}

/*
 * puts/puthex work on a local copy of the cursor and store it back once: a
 * nested handler saves and restores rep__st.p around its own line (in
 * another slot), so the copy stays valid.
 */
static inline void rep__puts(const char *s)
{
	char *q = rep__st.p, *lim = rep__st.lim;
	while (*s && q < lim)
		*q++ = *s++;
	rep__st.p = q;
}

static inline void rep__puthex(unsigned long v)
{
	char tmp[19];
	int n = 18;
	tmp[18] = 0;
	do {
		tmp[--n] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	tmp[--n] = 'x';
	tmp[--n] = '0';
	rep__puts(tmp + n);
}

static inline void rep__write_all(const char *p, unsigned long n)
{
	int saved = errno;
	while (n) {
		long w = write(1, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		p += w;
		n -= (unsigned long)w;
	}
	errno = saved;
}

static inline char *rep__base(int depth)
{
	if (depth < 1)
		depth = 1;
	if (depth > REP_DEPTH)
		depth = REP_DEPTH;
	return rep__st.buf[depth - 1];
}

static inline void rep_begin(const char *tag)
{
	int d = rep__st.depth;
	char *b;
	if (d > 0 && d <= REP_DEPTH)
		rep__st.savep[d - 1] = rep__st.p;
	rep__st.depth = ++d;
	b = rep__base(d);
	rep__st.lim = b + REP_BUFSZ - 1; /* room for the newline */
	rep__st.p = b;
	rep__puts("SIGDBG-REPORT tag=");
	rep__puts(tag);
}

static inline void rep_hex(const char *key, unsigned long v)
{
	rep__putc(' ');
	rep__puts(key);
	rep__putc('=');
	rep__puthex(v);
}

static inline void rep_end(void)
{
	int d = rep__st.depth;
	char *b;
	if (d <= 0)
		return; /* no open line */
	b = rep__base(d);
	rep__st.lim++;
	rep__putc('\n');
	rep__write_all(b, (unsigned long)(rep__st.p - b));
	rep__st.depth = --d;
	if (d > 0) {
		b = rep__base(d);
		rep__st.lim = b + REP_BUFSZ - 1;
		rep__st.p = d <= REP_DEPTH ? rep__st.savep[d - 1] : b;
	}
}

static inline void done(void)
{
	rep__write_all("SIGDBG-DONE\n", 12);
}

static inline void rep_siginfo(const siginfo_t *si)
{
	int sig = si->si_signo, code = si->si_code;

	rep_hex("sig", (unsigned long)(unsigned)sig);
	rep_hex("code", (unsigned long)(unsigned)code);
	rep_hex("errno", (unsigned long)(unsigned)si->si_errno);
	rep_hex("infop", (unsigned long)si);

	if (code > 0 && code < 0x80 &&
	    (sig == SIGILL || sig == SIGFPE || sig == SIGSEGV ||
	     sig == SIGBUS || sig == SIGTRAP)) {
		rep_hex("addr", (unsigned long)si->si_addr);
	} else if (code > 0 && code < 0x80 && sig == SIGCHLD) {
		rep_hex("pid", (unsigned long)(unsigned)si->si_pid);
		rep_hex("uid", (unsigned long)(unsigned)si->si_uid);
		rep_hex("status", (unsigned long)(unsigned)si->si_status);
		rep_hex("utime", (unsigned long)si->si_utime);
		rep_hex("stime", (unsigned long)si->si_stime);
	} else if (code == SI_TIMER) {
		rep_hex("timerid", (unsigned long)(unsigned)si->si_timerid);
		rep_hex("overrun", (unsigned long)(unsigned)si->si_overrun);
		rep_hex("value", (unsigned long)si->si_value.sival_ptr);
	} else if (code < 0 && code != SI_TKILL && code != SI_SIGIO) {
		/* SI_QUEUE, SI_MESGQ, SI_ASYNCIO: the _rt member */
		rep_hex("pid", (unsigned long)(unsigned)si->si_pid);
		rep_hex("uid", (unsigned long)(unsigned)si->si_uid);
		rep_hex("value", (unsigned long)si->si_value.sival_ptr);
	} else if (code == SI_USER || code == SI_TKILL || code == SI_KERNEL) {
		rep_hex("pid", (unsigned long)(unsigned)si->si_pid);
		rep_hex("uid", (unsigned long)(unsigned)si->si_uid);
	}
}

static inline void rep_ucontext(const ucontext_t *uc)
{
	unsigned long mask;
	const greg_t *g = uc->uc_mcontext.gregs;

	memcpy(&mask, &uc->uc_sigmask, sizeof mask);
	rep_hex("pc", (unsigned long)g[REG_RIP]);
	rep_hex("sp", (unsigned long)g[REG_RSP]);
	rep_hex("ss_sp", (unsigned long)uc->uc_stack.ss_sp);
	rep_hex("ss_flags", (unsigned long)(unsigned)uc->uc_stack.ss_flags);
	rep_hex("ss_size", (unsigned long)uc->uc_stack.ss_size);
	rep_hex("mask", mask);
	rep_hex("ucp", (unsigned long)uc);
	rep_hex("trapno", (unsigned long)g[REG_TRAPNO]);
	rep_hex("err", (unsigned long)g[REG_ERR]);
	rep_hex("cr2", (unsigned long)g[REG_CR2]);
	rep_hex("fpstate", (unsigned long)uc->uc_mcontext.fpregs);
}

/* Convenience: the standard one-line report for an SA_SIGINFO handler. */
static inline void rep_std(const char *tag, const siginfo_t *si, const void *uc)
{
	rep_begin(tag);
	rep_siginfo(si);
	rep_ucontext((const ucontext_t *)uc);
	rep_end();
}

#endif /* SIGDBG_REPORT_H */
