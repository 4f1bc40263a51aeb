"""The --step-sigreturn walk served by the C trace loop (issue 15).

With ``--step-sigreturn`` every delivery is followed by a walk
(engine/sigreturn.py): the restorer breakpoint, the run to it, single steps
through the restorer, the sigreturn, the comparison of what it restored.
For a plain handler the walk makes the same system calls with the same
arguments every time and writes the same lines but for the register values.
The C loop (backends/_fastptrace.c ``walk_exec``) then makes those calls
itself and writes the lines with a *walk template* made here, from the
Python walk itself:

- the **plan** is the list of the Python walk's calls to the backend, each
  one an op of a small vocabulary (OP_*: the signal mask, the breakpoint's
  enable and disable, a resume and its wait, the registers, a memory read,
  the pending signals) with its constant arguments -- recorded by running
  the Python walk on a :class:`WalkRecorder`;
- each op's result is a **source** of bytes; the **key** is every byte of
  every source the walk reads but the holes, checked by the C loop as soon
  as that source is read, so that the C loop makes a call only when the
  Python walk would have made it (its calls depend on key bytes only);
- the **holes** are the register values the walk copies to its output or
  compares for equality alone: the general registers of each register
  read and of the frame read at the sigreturn (not the flags, not the
  system call number before the sigreturn: the walk tests those), from the
  layout tables (decode/sigframe.py ``regset_value_fields``,
  ``frame_value_fields``); they fall into **classes** of equal values (the
  registers the handler kept, the restored ones equal to the frame's), which
  a later walk must reproduce: equal within a class, different between;
- where a hole lands in the output and how it is spelled is found by
  running the Python walk on the recorded sources with sentinels in the
  holes (engine/fastpath.py's spellings).

A template is kept only if it reproduces the Python walk's output byte for
byte on the real walk and on a second probe with other sentinels and random
bytes wherever the key does not look.  When no template serves a walk, the
C loop hands back what it did (LOOP_WALK): the Python walk runs on a
:class:`WalkRecorder` that replays those calls' results from the tape and
makes the rest for real -- the same calls, in the same order, as the Python
walk alone would have made.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from sigdbg.abi import Abi, abi_for_regset_size
from sigdbg.backends.stopcodes import Stop, classify
from sigdbg.decode.sigframe import SigFrame, frame_value_fields, regset_value_fields
from sigdbg.engine import events as ev
from sigdbg.engine.fastpath import (
    SRC_FRAME,
    SRC_INFO,
    SRC_PC,
    SRC_REGS,
    Inputs,
    _sentinel,
    template_ops,
)
from sigdbg.engine.fastpath import (
    Hole as FHole,
)
from sigdbg.errors import MemoryReadError, TargetError

if TYPE_CHECKING:
    from sigdbg.engine.walkhost import WalkPolicy

#: the ops of a walk plan (_fastptrace.c OP_*)
(OP_SIGMASK, OP_ENABLE, OP_CONT, OP_STEP, OP_REGS, OP_READ, OP_PENDING,
 OP_DISABLE) = range(8)
#: the first source of a plan's results (after the delivery's four)
W0 = 4
#: the most ops in a plan (_fastptrace.c MAX_WOPS) and the largest result (WBUF)
MAX_OPS = 24
MAX_RESULT = 4096
#: an OP_CONT / OP_STEP result: rerr werr got status has_info ierr, then the siginfo
STOP_HEAD = struct.Struct("<6i")
SIGINFO_SIZE = 128

#: a plan op (op, address, size) and one made: (op, address, size, result)
PlanOp = tuple[int, int, int]
Made = tuple[int, int, int, bytes]
#: the front end's writer of a walk's events (None: it cannot write them alone)
WalkEncoder = Callable[[list[ev.Event]], "bytes | None"]


class Diverged(Exception):
    """The walk asked for something the tape does not hold (not a
    SigdbgError: the walk must not mistake it for a refused call)."""


class WalkStore(Protocol):
    """The C module's template store (backends/ptrace.py ``TemplateStore``)."""

    def add_walk(self, tid: int, dt: int, plan: list[tuple[int, int, int]], lens: list[int],
                 key: list[tuple[int, int, bytes]], members: list[tuple[int, int, int, int]],
                 out: list[bytes | tuple[int, int, int, int]]) -> bool: ...

    def walk_render(self, index: int, sources: list[bytes]) -> bytes | None: ...


class WalkSession(Protocol):
    """What the recorder needs of the session (engine/session.py)."""

    _no_progress: dict[int, int]
    _stopped: dict[int, int]

    @property
    def policy(self) -> WalkPolicy: ...

    @property
    def control(self) -> Any: ...

    @property
    def tracer(self) -> Any: ...

    def view(self, task: Any) -> Any: ...

    def requeue(self, stop: Stop) -> None: ...

    def _handle(self, stop: Stop) -> list[ev.Event]: ...

    def _progressed(self, tid: int) -> None: ...

    def _resume_wait(self, tid: int, sig: int = 0, step: bool = False,
                     wait_tid: int = -1, syscall: bool = False) -> Stop: ...

    def _resume_task(self, task: Any, sig: int, step: bool, wait_tid: int,
                     peek_pc: bool = False, read_at_sp: int = 0,
                     syscall: bool = False) -> Any: ...

    def _stop_of(self, res: Any, info_raw: bytes | None) -> Stop: ...


class WalkRecorder:
    """The walk's host, control and target at once: every call of the walk
    served from ``tape`` (what the C loop did) while it lasts, then -- when
    ``live`` -- made for real on the session's task and recorded in
    :attr:`made`; ``servable`` turns False at a call the plan vocabulary
    has no op for.  Not live (making a template): a call past the tape
    raises :class:`Diverged`."""

    srop = None  # (the C loop runs without --srop)

    def __init__(self, session: WalkSession, task: Any, tape: list[Made], live: bool) -> None:
        self.s = session
        self.task = task
        self.tape = tape
        self.at = 0
        self.live = live
        self.made: list[Made] = []
        self.servable = True
        self.regs_raw: bytes | None = None  #: the registers at this stop, once read
        self.regs: dict[str, int] | None = None
        self._no_progress: dict[int, int] = session._no_progress if live else {}
        self.target = _Target(self)

    # -- the tape ------------------------------------------------------------------
    def _next(self, op: int, address: int = 0, size: int = 0) -> bytes | None:
        """The result of this call from the tape, or None (make it live)."""
        if self.at < len(self.tape):
            t_op, t_addr, t_size, result = self.tape[self.at]
            if (t_op, t_addr, t_size) != (op, address, size):
                if self.live:
                    raise TargetError("the C walk and the Python walk parted: "
                                      f"op {t_op} recorded, {op} asked")
                raise Diverged(op)
            self.at += 1
            self.made.append(self.tape[self.at - 1])
            return result
        if not self.live:
            raise Diverged(op)
        return None

    def _record(self, op: int, address: int, size: int, result: bytes) -> None:
        if len(self.made) >= MAX_OPS or len(result) > MAX_RESULT:
            self.servable = False
        self.made.append((op, address, size, result))

    def _unservable(self, what: str) -> None:
        if self.at < len(self.tape) or not self.live:
            if self.live:
                raise TargetError(f"the C walk and the Python walk parted at {what}")
            raise Diverged(what)
        self.servable = False

    @property
    def done(self) -> bool:
        """Every call of the tape was replayed."""
        return self.at == len(self.tape)

    # -- WalkHost ----------------------------------------------------------------------
    @property
    def policy(self) -> WalkPolicy:
        return self.s.policy

    def view(self, task: Any) -> Any:
        return self.s.view(self.task)

    def requeue(self, stop: Stop) -> None:
        self._unservable("requeue")
        self.s.requeue(stop)

    def _handle(self, stop: Stop) -> list[ev.Event]:
        self._unservable("a stop of the session's")
        return self.s._handle(stop)

    def _progressed(self, tid: int) -> None:
        if self.live:
            self.s._progressed(tid)

    def srop_stop(self, stop: Stop, task: Any) -> list[ev.Event]:
        return []

    def srop_before_syscall(self, task: Any, regs: dict[str, int],
                            code: bytes) -> list[ev.Event]:
        return []

    def _resume_wait(self, tid: int, sig: int = 0, step: bool = False,
                     wait_tid: int = -1, syscall: bool = False) -> Stop:
        self.regs_raw = self.regs = None
        op = OP_STEP if step else OP_CONT
        if sig or syscall or wait_tid != tid or tid != self.task.tid:
            self._unservable("a resume the plan cannot make")
            return self.s._resume_wait(tid, sig, step, wait_tid, syscall)
        result = self._next(op)
        s, task = self.s, self.task
        if result is not None:
            rerr, werr, got, status, has_info, ierr = STOP_HEAD.unpack_from(result)
            info = result[STOP_HEAD.size:] if has_info else None
            if not self.live:
                if rerr or werr:
                    raise Diverged("a failed resume")
                return classify(got, status, info, True, task.pid)
            s._stopped.pop(tid, None)
            res, info = s.tracer.loop_stop(_Made(rerr, werr, got, status, info, ierr))
            return s._stop_of(res, info)
        r = s._resume_task(task, 0, step, tid)
        res = r.wait
        info = r.siginfo
        self._record(op, 0, 0, STOP_HEAD.pack(0, 0, res.tid, res.status, info is not None, 0)
                     + (info if info is not None else bytes(SIGINFO_SIZE)))
        if info is not None and len(info) != SIGINFO_SIZE:
            self.servable = False
        return s._stop_of(res, info)

    # -- Control ------------------------------------------------------------------------
    def sigmask(self, tid: int) -> int:
        result = self._next(OP_SIGMASK)
        if result is None:
            value = self.s.control.sigmask(tid)
            result = (value & (1 << 64) - 1).to_bytes(8, "little")
            self._record(OP_SIGMASK, 0, 0, result)
        return int.from_bytes(result, "little")

    def pending_signals(self, tid: int) -> int:
        result = self._next(OP_PENDING)
        if result is None:
            value = self.s.control.pending_signals(tid)
            result = (value & (1 << 64) - 1).to_bytes(8, "little")
            self._record(OP_PENDING, 0, 0, result)
        return int.from_bytes(result, "little")

    def _perf(self) -> tuple[int, int]:
        args: tuple[int, int] = self.s.tracer.perf_args(self.task)
        return args

    def watch_execute(self, tid: int, address: int) -> None:
        result = self._next(OP_ENABLE, address)
        if result is not None:
            if result != bytes(4):  # the ioctl failed: arm_breakpoint opens another
                self.s.control.watch_execute(tid, address)
            return
        before = self._perf()
        self.s.control.watch_execute(tid, address)
        if before[0] < 0 or before[1] != address or self._perf() != before:
            self.servable = False
        self._record(OP_ENABLE, address, 0, bytes(4))

    def unwatch(self, tid: int) -> None:
        if self.at < len(self.tape) and self.tape[self.at][0] == OP_DISABLE:
            self._next(OP_DISABLE, self.tape[self.at][1])  # (the breakpoint of then)
            return
        fd, address = self._perf()
        self._next(OP_DISABLE, address)  # (None: past the tape)
        self.s.control.unwatch(tid)
        if fd < 0:
            self.servable = False
        self._record(OP_DISABLE, address, 0, bytes(4))

    def __getattr__(self, name: str) -> Any:
        # the rest of Control (event_msg, interrupt...): made live, never served
        if name.startswith("__"):
            raise AttributeError(name)
        self._unservable(name)
        return getattr(self.s.control, name)

    # -- Target (through _Target) -------------------------------------------------------
    def registers_raw(self) -> bytes:
        raw = self.regs_raw
        if raw is None:
            raw = self._next(OP_REGS)
            if raw is None:
                raw = self.task.registers_raw()
                self._record(OP_REGS, 0, 0, raw)
            elif self.live:
                self.task._raw_regs, self.task._regs = raw, None
            self.regs_raw = raw
        return raw

    def registers(self) -> dict[str, int]:
        regs = self.regs
        if regs is None:
            raw = self.registers_raw()
            regs = self.regs = abi_for_regset_size(len(raw)).user_regs.decode(raw)  # type: ignore[assignment]
            assert regs is not None
        return dict(regs)

    def read_upto(self, address: int, size: int) -> bytes:
        result = self._next(OP_READ, address, size)
        if result is None:
            result = self.task.read_upto(address, size)
            self._record(OP_READ, address, size, result)
        return result

    def read(self, address: int, size: int) -> bytes:
        result = self._next(OP_READ, address, size)
        if result is None:
            result = self.task.read(address, size)  # (raises as the walk expects)
            self._record(OP_READ, address, size, result)
        elif len(result) < size:
            if not self.live:
                raise Diverged("a short read")
            raise MemoryReadError(address, size, "unmapped or unreadable memory",
                                  got=len(result))
        return result


class _Made:
    """A resume the C loop made, as ``Tracer.loop_stop`` takes it."""

    __slots__ = ("rerr", "werr", "got", "status", "info", "ierr", "regs")

    def __init__(self, rerr: int, werr: int, got: int, status: int, info: bytes | None,
                 ierr: int) -> None:
        self.rerr, self.werr, self.got, self.status = rerr, werr, got, status
        self.info, self.ierr, self.regs = info, ierr, None


class _Target:
    """The walk's view of the thread, through the recorder."""

    def __init__(self, rec: WalkRecorder) -> None:
        self._rec = rec
        task = rec.task
        self.tid: int = task.tid
        self.pid: int = task.pid
        self.abi: Abi = task.abi
        self.process_abi: Abi = task.process_abi

    def registers(self) -> dict[str, int]:
        return self._rec.registers()

    def registers_raw(self) -> bytes:
        return self._rec.registers_raw()

    def registers_as(self, abi: Abi) -> dict[str, int]:
        if abi is self.abi:
            return self._rec.registers()
        self._rec._unservable("the registers in another ABI's names")
        regs: dict[str, int] = self._rec.task.registers_as(abi)
        return regs

    def pc(self) -> int:
        return self._rec.registers()[self.abi.pc]

    def pc_sp(self) -> tuple[int, int]:
        regs = self._rec.registers()
        return regs[self.abi.pc], regs[self.abi.sp]

    def read_upto(self, address: int, size: int) -> bytes:
        return self._rec.read_upto(address, size)

    def read(self, address: int, size: int) -> bytes:
        return self._rec.read(address, size)

    def __getattr__(self, name: str) -> Any:
        # anything else (regset_raw, the maps...): made live, never served
        self._rec._unservable(name)
        return getattr(self._rec.task, name)


# -- making a walk template ---------------------------------------------------------------
Hole = tuple[int, int, int]  #: (source, offset, size)


def _holes(plan: list[PlanOp], sources: Inputs, entry: SigFrame,
           now: SigFrame | None) -> tuple[list[Hole], list[Hole]] | None:
    """The hole fields of a walk (see the module docstring), and every
    field the walk may compare with one of them (the same registers read at
    other stops: the holes and the key bytes among them), or None."""
    holes: list[Hole] = []
    fields: list[Hole] = []
    try:
        values, _ = frame_value_fields(entry, skip_flags=True)
        every, _ = frame_value_fields(entry)
    except (KeyError, ValueError):
        return None
    holes += [(SRC_FRAME, off, size) for off, size in values]
    fields += [(SRC_FRAME, off, size) for off, size in every]
    # the register read at the sigreturn's system call: its number is tested
    last_step = max((i for i, p in enumerate(plan) if p[0] == OP_STEP), default=-1)
    at_syscall = max((i for i, p in enumerate(plan[:last_step]) if p[0] == OP_REGS),
                     default=-1)
    for i, (op, address, _size) in enumerate(plan):
        src = W0 + i
        if op == OP_REGS:
            regs_abi = abi_for_regset_size(len(sources[src]))
            skip: tuple[str, ...] = (regs_abi.flags,)
            if i < last_step:  # in the restorer: where it is, is tested
                skip += (regs_abi.pc,)
            if i == at_syscall:
                skip += (regs_abi.syscall_nr, regs_abi.orig_syscall_nr)
            holes += [(src, off, size) for off, size in regset_value_fields(regs_abi, skip)]
            fields += [(src, off, size) for off, size in regset_value_fields(regs_abi)]
        elif op == OP_READ and now is not None and address == now.address:
            values, _ = frame_value_fields(now, skip_flags=True)
            every, _ = frame_value_fields(now)
            holes += [(src, off, size) for off, size in values]
            fields += [(src, off, size) for off, size in every]

    def inside(hs: list[Hole]) -> list[Hole]:
        return [h for h in hs if h[1] + h[2] <= len(sources[h[0]])]

    return inside(holes), inside(fields)


def _free_ranges(plan: list[PlanOp], sources: Inputs,
                 now: SigFrame | None) -> dict[int, list[tuple[int, int]]]:
    """Per source, the ranges the walk reads (the rest of a frame read is
    not looked at); sources not listed are read whole."""
    out: dict[int, list[tuple[int, int]]] = {}
    for i, (op, address, _size) in enumerate(plan):
        if op == OP_READ and now is not None and address == now.address:
            _, reads = frame_value_fields(now)
            out[W0 + i] = [(off, off + size) for off, size in reads]
    return out


Maker = Callable[[Inputs], "list[ev.Event] | None"]


def make_walk_template(tid: int, dt: int, plan: list[PlanOp], inputs: Inputs,
                       entry: SigFrame, now: SigFrame | None, actual: bytes,
                       make: Maker, encode: WalkEncoder,
                       check: Callable[[tuple[Any, ...], Inputs], bytes | None],
                       rng: random.Random) -> tuple[Any, ...] | None:
    """The arguments of ``TemplateStore.add_walk`` for this walk, or None
    when a template cannot be shown to reproduce it."""
    got_holes = _holes(plan, inputs, entry, now)
    if got_holes is None:
        return None
    holes, fields = got_holes
    # classes: the fields of equal values; a class with a key field in it
    # keeps its value (its holes must equal that), the others get sentinels
    classes: dict[tuple[int, bytes], int] = {}
    members: list[tuple[int, int, int, int]] = []
    hole_set = set(holes)
    fixed: set[int] = set()
    for src, off, size in fields:
        value = inputs[src][off : off + size]
        c = classes.setdefault((size, value), len(classes))
        members.append((src, off, size, c))
        if (src, off, size) not in hole_set:
            fixed.add(c)
    if len(classes) > 255:
        return None
    free_members = [m for m in members if m[3] not in fixed and m[:3] in hole_set]
    # one field per class stands for it in the output (its members are equal)
    spoken: dict[int, tuple[int, int, int, int]] = {}
    for m in free_members:
        spoken.setdefault(m[3], m)
    speakers = list(spoken.values())
    n_src = W0 + len(plan)
    reads = _free_ranges(plan, inputs, now)
    cut: dict[int, set[int]] = {}
    for src, off, size in holes:
        cut.setdefault(src, set()).update(range(off, off + size))
    key: list[tuple[int, int, bytes]] = []
    # of the delivery's sources only what the delivery template left as holes
    # and the walk tests: the saved flags
    flags = _frame_flags(entry)
    if flags is not None:
        key.append((SRC_FRAME, flags[0], inputs[SRC_FRAME][flags[0] : flags[0] + flags[1]]))
    for src in range(W0, n_src):
        data = inputs[src]
        holes_here = cut.get(src, set())
        for start, end in reads.get(src, [(0, len(data))]):
            i = start
            end = min(end, len(data))
            while i < end:
                if i in holes_here:
                    i += 1
                    continue
                j = i
                while j < end and j not in holes_here:
                    j += 1
                key.append((src, i, data[i:j]))
                i = j
    lens = [len(inputs[W0 + i]) for i in range(len(plan))]

    def probe(zero_top: bool, free: bool) -> tuple[Inputs, list[bytes]] | None:
        values: dict[int, bytes] = {}
        seen: set[bytes] = set()
        for (size, _v), c in classes.items():
            if c in fixed:
                continue
            for _ in range(8):
                s = _sentinel(rng, size, zero_top)
                if s not in seen:
                    break
            seen.add(s)
            values[c] = s
        out = {k: bytearray(v) for k, v in inputs.items()}
        if free:
            for src, ranges in reads.items():
                data = bytearray(rng.randbytes(len(out[src])))
                for start, end in ranges:
                    data[start:end] = out[src][start:end]
                out[src] = data
        for src, off, size, c in free_members:
            out[src][off : off + size] = values[c]
        return {k: bytes(v) for k, v in out.items()}, [values[c] for *_, c in speakers]

    for _ in range(3):
        got = probe(True, False)
        if got is None:
            return None
        first, sentinels = got
        events = make(first)
        if events is None:
            return None
        text = encode(events)
        if text is None:
            return None
        fholes = tuple(FHole(src, off, size) for src, off, size, _c in speakers)
        ops = template_ops(text, fholes, sentinels)
        t = (tid, dt, list(plan), lens, key, members, ops)
        if check(t, inputs) != actual:
            continue
        got = probe(False, True)
        if got is None:
            return None
        other, _ = got
        events = make(other)
        if events is None:
            continue
        text = encode(events)
        if text is None or check(t, other) != text:
            continue
        return t
    return None


def _frame_flags(frame: SigFrame) -> tuple[int, int] | None:
    """(offset, size) of the saved flags in ``frame`` (a hole of the
    delivery template, tested by the walk)."""
    try:
        every, _ = frame_value_fields(frame)
        some, _ = frame_value_fields(frame, skip_flags=True)
    except (KeyError, ValueError):
        return None
    rest = set(every) - set(some)
    return next(iter(rest)) if len(rest) == 1 else None


class FastStep:
    """The walk templates of one trace and when to make more."""

    #: templates tried in all
    BUDGET = 256

    def __init__(self, encode: WalkEncoder) -> None:
        self.encode = encode
        self.tries = 0
        self.rng = random.Random(0x57E9)

    def learn(self, store: WalkStore, scratch: Callable[[], WalkStore], tid: int, dt: int,
              rec: WalkRecorder, inputs: Inputs, entry: SigFrame, events: list[ev.Event],
              maker: Callable[[list[PlanOp]], Maker]) -> bool:
        """A walk template from a walk the Python path just made on ``rec``."""
        if self.tries >= self.BUDGET or not rec.servable or not rec.made \
                or len(rec.made) > MAX_OPS:
            return False
        actual = self.encode(events)
        if actual is None:
            return False
        self.tries += 1
        plan = [(op, address, size) for op, address, size, _r in rec.made]
        sources = dict(inputs)
        for i, (*_p, result) in enumerate(rec.made):
            sources[W0 + i] = result
        now = next((e.frame for e in events if isinstance(e, ev.SigreturnEntered)), None)
        if not isinstance(now, SigFrame) and now is not None:
            return False

        def check(t: tuple[Any, ...], inp: Inputs) -> bytes | None:
            s = scratch()
            s.add_walk(t[0], 0, *t[2:])
            return s.walk_render(0, [inp[i] for i in range(W0 + len(t[2]))])

        t = make_walk_template(tid, dt, plan, sources, entry, now, actual,
                               maker(plan), self.encode, check, self.rng)
        if t is None:
            return False
        return store.add_walk(*t)


def walk_inputs(inputs: Inputs) -> Inputs:
    """The delivery's sources of a walk's inputs."""
    return {k: inputs[k] for k in (SRC_FRAME, SRC_REGS, SRC_PC, SRC_INFO)}


def run_walk(rec: WalkRecorder, entry: Any) -> Iterator[ev.Event]:
    """The Python walk from the handler's entry on ``rec``."""
    from sigdbg.engine.sigreturn import step_through_sigreturn

    return step_through_sigreturn(rec, rec, rec.target, entry)  # type: ignore[arg-type]


__all__ = ["Diverged", "FastStep", "WalkRecorder", "make_walk_template", "run_walk",
           "walk_inputs"]
