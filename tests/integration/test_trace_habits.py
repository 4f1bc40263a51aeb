"""strace habits in `sigdbg trace`, each checked against an independent truth.

- the compact default line against strace's ``--- SIG {...} ---`` line for
  the same program, and its handler against the handler's own report;
- ``-c`` counts against strace's delivery lines and the target's own count;
- ``-t``/``-tt``/``-ttt``/``-r`` against the wall clock read around the run
  (monotonic, inside the run's window; no tight timing);
- ``-k`` against the return addresses the target recorded itself
  (``__builtin_return_address``) and against gdb's ``bt`` at the same stop;
- ``-e signal=!SET`` / ``none`` against the program's reports (the other
  signals still reach it);
- ``-p`` attach/detach lines, ``-q``; global options after the command;
  conflicting options;
- the alternate-stack headroom against the target's altstack base, size,
  handler ``uc`` pointer and ``getauxval(AT_MINSIGSTKSZ)``;
- the live status line through a real pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sigdbg.names import signal_number
from sigdbg.names.signals import glibc_signal_name, glibc_signal_number
from tests.conftest import ROOT, parse_reports, target
from tests.integration.test_trace import HANG, run_trace, strace_signals

SIGUSR1 = int(signal.SIGUSR1)
_COMPACT = re.compile(r"^\[pid (\d+)(?: tid \d+)?\] --- (\S+) \{(.*)\} --- (.*)$", re.M)


def sigdbg(*args: str, timeout: float = HANG, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigdbg", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def text_trace(tmp: Path, *opts: str,
               argv: list[str]) -> tuple[str, subprocess.CompletedProcess[str]]:
    out = tmp / f"trace-{time.monotonic_ns()}.txt"
    p = sigdbg("trace", *opts, "-o", str(out), "--", *argv)
    assert "Traceback" not in p.stderr, p.stderr
    return out.read_text(), p


def fields_of(text: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in text.split(", "))


# -- the compact line ------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_compact_lines_agree_with_strace_and_the_handlers_reports(tmp_path: Path) -> None:
    argv = [target("sig_basic")]
    theirs, src = strace_signals(argv, [])
    text, p = text_trace(tmp_path, argv=argv)
    assert p.returncode == src == 0
    ours = [m.groups() for m in _COMPACT.finditer(text)]
    assert len(ours) == len(theirs) > 5
    reports = parse_reports(p.stdout)
    handled = [r for r in reports if "handler" in r]
    n_handled = 0
    for (pid, name, body, rest), st in zip(ours, theirs, strict=True):
        f = fields_of(body)
        # the same signal: ours in glibc numbering, strace's in its own
        assert glibc_signal_number(name) == signal_number(st["si_signo"])
        assert f["si_signo"] == name
        assert f["si_code"] == st["si_code"]
        for key in ("si_uid", "si_status", "si_overrun"):
            if key in st:
                assert f[key] == st[key]
        if "si_ptr" in st:
            assert int(f["si_value"], 0) == (0 if st["si_ptr"] == "NULL" else int(st["si_ptr"], 0))
        if "si_timerid" in st:
            assert f["si_tid"] == st["si_timerid"]
        if "si_pid" in st and name != "SIGCHLD":  # the program signals itself
            assert int(f["si_pid"]) == int(pid)
        if rest.startswith("handler "):
            # the handler the program reported from inside it, the restorer in short
            r = handled[n_handled] if "(no SA_SIGINFO)" not in rest else None
            if r is not None:
                n_handled += 1
                assert int(rest.split()[1], 16) == r["handler"]
                assert r["sig"] == glibc_signal_number(name)
            assert " restorer __restore_rt (libc)" in rest
        else:
            assert rest in ("ignored", "fatal", "passed"), rest
    assert n_handled == len(handled)
    # one line per delivery, not the ~30 of the full frame
    assert len(text.splitlines()) == len(ours) + 2  # + exec and exited
    # signal 35 is glibc's SIGRTMIN+1 (strace 6.1 calls it SIGRT_3)
    rt = [o for o in ours if fields_of(o[2])["si_code"] == "SI_QUEUE"]
    assert [o[1] for o in rt] == ["SIGRTMIN+1"]
    assert [r["sig"] for r in reports if r["tag"] == "sigqueue"] == [35]


def test_verbose_shows_the_whole_frame(tmp_path: Path) -> None:
    argv = [target("sig_basic"), "raise"]
    compact, _ = text_trace(tmp_path, argv=argv)
    full, _ = text_trace(tmp_path, "-v", argv=argv)
    assert len(compact.splitlines()) == 3
    assert len(full.splitlines()) > 20
    assert "mcontext (the interrupted registers):" in full and "mcontext" not in compact


def test_glibc_realtime_names_match_pythons_glibc() -> None:
    # Python's signal.SIGRTMIN/SIGRTMAX are glibc's (libc's SIGRTMIN macro)
    assert glibc_signal_name(int(signal.SIGRTMIN)) == "SIGRTMIN"
    assert glibc_signal_name(int(signal.SIGRTMAX)) == "SIGRTMAX"
    assert glibc_signal_name(int(signal.SIGRTMIN) + 1) == "SIGRTMIN+1"
    for n in range(1, 65):
        assert glibc_signal_number(glibc_signal_name(n)) == n
    assert glibc_signal_name(32) == "SIG32" and glibc_signal_name(33) == "SIG33"
    assert glibc_signal_number("RTMAX-1") == int(signal.SIGRTMAX) - 1
    for bad in ("SIGRTMIN+31", "SIGRTMAX-31"):
        with pytest.raises(ValueError):
            glibc_signal_number(bad)


def test_rtmin_filter_uses_glibc_numbering(tmp_path: Path) -> None:
    t = run_trace([target("sig_basic")], "-e", "signal=SIGRTMIN+1", tmp=tmp_path)
    assert t.rc == 0
    assert [e["siginfo"]["si_signo"] for e in t.of("signal_delivered")] == [35]
    assert t.report("sigqueue")["sig"] == 35


# -- -c -------------------------------------------------------------------------------------

_ROW = re.compile(r"^(SIG\S+)\s+(\d+)\s+(.*)$")


def summary_rows(text: str) -> dict[str, tuple[int, str]]:
    rows = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            rows[m.group(1)] = (int(m.group(2)), m.group(3))
    return rows


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_summary_counts_agree_with_strace(tmp_path: Path) -> None:
    argv = [target("sig_basic")]
    theirs, _ = strace_signals(argv, [])
    want: dict[int, int] = {}
    for st in theirs:
        n = signal_number(st["si_signo"])
        want[n] = want.get(n, 0) + 1
    text, p = text_trace(tmp_path, "-c", argv=argv)
    assert p.returncode == 0
    rows = summary_rows(text)
    assert {glibc_signal_number(k): v[0] for k, v in rows.items()} == want
    total = re.search(r"^total\s+(\d+)$", text, re.M)
    assert total and int(total.group(1)) == len(theirs)
    # the handler column names the handler the program reported, symbolized
    handler = next(r["handler"] for r in parse_reports(p.stdout) if r["tag"] == "raise")
    assert f"{handler:#x} <handler>" in rows["SIGUSR1"][1]
    assert "SI_USER x1, SI_TKILL x1" in rows["SIGUSR2"][1]
    assert "handler x1, ignored x1" in rows["SIGUSR2"][1]
    assert "__restore_rt (libc)" in rows["SIGALRM"][1]
    assert "--- SIG" not in text  # only the table


def test_summary_count_is_the_targets_own(tmp_path: Path) -> None:
    text, p = text_trace(tmp_path, "-c", argv=[target("sig_storm"), "300"])
    reported = next(r["count"] for r in parse_reports(p.stdout) if r["tag"] == "storm")
    assert reported == 300
    assert summary_rows(text)["SIGUSR1"][0] == reported


# -- timestamps ------------------------------------------------------------------------------

def test_text_timestamps_are_monotonic_and_on_the_wall_clock(tmp_path: Path) -> None:
    before = time.time()
    text, p = text_trace(tmp_path, "-tt", argv=[target("sig_storm"), "20"])
    after = time.time()
    assert p.returncode == 0
    stamps = re.findall(r"^(\d\d):(\d\d):(\d\d)\.(\d{6}) \[pid", text, re.M)
    assert len(stamps) == len(text.splitlines()) == 22
    lo = time.localtime(before)
    day = time.mktime((lo.tm_year, lo.tm_mon, lo.tm_mday, 0, 0, 0, 0, 0, -1))
    secs = [day + int(h) * 3600 + int(m) * 60 + int(s) + int(us) / 1e6 for h, m, s, us in stamps]
    if secs[-1] < secs[0]:  # the run crossed midnight
        secs = [x + 86400 if x < secs[0] else x for x in secs]
    assert secs == sorted(secs)
    assert before - 1 <= secs[0] and secs[-1] <= after + 1
    one, _ = text_trace(tmp_path, "-t", argv=[target("sig_basic"), "raise"])
    assert all(re.match(r"\d\d:\d\d:\d\d \[pid", ln) for ln in one.splitlines()), one
    epoch, _ = text_trace(tmp_path, "-ttt", argv=[target("sig_basic"), "raise"])
    assert all(before <= float(ln.split()[0]) <= time.time() + 1
               for ln in epoch.splitlines()), epoch


def test_json_timestamps(tmp_path: Path) -> None:
    before = time.time()
    t = run_trace([target("sig_storm"), "20"], "-ttt", tmp=tmp_path)
    after = time.time()
    times = [e["time"] for e in t.events]
    assert len(times) == len(t.events) and times == sorted(times)
    assert before <= times[0] and times[-1] <= after
    assert all("relative" not in e for e in t.events)
    before = time.time()
    r = run_trace([target("sig_storm"), "20"], "-r", tmp=tmp_path)
    elapsed = time.time() - before
    rel = [e["relative"] for e in r.events]
    assert rel[0] == 0 and all(x >= 0 for x in rel) and sum(rel) <= elapsed
    plain = run_trace([target("sig_storm"), "5"], tmp=tmp_path)
    assert all("time" not in e and "relative" not in e and "stack" not in e
               for e in plain.events)


# -- -k ---------------------------------------------------------------------------------------

def _check_stack(stack: list[dict[str, Any]], report: dict[str, Any], pc: int) -> None:
    pcs = [f["pc"] for f in stack]
    assert pcs[0] == pc and stack[0]["how"] == "context"
    # the return addresses the program recorded, in order, as consecutive callers
    i = pcs.index(report["ret3"])
    assert pcs[i:i + 3] == [report["ret3"], report["ret2"], report["ret1"]]
    assert stack[i - 1]["symbol"].startswith("level3+")
    assert [f["symbol"].split("+")[0] for f in stack[i:i + 3]] == ["level2", "level1", "main"]
    assert stack[i - 2]["symbol"].startswith("raise")  # through libc: .eh_frame
    assert stack[-1]["symbol"].startswith("_start")
    assert all(f["how"] in ("context", "cfi") for f in stack)  # no frame pointers here


def test_stack_of_the_interrupted_context(tmp_path: Path) -> None:
    t = run_trace([target("sig_stack"), "3"], "-k", tmp=tmp_path)
    assert t.rc == 0 and t.report("count")["count"] == 3
    report = t.report("stack")
    entered = t.of("handler_entered")
    assert len(entered) == 3
    for e in entered:
        _check_stack(e["stack"], report, e["frame"]["mcontext"]["rip"])
    assert all("stack" not in e for e in t.of("signal_delivered"))
    # --no-frame: from the registers at the delivery stop, on the delivery itself
    nf = run_trace([target("sig_stack")], "-k", "--no-frame", tmp=tmp_path)
    (d,) = nf.of("signal_delivered")
    _check_stack(d["stack"], nf.report("stack"), d["pc"])
    # text: strace -k's lines under the delivery
    text, _ = text_trace(tmp_path, "-k", argv=[target("sig_stack")])
    assert re.search(r"^ > \S+/sig_stack\(level3\+0x[0-9a-f]+\) \[0x[0-9a-f]+\]$", text, re.M)


def test_stack_crosses_the_outer_signal_frame(tmp_path: Path) -> None:
    """A handler interrupted by another signal: the inner delivery's stack
    runs into the outer handler, through the outer frame the kernel built
    (at the outer handler's ucp - 8), and on from the outer interrupted
    context -- the pc/sp the outer handler reported from its ucontext."""
    t = run_trace([target("sig_nested")], "-k", tmp=tmp_path)
    assert t.rc == 0
    outer, inner = t.report("outer"), t.report("inner")
    e = t.of("handler_entered")[1]
    stack = e["stack"]
    assert stack[0]["pc"] == inner["pc"]
    i = next(n for n, f in enumerate(stack) if f["how"] == "sigframe")
    assert stack[i - 1]["symbol"].startswith("outer+")  # the outer handler raised it
    assert stack[i]["sp"] == outer["ucp"]  # the outer frame + 8: its pretcode was popped
    assert stack[i]["pc"] == t.of("handler_entered")[0]["frame"]["pretcode"]
    assert (stack[i + 1]["pc"], stack[i + 1]["sp"]) == (outer["pc"], outer["sp"])
    assert stack[-1]["symbol"].startswith("_start")


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_stack_agrees_with_gdb_bt(tmp_path: Path) -> None:
    """gdb stops at the SIGUSR1 delivery (before the handler): its ``bt`` is
    of the same interrupted context.  Both run without ASLR, so the pcs
    agree.  gdb may add frames that are not on the stack (tail calls it
    rebuilds from DWARF call-site information, e.g. pthread_kill's jump to
    __pthread_kill_implementation), so ours must be gdb's in order, and every
    frame of the program itself must be in both."""
    prog = target("sig_stack")
    g = subprocess.run(["gdb", "-nx", "-batch", "-ex", "set disable-randomization on",
                        "-ex", "run", "-ex", "bt", prog], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    theirs = [(int(m.group(1), 16), m.group(2))
              for m in re.finditer(r"^#\d+\s+(0x[0-9a-f]+) in (\S+)", g.stdout, re.M)]
    names = [n for _, n in theirs]
    assert names[-4:] == ["level3", "level2", "level1", "main"], g.stdout + g.stderr
    setarch = ["setarch", os.uname().machine, "-R"]
    t = run_trace([prog], "-k", "--no-frame", tmp=tmp_path, prefix=setarch)
    (d,) = t.of("signal_delivered")
    ours = [(f["pc"], f["symbol"]) for f in d["stack"]]
    upto_main = next(i for i, (_, sym) in enumerate(ours) if sym and sym.startswith("main+"))
    ours = ours[1:upto_main + 1]  # gdb's bt prints no pc for #0 and stops at main
    it = iter(pc for pc, _ in theirs)
    assert all(pc in it for pc, _ in ours), (ours, theirs)  # an ordered subsequence
    mine = {pc: sym.split("+")[0] for pc, sym in ours if sym}
    for pc, name in theirs[-4:]:
        assert mine[pc] == name


# -- -e ---------------------------------------------------------------------------------------

def test_negated_and_empty_signal_sets(tmp_path: Path) -> None:
    all_tags = ["raise", "kill", "tgkill", "sigqueue", "timer", "timer_id", "chld",
                "chld_parent", "nosiginfo", "mask"]
    t = run_trace([target("sig_basic")], "-e", "signal=!SIGUSR1,SIGCHLD", tmp=tmp_path)
    assert t.rc == 0
    got = {e["siginfo"]["signal"] for e in t.of("signal_delivered")}
    assert got == {"SIGUSR2", "SIGRT_3", "SIGALRM", "SIGWINCH"}
    assert [r["tag"] for r in t.reports] == all_tags  # the others still reached it
    none = run_trace([target("sig_basic")], "-e", "signal=none", tmp=tmp_path)
    assert none.rc == 0 and not none.of("signal_delivered") and not none.of("handler_entered")
    assert [r["tag"] for r in none.reports] == all_tags
    assert [e["event"] for e in none.events] == ["exec", "exited"]


# -- -p, -q, global options, conflicts -----------------------------------------------------

def _attach(tmp_path: Path, *opts: str) -> tuple[str, str, dict[str, Any], int, bytes]:
    prog = subprocess.Popen([target("sig_stack"), "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert prog.stdin is not None and prog.stdout is not None
    try:
        pid = int(parse_reports(prog.stdout.readline().decode())[0]["pid"])
        tr = subprocess.Popen([sys.executable, "-m", "sigdbg", "trace", *opts, "-p", str(pid)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
        assert tr.stderr is not None
        try:
            if "-q" not in opts:
                assert tr.stderr.readline().decode() == f"sigdbg: Process {pid} attached\n"
            else:
                deadline = time.monotonic() + HANG
                while "TracerPid:\t0" in Path(f"/proc/{pid}/status").read_text():
                    assert time.monotonic() < deadline, "sigdbg did not attach"
                    time.sleep(0.02)
            prog.stdin.write(b"x")
            prog.stdin.flush()
            report = parse_reports(prog.stdout.readline().decode())[0]
            tr.send_signal(signal.SIGINT)
            out, err = tr.communicate(timeout=HANG)
        finally:
            if tr.poll() is None:
                tr.kill()
                tr.wait()
        prog.stdin.write(b"y")  # detached: it still runs, and untraced now
        prog.stdin.close()
        rest = prog.stdout.read()
        rc = prog.wait(timeout=HANG)
    finally:
        if prog.poll() is None:
            prog.kill()
            prog.wait()
    return out.decode(), err.decode(), report, rc, rest


def test_attach_and_detach_lines(tmp_path: Path) -> None:
    out, err, report, rc, rest = _attach(tmp_path)
    assert err.endswith(f"sigdbg: Process {report['pid']} detached\n"), err
    (line,) = [m.groups() for m in _COMPACT.finditer(out)]
    assert int(line[0]) == report["pid"] and line[1] == "SIGUSR1"
    assert int(line[3].split()[1], 16) == report["handler"]
    assert parse_reports(rest.decode())[0]["count"] == 2 and rc == 0


def test_quiet_drops_the_attach_lines(tmp_path: Path) -> None:
    out, err, report, rc, _ = _attach(tmp_path, "-q")
    assert "attached" not in err and "detached" not in err
    assert len(list(_COMPACT.finditer(out))) == 1 and rc == 0
    text, _ = text_trace(tmp_path, "-qq", argv=[target("sig_basic"), "raise"])
    assert "+++ exited" not in text and "--- SIGUSR1" in text


def test_global_options_after_the_command(tmp_path: Path) -> None:
    p = sigdbg("trace", "--debug", "--color", "never", "--", target("hello"), "--debug")
    assert p.returncode == 0 and "argv[1]=--debug" in p.stdout, p.stderr
    assert "exec " in p.stdout
    # --debug after the command is honoured: the error comes with its traceback
    bad = sigdbg("trace", "--debug", "--", "/nonexistent/prog")
    assert bad.returncode != 0 and "Traceback" in bad.stderr
    one = sigdbg("trace", "--", "/nonexistent/prog", "--debug")  # the target's, not ours
    assert one.stderr == "sigdbg: error: /nonexistent/prog: no such program\n"
    assert sigdbg("auxv", "--color", "never", "--", target("hello")).returncode == 0


@pytest.mark.parametrize("opts,words", [
    (["--no-frame", "--step-sigreturn"], "--no-frame and --step-sigreturn"),
    (["-c", "--json"], "-c and --json"),
    (["-c", "-k"], "-c and -k"),
    (["-c", "-v"], "-c and -v"),
    (["-c", "-tt"], "-c and -t"),
    (["-t", "-r"], "-t and -r"),
    (["-v", "--json"], "-v and --json"),
    (["-tttt"], "at most three times"),
    (["-e", "signal=SIGFOO"], "unknown signal 'SIGFOO'"),
    (["-e", "trace=none"], "unsupported -e expression 'trace'"),
])
def test_conflicting_options_are_refused(tmp_path: Path, opts: list[str], words: str) -> None:
    marker = tmp_path / "ran"
    p = sigdbg("trace", *opts, "--", "/bin/sh", "-c", f"touch {marker}")
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("sigdbg: error: ") and words in lines[0], p.stderr
    assert not marker.exists(), "the program ran despite the usage error"


# -- alternate-stack headroom ---------------------------------------------------------------

def test_altstack_headroom_matches_the_targets_altstack(tmp_path: Path) -> None:
    t = run_trace([target("sig_altstack")], tmp=tmp_path)
    assert t.rc == 0
    auxv = run_trace([target("hello")], tmp=tmp_path).report("hello")["minsigstksz"]
    entered = t.of("handler_entered")
    assert len(entered) == 2
    for e, tag in zip(entered, ("onstack", "autodisarm"), strict=True):
        r = t.report(tag)
        a = e["altstack"]
        frame = r["ucp"] - 8  # rt_sigframe: pretcode, then uc
        assert (a["ss_sp"], a["ss_size"], a["frame"]) == (r["altbase"], r["altsize"], frame)
        assert a["headroom"] == frame - r["altbase"]
        assert a["used"] == r["altbase"] + r["altsize"] - frame
        assert a["at_minsigstksz"] == auxv and a["too_small"] is False
    plain = run_trace([target("sig_basic"), "raise"], tmp=tmp_path)
    assert plain.of("handler_entered")[0]["altstack"] is None


@pytest.mark.parametrize("mode", ["small", "big"])
def test_altstack_below_at_minsigstksz_is_flagged(tmp_path: Path, mode: str) -> None:
    args = [target("sig_altsmall")] + (["big"] if mode == "big" else [])
    t = run_trace(args, tmp=tmp_path)
    assert t.rc == 0
    r = t.report("altsmall")
    (e,) = t.of("handler_entered")
    a = e["altstack"]
    frame = r["ucp"] - 8
    assert (a["ss_sp"], a["ss_size"], a["frame"]) == (r["altbase"], r["altsize"], frame)
    assert a["headroom"] == frame - r["altbase"]
    assert a["at_minsigstksz"] == r["minsigstksz"]
    assert a["too_small"] is (r["altsize"] < r["minsigstksz"]) is (mode == "small")
    text, p = text_trace(tmp_path, argv=args)
    r = parse_reports(p.stdout)[0]  # this run's own altstack (another address)
    frame = r["ucp"] - 8
    line = next(ln for ln in text.splitlines() if "--- SIGUSR1" in ln)
    assert f"altstack {r['altbase']:#x}+{r['altsize']:#x}:" in line
    assert f"{frame - r['altbase']} left below the frame" in line
    flag = (f"! alternate stack of {r['altsize']} bytes is smaller than the kernel's "
            f"AT_MINSIGSTKSZ {r['minsigstksz']}")
    assert (flag in line) is (mode == "small"), line
    # -v: the same under the handler line, and in the frame's uc_stack line
    full, p = text_trace(tmp_path, "-v", argv=args)
    r = parse_reports(p.stdout)[0]
    left = r["ucp"] - 8 - r["altbase"]
    assert f"  altstack {r['altbase']:#x}+{r['altsize']:#x}: " in full
    assert (flag in full) is (mode == "small")
    assert f"(frame is ON the alternate signal stack, {left} bytes left below it)" in full


# -- the live status line ------------------------------------------------------------------

def test_status_line_on_a_terminal(tmp_path: Path) -> None:
    """stderr on a real pseudo-terminal: refreshed status lines while the
    trace goes to the file, then one summary line on Ctrl-C whose count is
    the number of deliveries in the file."""
    out = tmp_path / "t.jsonl"
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "sigdbg", "trace", "--json", "-o", str(out),
                          "--", target("sig_storm"), "100000000"],
                         cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""
    counts: list[int] = []
    try:
        deadline = time.monotonic() + 3 * HANG
        while len(set(counts)) < 3 and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
                counts = [int(n) for n in re.findall(rb"\r\x1b\[Ksigdbg: (\d+) signals?, ", seen)]
        assert len(set(counts)) >= 3, seen
        p.send_signal(signal.SIGINT)
        p.wait(timeout=HANG)
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    assert p.returncode == 130
    assert counts == sorted(counts)  # a running count
    line = re.search(rb"\r\x1b\[Ksigdbg: interrupted: (\d+) signals in [\d.]+ s \(\d+/s\), "
                     rb"trace in (\S+)\r\n", seen)
    assert line, seen[-300:]
    # (thousands of lines: counted, not schema-checked one by one)
    delivered = [ln for ln in out.read_text().splitlines() if '"event":"signal_delivered"' in ln]
    assert all(json.loads(ln)["event"] == "signal_delivered" for ln in delivered[-5:])
    assert int(line.group(1)) == len(delivered) >= counts[-1]
    assert line.group(2).decode() == str(out)


def test_no_status_line_without_a_terminal(tmp_path: Path) -> None:
    t = run_trace([target("sig_storm"), "50"], tmp=tmp_path)
    assert t.rc == 0 and t.stderr == ""
