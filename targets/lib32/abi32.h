/*
 * abi32.h - i386 / ia32-compat kernel ABI structures, declared by hand with
 * fixed-width types because 32-bit programs here are built freestanding
 * (no 32-bit glibc, no i386 uapi headers on this machine).
 *
 * Every declaration copies the kernel's own definition field for field, with
 * the kernel's field names:
 *   arch/x86/include/uapi/asm/sigcontext.h   _fpreg, _fpxreg, _xmmreg,
 *                                            _fpx_sw_bytes, _fpstate_32,
 *                                            _header, sigcontext_32
 *   include/linux/compat.h                   compat_sigset_t, compat_stack_t,
 *                                            compat_sigval_t, compat_siginfo_t,
 *                                            compat_sigaction, compat_old_sigaction,
 *                                            compat_sigevent
 *   arch/x86/include/asm/ia32.h              ucontext_ia32
 *   arch/x86/include/asm/sigframe.h          sigframe_ia32, rt_sigframe_ia32
 *   glibc sysdeps/x86/sys/user.h (i386)      user_regs_struct (= NT_PRSTATUS)
 *
 * Included by sys32.h (all *.i386.c targets) and by abi.probe.c when built
 * with -DPROBE_I386, so the probe measures exactly the layout the targets use.
 * Only valid for -m32 builds.
 */
#ifndef SIGDBG_ABI32_H
#define SIGDBG_ABI32_H

#if !defined(__i386__)
#error "abi32.h describes the i386 ABI; build with -m32"
#endif

typedef unsigned char      __u8;
typedef unsigned short     __u16;
typedef unsigned int       __u32;
typedef unsigned long long __u64;   /* 4-byte aligned inside structs on i386 */
typedef signed int         __s32;
typedef __u8  u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;

/* include/linux/compat.h, arch/x86/include/asm/compat.h */
typedef u32 compat_uptr_t;
typedef s32 compat_int_t;
typedef u32 compat_uint_t;
typedef s32 compat_long_t;
typedef u32 compat_ulong_t;
typedef u32 compat_size_t;
typedef s32 compat_pid_t;
typedef u32 __compat_uid32_t;
typedef s32 compat_timer_t;
typedef s32 compat_clock_t;
typedef u32 compat_old_sigset_t;
typedef u32 compat_sigset_word;

#define _COMPAT_NSIG        64
#define _COMPAT_NSIG_BPW    32
#define _COMPAT_NSIG_WORDS  (_COMPAT_NSIG / _COMPAT_NSIG_BPW)

/* ---- arch/x86/include/uapi/asm/sigcontext.h ---------------------------- */

#define FP_XSTATE_MAGIC1   0x46505853U
#define FP_XSTATE_MAGIC2   0x46505845U
#define X86_FXSR_MAGIC     0x0000

struct _fpx_sw_bytes {
	__u32 magic1;
	__u32 extended_size;
	__u64 xfeatures;
	__u32 xstate_size;
	__u32 padding[7];
};

struct _fpreg {                 /* 10-byte legacy x87 register */
	__u16 significand[4];
	__u16 exponent;
};

struct _fpxreg {                /* 16-byte FXSAVE x87 register */
	__u16 significand[4];
	__u16 exponent;
	__u16 padding[3];
};

struct _xmmreg {
	__u32 element[4];
};

struct _fpstate_32 {
	/* Legacy FPU environment: */
	__u32 cw;
	__u32 sw;
	__u32 tag;
	__u32 ipoff;
	__u32 cssel;
	__u32 dataoff;
	__u32 datasel;
	struct _fpreg _st[8];
	__u16 status;
	__u16 magic;            /* 0xffff: regular FPU data only, 0x0000: FXSR data */

	/* FXSR FPU environment */
	__u32 _fxsr_env[6];
	__u32 mxcsr;
	__u32 reserved;
	struct _fpxreg _fxsr_st[8];
	struct _xmmreg _xmm[8];
	union {
		__u32 padding1[44];
		__u32 padding[44];
	};
	union {
		__u32 padding2[12];
		struct _fpx_sw_bytes sw_reserved;
	};
};

struct _header {                /* XSAVE header, at FXSAVE image + 512 */
	__u64 xfeatures;
	__u64 reserved1[2];
	__u64 reserved2[5];
};

struct sigcontext_32 {
	__u16 gs, __gsh;
	__u16 fs, __fsh;
	__u16 es, __esh;
	__u16 ds, __dsh;
	__u32 di;
	__u32 si;
	__u32 bp;
	__u32 sp;
	__u32 bx;
	__u32 dx;
	__u32 cx;
	__u32 ax;
	__u32 trapno;
	__u32 err;
	__u32 ip;
	__u16 cs, __csh;
	__u32 flags;
	__u32 sp_at_signal;
	__u16 ss, __ssh;
	__u32 fpstate;          /* really a struct _fpstate_32 *; 0 = no FP context */
	__u32 oldmask;
	__u32 cr2;
};
#define sigcontext_ia32 sigcontext_32
#define _fpstate_ia32   _fpstate_32

/* ---- include/linux/compat.h -------------------------------------------- */

typedef struct {
	compat_sigset_word sig[_COMPAT_NSIG_WORDS];
} compat_sigset_t;

typedef struct compat_sigaltstack {
	compat_uptr_t ss_sp;
	int           ss_flags;
	compat_size_t ss_size;
} compat_stack_t;
typedef compat_stack_t stack_ia32_t;    /* the pre-4.x name in asm/ia32.h */

typedef union compat_sigval {
	compat_int_t  sival_int;
	compat_uptr_t sival_ptr;
} compat_sigval_t;

#define __COMPAT_ADDR_BND_PKEY_PAD (__alignof__(compat_uptr_t) < sizeof(short) ? \
				    sizeof(short) : __alignof__(compat_uptr_t))

typedef struct compat_siginfo {
	int si_signo;
	int si_errno;
	int si_code;

	union {
		int _pad[128 / sizeof(int) - 3];

		/* kill() */
		struct {
			compat_pid_t _pid;
			__compat_uid32_t _uid;
		} _kill;

		/* POSIX.1b timers (the uapi i386 siginfo_t also has _sys_private) */
		struct {
			compat_timer_t _tid;
			int _overrun;
			compat_sigval_t _sigval;
			int _sys_private;
		} _timer;

		/* POSIX.1b signals */
		struct {
			compat_pid_t _pid;
			__compat_uid32_t _uid;
			compat_sigval_t _sigval;
		} _rt;

		/* SIGCHLD */
		struct {
			compat_pid_t _pid;
			__compat_uid32_t _uid;
			int _status;
			compat_clock_t _utime;
			compat_clock_t _stime;
		} _sigchld;

		/* SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP, SIGEMT */
		struct {
			compat_uptr_t _addr;
			union {
				int _trapno;
				short int _addr_lsb;
				struct {
					char _dummy_bnd[__COMPAT_ADDR_BND_PKEY_PAD];
					compat_uptr_t _lower;
					compat_uptr_t _upper;
				} _addr_bnd;
				struct {
					char _dummy_pkey[__COMPAT_ADDR_BND_PKEY_PAD];
					u32 _pkey;
				} _addr_pkey;
				struct {
					compat_ulong_t _data;
					u32 _type;
					u32 _flags;
				} _perf;
			};
		} _sigfault;

		/* SIGPOLL */
		struct {
			compat_long_t _band;
			int _fd;
		} _sigpoll;

		/* SIGSYS */
		struct {
			compat_uptr_t _call_addr;
			int _syscall;
			unsigned int _arch;
		} _sigsys;
	} _sifields;
} compat_siginfo_t;

/* accessor names of include/uapi/asm-generic/siginfo.h */
#define si_pid          _sifields._kill._pid
#define si_uid          _sifields._kill._uid
#define si_tid          _sifields._timer._tid
#define si_overrun      _sifields._timer._overrun
#define si_sys_private  _sifields._timer._sys_private
#define si_status       _sifields._sigchld._status
#define si_utime        _sifields._sigchld._utime
#define si_stime        _sifields._sigchld._stime
#define si_value        _sifields._rt._sigval
#define si_int          _sifields._rt._sigval.sival_int
#define si_ptr          _sifields._rt._sigval.sival_ptr
#define si_addr         _sifields._sigfault._addr
#define si_trapno       _sifields._sigfault._trapno
#define si_addr_lsb     _sifields._sigfault._addr_lsb
#define si_lower        _sifields._sigfault._addr_bnd._lower
#define si_upper        _sifields._sigfault._addr_bnd._upper
#define si_pkey         _sifields._sigfault._addr_pkey._pkey
#define si_perf_data    _sifields._sigfault._perf._data
#define si_perf_type    _sifields._sigfault._perf._type
#define si_perf_flags   _sifields._sigfault._perf._flags
#define si_band         _sifields._sigpoll._band
#define si_fd           _sifields._sigpoll._fd
#define si_call_addr    _sifields._sigsys._call_addr
#define si_syscall      _sifields._sigsys._syscall
#define si_arch         _sifields._sigsys._arch

/* rt_sigaction(2) argument for a compat task (x86 has SA_RESTORER) */
struct compat_sigaction {
	compat_uptr_t   sa_handler;
	compat_ulong_t  sa_flags;
	compat_uptr_t   sa_restorer;
	compat_sigset_t sa_mask __attribute__((packed));
};

/* sigaction(2), i386 nr 67 (CONFIG_COMPAT_OLD_SIGACTION) */
struct compat_old_sigaction {
	compat_uptr_t       sa_handler;
	compat_old_sigset_t sa_mask;
	compat_ulong_t      sa_flags;
	compat_uptr_t       sa_restorer;
};

#define COMPAT_SIGEV_PAD_SIZE ((64 / sizeof(int)) - 3)
typedef struct compat_sigevent {
	compat_sigval_t sigev_value;
	compat_int_t    sigev_signo;
	compat_int_t    sigev_notify;
	union {
		compat_int_t _pad[COMPAT_SIGEV_PAD_SIZE];
		compat_int_t _tid;
		struct {
			compat_uptr_t _function;
			compat_uptr_t _attribute;
		} _sigev_thread;
	} _sigev_un;
} compat_sigevent_t;

/* ---- arch/x86/include/asm/ia32.h --------------------------------------- */

struct ucontext_ia32 {
	unsigned int         uc_flags;
	unsigned int         uc_link;
	compat_stack_t       uc_stack;
	struct sigcontext_32 uc_mcontext;
	compat_sigset_t      uc_sigmask;    /* mask last for extensibility */
};

/* ---- arch/x86/include/asm/sigframe.h ----------------------------------- */

struct sigframe_ia32 {
	u32 pretcode;
	int sig;
	struct sigcontext_32 sc;
	struct _fpstate_32 fpstate_unused;   /* legacy slot, not written */
	unsigned int extramask[1];
	char retcode[8];
	/* fp state follows here */
};

struct rt_sigframe_ia32 {
	u32 pretcode;
	int sig;
	u32 pinfo;
	u32 puc;
	compat_siginfo_t info;
	struct ucontext_ia32 uc;
	char retcode[8];
	/* fp state follows here */
};

/* ---- i386 struct user_regs_struct (glibc sys/user.h names) -------------- */

struct user_regs_struct {
	long int ebx;
	long int ecx;
	long int edx;
	long int esi;
	long int edi;
	long int ebp;
	long int eax;
	long int xds;
	long int xes;
	long int xfs;
	long int xgs;
	long int orig_eax;
	long int eip;
	long int xcs;
	long int eflags;
	long int esp;
	long int xss;
};

/* Compile-time checks against sigframe-x86.md / siginfo.md. */
#define ABI32_CHECK(c) _Static_assert(c, #c)
ABI32_CHECK(sizeof(struct sigcontext_32) == 88);
ABI32_CHECK(sizeof(struct _fpstate_32) == 624);
ABI32_CHECK(sizeof(struct ucontext_ia32) == 116);
ABI32_CHECK(sizeof(compat_siginfo_t) == 128);
ABI32_CHECK(sizeof(struct sigframe_ia32) == 732);
ABI32_CHECK(sizeof(struct rt_sigframe_ia32) == 268);
ABI32_CHECK(__builtin_offsetof(struct sigframe_ia32, extramask) == 720);
ABI32_CHECK(__builtin_offsetof(struct rt_sigframe_ia32, uc) == 144);
ABI32_CHECK(__builtin_offsetof(struct ucontext_ia32, uc_mcontext) == 20);
ABI32_CHECK(__builtin_offsetof(struct ucontext_ia32, uc_sigmask) == 108);
ABI32_CHECK(__builtin_offsetof(compat_siginfo_t, _sifields) == 12);
ABI32_CHECK(sizeof(struct compat_sigaction) == 20);
ABI32_CHECK(sizeof(compat_sigevent_t) == 64);
ABI32_CHECK(sizeof(struct user_regs_struct) == 68);

#endif /* SIGDBG_ABI32_H */
