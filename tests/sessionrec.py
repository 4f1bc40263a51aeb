"""Record the session's event loop on real processes, for the fake backend's
session tapes.

    .venv/bin/python -m tests.sessionrec [NAME...]  (writes tests/data/session/NAME.json)

Each scenario launches a ``targets/`` program under the ptrace backend and
runs ``Session.events(step_sigreturn=True)`` to the end, the Session built
on :class:`RecTracer`: a wrapper of the real ``Tracer`` (and of each
``PtraceTask``) that writes every request the session and its walk make at
the :class:`~sigdbg.backends.base.TracerBackend` level to the tape, with
the kernel's answer (see ``tests/fakebackend.py``: actions in order,
queries and memory per epoch).  The tape also holds the events of the real
run and the program's own reports from its handlers, the truth
``tests/unit/test_session_fake.py`` compares the replay with.

Symbol files are kept out of both runs (:class:`TapeSession`): symbols come
from files on the disk, not from the target, and are not recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sigdbg.abi import Abi
from sigdbg.backends.base import TracedTask
from sigdbg.backends.ptrace import PtraceTask, Tracer
from sigdbg.engine import events as ev
from sigdbg.engine.inspect import TaskView
from sigdbg.engine.session import Session
from sigdbg.errors import MemoryReadError, SigdbgError
from tests.conftest import parse_reports, target
from tests.fakebackend import (
    SESSION_DATA,
    TASK_ACTIONS,
    TASK_QUERIES,
    TRACER_ACTIONS,
    TRACER_QUERIES,
    canon,
    drain_pipe,
    enc,
    query_key,
    raised,
    tape_head,
)
from tests.walkrec import events_json

#: name -> (program, arguments, what the session meets)
SCENARIOS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "plain": ("sig_sigreturn", ("plain",), "a delivery to a handler, which returns through "
              "glibc's restorer (the walk steps the sigreturn); exit 0"),
    "nested": ("sig_nested", (), "a second delivery while the first handler runs"),
    "longjmp": ("sig_sigreturn", ("longjmp",), "siglongjmp out of the handler, then a second "
                "delivery"),
    "exit": ("sig_sigreturn", ("exit_in_handler",), "_exit(3) inside the handler"),
    "fatal": ("sig_walk", ("fatal",), "SIGSEGV (default action) raised in the handler"),
    "stop": ("sig_walk", ("stop",), "SIGSTOP raised in the handler: a group-stop, held until "
             "the recorder sends SIGCONT"),
    "exec": ("sig_walk", ("exec",), "execve in the handler; the new image exits 0"),
}


class TapeSession(Session):
    """The Session, its views without symbol files (see the module docstring)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.symbols.file_path = _no_file

    def view(self, task: TracedTask) -> TaskView:
        v = super().view(task)
        v.symbols.file_path = _no_file
        return v


def _no_file(path: str) -> str:
    return "/nonexistent/sigdbg-tape"


class _Tape:
    def __init__(self, inner: Tracer) -> None:
        self.inner = inner
        self.epochs: list[dict[str, Any]] = []
        self.steps: list[dict[str, Any]] = []
        self._epoch()

    def _epoch(self) -> None:
        table = sorted([tid, t.pid] for tid, t in self.inner.tasks.items())
        self.epochs.append({"table": table, "q": {}, "memory": []})

    @property
    def cur(self) -> dict[str, Any]:
        return self.epochs[-1]

    def query(self, tid: int | None, name: str, args: tuple[Any, ...], fn: Any) -> Any:
        key = query_key(tid, name, args)
        try:
            v = fn()
        except SigdbgError as exc:
            self.cur["q"][key] = raised(exc)
            raise
        self.cur["q"][key] = {"v": enc(v)}
        return v

    def act(self, tid: int | None, name: str, args: tuple[Any, ...], fn: Any) -> Any:
        step: dict[str, Any] = {"call": [tid, name, enc(list(args))]}
        self.steps.append(step)
        try:
            v = fn()
        except SigdbgError as exc:
            step.update(raised(exc))
            self._epoch()
            raise
        step["ret"] = enc(v)
        self._epoch()
        return v


class RecTask:
    """A PtraceTask whose every request goes on the tape."""

    def __init__(self, inner: PtraceTask, tape: _Tape) -> None:
        self.inner = inner
        self.tape = tape
        self._raw_regs: bytes | None = None
        self._regs: dict[str, int] | None = None

    @property
    def tid(self) -> int:
        return self.inner.tid

    @property
    def pid(self) -> int:
        return self.inner.pid

    def _abi(self, name: str) -> Abi:
        return self.tape.query(  # type: ignore[no-any-return]
            self.inner.tid, name, (), lambda: getattr(self.inner, name))

    @property
    def abi(self) -> Abi:
        return self._abi("abi")

    @property
    def process_abi(self) -> Abi:
        return self._abi("process_abi")

    def read(self, address: int, size: int) -> bytes:
        try:
            data = self.inner.read(address, size)
        except MemoryReadError as exc:
            self._mem(address, self.inner.read_upto(address, size), exc.size)
            raise
        self._mem(address, data, size)
        return data

    def read_upto(self, address: int, size: int) -> bytes:
        data = self.inner.read_upto(address, size)
        self._mem(address, data, size)
        return data

    def _mem(self, address: int, data: bytes, size: int) -> None:
        memory = self.tape.cur["memory"]
        memory.append([address, data.hex()])
        if len(data) < size:
            memory.append([address + len(data), None])  # where the readable part ends

    def sp_read_args(self) -> tuple[int, int, int]:
        return self.inner.sp_read_args()


def _rec_query(name: str) -> Any:
    def q(self: RecTask, *args: Any, **kw: Any) -> Any:
        a = canon("task", name, args, kw)
        return self.tape.query(self.inner.tid, name, a, lambda: getattr(self.inner, name)(*a))
    q.__name__ = name
    return q


def _rec_action(name: str) -> Any:
    def f(self: RecTask, *args: Any, **kw: Any) -> Any:
        a = canon("task", name, args, kw)
        return self.tape.act(self.inner.tid, name, a, lambda: getattr(self.inner, name)(*a))
    f.__name__ = name
    return f


for _n in TASK_QUERIES:
    setattr(RecTask, _n, _rec_query(_n))
for _n in TASK_ACTIONS:
    setattr(RecTask, _n, _rec_action(_n))


class RecTracer:
    """The real Tracer as a SessionBackend whose requests go on the tape
    (no fast loop: the session's Python path is what is recorded)."""

    def __init__(self, inner: Tracer) -> None:
        self.inner = inner
        self.tape = _Tape(inner)
        self._wrapped: dict[int, RecTask] = {}

    def wrap(self, t: PtraceTask) -> RecTask:
        w = self._wrapped.get(t.tid)
        if w is None or w.inner is not t:
            w = self._wrapped[t.tid] = RecTask(t, self.tape)
        return w

    @property
    def tasks(self) -> dict[int, RecTask]:
        return {tid: self.wrap(t) for tid, t in self.inner.tasks.items()}

    @property
    def seccomp_filtered(self) -> bool:
        return bool(self.tape.query(None, "seccomp_filtered", (),
                                    lambda: self.inner.seccomp_filtered))

    def task(self, tid: int, pid: int | None = None) -> RecTask:
        t = self.inner.tasks.get(tid)
        if t is not None:
            return self.wrap(t)
        return self.wrap(self.tape.act(None, "task", (tid, pid),
                                       lambda: self.inner.task(tid, pid)))

    def trace_loop_available(self) -> bool:
        return False

    def new_template_store(self) -> Any:
        raise AssertionError("no fast loop while recording")

    def trace_loop(self, *args: Any) -> Any:
        raise AssertionError("no fast loop while recording")

    def loop_stop(self, r: Any) -> Any:
        raise AssertionError("no fast loop while recording")


def _unwrap(v: Any) -> Any:
    return v.inner if isinstance(v, RecTask) else v


def _tracer_query(name: str) -> Any:
    def q(self: RecTracer, *args: Any, **kw: Any) -> Any:
        a = canon("tracer", name, args, kw)
        return self.tape.query(None, name, a, lambda: getattr(self.inner, name)(*a))
    q.__name__ = name
    return q


def _tracer_action(name: str) -> Any:
    def f(self: RecTracer, *args: Any, **kw: Any) -> Any:
        a = canon("tracer", name, args, kw)
        out = self.tape.act(None, name, a,
                            lambda: getattr(self.inner, name)(*(_unwrap(x) for x in a)))
        return self.wrap(out) if isinstance(out, PtraceTask) else out
    f.__name__ = name
    return f


for _n in TRACER_QUERIES:
    setattr(RecTracer, _n, _tracer_query(_n))
for _n in TRACER_ACTIONS:
    setattr(RecTracer, _n, _tracer_action(_n))


def record(name: str) -> dict[str, Any]:
    prog, args, what = SCENARIOS[name]
    subprocess.run(["make", "-s", "-C", str(Path(__file__).resolve().parents[1] / "targets")],
                   check=True)
    r, w = os.pipe()
    os.set_blocking(r, False)
    real = Tracer()
    try:
        task = real.spawn([target(prog), *args], stdout=w)
        os.close(w)
        rec = RecTracer(real)
        s = TapeSession.launched_on(rec, rec.task(task.tid))  # type: ignore[arg-type]
        events: list[ev.Event] = []
        for e in s.events(step_sigreturn=True):
            events.append(e)
            if isinstance(e, ev.GroupStop):
                os.kill(e.pid, signal.SIGCONT)  # what a shell's `fg` would do
        s.close()
    finally:
        real.close()
    out = drain_pipe(r)
    return {
        **tape_head("tests/sessionrec.py", name, what, [f"targets/build/{prog}", *args]),
        "pid": task.pid,
        "epochs": rec.tape.epochs,
        "steps": rec.tape.steps,
        "events": events_json(events),
        "exit_status": s.exit_status,
        "reports": parse_reports(out.decode("utf-8", "replace")),
    }


def main(names: list[str]) -> None:
    SESSION_DATA.mkdir(parents=True, exist_ok=True)
    for name in names or list(SCENARIOS):
        doc = record(name)
        (SESSION_DATA / f"{name}.json").write_text(json.dumps(doc, indent=None) + "\n")
        print(name, len(doc["steps"]), "actions,", [e["event"] for e in doc["events"]])


if __name__ == "__main__":
    main(sys.argv[1:])
