"""A shell built from injected parts: its command table, its run control, and a
completer made of callables (docs/architecture.md, issue 13 deliverable 5).

No process runs here: the parts are small tables of real ``ShellCommand``
rows whose handlers record what the shell gave them.
"""

from __future__ import annotations

import argparse
import io

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from sigdbg.commands.parser import add_json_arg, parse_int
from sigdbg.shell.commands import TABLE, ShellCommand, Table
from sigdbg.shell.completer import ShellCompleter
from sigdbg.shell.context import ShellContext
from sigdbg.shell.core import Shell
from sigdbg.shell.run import RunControl


class Runner:
    """A run control that counts what it was asked to do."""

    def __init__(self, shell: ShellContext) -> None:
        self.shell = shell
        self.calls: list[str] = []
        self.interrupt_pending = False

    def clear_interrupt(self) -> None:
        self.interrupt_pending = False

    def cont(self) -> None:
        self.calls.append("cont")

    def stepi(self, count: int = 1, *, over: bool = False) -> None:
        self.calls.append(f"stepi {count} {over}")

    def step_sigreturn(self) -> None:
        self.calls.append("step_sigreturn")

    def send_signal(self, sig: int, *, resume: bool) -> None:
        self.calls.append(f"signal {sig} {resume}")


seen: list[tuple[str, argparse.Namespace]] = []


def _record(name: str):  # type: ignore[no-untyped-def]
    def run(sh: ShellContext, a: argparse.Namespace) -> None:
        seen.append((name, a))
        sh.write(f"ran {name}")
    return run


def _step(sh: ShellContext, a: argparse.Namespace) -> None:
    sh.run.stepi(a.count)


def _peek_args(p: argparse.ArgumentParser) -> None:
    add_json_arg(p)
    p.add_argument("--colour", choices=("red", "blue"))
    p.add_argument("where", nargs="*")


def _step_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("count", nargs="?", type=parse_int, default=1)


FAKE = Table((
    ShellCommand("peek", "look at something", _record("peek"), _peek_args, aliases=("pk",),
                 repeat=True, complete="fruit"),
    ShellCommand("step", "step", _step, _step_args),
    ShellCommand("info-hidden", "a helper", _record("hidden")),
))


def _shell() -> tuple[Shell, io.StringIO]:
    out = io.StringIO()
    return Shell(out, commands=FAKE, run_control=Runner), out


def test_the_shell_runs_its_injected_table_and_run_control() -> None:
    sh, out = _shell()
    runner = sh.run
    assert sh.commands is FAKE and isinstance(runner, Runner)
    seen.clear()
    sh.execute("pk/8x --json a b")
    name, args = seen[-1]
    assert name == "peek" and args.json and args.where == ["a", "b"] and args.suffix == "8x"
    sh.execute("")  # peek repeats
    assert len(seen) == 2 and seen[-1][1].where == ["a", "b"]
    sh.execute("step 0x10")
    assert runner.calls == ["stepi 16 False"]
    sh.execute("")  # step does not repeat
    assert runner.calls == ["stepi 16 False"]
    sh.execute("continue")  # not in this table
    sh.execute("peek --colour green")
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["ran peek", "ran peek"]
    assert lines[2] == "error: unknown command 'continue' (try: help)"
    assert lines[3].startswith("error: peek: argument --colour: invalid choice: 'green'")
    assert len(lines) == 4


def test_default_parts_are_the_shells_own() -> None:
    sh = Shell(io.StringIO())
    assert sh.commands is TABLE and isinstance(sh.run, RunControl)


def _complete(c: ShellCompleter, text: str) -> list[str]:
    return [x.text for x in c.get_completions(Document(text), CompleteEvent(True))]


def test_completer_from_the_table_and_callables() -> None:
    sh, _ = _shell()
    typed: list[list[str]] = []

    def fruit(positional: list[str]) -> list[str]:
        typed.append(positional)
        return ["apple", "apricot", "banana"]

    c = ShellCompleter(sh, sources={"fruit": fruit})
    assert c.table is FAKE
    assert _complete(c, "") == ["peek", "pk", "step"]  # hidden helpers are not offered
    assert _complete(c, "pe") == ["peek"]
    assert _complete(c, "peek a") == ["apple", "apricot"]
    assert _complete(c, "peek banana ap") == ["apple", "apricot"]
    assert typed == [[], ["banana"]]
    assert _complete(c, "peek --") == ["--colour", "--json"]
    assert _complete(c, "peek --colour ") == ["red", "blue"]  # argparse choices
    assert _complete(c, "step ") == []  # no kind: nothing to offer
    assert _complete(c, "nosuch ") == []
    # the shell's own sources are callables too, replaceable one by one
    assert ShellCompleter(sh, table=TABLE).kind("catch", [], "") == ["signal"]
