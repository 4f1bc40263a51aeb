"""Telling ptrace stops apart, and decoding their siginfo.

:class:`Stop` and :func:`classify` live in ``backends/stopcodes.py`` (the
Protocols layer, so that backends build stops without importing the engine);
they are re-exported here for the engine's modules.  What needs a decoder is
here: :func:`siginfo_of`.
"""

from __future__ import annotations

from sigdbg.abi import Abi, abi_by_name, native_abi
from sigdbg.backends.stopcodes import (
    SI_CODE_FIELD,
    SI_KERNEL,
    SI_PERF_DATA,
    SIGTRAP_HANDLER_ENTRY,
    STOP_SIGNALS,
    SYSCALL_TRAP,
    TRAP_BRKPT,
    TRAP_HWBKPT,
    TRAP_PERF,
    TRAP_TRACE,
    Stop,
    classify,
)
from sigdbg.decode.siginfo import SigInfo, decode_siginfo

#: PTRACE_GETSIGINFO returns the tracer's own layout (kernel/ptrace.c): the
#: layout of this Python process, not of the tracee.
TRACER_SIGINFO_ABI: Abi = native_abi()


def siginfo_of(stop: Stop) -> SigInfo | None:
    """The stop's siginfo decoded (None without one), in the layout the
    backend reported it in (``Stop.siginfo_abi``; the tracer's by default).
    ``decode_siginfo`` is memoised by bytes: asking twice costs a lookup."""
    if stop.siginfo_raw is None:
        return None
    abi = abi_by_name(stop.siginfo_abi) if stop.siginfo_abi else TRACER_SIGINFO_ABI
    return decode_siginfo(stop.siginfo_raw, abi)


__all__ = ["SI_CODE_FIELD", "SI_KERNEL", "SI_PERF_DATA", "SIGTRAP_HANDLER_ENTRY",
           "STOP_SIGNALS", "SYSCALL_TRAP", "TRACER_SIGINFO_ABI", "TRAP_BRKPT", "TRAP_HWBKPT",
           "TRAP_PERF", "TRAP_TRACE", "Stop", "classify", "siginfo_of"]
