"""The GDB front end's run commands: ``step-sigreturn`` (the engine's
sigreturn walk over the GDB backend's :class:`GdbControl`) and ``catch``
(continue to the next handler entry), both as :mod:`sigdbg.engine.events`
that the extension renders with the ptrace front ends' code."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Generator, Iterator
from typing import Literal

import gdb

from sigdbg.backends.gdb.control import GdbControl
from sigdbg.backends.gdb.task import GdbTask
from sigdbg.backends.gdb.values import gdb_disassemble
from sigdbg.backends.stopcodes import Stop
from sigdbg.decode.sigframe import SigFrame
from sigdbg.decode.siginfo import SigInfo
from sigdbg.engine import events as ev
from sigdbg.engine.sigreturn import ControlHost, leftover_events, step_through_sigreturn
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.gdb.inspector import GdbInspector
from sigdbg.names import signal_number


def gdb_step_sigreturn(insp: GdbInspector, entry: SigFrame) -> list[ev.Event]:
    """``sigdbg step-sigreturn``: the engine's sigreturn walk
    (``engine/sigreturn.py``, the one the ptrace front ends run) over
    :class:`GdbControl`, from wherever in the handler of ``entry`` the
    thread stands; then the process's end, if the walk saw it."""
    control = GdbControl(insp)
    tid = insp.current_task().tid
    host = ControlHost(control, insp)
    task = control.task(tid)
    out = [_gdb_text(e, task) for e in step_through_sigreturn(host, control, task, entry,
                                                               at_entry=False)]
    return out + leftover_events(host)


def _gdb_text(e: ev.Event, task: GdbTask) -> ev.Event:
    """A step's text from gdb's disassembler where capstone gave none
    (right after the step: the restorer's text does not change)."""
    if isinstance(e, ev.SigreturnStep) and e.step.text.startswith("(.byte"):
        try:
            got = gdb_disassemble(task.read_upto(e.step.address, 16), e.step.address, 1)
        except (gdb.error, SigdbgError):
            return e
        if got:
            return dataclasses.replace(e, step=dataclasses.replace(
                e.step, bytes=got[0][1], text=got[0][2]))
    return e



class GdbRunner:
    """``catch`` over :class:`GdbControl`: continue to the next handler entry.

    A generator of :mod:`sigdbg.engine.events`, like the ptrace engine's, so
    the front end renders them with the same code.  (``step-sigreturn`` is
    :func:`gdb_step_sigreturn`: the engine's walk over :class:`GdbControl`.)
    """

    def __init__(self, insp: GdbInspector) -> None:
        self.insp = insp
        task = insp.current_task()
        if task.core is not None:
            raise UsageError("a core file cannot run: this needs a live process")
        self.abi = task.abi
        self.pid = task.pid
        self.tid = task.tid

    def _regs(self) -> dict[str, int]:
        self.insp.invalidate()
        return self.insp.current_task().registers(gdb.newest_frame())

    def _ended(self, stop: Stop) -> ev.Event:
        if stop.kind == "killed":
            return ev.Killed(self.pid, self.pid, stop.sig, False)
        return ev.Exited(self.pid, self.pid, stop.status)

    def _deliver(self, control: GdbControl, tid: int, info: SigInfo,
                 pc: int) -> Generator[ev.Event, None, SigFrame | None | Literal[False]]:
        """At a signal-delivery stop of ``tid``: a step delivers the signal.
        Returns the handler's frame, None (no handler ran: ignored, default
        or not passed) or False (the process ended)."""
        stop = control.resume_wait(tid, info.si_signo, "step")
        if stop.kind in ("exited", "killed"):
            yield ev.SignalDelivered(self.pid, tid, info, "fatal", pc)
            yield self._ended(stop)
            return False
        frame = self._entered_handler()
        if frame is None:
            yield ev.SignalDelivered(self.pid, tid, info, "passed", pc)
            return None
        yield ev.SignalDelivered(self.pid, tid, info, "handler", pc)
        yield ev.HandlerEntered(self.pid, tid, self._regs()[self.abi.pc], frame)
        return frame

    # catch ---------------------------------------------------------------------------
    def catch(self, signals: list[str], limit: int = 1000) -> Iterator[ev.Event]:
        """Continue to the next signal delivered to a handler; stop at the
        handler's first instruction (:class:`GdbControl` with a ``catch
        signal`` of ``signals``, then a step: stepping from a signal stop
        delivers the signal and stops in the handler).  Already stopped for
        a signal (``Program received signal ...``): that one is delivered
        first."""
        numbers = {signal_number(s) for s in signals}
        control = GdbControl(self.insp, numbers)
        pending = self._pending_signal(numbers)
        tid = self.tid
        for _ in range(limit):
            if pending is None:
                stop = control.resume_wait(tid, 0, "cont")
                if stop.kind in ("exited", "killed"):
                    yield self._ended(stop)
                    return
                pc = self._regs()[self.abi.pc]
                tid = stop.tid  # the thread that stopped
                if stop.kind != "signal":
                    if stop.sig in (signal.SIGTRAP, signal.SIGINT):
                        why = "interrupted" if stop.sig == signal.SIGINT else \
                            "stopped (a breakpoint?)"
                        raise UsageError(f"{why} at {pc:#x} before a signal was caught")
                    # a signal gdb stops for (handle ... stop) but not one to catch
                    yield ev.SignalDelivered(self.pid, tid, self.insp.siginfo(), "passed", pc)
                    continue
                pending = self.insp.siginfo()
            info, pending = pending, None
            frame = yield from self._deliver(control, tid, info, self._regs()[self.abi.pc])
            if frame is not None:
                return
        raise UsageError(f"no handler entered after {limit} signals")

    def _pending_signal(self, wanted: set[int]) -> SigInfo | None:
        """The signal of a signal-delivery stop the thread is in, if any
        (gdb passes it on the next resume)."""
        try:
            info = self.insp.siginfo()
        except SigdbgError:
            return None
        if info.si_signo in (0, 5, 2) or (wanted and info.si_signo not in wanted):
            return None  # none, SIGTRAP (breakpoints, steps), SIGINT (not passed)
        return info

    def _entered_handler(self) -> SigFrame | None:
        """The frame when the thread stands at a handler's first instruction."""
        regs = self._regs()
        sp = regs[self.abi.sp]
        newest = gdb.newest_frame()
        try:
            older = newest.older()
            tramp = older is not None and older.type() == gdb.SIGTRAMP_FRAME and \
                int(older.read_register("sp")) == sp + self.abi.word
        except gdb.error:
            tramp = False
        if not tramp and not self.insp.is_pretcode(self.insp._word(sp)):
            return None
        return self.insp.sigframe(sp, signo=None)
