"""The code that chooses a backend for a live target: the ptrace backend,
started here and handed to the engine's :class:`~sigdbg.engine.session.Session`.

The engine never constructs a backend (``engine/session.py`` knows only
the Protocols of ``backends/base.py``); the CLI, ``trace``, the shell and
the scripting API (``sigdbg.api``) come through these two functions.
"""

from __future__ import annotations

from sigdbg.backends.ptrace import Tracer
from sigdbg.engine.program import check_program
from sigdbg.engine.session import Session


def launch_session(argv: list[str], *, at: str = "exec", follow: bool = False,
                   env: dict[str, str] | None = None, stdin: int | None = None,
                   stdout: int | None = None, stderr: int | None = None,
                   srop: bool = False) -> Session:
    """Start ``argv`` under a new ptrace ``Tracer``, stopped at exec (or its
    entry with ``at="entry"``).  ``srop``: detect forged sigreturns; with
    ``follow`` the program gets the sigreturn seccomp filter, since every
    task that inherits it stays traced (backends/ptrace.py ``Tracer.spawn``).
    Nothing is left running or traced when this raises."""
    path = check_program(argv[0])
    tracer = Tracer()
    try:
        task = tracer.spawn([path, *argv[1:]], env=env, follow=follow, stdin=stdin,
                            stdout=stdout, stderr=stderr, sigreturn_filter=srop and follow)
        return Session.launched_on(tracer, task, at=at, follow=follow, srop=srop)
    except BaseException:
        tracer.close()
        raise


def attach_session(pid: int, *, follow: bool = False, srop: bool = False) -> Session:
    """PTRACE_SEIZE process ``pid`` (and with ``follow`` its threads) under a
    new ptrace ``Tracer``; it keeps running after the session's close().
    Nothing is left traced when this raises (an interrupted attach detaches
    with any signal in flight passed on, ``Tracer.close``)."""
    tracer = Tracer()
    try:
        task = tracer.attach(pid, follow=follow)
        return Session.attached_to(tracer, task, follow=follow, srop=srop)
    except BaseException:
        tracer.close()
        raise


__all__ = ["attach_session", "launch_session"]
