"""Tab completion: a nested completer built from the command table and callables.

The first word completes command names; after it, the command's declared
``complete`` kind and its argparse options decide: options (``--json``,
``--disas`` ...), option values (vDSO symbols for ``vdso --disas``, argparse
``choices``), signal names, ``handle`` actions, AT_* names, vDSO symbols and
``$registers`` in address positions, ``info``/``set``/``help`` subjects and
file paths.  Model: prompt_toolkit ``completion/nested.py`` and ptpython's
``completer.py`` (completers built from callables).

Built from injected parts: the command table (the shell's own unless given)
and one callable per completion kind (``sources``: kind -> function of the
positional words already typed), so a table with new kinds brings its own.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator, Mapping

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from sigdbg.abi import native_abi
from sigdbg.names import all_auxv_names, all_signal_names
from sigdbg.shell.context import CommandTable, ShellCommandSpec
from sigdbg.shell.core import Shell

#: a completion source: the positional words already typed -> candidates
Source = Callable[[list[str]], list[str]]

_INFO = ("signals", "breakpoints", "registers", "auxv", "frame", "siginfo", "proc")
_HANDLE_ACTIONS = ("stop", "nostop", "print", "noprint", "pass", "nopass")


def _safe(fn: Callable[[], Iterable[str]]) -> list[str]:
    """A completion source must never break the prompt (no process, unreadable vDSO ...)."""
    try:
        return list(fn())
    except Exception:
        return []


class ShellCompleter(Completer):
    def __init__(self, shell: Shell, *, table: CommandTable | None = None,
                 sources: Mapping[str, Source] | None = None) -> None:
        self.shell = shell
        self.table = table if table is not None else shell.commands
        self.paths = PathCompleter(expanduser=True)
        self._vdso: tuple[int, list[str]] | None = None
        self.sources: dict[str, Source] = {**self.default_sources(), **(sources or {})}

    def default_sources(self) -> dict[str, Source]:
        """The kinds of the shell's own table, each a callable."""
        def signals(pos: list[str]) -> list[str]:
            return self.signal_names() + ["all"]

        def handle(pos: list[str]) -> list[str]:
            return (list(_HANDLE_ACTIONS) if pos else []) + signals(pos)

        def catch(pos: list[str]) -> list[str]:
            return self.signal_names() if pos else ["signal"]

        def info(pos: list[str]) -> list[str]:
            if not pos:
                return list(_INFO)
            if pos[0].startswith("sig") and "signals".startswith(pos[0]):
                return self.signal_names()
            return []

        return {
            "signals": signals,
            "handle": handle,
            "catch": catch,
            "address": lambda pos: self.addresses(),
            "vdso_symbol": lambda pos: self.vdso_symbols(),
            "info": info,
            "set": lambda pos: ["on-exit"] if not pos else ["kill", "detach"],
            "command": lambda pos: [] if pos else self.table.names(),
        }

    # -- sources ----------------------------------------------------------------------
    def signal_names(self) -> list[str]:
        return list(all_signal_names())

    def auxv_names(self) -> list[str]:
        res = self.shell.resolver
        if res is None:  # no target yet: the names of this machine's family
            return list(all_auxv_names(native_abi().arch))
        return list(res.auxv_names())

    def vdso_symbols(self) -> list[str]:
        s, res = self.shell.session, self.shell.resolver
        if s is None or res is None or not s.alive or not s.is_stopped():
            return []
        if self._vdso is None or self._vdso[0] != s.pid:
            self._vdso = (s.pid, res.vdso_symbol_names())
        return self._vdso[1]

    def registers(self) -> list[str]:
        s = self.shell.session
        base = ["$pc", "$sp", "$fp"]
        if s is None or not s.alive or not s.is_stopped():
            return base
        return base + [f"${r}" for r in s.registers()]

    def addresses(self) -> list[str]:
        return self.registers() + self.auxv_names() + self.vdso_symbols()

    # -- the walk ---------------------------------------------------------------------
    def get_completions(self, document: Document,
                        complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor.lstrip()
        words = text.split()
        if not words or (len(words) == 1 and not text.endswith(" ")):
            prefix = words[0] if words else ""
            for name in self.table.names():
                if name.startswith(prefix):
                    yield Completion(name, -len(prefix), display_meta=self._meta(name))
            return
        try:
            cmd = self.table.find(words[0].partition("/")[0])
        except Exception:
            return
        current = "" if text.endswith(" ") else words[-1]
        before = words[1:] if text.endswith(" ") else words[1:-1]
        if cmd.complete == "path" and not current.startswith("-"):
            sub = Document(current, len(current))
            yield from self.paths.get_completions(sub, complete_event)
            return
        for cand in _safe(lambda: self.candidates(cmd, before, current)):
            if cand.lower().startswith(current.lower()):
                yield Completion(cand, -len(current))

    def candidates(self, cmd: ShellCommandSpec, before: list[str], current: str) -> list[str]:
        parser = cmd.make_parser()
        options = _options(parser)
        if before and before[-1] in options:  # an option's value
            action = options[before[-1]]
            if action.choices:
                return [str(c) for c in action.choices]
            kind = cmd.option_values.get(action.option_strings[-1], "")
            if kind:
                return self.kind(kind, [], current)
            if action.nargs != 0:
                return []
        if current.startswith("-"):
            return sorted(options)
        positional = [w for w in before if not w.startswith("-")]
        return self.kind(cmd.complete, positional, current)

    def kind(self, kind: str, positional: list[str], current: str) -> list[str]:
        source = self.sources.get(kind)
        return source(positional) if source is not None else []

    def _meta(self, name: str) -> str:
        try:
            text = self.table.find(name).help
        except Exception:
            return ""
        return text if len(text) < 60 else text[:57] + "..."


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}

