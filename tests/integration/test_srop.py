"""`sigdbg trace --srop`: forged sigreturns flagged on real processes.

Truth comes from outside sigdbg: the program run untraced (its output and
exit status: a frame the kernel rejects ends in SIGSEGV, one it accepts in
landed()'s marker and status 0), the symbol table of the target (`nm`: where
the forged frame lies and where it resumes), and the handlers' own reports
(where the honest frames were).  Both interception paths run: the seccomp
filter (a launched program with -f) and PTRACE_SYSCALL (without -f, and
attached with -p).
"""

from __future__ import annotations

import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, parse_reports, target
from tests.integration.test_trace import HANG, Trace, read_trace, run_trace

#: scenario -> (reason codes that must be there, the kernel refuses it)
X86_64 = {
    "forge": ({"forged", "fpstate", "uc_flags"}, False),
    "fpcopy": ({"forged", "fpstate"}, False),
    "nomagic2": ({"forged", "xsave"}, False),
    "badxbv": ({"forged", "xsave"}, True),
    "xreserved": ({"forged", "xsave"}, True),
    "xreserved2": ({"forged", "xsave"}, False),
    "badmxcsr": ({"forged", "mxcsr"}, True),
    "misalign": ({"forged", "fpstate"}, True),
    "badcs": ({"forged", "cs"}, True),
    "noncanon": ({"forged", "rip"}, True),
}
I386 = {
    "rt": ({"forged", "fpstate"}, False),
    "nonrt": ({"forged", "fpstate"}, False),
    "badcs": ({"forged", "cs"}, True),
    "fpcopy": ({"forged", "fpstate"}, False),
    "badxbv": ({"forged", "xsave"}, True),
    # all 48 reserved bytes are checked on the ia32 path (x86_64: byte 40 is not)
    "xreserved2": ({"forged", "xsave"}, True),
}
CASES = [("srop_self", s) for s in X86_64] + [("srop_self.i386", s) for s in I386]
#: the -f run gets the seccomp filter, the other PTRACE_SYSCALL
MODES = {"seccomp": ("-f",), "ptrace-syscall": ()}
HONEST = ["sig_nested", "sig_altstack", "sig_restorer", "sig_leave", "sig_sigreturn",
          "sig_basic", "sig_sigreturn.i386", "sig_basic.i386", "sig_mixed"]


@cache
def symbols(name: str) -> dict[str, int]:
    out = subprocess.run(["nm", target(name)], check=True, capture_output=True, text=True)
    return {p[2]: int(p[0], 16) for p in (line.split() for line in out.stdout.splitlines())
            if len(p) == 3}


def untraced(argv: list[str]) -> tuple[int, str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=HANG,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout


def markers(stdout: str) -> list[str]:
    """The program's own output without run-dependent addresses."""
    return [line for line in stdout.splitlines() if line.startswith("SROP-")] + \
        [str(r["tag"]) for r in parse_reports(stdout)]


def verdicts(t: Trace) -> list[dict[str, Any]]:
    return [e["verdict"] for e in t.of("sigreturn_checked")]


def alerts(t: Trace) -> list[dict[str, Any]]:
    return [v for v in verdicts(t) if v["alert"]]


def check_honest_sigreturn(t: Trace, name: str) -> None:
    """The one honest delivery before the forgery: judged ok, at the frame the
    handler's report places it (ucp - 8 on x86_64, ucp - 144 for ia32 rt)."""
    ok = [v for v in verdicts(t) if not v["alert"]]
    assert len(ok) == 1, verdicts(t)
    ucp = int(t.report("honest")["ucp"])
    assert ok[0]["frame"] == ucp - (8 if name == "srop_self" else 144)
    assert ok[0]["built_by_delivery"] and ok[0]["reasons"] == []


def test_a_child_forked_in_a_handler_returns_through_its_parents_frame(
        tmp_path: Path) -> None:
    """fork() inside the handler: the child's memory is a copy, so its
    sigreturn through the frame built before the fork is honest."""
    argv = [target("srop_self"), "fork"]
    rc0, out0 = untraced(argv)
    assert rc0 == 0 and "SROP-FORKED status=7" in out0
    t = run_trace(argv, "--srop", "-f", tmp=tmp_path)
    assert t.rc == 0 and "SROP-FORKED status=7" in t.stdout
    checked = t.of("sigreturn_checked")
    assert len({e["pid"] for e in checked}) == 2, checked  # parent and child
    assert len({e["verdict"]["frame"] for e in checked}) == 1
    assert all(e["verdict"]["built_by_delivery"] and not e["verdict"]["alert"]
               for e in checked)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "scenario"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_forged_frame_is_flagged(name: str, scenario: str, mode: str, tmp_path: Path) -> None:
    argv = [target(name), scenario]
    rc0, out0 = untraced(argv)
    codes, fatal = (X86_64 if name == "srop_self" else I386)[scenario]
    assert (rc0 == -11) == fatal and (rc0 == 0) == (not fatal), (rc0, out0)
    t = run_trace(argv, "--srop", *MODES[mode], tmp=tmp_path)
    # tracing changes nothing the program does
    assert markers(t.stdout) == markers(out0)
    assert t.rc == (139 if fatal else 0)
    check_honest_sigreturn(t, name)
    (alert,) = alerts(t)
    assert not alert["built_by_delivery"]
    assert {r["code"] for r in alert["reasons"]} >= codes, alert
    assert alert["fatal"] == fatal, alert
    assert [r["code"] for r in alert["reasons"] if r["fatal"]] or not fatal
    # where the frame is and where it resumes, from the symbol table
    sym = symbols(name)
    if name == "srop_self.i386":  # static, not PIE: absolute addresses
        assert alert["frame"] == sym["fake"]
        assert alert["rip"] == sym["landed"]
        assert alert["kind"] == ("sigframe_ia32" if scenario == "nonrt" else "rt_sigframe_ia32")
        assert alert["syscall"] == ("sigreturn" if scenario == "nonrt" else "rt_sigreturn")
    else:  # PIE: the distance between the two is the link-time one
        assert alert["frame"] == (alert["rip"] if scenario != "noncanon" else 0) \
            + sym["fake"] - (sym["landed"] if scenario != "noncanon" else 0) \
            or scenario == "noncanon"
        if scenario == "noncanon":
            assert alert["rip"] == 0x8000000000000000
        assert alert["kind"] == "rt_sigframe" and alert["syscall"] == "rt_sigreturn"
    # reported before the kernel acted: before the exit, or the SIGSEGV it caused
    names = [e["event"] for e in t.events]
    i = next(k for k, e in enumerate(t.events)
             if e["event"] == "sigreturn_checked" and e["verdict"]["alert"])
    end = names.index("signal_delivered", i) if fatal else names.index("exited")
    assert i < end


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", HONEST)
def test_honest_programs_give_no_alert(name: str, mode: str, tmp_path: Path) -> None:
    rc0, out0 = untraced([target(name)])
    t = run_trace([target(name)], "--srop", *MODES[mode], tmp=tmp_path)
    assert t.rc == (rc0 if rc0 >= 0 else 128 - rc0)
    assert [str(r["tag"]) for r in t.reports] == [str(r["tag"]) for r in parse_reports(out0)]
    assert alerts(t) == []
    assert all(v["built_by_delivery"] for v in verdicts(t))
    # each frame is returned from at most once
    frames = [v["frame"] for v in verdicts(t)]
    assert len(frames) <= len(t.of("handler_entered"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["sig_nested", "sig_sigreturn", "sig_sigreturn.i386"])
def test_step_sigreturn_still_works(name: str, mode: str, tmp_path: Path) -> None:
    """--step-sigreturn walks through the restorer; a seccomp stop arrives where
    it steps the system call, and the restored registers still match."""
    plain = run_trace([target(name)], "--step-sigreturn", tmp=tmp_path)
    t = run_trace([target(name)], "--step-sigreturn", "--srop", *MODES[mode], tmp=tmp_path)
    restored = t.of("context_restored")
    assert len(restored) == len(plain.of("context_restored")) > 0
    assert all(e["matches"] for e in restored)
    assert alerts(t) == []
    assert len(verdicts(t)) >= len(restored)
    assert t.rc == plain.rc


def attach_run(name: str, wait: str, scenario: str, tmp_path: Path) -> tuple[Trace, int, str]:
    """The target blocks (``wait``) until sigdbg trace --srop -p has attached."""
    out = tmp_path / "t.jsonl"
    prog = subprocess.Popen([target(name), wait, scenario], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert prog.stdin is not None and prog.stdout is not None
    try:
        ready = prog.stdout.readline()
        while ready.startswith("SROP-START"):  # (--wait-handler: READY comes after it)
            ready = prog.stdout.readline()
        assert ready.startswith("SROP-READY pid="), ready
        tr = subprocess.Popen([sys.executable, "-m", "sigdbg", "trace", "--json", "-o", str(out),
                               "--srop", "-q", "-p", str(prog.pid)], cwd=ROOT,
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + HANG
            while "TracerPid:\t0" in Path(f"/proc/{prog.pid}/status").read_text():
                assert time.monotonic() < deadline, "sigdbg did not attach"
                time.sleep(0.02)
            time.sleep(0.2)  # the attach completes with the interrupt stop
            prog.stdin.write("x")
            prog.stdin.flush()
            rest = prog.stdout.read()
            rc = prog.wait(timeout=HANG)
            _, err = tr.communicate(timeout=HANG)
        finally:
            if tr.poll() is None:
                tr.kill()
                tr.wait()
    finally:
        if prog.poll() is None:
            prog.kill()
            prog.wait()
    assert b"Traceback" not in err, err
    return Trace(tr.returncode, read_trace(out), rest, "", parse_reports(rest)), rc, rest


@pytest.mark.parametrize("name,scenario", [("srop_self", "forge"), ("srop_self.i386", "rt")])
def test_attached_with_ptrace_syscall(name: str, scenario: str, tmp_path: Path) -> None:
    """-p: no filter can be installed in a running process; PTRACE_SYSCALL."""
    t, rc, rest = attach_run(name, "--wait", scenario, tmp_path)
    assert rc == 0 and f"SROP-LANDED {scenario}" in rest
    check_honest_sigreturn(t, name)
    (alert,) = alerts(t)
    assert not alert["built_by_delivery"] and alert["reasons"][0]["code"] == "forged"
    assert not alert["fatal"]


def test_text_alert_and_verbose_verdicts(tmp_path: Path) -> None:
    argv = [target("srop_self"), "badcs"]
    p = subprocess.run([sys.executable, "-m", "sigdbg", "trace", "--srop", "--", *argv],
                       cwd=ROOT, capture_output=True, text=True, timeout=HANG)
    assert p.returncode == 139
    lines = p.stdout.splitlines()
    head = [x for x in lines if "!!! SROP: forged rt_sigreturn" in x]
    assert len(head) == 1 and "the kernel will refuse it or fault (SIGSEGV)" in head[0]
    assert any(x.startswith("    [fatal] cs 0x2b is not a user code segment") for x in lines)
    assert not any(": ok, built by a delivery" in x for x in lines)
    v = subprocess.run([sys.executable, "-m", "sigdbg", "trace", "-v", "--srop", "--", *argv],
                       cwd=ROOT, capture_output=True, text=True, timeout=HANG)
    assert sum(": ok, built by a delivery" in x for x in v.stdout.splitlines()) == 1


def test_shell_catch_sigreturn_stops_with_the_verdict() -> None:
    """The shell: `catch sigreturn` stops at each sigreturn, before it runs,
    and shows the verdict (the honest one, then the forged one)."""
    import io

    from sigdbg.shell.core import Shell

    out = io.StringIO()
    sh = Shell(out)  # type: ignore[arg-type]
    try:
        # stops: exec, the SIGUSR1 handler, its sigreturn, the forged one, the exit
        for line in (f"file {target('srop_self.i386')}", "catch sigreturn", "run rt",
                     "continue", "continue", "continue", "continue"):
            sh.execute(line)
    finally:
        sh.close()
    text = out.getvalue()
    ok = [x for x in text.splitlines() if "rt_sigreturn: frame" in x and ": ok, built by" in x]
    assert len(ok) == 1, text
    forged = [x for x in text.splitlines() if "!!! SROP: forged rt_sigreturn" in x]
    assert len(forged) == 1, text
    assert f"frame {symbols('srop_self.i386')['fake']:#x}" in forged[0]
    assert "exited with 0" in text.split("!!! SROP")[1], text


def test_attached_inside_a_handler_its_frame_is_unverified(tmp_path: Path) -> None:
    """Attached while the handler runs: its frame was built before sigdbg came,
    above the stack pointer at the attach.  Its sigreturn is reported as
    unverified, not as an alert; the forged one still is."""
    t, rc, rest = attach_run("srop_self", "--wait-handler", "forge", tmp_path)
    assert rc == 0 and "SROP-LANDED forge" in rest
    first, second = verdicts(t)
    ucp = int(t.report("honest")["ucp"])
    assert first["frame"] == ucp - 8 and not first["alert"] and not first["built_by_delivery"]
    assert [r["code"] for r in first["reasons"]] == ["unverified"]
    assert second["alert"] and second["reasons"][0]["code"] == "forged"


def test_golden_i386_rt(tmp_path: Path) -> None:
    """The whole JSON trace of the i386 forgery, normalised as test_trace.py
    does (plus the verdict's addresses and the thread named in a reason)."""
    import re

    from tests.integration.test_trace import check_golden

    t = run_trace([target("srop_self.i386"), "rt"], "--srop", tmp=tmp_path)
    events = []
    for e in t.events:
        if e["event"] == "sigreturn_checked":
            v = dict(e["verdict"], frame="ADDR", rip="ADDR", sp="ADDR")
            v["reasons"] = [dict(r, text=re.sub(r"thread \d+", "thread TID", r["text"]))
                            for r in v["reasons"]]
            e = dict(e, verdict=v)
        events.append(e)
    check_golden("srop_self_i386_rt", events)
