"""32-bit ARM (EABI) layouts: registers, sigcontext, ucontext, uc_regspace
records, and the signal frames of both kernels that run ARM tasks.

A 32-bit task on an arm64 kernel (compat) gets ``compat_sigframe`` /
``compat_rt_sigframe`` (retcode[2], 752/880 bytes, arch/arm64/kernel/signal32.c);
a native ARM kernel builds ``sigframe`` / ``rt_sigframe`` (retcode[4], 760/888,
arch/arm/kernel/signal.h).  The ucontext inside is the same 744 bytes.

Sources (Linux v6.1): arch/arm/include/uapi/asm/sigcontext.h
(``struct sigcontext``), arch/arm/include/asm/ucontext.h (``struct ucontext``,
``struct vfp_sigframe``, the record magics), arch/arm/include/asm/user.h
(``struct user_vfp``, ``struct user_vfp_exc``), arch/arm/include/uapi/asm/ptrace.h
(``struct pt_regs``, NT_PRSTATUS: 72 bytes also from a 64-bit tracer),
arch/arm/kernel/signal.c, arch/arm64/kernel/signal32.c,
arch/arm/kernel/sigreturn_codes.S, arch/arm64/kernel/sigreturn32.S,
include/uapi/asm-generic/siginfo.h (32-bit layout, sigdbg/abi/generic.py).

Checked against ``offsetof`` from targets/arm/abi.probe.c built with
arm-linux-gnueabihf-gcc and run in the QEMU guest (tests/arm/test_probe.py).
Its ``Abi`` value is ``ARM`` in sigdbg/abi/arm/abi.py.
"""

from __future__ import annotations

from sigdbg.abi import generic
from sigdbg.abi.layout import Field, Layout, fields, nested

#: NT_PRSTATUS: uregs[18] = r0-r15, cpsr, orig_r0 (arch/arm/include/uapi/asm/ptrace.h ARM_*).
PT_REGS = Layout(
    "pt_regs",
    72,
    fields(Field("uregs", 0, 72, "array", count=18, elem="u")),
    source="arch/arm/include/uapi/asm/ptrace.h struct pt_regs",
)
UREG_NAMES = tuple(f"r{i}" for i in range(16)) + ("cpsr", "orig_r0")

#: The same 72 bytes with one field per register, named as gdb and the
#: kernel's ARM_* macros name them (r13 = sp, r14 = lr, r15 = pc): the
#: ``user_regs`` of the ``Abi``.
REGISTER_NAMES = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc", "cpsr", "orig_r0")
REGISTERS = Layout(
    "pt_regs",
    72,
    fields(*((name, 4 * i, 4) for i, name in enumerate(REGISTER_NAMES))),
    source="arch/arm/include/uapi/asm/ptrace.h struct pt_regs (uregs[n] by ARM_* name)",
)

STACK_T = Layout(
    "stack_t",
    12,
    fields(("ss_sp", 0, 4, "ptr"), ("ss_flags", 4, 4, "i"), ("ss_size", 8, 4)),
    source="arch/arm/include/uapi/asm/signal.h stack_t",
)

#: siginfo_t is the generic 32-bit one (the union starts at 12).
SIGINFO_HEADER = generic.SIGINFO32_HEADER
SIGINFO_MEMBERS = generic.SIGINFO32_MEMBERS
SIGINFO_SIZE = generic.SIGINFO_SIZE

SIGCONTEXT = Layout(
    "sigcontext",
    84,
    fields(
        ("trap_no", 0, 4), ("error_code", 4, 4), ("oldmask", 8, 4),
        *((f"arm_r{i}", 12 + 4 * i, 4) for i in range(11)),
        ("arm_fp", 56, 4), ("arm_ip", 60, 4), ("arm_sp", 64, 4), ("arm_lr", 68, 4),
        ("arm_pc", 72, 4), ("arm_cpsr", 76, 4), ("fault_address", 80, 4),
    ),
    source="arch/arm/include/uapi/asm/sigcontext.h struct sigcontext",
)

#: Size of ``uc_regspace`` (128 unsigned longs).
REGSPACE_SIZE = 512

UCONTEXT = Layout(
    "ucontext",
    744,
    fields(
        ("uc_flags", 0, 4),
        ("uc_link", 4, 4, "ptr"),
        nested("uc_stack", 8, STACK_T),
        nested("uc_mcontext", 20, SIGCONTEXT),
        ("uc_sigmask", 104, 8),
        # pads uc_sigmask to glibc's 128-byte sigset_t
        ("__unused", 112, 120, "bytes"),
        ("uc_regspace", 232, REGSPACE_SIZE, "bytes"),
    ),
    source="arch/arm/include/asm/ucontext.h struct ucontext "
    "(= struct compat_ucontext, arch/arm64/kernel/signal32.c)",
)

USER_VFP = Layout(
    "user_vfp",
    264,
    fields(Field("fpregs", 0, 256, "array", count=32, elem="u"), ("fpscr", 256, 4)),
    source="arch/arm/include/asm/user.h struct user_vfp",
)
USER_VFP_EXC = Layout(
    "user_vfp_exc",
    12,
    fields(("fpexc", 0, 4), ("fpinst", 4, 4), ("fpinst2", 8, 4)),
    source="arch/arm/include/asm/user.h struct user_vfp_exc",
)
VFP_SIGFRAME = Layout(
    "vfp_sigframe",
    288,
    fields(("magic", 0, 4), ("size", 4, 4), nested("ufp", 8, USER_VFP),
           nested("ufp_exc", 272, USER_VFP_EXC)),
    source="arch/arm/include/asm/ucontext.h struct vfp_sigframe",
)

#: uc_regspace record magics (arch/arm/include/asm/ucontext.h); a record is
#: {u32 magic, u32 size, payload}, the list ends with a zero magic.
VFP_MAGIC = 0x56465001
IWMMXT_MAGIC = 0x12EF842A
#: placeholder a CONFIG_IWMMXT kernel writes when the task has no iWMMXt state
DUMMY_MAGIC = 0xB0D9ED01
CRUNCH_MAGIC = 0x5065CF03
#: what compat_setup_sigframe writes at uc_regspace: the VFP record, then a
#: 0 end magic (arch/arm64/kernel/signal32.c struct compat_aux_sigframe)
COMPAT_AUX_SIGFRAME = Layout(
    "compat_aux_sigframe",
    296,
    fields(nested("vfp", 0, VFP_SIGFRAME), ("end_magic", 288, 4)),
    source="arch/arm64/kernel/signal32.c struct compat_aux_sigframe",
)
REGSPACE_RECORDS: dict[int, tuple[str, Layout | None]] = {
    VFP_MAGIC: ("vfp", VFP_SIGFRAME),
    IWMMXT_MAGIC: ("iwmmxt", None),
    DUMMY_MAGIC: ("dummy", None),
    CRUNCH_MAGIC: ("crunch", None),
}

SIGFRAME = Layout(
    "sigframe",
    760,
    fields(nested("uc", 0, UCONTEXT), Field("retcode", 744, 16, "array", count=4, elem="u")),
    source="arch/arm/kernel/signal.h struct sigframe (native ARM kernel)",
)
RT_SIGFRAME = Layout(
    "rt_sigframe",
    888,
    fields(("info", 0, 128, "bytes"), nested("sig", 128, SIGFRAME)),
    source="arch/arm/kernel/signal.h struct rt_sigframe (native ARM kernel)",
)
COMPAT_SIGFRAME = Layout(
    "compat_sigframe",
    752,
    fields(nested("uc", 0, UCONTEXT), Field("retcode", 744, 8, "array", count=2, elem="u")),
    source="arch/arm64/kernel/signal32.c struct compat_sigframe (32-bit task, arm64 kernel)",
)
COMPAT_RT_SIGFRAME = Layout(
    "compat_rt_sigframe",
    880,
    fields(("info", 0, 128, "bytes"), nested("sig", 128, COMPAT_SIGFRAME)),
    source="arch/arm64/kernel/signal32.c struct compat_rt_sigframe",
)

#: uc_flags of a non-rt frame: a value trap_no can never have, so sigreturn
#: can tell the frames apart (arch/arm/kernel/signal.c setup_frame).
SIGFRAME_UC_FLAGS = 0x5AC3C35A
#: CPSR.T: the interrupted code (or the handler) runs in Thumb state.
CPSR_T = 0x20

#: PTRACE_GETREGSET note of the VFP registers (include/uapi/linux/elf.h
#: NT_ARM_VFP): ``struct user_vfp``, 260 bytes from a 64-bit tracer
NT_ARM_VFP = 0x400

SIGRETURN_NR = 119
RT_SIGRETURN_NR = 173
