"""Record the sigreturn walk on real processes, for the fake backend's tapes.

    .venv/bin/python -m tests.walkrec [NAME...]    (writes tests/data/walk/NAME.json)

Each scenario starts a ``targets/`` program under the ptrace backend
(``sigdbg.launch``), runs the session's event loop to the first handler
entry, then runs the engine's walk (``engine/sigreturn.py``) on
:class:`~sigdbg.engine.sigreturn.ControlHost` over the ptrace Control, with
recording wrappers around the Control and the thread.  Every read the walk
makes (memory, registers, masks) and every resume with the kernel's answer go
on the tape, with the events the walk emitted on the real process and the
program's own reports from its handlers (the truth the unit tests compare
with).  ``tests/unit/test_walk_fake.py`` replays the tapes on
``tests/fakebackend.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sigdbg.abi import Abi
from sigdbg.api import launch
from sigdbg.backends.base import Control, How, Target
from sigdbg.backends.stopcodes import Stop
from sigdbg.decode.sigframe import decode_sigframe
from sigdbg.engine import events as ev
from sigdbg.engine.sigreturn import ControlHost, leftover_events, step_through_sigreturn
from sigdbg.errors import SigdbgError
from tests.conftest import parse_reports, target
from tests.fakebackend import DATA, StubView, drain_pipe, stop_to_json, tape_head

#: name -> (program, arguments, what the walk meets)
SCENARIOS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "plain": ("sig_sigreturn", ("plain",), "a handler returns through glibc's restorer"),
    "nested": ("sig_nested", (), "a second handler is entered while the first runs"),
    "longjmp": ("sig_sigreturn", ("longjmp",), "siglongjmp out of the handler, then a "
                "second delivery builds its frame at the same place"),
    "exit": ("sig_sigreturn", ("exit_in_handler",), "_exit(3) inside the handler"),
    "fatal": ("sig_walk", ("fatal",), "SIGSEGV (default action) raised in the handler"),
    "stop": ("sig_walk", ("stop",), "SIGSTOP raised in the handler: a group-stop"),
    "exec": ("sig_walk", ("exec",), "execve in the handler"),
    "i386_nonrt": ("sig_sigreturn.i386", ("nonrt",), "an i386 sigframe_ia32 (non-RT) handler "
                   "returns through the vDSO's __kernel_sigreturn"),
}


class _Recorder:
    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = [self._epoch()]
        self.steps: list[dict[str, Any]] = []

    @staticmethod
    def _epoch() -> dict[str, Any]:
        return {"memory": [], "regs": None, "sigmask": None, "pending": None, "event_msg": None}

    @property
    def cur(self) -> dict[str, Any]:
        return self.epochs[-1]


class RecTarget:
    def __init__(self, inner: Target, rec: _Recorder) -> None:
        self.inner = inner
        self.rec = rec

    @property
    def tid(self) -> int:
        return self.inner.tid

    @property
    def pid(self) -> int:
        return self.inner.pid

    @property
    def abi(self) -> Abi:
        return self.inner.abi

    @property
    def process_abi(self) -> Abi:
        return self.inner.process_abi

    def read(self, address: int, size: int) -> bytes:
        data = self.inner.read(address, size)
        self.rec.cur["memory"].append([address, data.hex()])
        return data

    def read_upto(self, address: int, size: int) -> bytes:
        data = self.inner.read_upto(address, size)
        self.rec.cur["memory"].append([address, data.hex()])
        return data

    def registers(self) -> dict[str, int]:
        regs = self.inner.registers()
        self.rec.cur["regs"] = dict(regs)
        return regs

    def registers_as(self, abi: Abi) -> dict[str, int]:
        if abi is not self.inner.abi:
            raise AssertionError("mixed-mode code is not recorded")
        return self.registers()

    def pc(self) -> int:
        return self.registers()[self.abi.pc]

    def pc_sp(self) -> tuple[int, int]:
        regs = self.registers()
        return regs[self.abi.pc], regs[self.abi.sp]

    def maps_text(self) -> str:
        return self.inner.maps_text()

    def start_stack(self) -> int:
        return self.inner.start_stack()

    def auxv_bytes(self) -> bytes | None:
        return self.inner.auxv_bytes()

    def exe_path(self) -> str:
        return self.inner.exe_path()

    def fp_regs_raw(self) -> bytes | None:
        return self.inner.fp_regs_raw()


class RecControl:
    def __init__(self, inner: Control, rec: _Recorder) -> None:
        self.inner = inner
        self.rec = rec

    def task(self, tid: int) -> Target:
        return self.inner.task(tid)

    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        raise AssertionError("the walk resumes with resume_wait")

    def wait(self, tid: int = -1) -> Stop:
        raise AssertionError("the walk resumes with resume_wait")

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        stop = self.inner.resume_wait(tid, sig, how, wait_tid)
        self.rec.steps.append({"request": [tid, sig, how, wait_tid], "stop": stop_to_json(stop)})
        self.rec.epochs.append(self.rec._epoch())
        return stop

    def insert_breakpoint(self, address: int) -> None:
        self.inner.insert_breakpoint(address)

    def remove_breakpoint(self, address: int) -> None:
        self.inner.remove_breakpoint(address)

    def breakpoint_addresses(self) -> Collection[int]:
        return self.inner.breakpoint_addresses()

    def breakpoint_hit(self, stop: Stop) -> int | None:
        got = self.inner.breakpoint_hit(stop)
        self.rec.cur.setdefault("hits", []).append(got)
        return got

    def send_signal(self, tid: int, sig: int) -> None:
        self.inner.send_signal(tid, sig)

    def watch_execute(self, tid: int, address: int) -> None:
        self.inner.watch_execute(tid, address)

    def unwatch(self, tid: int) -> None:
        self.inner.unwatch(tid)

    def interrupt(self, tid: int) -> None:
        self.inner.interrupt(tid)

    def sigmask(self, tid: int) -> int:
        v = self.inner.sigmask(tid)
        self.rec.cur["sigmask"] = v
        return v

    def pending_signals(self, tid: int) -> int:
        v = self.inner.pending_signals(tid)
        self.rec.cur["pending"] = v
        return v

    def event_msg(self, tid: int) -> int:
        v = self.inner.event_msg(tid)
        self.rec.cur["event_msg"] = v
        return v

    def detach(self) -> None:
        self.inner.detach()


def events_json(events: list[ev.Event]) -> list[Any]:
    out: list[Any] = json.loads(json.dumps([e.to_json() for e in events], default=str))
    return out


def record(name: str) -> dict[str, Any]:
    prog, args, what = SCENARIOS[name]
    subprocess.run(["make", "-s", "-C", str(Path(__file__).resolve().parents[1] / "targets")],
                   check=True)
    r, w = os.pipe()
    os.set_blocking(r, False)
    with launch([target(prog), *args], stdout=w) as s:
        os.close(w)
        loop = s.events()
        entered = next(e for e in loop if isinstance(e, ev.HandlerEntered)
                       and e.frame.sig == signal.SIGUSR1)
        rec = _Recorder()
        inner = s.tracer.task(entered.tid)
        task = RecTarget(inner, rec)
        control = RecControl(s.control, rec)
        maps = inner.maps_text()
        view = StubView(maps)
        regs = task.registers()
        abi = task.abi
        entry = decode_sigframe(task, abi, regs[abi.sp], view=view, signo=signal.SIGUSR1)
        host = ControlHost(control, view)
        walked = list(step_through_sigreturn(host, control, task, entry))
        walked += leftover_events(host)
        try:
            s.kill()
        except SigdbgError:
            pass
    out = drain_pipe(r)
    return {
        **tape_head("tests/walkrec.py", name, what, [f"targets/build/{prog}", *args]),
        "abi": abi.name,
        "pid": inner.pid,
        "tid": inner.tid,
        "signo": int(signal.SIGUSR1),
        "frame": entry.address,
        "maps": maps,
        "epochs": rec.epochs,
        "steps": rec.steps,
        "events": events_json(walked),
        "reports": parse_reports(out.decode("utf-8", "replace")),
    }


def main(names: list[str]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for name in names or list(SCENARIOS):
        doc = record(name)
        (DATA / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(name, len(doc["steps"]), "resumes,", [e["event"] for e in doc["events"]])


if __name__ == "__main__":
    main(sys.argv[1:])
