/*
 * abi.probe (ARM) - offsetof/sizeof probe of the ARM structures sigdbg
 * decodes, built per ABI by `make -C targets arm` and run IN THE GUEST (a
 * real arm64 kernel, tests/arm/):
 *   build/arm/abi.probe.a64   aarch64-linux-gnu-gcc, the cross toolchain's
 *                             uapi headers (<asm/sigcontext.h>,
 *                             <asm/ucontext.h>, <asm/siginfo.h>, <asm/ptrace.h>)
 *   build/arm/abi.probe.a32   arm-linux-gnueabihf-gcc, uapi <asm/sigcontext.h>,
 *                             <asm/siginfo.h>, <asm/signal.h>, <asm/ptrace.h>
 *
 * Structs the uapi headers do not have are replicated field for field from
 * the kernel source, and the probe says so (SOURCE lines):
 *   - AArch64 rt_sigframe and frame_record: arch/arm64/kernel/signal.c;
 *   - AArch64 records newer than the toolchain's headers (6.1 uapi has
 *     fpsimd, esr, extra, sve, za): tpidr2, zt (v6.3), fpmr (v6.9),
 *     poe (v6.12), gcs (v6.13) from arch/arm64/include/uapi/asm/sigcontext.h
 *     (used only when the header lacks the magic);
 *   - ARM ucontext (arch/arm/include/asm/ucontext.h, not uapi), vfp_sigframe
 *     (arch/arm/include/asm/ucontext.h), the native sigframe/rt_sigframe
 *     (arch/arm/kernel/signal.h, retcode[4]) and the compat ones an arm64
 *     kernel builds for a 32-bit task (arch/arm64/kernel/signal32.c,
 *     retcode[2]).
 *
 * Proves: sigdbg/abi/aarch64.py and sigdbg/abi/arm.py match what the
 * compiler produces for the kernel's definitions.  Output, decimal:
 *   SIZEOF <struct> <size>
 *   OFFSET <struct> <field> <offset> <size>
 *   SOURCE <struct> uapi|replica
 */
#include <stdio.h>
#include <stddef.h>
#include <asm/ptrace.h>
#include <asm/sigcontext.h>
#include <asm/signal.h>
#include <asm/siginfo.h>

#define SIZE(S)    printf("SIZEOF %s %lu\n", #S, (unsigned long)sizeof(P_##S))
#define OFF(S, F)  printf("OFFSET %s %s %lu %lu\n", #S, #F, \
			  (unsigned long)__builtin_offsetof(P_##S, F), \
			  (unsigned long)sizeof(((P_##S *)0)->F))
#define SRC(S, how) printf("SOURCE %s %s\n", #S, how)

typedef siginfo_t P_siginfo;
typedef stack_t   P_stack_t;
typedef struct sigcontext P_sigcontext;

static void siginfo_fields(void)
{
	SIZE(siginfo);
	OFF(siginfo, si_signo);
	OFF(siginfo, si_errno);
	OFF(siginfo, si_code);
	OFF(siginfo, si_pid);
	OFF(siginfo, si_uid);
	OFF(siginfo, si_value);
	OFF(siginfo, si_addr);
	OFF(siginfo, si_status);
	OFF(siginfo, si_utime);
	OFF(siginfo, si_stime);
	OFF(siginfo, si_tid);
	OFF(siginfo, si_overrun);
	OFF(siginfo, si_band);
	OFF(siginfo, si_fd);
	OFF(siginfo, si_call_addr);
	OFF(siginfo, si_syscall);
	OFF(siginfo, si_arch);
	SIZE(stack_t);
	OFF(stack_t, ss_sp);
	OFF(stack_t, ss_flags);
	OFF(stack_t, ss_size);
}

#ifdef __aarch64__

#include <asm/ucontext.h>

/* arch/arm64/kernel/signal.c */
struct rt_sigframe {
	struct siginfo info;
	struct ucontext uc;
};
struct frame_record {
	__u64 fp;
	__u64 lr;
};

#ifndef TPIDR2_MAGIC
#define HDR_TPIDR2 "replica"
#define TPIDR2_MAGIC 0x54504902
struct tpidr2_context {
	struct _aarch64_ctx head;
	__u64 tpidr2;
};
#else
#define HDR_TPIDR2 "uapi"
#endif
#ifndef ZT_MAGIC
#define HDR_ZT "replica"
#define ZT_MAGIC 0x5a544e01
struct zt_context {
	struct _aarch64_ctx head;
	__u16 nregs;
	__u16 __reserved[3];
};
#else
#define HDR_ZT "uapi"
#endif
#ifndef FPMR_MAGIC
#define HDR_FPMR "replica"
#define FPMR_MAGIC 0x46504d52
struct fpmr_context {
	struct _aarch64_ctx head;
	__u64 fpmr;
};
#else
#define HDR_FPMR "uapi"
#endif
#ifndef POE_MAGIC
#define HDR_POE "replica"
#define POE_MAGIC 0x504f4530
struct poe_context {
	struct _aarch64_ctx head;
	__u64 por_el0;
};
#else
#define HDR_POE "uapi"
#endif
#ifndef GCS_MAGIC
#define HDR_GCS "replica"
#define GCS_MAGIC 0x47435300
struct gcs_context {
	struct _aarch64_ctx head;
	__u64 gcspr;
	__u64 features_enabled;
	__u64 reserved;
};
#else
#define HDR_GCS "uapi"
#endif

typedef struct rt_sigframe      P_rt_sigframe;
typedef struct frame_record     P_frame_record;
typedef struct ucontext         P_ucontext;
typedef struct user_pt_regs     P_user_pt_regs;
typedef struct _aarch64_ctx     P__aarch64_ctx;
typedef struct fpsimd_context   P_fpsimd_context;
typedef struct esr_context      P_esr_context;
typedef struct extra_context    P_extra_context;
typedef struct sve_context      P_sve_context;
typedef struct za_context       P_za_context;
typedef struct tpidr2_context   P_tpidr2_context;
typedef struct zt_context       P_zt_context;
typedef struct fpmr_context     P_fpmr_context;
typedef struct poe_context      P_poe_context;
typedef struct gcs_context      P_gcs_context;

int main(void)
{
	printf("ABI aarch64\n");
	siginfo_fields();
	SIZE(rt_sigframe); SRC(rt_sigframe, "replica");
	OFF(rt_sigframe, info);
	OFF(rt_sigframe, uc);
	SIZE(frame_record); SRC(frame_record, "replica");
	OFF(frame_record, fp);
	OFF(frame_record, lr);
	SIZE(ucontext); SRC(ucontext, "uapi");
	OFF(ucontext, uc_flags);
	OFF(ucontext, uc_link);
	OFF(ucontext, uc_stack);
	OFF(ucontext, uc_sigmask);
	OFF(ucontext, __unused);
	OFF(ucontext, uc_mcontext);
	SIZE(sigcontext); SRC(sigcontext, "uapi");
	OFF(sigcontext, fault_address);
	OFF(sigcontext, regs);
	OFF(sigcontext, sp);
	OFF(sigcontext, pc);
	OFF(sigcontext, pstate);
	OFF(sigcontext, __reserved);
	SIZE(user_pt_regs); SRC(user_pt_regs, "uapi");
	OFF(user_pt_regs, regs);
	OFF(user_pt_regs, sp);
	OFF(user_pt_regs, pc);
	OFF(user_pt_regs, pstate);
	SIZE(_aarch64_ctx); SRC(_aarch64_ctx, "uapi");
	OFF(_aarch64_ctx, magic);
	OFF(_aarch64_ctx, size);
	SIZE(fpsimd_context); SRC(fpsimd_context, "uapi");
	OFF(fpsimd_context, head);
	OFF(fpsimd_context, fpsr);
	OFF(fpsimd_context, fpcr);
	OFF(fpsimd_context, vregs);
	SIZE(esr_context); SRC(esr_context, "uapi");
	OFF(esr_context, head);
	OFF(esr_context, esr);
	SIZE(extra_context); SRC(extra_context, "uapi");
	OFF(extra_context, head);
	OFF(extra_context, datap);
	OFF(extra_context, size);
	OFF(extra_context, __reserved);
	SIZE(sve_context); SRC(sve_context, "uapi");
	OFF(sve_context, head);
	OFF(sve_context, vl);
	OFF(sve_context, flags);
	OFF(sve_context, __reserved);
	SIZE(za_context); SRC(za_context, "uapi");
	OFF(za_context, head);
	OFF(za_context, vl);
	OFF(za_context, __reserved);
	SIZE(tpidr2_context); SRC(tpidr2_context, HDR_TPIDR2);
	OFF(tpidr2_context, head);
	OFF(tpidr2_context, tpidr2);
	SIZE(zt_context); SRC(zt_context, HDR_ZT);
	OFF(zt_context, head);
	OFF(zt_context, nregs);
	OFF(zt_context, __reserved);
	SIZE(fpmr_context); SRC(fpmr_context, HDR_FPMR);
	OFF(fpmr_context, head);
	OFF(fpmr_context, fpmr);
	SIZE(poe_context); SRC(poe_context, HDR_POE);
	OFF(poe_context, head);
	OFF(poe_context, por_el0);
	SIZE(gcs_context); SRC(gcs_context, HDR_GCS);
	OFF(gcs_context, head);
	OFF(gcs_context, gcspr);
	OFF(gcs_context, features_enabled);
	OFF(gcs_context, reserved);
	printf("MAGIC FPSIMD_MAGIC %u\nMAGIC ESR_MAGIC %u\nMAGIC EXTRA_MAGIC %u\n"
	       "MAGIC SVE_MAGIC %u\nMAGIC ZA_MAGIC %u\nMAGIC TPIDR2_MAGIC %u\n"
	       "MAGIC ZT_MAGIC %u\nMAGIC FPMR_MAGIC %u\nMAGIC POE_MAGIC %u\n"
	       "MAGIC GCS_MAGIC %u\n",
	       FPSIMD_MAGIC, ESR_MAGIC, EXTRA_MAGIC, SVE_MAGIC, ZA_MAGIC,
	       TPIDR2_MAGIC, ZT_MAGIC, FPMR_MAGIC, POE_MAGIC, GCS_MAGIC);
	return 0;
}

#else /* AArch32 */

/* arch/arm/include/asm/ucontext.h (= compat_ucontext in arch/arm64/kernel/signal32.c) */
struct ucontext {
	unsigned long	  uc_flags;
	struct ucontext  *uc_link;
	stack_t		  uc_stack;
	struct sigcontext uc_mcontext;
	struct { unsigned long sig[2]; } uc_sigmask; /* the kernel's sigset_t */
	int		  __unused[32 - (8 / sizeof (int))];
	unsigned long	  uc_regspace[128] __attribute__((__aligned__(8)));
};
/* arch/arm/include/asm/user.h, arch/arm/include/asm/ucontext.h */
struct user_vfp {
	unsigned long long fpregs[32];
	unsigned long fpscr;
};
struct user_vfp_exc {
	unsigned long	fpexc;
	unsigned long	fpinst;
	unsigned long	fpinst2;
};
struct vfp_sigframe {
	unsigned long		magic;
	unsigned long		size;
	struct user_vfp		ufp;
	struct user_vfp_exc	ufp_exc;
} __attribute__((__aligned__(8)));
/* arch/arm/kernel/signal.h: native ARM kernel */
struct sigframe {
	struct ucontext uc;
	unsigned long retcode[4];
};
struct rt_sigframe {
	struct siginfo info;
	struct sigframe sig;
};
/*
 * The arm64 kernel's own definitions for a 32-bit task (v6.1:
 * arch/arm64/include/asm/signal32.h struct compat_sigcontext,
 * arch/arm64/kernel/signal32.c compat_ucontext, compat_vfp_sigframe,
 * compat_aux_sigframe, compat_sigframe, compat_rt_sigframe), with the
 * compat types as include/linux/compat.h and arch/arm64/include/asm/compat.h
 * give them.
 */
typedef unsigned int compat_ulong_t;
typedef unsigned int compat_uptr_t;
typedef unsigned int compat_size_t;
typedef unsigned long long compat_u64;
typedef struct { compat_uptr_t ss_sp; int ss_flags; compat_size_t ss_size; } compat_stack_t;
typedef struct { compat_ulong_t sig[2]; } compat_sigset_t;
struct compat_sigcontext {
	compat_ulong_t trap_no, error_code, oldmask;
	compat_ulong_t arm_r0, arm_r1, arm_r2, arm_r3, arm_r4, arm_r5, arm_r6, arm_r7;
	compat_ulong_t arm_r8, arm_r9, arm_r10, arm_fp, arm_ip, arm_sp, arm_lr, arm_pc;
	compat_ulong_t arm_cpsr, fault_address;
};
struct compat_ucontext {
	compat_ulong_t			uc_flags;
	compat_uptr_t			uc_link;
	compat_stack_t			uc_stack;
	struct compat_sigcontext	uc_mcontext;
	compat_sigset_t			uc_sigmask;
	int __unused[32 - (sizeof(compat_sigset_t) / sizeof(int))];
	compat_ulong_t uc_regspace[128] __attribute__((__aligned__(8)));
};
struct compat_vfp_sigframe {
	compat_ulong_t magic;
	compat_ulong_t size;
	struct compat_user_vfp {
		compat_u64 fpregs[32];
		compat_ulong_t fpscr;
	} ufp;
	struct compat_user_vfp_exc {
		compat_ulong_t fpexc;
		compat_ulong_t fpinst;
		compat_ulong_t fpinst2;
	} ufp_exc;
} __attribute__((__aligned__(8)));
struct compat_aux_sigframe {
	struct compat_vfp_sigframe vfp;
	unsigned long end_magic;
} __attribute__((__aligned__(8)));
struct compat_sigframe {
	struct compat_ucontext uc;
	compat_ulong_t retcode[2];
};
struct compat_rt_sigframe {
	struct siginfo info;
	struct compat_sigframe sig;
};

typedef struct ucontext          P_ucontext;
typedef struct vfp_sigframe      P_vfp_sigframe;
typedef struct user_vfp          P_user_vfp;
typedef struct user_vfp_exc      P_user_vfp_exc;
typedef struct sigframe          P_sigframe;
typedef struct rt_sigframe       P_rt_sigframe;
typedef struct compat_sigframe   P_compat_sigframe;
typedef struct compat_rt_sigframe P_compat_rt_sigframe;
typedef struct pt_regs           P_pt_regs;
typedef struct compat_sigcontext P_compat_sigcontext;
typedef struct compat_ucontext   P_compat_ucontext;
typedef struct compat_vfp_sigframe P_compat_vfp_sigframe;
typedef struct compat_aux_sigframe P_compat_aux_sigframe;

/* a nested member path: where the decoder finds the parts of each frame */
#define PATH(S, F) printf("PATH %s %s %lu %lu\n", #S, #F, \
			  (unsigned long)__builtin_offsetof(P_##S, F), \
			  (unsigned long)sizeof(((P_##S *)0)->F))

int main(void)
{
	printf("ABI arm\n");
	siginfo_fields();
	SIZE(sigcontext); SRC(sigcontext, "uapi");
	OFF(sigcontext, trap_no);
	OFF(sigcontext, error_code);
	OFF(sigcontext, oldmask);
	OFF(sigcontext, arm_r0);
	OFF(sigcontext, arm_r1);
	OFF(sigcontext, arm_r2);
	OFF(sigcontext, arm_r3);
	OFF(sigcontext, arm_r4);
	OFF(sigcontext, arm_r5);
	OFF(sigcontext, arm_r6);
	OFF(sigcontext, arm_r7);
	OFF(sigcontext, arm_r8);
	OFF(sigcontext, arm_r9);
	OFF(sigcontext, arm_r10);
	OFF(sigcontext, arm_fp);
	OFF(sigcontext, arm_ip);
	OFF(sigcontext, arm_sp);
	OFF(sigcontext, arm_lr);
	OFF(sigcontext, arm_pc);
	OFF(sigcontext, arm_cpsr);
	OFF(sigcontext, fault_address);
	SIZE(ucontext); SRC(ucontext, "replica");
	OFF(ucontext, uc_flags);
	OFF(ucontext, uc_link);
	OFF(ucontext, uc_stack);
	OFF(ucontext, uc_mcontext);
	OFF(ucontext, uc_sigmask);
	OFF(ucontext, __unused);
	OFF(ucontext, uc_regspace);
	SIZE(vfp_sigframe); SRC(vfp_sigframe, "replica");
	OFF(vfp_sigframe, magic);
	OFF(vfp_sigframe, size);
	OFF(vfp_sigframe, ufp);
	OFF(vfp_sigframe, ufp_exc);
	SIZE(user_vfp); SRC(user_vfp, "replica");
	OFF(user_vfp, fpregs);
	OFF(user_vfp, fpscr);
	SIZE(user_vfp_exc); SRC(user_vfp_exc, "replica");
	OFF(user_vfp_exc, fpexc);
	OFF(user_vfp_exc, fpinst);
	OFF(user_vfp_exc, fpinst2);
	SIZE(sigframe); SRC(sigframe, "replica");
	OFF(sigframe, uc);
	OFF(sigframe, retcode);
	SIZE(rt_sigframe); SRC(rt_sigframe, "replica");
	OFF(rt_sigframe, info);
	OFF(rt_sigframe, sig);
	SIZE(compat_sigframe); SRC(compat_sigframe, "replica");
	OFF(compat_sigframe, uc);
	OFF(compat_sigframe, retcode);
	SIZE(compat_rt_sigframe); SRC(compat_rt_sigframe, "replica");
	OFF(compat_rt_sigframe, info);
	OFF(compat_rt_sigframe, sig);
	SIZE(pt_regs); SRC(pt_regs, "uapi");
	OFF(pt_regs, uregs);
	SIZE(compat_sigcontext); SRC(compat_sigcontext, "replica");
	OFF(compat_sigcontext, trap_no);
	OFF(compat_sigcontext, error_code);
	OFF(compat_sigcontext, oldmask);
	OFF(compat_sigcontext, arm_r0);
	OFF(compat_sigcontext, arm_r1);
	OFF(compat_sigcontext, arm_r2);
	OFF(compat_sigcontext, arm_r3);
	OFF(compat_sigcontext, arm_r4);
	OFF(compat_sigcontext, arm_r5);
	OFF(compat_sigcontext, arm_r6);
	OFF(compat_sigcontext, arm_r7);
	OFF(compat_sigcontext, arm_r8);
	OFF(compat_sigcontext, arm_r9);
	OFF(compat_sigcontext, arm_r10);
	OFF(compat_sigcontext, arm_fp);
	OFF(compat_sigcontext, arm_ip);
	OFF(compat_sigcontext, arm_sp);
	OFF(compat_sigcontext, arm_lr);
	OFF(compat_sigcontext, arm_pc);
	OFF(compat_sigcontext, arm_cpsr);
	OFF(compat_sigcontext, fault_address);
	SIZE(compat_ucontext); SRC(compat_ucontext, "replica");
	OFF(compat_ucontext, uc_flags);
	OFF(compat_ucontext, uc_link);
	OFF(compat_ucontext, uc_stack);
	OFF(compat_ucontext, uc_mcontext);
	OFF(compat_ucontext, uc_sigmask);
	OFF(compat_ucontext, __unused);
	OFF(compat_ucontext, uc_regspace);
	SIZE(compat_vfp_sigframe); SRC(compat_vfp_sigframe, "replica");
	OFF(compat_vfp_sigframe, magic);
	OFF(compat_vfp_sigframe, size);
	OFF(compat_vfp_sigframe, ufp);
	OFF(compat_vfp_sigframe, ufp_exc);
	SIZE(compat_aux_sigframe); SRC(compat_aux_sigframe, "replica");
	OFF(compat_aux_sigframe, vfp);
	OFF(compat_aux_sigframe, end_magic);
	PATH(compat_rt_sigframe, sig.uc);
	PATH(compat_rt_sigframe, sig.uc.uc_mcontext);
	PATH(compat_rt_sigframe, sig.uc.uc_sigmask);
	PATH(compat_rt_sigframe, sig.uc.uc_regspace);
	PATH(compat_rt_sigframe, sig.retcode);
	PATH(compat_sigframe, uc);
	PATH(compat_sigframe, uc.uc_mcontext);
	PATH(compat_sigframe, uc.uc_sigmask);
	PATH(compat_sigframe, uc.uc_regspace);
	PATH(compat_sigframe, retcode);
	return 0;
}

#endif
