"""The numbers a ptrace stop is classified by, without the ptrace backend.

The engine's stop handling (``engine/session.py``, ``engine/sigreturn.py``)
tells stops apart by these values; they are kernel ABI, not backend code, so
they live here where the engine can import them without importing
``backends/ptrace.py`` (and with it python-ptrace and ctypes).  Any backend
that reports ptrace-style stops (a live tracer, a fake backend in the tests)
uses the same numbers.
"""

from __future__ import annotations

#: ``status >> 16`` of a waitpid stop (include/uapi/linux/ptrace.h)
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_EXIT = 6
#: group-stop or PTRACE_INTERRUPT stop of a PTRACE_SEIZE tracee
PTRACE_EVENT_STOP = 128

#: perf_event_attr.sig_data of sigdbg's own execute breakpoints
#: (``PtraceTask.arm_breakpoint``): the SIGTRAP they send carries it as
#: si_perf_data (kernel/events/core.c ``perf_sigtrap``), which tells it from a
#: perf_event of the program
PERF_SIG_DATA = 0x5167DB6
