"""Running the session's tasks: resuming and waiting for them with the
session's bookkeeping of which are stopped and with what signal owed, our
breakpoints (int3, through the session's ``Control``), running to the
program's entry, and what run control asks of the session as a
:class:`~sigdbg.engine.runcontrol.RunHost` (``owed_signal``,
``step_thread``, ``resume_others``).  A part of
:class:`~sigdbg.engine.session.Session` (a mixin: the state it reads is the
session's, declared below; the event loop that drives it, ``events`` and
``_handle``, is the session's own)."""

from __future__ import annotations

import os
import signal
from collections import deque
from typing import TYPE_CHECKING

from sigdbg.backends.base import ResumeResult, SessionBackend, TracedTask, WaitResult
from sigdbg.backends.tracercontrol import TracerControl
from sigdbg.decode.memmap import MemoryMap
from sigdbg.engine import events as ev
from sigdbg.engine.policy import Pending, SignalPolicy
from sigdbg.engine.srop import SropGuard
from sigdbg.engine.stops import TRAP_BRKPT, TRAP_TRACE, Stop, classify
from sigdbg.errors import ProcessGone, SigdbgError, TargetError, UsageError
from sigdbg.names import signal_name

if TYPE_CHECKING:
    from sigdbg.abi import Abi
    from sigdbg.decode.auxv import AuxvReport

#: the "signal" to resume a task with that is held in a group-stop: not a
#: restart but PTRACE_LISTEN (kernel/ptrace.c), so it stays stopped until SIGCONT
LISTEN = -1


class Running:
    """Session._resume/_wait and their kin, breakpoints, ``run_to_entry`` and
    the ``RunHost`` methods (engine/session.py)."""

    # the session's state this part reads and sets
    tracer: SessionBackend
    control: TracerControl
    task: TracedTask
    pid: int
    policy: SignalPolicy
    breakpoints: dict[int, bytes]
    srop: SropGuard | None
    _maps: MemoryMap | None
    _pending: dict[int, Pending]
    _stopped: dict[int, int]
    _requeued: deque[Stop]
    _new_tids: set[int]
    _early_tids: set[int]
    _at_breakpoint: dict[int, int]
    _listening: set[int]
    _stepping: set[int]
    _cont_syscall: bool
    _quiet: set[int]
    _attach_stops: dict[int, Stop]

    if TYPE_CHECKING:  # the session's own (or its other parts'): declared, not shadowed
        @property
        def abi(self) -> Abi: ...

        @property
        def alive(self) -> bool: ...

        def require_stopped(self) -> TracedTask: ...

        def registers(self) -> dict[str, int]: ...

        def auxv(self) -> AuxvReport: ...

        def invalidate(self) -> None: ...

        def _handle(self, stop: Stop) -> list[ev.Event]: ...

        def _tid_gone(self, tid: int) -> None: ...

        def _quiet_step(self, tid: int, sig: int) -> bool: ...

        def _srop_inherit_early(self, child: int) -> None: ...

    # -- resuming and waiting --------------------------------------------------------
    def _resume(self, tid: int, sig: int = 0, step: bool = False,
                syscall: bool = False) -> None:
        t = self.tracer.tasks.get(tid)
        self._stopped.pop(tid, None)
        self._maps = None  # the program may map and unmap while it runs
        if self._attach_stops:
            self._attach_stops.pop(tid, None)  # resumed with its signal: handled
        if t is None:
            return
        if sig == LISTEN:  # held in a group-stop
            sig = 0
            if not step and self.policy.job_control:
                try:
                    t.listen()
                    self._listening.add(tid)
                    return
                except ProcessGone:
                    return
                except SigdbgError:
                    pass  # not a stop PTRACE_LISTEN accepts: restart it
        bp = self._at_breakpoint.pop(tid, None) if self._at_breakpoint else None
        if bp is not None and bp in self.breakpoints:
            if self._step_over_breakpoint(t, bp, sig):
                if step:
                    return  # that single step was the step asked for
                sig = 0
            else:
                return  # something else happened during the step: it is requeued
        if self._quiet and self._quiet_step(tid, sig):
            step = True
        try:
            if syscall or (self._cont_syscall and not step):
                t.syscall(sig)
            elif step:
                if tid not in self._pending:
                    self._stepping.add(tid)
                t.step(sig)
            else:
                t.cont(sig)
        except ProcessGone:
            pass

    def _step_over_breakpoint(self, t: TracedTask, address: int, sig: int) -> bool:
        """Execute the original instruction under our int3, then put it back.

        Returns False when the step ended in something other than our own trap
        (a signal, an exit): that stop is requeued for the main loop.
        """
        orig = self.breakpoints[address]
        t.write(address, orig)
        try:
            t.step(sig)
            stop = self._wait(t.tid)
        finally:
            if self.alive and t.tid in self.tracer.tasks:
                try:
                    t.write(address, t.abi.breakpoint_insn)
                except SigdbgError:
                    pass
        if stop.kind == "signal" and stop.sig == signal.SIGTRAP \
                and stop.si_code in (TRAP_TRACE, TRAP_BRKPT):
            return True
        self.requeue(stop)
        return False

    def _wait(self, tid: int = -1) -> Stop:
        if tid == -1 and self._requeued:
            stop = self._requeued.popleft()
            if stop.kind not in ("exited", "killed"):
                self._stopped[stop.tid] = 0
            return stop
        return self._stop_of(*self.tracer.wait_siginfo(tid))

    def _stop_of(self, res: WaitResult, info_raw: bytes | None) -> Stop:
        """The session's bookkeeping for a wait result, and its Stop."""
        got, status = res.tid, res.status
        if os.WIFSTOPPED(status):
            self._stopped[got] = 0
            if got not in self.tracer.tasks:
                # a new child reporting before its parent's PTRACE_EVENT_FORK/CLONE
                self._new_tids.add(got)
                self._early_tids.add(got)
                self.tracer.task(got, self.tracer.tgid_of(got) or self.pid)
                if self.srop is not None:
                    self._srop_inherit_early(got)
        else:
            self._stopped.pop(got, None)
        return classify(got, status, info_raw, True, res.pid)  # every tracee is SEIZEd

    def _resume_wait(self, tid: int, sig: int = 0, step: bool = False,
                     wait_tid: int = -1, syscall: bool = False) -> Stop:
        """``_resume`` then ``_wait``, as one backend call when nothing has
        to happen in between (no queued stop, no breakpoint to step over).
        ``syscall``: resume with PTRACE_SYSCALL."""
        t = self.tracer.tasks.get(tid)
        if t is None or self._requeued or tid in self._at_breakpoint or sig < 0 \
                or (self._quiet and tid in self._quiet):
            self._resume(tid, sig, step, syscall)
            return self._wait(wait_tid)
        r = self._resume_task(t, sig, step, wait_tid, syscall=syscall)
        return self._stop_of(r.wait, r.siginfo)

    def _resume_task(self, task: TracedTask, sig: int, step: bool, wait_tid: int,
                     peek_pc: bool = False, read_at_sp: int = 0,
                     syscall: bool = False) -> ResumeResult:
        """The backend's resume-and-wait for a task with nothing to step over."""
        self._stopped.pop(task.tid, None)
        self._maps = None  # the program may map and unmap while it runs
        if self._attach_stops:
            self._attach_stops.pop(task.tid, None)
        return self.tracer.resume_wait(task, sig, step, wait_tid, peek_pc, read_at_sp,
                                       syscall or (self._cont_syscall and not step))

    def requeue(self, stop: Stop) -> None:
        """Hand a stop seen by a stepping loop back to the main event loop.

        The task is taken out of the resumable set so nothing resumes it
        before the main loop has handled the stop.
        """
        self._stopped.pop(stop.tid, None)
        self._requeued.append(stop)

    def resume_all(self) -> None:
        """Resume every task we hold stopped, with the signal it is owed."""
        stopped = self._stopped
        if len(stopped) == 1:  # the usual case: the one task that just stopped
            ((tid, sig),) = stopped.items()
            self._resume(tid, sig)
            return
        for tid, sig in list(stopped.items()):
            self._resume(tid, sig)


    # -- breakpoints, entry, and what run control needs (engine/runcontrol.py) -------
    def insert_breakpoint(self, address: int) -> None:
        """Our breakpoint at ``address`` (the Control's, shared by every thread)."""
        task = self.require_stopped()
        if not task.abi.breakpoint_insn:  # never write x86's int3 into another arch's code
            raise UsageError(f"breakpoints are not supported in {task.abi} processes yet")
        self.control.insert_breakpoint(address)

    def remove_breakpoint(self, address: int) -> None:
        if address not in self.breakpoints:
            return
        if not self.alive:
            self.breakpoints.pop(address, None)
            return
        try:
            self.control.remove_breakpoint(address)
        except SigdbgError:
            self.breakpoints.pop(address, None)

    def remove_breakpoints(self) -> None:
        for a in list(self.breakpoints):
            self.remove_breakpoint(a)

    def run_to_entry(self) -> None:
        """Run to AT_ENTRY (the program's entry, after ld.so mapped the libraries)."""
        report = self.auxv()
        entry = report.get("AT_ENTRY")
        if entry is None:
            raise SigdbgError("the auxv has no AT_ENTRY")
        pc = self.registers()[self.abi.pc]
        if pc == entry.value:
            return
        self.insert_breakpoint(entry.value)
        try:
            while True:
                self.resume_all()
                stop = self._wait(self.pid)
                if stop.kind in ("exited", "killed"):
                    self._tid_gone(stop.tid)
                    what = (f"exited with status {stop.status}" if stop.kind == "exited"
                            else f"was killed by {signal_name(stop.sig)}")
                    raise TargetError(f"the program {what} before reaching its entry point")
                events = list(self._handle(stop))
                if any(isinstance(e, ev.Breakpoint) and e.address == entry.value for e in events):
                    break
        finally:
            self.remove_breakpoint(entry.value)
        self.invalidate()

    def owed_signal(self, tid: int) -> int:
        """The signal ``tid`` resumes with (run control's ``RunHost``)."""
        return self._stopped.get(tid, 0)

    def step_thread(self, tid: int) -> Stop:
        """One PTRACE_SINGLESTEP of ``tid`` with the signal it is owed, its
        stop taken by the caller (``RunHost``; breakpoints are the caller's
        to lift: engine/runcontrol.py ``RunControl.step``)."""
        sig = self._stopped.get(tid, 0)
        self._at_breakpoint.pop(tid, None)  # lifted by the caller, not by _resume
        try:
            self._resume(tid, sig, step=True)  # (LISTEN: a step restarts a stopped task)
            return self._wait(tid)
        finally:
            self._stepping.discard(tid)  # the caller takes the stop

    def resume_others(self, tid: int) -> None:
        """Resume every task held stopped but ``tid`` (``RunHost``)."""
        for other, sig in list(self._stopped.items()):
            if other != tid:
                self._resume(other, sig)
