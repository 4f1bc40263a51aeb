"""The Protocols every backend implements.

Decoders only ever see a :class:`Memory` (and an :class:`~sigdbg.abi.abis.Abi`
value); reports (``engine/inspect.py``) a :class:`Task`; the engine's run
control a :class:`Target` (one thread of a process: what can be read) and a
:class:`Control` (what can be done to a running process).  The ptrace backend
(live processes; ``backends/ptrace*.py``), the
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

The session's event loop (``engine/session.py``) needs more than a
:class:`Control`: every stop of every task of a process tree, in the order
the kernel reports them, and the ptrace-level requests on each thread
(listen, detach with a signal, the siginfo of the stop).  That is the
:class:`TracerBackend` and its :class:`TracedTask` threads below; the ptrace
backend's ``Tracer``/``PtraceTask`` implement them (``mypy --strict``
proves it, ``backends/ptrace.py``), and so does the recorded fake of the
unit tests (``tests/fakebackend.py``).  :class:`FastLoop` is the optional
part: a backend without a compiled trace loop says so and is never asked
for one.  Choosing and starting a backend (``Tracer.spawn``/``attach``)
is the caller's (``sigdbg/commands/target.py``), never the engine's.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any, Literal, NamedTuple, Protocol

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


# -- what the session's event loop drives ------------------------------------------


class WaitResult(NamedTuple):
    """One ``waitpid`` result, before classification (a NamedTuple: two are
    made per traced signal, and a frozen dataclass costs several times more)."""

    tid: int
    status: int
    pid: int = 0  #: thread-group id of the task, when known

    @property
    def stopped(self) -> bool:
        return os.WIFSTOPPED(self.status)

    @property
    def exited(self) -> bool:
        return os.WIFEXITED(self.status)

    @property
    def signaled(self) -> bool:
        return os.WIFSIGNALED(self.status)

    @property
    def stopsig(self) -> int:
        return os.WSTOPSIG(self.status)

    @property
    def event(self) -> int:
        return (self.status >> 16) & 0xFF

    @property
    def exit_code(self) -> int:
        return os.WEXITSTATUS(self.status)

    @property
    def termsig(self) -> int:
        return os.WTERMSIG(self.status)

    @property
    def core_dumped(self) -> bool:
        return os.WCOREDUMP(self.status)


class ResumeResult(NamedTuple):
    """What :meth:`TracerBackend.resume_wait` saw: the wait, and what was read at it."""

    wait: WaitResult
    siginfo: bytes | None
    pc: int | None  #: the resumed task's pc before resuming (peek_pc)
    read: tuple[int, bytes] | None  #: (sp, bytes read there) at the stop (read_at_sp)


class TracedTask(Target, Protocol):
    """One thread a :class:`TracerBackend` traces, with the requests the
    session makes while it is stopped (ptrace's, kernel/ptrace.c).

    Resuming requests (``cont``, ``step``, ``syscall``, ``listen``) raise
    :class:`~sigdbg.errors.ProcessGone` for a thread that is gone or not
    in a ptrace-stop (ESRCH); their stop is then reported by the backend's
    wait.  ``listen`` raises another :class:`~sigdbg.errors.SigdbgError`
    when the stop is not a group-stop PTRACE_LISTEN accepts.
    """

    #: the general registers read at this stop, raw (NT_PRSTATUS) and
    #: decoded: a cache the backend keeps until the thread runs (the fast
    #: path fills it from what the C loop read; None: not read)
    _raw_regs: bytes | None
    _regs: dict[str, int] | None

    def set_registers(self, regs: dict[str, int]) -> None:
        """Write the general registers (PTRACE_SETREGSET)."""
        ...

    def write(self, address: int, data: bytes) -> None:
        """Write memory; :class:`~sigdbg.errors.MemoryReadError` when it cannot."""
        ...

    def siginfo_raw(self) -> bytes | None:
        """The siginfo of the stop (PTRACE_GETSIGINFO) in the tracer's
        layout; None for a group-stop of a non-SEIZEd tracee (EINVAL);
        ProcessGone when the thread is running or gone."""
        ...

    def event_msg(self) -> int:
        """PTRACE_GETEVENTMSG of the last event stop."""
        ...

    def syscall_info(self) -> tuple[int, int, int, int] | None:
        """PTRACE_GET_SYSCALL_INFO at a syscall-stop: (op, arch, nr, sp), None
        when the kernel has no such request."""
        ...

    def forget_abi(self) -> None:
        """The thread exec'd: its ABI is to be read anew."""
        ...

    def cont(self, sig: int = 0) -> None: ...

    def step(self, sig: int = 0) -> None: ...

    def syscall(self, sig: int = 0) -> None: ...

    def listen(self) -> None:
        """Keep a group-stopped thread stopped until SIGCONT (PTRACE_LISTEN)."""
        ...

    def interrupt(self) -> None:
        """Stop the running thread (PTRACE_INTERRUPT); its stop comes by wait."""
        ...

    def detach(self, sig: int = 0) -> None:
        """PTRACE_DETACH, the thread resuming with ``sig``."""
        ...

    def disarm_debugregs(self) -> None:
        """Clear every execute breakpoint we set in hardware (they outlive a
        detach otherwise); never raises."""
        ...

    def close_mem(self) -> None:
        """Release the memory handle (no request may follow but detach)."""
        ...

    def arm_breakpoint(self, address: int) -> None:
        """An execute breakpoint at ``address`` for this thread only (perf_event
        or debug registers); :class:`~sigdbg.errors.FeatureUnavailable` when
        neither can be set.  Hit: a SIGTRAP with TRAP_HWBKPT or TRAP_PERF."""
        ...

    def disarm_breakpoint(self) -> None:
        """Remove :meth:`arm_breakpoint`'s (no-op when none is set)."""
        ...

    def sigmask(self) -> int:
        """The blocked-signal mask (bit n-1 = signal n)."""
        ...

    def pending_signals(self) -> int:
        """Signals queued for the thread or its process, blocked or not."""
        ...

    def sp_read_args(self) -> tuple[int, int, int]:
        """(memory fd, sp offset, sp size in the raw registers): what the
        C loop needs to read at sp (FastLoop only)."""
        ...


class TracerBackend(Protocol):
    """Every thread of the traced process tree, and their stops.

    The task table holds each thread the backend traces (new ones are added
    by :meth:`task` when the session meets them; a wait that reports a
    thread's death takes it out).  Waits follow ``waitpid(2)`` with
    ``__WALL``: -1 is any traced thread; :class:`~sigdbg.errors.ProcessGone`
    when none is left.  Launch and attach happen before a session exists
    (``Tracer.spawn``: the program stopped at its exec event, or a failure
    raised with the program reaped; ``Tracer.attach``: PTRACE_SEIZE + an
    interrupt whose stop the session waits for); :meth:`close` kills what
    was launched and detaches what was attached, and :meth:`kill` kills one
    process and reaps it.
    """

    @property
    def tasks(self) -> Mapping[int, TracedTask]: ...

    @property
    def seccomp_filtered(self) -> bool:
        """The launched program runs under sigdbg's sigreturn seccomp filter:
        it can be killed, not detached (its sigreturns would fail untraced)."""
        ...

    def task(self, tid: int, pid: int | None = None) -> TracedTask:
        """The table's thread ``tid``, added (in process ``pid``) if new."""
        ...

    def release(self, tid: int) -> None:
        """Drop ``tid`` from the table after it was detached (or is gone)."""
        ...

    def release_all(self) -> None:
        """Everything was detached: nothing is left to kill or detach on close."""
        ...

    def wait(self, tid: int = -1, nohang: bool = False) -> WaitResult: ...

    def wait_siginfo(self, wait_tid: int = -1) -> tuple[WaitResult, bytes | None]:
        """``wait``, then the siginfo of a stop that has one (not an event
        stop nor a syscall-stop; None for a group-stop or a thread gone)."""
        ...

    def resume_wait(self, task: Any, sig: int, step: bool, wait_tid: int = -1,
                    peek_pc: bool = False, read_at_sp: int = 0,
                    syscall: bool = False) -> ResumeResult:
        """Resume ``task`` (one of this backend's own tasks, from its table:
        typed Any because each backend takes only its own) with ``sig`` by
        a step, to its next syscall-stop or a cont, and wait as
        :meth:`wait_siginfo`; ``peek_pc`` reads its pc first, ``read_at_sp``
        bytes at sp are read when it stops at a SIGTRAP (None when the
        backend cannot in the same call).  A thread gone before it could be
        resumed is waited for all the same."""
        ...

    def seize_thread(self, tid: int, pid: int) -> TracedTask:
        """Trace one more thread of an attached process and interrupt it; its
        first stop is the caller's to wait for."""
        ...

    def kill(self, pid: int) -> None: ...

    def detach_all(self, pid: int) -> None:
        """Detach every thread of ``pid`` (stopping running ones first), each
        with the signal of its delivery-stop, and forget them."""
        ...

    def close(self) -> None: ...

    def tgkill(self, pid: int, tid: int, sig: int) -> None:
        """Send ``sig`` to thread ``tid`` of process ``pid`` (tgkill(2));
        ProcessGone when it is gone."""
        ...

    # -- /proc facts the session asks about threads (any backend of a live
    # -- Linux process answers them; the fake from its recording)
    def threads_of(self, pid: int) -> list[int]:
        """The process's thread ids, sorted ([] when it is gone)."""
        ...

    def tgid_of(self, tid: int) -> int:
        """The thread group of ``tid`` (0 when unknown)."""
        ...

    def ppid_of(self, tid: int) -> int:
        """The parent process of ``tid`` (0 when unknown)."""
        ...

    def is_thread(self, tid: int, pid: int) -> bool:
        """``tid`` is a thread of process ``pid``."""
        ...

    def sigtrap_pending(self, tid: int) -> bool:
        """A SIGTRAP is pending for ``tid`` and not blocked: its
        delivery-stop is the next thing it does."""
        ...


#: kinds of :class:`LoopOutcome` (``_fastptrace.c`` ``trace_loop``)
LOOP_STOP, LOOP_MISS, LOOP_OTHER, LOOP_FULL, LOOP_INTR, LOOP_PASS_MISS, LOOP_WALK = range(7)


class LoopOutcome(Protocol):
    """What one trip through a compiled trace loop returned (the ptrace
    backend's ``LoopResult``; fields as in ``_fastptrace.c``)."""

    @property
    def kind(self) -> int: ...
    @property
    def out(self) -> bytes: ...
    @property
    def served(self) -> int: ...
    @property
    def stid(self) -> int: ...
    @property
    def dinfo(self) -> bytes | None: ...
    @property
    def dpc(self) -> int | None: ...
    @property
    def rerr(self) -> int: ...
    @property
    def werr(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def info(self) -> bytes | None: ...
    @property
    def regs(self) -> bytes | None: ...
    @property
    def data(self) -> bytes | None: ...
    @property
    def exc(self) -> BaseException | None: ...
    @property
    def walk(self) -> tuple[int, list[tuple[int, int, int, bytes]]] | None:
        """LOOP_WALK: (delivery template index, [(op, address, size, result)])."""
        ...


class FastLoop(Protocol):
    """The optional capability of serving plain deliveries in compiled code
    (``sigdbg trace``'s hot path, engine/fastpath.py).  A backend without it
    answers False from :meth:`trace_loop_available`, and then none of the
    other members is used."""

    def trace_loop_available(self) -> bool: ...

    def new_template_store(self) -> Any:
        """An empty store of delivery templates the loop reads (an
        ``engine.fastpath.Store``, which this layer cannot name)."""
        ...

    def trace_loop(self, store: Any, task: Any, sig: int, served: int,
                   handler_code: int, read_size: int, max_count: int,
                   max_bytes: int, step: bool = False) -> LoopOutcome:
        """Resume ``task`` (one of this backend's tasks) and serve deliveries
        with the templates of ``store`` (one :meth:`new_template_store` made)
        until something else happens; never raises for a failed resume or
        wait (:meth:`loop_stop` does).  ``step``: the walks of
        --step-sigreturn too, by the store's walk templates (LOOP_WALK when
        none serves one; engine/faststep.py)."""
        ...

    def perf_args(self, task: Any) -> tuple[int, int]:
        """(fd, address) of the task's restorer breakpoint the compiled walk
        may enable and disable, or (-1, 0)."""
        ...

    def loop_stop(self, r: Any) -> tuple[WaitResult, bytes | None]:
        """The stop the loop ``r`` (what :meth:`trace_loop` returned) ended
        on, as ``wait_siginfo`` reports one; raises as ``resume_wait``."""
        ...


class SessionBackend(TracerBackend, FastLoop, Protocol):
    """What ``engine.session.Session`` is built on: the tracer, and the
    fast loop (available or not)."""
