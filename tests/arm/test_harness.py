"""The guest harness's own pieces, on the host (no boot): the cpio writer
against the host's cpio(1), the console parser against what a real console
does to the framing (CR/LF, kernel lines in between, a truncated end), and a
missing tool failing with a clear message."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from tests.arm import guest
from tests.arm.guest import MARK, Cpio, GuestError, job_archive, parse_console


def test_cpio_matches_cpio_tool(tmp_path: Path) -> None:
    c = Cpio()
    c.add("job/cmd/000-a.sh", b"echo hi\n", 0o755)
    c.symlink("bin/sh", "busybox")
    c.add("odd/len", b"x" * 5)
    data = c.finish()
    assert len(data) % 512 == 0
    listing = subprocess.run(["cpio", "-t", "-v", "--quiet"], input=data, capture_output=True,
                             check=True).stdout.decode()
    names = [line.split()[-1] if "->" not in line else line.split()[-3]
             for line in listing.splitlines()]
    assert names == ["job", "job/cmd", "job/cmd/000-a.sh", "bin", "bin/sh", "odd", "odd/len"]
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-i", "-d", "--quiet"], input=data, cwd=out, check=True)
    assert (out / "job/cmd/000-a.sh").read_bytes() == b"echo hi\n"
    assert (out / "job/cmd/000-a.sh").stat().st_mode & 0o777 == 0o755
    assert (out / "odd/len").read_bytes() == b"xxxxx"
    assert (out / "bin/sh").is_symlink()


def test_job_archive_rejects_bad_names() -> None:
    with pytest.raises(GuestError, match="bad command name"):
        job_archive([("a b", "true")], {}, 10)


def frame(idx: int, name: str, rc: int, out: bytes, err: bytes) -> list[str]:
    return [f"{MARK}-BEGIN {idx:03d}-{name} {rc}", base64.b64encode(out).decode(),
            f"{MARK}-STDERR {idx:03d}-{name}", base64.b64encode(err).decode(),
            f"{MARK}-END {idx:03d}-{name}"]


def test_console_parser() -> None:
    lines = ["[    0.000000] Booting Linux", f"{MARK}-UP 3.1",
             *frame(0, "one", 0, b"line\n" * 100, b""),
             "[    5.1] random kernel line",
             *frame(1, "two", 3, b"", b"oops\n"),
             *frame(2, "cut", 0, b"abc", b"")[:2]]
    got = parse_console("\r\n".join(lines))
    assert got["one"].rc == 0 and got["one"].stdout == b"line\n" * 100
    assert got["two"].rc == 3 and got["two"].stderr == b"oops\n"
    assert "cut" not in got  # truncated: the caller reports it missing


def test_missing_tool_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guest, "QEMU", "qemu-system-aarch64-not-installed")
    with pytest.raises(GuestError, match="not found: run scripts/bootstrap-arm"):
        guest.run_batch([("x", "true")])
