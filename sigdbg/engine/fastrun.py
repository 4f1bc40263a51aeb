"""The session's driver of the C trace loop (engine/fastpath.py: plain
deliveries served by templates; engine/faststep.py: plain sigreturn walks)
and the walks of --step-sigreturn with their progress guard.  One trip
through the C loop is written out as a ``Rendered`` event and ends on a stop
the Python path then handles; a delivery (or walk) the loop had no template
for is served by the Python path and becomes one (the ``*_maker`` methods:
that path as a function of a delivery's inputs).  A part of
:class:`~sigdbg.engine.session.Session` (a mixin: the state it reads is the
session's, declared below)."""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, cast

from sigdbg.backends.base import (
    LOOP_FULL,
    LOOP_INTR,
    LOOP_MISS,
    LOOP_PASS_MISS,
    LOOP_STOP,
    LOOP_WALK,
    LoopOutcome,
    SessionBackend,
    TracedTask,
)
from sigdbg.backends.tracercontrol import TracerControl
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.sigframe import BULK_READ, SigFrame
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.engine import events as ev
from sigdbg.engine.fastpath import (
    SRC_FRAME,
    SRC_INFO,
    SRC_PC,
    SRC_REGS,
    EventMaker,
    FastPath,
    pc_bytes,
)
from sigdbg.engine.faststep import (
    W0,
    Diverged,
    FastStep,
    WalkRecorder,
    WalkStore,
    run_walk,
    walk_inputs,
)
from sigdbg.engine.policy import Pending, SignalPolicy
from sigdbg.engine.srop import SropGuard
from sigdbg.engine.stops import SIGTRAP_HANDLER_ENTRY, TRACER_SIGINFO_ABI, Stop
from sigdbg.errors import TargetError

if TYPE_CHECKING:
    from sigdbg.backends.base import ResumeResult, WaitResult
    from sigdbg.engine.inspect import TaskView

_SIGTRAP, _SIGSTOP = int(signal.SIGTRAP), int(signal.SIGSTOP)
#: the most deliveries the progress guard lets pass unstepped in one run
_MAX_UNSTEPPED = 64


class FastRun:
    """Session's C-loop driver and its walks (engine/session.py)."""

    # the session's state this part reads and sets
    tracer: SessionBackend
    control: TracerControl
    policy: SignalPolicy
    breakpoints: dict[int, bytes]
    srop: SropGuard | None
    _maps: MemoryMap | None
    _pending: dict[int, Pending]
    _stopped: dict[int, int]
    _requeued: deque[Stop]
    _at_breakpoint: dict[int, int]
    _stepping: set[int]
    _cont_syscall: bool
    _quiet: set[int]
    _attach_stops: dict[int, Stop]
    _inline: bool
    _no_progress: dict[int, int]
    _unstepped: dict[int, int]
    _backoff: dict[int, int]
    #: the C trace loop's templates (events(encoder=...)), else None
    _fast: FastPath | None
    #: its walk templates (events(step_sigreturn=True, walk_encoder=...)), else None
    _fast_step: FastStep | None

    if TYPE_CHECKING:  # the session's own (or its other parts'): declared, not shadowed
        def view(self, task: TracedTask) -> TaskView: ...

        def requeue(self, stop: Stop) -> None: ...

        def _stop_of(self, res: WaitResult, info_raw: bytes | None) -> Stop: ...

        def _resume_wait(self, tid: int, sig: int = 0, step: bool = False,
                         wait_tid: int = -1, syscall: bool = False) -> Stop: ...

        def _resume_task(self, task: TracedTask, sig: int, step: bool, wait_tid: int,
                         peek_pc: bool = False, read_at_sp: int = 0,
                         syscall: bool = False) -> ResumeResult: ...

        def _handle(self, stop: Stop) -> list[ev.Event]: ...

        def _handler_entered(self, task: TracedTask, pending: Pending) -> list[ev.Event]: ...

        @staticmethod
        def _passed(task: TracedTask, info: SigInfo, pc: int) -> ev.SignalDelivered: ...

        def srop_stop(self, stop: Stop, task: TracedTask) -> list[ev.Event]: ...

        def srop_before_syscall(self, task: TracedTask, regs: dict[str, int],
                                code: bytes) -> list[ev.Event]: ...

    # -- the walks of --step-sigreturn (engine/sigreturn.py) ------------------------------
    def _walked(self, events: Iterable[ev.Event]) -> Iterator[ev.Event]:
        """``events``, each handler entry followed by its walk (--step-sigreturn)."""
        from sigdbg.engine.sigreturn import (
            NO_PROGRESS_LIMIT,
            NOT_FOLLOWED,
            step_through_sigreturn,
        )

        for event in events:
            yield event
            if isinstance(event, ev.HandlerEntered) and event.tid in self._stopped:
                if self._no_progress \
                        and self._no_progress.get(event.tid, 0) >= NO_PROGRESS_LIMIT:
                    # delivered before the program ran an instruction since
                    # the last walks: stepping this one too could starve it
                    self._starving(event.tid)
                    yield ev.SigreturnAbandoned(event.pid, event.tid, NOT_FOLLOWED,
                                                event.frame.pretcode)
                    continue
                yield from step_through_sigreturn(self, self.control,
                                                  self.tracer.task(event.tid), event.frame)

    # -- the C trace loop (engine/fastpath.py) ------------------------------------------
    def _fast_ready(self) -> bool:
        """Nothing in the session's state that only the Python path handles
        (with the walks: no progress guard at work either)."""
        return not (self._requeued or self.srop is not None or self.breakpoints
                    or self._stepping or self._quiet or self._pending or self._unstepped
                    or self._attach_stops or self._at_breakpoint or self._inline
                    or self._cont_syscall) \
            and (self.policy.frames or self._fast is not None
                 and self._fast.encode_passed is not None) \
            and (self._fast_step is None or not (self._no_progress or self._backoff))

    def _served(self) -> int:
        """Signals the C loop may serve (bit n-1 = signal n): those the policy
        reports and passes; never SIGTRAP (ours to judge) or SIGSTOP (a new
        task's first stop)."""
        policy = self.policy
        mask = 0
        for sig in range(1, 65):
            if sig not in (_SIGTRAP, _SIGSTOP) and policy.passes(sig) and policy.prints(sig):
                mask |= 1 << (sig - 1)
        return mask

    def _fast_run(self, fast: FastPath, tid: int, sig: int) -> Iterator[ev.Event]:
        """One trip through the C loop from the stopped ``tid``: what it
        wrote, then the stop it ended on, handled as the Python path does."""
        task = self.tracer.tasks[tid]
        self._stopped.pop(tid, None)
        self._maps = None  # the program may map and unmap while it runs
        frames = self.policy.frames
        store = fast.store
        step = self._fast_step is not None and frames
        r = self.tracer.trace_loop(store, task, sig, self._served(),
                                   SIGTRAP_HANDLER_ENTRY if frames else -1, BULK_READ,
                                   fast.max_count, FastPath.MAX_BYTES, step)
        if r.served:
            yield ev.Rendered(task.pid, r.stid, r.served, r.out)
        kind = r.kind
        if kind == LOOP_WALK:
            yield from self._fast_walk(fast, r)
            return
        if kind == LOOP_FULL:
            # at its handler's entry; passed on (--no-frame): at its delivery
            self._stopped[r.stid] = 0 if frames else r.status
            return
        if kind == LOOP_PASS_MISS:
            stop = self._stop_of(*self.tracer.loop_stop(r))
            events = self._handle(stop)
            stask = self.tracer.tasks.get(stop.tid)
            if r.dpc is not None and r.info is not None and stask is not None \
                    and len(events) == 1 and isinstance(events[0], ev.SignalDelivered) \
                    and events[0].disposition == "passed" and fast.encode_passed is not None:
                self._fast_learn_passed(fast, stask, events[0],
                                        {SRC_FRAME: b"", SRC_REGS: b"",
                                         SRC_PC: pc_bytes(r.dpc), SRC_INFO: r.info})
            yield from events
            return
        if kind == LOOP_INTR:
            assert r.exc is not None
            raise r.exc
        walked = self._walked if self._fast_step is not None else iter
        if kind == LOOP_STOP:
            yield from walked(self._handle(self._stop_of(*self.tracer.loop_stop(r))))
            return
        # the step into a handler ended: at its entry with no template
        # (LOOP_MISS), or otherwise -- _signal_stop's inline step, from here on
        stid = r.stid
        assert r.dinfo is not None
        info = decode_siginfo(r.dinfo, TRACER_SIGINFO_ABI)
        if r.rerr or r.werr:
            self._pending[stid] = Pending(info, 0)
            self.tracer.loop_stop(r)  # raises unless the task is gone
            return
        res, raw = self.tracer.loop_stop(r)
        stask = self.tracer.tasks.get(stid)
        read = None
        if r.data is not None and r.regs is not None and stask is not None:
            _, sp_off, sp_size = stask.sp_read_args()
            read = (int.from_bytes(r.regs[sp_off : sp_off + sp_size], "little"), r.data)
        pending = Pending(info, 0 if r.dpc is None else r.dpc, read)
        if kind == LOOP_MISS and stask is not None:
            self._stopped[stid] = 0
            events = self._handler_entered(stask, pending)
            if r.dpc is not None and r.regs is not None and r.data is not None:
                self._fast_learn(fast, stask, events,
                                 {SRC_FRAME: r.data, SRC_REGS: r.regs,
                                  SRC_PC: pc_bytes(r.dpc), SRC_INFO: r.dinfo})
            yield from walked(events)
            return
        self._pending[stid] = pending
        yield from walked(self._handle(self._stop_of(res, raw)))

    def _fast_walk(self, fast: FastPath, r: LoopOutcome) -> Iterator[ev.Event]:
        """A delivery the C loop wrote whose walk no template served: the
        Python walk, replaying what the C loop did of it, carries on
        (engine/faststep.py); a walk template is made from it."""
        assert r.walk is not None and r.dinfo is not None and r.regs is not None \
            and r.data is not None and self._fast_step is not None
        dt, tape = r.walk
        stid = r.stid
        task = self.tracer.tasks[stid]
        self._stopped[stid] = 0
        inputs = {SRC_FRAME: r.data, SRC_REGS: r.regs, SRC_PC: pc_bytes(r.dpc or 0),
                  SRC_INFO: r.dinfo}
        pair = self.fast_maker(task)(inputs)  # the entry frame, as the Python path decoded it
        task._raw_regs = task._regs = None  # (it has run since)
        if pair is None:
            raise TargetError("a delivery template no longer reproduces its delivery")
        entry = pair[1]
        assert isinstance(entry, ev.HandlerEntered)
        rec = WalkRecorder(self, task, tape, live=True)
        events: list[ev.Event] = []
        for e in run_walk(rec, entry.frame):
            events.append(e)
            yield e
        store = fast.store
        if rec.servable and rec.done and isinstance(entry.frame, SigFrame) \
                and hasattr(store, "add_walk"):  # (the backend's store keeps walks)
            self._fast_step.learn(cast(WalkStore, store), self.tracer.new_template_store,
                                  stid, dt, rec, inputs,
                                  entry.frame, events,
                                  lambda plan: self.fast_step_maker(task, plan))

    def fast_step_maker(self, task: TracedTask, plan: list[tuple[int, int, int]],
                        ) -> Callable[[dict[int, bytes]], list[ev.Event] | None]:
        """The Python path of a delivery's walk as a function of its inputs
        (the delivery's four sources, then the results of the walk's calls):
        the entry frame by :meth:`fast_maker`, the walk replayed on them."""
        entry_of = self.fast_maker(task)

        def make(inp: dict[int, bytes]) -> list[ev.Event] | None:
            raw = task._raw_regs
            try:
                pair = entry_of(walk_inputs(inp))
                if pair is None:
                    return None
                h = pair[1]
                assert isinstance(h, ev.HandlerEntered)
                tape = [(op, a, size, inp[W0 + i]) for i, (op, a, size) in enumerate(plan)]
                rec = WalkRecorder(self, task, tape, live=False)
                try:
                    out = list(run_walk(rec, h.frame))
                except Diverged:
                    return None
                return out if rec.done else None
            finally:
                task._raw_regs, task._regs = raw, None

        return make

    def _fast_learn(self, fast: FastPath, task: TracedTask, events: list[ev.Event],
                    inputs: dict[int, bytes]) -> None:
        """A template from a delivery the Python path just served."""
        if len(events) != 2 or not isinstance(events[1], ev.HandlerEntered) \
                or not isinstance(events[1].frame, SigFrame) \
                or not isinstance(events[0], ev.SignalDelivered):
            return
        actual = fast.encode(events[0], events[1])
        regs = task._raw_regs
        try:
            fast.learn(task.tid, inputs, events[1].frame, actual, self.fast_maker(task))
        finally:
            task._raw_regs = regs
            task._regs = None

    def _fast_learn_passed(self, fast: FastPath, task: TracedTask, event: ev.SignalDelivered,
                           inputs: dict[int, bytes]) -> None:
        """A template from a delivery passed on by the Python path (--no-frame)."""
        assert fast.encode_passed is not None
        fast.learn(task.tid, inputs, None, fast.encode_passed(event),
                   self.fast_passed_maker(task))

    def fast_passed_maker(self, task: TracedTask) -> EventMaker:
        """The Python path of a delivery passed on (``_signal_stop`` without
        frames) as a function of its siginfo and pc."""
        def make(inp: dict[int, bytes]) -> tuple[ev.Event, ...]:
            info = decode_siginfo(inp[SRC_INFO], TRACER_SIGINFO_ABI)
            return (self._passed(task, info, int.from_bytes(inp[SRC_PC], "little")),)

        return make

    def fast_maker(self, task: TracedTask) -> EventMaker:
        """The Python path of one delivery to a handler of ``task``, as a
        function of its inputs (engine/fastpath.py): ``_handler_entered``
        with these registers, frame bytes, pc and siginfo.  None when it
        read the target's memory (its output then depends on more than the
        inputs).  It leaves the task's registers set to the inputs'."""
        def forbidden(address: int, size: int) -> bytes:
            raise _Touched(address)

        def make(inp: dict[int, bytes]) -> tuple[ev.Event, ...] | None:
            task._raw_regs = inp[SRC_REGS]
            task._regs = None
            sp = task.pc_sp()[1]
            pending = Pending(decode_siginfo(inp[SRC_INFO], TRACER_SIGINFO_ABI),
                               int.from_bytes(inp[SRC_PC], "little"), (sp, inp[SRC_FRAME]))
            touched = False
            task.read = task.read_upto = forbidden  # type: ignore[method-assign]
            try:
                out = self._handler_entered(task, pending)
            except _Touched:
                touched = True
                out = []
            finally:
                del task.read, task.read_upto
            if touched or len(out) != 2:
                return None
            d, h = out
            if not isinstance(d, ev.SignalDelivered) or not isinstance(h, ev.HandlerEntered):
                return None
            return d, h

        return make

    # -- the progress guard of the walks --------------------------------------------------
    def _starving(self, tid: int) -> None:
        """The progress guard tripped for ``tid``: this handler and the next
        deliveries (1, 2, 4, ... up to _MAX_UNSTEPPED as it trips again) run
        without stepping, so the program gets the time between them."""
        del self._no_progress[tid]
        n = self._backoff.get(tid, 1)
        self._backoff[tid] = min(2 * n, _MAX_UNSTEPPED)
        if n > 1:
            self._unstepped[tid] = n - 1

    def _pass_unstepped(self, tid: int) -> bool:
        """Whether this delivery is one the progress guard lets pass unstepped."""
        n = self._unstepped.get(tid, 0)
        if n <= 0:
            return False
        if n == 1:
            del self._unstepped[tid]
        else:
            self._unstepped[tid] = n - 1
        return True

    def _progressed(self, tid: int) -> None:
        """A sigreturn left no signal deliverable: the program runs freely."""
        self._backoff.pop(tid, None)


class _Touched(Exception):
    """A template probe's decode read the target's memory: the output would
    depend on more than the template's key (engine/fastpath.py)."""
