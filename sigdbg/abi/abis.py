"""The target ABI as a value.

A 32-bit tracee under a 64-bit tracer is the normal case, so nothing here
looks at the host: the backend tells which ABI a task has (for ptrace, from
the size of the NT_PRSTATUS regset the kernel returns for that task) and all
decoding takes an :class:`Abi` argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.abi import i386, x86_64
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

    def __str__(self) -> str:
        return self.name

    @property
    def word_fmt(self) -> str:
        return self.endian + ("Q" if self.word == 8 else "I")

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1


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
)

ABIS: tuple[Abi, ...] = (X86_64, I386)


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
    """The ABI of an ELF file from its first 20 bytes (class + e_machine)."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        raise UsageError("not an ELF file")
    machine = int.from_bytes(data[18:20], "little" if data[5] == 1 else "big")
    if data[4] == 2 and machine == 62:
        return X86_64
    if data[4] == 1 and machine == 3:
        return I386
    raise UsageError(f"unsupported ELF machine {machine} (class {data[4]})")
