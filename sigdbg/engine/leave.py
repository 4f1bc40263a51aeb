"""Leaving a process: detach (every thread let go exactly as it would run
untraced, with the signal it is owed), close and kill.  A part of
:class:`~sigdbg.engine.session.Session` (a mixin: the state it reads is the
session's, declared below)."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from sigdbg.backends.base import SessionBackend, TracedTask
from sigdbg.backends.stopcodes import PERF_SIG_DATA, Stop
from sigdbg.engine.policy import SignalPolicy
from sigdbg.engine.stops import SI_CODE_FIELD, SI_KERNEL, SI_PERF_DATA, TRAP_PERF
from sigdbg.errors import ProcessGone, SigdbgError, UsageError

_SIGTRAP, _SIGSTOP = int(signal.SIGTRAP), int(signal.SIGSTOP)


class Leaving:
    """Session.close/detach/kill (engine/session.py)."""

    # the session's state this part reads and clears
    tracer: SessionBackend
    pid: int
    launched: bool
    policy: SignalPolicy
    breakpoints: dict[int, bytes]
    _stopped: dict[int, int]
    _listening: set[int]
    _attach_stops: dict[int, Stop]
    _at_breakpoint: dict[int, int]

    if TYPE_CHECKING:  # the session's (engine/runhost.py): declared, not shadowed
        def remove_breakpoints(self) -> None: ...

    def close(self) -> None:
        """Kill a launched target, detach an attached one: nothing left stopped."""
        if not self.launched:
            self.detach()
        self.tracer.close()

    def detach(self) -> None:
        """Let every task we trace go on exactly as it would have without us.

        Each task leaves through a ptrace-stop, so a running one is stopped
        first (PTRACE_INTERRUPT; the stop it reports may be a signal's).  A
        task in a signal-delivery-stop is detached *with* that signal unless
        the policy suppresses it: PTRACE_DETACH's data is the signal the
        task resumes with (kernel/ptrace.c ``ptrace_detach``), so 0 there
        would lose it.  Our int3s are written back and every debug register
        we set is cleared (the kernel keeps them after a detach: they are
        only flushed at exec and exit, ``flush_ptrace_hw_breakpoint``).  A
        task in a group-stop stays stopped after the detach, as it would
        untraced (``__ptrace_unlink`` re-arms the stop).

        Which stop a task is in is asked from the kernel (PTRACE_GETSIGINFO),
        not taken from the session's tables: a Ctrl-C may land between a
        stop and its bookkeeping.  Not for the hot path: a few requests per
        task, once.
        """
        tracer = self.tracer
        if tracer.seccomp_filtered and tracer.tasks:
            # the filter stays with the program: untraced, its sigreturns
            # would fail with ENOSYS (backends/ptrace.py Tracer.spawn)
            raise UsageError("this program runs under sigdbg's sigreturn seccomp filter "
                             "(--srop with -f): it cannot be detached, only killed")
        owed: dict[int, int] = {}
        for tid, t in list(tracer.tasks.items()):
            sig = self._stop_for_detach(t)
            if sig is not None:
                owed[tid] = sig
        self.remove_breakpoints()
        for tid, t in list(tracer.tasks.items()):
            sig = owed.get(tid)
            if sig is not None:
                t.disarm_debugregs()
                try:
                    t.detach(sig)
                except SigdbgError:
                    pass  # gone meanwhile
            tracer.release(tid)
        tracer.release_all()
        self._stopped.clear()
        self._listening.clear()
        self._attach_stops.clear()

    def _stop_for_detach(self, t: TracedTask) -> int | None:
        """Bring ``t`` into a ptrace-stop; the signal it is owed there, or
        None when it is gone."""
        for _ in range(64):  # each pass is a stop the task really made
            try:
                raw = t.siginfo_raw()
            except ProcessGone:  # running, or held by PTRACE_LISTEN: stop it
                try:
                    t.interrupt()
                    res = self.tracer.wait(t.tid)
                except SigdbgError:
                    return None
                if not res.stopped:
                    return None
                continue
            except SigdbgError:
                return 0
            if (raw is None or SI_CODE_FIELD.unpack_from(raw, 8)[0] >= 0x100) \
                    and self.tracer.sigtrap_pending(t.tid):
                # A stop that is no signal's (our PTRACE_INTERRUPT, a group-
                # or event stop) is reported before a pending signal is
                # dequeued (kernel/signal.c get_signal), and the SIGTRAP of a
                # step or debug-register trap of ours is queued as a signal:
                # detached now, the program would get it.  Let the task take
                # it: its delivery-stop comes next and is judged like any.
                try:
                    t.cont(0)
                    res = self.tracer.wait(t.tid)
                except SigdbgError:
                    return None
                if not res.stopped:
                    return None
                continue
            return self._signal_owed(t, raw)
        return 0

    def _signal_owed(self, t: TracedTask, raw: bytes | None) -> int:
        """The signal a task stopped with siginfo ``raw`` must be detached with."""
        if raw is None:
            return 0  # a group-stop of a non-SEIZEd tracee (GETSIGINFO: EINVAL)
        signo = int.from_bytes(raw[0:4], "little", signed=True)
        code = SI_CODE_FIELD.unpack_from(raw, 8)[0]
        if code >= 0x100:
            return 0  # a PTRACE_EVENT stop, group-stop or LISTEN/INTERRUPT stop: no signal
        if signo == _SIGTRAP:
            if code == (_SIGTRAP | 0x80):
                return 0  # a syscall-stop
            if code == SI_KERNEL:
                pc = t.registers()[t.abi.pc]
                hit = pc - t.abi.breakpoint_pc_adjust
                if hit in self.breakpoints and t.tid not in self._at_breakpoint:
                    regs = t.registers()
                    regs[t.abi.pc] = hit  # our breakpoint: back onto the original instruction
                    t.set_registers(regs)
                    return 0
                if pc in self.breakpoints:
                    return 0
            elif (code > 0 or (code in t.abi.step_trap_codes
                               and int.from_bytes(raw[16:20], "little") == 0)) \
                    and (code != TRAP_PERF
                         or SI_PERF_DATA.unpack_from(raw)[0] == PERF_SIG_DATA):
                # a step, handler-entry or breakpoint trap: ours, unless
                # the session decided to hand it to the program.  A stepped
                # svc on arm64 (AArch64 and compat) reports the generic
                # user_single_step_report's SI_USER with si_pid 0
                # (kernel/ptrace.c; Abi.step_trap_codes): ours too, where a
                # SIGTRAP some process sent names its pid
                return max(self._stopped.get(t.tid, 0), 0)
        if not self.policy.passes(signo):
            return 0
        if signo == _SIGSTOP and code <= 0 and \
                int.from_bytes(raw[16:20], "little", signed=True) == os.getpid():
            return 0  # our own SIGSTOP (the shell's Ctrl-C), never the program's
        return signo

    def kill(self) -> None:
        self.tracer.kill(self.pid)
        self._stopped.clear()
        self._listening.clear()
