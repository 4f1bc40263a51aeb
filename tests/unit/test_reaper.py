"""The shell's :class:`~sigdbg.shell.reaper.Reaper` on real children: it
reaps a let-go program when it exits and keeps its wait status, so a caller
that asks after the reaper's thread took the zombie still learns how it
ended (the ARM shell test asks for a detached program's exit status)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sigdbg.shell.reaper import Reaper


def _wait_status(reaper: Reaper, pid: int) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = reaper.exit_status(pid)
        if status is not None:
            return status
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} was not reaped")


def test_reaped_programs_keep_their_exit_status() -> None:
    reaper = Reaper()
    try:
        procs = [subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
                 for code in (0, 3, 77)]
        for p in procs:
            reaper.adopt(p.pid)
        for p, code in zip(procs, (0, 3, 77)):
            status = _wait_status(reaper, p.pid)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == code
            # gone for real: nobody else can wait for it any more
            assert not os.path.exists(f"/proc/{p.pid}")
            p.returncode = code  # (reaped by the reaper, not by Popen)
            reaper.forget(p.pid)  # after the fact: the status stays
            assert reaper.exit_status(p.pid) == status
    finally:
        reaper.close()


def test_a_killed_program_and_an_unknown_pid() -> None:
    reaper = Reaper()
    try:
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        reaper.adopt(p.pid)
        assert reaper.exit_status(p.pid) is None  # still running
        os.kill(p.pid, 9)
        status = _wait_status(reaper, p.pid)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
        p.returncode = -9
        assert reaper.exit_status(os.getpid()) is None  # never adopted
    finally:
        reaper.close()
