"""Scripts as targets: ``sigdbg trace -- ./script.sh a b`` works like strace and
gdb.  The kernel runs the interpreter (fs/binfmt_script.c); every command
takes the ABI from the process after exec, never from the script file.

Truth: the targets' own reports from inside their handlers, the untraced run
of the same script, and /proc (what the process really is).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import sigdbg
from sigdbg.engine import events as ev
from tests.conftest import parse_reports, target
from tests.integration.helpers_sig import check_frame_against_report
from tests.integration.test_shell import drive, shell_args

#: report keys that differ from run to run (addresses under ASLR, pids)
_VOLATILE = {"pid", "sp", "ucp", "infop", "fpstate", "handler", "vdso", "pretcode", "pc"}


@pytest.fixture
def sh_script(tmp_path: Path) -> Path:
    """A shell script that runs a target (which signals itself) as its child,
    passes its own arguments on and exits with its own status."""
    p = tmp_path / "script.sh"
    p.write_text(f'#!/bin/sh\necho "script args: $*"\n{target("sig_basic")} raise\n'
                 'echo "script: child exited $?"\nexit 3\n')
    p.chmod(0o755)
    return p


@pytest.fixture
def i386_script(tmp_path: Path) -> Path:
    """A script whose interpreter is a 32-bit static target: the kernel runs
    ``sig_basic.i386 rt SCRIPT ARGS`` (the optional argument is ``rt``)."""
    p = tmp_path / "i386.script"
    p.write_text(f"#!{target('sig_basic.i386')} rt\n")
    p.chmod(0o755)
    return p


def traced(argv: list[str], follow: bool = False) -> tuple[list[ev.Event], str, int | None]:
    with tempfile.TemporaryFile() as out:
        with sigdbg.launch(argv, stdout=out.fileno(), follow=follow) as s:
            events = list(s.events(step_sigreturn=True))
            status = s.exit_status
        out.seek(0)
        return events, out.read().decode(), status


def norm(text: str) -> list[dict[str, int | str]]:
    return [{k: v for k, v in r.items() if k not in _VOLATILE} for r in parse_reports(text)]


def test_shell_script_running_a_signalling_target(sh_script: Path) -> None:
    plain = subprocess.run([str(sh_script), "a", "b"], capture_output=True, text=True,
                           timeout=20)
    events, text, status = traced([str(sh_script), "a", "b"], follow=True)
    # traced == untraced: output (arguments passed on), exit status
    assert status == plain.returncode == 3
    assert "script args: a b\n" in text and "script: child exited 0\n" in text
    assert [ln for ln in text.splitlines() if not ln.startswith("SIGDBG-REPORT")] == \
        [ln for ln in plain.stdout.splitlines() if not ln.startswith("SIGDBG-REPORT")]
    assert norm(text) == norm(plain.stdout)
    execs = [e for e in events if isinstance(e, ev.Exec)]
    assert [e.abi for e in execs] == ["x86_64", "x86_64"]
    assert execs[-1].path == target("sig_basic")
    (rep,) = parse_reports(text)
    # (the shell's own SIGCHLD handler runs too)
    (entered,) = [e for e in events if isinstance(e, ev.HandlerEntered)
                  and e.pid == execs[-1].pid]
    check_frame_against_report(entered.frame, rep)
    assert all(e.matches for e in events if isinstance(e, ev.ContextRestored))


def test_script_with_a_32bit_interpreter(i386_script: Path) -> None:
    plain = subprocess.run([str(i386_script), "x"], capture_output=True, text=True, timeout=20)
    events, text, status = traced([str(i386_script), "x"])
    assert status == plain.returncode == 0
    assert norm(text) == norm(plain.stdout)
    (exe,) = [e for e in events if isinstance(e, ev.Exec)]
    assert (exe.abi, exe.path) == ("i386", target("sig_basic.i386"))
    (rep,) = parse_reports(text)
    (entered,) = [e for e in events if isinstance(e, ev.HandlerEntered)]
    assert (entered.frame.abi, entered.frame.kind) == ("i386", "rt_sigframe_ia32")
    check_frame_against_report(entered.frame, rep)
    assert all(e.matches for e in events if isinstance(e, ev.ContextRestored))


def test_auxv_of_a_script_is_the_interpreters_process(i386_script: Path) -> None:
    with sigdbg.launch([str(i386_script), "x"]) as s:
        report = s.auxv()
        with open(f"/proc/{s.pid}/auxv", "rb") as fh:
            kernel = fh.read()
        execfn = report.get("AT_EXECFN")
        sysinfo = report.get("AT_SYSINFO")
        argv = report.argv
    assert report.abi == "i386"
    # the kernel's copy, read as 32-bit pairs, is what was decoded
    pairs = []
    for a_type, a_val in struct.iter_unpack("<II", kernel[: len(kernel) // 8 * 8]):
        if a_type == 0:
            break
        pairs.append((a_type, a_val))
    assert [(e.type, e.value) for e in report.entries] == pairs
    assert report.proc_checked and not report.differences
    assert sysinfo is not None  # only the i386 auxv has AT_SYSINFO
    assert execfn is not None and execfn.string == str(i386_script)
    assert list(argv) == [target("sig_basic.i386"), "rt", str(i386_script), "x"]


@pytest.mark.parametrize(("command", "needle"), [
    ("trace", "rt_sigframe_ia32 at"),
    ("frame", "rt_sigframe_ia32 at"),
    ("auxv", "(i386)"),
    ("report", "(i386)"),
])
def test_every_command_takes_a_script(i386_script: Path, command: str, needle: str) -> None:
    verbose = ["-v"] if command == "trace" else []  # the full frame, not the compact line
    out = subprocess.run([sys.executable, "-m", "sigdbg", command, *verbose, "--",
                          str(i386_script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert needle in out.stdout
    assert "Traceback" not in out.stderr


def test_shell_takes_a_script(i386_script: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGDBG_HISTORY", str(tmp_path / "history"))
    log = tmp_path / "tracee.out"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        text = drive("run\ncontinue\nframe --no-picture\nregs\ncontinue\n\x04",
                     shell_args(str(i386_script)), tracee_stdio={"stdout": fd})
    finally:
        os.close(fd)
    (rep,) = parse_reports(log.read_text())
    assert "error:" not in text, text
    assert "rt_sigframe_ia32 at" in text
    assert f"ip={rep['pc']:#010x}" in text  # the frame, as the handler saw it
    assert "eip" in text  # the live registers are the i386 process's
    assert "+++ exited with 0 +++" in text


def test_neither_elf_nor_script_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "plain.txt"
    p.write_text("echo hi\n")
    p.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "sigdbg", "trace", "--", str(p)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        f"sigdbg: error: {p}: not an ELF file or a #! script"]


@pytest.mark.parametrize("command", ["trace", "frame", "auxv"])
def test_script_whose_interpreter_is_missing_is_one_line(tmp_path: Path, command: str) -> None:
    """execve fails (ENOENT from fs/binfmt_script.c's open_exec): strace says
    'No such file or directory'; sigdbg says it in one line, and does not hang
    reaping a child that stopped on its way out (it hung here before)."""
    p = tmp_path / "bad.sh"
    p.write_text("#!/nonexistent/interpreter\n")
    p.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "sigdbg", command, "--", str(p)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        f"sigdbg: error: {p}: cannot execute: No such file or directory"]


def test_trace_dot_slash_script_with_arguments(sh_script: Path) -> None:
    """The issue's own command line: ``sigdbg trace -f -- ./script.sh a b``
    from the script's directory, against the same command untraced."""
    cwd = sh_script.parent
    plain = subprocess.run(["./script.sh", "a", "b"], cwd=cwd, capture_output=True, text=True,
                           timeout=20)
    out = subprocess.run([sys.executable, "-m", "sigdbg", "trace", "-v", "-f", "-o",
                          str(cwd / "trace.txt"), "--", "./script.sh", "a", "b"],
                         cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == plain.returncode == 3, out.stderr
    assert norm(out.stdout) == norm(plain.stdout) and len(norm(out.stdout)) == 1
    assert "script args: a b" in out.stdout
    trace = (cwd / "trace.txt").read_text()
    assert "SIGUSR1" in trace and "rt_sigframe at" in trace
