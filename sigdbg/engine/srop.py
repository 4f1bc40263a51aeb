"""Forged sigreturn (SROP) detection: is the frame a sigreturn is about to
restore one the kernel built, and would the kernel accept it?

The kernel trusts the frame it finds at the stack pointer (where: the
frame kind's ``sp_at_sigreturn``; x86_64 ``rt_sigreturn`` reads
``struct rt_sigframe`` at ``regs->sp - 8``, arch/x86/kernel/signal_64.c
``SYSCALL_DEFINE0(rt_sigreturn)``; ia32 ``rt_sigreturn`` at ``sp - 4`` and
``sigreturn`` at ``sp - 8``, signal_32.c).  Nothing records which
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
  user space faults, and the task gets SIGSEGV): the frame's ABI's
  ``sigreturn_checks`` (x86: sigdbg/abi/x86/srop.py, segment selectors,
  canonical pc, the FP area).

Nothing here prints or resumes: the session calls :meth:`SropGuard.check`
while the task is stopped at the system call's entry (a seccomp or
syscall-entry stop), so the verdict comes before the kernel acts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from sigdbg.abi import SCHEMA_KEYS, Abi, abi_by_name, by_name, sigreturn_calls
from sigdbg.backends.base import Memory
from sigdbg.decode.model import Model
from sigdbg.decode.restorer import Restorer
from sigdbg.decode.sigframe import SigFrame, decode_sigframe, kind_row
from sigdbg.errors import SigdbgError

#: seccomp ret data of our filter (backends/ptrace.py) -> (ABI, frame kind, syscall)
SECCOMP_CALLS: dict[int, tuple[str, str, str]] = {
    i: (abi.name, kind.name, kind.sigreturn) for i, (abi, kind) in enumerate(sigreturn_calls(), 1)
}
#: (audit arch, syscall nr) -> the same, for syscall-entry stops
SYSCALL_CALLS: dict[tuple[int, int], tuple[str, str, str]] = {
    (abi.audit_arch, kind.sigreturn_nr): SECCOMP_CALLS[i]
    for i, (abi, kind) in enumerate(sigreturn_calls(), 1)
}
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


class _FpRegsets(Protocol):
    @property
    def abi(self) -> Abi: ...

    def fp_regs_raw(self) -> bytes | None: ...


def task_machine_facts(task: _FpRegsets) -> object:
    """What the task's ABI's sigreturn rules depend on, from its
    extended-state regset (their defaults when the backend cannot read it);
    None when the ABI has no such rules."""
    checks = task.abi.sigreturn_checks
    if checks is None:
        return None
    try:
        raw = task.fp_regs_raw()
    except SigdbgError:
        raw = None
    return checks.machine_facts(raw)


def frame_address(abi: str, kind: str, sp: int) -> int:
    """Where the kernel reads the frame of this sigreturn (module docstring)."""
    return (sp & by_name(abi).mask) - kind_row(abi, kind).sp_at_sigreturn


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
    #: where the restored context resumes (None: unreadable); the schema's key
    #: is an x86 name for every ABI (SCHEMA_KEYS)
    pc: int | None = field(metadata={"json_key": SCHEMA_KEYS["verdict_pc"]})
    sp: int | None
    reasons: tuple[Reason, ...]


class SropGuard:
    """Per-thread record of delivered frames and the sigreturn verdicts."""

    def __init__(self, facts: object) -> None:
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


def context_violations(frame: SigFrame, facts: object, mem: Memory,
                       rec: Delivered | None = None) -> list[Reason]:
    """The saved context against the rules sigreturn applies: the frame's
    ABI's ``sigreturn_checks`` (x86: sigdbg/abi/x86/srop.py)."""
    checks = by_name(frame.abi).sigreturn_checks
    if checks is None:
        return []
    return [Reason(code, text, fatal) for code, text, fatal in checks.context(
        frame, facts, mem.read_upto, rec.fpstate if rec is not None else None)]
