"""``sigdbg trace``: run a program to completion and report every signal.

The strace habits: a compact ``--- SIG {...} ---`` line per delivery (``-v``
for the whole frame), ``-c`` (a summary table), ``-t``/``-tt``/``-ttt``/``-r``
(timestamps, also in JSON), ``-k`` (the stack of the interrupted context),
``-e signal=SET`` with ``!`` and ``none``, ``-q``, and "Process N
attached/detached" with ``-p``.  Every option that costs something per
signal is set up once here and costs nothing when it is off: the writer for
each event is chosen before the loop.

This module is the options and the wiring: their checks, the run loop, the
choice of writer.  The writers and their encoders are ``trace_writers.py``,
what -t/-r/-k add ``trace_extras.py``, the -c table and the live status line
``trace_status.py``, leaving on SIGINT/SIGTERM/SIGHUP ``trace_leave.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from sigdbg.cli.trace_extras import Clock, Stacks
from sigdbg.cli.trace_leave import Leave, LeaveSignals
from sigdbg.cli.trace_status import StatusLine, Summary
from sigdbg.cli.trace_writers import json_writer, text_writer
from sigdbg.commands.parser import OutputError
from sigdbg.errors import UsageError
from sigdbg.render.text import Style

if TYPE_CHECKING:
    from sigdbg.engine.events import Event
    from sigdbg.engine.session import Session

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


# -- the loop ------------------------------------------------------------------------------------
def _note(text: str) -> None:
    """strace's own messages ("Process N attached") go to stderr."""
    sys.stderr.write(f"sigdbg: {text}\n")
    sys.stderr.flush()


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
    leave = LeaveSignals() if threading.current_thread() is threading.main_thread() else None
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
        except (KeyboardInterrupt, Leave) as exc:
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
            status = 128 + (exc.signum if isinstance(exc, Leave) else signal.SIGINT)
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
    # imported here, while a leave signal is deferred (run), whichever writer
    # is chosen: -c's summary imports it at its first --srop alert otherwise
    import sigdbg.render.events  # noqa: F401

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
            return json_writer(out)

        def extra(e: Event, d: dict[str, Any]) -> None:
            if clock is not None:
                key, value = clock.now()
                d[key] = value
            if stacks is not None:
                frames = stacks.of(e)
                if frames is not None:
                    d["stack"] = [f.to_json() for f in frames]

        return json_writer(out, extra)
    return text_writer(out, st, verbose=a.verbose, quiet_exits=a.quiet >= 2, clock=clock,
                       stacks=stacks)
