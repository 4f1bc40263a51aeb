"""Command definitions shared by the CLI, the shell and the GDB extension.

Each command declares its arguments once (argparse) and produces its output
through the same renderers; front ends only decide where the text goes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigdbg.abi.abis import all_frame_kinds
from sigdbg.engine.inspect import Inspector
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.render import text as rt

if TYPE_CHECKING:
    from sigdbg.engine.coretarget import CoreTarget


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
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        self.configure(p)
        return p


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2)


# -- target selection and global options: the same in the CLI, `trace` and the shell ---
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


def open_session(a: argparse.Namespace, *, follow: bool = False,  # type: ignore[no-untyped-def]
                 srop: bool = False):
    from sigdbg.engine.session import Session

    argv = target_argv(a)
    if a.pid is not None and argv:
        raise UsageError("give either -p PID or -- PROG ARGS, not both")
    if a.pid is not None:
        return Session.attach(a.pid, follow=follow, srop=srop)
    if not argv:
        raise UsageError("no target: give -- PROG ARGS or -p PID")
    return Session.launch(argv, at=a.at, follow=follow, srop=srop)


def open_core(path: str, exe: str | None = None) -> CoreTarget:
    """Open the core file ``path`` as a target (``exe`` replaces the
    executable's NT_FILE path): the core backend chosen here, the engine's
    :class:`~sigdbg.engine.coretarget.CoreTarget` built on it."""
    from sigdbg.backends.core import CoreBackend
    from sigdbg.engine.coretarget import CoreTarget

    return CoreTarget(CoreBackend(path, exe))


# -- the commands ---------------------------------------------------------------------
def _auxv(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    r = ctx.auxv()
    return dump_json(r.to_json()) if a.json else rt.render_auxv(r, st)


def _maps(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    m = ctx.maps()
    pages = ctx.special_pages()
    if a.json:
        out: dict[str, Any] = {"mappings": [x.to_json() for x in m.mappings]}
        if pages:  # ARM: [vectors], [sigpage] decoded (x86 has none: its JSON is unchanged)
            out["pages"] = [p.to_json() for p in pages]
        return dump_json(out)
    text = rt.render_maps(m, st)
    if pages:
        text += "\n\n" + rt.render_special_pages(pages, st)
    return text


def _vdso_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dump", metavar="FILE", help="write the vDSO image to FILE")
    p.add_argument("--disas", metavar="SYMBOL", help="disassemble one vDSO symbol")


def _vdso(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    parts = []
    if a.dump:
        data = ctx.vdso_image().data
        try:
            with open(a.dump, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise OutputError.of(a.dump, exc) from None
    if a.disas:
        lines = ctx.disassemble_symbol(a.disas)
        if a.json:
            return dump_json({"symbol": a.disas, "instructions": lines})
        return f"{a.disas}:\n" + "\n".join("  " + line for line in lines)
    r = ctx.vdso_report()
    if a.json:
        return dump_json(r.to_json())
    parts.append(rt.render_vdso(r, st))
    if a.dump:
        parts.append(f"wrote {len(ctx.vdso_image().data)} bytes to {a.dump}")
    return "\n".join(parts)


def _vsyscall(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    r = ctx.vsyscall_report()
    return dump_json(r.to_json()) if a.json else rt.render_vsyscall(r, st)


def _frame_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", nargs="?", type=parse_int,
                   help="frame address (default: the frame of the handler we are stopped in)")
    p.add_argument("--kind", choices=all_frame_kinds())
    p.add_argument("--no-picture", action="store_true", help="omit the stack picture")


def _frame(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    f = ctx.sigframe(a.address, kind=a.kind)
    if a.json:
        return dump_json(f.to_json())
    return rt.render_frame(f, st, picture=not a.no_picture)


def _none(p: argparse.ArgumentParser) -> None:
    return None


INSPECT_COMMANDS: tuple[Command, ...] = (
    Command("auxv", "the auxiliary vector, from the initial stack, checked against /proc",
            _none, _auxv),
    Command("maps", "the memory map with the kernel's special mappings explained", _none, _maps),
    Command("vdso", "the vDSO read from target memory: symbols, versions, disassembly",
            _vdso_args, _vdso),
    Command("vsyscall", "the legacy x86_64 vsyscall page and the kernel's vsyscall mode",
            _none, _vsyscall),
    Command("frame", "decode the signal frame at the stack pointer (or ADDRESS)",
            _frame_args, _frame, aliases=("sigframe",)),
)


def find_command(name: str) -> Command:
    for c in INSPECT_COMMANDS:
        if name == c.name or name in c.aliases:
            return c
    raise UsageError(f"unknown command {name!r}")


def run_command(ctx: Inspector, name: str, argv: list[str], st: rt.Style) -> str:
    cmd = find_command(name)
    args = cmd.parser().parse_args(argv)
    try:
        return cmd.run(ctx, args, st)
    except SigdbgError:
        raise
