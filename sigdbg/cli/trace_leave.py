"""How ``sigdbg trace`` leaves on SIGINT, SIGTERM or SIGHUP: promptly, and
through one path (the trace file flushed, a launched program killed, an
attached one detached with the signal of its current stop)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from typing import NoReturn


class Leave(BaseException):
    """SIGTERM or SIGHUP reached sigdbg: leave as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_leave(signum: int) -> NoReturn:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Leave(signum)


#: the signals that make sigdbg leave (SIGINT = Ctrl-C: KeyboardInterrupt)
LEAVE_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class LeaveSignals:
    """SIGINT, SIGTERM and SIGHUP make ``sigdbg trace`` leave cleanly, promptly.

    Their handler raises (KeyboardInterrupt for SIGINT, :class:`Leave`
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
        self._handlers = {sig: signal.getsignal(sig) for sig in LEAVE_SIGNALS}
        self._r, self._w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._w, False)  # set_wakeup_fd requires it
        for sig in LEAVE_SIGNALS:
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
        raise_leave(signum)

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
            raise_leave(self._pending)

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._r, 64)
            except OSError:
                return
            if not data:
                return  # closed: sigdbg is done
            got = [s for s in data if s in LEAVE_SIGNALS]
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
        signal.pthread_sigmask(signal.SIG_BLOCK, LEAVE_SIGNALS)

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
        for sig in LEAVE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # discards one pending while held
        signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)
        for sig, h in self._handlers.items():
            signal.signal(sig, h if h is not None else signal.SIG_DFL)
        os.close(self._r)
