/*
 * report_arm.h - async-signal-safe report lines for the AArch64 and AArch32
 * targets (targets/arm/).  Same line format as ../report.h (README.md, "The
 * report convention"), which is x86-only (it reads x86 gregs):
 *
 *     SIGDBG-REPORT tag=xxx key=0x.. key=0x..\n
 *     SIGDBG-HEX tag=xxx addr=0x.. data=<hex bytes>\n   (memory dumps, 256 bytes a line)
 *
 * Only write(2) and plain C: callable from a handler.  One static 8 KiB line
 * buffer: these targets never nest handlers.  Values are 64-bit on both ABIs.
 */
#ifndef SIGDBG_REPORT_ARM_H
#define SIGDBG_REPORT_ARM_H

#include <errno.h>
#include <unistd.h>

static char rep_buf[8192];
static unsigned long rep_len;

static void rep_write_all(const char *p, unsigned long n)
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

static void rep_puts(const char *s)
{
	while (*s && rep_len < sizeof rep_buf - 1)
		rep_buf[rep_len++] = *s++;
}

static void rep_puthex(unsigned long long v)
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
	rep_puts(tmp + n);
}

static void rep_begin(const char *tag)
{
	rep_len = 0;
	rep_puts("SIGDBG-REPORT tag=");
	rep_puts(tag);
}

static void rep_hex(const char *key, unsigned long long v)
{
	rep_puts(" ");
	rep_puts(key);
	rep_puts("=");
	rep_puthex(v);
}

/* key with a numeric suffix: rep_hexn("x", 3, v) -> " x3=0x.." */
static void rep_hexn(const char *key, unsigned n, unsigned long long v)
{
	char num[12];
	int i = 11;
	num[11] = 0;
	do {
		num[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	rep_puts(" ");
	rep_puts(key);
	rep_puts(num + i);
	rep_puts("=");
	rep_puthex(v);
}

static void rep_end(void)
{
	rep_buf[rep_len++] = '\n';
	rep_write_all(rep_buf, rep_len);
	rep_len = 0;
}

static void rep_dump(const char *tag, const void *addr, unsigned long len)
{
	const unsigned char *p = addr;
	unsigned long off = 0;
	while (off < len) {
		unsigned long n = len - off < 256 ? len - off : 256, i;
		rep_len = 0;
		rep_puts("SIGDBG-HEX tag=");
		rep_puts(tag);
		rep_puts(" addr=");
		rep_puthex((unsigned long)(p + off));
		rep_puts(" data=");
		for (i = 0; i < n; i++) {
			rep_buf[rep_len++] = "0123456789abcdef"[p[off + i] >> 4];
			rep_buf[rep_len++] = "0123456789abcdef"[p[off + i] & 15];
		}
		rep_end();
		off += n;
	}
}

static void done(void)
{
	rep_write_all("SIGDBG-DONE\n", 12);
}

#endif
