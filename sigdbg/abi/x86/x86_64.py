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

from sigdbg.abi import generic
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

STACK_T = generic.STACK_T_64

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

SIGINFO_HEADER = generic.SIGINFO64_HEADER
SIGINFO_SIZE = generic.SIGINFO_SIZE
SIGINFO_MEMBERS = generic.SIGINFO64_MEMBERS

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
