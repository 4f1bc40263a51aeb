"""A debugging session over a tracer backend: the engine's public face.

A :class:`Session` drives one backend (a
:class:`~sigdbg.backends.base.SessionBackend`: the ptrace backend's
``Tracer``, which its caller chose and started, or the fake of the unit
tests) and the tasks of one target.  It decodes on request (auxv, maps, vDSO, frames) and
runs the target with :meth:`Session.events`, a generator of frozen events.
While an event is being handled by the consumer the tracee stays stopped at
the point the event describes (handler entry, breakpoint, ...); asking for the
next event resumes it.  Nothing here prints.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sigdbg.abi import Abi
from sigdbg.backends.base import SessionBackend, TracedTask
from sigdbg.backends.stopcodes import (
    PTRACE_EVENT_CLONE,
    PTRACE_EVENT_EXEC,
    PTRACE_EVENT_EXIT,
    PTRACE_EVENT_FORK,
    PTRACE_EVENT_SECCOMP,
    PTRACE_EVENT_VFORK,
)
from sigdbg.backends.tracercontrol import TracerControl
from sigdbg.decode.altstack import AltstackUse, altstack_use
from sigdbg.decode.frames import AnyFrame, decode_frame, own_model
from sigdbg.decode.sigframe import BULK_READ, decode_sigframe
from sigdbg.decode.siginfo import SigInfo
from sigdbg.engine import events as ev
from sigdbg.engine.fastpath import FastPath, PairEncoder, PassEncoder
from sigdbg.engine.fastrun import FastRun
from sigdbg.engine.faststep import FastStep, WalkEncoder
from sigdbg.engine.inspect import Inspector, TaskView
from sigdbg.engine.leave import Leaving
from sigdbg.engine.policy import Pending, SignalPolicy
from sigdbg.engine.runhost import LISTEN, Running
from sigdbg.engine.srop import SropGuard
from sigdbg.engine.srophooks import SropHooks
from sigdbg.engine.stops import (
    SI_CODE_FIELD,
    SI_KERNEL,
    SIGTRAP_HANDLER_ENTRY,
    TRAP_BRKPT,
    TRAP_TRACE,
    Stop,
    siginfo_of,
)
from sigdbg.errors import ProcessGone, SigdbgError, TargetError, UsageError

_SIGTRAP, _SIGSTOP = int(signal.SIGTRAP), int(signal.SIGSTOP)
#: waitpid status of a SIGTRAP signal stop (no PTRACE_EVENT bits)
_SIGTRAP_STOP = (_SIGTRAP << 8) | 0x7F

_NEW_TASK_EVENTS = {PTRACE_EVENT_FORK: "fork", PTRACE_EVENT_VFORK: "vfork",
                    PTRACE_EVENT_CLONE: "clone"}

#: (the name the event loop knows it by)
_Pending = Pending


class Session(FastRun, Running, Leaving, SropHooks, Inspector):
    """One target on a backend passed in: launched (``launched_on``, from
    ``commands/backend.py`` ``launch_session``) or attached (``attached_to``).

    Its parts, each a mixin over the state set up here: ``FastRun`` (the C
    trace loop's driver and the walks, engine/fastrun.py), ``Running``
    (resume and wait, breakpoints, ``run_to_entry``, run control's
    ``RunHost``, engine/runhost.py), ``Leaving`` (detach, close, kill,
    engine/leave.py), ``SropHooks`` (--srop, engine/srophooks.py); this
    module keeps construction, the event loop, stop handling and deliveries."""

    def __init__(self, tracer: SessionBackend, task: TracedTask, *, launched: bool,
                 follow: bool) -> None:
        #: the backend (a TracerBackend with its optional FastLoop): the
        #: ptrace backend's Tracer, or the fake of the unit tests
        self.tracer = tracer
        #: the backend's Control (what the sigreturn walk does to a thread)
        self.control = TracerControl(tracer, task.pid)
        self.task = task
        self.pid = task.pid
        self.launched = launched
        self.follow = follow
        super().__init__()
        self.policy = SignalPolicy()
        self._views: dict[int, TaskView] = {}  # pid -> per-address-space decoder caches
        self._pending: dict[int, _Pending] = {}
        self._stopped: dict[int, int] = {task.tid: 0}  # tid -> signal to resume with
        self._requeued: deque[Stop] = deque()
        self._new_tids: set[int] = set()
        #: new tasks whose first stop came before their parent's fork/clone event
        self._early_tids: set[int] = set()
        #: tasks stopped on one of our int3s (pc rewound onto it)
        self._at_breakpoint: dict[int, int] = {}
        #: tasks held in a group-stop with PTRACE_LISTEN (their next stop ends it)
        self._listening: set[int] = set()
        self._exe = task.exe_path()
        #: our int3s: address -> the original bytes (the Control's own table:
        #: run control inserts and lifts them through the Control)
        self.breakpoints: dict[int, bytes] = self.control.breakpoints
        self.exit_status: int | None = None  #: shell-style: code, or 128+N
        self.first_events: list[ev.Event] = []
        self._inline = False  #: inside _handle's own wait for a step into a handler
        #: tid -> sigreturns in a row (walks) that restored a context at which
        #: a signal was already deliverable (see sigreturn.NO_PROGRESS_LIMIT)
        self._no_progress: dict[int, int] = {}
        #: tid -> deliveries still to pass without stepping into the handler,
        #: and the length of the next such run (doubled each time the
        #: progress guard trips again, up to _MAX_UNSTEPPED)
        self._unstepped: dict[int, int] = {}
        self._backoff: dict[int, int] = {}
        #: tasks resumed with a PTRACE_SINGLESTEP whose trap the main loop
        #: takes (not a step into a handler: that one is in _pending)
        self._stepping: set[int] = set()
        #: forged-sigreturn detection (enable_srop), and whether runs use
        #: PTRACE_SYSCALL to see the sigreturns (no seccomp filter)
        self.srop: SropGuard | None = None
        self._cont_syscall = False
        #: tasks whose owed signal is delivered with a step (see _quiet_step)
        self._quiet: set[int] = set()
        #: tid -> its first stop after attaching, when that was not the
        #: interrupt's (a signal in flight): handled first by events()
        self._attach_stops: dict[int, Stop] = {}
        #: tasks whose PTRACE_INTERRUPT of the attach may still report a stop
        self._attach_interrupts: set[int] = set()
        #: the C trace loop's templates (events(encoder=...)), else None
        self._fast: FastPath | None = None

    # -- construction ------------------------------------------------------------
    @classmethod
    def launched_on(cls, tracer: SessionBackend, task: TracedTask, *, at: str = "exec",
                    follow: bool = False, srop: bool = False) -> Session:
        """The session of a program the backend just started, stopped at its
        exec event (``Tracer.spawn``; the caller chose the backend:
        ``sigdbg/commands/backend.py`` ``launch_session``).  Runs it to its
        entry with ``at="entry"``.  ``srop``: detect forged sigreturns
        (:meth:`enable_srop`).  On failure the caller closes the backend."""
        s = cls(tracer, task, launched=True, follow=follow)
        if srop:
            s.enable_srop()
        s.first_events.append(ev.Exec(task.pid, task.tid, s._exe, task.process_abi.name))
        if at == "entry":
            s.run_to_entry()
        elif at != "exec":
            raise UsageError(f"--at must be exec or entry, not {at!r}")
        return s

    @classmethod
    def attached_to(cls, tracer: SessionBackend, task: TracedTask, *, follow: bool = False,
                    srop: bool = False) -> Session:
        """The session of a process the backend just seized and interrupted
        (``Tracer.attach``): waits for that first stop, and with ``follow``
        seizes its other threads.  On failure the caller closes the backend."""
        pid = task.pid
        res, raw = tracer.wait_siginfo(pid)
        if not res.stopped:
            raise TargetError(f"process {pid} exited while attaching")
        s = cls(tracer, task, launched=False, follow=follow)
        s._first_stop(s._stop_of(res, raw))
        if follow:
            for tid in tracer.threads_of(pid):
                if tid != pid:
                    s._attach_thread(tid)
        if srop:
            s.enable_srop()
        return s

    def _attach_thread(self, tid: int) -> None:
        try:
            self.tracer.seize_thread(tid, self.pid)
            res, raw = self.tracer.wait_siginfo(tid)
        except SigdbgError:
            self.tracer.release(tid)  # the thread exited meanwhile
            return
        stop = self._stop_of(res, raw)
        if res.stopped:
            self._first_stop(stop)

    def _first_stop(self, stop: Stop) -> None:
        """The first stop of a task just seized and sent PTRACE_INTERRUPT.

        Usually the interrupt's own stop (PTRACE_EVENT_STOP with SIGTRAP).
        A task that was stopped (SIGSTOP, ...) before we came reports a
        group-stop instead: it stays stopped until SIGCONT, as it would
        without us (``ptrace_attach`` turns the stop into this trap,
        kernel/ptrace.c).  But a task that dequeued a signal between
        PTRACE_SEIZE and PTRACE_INTERRUPT (a signal storm sent by another
        process) stops first in that signal's delivery-stop: get_signal
        checks the job-control trap before dequeue_signal, and
        ptrace_signal stops after it (kernel/signal.c).  That signal is
        already out of the queue: resumed with 0 the program would never
        get it.  So the stop is kept with its signal owed (any resume or
        detach passes it on) and :meth:`events` handles it first, like any
        delivery (reported, its frame decoded under the policy then in
        force).  The interrupt's stop may still follow (the delivery-stop
        clears a trap only if the interrupt came before it,
        ``ptrace_stop``); it is no event.
        """
        tid = stop.tid
        if stop.kind == "group":
            self._stopped[tid] = LISTEN
        elif stop.kind != "interrupt":
            self._attach_stops[tid] = stop
            self._attach_interrupts.add(tid)
            self._stopped[tid] = stop.sig if stop.kind == "signal" else 0

    def attach_signal(self) -> SigInfo | None:
        """The siginfo of the signal the main task was being delivered when
        we attached, while that delivery is still to be handled (it is,
        with its signal, at the next resume)."""
        stop = self._attach_stops.get(self.task.tid)
        return siginfo_of(stop) if stop is not None and stop.kind == "signal" else None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ---------------------------------------------------------------------
    @property
    def abi(self) -> Abi:
        return self.task.abi

    @property
    def alive(self) -> bool:
        return bool(self.tracer.tasks)

    def is_stopped(self, tid: int | None = None) -> bool:
        return (tid or self.task.tid) in self._stopped

    def require_stopped(self) -> TracedTask:
        if not self.alive:
            raise UsageError("the program is not running")
        if self.task.tid not in self._stopped:
            raise UsageError("the program is running; interrupt it first")
        return self.task

    def registers(self) -> dict[str, int]:
        return self.require_stopped().registers()

    def invalidate(self) -> None:
        super().invalidate()
        self._views.clear()
        if self._fast is not None:
            self._fast.forget()  # (the restorers they were made with are gone)

    def view(self, task: TracedTask) -> TaskView:
        """Decoder caches for the address space ``task`` lives in, bound to it."""
        v = self._views.get(task.pid)
        if v is None:
            v = TaskView(task, task.exe_path())
            self._views[task.pid] = v
        v.task = task
        return v

    def current_task(self) -> TracedTask:
        return self.require_stopped()

    def exe_path(self) -> str:
        return self._exe

    # -- the event loop ---------------------------------------------------------------
    def events(self, *, step_sigreturn: bool = False, encoder: PairEncoder | None = None,
               passed_encoder: PassEncoder | None = None,
               batch: int = FastPath.MAX_COUNT,
               walk_encoder: WalkEncoder | None = None) -> Iterator[ev.Event]:
        """Run the target, yielding events until no traced task is left.

        The tracee is stopped while the consumer holds an event; the next
        ``next()`` resumes it.

        ``encoder``: the front end's writer of one delivery to a handler (its
        ``SignalDelivered`` and ``HandlerEntered``), pure and stateless.  With
        it, plain deliveries may come as :class:`~sigdbg.engine.events.Rendered`
        events instead: served by the C trace loop and written with templates
        of exactly that encoder's output (engine/fastpath.py); with
        ``step_sigreturn`` only given ``walk_encoder``, the front end's
        writer of a walk's events (the C loop then follows plain walks too:
        engine/faststep.py).  Not when the C module is not built
        (SIGDBG_NO_NATIVE) or SIGDBG_NO_FASTPATH is set.  ``passed_encoder``
        does the same for a delivery passed on without a frame
        (``policy.frames`` False: its ``SignalDelivered`` alone).  ``batch``:
        the most deliveries in one ``Rendered`` (1 for a reader watching
        live, a terminal: each is then written as it happens).
        """
        yield from self.first_events
        self.first_events = []
        if self._attach_stops:
            # a signal in flight when we attached: its stop is the first to handle
            for stop in self._attach_stops.values():
                self.requeue(stop)
            self._attach_stops.clear()
        stopped, tasks = self._stopped, self.tracer.tasks
        fast = self._fast = None
        self._fast_step = None
        if encoder is not None and (not step_sigreturn or walk_encoder is not None) \
                and self.tracer.trace_loop_available() \
                and os.environ.get("SIGDBG_NO_FASTPATH", "") in ("", "0") \
                and self.task.process_abi.native_trace_loop:
            fast = self._fast = FastPath(self.tracer.new_template_store, encoder, passed_encoder,
                                         max_count=max(batch, 1))
            if step_sigreturn and walk_encoder is not None:
                self._fast_step = FastStep(walk_encoder)
        while tasks or self._requeued:  # (self.alive)
            try:
                if fast is not None and len(stopped) == 1 and self._fast_ready():
                    ((tid, sig),) = stopped.items()
                    if sig >= 0:
                        yield from self._fast_run(fast, tid, sig)
                        continue
                if len(stopped) == 1 and not self._requeued:
                    ((tid, sig),) = stopped.items()  # the usual case: one task
                    stop = self._resume_wait(tid, sig)
                else:
                    self.resume_all()
                    stop = self._wait()
            except ProcessGone:
                break
            if not step_sigreturn:
                yield from self._handle(stop)
                continue
            if self._no_progress and stop.kind != "signal":
                self._no_progress.pop(stop.tid, None)  # it ran after its last sigreturn
            yield from self._walked(self._handle(stop))

    def _handle(self, stop: Stop) -> list[ev.Event]:
        """The events one stop makes (a list, not a generator: it is at most
        three, and this runs for every stop)."""
        tid = stop.tid
        kind = stop.kind
        task = self.tracer.tasks.get(tid)
        out: list[ev.Event] = []
        if self._pending:
            pending = self._pending.pop(tid, None)
            if pending is not None:
                out = self._finish_delivery(stop, pending)
                if kind == "signal" and stop.sig == _SIGTRAP:
                    code = stop.si_code
                    if code in (SIGTRAP_HANDLER_ENTRY, TRAP_BRKPT):
                        return out  # the handler's entry, or our step over a syscall
                    if code == TRAP_TRACE and not (task is not None and _program_tf(task)):
                        return out  # our step: the signal was ignored
                    # else the program's own TF trapped at the same instruction as
                    # our step: the trap is its own too, delivered below
        if self.srop is not None and task is not None and (
                kind == "syscall" or (kind == "event" and stop.event == PTRACE_EVENT_SECCOMP)):
            out.extend(self.srop_stop(stop, task))
            return out
        if kind == "signal" and task is not None:
            return self._signal_stop(stop, task, out)
        if kind == "exited":
            self._tid_gone(tid)
            if tid == self.pid:
                self.exit_status = stop.status
            out.append(ev.Exited(stop.pid or tid, tid, stop.status))
            return out
        if stop.kind == "killed":
            self._tid_gone(tid)
            if tid == self.pid:
                self.exit_status = 128 + stop.sig
            out.append(ev.Killed(stop.pid or tid, tid, stop.sig, os.WCOREDUMP(stop.status)))
            return out
        assert task is not None
        pid = task.pid
        if stop.kind == "event":
            if stop.event == PTRACE_EVENT_EXEC:
                # (GETEVENTMSG would give the former tid: only differs when a
                # non-leader thread execs, which the kernel makes the leader)
                task.forget_abi()
                if self._fast is not None:
                    self._fast.forget()  # a new address space
                self._views.pop(pid, None)
                if self.srop is not None:
                    self.srop.forget(tid)  # a new address space: no frame survives
                if pid == self.pid:
                    self.breakpoints.clear()  # they were in the old image
                    self._at_breakpoint.clear()
                if pid == self.pid:
                    self.invalidate()
                    self._exe = task.exe_path()
                out.append(ev.Exec(pid, tid, task.exe_path(), task.process_abi.name))
            elif stop.event in _NEW_TASK_EVENTS:
                new = task.event_msg()
                how = _NEW_TASK_EVENTS[stop.event]
                child_pid = pid if how == "clone" and self.tracer.is_thread(new, pid) else new
                self.tracer.task(new, child_pid)
                early = new in self._early_tids
                if early:
                    self._early_tids.discard(new)  # its first stop was already handled
                else:
                    self._new_tids.add(new)
                if self.srop is not None and child_pid != pid and not early:
                    # a copy of the address space: the frames on the stack it
                    # forked from are the child's too (a fork in a handler)
                    self.srop.inherit(new, tid)
                out.append(ev.NewTask(child_pid, new, tid, how))
            return out
        if stop.kind in ("group", "interrupt"):
            if tid in self._new_tids:
                self._new_tids.discard(tid)  # auto-attach stop of a new task
                return out
            if self._attach_interrupts and tid in self._attach_interrupts:
                self._attach_interrupts.discard(tid)
                if stop.kind == "interrupt":
                    return out  # our attach's PTRACE_INTERRUPT, after a first stop of a signal
            if tid in self._listening:
                # The end of a PTRACE_LISTEN: SIGCONT woke it (an EVENT_STOP
                # with SIGTRAP; the SIGCONT's own delivery-stop follows), or
                # it re-trapped still stopped.  Reported already: no event.
                self._listening.discard(tid)
                if stop.kind == "group" and self.policy.job_control:
                    self._stopped[tid] = LISTEN
                return out
            if stop.kind == "group":
                out.append(ev.GroupStop(pid, tid, stop.sig))
                if self.policy.job_control:
                    self._stopped[tid] = LISTEN  # stay stopped until SIGCONT
            else:
                out.append(ev.Interrupted(pid, tid))
            return out
        return out

    def _signal_stop(self, stop: Stop, task: TracedTask, out: list[ev.Event]) -> list[ev.Event]:
        """A signal-delivery-stop, or one of our own SIGTRAPs (``out`` may
        already hold the end of a delivery this stop completes)."""
        tid = stop.tid
        pid = task.pid
        sig = stop.sig
        if self._new_tids and tid in self._new_tids and sig == _SIGSTOP:
            self._new_tids.discard(tid)  # an auto-attached child's first stop (non-SEIZE mode)
            return out
        info = siginfo_of(stop)
        assert info is not None
        if sig == _SIGTRAP:
            # Ours only if we caused it: an int3 we planted, a single-step we
            # asked for.  si_code alone cannot tell: the program's own TF gives
            # TRAP_TRACE and its own int3 SI_KERNEL, exactly like ours.
            code = info.si_code
            if code == SI_KERNEL and self.breakpoints:
                regs = task.registers()
                pc = regs[task.abi.pc] - task.abi.breakpoint_pc_adjust
                if pc in self.breakpoints:
                    regs[task.abi.pc] = pc
                    task.set_registers(regs)
                    self._at_breakpoint[tid] = pc
                    out.append(ev.Breakpoint(pid, tid, pc))
                    return out
            if self._stepping and tid in self._stepping:
                self._stepping.discard(tid)
                # (TRAP_BRKPT: our step over a syscall, reported at its exit,
                # where the program's own TF does not trap)
                if code == TRAP_BRKPT or (code == TRAP_TRACE and not _program_tf(task)):
                    out.append(ev.Stepped(pid, tid, info.get("si_addr") or 0))
                    return out
        elif self._stepping:
            self._stepping.discard(tid)  # the step we asked for ended otherwise
        # a real signal-delivery-stop
        policy = self.policy
        prints = policy.prints(sig)
        if not policy.passes(sig):
            if prints:
                out.append(ev.SignalDelivered(pid, tid, info, "suppressed", self._pc(task)))
            return out
        if not policy.frames or not prints or (self._unstepped and self._pass_unstepped(tid)):
            self._stopped[tid] = sig
            if self.srop is not None:
                self._quiet.add(tid)  # stepped all the same: --srop needs its frame
            if prints:
                out.append(self._passed(task, info, self._pc(task)))
            return out
        # Step with the signal: the kernel builds the frame and stops at the
        # handler's first instruction (or executes one instruction if the
        # signal is ignored, or kills the task).  The event's pc is the one at
        # this stop, read before the step.
        if not self._requeued and not self._inline and tid not in self._at_breakpoint:
            # Nothing queued: the main loop's next pass would (resume the
            # other tasks we hold and) wait for a stop, normally this step's.
            # Taking it here saves that pass on every traced signal; other
            # tasks held stopped stay so until then, and a stop of another
            # task that comes first is handled here like the main loop would
            # (not nested: a stop that is itself a delivery is left to the
            # main loop, this step's stop then finishes the delivery there).
            # The pc at delivery is read by the same backend call.
            self._inline = True
            try:
                try:
                    r = self._resume_task(task, sig, True, -1, True, BULK_READ)
                except ProcessGone:  # the main loop finds it gone too
                    self._pending[tid] = _Pending(info, 0)
                    return out
                pending = _Pending(info, 0 if r.pc is None else r.pc, r.read)
                res, raw = r.wait, r.siginfo
                if res.tid == tid and res.status == _SIGTRAP_STOP and raw is not None \
                        and SI_CODE_FIELD.unpack_from(raw, 8)[0] == SIGTRAP_HANDLER_ENTRY:
                    # the handler-entry stop itself (what _handle would find
                    # by way of _finish_delivery): straight to the frame
                    self._stopped[tid] = 0
                    out.extend(self._handler_entered(task, pending))
                else:
                    self._pending[tid] = pending
                    out.extend(self._handle(self._stop_of(res, raw)))
            except ProcessGone:
                pass  # the main loop finds it gone too
            finally:
                self._inline = False
        else:
            self._pending[tid] = _Pending(info, self._pc(task))
            self._resume(tid, sig, step=True)
        return out

    @staticmethod
    def _passed(task: TracedTask, info: SigInfo, pc: int) -> ev.SignalDelivered:
        """A delivery passed on to the program (not stepped into)."""
        return ev.SignalDelivered(task.pid, task.tid, info, "passed", pc)

    def _pc(self, task: TracedTask) -> int:
        try:
            return task.pc()
        except SigdbgError:
            return 0

    def _handler_entered(self, task: TracedTask, pending: _Pending) -> list[ev.Event]:
        """The task stopped at its handler's first instruction: decode the
        frame at sp (read already when the step into it brought it along)."""
        pc, sp = task.pc_sp()
        view = self.view(task)
        read = pending.read
        info = pending.siginfo
        pid, tid = task.pid, task.tid
        if own_model(task.abi):
            # a frame model of the arch's own (AArch64, AArch32: abi/<arch>/):
            # it takes the restorer (and AArch64 its frame record) from the
            # registers at entry, not from the frame
            own = decode_frame(task, task.abi, sp, entry_regs=task.registers(),
                               signo=info.si_signo, view=view)
            return [ev.SignalDelivered(pid, tid, info, "handler", pending.pc),
                    ev.HandlerEntered(pid, tid, pc, own,
                                      _altstack(own, view) if own.on_altstack else None)]
        frame = decode_sigframe(task, task.abi, sp, view=view, signo=info.si_signo,
                                data=read[1] if read and read[0] == sp else None)
        if self.srop is not None:
            self.srop.delivered(tid, frame)
            if pending.quiet:
                return []
        if frame.on_altstack:  # rare: the headroom left on the alternate stack
            return [ev.SignalDelivered(pid, tid, info, "handler", pending.pc),
                    ev.HandlerEntered(pid, tid, pc, frame, _altstack(frame, view))]
        return [ev.SignalDelivered(pid, tid, info, "handler", pending.pc),
                ev.HandlerEntered(pid, tid, pc, frame)]

    def _finish_delivery(self, stop: Stop, pending: _Pending) -> list[ev.Event]:
        out: list[ev.Event] = []
        tid = stop.tid
        task = self.tracer.tasks.get(tid)
        pid = task.pid if task is not None else self.pid
        info = pending.siginfo
        if stop.kind == "signal" and stop.sig == signal.SIGTRAP:
            code = stop.si_code
            if code == SIGTRAP_HANDLER_ENTRY and task is not None:
                return self._handler_entered(task, pending)
        if pending.quiet:
            return out  # reported as passed already
        if stop.kind == "signal" and stop.sig == signal.SIGTRAP:
            code = stop.si_code
            if code in (TRAP_TRACE, TRAP_BRKPT):
                out.append(ev.SignalDelivered(pid, tid, info, "ignored", pending.pc))
                return out
        if stop.kind == "killed" or (stop.kind == "event" and stop.event == PTRACE_EVENT_EXIT):
            # with PTRACE_O_TRACEEXIT this is reported while the task still exists
            out.append(ev.SignalDelivered(pid, tid, info, "fatal", pending.pc))
            return out
        if stop.kind == "group":
            out.append(ev.SignalDelivered(pid, tid, info, "stop", pending.pc))
            return out
        out.append(ev.SignalDelivered(pid, tid, info, "unknown", pending.pc))
        return out

    def _tid_gone(self, tid: int) -> None:
        self._stepping.discard(tid)
        self._quiet.discard(tid)
        if self.srop is not None:
            self.srop.forget(tid)
        self._attach_interrupts.discard(tid)
        self._attach_stops.pop(tid, None)
        self._no_progress.pop(tid, None)
        self._unstepped.pop(tid, None)
        self._backoff.pop(tid, None)
        self._stopped.pop(tid, None)
        self._pending.pop(tid, None)
        self._new_tids.discard(tid)
        self._listening.discard(tid)


def _program_tf(task: TracedTask) -> bool:
    """Whether the program itself has EFLAGS.TF set.

    After a PTRACE_SINGLESTEP the kernel hides the TF it set for the step
    (TIF_FORCED_TF, arch/x86/kernel/ptrace.c ``get_flags``), so a TF seen
    here is the program's: its own single-step trapped at the same
    instruction as ours.  (At a step stop the registers are usually read
    already, by the same backend call.)
    """
    try:
        return bool(task.registers()[task.abi.flags] & task.abi.trace_flag)
    except (SigdbgError, KeyError):
        return False


def _altstack(frame: AnyFrame, view: TaskView) -> AltstackUse:
    """Headroom of a frame the kernel put on the alternate stack (its uc_stack)."""
    st = frame.uc_stack or {}
    return altstack_use(st.get("ss_sp", 0), st.get("ss_size", 0), frame.address,
                        view.at_minsigstksz())


#: (SignalPolicy lives in engine/policy.py; the front ends import it from here too)
__all__ = ["Session", "SignalPolicy"]


if TYPE_CHECKING:
    from sigdbg.engine.runcontrol import RunHost

    _HOST: type[RunHost] = Session  # mypy --strict proves run control's host
