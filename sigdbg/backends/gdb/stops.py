"""One gdb execution command with its stops collected, and the temporary,
silent catchpoints :class:`~sigdbg.backends.gdb.control.GdbControl` sets
around it (gdb's Python has no API for ``catch signal/syscall/exec``: they
are made with the CLI command and found again by ``$bpnum``)."""

from __future__ import annotations

import gdb

from sigdbg.backends.gdb.values import parameter
from sigdbg.errors import TargetError
from sigdbg.names import signal_name


def delete_breakpoint(bp: gdb.Breakpoint | None) -> None:
    """Delete one of our breakpoints; gdb refuses some deletions once the
    process is gone ("Target 'exec' cannot support this command"), and then
    there is nothing left to remove them from."""
    if bp is not None and bp.is_valid():
        try:
            bp.delete()
        except gdb.error:
            pass


class TempCatch:
    """A temporary, silent catchpoint (``catch syscall N``, ``catch exec``)."""

    def __init__(self, command: str) -> None:
        gdb.execute(command, to_string=True)
        num = int(gdb.parse_and_eval("$bpnum"))
        self.bp = next((b for b in gdb.breakpoints() if b.number == num), None)
        if self.bp is not None:
            self.bp.silent = True
        self.hits = self.bp.hit_count if self.bp is not None else 0

    def hit(self) -> bool:
        return self.bp is not None and self.bp.is_valid() and self.bp.hit_count > self.hits

    def delete(self) -> None:
        delete_breakpoint(self.bp)


class Stops:
    """Collects gdb's stop and exit events while one execution command runs."""

    def __init__(self) -> None:
        self.stops: list[gdb.StopEvent] = []
        self.exit_code: int | None = None
        self.exited = False

    def _stop(self, event: gdb.StopEvent) -> None:
        self.stops.append(event)

    def _exit(self, event: gdb.ExitedEvent) -> None:
        self.exited = True
        code = getattr(event, "exit_code", None)
        self.exit_code = None if code is None else int(code)

    def run(self, command: str) -> Stops:
        """Run ``continue`` or ``stepi`` with gdb's stop printing suppressed
        (``to_string`` cannot capture it; ``suppress-cli-notifications`` is
        gdb >= 12): the events are the report.  Signals and exits still show."""
        gdb.events.stop.connect(self._stop)
        gdb.events.exited.connect(self._exit)
        quiet = parameter("suppress-cli-notifications")
        # a stepi moves only this thread (gdb's default lets the others run)
        locking = parameter("scheduler-locking") if command == "stepi" else None
        try:
            if quiet is False:
                gdb.execute("set suppress-cli-notifications on", to_string=True)
            if locking in ("off", "replay"):
                gdb.execute("set scheduler-locking step", to_string=True)
            gdb.execute(command, to_string=True)
        except gdb.error as exc:
            if not self.exited:
                raise TargetError(f"{command}: {exc}") from None
        finally:
            if quiet is False:
                gdb.execute("set suppress-cli-notifications off", to_string=True)
            if locking in ("off", "replay"):
                try:
                    gdb.execute(f"set scheduler-locking {locking}", to_string=True)
                except gdb.error:
                    pass  # the process is gone ("Target 'exec' cannot support ...")
            gdb.events.stop.disconnect(self._stop)
            gdb.events.exited.disconnect(self._exit)
        return self

    @property
    def signal(self) -> str | None:
        """The name of the signal the last stop was for (None: not a signal stop)."""
        last = self.stops[-1] if self.stops else None
        return str(last.stop_signal) if isinstance(last, gdb.SignalEvent) else None


class Catchpoint:
    """A temporary, silent ``catch signal`` (gdb has no Python API for it)."""

    def __init__(self, numbers: set[int]) -> None:
        names = sorted(signal_name(n) if n < 32 else f"SIG{n}" for n in numbers)
        gdb.execute("catch signal " + " ".join(names), to_string=True)
        num = int(gdb.parse_and_eval("$bpnum"))
        self.bp = next((b for b in gdb.breakpoints() if b.number == num), None)
        if self.bp is None:
            raise TargetError("gdb did not create the signal catchpoint")
        self.bp.silent = True

    @property
    def hits(self) -> int:
        return int(self.bp.hit_count) if self.bp is not None and self.bp.is_valid() else 0

    def delete(self) -> None:
        if self.bp is not None and self.bp.is_valid():
            self.bp.delete()

