"""The shell's state, without a terminal.

:class:`Shell` owns at most one :class:`~sigdbg.engine.session.Session` and
writes everything to one text stream.  :meth:`Shell.execute` runs one command
line and never raises: errors are one ``error: ...`` line.

A shell is built from injected parts: its command table (``commands``, a
:class:`~sigdbg.shell.context.CommandTable`) and its run control
(``run_control``, a factory of a :class:`~sigdbg.shell.context.ShellRunner`).
Without them it takes the shell's own (:data:`sigdbg.shell.commands.TABLE`,
:class:`~sigdbg.shell.run.RunControl`, over the engine's
:class:`~sigdbg.engine.runcontrol.RunControl`); tests give fakes.
"""

from __future__ import annotations

import os
import shlex
import signal
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from sigdbg.commands.backend import attach_session, launch_session
from sigdbg.commands.parser import HelpShown
from sigdbg.decode.disasm import Instruction
from sigdbg.decode.siginfo import SigInfo
from sigdbg.engine import events as ev
from sigdbg.engine.session import Session, SignalPolicy
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.names import signal_name
from sigdbg.render.events import render_event
from sigdbg.render.text import Style
from sigdbg.shell import views
from sigdbg.shell.expr import ExamineFormat, Resolver
from sigdbg.shell.reaper import Reaper
from sigdbg.textsafe import safe_error

if TYPE_CHECKING:
    from sigdbg.engine.coretarget import CoreTarget
    from sigdbg.shell.context import CommandTable, RunControlFactory, ShellRunner


def shell_policy() -> SignalPolicy:
    """gdb's defaults: as the engine's, plus SIGINT nopass (Ctrl-C must not kill the program)."""
    p = SignalPolicy()
    p.nopass.add(signal.SIGINT)
    # A group-stop is a stop the shell shows; `continue` there restarts the
    # program, as gdb's does (a LISTENed task would ignore the shell's Ctrl-C).
    p.job_control = False
    return p


#: how many handler entries :attr:`Shell.frame_signals` remembers (nesting depth
#: is small; a storm reuses the same few frame addresses)
_FRAME_SIGNALS_KEPT = 256


@dataclass(frozen=True)
class Status:
    """What the toolbar shows."""

    pid: int | None
    abi: str | None
    state: str  #: "no process", "stopped", "running", "exited"
    reason: str
    how: str  #: "launched" or "attached" (or "")
    on_exit: str


def split_command(words: list[str]) -> tuple[str, str, list[str]]:
    """``x/16xb $sp`` -> ("x", "16xb", ["$sp"]): the shell's command-line syntax."""
    if not words:
        raise UsageError("empty command")
    head, _, suffix = words[0].partition("/")
    return head, suffix, words[1:]


class Shell:
    prompt = "(sigdbg) "

    def __init__(self, out: TextIO, *, style: Style | None = None,
                 tracee_stdio: dict[str, int] | None = None, debug: bool = False,
                 commands: CommandTable | None = None,
                 run_control: RunControlFactory | None = None) -> None:
        self.out = out
        self.style = style if style is not None else Style.for_stream(out)
        self.tracee_stdio = dict(tracee_stdio or {})
        self.debug = debug
        self.policy = shell_policy()
        self.session: Session | None = None
        self.core: CoreTarget | None = None  #: a core file loaded with `core FILE`
        self.resolver: Resolver | None = None
        self.program: str | None = None
        self.program_args: list[str] = []
        self.on_exit: str | None = None  #: None: kill launched, detach attached
        self.breakpoints: dict[int, int] = {}  #: number -> address
        self._next_bp = 1
        self.handler: ev.HandlerEntered | None = None  #: the last handler entry
        #: frame address -> the signal it was delivered for, for every handler entry
        #: seen (the frame's own siginfo is stale without SA_SIGINFO); the newest last
        self.frame_signals: dict[int, int] = {}
        self.last_siginfo: SigInfo | None = None
        self.reason = ""
        #: catch sigreturn: stop at each sigreturn with its SROP verdict
        self.catch_sigreturn = False
        self.running = False
        self.done = False
        self.exited = ""
        self.last_format: ExamineFormat | None = None  #: the last x/FMT, for x without one
        self._repeat = ""
        if commands is None or run_control is None:
            # the shell's own parts, imported here: the table's modules take the
            # shell as a ShellContext and never import this one
            from sigdbg.shell.commands import TABLE
            from sigdbg.shell.run import RunControl
            commands = TABLE if commands is None else commands
            run_control = RunControl if run_control is None else run_control
        self.commands: CommandTable = commands
        self.run: ShellRunner = run_control(self)
        #: waits for the programs launched here and then detached
        self.reaper = Reaper()

    # -- output ----------------------------------------------------------------------
    def write(self, text: str) -> None:
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    def error(self, message: str) -> None:
        one = "; ".join(x.strip() for x in str(message).strip().splitlines() if x.strip())
        # paths in messages come from the user or the target: sanitised
        self.write(f"{self.style.warn('error:')} {safe_error(one) or 'failed'}")

    def show_event(self, e: ev.Event) -> None:
        self.write(render_event(e, self.style, frames=False))

    # -- one command line -----------------------------------------------------------------
    def execute(self, line: str) -> None:
        text = line.strip()
        if not text:
            text = self._repeat
            if not text:
                return
        if text.startswith("#"):
            return
        try:
            words = shlex.split(text)
        except ValueError as exc:
            self.error(str(exc))
            return
        try:
            name, suffix, argv = split_command(words)
            cmd = self.commands.find(name)
            self._repeat = text if cmd.repeat else ""
            if cmd.prepare is not None:
                argv = cmd.prepare(self, argv)
            args = cmd.make_parser().parse_args(argv)
            args.suffix = suffix
            cmd.run(self, args)
        except HelpShown as exc:
            self.write(str(exc))
        except SigdbgError as exc:
            self.error(str(exc))
        except KeyboardInterrupt:
            self.error("interrupted")
        except Exception as exc:  # a bug: one line, the shell stays
            if self.debug:
                self.write(traceback.format_exc())
            self.error(f"internal error: {type(exc).__name__}: {exc}")

    def set_repeat(self, line: str) -> None:
        """What an empty line runs next (a command's own continuation, e.g. ``x``)."""
        self._repeat = line

    # -- state ---------------------------------------------------------------------------
    def require_session(self) -> Session:
        if self.session is None or not self.session.alive:
            raise UsageError("the program is not running" + (f" ({self.exited})"
                                                             if self.exited else ""))
        return self.session

    def require_stopped(self) -> Session:
        s = self.require_session()
        s.require_stopped()
        return s

    def require_resolver(self) -> Resolver:
        self.require_stopped()
        assert self.resolver is not None
        return self.resolver

    def status(self) -> Status:
        s = self.session
        on_exit = self.on_exit or ("kill" if s is None or s.launched else "detach")
        if s is None or not s.alive:
            state = "exited" if self.exited else "no process"
            return Status(None, None, state, self.exited or self.reason, "", on_exit)
        state = "running" if self.running else "stopped"
        try:
            abi = s.abi.name
        except SigdbgError:
            abi = None
        return Status(s.pid, abi, state, self.reason, "launched" if s.launched else "attached",
                      on_exit)

    def entered(self, e: ev.HandlerEntered) -> None:
        """A handler was entered: it is the current one, and its frame's signal is known."""
        self.handler = e
        fs = self.frame_signals
        fs.pop(e.frame.address, None)
        fs[e.frame.address] = e.frame.sig
        while len(fs) > _FRAME_SIGNALS_KEPT:
            del fs[next(iter(fs))]

    def signal_of_frame(self, address: int) -> int | None:
        """The signal a frame at ``address`` was delivered for, if we saw it delivered."""
        return self.frame_signals.get(address)

    def active_handler(self) -> ev.HandlerEntered | None:
        """The last handler entry, if its handler has not returned yet (by sp)."""
        h = self.handler
        s = self.session
        if h is None or s is None or not s.alive:
            return None
        try:
            task = s.tracer.tasks.get(h.tid)
            if task is None:
                return None
            sp = task.registers()[task.abi.sp]
        except SigdbgError:
            return None
        if sp > h.frame.address + task.abi.word:
            self.handler = None
            return None
        return h

    # -- session lifecycle ----------------------------------------------------------------
    def launch(self, args: list[str] | None = None, *, at: str = "exec") -> None:
        if args:
            self.program_args = list(args)
        if self.program is None:
            raise UsageError("no program: load one with 'file PROG' "
                             "(or start the shell with -- PROG ARGS)")
        s = self.session
        if s is not None and s.alive:
            if not s.launched:
                raise UsageError(f"process {s.pid} is attached: detach or kill it first")
            self.end_session("kill")
            self.write(f"killed the previous process {s.pid}")
        io = self.tracee_stdio
        self.adopt(launch_session([self.program, *self.program_args], at=at,
                                  stdin=io.get("stdin"), stdout=io.get("stdout"),
                                  stderr=io.get("stderr")),
                   "entry" if at == "entry" else "exec")

    def attach(self, pid: int) -> None:
        s = self.session
        if s is not None and s.alive:
            raise UsageError(f"already debugging process {s.pid}: detach or kill it first")
        self.reaper.forget(pid)  # (a child let go before: its stops are ours to wait for now)
        self.adopt(attach_session(pid), "attached")

    def adopt(self, s: Session, reason: str) -> None:
        s.policy = self.policy
        if self.catch_sigreturn:
            s.enable_srop()  # PTRACE_SYSCALL: no filter outlives a detach
        self.session = s
        self.resolver = Resolver(s)
        self.breakpoints.clear()
        self.handler = None
        self.frame_signals.clear()
        self.last_siginfo = None
        self.exited = ""
        self.reason = reason
        if not s.launched:
            self.program = s.exe_path() or self.program
            self.write(f"attached to process {s.pid} ({s.abi.name})")
            info = s.attach_signal()
            if info is not None:  # caught in its delivery: not lost, the next run delivers it
                self.write(f"{signal_name(info.si_signo)} was being delivered: "
                           "it is reported and delivered when the program goes on")
        for e in s.first_events:
            self.show_event(e)
        s.first_events = []
        self.show_location()

    def end_session(self, mode: str) -> None:
        """``kill`` or ``detach`` the target; never leaves it stopped."""
        s = self.session
        if s is None:
            return
        pending = self.run.interrupt_pending
        self.run.clear_interrupt()
        self._forget_session(f"{'killed' if mode == 'kill' else 'detached'}")
        try:
            if s.alive:
                if mode == "detach":
                    s.detach()
                    if pending:  # our SIGSTOP is still queued: let it not stop the process
                        try:
                            os.kill(s.pid, signal.SIGCONT)
                        except OSError:
                            pass
                    if s.launched:  # our child: reaped when it exits, not left <defunct>
                        self.reaper.adopt(s.pid)
                else:
                    s.kill()
        finally:
            s.close()

    def _forget_session(self, why: str) -> None:
        self.session = None
        self.resolver = None
        self.handler = None
        self.frame_signals.clear()
        self.breakpoints.clear()
        self.exited = why
        self.reason = why

    def session_gone(self, e: ev.Event | None) -> None:
        s = self.session
        if isinstance(e, ev.Exited):
            why = f"exited with {e.status}"
        elif isinstance(e, ev.Killed):
            why = f"killed by {signal_name(e.signal)}"
        else:
            why = "gone"
        self.run.clear_interrupt()
        self._forget_session(why)
        if s is not None:
            s.close()

    def close(self) -> None:
        """Leave: kill a launched target, detach an attached one (or as ``set on-exit``)."""
        if self.core is not None:
            self.core.close()
        s = self.session
        try:
            if s is None:
                return
            mode = self.on_exit or ("kill" if s.launched else "detach")
            try:
                self.end_session(mode)
            except Exception:
                s.close()
        finally:
            self.reaper.close()

    def on_exec(self) -> None:
        s = self.session
        assert s is not None
        if s.breakpoints or self.breakpoints:
            self.write("breakpoints deleted: the program executed a new image")
        s.breakpoints.clear()  # the new image has none of our int3s
        self.breakpoints.clear()
        self.handler = None
        self.frame_signals.clear()
        if self.resolver is not None:
            self.resolver.invalidate()

    def breakpoint_number(self, address: int) -> int | None:
        for num, addr in self.breakpoints.items():
            if addr == address:
                return num
        return None

    # -- code and location -----------------------------------------------------------------
    def read_code(self, address: int, size: int) -> bytes:
        """Target memory with our int3s replaced by the original bytes."""
        s = self.require_stopped()
        data = bytearray(s.current_task().read_upto(address, size))
        for a, orig in s.breakpoints.items():
            if address <= a < address + len(data):
                data[a - address] = orig[0]
        return bytes(data)

    def code_at(self, address: int) -> tuple[int, str]:
        """(where the instruction at ``address`` starts, the disassembler mode
        for it).  ARM interworking (``Abi.isa_bit``): an address with bit 0
        set is Thumb code at the address without it, and any other is in the
        instruction set the task runs now (CPSR.T, ``Abi.isa_flag``): the
        kernel enters a Thumb handler with bit 0 set in pc
        (arch/arm64/kernel/signal32.c ``compat_setup_return``)."""
        s = self.require_stopped()
        abi = s.abi
        if abi.isa_bit and (address & abi.isa_bit
                            or abi.in_isa(s.registers()[abi.flags])):
            return address & ~abi.isa_bit, abi.isa_disasm_mode
        return address, abi.disasm_mode

    def disassemble(self, address: int, size: int, count: int = 0) -> list[str]:
        """``Inspector.disassemble`` of our view of the code at ``address``
        (breakpoints hidden), in the instruction set :meth:`code_at` says."""
        s = self.require_stopped()
        at, mode = self.code_at(address)
        return s.disassemble(self.read_code(at, size), at, count=count, mode=mode)

    def pc_here(self) -> int:
        """The pc as an instruction address (the ISA bit cleared)."""
        s = self.require_stopped()
        return self.code_at(s.registers()[s.abi.pc])[0]

    def instruction_at(self, address: int) -> Instruction | None:
        from sigdbg.decode.disasm import get_disassembler

        at, mode = self.code_at(address)
        return get_disassembler(mode, "att").one(self.read_code(at, 16), at)

    def symbol_at(self, address: int) -> str | None:
        s = self.session
        if s is None:
            return None
        try:
            ref = s.lookup(address)
        except SigdbgError:
            return None
        return str(ref) if ref is not None else None

    def show_location(self) -> None:
        s = self.session
        if s is None or not s.alive or not s.is_stopped():
            return
        try:
            pc = s.registers()[s.abi.pc]
            lines = self.disassemble(pc, 16, count=1)
        except SigdbgError:
            return
        if lines:
            self.write(views.location(lines[0], self.symbol_at(pc), self.style))
