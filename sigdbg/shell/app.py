"""``sigdbg shell``: wire a :class:`Shell` to a prompt_toolkit ``PromptSession``.

Everything is injected: ``input``/``output`` for the prompt (tests pass
``create_pipe_input()`` and ``DummyOutput()``), ``out`` for what commands
print, ``tracee_stdio`` for the launched program's file descriptors.  Without
a terminal on stdin and stdout (and no injected input) the shell reads
commands line by line, so ``sigdbg shell -- PROG < script`` works.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import ColorDepth, Output

from sigdbg.render.text import Style
from sigdbg.shell.commands import TABLE
from sigdbg.shell.completer import ShellCompleter
from sigdbg.shell.core import Shell
from sigdbg.shell.keys import load_run_bindings
from sigdbg.shell.run import RunControl
from sigdbg.shell.toolbar import PT_STYLE, make_toolbar
from sigdbg.textsafe import safe

HISTORY_ENV = "SIGDBG_HISTORY"


def history_path() -> str:
    return os.environ.get(HISTORY_ENV) or os.path.expanduser("~/.sigdbg_history")


def open_history(shell: Shell) -> History:
    """Persistent history, or an in-memory one (with a note) if the file is not writable."""
    path = history_path()
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        shell.write(f"note: history not saved ({safe(path)}: {exc.strerror})")
        return InMemoryHistory()
    return FileHistory(path)


@contextmanager
def _exit_on_term_signals() -> Iterator[None]:
    """SIGTERM/SIGHUP leave through ``finally`` (kill/detach the target), not abruptly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    old = {s: signal.signal(s, leave) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def open_target(shell: Shell, args: argparse.Namespace) -> None:
    from sigdbg.commands.target import target_choice
    from sigdbg.engine.program import check_program
    from sigdbg.errors import SigdbgError

    try:
        pid, argv = target_choice(args)
        if pid is not None:
            shell.attach(pid)
        elif argv:
            shell.program = check_program(argv[0])
            shell.launch(argv[1:], at=getattr(args, "at", "exec") or "exec")
    except SigdbgError as exc:
        shell.error(str(exc))


def make_prompt(shell: Shell, *, input: Input | None = None, output: Output | None = None,
                history: History | None = None) -> PromptSession[str]:
    depth = None if shell.style.color or output is not None else ColorDepth.DEPTH_1_BIT
    return PromptSession(
        FormattedText([("class:prompt", shell.prompt)]),
        input=input,
        output=output,
        history=history if history is not None else open_history(shell),
        completer=ShellCompleter(shell, table=shell.commands),
        complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(),
        bottom_toolbar=make_toolbar(shell),
        key_bindings=load_run_bindings(),
        style=PT_STYLE,
        color_depth=depth,
        enable_history_search=False,
    )


def interact(shell: Shell, prompt: PromptSession[str]) -> None:
    while not shell.done:
        try:
            line = prompt.prompt()
            shell.execute(line)
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt (or between prompt and command): a fresh line
        except EOFError:  # Ctrl-D
            shell.write("quit")
            break


def read_lines(shell: Shell, stream: TextIO) -> None:
    for line in stream:
        shell.execute(line)
        if shell.done:
            break


def run_shell(args: argparse.Namespace, *, input: Input | None = None,
              output: Output | None = None, out: TextIO | None = None,
              tracee_stdio: dict[str, int] | None = None,
              history: History | None = None) -> int:
    out = out if out is not None else sys.stdout
    force = {"always": True, "never": False}.get(getattr(args, "color", "auto"))
    # the shell from its parts: the command table and the run control
    shell = Shell(out, style=Style.for_stream(out, force), tracee_stdio=tracee_stdio,
                  debug=getattr(args, "debug", False), commands=TABLE, run_control=RunControl)
    interactive = input is not None or (sys.stdin.isatty() and sys.stdout.isatty())
    with _exit_on_term_signals():
        try:
            open_target(shell, args)
            if interactive:
                interact(shell, make_prompt(shell, input=input, output=output, history=history))
            else:
                read_lines(shell, sys.stdin)
        finally:
            shell.close()
    return 0
