/*
 * sig_frame.a64 - AArch64 signal frames, reported from inside the handler.
 *
 * Proves (on a real arm64 kernel, in the QEMU guest): where the kernel puts
 * the rt_sigframe (the handler's sp at entry, caught by a 6-instruction asm
 * entry stub before any C code moves sp), the frame record {x29, x30} that
 * x29 points to at entry, the restorer in x30, every sigcontext value, the
 * __reserved records (magic, size, offset in the frame; fpsimd fpsr/fpcr and
 * vregs, esr, sve vl/flags, extra_context), and the raw frame bytes (hex) so
 * a host test can decode them with sigdbg's tables and compare with this
 * report.  Registers are loaded with known patterns before the signal
 * (x19-x28, v16-v31, FPCR 0xc00000, FPSR 0x10) and the interrupted pc is a
 * known label, so the report is itself checked against an independent truth.
 *
 * Scenarios, in this order (tags):
 *   usr1     kill(getpid(), SIGUSR1) by an inline svc, SA_SIGINFO
 *   segv     load from 0xdead000 (SIGSEGV, si_addr, esr record); the
 *            handler skips the faulting instruction (uc pc += 4)
 *   nosi     SIGUSR2 without SA_SIGINFO (the siginfo area is not written)
 *   alt      SIGUSR1 with SA_ONSTACK on a sigaltstack
 *   nest     SIGUSR1 whose handler sends itself SIGUSR2 (inline svc, the same
 *            register patterns): the inner frame (tag nest_in) is built below
 *            the outer handler's stack, with SIGUSR1 blocked in its uc_sigmask
 *   sve      prctl(PR_SVE_SET_VL, 256), SVE registers set, then a SIGSEGV:
 *            the sve record carries Z/P/FFR and moves to the extra space
 * With the argument "segv" only the segv scenario runs (its frame is the
 * process's first: what ``sigdbg frame -- sig_frame.a64 segv`` decodes).
 * Then: tag=auxv (getauxval), a hex dump of /proc/self/auxv, and of the vDSO
 * image (tag=vdso); each handler also dumps the 8 bytes at its x30
 * (tag=<scenario>.lrcode: the restorer's code).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#include "report_arm.h"

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

/* what the entry stub saw: sp, x29, x30, x0, x1, x2 */
uint64_t entry_regs[6];
void handler_entry(int, siginfo_t *, void *);
void trigger_kill(long pid, long sig);
void trigger_fault(long addr);
void trigger_sve_fault(long addr);
extern char after_svc[], fault_insn[], sve_fault_insn[];

/*
 * The entry stub stores the registers the kernel set up, using only x9/x10
 * (scratch: sigreturn restores them from the frame), then tail-calls the C
 * handler with x0-x2 untouched.
 */
__asm__(
	".text\n"
	".globl handler_entry\n.type handler_entry,%function\n"
	"handler_entry:\n"
	"	adrp x9, entry_regs\n"
	"	add x9, x9, :lo12:entry_regs\n"
	"	mov x10, sp\n"
	"	stp x10, x29, [x9]\n"
	"	stp x30, x0, [x9, #16]\n"
	"	stp x1, x2, [x9, #32]\n"
	"	b c_handler\n"
	".size handler_entry, .-handler_entry\n"

	/* trigger_kill(pid, sig): x19-x28 and v16-v31 hold patterns at the svc */
	".globl trigger_kill\n.type trigger_kill,%function\n"
	"trigger_kill:\n"
	"	stp x29, x30, [sp, #-112]!\n"
	"	mov x29, sp\n"
	"	stp x19, x20, [sp, #16]\n"
	"	stp x21, x22, [sp, #32]\n"
	"	stp x23, x24, [sp, #48]\n"
	"	stp x25, x26, [sp, #64]\n"
	"	stp x27, x28, [sp, #80]\n"
	"	ldr x19, =0x1919191919191919\n"
	"	ldr x20, =0x2020202020202020\n"
	"	ldr x21, =0x2121212121212121\n"
	"	ldr x22, =0x2222222222222222\n"
	"	ldr x23, =0x2323232323232323\n"
	"	ldr x24, =0x2424242424242424\n"
	"	ldr x25, =0x2525252525252525\n"
	"	ldr x26, =0x2626262626262626\n"
	"	ldr x27, =0x2727272727272727\n"
	"	ldr x28, =0x2828282828282828\n"
	"	movi v16.16b, #0x16\n	movi v17.16b, #0x17\n	movi v18.16b, #0x18\n"
	"	movi v19.16b, #0x19\n	movi v20.16b, #0x20\n	movi v21.16b, #0x21\n"
	"	movi v22.16b, #0x22\n	movi v23.16b, #0x23\n	movi v24.16b, #0x24\n"
	"	movi v25.16b, #0x25\n	movi v26.16b, #0x26\n	movi v27.16b, #0x27\n"
	"	movi v28.16b, #0x28\n	movi v29.16b, #0x29\n	movi v30.16b, #0x30\n"
	"	movi v31.16b, #0x31\n"
	"	mrs x9, fpcr\n"
	"	mrs x10, fpsr\n"
	"	stp x9, x10, [sp, #96]\n"
	"	mov x9, #0xc00000\n"            /* FPCR.RMode = round towards zero */
	"	msr fpcr, x9\n"
	"	mov x9, #0x10\n"                /* FPSR.IXC */
	"	msr fpsr, x9\n"
	"	mov x8, #129\n"                 /* __NR_kill */
	"	svc #0\n"
	".globl after_svc\n"
	"after_svc:\n"
	"	ldp x9, x10, [sp, #96]\n"
	"	msr fpcr, x9\n"
	"	msr fpsr, x10\n"
	"	ldp x19, x20, [sp, #16]\n"
	"	ldp x21, x22, [sp, #32]\n"
	"	ldp x23, x24, [sp, #48]\n"
	"	ldp x25, x26, [sp, #64]\n"
	"	ldp x27, x28, [sp, #80]\n"
	"	ldp x29, x30, [sp], #112\n"
	"	ret\n"
	".size trigger_kill, .-trigger_kill\n"

	/* trigger_fault(addr): a load the handler skips (pc += 4) */
	".globl trigger_fault\n.type trigger_fault,%function\n"
	"trigger_fault:\n"
	"	mov x1, x0\n"
	".globl fault_insn\n"
	"fault_insn:\n"
	"	ldr x0, [x1]\n"
	"	ret\n"
	".size trigger_fault, .-trigger_fault\n"

	/* trigger_sve_fault(addr): SVE registers live (z16, z31, p3 set, no
	 * syscall since: 6.1 drops SVE state at every syscall), then a load
	 * the handler skips */
	".arch_extension sve\n"
	".globl trigger_sve_fault\n.type trigger_sve_fault,%function\n"
	"trigger_sve_fault:\n"
	"	mov x1, x0\n"
	"	dup z16.b, #0x16\n"
	"	dup z31.b, #0x31\n"
	"	ptrue p3.b\n"
	".globl sve_fault_insn\n"
	"sve_fault_insn:\n"
	"	ldr x0, [x1]\n"
	"	ret\n"
	".size trigger_sve_fault, .-trigger_sve_fault\n"
	".ltorg\n");

static const char *cur_tag;

#define FRAME_RECORD 16

static void report_records(const char *tag, const unsigned char *frame,
			   const unsigned char *res, unsigned long *extra_end)
{
	const unsigned char *p = res;
	unsigned n = 0;
	char rtag[32];
	unsigned long i = 0;

	while (tag[i] && i < 20) {
		rtag[i] = tag[i];
		i++;
	}
	memcpy(rtag + i, ".rec", 5);
	rep_begin(rtag);
	for (;;) {
		const struct _aarch64_ctx *h = (const void *)p;
		rep_hexn("off", n, (unsigned long)(p - frame));
		rep_hexn("magic", n, h->magic);
		rep_hexn("size", n, h->size);
		n++;
		if (h->magic == 0)
			break;
		if (h->magic == FPSIMD_MAGIC) {
			const struct fpsimd_context *f = (const void *)p;
			uint64_t w[2];
			rep_hex("fpsr", f->fpsr);
			rep_hex("fpcr", f->fpcr);
			memcpy(w, &f->vregs[16], 16);
			rep_hex("v16_lo", w[0]);
			rep_hex("v16_hi", w[1]);
			memcpy(w, &f->vregs[31], 16);
			rep_hex("v31_lo", w[0]);
			rep_hex("v31_hi", w[1]);
		} else if (h->magic == ESR_MAGIC) {
			rep_hex("esr", ((const struct esr_context *)p)->esr);
		} else if (h->magic == SVE_MAGIC) {
			const struct sve_context *s = (const void *)p;
			rep_hex("sve_vl", s->vl);
			rep_hex("sve_flags", s->flags);
			if (h->size > 16) { /* registers present: Z16 and P3, first 8 bytes */
				unsigned vq = s->vl / 16;
				uint64_t w;
				memcpy(&w, p + 16 + 16 * vq * 16, 8);
				rep_hex("sve_z16", w);
				memcpy(&w, p + 16 + 512 * vq + 2 * vq * 3, 8);
				rep_hex("sve_p3", w);
			}
		} else if (h->magic == EXTRA_MAGIC) {
			const struct extra_context *e = (const void *)p;
			rep_hex("extra_datap", e->datap);
			rep_hex("extra_size", e->size);
			*extra_end = e->datap + e->size;
			/* the kernel's rule: the terminator follows, then the
			 * records continue at datap */
			rep_hexn("off", n, (unsigned long)(p + h->size - frame));
			rep_hexn("magic", n, ((const struct _aarch64_ctx *)(p + h->size))->magic);
			rep_hexn("size", n, ((const struct _aarch64_ctx *)(p + h->size))->size);
			n++;
			p = (const unsigned char *)(uintptr_t)e->datap;
			continue;
		}
		if (h->size == 0 || h->size > 65536)
			break; /* corrupt: stop, the count says where */
		p += h->size;
	}
	rep_hex("nrec", n);
	rep_end();
}

static int depth;

void c_handler(int sig, siginfo_t *si, void *ucv)
{
	uint64_t e[6];
	memcpy(e, entry_regs, sizeof e); /* before a nested signal overwrites it */
	const char *tag = depth ? "nest_in" : cur_tag;
	unsigned char *frame = (unsigned char *)(uintptr_t)e[0];
	ucontext_t *uc = (ucontext_t *)(frame + 128);
	mcontext_t *mc = &uc->uc_mcontext;
	const uint64_t *rec = (const uint64_t *)(uintptr_t)e[1];
	unsigned long frame_end = e[1] + FRAME_RECORD, extra_end = 0;
	char t2[32];
	unsigned i = 0;
	uint64_t mask;

	rep_begin(tag);
	rep_hex("sig", (unsigned)sig);
	rep_hex("entry_sp", e[0]);
	rep_hex("entry_fp", e[1]);
	rep_hex("entry_lr", e[2]);
	rep_hex("entry_x0", e[3]);
	rep_hex("entry_x1", e[4]);
	rep_hex("entry_x2", e[5]);
	rep_hex("handler", (uintptr_t)handler_entry);
	rep_hex("rec_fp", rec[0]);
	rep_hex("rec_lr", rec[1]);
	rep_hex("after_svc", (uintptr_t)after_svc);
	rep_hex("fault_insn", (uintptr_t)fault_insn);
	rep_hex("sve_fault_insn", (uintptr_t)sve_fault_insn);
	if (si == (siginfo_t *)frame) { /* SA_SIGINFO: the siginfo was written */
		rep_hex("si_signo", (unsigned)si->si_signo);
		rep_hex("si_errno", (unsigned)si->si_errno);
		rep_hex("si_code", (unsigned)si->si_code);
		if (sig == SIGSEGV)
			rep_hex("si_addr", (uintptr_t)si->si_addr);
		else {
			rep_hex("si_pid", (unsigned)si->si_pid);
			rep_hex("si_uid", (unsigned)si->si_uid);
		}
	}
	rep_end();

	while (tag[i] && i < 20) {
		t2[i] = tag[i];
		i++;
	}
	memcpy(t2 + i, ".mc", 4);
	rep_begin(t2);
	rep_hex("fault_address", mc->fault_address);
	for (unsigned r = 0; r < 31; r++)
		rep_hexn("x", r, mc->regs[r]);
	rep_hex("sp", mc->sp);
	rep_hex("pc", mc->pc);
	rep_hex("pstate", mc->pstate);
	memcpy(&mask, &uc->uc_sigmask, 8);
	rep_hex("uc_flags", uc->uc_flags);
	rep_hex("uc_link", (uintptr_t)uc->uc_link);
	rep_hex("ss_sp", (uintptr_t)uc->uc_stack.ss_sp);
	rep_hex("ss_flags", (unsigned)uc->uc_stack.ss_flags);
	rep_hex("ss_size", uc->uc_stack.ss_size);
	rep_hex("mask", mask);
	rep_end();

	report_records(tag, frame, (const unsigned char *)mc->__reserved, &extra_end);
	memcpy(t2 + i, ".frame", 7);
	rep_dump(t2, frame, frame_end - (unsigned long)frame);
	if (extra_end > frame_end) { /* the extra space is normally inside the frame */
		memcpy(t2 + i, ".extra", 7);
		rep_dump(t2, (void *)(uintptr_t)(frame_end), extra_end - frame_end);
	}
	memcpy(t2 + i, ".lrcode", 8);
	rep_dump(t2, (void *)(uintptr_t)e[2], 8);
	if (!depth && tag[0] == 'n' && tag[1] == 'e') { /* "nest": a signal inside the handler */
		depth++;
		trigger_kill(getpid(), SIGUSR2);
		depth--;
	}
	if (sig == SIGSEGV)
		mc->pc += 4; /* skip the faulting load */
	(void)ucv;
}

static void install(int sig, int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler_entry;
	sa.sa_flags = flags;
	sigaction(sig, &sa, 0);
}

static void report_auxv(void)
{
	static const unsigned long types[] = {
		AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ, AT_PAGESZ, AT_SYSINFO_EHDR,
		AT_CLKTCK, AT_PHENT, AT_PHNUM, AT_ENTRY, AT_SECURE, AT_RANDOM,
		AT_PLATFORM, AT_EXECFN,
	};
	static unsigned char buf[4096];
	long n = 0, r;
	int fd;

	rep_begin("auxv");
	for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++)
		rep_hexn("at", (unsigned)types[i], getauxval(types[i]));
	rep_end();
	fd = open("/proc/self/auxv", O_RDONLY);
	while (fd >= 0 && n < (long)sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) > 0)
		n += r;
	rep_dump("auxv.proc", buf, (unsigned long)n);
}

/* The vDSO image (ELF header to the end of the section headers), so the host
 * can find __kernel_rt_sigreturn by symbol. */
static void dump_vdso(void)
{
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	if (eh)
		rep_dump("vdso", eh, eh->e_shoff + (unsigned long)eh->e_shnum * eh->e_shentsize);
}

static char altstack[65536] __attribute__((aligned(16)));

int main(int argc, char **argv)
{
	stack_t ss;

	if (argc > 1 && strcmp(argv[1], "segv") == 0) {
		/* only the fault: its frame is the first one (sigdbg frame -- PROG segv) */
		cur_tag = "segv";
		install(SIGSEGV, SA_SIGINFO);
		trigger_fault(0xdead000);
		rep_begin("segv.resumed");
		rep_end();
		done();
		return 0;
	}
	cur_tag = "usr1";
	install(SIGUSR1, SA_SIGINFO);
	trigger_kill(getpid(), SIGUSR1);

	cur_tag = "segv";
	install(SIGSEGV, SA_SIGINFO);
	trigger_fault(0xdead000);
	rep_begin("segv.resumed");
	rep_end();

	cur_tag = "nosi";
	install(SIGUSR2, 0);
	trigger_kill(getpid(), SIGUSR2);

	cur_tag = "alt";
	ss.ss_sp = altstack;
	ss.ss_size = sizeof altstack;
	ss.ss_flags = 0;
	sigaltstack(&ss, 0);
	rep_begin("alt.stack");
	rep_hex("ss_sp", (uintptr_t)altstack);
	rep_hex("ss_size", sizeof altstack);
	rep_end();
	install(SIGUSR1, SA_SIGINFO | SA_ONSTACK);
	trigger_kill(getpid(), SIGUSR1);

	cur_tag = "nest";
	install(SIGUSR1, SA_SIGINFO);
	install(SIGUSR2, SA_SIGINFO);
	trigger_kill(getpid(), SIGUSR1);

	/* live SVE at VL 256: the sve record no longer fits in __reserved, so
	 * the kernel adds an extra_context */
	cur_tag = "sve";
	rep_begin("sve.setup");
	rep_hex("set_vl", (unsigned long)prctl(PR_SVE_SET_VL, 256));
	rep_end();
	trigger_sve_fault(0xdead000);
	rep_begin("sve.resumed");
	rep_end();

	report_auxv();
	dump_vdso();
	done();
	return 0;
}
