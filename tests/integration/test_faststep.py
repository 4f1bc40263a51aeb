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

import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sigdbg.backends import ptrace as backend
from sigdbg.commands.backend import launch_session
from sigdbg.engine import faststep as fs
from tests.conftest import ROOT, ids_by_order, parse_reports, target

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
        got[fast] = ids_by_order(text)
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
        got[fast] = ids_by_order(text)
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


# -- real walks, varied -----------------------------------------------------------------------
def _json_walk_encoder() -> Any:
    from sigdbg.cli.trace_writers import json_writer

    write = json_writer(io.TextIOWrapper(io.BytesIO()))
    return write.pair, write.walk  # type: ignore[attr-defined]


@pytest.mark.parametrize("storm", ["sig_storm", "sig_storm_fp", "sig_storm.i386"])
def test_walk_templates_of_real_walks_equal_the_python_walk(monkeypatch: pytest.MonkeyPatch,
                                                           storm: str) -> None:
    """The first walk template made from a real storm, applied by the C
    module to the walk's real sources with other register values (every
    class of equal values given another random value) must give the Python
    walk's bytes for the same sources; sources whose key bytes are forged
    (the restorer's code, the breakpoint trap's siginfo, the saved signal
    mask at sigreturn, the pending signals) must not match it."""
    assert backend.trace_loop_available(), "the C module's trace loop is not built"
    monkeypatch.delenv("SIGDBG_NO_FASTPATH", raising=False)
    made: list[tuple[Any, ...]] = []
    real_make = fs.make_walk_template

    def make(*args: Any) -> Any:
        t = real_make(*args)
        if t is not None and not made:
            made.append((t, *args))
        return t

    monkeypatch.setattr(fs, "make_walk_template", make)
    devnull = os.open(os.devnull, os.O_WRONLY)
    session = launch_session([target(storm), "30"], stdout=devnull)
    pair, walk = _json_walk_encoder()
    try:
        for _ in session.events(step_sigreturn=True, encoder=pair, walk_encoder=walk):
            pass
    finally:
        session.close()
        os.close(devnull)
    assert made, "no walk template was made"
    t, _tid, _dt, plan, inputs, _entry, _now, actual, python, encode, _check, _rng = made[0]
    members = t[5]
    store = backend.TemplateStore()
    assert store.add_walk(t[0], 0, *t[2:])

    def render(inp: dict[int, bytes]) -> bytes | None:
        return store.walk_render(0, [inp[i] for i in range(fs.W0 + len(plan))])

    assert render(inputs) == actual
    rng = random.Random(0x5EED)
    checked = 0
    for _ in range(20):
        values: dict[int, bytes] = {}
        out = {k: bytearray(v) for k, v in inputs.items()}
        key_classes = _key_classes(t, inputs)
        for src, off, size, c in members:
            if c in key_classes:
                continue
            v = values.setdefault(c, rng.randbytes(size))
            out[src][off : off + size] = v
        varied = {k: bytes(v) for k, v in out.items()}
        events = python(varied)
        assert events is not None
        want = encode(events)
        got = render(varied)
        if got is None:  # (two random values alike: the classes differ)
            continue
        assert got == want
        checked += 1
    assert checked >= 18
    # forged key bytes: the template must not apply
    for i, (op, _a, size) in enumerate(plan):
        src = fs.W0 + i
        data = bytearray(inputs[src])
        if op == fs.OP_READ and size == len(data) and len(data) < 100:
            data[0] ^= 0xFF  # the restorer's first instruction
        elif op in (fs.OP_CONT, fs.OP_STEP):
            data[fs.STOP_HEAD.size + 8] ^= 0x01  # the trap's si_code
        elif op in (fs.OP_PENDING, fs.OP_SIGMASK):
            data[1] ^= 0x02  # SIGUSR2 (bit 11)
        else:
            continue
        assert render({**inputs, src: bytes(data)}) is None, (i, op)


def _key_classes(t: tuple[Any, ...], inputs: dict[int, bytes]) -> set[int]:
    """The classes holding a key field (their values are the template's)."""
    key = t[4]
    covered: set[tuple[int, int]] = set()
    for src, off, data in key:
        covered.update((src, off + j) for j in range(len(data)))
    return {c for src, off, _size, c in t[5] if (src, off) in covered}

