"""``sigdbg trace``: run a program to completion and report every signal."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from sigdbg.cli.commands import OutputError
from sigdbg.errors import UsageError
from sigdbg.render.text import Style

if TYPE_CHECKING:
    from sigdbg.engine.events import Event

SCHEMA_VERSION = 1


def configure(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sigdbg.cli.main import add_target_args

    p = sub.add_parser("trace", help="trace signal delivery like strace, made deep",
                       description="Run PROG (or follow -p PID) and report every signal: "
                       "delivery, handler entry with the decoded frame, and with "
                       "--step-sigreturn the trampoline, the handler's changes and the "
                       "restored-context check.")
    p.add_argument("--json", action="store_true", help="JSON Lines, one object per event")
    p.add_argument("-o", "--output", metavar="FILE", help="write the trace to FILE")
    p.add_argument("-e", dest="expr", action="append", default=[], metavar="signal=SET",
                   help="only report these signals (others pass through untouched)")
    p.add_argument("--signal", action="append", default=[], metavar="SIG",
                   help="only report SIG (repeatable)")
    p.add_argument("-f", "--follow", action="store_true", help="follow forks, vforks, threads")
    p.add_argument("--frame", dest="frame", action="store_true", default=True,
                   help="decode the frame at handler entry (default)")
    p.add_argument("--no-frame", dest="frame", action="store_false",
                   help="delivery only: report siginfo, do not stop at handler entry")
    p.add_argument("--step-sigreturn", action="store_true",
                   help="single-step through the sigreturn trampoline and check the result")
    p.add_argument("-s", "--string-size", type=_string_size, default=64, metavar="N",
                   help="cut strings from the target (paths, symbols) after N characters "
                   "in text output, like strace -s (default 64; JSON keeps them whole)")
    p.add_argument("--on-interrupt", choices=("kill", "detach"), default=None,
                   help="what Ctrl-C does to the tracee (default: kill launched, detach attached)")
    add_target_args(p)


def _string_size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of characters, not {text!r}")
    return n


def parse_signal_set(values: list[str]) -> set[int] | None:
    from sigdbg.names import signal_number

    out: set[int] = set()
    seen = False
    for v in values:
        if "=" in v:
            key, _, v = v.partition("=")
            if key not in ("signal", "signals", "s"):
                raise UsageError(f"unsupported -e expression {key!r} (only signal=SET)")
        for name in v.split(","):
            name = name.strip()
            if not name or name == "all":
                return None
            try:
                out.add(signal_number(name))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            seen = True
    return out if seen else None


def _json_writer(out: IO[str]) -> Callable[[Event], object]:
    """Write one JSON line per event: orjson bytes straight to the binary
    buffer when there is one (no str round trip), else json text.

    With orjson the event's parts that repeat from signal to signal (siginfo,
    FP state, restorer) are serialized once and spliced in as fragments.
    """
    def plain(e: Event) -> dict[str, Any]:
        d = e.json_view()  # consumed at once by the encoder
        d["schema"] = SCHEMA_VERSION
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

    def write(e: Event) -> object:
        try:
            d = e.json_wire(encode)
            d["schema"] = SCHEMA_VERSION
            line = dumps(d, option=opt)
        except orjson.JSONEncodeError:  # rare: a string that is not UTF-8
            line = escaped(e).encode("ascii")
        return bwrite(line)

    return write


class _Leave(BaseException):
    """SIGTERM or SIGHUP reached sigdbg: leave as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


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
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Leave(signum)

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
                r, _, _ = select.select([self._r], [], [], 0.05)
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
        """The caller's wakeup fd, handlers and signal mask back."""
        self.leaving = True
        signal.set_wakeup_fd(self._old_wakeup)
        for sig in _LEAVE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # discards one pending while held
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        for sig, h in self._handlers.items():
            signal.signal(sig, h if h is not None else signal.SIG_DFL)
        os.close(self._w)  # the watcher reads EOF and ends
        self._thread.join(1.0)
        os.close(self._r)


def run(a: argparse.Namespace, st: Style) -> int:
    from sigdbg.cli.main import open_session
    from sigdbg.render.events import render_event

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
    write = out.write
    write_json = _json_writer(out) if a.json else None
    status = 0
    session = open_session(a, follow=a.follow)
    # SIGINT, SIGTERM and SIGHUP leave through one path: the trace file is
    # flushed, a launched program killed, an attached one detached with the
    # signal of its current stop and without our debug registers.
    leave = _LeaveSignals() if threading.current_thread() is threading.main_thread() else None
    ended = False  # the trace ran to its end or was left on a signal
    try:
        try:
            session.policy.frames = a.frame
            session.policy.only = only
            session.policy.nostop.clear()
            for e in session.events(step_sigreturn=a.step_sigreturn and a.frame):
                try:
                    if write_json is not None:
                        write_json(e)
                    else:
                        write(render_event(e, st, frames=True))
                        write("\n")
                except BrokenPipeError:
                    raise
                except OSError as exc:  # a full disk, /dev/full: one line, the tracee is killed
                    raise OutputError.of(name, exc) from None
            status = session.exit_status or 0
        except (KeyboardInterrupt, _Leave) as exc:
            if leave is not None:
                leave.hold()
            mode = a.on_interrupt or ("kill" if session.launched else "detach")
            if mode == "detach":
                session.detach()
            else:
                session.kill()
            status = 128 + (exc.signum if isinstance(exc, _Leave) else signal.SIGINT)
        ended = True
    finally:
        if leave is not None:
            leave.hold()
        try:
            session.close()
            # an error already on its way out is the one to report
            _finish(out, name, quiet=not ended)
        finally:
            if leave is not None:
                leave.restore()
    return status


def _finish(out: IO[str], name: str, *, quiet: bool) -> None:
    """Flush (and close a file given with ``-o``): the buffered end of the
    trace is written here, so a full disk shows up here as often as not."""
    try:
        try:
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
