"""The shell's nexti and Ctrl-C on real processes, now that run control is the
engine's (``engine/runcontrol.py``): ``targets/run_ctl``'s ``outer()`` calls
``work()``, which reports its own address and where it returns to
(``__builtin_return_address(0)``), then (by scenario) returns, raises
SIGUSR1, or sleeps.  Each test stops on our breakpoint at that call first and
compares where ``nexti`` leaves the thread with what the program reported.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import parse_reports, target
from tests.integration.test_shell import Run, exec_pid, proc_state, sigint_after

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def run() -> Iterator[Run]:
    r = Run()
    try:
        yield r
    finally:
        r.sh.close()


def at_call(run: Run, scenario: str, out: Path) -> tuple[int, int]:
    """Launch run_ctl SCENARIO with its stdout in ``out``; stop on breakpoint 2
    at outer()'s call of work().  (pid, the call's address)"""
    global LISTING
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        run.sh.tracee_stdio = {"stdout": fd}
        run.cmd(f"file {target('run_ctl')}")
        pid = exec_pid(run.cmd(f"run {scenario}"))
    finally:
        os.close(fd)
    assert "breakpoint 1 at" in run.cmd("break outer")
    assert "breakpoint at" in run.cmd("continue")
    listing = LISTING = run.cmd("x/16i $pc")
    m = re.search(r"^(?:=>)?\s*(0x[0-9a-f]+): [0-9a-f]+\s+call", listing, re.M)
    assert m, listing
    call = int(m.group(1), 16)
    assert "breakpoint 2 at" in run.cmd(f"break {call:#x}")
    run.cmd("continue")
    assert run.sh.status().reason == "breakpoint 2"
    return pid, call


#: outer()'s code as the shell listed it at its first instruction
LISTING = ""


def text_at(pid: int, address: int) -> bytes:
    """The code bytes at ``address`` as the kernel has them (/proc/PID/mem)."""
    with open(f"/proc/{pid}/mem", "rb") as fh:
        fh.seek(address)
        return fh.read(4)


def listed_bytes(address: int) -> bytes:
    m = re.search(rf"{address:#x}: ([0-9a-f]+)", LISTING)
    assert m, LISTING
    return bytes.fromhex(m.group(1))[:4]


def pc(run: Run) -> int:
    regs = json.loads(run.cmd("regs --json"))
    abi = run.sh.require_session().abi
    value = regs[abi.pc]
    assert isinstance(value, int)
    return value


def reports(out: Path) -> list[dict[str, int | str]]:
    return parse_reports(out.read_text())


def test_nexti_over_a_call_stops_where_it_returns(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    pid, call = at_call(run, "call", out)
    text = run.cmd("nexti")
    assert text.startswith("=> "), text  # nothing but the new location
    (work,) = reports(out)
    assert work["tag"] == "work"
    assert pc(run) == work["ret"] > call  # where work() itself says it returns to
    assert run.sh.status().reason == "step"
    # the temporary breakpoint is gone (the program's own code is back in
    # the text), ours on the call is still there
    assert text_at(pid, work["ret"]) == listed_bytes(work["ret"])
    assert text_at(pid, call) != listed_bytes(call)
    assert "exited with 0" in run.cmd("continue")
    assert [r["tag"] for r in reports(out)] == ["work", "back"]
    assert out.read_text().endswith("SIGDBG-DONE\n")


def test_nexti_stops_at_a_breakpoint_inside_the_call(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    at_call(run, "call", out)
    listing = run.cmd("x/2i work")
    second = int(re.findall(r"(0x[0-9a-f]+): ", listing)[1], 16)
    assert "breakpoint 3 at" in run.cmd(f"break {second:#x}")
    text = run.cmd("nexti")
    assert f"breakpoint at {second:#x}" in text
    assert run.sh.status().reason == "breakpoint 3"
    assert pc(run) == second
    assert reports(out) == []  # work() has not got to its report yet
    run.cmd("delete 3")
    assert "exited with 0" in run.cmd("continue")
    (work, back) = reports(out)
    assert work["fn"] < second  # the breakpoint was inside work()


def test_a_signal_during_nexti_stops_at_its_handler(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    pid, _ = at_call(run, "signal", out)
    text = run.cmd("nexti")
    assert "SIGUSR1" in text
    assert run.sh.status().reason == "handler for SIGUSR1"
    # stopped at the handler's first instruction, before it reported: the
    # frame's interrupted context is inside work(), the program's own later
    frame = json.loads(run.cmd("frame --json"))
    abi = run.sh.require_session().abi
    assert [r["tag"] for r in reports(out)] == ["work"]
    assert "exited with 0" in run.cmd("continue")
    handler = reports(out)[1]
    assert handler["tag"] == "signal" and handler["pid"] == pid
    # the frame at the handler's entry is the one the handler then saw
    assert frame["sig"] == handler["sig"] == 10
    assert frame["mcontext"][abi.mcontext_name(abi.pc)] == handler["pc"]
    assert frame["mcontext"][abi.mcontext_name(abi.sp)] == handler["sp"]


def test_a_signal_the_policy_passes_during_nexti(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    pid, _ = at_call(run, "signal", out)
    run.cmd("handle SIGUSR1 nostop")
    text = run.cmd("nexti")
    # the delivery is shown as it happens, and the nexti still ends where
    # the call returns, after the handler ran
    assert "SIGUSR1" in text
    work, handler = reports(out)
    assert handler["tag"] == "signal" and handler["pid"] == pid
    assert pc(run) == work["ret"]
    assert run.sh.status().reason == "step"
    assert "exited with 0" in run.cmd("continue")


def test_ctrl_c_interrupts_nexti_over_a_call(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    pid, call = at_call(run, "sleep", out)
    sigint_after(0.5)
    text = run.cmd("nexti")
    assert f"[pid {pid}] interrupted" in text
    assert run.sh.status().state == "stopped" and run.sh.status().reason == "interrupted"
    assert proc_state(pid) == "t"
    (work,) = reports(out)  # inside the call, its sleep not over
    assert work["tag"] == "work"
    assert text_at(pid, work["ret"]) == listed_bytes(work["ret"])  # no breakpoint left
    run.cmd("kill")
    assert proc_state(pid) is None
