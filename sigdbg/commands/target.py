"""Target selection and the global options: the same in the CLI, ``trace``
and the shell (``-- PROG ARGS`` to launch, ``-p PID`` to attach)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sigdbg.errors import UsageError

if TYPE_CHECKING:
    from sigdbg.engine.coretarget import CoreTarget


def add_target_args(p: argparse.ArgumentParser, default_at: str = "exec") -> None:
    p.add_argument("-p", "--pid", type=int, help="attach to a running process")
    p.add_argument("--at", choices=("exec", "entry"), default=default_at,
                   help="where a launched program stops: its first instruction (exec) or its "
                        "entry point after the dynamic loader ran (entry)")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- PROG ARGS")


def add_global_args(p: argparse.ArgumentParser) -> None:
    """The global options, also accepted after the command (``sigdbg trace
    --debug``); SUPPRESS keeps a subcommand from resetting what was given
    before it."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks on errors")
    p.add_argument("--color", choices=("auto", "always", "never"), default=argparse.SUPPRESS,
                   help="colour the text output (default: auto)")


def target_argv(a: argparse.Namespace) -> list[str]:
    argv = list(a.argv or [])
    if argv and argv[0] == "--":
        argv = argv[1:]
    return argv


def target_choice(a: argparse.Namespace) -> tuple[int | None, list[str]]:
    """(pid, argv) of the target the options name: one of them, or neither."""
    argv = target_argv(a)
    pid: int | None = getattr(a, "pid", None)
    if pid is not None and argv:
        raise UsageError("give either -p PID or -- PROG ARGS, not both")
    return pid, argv


def open_session(a: argparse.Namespace, *, follow: bool = False,  # type: ignore[no-untyped-def]
                 srop: bool = False):
    from sigdbg.commands.backend import attach_session, launch_session

    pid, argv = target_choice(a)
    if pid is not None:
        return attach_session(pid, follow=follow, srop=srop)
    if not argv:
        raise UsageError("no target: give -- PROG ARGS or -p PID")
    return launch_session(argv, at=a.at, follow=follow, srop=srop)


def open_core(path: str, exe: str | None = None) -> CoreTarget:
    """Open the core file ``path`` as a target (``exe`` replaces the
    executable's NT_FILE path): the core backend chosen here, the engine's
    :class:`~sigdbg.engine.coretarget.CoreTarget` built on it."""
    from sigdbg.backends.core import CoreBackend
    from sigdbg.engine.coretarget import CoreTarget

    return CoreTarget(CoreBackend(path, exe))


__all__ = ["add_global_args", "add_target_args", "open_core", "open_session", "target_argv",
           "target_choice"]
