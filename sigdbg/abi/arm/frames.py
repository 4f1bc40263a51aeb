"""AArch32 signal frames and their return paths, as data.

Which struct the kernel builds for a 32-bit ARM handler, where its parts are,
how to tell the two kinds apart, the CPSR bits worth naming, and the code a
handler returns through (the kernel's ``[sigpage]`` trampolines, glibc's
SA_RESTORER stubs, a program's own ``mov r7, #173; svc 0``), by instruction
set: a code address with bit 0 set is Thumb code (ARM interworking, "BX"
semantics), so the same return can be one of two encodings.

Sources (Linux v6.1): arch/arm64/kernel/signal32.c (``struct compat_sigframe``
{ uc, retcode[2] }, ``struct compat_rt_sigframe`` { info, sig };
``compat_setup_frame`` writes uc_flags = 0x5ac3c35a, ``compat_setup_rt_frame``
writes uc_flags = 0 and sets r1 = &info, r2 = &uc; ``compat_setup_return``:
r0 = signo, sp = frame, lr = sa_restorer with SA_RESTORER, else the
``[sigpage]`` entry ``idx = thumb << 1 (+ 3 with SA_SIGINFO)``, pc = handler
with CPSR.T = bit 0 of the handler and the IT bits cleared;
``compat_get_sigframe``: frame = (sp or the altstack top - size) & ~7;
``compat_setup_sigframe``: trap_no = 0, error_code = the WnR bit << 11,
fault_address, oldmask, the VFP record in uc_regspace then a 0 end magic),
arch/arm64/kernel/sigreturn32.S (the compat trampolines),
arch/arm/kernel/signal.c (native ARM: the same ucontext, retcode[4]),
glibc sysdeps/unix/sysv/linux/arm/sigrestorer.S (``__default_sa_restorer`` /
``__default_rt_sa_restorer``, Thumb-2 in glibc 2.36 armhf).

The layouts are sigdbg/abi/arm/__init__.py (checked against ``offsetof`` from
targets/arm/abi.probe.c in the guest); the kinds are :class:`FrameKind` rows
of the ARM ABI (sigdbg/abi/arm/abi.py), which :class:`A32FrameKind` views the
way the AArch32 decoder (sigdbg/abi/arm/a32frame.py) reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.abi import arm
from sigdbg.abi.abis import FrameKind
from sigdbg.abi.layout import Layout

#: compat_rt_sigframe { info, sig { uc, retcode[2] } }: for SA_SIGINFO
#: handlers (r1 = &info, r2 = &uc); compat_sys_rt_sigreturn reads it at
#: compat_sp itself (the handler returned through lr with sp at the frame)
COMPAT_RT_SIGFRAME_ROW = FrameKind(
    name="compat_rt_sigframe", layout=arm.COMPAT_RT_SIGFRAME, mcontext="sig.uc.uc_mcontext",
    uc="sig.uc", info="info", pc="arm_pc", sp="arm_sp", signal_slot=None, arg_slots=(),
    retcode=None, extramask=None, sigreturn="rt_sigreturn", sigreturn_nr=arm.RT_SIGRETURN_NR,
    sp_at_sigreturn=0, sp_at_restorer=0,
    # compat_get_sigframe: & ~7 (ATPCS)
    address_mod=(8, 0),
)
#: compat_sigframe { uc, retcode[2] }: no siginfo; its ucontext still holds
#: the mask (compat_sys_sigreturn, read at compat_sp)
COMPAT_SIGFRAME_ROW = FrameKind(
    name="compat_sigframe", layout=arm.COMPAT_SIGFRAME, mcontext="uc.uc_mcontext", uc="uc",
    info=None, pc="arm_pc", sp="arm_sp", signal_slot=None, arg_slots=(), retcode=None,
    extramask=None, sigreturn="sigreturn", sigreturn_nr=arm.SIGRETURN_NR,
    sp_at_sigreturn=0, sp_at_restorer=0, address_mod=(8, 0),
)


@dataclass(frozen=True)
class A32FrameKind:
    """One frame kind as the AArch32 decoder reads it: its :class:`FrameKind`
    row (the one fact of where its parts are) and the kernel that builds it."""

    row: FrameKind
    kernel: str

    @property
    def name(self) -> str:  #: the kernel's struct name
        return self.row.name

    @property
    def layout(self) -> Layout:
        return self.row.layout

    @property
    def rt(self) -> bool:
        """Built for an SA_SIGINFO handler (siginfo, r1/r2 set)."""
        return self.row.info is not None

    @property
    def uc_path(self) -> str:
        """Dotted path of the ucontext in the layout."""
        assert self.row.uc is not None
        return self.row.uc

    @property
    def uc_offset(self) -> int:
        return self.layout.offset_of(self.uc_path)

    @property
    def mcontext_offset(self) -> int:
        return self.layout.offset_of(self.row.mcontext)

    @property
    def regspace_offset(self) -> int:
        return self.layout.offset_of(self.uc_path + ".uc_regspace")

    @property
    def retcode_offset(self) -> int:
        return self.layout.offset_of(self.uc_path.rsplit(".", 1)[0] + ".retcode"
                                     if "." in self.uc_path else "retcode")

    @property
    def info_offset(self) -> int | None:
        return self.layout.offset_of(self.row.info) if self.row.info else None


COMPAT_RT_SIGFRAME = A32FrameKind(
    COMPAT_RT_SIGFRAME_ROW,
    "arm64 kernel (compat task), arch/arm64/kernel/signal32.c compat_setup_rt_frame")
COMPAT_SIGFRAME = A32FrameKind(
    COMPAT_SIGFRAME_ROW,
    "arm64 kernel (compat task), arch/arm64/kernel/signal32.c compat_setup_frame")

#: the two kinds by role (the decoder outside abi/ names no frame struct)
RT_KIND = COMPAT_RT_SIGFRAME
NON_RT_KIND = COMPAT_SIGFRAME
#: the frames a 32-bit task gets on the arm64 kernel, rt first
FRAME_KINDS: tuple[A32FrameKind, ...] = (COMPAT_RT_SIGFRAME, COMPAT_SIGFRAME)
BY_NAME: dict[str, A32FrameKind] = {k.name: k for k in FRAME_KINDS}

#: uc_flags of a non-rt frame (compat_setup_frame); an rt frame starts with
#: si_signo (1..64), so the first word tells the kinds apart
NON_RT_UC_FLAGS = arm.SIGFRAME_UC_FLAGS
#: ATPCS: frames are 8-byte aligned; sigreturn refuses another sp
FRAME_ALIGN = 8

# -- CPSR (arch/arm/include/uapi/asm/ptrace.h; PSTATE.SS of an AArch32 task: bit 21,
#    arch/arm64/include/uapi/asm/ptrace.h PSR_AA32_*) --------------------------------

CPSR_T = arm.CPSR_T
CPSR_BITS: tuple[tuple[int, str], ...] = (
    (1 << 31, "N"), (1 << 30, "Z"), (1 << 29, "C"), (1 << 28, "V"), (1 << 27, "Q"),
    (1 << 24, "J"), (1 << 21, "SS"), (1 << 9, "E"), (1 << 8, "A"), (1 << 7, "I"),
    (1 << 6, "F"), (1 << 5, "T"),
)
CPSR_MODE_MASK = 0x1F
CPSR_MODES: dict[int, str] = {0x10: "USR", 0x11: "FIQ", 0x12: "IRQ", 0x13: "SVC",
                              0x17: "ABT", 0x1B: "UND", 0x1F: "SYS"}
#: IT[1:0] at bits 26:25, IT[7:2] at bits 15:10 (Thumb-2 If-Then state)
CPSR_IT_MASK = 0x0600FC00
USR_MODE = 0x10


def cpsr_names(cpsr: int) -> tuple[str, ...]:
    """Named CPSR bits, IT state when non-zero, and the mode (USR for a user task)."""
    names = [n for bit, n in CPSR_BITS if cpsr & bit]
    if cpsr & CPSR_IT_MASK:
        it = ((cpsr >> 25) & 3) | ((cpsr >> 8) & 0xFC)
        names.append(f"IT={it:#x}")
    mode = cpsr & CPSR_MODE_MASK
    names.append(CPSR_MODES.get(mode, f"mode={mode:#x}"))
    return tuple(names)

#: error_code bit the arm64 kernel sets for a write fault (FSR WnR, signal32.c)
FSR_WRITE = 1 << 11

# -- how a handler returns --------------------------------------------------------------

#: bit 0 of a code address: Thumb (the handler, lr, a restorer)
THUMB_BIT = 1


@dataclass(frozen=True)
class RestorerCode:
    """A sigreturn sequence recognised by its bytes in one instruction set."""

    code: bytes
    syscall: str
    text: str
    thumb: bool


def _r(hexcode: str, syscall: str, text: str, thumb: bool) -> RestorerCode:
    return RestorerCode(bytes.fromhex(hexcode), syscall, text, thumb)


RESTORER_CODES: tuple[RestorerCode, ...] = (
    # glibc armhf __default_rt_sa_restorer / __default_sa_restorer (Thumb-2)
    _r("4ff0ad0700df", "rt_sigreturn", "mov.w r7, #173; svc #0", True),
    _r("4ff0770700df", "sigreturn", "mov.w r7, #119; svc #0", True),
    # the same in ARM code (glibc built -marm before 2.x, or a program's own)
    _r("ad70a0e3000000ef", "rt_sigreturn", "mov r7, #173; svc #0", False),
    _r("7770a0e3000000ef", "sigreturn", "mov r7, #119; svc #0", False),
    # 16-bit Thumb (a native ARM kernel's sigreturn_codes, a program's own)
    _r("ad2700df", "rt_sigreturn", "movs r7, #173; svc #0", True),
    _r("772700df", "sigreturn", "movs r7, #119; svc #0", True),
    # the compat [sigpage] (arch/arm64/kernel/sigreturn32.S: svc #<nr>)
    _r("ad70a0e3ad0000ef", "rt_sigreturn", "mov r7, #173; svc #0xad", False),
    _r("7770a0e3770000ef", "sigreturn", "mov r7, #119; svc #0x77", False),
    _r("ad27addf", "rt_sigreturn", "movs r7, #173; svc #0xad", True),
    _r("772777df", "sigreturn", "movs r7, #119; svc #0x77", True),
    # a native ARM kernel's ARM entries (OABI-compatible svc #0x900000 + nr)
    _r("ad70a0e3ad0090ef", "rt_sigreturn", "mov r7, #173; svc #0x9000ad", False),
    _r("7770a0e3770090ef", "sigreturn", "mov r7, #119; svc #0x900077", False),
)

#: (bytes, syscall, text) in the shape of ``Abi.restorer_patterns``, per instruction set
ARM_RESTORER_PATTERNS: tuple[tuple[bytes, str, str], ...] = tuple(
    (r.code, r.syscall, r.text) for r in RESTORER_CODES if not r.thumb)
THUMB_RESTORER_PATTERNS: tuple[tuple[bytes, str, str], ...] = tuple(
    (r.code, r.syscall, r.text + " (Thumb)") for r in RESTORER_CODES if r.thumb)

#: glibc's names for its restorers (Debian's libc.so.6 has no .symtab; a
#: static program keeps them): syscall -> symbol
LIBC_RESTORER_NAMES: tuple[tuple[str, str], ...] = (
    ("rt_sigreturn", "__default_rt_sa_restorer"),
    ("sigreturn", "__default_sa_restorer"),
)


def sigpage_index(thumb: bool, siginfo: bool) -> int:
    """``compat_setup_return``'s idx: which [sigpage] entry a handler without
    SA_RESTORER returns to (its offset is 4 * idx, plus 1 for Thumb)."""
    return (2 if thumb else 0) + (3 if siginfo else 0)
