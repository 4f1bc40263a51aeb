"""The ``sigdbg`` commands inside GDB (loaded by ``plugin.py``, which GDB sources).

Registers the ``sigdbg`` prefix command (``sigdbg auxv``, ``maps``, ``vdso``,
``vsyscall``, ``frame``, ``siginfo``, ``step-sigreturn``, ``catch``) and the
``set/show sigdbg color|json|debug`` parameters when first imported.  The
inspection commands share their argparse definitions and renderers with the
``sigdbg`` command line (sigdbg.commands), so options and output are the
same.

``plugin.py`` has put the installation's site-packages on GDB Python's path
when they fit its version; without capstone and pyelftools what needs them
says so in one line, and symbols come from GDB's own tables.
"""

from __future__ import annotations

import argparse
import os
import textwrap
import traceback

import gdb

from sigdbg.commands.inspect import INSPECT_COMMANDS
from sigdbg.commands.parser import (
    ArgumentError,
    Command,
    HelpShown,
    add_frame_kind_arg,
    add_picture_arg,
    dump_json,
    parse_int,
)
from sigdbg.engine import events as ev
from sigdbg.engine.inspect import Inspector
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.gdb.inspector import GdbInspector
from sigdbg.gdb.runner import GdbRunner, gdb_step_sigreturn
from sigdbg.names import all_signal_names
from sigdbg.render import text as rt
from sigdbg.render.events import render_event
from sigdbg.textsafe import safe, safe_error


# -- the gdb-only commands (execution control and $_siginfo) -----------------------------
def _gdb(ctx: Inspector) -> GdbInspector:
    if not isinstance(ctx, GdbInspector):
        raise UsageError("this command runs only inside gdb")
    return ctx


def _siginfo(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    i = _gdb(ctx).siginfo()
    if a.json:
        return dump_json(i.to_json())
    return f"{st.name(i.signal)} ({ctx.abi} layout) {rt.siginfo_text(i)}"


def _frame_address_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", nargs="?", type=parse_int,
                   help="frame address (default: the signal frame of the selected handler)")
    add_frame_kind_arg(p)


def _events_out(events: list[ev.Event], a: argparse.Namespace, st: rt.Style,
                head: dict[str, object] | None = None) -> str:
    if a.json:
        doc = dict(head or {})
        doc["events"] = [e.to_json() for e in events]
        return dump_json(doc)
    out = []
    for e in events:
        if isinstance(e, ev.HandlerEntered):
            out.append(render_event(e, st, frames=False))
            out.append(rt.render_frame(e.frame, st, picture=not getattr(a, "no_picture", False)))
        else:
            out.append(render_event(e, st))
    return "\n".join(out)


def _step_sigreturn(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    entry = ctx.sigframe(a.address, kind=a.kind)
    events = gdb_step_sigreturn(_gdb(ctx), entry)
    if a.json:
        return _events_out(events, a, st, {"frame": entry.to_json()})
    head = (f"{entry.kind} at {entry.address:#x} (signal {entry.sig}): the handler returns to "
            f"{entry.pretcode:#x} ({entry.restorer.describe(safe)})")
    return head + "\n" + _events_out(events, a, st)


def _catch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("signals", nargs="*", metavar="SIGNAL",
                   help="signals to catch (default: all but SIGTRAP and SIGINT)")
    add_picture_arg(p)


def _catch(ctx: Inspector, a: argparse.Namespace, st: rt.Style) -> str:
    return _events_out(list(GdbRunner(_gdb(ctx)).catch(a.signals)), a, st)


GDB_COMMANDS: tuple[Command, ...] = (
    Command("siginfo", "decode $_siginfo: the siginfo of the thread's last stop (or the "
            "core's NT_SIGINFO), in the inferior's layout", lambda p: None, _siginfo),
    Command("step-sigreturn", "from inside a handler: run to its restorer, single-step "
            "through sigreturn and compare the restored registers with the frame",
            _frame_address_args, _step_sigreturn),
    Command("catch", "continue to the next signal delivered to a handler, stop at the "
            "handler's first instruction and decode the frame", _catch_args, _catch),
)

_EXTRA_HELP = {
    "frame": "Without ADDRESS the frame is found by itself: the nearest <signal handler "
             "called> frame at or above the selected one, or a pretcode at the stack pointer "
             "(handler entry).  ADDRESS may be a gdb expression without spaces ($sp+8).",
    "step-sigreturn": "Needs a live process.  The frame is found like 'sigdbg frame'.",
    "catch": "Needs a live process.  Uses a temporary 'catch signal' and stepi.",
}


# -- the plugin ---------------------------------------------------------------------------
class Plugin:
    """The state of the extension: one inspector per inferior, the parameters."""

    def __init__(self) -> None:
        self.inspectors: dict[int, GdbInspector] = {}
        self.color = _make_param("color", gdb.PARAM_AUTO_BOOLEAN, None,
                                 "colour in sigdbg's text output (auto: when gdb styles a "
                                 "terminal and NO_COLOR is unset)")
        self.json = _make_param("json", gdb.PARAM_BOOLEAN, False,
                                "JSON output for every sigdbg command (as if --json)")
        self.debug = _make_param("debug", gdb.PARAM_BOOLEAN, False,
                                 "Python tracebacks for sigdbg's internal errors")

    def inspector(self) -> GdbInspector:
        num = gdb.selected_inferior().num
        insp = self.inspectors.get(num)
        if insp is None:
            insp = self.inspectors[num] = GdbInspector()
        insp.invalidate()
        return insp

    def style(self) -> rt.Style:
        value = self.color.value
        if value is None:
            value = bool(os.isatty(1) and _gdb_styling() and not os.environ.get("NO_COLOR"))
        return rt.Style(bool(value))

    def run(self, cmd: Command, arg: str) -> None:
        prog = f"sigdbg {cmd.name}"
        try:
            argv = gdb.string_to_argv(arg)
            parser = cmd.parser(prog)
            if "-h" in argv or "--help" in argv:
                gdb.write(parser.format_help())
                return
            a = parser.parse_args(_eval_addresses(parser, argv))
            if self.json.value:
                a.json = True
            out = cmd.run(self.inspector(), a, self.style())
        except HelpShown as exc:
            gdb.write(str(exc))
            return
        except ArgumentError as exc:
            msg = str(exc)
            raise gdb.GdbError(safe_error(msg if msg.startswith(prog) else f"{prog}: {msg}")) \
                from None
        except SigdbgError as exc:  # paths in it come from the target: sanitised
            raise gdb.GdbError(safe_error(f"{prog}: {exc}")) from None
        except gdb.GdbError:
            raise
        except gdb.error as exc:
            raise gdb.GdbError(safe_error(f"{prog}: {exc}")) from None
        except KeyboardInterrupt:
            raise gdb.GdbError(f"{prog}: interrupted") from None
        except Exception as exc:  # a bug: one line unless `set sigdbg debug on`
            if self.debug.value:
                traceback.print_exc()
            raise gdb.GdbError(safe_error(f"{prog}: internal error: {type(exc).__name__}: "
                                          f"{exc} (set sigdbg debug on for the traceback)")) \
                from None
        gdb.write(out if out.endswith("\n") else out + "\n")

    def complete(self, cmd: Command, text: str, word: str | None) -> object:
        """Options, --kind choices, --dump files, --disas vDSO symbols, signal
        names for catch, expressions for addresses.  gdb breaks words at '-'
        and '+', so candidates are matched against the whole token and
        returned from where gdb's ``word`` starts."""
        word = word or ""
        tokens = text.split()
        cur = tokens[-1] if tokens and not text[-1:].isspace() else ""
        prev = (tokens[-2] if cur else tokens[-1]) if len(tokens) > (1 if cur else 0) else None
        cut = max(0, len(cur) - len(word))

        def matching(candidates: object) -> list[str]:
            return [c[cut:] for c in sorted(candidates) if c.startswith(cur)]  # type: ignore

        parser = cmd.parser(f"sigdbg {cmd.name}")
        takes_value = {o: act for act in parser._actions for o in act.option_strings
                       if act.nargs != 0}
        if prev in takes_value:
            act = takes_value[prev]
            if act.choices:
                return matching(act.choices)
            if act.dest == "dump":
                return matching(_files(cur))
            if act.dest == "disas":
                return matching(self._vdso_symbols())
            return []
        options = [o for act in parser._actions for o in act.option_strings] + ["--help"]
        if cur.startswith("-"):
            return matching(options)
        if cmd.name == "catch":
            return matching(all_signal_names())
        if any(act.type is parse_int for act in parser._actions if not act.option_strings):
            # gdb's own completers see the whole argument text: only when alone
            return gdb.COMPLETE_EXPRESSION if len(tokens) <= 1 else []
        return matching(options)

    def _vdso_symbols(self) -> set[str]:
        try:
            image = self.inspector().vdso_image().image
        except (SigdbgError, gdb.error):
            return set()
        return {s.name for s in image.symbols if s.name}


def _files(prefix: str) -> list[str]:
    """File names starting with ``prefix`` (directories with a trailing /)."""
    head, base = os.path.split(prefix)
    try:
        names = os.listdir(os.path.expanduser(head) or ".")
    except OSError:
        return []
    out = []
    for n in names:
        if n.startswith(base) and (base.startswith(".") or not n.startswith(".")):
            path = os.path.join(head, n)
            out.append(path + "/" if os.path.isdir(os.path.expanduser(path)) else path)
    return out


def _gdb_styling() -> bool:
    try:
        return bool(gdb.parameter("style enabled"))
    except (gdb.error, RuntimeError):
        return False


def _eval_addresses(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Positional addresses may be gdb expressions ($sp+8, &var): evaluate them."""
    takes_value = {o for act in parser._actions for o in act.option_strings if act.nargs != 0}
    positional = [act for act in parser._actions if not act.option_strings]
    out = []
    skip = False
    n = 0
    for tok in argv:
        if skip or tok in takes_value or (tok.startswith("-") and tok[1:2].isalpha()) \
                or tok.startswith("--"):
            skip = tok in takes_value
            out.append(tok)
            continue
        act = positional[n] if n < len(positional) else None
        n += 1
        if act is not None and act.type is parse_int:
            try:
                int(tok, 0)
            except ValueError:
                try:
                    tok = hex(int(gdb.parse_and_eval(tok)) & ((1 << 64) - 1))
                except gdb.error as exc:
                    raise UsageError(f"cannot evaluate {tok!r}: {exc}") from None
        out.append(tok)
    return out


# -- gdb objects ----------------------------------------------------------------------------
def _make_param(name: str, kind: int, default: object, doc: str) -> gdb.Parameter:
    cls = type(f"SigdbgParam_{name}", (gdb.Parameter,), {
        "__doc__": doc[0].upper() + doc[1:] + ".",
        "set_doc": f"Set {doc}.",
        "show_doc": f"Show {doc}.",
        "get_set_string": lambda self: "",
        "get_show_string": lambda self, svalue: f"sigdbg {name} is {svalue}.",
    })
    param: gdb.Parameter = cls(f"sigdbg {name}", gdb.COMMAND_DATA, kind)
    param.value = default
    return param


class _Prefix(gdb.Command):  # type: ignore[misc]
    def __init__(self, name: str, *on_invoke: str) -> None:
        super().__init__(name, gdb.COMMAND_USER if name == "sigdbg" else gdb.COMMAND_DATA,
                         gdb.COMPLETE_COMMAND, True)
        self.on_invoke = on_invoke

    def invoke(self, arg: str, from_tty: bool) -> None:
        for command in self.on_invoke:
            gdb.execute(command, from_tty)


class _SigdbgCommand(gdb.Command):  # type: ignore[misc]
    def __init__(self, plugin: Plugin, cmd: Command) -> None:
        super().__init__(f"sigdbg {cmd.name}", gdb.COMMAND_USER)
        self.plugin = plugin
        self.cmd = cmd

    def invoke(self, arg: str, from_tty: bool) -> None:
        self.dont_repeat()
        self.plugin.run(self.cmd, arg)

    def complete(self, text: str, word: str | None) -> object:
        try:
            return self.plugin.complete(self.cmd, text, word)
        except Exception:  # completion must never raise into gdb
            return []


def _doc(cmd: Command) -> str:
    usage = cmd.parser(f"sigdbg {cmd.name}").format_help()
    extra = _EXTRA_HELP.get(cmd.name)
    head = cmd.help[0].upper() + cmd.help[1:] + "."
    return head + "\n\n" + usage + (f"\n{textwrap.fill(extra, 79)}" if extra else "")


def register() -> Plugin:
    class SigdbgPrefix(_Prefix):
        """sigdbg: the Linux signal boundary -- auxv, vDSO, signal frames, sigreturn.

Inspection commands take --json and are the same as the sigdbg command line's.
set sigdbg color on|off|auto, set sigdbg json on|off, set sigdbg debug on|off."""

    class SetPrefix(_Prefix):
        """Set sigdbg's options (color, json, debug)."""

    class ShowPrefix(_Prefix):
        """Show sigdbg's options (color, json, debug)."""

    SigdbgPrefix("sigdbg", "help sigdbg")
    SetPrefix("set sigdbg", "help set sigdbg")
    ShowPrefix("show sigdbg", "show sigdbg color", "show sigdbg json", "show sigdbg debug")
    plugin = Plugin()
    for cmd in INSPECT_COMMANDS + GDB_COMMANDS:
        cls = type(f"Sigdbg_{cmd.name}", (_SigdbgCommand,), {"__doc__": _doc(cmd)})
        cls(plugin, cmd)
        for alias in cmd.aliases:
            gdb.execute(f"alias sigdbg {alias} = sigdbg {cmd.name}", to_string=True)
    return plugin


#: registered once, when plugin.py first imports this module
PLUGIN = register()
