"""The target ABI as a value.

A 32-bit tracee under a 64-bit tracer is the normal case, so nothing here
looks at the host: the backend tells which ABI a task has (for ptrace, from
the size of the NT_PRSTATUS regset the kernel returns for that task) and all
decoding takes an :class:`Abi` argument.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

from sigdbg.abi import aarch64, arm, arm_frames, arm_pages, i386, x86_64
from sigdbg.abi.elf import ElfError, read_ident
from sigdbg.abi.layout import Layout
from sigdbg.errors import UsageError


@dataclass(frozen=True, eq=False)  # one value per ABI: identity is equality
class Abi:
    """Everything decoders need to know about one user-space ABI."""

    name: str  #: "x86_64" or "i386"
    arch: str  #: family for naming tables ("x86", later "arm", "arm64")
    bits: int
    word: int
    endian: str  #: struct prefix, "<" for little endian
    elf_class: int
    elf_machine: str  #: pyelftools e_machine name
    user_regs: Layout
    pc: str  #: program counter in user_regs
    sp: str  #: stack pointer in user_regs
    syscall_nr: str  #: user_regs field holding the syscall number at entry
    orig_syscall_nr: str
    flags: str  #: flags register in user_regs
    siginfo_header: Layout
    siginfo_members: dict[str, Layout]
    siginfo_size: int
    rt_sigreturn_nr: int
    sigreturn_nr: int | None  #: the non-RT sigreturn (i386 only)
    disasm_mode: str
    audit_arch: int
    #: sigcontext field -> user_regs field, for every register sigreturn restores
    mcontext_regs: tuple[tuple[str, str], ...]
    #: frame pointer in user_regs (the chain an unwinder falls back to)
    fp: str = ""
    #: user_regs names by DWARF register number (the psABI's numbering, which
    #: .eh_frame uses); the last one is the return-address column
    dwarf_regs: tuple[str, ...] = ()
    #: ELF header e_machine (EM_*, include/uapi/linux/elf-em.h) and EI_CLASS
    #: of executables of this ABI: how a program file or /proc/PID/exe is
    #: recognised (:func:`abi_for_elf_header`)
    e_machine: int = 0
    #: the kernel's special mappings of a process of this ABI, explained
    #: (rows of :class:`~sigdbg.abi.arm_pages.SpecialMappingRow`; empty: the
    #: x86 table of sigdbg/decode/memmap.py)
    special_mappings: tuple[arm_pages.SpecialMappingRow, ...] = ()
    #: what the kernel puts in those mappings that a debugger can decode
    #: (kuser helpers, sigreturn trampolines); empty for x86
    special_pages: tuple[arm_pages.PageRule, ...] = ()
    #: the software breakpoint sigdbg writes (x86: int3); empty: sigdbg does
    #: not set breakpoints in such processes yet (ARM: issue 14, with its pc rules)
    breakpoint_insn: bytes = b"\xcc"
    #: the flags-register bit that makes the CPU trap after each instruction
    #: (x86: EFLAGS.TF, arch/x86/include/uapi/asm/processor-flags.h); 0: none
    #: the program can set itself
    trace_flag: int = 0
    #: mnemonic prefixes of the calls ``nexti`` steps over (capstone's names)
    call_mnemonics: tuple[str, ...] = ()
    #: the signal frame kinds this ABI's kernel builds, named as
    #: :mod:`sigdbg.decode.sigframe` and ``--kind`` name them
    frame_kinds: tuple[str, ...] = ()
    #: (register, rt frame member, offset of the member in the rt frame): the
    #: handler arguments passed in registers that point into the frame at
    #: handler entry (x86_64: arch/x86/kernel/signal_64.c
    #: ``x64_setup_rt_frame`` sets rsi = &frame->info, rdx = &frame->uc);
    #: empty where they are passed on the stack (i386) or not yet described
    handler_arg_pointers: tuple[tuple[str, str, int], ...] = ()
    #: (bytes, syscall, text): the restorers recognised by their code at
    #: pretcode (:func:`sigdbg.decode.restorer.match_pattern`)
    restorer_patterns: tuple[tuple[bytes, str, str], ...] = ()
    #: gdb's names of this architecture (``frame.architecture().name()``);
    #: empty: the GDB extension does not support it
    gdb_arch_names: tuple[str, ...] = ()
    #: (bytes, text) of the instructions that enter the kernel for a system
    #: call, as the sigreturn walk recognises them at the restorer's pc
    syscall_insns: tuple[tuple[bytes, str], ...] = ()
    #: the stack pointer at the restorer's first instruction minus the frame
    #: address: x86's handler ``ret`` popped pretcode (one word); AArch64 and
    #: ARM return through x30/lr, with sp back at the frame
    sp_at_restorer: int = 0
    #: (frame kind, bytes from the frame up to sp) when the sigreturn system
    #: call runs: the kernel reads the frame at ``sp - n`` (x86_64 and the
    #: ia32 non-RT frame ``sp - 8``, the ia32 RT frame ``sp - 4``, AArch64
    #: ``sp`` itself: arch/arm64/kernel/signal.c sys_rt_sigreturn)
    sigreturn_frame_below_sp: tuple[tuple[str, int], ...] = ()
    #: si_code values of the SIGTRAP a PTRACE_SINGLESTEP reports: TRAP_TRACE
    #: and TRAP_BRKPT (x86's ``user_single_step_report`` after a stepped
    #: system call); AArch64 has no ``user_single_step_report`` of its own, so
    #: a stepped ``svc`` reports the generic one's SI_USER (0, measured on 6.1)
    step_trap_codes: tuple[int, ...] = (2, 1)
    #: the si_code of the step trap reported at a system call's exit when the
    #: task was single-stepped from inside it (the exec stop): no instruction
    #: ran.  x86's ``user_single_step_report`` says TRAP_BRKPT (1); arm64 has
    #: none of its own, the generic one in include/linux/ptrace.h says SI_USER
    #: (0; measured on 6.1 for AArch64 and compat tasks)
    syscall_step_trap_code: int = 1
    #: perf_event_open's system call number for a *tracer* of this ABI when
    #: perf_event execute breakpoints serve the sigreturn walk; 0: not used
    perf_event_open_nr: int = 0
    #: (regset note, control word) of a ptrace execute breakpoint set with
    #: PTRACE_SETREGSET for a tracer of this ABI, slot 0; empty: none (x86
    #: uses its debug registers through PTRACE_POKEUSER instead)
    hw_break_regset: tuple[int, ...] = ()
    #: the register the kernel overwrites while a task is in a syscall-stop
    #: (arm64 ``report_syscall``: x7 = 0 at entry, 1 at exit, put back when
    #: the task resumes); empty: none
    syscall_stop_scratch: str = ""
    #: the bit of a code address that selects the instruction set (ARM
    #: interworking: bit 0 set = Thumb code, arch/arm64/kernel/signal32.c
    #: ``compat_setup_return``); code is read with it cleared.  0: none
    isa_bit: int = 0
    #: ``restorer_patterns`` for code reached through an address with
    #: ``isa_bit`` set (Thumb); ``restorer_patterns`` then are the others (ARM)
    thumb_restorer_patterns: tuple[tuple[bytes, str, str], ...] = ()
    #: (syscall, symbol): the C library's restorer, named by its bytes where
    #: the library has no symbol table (Debian's libc.so.6)
    libc_restorer_names: tuple[tuple[str, str], ...] = (("rt_sigreturn", "__restore_rt"),)
    #: the flags-register bit that says the stopped code runs in the
    #: instruction set ``isa_bit`` selects (ARM CPSR.T: Thumb); 0: one set
    isa_flag: int = 0
    #: ``disasm_mode`` and ``syscall_insns`` of that instruction set (Thumb)
    thumb_disasm_mode: str = ""
    thumb_syscall_insns: tuple[tuple[bytes, str], ...] = ()
    #: (size, mask, value, mnemonic): system-call instructions with an
    #: immediate the kernel ignores (ARM ``svc #imm24``, Thumb ``svc #imm8``):
    #: the little-endian word of ``size`` bytes & mask == value.  Per
    #: instruction set: the plain set's, then the ``isa_bit`` set's
    syscall_insn_words: tuple[tuple[int, int, int, str], ...] = ()
    thumb_syscall_insn_words: tuple[tuple[int, int, int, str], ...] = ()
    #: bytes of the instruction at an execute breakpoint's address, for an
    #: address without and with ``isa_bit`` (ARM: 4, Thumb: 2; the arm64
    #: kernel checks the length against the address for a compat task,
    #: arch/arm64/kernel/hw_breakpoint.c ``hw_breakpoint_arch_parse``)
    hw_break_sizes: tuple[int, int] = (4, 4)

    def __str__(self) -> str:
        return self.name

    def syscall_insn(self, code: bytes, thumb: bool = False) -> tuple[int, str] | None:
        """(size, text) of the system-call instruction ``code`` starts with, or
        None.  ``thumb``: the code runs in the ``isa_bit`` instruction set."""
        for insn, text in (self.thumb_syscall_insns if thumb else self.syscall_insns):
            if code.startswith(insn):
                return len(insn), text
        for size, mask, value, mnemonic in (self.thumb_syscall_insn_words if thumb
                                            else self.syscall_insn_words):
            if len(code) >= size:
                word = int.from_bytes(code[:size], "little")
                if word & mask == value:
                    return size, f"{mnemonic} #{word & ~mask & ((1 << 8 * size) - 1):#x}"
        return None

    def in_isa(self, flags: int) -> bool:
        """Whether code stopped with ``flags`` runs in the ``isa_bit`` set (Thumb)."""
        return bool(flags & self.isa_flag)

    def mcontext_name(self, user_reg: str) -> str:
        """The sigcontext field sigreturn restores ``user_reg`` from."""
        for mc, reg in self.mcontext_regs:
            if reg == user_reg:
                return mc
        raise KeyError(f"{self.name}: sigreturn does not restore {user_reg}")

    @property
    def word_fmt(self) -> str:
        return self.endian + ("Q" if self.word == 8 else "I")

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1


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
    audit_arch=0xC000003E,
    mcontext_regs=tuple(
        (n, n)
        for n in (
            "r8 r9 r10 r11 r12 r13 r14 r15 rdi rsi rbp rbx rdx rax rcx rsp rip eflags cs ss"
        ).split()
    ),
    fp="rbp",
    # x86-64 psABI figure 3.36 (16: the return address, which .eh_frame gives for rip)
    dwarf_regs=tuple("rax rdx rcx rbx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip"
                     .split()),
    e_machine=62,  # EM_X86_64
    trace_flag=0x100,  # X86_EFLAGS_TF
    call_mnemonics=("call", "lcall"),
    frame_kinds=("rt_sigframe",),
    syscall_insns=_X86_SYSCALL_INSNS,
    sp_at_restorer=8,
    sigreturn_frame_below_sp=(("rt_sigframe", 8),),
    perf_event_open_nr=298,
    gdb_arch_names=("i386:x86-64", "i386:x86-64:intel"),  # not i386:x64-32 (x32)
    handler_arg_pointers=(("rsi", "info", x86_64.RT_SIGFRAME.offset_of("info")),
                          ("rdx", "uc", x86_64.RT_SIGFRAME.offset_of("uc"))),
    # glibc __restore_rt (sysdeps/unix/sysv/linux/x86_64/libc_sigaction.c), with
    # and without the REX prefix
    restorer_patterns=(
        (bytes.fromhex("48c7c00f0000000f05"), "rt_sigreturn", "mov $15,%rax; syscall"),
        (bytes.fromhex("b80f0000000f05"), "rt_sigreturn", "mov $15,%eax; syscall"),
    ),
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
    audit_arch=0x40000003,
    mcontext_regs=(
        ("gs", "xgs"), ("fs", "xfs"), ("es", "xes"), ("ds", "xds"),
        ("di", "edi"), ("si", "esi"), ("bp", "ebp"), ("sp", "esp"), ("bx", "ebx"),
        ("dx", "edx"), ("cx", "ecx"), ("ax", "eax"), ("ip", "eip"), ("cs", "xcs"),
        ("flags", "eflags"), ("ss", "xss"),
    ),
    fp="ebp",
    # i386 psABI table 2.14 (8: the return address column, eip)
    dwarf_regs=("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip"),
    e_machine=3,  # EM_386
    trace_flag=0x100,  # X86_EFLAGS_TF
    call_mnemonics=("call", "lcall"),
    frame_kinds=("rt_sigframe_ia32", "sigframe_ia32"),
    syscall_insns=_X86_SYSCALL_INSNS,
    sp_at_restorer=4,
    sigreturn_frame_below_sp=(("rt_sigframe_ia32", 4), ("sigframe_ia32", 8)),
    perf_event_open_nr=336,
    gdb_arch_names=("i386", "i386:intel"),
    # the vDSO's __kernel_rt_sigreturn / __kernel_sigreturn
    # (arch/x86/entry/vdso/vdso32/sigreturn.S) and glibc's copies of them
    restorer_patterns=(
        (bytes.fromhex("b8ad000000cd80"), "rt_sigreturn", "mov $173,%eax; int $0x80"),
        (bytes.fromhex("58b877000000cd80"), "sigreturn", "pop %eax; mov $119,%eax; int $0x80"),
    ),
)

#: AArch64 (arch/arm64).  The sigcontext keeps x0-x30 as an array, which the
#: frame decoder (sigdbg/decode/a64frame.py) names x0-x30 like the registers.
#: Not filled in yet: the DWARF numbering (x0-x30 = 0-30, sp = 31, the return address in x30,
#: not pc) does not fit ``dwarf_regs``' "last one is the return column" rule.
AARCH64 = Abi(
    name="aarch64",
    arch="arm64",
    bits=64,
    word=8,
    endian="<",
    elf_class=64,
    elf_machine="EM_AARCH64",
    user_regs=aarch64.REGISTERS,
    pc="pc",
    sp="sp",
    # the syscall number is in x8 (arch/arm64/kernel/syscall.c el0_svc_common);
    # the kernel keeps the original in pt_regs->syscallno, which NT_PRSTATUS
    # does not carry (NT_ARM_SYSTEM_CALL does): x8 is what user space set
    syscall_nr="x8",
    orig_syscall_nr="x8",
    flags="pstate",
    siginfo_header=aarch64.SIGINFO_HEADER,
    siginfo_members=aarch64.SIGINFO_MEMBERS,
    siginfo_size=aarch64.SIGINFO_SIZE,
    rt_sigreturn_nr=aarch64.RT_SIGRETURN_NR,
    sigreturn_nr=None,
    disasm_mode="aarch64",
    audit_arch=0xC00000B7,  # AUDIT_ARCH_AARCH64: EM_AARCH64 | 64BIT | LE
    # restore_sigframe (arch/arm64/kernel/signal.c): regs[], sp, pc, pstate
    mcontext_regs=tuple((f"x{i}", f"x{i}") for i in range(31))
    + (("sp", "sp"), ("pc", "pc"), ("pstate", "pstate")),
    fp="x29",
    e_machine=183,  # EM_AARCH64
    special_mappings=arm_pages.AARCH64_MAPPINGS,
    # sigdbg writes no software breakpoint into AArch64 code yet (the
    # session's pc rule is x86's); brk #0 would be d4200000, reported at its
    # own address (measured on 6.1: SIGTRAP TRAP_BRKPT, pc = the brk)
    breakpoint_insn=b"",
    syscall_insns=((aarch64.SVC_0, "svc #0"),),
    sp_at_restorer=0,
    sigreturn_frame_below_sp=(("rt_sigframe", 0),),
    step_trap_codes=(2, 1, 0),
    syscall_step_trap_code=0,
    # perf_event breakpoints are not used: for a perf_event the arm64 kernel
    # steps over the breakpoint itself (hw_breakpoint.c breakpoint_handler,
    # default overflow handler) and that step swallows the tracer's next
    # PTRACE_SINGLESTEP (measured on 6.1: the task ran on to its next
    # signal).  A ptrace breakpoint (NT_ARM_HW_BREAK, 0x402) is not stepped
    # over by the kernel: its SIGTRAP is TRAP_HWBKPT at the address.  Control
    # word (arch/arm64/include/asm/hw_breakpoint.h): enable (bit 0), EL0
    # (privilege 2 << 1), execute (type 0), 4 bytes (BAS 0xf << 5)
    hw_break_regset=(0x402, 0x1E5),
    syscall_stop_scratch="x7",  # arch/arm64/kernel/ptrace.c report_syscall
    # arch/arm64/kernel/vdso/sigreturn.S __kernel_rt_sigreturn (the name, not
    # the bytes, says it is the vDSO's: see decode/restorer.py classify_restorer)
    restorer_patterns=(
        (bytes.fromhex("681180d2010000d4"), "rt_sigreturn", "mov x8, #0x8b; svc #0"),
    ),    # glibc's aarch64 sigaction sets no SA_RESTORER: no restorer of its own
    libc_restorer_names=(),
)

#: 32-bit ARM EABI, as a compat task on an arm64 kernel runs it (the layouts
#: are those of a native ARM kernel too; the [sigpage] contents differ, see
#: sigdbg/abi/arm_pages.py).  The frame pointer is r11 in ARM code (r7 in
#: Thumb code, which this one name cannot say).
ARM = Abi(
    name="arm",
    arch="arm",
    bits=32,
    word=4,
    endian="<",
    elf_class=32,
    elf_machine="EM_ARM",
    user_regs=arm.REGISTERS,
    pc="pc",
    sp="sp",
    # EABI: the syscall number in r7 (arch/arm/kernel/entry-common.S); orig_r0
    # is the first argument kept for restarts, not the number
    syscall_nr="r7",
    orig_syscall_nr="r7",
    flags="cpsr",
    siginfo_header=arm.SIGINFO_HEADER,
    siginfo_members=arm.SIGINFO_MEMBERS,
    siginfo_size=arm.SIGINFO_SIZE,
    rt_sigreturn_nr=arm.RT_SIGRETURN_NR,
    sigreturn_nr=arm.SIGRETURN_NR,
    disasm_mode="arm",
    audit_arch=0x40000028,  # AUDIT_ARCH_ARM: EM_ARM | LE
    mcontext_regs=tuple((f"arm_r{i}", f"r{i}") for i in range(11)) + (
        ("arm_fp", "r11"), ("arm_ip", "r12"), ("arm_sp", "sp"), ("arm_lr", "lr"),
        ("arm_pc", "pc"), ("arm_cpsr", "cpsr"),
    ),
    fp="r11",
    e_machine=40,  # EM_ARM
    special_mappings=arm_pages.ARM_COMPAT_MAPPINGS,
    special_pages=arm_pages.ARM_COMPAT_PAGES,
    breakpoint_insn=b"",
    frame_kinds=tuple(k.name for k in arm_frames.FRAME_KINDS),
    isa_bit=arm_frames.THUMB_BIT,
    restorer_patterns=arm_frames.ARM_RESTORER_PATTERNS,
    thumb_restorer_patterns=arm_frames.THUMB_RESTORER_PATTERNS,
    libc_restorer_names=arm_frames.LIBC_RESTORER_NAMES,
    # --step-sigreturn (arch/arm64/kernel/signal32.c compat_sys_sigreturn and
    # compat_sys_rt_sigreturn read the frame at compat_sp; the handler
    # returns through lr with sp back at the frame)
    sp_at_restorer=0,
    sigreturn_frame_below_sp=tuple((k.name, 0) for k in arm_frames.FRAME_KINDS),
    # single steps report TRAP_TRACE; a stepped svc the generic
    # user_single_step_report's SI_USER (0), as for AArch64
    step_trap_codes=(2, 1, 0),
    syscall_step_trap_code=0,
    # arm64 report_syscall clobbers ip (r12) of a compat task at a syscall-stop
    syscall_stop_scratch="r12",
    isa_flag=arm_frames.CPSR_T,
    thumb_disasm_mode="thumb",
    # svc #imm24 (cond AL) / svc #imm8: EABI takes the number from r7 and
    # ignores the immediate (the [sigpage] entries use #119 and #173)
    syscall_insn_words=((4, 0xFF00_0000, 0xEF00_0000, "svc"),),
    thumb_syscall_insn_words=((2, 0xFF00, 0xDF00, "svc"),),
    hw_break_sizes=(4, 2),
)

#: Every ABI sigdbg knows.  Lookups below go through this table only.
ABIS: tuple[Abi, ...] = (X86_64, I386, AARCH64, ARM)


@cache  # a fact of this process: read once
def native_abi() -> Abi:
    """The ABI of this process itself (the tracer's), from the ELF header of
    /proc/self/exe; where that cannot be read or is not an ABI of the table,
    the first ABI of the table with this process's pointer size."""
    try:
        with open("/proc/self/exe", "rb") as f:
            return abi_for_elf_header(f.read(20))
    except (OSError, UsageError):
        word = struct.calcsize("P")
        return next(abi for abi in ABIS if abi.word == word)


def all_frame_kinds() -> tuple[str, ...]:
    """Every frame kind of every ABI, in table order (the ``--kind`` choices)."""
    return tuple(k for abi in ABIS for k in abi.frame_kinds)


def abi_of_frame_kind(kind: str) -> Abi:
    """The ABI whose sigcontext a frame of ``kind`` holds (an ia32 frame of a
    64-bit task in 32-bit code holds i386's)."""
    for abi in ABIS:
        if kind in abi.frame_kinds:
            return abi
    raise UsageError(f"unknown frame kind {kind!r} (known: {', '.join(all_frame_kinds())})")


def abi_by_gdb_arch(name: str) -> Abi:
    """The ABI gdb calls ``name``; UsageError for an unsupported one."""
    for abi in ABIS:
        if name in abi.gdb_arch_names:
            return abi
    known = " and ".join(a.name for a in ABIS if a.gdb_arch_names)
    raise UsageError(f"unsupported architecture {name!r} (sigdbg knows {known})")


def abi_by_name(name: str) -> Abi:
    for abi in ABIS:
        if abi.name == name:
            return abi
    raise UsageError(f"unknown ABI {name!r} (known: {', '.join(a.name for a in ABIS)})")


def abi_for_regset_size(size: int) -> Abi:
    """The ABI whose NT_PRSTATUS regset has ``size`` bytes."""
    for abi in ABIS:
        if abi.user_regs.size == size:
            return abi
    raise UsageError(f"unsupported register set size {size}")


def abi_for_elf_header(data: bytes) -> Abi:
    """The ABI of an ELF file from its first 20 bytes (class + e_machine),
    read by the one ELF reader (:func:`sigdbg.abi.elf.read_ident`)."""
    try:
        ident = read_ident(data)
    except ElfError:
        raise UsageError("not an ELF file") from None
    machine, bits, endian = ident.e_machine, ident.bits, ident.endian
    for abi in ABIS:
        if abi.e_machine == machine and abi.elf_class == bits and abi.endian == endian:
            return abi
    raise UsageError(f"unsupported ELF machine {machine} (class {ident.ei_class})")
