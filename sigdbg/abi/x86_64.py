"""x86_64 layouts: registers, siginfo, ucontext, sigcontext, rt_sigframe.

Sources (Linux v6.18/v7.2, unchanged since v6.12):
arch/x86/include/asm/sigframe.h (``struct rt_sigframe``),
arch/x86/include/uapi/asm/sigcontext.h (``struct sigcontext`` 64-bit),
include/uapi/asm-generic/ucontext.h (``struct ucontext``),
include/uapi/asm-generic/siginfo.h (``siginfo_t``),
arch/x86/include/asm/user_64.h (``struct user_regs_struct``).
Offsets checked against ``targets/abi.probe.c`` by tests/unit/test_abi_probe.py.
"""

from __future__ import annotations

from sigdbg.abi.layout import Field, Layout, fields, nested

USER_REGS = Layout(
    "user_regs_struct",
    216,
    fields(
        *(
            (name, 8 * i, 8)
            for i, name in enumerate(
                "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs "
                "eflags rsp ss fs_base gs_base ds es fs gs".split()
            )
        )
    ),
    source="arch/x86/include/asm/user_64.h struct user_regs_struct",
)

STACK_T = Layout(
    "stack_t",
    24,
    fields(("ss_sp", 0, 8, "ptr"), ("ss_flags", 8, 4, "i"), ("ss_size", 16, 8)),
    source="include/uapi/asm-generic/signal.h stack_t",
)

SIGCONTEXT = Layout(
    "sigcontext",
    256,
    fields(
        *(
            (name, 8 * i, 8)
            for i, name in enumerate(
                "r8 r9 r10 r11 r12 r13 r14 r15 rdi rsi rbp rbx rdx rax rcx rsp rip eflags".split()
            )
        ),
        ("cs", 144, 2),
        ("gs", 146, 2),
        ("fs", 148, 2),
        ("ss", 150, 2),
        ("err", 152, 8),
        ("trapno", 160, 8),
        ("oldmask", 168, 8),
        ("cr2", 176, 8),
        ("fpstate", 184, 8, "ptr"),
        Field("reserved1", 192, 64, "array", count=8, elem="u"),
    ),
    source="arch/x86/include/uapi/asm/sigcontext.h struct sigcontext (64-bit)",
)

UCONTEXT = Layout(
    "ucontext",
    304,
    fields(
        ("uc_flags", 0, 8),
        ("uc_link", 8, 8, "ptr"),
        nested("uc_stack", 16, STACK_T),
        nested("uc_mcontext", 40, SIGCONTEXT),
        ("uc_sigmask", 296, 8),
    ),
    source="include/uapi/asm-generic/ucontext.h struct ucontext; "
    "arch/x86/kernel/signal_64.c (uc_sigmask is the kernel's 64-bit sigset_t)",
)

#: siginfo_t header; the union starts at 16 on 64-bit ABIs.
SIGINFO_HEADER = Layout(
    "siginfo",
    16,
    fields(("si_signo", 0, 4, "i"), ("si_errno", 4, 4, "i"), ("si_code", 8, 4, "i")),
    source="include/uapi/asm-generic/siginfo.h",
)
SIGINFO_SIZE = 128

#: One layout per union member of ``_sifields`` (absolute offsets in siginfo_t).
SIGINFO_MEMBERS: dict[str, Layout] = {
    "kill": Layout("_kill", 24, fields(("si_pid", 16, 4, "i"), ("si_uid", 20, 4))),
    "timer": Layout(
        "_timer",
        36,
        fields(("si_tid", 16, 4, "i"), ("si_overrun", 20, 4, "i"), ("si_value", 24, 8, "ptr"),
               ("si_sys_private", 32, 4, "i")),
    ),
    "rt": Layout(
        "_rt", 32, fields(("si_pid", 16, 4, "i"), ("si_uid", 20, 4), ("si_value", 24, 8, "ptr"))
    ),
    "sigchld": Layout(
        "_sigchld",
        48,
        fields(("si_pid", 16, 4, "i"), ("si_uid", 20, 4), ("si_status", 24, 4, "i"),
               ("si_utime", 32, 8, "i"), ("si_stime", 40, 8, "i")),
    ),
    "sigfault": Layout("_sigfault", 24, fields(("si_addr", 16, 8, "ptr"))),
    "addr_lsb": Layout("_sigfault", 26, fields(("si_addr", 16, 8, "ptr"), ("si_addr_lsb", 24, 2))),
    "addr_bnd": Layout(
        "_sigfault",
        48,
        fields(("si_addr", 16, 8, "ptr"), ("si_lower", 32, 8, "ptr"), ("si_upper", 40, 8, "ptr")),
    ),
    "addr_pkey": Layout(
        "_sigfault", 36, fields(("si_addr", 16, 8, "ptr"), ("si_pkey", 32, 4))
    ),
    "perf": Layout(
        "_sigfault",
        40,
        fields(("si_addr", 16, 8, "ptr"), ("si_perf_data", 24, 8), ("si_perf_type", 32, 4),
               ("si_perf_flags", 36, 4)),
    ),
    "sigpoll": Layout("_sigpoll", 28, fields(("si_band", 16, 8, "i"), ("si_fd", 24, 4, "i"))),
    "sigsys": Layout(
        "_sigsys",
        32,
        fields(("si_call_addr", 16, 8, "ptr"), ("si_syscall", 24, 4, "i"), ("si_arch", 28, 4)),
    ),
}

RT_SIGFRAME = Layout(
    "rt_sigframe",
    440,
    fields(
        ("pretcode", 0, 8, "ptr"),
        nested("uc", 8, UCONTEXT),
        ("info", 312, 128, "bytes"),
    ),
    source="arch/x86/include/asm/sigframe.h struct rt_sigframe (CONFIG_X86_64)",
)
