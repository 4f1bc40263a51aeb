"""The x86 ABI values: ``X86_64`` and ``I386`` (ia32 tasks, also a 64-bit
task's 32-bit code), with their signal frame kinds as rows.

Sources: arch/x86/kernel/signal.c (``get_sigframe``: the red zone),
signal_64.c (``x64_setup_rt_frame``), signal_32.c (``ia32_setup_frame``,
``ia32_setup_rt_frame``), arch/x86/include/asm/sighandling.h (``FIX_EFLAGS``),
``restore_sigcontext`` (cs/ss get RPL 3; fs/gs are not restored on x86_64),
arch/x86/include/asm/user_64.h / user_32.h (``u_debugreg`` in struct user),
arch/x86/kernel/hw_breakpoint.c (DR7 bits), arch/x86/include/uapi/asm/
processor-flags.h (``X86_EFLAGS_TF``).
"""

from __future__ import annotations

from sigdbg.abi.abis import Abi, FrameKind, HwBreakpoint, SigreturnRules
from sigdbg.abi.layout import Layout
from sigdbg.abi.x86 import i386, names, pages, srop, syscall_tables, x86_64

#: eflags bits sigreturn takes from the frame: AC OF DF TF SF ZF AF PF CF, RF
FIX_EFLAGS = 0x40DD5 | (1 << 16)
_SEGMENTS = ("cs", "ss", "ds", "es", "fs", "gs")
#: a context saved from user mode has selectors with RPL 3 (cs is never 0)
_USER_MODE = (("cs", 3, 3, False, "a user code segment"),
              ("ss", 3, 3, True, "a user stack segment"))
SIGRETURN_RULES_64 = SigreturnRules(
    flags_fixup=FIX_EFLAGS, flags_fixup_name="FIX_EFLAGS", segments=_SEGMENTS,
    user_rpl=("cs", "ss"), not_restored=("fs", "gs"), user_mode=_USER_MODE)
SIGRETURN_RULES_32 = SigreturnRules(
    flags_fixup=FIX_EFLAGS, flags_fixup_name="FIX_EFLAGS", segments=_SEGMENTS,
    user_rpl=("cs", "ss"), user_mode=_USER_MODE)

#: the XSAVE image (include/uapi/linux/elf.h NT_X86_XSTATE), else the FXSAVE
#: one a 32-bit core carries (NT_PRXFPREG)
_FP_NOTES = ((0x202, "NT_X86_XSTATE"), (0x46E62B7F, "NT_PRXFPREG"))

#: NT_X86_XSTATE bytes 464..471: XCR0, which the kernel puts in the
#: software-reserved bytes of the FXSAVE area (arch/x86/include/asm/user.h
#: ``xstate_fx_sw``/``xcr0``, arch/x86/kernel/fpu/xstate.c); 512..519: the XSAVE
#: header's XSTATE_BV (the components the image holds)
_XSTATE_SUMMARY = (("xcr0", "xcr0"), ("xfeatures", "xstate_bv"))


def _xstate_values(raw: bytes) -> tuple[int, ...] | None:
    if len(raw) < 520:
        return None
    return int.from_bytes(raw[464:472], "little"), int.from_bytes(raw[512:520], "little")


#: gdb's names of the i386 segment registers (user_regs_struct says xds, ...)
_GDB_SEGMENTS = tuple((f"x{s}", s) for s in ("ds", "es", "fs", "gs", "cs", "ss"))

#: the trace schema's JSON keys that are x86_64 names, kept for every ABI
#: (sigdbg.abi.SCHEMA_KEYS): the SROP verdict's resume pc
SCHEMA_KEYS = {"verdict_pc": "rip"}

#: u_debugreg in struct user (offsetof(struct user, u_debugreg) on x86_64;
#: a 32-bit tracee is poked through the tracer's 64-bit struct user, see
#: arch/x86/kernel/ptrace.c ``ptrace_set_debugreg``): DR0 takes the address,
#: DR7 = 1 enables it (L0) as an execute breakpoint of length 1
DEBUG_REGISTERS = HwBreakpoint(offset=848, address_index=0, control_index=7,
                               execute_enable=1, addresses=(0, 1, 2, 3))


def _rt_picture(layout: Layout, uc_type: str, mc_type: str
                ) -> tuple[tuple[int, int, str, str], ...]:
    """The stack-picture rows of an rt frame's ucontext and siginfo."""
    uc_off = layout.offset_of("uc")
    mc_off = layout.offset_of("uc.uc_mcontext")
    mc_size = layout["uc"].sub["uc_mcontext"].size  # type: ignore[index]
    return (
        (uc_off, mc_off - uc_off, "uc", f"{uc_type}: uc_flags, uc_link, uc_stack"),
        (mc_off, mc_size, "uc.uc_mcontext", mc_type),
        (mc_off + mc_size, 8, "uc.uc_sigmask", ""),
        (layout.offset_of("info"), 128, "info", "siginfo_t{stale}"),
    )


#: x86_64: pretcode, then the ucontext, then the siginfo (written only for
#: SA_SIGINFO handlers); ``ret`` into the restorer pops pretcode
RT_SIGFRAME = FrameKind(
    name="rt_sigframe", layout=x86_64.RT_SIGFRAME, mcontext="uc.uc_mcontext", uc="uc",
    pc="rip", sp="rsp", info="info", signal_slot=None, arg_slots=(), retcode=None, extramask=None,
    sigreturn="rt_sigreturn", sigreturn_nr=15, sp_at_sigreturn=8, sp_at_restorer=8,
    # get_sigframe: sp = round_down(sp, 16) - 8, as if a call pushed pretcode
    address_mod=(16, 8),
    picture=((0, 8, "pretcode", "{pretcode:#x}"),
             *_rt_picture(x86_64.RT_SIGFRAME, "ucontext", "struct sigcontext")),
)

#: ia32 rt frame: sig, pinfo, puc on the stack as the handler's arguments;
#: the restorer's ``ret`` pops pretcode, the sigreturn finds the frame at sp - 4
RT_SIGFRAME_IA32 = FrameKind(
    name="rt_sigframe_ia32", layout=i386.RT_SIGFRAME, mcontext="uc.uc_mcontext", uc="uc",
    pc="ip", sp="sp", info="info", signal_slot="sig", arg_slots=(("pinfo", "info"), ("puc", "uc")),
    retcode=i386.RT_SIGFRAME_RETCODE, extramask=None,
    sigreturn="rt_sigreturn", sigreturn_nr=173, sp_at_sigreturn=4, sp_at_restorer=4,
    # get_sigframe: sp = ((sp + 4) & -16) - 4 for ia32 frames
    address_mod=(16, 12),
    picture=((0, 4, "pretcode", "{pretcode:#x}"), (4, 4, "sig", "{sig}"),
             (8, 4, "pinfo", "-> info {pinfo:#x}"), (12, 4, "puc", "-> uc {puc:#x}"),
             (260, 8, "retcode", "mov $173,%eax; int $0x80"),
             *_rt_picture(i386.RT_SIGFRAME, "ucontext_ia32", "struct sigcontext_32")),
)

#: ia32 non-RT frame: no siginfo; the restorer pops sig too (``pop %eax``)
SIGFRAME_IA32 = FrameKind(
    name="sigframe_ia32", layout=i386.SIGFRAME, mcontext="sc", uc=None, pc="ip", sp="sp",
    info=None,
    signal_slot="sig", arg_slots=(), retcode=i386.SIGFRAME_RETCODE, extramask="extramask",
    sigreturn="sigreturn", sigreturn_nr=119, sp_at_sigreturn=8, sp_at_restorer=4,
    address_mod=(16, 12),
    picture=((0, 4, "pretcode", "{pretcode:#x}"), (4, 4, "sig", "{sig}"),
             (8, 88, "sc", "struct sigcontext_32"),
             (96, 624, "fpstate_unused", "legacy slot, not written"),
             (720, 4, "extramask", "blocked mask, signals 33..64"),
             (724, 8, "retcode", "pop %eax; mov $119,%eax; int $0x80")),
)

#: syscall, int $0x80, sysenter: a 64-bit task may use all three (the latter
#: two enter the kernel's ia32 entry points, arch/x86/entry/entry_64_compat.S)
_X86_SYSCALL_INSNS = ((b"\x0f\x05", "syscall"), (b"\xcd\x80", "int $0x80"),
                      (b"\x0f\x34", "sysenter"))

X86_64 = Abi(
    name="x86_64",
    arch="x86",
    bits=64,
    word=8,
    endian="<",
    elf_class=64,
    elf_machine="EM_X86_64",
    user_regs=x86_64.USER_REGS,
    pc="rip",
    sp="rsp",
    syscall_nr="rax",
    orig_syscall_nr="orig_rax",
    flags="eflags",
    siginfo_header=x86_64.SIGINFO_HEADER,
    siginfo_members=x86_64.SIGINFO_MEMBERS,
    siginfo_size=x86_64.SIGINFO_SIZE,
    rt_sigreturn_nr=15,
    sigreturn_nr=None,
    disasm_mode="x86_64",
    syscall_table=syscall_tables.X86_64_TABLE,
    capstone_modes=(("x86_64", ("CS_ARCH_X86",), "CS_MODE_64"),),
    aliases=("amd64", "x86-64"),
    syntaxes=("att", "intel"),
    syscall_mnemonics=("syscall", "sysenter"),
    audit_arch=0xC000003E,
    mcontext_regs=tuple(
        (n, n)
        for n in (
            "r8 r9 r10 r11 r12 r13 r14 r15 rdi rsi rbp rbx rdx rax rcx rsp rip eflags cs ss"
        ).split()
    ),
    fp="rbp",
    # the psABI red zone: get_sigframe skips 128 bytes below sp (signal.c)
    stack_skip=128,
    stack_skip_region=("red zone", "128 bytes the kernel skips (x86_64 ABI)"),
    breakpoint_insn=b"\xcc",  # int3
    breakpoint_pc_adjust=1,  # the trap reports the address after int3
    # SI_KERNEL: do_int3_user -> do_trap(X86_TRAP_BP, SIGTRAP, ...) with no
    # si_code of its own, so force_sig's (arch/x86/kernel/traps.c)
    breakpoint_si_code=0x80,
    hw_breakpoint=DEBUG_REGISTERS,
    native_trace_loop=True,  # backends/_fastptrace.c reads x86 regsets and frames
    sigreturn_rules=SIGRETURN_RULES_64,
    sigreturn_checks=srop.CHECKS,
    fp_regset_name="NT_X86_XSTATE",
    fp_regset_notes=_FP_NOTES,
    fp_regs_summary="xmm/ymm",
    fp_regset_summary=_XSTATE_SUMMARY,
    fp_regset_values=_xstate_values,
    special_mappings=pages.X86_MAPPINGS,
    names=names.NAME_TABLES,
    reads_cores=True,
    max_insn=15,
    # x86-64 psABI figure 3.36 (16: the return address, which .eh_frame gives for rip)
    dwarf_regs=tuple("rax rdx rcx rbx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip"
                     .split()),
    e_machine=62,  # EM_X86_64
    trace_flag=0x100,  # X86_EFLAGS_TF
    call_mnemonics=("call", "lcall"),
    frame_kinds=(RT_SIGFRAME,),
    syscall_insns=_X86_SYSCALL_INSNS,
    gdb_arch_names=("i386:x86-64", "i386:x86-64:intel"),  # not i386:x64-32 (x32)
    fixed_pages=(pages.VSYSCALL_PAGE,),
    # struct user starts with user_regs_struct (arch/x86/include/asm/user_64.h)
    user_area_pc=x86_64.USER_REGS.offset_of("rip"),
    # int $0x80 from 64-bit code enters the ia32 table (entry_64_compat.S)
    compat_syscalls=((b"\xcd\x80", "i386"),),
    handler_arg_pointers=(("rsi", "info", x86_64.RT_SIGFRAME.offset_of("info")),
                          ("rdx", "uc", x86_64.RT_SIGFRAME.offset_of("uc"))),
    # glibc __restore_rt (sysdeps/unix/sysv/linux/x86_64/libc_sigaction.c), with
    # and without the REX prefix
    restorer_patterns=(
        (bytes.fromhex("48c7c00f0000000f05"), "rt_sigreturn", "mov $15,%rax; syscall"),
        (bytes.fromhex("b80f0000000f05"), "rt_sigreturn", "mov $15,%eax; syscall"),
    ),
    flag_names=names.eflags_names,
)

I386 = Abi(
    name="i386",
    arch="x86",
    bits=32,
    word=4,
    endian="<",
    elf_class=32,
    elf_machine="EM_386",
    user_regs=i386.USER_REGS,
    pc="eip",
    sp="esp",
    syscall_nr="eax",
    orig_syscall_nr="orig_eax",
    flags="eflags",
    siginfo_header=i386.SIGINFO_HEADER,
    siginfo_members=i386.SIGINFO_MEMBERS,
    siginfo_size=i386.SIGINFO_SIZE,
    rt_sigreturn_nr=173,
    sigreturn_nr=119,
    disasm_mode="i386",
    syscall_table=syscall_tables.I386_TABLE,
    capstone_modes=(("i386", ("CS_ARCH_X86",), "CS_MODE_32"),),
    aliases=("x86", "ia32", "i686"),
    syntaxes=("att", "intel"),
    syscall_mnemonics=("sysenter",),
    audit_arch=0x40000003,
    mcontext_regs=(
        ("gs", "xgs"), ("fs", "xfs"), ("es", "xes"), ("ds", "xds"),
        ("di", "edi"), ("si", "esi"), ("bp", "ebp"), ("sp", "esp"), ("bx", "ebx"),
        ("dx", "edx"), ("cx", "ecx"), ("ax", "eax"), ("ip", "eip"), ("cs", "xcs"),
        ("flags", "eflags"), ("ss", "xss"),
    ),
    fp="ebp",
    # i386 user_regs_struct name -> x86_64 name (arch/x86/kernel/ptrace.c getreg32)
    narrow_view=("x86_64", (
        ("ebx", "rbx"), ("ecx", "rcx"), ("edx", "rdx"), ("esi", "rsi"), ("edi", "rdi"),
        ("ebp", "rbp"), ("eax", "rax"), ("xds", "ds"), ("xes", "es"), ("xfs", "fs"),
        ("xgs", "gs"), ("orig_eax", "orig_rax"), ("eip", "rip"), ("xcs", "cs"),
        ("eflags", "eflags"), ("esp", "rsp"), ("xss", "ss"),
    )),
    user_area_pc=i386.USER_REGS.offset_of("eip"),
    breakpoint_insn=b"\xcc",  # int3
    breakpoint_pc_adjust=1,  # the trap reports the address after int3
    # SI_KERNEL: do_int3_user -> do_trap(X86_TRAP_BP, SIGTRAP, ...) with no
    # si_code of its own, so force_sig's (arch/x86/kernel/traps.c)
    breakpoint_si_code=0x80,
    hw_breakpoint=DEBUG_REGISTERS,
    native_trace_loop=True,  # backends/_fastptrace.c reads x86 regsets and frames
    sigreturn_rules=SIGRETURN_RULES_32,
    sigreturn_checks=srop.CHECKS,
    fp_regset_name="NT_X86_XSTATE",
    fp_regset_notes=_FP_NOTES,
    fp_regs_summary="xmm/ymm",
    fp_regset_summary=_XSTATE_SUMMARY,
    fp_regset_values=_xstate_values,
    special_mappings=pages.X86_MAPPINGS,
    names=names.NAME_TABLES,
    reads_cores=True,
    max_insn=15,
    # i386 psABI table 2.14 (8: the return address column, eip)
    dwarf_regs=("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip"),
    e_machine=3,  # EM_386
    trace_flag=0x100,  # X86_EFLAGS_TF
    call_mnemonics=("call", "lcall"),
    frame_kinds=(RT_SIGFRAME_IA32, SIGFRAME_IA32),
    syscall_insns=_X86_SYSCALL_INSNS,
    gdb_arch_names=("i386", "i386:intel"),
    gdb_reg_names=_GDB_SEGMENTS,
    # the vDSO's __kernel_rt_sigreturn / __kernel_sigreturn
    # (arch/x86/entry/vdso/vdso32/sigreturn.S) and glibc's copies of them
    restorer_patterns=(
        (bytes.fromhex("b8ad000000cd80"), "rt_sigreturn", "mov $173,%eax; int $0x80"),
        (bytes.fromhex("58b877000000cd80"), "sigreturn", "pop %eax; mov $119,%eax; int $0x80"),
    ),
    flag_names=names.eflags_names,
)

#: the x86 ABIs, in registry order
ABIS: tuple[Abi, ...] = (X86_64, I386)
