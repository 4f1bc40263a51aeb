"""The --step-sigreturn walk in the C trace loop against the Python walk.

``sigdbg trace --step-sigreturn`` follows plain walks in C with walk
templates made from the Python walk (engine/faststep.py); a walk that parts
from the plain one (a nested signal, a siglongjmp, an edited frame, an exit,
a fault) is handed back to the Python walk where it parts.  Checked here:

- whole traces with the C loop and without it (SIGDBG_NO_FASTPATH=1, no
  address randomisation) are the same bytes once the pids are named alike:
  the storms (x86-64, i386, the FP storm whose registers change every
  signal), JSON and text; and the C loop really followed the walks (the
  Python walk ran for a few of them only);
- ``sig_stepmix``, a storm whose handlers now and then edit the saved
  context, raise a nested signal, leave with siglongjmp, and end the
  program by returning, ``_exit`` or a fault inside the last handler: the
  same bytes both ways, and the trace agrees with the program's own count
  of each kind (its report).

No timing is asserted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sigdbg.backends import ptrace as backend
from tests.conftest import ROOT, parse_reports, target

#: sigdbg trace in this interpreter; reports on stderr how many deliveries
#: the C loop wrote and how many walks the Python walk made
_COUNTING_RUN = """
import sys
from sigdbg.engine import events as ev
from sigdbg.engine.session import Session
from sigdbg.cli.main import main
real = Session.events
served = [0, 0]
def events(self, **kw):
    for e in real(self, **kw):
        if isinstance(e, ev.Rendered):
            served[0] += e.count
        elif isinstance(e, (ev.ContextRestored, ev.SigreturnAbandoned)):
            served[1] += 1
        yield e
Session.events = events
rc = main(sys.argv[1:])
sys.stderr.write(f"FASTPATH-SERVED {served[0]} PYTHON-WALKS {served[1]}\\n")
sys.exit(rc)
"""


def _trace(args: list[str], fast: bool, out: Path) -> tuple[bytes, int, int, str, int]:
    setarch = shutil.which("setarch")
    assert setarch is not None, "setarch (util-linux) is needed to turn off ASLR"
    env = dict(os.environ, SIGDBG_NO_FASTPATH="0" if fast else "1",
               PYTHONPATH=str(ROOT))
    p = subprocess.run([setarch, "-R", sys.executable, "-c", _COUNTING_RUN, "trace",
                        "-o", str(out), "--step-sigreturn", *args], env=env,
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    m = re.search(r"FASTPATH-SERVED (\d+) PYTHON-WALKS (\d+)", p.stderr)
    assert m is not None, p.stderr[-2000:]
    assert "internal error" not in p.stderr, p.stderr[-2000:]
    return out.read_bytes(), int(m.group(1)), int(m.group(2)), p.stdout, p.returncode


def _named(text: bytes) -> bytes:
    """Every pid and tid of the trace spelled by order of first appearance
    (they also stand in registers: the storms pass them to tgkill)."""
    ids: dict[bytes, bytes] = {}
    for m in re.finditer(rb'"(?:pid|tid)":(\d+)|\[pid (\d+)\]', text):
        v = m.group(1) or m.group(2)
        ids.setdefault(v, b"ID%d" % len(ids))
    if not ids:
        return text
    return re.sub(rb"\b(" + b"|".join(map(re.escape, ids)) + rb")\b",
                  lambda m: ids[m.group(1)], text)


@pytest.mark.parametrize("storm,opts", [
    ("sig_storm", ["--json"]),
    ("sig_storm", []),
    ("sig_storm.i386", ["--json"]),
    ("sig_storm.i386", []),
    ("sig_storm_fp", ["--json"]),
    ("sig_storm_fp", []),
])
def test_fast_walks_are_the_python_walks(tmp_path: Path, storm: str, opts: list[str]) -> None:
    assert backend.trace_loop_available(), "the C module's trace loop is not built"
    n = 300
    got: dict[bool, bytes] = {}
    for fast in (True, False):
        text, served, walks, stdout, rc = _trace([*opts, "--", target(storm), str(n)], fast,
                                                 tmp_path / f"{fast}.out")
        assert rc == 0
        (report,) = [r for r in parse_reports(stdout) if r["tag"] == "storm"]
        assert report["count"] == n
        if fast:
            # the first deliveries make the templates (and a walk whose
            # handler's counter happens to equal another register's value
            # goes the Python way); the C loop follows the rest
            assert served >= n - 2, served
            assert walks <= n // 5, walks
        else:
            assert (served, walks) == (0, n)
        got[fast] = _named(text)
    assert got[True] == got[False]
    assert got[True].count(b"\n") >= 6 * n


@pytest.mark.parametrize("end", ["return", "exit", "fault"])
@pytest.mark.parametrize("opts", [["--json"], []], ids=["json", "text"])
def test_walks_that_part_are_handed_back(tmp_path: Path, end: str, opts: list[str]) -> None:
    n = 200
    got: dict[bool, bytes] = {}
    for fast in (True, False):
        text, served, walks, stdout, rc = _trace(
            [*opts, "--", target("sig_stepmix"), str(n), end], fast, tmp_path / f"{fast}.out")
        if fast:
            assert served > n // 2, served  # the plain ones: C
            assert walks < n, walks
        got[fast] = _named(text)
        if end == "return":
            assert rc == 0
            (report,) = [r for r in parse_reports(stdout) if r["tag"] == "stepmix"]
            assert report["count"] == n
            if opts:
                _agrees_with_report(text, report, n)
    assert got[True] == got[False]


def _agrees_with_report(text: bytes, report: dict[str, int], n: int) -> None:
    """The trace's account of each kind of handler against the program's."""
    events = [json.loads(line) for line in text.splitlines()]
    delivered = [e for e in events if e["event"] == "signal_delivered"]
    assert sum(e["siginfo"]["signal"] == "SIGUSR1" for e in delivered) == n
    assert sum(e["siginfo"]["signal"] == "SIGUSR2" for e in delivered) == report["nested"]
    edited = [e for e in events if e["event"] == "sigreturn_entered" and e["changes"]["changes"]]
    assert len(edited) == report["edited"]
    for e in edited:  # r11 only, to the program's value
        ((name, _before, after),) = e["changes"]["changes"]
        assert name == "mcontext.r11" and after >> 16 == 0x5EED, e["changes"]
        assert e["frame"]["mcontext"]["r11"] == after
    left = [e for e in events if e["event"] == "sigreturn_abandoned"
            and "without sigreturn" in e["reason"]]
    assert len(left) == report["jumped"]
    restored = [e for e in events if e["event"] == "context_restored"]
    assert len(restored) == n - report["jumped"] + report["nested"]
    assert all(e["matches"] for e in restored)
