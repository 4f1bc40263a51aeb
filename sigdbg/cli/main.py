"""The ``sigdbg`` command line.

Target selection is the same for every command: ``-- PROG ARGS`` (launch,
stopped at exec or, with ``--at entry``, at the program's entry point) or
``-p PID`` (attach; the process is left running when sigdbg is done).
Errors are one line on stderr and a non-zero exit; ``--debug`` shows the
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sigdbg import __version__
from sigdbg.commands.inspect import INSPECT_COMMANDS, find_command
from sigdbg.commands.parser import (
    ArgumentError,
    HelpShown,
    OutputError,
    Parser,
    add_frame_kind_arg,
    add_json_arg,
    add_picture_arg,
    dump_json,
    parse_int,
)
from sigdbg.commands.target import add_global_args, add_target_args, open_session, target_argv
from sigdbg.decode.vdso import fixed_pages
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.render.text import Style
from sigdbg.textsafe import safe_error

if TYPE_CHECKING:
    from sigdbg.engine.coretarget import CoreTarget

EXIT_ERROR = 1
EXIT_USAGE = 2


#: the commands that read a core file (``--core FILE [--exe PROG]``)
CORE_COMMANDS = ("auxv", "maps", "vdso", "frame")


def add_core_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--core", metavar="FILE",
                   help="read a core file (kernel dump or gcore) instead of a process")
    p.add_argument("--exe", metavar="PROG",
                   help="with --core: the program's executable, when the path the core "
                        "names is not it")


def build_parser() -> Parser:
    p = Parser(prog="sigdbg", description="debug the Linux kernel/user-space signal boundary")
    p.add_argument("--version", action="version", version=f"sigdbg {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for cmd in INSPECT_COMMANDS:
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, aliases=cmd.aliases)
        add_json_arg(sp)
        if cmd.name == "frame":
            # a positional ADDRESS would swallow PROG after "--" on the command line
            _frame_cli_args(sp)
        else:
            cmd.configure(sp)
        add_global_args(sp)
        add_target_args(sp)
        if cmd.name in CORE_COMMANDS:
            add_core_args(sp)
    parts = ("auxv", "maps", "vDSO", *(page.name for page in fixed_pages()))
    rp = sub.add_parser("report", help=f"{', '.join(parts[:-1])} and {parts[-1]} of a target "
                        "(the main job)")
    rp.add_argument("--json", action="store_true")
    add_global_args(rp)
    add_target_args(rp)
    add_core_args(rp)
    from sigdbg.cli import trace_cli

    trace_cli.configure(sub)
    sh = sub.add_parser("shell", help="the interactive debugger")
    add_global_args(sh)
    add_target_args(sh)
    _gdb_parsers(sub)
    return p


_GDB_INIT_DESCRIPTION = """\
Print the line that loads sigdbg's GDB extension from this installation:
'source .../sigdbg/gdb/plugin.py', or a python line naming the site-packages
when the plugin would not find them by itself.  In gdb, the extension takes
pyelftools and capstone from there when gdb's Python has the same minor
version (one line says so otherwise); without them it names symbols from
gdb's own tables.
"""
_GDB_INIT_EPILOG = """\
example:
  sigdbg gdb-init >> ~/.gdbinit        (the same as: python -m sigdbg.gdb)
  gdb -q -ex 'break handler' -ex run --args ./sig_basic raise
  (gdb) sigdbg frame
"""


def _gdb_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from sigdbg.gdb import launch

    gi = sub.add_parser("gdb-init", help="print the line for ~/.gdbinit that loads the GDB "
                        "extension", formatter_class=argparse.RawDescriptionHelpFormatter,
                        description=_GDB_INIT_DESCRIPTION,
                        epilog=_GDB_INIT_EPILOG)
    add_global_args(gi)
    g = sub.add_parser("gdb", help="start gdb with the extension loaded", usage=launch.USAGE,
                       description=launch.DESCRIPTION, epilog=launch.EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("gdb_args", nargs=argparse.REMAINDER, metavar="GDB OPTIONS",
                   help="passed to gdb (-q, -nx, -batch, -ex CMD, -p PID, ...)")


def _command_index(args: list[str]) -> int | None:
    """Where the command is among sigdbg's arguments (after global options)."""
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--color":
            i += 2
            continue
        if tok == "--debug" or tok.startswith("--color="):
            i += 1
            continue
        return None if tok.startswith("-") else i
    return None


def _gdb_args(args: list[str]) -> list[str] | None:
    """``sigdbg gdb ARGS``: gdb's own options are not ours to parse (argparse
    would refuse ``-batch``); None for ``sigdbg gdb --help``."""
    at = _command_index(args)
    if at is None or args[at] != "gdb":
        return None
    rest = args[at + 1:]
    head = rest[:rest.index("--")] if "--" in rest else rest
    return None if ("-h" in head or "--help" in head) else rest


def _frame_cli_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", type=parse_int,
                   help="decode the frame at ADDRESS now (default: run to the next handler entry)")
    add_frame_kind_arg(p)
    add_picture_arg(p)


def _style(a: argparse.Namespace) -> Style:
    force = {"always": True, "never": False}.get(a.color)
    return Style.for_stream(sys.stdout, force)


def run(a: argparse.Namespace) -> int:
    st = _style(a)
    if a.command is None:
        raise UsageError("no command given (try: sigdbg --help)")
    if a.command == "trace":
        from sigdbg.cli import trace_cli

        return trace_cli.run(a, st)
    if a.command == "shell":
        from sigdbg.shell.app import run_shell

        return run_shell(a)
    if a.command == "gdb-init":
        from sigdbg.gdb.locate import gdbinit_line

        _write(gdbinit_line())
        return 0
    if getattr(a, "core", None) is not None:
        return _run_on_core(a, st)
    if getattr(a, "exe", None) is not None:
        raise UsageError("--exe goes with --core FILE")
    if a.command == "frame" and a.address is None:
        return _frame_at_next_signal(a, st)
    with open_session(a) as s:
        if a.command == "report":
            if a.json:
                out = dump_json({"auxv": s.auxv().to_json(),
                                 "maps": [m.to_json() for m in s.maps().mappings],
                                 "vdso": s.vdso_report().to_json(),
                                 **{page.name: s.fixed_page_report(page.name).to_json()
                                    for page in fixed_pages()}})
            else:
                from sigdbg.render import text as rt

                out = "\n\n".join((rt.render_auxv(s.auxv(), st), rt.render_maps(s.maps(), st),
                                   rt.render_vdso(s.vdso_report(), st),
                                   *(rt.render_fixed_page(s.fixed_page_report(page.name), st)
                                     for page in fixed_pages())))
        else:
            cmd = find_command(a.command)
            out = cmd.run(s, a, st)
    _write(out)
    return 0


def _run_on_core(a: argparse.Namespace, st: Style) -> int:
    """`sigdbg auxv|maps|vdso|frame|report --core FILE [--exe PROG]`."""
    from sigdbg.commands.target import open_core

    if a.pid is not None or target_argv(a):
        raise UsageError("give either --core FILE or a process (-p PID, -- PROG ARGS), not both")
    with open_core(a.core, a.exe) as core:
        if a.command == "report":  # the fixed pages need a live process: the crash instead
            out = _core_report(core, a, st)
        elif a.command == "frame" and a.address is None:
            # every signal frame still on the crashing thread's stack, innermost first
            frames = core.signal_frames()
            if a.json:
                out = dump_json([f.to_json() for f in frames])
            else:
                from sigdbg.render.core import render_frame_list

                out = render_frame_list(frames, core.current_task().tid, st, detail=True,
                                        picture=not a.no_picture)
        else:
            out = find_command(a.command).run(core, a, st)
    _write(out)
    return 0


def _core_report(core: CoreTarget, a: argparse.Namespace, st: Style) -> str:
    """auxv, maps, vDSO and the crash; a part a truncated core lacks says why instead."""
    from sigdbg.engine.coretarget import core_report
    from sigdbg.render import text as rt
    from sigdbg.render.core import render_core_report

    parts: dict[str, Any] = {}

    def failed(key: str, exc: SigdbgError) -> None:
        parts[key] = {"error": str(exc)} if a.json else f"{key}: error: {exc}"

    try:
        auxv = core.auxv()
        parts["auxv"] = auxv.to_json() if a.json else rt.render_auxv(auxv, st)
    except SigdbgError as exc:
        failed("auxv", exc)
    try:
        maps = core.maps()
        parts["maps"] = [m.to_json() for m in maps.mappings] if a.json else \
            rt.render_maps(maps, st)
    except SigdbgError as exc:
        failed("maps", exc)
    try:
        vdso = core.vdso_report()
        parts["vdso"] = vdso.to_json() if a.json else rt.render_vdso(vdso, st)
    except SigdbgError as exc:
        failed("vdso", exc)
    r = core_report(core)
    if a.json:
        return dump_json({**parts, "core": r.to_json()})
    return "\n\n".join([*parts.values(), render_core_report(r, st)])


def _frame_at_next_signal(a: argparse.Namespace, st: Style) -> int:
    """`sigdbg frame -- PROG`: run to the first handler entry and decode it.

    A launched program then runs on to its end, as it would untraced (its
    signals passed, no more stops at handlers), and its exit status is
    sigdbg's, as with `trace`; an attached one is detached (by close()).
    """
    from sigdbg.engine import events as ev
    from sigdbg.render import text as rt

    with open_session(a) as s:
        for e in s.events():
            if isinstance(e, ev.HandlerEntered):
                f = e.frame
                _write(dump_json(f.to_json()) if a.json
                       else rt.render_frame(f, st, picture=not a.no_picture))
                if not s.launched:
                    return 0
                s.policy.frames = False
                s.policy.nostop.clear()
                for _ in s.events():
                    pass
                return s.exit_status or 0
            if isinstance(e, (ev.Exited, ev.Killed)):
                raise SigdbgError("the program ended without entering a signal handler")
    raise SigdbgError("the program ended without entering a signal handler")


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError.of("stdout", exc) from None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # sigdbg's own --debug, before or after the command, not the target's after "--"
    ours = args_list[:args_list.index("--")] if "--" in args_list else args_list
    debug = "--debug" in ours
    try:
        gdb_args = _gdb_args(args_list)
        if gdb_args is not None:
            from sigdbg.gdb.launch import exec_gdb

            exec_gdb(gdb_args)
        a = build_parser().parse_args(args_list)
        return run(a)
    except HelpShown:
        return 0
    except ArgumentError as exc:
        _error(str(exc) if str(exc).startswith("sigdbg") else f"sigdbg: {exc}")
        return EXIT_USAGE
    except OutputError as exc:
        if debug:
            raise
        _error(f"sigdbg: error: {exc}")
        _quiet_stdout()
        return EXIT_ERROR
    except UsageError as exc:
        if debug:
            raise
        _error(f"sigdbg: error: {exc}")
        return EXIT_USAGE
    except SigdbgError as exc:
        if debug:
            raise
        _error(f"sigdbg: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("sigdbg: interrupted")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            raise
        _error(f"sigdbg: internal error: {type(exc).__name__}: {exc} (run with --debug)")
        return EXIT_ERROR


def _error(line: str) -> None:
    """The one line of an error on stderr: sanitised, since paths in it may
    come from the target or the command line (terminal escapes, invalid
    UTF-8)."""
    try:
        sys.stderr.write(safe_error(line) + "\n")
        sys.stderr.flush()
    except OSError:
        pass  # stderr itself is gone: nothing left to tell


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of a
    stdout that cannot be written does not print a second error."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
