"""Run control for the shell: continue, stepping, step-sigreturn, signals, Ctrl-C.

Running the target goes through ``Session.events()``; the tracee stays
stopped while the shell holds the event it stopped at, so a fresh generator
per run is enough (every stopping event is the last of its batch).  The engine
does not step over its own int3 when resuming, so :meth:`RunControl.drive`
does that first.

Ctrl-C while the target runs: the tracee gets a thread-directed SIGSTOP from
us; while it is pending SIGSTOP is nopass/print, so it arrives as a
"suppressed" delivery that we recognise by ``si_pid`` and stop at.  (The
engine reports no event for a PTRACE_INTERRUPT stop, so SEIZEd tracees get the
same SIGSTOP.)  If the run stopped for another reason first, the stale
SIGSTOP is swallowed silently when it turns up later (or SIGCONT follows it
on detach).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

from sigdbg.decode.siginfo import SigInfo
from sigdbg.engine import events as ev
from sigdbg.engine.stops import SIGTRAP_HANDLER_ENTRY, TRAP_BRKPT, TRAP_TRACE, Stop, siginfo_of
from sigdbg.errors import SigdbgError, UsageError
from sigdbg.names import signal_name

if TYPE_CHECKING:
    from sigdbg.shell.context import ShellContext as Shell

#: SignalDelivered dispositions after which the task is stopped where it was
#: (not followed by HandlerEntered).  "fatal" comes at the PTRACE_EVENT_EXIT
#: stop: the dying process can still be inspected, as gdb shows it.
_STOP_DISPOSITIONS = frozenset({"ignored", "suppressed", "stop", "passed", "unknown", "fatal"})


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def tgkill(pid: int, tid: int, sig: int) -> None:
    """Send ``sig`` to one thread (thread-directed: no untraced thread can take it)."""
    fn = getattr(_libc(), "tgkill", None)
    if fn is None:  # pragma: no cover - glibc < 2.30
        os.kill(tid, sig)
        return
    if fn(pid, tid, sig) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class RunControl:
    """Everything that resumes the tracee, on behalf of one :class:`Shell`."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.interrupt_pending = False
        self._saved_sigstop = (False, False)
        self._ctrl_c = False

    # -- Ctrl-C ---------------------------------------------------------------------------
    @contextmanager
    def resuming(self) -> Iterator[None]:
        """While the tracee may run: Ctrl-C (SIGINT) interrupts it instead of us."""
        self._ctrl_c = False
        self.shell.running = True
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        try:
            yield
        finally:
            self.shell.running = False
            if main:
                signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)

    def _on_sigint(self, signum: int, frame: object) -> None:
        self._ctrl_c = True
        self.interrupt()

    def interrupt(self) -> None:
        """Stop the running tracee with a SIGSTOP that is suppressed when it arrives."""
        s = self.shell.session
        if s is None or not s.alive or self.interrupt_pending:
            return
        stop = signal.SIGSTOP
        self._saved_sigstop = (stop in self.shell.policy.nopass, stop in self.shell.policy.noprint)
        self.shell.policy.nopass.add(stop)
        self.shell.policy.noprint.discard(stop)
        self.interrupt_pending = True
        try:
            tgkill(s.pid, s.task.tid, stop)
        except OSError:
            self.clear_interrupt()

    def clear_interrupt(self) -> None:
        if not self.interrupt_pending:
            return
        self.interrupt_pending = False
        nopass, noprint = self._saved_sigstop
        policy = self.shell.policy
        (policy.nopass.add if nopass else policy.nopass.discard)(signal.SIGSTOP)
        (policy.noprint.add if noprint else policy.noprint.discard)(signal.SIGSTOP)

    def _is_our_sigstop(self, info: SigInfo | None) -> bool:
        return (self.interrupt_pending and info is not None
                and info.si_signo == signal.SIGSTOP and info.get("si_pid") == os.getpid())

    # -- running ---------------------------------------------------------------------------
    def drive(self, *, stepping: bool = False,
              until: Callable[[ev.Event], bool | None] | None = None) -> ev.Event | None:
        """Run until an event that stops (the policy's, or any handler entry when
        ``stepping``); returns it, or None when the process is gone."""
        s = self.shell.require_session()
        while True:
            s.invalidate()  # the engine caches maps across resumes; the run may mmap
            stop = self._leave_breakpoint()
            if stop is not None:
                if _is_handler_entry(stop):
                    return self._entered_by_step()
                s.requeue(stop)
            gen = s.events()
            try:
                for e in gen:
                    verdict = self._consider(e, stepping, until)
                    if verdict == "stop":
                        return e
                    if verdict == "restart":
                        break  # resume from a breakpoint we pass: step off it first
                else:
                    self.shell.session_gone(None)
                    return None
            finally:
                getattr(gen, "close", lambda: None)()  # leave the generator at once

    def _consider(self, e: ev.Event, stepping: bool,
                  until: Callable[[ev.Event], bool | None] | None) -> str:
        s = self.shell.session
        assert s is not None
        if isinstance(e, ev.SignalDelivered) and self._is_our_sigstop(e.siginfo):
            self.clear_interrupt()
            if self._ctrl_c:
                self.shell.reason = "interrupted"
                self.shell.write(f"[pid {e.pid}] interrupted")
                return "stop"
            return "skip"  # a stale interrupt: we stopped for something else already
        wanted = until(e) if until is not None else None
        if isinstance(e, ev.Breakpoint):
            if wanted is False:
                return "restart"
            num = self.shell.breakpoint_number(e.address)
            if num is not None:
                self.shell.show_event(e)
            self.shell.reason = f"breakpoint {num}" if num is not None else "step"
            return "stop"
        self.shell.show_event(e)
        verdict = "stop" if wanted else "go"
        match e:
            case ev.Exec():
                self.shell.on_exec()
            case ev.SignalDelivered():
                self.shell.last_siginfo = e.siginfo
                sig = e.siginfo.si_signo
                stops = stepping or self.shell.policy.stops(sig)
                if e.disposition in _STOP_DISPOSITIONS and stops:
                    self.shell.reason = f"{signal_name(sig)} {e.disposition}"
                    verdict = "stop"
            case ev.HandlerEntered():
                self.shell.entered(e)
                if stepping or self.shell.policy.stops(e.frame.sig):
                    self.shell.reason = f"handler for {signal_name(e.frame.sig)}"
                    verdict = "stop"
            case ev.GroupStop():
                if self.interrupt_pending and e.signal == signal.SIGSTOP:
                    self.clear_interrupt()
                self.shell.reason = f"stopped by {signal_name(e.signal)}"
                verdict = "stop"
            case ev.Stepped():
                self.shell.reason = "step"
                verdict = "stop"
            case ev.SigreturnChecked():
                if self.shell.catch_sigreturn:
                    self.shell.reason = ("forged " if e.verdict.alert else "") + e.verdict.syscall
                    verdict = "stop"
            case ev.Exited() | ev.Killed():
                if e.tid == s.pid:
                    self.shell.session_gone(e)
                    verdict = "stop"
        return verdict

    def cont(self) -> None:
        self.shell.require_stopped()
        with self.resuming():
            self.drive()
        self.shell.show_location()

    # -- stepping ---------------------------------------------------------------------------
    def _raw_step(self) -> Stop | None:
        """Single-step the current task (the engine steps over our int3 there).

        None when it simply stepped; otherwise the stop that came instead
        (not yet handled).  Stale interrupt SIGSTOPs are swallowed.
        """
        s = self.shell.require_stopped()
        retried = False
        while True:
            pc = s.registers()[s.abi.pc]
            s.invalidate()
            stop = s.step_instruction()
            if _is_step_trap(stop, s.abi.step_trap_codes):
                if not retried and _in_syscall_report(stop, s.abi.syscall_step_trap_code) \
                        and s.is_stopped() \
                        and s.registers()[s.abi.pc] == pc:
                    # Stopped inside a system call (the exec stop right after
                    # launch, a fork/clone event): the kernel reports the step
                    # at the syscall's exit, before any instruction ran.  Step
                    # once more so stepi executes one instruction, as asked.
                    retried = True
                    continue
                return None
            if stop.kind == "signal" and self._is_our_sigstop(siginfo_of(stop)) \
                    and not self._ctrl_c:
                self.clear_interrupt()  # stale: drop it (we hold the stop) and step again
                continue
            return stop

    def _leave_breakpoint(self) -> Stop | None:
        s = self.shell.session
        assert s is not None
        if not s.breakpoints or not s.is_stopped():
            return None
        if s.registers()[s.abi.pc] not in s.breakpoints:
            return None
        return self._raw_step()

    def _entered_by_step(self) -> ev.Event:
        """A step with an owed signal landed on a handler's first instruction."""
        s = self.shell.require_stopped()
        info = self.shell.last_siginfo
        task = s.current_task()
        frame = s.sigframe(signo=info.si_signo if info is not None else None)
        e = ev.HandlerEntered(task.pid, task.tid, task.registers()[task.abi.pc], frame)
        self.shell.entered(e)
        self.shell.reason = f"handler for {signal_name(frame.sig)}"
        self.shell.show_event(e)
        return e

    def _odd_step(self, stop: Stop) -> None:
        """A step ended with something other than the step trap."""
        s = self.shell.session
        assert s is not None
        if stop.kind == "signal" and self._is_our_sigstop(siginfo_of(stop)):
            self.clear_interrupt()
            self.shell.reason = "interrupted"
            self.shell.write(f"[pid {s.pid}] interrupted")
            return
        if _is_handler_entry(stop):
            self._entered_by_step()
            return
        s.requeue(stop)
        self.drive(stepping=True)

    def stepi(self, count: int = 1, *, over: bool = False) -> None:
        if count < 1:
            raise UsageError("the count must be at least 1")
        self.shell.require_stopped()
        with self.resuming():
            for _ in range(count):
                if not self._step_once(over):
                    break
        self.shell.show_location()

    def _step_once(self, over: bool) -> bool:
        s = self.shell.require_stopped()
        if over:
            insn = self.shell.instruction_at(s.registers()[s.abi.pc])
            if insn is not None and insn.mnemonic.startswith(s.abi.call_mnemonics):
                return self._step_over_call(insn.end)
        stop = self._raw_step()
        if stop is not None:
            self._odd_step(stop)
            return False
        self.shell.reason = "step"
        return True

    def _step_over_call(self, ret: int) -> bool:
        s = self.shell.require_stopped()
        sp_reg = s.abi.sp
        sp0 = s.registers()[sp_reg]
        stop = self._raw_step()
        if stop is not None:
            self._odd_step(stop)
            return False
        if s.registers()[s.abi.pc] == ret:
            self.shell.reason = "step"
            return True
        temp = ret not in s.breakpoints
        if temp:
            s.insert_breakpoint(ret)

        def until(e: ev.Event) -> bool | None:
            if isinstance(e, ev.Breakpoint) and e.address == ret:
                return s.registers()[sp_reg] >= sp0  # False: a recursive call hit it
            return None

        try:
            e = self.drive(until=until)
        finally:
            if temp and s.alive:
                s.remove_breakpoint(ret)
        return isinstance(e, ev.Breakpoint) and e.address == ret

    def step_sigreturn(self) -> None:
        from sigdbg.engine.sigreturn import step_through_sigreturn

        s = self.shell.require_stopped()
        h = self.shell.active_handler()
        if h is None:
            raise UsageError("not stopped in a signal handler (continue to a handler entry first)")
        task = s.tracer.task(h.tid)
        s.invalidate()
        with self.resuming():
            lifted = list(s.breakpoints)  # the engine's walk would take our int3s for signals
            for a in lifted:
                s.remove_breakpoint(a)
            try:
                for e in step_through_sigreturn(s, s.control, task, h.frame):
                    self.shell.show_event(e)
                    match e:
                        case ev.SignalDelivered():
                            self.shell.last_siginfo = e.siginfo
                        case ev.HandlerEntered():
                            self.shell.entered(e)
                        case ev.ContextRestored():
                            self.shell.handler = None
                            self.shell.reason = ("context restored" if e.matches
                                                 else "context restored with differences")
                        case ev.SigreturnAbandoned():
                            self.shell.reason = "sigreturn not reached"
                if self.shell.session is s and s.alive and not s.is_stopped():
                    self.drive(stepping=True)  # a stop the walk handed back
            finally:
                if self.shell.session is s and s.alive and s.is_stopped():
                    for a in lifted:
                        try:
                            s.insert_breakpoint(a)
                        except SigdbgError:
                            pass
        self.shell.show_location()

    def send_signal(self, sig: int, *, resume: bool) -> None:
        s = self.shell.require_stopped()
        try:
            tgkill(s.pid, s.task.tid, sig)
        except OSError as exc:
            raise SigdbgError(f"cannot send {signal_name(sig)}: {exc.strerror}") from None
        if resume:
            self.cont()
        else:
            self.shell.write(f"{signal_name(sig)} queued for thread {s.task.tid}: "
                             "delivered when the program resumes")


def _is_step_trap(stop: Stop, codes: tuple[int, ...] = (TRAP_TRACE, TRAP_BRKPT)) -> bool:
    """The SIGTRAP of a PTRACE_SINGLESTEP: si_code one of the ABI's
    ``step_trap_codes``.  AArch64 and compat tasks report a stepped ``svc``
    with the generic ``user_single_step_report``'s SI_USER (0) and si_pid 0
    (kernel/ptrace.c); a SIGTRAP another process sent names its pid."""
    if stop.kind != "signal" or stop.sig != signal.SIGTRAP:
        return False
    info = siginfo_of(stop)
    return info is not None and info.si_code in codes and not info.get("si_pid")


def _in_syscall_report(stop: Stop, code: int = TRAP_BRKPT) -> bool:
    """The step trap the kernel sends at a system call's exit when the task was
    resumed with PTRACE_SINGLESTEP from inside it (``Abi.syscall_step_trap_code``):
    x86 TRAP_BRKPT from user_single_step_report() (arch/x86/kernel/ptrace.c,
    called by syscall_exit_work in kernel/entry/common.c), where a trap after
    an executed instruction is TRAP_TRACE (DR6.BS, arch/x86/kernel/traps.c
    get_si_code); arm64 SI_USER from the generic one (include/linux/ptrace.h),
    where a stepped instruction is TRAP_TRACE too."""
    return stop.si_code == code


def _is_handler_entry(stop: Stop) -> bool:
    return (stop.kind == "signal" and stop.sig == signal.SIGTRAP
            and stop.si_code == SIGTRAP_HANDLER_ENTRY)
