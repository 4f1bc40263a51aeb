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

from sigdbg import __version__
from sigdbg.cli.commands import (
    INSPECT_COMMANDS,
    ArgumentError,
    HelpShown,
    Parser,
    dump_json,
    find_command,
)
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.render.text import Style

EXIT_ERROR = 1
EXIT_USAGE = 2


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


def open_session(a: argparse.Namespace, *, follow: bool = False):  # type: ignore[no-untyped-def]
    from sigdbg.engine.session import Session

    argv = target_argv(a)
    if a.pid is not None and argv:
        raise UsageError("give either -p PID or -- PROG ARGS, not both")
    if a.pid is not None:
        return Session.attach(a.pid, follow=follow)
    if not argv:
        raise UsageError("no target: give -- PROG ARGS or -p PID")
    return Session.launch(argv, at=a.at, follow=follow)


def build_parser() -> Parser:
    p = Parser(prog="sigdbg", description="debug the Linux kernel/user-space signal boundary")
    p.add_argument("--version", action="version", version=f"sigdbg {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for cmd in INSPECT_COMMANDS:
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, aliases=cmd.aliases)
        sp.add_argument("--json", action="store_true", help="print JSON instead of text")
        if cmd.name == "frame":
            # a positional ADDRESS would swallow PROG after "--" on the command line
            _frame_cli_args(sp)
        else:
            cmd.configure(sp)
        add_global_args(sp)
        add_target_args(sp)
    rp = sub.add_parser("report", help="auxv, maps, vDSO and vsyscall of a target (the main job)")
    rp.add_argument("--json", action="store_true")
    add_global_args(rp)
    add_target_args(rp)
    from sigdbg.cli import trace_cli

    trace_cli.configure(sub)
    sh = sub.add_parser("shell", help="the interactive debugger")
    add_global_args(sh)
    add_target_args(sh)
    return p


def _frame_cli_args(p: argparse.ArgumentParser) -> None:
    from sigdbg.cli.commands import parse_int

    p.add_argument("--address", type=parse_int,
                   help="decode the frame at ADDRESS now (default: run to the next handler entry)")
    p.add_argument("--kind", choices=("rt_sigframe", "rt_sigframe_ia32", "sigframe_ia32"))
    p.add_argument("--no-picture", action="store_true", help="omit the stack picture")


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
    if a.command == "frame" and a.address is None:
        return _frame_at_next_signal(a, st)
    with open_session(a) as s:
        if a.command == "report":
            if a.json:
                out = dump_json({"auxv": s.auxv().to_json(),
                                 "maps": [m.to_json() for m in s.maps().mappings],
                                 "vdso": s.vdso_report().to_json(),
                                 "vsyscall": s.vsyscall_report().to_json()})
            else:
                from sigdbg.render import text as rt

                out = "\n\n".join((rt.render_auxv(s.auxv(), st), rt.render_maps(s.maps(), st),
                                   rt.render_vdso(s.vdso_report(), st),
                                   rt.render_vsyscall(s.vsyscall_report(), st)))
        else:
            cmd = find_command(a.command)
            out = cmd.run(s, a, st)
    _write(out)
    return 0


def _frame_at_next_signal(a: argparse.Namespace, st: Style) -> int:
    """`sigdbg frame -- PROG`: run to the first handler entry and decode it."""
    from sigdbg.engine import events as ev
    from sigdbg.render import text as rt

    with open_session(a) as s:
        for e in s.events():
            if isinstance(e, ev.HandlerEntered):
                f = e.frame
                _write(dump_json(f.to_json()) if a.json
                       else rt.render_frame(f, st, picture=not a.no_picture))
                return 0
            if isinstance(e, (ev.Exited, ev.Killed)):
                raise SigdbgError("the program ended without entering a signal handler")
    raise SigdbgError("the program ended without entering a signal handler")


def _write(text: str) -> None:
    sys.stdout.write(text)
    if not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # sigdbg's own --debug, before or after the command, not the target's after "--"
    ours = args_list[:args_list.index("--")] if "--" in args_list else args_list
    debug = "--debug" in ours
    try:
        a = build_parser().parse_args(args_list)
        return run(a)
    except HelpShown:
        return 0
    except ArgumentError as exc:
        print(str(exc) if str(exc).startswith("sigdbg") else f"sigdbg: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        if debug:
            raise
        print(f"sigdbg: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SigdbgError as exc:
        if debug:
            raise
        print(f"sigdbg: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sigdbg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            raise
        print(f"sigdbg: internal error: {type(exc).__name__}: {exc} (run with --debug)",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
