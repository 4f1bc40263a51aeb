"""Forged sigreturn (SROP) detection: is the frame a sigreturn is about to
restore one the kernel built, and would the kernel accept it?

The kernel trusts the frame it finds at the stack pointer: x86_64
``rt_sigreturn`` reads ``struct rt_sigframe`` at ``regs->sp - 8``
(arch/x86/kernel/signal_64.c ``SYSCALL_DEFINE0(rt_sigreturn)``), ia32
``rt_sigreturn`` ``struct rt_sigframe_ia32`` at ``sp - 4`` and ``sigreturn``
``struct sigframe_ia32`` at ``sp - 8`` (signal_32.c).  Nothing records which
frames it wrote, so a program (or an exploit: sigreturn-oriented
programming) can restore any register set it lays out in memory.

:class:`SropGuard` is that missing record, per thread: every frame a
delivery built (the session hands each handler entry's frame in), and at
each sigreturn system-call entry a :class:`Verdict`:

- *built by a delivery*: a frame of the same address and kind was built for
  this thread and not consumed yet.  A sigreturn consumes it; a new frame
  written over an old one (a handler left with siglongjmp) replaces it.
- *the kernel's rules* for the saved context, each with what the kernel
  does when it is broken (``fatal``: the sigreturn fails or the return to
  user space faults, and the task gets SIGSEGV):

  * ``restore_sigcontext`` (signal_64.c) / ``ia32_restore_sigcontext``
    (signal_32.c) take cs and ss as they are, ORed with 3; a selector that
    is not a user code (cs) or data (ss) segment makes the IRET back to user
    space fault.  A 64-bit context without ``UC_STRICT_RESTORE_SS`` gets an
    unusable ss replaced by ``__USER_DS`` (``force_valid_ss``).
  * rip must be canonical and below the kernel half for 64-bit code.
  * fpu/signal.c ``fpu__restore_sig``: a NULL fpstate resets the FPU; else
    the area must be user memory (``access_ok``);
    ``check_xstate_in_sigframe`` falls back to the legacy FXSAVE part when
    ``magic1``, the sizes or ``MAGIC2`` at ``fxsave + xstate_size`` do not
    agree; a 64-bit frame is restored with XRSTOR (FXRSTOR when FXSAVE
    only) straight from user memory, which faults on a misaligned area
    (64 bytes for XRSTOR, 16 for FXRSTOR), xstate_bv bits outside the
    enabled features, non-zero header bytes 8..23 (xcomp_bv without bit 63,
    the first reserved word; the other reserved bytes are ignored, observed
    with targets/srop_self xreserved/xreserved2) or MXCSR reserved bits;
    an ia32 frame is copied and checked by
    ``validate_user_xstate_header`` (fpu/xstate.c: no unknown features, no
    compacted format, all 48 reserved bytes zero; observed with
    targets/srop_self.i386 xreserved2) and the MXCSR check.
  * not rules, but never true of a frame the kernel builds: fpstate NULL or
    outside the frame, a 64-bit uc_flags without ``UC_SIGCONTEXT_SS``.

Nothing here prints or resumes: the session calls :meth:`SropGuard.check`
while the task is stopped at the system call's entry (a seccomp or
syscall-entry stop), so the verdict comes before the kernel acts.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from sigdbg.abi import abi_by_name
from sigdbg.backends.base import Memory
from sigdbg.decode.model import Model
from sigdbg.decode.restorer import Restorer
from sigdbg.decode.sigframe import SigFrame, decode_sigframe
from sigdbg.errors import SigdbgError

#: seccomp ret data of our filter (backends/ptrace.py) -> (ABI, frame kind, syscall)
SECCOMP_CALLS: dict[int, tuple[str, str, str]] = {
    1: ("x86_64", "rt_sigframe", "rt_sigreturn"),
    2: ("i386", "rt_sigframe_ia32", "rt_sigreturn"),
    3: ("i386", "sigframe_ia32", "sigreturn"),
}
#: (audit arch, syscall nr) -> the same, for syscall-entry stops
#: (include/uapi/linux/audit.h AUDIT_ARCH_X86_64 / AUDIT_ARCH_I386)
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
SYSCALL_CALLS: dict[tuple[int, int], tuple[str, str, str]] = {
    (AUDIT_ARCH_X86_64, 15): SECCOMP_CALLS[1],
    (AUDIT_ARCH_I386, 173): SECCOMP_CALLS[2],
    (AUDIT_ARCH_I386, 119): SECCOMP_CALLS[3],
}

#: arch/x86/include/asm/segment.h: the GDT's user segments (RPL 3)
USER32_CS, USER_DS, USER_CS = 0x23, 0x2B, 0x33
_SEL_TI = 4  #: selector bit 2: an LDT selector (modify_ldt), not checked here
#: arch/x86/include/uapi/asm/ucontext.h
UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 1, 2, 4
#: arch/x86/include/uapi/asm/sigcontext.h
FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2 = 0x46505853, 0x46505845
_FXSAVE_SIZE, _XSAVE_HDR_SIZE = 512, 64
_SW_BYTES = struct.Struct("<IIQI")  #: magic1, extended_size, xfeatures, xstate_size
_SW_OFFSET = 464
_HDR = struct.Struct("<QQ48s")  #: xstate_bv, xcomp_bv, reserved
_IA32_FSAVE_HEADER = 112  #: sizeof(struct fregs_state): the ia32 area starts with it
#: frames remembered per thread; beyond it the oldest goes (a frame left by
#: siglongjmp is normally overwritten by the next one at the same place)
MAX_FRAMES = 4096
_CONSUMED = 64


@dataclass(frozen=True)
class Reason(Model):
    """One thing wrong with a sigreturn's frame."""

    code: str  #: forged, consumed, other_thread, kind, cs, ss, rip, fpstate, xsave, ...
    text: str
    fatal: bool  #: the kernel will fail the sigreturn or fault on the return (SIGSEGV)


class Delivered(NamedTuple):
    """A frame the kernel built at a delivery (what is needed to know it again)."""

    address: int
    kind: str
    end: int  #: one past the last byte the kernel wrote (its FP area's end)
    fpstate: int  #: the fpstate pointer the kernel wrote
    sig: int


class MachineFacts(NamedTuple):
    """What the rules depend on, from the task's NT_X86_XSTATE regset."""

    user_xfeatures: int  #: XCR0's user bits (bytes 464..471 of the regset)
    user_size: int  #: the kernel's fpstate->user_size (the regset's size)
    mxcsr_mask: int
    va_bits: int  #: 48, or 57 with 5-level paging


def machine_facts(xstate: bytes | None) -> MachineFacts:
    """From an NT_X86_XSTATE regset (arch/x86/kernel/fpu/regset.c
    ``xstateregs_get``: the XSAVE image with XCR0 in the sw_reserved bytes)."""
    va = 57 if _cpu_flag("la57") else 48
    if not xstate or len(xstate) < _FXSAVE_SIZE + _XSAVE_HDR_SIZE:
        return MachineFacts(0x3, _FXSAVE_SIZE + _XSAVE_HDR_SIZE, 0xFFBF, va)
    mask = int.from_bytes(xstate[28:32], "little") or 0xFFBF  # 0: the FXSAVE default
    xcr0 = int.from_bytes(xstate[464:472], "little")
    return MachineFacts(xcr0, len(xstate), mask, va)


class _FpRegsets(Protocol):
    def xstate_raw(self) -> bytes | None: ...


def task_machine_facts(task: _FpRegsets) -> MachineFacts:
    """:func:`machine_facts` of a task's extended-state regset (the defaults
    when the backend cannot read it)."""
    try:
        xstate = task.xstate_raw()
    except SigdbgError:
        xstate = None
    return machine_facts(xstate)


def _cpu_flag(name: str) -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return name in line.split()
    except OSError:
        pass
    return False


def frame_address(abi: str, kind: str, sp: int) -> int:
    """Where the kernel reads the frame of this sigreturn (module docstring)."""
    if abi == "x86_64":
        return sp - 8
    sp &= 0xFFFFFFFF
    return sp - 8 if kind == "sigframe_ia32" else sp - 4


@dataclass(frozen=True)
class Verdict(Model):
    """The judgement of one sigreturn, made before the kernel acts on it."""

    syscall: str
    abi: str
    kind: str
    frame: int  #: the frame address the kernel will read
    built_by_delivery: bool
    alert: bool  #: forged, or against the kernel's rules
    fatal: bool  #: the kernel will refuse it or fault on the return (SIGSEGV)
    rip: int | None  #: where the restored context resumes (None: unreadable)
    sp: int | None
    reasons: tuple[Reason, ...]


class SropGuard:
    """Per-thread record of delivered frames and the sigreturn verdicts."""

    def __init__(self, facts: MachineFacts) -> None:
        self.facts = facts
        self._frames: dict[int, dict[int, Delivered]] = {}
        self._consumed: dict[int, deque[int]] = {}
        #: tid -> sp when sigdbg attached (frames at or above it may predate us)
        self.attach_sp: dict[int, int] = {}
        self.restorers: dict[int, Restorer] = {}
        self.checked = 0
        self.alerts = 0

    # -- deliveries --------------------------------------------------------------
    def delivered(self, tid: int, frame: SigFrame) -> None:
        """The kernel built ``frame`` for ``tid`` (seen at its handler's entry)."""
        fp = frame.mcontext.get("fpstate", 0)
        end = frame.address + frame.size
        if frame.fpstate is not None:
            end = max(end, frame.fpstate.address + frame.fpstate.size)
        rec = Delivered(frame.address, frame.kind, end, fp, frame.sig)
        frames = self._frames.setdefault(tid, {})
        # the kernel just wrote [address, end): any older frame there is gone
        for addr in [a for a, d in frames.items() if a < end and d.end > frame.address]:
            del frames[addr]
        if len(frames) >= MAX_FRAMES:
            del frames[next(iter(frames))]
        frames[frame.address] = rec

    def inherit(self, child: int, parent: int) -> None:
        """``child`` was forked by ``parent``: its memory is a copy, so the
        frames still on the parent's stack are frames it may return through
        (kernel/fork.c copies the mm; a fork inside a handler)."""
        frames = self._frames.get(parent)
        if frames:
            self._frames.setdefault(child, {}).update(frames)

    def forget(self, tid: int) -> None:
        """The thread is gone, or exec replaced its address space."""
        self._frames.pop(tid, None)
        self._consumed.pop(tid, None)
        self.attach_sp.pop(tid, None)

    # -- sigreturns ----------------------------------------------------------------
    def check(self, mem: Memory, tid: int, abi_name: str, kind: str, syscall: str,
              sp: int) -> Verdict:
        """Judge the sigreturn ``tid`` is entering with stack pointer ``sp``."""
        addr = frame_address(abi_name, kind, sp)
        reasons: list[Reason] = []
        rec = self._match(tid, addr, kind, reasons)
        frame: SigFrame | None = None
        try:
            frame = decode_sigframe(mem, abi_by_name(abi_name), addr, kind=kind,
                                    restorers=self.restorers)
        except SigdbgError as exc:
            reasons.append(Reason("unreadable", f"the frame at {addr:#x} cannot be read "
                                  f"({exc}): sigreturn fails", True))
        if frame is not None:
            reasons.extend(context_violations(frame, self.facts, mem, rec))
        if rec is None and frame is not None and reasons and reasons[0].code == "forged" \
                and self._predates_attach(tid, addr) \
                and all(r.code in ("forged",) for r in reasons):
            reasons[0] = Reason("unverified", f"no delivery seen for the frame at {addr:#x}: "
                                "it may predate the attach", False)
        self.checked += 1
        alert = any(r.code != "unverified" for r in reasons)
        if alert:
            self.alerts += 1
        return Verdict(syscall, abi_name, kind, addr, rec is not None, alert,
                       any(r.fatal for r in reasons),
                       frame.pc if frame is not None else None,
                       frame.sp if frame is not None else None, tuple(reasons))

    def _match(self, tid: int, addr: int, kind: str, reasons: list[Reason]) -> Delivered | None:
        frames = self._frames.get(tid, {})
        rec = frames.get(addr)
        if rec is not None:
            del frames[addr]
            self._consumed.setdefault(tid, deque(maxlen=_CONSUMED)).append(addr)
            if rec.kind != kind:
                reasons.append(Reason("kind", f"the frame at {addr:#x} was built as "
                                      f"{rec.kind}, this sigreturn reads a {kind}", False))
            return rec
        if addr in self._consumed.get(tid, ()):
            reasons.append(Reason("consumed", f"the frame at {addr:#x} was already consumed "
                                  "by an earlier sigreturn (replayed)", False))
            return None
        for other, fr in self._frames.items():
            if other != tid and addr in fr:
                reasons.append(Reason("other_thread", f"the frame at {addr:#x} was built "
                                      f"for thread {other}, not this one", False))
                return None
        reasons.append(Reason("forged", f"no signal delivery to thread {tid} built a "
                              f"frame at {addr:#x}", False))
        return None

    def _predates_attach(self, tid: int, addr: int) -> bool:
        sp = self.attach_sp.get(tid)
        return sp is not None and addr >= sp


def context_violations(frame: SigFrame, facts: MachineFacts, mem: Memory,
                       rec: Delivered | None = None) -> list[Reason]:
    """The saved context against the rules sigreturn applies (module docstring)."""
    out: list[Reason] = []
    mc = frame.mcontext
    is64 = frame.abi == "x86_64"
    cs = mc.get("cs", 0) | 3
    ss = mc.get("ss", 0) | 3
    code64 = cs == USER_CS
    if not cs & _SEL_TI and cs not in (USER_CS, USER32_CS):
        out.append(Reason("cs", f"cs {mc.get('cs', 0):#x} is not a user code segment "
                          f"(__USER_CS {USER_CS:#x}, __USER32_CS {USER32_CS:#x}): the return "
                          "to user space faults", True))
    if not ss & _SEL_TI and ss != USER_DS:
        flags = frame.uc_flags or 0
        if is64 and code64 and not flags & UC_STRICT_RESTORE_SS:
            out.append(Reason("ss", f"ss {mc.get('ss', 0):#x} is not __USER_DS: the kernel "
                              "replaces it (UC_STRICT_RESTORE_SS clear, force_valid_ss)",
                              False))
        else:
            out.append(Reason("ss", f"ss {mc.get('ss', 0):#x} is not a user data segment "
                              f"(__USER_DS {USER_DS:#x}): the return to user space faults",
                              True))
    if is64 and code64:
        rip = mc.get("rip", 0)
        top = 1 << (facts.va_bits - 1)
        if top <= rip < (1 << 64) - top:
            out.append(Reason("rip", f"rip {rip:#x} is not canonical ({facts.va_bits}-bit "
                              "addresses): the return faults", True))
        elif rip >= top:
            out.append(Reason("rip", f"rip {rip:#x} is in the kernel half: the first "
                              "instruction fetch faults", True))
    if is64 and frame.uc_flags is not None and not frame.uc_flags & UC_SIGCONTEXT_SS:
        out.append(Reason("uc_flags", f"uc_flags {frame.uc_flags:#x} lacks UC_SIGCONTEXT_SS, "
                          "which every 64-bit frame of this kernel carries", False))
    out.extend(fpstate_violations(frame, facts, mem, rec))
    return out


def fpstate_violations(frame: SigFrame, facts: MachineFacts, mem: Memory,
                       rec: Delivered | None) -> list[Reason]:
    """fpu/signal.c ``fpu__restore_sig`` and ``__fpu_restore_sig`` applied to
    the frame's fpstate pointer and the area it points at."""
    out: list[Reason] = []
    fp = frame.mcontext.get("fpstate", 0)
    is64 = frame.abi == "x86_64"
    if rec is not None and fp != rec.fpstate:
        out.append(Reason("fpstate", f"fpstate {fp:#x} differs from the {rec.fpstate:#x} "
                          "the kernel wrote at delivery", False))
    if not fp:
        if rec is None or rec.fpstate:
            out.append(Reason("fpstate", "fpstate is NULL (the kernel resets the FPU): "
                              "frames the kernel builds always carry one", False))
        return out
    lo = frame.address + frame.size
    if rec is None and not lo <= fp <= lo + 128:
        out.append(Reason("fpstate", f"fpstate {fp:#x} points outside the frame "
                          f"(the kernel puts it just above, from {lo:#x})", False))
    fx = fp if is64 else fp + _IA32_FSAVE_HEADER
    area = mem.read_upto(fx, _FXSAVE_SIZE + _XSAVE_HDR_SIZE)
    size = facts.user_size + 4 + (0 if is64 else _IA32_FSAVE_HEADER)
    if len(area) < _FXSAVE_SIZE + _XSAVE_HDR_SIZE or len(mem.read_upto(fp, size)) < size:
        out.append(Reason("fpstate", f"the FP area at {fp:#x} is not readable user memory "
                          f"({size} bytes): sigreturn fails", True))
        return out
    magic1, ext, xfeatures, xsize = _SW_BYTES.unpack_from(area, _SW_OFFSET)
    fx_only = "magic1 is not FP_XSTATE_MAGIC1" if magic1 != FP_XSTATE_MAGIC1 else \
        f"xstate_size {xsize} out of range" if not (
            _FXSAVE_SIZE + _XSAVE_HDR_SIZE <= xsize <= facts.user_size and xsize <= ext) \
        else ""
    if not fx_only:
        m2 = mem.read_upto(fx + xsize, 4)
        if len(m2) < 4:
            out.append(Reason("xsave", f"MAGIC2 at {fx + xsize:#x} is unreadable: "
                              "sigreturn fails", True))
            return out
        if int.from_bytes(m2, "little") != FP_XSTATE_MAGIC2:
            fx_only = "MAGIC2 is missing after xstate_size"
    if fx_only:
        out.append(Reason("xsave", f"{fx_only}: the kernel restores only the legacy "
                          "FXSAVE part (check_xstate_in_sigframe)", False))
    if is64:
        align = 16 if fx_only else 64
        if fx % align:
            out.append(Reason("fpstate", f"fpstate {fp:#x} is not {align}-byte aligned: "
                              f"{'FXRSTOR' if fx_only else 'XRSTOR'} faults, sigreturn "
                              "fails", True))
    mxcsr = int.from_bytes(area[24:28], "little")
    if mxcsr & ~facts.mxcsr_mask & 0xFFFFFFFF:
        out.append(Reason("mxcsr", f"mxcsr {mxcsr:#x} sets reserved bits (mask "
                          f"{facts.mxcsr_mask:#x}): sigreturn fails", True))
    if fx_only:
        return out
    xstate_bv, xcomp_bv, reserved = _HDR.unpack_from(area, _FXSAVE_SIZE)
    extra = xstate_bv & ~facts.user_xfeatures
    if extra:
        out.append(Reason("xsave", f"xstate_bv {xstate_bv:#x} has bits {extra:#x} outside "
                          f"the enabled features {facts.user_xfeatures:#x}: sigreturn fails",
                          True))
    if xfeatures & ~facts.user_xfeatures:
        out.append(Reason("xsave", f"sw_reserved.xfeatures {xfeatures:#x} names features "
                          "this machine does not enable", False))
    if xcomp_bv:
        # XRSTOR: XCOMP_BV bit 63 selects the compacted form (then XRSTOR
        # judges it); without it bytes 8..23 of the header must be zero
        fatal = not is64 or not xcomp_bv >> 63
        out.append(Reason("xsave", f"xcomp_bv {xcomp_bv:#x}: the kernel writes the standard "
                          "format only" + (": sigreturn fails" if fatal else ""), fatal))
    if any(reserved):
        # ia32: validate_user_xstate_header checks all 48 bytes; x86_64:
        # XRSTOR faults on bytes 16..23 only (observed: a set byte 40 is
        # ignored, a set byte 21 makes sigreturn fail)
        fatal = not is64 or any(reserved[:8])
        out.append(Reason("xsave", "reserved bytes of the XSAVE header are not zero"
                          + (": sigreturn fails" if fatal else
                             " (beyond the bytes XRSTOR checks)"), fatal))
    return out
