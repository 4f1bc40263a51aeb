"""The shell's run commands over the engine's run control.

What resumes the tracee (stepping off our breakpoints, ``nexti`` over calls,
``continue`` to the policy's stops, ``step-sigreturn``, the interrupt) is
:class:`sigdbg.engine.runcontrol.RunControl`, on the session's
:class:`~sigdbg.backends.base.Control`.  This module keeps what is the
terminal's: Ctrl-C (SIGINT to us) asks the engine to interrupt while the
tracee runs, the events of a run are shown and remembered by the shell as
they come, and why it stopped becomes the toolbar's reason.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sigdbg.engine import events as ev
from sigdbg.engine import runcontrol
from sigdbg.engine.runcontrol import Halt, Run
from sigdbg.errors import UsageError
from sigdbg.names import signal_name

if TYPE_CHECKING:
    from sigdbg.engine.session import Session
    from sigdbg.shell.context import ShellContext as Shell


class RunControl:
    """Everything that resumes the tracee, on behalf of one shell."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self._engine: runcontrol.RunControl | None = None
        self._session: Session | None = None

    def engine(self) -> runcontrol.RunControl:
        """The engine's run control of the shell's current session."""
        s = self.shell.require_session()
        if self._engine is None or self._session is not s:
            self._engine = runcontrol.RunControl(s, s.control)
            self._session = s
        self._engine.catch_sigreturn = self.shell.catch_sigreturn
        return self._engine

    # -- Ctrl-C -----------------------------------------------------------------------------
    @property
    def interrupt_pending(self) -> bool:
        return self._engine is not None and self._engine.interrupt_pending

    def clear_interrupt(self) -> None:
        if self._engine is not None:
            self._engine.clear_interrupt()

    def interrupt(self) -> None:
        """Stop the running tracee (the engine's interrupt of its current thread)."""
        s = self.shell.session
        if s is None or not s.alive or self._engine is None:
            return
        self._engine.interrupt(s.task.tid)

    @contextmanager
    def resuming(self) -> Iterator[runcontrol.RunControl]:
        """While the tracee may run: Ctrl-C (SIGINT) interrupts it instead of us."""
        rc = self.engine()
        rc.begin_run()
        self.shell.running = True
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        try:
            yield rc
        finally:
            self.shell.running = False
            if main:
                signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)

    def _on_sigint(self, signum: int, frame: object) -> None:
        self.interrupt()

    # -- showing a run ----------------------------------------------------------------------
    def follow(self, run: Run) -> Halt | None:
        """Show and remember each event of ``run``; set the reason it stopped."""
        sh = self.shell
        s = sh.session
        while True:
            try:
                e = next(run)
            except StopIteration as done:
                halt: Halt | None = done.value
                break
            self._seen(e)
        if halt is None:
            if sh.session is s:
                sh.session_gone(None)
            return None
        at = halt.event
        if halt.why == "exited":
            sh.session_gone(at)
        elif halt.why == "interrupted":
            sh.reason = "interrupted"
            sh.write(f"[pid {s.pid if s is not None else '?'}] interrupted")
        elif halt.why == "breakpoint" and isinstance(at, ev.Breakpoint):
            num = sh.breakpoint_number(at.address)
            sh.reason = f"breakpoint {num}" if num is not None else "step"
        elif halt.reason:
            sh.reason = halt.reason
        return halt

    def _seen(self, e: ev.Event) -> None:
        sh = self.shell
        if isinstance(e, ev.Breakpoint):
            if sh.breakpoint_number(e.address) is not None:
                sh.show_event(e)  # (a breakpoint no number names is shown as a step)
            return
        sh.show_event(e)
        match e:
            case ev.Exec():
                sh.on_exec()
            case ev.SignalDelivered():
                sh.last_siginfo = e.siginfo
            case ev.HandlerEntered():
                sh.entered(e)
            case ev.ContextRestored():
                sh.handler = None

    # -- the commands -----------------------------------------------------------------------
    def cont(self) -> None:
        s = self.shell.require_stopped()
        with self.resuming() as rc:
            self.follow(rc.run(s.task.tid))
        self.shell.show_location()

    def stepi(self, count: int = 1, *, over: bool = False) -> None:
        if count < 1:
            raise UsageError("the count must be at least 1")
        self.shell.require_stopped()
        with self.resuming() as rc:
            for _ in range(count):
                s = self.shell.require_stopped()
                tid = s.task.tid
                if over:
                    insn = self.shell.instruction_at(s.registers()[s.abi.pc])
                    halt = self.follow(rc.nexti(tid, insn))
                else:
                    halt = self.follow(rc.stepi(tid))
                if halt is None or halt.why != "step" or self.shell.session is not s:
                    break
        self.shell.show_location()

    def step_sigreturn(self) -> None:
        self.shell.require_stopped()
        h = self.shell.active_handler()
        if h is None:
            raise UsageError("not stopped in a signal handler (continue to a handler entry first)")
        with self.resuming() as rc:
            self.follow(rc.step_sigreturn(h.tid, h.frame))
        self.shell.show_location()

    def send_signal(self, sig: int, *, resume: bool) -> None:
        s = self.shell.require_stopped()
        self.engine().send_signal(s.task.tid, sig)
        if resume:
            self.cont()
        else:
            self.shell.write(f"{signal_name(sig)} queued for thread {s.task.tid}: "
                             "delivered when the program resumes")
