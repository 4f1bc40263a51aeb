"""Dump the live [vdso] of a child process the test starts (independent of sigdbg)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def dump_vdso(argv: list[str], exe: str, out: Path) -> bytes:
    """Start ``argv``, wait until it has exec'd ``exe`` and has a [vdso], read the
    whole mapping through /proc/PID/mem, kill the child, and write the bytes to ``out``."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, f"{argv} exited early"
            span = None
            try:
                if os.path.realpath(f"/proc/{proc.pid}/exe") == exe:
                    with open(f"/proc/{proc.pid}/maps") as fh:
                        for line in fh:
                            if line.rstrip().endswith("[vdso]"):
                                lo, hi = line.split()[0].split("-")
                                span = int(lo, 16), int(hi, 16)
            except OSError:
                pass
            if span is not None:
                break
            assert time.monotonic() < deadline, f"{argv}: no [vdso] after exec"
            time.sleep(0.01)
        with open(f"/proc/{proc.pid}/mem", "rb", buffering=0) as mem:
            mem.seek(span[0])
            data = mem.read(span[1] - span[0])
    finally:
        proc.kill()
        proc.wait()
    assert len(data) == span[1] - span[0]
    out.write_bytes(data)
    return data
