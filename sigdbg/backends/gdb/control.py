"""The GDB backend's ``Control``: gdb runs the process, its stops classified as ``Stop``.

The engine's sigreturn walk (``engine/sigreturn.py``) and ``catch`` run on
:class:`GdbControl` from the GDB front end (``sigdbg/gdb/runner.py``); it
knows of its owner only a :class:`TaskSource`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol

import gdb

from sigdbg.backends.base import Control, How
from sigdbg.backends.gdb.stops import Catchpoint, Stops, TempCatch, delete_breakpoint
from sigdbg.backends.gdb.task import GdbTask
from sigdbg.backends.gdb.values import value_bytes
from sigdbg.backends.stopcodes import PTRACE_EVENT_EXEC, Stop
from sigdbg.errors import FeatureUnavailable, ProcessGone, SigdbgError, TargetError, UsageError
from sigdbg.names import signal_number


class TaskSource(Protocol):
    """What :class:`GdbControl` needs of its owner: the selected thread as a
    :class:`GdbTask`, made anew after :meth:`invalidate` (the process ran,
    or another thread is selected).  The front end's ``GdbInspector`` is one."""

    def current_task(self) -> GdbTask: ...

    def invalidate(self) -> None: ...


class GdbControl:
    """:class:`~sigdbg.backends.base.Control` over gdb's selected inferior.

    gdb runs the process (its ``continue`` and ``stepi``, with its stop
    printing suppressed); each resume is synchronous, and the stop it ended
    with is classified as the ptrace backend classifies a waitpid status,
    with the real siginfo of the stop (``$_siginfo``, in the inferior's
    layout: ``Stop.siginfo_abi``):

    - a signal: a temporary ``catch signal`` (every signal but SIGTRAP and
      SIGINT) stops each one at its delivery -> "signal";
    - our execute breakpoint (:meth:`watch_execute`: a thread-specific
      hardware breakpoint, so the text is left alone) and a finished
      ``stepi`` (also one that landed on a user's breakpoint) -> "signal"
      SIGTRAP (si_code TRAP_HWBKPT, TRAP_TRACE...; a ``stepi`` that
      delivered a signal into its handler, 5);
    - ``catch syscall`` of the sigreturn calls (``how="syscall"``) -> "syscall";
    - the process gone -> "exited" / "killed";
    - anything else (a user's breakpoint or watchpoint, Ctrl-C, a stop
      signal) -> "interrupt": the debugger stopped it for its own reasons.

    gdb decides which signal a resume delivers (its ``handle ... pass``
    table; a caught signal is passed): ``sig`` is not used.  Only the walk's
    thread is stepped (``stepi`` under scheduler-locking); ``continue``
    lets every thread run, as gdb does.
    """

    def __init__(self, insp: TaskSource, catch: set[int] | None = None) -> None:
        self.insp = insp
        #: the signals a "cont" stops for at their delivery (empty: every one
        #: but SIGTRAP and SIGINT, which are gdb's own)
        self.catch = catch or set()
        task = insp.current_task()
        if task.core is not None:
            raise UsageError("a core file cannot run: this needs a live process")
        self.abi = task.abi
        self.pid = task.pid
        self._watch: dict[int, gdb.Breakpoint] = {}
        self._breakpoints: dict[int, gdb.Breakpoint] = {}
        self._stashed: Stop | None = None
        self._last_sig = 0  #: the last signal seen: what a process that died was killed by

    # the thread --------------------------------------------------------------------------
    def _thread(self, tid: int) -> gdb.InferiorThread:
        inf = gdb.selected_inferior()
        if inf.pid != self.pid:
            raise ProcessGone(f"process {self.pid} is gone")
        for t in inf.threads():
            if t.is_valid() and int(t.ptid[1] or inf.pid) == tid:
                return t
        raise ProcessGone(f"thread {tid} is gone")

    def task(self, tid: int) -> GdbTask:
        thread = self._thread(tid)
        if gdb.selected_thread() != thread:
            thread.switch()
        self.insp.invalidate()
        t = self.insp.current_task()
        return GdbTask(t.inferior, thread, t.abi, None, newest=True)

    def _alive(self) -> bool:
        t = gdb.selected_thread()
        return gdb.selected_inferior().pid == self.pid and t is not None and t.is_valid()

    # running -------------------------------------------------------------------------------
    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        self._stashed = self.resume_wait(tid, sig, how)

    def wait(self, tid: int = -1) -> Stop:
        stop, self._stashed = self._stashed, None
        if stop is None:
            raise ProcessGone("nothing was resumed: gdb's resumes are synchronous")
        return stop

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        self._thread(tid).switch()
        signals = Catchpoint(self.catch) if how != "step" else None
        syscalls = TempCatch(f"catch syscall {self.abi.rt_sigreturn_nr}" + (
            f" {self.abi.sigreturn_nr}" if self.abi.sigreturn_nr is not None else "")) \
            if how == "syscall" else None
        execs = TempCatch("catch exec") if how != "step" else None
        try:
            caught = signals.hits if signals is not None else 0
            st = Stops().run("stepi" if how == "step" else "continue")
            if not self._alive():
                if st.exit_code is not None or not self._last_sig:
                    return Stop(tid, "exited", self.pid, status=st.exit_code or 0)
                return Stop(tid, "killed", self.pid, sig=self._last_sig)
            thread = gdb.selected_thread()
            now = int(thread.ptid[1] or self.pid)
            if signals is not None and signals.hits > caught:
                raw = self._siginfo_raw()
                signo = int.from_bytes(raw[:4], "little") if raw else 0
                self._last_sig = signo
                return Stop(now, "signal", self.pid, sig=signo, siginfo_raw=raw,
                            siginfo_abi=self.abi.name)
            if syscalls is not None and syscalls.hit():
                return Stop(now, "syscall", self.pid, sig=signal.SIGTRAP)
            if execs is not None and execs.hit():
                return Stop(now, "event", self.pid, sig=signal.SIGTRAP, event=PTRACE_EVENT_EXEC)
            last = st.stops[-1] if st.stops else None
            ours = isinstance(last, gdb.BreakpointEvent) and any(
                b in self._watch.values() for b in last.breakpoints)
            # a stepi always ends after one instruction (or a delivery into a
            # handler); a breakpoint of the user's where it landed is reported
            # with it but does not make it less of a step
            plain_step = how == "step" and not isinstance(last, gdb.SignalEvent)
            if ours or plain_step:
                return Stop(now, "signal", self.pid, sig=signal.SIGTRAP,
                            siginfo_raw=self._siginfo_raw(), siginfo_abi=self.abi.name)
            stopsig = signal_number(st.signal) if st.signal else signal.SIGTRAP
            if stopsig in _STOP_SIGNALS:  # the process stopped (job control)
                return Stop(now, "group", self.pid, sig=stopsig)
            return Stop(now, "interrupt", self.pid, sig=stopsig)
        finally:
            if signals is not None:
                signals.delete()
            for catch in (syscalls, execs):
                if catch is not None:
                    catch.delete()
            self.insp.invalidate()

    def _siginfo_raw(self) -> bytes | None:
        try:
            value = gdb.parse_and_eval("$_siginfo")
            if value.type.code == gdb.TYPE_CODE_VOID:
                return None
            return value_bytes(value)
        except gdb.error:
            return None

    # breakpoints ---------------------------------------------------------------------------
    def insert_breakpoint(self, address: int) -> None:
        if address not in self._breakpoints:
            bp = gdb.Breakpoint(f"*{address:#x}", internal=True)
            bp.silent = True
            self._breakpoints[address] = bp

    def remove_breakpoint(self, address: int) -> None:
        delete_breakpoint(self._breakpoints.pop(address, None))

    def breakpoint_addresses(self) -> Collection[int]:
        return self._breakpoints.keys()

    def breakpoint_hit(self, stop: Stop) -> int | None:
        """gdb reports its breakpoints with the pc on them already (an
        "interrupt" stop here): ours when the pc is one of our addresses."""
        if stop.kind != "interrupt" or not self._breakpoints:
            return None
        try:
            pc = self.task(stop.tid).pc()
        except SigdbgError:
            return None
        return pc if pc in self._breakpoints else None

    def send_signal(self, tid: int, sig: int) -> None:
        """A process-directed ``kill`` (gdb's Python has no tgkill; gdb
        picks the thread that takes it as the kernel does)."""
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            raise ProcessGone(f"process {self.pid} is gone") from None
        except OSError as exc:
            raise TargetError(f"cannot send signal {sig}: {exc.strerror}") from None

    def watch_execute(self, tid: int, address: int) -> None:
        self.unwatch(tid)
        try:
            bp = gdb.Breakpoint(f"*{address:#x}", type=gdb.BP_HARDWARE_BREAKPOINT,
                                internal=True)
        except (gdb.error, AttributeError, RuntimeError) as exc:
            raise FeatureUnavailable(f"no hardware breakpoint: {exc}") from None
        bp.silent = True
        bp.thread = self._thread(tid).num
        self._watch[tid] = bp

    def unwatch(self, tid: int) -> None:
        delete_breakpoint(self._watch.pop(tid, None))

    def interrupt(self, tid: int) -> None:
        gdb.execute("interrupt", to_string=True)

    # signal state (a live native inferior: /proc) --------------------------------------------
    def _status_field(self, tid: int, name: str) -> int:
        try:
            with open(f"/proc/{self.pid}/task/{tid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(name.encode() + b":"):
                        return int(line.split()[1], 16)
        except FileNotFoundError:
            raise ProcessGone(f"thread {tid} is gone") from None
        except (OSError, ValueError) as exc:
            raise TargetError(f"cannot read the status of thread {tid}: {exc}") from None
        raise TargetError(f"no {name} in /proc/{self.pid}/task/{tid}/status")

    def sigmask(self, tid: int) -> int:
        return self._status_field(tid, "SigBlk")

    def pending_signals(self, tid: int) -> int:
        return self._status_field(tid, "SigPnd") | self._status_field(tid, "ShdPnd")

    def event_msg(self, tid: int) -> int:
        raise FeatureUnavailable("gdb reports no PTRACE_EVENT stops")

    def detach(self) -> None:
        for tid in list(self._watch):
            self.unwatch(tid)
        for address in list(self._breakpoints):
            self.remove_breakpoint(address)
        gdb.execute("detach", to_string=True)


_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})


if TYPE_CHECKING:  # mypy --strict proves the Protocol
    _CONTROL: type[Control] = GdbControl
