"""What ``-t``/``-tt``/``-ttt``/``-r`` and ``-k`` add to each event of
``sigdbg trace``: the time of the line, and the stack of the interrupted
context (the engine's unwinder, engine/unwind.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigdbg.engine.events import Event
    from sigdbg.engine.session import Session


# -- timestamps -----------------------------------------------------------------------------------
class Clock:
    """strace's -t (time of day), -tt (+ microseconds), -ttt (epoch) and -r
    (since the previous line).  Read when the line is written: the tracee is
    stopped at the event then."""

    def __init__(self, level: int, relative: bool) -> None:
        self.level = level
        self.relative = relative
        self.last: float | None = None

    def now(self) -> tuple[str, float]:
        """(JSON key, value): epoch seconds, or seconds since the previous line."""
        t = time.time()
        if self.relative:
            prev = self.last
            self.last = t
            return "relative", round(0.0 if prev is None else t - prev, 6)
        return "time", round(t, 6)

    def text(self, key: str, value: float) -> str:
        if key == "relative":
            return f"{value:13.6f}"
        if self.level >= 3:
            return f"{value:.6f}"
        stamp = time.strftime("%H:%M:%S", time.localtime(value))
        if self.level == 2:
            stamp += f".{int(round(value % 1 * 1e6)) % 1000000:06d}"
        return stamp


# -- -k ----------------------------------------------------------------------------------------
class Stacks:
    """The interrupted context's stack per delivery: the engine's unwinder, one
    per address space (its CFI cache), told the restorers and signals of the
    frames the handlers were entered with (so a nested signal's outer frame is
    named by its signal, and a program's own restorer is recognised)."""

    #: frame addresses remembered per address space (a bound, not a limit on depth)
    KEPT = 64

    def __init__(self, session: Session) -> None:
        self.session = session
        self.unwinders: dict[tuple[int, str], Any] = {}
        self.seen: dict[tuple[int, str], tuple[set[int], dict[int, int]]] = {}

    def of(self, e: Event) -> tuple[Any, ...] | None:
        from sigdbg.engine import events as ev
        from sigdbg.engine.unwind import InspectorSource, Unwinder, context_regs

        s = self.session
        task = s.tracer.tasks.get(e.tid)
        if task is None:
            return None
        view = s.view(task)
        key = (task.pid, view.exe_path())
        restorers, signals = self.seen.setdefault(key, (set(), {}))
        if isinstance(e, ev.HandlerEntered):
            # the interrupted registers, saved by the kernel
            regs: dict[str, int] | None = context_regs(task.abi, e.frame.mcontext)
            restorers.add(e.frame.pretcode)
            signals.pop(e.frame.address, None)
            signals[e.frame.address] = e.frame.sig
            while len(signals) > self.KEPT:
                del signals[next(iter(signals))]
        elif isinstance(e, ev.SignalDelivered) and e.disposition in ("passed", "suppressed"):
            regs = None  # stopped at the delivery: the registers are the context
        else:
            return None
        source = InspectorSource(view, signals.get, s.breakpoints)
        u = self.unwinders.get(key)
        if u is None:
            u = self.unwinders[key] = Unwinder(source)
        u.source = source
        view._maps = None  # the program may have mapped code since the last signal
        return u.unwind(regs, restorers=frozenset(restorers))
