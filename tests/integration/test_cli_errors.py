"""Bad input: one clear line on stderr, a non-zero exit, no traceback, nothing left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sigdbg
from sigdbg.errors import MemoryReadError
from tests.conftest import target


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigdbg", *args], capture_output=True,
                          text=True, timeout=timeout)


def processes_running(path: str) -> list[int]:
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as fh:
                    if fh.read().split(b"\0")[0] == path.encode():
                        found.append(int(d))
            except OSError:
                pass
    return found


def wait_for_process(path: str, seconds: float = 5.0) -> int:
    """The pid of the first process running ``path`` (started by the test)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = processes_running(path)
        if pids:
            return pids[0]
        time.sleep(0.01)
    raise AssertionError(f"{path} did not start")


def assert_one_line_error(out: subprocess.CompletedProcess[str], *needles: str,
                          target_stderr: bool = False) -> None:
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    if target_stderr:  # the tracee's own stderr shares ours; judge only sigdbg's lines
        lines = [ln for ln in lines if ln.startswith("sigdbg")]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("sigdbg:"), lines
    assert "Traceback" not in out.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture
def private_copy(tmp_path: Path) -> str:
    """A copy of a target at a unique path, to find leftovers by command line."""
    dst = tmp_path / "private-hello"
    shutil.copy(target("hello"), dst)
    return str(dst)


def test_missing_program(tmp_path: Path) -> None:
    assert_one_line_error(run("auxv", "--", str(tmp_path / "nope")), "no such program")


def test_non_elf_file(tmp_path: Path) -> None:
    # (a #! script is a program: tests/integration/test_scripts.py)
    p = tmp_path / "notes.txt"
    p.write_text("echo hi\n")
    p.chmod(0o755)
    assert_one_line_error(run("auxv", "--", str(p)), "not an ELF")


def test_directory(tmp_path: Path) -> None:
    assert_one_line_error(run("maps", "--", str(tmp_path)), "is a directory")


@pytest.mark.parametrize("kind", ["fifo", "fifo-with-writer", "directory", "dev-null"])
@pytest.mark.parametrize("command", [("auxv",), ("trace",), ("shell",)])
def test_program_that_is_not_a_regular_file(tmp_path: Path, kind: str,
                                            command: tuple[str, ...]) -> None:
    """A FIFO, a directory or a device as the program: one line saying it is
    not a regular file, at once.  Opening a FIFO to look at its first bytes
    blocked sigdbg until a writer came, and reading it until the writer
    wrote (the timeout fails the test then)."""
    writer = -1
    if kind.startswith("fifo"):
        path = str(tmp_path / "fifo")
        os.mkfifo(path, 0o755)
        if kind == "fifo-with-writer":  # a writer that never writes
            writer = os.open(path, os.O_RDWR)
        what = "a FIFO"
    elif kind == "directory":
        path, what = str(tmp_path), "a directory"
    else:
        path, what = os.devnull, "a character device"
    try:
        out = subprocess.run([sys.executable, "-m", "sigdbg", *command, "--", path],
                             capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL)
    finally:
        if writer >= 0:
            os.close(writer)
    if command == ("shell",):  # a script on stdin: the shell says it and goes on
        assert out.returncode == 0 and "Traceback" not in out.stdout + out.stderr
        lines = [ln for ln in (out.stdout + out.stderr).splitlines() if "error" in ln]
        assert len(lines) == 1, out
        assert f"{path}: not a regular file (it is {what})" in lines[0]
        return
    assert_one_line_error(out, f"{path}: not a regular file (it is {what})")


def test_not_executable(tmp_path: Path) -> None:
    p = tmp_path / "noexec"
    shutil.copy(target("hello"), p)
    p.chmod(0o644)
    assert_one_line_error(run("auxv", "--", str(p)), "not executable")


def test_dead_pid() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert_one_line_error(run("auxv", "-p", str(proc.pid)), str(proc.pid))


def test_refuses_pid_1() -> None:
    assert_one_line_error(run("auxv", "-p", "1"), "refusing")


def test_pid_held_by_another_tracer(private_copy: str) -> None:
    tracer = subprocess.Popen(["strace", "-qq", "-o", os.devnull, private_copy, "sleep"])
    try:
        pid = wait_for_process(private_copy)
        assert_one_line_error(run("auxv", "-p", str(pid)), "not permitted")
    finally:
        for pid in processes_running(private_copy):
            os.kill(pid, 9)
        tracer.wait(timeout=10)


def test_exits_before_entry(tmp_path: Path) -> None:
    """A dynamic program whose library is gone: ld.so exits 127 before AT_ENTRY."""
    (tmp_path / "lib.c").write_text("int f(void){return 1;}\n")
    (tmp_path / "main.c").write_text("int f(void); int main(void){return f();}\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libgone.so"),
                    str(tmp_path / "lib.c")], check=True)
    subprocess.run(["gcc", "-o", str(tmp_path / "needslib"), str(tmp_path / "main.c"),
                    f"-L{tmp_path}", "-lgone", f"-Wl,-rpath,{tmp_path}"], check=True)
    (tmp_path / "libgone.so").unlink()
    out = run("auxv", "--at", "entry", "--", str(tmp_path / "needslib"))
    assert_one_line_error(out, "before reaching its entry point", target_stderr=True)


def test_frame_program_without_signals(private_copy: str) -> None:
    out = run("frame", "--", private_copy)
    assert_one_line_error(out, "without entering a signal handler")
    assert processes_running(private_copy) == []


def test_unreadable_address(private_copy: str) -> None:
    out = run("frame", "--address", "0x10", "--", private_copy)
    assert_one_line_error(out, "0x10")
    assert processes_running(private_copy) == []
    with sigdbg.launch([private_copy]) as s:
        vvar = s.maps().by_name("[vvar]")
        assert vvar is not None
        with pytest.raises(MemoryReadError) as exc:
            s.task.read(vvar.start, 16)
        assert "EIO" in str(exc.value)


def test_usage_errors() -> None:
    assert_one_line_error(run("auxv"), "no target")
    assert_one_line_error(run("auxv", "-p", "123", "--", "x"), "either")
    out = run("nosuchcommand")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert_one_line_error(run("vdso", "--disas", "no_such_symbol", "--", target("hello")),
                          "no_such_symbol")


def test_escape_sequences_are_not_printed(tmp_path: Path) -> None:
    """argv/AT_EXECFN from the target go through escaping, never raw to the terminal."""
    evil = tmp_path / "evil\x1b[2Jname"
    shutil.copy(target("hello"), evil)
    out = run("--color", "never", "auxv", "--", str(evil), "\x1b]0;pwned\x07")
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert "\\x1b[2Jname" in out.stdout


def test_debug_shows_traceback(tmp_path: Path) -> None:
    out = run("--debug", "auxv", "--", str(tmp_path / "nope"))
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_tracer_crash_kills_tracee(private_copy: str) -> None:
    """PTRACE_O_EXITKILL: SIGKILL to sigdbg itself must not leave the tracee behind."""
    proc = subprocess.Popen([sys.executable, "-m", "sigdbg", "trace", "--", private_copy,
                             "sleep"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        pid = wait_for_process(private_copy)
        proc.kill()
        proc.wait(timeout=10)
        for _ in range(500):
            if not processes_running(private_copy):
                break
            time.sleep(0.01)
        assert processes_running(private_copy) == []
    finally:
        for pid in processes_running(private_copy):
            os.kill(pid, 9)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
