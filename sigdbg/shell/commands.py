"""The shell's commands: one argparse definition each, gdb-like names and aliases.

The data commands the CLI also has (auxv, maps, vdso, vsyscall, frame) reuse
:data:`sigdbg.commands.inspect.INSPECT_COMMANDS` -- the same parsers, the same
renderers.  ``complete`` tells the completer what a command's positional
arguments are.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigdbg.abi import native_abi
from sigdbg.commands.inspect import INSPECT_COMMANDS
from sigdbg.commands.parser import Command, Parser, add_json_arg, dump_json, parse_int
from sigdbg.engine.program import check_program
from sigdbg.errors import UsageError
from sigdbg.names import signal_name, signal_number
from sigdbg.shell import corecmd, data, views
from sigdbg.textsafe import safe

if TYPE_CHECKING:
    from sigdbg.shell.context import ShellContext as Shell

Run = Callable[["Shell", argparse.Namespace], None]


@dataclass(frozen=True)
class ShellCommand:
    name: str
    help: str
    run: Run
    configure: Callable[[argparse.ArgumentParser], None] = lambda p: None
    aliases: tuple[str, ...] = ()
    repeat: bool = False  #: an empty line repeats it (gdb: stepi, nexti, x)
    complete: str = ""  #: what the positional arguments are, for the completer
    option_values: dict[str, str] = field(default_factory=dict)  #: option -> completer kind
    inspect: Command | None = None
    #: rewrites argv before parsing (the shared parsers take numbers, the shell expressions)
    prepare: Callable[[Shell, list[str]], list[str]] | None = None

    def make_parser(self) -> Parser:
        if self.inspect is not None:
            return self.inspect.parser(self.name)
        p = Parser(prog=self.name, description=self.help, add_help=False)
        self.configure(p)
        return p


def _signal_arg(text: str) -> int:
    try:
        return signal_number(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- running ---------------------------------------------------------------------------
def _file(sh: Shell, a: argparse.Namespace) -> None:
    sh.program = check_program(a.program)
    sh.write(f"program: {safe(sh.program)}")


def _run(sh: Shell, a: argparse.Namespace) -> None:
    sh.launch(a.args, at="entry" if a.start else "exec")


def _attach(sh: Shell, a: argparse.Namespace) -> None:
    sh.attach(a.pid)


def _detach(sh: Shell, a: argparse.Namespace) -> None:
    pid = sh.require_session().pid
    sh.end_session("detach")
    sh.write(f"detached from process {pid}")


def _kill(sh: Shell, a: argparse.Namespace) -> None:
    pid = sh.require_session().pid
    sh.end_session("kill")
    sh.write(f"killed process {pid}")


def _continue(sh: Shell, a: argparse.Namespace) -> None:
    sh.run.cont()


def _stepi(sh: Shell, a: argparse.Namespace) -> None:
    sh.run.stepi(a.count, over=a.over)


def _step_sigreturn(sh: Shell, a: argparse.Namespace) -> None:
    sh.run.step_sigreturn()


def _signal(sh: Shell, a: argparse.Namespace) -> None:
    sh.run.send_signal(a.signal, resume=not a.queue)


# -- signals ------------------------------------------------------------------------------
_ACTIONS = ("stop", "nostop", "print", "noprint", "pass", "nopass")


def _signals_of(words: list[str]) -> list[int]:
    if not words or any(w.lower() == "all" for w in words):
        return list(range(1, 65))
    try:
        return sorted({signal_number(w) for w in words})
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _handle(sh: Shell, a: argparse.Namespace) -> None:
    sigs_w = [w for w in a.words if w.lower() not in _ACTIONS]
    actions = [w.lower() for w in a.words if w.lower() in _ACTIONS]
    if not sigs_w:
        raise UsageError("handle: give a signal (or all) and actions: " + " ".join(_ACTIONS))
    sigs = _signals_of(sigs_w)
    p = sh.policy
    for act in actions:
        for n in sigs:
            if act == "stop":  # gdb: stop implies print
                p.nostop.discard(n)
                p.noprint.discard(n)
            elif act == "nostop":
                p.nostop.add(n)
            elif act == "print":
                p.noprint.discard(n)
            elif act == "noprint":  # gdb: noprint implies nostop
                p.noprint.add(n)
                p.nostop.add(n)
            elif act == "pass":
                p.nopass.discard(n)
            else:
                p.nopass.add(n)
    sh.write(views.signal_table(p, sigs, sh.style))


def _catch(sh: Shell, a: argparse.Namespace) -> None:
    if a.what == "sigreturn":
        if a.signals:
            raise UsageError("catch sigreturn takes no arguments")
        sh.catch_sigreturn = True
        if sh.session is not None and sh.session.alive:
            sh.session.enable_srop()
        sh.write("catchpoint: stop at each rt_sigreturn/sigreturn with the forged-frame "
                 "verdict (PTRACE_SYSCALL from now on)")
        return
    if a.what != "signal":
        raise UsageError("catch: only 'catch signal [SIG...]' and 'catch sigreturn' are "
                         f"supported, not {a.what!r}")
    sigs = _signals_of(a.signals)
    for n in sigs:
        sh.policy.nostop.discard(n)
        sh.policy.noprint.discard(n)
    names = "all signals" if len(sigs) == 64 else ", ".join(signal_name(n) for n in sigs)
    sh.write(f"catchpoint: stop when {names} arrive{'s' if len(sigs) == 1 else ''}")


def _info(sh: Shell, a: argparse.Namespace) -> None:
    what = a.what
    rest = list(a.rest)
    subs = {"signals": "info-signals", "handle": "info-signals", "breakpoints": "info-breaks",
            "registers": "regs", "auxv": "auxv", "frame": "frame", "siginfo": "siginfo",
            "proc": "maps"}
    matches = [k for k in subs if k.startswith(what)]  # dict order breaks ties, as gdb's
    if not matches:
        raise UsageError(f"info: unknown subject {what!r} (try: {', '.join(subs)})")
    target = subs[what] if what in subs else subs[matches[0]]
    if target == "maps":
        rest = [w for w in rest if w != "mappings"]
    cmd = find_command(target)
    if cmd.prepare is not None:  # info frame $sp+8, as frame $sp+8
        rest = cmd.prepare(sh, rest)
    args = cmd.make_parser().parse_args(rest)
    args.suffix = ""
    cmd.run(sh, args)


def _info_signals(sh: Shell, a: argparse.Namespace) -> None:
    sigs = _signals_of(a.signals)
    if a.json:
        sh.write(dump_json(views.signal_rows(sh.policy, sigs)))
    else:
        sh.write(views.signal_table(sh.policy, sigs, sh.style))


# -- breakpoints -----------------------------------------------------------------------------
def _break(sh: Shell, a: argparse.Namespace) -> None:
    s = sh.require_stopped()
    res = sh.require_resolver()
    where = " ".join(a.where)
    addr = res.evaluate(where) if where else s.registers()[s.abi.pc]
    num = sh.breakpoint_number(addr)
    if num is not None:
        raise UsageError(f"breakpoint {num} is already at {addr:#x}")
    s.insert_breakpoint(addr)
    num = sh._next_bp
    sh._next_bp += 1
    sh.breakpoints[num] = addr
    sym = sh.symbol_at(addr)
    sh.write(f"breakpoint {num} at {addr:#x}" + (f" <{safe(sym)}>" if sym else ""))


def _delete(sh: Shell, a: argparse.Namespace) -> None:
    nums = a.numbers or sorted(sh.breakpoints)
    missing = [n for n in nums if n not in sh.breakpoints]
    if missing:
        raise UsageError(f"no breakpoint number {missing[0]}")
    for n in nums:
        addr = sh.breakpoints.pop(n)
        if sh.session is not None:
            sh.session.remove_breakpoint(addr)
    sh.write(f"deleted {len(nums)} breakpoint{'s' if len(nums) != 1 else ''}")


# -- the shell itself ------------------------------------------------------------------------
def _help(sh: Shell, a: argparse.Namespace) -> None:
    if a.command:
        cmd = find_command(a.command)
        names = ", ".join((cmd.name, *cmd.aliases))
        sh.write(f"{names}: {cmd.help}\n" + cmd.make_parser().format_usage().strip())
        return
    width = max(len(c.name) for c in COMMANDS)
    lines = []
    for c in COMMANDS:
        if c.name.startswith("info-"):
            continue
        alias = f" ({', '.join(c.aliases)})" if c.aliases else ""
        lines.append(f"  {sh.style.name(c.name.ljust(width))}  {c.help}{alias}")
    lines.append("Data commands take --json.  x/FMT ADDR: FMT is [COUNT][xduotacsi][bhwg].")
    lines.append("ADDR: numbers, $registers, AT_* names, vDSO/program symbols, joined by + -.")
    lines.append("An empty line repeats stepi, nexti and x.  Ctrl-C interrupts the program; "
                 "Ctrl-D quits.")
    sh.write("\n".join(lines))


def _set(sh: Shell, a: argparse.Namespace) -> None:
    if a.setting == "on-exit":
        if a.value not in ("kill", "detach"):
            raise UsageError("set on-exit: kill or detach")
        sh.on_exit = a.value
        sh.write(f"on exit the program will be {'killed' if a.value == 'kill' else 'detached'}")


def _quit(sh: Shell, a: argparse.Namespace) -> None:
    sh.done = True


# -- parsers -----------------------------------------------------------------------------------
def _p_run(start: bool) -> Callable[[argparse.ArgumentParser], None]:
    def conf(p: argparse.ArgumentParser) -> None:
        p.add_argument("args", nargs=argparse.REMAINDER, help="program arguments")
        p.set_defaults(start=start)
    return conf


def _p_stepi(over: bool) -> Callable[[argparse.ArgumentParser], None]:
    def conf(p: argparse.ArgumentParser) -> None:
        p.add_argument("count", nargs="?", type=parse_int, default=1)
        p.set_defaults(over=over)
    return conf


def _p_signal(queue: bool) -> Callable[[argparse.ArgumentParser], None]:
    def conf(p: argparse.ArgumentParser) -> None:
        p.add_argument("signal", type=_signal_arg, help="SIGUSR1, USR1, 10, SIGRTMIN+2 ...")
        p.set_defaults(queue=queue)
    return conf


def _p_words(name: str, nargs: str | None = "*") -> Callable[[argparse.ArgumentParser], None]:
    def conf(p: argparse.ArgumentParser) -> None:
        p.add_argument(name, nargs=nargs)
    return conf


def _p_json_words(name: str) -> Callable[[argparse.ArgumentParser], None]:
    def conf(p: argparse.ArgumentParser) -> None:
        add_json_arg(p)
        p.add_argument(name, nargs="*")
    return conf


#: what ``regs --fp`` shows, for the help (the tracer's own ABI's words: the
#: table is built before any target is known)
_FP_REGS = native_abi().fp_regs_summary or "FP/vector"


def _p_regs(p: argparse.ArgumentParser) -> None:
    add_json_arg(p)
    p.add_argument("--fp", action="store_true", help=f"{_FP_REGS} registers")
    p.add_argument("--frame", action="store_true",
                   help="the interrupted context saved in the current signal frame")


def _p_disas(p: argparse.ArgumentParser) -> None:
    add_json_arg(p)
    p.add_argument("-n", "--count", type=parse_int, default=0, help="instructions")
    p.add_argument("where", nargs="*", help="ADDR or SYMBOL (default: pc)")


def _p_bt(p: argparse.ArgumentParser) -> None:
    add_json_arg(p)
    p.add_argument("limit", nargs="?", type=parse_int, default=64)


def _p_catch(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", help="signal or sigreturn")
    p.add_argument("signals", nargs="*")


def _p_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", help="signals, breakpoints, registers, auxv, frame, siginfo, proc")
    p.add_argument("rest", nargs=argparse.REMAINDER)


def _p_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("setting", choices=("on-exit",))
    p.add_argument("value")


def _p_pid(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=parse_int)


def _p_delete(p: argparse.ArgumentParser) -> None:
    p.add_argument("numbers", nargs="*", type=parse_int)


def _from_inspect(c: Command) -> ShellCommand:
    def conf(p: argparse.ArgumentParser) -> None:
        p.set_defaults(command_name=c.name)

    def configure(p: argparse.ArgumentParser) -> None:
        c.configure(p)
        conf(p)

    inspect = Command(c.name, c.help, configure, c.run, c.aliases)
    return ShellCommand(c.name, c.help, data.inspect, aliases=c.aliases, inspect=inspect,
                        complete="address" if c.name == "frame" else "",
                        option_values={"--disas": "vdso_symbol", "--dump": "path"},
                        prepare=data.frame_argv if c.name == "frame" else None)


COMMANDS: tuple[ShellCommand, ...] = (
    ShellCommand("file", "set the program to run", _file, _p_words("program", None),
                 complete="path"),
    ShellCommand("run", "start the program, stopped at its first instruction (exec)", _run,
                 _p_run(False), aliases=("r",), complete="path"),
    ShellCommand("start", "start the program, stopped at its entry point (AT_ENTRY)", _run,
                 _p_run(True), complete="path"),
    ShellCommand("attach", "attach to a running process", _attach, _p_pid),
    ShellCommand("core", "load a core file: core FILE [--exe PROG] (then auxv, maps, vdso, "
                 "frame, siginfo, regs read it)", corecmd.run, corecmd.configure,
                 complete="path"),
    ShellCommand("detach", "let the process go (it keeps running)", _detach),
    ShellCommand("kill", "kill the process", _kill),
    ShellCommand("continue", "run until a signal that stops, a breakpoint or the end", _continue,
                 aliases=("c", "cont")),
    ShellCommand("stepi", "execute N instructions", _stepi, _p_stepi(False), aliases=("si",),
                 repeat=True),
    ShellCommand("nexti", "execute N instructions, stepping over calls", _stepi,
                 _p_stepi(True), aliases=("ni",), repeat=True),
    ShellCommand("step-sigreturn", "run the handler to its restorer, step through sigreturn "
                 "and check the restored context", _step_sigreturn, aliases=("sr",)),
    ShellCommand("signal", "send SIG to the current thread and continue", _signal,
                 _p_signal(False), complete="signals"),
    ShellCommand("queue-signal", "send SIG to the current thread; it arrives when the program "
                 "resumes", _signal, _p_signal(True), complete="signals"),
    ShellCommand("catch", "catch signal [SIG...]: stop when these signals arrive; "
                 "catch sigreturn: stop at each sigreturn with the SROP verdict", _catch,
                 _p_catch, complete="catch"),
    ShellCommand("handle", "handle SIG... stop|nostop|print|noprint|pass|nopass", _handle,
                 _p_words("words"), complete="handle"),
    ShellCommand("info", "info signals|breakpoints|registers|auxv|frame|siginfo|proc", _info,
                 _p_info, aliases=("i",), complete="info"),
    ShellCommand("info-signals", "the signal table", _info_signals, _p_json_words("signals"),
                 complete="signals"),
    ShellCommand("info-breaks", "the breakpoints", data.info_breaks, add_json_arg),
    ShellCommand("siginfo", "the siginfo of the last signal delivery", data.siginfo, add_json_arg),
    *(_from_inspect(c) for c in INSPECT_COMMANDS),
    ShellCommand("regs", f"general registers; --fp: {_FP_REGS}; --frame: the interrupted ones",
                 data.regs, _p_regs),
    ShellCommand("x", "examine memory: x/FMT ADDR (x/16xb, x/4xg, x/s, x/3i)", data.examine,
                 _p_json_words("address"), repeat=True, complete="address"),
    ShellCommand("disas", "disassemble at ADDR or a SYMBOL (default: pc)", data.disas, _p_disas,
                 aliases=("disassemble",), complete="address"),
    ShellCommand("bt", "backtrace, through signal frames", data.bt, _p_bt,
                 aliases=("backtrace", "where")),
    ShellCommand("break", "set a breakpoint at ADDR or SYMBOL", _break, _p_words("where"),
                 aliases=("b",), complete="address"),
    ShellCommand("delete", "delete breakpoints (all without N)", _delete, _p_delete,
                 aliases=("d",)),
    ShellCommand("set", "set on-exit kill|detach", _set, _p_set, complete="set"),
    ShellCommand("help", "list the commands, or show one", _help, _p_words("command", "?"),
                 aliases=("h",), complete="command"),
    ShellCommand("quit", "leave (kills a launched program, detaches an attached one)", _quit,
                 aliases=("q", "exit")),
)


class Table:
    """A command table (:class:`~sigdbg.shell.context.CommandTable`): the shell
    and its completer are given one.  :data:`TABLE` is the shell's own: without
    rows of its own a table reads :data:`COMMANDS` at each lookup."""

    def __init__(self, commands: tuple[ShellCommand, ...] | None = None) -> None:
        self._commands = commands

    @property
    def commands(self) -> tuple[ShellCommand, ...]:
        return COMMANDS if self._commands is None else self._commands

    def names(self) -> list[str]:
        out = []
        for c in self.commands:
            if not c.name.startswith("info-"):
                out.append(c.name)
                out.extend(c.aliases)
        return out

    def find(self, name: str) -> ShellCommand:
        for c in self.commands:
            if name == c.name or name in c.aliases:
                return c
        visible = [c for c in self.commands if not c.name.startswith("info-")]
        hits = [c for c in visible if c.name.startswith(name)] if name else []
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise UsageError(f"ambiguous command {name!r}: {', '.join(c.name for c in hits)}")
        raise UsageError(f"unknown command {name!r} (try: help)")


TABLE = Table()


def command_names() -> list[str]:
    """Every name a user can type (hidden helpers excluded)."""
    return TABLE.names()


def find_command(name: str) -> ShellCommand:
    return TABLE.find(name)


__all__ = ["COMMANDS", "TABLE", "ShellCommand", "Table", "command_names", "find_command"]
