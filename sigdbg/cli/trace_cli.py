"""``sigdbg trace``: run a program to completion and report every signal.

The strace habits: a compact ``--- SIG {...} ---`` line per delivery (``-v``
for the whole frame), ``-c`` (a summary table), ``-t``/``-tt``/``-ttt``/``-r``
(timestamps, also in JSON), ``-k`` (the stack of the interrupted context),
``-e signal=SET`` with ``!`` and ``none``, ``-q``, and "Process N
attached/detached" with ``-p``.  Every option that costs something per
signal is set up once here and costs nothing when it is off: the writer for
each event is chosen before the loop.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import select
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any, NoReturn

from sigdbg.commands.parser import OutputError
from sigdbg.errors import UsageError
from sigdbg.render.text import Style

if TYPE_CHECKING:
    from sigdbg.engine.events import Event
    from sigdbg.engine.session import Session

SCHEMA_VERSION = 1
#: deliveries the C trace loop writes in one go to a file or pipe (on a
#: terminal each one is written as it happens)
FAST_BATCH = 4096

_EPILOG = """\
examples:
  sigdbg trace -- ./prog                one line per signal, like strace
  sigdbg trace -v -- ./prog             the whole decoded frame at each handler entry
  sigdbg trace -c -- ./prog             a table per signal at the end
  sigdbg trace -tt -k -- ./prog         timestamps and the interrupted stack
  sigdbg trace -e 'signal=!SIGALRM' -p PID
  sigdbg trace --json -o t.jsonl -- ./prog   (a live status line on a terminal)
  sigdbg trace --srop -f -- ./prog      alert on a forged sigreturn (SROP), before it runs
"""


def configure(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sigdbg.commands.target import add_global_args, add_target_args

    p = sub.add_parser("trace", help="trace signal delivery like strace, made deep",
                       description="Run PROG (or follow -p PID) and report every signal: "
                       "delivery, handler entry with the decoded frame, and with "
                       "--step-sigreturn the trampoline, the handler's changes and the "
                       "restored-context check.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="JSON Lines, one object per event")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the trace to FILE (on a terminal, stderr shows a live "
                   "status line: signals, signals per second, elapsed time)")
    p.add_argument("-e", dest="expr", action="append", default=[], metavar="signal=SET",
                   help="only report these signals (others pass through untouched); "
                   "SET is a list (SIGUSR1,USR2,10,SIGRTMIN+1), !LIST for all but "
                   "those, all, or none")
    p.add_argument("--signal", action="append", default=[], metavar="SIG",
                   help="only report SIG (repeatable)")
    p.add_argument("-f", "--follow", action="store_true", help="follow forks, vforks, threads")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="the whole decoded frame at each handler entry (default: one line)")
    p.add_argument("-c", "--summary-only", dest="summary", action="store_true",
                   help="count signals: a table per signal (count, si_codes, "
                   "dispositions, handlers, restorers) instead of the trace")
    p.add_argument("-t", dest="timestamps", action="count", default=0,
                   help="prefix each line with the time of day; -tt adds microseconds, "
                   "-ttt gives seconds since the epoch (JSON: \"time\")")
    p.add_argument("-r", dest="relative", action="store_true",
                   help="prefix each line with the time since the previous one "
                   "(JSON: \"relative\")")
    p.add_argument("-k", dest="stack", action="store_true",
                   help="the stack of the interrupted context at each delivery "
                   "(.eh_frame and frame pointers; JSON: \"stack\")")
    p.add_argument("-q", dest="quiet", action="count", default=0,
                   help="no 'Process N attached/detached' lines; -qq: no exit lines either")
    p.add_argument("--frame", dest="frame", action="store_true", default=True,
                   help="decode the frame at handler entry (default)")
    p.add_argument("--no-frame", dest="frame", action="store_false",
                   help="delivery only: report siginfo, do not stop at handler entry")
    p.add_argument("--step-sigreturn", action="store_true",
                   help="single-step through the sigreturn trampoline and check the result")
    p.add_argument("--srop", action="store_true",
                   help="detect forged sigreturns (SROP): check each rt_sigreturn/sigreturn "
                   "against the frames the kernel built for that thread and the kernel's "
                   "rules for the saved context, and report an alert before the kernel "
                   "acts on it (a seccomp filter for a program launched with -f, else "
                   "PTRACE_SYSCALL); with -v every verdict")
    p.add_argument("-s", "--string-size", type=_string_size, default=64, metavar="N",
                   help="cut strings from the target (paths, symbols) after N characters "
                   "in text output, like strace -s (default 64; JSON keeps them whole)")
    p.add_argument("--on-interrupt", choices=("kill", "detach"), default=None,
                   help="what Ctrl-C does to the tracee (default: kill launched, detach attached)")
    add_global_args(p)
    add_target_args(p)


def _string_size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of characters, not {text!r}")
    return n


def check_conflicts(a: argparse.Namespace) -> None:
    """Refuse option combinations that cannot both be honoured (one line)."""
    def clash(x: str, y: str, why: str) -> None:
        raise UsageError(f"{x} and {y} cannot be used together: {why}")

    if not a.frame and a.step_sigreturn:
        clash("--no-frame", "--step-sigreturn", "stepping sigreturn needs the handler's frame")
    if a.summary:
        for flag, on in (("--json", a.json), ("-v", a.verbose), ("-k", a.stack),
                         ("-t", a.timestamps), ("-r", a.relative),
                         ("--step-sigreturn", a.step_sigreturn)):
            if on:
                clash("-c", flag, "-c prints only the summary table")
    if a.timestamps and a.relative:
        clash("-t", "-r", "choose absolute or relative timestamps")
    if a.timestamps > 3:
        raise UsageError("-t can be given at most three times (-ttt)")
    if a.verbose and a.json:
        clash("-v", "--json", "JSON lines always carry the whole frame")
    if a.pid is not None and a.at != "exec":
        clash("-p", "--at", "an attached process is already running")
    if a.srop and a.follow and a.pid is None and a.on_interrupt == "detach":
        clash("--srop -f", "--on-interrupt detach", "the program runs under sigdbg's seccomp "
              "filter, and detached its sigreturns would fail with ENOSYS")


def parse_signal_set(values: list[str]) -> set[int] | None:
    """The signals ``-e signal=SET`` / ``--signal`` select (None: all).

    strace's syntax: a comma list, ``!`` in front for all but those, ``all``
    and ``none``.  Several expressions add up.  Real-time names use glibc's
    numbering (``SIGRTMIN`` = 34), as the trace prints them; ``SIGRT_n`` is
    strace's kernel-relative spelling (32 + n).
    """
    from sigdbg.names.signals import SIGRTMAX, glibc_signal_number

    out: set[int] = set()
    for v in values:
        if "=" in v:
            key, _, v = v.partition("=")
            if key not in ("signal", "signals", "s"):
                raise UsageError(f"unsupported -e expression {key!r} (only signal=SET)")
        v = v.strip()
        negate = v.startswith("!")
        if negate:
            v = v[1:].strip()
        chosen: set[int] = set()
        every = False
        for name in v.split(","):
            name = name.strip()
            if name == "all":
                every = True
            elif name == "none":
                pass
            elif not name:
                raise UsageError(f"empty signal name in -e signal={v!r}")
            else:
                try:
                    chosen.add(glibc_signal_number(name))
                except ValueError as exc:
                    raise UsageError(str(exc)) from None
        if every:
            chosen = set(range(1, SIGRTMAX + 1))
        if negate:
            chosen = set(range(1, SIGRTMAX + 1)) - chosen
        out |= chosen
    if not values:
        return None
    return None if out == set(range(1, SIGRTMAX + 1)) else out


# -- JSON ---------------------------------------------------------------------------------------
Extra = Callable[["Event", dict[str, Any]], None]


def _json_writer(out: IO[str], extra: Extra | None = None) -> Callable[[Event], object]:
    """Write one JSON line per event: orjson bytes straight to the binary
    buffer when there is one (no str round trip), else json text.

    With orjson the event's parts that repeat from signal to signal (siginfo,
    FP state, restorer) are serialized once and spliced in as fragments.
    ``extra`` adds keys (timestamps, stack) to the event's dict; without it
    the writer does nothing more than the event's own JSON.
    """
    def plain(e: Event) -> dict[str, Any]:
        d = e.json_view()  # consumed at once by the encoder
        d["schema"] = SCHEMA_VERSION
        if extra is not None:
            d = dict(d)
            extra(e, d)
        return d

    def escaped(e: Event) -> str:
        # ASCII JSON: a string holding bytes that are not UTF-8 (a path, held
        # surrogateescape'd) keeps them as "\udcNN" escapes, which orjson
        # refuses to write; docs/trace.md says how to get the bytes back
        return json.dumps(plain(e), separators=(",", ":")) + "\n"

    try:
        import orjson
    except ImportError:
        return lambda e: out.write(escaped(e))
    dumps = orjson.dumps
    opt = orjson.OPT_APPEND_NEWLINE
    binary = getattr(out, "buffer", None)
    if binary is None:  # e.g. a StringIO standing in for stdout
        def write_text(e: Event) -> object:
            try:
                return out.write(dumps(plain(e), option=opt).decode())
            except orjson.JSONEncodeError:
                return out.write(escaped(e))

        return write_text
    out.flush()
    bwrite = binary.write
    fragment = getattr(orjson, "Fragment", None)  # orjson >= 3.10

    if fragment is None:
        def write_plain(e: Event) -> object:
            try:
                return bwrite(dumps(plain(e), option=opt))
            except orjson.JSONEncodeError:
                return bwrite(escaped(e).encode("ascii"))

        return write_plain

    def encode(value: Any) -> Any:
        return fragment(dumps(value))

    def line_of(e: Event) -> bytes:
        try:
            d = e.json_wire(encode)
            d["schema"] = SCHEMA_VERSION
            line: bytes = dumps(d, option=opt)
        except orjson.JSONEncodeError:  # rare: a string that is not UTF-8
            line = escaped(e).encode("ascii")
        return line

    rendered = _rendered_class()

    def write(e: Event) -> object:
        if e.__class__ is rendered:  # deliveries the C loop wrote with pair()
            return bwrite(e.data)  # type: ignore[attr-defined]
        return bwrite(line_of(e))

    if extra is None:
        def pair(d: Event, h: Event) -> bytes:
            return line_of(d) + line_of(h)

        def walk(events: list[Event]) -> bytes:
            # what write() writes for a sigreturn walk's events, in order
            return b"".join(line_of(e) for e in events)

        write.pair = pair  # type: ignore[attr-defined]
        write.passed = line_of  # type: ignore[attr-defined]
        write.walk = walk  # type: ignore[attr-defined]
        return write

    def write_extra(e: Event) -> object:
        try:
            d = e.json_wire(encode)
            d["schema"] = SCHEMA_VERSION
            extra(e, d)
            line = dumps(d, option=opt)
        except orjson.JSONEncodeError:  # rare: a string that is not UTF-8
            line = escaped(e).encode("ascii")
        return bwrite(line)

    return write_extra


def _rendered_class() -> type:
    from sigdbg.engine.events import Rendered

    return Rendered


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


# -- the loop ------------------------------------------------------------------------------------
def _note(text: str) -> None:
    """strace's own messages ("Process N attached") go to stderr."""
    sys.stderr.write(f"sigdbg: {text}\n")
    sys.stderr.flush()


class _Leave(BaseException):
    """SIGTERM or SIGHUP reached sigdbg: leave as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_leave(signum: int) -> NoReturn:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise _Leave(signum)


#: the signals that make sigdbg leave (SIGINT = Ctrl-C: KeyboardInterrupt)
_LEAVE_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _LeaveSignals:
    """SIGINT, SIGTERM and SIGHUP make ``sigdbg trace`` leave cleanly, promptly.

    Their handler raises (KeyboardInterrupt for SIGINT, :class:`_Leave`
    otherwise) once; the trace then detaches or kills and flushes its output.
    Python's default SIGTERM would end sigdbg at once: the trace file unflushed,
    the signal of an attached program's current stop lost, a debug register
    left armed.

    A Python handler only runs when the main thread checks for signals: a
    signal that arrives just before it blocks in waitpid (or that the kernel
    hands to another thread) would wait for the next ptrace stop, which an
    idle program may never make.  So Python's wakeup fd is watched by a
    thread that, once a leave signal has come, sends it again to the main
    thread (pthread_kill) every 50 ms until the handler has run: one of them
    interrupts the waitpid with EINTR.  Nothing of this runs per traced signal.
    """

    def __init__(self) -> None:
        self.leaving = False
        self._deferred = False
        self._pending = 0
        self._main = threading.main_thread().ident or 0
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
        self._handlers = {sig: signal.getsignal(sig) for sig in _LEAVE_SIGNALS}
        self._r, self._w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._w, False)  # set_wakeup_fd requires it
        for sig in _LEAVE_SIGNALS:
            signal.signal(sig, self._on_signal)
        self._old_wakeup = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="sigdbg-leave", daemon=True)
        self._thread.start()

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.leaving:
            return  # leaving already (a repeat of ours, or a second Ctrl-C)
        self.leaving = True
        if self._deferred:
            self._pending = signum  # raised when the deferred part is done
            return
        _raise_leave(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A leave signal that comes inside is raised at its end.

        For attaching (or launching) and setting up the output: bounded
        work, but work that imports modules.  A KeyboardInterrupt raised
        while orjson's module init imports uuid made sigdbg die of SIGSEGV
        (orjson uses the failed import unchecked: PyObject_GetAttrString on
        NULL, seen in the core of `sigdbg trace -p` left at once); and once
        attached, the detach is done with the session's knowledge of the
        stops.
        """
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = False
        if self._pending:
            _raise_leave(self._pending)

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._r, 64)
            except OSError:
                return
            if not data:
                return  # closed: sigdbg is done
            got = [s for s in data if s in _LEAVE_SIGNALS]
            if not got:
                continue
            while not self.leaving:
                try:
                    signal.pthread_kill(self._main, got[0])
                except OSError:
                    return
                # 50 ms before the next one; each one sent writes to the
                # wakeup fd too: drained here, not taken as a new signal
                # (resending at once made a storm of them)
                deadline = time.monotonic() + 0.05
                while not self.leaving:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    r, _, _ = select.select([self._r], [], [], left)
                    if r and not os.read(self._r, 64):
                        return

    def hold(self) -> None:
        """From here on sigdbg is leaving: a second Ctrl-C or SIGTERM must not
        cut the detach (or kill) short and leave a task stopped or a debug
        register armed.  Blocked until sigdbg is done; one that came
        meanwhile is then dropped (it asked for what is already happening)."""
        self.leaving = True
        signal.pthread_sigmask(signal.SIG_BLOCK, _LEAVE_SIGNALS)

    def restore(self) -> None:
        """The caller's wakeup fd, handlers and signal mask back.

        The watcher is ended first, with our signals still blocked: it may
        have seen ``leaving`` False just before it was set and send one more
        (held, then discarded by SIG_IGN).  Sent once the caller's handlers
        are back, it would raise KeyboardInterrupt on the way out, or kill
        sigdbg with SIGINT once the interpreter has reset its handlers at
        exit (seen: sigdbg trace -p ended by SIGINT or SIGSEGV, not 130).
        """
        self.hold()
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self._w)  # the watcher reads EOF and ends
        self._thread.join(5.0)  # (at once: EOF wakes it wherever it waits)
        for sig in _LEAVE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # discards one pending while held
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        for sig, h in self._handlers.items():
            signal.signal(sig, h if h is not None else signal.SIG_DFL)
        os.close(self._r)


def run(a: argparse.Namespace, st: Style) -> int:
    from sigdbg.commands.target import open_session
    from sigdbg.engine import events as ev

    check_conflicts(a)
    only = parse_signal_set(a.expr + a.signal)
    out: IO[str]
    name = a.output or "stdout"
    if a.output:
        try:
            out = open(a.output, "w", buffering=1 << 16,
                       encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise UsageError(f"cannot write {a.output}: {exc.strerror}") from None
        st = Style(False)
    else:
        out = sys.stdout
    st = dataclasses.replace(st, max_string=a.string_size)
    status = 0
    interrupted = False
    live: StatusLine | None = None
    # SIGINT, SIGTERM and SIGHUP leave through one path: the trace file is
    # flushed, a launched program killed, an attached one detached with the
    # signal of its current stop and without our debug registers.  Caught
    # from before attaching on (one that comes while attaching takes effect
    # once attached): left to the kernel, by Python's default SIGTERM or a
    # KeyboardInterrupt escaping, a signal whose delivery-stop the process
    # sits in would be lost, as a tracer's exit does not pass it on
    # (measured: tests/integration/test_leave.py).
    leave = _LeaveSignals() if threading.current_thread() is threading.main_thread() else None
    session: Session | None = None
    base: Callable[[Event], object] | None = None
    ended = False  # the trace ran to its end or was left on a signal
    try:
        try:
            with leave.deferred() if leave is not None else contextlib.nullcontext():
                session = open_session(a, follow=a.follow, srop=a.srop)
                if not session.launched and not a.quiet:
                    for tid in sorted(session.tracer.tasks):
                        _note(f"Process {tid} attached")
                write = base = _writer(a, out, st, session)
                if a.output and _isatty(sys.stderr):
                    live = StatusLine(sys.stderr, a.output)
                    inner = write
                    delivered, rendered = ev.SignalDelivered, ev.Rendered

                    def write(e: Event) -> object:
                        if e.__class__ is delivered:
                            live.count += 1
                        elif e.__class__ is rendered:
                            live.count += e.count
                        return inner(e)

                    live.begin()
                session.policy.frames = a.frame
                session.policy.only = only
                session.policy.nostop.clear()
            # the writer's own encoding of a delivery, when it has one: the
            # C trace loop writes plain deliveries with templates of it
            for e in session.events(step_sigreturn=a.step_sigreturn and a.frame,
                                    encoder=getattr(base, "pair", None),
                                    passed_encoder=getattr(base, "passed", None),
                                    batch=1 if _isatty(out) else FAST_BATCH,
                                    walk_encoder=getattr(base, "walk", None)):
                try:
                    write(e)
                except BrokenPipeError:
                    raise
                except OSError as exc:  # a full disk, /dev/full: one line, the tracee is killed
                    raise OutputError.of(name, exc) from None
            status = session.exit_status or 0
        except (KeyboardInterrupt, _Leave) as exc:
            interrupted = True
            if leave is not None:
                leave.hold()
            if session is not None:  # (else open_session has let go of the process)
                mode = a.on_interrupt or ("kill" if session.launched else "detach")
                if mode == "detach":
                    tids = sorted(session.tracer.tasks)
                    session.detach()
                    if not a.quiet:
                        for tid in tids:
                            _note(f"Process {tid} detached")
                else:
                    session.kill()
            status = 128 + (exc.signum if isinstance(exc, _Leave) else signal.SIGINT)
        ended = True
    finally:
        if leave is not None:
            leave.hold()
        try:
            if session is not None:
                session.close()
            summary = getattr(base, "summary", None)
            tail = summary.render(st) if summary is not None and ended else ""
            # an error already on its way out is the one to report
            _finish(out, name, quiet=not ended, tail=tail)
        finally:
            if live is not None:
                live.end(interrupted)
            if leave is not None:
                leave.restore()
    return status


def _finish(out: IO[str], name: str, *, quiet: bool, tail: str = "") -> None:
    """Write ``tail`` (the -c table), flush and close a file given with
    ``-o``: the buffered end of the trace is written here, so a full disk
    shows up here as often as not."""
    try:
        try:
            if tail:
                out.write(tail)
            out.flush()
        finally:
            if out is not sys.stdout:
                out.close()
    except BrokenPipeError:
        if not quiet:
            raise
    except OSError as exc:
        if not quiet:
            raise OutputError.of(name, exc) from None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _writer(a: argparse.Namespace, out: IO[str], st: Style,
            session: Session) -> Callable[[Event], object]:
    """The function that writes one event, with only the work the options ask for."""
    from sigdbg.engine import events as ev
    from sigdbg.render.events import render_compact, render_event, render_stack

    if a.summary:
        summary = Summary(session)

        def count(e: Event) -> object:
            summary.add(e)
            return None

        count.summary = summary  # type: ignore[attr-defined]
        return count
    clock = Clock(a.timestamps, a.relative) if (a.timestamps or a.relative) else None
    stacks = Stacks(session) if a.stack else None
    if a.json:
        if clock is None and stacks is None:
            return _json_writer(out)

        def extra(e: Event, d: dict[str, Any]) -> None:
            if clock is not None:
                key, value = clock.now()
                d[key] = value
            if stacks is not None:
                frames = stacks.of(e)
                if frames is not None:
                    d["stack"] = [f.to_json() for f in frames]

        return _json_writer(out, extra)
    w = out.write
    quiet_exits = a.quiet >= 2
    verbose = a.verbose
    pending: dict[int, ev.SignalDelivered] = {}

    rendered = ev.Rendered

    def text(e: Event) -> object:
        if e.__class__ is rendered:  # deliveries the C loop wrote with pair()
            return w(e.data.decode("utf-8", "surrogateescape"))
        if e.__class__ is ev.SigreturnChecked and not verbose \
                and not e.verdict.alert:
            return None  # an honest sigreturn: only -v shows it
        if verbose:
            line = render_event(e, st, frames=True)
        elif e.__class__ is ev.SignalDelivered and e.disposition == "handler":
            pending[e.tid] = e
            return None  # one line with its handler entry, which comes next
        else:
            line = render_compact(e, pending.pop(e.tid, None)
                                  if e.__class__ is ev.HandlerEntered else None, st)
        if quiet_exits and isinstance(e, (ev.Exited, ev.Killed)):
            return None
        if clock is not None:
            line = clock.text(*clock.now()) + " " + line
        if stacks is not None:
            frames = stacks.of(e)
            if frames is not None:
                line += "\n" + render_stack(frames, st)
        w(line)
        return w("\n")

    if not verbose and clock is None and stacks is None:
        def pair(d: Event, h: Event) -> bytes:
            # what text() writes for a delivery and its handler's entry
            line = render_compact(h, d, st)  # type: ignore[arg-type]
            return (line + "\n").encode("utf-8", "surrogateescape")

        def passed(d: Event) -> bytes:
            # what text() writes for a delivery passed on (--no-frame)
            return (render_compact(d, None, st) + "\n").encode("utf-8", "surrogateescape")

        walk_kinds = (ev.SigreturnStep, ev.SigreturnEntered, ev.ContextRestored,
                      ev.SigreturnAbandoned)

        def walk(events: list[Event]) -> bytes | None:
            # what text() writes for a sigreturn walk's events (each one
            # line of its own; None when one is of another kind)
            if any(e.__class__ not in walk_kinds for e in events):
                return None
            return "".join(render_compact(e, None, st) + "\n"
                           for e in events).encode("utf-8", "surrogateescape")

        text.pair = pair  # type: ignore[attr-defined]
        text.passed = passed  # type: ignore[attr-defined]
        text.walk = walk  # type: ignore[attr-defined]
    return text
