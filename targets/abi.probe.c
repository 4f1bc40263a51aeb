/*
 * abi.probe - offsetof/sizeof probe of the structures sigdbg decodes, built
 * once per ABI (see the Makefile):
 *   build/abi.probe       x86_64, native gcc + glibc, kernel uapi headers
 *                         (<asm/sigcontext.h>, <asm/signal.h>, <asm/siginfo.h>,
 *                          <asm/ucontext.h>) and <sys/user.h>;
 *   build/abi.probe.i386  i386 freestanding (-DPROBE_I386): the compat structs
 *                         declared in lib32/abi32.h (copied from the kernel's
 *                         asm/sigframe.h, asm/ia32.h, uapi asm/sigcontext.h,
 *                         linux/compat.h) - the same declarations the *.i386.c
 *                         targets use; output with raw write(2) syscalls.
 *
 * Proves: the layouts in /work/shared/reference/sigframe-x86.md and siginfo.md
 * (and sigdbg's decoder tables) match what the compiler produces for the
 * kernel's own definitions.  Output, decimal, one line each:
 *   SIZEOF <struct> <size>
 *   OFFSET <struct> <field> <offset> <size>
 * Field names are the kernel uapi names (siginfo fields via the
 * asm-generic/siginfo.h accessor macros, e.g. si_pid = _sifields._kill._pid).
 *
 * Structs, x86_64: rt_sigframe (kernel-internal, replicated from
 *   arch/x86/include/asm/sigframe.h), ucontext, stack_t, sigcontext,
 *   _fpstate_64, _fpx_sw_bytes, _header, siginfo, user_regs_struct.
 * Structs, i386: sigframe_ia32, rt_sigframe_ia32, ucontext_ia32, stack_ia32_t,
 *   sigcontext_32, _fpstate_32, siginfo, user_regs_struct.
 */

#ifdef PROBE_I386

#include "sys32.h"          /* _start, write(2); pulls in abi32.h */

typedef struct sigframe_ia32    P_sigframe_ia32;
typedef struct rt_sigframe_ia32 P_rt_sigframe_ia32;
typedef struct ucontext_ia32    P_ucontext_ia32;
typedef stack_ia32_t            P_stack_ia32_t;
typedef struct sigcontext_32    P_sigcontext_32;
typedef struct _fpstate_32      P__fpstate_32;
typedef compat_siginfo_t        P_siginfo;
typedef struct user_regs_struct P_user_regs_struct;

static void put_line(const char *kind, const char *st, const char *field,
		     unsigned long a, int with_b, unsigned long b)
{
	struct report r;

	r.len = 0;
	rep_str(&r, kind);
	rep_str(&r, " ");
	rep_str(&r, st);
	if (field) {
		rep_str(&r, " ");
		rep_str(&r, field);
	}
	rep_str(&r, " ");
	rep_dec(&r, a);
	if (with_b) {
		rep_str(&r, " ");
		rep_dec(&r, b);
	}
	rep_end(&r);
}

#else /* x86_64, glibc */

#include <stdio.h>
#include <stddef.h>
#include <sys/user.h>
#include <asm/sigcontext.h>
#include <asm/signal.h>
#include <asm/siginfo.h>
#include <asm/ucontext.h>

/* arch/x86/include/asm/sigframe.h (CONFIG_X86_64) */
struct rt_sigframe {
	char *pretcode;
	struct ucontext uc;
	struct siginfo info;
	/* fp state follows here */
};

typedef struct rt_sigframe      P_rt_sigframe;
typedef struct ucontext         P_ucontext;
typedef stack_t                 P_stack_t;
typedef struct sigcontext       P_sigcontext;
typedef struct _fpstate_64      P__fpstate_64;
typedef struct _fpx_sw_bytes    P__fpx_sw_bytes;
typedef struct _header          P__header;
typedef siginfo_t               P_siginfo;
typedef struct user_regs_struct P_user_regs_struct;

static void put_line(const char *kind, const char *st, const char *field,
		     unsigned long a, int with_b, unsigned long b)
{
	if (field)
		printf("%s %s %s %lu", kind, st, field, a);
	else
		printf("%s %s %lu", kind, st, a);
	if (with_b)
		printf(" %lu", b);
	printf("\n");
}

#endif

/* #F is taken before macro expansion, so accessor macros print as si_pid etc. */
#define SIZE(S)    put_line("SIZEOF", #S, 0, sizeof(P_##S), 0, 0)
#define OFF(S, F)  put_line("OFFSET", #S, #F, __builtin_offsetof(P_##S, F), 1, \
			    sizeof(((P_##S *)0)->F))

/* siginfo accessors common to both ABIs */
#define SIGINFO_FIELDS()                                                 \
	do {                                                             \
		SIZE(siginfo);                                           \
		OFF(siginfo, si_signo);                                  \
		OFF(siginfo, si_errno);                                  \
		OFF(siginfo, si_code);                                   \
		OFF(siginfo, si_pid);                                    \
		OFF(siginfo, si_uid);                                    \
		OFF(siginfo, si_tid);                                    \
		OFF(siginfo, si_overrun);                                \
		OFF(siginfo, si_value);                                  \
		OFF(siginfo, si_status);                                 \
		OFF(siginfo, si_utime);                                  \
		OFF(siginfo, si_stime);                                  \
		OFF(siginfo, si_addr);                                   \
		OFF(siginfo, si_addr_lsb);                               \
		OFF(siginfo, si_lower);                                  \
		OFF(siginfo, si_upper);                                  \
		OFF(siginfo, si_pkey);                                   \
		OFF(siginfo, si_band);                                   \
		OFF(siginfo, si_fd);                                     \
		OFF(siginfo, si_call_addr);                              \
		OFF(siginfo, si_syscall);                                \
		OFF(siginfo, si_arch);                                   \
	} while (0)

int main(int argc, char **argv, char **envp)
{
	(void)argc; (void)argv; (void)envp;
#ifdef PROBE_I386
	SIZE(sigframe_ia32);
	OFF(sigframe_ia32, pretcode);
	OFF(sigframe_ia32, sig);
	OFF(sigframe_ia32, sc);
	OFF(sigframe_ia32, fpstate_unused);
	OFF(sigframe_ia32, extramask);
	OFF(sigframe_ia32, retcode);

	SIZE(rt_sigframe_ia32);
	OFF(rt_sigframe_ia32, pretcode);
	OFF(rt_sigframe_ia32, sig);
	OFF(rt_sigframe_ia32, pinfo);
	OFF(rt_sigframe_ia32, puc);
	OFF(rt_sigframe_ia32, info);
	OFF(rt_sigframe_ia32, uc);
	OFF(rt_sigframe_ia32, retcode);

	SIZE(ucontext_ia32);
	OFF(ucontext_ia32, uc_flags);
	OFF(ucontext_ia32, uc_link);
	OFF(ucontext_ia32, uc_stack);
	OFF(ucontext_ia32, uc_mcontext);
	OFF(ucontext_ia32, uc_sigmask);

	SIZE(stack_ia32_t);
	OFF(stack_ia32_t, ss_sp);
	OFF(stack_ia32_t, ss_flags);
	OFF(stack_ia32_t, ss_size);

	SIZE(sigcontext_32);
	OFF(sigcontext_32, gs);
	OFF(sigcontext_32, fs);
	OFF(sigcontext_32, es);
	OFF(sigcontext_32, ds);
	OFF(sigcontext_32, di);
	OFF(sigcontext_32, si);
	OFF(sigcontext_32, bp);
	OFF(sigcontext_32, sp);
	OFF(sigcontext_32, bx);
	OFF(sigcontext_32, dx);
	OFF(sigcontext_32, cx);
	OFF(sigcontext_32, ax);
	OFF(sigcontext_32, trapno);
	OFF(sigcontext_32, err);
	OFF(sigcontext_32, ip);
	OFF(sigcontext_32, cs);
	OFF(sigcontext_32, flags);
	OFF(sigcontext_32, sp_at_signal);
	OFF(sigcontext_32, ss);
	OFF(sigcontext_32, fpstate);
	OFF(sigcontext_32, oldmask);
	OFF(sigcontext_32, cr2);

	SIZE(_fpstate_32);
	OFF(_fpstate_32, cw);
	OFF(_fpstate_32, sw);
	OFF(_fpstate_32, tag);
	OFF(_fpstate_32, ipoff);
	OFF(_fpstate_32, cssel);
	OFF(_fpstate_32, dataoff);
	OFF(_fpstate_32, datasel);
	OFF(_fpstate_32, _st);
	OFF(_fpstate_32, status);
	OFF(_fpstate_32, magic);
	OFF(_fpstate_32, _fxsr_env);
	OFF(_fpstate_32, mxcsr);
	OFF(_fpstate_32, reserved);
	OFF(_fpstate_32, _fxsr_st);
	OFF(_fpstate_32, _xmm);
	OFF(_fpstate_32, padding1);
	OFF(_fpstate_32, sw_reserved);
	OFF(_fpstate_32, padding2);

	SIGINFO_FIELDS();

	SIZE(user_regs_struct);
	OFF(user_regs_struct, ebx);
	OFF(user_regs_struct, ecx);
	OFF(user_regs_struct, edx);
	OFF(user_regs_struct, esi);
	OFF(user_regs_struct, edi);
	OFF(user_regs_struct, ebp);
	OFF(user_regs_struct, eax);
	OFF(user_regs_struct, xds);
	OFF(user_regs_struct, xes);
	OFF(user_regs_struct, xfs);
	OFF(user_regs_struct, xgs);
	OFF(user_regs_struct, orig_eax);
	OFF(user_regs_struct, eip);
	OFF(user_regs_struct, xcs);
	OFF(user_regs_struct, eflags);
	OFF(user_regs_struct, esp);
	OFF(user_regs_struct, xss);
#else
	SIZE(rt_sigframe);
	OFF(rt_sigframe, pretcode);
	OFF(rt_sigframe, uc);
	OFF(rt_sigframe, info);

	SIZE(ucontext);
	OFF(ucontext, uc_flags);
	OFF(ucontext, uc_link);
	OFF(ucontext, uc_stack);
	OFF(ucontext, uc_mcontext);
	OFF(ucontext, uc_sigmask);

	SIZE(stack_t);
	OFF(stack_t, ss_sp);
	OFF(stack_t, ss_flags);
	OFF(stack_t, ss_size);

	SIZE(sigcontext);
	OFF(sigcontext, r8);
	OFF(sigcontext, r9);
	OFF(sigcontext, r10);
	OFF(sigcontext, r11);
	OFF(sigcontext, r12);
	OFF(sigcontext, r13);
	OFF(sigcontext, r14);
	OFF(sigcontext, r15);
	OFF(sigcontext, rdi);
	OFF(sigcontext, rsi);
	OFF(sigcontext, rbp);
	OFF(sigcontext, rbx);
	OFF(sigcontext, rdx);
	OFF(sigcontext, rax);
	OFF(sigcontext, rcx);
	OFF(sigcontext, rsp);
	OFF(sigcontext, rip);
	OFF(sigcontext, eflags);
	OFF(sigcontext, cs);
	OFF(sigcontext, gs);
	OFF(sigcontext, fs);
	OFF(sigcontext, ss);
	OFF(sigcontext, err);
	OFF(sigcontext, trapno);
	OFF(sigcontext, oldmask);
	OFF(sigcontext, cr2);
	OFF(sigcontext, fpstate);
	OFF(sigcontext, reserved1);

	SIZE(_fpstate_64);
	OFF(_fpstate_64, cwd);
	OFF(_fpstate_64, swd);
	OFF(_fpstate_64, twd);
	OFF(_fpstate_64, fop);
	OFF(_fpstate_64, rip);
	OFF(_fpstate_64, rdp);
	OFF(_fpstate_64, mxcsr);
	OFF(_fpstate_64, mxcsr_mask);
	OFF(_fpstate_64, st_space);
	OFF(_fpstate_64, xmm_space);
	OFF(_fpstate_64, reserved2);
	OFF(_fpstate_64, sw_reserved);

	SIZE(_fpx_sw_bytes);
	OFF(_fpx_sw_bytes, magic1);
	OFF(_fpx_sw_bytes, extended_size);
	OFF(_fpx_sw_bytes, xfeatures);
	OFF(_fpx_sw_bytes, xstate_size);
	OFF(_fpx_sw_bytes, padding);

	SIZE(_header);
	OFF(_header, xfeatures);
	OFF(_header, reserved1);
	OFF(_header, reserved2);

	SIGINFO_FIELDS();

	SIZE(user_regs_struct);
	OFF(user_regs_struct, r15);
	OFF(user_regs_struct, r14);
	OFF(user_regs_struct, r13);
	OFF(user_regs_struct, r12);
	OFF(user_regs_struct, rbp);
	OFF(user_regs_struct, rbx);
	OFF(user_regs_struct, r11);
	OFF(user_regs_struct, r10);
	OFF(user_regs_struct, r9);
	OFF(user_regs_struct, r8);
	OFF(user_regs_struct, rax);
	OFF(user_regs_struct, rcx);
	OFF(user_regs_struct, rdx);
	OFF(user_regs_struct, rsi);
	OFF(user_regs_struct, rdi);
	OFF(user_regs_struct, orig_rax);
	OFF(user_regs_struct, rip);
	OFF(user_regs_struct, cs);
	OFF(user_regs_struct, eflags);
	OFF(user_regs_struct, rsp);
	OFF(user_regs_struct, ss);
	OFF(user_regs_struct, fs_base);
	OFF(user_regs_struct, gs_base);
	OFF(user_regs_struct, ds);
	OFF(user_regs_struct, es);
	OFF(user_regs_struct, fs);
	OFF(user_regs_struct, gs);
#endif
	return 0;
}
