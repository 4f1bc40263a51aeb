"""One unwinder behind the shell's ``bt`` and ``trace -k`` (sigdbg/engine/unwind.py).

Truth: the program's own report from inside each handler (the interrupted pc
and sp the kernel saved in its ucontext, the ucontext pointer), and gdb's
``bt`` on the same program stopped at a breakpoint on the handler's first
instruction (``gdb -nx -batch``; its real frames, not the inline or tail-call
ones it rebuilds from DWARF call-site information).  Across the signal frame
gdb's ``<signal handler called>`` (a SIGTRAMP frame) must sit exactly where
ours does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sigdbg.cli.trace_extras import Stacks
from tests.conftest import parse_reports, target
from tests.integration import test_shell
from tests.integration.test_shell import Run
from tests.integration.test_trace import run_trace

#: the shell tests' fixture: a Shell without a terminal, closed after the test
run = test_shell.run

_SETARCH = ["setarch", os.uname().machine, "-R"]


def _stop_in_inner(run: Run, log: Path) -> None:
    """sig_nested stopped on the first instruction of the SIGUSR2 handler,
    which interrupted the SIGUSR1 handler."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        run.sh.tracee_stdio = {"stdout": fd}
        run.cmd(f"file {target('sig_nested')}")
        run.cmd("start")
    finally:
        os.close(fd)
    assert "breakpoint 1 at" in run.cmd("break inner")
    run.cmd("handle SIGUSR1 SIGUSR2 nostop")
    text = run.cmd("continue")
    assert "entered for SIGUSR2" in text, text
    assert run.sh.status().reason == "breakpoint 1", text


def _without_row_keys(f: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in f.items() if k not in ("level", "kind")}


def test_trace_k_and_shell_bt_give_the_same_frames_at_the_same_stop(run: Run,
                                                                   tmp_path: Path) -> None:
    """At the inner handler's entry the shell's ``bt`` is the handler, the
    ``<signal handler called>`` frame, then exactly the stack ``-k`` gives for
    that delivery (the interrupted context), which crosses the outer frame."""
    log = tmp_path / "out"
    _stop_in_inner(run, log)
    entered = run.sh.handler
    assert entered is not None and entered.frame.sig == signal.SIGUSR2
    bt = json.loads(run.cmd("bt --json"))
    text = run.cmd("bt")
    stack = [f.to_json() for f in Stacks(run.sh.session).of(entered) or ()]
    assert "exited with 0" in run.cmd("continue")
    outer, inner = (parse_reports(log.read_text())[i] for i in (0, 1))
    assert (outer["tag"], inner["tag"]) == ("outer", "inner")

    assert bt[0]["pc"] == entered.handler and bt[0]["symbol"] == "inner"
    assert bt[1]["kind"] == "sigframe" and bt[1]["how"] == "sigframe"
    assert (bt[1]["pc"], bt[1]["sigframe"], bt[1]["signal"]) == (
        entered.frame.pretcode, entered.frame.address, signal.SIGUSR2)
    assert [_without_row_keys(f) for f in bt[2:]] == stack
    # -k's stack: from the inner interrupted pc/sp (the program's own ucontext),
    # through outer and the outer frame (at outer's ucp - 8) to its interrupted
    # pc/sp, down to _start
    assert (stack[0]["pc"], stack[0]["sp"], stack[0]["how"]) == (inner["pc"], inner["sp"],
                                                                  "context")
    marks = [i for i, f in enumerate(stack) if f["how"] == "sigframe"]
    assert len(marks) == 1, stack
    i = marks[0]
    assert stack[i - 1]["symbol"].startswith("outer+")
    assert stack[i]["sigframe"] == outer["ucp"] - 8 and stack[i]["sp"] == outer["ucp"]
    assert stack[i]["signal"] == signal.SIGUSR1
    assert (stack[i + 1]["pc"], stack[i + 1]["sp"], stack[i + 1]["how"]) == (
        outer["pc"], outer["sp"], "context")
    assert stack[-1]["symbol"].startswith("_start")
    # the text: gdb's shape, one line per frame, each signal frame named
    lines = text.splitlines()
    assert len(lines) == len(bt)
    assert "<signal handler called> (SIGUSR2)" in lines[1]
    assert "<signal handler called> (SIGUSR1)" in lines[2 + i]


def test_trace_k_cli_and_shell_bt_agree_across_runs(run: Run, tmp_path: Path) -> None:
    """The ``sigdbg trace -k`` command and the shell, each running the program:
    the same frames, compared where ASLR cannot move them (file and offset,
    symbol, how each was found, the signal of each signal frame)."""
    _stop_in_inner(run, tmp_path / "out")
    bt = json.loads(run.cmd("bt --json"))
    run.cmd("kill")
    t = run_trace([target("sig_nested")], "-k", tmp=tmp_path)
    assert t.rc == 0
    entered = [e for e in t.of("handler_entered") if e["frame"]["sig"] == signal.SIGUSR2]
    assert len(entered) == 1

    def key(f: dict[str, Any]) -> tuple[Any, ...]:
        return (f["mapping"], f["offset"], f["symbol"], f["how"], f["signal"])

    assert [key(f) for f in entered[0]["stack"]] == [key(f) for f in bt[2:]]
    assert any(f["how"] == "sigframe" for f in bt[2:])


#: gdb's view of the stack at the current stop, one [pc, is-signal-frame] per
#: frame; inline and tail-call frames are rebuilt from libc's DWARF, not on the stack
_GDB_WALK = r"""
import gdb, json
gdb.execute("set pagination off")
gdb.execute("set backtrace past-main on")
gdb.execute("set backtrace past-entry on")

def sigdbg_walk():
    f = gdb.newest_frame()
    frames = []
    while f is not None:
        if f.type() not in (gdb.INLINE_FRAME, gdb.TAILCALL_FRAME):
            frames.append([f.pc(), f.type() == gdb.SIGTRAMP_FRAME])
        f = f.older()
    print("SIGDBG-GDB " + json.dumps(frames))
"""

_GDB = _GDB_WALK + r"""
gdb.execute("handle SIGUSR1 SIGUSR2 nostop noprint pass")
gdb.execute("break *" + BREAK)
gdb.execute("run")
sigdbg_walk()
gdb.execute("kill")
"""


@pytest.mark.parametrize("prog, args, handler, sig", [
    ("sig_nested", [], "inner", signal.SIGUSR2),
    ("sig_basic", ["raise"], "handler", signal.SIGUSR1),
    ("sig_basic.i386", ["rt"], "h_rt", signal.SIGUSR1),
    ("sig_basic.i386", ["nonrt"], "h_nonrt", signal.SIGUSR1),
], ids=["x86_64-nested", "x86_64", "i386-rt", "i386-nonrt"])
def test_trace_k_agrees_with_gdb_bt_in_the_handler(tmp_path: Path, prog: str, args: list[str],
                                                  handler: str, sig: int) -> None:
    """gdb stopped at a breakpoint on the handler's first instruction: its
    ``bt`` is the handler, ``<signal handler called>``, then the interrupted
    context -- which is what ``-k`` gives at that handler's entry, frame for
    frame (with ASLR off in both, so the pcs are the same), signal frames
    included."""
    script = tmp_path / "bt.py"
    script.write_text(f"BREAK = {handler!r}\n" + _GDB)
    g = subprocess.run(["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                        "-x", str(script), "--args", target(prog), *args],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    m = re.search(r"^SIGDBG-GDB (.*)$", g.stdout, re.M)
    assert m, g.stdout + g.stderr
    want = [(pc, bool(tramp)) for pc, tramp in json.loads(m.group(1))]
    assert want[1][1] and not want[0][1], want  # the handler, then the signal frame

    t = run_trace([target(prog), *args], "-k", tmp=tmp_path, prefix=_SETARCH)
    assert t.rc == 0
    (e,) = [e for e in t.of("handler_entered") if e["frame"]["sig"] == sig]
    got = [(e["handler"], False), (e["frame"]["pretcode"], True)]
    got += [(f["pc"], f["how"] == "sigframe") for f in e["stack"]]
    assert got == want, "\n".join(f"{g_!s:40} {w!s}" for g_, w in
                                  __import__("itertools").zip_longest(got, want))
    assert all(f["signal"] is not None for f in e["stack"] if f["how"] == "sigframe")


_GDB_CORE = _GDB_WALK + "sigdbg_walk()\n"


@pytest.mark.parametrize("prog, scenario", [
    ("core_crash", "nested"), ("core_crash", "altstack"), ("core_crash.i386", "nested"),
], ids=["x86_64-nested", "x86_64-altstack", "i386-nested"])
def test_shell_bt_of_a_kernel_core_is_gdbs(tmp_path: Path, prog: str, scenario: str) -> None:
    """``core FILE`` then ``bt``: the crashing thread's stack from NT_PRSTATUS,
    through each signal frame still on it (from the alternate stack back to
    the main one), frame for frame as gdb's ``bt`` on the same core; each
    signal frame is one the core walker found, with the signal its handler
    reported."""
    from tests.coredump import kernel_core

    path, stdout = kernel_core([target(prog), scenario], tmp_path / "run")
    script = tmp_path / "bt.py"
    script.write_text(_GDB_CORE)
    g = subprocess.run(["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                        "-x", str(script), target(prog), str(path)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    m = re.search(r"^SIGDBG-GDB (.*)$", g.stdout, re.M)
    assert m, g.stdout + g.stderr
    want = [(pc, bool(tramp)) for pc, tramp in json.loads(m.group(1))]

    run = Run()
    try:
        assert "error" not in run.cmd(f"core {path}")
        frames = json.loads(run.cmd("bt --json"))
        text = run.cmd("bt")
        found = run.sh.core.signal_frames() if run.sh.core is not None else ()
    finally:
        run.sh.close()
    got = [(f["pc"], f["kind"] == "sigframe") for f in frames]
    assert got == want, "\n".join(f"{g_!s:40} {w!s}" for g_, w in
                                  __import__("itertools").zip_longest(got, want))
    marks = [f for f in frames if f["kind"] == "sigframe"]
    assert len(marks) >= 1
    assert [(f["sigframe"], f["signal"]) for f in marks] == [(x.address, x.sig) for x in found]
    reported = {int(r["sig"]) for r in parse_reports(stdout) if "sig" in r}
    assert {f["signal"] for f in marks} <= reported
    assert text.count("<signal handler called>") == len(marks)
