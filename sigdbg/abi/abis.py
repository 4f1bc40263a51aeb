"""The value types of an ABI: :class:`Abi` and its :class:`FrameKind` rows.

A 32-bit tracee under a 64-bit tracer is the normal case, so nothing here
looks at the host: the backend tells which ABI a task has (for ptrace, from
the size of the NT_PRSTATUS regset the kernel returns for that task) and all
decoding takes an :class:`Abi` argument.

The values themselves live in one package per architecture
(``sigdbg/abi/<arch>/abi.py``); :mod:`sigdbg.abi` is the registry that looks
them up.  This module names no architecture: every arch fact is a field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from sigdbg.abi.arm import pages as arm_pages
from sigdbg.abi.generic import SpecialMappingRow
from sigdbg.abi.layout import Layout


@dataclass(frozen=True, eq=False)  # one value per kind: identity is equality
class FrameKind:
    """One signal frame struct the kernel builds, as a row the generic decoder
    (:func:`sigdbg.decode.sigframe.decode_sigframe`) walks.

    Member names are paths into :attr:`layout` (``"uc.uc_mcontext"``)."""

    name: str  #: as ``--kind`` and ``SigFrame.kind`` name it
    layout: Layout
    #: the interrupted context (struct sigcontext), restored by sigreturn
    mcontext: str
    #: the ucontext (uc_flags, uc_link, uc_stack, uc_sigmask); None: a non-RT
    #: frame, whose mask is ``mcontext.oldmask`` plus :attr:`extramask`
    uc: str | None
    #: the siginfo_t member; None: the frame has none
    info: str | None
    #: the sigcontext's names of the interrupted pc and sp
    pc: str
    sp: str
    #: the member the kernel stores the signal number in; None: the number is
    #: only in ``info`` (and stale there without SA_SIGINFO)
    signal_slot: str | None
    #: (slot, member): slots holding pointers to members of the same frame
    #: (the handler's on-stack pinfo/puc arguments)
    arg_slots: tuple[tuple[str, str], ...]
    #: the bytes the kernel writes into member ``retcode`` (None: no retcode)
    retcode: bytes | None
    #: non-RT frames: the array member holding the mask words above the first
    extramask: str | None
    #: the syscall that returns from this frame, and its number
    sigreturn: str
    sigreturn_nr: int
    #: frame address = sp - this when the sigreturn syscall runs (the
    #: restorer consumed what it popped)
    sp_at_sigreturn: int
    #: frame address = sp - this when the restorer's first instruction runs
    sp_at_restorer: int
    #: (m, r): the kernel puts this frame at an address that is r mod m
    address_mod: tuple[int, int] = (16, 0)
    #: the fixed parts of the stack picture: (offset, size, label, detail);
    #: details are ``str.format`` templates over the frame's values
    #: (pretcode, sig, pinfo, puc)
    picture: tuple[tuple[int, int, str, str], ...] = ()

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<FrameKind {self.name}>"

    def offset_of(self, member: str) -> int:
        return self.layout.offset_of(member)


@dataclass(frozen=True)
class HwBreakpoint:
    """A per-thread execute breakpoint a tracer of this ABI sets through
    ptrace, one of two ways:

    - debug registers in the ``struct user`` area (x86 DR0-DR3 + DR7):
      PTRACE_POKEUSER at ``offset + index * word``, ``regset_note`` 0;
    - slot 0 of a breakpoint regset (AArch64 NT_ARM_HW_BREAK, ``struct
      user_hwdebug_state``: dbg_info, pad, then {addr, ctrl, pad} per slot;
      arch/arm64/kernel/ptrace.c ``hw_break_set``): PTRACE_SETREGSET of
      ``regset_note`` with the address and ``execute_enable`` as control word.

    Either outlives its tracer (``flush_ptrace_hw_breakpoint`` runs only at
    exec and exit), so the backend clears it before a detach."""

    offset: int = 0  #: of the first debug register in struct user
    address_index: int = 0  #: the register that takes the address
    control_index: int = 0  #: the control register
    #: control value: enable slot 0 as an execute breakpoint (x86 DR7 L0,
    #: length 1; AArch64 the slot's ctrl word)
    execute_enable: int = 0
    #: every address register (cleared with the control one before a detach)
    addresses: tuple[int, ...] = ()
    #: nonzero: the breakpoint is slot 0 of this PTRACE_SETREGSET regset note
    #: instead of debug registers in struct user
    regset_note: int = 0
    #: a perf_event execute breakpoint (perf_event_open, gone with the
    #: tracer's descriptor) is tried first; False where the kernel's handling
    #: of one disturbs the tracer's stepping (AArch64, see its ABI)
    perf_first: bool = True


@dataclass(frozen=True)
class NameTables:
    """An arch family's rows in the name tables of :mod:`sigdbg.names`, which
    are keyed by ``Abi.arch`` (the first ABI of a family in the registry gives
    them; the family's ABIs share one value)."""

    #: more spellings of the family in look-ups, beyond ``Abi.arch`` and its
    #: ABIs' names and ``aliases`` ("armhf" for "arm")
    aliases: tuple[str, ...] = ()
    #: (a_type, AT_ name, value kind, meaning) of the auxv entries the arch
    #: adds to the arch-neutral ones (arch/<arch>/include/uapi/asm/auxvec.h)
    auxv: tuple[tuple[int, str, str, str], ...] = ()
    #: bit number -> name of AT_HWCAP .. AT_HWCAP4 (missing words: no names)
    hwcaps: tuple[Mapping[int, str], ...] = ()
    #: (name, function) of the arch's own name functions, ``sigdbg.names.<name>``
    #: (x86: eflags_names)
    functions: tuple[tuple[str, Callable[..., Any]], ...] = ()


@dataclass(frozen=True)
class FixedPage:
    """A page the kernel keeps at one address in every process of an ABI,
    outside the process's own mappings (x86_64's legacy vsyscall page): a
    report of its own, named ``name`` (the command, the JSON key)."""

    name: str
    mapping: str  #: its /proc/PID/maps name
    address: int
    size: int
    entries: tuple[tuple[str, int], ...]  #: (name, offset) of its entry points
    help: str  #: one line: what the report shows
    #: (mode, evidence) from the mapping's perms (None: no maps line) and the
    #: kernel command line
    mode: Callable[[str | None, str], tuple[str, str]]


class FlagsRule(NamedTuple):
    """One way sigreturn changes the flags register from the frame's value
    (each a "not compared" note of the sigreturn walk)."""

    name: str
    mask: int  #: the flags bits it is about
    source: str  #: where the kernel does it
    what: str


@dataclass(frozen=True)
class FpRestoreCheck:
    """How the FP/vector registers after sigreturn are compared with the records
    of the frame they were restored from (``record``: the frame model's
    ``record(name)`` lookup, None for a record the frame does not have)."""

    #: the regset note types the comparison needs (none: nothing to compare)
    regsets: Callable[[Callable[[str], Any]], tuple[int, ...]]
    #: one line per difference, given those regsets' bytes (None: unreadable)
    compare: Callable[[Callable[[str], Any], Mapping[int, bytes | None]], tuple[str, ...]]


@dataclass(frozen=True)
class SigreturnRules:
    """How sigreturn restores registers beyond plain copies (the kernel's
    ``restore_sigcontext``)."""

    #: flags bits taken from the frame; the rest keep their current value
    flags_fixup: int = 0
    #: the kernel's name of that mask (for "not compared" notes)
    flags_fixup_name: str = ""
    #: segment registers: compared in their low 16 bits
    segments: tuple[str, ...] = ()
    #: of those, the ones forced to the user privilege level (RPL 3)
    user_rpl: tuple[str, ...] = ()
    #: registers sigreturn does not restore from the frame at all
    not_restored: tuple[str, ...] = ()
    #: (sigcontext field, mask, value, 0 allowed, what it must be): what a
    #: context the kernel saved from user mode always satisfies
    user_mode: tuple[tuple[str, int, int, bool, str], ...] = ()
    #: how the flags register is restored when named rules decide it instead
    #: of a fixup mask: (frame value, single step or None) -> (the value the
    #: kernel restores, the bits that are known); None: no such rules
    flags_restore: Callable[[int, bool | None], tuple[int, int]] | None = None
    #: those rules, named (sigdbg/decode/sigreturn_rules.py lists them as not compared)
    flags_rules: tuple[FlagsRule, ...] = ()
    #: the FP/vector registers against the frame's records (None: not compared)
    fp_restore: FpRestoreCheck | None = None


#: a target's memory as the checks read it: the readable prefix of (address, size)
ReadUpto = Callable[[int, int], bytes]
#: (code, text, fatal): one rule a sigreturn's frame breaks
Violation = tuple[str, str, bool]


class SigreturnFrame(Protocol):
    """What sigreturn checks read of a decoded frame (``SigFrame`` has it)."""

    @property
    def abi(self) -> str: ...
    @property
    def address(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def mcontext(self) -> Mapping[str, int]: ...
    @property
    def uc_flags(self) -> int | None: ...


@dataclass(frozen=True)
class SigreturnChecks:
    """The kernel's rules for a context a sigreturn restores, beyond where the
    frame is (the SROP guard, sigdbg/engine/srop.py, applies them)."""

    #: the facts of this machine the rules depend on, from the task's
    #: extended-state regset (None: unreadable, the defaults)
    machine_facts: Callable[[bytes | None], Any]
    #: (frame, machine facts, memory reader, the FP pointer the kernel wrote
    #: at delivery or None) -> the rules the frame breaks
    context: Callable[[SigreturnFrame, Any, ReadUpto, int | None], list[Violation]]


def _no_flag_names(value: int) -> tuple[str, ...]:
    return ()


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
    disasm_mode: str  #: the instruction set of this ABI's code (a key of capstone_modes)
    audit_arch: int
    #: sigcontext field -> user_regs field, for every register sigreturn restores
    mcontext_regs: tuple[tuple[str, str], ...]
    #: frame pointer in user_regs (the chain an unwinder falls back to)
    fp: str = ""
    #: user_regs names by DWARF register number (the psABI's numbering, which
    #: .eh_frame uses); must name ``pc`` and ``sp``.  The return-address
    #: column is each CIE's own (x86: the pc's number, the last one here;
    #: AArch64: x30, the link register)
    dwarf_regs: tuple[str, ...] = ()
    #: the register a call leaves the return address in (AArch64 x30); empty:
    #: the call pushes it at [sp] (x86).  Where the CFI has no rule for it, a
    #: callee has not saved it yet: the caller's pc is its current value
    link_register: str = ""
    #: ELF header e_machine (EM_*, include/uapi/linux/elf-em.h) and EI_CLASS
    #: of executables of this ABI: how a program file or /proc/PID/exe is
    #: recognised (:func:`abi_for_elf_header`)
    e_machine: int = 0
    #: the kernel's special mappings of a process of this ABI, explained
    #: (rows of :class:`~sigdbg.abi.generic.SpecialMappingRow`)
    special_mappings: tuple[SpecialMappingRow, ...] = ()
    #: the pages at fixed addresses each with a report of its own (FixedPage)
    fixed_pages: tuple[FixedPage, ...] = ()
    #: the arch's rows of the name tables (auxv, hwcaps, flags)
    names: NameTables = NameTables()
    #: user_regs names gdb calls differently (gdb's register name second)
    gdb_reg_names: tuple[tuple[str, str], ...] = ()
    #: sigdbg reads core files of this ABI (NT_PRSTATUS is decoded as ``user_regs``)
    reads_cores: bool = False
    #: what the kernel puts in those mappings that a debugger can decode
    #: (kuser helpers, sigreturn trampolines); empty for x86
    special_pages: tuple[arm_pages.PageRule, ...] = ()
    #: the software breakpoint sigdbg writes; empty: sigdbg does not set
    #: breakpoints in such processes yet (ARM: issue 14, with its pc rules)
    breakpoint_insn: bytes = b""
    #: how far past the breakpoint the pc is when its trap is reported
    breakpoint_pc_adjust: int = 0
    #: the si_code of the SIGTRAP the breakpoint instruction raises
    breakpoint_si_code: int = 0
    #: bytes below the interrupted sp the kernel leaves alone when it puts a
    #: signal frame on the same stack (the psABI's area leaf code may use)
    stack_skip: int = 0
    #: (label, detail) of that area in the stack picture
    stack_skip_region: tuple[str, str] = ("", "")
    #: debug registers for execute breakpoints; None: none (perf only)
    hw_breakpoint: HwBreakpoint | None = None
    #: what sigreturn restores beyond plain copies
    sigreturn_rules: SigreturnRules = SigreturnRules()
    #: the kernel's name of the regset with the FP/vector state (PTRACE_GETREGSET, core notes)
    fp_regset_name: str = ""
    #: (note type, name) of the core-file notes that hold that state, best first
    #: (the generic NT_PRFPREG is the last resort of every 64-bit ABI)
    fp_regset_notes: tuple[tuple[int, str], ...] = ()
    #: the registers ``regs --fp`` shows, in a few words for its help
    #: ("xmm/ymm"); empty: no FP view (the help says "FP/vector")
    fp_regs_summary: str = ""
    #: (JSON key, text label) of the values a crash summary reads from that
    #: regset (x86: XCR0 and the XSAVE header's XSTATE_BV) and the function
    #: reading them, in that order (None: the regset is too short to hold them)
    fp_regset_summary: tuple[tuple[str, str], ...] = ()
    fp_regset_values: Callable[[bytes], tuple[int, ...] | None] | None = None
    #: the rules a context must satisfy for sigreturn to accept it; None: not described
    sigreturn_checks: SigreturnChecks | None = None
    #: the longest instruction (reads of code to decode one are this long)
    max_insn: int = 4
    #: the flags-register bit that makes the CPU trap after each instruction
    #: (x86: EFLAGS.TF, arch/x86/include/uapi/asm/processor-flags.h); 0: none
    #: the program can set itself
    trace_flag: int = 0
    #: mnemonic prefixes of the calls ``nexti`` steps over (capstone's names)
    call_mnemonics: tuple[str, ...] = ()
    #: the signal frame kinds this ABI's kernel builds, in the order
    #: detection tries them (the last one is the fallback)
    frame_kinds: tuple[FrameKind, ...] = ()
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
    #: (ABI name, ((our register, its register), ...)): a task of that ABI
    #: stopped in this ABI's code shows these registers as the low halves of
    #: its own (x86: arch/x86/kernel/ptrace.c getreg32); empty: none
    narrow_view: tuple[str, tuple[tuple[str, str], ...]] = ("", ())
    #: offset of the pc in this ABI's ``struct user`` (PTRACE_PEEKUSER), when
    #: a tracer of this ABI can read it so; None: it cannot
    user_area_pc: int | None = None
    #: (disassembly mode, capstone architecture constant names, capstone mode
    #: constant name) of every instruction set this ABI's code may use; several
    #: architecture names cover capstone releases that renamed one
    capstone_modes: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    #: other names of this ABI's instruction set (uname -m, toolchains)
    aliases: tuple[str, ...] = ()
    #: the disassembly syntaxes capstone offers for it (the first is the default)
    syntaxes: tuple[str, ...] = ()
    #: mnemonics of its system-call instructions, as capstone spells them
    syscall_mnemonics: tuple[str, ...] = ()
    #: the kernel's system-call table of this ABI, "NR name ..." text as
    #: :mod:`sigdbg.names.syscalls` parses it; empty: no names
    syscall_table: str = ""
    #: (instruction, ABI name): system-call instructions that enter another
    #: ABI's system-call table from this ABI's code
    compat_syscalls: tuple[tuple[bytes, str], ...] = ()
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
    #: the register the kernel overwrites while a task is in a syscall-stop
    #: (arm64 ``report_syscall``: x7 = 0 at entry, 1 at exit, put back when
    #: the task resumes); empty: none
    syscall_stop_scratch: str = ""
    #: (prefix, format spec): how a frame diff's changed values whose names
    #: start with the prefix are written in JSON, for the vector registers of
    #: the ABI's own frame records that exceed every JSON integer (x86's FP
    #: area values: sigdbg/decode/fparea.py ``fp_value_json``)
    wide_change_formats: tuple[tuple[str, str], ...] = ()
    #: the bit of a code address that selects the instruction set (ARM
    #: interworking: bit 0 set = Thumb code, arch/arm64/kernel/signal32.c
    #: ``compat_setup_return``); code is read with it cleared.  0: none
    isa_bit: int = 0
    #: ``restorer_patterns`` for code reached through an address with
    #: ``isa_bit`` set (Thumb); ``restorer_patterns`` then are the others (ARM)
    isa_restorer_patterns: tuple[tuple[bytes, str, str], ...] = ()
    #: (syscall, symbol): the C library's restorer, named by its bytes where
    #: the library has no symbol table (Debian's libc.so.6)
    libc_restorer_names: tuple[tuple[str, str], ...] = (("rt_sigreturn", "__restore_rt"),)
    #: the C trace loop (sigdbg/backends/_fastptrace.c, engine/fastpath.py)
    #: serves tasks of this ABI: its regset and frame templates are this
    #: ABI's; False: the Python path only
    native_trace_loop: bool = False
    #: the flags-register bit that says the stopped code runs in the
    #: instruction set ``isa_bit`` selects (ARM CPSR.T: Thumb); 0: one set
    isa_flag: int = 0
    #: ``disasm_mode`` and ``syscall_insns`` of that instruction set (Thumb)
    isa_disasm_mode: str = ""
    isa_syscall_insns: tuple[tuple[bytes, str], ...] = ()
    #: (size, mask, value, mnemonic): system-call instructions with an
    #: immediate the kernel ignores (ARM ``svc #imm24``, Thumb ``svc #imm8``):
    #: the little-endian word of ``size`` bytes & mask == value.  Per
    #: instruction set: the plain set's, then the ``isa_bit`` set's
    syscall_insn_words: tuple[tuple[int, int, int, str], ...] = ()
    isa_syscall_insn_words: tuple[tuple[int, int, int, str], ...] = ()
    #: the names of the bits set in a value of the ``flags`` register, lowest
    #: first (x86 EFLAGS, AArch64 PSTATE, AArch32 CPSR: the arch package's
    #: bit table, with its multi-bit fields such as a mode)
    flag_names: Callable[[int], tuple[str, ...]] = _no_flag_names
    #: bytes of the instruction at an execute breakpoint's address, for an
    #: address without and with ``isa_bit`` (ARM: 4, Thumb: 2; the arm64
    #: kernel checks the length against the address for a compat task,
    #: arch/arm64/kernel/hw_breakpoint.c ``hw_breakpoint_arch_parse``)
    hw_break_sizes: tuple[int, int] = (4, 4)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Abi {self.name}>"

    def syscall_insn(self, code: bytes, isa: bool = False) -> tuple[int, str] | None:
        """(size, text) of the system-call instruction ``code`` starts with, or
        None.  ``isa``: the code runs in the ``isa_bit`` instruction set (Thumb)."""
        for insn, text in (self.isa_syscall_insns if isa else self.syscall_insns):
            if code.startswith(insn):
                return len(insn), text
        for size, mask, value, mnemonic in (self.isa_syscall_insn_words if isa
                                            else self.syscall_insn_words):
            if len(code) >= size:
                word = int.from_bytes(code[:size], "little")
                if word & mask == value:
                    return size, f"{mnemonic} #{word & ~mask & ((1 << 8 * size) - 1):#x}"
        return None

    def frame_kind(self, name: str) -> FrameKind | None:
        """This ABI's frame kind called ``name``, or None."""
        for kind in self.frame_kinds:
            if kind.name == name:
                return kind
        return None

    def syscall_abi_name(self, code: bytes) -> str:
        """The ABI whose system call the instruction ``code`` starts with makes."""
        for insn, name in self.compat_syscalls:
            if code.startswith(insn):
                return name
        return self.name

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
