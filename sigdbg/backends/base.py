"""The Protocols every backend implements.

Decoders only ever see a :class:`Memory` (and an :class:`~sigdbg.abi.abis.Abi`
value); reports (``engine/inspect.py``) a :class:`Task`; the engine's run
control a :class:`Target` (one thread of a process: what can be read) and a
:class:`Control` (what can be done to a running process).  The ptrace backend
(live processes; ``backends/ptrace.py`` + ``backends/ptrace_control.py``), the
GDB backend (``backends/gdb/``), core files (``backends/core.py``, a
``Task``/``Target`` without ``Control``) and the fake backend of the unit tests
(``tests/fakebackend.py``) implement them; nothing above this layer imports a
backend module except the code that chooses one.

Failure semantics, for every method below unless it says otherwise: a
vanished thread or process raises :class:`~sigdbg.errors.ProcessGone`; a
request the backend cannot carry out raises another
:class:`~sigdbg.errors.SigdbgError` subclass (:class:`~sigdbg.errors.MemoryReadError`
for memory, :class:`~sigdbg.errors.FeatureUnavailable` for something this
backend or kernel does not have, :class:`~sigdbg.errors.TargetError` for the
rest).  Foreign exceptions (``OSError``, python-ptrace's, ``gdb.error``) are
translated at the backend boundary and never escape.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, Protocol

from sigdbg.abi import Abi
from sigdbg.backends.stopcodes import Stop

#: how :meth:`Control.resume` lets a thread run: to its next stop, one
#: instruction, to its next system-call entry or exit (PTRACE_CONT,
#: PTRACE_SINGLESTEP, PTRACE_SYSCALL)
How = Literal["cont", "step", "syscall"]


class Memory(Protocol):
    """Target memory.

    ``read`` returns exactly ``size`` bytes or raises
    :class:`~sigdbg.errors.MemoryReadError` (never a short result);
    ``read_upto`` returns the readable prefix, possibly empty, and never
    raises for unreadable memory.
    """

    def read(self, address: int, size: int) -> bytes: ...

    def read_upto(self, address: int, size: int) -> bytes: ...


class Task(Memory, Protocol):
    """One thread of a target, as seen while it is stopped."""

    @property
    def tid(self) -> int: ...

    @property
    def pid(self) -> int: ...

    @property
    def abi(self) -> Abi:
        """The ABI of the code the task is stopped in (its registers' layout)."""
        ...

    @property
    def process_abi(self) -> Abi:
        """The ABI of the program (auxv, vDSO); differs from ``abi`` only
        while a task runs code of the other ABI (a far jump to cs 0x23/0x33)."""
        ...

    def registers(self) -> dict[str, int]:
        """The general registers, named as in the ABI's ``user_regs_struct``.

        Raises :class:`~sigdbg.errors.ProcessGone` if the task vanished.
        """
        ...

    def maps_text(self) -> str:
        """``/proc/PID/maps`` of the target (or the backend's equivalent)."""
        ...

    def start_stack(self) -> int:
        """Address of argc on the initial stack (0 when unknown)."""
        ...

    def auxv_bytes(self) -> bytes | None:
        """The raw auxv as the kernel keeps it, or None when not available."""
        ...


class Target(Task, Protocol):
    """One stopped thread of a process (or of a core) and, through it, the
    address space: memory, registers, maps, the auxv, the program's path.

    Read-only: nothing here changes the target.  A core file's thread is a
    Target that no :class:`Control` drives.
    """

    def registers_as(self, abi: Abi) -> dict[str, int]:
        """The general registers named as in ``abi``'s layout (a 64-bit task
        stopped in 32-bit code is read in the other ABI's names); raises
        :class:`~sigdbg.errors.TargetError` when the backend cannot convert."""
        ...

    def pc(self) -> int:
        """``registers()[abi.pc]``, possibly cheaper."""
        ...

    def pc_sp(self) -> tuple[int, int]:
        """``(registers()[abi.pc], registers()[abi.sp])``, possibly cheaper."""
        ...

    def exe_path(self) -> str:
        """The program's path ("" when unknown; never raises)."""
        ...

    def fp_regs_raw(self) -> bytes | None:
        """The FP/vector register regset as the kernel gives it (its layout is
        the Abi's), or None when this target cannot give it."""
        ...

    def regset_raw(self, note: int) -> bytes | None:
        """The regset ``note`` (an NT_* number of the Abi: AArch64's
        NT_PRFPREG, NT_ARM_SVE) as the kernel gives it, None when refused or
        when this target cannot give it (read by the sigreturn walk only for
        frames with FP/SIMD records, see sigreturn_rules.restored_fp_regsets)."""
        ...


class Control(Protocol):
    """Run control over one traced process (ptrace, gdb; not a core).

    Threads are named by tid.  Every method raises
    :class:`~sigdbg.errors.ProcessGone` when the thread (or the process) is
    gone, and :class:`~sigdbg.errors.TargetError` when the request failed
    for another reason.
    """

    def task(self, tid: int) -> Target:
        """The thread ``tid`` as a :class:`Target` (valid while it is stopped);
        :class:`~sigdbg.errors.ProcessGone` for a thread not traced."""
        ...

    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        """Let the stopped thread run, delivering ``sig`` (0: none).  A backend
        that cannot choose the signal (gdb passes what its ``handle`` table
        says) documents what it does instead."""
        ...

    def wait(self, tid: int = -1) -> Stop:
        """Block until a thread (``tid``, or any with -1) stops; the stop
        classified (exited, killed, syscall, group, event, interrupt, signal)
        with its raw siginfo.  ``ProcessGone`` when nothing is left to wait for."""
        ...

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        """:meth:`resume` then :meth:`wait` as one call (the hot path; the C
        module of the ptrace backend lives behind it)."""
        ...

    def insert_breakpoint(self, address: int) -> None:
        """A software breakpoint at ``address`` (the Abi's breakpoint
        instruction written into the text, shared by every thread);
        :class:`~sigdbg.errors.MemoryReadError` when the text cannot be written."""
        ...

    def remove_breakpoint(self, address: int) -> None:
        """Undo :meth:`insert_breakpoint` (no-op when none is there)."""
        ...

    def breakpoint_addresses(self) -> Collection[int]:
        """The addresses of the software breakpoints :meth:`insert_breakpoint`
        set and :meth:`remove_breakpoint` has not removed (never raises)."""
        ...

    def breakpoint_hit(self, stop: Stop) -> int | None:
        """The address of our software breakpoint that ``stop`` (a stop of
        :meth:`wait`) is the hit of, with the thread's pc put back on it
        (the Abi's ``breakpoint_pc_adjust`` undone, so that resuming runs
        the original instruction once the breakpoint is lifted); None for
        any other stop.  A program's own breakpoint instruction at an
        address where we set none is not ours."""
        ...

    def send_signal(self, tid: int, sig: int) -> None:
        """Queue ``sig`` for thread ``tid`` as if this process sent it
        (``tgkill``: its siginfo's si_pid is this process's pid).  Works while
        the thread runs, unlike every other request here; the signal arrives
        as a signal-delivery stop like any other."""
        ...

    def watch_execute(self, tid: int, address: int) -> None:
        """An execute breakpoint for thread ``tid`` only that leaves the text
        alone (perf_event or debug registers; gdb: a hardware breakpoint).
        Hitting it stops the thread with a SIGTRAP whose si_code is
        TRAP_HWBKPT (or TRAP_PERF carrying ``PERF_SIG_DATA``).
        :class:`~sigdbg.errors.FeatureUnavailable` when none can be set.
        One per thread: a second call moves it."""
        ...

    def unwatch(self, tid: int) -> None:
        """Remove the thread's execute breakpoint (no-op when none is set)."""
        ...

    def interrupt(self, tid: int) -> None:
        """Ask a running thread to stop (PTRACE_INTERRUPT); its stop is then
        reported by :meth:`wait` as an "interrupt" stop."""
        ...

    def sigmask(self, tid: int) -> int:
        """The thread's blocked-signal mask (bit n-1 = signal n)."""
        ...

    def pending_signals(self, tid: int) -> int:
        """Signals queued for the thread or its process, blocked or not."""
        ...

    def event_msg(self, tid: int) -> int:
        """PTRACE_GETEVENTMSG of the thread's last "event" stop (the exit
        status at PTRACE_EVENT_EXIT, the new tid at a clone...)."""
        ...

    def detach(self) -> None:
        """Let every thread go, running, with every breakpoint removed."""
        ...
