"""The session's state machine (``engine/session.py``: its event loop, the
deliveries, and the sigreturn walk it runs) on the fake backend: no process,
the kernel's answers replayed from recordings.

Each tape in ``tests/data/session/`` was recorded by ``tests/sessionrec.py``
from a ``targets/`` program under the ptrace backend: every request the
session made of the backend (``backends/base.py`` ``TracerBackend`` and
``TracedTask``) with the kernel's answer, the events of the real run, its
exit status, and the program's own reports from inside its handlers.
Replayed here on ``tests/fakebackend.py``'s ``FakeTracer``:

- the session must make exactly the recorded requests (the fake raises
  ``Divergence`` otherwise) and emit exactly the events of the real run;
- the events are checked against the program's own view (its handler's
  siginfo and ucontext: the signal, the sender, the interrupted pc/sp, the
  mask) -- the independent truth;
- a tape with one answer altered makes the session diverge, so the
  comparison is not vacuous.
"""

from __future__ import annotations

import copy
import signal
from typing import Any

import pytest

from sigdbg.backends.stopcodes import SIGTRAP_HANDLER_ENTRY, TRAP_TRACE
from sigdbg.decode.sigframe import SigFrame
from sigdbg.engine import events as ev
from tests.fakebackend import Divergence, FakeTracer, load_session_tape
from tests.sessionrec import SCENARIOS, TapeSession
from tests.walkrec import events_json


def replay(doc: dict[str, Any], into: list[ev.Event] | None = None) -> tuple[
        list[ev.Event], FakeTracer, TapeSession]:
    fake = FakeTracer(doc)
    s = TapeSession.launched_on(fake, fake.tasks[doc["pid"]])  # type: ignore[arg-type]
    events = [] if into is None else into
    events.extend(s.events(step_sigreturn=True))
    s.close()
    return events, fake, s


def report(doc: dict[str, Any], tag: str) -> dict[str, Any]:
    rep = next(r for r in doc["reports"] if r["tag"] == tag)
    assert isinstance(rep, dict)
    return rep


def of(events: list[ev.Event], cls: type[ev.Event]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def at(events: list[ev.Event], e: ev.Event) -> int:
    """The position of ``e`` itself (events are values: equal ones may repeat)."""
    return next(i for i, x in enumerate(events) if x is e)


def check_delivery(d: ev.SignalDelivered, h: ev.HandlerEntered, rep: dict[str, Any]) -> None:
    """A delivery to a handler against the handler's own siginfo and ucontext."""
    info = d.siginfo
    assert d.disposition == "handler"
    assert info.si_signo == rep["sig"]
    assert info.si_code & 0xFFFFFFFF == rep["code"]  # (the report prints it unsigned)
    assert info.get("si_pid") == rep["pid"]
    assert d.pc == rep["pc"]  # where the signal interrupted the program
    frame = h.frame
    assert isinstance(frame, SigFrame) and frame.sig == rep["sig"]
    assert frame.mcontext["rip"] == rep["pc"] and frame.mcontext["rsp"] == rep["sp"]
    assert frame.sigmask == rep["mask"]
    assert frame.address + frame.size > rep["ucp"] > frame.address  # uc lives in the frame


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_replay_emits_the_events_of_the_real_run(name: str) -> None:
    doc = load_session_tape(name)
    events, fake, s = replay(doc)
    assert fake.finished(), "the session stopped before the real run's last request"
    assert events_json(events) == doc["events"]
    assert s.exit_status == doc["exit_status"]
    first = events[0]
    assert isinstance(first, ev.Exec) and first.pid == doc["reports"][0]["pid"]


def test_delivery_and_handler_entry() -> None:
    doc = load_session_tape("plain")
    events, _, _ = replay(doc)
    (d,) = of(events, ev.SignalDelivered)
    (h,) = of(events, ev.HandlerEntered)
    assert at(events, h) == at(events, d) + 1
    check_delivery(d, h, report(doc, "plain"))


def test_sigreturn_step() -> None:
    doc = load_session_tape("plain")
    events, _, s = replay(doc)
    kinds = [type(e) for e in events]
    assert kinds == [ev.Exec, ev.SignalDelivered, ev.HandlerEntered, ev.SigreturnStep,
                     ev.SigreturnEntered, ev.SigreturnStep, ev.ContextRestored, ev.Exited]
    h = of(events, ev.HandlerEntered)[0]
    entered = of(events, ev.SigreturnEntered)[0]
    assert entered.syscall == "rt_sigreturn" and entered.frame.address == h.frame.address
    (restored,) = of(events, ev.ContextRestored)
    rep = report(doc, "plain")
    assert restored.matches
    assert (restored.registers["rip"], restored.registers["rsp"]) == (rep["pc"], rep["sp"])
    assert s.exit_status == 0


def test_nested_delivery() -> None:
    doc = load_session_tape("nested")
    events, _, _ = replay(doc)
    delivered = of(events, ev.SignalDelivered)
    entered = of(events, ev.HandlerEntered)
    assert [d.siginfo.si_signo for d in delivered] == [signal.SIGUSR1, signal.SIGUSR2]
    outer, inner = report(doc, "outer"), report(doc, "inner")
    check_delivery(delivered[0], entered[0], outer)
    check_delivery(delivered[1], entered[1], inner)
    assert inner["mask"] == 1 << (signal.SIGUSR1 - 1)  # blocked while its handler runs
    assert entered[1].frame.address < entered[0].frame.address  # below, on the same stack
    restored = of(events, ev.ContextRestored)
    # innermost first: the inner handler returns into the outer one, which returns to main
    assert [r.registers["rip"] for r in restored] == [inner["pc"], outer["pc"]]
    assert all(r.matches for r in restored)


def test_siglongjmp() -> None:
    doc = load_session_tape("longjmp")
    events, _, _ = replay(doc)
    (abandoned,) = of(events, ev.SigreturnAbandoned)
    assert "siglongjmp" in abandoned.reason
    delivered, entered = of(events, ev.SignalDelivered), of(events, ev.HandlerEntered)
    check_delivery(delivered[0], entered[0], report(doc, "longjmp"))
    check_delivery(delivered[1], entered[1], report(doc, "after"))
    # the walk gave up on the first frame when the second handler ran
    assert at(events, abandoned) > at(events, entered[1])
    restored = of(events, ev.ContextRestored)[-1]
    assert restored.matches and restored.registers["rip"] == report(doc, "after")["pc"]


def test_fatal_signal() -> None:
    doc = load_session_tape("fatal")
    events, _, s = replay(doc)
    delivered = of(events, ev.SignalDelivered)
    check_delivery(delivered[0], of(events, ev.HandlerEntered)[0], report(doc, "fatal"))
    assert (delivered[1].siginfo.si_signo, delivered[1].disposition) == \
        (signal.SIGSEGV, "fatal")
    (killed,) = of(events, ev.Killed)
    assert killed.signal == signal.SIGSEGV and events[-1] is killed
    assert s.exit_status == 128 + signal.SIGSEGV  # as a shell reports it


def test_group_stop() -> None:
    doc = load_session_tape("stop")
    events, fake, s = replay(doc)
    delivered = of(events, ev.SignalDelivered)
    check_delivery(delivered[0], of(events, ev.HandlerEntered)[0], report(doc, "stop"))
    assert (delivered[1].siginfo.si_signo, delivered[1].disposition) == \
        (signal.SIGSTOP, "stop")
    (stopped,) = of(events, ev.GroupStop)
    assert stopped.signal == signal.SIGSTOP
    # held stopped with PTRACE_LISTEN until the recorder's SIGCONT, whose
    # delivery is reported (ignored: SIGCONT's default action is to continue)
    assert any(step["call"][1] == "listen" for step in fake.steps)
    assert (delivered[2].siginfo.si_signo, delivered[2].disposition) == \
        (signal.SIGCONT, "ignored")
    assert isinstance(events[-1], ev.Exited) and s.exit_status == 0


def test_exec() -> None:
    doc = load_session_tape("exec")
    events, _, s = replay(doc)
    check_delivery(of(events, ev.SignalDelivered)[0], of(events, ev.HandlerEntered)[0],
                   report(doc, "exec"))
    (abandoned,) = of(events, ev.SigreturnAbandoned)
    assert "execve" in abandoned.reason
    first, second = of(events, ev.Exec)
    # the handler execve()d /proc/self/exe: the same program, a new image
    assert second.path == first.path and second.abi == first.abi == "x86_64"
    assert second.pid == first.pid and at(events, second) > at(events, abandoned)
    assert s.exit_status == 0


def test_exit_in_the_handler() -> None:
    doc = load_session_tape("exit")
    events, _, s = replay(doc)
    check_delivery(of(events, ev.SignalDelivered)[0], of(events, ev.HandlerEntered)[0],
                   report(doc, "exit_in_handler"))
    (abandoned,) = of(events, ev.SigreturnAbandoned)
    assert "ended inside the handler (exit status 3" in abandoned.reason  # its _exit(3)
    assert isinstance(events[-1], ev.Exited) and events[-1].status == 3 == s.exit_status


def test_an_altered_answer_changes_the_session() -> None:
    """The stop after the step into the handler turned from a handler entry
    into a plain step trap: the session no longer reports the handler entry,
    and asks the fake a question the real run never asked (whether the
    program's own trap flag made the trap), which fails the replay."""
    doc = copy.deepcopy(load_session_tape("plain"))
    step = next(s for s in doc["steps"] if s["call"][1] == "resume_wait"
                and s["call"][2][1] == signal.SIGUSR1 and s["call"][2][2] is True)
    info = step["ret"]["resume"][1]
    raw = bytearray.fromhex(info["hex"])
    assert int.from_bytes(raw[8:12], "little") == SIGTRAP_HANDLER_ENTRY
    raw[8:12] = TRAP_TRACE.to_bytes(4, "little")
    info["hex"] = raw.hex()
    seen: list[ev.Event] = []
    with pytest.raises(Divergence, match="registers"):
        replay(doc, seen)
    assert not of(seen, ev.HandlerEntered)


def test_an_altered_exit_changes_the_events() -> None:
    """The last wait's status changed from exit 0 to exit 3: every request
    stays the same, and the events differ from the real run's."""
    doc = copy.deepcopy(load_session_tape("plain"))
    waits = [s["ret"]["resume"][0] for s in doc["steps"]
             if s["call"][1] == "resume_wait" and "ret" in s]
    wait = waits[-1]
    assert wait["wait"][1] == 0  # the last stop: WIFEXITED, status 0
    wait["wait"][1] = 3 << 8
    events, fake, s = replay(doc)
    assert fake.finished()
    assert events_json(events) != doc["events"]
    assert s.exit_status == 3 and events[-1] == ev.Exited(doc["pid"], doc["pid"], 3)
