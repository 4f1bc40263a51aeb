"""What ``sigdbg trace`` says about the trace as a whole: the ``-c`` table
(signals counted by si_code, disposition, handler and restorer, with the
--srop alerts) and the live status line on a terminal with ``-o FILE``."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from typing import IO, TYPE_CHECKING, Any

from sigdbg.render.text import Style

if TYPE_CHECKING:
    from sigdbg.engine.events import Event
    from sigdbg.engine.session import Session


# -- -c --------------------------------------------------------------------------------------
@dataclasses.dataclass
class SignalStats:
    count: int = 0
    codes: Counter[str] = dataclasses.field(default_factory=Counter)
    dispositions: Counter[str] = dataclasses.field(default_factory=Counter)
    handlers: Counter[str] = dataclasses.field(default_factory=Counter)
    restorers: Counter[str] = dataclasses.field(default_factory=Counter)


class Summary:
    """strace -c for signals: what came, how, and where it went."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.stats: dict[int, SignalStats] = {}
        self.names: dict[tuple[int, int], str] = {}  # (pid, handler) -> text
        #: --srop: sigreturns judged, and the alerts (never hidden by -c)
        self.sigreturns = 0
        self.alerts: list[str] = []

    def add(self, e: Event) -> None:
        from sigdbg.engine import events as ev
        from sigdbg.render.text import restorer_short

        if isinstance(e, ev.SignalDelivered):
            s = self.stats.setdefault(e.siginfo.si_signo, SignalStats())
            s.count += 1
            s.codes[e.siginfo.code_name] += 1
            s.dispositions[e.disposition] += 1
        elif isinstance(e, ev.HandlerEntered):
            s = self.stats.setdefault(e.frame.sig, SignalStats())
            s.handlers[self._handler(e)] += 1
            s.restorers[restorer_short(e.frame.restorer)] += 1
        elif isinstance(e, ev.SigreturnChecked):
            self.sigreturns += 1
            if e.verdict.alert:
                from sigdbg.render.events import verdict_text

                self.alerts.append(verdict_text(e))

    def _handler(self, e: Any) -> str:
        key = (e.pid, e.handler)
        text = self.names.get(key)
        if text is None:  # once per distinct handler: symbolized while stopped there
            text = f"{e.handler:#x}"
            task = self.session.tracer.tasks.get(e.tid)
            if task is not None:
                try:
                    ref = self.session.view(task).lookup(e.handler)
                except Exception:  # noqa: BLE001 - no symbol: the address alone
                    ref = None
                if ref is not None:
                    text += f" <{ref}>"
            self.names[key] = text
        return text

    def render(self, st: Style) -> str:
        from sigdbg.names.signals import glibc_signal_name

        def many(c: Counter[str]) -> str:
            if not c:
                return "-"
            return ", ".join(k if len(c) == 1 else f"{k} x{n}" for k, n in c.most_common())

        rows = [("signal", "count", "si_codes", "disposition", "handler", "restorer")]
        total = 0
        for sig in sorted(self.stats):
            s = self.stats[sig]
            total += s.count
            rows.append((glibc_signal_name(sig), str(s.count), many(s.codes),
                         many(s.dispositions), st.text(many(s.handlers)),
                         st.text(many(s.restorers))))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = []
        for n, r in enumerate(rows):
            cells = [r[0].ljust(widths[0]), r[1].rjust(widths[1])]
            cells += [c.ljust(w) for c, w in zip(r[2:], widths[2:], strict=True)]
            lines.append("  ".join(cells).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("  ".join("-" * w for w in widths))
        lines.append(f"{'total'.ljust(widths[0])}  {str(total).rjust(widths[1])}")
        if self.session.srop is not None:
            lines.append(f"sigreturns checked: {self.sigreturns}, SROP alerts: "
                         f"{len(self.alerts)}")
            lines.extend(self.alerts)
        return "\n".join(lines) + "\n"


# -- the live status line ---------------------------------------------------------------------
class StatusLine:
    """``-o FILE`` on a terminal: a line on stderr refreshed a few times a
    second by a thread of its own.  The trace loop only bumps ``count``."""

    INTERVAL = 0.25  # at most four refreshes a second

    def __init__(self, stream: IO[str], target: str) -> None:
        self.stream = stream
        self.target = target
        self.count = 0
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sigdbg-status", daemon=True)
        self._last = (self.start, 0)

    def begin(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            now = time.monotonic()
            n = self.count
            t0, n0 = self._last
            rate = (n - n0) / (now - t0) if now > t0 else 0.0
            self._last = (now, n)
            self._write(f"\r\x1b[K{self._words(n, now - self.start)}, {rate:.0f}/s")

    def _words(self, n: int, elapsed: float) -> str:
        m, s = divmod(int(elapsed), 60)
        return f"sigdbg: {n} signal{'s' if n != 1 else ''}, {m}:{s:02d} elapsed -> {self.target}"

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def end(self, interrupted: bool) -> None:
        """Stop the refreshes; leave one summary line."""
        self._stop.set()
        self._thread.join()
        elapsed = time.monotonic() - self.start
        n = self.count
        rate = n / elapsed if elapsed > 0 else 0.0
        why = "interrupted: " if interrupted else ""
        self._write(f"\r\x1b[Ksigdbg: {why}{n} signal{'s' if n != 1 else ''} in "
                    f"{elapsed:.1f} s ({rate:.0f}/s), trace in {self.target}\n")
