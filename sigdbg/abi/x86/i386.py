"""i386 (ia32 compat) layouts: registers, siginfo, sigcontext_32, both frames.

A 32-bit task under an x86_64 kernel gets these frames; they are *not* the
64-bit ones with smaller words: the rt frame carries pinfo/puc pointers and
the siginfo *before* the ucontext, and the non-RT ``sigframe_ia32`` has no
siginfo at all.

Sources: arch/x86/include/asm/sigframe.h (``struct sigframe_ia32``,
``struct rt_sigframe_ia32``), arch/x86/include/asm/ia32.h
(``struct ucontext_ia32``), arch/x86/include/uapi/asm/sigcontext.h
(``struct sigcontext_32``, ``struct _fpstate_32``), arch/x86/kernel/signal_32.c,
include/uapi/asm-generic/siginfo.h (compat layout),
arch/x86/include/asm/user_32.h (``struct user_regs_struct``).
Offsets checked against ``targets/abi.probe.c`` built with -m32.
"""

from __future__ import annotations

from sigdbg.abi import generic
from sigdbg.abi.layout import Field, Layout, fields, nested

USER_REGS = Layout(
    "user_regs_struct",
    68,
    fields(
        *(
            (name, 4 * i, 4)
            for i, name in enumerate(
                (
                    "ebx ecx edx esi edi ebp eax xds xes xfs xgs orig_eax eip xcs eflags esp "
                    "xss"
                ).split()
            )
        )
    ),
    source="arch/x86/include/asm/user_32.h struct user_regs_struct",
)

STACK_T = Layout(
    "stack_ia32_t",
    12,
    fields(("ss_sp", 0, 4, "ptr"), ("ss_flags", 4, 4, "i"), ("ss_size", 8, 4)),
    source="arch/x86/include/asm/ia32.h stack_ia32_t",
)

SIGCONTEXT = Layout(
    "sigcontext_32",
    88,
    fields(
        ("gs", 0, 2), ("fs", 4, 2), ("es", 8, 2), ("ds", 12, 2),
        ("di", 16, 4), ("si", 20, 4), ("bp", 24, 4), ("sp", 28, 4),
        ("bx", 32, 4), ("dx", 36, 4), ("cx", 40, 4), ("ax", 44, 4),
        ("trapno", 48, 4), ("err", 52, 4), ("ip", 56, 4), ("cs", 60, 2),
        ("flags", 64, 4), ("sp_at_signal", 68, 4), ("ss", 72, 2),
        ("fpstate", 76, 4, "ptr"), ("oldmask", 80, 4), ("cr2", 84, 4),
    ),
    source="arch/x86/include/uapi/asm/sigcontext.h struct sigcontext_32",
)

UCONTEXT = Layout(
    "ucontext_ia32",
    116,
    fields(
        ("uc_flags", 0, 4),
        ("uc_link", 4, 4, "ptr"),
        nested("uc_stack", 8, STACK_T),
        nested("uc_mcontext", 20, SIGCONTEXT),
        ("uc_sigmask", 108, 8),
    ),
    source="arch/x86/include/asm/ia32.h struct ucontext_ia32 (uc_sigmask is compat_sigset_t)",
)

#: The 112-byte FSAVE-format header in front of the FXSAVE image.
FPSTATE_32_HEADER = Layout(
    "_fpstate_32",
    112,
    fields(
        ("cw", 0, 4), ("sw", 4, 4), ("tag", 8, 4), ("ipoff", 12, 4), ("cssel", 16, 4),
        ("dataoff", 20, 4), ("datasel", 24, 4), ("_st", 28, 80, "bytes"),
        ("status", 108, 2), ("magic", 110, 2),
    ),
    source="arch/x86/include/uapi/asm/sigcontext.h struct _fpstate_32 (FSAVE part)",
)
#: Offset of the FXSAVE/XSAVE image inside ``_fpstate_32``.
FXSAVE_OFFSET = 112
X86_FXSR_MAGIC = 0x0000

SIGINFO_HEADER = generic.SIGINFO32_HEADER
SIGINFO_SIZE = generic.SIGINFO_SIZE
SIGINFO_MEMBERS = generic.SIGINFO32_MEMBERS

RT_SIGFRAME = Layout(
    "rt_sigframe_ia32",
    268,
    fields(
        ("pretcode", 0, 4, "ptr"),
        ("sig", 4, 4, "i"),
        ("pinfo", 8, 4, "ptr"),
        ("puc", 12, 4, "ptr"),
        ("info", 16, 128, "bytes"),
        nested("uc", 144, UCONTEXT),
        ("retcode", 260, 8, "bytes"),
    ),
    source="arch/x86/include/asm/sigframe.h struct rt_sigframe_ia32",
)

SIGFRAME = Layout(
    "sigframe_ia32",
    732,
    fields(
        ("pretcode", 0, 4, "ptr"),
        ("sig", 4, 4, "i"),
        nested("sc", 8, SIGCONTEXT),
        ("fpstate_unused", 96, 624, "bytes"),
        Field("extramask", 720, 4, "array", count=1, elem="u"),
        ("retcode", 724, 8, "bytes"),
    ),
    source="arch/x86/include/asm/sigframe.h struct sigframe_ia32",
)

#: retcode bytes the kernel writes (gdb/libgcc recognise frames by them):
#: ``pop %eax; mov $119,%eax; int $0x80`` and ``mov $173,%eax; int $0x80``.
SIGFRAME_RETCODE = bytes.fromhex("58b877000000cd80")
RT_SIGFRAME_RETCODE = bytes.fromhex("b8ad000000cd8000")
