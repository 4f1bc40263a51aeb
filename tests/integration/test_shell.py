"""The interactive shell: a real PromptSession on a pipe, real tracees, and once a real terminal.

Truth comes from the targets themselves (their SIGDBG-REPORT lines, written
from inside the handler to a file we read afterwards) and from /proc (no
tracee left behind, an attached process left running).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from sigdbg.shell import commands as shell_commands
from sigdbg.shell.app import run_shell
from sigdbg.shell.completer import ShellCompleter
from sigdbg.shell.core import Shell
from tests.conftest import ROOT, parse_reports, target

CTRL_D = "\x04"


@pytest.fixture(autouse=True)
def private_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "history"
    monkeypatch.setenv("SIGDBG_HISTORY", str(path))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return path


def shell_args(*argv: str, pid: int | None = None) -> argparse.Namespace:
    return argparse.Namespace(pid=pid, argv=["--", *argv] if argv else [], at="exec",
                              color="auto", debug=False)


def drive(keys: str, args: argparse.Namespace | None = None,
          tracee_stdio: dict[str, int] | None = None) -> str:
    """Type ``keys`` into the real PromptSession; return what the commands printed."""
    out = io.StringIO()
    with create_pipe_input() as inp:
        inp.send_text(keys)
        rc = run_shell(args or shell_args(), input=inp, output=DummyOutput(), out=out,
                       tracee_stdio=tracee_stdio)
    assert rc == 0
    return out.getvalue()


def proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()[0].decode()


def exec_pid(text: str) -> int:
    m = re.search(r"^\[pid (\d+)\] exec ", text, re.M)
    assert m, text
    return int(m.group(1))


class Run:
    """A Shell without a terminal; ``cmd`` returns what one command printed."""

    def __init__(self, **kw: object) -> None:
        self.out = io.StringIO()
        self.sh = Shell(self.out, **kw)  # type: ignore[arg-type]

    def cmd(self, line: str) -> str:
        start = self.out.tell()
        self.sh.execute(line)
        self.out.seek(start)
        text = self.out.read()
        self.out.seek(0, io.SEEK_END)
        return text


@pytest.fixture
def run() -> Iterator[Run]:
    r = Run()
    try:
        yield r
    finally:
        r.sh.close()


@pytest.fixture
def waiting_hello() -> Iterator[subprocess.Popen[bytes]]:
    """``hello wait``: our own child, blocked reading stdin until we close it."""
    p = subprocess.Popen([target("hello"), "wait"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    time.sleep(0.2)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        for f in (p.stdin, p.stdout):
            if f is not None:
                f.close()


def sigint_after(seconds: float) -> threading.Timer:
    t = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    return t


def one_error(text: str, *needles: str) -> None:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    assert "Traceback" not in text
    for n in needles:
        assert n in lines[0], lines[0]


# -- 1. the whole signal story through the real PromptSession --------------------------------
def test_prompt_session_handler_frame_sigreturn(tmp_path: Path, private_history: Path) -> None:
    log = tmp_path / "tracee.out"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        text = drive(f"file {target('sig_basic')}\nrun raise\ncontinue\nframe --no-picture\n"
                     "siginfo\nstep-sigreturn\nregs\ncontinue\n" + CTRL_D,
                     tracee_stdio={"stdout": fd})
    finally:
        os.close(fd)
    reports = parse_reports(log.read_text())
    assert len(reports) == 1, log.read_text()
    rep = reports[0]
    assert rep["tag"] == "raise"
    assert "error:" not in text, text
    assert re.search(r"handler 0x[0-9a-f]+ entered for SIGUSR1", text), text
    # frame: the interrupted pc/sp and the sender, as the handler itself saw them
    frame = text[text.index("rt_sigframe at"):text.index("context restored")]
    assert int(re.search(r"\brip=(0x[0-9a-f]+)", frame).group(1), 16) == rep["pc"]
    assert int(re.search(r"\brsp=(0x[0-9a-f]+)", frame).group(1), 16) == rep["sp"]
    assert int(re.search(r"si_pid=(\d+)", frame).group(1)) == rep["pid"]
    assert "si_code=SI_TKILL" in frame
    assert "context restored: every register equals the frame's" in text
    # after sigreturn the live registers are the interrupted context again
    regs = text[text.index("context restored"):]
    assert int(re.search(r"^rip\s+(0x[0-9a-f]+)", regs, re.M).group(1), 16) == rep["pc"]
    assert int(re.search(r"^rsp\s+(0x[0-9a-f]+)", regs, re.M).group(1), 16) == rep["sp"]
    assert "+++ exited with 0 +++" in text
    assert "SIGDBG-DONE" in log.read_text()
    assert proc_state(exec_pid(text)) is None
    history = private_history.read_text()
    assert "+step-sigreturn" in history and "+frame --no-picture" in history


# -- 2. bad input: one line each, and the shell carries on -------------------------------------
@pytest.mark.parametrize("line, needles", [
    ("frobnicate", ("unknown command 'frobnicate'",)),
    ("attach", ("attach:", "required", "pid")),
    ("attach 999999", ("no process with pid 999999",)),
    ("frame", ("the program is not running",)),
    ("x/4xg $sp", ("the program is not running",)),
    ("handle SIGNOPE stop", ("unknown signal",)),
    ("set on-exit maybe", ("kill or detach",)),
    ('break "unterminated', ("quotation",)),
])
def test_bad_input_without_process(run: Run, line: str, needles: tuple[str, ...]) -> None:
    one_error(run.cmd(line), *needles)
    assert "Signal" in run.cmd("info signals SIGUSR1")  # still alive and well


@pytest.mark.parametrize("line, needles", [
    ("x/4xg 0x10", ("cannot read 32 bytes at 0x10",)),
    ("x/4xg no_such_symbol", ("no symbol 'no_such_symbol'",)),
    ("x/4xg $sp +", ("ends with an operator",)),
    ("x/4qz $sp", ("bad format",)),
    ("x/4xg", ("missing address",)),
    ("disas 0x10", ("cannot read",)),
    ("break 0x10", ("0x10",)),
    ("step-sigreturn", ("not stopped in a signal handler",)),
    ("siginfo", ("no signal has been delivered",)),
    ("regs --frame", ("not in a signal handler",)),
    ("signal SIGNOPE", ("unknown signal",)),
    ("delete 7", ("no breakpoint number 7",)),
    ("attach 999999", ("already debugging",)),
])
def test_bad_input_with_process(run: Run, line: str, needles: tuple[str, ...]) -> None:
    run.cmd(f"file {target('hello')}")
    assert "exec" in run.cmd("run")
    one_error(run.cmd(line), *needles)
    assert "AT_ENTRY" in run.cmd("auxv")  # the session survived the error


def test_unexpected_exception_is_one_line(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(sh: Shell, a: argparse.Namespace) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(shell_commands, "COMMANDS", tuple(
        shell_commands.ShellCommand(c.name, c.help, boom) if c.name == "help" else c
        for c in shell_commands.COMMANDS))
    one_error(run.cmd("help"), "internal error: RuntimeError: boom")
    one_error(run.cmd("frame"), "not running")


def test_bad_input_through_the_prompt_session() -> None:
    text = drive("frobnicate\nattach\nframe\nx/4xg $sp\nattach 999999\n" + CTRL_D)
    errors = [ln for ln in text.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 5, text
    assert "Traceback" not in text


# -- 3. leaving: nothing stopped, nothing left ---------------------------------------------------
def test_ctrl_d_kills_the_launched_tracee() -> None:
    text = drive(CTRL_D, shell_args(target("hello")))
    pid = exec_pid(text)
    assert text.rstrip().endswith("quit")
    assert proc_state(pid) is None


def test_ctrl_d_detaches_an_attached_process(waiting_hello: subprocess.Popen[bytes]) -> None:
    p = waiting_hello
    text = drive("regs\n" + CTRL_D, shell_args(pid=p.pid))
    assert f"attached to process {p.pid}" in text
    time.sleep(0.1)
    assert proc_state(p.pid) in ("S", "R"), proc_state(p.pid)  # running, not t/T
    assert p.stdin is not None and p.stdout is not None
    p.stdin.close()
    assert p.wait(timeout=10) == 0
    assert b"SIGDBG-DONE" in p.stdout.read()


def test_quit_after_interrupt_leaves_attached_process_running(
        run: Run, waiting_hello: subprocess.Popen[bytes]) -> None:
    p = waiting_hello
    run.cmd(f"attach {p.pid}")
    sigint_after(0.3)
    assert "interrupted" in run.cmd("continue")
    assert run.sh.status().state == "stopped"
    run.cmd("quit")
    assert run.sh.done
    run.sh.close()
    time.sleep(0.1)
    assert proc_state(p.pid) in ("S", "R"), proc_state(p.pid)
    assert p.stdin is not None
    p.stdin.close()
    assert p.wait(timeout=10) == 0


# -- Ctrl-C while the tracee runs ------------------------------------------------------------
def test_ctrl_c_interrupts_continue_and_the_shell_stays(run: Run) -> None:
    run.cmd(f"file {target('hello')}")
    pid = exec_pid(run.cmd("run sleep"))
    sigint_after(0.3)
    text = run.cmd("continue")
    assert f"[pid {pid}] interrupted" in text
    assert run.sh.status().state == "stopped" and run.sh.status().reason == "interrupted"
    assert proc_state(pid) == "t"
    assert run.cmd("bt").startswith("#0 ")
    sigint_after(0.3)
    assert "interrupted" in run.cmd("c")  # again: the first SIGSTOP was consumed
    run.cmd("kill")
    assert proc_state(pid) is None


# -- breakpoints, handle, backtrace through a signal frame ---------------------------------------
def test_breakpoint_in_handler_backtrace_crosses_the_signal_frame(run: Run, tmp_path: Path
                                                                  ) -> None:
    log = tmp_path / "out"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        run.sh.tracee_stdio = {"stdout": fd}
        run.cmd(f"file {target('sig_basic')}")
        run.cmd("start raise")
    finally:
        os.close(fd)
    assert "breakpoint 1 at" in run.cmd("break handler")
    assert "No" in run.cmd("handle SIGUSR1 nostop")
    text = run.cmd("continue")
    assert "entered for SIGUSR1" in text and "breakpoint at" in text
    assert run.sh.status().reason == "breakpoint 1"
    bt = run.cmd("bt")
    assert re.search(r"^#0 .* in handler$", bt, re.M), bt
    assert re.search(r"^#1 .*<signal handler called> \(SIGUSR1\)", bt, re.M), bt
    assert re.search(r" in main\+0x[0-9a-f]+$", bt, re.M), bt
    frames = json.loads(run.cmd("bt --json"))
    assert frames[1]["kind"] == "sigframe" and frames[1]["signal"] == signal.SIGUSR1
    assert "=> " in run.cmd("nexti")
    assert "exited with 0" in run.cmd("continue")
    assert parse_reports(log.read_text())[0]["tag"] == "raise"


# -- every data command speaks JSON ------------------------------------------------------------
def test_data_commands_json(run: Run) -> None:
    run.cmd(f"file {target('sig_basic')}")
    run.cmd("run raise")
    run.cmd("continue")
    for line in ("auxv --json", "maps --json", "vdso --json", "frame --json", "regs --json",
                 "regs --fp --json", "siginfo --json", "x/2xg $sp --json", "x/s AT_EXECFN --json",
                 "disas -n 2 --json", "bt --json", "info signals SIGUSR1 --json",
                 "info breakpoints --json"):
        text = run.cmd(line)
        assert not text.startswith("error"), (line, text)
        json.loads(text)
    regs = json.loads(run.cmd("regs --json"))
    assert json.loads(run.cmd("x/1xg $sp --json"))["address"] == regs["rsp"]
    assert json.loads(run.cmd("siginfo --json"))["signal"] == "SIGUSR1"


# -- the completer, without a terminal -------------------------------------------------------------
def complete(c: ShellCompleter, text: str) -> list[str]:
    return [x.text for x in c.get_completions(Document(text), CompleteEvent(True))]


def test_completer_commands_options_signals_auxv_vdso(run: Run) -> None:
    c = ShellCompleter(run.sh)
    assert complete(c, "hand") == ["handle"]
    assert complete(c, "handle SIGUS") == ["SIGUSR1", "SIGUSR2"]
    assert "nostop" in complete(c, "handle SIGUSR1 nos")
    assert complete(c, "vdso --di") == ["--disas"]
    assert complete(c, "catch ") == ["signal"]
    assert complete(c, "info sig") == ["signals", "siginfo"]
    assert complete(c, "set on-exit ") == ["kill", "detach"]
    assert complete(c, "frame --kind rt_sigframe_") == ["rt_sigframe_ia32"]
    run.cmd(f"file {target('hello')}")
    run.cmd("run")
    assert "AT_SYSINFO_EHDR" in complete(c, "x/4xg AT_SYS")
    assert "__vdso_clock_gettime" in complete(c, "vdso --disas __vdso_cl")
    assert "$rip" in complete(c, "x/i $ri")


# -- 4. a real terminal: tmux --------------------------------------------------------------------
@pytest.mark.skipif(subprocess.run(["which", "tmux"], capture_output=True).returncode != 0,
                    reason="tmux is not installed")
def test_real_terminal_completion_and_toolbar(tmp_path: Path) -> None:
    sock = f"sigdbgtest{os.getpid()}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    cmd = (f"cd {shlex.quote(str(ROOT))} && SIGDBG_HISTORY={shlex.quote(str(tmp_path / 'h'))} "
           f"exec {shlex.quote(sys.executable)} -m sigdbg shell -- targets/build/hello")

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "t"], capture_output=True,
                              text=True).stdout

    def wait_for(pred, what: str, timeout: float = 20) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = screen()
            if pred(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{screen()}")

    def alive() -> bool:
        return subprocess.run([*tmux, "has-session", "-t", "t"],
                              capture_output=True).returncode == 0

    try:
        subprocess.run([*tmux, "new-session", "-d", "-x", "200", "-y", "50", "-s", "t", cmd],
                       check=True)
        text = wait_for(lambda s: "(sigdbg)" in s and "| pid " in s, "prompt and toolbar")
        pid = exec_pid(text)
        assert re.search(rf"sigdbg \| pid {pid} \(launched\) \| x86_64 \| stopped: exec", text)
        subprocess.run([*tmux, "send-keys", "-t", "t", "hand", "Tab"], check=True)
        wait_for(lambda s: "(sigdbg) handle" in s, "command completion")
        subprocess.run([*tmux, "send-keys", "-t", "t", " SIGUS", "Tab"], check=True)
        text = wait_for(lambda s: "SIGUSR1" in s and "SIGUSR2" in s, "signal completions")
        assert "(sigdbg) handle SIGUSR" in text
        subprocess.run([*tmux, "send-keys", "-t", "t", "C-c"], check=True)  # abandon the line
        wait_for(lambda s: re.search(r"^\(sigdbg\)\s*$", s, re.M) is not None, "a fresh prompt")
        # Ctrl-D; again if it fell between two prompts (the tty was in cooked mode for a moment)
        deadline = time.monotonic() + 20
        while alive() and time.monotonic() < deadline:
            subprocess.run([*tmux, "send-keys", "-t", "t", "C-d"], capture_output=True)
            for _ in range(30):
                if not alive():
                    break
                time.sleep(0.1)
        assert not alive(), "the shell did not leave on Ctrl-D"
        assert proc_state(pid) is None, "the tracee outlived the shell"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(tmpdir, f"tmux-{os.getuid()}", sock).unlink(missing_ok=True)


# -- fatal signals and sending signals --------------------------------------------------------
def test_fatal_signal_stops_while_the_i386_process_still_exists(run: Run, tmp_path: Path
                                                                 ) -> None:
    log = tmp_path / "out"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        run.sh.tracee_stdio = {"stdout": fd}
        run.cmd(f"file {target('fatal.i386')}")
        pid = exec_pid(run.cmd("run"))
    finally:
        os.close(fd)
    text = run.cmd("continue")
    rep = parse_reports(log.read_text())[0]
    assert re.search(r"--- SIGSEGV \{.*si_code=SEGV_MAPERR, si_addr=0x10\} --- at pc "
                     rf"{rep['pc']:#x}: fatal", text), text
    assert run.sh.status().reason == "SIGSEGV fatal" and proc_state(pid) == "t"
    regs = json.loads(run.cmd("regs --json"))
    assert regs["eip"] == rep["pc"] and regs["xcs"] == 0x23
    assert run.cmd("bt").startswith(f"#0   {rep['pc']:#010x} in ")
    assert json.loads(run.cmd("siginfo --json"))["si_addr"] == rep["addr"]
    assert "+++ killed by SIGSEGV +++" in run.cmd("continue")
    assert proc_state(pid) is None


def test_signal_command_delivers_to_the_tracee(run: Run) -> None:
    run.cmd(f"file {target('hello')}")
    run.cmd("run")
    assert "queued" in run.cmd("queue-signal SIGUSR2")
    run.cmd("handle SIGUSR2 nopass")
    text = run.cmd("continue")  # the queued signal arrives first and is suppressed
    assert re.search(rf"--- SIGUSR2 \{{.*si_code=SI_TKILL, si_pid={os.getpid()}, .*: suppressed",
                     text), text
    text = run.cmd("signal USR1")  # SIGUSR1 kills hello (no handler): stop before it dies
    assert re.search(r"--- SIGUSR1 \{.*\} --- at pc 0x[0-9a-f]+: fatal", text), text
    assert "+++ killed by SIGUSR1 +++" in run.cmd("c")


# -- core needs: each shows an engine behaviour the shell works around ------------------------
# engine behaviour the shell relies on
def test_core_need_interrupt_stop_is_an_event(waiting_hello: subprocess.Popen[bytes]) -> None:
    from sigdbg.commands.backend import attach_session

    p = waiting_hello
    s = attach_session(p.pid)
    try:
        s.task.interrupt()  # the tracee will stop again as soon as it is resumed
        assert p.stdin is not None
        threading.Timer(1.5, p.stdin.close).start()  # otherwise it blocks forever
        first = next(s.events())
        assert type(first).__name__ != "Exited", "the interrupt stop was not reported"
    finally:
        s.close()


def test_core_need_maps_cache_follows_the_run() -> None:
    from sigdbg.commands.backend import launch_session
    from sigdbg.engine import events as ev

    with launch_session([target("sig_basic"), "raise"],
                        stdout=os.open(os.devnull, os.O_WRONLY)) as s:
        s.maps()  # e.g. the shell showing where the program stopped at exec
        for e in s.events():
            if isinstance(e, ev.HandlerEntered):
                libc = [m for m in s.maps().mappings if "/libc." in m.path]
                assert libc, "the session's map is the one from exec time"
                break


def test_core_need_resume_steps_over_the_breakpoint() -> None:
    from sigdbg.commands.backend import launch_session
    from sigdbg.engine import events as ev

    with launch_session([target("hello")], stdout=os.open(os.devnull, os.O_WRONLY)) as s:
        entry = s.auxv().get("AT_ENTRY").value
        s.insert_breakpoint(entry)
        hits = 0
        for e in s.events():
            if isinstance(e, ev.Breakpoint):
                hits += 1
                assert hits == 1, "the same breakpoint was hit again without running"
            if hits and not isinstance(e, ev.Breakpoint):
                break


# -- more of the shell's contract ----------------------------------------------------------------
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    tty = _Tty()
    Shell(tty).execute("frobnicate")
    assert "\x1b[" in tty.getvalue()
    plain = io.StringIO()
    Shell(plain).execute("frobnicate")
    assert plain.getvalue() == "error: unknown command 'frobnicate' (try: help)\n"
    monkeypatch.setenv("NO_COLOR", "1")
    tty = _Tty()
    Shell(tty).execute("frobnicate")
    assert "\x1b[" not in tty.getvalue()
    args = shell_args()
    args.color = "always"
    assert "\x1b[31merror:" in drive("frobnicate\n" + CTRL_D, args)


def test_script_on_stdin_without_a_terminal(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sigdbg", "shell", "--", target("sig_basic"), "raise"],
        input="continue\nsiginfo --json\nstep-sigreturn\ncontinue\n", capture_output=True,
        text=True, timeout=30, cwd=ROOT, env={**os.environ, "SIGDBG_HISTORY": str(tmp_path / "h")})
    assert out.returncode == 0, out.stderr
    assert '"si_code_name": "SI_TKILL"' in out.stdout
    assert "context restored: every register equals" in out.stdout
    assert "+++ exited with 0 +++" in out.stdout
    assert "Traceback" not in out.stderr and "\x1b[" not in out.stdout


def test_run_again_restarts_and_empty_line_repeats_stepi(run: Run) -> None:
    run.cmd(f"file {target('hello')}")
    first = exec_pid(run.cmd("run"))
    text = run.cmd("run")
    assert f"killed the previous process {first}" in text
    second = exec_pid(text)
    assert second != first and proc_state(first) is None
    pcs = [run.cmd("si"), run.cmd(""), run.cmd("")]
    assert len({p.split(":")[0] for p in pcs}) == 3, pcs  # three different pcs
    assert "stepi" in run.cmd("help si") and "count" in run.cmd("help stepi")


def _xmm_pattern(n: int) -> int:
    return int.from_bytes(bytes((n << 4) | i for i in range(16)), "little")


def _ymm_pattern(n: int) -> int:
    hi = int.from_bytes(bytes(0xFF ^ ((n << 4) | i) for i in range(16)), "little")
    return _xmm_pattern(n) | (hi << 128)


def test_vector_registers_from_the_frame_and_the_regset(run: Run, tmp_path: Path) -> None:
    log = tmp_path / "out"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        run.sh.tracee_stdio = {"stdout": fd}
        run.cmd(f"file {target('sig_xmm')}")
        run.cmd("run")
        assert "entered for SIGUSR1" in run.cmd("continue")
        framed = json.loads(run.cmd("regs --fp --frame --json"))
        run.cmd("step-sigreturn")
        live = json.loads(run.cmd("regs --fp --json"))  # NT_X86_XSTATE, pattern restored
        assert "exited with 0" in run.cmd("continue")
    finally:
        os.close(fd)
    rep = parse_reports(log.read_text())[0]
    assert rep["match"] == 1 and rep["mxcsr"] == 0x9F80
    assert framed["source"].startswith("frame fpstate at") and live["source"] == "NT_X86_XSTATE"
    for regs in (framed, live):
        assert regs["mxcsr"] == 0x9F80
        assert regs["xmm"][0] == rep["xmm0lo"] | (rep["xmm0hi"] << 64)
        assert regs["xmm"][15] == rep["xmm15lo"] | (rep["xmm15hi"] << 64)
        assert regs["xmm"] == [_xmm_pattern(n) for n in range(16)]
        if rep["avx"]:
            assert regs["ymm"] == [_ymm_pattern(n) for n in range(16)]
            assert regs["ymm"][0] >> 128 == rep["ymm0uplo"] | (rep["ymm0uphi"] << 64)


# -- issue 12 item 4: leaving at a fatal-signal stop never hangs, never leaves a process ----------
#: run in a child Python: the real PromptSession on a pipe, then report what is left of the
#: tracee (/proc state or None) *before* that child exits (its zombie children die with it)
_LEAVE_CHILD = r"""
import argparse, io, json, re, sys
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from sigdbg.shell.app import run_shell
args = argparse.Namespace(pid=None, argv=["--", *sys.argv[2:]], at="exec", color="never",
                          debug=False)
out = io.StringIO()
with create_pipe_input() as inp:
    inp.send_text(sys.argv[1])
    run_shell(args, input=inp, output=DummyOutput(), out=out)
text = out.getvalue()
pid = int(re.search(r"^\[pid (\d+)\] exec ", text, re.M).group(1))
try:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    state = stat[stat.rindex(b")") + 2:].split()[0].decode()
except OSError:
    state = None
print(json.dumps({"text": text, "pid": pid, "state": state}))
"""


def _leave_in_child(keys: str, *argv: str, timeout: float = 40) -> dict[str, object]:
    p = subprocess.Popen([sys.executable, "-c", _LEAVE_CHILD, keys, *argv], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()  # the tracer's death releases (PTRACE_O_EXITKILL) and reaps what it held
        p.communicate()
        raise AssertionError(f"the shell hung on {keys!r}") from None
    assert p.returncode == 0, err
    assert "Traceback" not in err, err
    result: dict[str, object] = json.loads(out)
    return result


@pytest.mark.parametrize("keys", ["quit\n", "kill\n" + CTRL_D, CTRL_D],
                         ids=["quit", "kill", "ctrl-d"])
def test_leaving_at_a_fatal_signal_stop_ends_the_process(keys: str) -> None:
    got = _leave_in_child("continue\n" + keys, target("sig_fault"), "fatal_segv")
    text = str(got["text"])
    assert re.search(r"--- SIGSEGV \{.*si_addr=0x10\} --- at pc 0x[0-9a-f]+: fatal", text), text
    if keys.startswith("kill"):
        assert f"killed process {got['pid']}" in text, text
    # gone and reaped by the shell itself: no zombie, nothing stopped at its exit
    assert got["state"] is None, got


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "end of script"])
def test_shell_ended_at_a_fatal_signal_stop_ends_the_process(tmp_path: Path, how: str) -> None:
    p = subprocess.Popen([sys.executable, "-m", "sigdbg", "shell", "--", target("sig_fault"),
                          "fatal_segv"], cwd=ROOT, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "SIGDBG_HISTORY": str(tmp_path / "h")})
    assert p.stdin is not None and p.stdout is not None
    try:
        p.stdin.write("continue\n")
        p.stdin.flush()
        seen = ""
        while ": fatal" not in seen:
            line = p.stdout.readline()
            assert line, seen
            seen += line
        pid = exec_pid(seen)
        assert proc_state(pid) == "t"
        if how == "end of script":
            p.stdin.close()
        else:
            p.send_signal(getattr(signal, how))
        p.wait(timeout=40)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if not p.stdin.closed:
            p.stdin.close()
        p.stdout.close()
        if p.stderr is not None:
            p.stderr.close()
    assert proc_state(pid) is None


# -- issue 12 item 10: shell honesty ----------------------------------------------------------
def _insn_addrs(text: str) -> list[int]:
    return [int(m.group(1), 16) for m in re.finditer(r"^(?:=> |   )(0x[0-9a-f]+):", text, re.M)]


def test_first_stepi_after_launch_executes_one_instruction(run: Run) -> None:
    run.cmd(f"file {target('hello')}")
    run.cmd("run")
    before = json.loads(run.cmd("regs --json"))
    listing = run.cmd("x/2i $pc")
    first, second = _insn_addrs(listing)
    assert first == before["rip"]
    assert not re.search(r"^=> 0x[0-9a-f]+:\s+\S+\s+(j|call|ret)", listing, re.M), listing
    run.cmd("si")
    after = json.loads(run.cmd("regs --json"))
    assert after["rip"] == second, (hex(before["rip"]), hex(after["rip"]), listing)
    if re.search(r"^=> .*movq %rsp, %rdi", listing, re.M):  # ld.so's _start: its effect
        assert after["rdi"] == before["rsp"]
    run.cmd("si")  # and the next one moves on again
    assert json.loads(run.cmd("regs --json"))["rip"] != after["rip"]


def _mem(pid: int, addr: int, size: int) -> bytes:
    with open(f"/proc/{pid}/mem", "rb") as fh:
        fh.seek(addr)
        return fh.read(size)


def test_enter_after_x_continues_at_the_next_address(run: Run) -> None:
    import struct

    run.cmd(f"file {target('hello')}")
    pid = exec_pid(run.cmd("run"))
    sp = json.loads(run.cmd("regs --json"))["rsp"]
    for i in range(3):  # x/2xg $sp, then Enter, Enter: 16 bytes further each time
        rows = json.loads(run.cmd("x/2xg $sp --json" if i == 0 else ""))
        assert rows["address"] == sp + 16 * i, (i, hex(rows["address"]), hex(sp))
        assert rows["values"] == list(struct.unpack("<2Q", _mem(pid, sp + 16 * i, 16)))
    text = run.cmd("x/2i $pc")
    nxt = run.cmd("")
    a = _insn_addrs(text)
    b = _insn_addrs(nxt)
    assert len(a) == 2 and len(b) == 2, (text, nxt)
    assert b[0] > a[1] and b[0] - a[1] <= 15, (text, nxt)  # the instruction after the 2nd
    assert run.cmd("") != nxt  # and on again
    first = run.cmd("x/s AT_EXECFN")  # a string, then the one after its NUL
    m = re.match(r"(0x[0-9a-f]+): \"(.*)\"", first)
    assert m, first
    assert m.group(2) == target("hello")
    again = run.cmd("")
    assert again.startswith(f"{int(m.group(1), 16) + len(m.group(2)) + 1:#x}:"), again


@pytest.mark.parametrize("line", ["frame", "info frame", "frame --json"])
def test_frame_outside_a_handler_says_there_is_none(run: Run, line: str) -> None:
    run.cmd(f"file {target('sig_basic')}")
    run.cmd("run raise")
    one_error(run.cmd(line), "no signal frame")
    # an explicit address still decodes whatever is there, on request
    assert "rt_sigframe at" in run.cmd("frame --no-picture $sp")
    assert "entered for SIGUSR1" in run.cmd("continue")
    assert "error" not in run.cmd(line)


def test_stale_siginfo_without_sa_siginfo_is_marked(run: Run, tmp_path: Path) -> None:
    log = tmp_path / "out"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        run.sh.tracee_stdio = {"stdout": fd}
        run.cmd(f"file {target('sig_basic')}")
        run.cmd("run nosiginfo")
        assert "entered for SIGUSR1" in run.cmd("continue")
        text = run.cmd("frame --no-picture")
        js = json.loads(run.cmd("frame --json"))
        bt = run.cmd("bt")
        assert "exited with 0" in run.cmd("continue")
    finally:
        os.close(fd)
    rep = parse_reports(log.read_text())[0]
    assert rep["tag"] == "nosiginfo" and rep["sig"] == signal.SIGUSR1
    assert f"signal SIGUSR1 ({rep['sig']})" in text, text
    assert "siginfo (stale: no SA_SIGINFO)" in text, text
    assert js["sig"] == rep["sig"] and js["siginfo_valid"] is False
    assert "<signal handler called> (SIGUSR1)" in bt, bt


_GDB_BT = r"""
import gdb, json
gdb.execute("set pagination off")
gdb.execute("set backtrace past-main on")
gdb.execute("set backtrace past-entry on")
gdb.execute("handle SIGUSR1 SIGUSR2 nostop noprint pass")
if BREAK:
    gdb.execute("break *" + BREAK)
gdb.execute("run")
for cmd in AFTER:  # {pretcode}: the handler's return address, at [sp] on entry
    if "{pretcode}" in cmd:
        ret = int(gdb.parse_and_eval("*(unsigned long *)$sp"))
        cmd = cmd.replace("{pretcode}", hex(ret))
    gdb.execute(cmd)
f = gdb.newest_frame()
frames = []
while f is not None:
    # inline and tail-call frames are made up from debug info (libc's DWARF call sites),
    # they are not on the stack: only real frames are compared
    if f.type() not in (gdb.INLINE_FRAME, gdb.TAILCALL_FRAME):
        frames.append([f.pc(), f.type() == gdb.SIGTRAMP_FRAME])
    f = f.older()
with open("/proc/%d/maps" % gdb.selected_inferior().pid) as fh:
    maps = fh.read()
print("SIGDBG-GDB " + json.dumps({"frames": frames, "maps": maps}))
gdb.execute("kill")
"""


def _module_offset(pc: int, maps: str) -> tuple[str, int]:
    """``pc`` as (module, offset from the module's load address): comparable across runs
    whatever ASLR did."""
    rows = []
    for line in maps.splitlines():
        parts = line.split(None, 5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        rows.append((lo, hi, int(parts[2], 16), parts[5] if len(parts) > 5 else ""))
    for lo, hi, _off, path in rows:
        if lo <= pc < hi:
            base = lo if path == "[vdso]" else min(r[0] for r in rows
                                                   if r[3] == path and r[2] == 0)
            return (path, pc - base)
    return ("?", pc)


_RESTORER = ["break *{pretcode}", "continue"]


@pytest.mark.parametrize("prog, args, brk, after, commands", [
    ("sig_nested", [], "inner", [], ["start", "break inner", "handle SIGUSR1 SIGUSR2 nostop",
                                     "continue"]),
    ("sig_basic", ["raise"], "handler", [], ["run raise", "continue"]),
    ("sig_fault", ["fatal_segv"], "", [], ["run fatal_segv", "continue"]),
    ("sig_basic.i386", ["rt"], "h_rt", [], ["run rt", "continue"]),
    ("sig_basic.i386", ["nonrt"], "h_nonrt", [], ["run nonrt", "continue"]),
    ("sig_basic", ["raise"], "handler", _RESTORER,
     ["run raise", "continue", "break {pretcode}", "continue"]),
    ("sig_basic", ["raise"], "handler", [*_RESTORER, "stepi"],
     ["run raise", "continue", "break {pretcode}", "continue", "stepi"]),
    ("sig_basic.i386", ["nonrt"], "h_nonrt", [*_RESTORER, "stepi"],
     ["run nonrt", "continue", "break {pretcode}", "continue", "stepi"]),
    ("sig_altstack", ["onstack"], "handler", [], ["run onstack", "continue"]),
    ("sig_fault", ["maperr_read"], "handler", ["continue"],  # gdb stops at SIGSEGV first
     ["run maperr_read", "continue"]),
], ids=["nested-handlers-at-a-breakpoint", "handler-entry", "fatal-sigsegv",
        "i386-rt-debug-frame", "i386-nonrt-debug-frame", "at-the-restorer",
        "inside-the-restorer", "i386-nonrt-restorer-after-its-pop", "on-the-altstack",
        "handled-fault"])
def test_bt_shows_every_frame_as_gdb_does(run: Run, tmp_path: Path, prog: str,
                                          args: list[str], brk: str, after: list[str],
                                          commands: list[str]) -> None:
    script = tmp_path / "bt.py"
    deref = "*(unsigned int *)$sp" if prog.endswith(".i386") else "*(unsigned long *)$sp"
    script.write_text(f"BREAK = {brk!r}\nAFTER = {after!r}\n"
                      + _GDB_BT.replace("*(unsigned long *)$sp", deref))
    g = subprocess.run(["gdb", "-nx", "-batch", "-iex", "set debuginfod enabled off",
                        "-x", str(script), "--args", target(prog), *args],
                       capture_output=True, text=True, timeout=50, stdin=subprocess.DEVNULL)
    m = re.search(r"^SIGDBG-GDB (.*)$", g.stdout, re.M)
    assert m, g.stdout + g.stderr
    truth = json.loads(m.group(1))
    want = [(*_module_offset(pc, truth["maps"]), sig) for pc, sig in truth["frames"]]

    run.cmd(f"file {target(prog)}")
    for c in commands:
        if "{pretcode}" in c:  # the handler's return address, at [sp] on entry
            c = c.replace("{pretcode}", hex(json.loads(run.cmd("x/1a $sp --json"))["values"][0]))
        text = run.cmd(c)
        assert "error" not in text, (c, text)
    pid = run.sh.session.pid if run.sh.session is not None else 0
    with open(f"/proc/{pid}/maps") as fh:
        maps = fh.read()
    frames = json.loads(run.cmd("bt --json"))
    got = [(*_module_offset(f["pc"], maps), f["kind"] == "sigframe") for f in frames]
    assert got == want, "\n".join(f"{g_!s:60} {w!s}" for g_, w in
                                  __import__("itertools").zip_longest(got, want))
    text = run.cmd("bt")
    assert text.count("<signal handler called>") == sum(1 for w in want if w[2])
    run.cmd("kill")


# -- programs launched here and let go are reaped -------------------------------------------------
def _ps_children() -> dict[int, str]:
    """pid -> STAT of every child of this process, as ps(1) shows them."""
    out = subprocess.run(["ps", "-o", "pid=,stat=", "--ppid", str(os.getpid())],
                         capture_output=True, text=True, check=False).stdout
    return {int(pid): stat for pid, stat in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("how", ["detach", "on-exit detach"])
def test_launched_then_detached_program_is_reaped(how: str) -> None:
    """A program the shell launched and let go (`detach`, or `set on-exit
    detach` and quit) is the shell's child: when it exits, the shell reaps it
    (ps shows no <defunct> child of the shell while the shell lives), and
    nothing of it is left after the shell is gone."""
    r, w = os.pipe()
    run = Run(tracee_stdio={"stdin": r})
    try:
        run.cmd(f"file {target('hello')}")
        out = run.cmd("run wait")
        pid = exec_pid(out)
        if how == "detach":
            assert f"detached from process {pid}" in run.cmd("detach")
        else:
            run.cmd("set on-exit detach")
            run.cmd("quit")
            run.sh.close()
        # running on: sleeping in its read or running.  A moment in "D" (a
        # page fault under load) is neither stopped nor gone, so the state
        # is sampled until it settles; a stopped ("t"/"T") program never does
        assert _settles_running(pid), "the program does not run on after the detach"
        assert _tracer_pid(pid) == 0
        os.close(w)  # hello wait: EOF on stdin, it prints and exits
        w = -1
        deadline = time.monotonic() + 30
        while proc_state(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        children = _ps_children()
        assert pid not in children, f"left as {children.get(pid)} (<defunct> = not reaped)"
    finally:
        if w >= 0:
            os.close(w)
        os.close(r)
        run.sh.close()
    assert proc_state(pid) is None


def _settles_running(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = proc_state(pid)
        if state in ("S", "R"):
            return True
        if state != "D":
            return False
        time.sleep(0.01)
    return False


def _tracer_pid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


def test_detach_removes_the_shells_breakpoints() -> None:
    """`detach` in the shell takes back every int3 it planted: a breakpoint on
    a handler the program runs only after the detach must not kill it with
    SIGTRAP (sig_leave slow: one SIGUSR1 after the go byte, its handler
    blocks until a second byte).  The program ends as untraced: exit 0,
    reports inhandler then returned."""
    from tests.integration.test_leave import _Victim

    v = _Victim("slow")
    run = Run()
    try:
        assert f"attached to process {v.pid}" in run.cmd(f"attach {v.pid}")
        assert "breakpoint 1 at" in run.cmd("break slow_handler")
        assert f"detached from process {v.pid}" in run.cmd("detach")
        assert _tracer_pid(v.pid) == 0
        v.send(b"gg")  # raise SIGUSR1, then let the handler return
        rc, text = v.finish()
    finally:
        run.sh.close()
        v.kill()
    assert rc == 0, f"the program ended with {rc} after the shell detached"
    assert [r["tag"] for r in parse_reports(text)] == ["inhandler", "returned"]
