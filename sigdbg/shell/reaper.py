"""Reaping the programs the shell launched and then let go.

A program the shell launched is its child.  Killed, it is reaped by the
tracer (``Tracer.kill``); detached (``detach``, ``set on-exit detach``) it
runs on untraced, and when it exits nobody waits for it: it stays a zombie
(``<defunct>``) as long as the shell lives.  A :class:`Reaper` waits for
those, and only those: one thread blocked in ``select`` on a pidfd per
program (pidfd_open(2), Linux >= 5.3; readable once the process has exited)
and a wake-up pipe, that reaps each with ``waitpid(pid, WNOHANG)`` when its
pidfd says it is gone.  It never waits for any other pid: ``waitpid(-1)``
would take the ptrace-stops of the programs the shell is debugging (any
thread of the tracer's process may wait for them, kernel/exit.c
``do_wait``).  A pid the shell attaches to again is forgotten first.
Nothing here prints.
"""

from __future__ import annotations

import os
import select
import threading


class Reaper:
    """Waits for detached children of the shell as they exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pidfds: dict[int, int] = {}  #: pid -> its pidfd
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._closing = False
        #: pidfds of forgotten pids, closed by the thread (never under its select)
        self._to_close: list[int] = []
        #: pid -> its wait status, for the last :data:`_KEEP_STATUSES` reaped
        #: (a caller that wants a let-go program's exit status may come after
        #: the thread took it: the status is kept rather than lost)
        self._statuses: dict[int, int] = {}

    @property
    def pids(self) -> set[int]:
        """The programs waited for (not exited yet, or not reaped yet)."""
        with self._lock:
            return set(self._pidfds)

    def adopt(self, pid: int) -> None:
        """Reap ``pid`` (a child of ours, no longer traced) once it exits."""
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            with self._lock:  # gone already (or no pidfds): reap it now if it is a zombie
                self._reap(pid)
            return
        with self._lock:
            old = self._pidfds.pop(pid, None)
            if old is not None:
                self._to_close.append(old)
            self._pidfds[pid] = fd
            self._closing = False  # (a shell used again after close)
            if self._thread is None:
                self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self._thread = threading.Thread(target=self._run, name="sigdbg-reaper",
                                                daemon=True)
                self._thread.start()
            else:
                self._wake()

    def exit_status(self, pid: int) -> int | None:
        """The wait status of ``pid`` if this reaper reaped it, else None."""
        with self._lock:
            return self._statuses.get(pid)

    def forget(self, pid: int) -> None:
        """Stop waiting for ``pid``: the shell traces it again (its stops
        are the tracer's to wait for)."""
        with self._lock:
            fd = self._pidfds.pop(pid, None)
            if fd is not None:
                self._to_close.append(fd)
                self._wake()

    def close(self) -> None:
        """The shell is done: reap what has exited.  A program still running
        stays running (it was let go) and is still reaped when it exits, by
        the thread (a daemon), which ends once none is left; when the
        shell's process exits first, init reaps it instead."""
        with self._lock:
            self._closing = True
            for pid in [p for p in self._pidfds if self._reap(p)]:
                self._to_close.append(self._pidfds.pop(pid))
            thread = self._thread
            if thread is not None:
                self._wake()
        if thread is not None and not self.pids:
            thread.join(5.0)

    def _wake(self) -> None:  # (lock held)
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # full: a wake-up is pending already

    def _run(self) -> None:
        while True:
            with self._lock:
                for fd in self._to_close:
                    os.close(fd)
                self._to_close.clear()
                if self._closing and not self._pidfds:
                    for fd in (self._wake_r, self._wake_w):
                        os.close(fd)
                    self._wake_r = self._wake_w = -1
                    self._thread = None
                    self._closing = False
                    return
                fds = {fd: pid for pid, fd in self._pidfds.items()}
                wake = self._wake_r
            try:
                ready, _, _ = select.select([wake, *fds], [], [])
            except OSError:
                continue
            with self._lock:
                for fd in ready:
                    if fd == wake:
                        try:
                            os.read(wake, 4096)
                        except OSError:
                            pass
                        continue
                    pid = fds[fd]
                    if self._pidfds.get(pid) != fd:
                        continue  # forgotten meanwhile
                    if self._reap(pid):
                        del self._pidfds[pid]
                        os.close(fd)

    def _reap(self, pid: int) -> bool:  # (lock held)
        done, status = _reap(pid)
        if status is not None:
            self._statuses.pop(pid, None)
            self._statuses[pid] = status
            while len(self._statuses) > _KEEP_STATUSES:
                del self._statuses[next(iter(self._statuses))]
        return done


#: how many reaped programs' statuses a :class:`Reaper` keeps
_KEEP_STATUSES = 64


def _reap(pid: int) -> tuple[bool, int | None]:
    """waitpid(pid, WNOHANG): whether ``pid`` is reaped (or not ours), and
    its wait status when this call reaped it."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True, None
    return got == pid, (status if got == pid else None)
