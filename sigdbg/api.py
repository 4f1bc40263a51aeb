"""The scripting API.

    import sigdbg
    with sigdbg.launch(["targets/build/sig_basic", "raise"]) as target:
        for event in target.events(step_sigreturn=True):
            print(event.to_json())

``launch`` and ``attach`` return a :class:`~sigdbg.engine.session.Session`;
events are the frozen dataclasses of :mod:`sigdbg.engine.events`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigdbg.commands.backend import attach_session, launch_session
from sigdbg.engine import events
from sigdbg.engine.session import Session, SignalPolicy

if TYPE_CHECKING:
    from sigdbg.engine.coretarget import CoreTarget


def launch(argv: list[str], *, at: str = "exec", follow: bool = False,
           env: dict[str, str] | None = None, stdin: int | None = None,
           stdout: int | None = None, stderr: int | None = None) -> Session:
    """Start ``argv`` under the tracer, stopped at exec (or ``at="entry"``)."""
    return launch_session(argv, at=at, follow=follow, env=env, stdin=stdin, stdout=stdout,
                          stderr=stderr)


def attach(pid: int, *, follow: bool = False) -> Session:
    """Attach to a running process (PTRACE_SEIZE); it keeps running after close()."""
    return attach_session(pid, follow=follow)


def open_core(path: str, exe: str | None = None) -> CoreTarget:
    """A core file as a target: ``auxv()``, ``maps()``, ``vdso_report()``,
    ``signal_frames()``, ``siginfo()``, ``sigframe(address)``; a context manager."""
    from sigdbg.backends.core import CoreBackend
    from sigdbg.engine.coretarget import CoreTarget as _CoreTarget

    return _CoreTarget(CoreBackend(path, exe))


__all__ = ["launch", "attach", "open_core", "Session", "SignalPolicy", "events"]
