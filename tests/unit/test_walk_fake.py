"""The engine's sigreturn state machine (``engine/sigreturn.py``) on the fake
backend: no process, the kernel's answers replayed from recordings.

Each tape in ``tests/data/walk/`` was recorded by ``tests/walkrec.py`` from
a ``targets/`` program under the ptrace backend: the bytes the walk read,
the registers and masks, every resume it made and the stop the kernel gave,
the events it emitted there, and the program's own reports from inside its
handlers.  Replayed here on ``tests/fakebackend.py``:

- the walk must make exactly the recorded resumes (the fake raises
  ``Divergence`` otherwise) and emit exactly the events of the real run;
- the events are checked against the program's own view (its handler's
  ucontext: the interrupted pc/sp, the signal) -- the independent truth;
- a tape with one stop altered changes what the walk reports, so the
  comparison is not vacuous.
"""

from __future__ import annotations

import copy
import signal
from typing import Any

import pytest

from sigdbg.decode.sigframe import SigFrame, decode_sigframe
from sigdbg.engine import events as ev
from sigdbg.engine.sigreturn import ControlHost, leftover_events, step_through_sigreturn
from sigdbg.engine.stops import TRAP_HWBKPT, TRAP_PERF
from tests.fakebackend import Divergence, FakeControl, StubView, load_tape
from tests.walkrec import SCENARIOS, events_json


def replay(doc: dict[str, Any]) -> tuple[list[ev.Event], FakeControl, ControlHost, SigFrame]:
    control = FakeControl(doc)
    task = control.target
    view = StubView(doc["maps"])
    regs = task.registers()
    entry = decode_sigframe(task, task.abi, regs[task.abi.sp], view=view, signo=doc["signo"])
    host = ControlHost(control, view)
    events = list(step_through_sigreturn(host, control, task, entry))
    return events + leftover_events(host), control, host, entry


def report(doc: dict[str, Any], tag: str) -> dict[str, Any]:
    rep = next(r for r in doc["reports"] if r["tag"] == tag)
    assert isinstance(rep, dict)
    return rep


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replay_emits_the_events_of_the_real_run(name: str) -> None:
    doc = load_tape(name)
    events, control, _, entry = replay(doc)
    assert control.finished()
    assert events_json(events) == doc["events"]
    # the entry frame decoded from the recorded bytes is the handler's own
    first = doc["reports"][0]
    abi = control.target.abi
    assert entry.address == doc["frame"] and entry.sig == first["sig"] == signal.SIGUSR1
    assert entry.mcontext[abi.mcontext_name(abi.pc)] == first["pc"]
    assert entry.mcontext[abi.mcontext_name(abi.sp)] == first["sp"]


def _kinds(events: list[ev.Event]) -> list[type[ev.Event]]:
    return [type(e) for e in events]


def test_sigreturn_step() -> None:
    doc = load_tape("plain")
    events, control, _, entry = replay(doc)
    assert _kinds(events) == [ev.SigreturnStep, ev.SigreturnEntered, ev.SigreturnStep,
                              ev.ContextRestored]
    # the restorer was watched at the frame's pretcode, then let go
    assert control.calls[0] == ("watch_execute", doc["tid"], entry.pretcode)
    assert ("unwatch", doc["tid"]) in control.calls
    steps = [e.step for e in events if isinstance(e, ev.SigreturnStep)]
    assert steps[0].address == entry.pretcode and steps[-1].syscall == "rt_sigreturn"
    restored = events[-1]
    assert isinstance(restored, ev.ContextRestored) and restored.matches
    rep = report(doc, "plain")
    assert (restored.registers["rip"], restored.registers["rsp"]) == (rep["pc"], rep["sp"])


def test_nested_delivery_and_handler_entry() -> None:
    doc = load_tape("nested")
    events, _, _, entry = replay(doc)
    delivered = [e for e in events if isinstance(e, ev.SignalDelivered)]
    entered = [e for e in events if isinstance(e, ev.HandlerEntered)]
    assert [(d.siginfo.si_signo, d.disposition) for d in delivered] == \
        [(signal.SIGUSR2, "handler")]
    inner = entered[0].frame
    assert isinstance(inner, SigFrame)
    rep = report(doc, "inner")
    assert inner.sig == rep["sig"] == signal.SIGUSR2 and inner.address < entry.address
    assert inner.mcontext["rip"] == rep["pc"] and inner.mcontext["rsp"] == rep["sp"]
    assert inner.sigmask == rep["mask"]  # SIGUSR1 blocked in the inner handler
    restored = [e for e in events if isinstance(e, ev.ContextRestored)]
    assert len(restored) == 2 and all(r.matches for r in restored)
    # innermost first: the inner handler returns into the outer handler
    assert restored[0].registers["rip"] == rep["pc"]
    outer = report(doc, "outer")
    assert restored[1].registers["rip"] == outer["pc"]


def test_siglongjmp() -> None:
    doc = load_tape("longjmp")
    events, _, _, entry = replay(doc)
    abandoned = [e for e in events if isinstance(e, ev.SigreturnAbandoned)]
    assert len(abandoned) == 1 and "siglongjmp" in abandoned[0].reason
    second = next(e for e in events if isinstance(e, ev.HandlerEntered)).frame
    assert isinstance(second, SigFrame) and second.address >= entry.address
    after = report(doc, "after")
    assert second.mcontext["rip"] == after["pc"]
    restored = events[-1]
    assert isinstance(restored, ev.ContextRestored) and restored.matches
    assert restored.registers["rip"] == after["pc"]


def test_exit_in_the_handler() -> None:
    events, _, host, _ = replay(load_tape("exit"))
    (abandoned,) = events
    assert isinstance(abandoned, ev.SigreturnAbandoned)
    assert "ended inside the handler (exit status 3" in abandoned.reason  # _exit(3)
    assert [s.kind for s in host.leftover] == ["event"]  # PTRACE_EVENT_EXIT, for the loop


def test_fatal_signal() -> None:
    events, _, host, _ = replay(load_tape("fatal"))
    delivered, abandoned = events
    assert isinstance(delivered, ev.SignalDelivered) and delivered.disposition == "fatal"
    assert delivered.siginfo.si_signo == signal.SIGSEGV
    assert isinstance(abandoned, ev.SigreturnAbandoned)
    assert "killed by SIGSEGV" in abandoned.reason
    assert len(host.leftover) == 1


def test_group_stop() -> None:
    events, _, host, _ = replay(load_tape("stop"))
    delivered, abandoned = events
    assert isinstance(delivered, ev.SignalDelivered) and delivered.disposition == "stop"
    assert delivered.siginfo.si_signo == signal.SIGSTOP
    assert isinstance(abandoned, ev.SigreturnAbandoned) and "group SIGSTOP" in abandoned.reason
    assert [(s.kind, s.sig) for s in host.leftover] == [("group", signal.SIGSTOP)]


def test_exec() -> None:
    events, _, host, _ = replay(load_tape("exec"))
    (abandoned,) = events
    assert isinstance(abandoned, ev.SigreturnAbandoned) and "execve" in abandoned.reason
    assert [s.kind for s in host.leftover] == ["event"]


def test_i386_non_rt_frame() -> None:
    doc = load_tape("i386_nonrt")
    events, _, _, entry = replay(doc)
    assert entry.kind == "sigframe_ia32"
    entered = next(e for e in events if isinstance(e, ev.SigreturnEntered))
    assert entered.syscall == "sigreturn" and entered.frame.address == entry.address
    texts = [e.step.text for e in events if isinstance(e, ev.SigreturnStep)]
    assert texts[-1] == "int $0x80"
    restored = events[-1]
    assert isinstance(restored, ev.ContextRestored) and restored.matches
    rep = report(doc, "nonrt")
    assert (restored.registers["eip"], restored.registers["esp"]) == (rep["pc"], rep["sp"])


def test_an_altered_stop_changes_the_walk() -> None:
    """The restorer breakpoint's stop turned into a SIGTRAP of the program's
    (si_code SI_USER): the walk delivers it instead of stepping the restorer,
    and the fake reports the resume the real run never made."""
    doc = copy.deepcopy(load_tape("plain"))
    stop = doc["steps"][0]["stop"]
    raw = bytearray.fromhex(stop["siginfo_raw"])
    # our execute breakpoint: a perf_event's (or, where perf is refused, DR0's)
    assert int.from_bytes(raw[8:12], "little") in (TRAP_PERF, TRAP_HWBKPT)
    raw[8:12] = (0).to_bytes(4, "little")
    stop["siginfo_raw"] = raw.hex()
    with pytest.raises(Divergence):
        replay(doc)
