"""Telling ptrace stops apart.

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

from sigdbg.abi import Abi, native_abi
from sigdbg.decode.siginfo import SigInfo, decode_siginfo

#: PTRACE_GETSIGINFO returns the tracer's own layout (kernel/ptrace.c): the
#: layout of this Python process, not of the tracee.
TRACER_SIGINFO_ABI: Abi = native_abi()

#: siginfo_t.si_code: an int at offset 8 in every siginfo layout
SI_CODE_FIELD = struct.Struct("<i")

STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})

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

    ``siginfo`` is decoded only when asked for: the hot path mostly needs
    ``si_code`` (handler-entry and step traps), which is read directly.
    """

    tid: int
    kind: str  #: exited, killed, syscall, group, event, interrupt, signal
    pid: int = 0  #: thread-group id (0 when unknown)
    sig: int = 0
    event: int = 0
    status: int = 0
    siginfo_raw: bytes | None = None

    @property
    def si_code(self) -> int | None:
        if self.siginfo_raw is None:
            return None
        return int(SI_CODE_FIELD.unpack_from(self.siginfo_raw, 8)[0])

    @property
    def siginfo(self) -> SigInfo | None:
        # decode_siginfo is memoised by bytes: asking twice costs a lookup
        if self.siginfo_raw is None:
            return None
        return decode_siginfo(self.siginfo_raw, TRACER_SIGINFO_ABI)


_WEXITSTATUS, _WTERMSIG = os.WEXITSTATUS, os.WTERMSIG
#: WSTOPSIG of a syscall-stop with PTRACE_O_TRACESYSGOOD
SYSCALL_TRAP = signal.SIGTRAP | 0x80


def classify(tid: int, status: int, siginfo_raw: bytes | None, seized: bool,
             pid: int = 0) -> Stop:
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
