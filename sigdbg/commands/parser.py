"""The argparse layer every front end shares: a parser that raises instead
of exiting, the one-line errors it raises, and :class:`Command` (a command's
arguments declared once, its output rendered by :mod:`sigdbg.render`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigdbg.abi import all_frame_kinds
from sigdbg.engine.inspect import Inspector
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.render import text as rt


class ArgumentError(UsageError):
    """argparse wanted to exit: turned into our one-line error."""


class HelpShown(ArgumentError):
    """--help/--version printed their text: not an error."""


class OutputError(SigdbgError):
    """sigdbg's own output could not be written (a full disk, /dev/full, EIO):
    one line naming the file, and the tracee is not left behind."""

    @classmethod
    def of(cls, name: str, exc: OSError) -> OutputError:
        return cls(f"cannot write {name}: {exc.strerror or exc}")


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and calling sys.exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ArgumentError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if status == 0:
            raise HelpShown(message or "")
        raise ArgumentError(message.strip() if message else f"{self.prog}: exit {status}")


def parse_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Inspector, argparse.Namespace, rt.Style], str]
    aliases: tuple[str, ...] = ()

    def parser(self, prog: str | None = None) -> Parser:
        p = Parser(prog=prog or self.name, description=self.help, add_help=False)
        add_json_arg(p)
        self.configure(p)
        return p


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2)


def add_json_arg(p: argparse.ArgumentParser) -> None:
    """``--json``: every data command of every front end takes it."""
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_frame_kind_arg(p: argparse.ArgumentParser) -> None:
    """``--kind``: a frame kind of any ABI, for the commands that decode a frame."""
    p.add_argument("--kind", choices=all_frame_kinds())


def add_picture_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-picture", action="store_true", help="omit the stack picture")


__all__ = ["ArgumentError", "Command", "HelpShown", "OutputError", "Parser", "add_frame_kind_arg",
           "add_json_arg", "add_picture_arg", "dump_json", "parse_int"]
