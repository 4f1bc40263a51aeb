"""The fake backend: bytes + scripted stops, for unit tests of the engine
without processes.

:class:`FakeTarget` and :class:`FakeControl` implement
:class:`~sigdbg.backends.base.Target` and :class:`~sigdbg.backends.base.Control`
by replaying a *tape*: a recording of what a real process showed the engine
(``tests/walkrec.py`` makes them from the ``targets/`` programs under the
ptrace backend; they are stored in ``tests/data/walk/``).  A tape is cut in
epochs by the resumes: epoch 0 is what the thread looked like before the
first resume, epoch k what it looked like after the k-th.  Each epoch holds
what was read then (memory chunks, registers, the signal masks), and each
resume the request the engine made and the stop the kernel answered with.

Replaying, every read is served from what was read at the same point of the
real run (memory as the latest bytes recorded for each address; anything
never recorded is unreadable), and each ``resume_wait`` must ask exactly
what the real run asked -- otherwise :class:`Divergence` is raised, so a
change of the engine's behaviour shows as a failed unit test.

:class:`FakeTracer` and :class:`FakeTask` do the same one level down, for
the session's event loop: they implement
:class:`~sigdbg.backends.base.SessionBackend` (without a fast loop) and
:class:`~sigdbg.backends.base.TracedTask` by replaying the session tapes of
``tests/data/session/`` (``tests/sessionrec.py`` records them;
``tests/unit/test_session_fake.py`` replays them).

Lives in ``tests/`` (not ``sigdbg/backends/``): nothing in sigdbg chooses it,
and its data is test data.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sigdbg.abi import Abi, abi_by_name
from sigdbg.backends.base import Control, How, Target
from sigdbg.backends.stopcodes import Stop
from sigdbg.decode.memmap import MemoryMap, parse_maps
from sigdbg.decode.restorer import Restorer, SymbolRef
from sigdbg.errors import FeatureUnavailable, MemoryReadError, ProcessGone, TargetError

DATA = Path(__file__).resolve().parent / "data" / "walk"


class Divergence(AssertionError):
    """The engine asked the fake backend something the real run did not."""


def load_tape(name: str) -> dict[str, Any]:
    doc = json.loads((DATA / f"{name}.json").read_text())
    assert isinstance(doc, dict)
    return doc


def drain_pipe(fd: int) -> bytes:
    """What a recorded program wrote to the non-blocking pipe ``fd`` (its
    reports), read to the end; the fd is closed."""
    out = b""
    try:
        while chunk := os.read(fd, 65536):
            out += chunk
    except BlockingIOError:
        pass
    os.close(fd)
    return out


def tape_head(recorder: str, name: str, what: str, argv: list[str]) -> dict[str, Any]:
    """The first keys of every tape: the scenario, what it shows, the
    program's argv, and which recorder made it on which kernel."""
    return {"scenario": name, "what": what, "argv": argv,
            "recorded_with": (f"{recorder} on Linux {platform.release()} "
                              f"{platform.machine()}, ptrace backend")}


def stop_from_json(d: dict[str, Any]) -> Stop:
    raw = d.get("siginfo_raw")
    return Stop(d["tid"], d["kind"], d["pid"], d["sig"], d["event"], d["status"],
                bytes.fromhex(raw) if raw is not None else None, d.get("siginfo_abi", ""))


def stop_to_json(stop: Stop) -> dict[str, Any]:
    d = stop._asdict()
    d["siginfo_raw"] = stop.siginfo_raw.hex() if stop.siginfo_raw is not None else None
    return d


class StubView:
    """A RestorerContext from the recorded maps text alone (no symbol files:
    what is classified does not depend on the machine the test runs on)."""

    def __init__(self, maps_text: str) -> None:
        self.maps_text = maps_text
        self.restorers: dict[int, Restorer] = {}
        self._maps = parse_maps(maps_text)

    def maps(self) -> MemoryMap:
        return self._maps

    def lookup(self, address: int) -> SymbolRef | None:
        return None

    def exe_path(self) -> str:
        return ""


class _Tape:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.abi = abi_by_name(doc["abi"])
        self.epochs: list[dict[str, Any]] = doc["epochs"]
        self.steps: list[dict[str, Any]] = doc["steps"]
        self.epoch = 0
        self.memory: dict[int, int] = {}
        self._apply(0)
        #: the engine's requests that are not resumes, in order (watch, unwatch)
        self.calls: list[tuple[Any, ...]] = []

    def _apply(self, k: int) -> None:
        for address, data in self.epochs[k]["memory"]:
            for i, b in enumerate(bytes.fromhex(data)):
                self.memory[address + i] = b

    def advance(self) -> None:
        self.epoch += 1
        self._apply(self.epoch)

    def now(self, key: str) -> Any:
        value = self.epochs[self.epoch].get(key)
        if value is None:
            raise Divergence(f"{key} was not read at this point of the real run "
                             f"(epoch {self.epoch})")
        return value


class FakeTarget:
    """The recorded thread as a :class:`~sigdbg.backends.base.Target`."""

    def __init__(self, tape: _Tape) -> None:
        self._t = tape
        self._tid = int(tape.doc["tid"])
        self._pid = int(tape.doc["pid"])

    @property
    def tid(self) -> int:
        return self._tid

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def abi(self) -> Abi:
        return self._t.abi

    @property
    def process_abi(self) -> Abi:
        return self._t.abi

    def read_upto(self, address: int, size: int) -> bytes:
        out = bytearray()
        mem = self._t.memory
        for a in range(address, address + max(size, 0)):
            b = mem.get(a)
            if b is None:
                break
            out.append(b)
        return bytes(out)

    def read(self, address: int, size: int) -> bytes:
        got = self.read_upto(address, size)
        if len(got) < size:
            raise MemoryReadError(address, size, "not in the recording", len(got))
        return got

    def registers(self) -> dict[str, int]:
        return dict(self._t.now("regs"))

    def registers_as(self, abi: Abi) -> dict[str, int]:
        if abi is not self._t.abi:
            raise TargetError(f"the recording has no {abi} registers")
        return self.registers()

    def pc(self) -> int:
        return self.registers()[self._t.abi.pc]

    def pc_sp(self) -> tuple[int, int]:
        regs = self.registers()
        return regs[self._t.abi.pc], regs[self._t.abi.sp]

    def maps_text(self) -> str:
        return str(self._t.doc["maps"])

    def start_stack(self) -> int:
        return 0

    def auxv_bytes(self) -> bytes | None:
        return None

    def exe_path(self) -> str:
        return ""

    def fp_regs_raw(self) -> bytes | None:
        return None  # not recorded: the walk compares general registers

    def regset_raw(self, note: int) -> bytes | None:
        return None  # not recorded: the tapes are of x86 frames (no FP/SIMD records)


class FakeControl:
    """The recorded stops as a :class:`~sigdbg.backends.base.Control`."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.tape = _Tape(doc)
        self.target = FakeTarget(self.tape)
        self.resumes = 0
        #: the software breakpoints inserted (the real run's, from the tape's start)
        self.breakpoints: set[int] = {int(a) for a, _ in doc.get("breakpoints", ())}

    @property
    def calls(self) -> list[tuple[Any, ...]]:
        return self.tape.calls

    def finished(self) -> bool:
        """Every recorded resume was replayed."""
        return self.resumes == len(self.tape.steps)

    def task(self, tid: int) -> Target:
        if tid != self.target.tid:
            raise ProcessGone(f"thread {tid} is not in the recording")
        return self.target

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        if self.resumes >= len(self.tape.steps):
            raise Divergence(f"resume {[tid, sig, how, wait_tid]} after the end of the "
                             "recording")
        step = self.tape.steps[self.resumes]
        if step["request"] != [tid, sig, how, wait_tid]:
            raise Divergence(f"resume {self.resumes}: the engine asked "
                             f"{[tid, sig, how, wait_tid]}, the real run {step['request']}")
        self.resumes += 1
        self.tape.advance()
        return stop_from_json(step["stop"])

    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        raise FeatureUnavailable("the recordings hold resume_wait calls only")

    def wait(self, tid: int = -1) -> Stop:
        raise FeatureUnavailable("the recordings hold resume_wait calls only")

    def insert_breakpoint(self, address: int) -> None:
        self.tape.calls.append(("insert_breakpoint", address))
        self.breakpoints.add(address)

    def remove_breakpoint(self, address: int) -> None:
        self.tape.calls.append(("remove_breakpoint", address))
        self.breakpoints.discard(address)

    def breakpoint_addresses(self) -> Collection[int]:
        return frozenset(self.breakpoints)

    def breakpoint_hit(self, stop: Stop) -> int | None:
        """The real run's answer at this point (the pc it rewound is in the
        registers recorded after it); one of ours, or the replay diverged."""
        self.tape.calls.append(("breakpoint_hit", stop.tid))
        answers = self.tape.now("hits")
        if not answers:
            raise Divergence(f"breakpoint_hit asked once more than in the real run "
                             f"(epoch {self.tape.epoch})")
        got = answers.pop(0)
        if got is not None and got not in self.breakpoints:
            raise Divergence(f"the real run hit {got:#x}, not a breakpoint here")
        return None if got is None else int(got)

    def send_signal(self, tid: int, sig: int) -> None:
        self.tape.calls.append(("send_signal", tid, sig))

    def watch_execute(self, tid: int, address: int) -> None:
        self.tape.calls.append(("watch_execute", tid, address))

    def unwatch(self, tid: int) -> None:
        self.tape.calls.append(("unwatch", tid))

    def interrupt(self, tid: int) -> None:
        self.tape.calls.append(("interrupt", tid))

    def sigmask(self, tid: int) -> int:
        return int(self.tape.now("sigmask"))

    def pending_signals(self, tid: int) -> int:
        return int(self.tape.now("pending"))

    def event_msg(self, tid: int) -> int:
        return int(self.tape.now("event_msg"))

    def detach(self) -> None:
        self.tape.calls.append(("detach",))


def _typecheck(c: FakeControl) -> tuple[Control, Target]:
    return c, c.target  # mypy: the fake implements both Protocols


# -- the session's backend (TracerBackend + TracedTask), recorded and replayed ------------------
#
# The session tapes (tests/data/session/, made by tests/sessionrec.py) are
# cut the same way, at the level of backends/base.py's TracerBackend: every
# request that changes the target (a resume, a wait, a write, a detach...)
# is an *action*, checked in order against the real run's and answered with
# what the kernel answered; everything else is a *query* (registers,
# siginfo, event messages, /proc facts), answered from what the real run
# read between the same two actions; memory from the bytes read so far.

SESSION_DATA = Path(__file__).resolve().parent / "data" / "session"

#: TracedTask requests that only read (answered from the epoch's recording)
TASK_QUERIES = ("registers", "registers_as", "pc", "pc_sp", "exe_path", "maps_text",
                "auxv_bytes", "start_stack", "fp_regs_raw", "xstate_raw", "regset_raw",
                "siginfo_raw", "event_msg", "syscall_info", "sigmask", "pending_signals",
                "delivery_signal")
#: TracedTask requests that change the target (checked in order)
TASK_ACTIONS = ("set_registers", "write", "forget_abi", "cont", "step", "syscall", "listen",
                "interrupt", "detach", "disarm_debugregs", "close_mem", "arm_breakpoint",
                "disarm_breakpoint")
#: TracerBackend requests, the same split
TRACER_QUERIES = ("threads_of", "tgid_of", "ppid_of", "is_thread", "sigtrap_pending")
TRACER_ACTIONS = ("release", "release_all", "wait", "wait_siginfo", "resume_wait", "tgkill",
                  "seize_thread", "kill", "close", "detach_all")


def enc(v: Any) -> Any:
    """A value the backend returned (or an argument), as JSON."""
    from sigdbg.backends.base import ResumeResult, WaitResult

    if isinstance(v, bytes | bytearray):
        return {"hex": bytes(v).hex()}
    if isinstance(v, WaitResult):
        return {"wait": list(v)}
    if isinstance(v, ResumeResult):
        return {"resume": [enc(x) for x in v]}
    if isinstance(v, Abi):
        return {"abi": v.name}
    if isinstance(v, tuple):
        return {"tuple": [enc(x) for x in v]}
    if isinstance(v, list):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {"dict": [[k, enc(x)] for k, x in v.items()]}
    if isinstance(v, bool | int | str) or v is None:
        return v
    tid = getattr(v, "tid", None)
    if isinstance(tid, int):
        return {"task": tid}
    raise TypeError(f"cannot record {v!r}")


def dec(v: Any) -> Any:
    from sigdbg.backends.base import ResumeResult, WaitResult

    if isinstance(v, list):
        return [dec(x) for x in v]
    if not isinstance(v, dict):
        return v
    ((tag, x),) = v.items()
    if tag == "hex":
        return bytes.fromhex(x)
    if tag == "wait":
        return WaitResult(*x)
    if tag == "resume":
        return ResumeResult(*(dec(y) for y in x))
    if tag == "abi":
        return abi_by_name(x)
    if tag == "tuple":
        return tuple(dec(y) for y in x)
    if tag == "dict":
        return {k: dec(y) for k, y in x}
    raise ValueError(f"unknown tag {tag}")


def canon(owner: str, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> tuple[Any, ...]:
    """The arguments of a call as the ptrace backend's signature binds them
    (defaults filled in), so ``cont()`` and ``cont(0)`` are one request."""
    import inspect

    from sigdbg.backends.ptrace import PtraceTask, Tracer

    cls = PtraceTask if owner == "task" else Tracer
    b = inspect.signature(getattr(cls, name)).bind(None, *args, **kw)
    b.apply_defaults()
    return tuple(b.arguments.values())[1:]


def query_key(tid: int | None, name: str, args: tuple[Any, ...]) -> str:
    return json.dumps([tid, name, enc(list(args))])


def raised(exc: BaseException) -> dict[str, Any]:
    return {"raise": type(exc).__name__, "msg": str(exc)}


def reraise(d: dict[str, Any]) -> BaseException:
    import sigdbg.errors as errors

    cls = getattr(errors, d["raise"])
    exc = cls.__new__(cls)
    Exception.__init__(exc, d["msg"])
    return exc  # type: ignore[no-any-return]


class FakeTask:
    """A recorded thread as a :class:`~sigdbg.backends.base.TracedTask`."""

    def __init__(self, tracer: FakeTracer, tid: int, pid: int) -> None:
        self._tracer = tracer
        self._tid = tid
        self._pid = pid
        self._raw_regs: bytes | None = None
        self._regs: dict[str, int] | None = None

    @property
    def tid(self) -> int:
        return self._tid

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def abi(self) -> Abi:
        return self._tracer.abi_of(self._tid, "abi")  # type: ignore[no-any-return]

    @property
    def process_abi(self) -> Abi:
        return self._tracer.abi_of(self._tid, "process_abi")  # type: ignore[no-any-return]

    def read_upto(self, address: int, size: int) -> bytes:
        mem = self._tracer.memory
        out = bytearray()
        for a in range(address, address + max(size, 0)):
            b = mem.get(a)
            if b is None or b < 0:
                break
            out.append(b)
        return bytes(out)

    def read(self, address: int, size: int) -> bytes:
        got = self.read_upto(address, size)
        if len(got) < size:
            raise MemoryReadError(address, size, "not in the recording", len(got))
        return got

    def sp_read_args(self) -> tuple[int, int, int]:
        raise FeatureUnavailable("the fake backend has no fast loop")


def _fake_query(name: str) -> Any:
    def q(self: FakeTask, *args: Any, **kw: Any) -> Any:
        return self._tracer.query(self._tid, name, canon("task", name, args, kw))
    q.__name__ = name
    return q


def _fake_action(name: str) -> Any:
    def a(self: FakeTask, *args: Any, **kw: Any) -> Any:
        args = canon("task", name, args, kw)
        out = self._tracer.act(self._tid, name, args)
        if name == "write":  # the program's memory as the real write left it
            address, data = args
            for i, b in enumerate(data):
                self._tracer.memory[address + i] = b
        return out
    a.__name__ = name
    return a


for _n in TASK_QUERIES:
    setattr(FakeTask, _n, _fake_query(_n))
for _n in TASK_ACTIONS:
    setattr(FakeTask, _n, _fake_action(_n))


class FakeTracer:
    """A recorded run as the session's backend
    (:class:`~sigdbg.backends.base.SessionBackend`, without a fast loop)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.epochs: list[dict[str, Any]] = doc["epochs"]
        self.steps: list[dict[str, Any]] = doc["steps"]
        self.epoch = 0
        self.memory: dict[int, int] = {}
        self._tasks: dict[int, FakeTask] = {}
        self._apply()

    # -- the tape
    def _apply(self) -> None:
        for address, data in self.epochs[self.epoch]["memory"]:
            if data is None:
                self.memory.setdefault(address, -1)  # unreadable (unless read later)
                continue
            for i, b in enumerate(bytes.fromhex(data)):
                self.memory[address + i] = b

    def finished(self) -> bool:
        return self.epoch == len(self.steps)

    def query(self, tid: int | None, name: str, args: tuple[Any, ...]) -> Any:
        key = query_key(tid, name, args)
        got = self.epochs[self.epoch]["q"].get(key)
        if got is None:
            raise Divergence(f"{key} was not asked at this point of the real run "
                             f"(after action {self.epoch})")
        if isinstance(got, dict) and "raise" in got:
            raise reraise(got)
        return dec(got["v"])

    def abi_of(self, tid: int, name: str) -> Any:
        key = query_key(tid, name, ())
        for k in range(self.epoch, -1, -1):  # (it changes only at exec)
            got = self.epochs[k]["q"].get(key)
            if got is not None:
                return dec(got["v"])
        raise Divergence(f"{key} never read in the real run")

    def act(self, tid: int | None, name: str, args: tuple[Any, ...]) -> Any:
        call = [tid, name, enc(list(args))]
        if self.epoch >= len(self.steps):
            raise Divergence(f"{call} after the end of the recording")
        step = self.steps[self.epoch]
        if step["call"] != call:
            raise Divergence(f"action {self.epoch}: the session asked {call}, "
                             f"the real run {step['call']}")
        self.epoch += 1
        self._apply()
        if "raise" in step:
            raise reraise(step)
        return dec(step["ret"])

    # -- TracerBackend
    def _task(self, tid: int, pid: int) -> FakeTask:
        t = self._tasks.get(tid)
        if t is None or t.pid != pid:
            t = self._tasks[tid] = FakeTask(self, tid, pid)
        return t

    @property
    def tasks(self) -> dict[int, FakeTask]:
        return {tid: self._task(tid, pid) for tid, pid in self.epochs[self.epoch]["table"]}

    @property
    def seccomp_filtered(self) -> bool:
        return bool(self.query(None, "seccomp_filtered", ()))

    def task(self, tid: int, pid: int | None = None) -> FakeTask:
        t = self.tasks.get(tid)
        if t is not None:
            return t
        self.act(None, "task", (tid, pid))
        return self.tasks[tid]

    def trace_loop_available(self) -> bool:
        return False

    def new_template_store(self) -> Any:
        raise FeatureUnavailable("the fake backend has no fast loop")

    def trace_loop(self, *args: Any) -> Any:
        raise FeatureUnavailable("the fake backend has no fast loop")

    def loop_stop(self, r: Any) -> Any:
        raise FeatureUnavailable("the fake backend has no fast loop")


def _tracer_query(name: str) -> Any:
    def q(self: FakeTracer, *args: Any, **kw: Any) -> Any:
        return self.query(None, name, canon("tracer", name, args, kw))
    q.__name__ = name
    return q


def _tracer_action(name: str) -> Any:
    def a(self: FakeTracer, *args: Any, **kw: Any) -> Any:
        return self.act(None, name, canon("tracer", name, args, kw))
    a.__name__ = name
    return a


for _n in TRACER_QUERIES:
    setattr(FakeTracer, _n, _tracer_query(_n))
for _n in TRACER_ACTIONS:
    setattr(FakeTracer, _n, _tracer_action(_n))


def load_session_tape(name: str) -> dict[str, Any]:
    doc = json.loads((SESSION_DATA / f"{name}.json").read_text())
    assert isinstance(doc, dict)
    return doc
