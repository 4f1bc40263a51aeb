"""Shared test fixtures: built targets, report parsing, leak checks.

Every test that starts a tracee must leave nothing behind: the autouse
``no_stopped_children`` fixture fails a test that leaves a child of the test
process alive (stopped or running).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "targets"
BUILD = TARGETS / "build"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def built_targets() -> Path:
    subprocess.run(["make", "-s", "-C", str(TARGETS)], check=True)
    return BUILD


def target(name: str) -> str:
    path = BUILD / name
    assert path.exists(), f"target {name} was not built"
    return str(path)


REPORT_RE = re.compile(r"^SIGDBG-REPORT (.*)$", re.M)


def parse_reports(text: str) -> list[dict[str, int | str]]:
    """The SIGDBG-REPORT lines a target printed from inside its handlers."""
    out = []
    for m in REPORT_RE.finditer(text):
        d: dict[str, int | str] = {}
        for kv in m.group(1).split():
            k, _, v = kv.partition("=")
            d[k] = v if k == "tag" else int(v, 0)
        out.append(d)
    return out


def ids_by_order(text: bytes) -> bytes:
    """A trace with every pid and tid spelled by order of first appearance
    (``ID0``, ``ID1``...), wherever the number stands (the storms also pass
    them to tgkill, so they are in registers too): two runs of one program
    compare byte for byte."""
    ids: dict[bytes, bytes] = {}
    for m in re.finditer(rb'"(?:pid|tid)":(\d+)|\[pid (\d+)\]', text):
        v = m.group(1) or m.group(2)
        ids.setdefault(v, b"ID%d" % len(ids))
    if not ids:
        return text
    return re.sub(rb"\b(" + b"|".join(map(re.escape, ids)) + rb")\b",
                  lambda m: ids[m.group(1)], text)


def _children() -> set[int]:
    me = os.getpid()
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        rest = stat[stat.rindex(b")") + 2:].split()
        state, ppid = rest[0], int(rest[1])
        if ppid == me and state != b"Z":
            out.add(int(d))
    return out


@pytest.fixture(autouse=True)
def no_stopped_children():
    before = _children()
    yield
    left = _children() - before
    for pid in left:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
    assert not left, f"test left processes behind: {sorted(left)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A skipped test is not a pass: scripts/bootstrap installs every tool the
    tests compare against (gcc, strace, gdb, binutils, tmux), so a skip means
    the machine is not what the suite needs -- fail it loudly."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, which this suite treats as a failure: {reason}"
