"""The engine's run control (``engine/runcontrol.py``) on the fake backend:
no process, the kernel's answers replayed from recordings.

Each tape in ``tests/data/runctl/`` was recorded by ``tests/runrec.py`` from
``targets/run_ctl`` under the ptrace backend, stopped on one of our
breakpoints at ``outer()``'s call of ``work()``: what run control read,
each resume it made and the stop the kernel gave, its breakpoint requests,
how the run ended, and the program's own reports (``work`` says where it
was called from: ``__builtin_return_address(0)``; the SIGUSR1 handler its
siginfo and the interrupted pc).  Replayed here on ``tests/fakebackend.py``:

- the same resumes (the fake raises ``Divergence`` otherwise), the same
  breakpoint requests in the same order, the same end of the run;
- where the thread ends up, checked against the program's own reports;
- an altered tape changes the outcome, so the comparison is not vacuous.
"""

from __future__ import annotations

import copy
import signal
from typing import Any

import pytest

from sigdbg.decode.disasm import Instruction, get_disassembler
from sigdbg.engine.runcontrol import ControlRunHost, Halt, RunControl
from sigdbg.engine.stops import siginfo_of
from tests.fakebackend import DATA, Divergence, FakeControl, StubView, stop_from_json
from tests.runrec import SCENARIOS, drain, halt_json

SI_TKILL = -6
RUNCTL = DATA.parent / "runctl"


def load(name: str) -> dict[str, Any]:
    import json

    doc = json.loads((RUNCTL / f"{name}.json").read_text())
    assert isinstance(doc, dict)
    return doc


def report(doc: dict[str, Any], tag: str) -> dict[str, Any]:
    rep = next(r for r in doc["reports"] if r["tag"] == tag)
    assert isinstance(rep, dict)
    return rep


def call_insn(doc: dict[str, Any], control: FakeControl) -> Instruction:
    """The call under our breakpoint, disassembled from the recorded text
    with the breakpoint hidden (as the shell's ``instruction_at`` does)."""
    call = doc["call"]
    code = bytearray(control.target.read_upto(call, 16))
    orig = bytes.fromhex(dict((a, o) for a, o in doc["breakpoints"])[call])
    code[:len(orig)] = orig
    insn = get_disassembler(control.target.abi.disasm_mode, "att").one(bytes(code), call)
    assert insn is not None
    return insn


def replay(doc: dict[str, Any]) -> tuple[FakeControl, ControlRunHost, RunControl, Halt | None]:
    control = FakeControl(doc)
    tid = doc["tid"]
    host = ControlRunHost(control, StubView(doc["maps"]), tid)
    rc = RunControl(host, control, own_pid=doc["own_pid"])
    rc.begin_run()
    if doc["scenario"] == "stepoff":
        stop = rc.step(tid)
        halt = Halt("step", "step") if stop is None else None
    else:
        insn = call_insn(doc, control)
        if doc["scenario"] == "interrupt":
            # the real run's Ctrl-C came while the call ran; here before the
            # nexti: what reaches the kernel is the same SIGSTOP
            rc.interrupt(tid)
        events, halt = drain(rc.nexti(tid, insn))
        assert events == []  # nothing happened that a front end shows
    return control, host, rc, halt


def calls_of(control: FakeControl) -> list[list[Any]]:
    return [list(c) for c in control.calls]


def recorded_calls(doc: dict[str, Any]) -> list[list[Any]]:
    return [c for c in doc["calls"] if c[0] != "resume_wait"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replay_makes_the_requests_of_the_real_run(name: str) -> None:
    doc = load(name)
    control, host, rc, halt = replay(doc)
    assert control.finished()
    assert halt_json(halt) == doc["halt"]
    got = calls_of(control)
    want = recorded_calls(doc)
    if name == "interrupt":  # sent earlier here (see replay)
        assert got[0] == want[want.index(["send_signal", doc["tid"], signal.SIGSTOP])]
        got, want = got[1:], [c for c in want if c[0] != "send_signal"]
    assert got == want
    assert [c[1:] for c in doc["calls"] if c[0] == "resume_wait"] == \
        [s["request"] for s in doc["steps"]]
    # what the run left: the stops handed back, the policy, no interrupt pending
    assert [s._asdict() for s in host.leftover] == \
        [stop_from_json(s)._asdict() for s in doc["leftover"]]
    assert sorted(host.policy.nopass) == doc["after"]["policy_nopass"]
    assert rc.interrupt_pending is doc["after"]["interrupt_pending"] is False
    # the user's breakpoint on the call is still there, nothing else is
    assert set(control.breakpoint_addresses()) == {doc["call"]}


def test_stepping_off_a_breakpoint() -> None:
    doc = load("stepoff")
    control, _, _, halt = replay(doc)
    call, tid = doc["call"], doc["tid"]
    # lifted for exactly one PTRACE_SINGLESTEP, then put back
    assert calls_of(control) == [["remove_breakpoint", call], ["insert_breakpoint", call]]
    assert [s["request"] for s in doc["steps"]] == [[tid, 0, "step", tid]]
    assert halt == Halt("step", "step")
    # the call ran: the thread is at work()'s first instruction, with the
    # return address it pushed on top of the stack (the program's own view)
    work = report(doc, "work")
    regs = control.target.registers()
    abi = control.target.abi
    assert regs[abi.pc] == work["fn"]
    top = control.target.read(regs[abi.sp], abi.word)
    assert int.from_bytes(top, "little") == work["ret"]


def test_nexti_over_a_call() -> None:
    doc = load("nexti")
    control, _, _, halt = replay(doc)
    call, tid = doc["call"], doc["tid"]
    work = report(doc, "work")
    ret = work["ret"]  # where work() returns, as work() saw it
    assert ret == call_insn(doc, control).end
    assert calls_of(control) == [
        ["remove_breakpoint", call], ["insert_breakpoint", call],  # stepped off ours
        ["insert_breakpoint", ret],  # the temporary one where the call returns
        ["breakpoint_hit", tid],
        ["remove_breakpoint", ret],
    ]
    assert [s["request"] for s in doc["steps"]] == [[tid, 0, "step", tid], [tid, 0, "cont", -1]]
    assert halt == Halt("step", "step")
    assert control.target.pc() == ret
    # the program went on from there as if untraced
    assert [r["tag"] for r in doc["reports"]] == ["work", "back"]
    assert doc["output"].endswith("SIGDBG-DONE\n")


def test_a_signal_arriving_during_nexti() -> None:
    doc = load("nexti_signal")
    control, host, _, halt = replay(doc)
    tid, ret = doc["tid"], report(doc, "work")["ret"]
    # the delivery stop is handed back to the event loop (the shell's session
    # then shows it and stops or runs on as its policy says); no event loop
    # here: the run ends with it
    assert halt is None
    (stop,) = host.leftover
    info = siginfo_of(stop)
    assert info is not None
    handler = report(doc, "signal")
    assert stop.kind == "signal" and stop.sig == handler["sig"] == signal.SIGUSR1
    assert info.si_code == SI_TKILL and handler["code"] == SI_TKILL & 0xFFFFFFFF
    assert info.get("si_pid") == handler["pid"] == doc["pid"]  # raise(): from itself
    # stopped where the handler says it interrupted the program
    assert control.target.pc() == handler["pc"]
    # the temporary breakpoint was taken away again
    assert calls_of(control)[-2:] == [["breakpoint_hit", tid], ["remove_breakpoint", ret]]
    assert [r["tag"] for r in doc["reports"]] == ["work", "signal", "back"]


def test_interrupt_during_nexti() -> None:
    doc = load("interrupt")
    control, host, rc, halt = replay(doc)
    tid = doc["tid"]
    assert halt == Halt("interrupted", "interrupted")
    assert calls_of(control)[0] == ["send_signal", tid, signal.SIGSTOP]
    stop = stop_from_json(doc["steps"][-1]["stop"])
    info = siginfo_of(stop)
    assert info is not None and info.si_signo == signal.SIGSTOP and info.si_code == SI_TKILL
    assert info.get("si_pid") == doc["own_pid"]  # our SIGSTOP, not the program's
    assert host.leftover == []  # consumed: the run stops there, nothing is handed back
    # SIGSTOP was nopass while pending, and is as before now
    assert signal.SIGSTOP not in host.policy.nopass and not rc.interrupt_pending
    # the program was inside the call (work reported), and never finished its sleep
    assert [r["tag"] for r in doc["reports"]] == ["work"]


def test_a_stale_interrupt_is_not_a_stop() -> None:
    """The same SIGSTOP, pending from an earlier run (not asked in this one):
    it is dropped and the call runs on -- a resume the real run (which had
    asked) did not make."""
    doc = load("interrupt")
    control = FakeControl(doc)
    tid = doc["tid"]
    host = ControlRunHost(control, StubView(doc["maps"]), tid)
    rc = RunControl(host, control, own_pid=doc["own_pid"])
    rc.interrupt(tid)
    rc.begin_run()  # a new run: the pending one is stale
    assert signal.SIGSTOP in host.policy.nopass
    with pytest.raises(Divergence, match="after the end of the recording"):
        drain(rc.nexti(tid, call_insn(doc, control)))
    assert signal.SIGSTOP not in host.policy.nopass and not rc.interrupt_pending
    # the resume it went on with delivers nothing: the SIGSTOP is suppressed
    assert control.resumes == len(doc["steps"])


def test_altered_tapes_change_the_outcome() -> None:
    # the continue's stop not a hit of ours: nexti does not claim the return
    doc = load("nexti")
    doc = copy.deepcopy(doc)
    for epoch in doc["epochs"]:
        if epoch.get("hits"):
            epoch["hits"] = [None]
    _, host, _, halt = replay(doc)
    assert halt is None and len(host.leftover) == 1
    # the SIGSTOP from another process: not our interrupt
    doc = copy.deepcopy(load("interrupt"))
    doc["own_pid"] += 1
    _, host, _, halt = replay(doc)
    assert halt is None and host.leftover[0].sig == signal.SIGSTOP
    # a step that did not trap: the stop comes back instead
    doc = copy.deepcopy(load("stepoff"))
    doc["steps"][0]["stop"]["sig"] = signal.SIGUSR2
    control = FakeControl(doc)
    rc = RunControl(ControlRunHost(control, StubView(doc["maps"]), doc["tid"]), control)
    stop = rc.step(doc["tid"])
    assert stop is not None and stop.sig == signal.SIGUSR2
    # and a step trap whose si_code is not a step's (another process's SIGTRAP)
    doc = copy.deepcopy(load("stepoff"))
    raw = bytearray.fromhex(doc["steps"][0]["stop"]["siginfo_raw"])
    raw[8:12] = SI_TKILL.to_bytes(4, "little", signed=True)
    doc["steps"][0]["stop"]["siginfo_raw"] = raw.hex()
    control = FakeControl(doc)
    rc = RunControl(ControlRunHost(control, StubView(doc["maps"]), doc["tid"]), control)
    assert rc.step(doc["tid"]) is not None
