"""What the sigreturn walk (``engine/sigreturn.py``) needs of whoever runs it.

:class:`WalkHost` is the session's side of the walk as a Protocol (the other
threads' stops, the signal policy, --srop), so that ``engine/session.py``
and the walk do not import each other; :class:`ControlHost` is a
``WalkHost`` over a :class:`~sigdbg.backends.base.Control` alone (gdb, the
fake backend of the unit tests), and :func:`leftover_events` what the stops
it kept mean to a caller without an event loop of its own.
"""

from __future__ import annotations

from typing import Any, Protocol

from sigdbg.backends.base import Control, How
from sigdbg.decode.sigframe import RestorerContext
from sigdbg.engine import events as ev
from sigdbg.engine.srop import SropGuard
from sigdbg.engine.stops import Stop


class WalkPolicy(Protocol):
    def passes(self, sig: int) -> bool: ...


class WalkHost(Protocol):
    """What the walk needs of the session that runs it, beyond the backend's
    :class:`~sigdbg.backends.base.Target` (the thread it reads) and
    :class:`~sigdbg.backends.base.Control` (what it does to the thread:
    watch the restorer, read the signal masks).  ``Session`` implements it
    for the ptrace front ends (its ``_resume_wait`` keeps the other threads'
    stops and steps over the shell's breakpoints); :class:`ControlHost` for
    a backend driven by nothing else (gdb, the fake backend of the unit
    tests).  A Protocol rather than an import of the session, so that
    ``engine/session.py`` (which calls the walk) and this module do not
    import each other."""

    #: tid -> sigreturns in a row that left a signal deliverable (kept
    #: between walks; see ``_Walk.streak``)
    _no_progress: dict[int, int]

    @property
    def policy(self) -> WalkPolicy: ...

    def view(self, task: Any) -> RestorerContext:
        """The decoder caches of ``task``'s address space (``Any``: the
        session's own task type, which a Protocol parameter cannot narrow to)."""
        ...

    def requeue(self, stop: Stop) -> None:
        """Hand a stop the walk does not own back to the main event loop."""
        ...

    def _resume_wait(self, tid: int, sig: int = 0, step: bool = False,
                     wait_tid: int = -1, syscall: bool = False) -> Stop:
        """:meth:`Control.resume_wait <sigdbg.backends.base.Control.resume_wait>`
        (PTRACE_SINGLESTEP if ``step``, PTRACE_SYSCALL if ``syscall``) plus
        the host's bookkeeping of the stops it sees."""
        ...

    def _handle(self, stop: Stop) -> list[ev.Event]:
        """The session's own events for a stop (fork, clone, ...)."""
        ...

    def _progressed(self, tid: int) -> None: ...

    #: forged-sigreturn detection (engine/srop.py), None unless --srop
    srop: SropGuard | None

    def srop_stop(self, stop: Stop, task: Any) -> list[ev.Event]:
        """The verdict at a seccomp or syscall-entry stop of a sigreturn."""
        ...

    def srop_before_syscall(self, task: Any, regs: dict[str, int],
                            code: bytes) -> list[ev.Event]:
        """The verdict for a sigreturn about to be stepped over (no filter)."""
        ...


class _PassAll:
    def passes(self, sig: int) -> bool:
        return True


class ControlHost:
    """A :class:`WalkHost` over a :class:`~sigdbg.backends.base.Control`
    alone: every signal passed, no --srop, and the stops the walk hands back
    (an exit, a group-stop...) kept in :attr:`leftover` for the caller.
    The GDB backend's ``step-sigreturn`` and the fake-backend unit tests
    run the walk on it."""

    srop: SropGuard | None = None

    def __init__(self, control: Control, view: RestorerContext,
                 policy: WalkPolicy | None = None) -> None:
        self.control = control
        self._view = view
        self._policy = policy or _PassAll()
        self._no_progress: dict[int, int] = {}
        #: stops the walk did not own, in order (handed back by ``requeue``)
        self.leftover: list[Stop] = []

    @property
    def policy(self) -> WalkPolicy:
        return self._policy

    def view(self, task: Any) -> RestorerContext:
        return self._view

    def requeue(self, stop: Stop) -> None:
        self.leftover.append(stop)

    def _resume_wait(self, tid: int, sig: int = 0, step: bool = False,
                     wait_tid: int = -1, syscall: bool = False) -> Stop:
        how: How = "syscall" if syscall else "step" if step else "cont"
        return self.control.resume_wait(tid, sig, how, wait_tid)

    def _handle(self, stop: Stop) -> list[ev.Event]:
        return []  # no forks, clones or seccomp stops to keep books on

    def _progressed(self, tid: int) -> None:
        self._no_progress.pop(tid, None)

    def srop_stop(self, stop: Stop, task: Any) -> list[ev.Event]:
        return []

    def srop_before_syscall(self, task: Any, regs: dict[str, int],
                            code: bytes) -> list[ev.Event]:
        return []


def leftover_events(host: ControlHost) -> list[ev.Event]:
    """What the stops a walk handed back mean to a caller that has no event
    loop of its own: the process's end (exit, kill).  Other stops (a
    group-stop, an interrupt) leave the thread stopped where it is."""
    out: list[ev.Event] = []
    for stop in host.leftover:
        if stop.kind == "exited":
            out.append(ev.Exited(stop.pid or stop.tid, stop.tid, stop.status))
        elif stop.kind == "killed":
            out.append(ev.Killed(stop.pid or stop.tid, stop.tid, stop.sig,
                                 bool(stop.status & 0x80)))
    return out
