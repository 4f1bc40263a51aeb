"""Run control: what a debugger's run commands do to a stopped thread.

``stepi`` (one instruction, stepping off our own breakpoint), ``nexti``
(over a call: a temporary breakpoint where it returns), ``continue`` (the
host's event loop until an event that stops), ``step-sigreturn``, sending a
signal, and interrupting a running target.  Everything here is done through
the backend's :class:`~sigdbg.backends.base.Control` (breakpoints, the
breakpoint hit with its pc rewound, signals) and the host's bookkeeping
(:class:`RunHost`: the session's resumes and event loop); the architecture's
facts come from the thread's :class:`~sigdbg.abi.abis.Abi` (the breakpoint,
the call mnemonics, the step traps).  Nothing here prints: runs are
generators of the events a front end shows, returning a :class:`Halt` that
says why the thread stopped.

The interrupt (Ctrl-C in the shell) is a thread-directed SIGSTOP sent with
:meth:`Control.send_signal <sigdbg.backends.base.Control.send_signal>`,
made nopass/print while it is pending: it arrives as a "suppressed"
delivery recognised by its si_pid (ours) and the run stops there.  A
SIGSTOP is dequeued like any signal, so it never lands inside one of the
engine's own steps as a stop of another kind, where PTRACE_INTERRUPT's
event stop would.  If the run stopped for another reason first, the stale
SIGSTOP is swallowed when it turns up later (the session's detach lets it
go too, ``Session._signal_owed``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Collection, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sigdbg.backends.base import Control
from sigdbg.backends.stopcodes import Stop
from sigdbg.decode.disasm import Instruction
from sigdbg.decode.sigframe import SigFrame, decode_sigframe
from sigdbg.decode.siginfo import SigInfo
from sigdbg.engine import events as ev
from sigdbg.engine.sigreturn import ControlHost, WalkHost, leftover_events
from sigdbg.engine.stops import SIGTRAP_HANDLER_ENTRY, siginfo_of
from sigdbg.errors import SigdbgError, TargetError
from sigdbg.names import signal_name

_SIGTRAP, _SIGSTOP = int(signal.SIGTRAP), int(signal.SIGSTOP)

#: SignalDelivered dispositions after which the task is stopped where it was
#: (not followed by HandlerEntered).  "fatal" comes at the PTRACE_EVENT_EXIT
#: stop: the dying process can still be inspected, as gdb shows it.
STOP_DISPOSITIONS = frozenset({"ignored", "suppressed", "stop", "passed", "unknown", "fatal"})


class RunPolicy(Protocol):
    """The signal policy run control reads and, for an interrupt, changes
    (``SignalPolicy`` of ``engine/session.py``)."""

    nopass: set[int]
    noprint: set[int]

    def stops(self, sig: int) -> bool: ...

    def passes(self, sig: int) -> bool: ...


class RunHost(WalkHost, Protocol):
    """What run control needs of the session beyond the backend: its
    bookkeeping of which threads are stopped and with what signal owed, its
    event loop, and (as a :class:`~sigdbg.engine.sigreturn.WalkHost`) what
    the sigreturn walk needs.  ``Session`` implements it; :class:`ControlRunHost`
    does over a bare :class:`~sigdbg.backends.base.Control` (the fake backend)."""

    #: the process (its main thread's exit ends a run)
    pid: int

    @property
    def policy(self) -> RunPolicy: ...

    @property
    def alive(self) -> bool: ...

    def sigframe(self, address: int | None = None, *, signo: int | None = None,
                 kind: str | None = None) -> SigFrame:
        """The signal frame at ``address`` (default: the current thread's sp,
        the frame at a handler's first instruction)."""
        ...

    def is_stopped(self, tid: int | None = None) -> bool: ...

    def owed_signal(self, tid: int) -> int:
        """The signal thread ``tid`` resumes with (0: none)."""
        ...

    def step_thread(self, tid: int) -> Stop:
        """One PTRACE_SINGLESTEP of ``tid`` with the signal it is owed; its
        next stop, taken by the caller (no breakpoint is lifted here)."""
        ...

    def resume_others(self, tid: int) -> None:
        """Let every thread but ``tid`` that the host holds stopped run."""
        ...

    def events(self) -> Iterator[ev.Event]:
        """The host's event loop: resumes what it holds stopped, yields
        events; the thread stays stopped while the consumer holds one."""
        ...

    def invalidate(self) -> None:
        """Forget what was decoded of the address space (it may change while it runs)."""
        ...


@dataclass(frozen=True)
class Halt:
    """Why a run ended with the thread stopped (or the process gone).

    ``why``: "step", "breakpoint", "interrupted", "signal", "handler",
    "group-stop", "sigreturn", "context-restored", "sigreturn-abandoned",
    "walked" (a sigreturn walk ended with neither), "exited"; ``reason``
    the same for a person ("handler for SIGUSR1", "SIGSEGV fatal"; empty:
    leave the last one); ``event`` the event it stopped at, if any."""

    why: str
    reason: str
    event: ev.Event | None = None


#: a run: the events to show, then why it ended (None: the process is gone)
Run = Generator[ev.Event, None, Halt | None]


class Interrupter:
    """The pending interrupt of one run control (see the module docstring)."""

    def __init__(self, own_pid: int | None = None) -> None:
        #: the pid our signals carry as si_pid (the fake backend's: the recording's)
        self.own_pid = os.getpid() if own_pid is None else own_pid
        self.pending = False
        #: asked during the current run (else a pending one is stale)
        self.asked = False
        self._saved = (False, False)

    def request(self, host: RunHost, control: Control, tid: int) -> None:
        if not host.alive or self.pending:
            return
        policy = host.policy
        self._saved = (_SIGSTOP in policy.nopass, _SIGSTOP in policy.noprint)
        policy.nopass.add(_SIGSTOP)
        policy.noprint.discard(_SIGSTOP)
        self.pending = self.asked = True
        try:
            control.send_signal(tid, _SIGSTOP)
        except SigdbgError:
            self.clear(host)

    def clear(self, host: RunHost) -> None:
        if not self.pending:
            return
        self.pending = False
        nopass, noprint = self._saved
        policy = host.policy
        (policy.nopass.add if nopass else policy.nopass.discard)(_SIGSTOP)
        (policy.noprint.add if noprint else policy.noprint.discard)(_SIGSTOP)

    def ours(self, info: SigInfo | None) -> bool:
        """The SIGSTOP we sent (by si_pid), while one is pending."""
        return (self.pending and info is not None and info.si_signo == _SIGSTOP
                and info.get("si_pid") == self.own_pid)


class RunControl:
    """Run control of one session's current thread (``tid`` of each call)."""

    def __init__(self, host: RunHost, control: Control, *,
                 own_pid: int | None = None) -> None:
        self.host = host
        self.control = control
        self.interrupter = Interrupter(own_pid)
        #: the signal of the last delivery seen (what a step into a handler delivered)
        self.last_signal: int | None = None
        #: catch sigreturn: stop at each sigreturn's SROP verdict
        self.catch_sigreturn = False
        #: our temporary breakpoints (nexti): their hits are not events
        self._temporary: set[int] = set()

    # -- interrupt --------------------------------------------------------------------
    def begin_run(self) -> None:
        """A new run starts: an interrupt still pending is stale from now on."""
        self.interrupter.asked = False

    def interrupt(self, tid: int) -> None:
        """Stop the running thread (callable from a signal handler of the
        front end: it only sends a signal and changes the policy)."""
        self.interrupter.request(self.host, self.control, tid)

    @property
    def interrupt_pending(self) -> bool:
        return self.interrupter.pending

    def clear_interrupt(self) -> None:
        self.interrupter.clear(self.host)

    # -- one instruction -----------------------------------------------------------------
    def step(self, tid: int) -> Stop | None:
        """Execute one instruction of ``tid``; None when it did, else the stop
        that came instead (not yet handled: a signal, a handler entry, an
        exit, our interrupt asked during this run).

        Our breakpoint at the pc is lifted for the step and put back after
        it, so the program's own instruction runs (as gdb's stepi does).  A
        stale interrupt SIGSTOP is dropped (we hold the stop) and the step
        made again.  A step from inside a system call (the exec stop after
        launch, a fork event) is reported at the call's exit before any
        instruction ran (the ABI's ``syscall_step_trap_code``): stepped once
        more, so one instruction runs as asked."""
        retried = False
        while True:
            task = self.control.task(tid)
            abi = task.abi
            pc = task.pc()
            self.host.invalidate()
            stop = self._step_lifting(tid, pc)
            if is_step_trap(stop, abi.step_trap_codes):
                if not retried and stop.si_code == abi.syscall_step_trap_code \
                        and self.host.is_stopped(tid) \
                        and self.control.task(tid).pc() == pc:
                    retried = True
                    continue
                return None
            if stop.kind == "signal" and not self.interrupter.asked \
                    and self.interrupter.ours(siginfo_of(stop)):
                self.clear_interrupt()
                continue
            return stop

    def _step_lifting(self, tid: int, pc: int) -> Stop:
        lifted = pc in self.control.breakpoint_addresses()
        if lifted:
            self.control.remove_breakpoint(pc)
        try:
            return self.host.step_thread(tid)
        finally:
            if lifted and self.host.alive:
                try:
                    self.control.insert_breakpoint(pc)
                except SigdbgError:
                    pass

    def leave_breakpoint(self, tid: int) -> Stop | None:
        """Step off our breakpoint if ``tid`` stands on one (resuming there
        would hit it again); None when there was none or the step went as
        steps go, else the stop that came instead."""
        if not self.control.breakpoint_addresses() or not self.host.is_stopped(tid):
            return None
        if self.control.task(tid).pc() not in self.control.breakpoint_addresses():
            return None
        return self.step(tid)

    def stepi(self, tid: int) -> Run:
        """``stepi``: one instruction, or the events of whatever came instead."""
        stop = self.step(tid)
        if stop is None:
            return Halt("step", "step")
        return (yield from self._odd_step(tid, stop))

    def _odd_step(self, tid: int, stop: Stop) -> Run:
        """A step ended with something other than the step trap."""
        if stop.kind == "signal" and self.interrupter.ours(siginfo_of(stop)):
            self.clear_interrupt()
            return Halt("interrupted", "interrupted")
        if is_handler_entry(stop):
            return (yield from self._entered_by_step(tid))
        self.host.requeue(stop)
        return (yield from self.run(tid, stepping=True))

    def _entered_by_step(self, tid: int) -> Run:
        """A step with an owed signal landed on a handler's first instruction."""
        task = self.control.task(tid)
        frame = self.host.sigframe(signo=self.last_signal)
        e = ev.HandlerEntered(task.pid, task.tid, task.pc(), frame)
        yield e
        return Halt("handler", f"handler for {signal_name(frame.sig)}", e)

    # -- over a call -----------------------------------------------------------------------
    def nexti(self, tid: int, insn: Instruction | None) -> Run:
        """``nexti``: ``stepi``, but a call (``insn`` is the instruction at the
        pc, our breakpoints hidden; a call by the ABI's ``call_mnemonics``)
        runs until it returns to the next instruction."""
        abi = self.control.task(tid).abi
        if insn is None or not insn.mnemonic.startswith(abi.call_mnemonics):
            return (yield from self.stepi(tid))
        ret = insn.end
        sp0 = self.control.task(tid).pc_sp()[1]
        stop = self.step(tid)
        if stop is not None:
            return (yield from self._odd_step(tid, stop))
        if self.control.task(tid).pc() == ret:
            return Halt("step", "step")  # not a call that went anywhere
        with self.temporary_breakpoint(ret):
            got = self.run_to(tid, ret, sp0)
            if got is None:
                return Halt("step", "step")
            if isinstance(got, int):  # another breakpoint of ours, inside the call
                e = ev.Breakpoint(self.host.pid, tid, got)
                yield e
                return Halt("breakpoint", "breakpoint", e)
            stop = got
            if stop.kind == "signal" and self.interrupter.ours(siginfo_of(stop)):
                self.clear_interrupt()  # (asked during this run: run_to ran on past a stale one)
                return Halt("interrupted", "interrupted")
            if is_handler_entry(stop):
                return (yield from self._entered_by_step(tid))
            # anything else (a signal, a thread's event): the host's event
            # loop takes it, and runs on to the return as the policy allows
            self.host.requeue(stop)

            def until(e: ev.Event) -> bool | None:
                if isinstance(e, ev.Breakpoint) and e.address == ret:
                    return self._returned(tid, sp0)  # False: a recursive call hit it
                return None

            return (yield from self.run(tid, until=until))

    @contextmanager
    def temporary_breakpoint(self, address: int) -> Iterator[None]:
        """A breakpoint of ours at ``address`` while the block runs (none is
        added where one is already: that one stays)."""
        temp = address not in self.control.breakpoint_addresses()
        if temp:
            self.control.insert_breakpoint(address)
            self._temporary.add(address)
        try:
            yield
        finally:
            if temp:
                self._temporary.discard(address)
                if self.host.alive:
                    try:
                        self.control.remove_breakpoint(address)
                    except SigdbgError:
                        pass

    def _returned(self, tid: int, sp0: int) -> bool:
        """At the return address: the call returned, not a deeper (recursive)
        call of the same function (sp below the one of the call)."""
        return self.control.task(tid).pc_sp()[1] >= sp0

    def run_to(self, tid: int, address: int, sp0: int) -> Stop | int | None:
        """Run ``tid`` (the others the host holds go too) until it hits our
        breakpoint at ``address`` with sp at or above ``sp0``: None then.
        Another breakpoint of ours hit first: its address (the pc on it).
        Else the first other stop (not handled).  A hit at ``address`` with
        sp below ``sp0`` (a recursive call returning) is stepped off and run
        on, and so is a stale interrupt's SIGSTOP (one not asked during this
        run).  Standing on one of our breakpoints (the callee's first
        instruction), it is stepped off first, as every run does."""
        stop = self.leave_breakpoint(tid)
        if stop is not None:
            return stop
        self.host.resume_others(tid)
        while True:
            self.host.invalidate()
            stop = self.host._resume_wait(tid, self.host.owed_signal(tid))
            hit = self.control.breakpoint_hit(stop) if stop.tid == tid else None
            if hit is None:
                if stop.kind == "signal" and not self.interrupter.asked \
                        and self.interrupter.ours(siginfo_of(stop)):
                    self.clear_interrupt()  # stale: suppressed (nothing owed), run on
                    continue
                return stop
            if hit != address:
                return hit
            if self._returned(tid, sp0):
                return None
            stop2 = self.step(tid)
            if stop2 is not None:
                return stop2

    # -- continue ------------------------------------------------------------------------
    def run(self, tid: int, *, stepping: bool = False,
            until: Callable[[ev.Event], bool | None] | None = None) -> Run:
        """Run the host's event loop until an event that stops: the policy's,
        any handler entry or signal when ``stepping``, a breakpoint of ours
        that ``until`` does not refuse (a temporary one it accepts ends the
        run as a "step").  Yields the events to show (not our temporary
        breakpoints' hits nor our interrupt's SIGSTOP)."""
        host = self.host
        while True:
            host.invalidate()  # the engine caches maps across resumes; the run may mmap
            stop = self.leave_breakpoint(tid)
            if stop is not None:
                if is_handler_entry(stop):
                    return (yield from self._entered_by_step(tid))
                host.requeue(stop)
            gen = host.events()
            try:
                for e in gen:
                    verdict, halt = self._consider(e, tid, stepping, until)
                    if verdict == "show":
                        yield e
                    elif verdict == "restart":
                        break  # resume from a breakpoint we pass: step off it first
                    if halt is not None:
                        return halt
                else:
                    return None
            finally:
                getattr(gen, "close", lambda: None)()  # leave the generator at once

    def _consider(self, e: ev.Event, tid: int, stepping: bool,
                  until: Callable[[ev.Event], bool | None] | None
                  ) -> tuple[str, Halt | None]:
        """("show" | "hide" | "restart", the halt if the run ends at ``e``)."""
        policy = self.host.policy
        if isinstance(e, ev.SignalDelivered) and self.interrupter.ours(e.siginfo):
            self.clear_interrupt()
            if self.interrupter.asked:
                return "hide", Halt("interrupted", "interrupted", e)
            return "hide", None  # a stale interrupt: we stopped for something else already
        wanted = until(e) if until is not None else None
        if isinstance(e, ev.Breakpoint):
            if wanted is False:
                return "restart", None
            if e.address in self._temporary:
                return "hide", Halt("step", "step", e)
            return "show", Halt("breakpoint", "breakpoint", e)
        halt: Halt | None = None
        match e:
            case ev.SignalDelivered():
                sig = e.siginfo.si_signo
                self.last_signal = sig
                if e.disposition in STOP_DISPOSITIONS and (stepping or policy.stops(sig)):
                    halt = Halt("signal", f"{signal_name(sig)} {e.disposition}", e)
            case ev.HandlerEntered():
                if stepping or policy.stops(e.frame.sig):
                    halt = Halt("handler", f"handler for {signal_name(e.frame.sig)}", e)
            case ev.GroupStop():
                if self.interrupter.pending and e.signal == _SIGSTOP:
                    self.clear_interrupt()
                halt = Halt("group-stop", f"stopped by {signal_name(e.signal)}", e)
            case ev.Stepped():
                halt = Halt("step", "step", e)
            case ev.SigreturnChecked():
                if self.catch_sigreturn:
                    halt = Halt("sigreturn", ("forged " if e.verdict.alert else "")
                                + e.verdict.syscall, e)
            case ev.Exited() | ev.Killed():
                if e.tid == self.host.pid:
                    halt = Halt("exited", "exited", e)
        return "show", halt

    # -- step-sigreturn and signals --------------------------------------------------------
    def step_sigreturn(self, tid: int, frame: Any) -> Run:
        """The engine's sigreturn walk from the handler of ``frame`` on
        ``tid``, our breakpoints lifted meanwhile (the walk would take them
        for the program's own traps); then the host's loop for a stop the
        walk handed back."""
        from sigdbg.engine.sigreturn import step_through_sigreturn

        host, control = self.host, self.control
        task = control.task(tid)
        host.invalidate()
        lifted = list(control.breakpoint_addresses())
        for a in lifted:
            control.remove_breakpoint(a)
        halt: Halt | None = None
        try:
            for e in step_through_sigreturn(host, control, task, frame):
                yield e
                match e:
                    case ev.SignalDelivered():
                        self.last_signal = e.siginfo.si_signo
                    case ev.ContextRestored():
                        halt = Halt("context-restored", "context restored" if e.matches
                                    else "context restored with differences", e)
                    case ev.SigreturnAbandoned():
                        halt = Halt("sigreturn-abandoned", "sigreturn not reached", e)
                    case ev.Exited() | ev.Killed() if e.tid == host.pid:
                        return Halt("exited", "exited", e)
            if not host.alive:
                return None
            if not host.is_stopped(tid):
                return (yield from self.run(tid, stepping=True))  # a stop the walk handed back
            return halt or Halt("walked", "")
        finally:
            if host.alive and host.is_stopped(tid):
                for a in lifted:
                    try:
                        control.insert_breakpoint(a)
                    except SigdbgError:
                        pass

    def send_signal(self, tid: int, sig: int) -> None:
        """Queue ``sig`` for ``tid``: delivered when it resumes."""
        try:
            self.control.send_signal(tid, sig)
        except SigdbgError as exc:
            raise TargetError(f"cannot send {signal_name(sig)}: {exc}") from None


class ControlRunHost(ControlHost):
    """A :class:`RunHost` over a bare :class:`~sigdbg.backends.base.Control`
    with one thread (the fake backend's): nothing owed unless told, no
    other threads, no event loop (:meth:`events` gives the process's end
    from the stops handed back, nothing else)."""

    def __init__(self, control: Control, view: Any, tid: int,
                 policy: RunPolicy | None = None) -> None:
        super().__init__(control, view)
        self.tid = tid
        self.pid = control.task(tid).pid
        self._run_policy = policy if policy is not None else _Policy()
        self.owed: dict[int, int] = {}
        self._gone = False

    @property
    def policy(self) -> RunPolicy:
        return self._run_policy

    @property
    def alive(self) -> bool:
        return not self._gone

    def is_stopped(self, tid: int | None = None) -> bool:
        return not self._gone and not self.leftover

    def owed_signal(self, tid: int) -> int:
        return self.owed.get(tid, 0)

    def step_thread(self, tid: int) -> Stop:
        return self._note(self.control.resume_wait(tid, self.owed.pop(tid, 0), "step", tid))

    def _resume_wait(self, tid: int, sig: int = 0, step: bool = False,
                     wait_tid: int = -1, syscall: bool = False) -> Stop:
        self.owed.pop(tid, None)
        return self._note(super()._resume_wait(tid, sig, step, wait_tid, syscall))

    def _note(self, stop: Stop) -> Stop:
        if stop.kind in ("exited", "killed") and stop.tid == self.pid:
            self._gone = True
        return stop

    def resume_others(self, tid: int) -> None:
        return None

    def events(self) -> Iterator[ev.Event]:
        yield from leftover_events(self)  # (the stops stay in leftover for the caller)

    def invalidate(self) -> None:
        return None

    def sigframe(self, address: int | None = None, *, signo: int | None = None,
                 kind: str | None = None) -> SigFrame:
        task = self.control.task(self.tid)
        if address is None:
            address = task.pc_sp()[1]
        return decode_sigframe(task, task.abi, address, view=self.view(task), kind=kind,
                               signo=signo)


class _Policy:
    """gdb's defaults for a host without a session (every signal stops and passes)."""

    def __init__(self) -> None:
        self.nopass: set[int] = set()
        self.noprint: set[int] = set()

    def stops(self, sig: int) -> bool:
        return True

    def passes(self, sig: int) -> bool:
        return sig not in self.nopass


def is_step_trap(stop: Stop, codes: Collection[int]) -> bool:
    """The SIGTRAP of a PTRACE_SINGLESTEP: si_code one of the ABI's
    ``step_trap_codes``.  AArch64 and compat tasks report a stepped ``svc``
    with the generic ``user_single_step_report``'s SI_USER (0) and si_pid 0
    (kernel/ptrace.c); a SIGTRAP another process sent names its pid.  The
    step trap at a system call's exit (``Abi.syscall_step_trap_code``): x86
    TRAP_BRKPT from user_single_step_report() (arch/x86/kernel/ptrace.c,
    called by syscall_exit_work in kernel/entry/common.c), where a trap after
    an executed instruction is TRAP_TRACE (DR6.BS, arch/x86/kernel/traps.c
    get_si_code); arm64 SI_USER from the generic one (include/linux/ptrace.h)."""
    if stop.kind != "signal" or stop.sig != _SIGTRAP:
        return False
    info = siginfo_of(stop)
    return info is not None and info.si_code in codes and not info.get("si_pid")


def is_handler_entry(stop: Stop) -> bool:
    """The trap of a step that delivered a signal into its handler."""
    return (stop.kind == "signal" and stop.sig == _SIGTRAP
            and stop.si_code == SIGTRAP_HANDLER_ENTRY)
