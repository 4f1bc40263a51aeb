"""Job control under the tracer: SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU stop a
traced program and keep it stopped until SIGCONT, exactly as untraced (and as
under strace, which holds a SEIZEd tracee's group-stop with PTRACE_LISTEN).

The target (targets/sig_jobctl.c) writes a counter into a file every
millisecond: a counter that does not move while /proc says the process is
stopped proves it is not running.  Every scenario runs untraced too, and the
program's own final report (SIGCONTs and SIGTSTPs its handlers saw) must be the
same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import sigdbg
from sigdbg.engine import events as ev
from tests.conftest import ROOT, parse_reports, target
from tests.integration.test_trace import read_trace, sigdbg_cmd

#: generous: the machine is shared and loaded; only a hang reaches it
PATIENCE = 15.0
#: how long a stopped program is watched for a counter that moves
WATCH = 0.3


def _wait_until(what: str, pred: Any, timeout: float = PATIENCE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _counter(path: Path) -> tuple[int, int] | None:
    """(pid, count) from the target's counter file, None before its first write."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    parts = text.split("\n")[0].split()
    if len(parts) != 2:
        return None
    return int(parts[0]), int(parts[1])


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    return stat[stat.rindex(b")") + 2:].split()[0].decode()


def _count(path: Path) -> int:
    c = _counter(path)
    assert c is not None
    return c[1]


class _Run:
    """sig_jobctl started untraced or under `sigdbg trace` (the real command line)."""

    def __init__(self, tmp: Path, mode: str, handler: bool = False) -> None:
        self.countfile = tmp / f"count-{mode}"
        self.trace = tmp / f"trace-{mode}.jsonl"
        argv = [target("sig_jobctl"), str(self.countfile)] + (["tstp-handler"] if handler else [])
        if mode == "untraced":
            cmd = argv
        else:
            opts = [] if mode == "frame" else [mode]
            cmd = sigdbg_cmd(self.trace, opts, argv)
        self.p = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = _wait_until("the program's first count", lambda: _counter(self.countfile))
        self.pid = first[0]
        _wait_until("the program to count", lambda: _count(self.countfile) > first[1] + 5)

    def finish(self) -> tuple[int, str, list[dict[str, Any]]]:
        os.kill(self.pid, signal.SIGUSR2)
        try:
            out, err = self.p.communicate(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            pytest.fail("the run did not end")
        assert b"Traceback" not in err, err.decode()
        return self.p.returncode, out.decode(), read_trace(self.trace)


def _stop_and_continue(tmp: Path, mode: str, sig: int) -> tuple[int, str, list[dict[str, Any]]]:
    r = _Run(tmp, mode)
    try:
        os.kill(r.pid, sig)
        _wait_until("the program to stop", lambda: _state(r.pid) in "Tt")
        before = _count(r.countfile)
        time.sleep(WATCH)
        after = _count(r.countfile)
        state = _state(r.pid)
        assert (after, state in "Tt") == (before, True), \
            f"{mode}: {signal.Signals(sig).name} did not keep the program stopped " \
            f"(count {before} -> {after}, state {state})"
        os.kill(r.pid, signal.SIGCONT)
        _wait_until("the program to count again after SIGCONT",
                    lambda: _count(r.countfile) > after + 5)
    except BaseException:
        r.p.kill()
        r.p.communicate()
        try:
            os.kill(r.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        raise
    return r.finish()


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN,
                                 signal.SIGTTOU], ids=lambda s: signal.Signals(s).name)
def test_stop_signal_keeps_the_traced_program_stopped_until_sigcont(
        tmp_path: Path, sig: int) -> None:
    rc_u, out_u, _ = _stop_and_continue(tmp_path, "untraced", sig)
    rc, out, events = _stop_and_continue(tmp_path, "frame", sig)
    assert (rc, out) == (rc_u, out_u)
    assert parse_reports(out) == [{"tag": "jobctl", "cont": 1, "tstp": 0}]
    # the stop and the continue are both in the trace
    stops = [e for e in events if e["event"] == "group_stop"]
    assert [e["signal"] for e in stops] == [sig]
    delivered = [(e["siginfo"]["si_signo"], e["disposition"]) for e in events
                 if e["event"] == "signal_delivered"]
    assert delivered[:2] == [(sig, "stop"), (signal.SIGCONT, "handler")]
    assert events[-1]["event"] == "exited" and events[-1]["status"] == 0


@pytest.mark.parametrize("mode", ["--no-frame", "--step-sigreturn"])
def test_job_control_in_every_trace_mode(tmp_path: Path, mode: str) -> None:
    rc_u, out_u, _ = _stop_and_continue(tmp_path, "untraced", signal.SIGTSTP)
    rc, out, events = _stop_and_continue(tmp_path, mode, signal.SIGTSTP)
    assert (rc, out) == (rc_u, out_u)
    assert [e["signal"] for e in events if e["event"] == "group_stop"] == [signal.SIGTSTP]


@pytest.mark.parametrize("mode", ["untraced", "frame"])
def test_sigtstp_with_a_handler_does_not_stop(tmp_path: Path, mode: str) -> None:
    """A handled SIGTSTP runs the handler and the program goes on counting."""
    r = _Run(tmp_path, mode, handler=True)
    os.kill(r.pid, signal.SIGTSTP)
    at = _count(r.countfile)
    _wait_until("the program to go on counting", lambda: _count(r.countfile) > at + 50)
    rc, out, events = r.finish()
    assert rc == 0
    reports = parse_reports(out)
    assert [x["tag"] for x in reports] == ["tstp", "jobctl"]
    assert reports[0]["sig"] == signal.SIGTSTP and reports[0]["pid"] == os.getpid()
    assert reports[1] == {"tag": "jobctl", "cont": 0, "tstp": 1}
    if mode != "untraced":
        assert not [e for e in events if e["event"] == "group_stop"]
        entered = [e["frame"]["sig"] for e in events if e["event"] == "handler_entered"]
        assert entered[0] == signal.SIGTSTP


def test_api_holds_a_group_stop_until_sigcont(tmp_path: Path) -> None:
    """Session.events(): after the GroupStop event the next step waits for
    SIGCONT (PTRACE_LISTEN) instead of restarting the program."""
    countfile = tmp_path / "count"
    helpers: list[subprocess.Popen[bytes]] = []
    checked: list[tuple[int, int, str]] = []
    seen: list[ev.Event] = []
    try:
        with open(os.devnull, "wb") as null, \
                sigdbg.launch([target("sig_jobctl"), str(countfile)], stdout=null.fileno()) as s:
            before = -1
            for e in s.events():
                seen.append(e)
                if isinstance(e, ev.Exec):  # let it count a while, then stop it
                    helpers.append(subprocess.Popen(
                        ["sh", "-c", f"sleep {WATCH}; kill -STOP {s.pid}"]))
                if isinstance(e, ev.GroupStop):
                    # another process checks that it is held stopped, then continues it
                    before = _count(countfile)
                    helpers.append(subprocess.Popen(
                        ["sh", "-c", f"sleep {WATCH}; cat /proc/{s.pid}/stat; "
                         f"kill -CONT {s.pid}"], stdout=subprocess.PIPE))
                if isinstance(e, ev.SignalDelivered) and e.siginfo.si_signo == signal.SIGCONT:
                    stat, _ = helpers[-1].communicate()
                    state = stat[stat.rindex(b")") + 2:].split()[0].decode()
                    checked.append((before, _count(countfile), state))
                    os.kill(s.pid, signal.SIGUSR2)
    finally:
        for h in helpers:
            h.wait()
    assert ev.GroupStop in [type(e) for e in seen]
    ((before, at_cont, state),) = checked
    assert before == at_cont, "the program ran between its group-stop and SIGCONT"
    assert state in "Tt"
    assert isinstance(seen[-1], ev.Exited) and seen[-1].status == 0


def _sigign(status: str) -> int:
    (line,) = [ln for ln in status.splitlines() if ln.startswith("SigIgn:")]
    return int(line.split()[1], 16)


def test_launched_program_ignores_what_an_untraced_child_ignores() -> None:
    """Python ignores SIGPIPE and SIGXFSZ, and an ignored disposition survives
    execve: a program launched under sigdbg must not inherit that (subprocess
    resets them too), or a write to a closed pipe returns EPIPE where it kills
    the program untraced."""
    untraced = _sigign(subprocess.run(["cat", "/proc/self/status"], capture_output=True,
                                      text=True, check=True).stdout)
    with sigdbg.launch([target("hello")]) as s:
        traced = _sigign(Path(f"/proc/{s.pid}/status").read_text())
    assert traced == untraced, f"SigIgn {traced:#x} under sigdbg, {untraced:#x} untraced"


def _tracer_pid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1])
    return 0


def test_attaching_to_a_stopped_program_leaves_it_stopped(tmp_path: Path) -> None:
    """`sigdbg trace -p PID` of a program stopped by SIGSTOP: it stays stopped
    until SIGCONT (attaching turns the stop into a ptrace group-stop, which a
    restart would end)."""
    countfile = tmp_path / "count"
    out = tmp_path / "trace.jsonl"
    victim = subprocess.Popen([target("sig_jobctl"), str(countfile)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE)
    tracer = None
    try:
        first = _wait_until("the program's first count", lambda: _counter(countfile))
        pid = first[0]
        _wait_until("the program to count", lambda: _count(countfile) > first[1] + 5)
        os.kill(pid, signal.SIGSTOP)
        _wait_until("the program to stop", lambda: _state(pid) == "T")
        tracer = subprocess.Popen([sys.executable, "-m", "sigdbg", "trace", "--json", "-o",
                                   str(out), "-p", str(pid)], cwd=ROOT,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        _wait_until("sigdbg to attach", lambda: _tracer_pid(pid) == tracer.pid
                    or tracer.poll() is not None)
        before = _count(countfile)
        time.sleep(WATCH)
        after, state = _count(countfile), _state(pid)
        assert (after, state in "Tt") == (before, True), \
            f"attaching restarted a stopped program (count {before} -> {after}, state {state})"
        os.kill(pid, signal.SIGCONT)
        _wait_until("the program to count again", lambda: _count(countfile) > after + 5)
        os.kill(pid, signal.SIGUSR2)
        text, _ = victim.communicate(timeout=PATIENCE)
        _, err = tracer.communicate(timeout=PATIENCE)
    finally:
        for p in (victim, tracer):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    assert b"Traceback" not in err, err.decode()
    assert victim.returncode == 0 and tracer.returncode == 0
    assert parse_reports(text.decode()) == [{"tag": "jobctl", "cont": 1, "tstp": 0}]
    events = read_trace(out)
    assert [e["siginfo"]["si_signo"] for e in events if e["event"] == "signal_delivered"] == \
        [signal.SIGCONT, signal.SIGUSR2]
