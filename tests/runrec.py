"""Record the engine's run control on real processes, for the fake backend's tapes.

    .venv/bin/python -m tests.runrec [NAME...]    (writes tests/data/runctl/NAME.json)

Each scenario starts ``targets/run_ctl`` under the ptrace backend
(``sigdbg.launch``), runs the session's event loop to the first ``call`` of
``outer()`` with one of our breakpoints on it (as a user's ``break`` there
would leave it), then runs the engine's run control
(``engine/runcontrol.py``) on :class:`~sigdbg.engine.runcontrol.ControlRunHost`
over the ptrace Control, with the recording wrappers of ``tests/walkrec.py``
(plus the Control's breakpoint calls).  Every read, every resume with the
kernel's answer, every breakpoint call and the run's :class:`Halt` go on the
tape, then the process is let run to its end (outside the recording) and its
own reports are stored with it: the truth ``tests/unit/test_runcontrol_fake.py``
compares the replay with.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from sigdbg.api import launch
from sigdbg.backends.base import Control, Target
from sigdbg.backends.stopcodes import Stop
from sigdbg.decode.disasm import get_disassembler
from sigdbg.engine import events as ev
from sigdbg.engine.runcontrol import ControlRunHost, Halt, Run, RunControl
from sigdbg.engine.session import Session
from sigdbg.errors import SigdbgError
from sigdbg.shell.expr import Resolver
from tests.conftest import parse_reports, target
from tests.fakebackend import StubView, drain_pipe, stop_to_json, tape_head
from tests.walkrec import RecControl, RecTarget, _Recorder

DATA = Path(__file__).resolve().parent / "data" / "runctl"

#: name -> (run_ctl's scenario, what the run control does)
SCENARIOS: dict[str, tuple[str, str]] = {
    "stepoff": ("call", "stepi from our breakpoint on the call: lifted, stepped, put back"),
    "nexti": ("call", "nexti over the call: a temporary breakpoint where it returns"),
    "nexti_signal": ("signal", "nexti over a call that raises SIGUSR1: the delivery stop "
                     "is handed back to the event loop"),
    "interrupt": ("sleep", "nexti over a call that sleeps, interrupted (the SIGSTOP of "
                  "Control.send_signal) while it runs"),
}


class RunRecControl(RecControl):
    """:class:`~tests.walkrec.RecControl` whose threads are recorded too
    (run control reads them through ``Control.task``) and whose breakpoint
    requests go on the tape."""

    def __init__(self, inner: Control, rec: _Recorder, target: RecTarget) -> None:
        super().__init__(inner, rec)
        self.target = target
        self.calls: list[list[Any]] = []

    def task(self, tid: int) -> Target:
        if tid != self.target.tid:
            raise AssertionError("one thread is recorded")
        return self.target

    def insert_breakpoint(self, address: int) -> None:
        self.calls.append(["insert_breakpoint", address])
        super().insert_breakpoint(address)

    def remove_breakpoint(self, address: int) -> None:
        self.calls.append(["remove_breakpoint", address])
        super().remove_breakpoint(address)

    def breakpoint_hit(self, stop: Stop) -> int | None:
        self.calls.append(["breakpoint_hit", stop.tid])
        return super().breakpoint_hit(stop)

    def send_signal(self, tid: int, sig: int) -> None:
        self.calls.append(["send_signal", tid, sig])
        super().send_signal(tid, sig)

    def resume_wait(self, tid: int, sig: int = 0, how: Any = "cont",
                    wait_tid: int = -1) -> Stop:
        self.calls.append(["resume_wait", tid, sig, how, wait_tid])
        return super().resume_wait(tid, sig, how, wait_tid)


def drain(run: Run) -> tuple[list[ev.Event], Halt | None]:
    events: list[ev.Event] = []
    while True:
        try:
            events.append(next(run))
        except StopIteration as done:
            return events, done.value


def halt_json(halt: Halt | None) -> dict[str, Any] | None:
    return None if halt is None else {"why": halt.why, "reason": halt.reason}


def _to_call(s: Session) -> int:
    """Run to outer()'s first call; our breakpoint stays on it.  Its address."""
    outer = Resolver(s).symbol("outer")
    assert outer is not None, "run_ctl has no symbol outer"
    s.insert_breakpoint(outer[0])
    loop = s.events()
    next(e for e in loop if isinstance(e, ev.Breakpoint) and e.address == outer[0])
    loop.close()
    s.remove_breakpoint(outer[0])
    task = s.current_task()
    dis = get_disassembler(task.abi.disasm_mode, "att")
    at = outer[0]
    code = task.read(at, outer[1])
    call = None
    while at < outer[0] + outer[1]:
        insn = dis.one(code[at - outer[0]:], at)
        assert insn is not None
        if insn.mnemonic.startswith(task.abi.call_mnemonics):
            call = insn.address
            break
        at = insn.end
    assert call is not None, "no call in outer()"
    s.insert_breakpoint(call)
    loop = s.events()
    next(e for e in loop if isinstance(e, ev.Breakpoint) and e.address == call)
    loop.close()
    return call


def record(name: str) -> dict[str, Any]:
    scenario, what = SCENARIOS[name]
    subprocess.run(["make", "-s", "-C", str(Path(__file__).resolve().parents[1] / "targets")],
                   check=True)
    r, w = os.pipe()
    os.set_blocking(r, False)
    with launch([target("run_ctl"), scenario], stdout=w) as s:
        os.close(w)
        call = _to_call(s)
        inner = s.current_task()
        tid = inner.tid
        rec = _Recorder()
        task = RecTarget(inner, rec)
        control = RunRecControl(s.control, rec, task)
        maps = inner.maps_text()
        breakpoints = [[a, orig.hex()] for a, orig in s.breakpoints.items()]
        host = ControlRunHost(control, StubView(maps), tid)
        rc = RunControl(host, control)
        rc.begin_run()
        code = bytearray(task.read_upto(call, 16))
        code[0:len(s.breakpoints[call])] = s.breakpoints[call]
        insn = get_disassembler(task.abi.disasm_mode, "att").one(bytes(code), call)
        timer = None
        if name == "stepoff":
            stop = rc.step(tid)
            events: list[ev.Event] = []
            halt = Halt("step", "step") if stop is None else None
        else:
            if name == "interrupt":
                timer = threading.Timer(0.5, rc.interrupt, (tid,))
                timer.start()
            events, halt = drain(rc.nexti(tid, insn))
        if timer is not None:
            timer.join()
        regs = task.registers()
        abi = task.abi
        task.read(regs[abi.sp], abi.word)  # the word at sp: the truth of a step into a call
        after = {"policy_nopass": sorted(host.policy.nopass),
                 "interrupt_pending": rc.interrupt_pending}
        leftover = [stop_to_json(x) for x in host.leftover]
        # the rest of the run, outside the recording: the program's own reports
        if name == "interrupt":
            s.kill()
        else:
            sig = signal.SIGUSR1 if name == "nexti_signal" else 0
            for _ in range(16):
                try:
                    st = s.control.resume_wait(tid, sig, "cont")
                except SigdbgError:
                    break
                sig = 0
                if st.kind in ("exited", "killed"):
                    break
        try:
            s.kill()
        except SigdbgError:
            pass
    out = drain_pipe(r)
    from tests.walkrec import events_json

    return {
        **tape_head("tests/runrec.py", name, what, ["targets/build/run_ctl", scenario]),
        "abi": abi.name,
        "pid": inner.pid,
        "tid": tid,
        "own_pid": os.getpid(),
        "call": call,
        "breakpoints": breakpoints,
        "maps": maps,
        "epochs": rec.epochs,
        "steps": rec.steps,
        "calls": control.calls,
        "events": events_json(events),
        "halt": halt_json(halt),
        "leftover": leftover,
        "after": after,
        "reports": parse_reports(out.decode("utf-8", "replace")),
        "output": out.decode("utf-8", "replace"),
    }


def main(names: list[str]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for name in names or list(SCENARIOS):
        doc = record(name)
        (DATA / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(name, len(doc["steps"]), "resumes,", doc["halt"], [c[0] for c in doc["calls"]])


if __name__ == "__main__":
    main(sys.argv[1:])
