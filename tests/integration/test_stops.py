"""Stops told apart: group-stops are not deliveries; policies pass or suppress signals."""

from __future__ import annotations

import os
import signal
import tempfile

import sigdbg
from sigdbg.engine import events as ev
from tests.conftest import parse_reports, target


def test_group_stop_is_not_a_handler_delivery() -> None:
    """SIGSTOP from outside: a delivery with disposition 'stop' and a group-stop,
    never a handler entry; the program carries on once SIGCONT comes (it stays
    stopped until then: tests/integration/test_jobctl.py) and exits normally."""
    r, w = os.pipe()
    with sigdbg.launch([target("hello"), "wait"], stdin=r) as s:
        os.close(r)
        seen: list[ev.Event] = []
        for e in s.events():
            seen.append(e)
            if isinstance(e, ev.Exec):
                os.kill(s.pid, signal.SIGSTOP)
            if isinstance(e, ev.GroupStop):
                os.close(w)  # EOF: hello exits once it runs again
                os.kill(s.pid, signal.SIGCONT)
        kinds = [type(e) for e in seen]
    assert ev.GroupStop in kinds
    assert ev.HandlerEntered not in kinds
    (stop_delivery, cont_delivery) = [e for e in seen if isinstance(e, ev.SignalDelivered)]
    assert stop_delivery.siginfo.si_signo == signal.SIGSTOP
    assert stop_delivery.disposition == "stop"
    assert cont_delivery.siginfo.si_signo == signal.SIGCONT
    assert cont_delivery.disposition == "ignored"  # hello has no SIGCONT handler
    assert isinstance(seen[-1], ev.Exited) and seen[-1].status == 0


def test_nopass_suppresses_and_pass_reinjects() -> None:
    """`handle SIGUSR2 nopass`: the program never sees it; SIGUSR1 still reaches its handler."""
    with tempfile.TemporaryFile() as out:
        with sigdbg.launch([target("sig_basic")], stdout=out.fileno()) as s:
            s.policy.nopass.add(signal.SIGUSR2)
            events = list(s.events())
        out.seek(0)
        reports = parse_reports(out.read().decode())
    suppressed = [e for e in events if isinstance(e, ev.SignalDelivered)
                  and e.disposition == "suppressed"]
    assert suppressed and all(e.siginfo.si_signo == signal.SIGUSR2 for e in suppressed)
    tags = [r["tag"] for r in reports]
    assert "kill" not in tags  # sig_basic's kill scenario sends SIGUSR2 to itself
    assert "raise" in tags     # SIGUSR1 was passed and handled
    handled = [e.frame.sig for e in events if isinstance(e, ev.HandlerEntered)]
    assert signal.SIGUSR1 in handled and signal.SIGUSR2 not in handled


def test_ignored_and_fatal_dispositions() -> None:
    with sigdbg.launch([target("sig_basic"), "ignored"]) as s:
        events = list(s.events())
    (d,) = [e for e in events if isinstance(e, ev.SignalDelivered)]
    assert d.disposition == "ignored"
    assert not any(isinstance(e, ev.HandlerEntered) for e in events)
    with sigdbg.launch([target("sig_fault"), "fatal_segv"]) as s:
        events = list(s.events())
        assert s.exit_status == 128 + signal.SIGSEGV
    (d,) = [e for e in events if isinstance(e, ev.SignalDelivered)]
    assert d.disposition == "fatal" and d.siginfo.get("si_addr") == 0x10
    assert d.siginfo.code_name == "SEGV_MAPERR"
    assert isinstance(events[-1], ev.Killed) and events[-1].signal == signal.SIGSEGV
