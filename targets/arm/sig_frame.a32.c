/*
 * sig_frame.a32 - AArch32 signal frames (compat task on an arm64 kernel, or
 * a native ARM kernel), reported from inside the handler.  Built twice:
 * sig_frame.arm (-marm) and sig_frame.thumb (-mthumb: the handler, the entry
 * stub and the triggers are Thumb-2 code, so the kernel enters the handler
 * in Thumb state because bit 0 of its address is set).
 *
 * Proves: where the kernel puts the frame (sp at handler entry, caught by an
 * asm stub before C code moves sp) for rt_sigframe (SA_SIGINFO) and the
 * non-rt sigframe, the restorer in lr (glibc armhf passes SA_RESTORER with
 * its own Thumb-2 stub), every sigcontext value, the uc_regspace records
 * (walked by size: VFP 0x56465001 with fpscr and d16/d31), and the raw frame
 * bytes (hex) for a host-side decode.  r4-r10, d16-d31 and FPSCR
 * (0x00c00010) hold known patterns at the svc, and the interrupted pc is a known label.
 *
 * Scenarios (tags): usr1 (kill by inline svc, SA_SIGINFO), segv (load from
 * 0xdead000, handler skips it: pc += 4 in ARM, += 2 in Thumb), nosi (SIGUSR2
 * without SA_SIGINFO: the non-rt sigframe), alt (SA_ONSTACK), sigpage and
 * sigpage_nosi (rt_sigaction called directly, without SA_RESTORER: lr points
 * into the kernel's [sigpage]), raise (glibc raise: tgkill, SI_TKILL),
 * queue (sigqueue: SI_QUEUE with si_value 0x5151), nest (the SIGUSR1
 * handler sends itself SIGUSR2 by the same inline svc: the inner frame,
 * tag nest_in, lies below the outer handler's stack with SIGUSR1 blocked),
 * own (SA_RESTORER with the program's own restorer: ARM `mov r7, #173;
 * svc #0` in the ARM build, Thumb `movs r7, #173; svc #0` in the Thumb one).
 * Then tag=kuser (__kuser_helper_version at
 * 0xffff0ffc), a hex dump of /proc/self/maps (tag=maps), tag=auxv
 * and a hex dump of /proc/self/auxv (32-bit entries).  Each handler also
 * dumps the 16 bytes at its lr (tag=<scenario>.lrcode: the restorer's code).
 * With an argument only that scenario runs (its frame is the process's
 * first: what ``sigdbg frame -- sig_frame.arm segv`` decodes).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "report_arm.h"

/* what the entry stub saw: sp, lr, r0, r1, r2, fp (r11), cpsr is not readable */
uint32_t entry_regs[6];
void handler_entry(int, siginfo_t *, void *);
void trigger_kill(long pid, long sig);
void trigger_fault(long addr);
void own_restorer(void);
extern char after_svc[], fault_insn[];

#ifdef __thumb__
#define MODE ".thumb\n.syntax unified\n"
#define FUNC(n) ".globl " #n "\n.type " #n ",%function\n.thumb_func\n" #n ":\n"
#define INSN_SKIP 2
#define LOAD "	ldr.n r0, [r1]\n"
#define OWN_RESTORER "	movs r7, #173\n	svc #0\n"
#else
#define MODE ".arm\n.syntax unified\n"
#define FUNC(n) ".globl " #n "\n.type " #n ",%function\n" #n ":\n"
#define INSN_SKIP 4
#define LOAD "	ldr r0, [r1]\n"
#define OWN_RESTORER "	mov r7, #173\n	svc #0\n"
#endif

/*
 * Entry stub: uses r3 and r12 (scratch: sigreturn restores them), leaves
 * r0-r2 for the C handler.
 */
__asm__(
	".text\n" MODE
	".fpu neon\n"
	".align 2\n"
	FUNC(handler_entry)
	"	ldr r12, =entry_regs\n"
	"	mov r3, sp\n"
	"	str r3, [r12]\n"
	"	str lr, [r12, #4]\n"
	"	str r0, [r12, #8]\n"
	"	str r1, [r12, #12]\n"
	"	str r2, [r12, #16]\n"
	"	str r11, [r12, #20]\n"
	"	b c_handler\n"
	".ltorg\n"
	".size handler_entry, .-handler_entry\n"

	".align 2\n"
	FUNC(trigger_kill)
	"	push {r4-r11, lr}\n"
	"	ldr r4, =0x04040404\n"
	"	ldr r5, =0x05050505\n"
	"	ldr r6, =0x06060606\n"
	"	ldr r8, =0x08080808\n"
	"	ldr r9, =0x09090909\n"
	"	ldr r10, =0x10101010\n"
	"	vmov.i8 d16, #0x16\n	vmov.i8 d17, #0x17\n	vmov.i8 d18, #0x18\n"
	"	vmov.i8 d19, #0x19\n	vmov.i8 d20, #0x20\n	vmov.i8 d21, #0x21\n"
	"	vmov.i8 d22, #0x22\n	vmov.i8 d23, #0x23\n	vmov.i8 d24, #0x24\n"
	"	vmov.i8 d25, #0x25\n	vmov.i8 d26, #0x26\n	vmov.i8 d27, #0x27\n"
	"	vmov.i8 d28, #0x28\n	vmov.i8 d29, #0x29\n	vmov.i8 d30, #0x30\n"
	"	vmov.i8 d31, #0x31\n"
	"	vmrs r11, fpscr\n"
	"	ldr r12, =0x00c00010\n"       /* RMode = towards zero, IXC */
	"	vmsr fpscr, r12\n"
	"	mov r7, #37\n"                 /* __NR_kill */
	"	svc #0\n"
	".globl after_svc\n"
	"after_svc:\n"
	"	vmsr fpscr, r11\n"
	"	pop {r4-r11, pc}\n"
	".ltorg\n"
	".size trigger_kill, .-trigger_kill\n"

	".align 2\n"
	FUNC(trigger_fault)
	"	mov r1, r0\n"
	".globl fault_insn\n"
	"fault_insn:\n"
	LOAD
	"	bx lr\n"
	".size trigger_fault, .-trigger_fault\n"

	/* the program's own SA_RESTORER (in the build's instruction set) */
	".align 2\n"
	FUNC(own_restorer)
	OWN_RESTORER
	".size own_restorer, .-own_restorer\n");

/* volatile: glibc marks sigaction, raise and sigqueue __THROW (leaf), so the
 * compiler may otherwise sink the store past them and the handler would
 * report under the previous scenario's tag */
static const char *volatile cur_tag;

#define VFP_MAGIC 0x56465001
#define UC_REGSPACE_OFF 232  /* offsetof(struct ucontext, uc_regspace), kernel and glibc */

static void tagged(char *out, const char *tag, const char *suffix)
{
	unsigned i = 0, j = 0;
	while (tag[i] && i < 20) {
		out[i] = tag[i];
		i++;
	}
	while ((out[i++] = suffix[j++]))
		;
}

static int depth;

void c_handler(int sig, siginfo_t *si, void *ucv)
{
	uint32_t e[6];
	memcpy(e, entry_regs, sizeof e); /* before a nested signal overwrites it */
	const char *tag = depth ? "nest_in" : cur_tag;
	unsigned char *sp = (unsigned char *)(uintptr_t)e[0];
	/* rt frame: sp = &info, uc at +128; non-rt: sp = &uc */
	int rt = si == (siginfo_t *)sp;
	ucontext_t *uc = (ucontext_t *)(rt ? sp + 128 : sp);
	mcontext_t *mc = &uc->uc_mcontext;
	const uint32_t *rs = (const uint32_t *)((unsigned char *)uc + UC_REGSPACE_OFF);
	unsigned long frame_len = rt ? 880 : 752; /* compat_(rt_)sigframe, arm64 kernel */
	char t2[32];
	uint64_t mask;
	unsigned n = 0;

	rep_begin(tag);
	rep_hex("sig", (unsigned)sig);
	rep_hex("rt", rt);
	rep_hex("entry_sp", e[0]);
	rep_hex("entry_lr", e[1]);
	rep_hex("entry_r0", e[2]);
	rep_hex("entry_r1", e[3]);
	rep_hex("entry_r2", e[4]);
	rep_hex("handler", (uintptr_t)handler_entry);
	rep_hex("own_restorer", (uintptr_t)own_restorer);
	rep_hex("after_svc", (uintptr_t)after_svc);
	rep_hex("fault_insn", (uintptr_t)fault_insn);
	if (rt) {
		rep_hex("si_signo", (unsigned)si->si_signo);
		rep_hex("si_errno", (unsigned)si->si_errno);
		rep_hex("si_code", (unsigned)si->si_code);
		if (sig == SIGSEGV)
			rep_hex("si_addr", (uintptr_t)si->si_addr);
		else {
			rep_hex("si_pid", (unsigned)si->si_pid);
			rep_hex("si_uid", (unsigned)si->si_uid);
		}
		if (si->si_code == SI_QUEUE)
			rep_hex("si_value", (unsigned)si->si_value.sival_int);
	}
	rep_end();

	tagged(t2, tag, ".mc");
	rep_begin(t2);
	rep_hex("trap_no", mc->trap_no);
	rep_hex("error_code", mc->error_code);
	rep_hex("oldmask", mc->oldmask);
	rep_hex("arm_r0", mc->arm_r0);
	rep_hex("arm_r1", mc->arm_r1);
	rep_hex("arm_r2", mc->arm_r2);
	rep_hex("arm_r3", mc->arm_r3);
	rep_hex("arm_r4", mc->arm_r4);
	rep_hex("arm_r5", mc->arm_r5);
	rep_hex("arm_r6", mc->arm_r6);
	rep_hex("arm_r7", mc->arm_r7);
	rep_hex("arm_r8", mc->arm_r8);
	rep_hex("arm_r9", mc->arm_r9);
	rep_hex("arm_r10", mc->arm_r10);
	rep_hex("arm_fp", mc->arm_fp);
	rep_hex("arm_ip", mc->arm_ip);
	rep_hex("arm_sp", mc->arm_sp);
	rep_hex("arm_lr", mc->arm_lr);
	rep_hex("arm_pc", mc->arm_pc);
	rep_hex("arm_cpsr", mc->arm_cpsr);
	rep_hex("fault_address", mc->fault_address);
	memcpy(&mask, &uc->uc_sigmask, 8);
	rep_hex("uc_flags", uc->uc_flags);
	rep_hex("uc_link", (uintptr_t)uc->uc_link);
	rep_hex("ss_sp", (uintptr_t)uc->uc_stack.ss_sp);
	rep_hex("ss_flags", (unsigned)uc->uc_stack.ss_flags);
	rep_hex("ss_size", uc->uc_stack.ss_size);
	rep_hex("mask", mask);
	rep_end();

	tagged(t2, tag, ".rec");
	rep_begin(t2);
	for (;;) {
		rep_hexn("off", n, (unsigned long)((const unsigned char *)rs - sp));
		rep_hexn("magic", n, rs[0]);
		if (rs[0] == 0) {
			n++;
			break;
		}
		rep_hexn("size", n, rs[1]);
		n++;
		if (rs[0] == VFP_MAGIC) {
			uint64_t d;
			memcpy(&d, rs + 2 + 2 * 16, 8);
			rep_hex("d16", d);
			memcpy(&d, rs + 2 + 2 * 31, 8);
			rep_hex("d31", d);
			rep_hex("fpscr", rs[2 + 64]);
			rep_hex("fpexc", rs[2 + 66]);
		}
		if (rs[1] < 8 || rs[1] > 512)
			break; /* corrupt */
		rs = (const uint32_t *)((const unsigned char *)rs + rs[1]);
	}
	rep_hex("nrec", n);
	rep_end();

	tagged(t2, tag, ".frame");
	rep_dump(t2, sp, frame_len);
	tagged(t2, tag, ".lrcode");
	rep_dump(t2, (void *)(uintptr_t)(e[1] & ~1u), 16);
	if (!depth && tag[0] == 'n' && tag[1] == 'e') { /* "nest": a signal inside the handler */
		/* edits of its own frame first, seen by a debugger stopped in the
		 * nested handler (arm_r5: trigger_kill pops r5 after the return,
		 * so harmless) and after sigreturn (SIGWINCH stays blocked: the
		 * "own" frame's uc_sigmask shows it) */
		mc->arm_r5 = 0x55aa55aa;
		mask |= 1ull << (SIGWINCH - 1);
		memcpy(&uc->uc_sigmask, &mask, 8);
		rep_begin("nest.edit");
		rep_hex("arm_r5", mc->arm_r5);
		rep_hex("mask", mask);
		rep_end();
		depth++;
		trigger_kill(getpid(), SIGUSR2);
		depth--;
	}
	if (sig == SIGSEGV)
		mc->arm_pc += INSN_SKIP; /* skip the faulting load */
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
		AT_HWCAP, AT_HWCAP2, AT_PAGESZ, AT_SYSINFO_EHDR, AT_CLKTCK, AT_PHENT,
		AT_PHNUM, AT_ENTRY, AT_SECURE, AT_RANDOM, AT_PLATFORM, AT_EXECFN,
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

/*
 * rt_sigaction without SA_RESTORER, as a program that does not use glibc's
 * sigaction would: the kernel then returns through its [sigpage].
 * struct sigaction as the kernel reads it (include/linux/signal_types.h,
 * compat_sigaction on arm64): handler, flags, restorer, 64-bit mask.
 */
static void install_raw(int sig, unsigned long flags, void (*restorer)(void))
{
	struct {
		void *handler;
		unsigned long flags, restorer, mask[2];
	} ksa = { (void *)handler_entry, flags, (unsigned long)(uintptr_t)restorer, { 0, 0 } };
	syscall(__NR_rt_sigaction, sig, &ksa, 0, 8);
}

static void dump_file(const char *tag, const char *path)
{
	static unsigned char buf[8192];
	long n = 0, r;
	int fd = open(path, O_RDONLY);
	while (fd >= 0 && n < (long)sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) > 0)
		n += r;
	if (fd >= 0)
		close(fd);
	rep_dump(tag, buf, (unsigned long)n);
}

static char altstack[65536] __attribute__((aligned(16)));

static int only(int argc, char **argv, const char *tag)
{
	return argc < 2 || strcmp(argv[1], tag) == 0;
}

int main(int argc, char **argv)
{
	stack_t ss;

	if (only(argc, argv, "usr1")) {
		cur_tag = "usr1";
		install(SIGUSR1, SA_SIGINFO);
		trigger_kill(getpid(), SIGUSR1);
	}
	if (only(argc, argv, "segv")) {
		cur_tag = "segv";
		install(SIGSEGV, SA_SIGINFO);
		trigger_fault(0xdead000);
		rep_begin("segv.resumed");
		rep_end();
	}
	if (only(argc, argv, "nosi")) {
		cur_tag = "nosi";
		install(SIGUSR2, 0);
		trigger_kill(getpid(), SIGUSR2);
	}
	if (argc > 1) {
		done();
		return 0;
	}

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

	cur_tag = "sigpage";
	install_raw(SIGUSR1, SA_SIGINFO, 0);
	trigger_kill(getpid(), SIGUSR1);
	cur_tag = "sigpage_nosi";
	install_raw(SIGUSR2, 0, 0);
	trigger_kill(getpid(), SIGUSR2);

	cur_tag = "raise";
	install(SIGUSR1, SA_SIGINFO);
	raise(SIGUSR1);

	cur_tag = "queue";
	sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 0x5151 });

	cur_tag = "nest";
	install(SIGUSR2, SA_SIGINFO);
	trigger_kill(getpid(), SIGUSR1);

	cur_tag = "own";
	install_raw(SIGUSR1, SA_SIGINFO | 0x04000000 /* SA_RESTORER */, own_restorer);
	trigger_kill(getpid(), SIGUSR1);

	rep_begin("kuser");
	rep_hex("version", *(volatile unsigned *)0xffff0ffc); /* __kuser_helper_version */
	rep_end();
	dump_file("maps", "/proc/self/maps");
	report_auxv();
	done();
	return 0;
}
