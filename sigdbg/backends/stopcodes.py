"""Classified stops, and the numbers a ptrace stop is classified by.

:class:`Stop` is what :meth:`~sigdbg.backends.base.Control.wait` returns: a
wait result told apart (exited, killed, syscall, group, event, interrupt,
signal) with its raw siginfo.  It and :func:`classify` live here, below the
backends and the engine, so that a backend builds stops without importing
the engine (ptrace from waitpid statuses, gdb from its stop events, the
fake backend from a script) and the engine reads them without importing a
backend.  Decoding the siginfo is the engine's (``engine/stops.py``
``siginfo_of``): this layer imports no decoder.

The order of tests follows ptrace(2) and the observations in
shared/reference/ptrace-notes.md section 1:

1. ``WSTOPSIG == SIGTRAP|0x80``: syscall-stop (PTRACE_O_TRACESYSGOOD);
2. ``event == PTRACE_EVENT_STOP``: group-stop (stop signal) or interrupt stop;
3. ``event != 0``: PTRACE_EVENT_* stop;
4. PTRACE_GETSIGINFO fails with EINVAL: group-stop of a non-SEIZE tracee;
   ``si_code == 0x8000|sig``: group-stop of a SEIZE tracee;
5. otherwise a signal-delivery-stop; for SIGTRAP the si_code tells our own
   traps (single-step 2, step over syscall 1, handler entry 5, hw breakpoint 4,
   int3 0x80) from a SIGTRAP the program received.
"""

from __future__ import annotations

import os
import signal
import struct
from typing import NamedTuple

#: ``status >> 16`` of a waitpid stop (include/uapi/linux/ptrace.h)
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_EXIT = 6
#: a SECCOMP_RET_TRACE stop (PTRACE_O_TRACESECCOMP): the sigreturn filter of --srop
PTRACE_EVENT_SECCOMP = 7
#: group-stop or PTRACE_INTERRUPT stop of a PTRACE_SEIZE tracee
PTRACE_EVENT_STOP = 128

#: perf_event_attr.sig_data of sigdbg's own execute breakpoints
#: (``PtraceTask.arm_breakpoint``): the SIGTRAP they send carries it as
#: si_perf_data (kernel/events/core.c ``perf_sigtrap``), which tells it from a
#: perf_event of the program
PERF_SIG_DATA = 0x5167DB6


#: siginfo_t.si_code: an int at offset 8 in every siginfo layout
SI_CODE_FIELD = struct.Struct("<i")

STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})

#: si_code values of SIGTRAP (include/uapi/asm-generic/siginfo.h)
TRAP_BRKPT = 1
TRAP_TRACE = 2
TRAP_HWBKPT = 4
TRAP_PERF = 6  # a perf_event with sigtrap (our restorer breakpoint, backends/ptrace.py)
#: siginfo_t.si_perf_data (the event's sig_data) of a TRAP_PERF SIGTRAP: after
#: si_addr in _sigfault (include/uapi/asm-generic/siginfo.h), x86_64 layout
SI_PERF_DATA = struct.Struct("<24xQ")
SIGTRAP_HANDLER_ENTRY = 5  # ptrace_notify(SIGTRAP) from signal_delivered()
SI_KERNEL = 0x80


class Stop(NamedTuple):
    """A classified wait result (immutable; a NamedTuple because the trace
    loop makes several per signal and a frozen dataclass costs 2.5x more).

    ``siginfo_raw`` is the siginfo of the stop as the backend got it, in the
    layout of ``siginfo_abi`` (an ABI name; "" means the tracer's own layout,
    which is what PTRACE_GETSIGINFO returns: kernel/ptrace.c).  The hot path
    mostly needs ``si_code`` (handler-entry and step traps), read directly;
    the engine decodes the rest on demand (``engine.stops.siginfo_of``).
    """

    tid: int
    kind: str  #: exited, killed, syscall, group, event, interrupt, signal
    pid: int = 0  #: thread-group id (0 when unknown)
    sig: int = 0
    event: int = 0
    status: int = 0
    siginfo_raw: bytes | None = None
    siginfo_abi: str = ""

    @property
    def si_code(self) -> int | None:
        if self.siginfo_raw is None:
            return None
        return int(SI_CODE_FIELD.unpack_from(self.siginfo_raw, 8)[0])


_WEXITSTATUS, _WTERMSIG = os.WEXITSTATUS, os.WTERMSIG
#: WSTOPSIG of a syscall-stop with PTRACE_O_TRACESYSGOOD
SYSCALL_TRAP = signal.SIGTRAP | 0x80


def classify(tid: int, status: int, siginfo_raw: bytes | None, seized: bool,
             pid: int = 0) -> Stop:
    """A waitpid ``status`` (and the stop's PTRACE_GETSIGINFO, None when that
    failed) as a :class:`Stop`; never raises."""
    # the wait(2) status bits spelled out (WIFEXITED: low 7 bits 0;
    # WIFSTOPPED: 0x7f; else WIFSIGNALED), as this runs for every stop
    low = status & 0x7F
    if low == 0:
        return Stop(tid, "exited", pid, status=_WEXITSTATUS(status))
    if low != 0x7F:
        return Stop(tid, "killed", pid, sig=_WTERMSIG(status), status=status)
    sig = (status >> 8) & 0xFF
    event = (status >> 16) & 0xFF
    if sig == SYSCALL_TRAP:
        return Stop(tid, "syscall", sig=signal.SIGTRAP, status=status)
    if event == 128:  # PTRACE_EVENT_STOP
        kind = "group" if sig in STOP_SIGNALS else "interrupt"
        return Stop(tid, kind, sig=sig, event=event, status=status)
    if event:
        return Stop(tid, "event", sig=sig, event=event, status=status)
    if siginfo_raw is None:
        return Stop(tid, "group", sig=sig, status=status)
    code = SI_CODE_FIELD.unpack_from(siginfo_raw, 8)[0]
    if seized and code == (0x8000 | sig):
        return Stop(tid, "group", sig=sig, status=status, siginfo_raw=siginfo_raw)
    return Stop(tid, "signal", sig=sig, status=status, siginfo_raw=siginfo_raw)
