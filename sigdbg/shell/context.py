"""What a shell command and the run control see of the shell.

:class:`~sigdbg.shell.core.Shell` runs command lines: it looks commands up in
:mod:`sigdbg.shell.commands` and owns a :class:`~sigdbg.shell.run.RunControl` (the
terminal's side of the engine's :mod:`sigdbg.engine.runcontrol`).
Those modules in turn take the shell as an argument.  Typed against the
concrete ``Shell`` they would import ``shell.core`` back (even if only under
``TYPE_CHECKING``), a cycle issue 13 asks to remove; typed against
:class:`ShellContext` they depend on this module only, and ``core`` stays
the one module that knows them all.

The command modules import it as ``Shell`` (``from sigdbg.shell.context
import ShellContext as Shell``) so that their annotations read as before.
``tests/unit/test_shell_context.py`` checks that every attribute they use of
the shell is declared here and that :class:`~sigdbg.shell.core.Shell` has
every member declared here.  ``mypy sigdbg/shell`` (not part of ``make
lint``, which checks the core packages only) also checks the types: it
passes, and fails when a member here and ``Shell`` disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import argparse

    from sigdbg.decode.disasm import Instruction
    from sigdbg.decode.siginfo import SigInfo
    from sigdbg.engine import events as ev
    from sigdbg.engine.coretarget import CoreTarget
    from sigdbg.engine.session import Session, SignalPolicy
    from sigdbg.render.text import Style
    from sigdbg.shell.expr import ExamineFormat, Resolver


class ShellRunner(Protocol):
    """The resuming commands (``shell/run.py`` ``RunControl``, over the
    engine's ``engine/runcontrol.py``): each returns when the tracee
    stopped again or is gone, and raises :class:`~sigdbg.errors.UsageError`
    when there is nothing to run."""

    @property
    def interrupt_pending(self) -> bool:
        """An interrupt (Ctrl-C) was sent and its stop has not come yet."""
        ...

    def clear_interrupt(self) -> None: ...

    def cont(self) -> None: ...

    def stepi(self, count: int = 1, *, over: bool = False) -> None: ...

    def step_sigreturn(self) -> None: ...

    def send_signal(self, sig: int, *, resume: bool) -> None: ...


class ShellContext(Protocol):
    """The state and services of one shell (see :class:`~sigdbg.shell.core.Shell`)."""

    # -- state ---------------------------------------------------------------------
    session: Session | None
    core: CoreTarget | None  #: a core file loaded with ``core FILE``
    policy: SignalPolicy
    style: Style
    program: str | None
    on_exit: str | None  #: None: kill launched, detach attached
    breakpoints: dict[int, int]  #: number -> address
    _next_bp: int
    handler: ev.HandlerEntered | None  #: the last handler entry
    last_siginfo: SigInfo | None
    last_format: ExamineFormat | None
    reason: str  #: why the tracee stopped, for the toolbar
    catch_sigreturn: bool  #: catch sigreturn: stop at each sigreturn with its SROP verdict
    running: bool
    done: bool  #: ``quit`` was given

    @property
    def run(self) -> ShellRunner:
        """The run control (read-only here: a settable Protocol member would
        have to be exactly ``RunControl``)."""
        ...

    # -- output ----------------------------------------------------------------------
    def write(self, text: str) -> None: ...

    def show_event(self, e: ev.Event) -> None: ...

    def show_location(self) -> None: ...

    def set_repeat(self, line: str) -> None: ...

    # -- the target ------------------------------------------------------------------
    def require_session(self) -> Session:
        """The live session; :class:`~sigdbg.errors.UsageError` without one."""
        ...

    def require_stopped(self) -> Session:
        """The session, its tracee stopped; UsageError otherwise."""
        ...

    def require_resolver(self) -> Resolver: ...

    def launch(self, args: list[str] | None = None, *, at: str = "exec") -> None: ...

    def attach(self, pid: int) -> None: ...

    def end_session(self, mode: str) -> None: ...

    def session_gone(self, e: ev.Event | None) -> None: ...

    def on_exec(self) -> None: ...

    # -- what the shell remembers of the tracee ----------------------------------------
    def entered(self, e: ev.HandlerEntered) -> None: ...

    def active_handler(self) -> ev.HandlerEntered | None: ...

    def signal_of_frame(self, address: int) -> int | None: ...

    def breakpoint_number(self, address: int) -> int | None: ...

    def read_code(self, address: int, size: int) -> bytes:
        """Target memory with the shell's int3s replaced by the original bytes."""
        ...

    def instruction_at(self, address: int) -> Instruction | None: ...

    def code_at(self, address: int) -> tuple[int, str]:
        """(instruction address, disassembler mode): ARM's ISA bit and CPSR.T."""
        ...

    def disassemble(self, address: int, size: int, count: int = 0) -> list[str]: ...

    def pc_here(self) -> int:
        """The pc as an instruction address (ISA bit cleared)."""
        ...

    def symbol_at(self, address: int) -> str | None: ...


class ShellCommandSpec(Protocol):
    """One row of a shell's command table, as the shell and the completer use it
    (:class:`~sigdbg.shell.commands.ShellCommand` is the real one)."""

    @property
    def name(self) -> str: ...

    @property
    def help(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...

    @property
    def repeat(self) -> bool:
        """An empty line repeats the command."""
        ...

    @property
    def complete(self) -> str:
        """What its positional arguments are, for the completer."""
        ...

    @property
    def option_values(self) -> dict[str, str]:
        """Option -> completer kind of its value."""
        ...

    @property
    def run(self) -> Callable[[ShellContext, argparse.Namespace], None]: ...

    @property
    def prepare(self) -> Callable[[ShellContext, list[str]], list[str]] | None: ...

    def make_parser(self) -> argparse.ArgumentParser: ...


class CommandTable(Protocol):
    """The commands a shell runs, injected into it (``Shell(commands=...)``)."""

    def find(self, name: str) -> ShellCommandSpec:
        """The command called ``name`` (or an alias, or an unambiguous prefix);
        :class:`~sigdbg.errors.UsageError` otherwise."""
        ...

    def names(self) -> list[str]:
        """Every name a user can type, aliases included (hidden helpers not)."""
        ...


#: builds a shell's run control from the shell (``Shell(run_control=...)``)
RunControlFactory = Callable[[ShellContext], ShellRunner]
