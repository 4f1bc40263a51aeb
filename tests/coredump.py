"""Make real core files for the tests: by the kernel and by gdb's gcore.

Kernel cores: the child gets RLIMIT_CORE = unlimited and runs in its own
directory.  The kernel writes the core where /proc/sys/kernel/core_pattern
says; when that is not a plain file name in the process's directory (a pipe
to systemd-coredump/apport, or an absolute path), :func:`core_pattern_in_cwd`
sets it to ``core`` for the duration of the test run and restores it (the
tests run as root).
"""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

PATTERN = "/proc/sys/kernel/core_pattern"


def pattern_is_local(pattern: str) -> bool:
    """A pattern that makes a file in the dumping process's cwd."""
    return bool(pattern) and not pattern.startswith("|") and "/" not in pattern


@contextlib.contextmanager
def core_pattern_in_cwd() -> Iterator[None]:
    with open(PATTERN) as fh:
        old = fh.read().rstrip("\n")
    if pattern_is_local(old):
        yield
        return
    with open(PATTERN, "w") as fh:
        fh.write("core")
    try:
        yield
    finally:
        with open(PATTERN, "w") as fh:
            fh.write(old)


def kernel_core(argv: list[str], workdir: Path, limit: int | None = None) -> tuple[Path, str]:
    """Run ``argv`` in ``workdir`` until it dumps core; (core path, its stdout).
    ``limit``: RLIMIT_CORE in bytes (default unlimited)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rlim = resource.RLIM_INFINITY if limit is None else limit

    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (rlim, rlim))

    with core_pattern_in_cwd():
        proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=30,
                              preexec_fn=set_limit)
    assert proc.returncode == -signal.SIGSEGV, (proc.returncode, proc.stderr)
    cores = [p for p in workdir.iterdir() if p.name.startswith("core")]
    assert len(cores) == 1, f"expected one core in {workdir}: {cores}"
    return cores[0], proc.stdout


def gcore(argv: list[str], workdir: Path) -> tuple[Path, str, bytes]:
    """Start ``argv`` (a target's ``wait`` scenario), wait for SIGDBG-READY, dump
    it with ``gcore``, then kill it.  (core path, stdout, its live [vdso] bytes
    read through /proc/PID/mem)."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("SIGDBG-READY"):
                break
        else:
            raise AssertionError(f"{argv} ended before SIGDBG-READY")
        vdso = b""
        with open(f"/proc/{proc.pid}/maps") as fh:
            for m in fh:
                if m.rstrip().endswith("[vdso]"):
                    lo, hi = (int(x, 16) for x in m.split()[0].split("-"))
                    with open(f"/proc/{proc.pid}/mem", "rb") as mem:
                        mem.seek(lo)
                        vdso = mem.read(hi - lo)
        prefix = workdir / "gcore"
        out = subprocess.run(["gdb", "-nx", "-batch", "-ex", f"attach {proc.pid}",
                              "-ex", f"gcore {prefix}.{proc.pid}", "-ex", "detach"],
                             capture_output=True, text=True, timeout=60)
        path = Path(f"{prefix}.{proc.pid}")
        assert path.exists(), out.stdout + out.stderr
    finally:
        proc.kill()
        rest, _ = proc.communicate(timeout=10)
    return path, "".join(lines) + (rest or ""), vdso
