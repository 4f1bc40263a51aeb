"""The ARM test session: cross-compile targets/arm, boot the arm64 guest ONCE,
run every guest-side program in that one boot, hand the results to the tests.

Everything runs in one batch because a boot costs 5-20 s and each process
start in the guest is emulated.  A missing tool (QEMU, cross compiler, apt)
fails the session: scripts/bootstrap-arm installs them (make test-arm runs it).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.arm.guest import Batch, Result, python_files, run_batch
from tests.conftest import ROOT, TARGETS

ARM_BUILD = TARGETS / "build" / "arm"

#: (result name, program in targets/build/arm)
PROGRAMS = (
    ("probe_a64", "abi.probe.a64"),
    ("probe_a32", "abi.probe.a32"),
    ("frame_a64", "sig_frame.a64"),
    ("frame_arm", "sig_frame.arm"),
    ("frame_thumb", "sig_frame.thumb"),
    ("step_a64", "sig_step.a64"),
    ("step_arm", "sig_step.arm"),
    ("step_thumb", "sig_step.thumb"),
    ("bt_a64", "sig_bt.a64"),
)

_batch: Batch | None = None


@pytest.fixture(scope="session")
def guest() -> Batch:
    """The results of the session's one guest boot."""
    global _batch
    subprocess.run(["make", "-s", "-C", str(TARGETS), "arm"], check=True)
    files: dict[str, Path | bytes] = {}
    commands = [("uname", "uname -r; grep -m1 Features /proc/cpuinfo"),
                # what a PER_LINUX32 task reads: the compat hwcap names
                ("cpuinfo32", "linux32 grep -m1 Features /proc/cpuinfo")]
    for name, prog in PROGRAMS:
        files[prog] = ARM_BUILD / prog
        commands.append((name, f"./{prog}"))
    # python3 + wheels in the guest, running sigdbg's own code (one start)
    files.update(python_files(ROOT / "sigdbg", ""))
    files.update(python_files(Path(__file__).with_name("guest_vdso.py"), ""))
    files.update(python_files(Path(__file__).with_name("guest_ptrace.py"), ""))
    files.update(python_files(Path(__file__).with_name("guest_sigdbg.py"), ""))
    commands.append(("py_vdso", "PYTHONPATH=/job python3 /job/guest_vdso.py"))
    # glibc's own auxv listing (the dynamic loader of the guest's python3; the
    # static targets' libc ignores LD_SHOW_AUXV)
    commands.append(("ld_show_auxv", "LD_SHOW_AUXV=1 python3 -S -c pass"))
    # sigdbg itself on the three builds, one python start (tests/arm/test_sigdbg_inspect.py)
    commands.append(("py_sigdbg", "PYTHONPATH=/job python3 /job/guest_sigdbg.py "
                     + " ".join(f"/job/sig_frame.{b}" for b in ("a64", "arm", "thumb"))
                     + " --step /job/sig_step.a64"
                     + " --step-a32 /job/sig_step.arm /job/sig_step.thumb"
                     + " --stack /job/sig_bt.a64"))
    for build in ("a64", "arm", "thumb"):
        prog = "sig_frame." + build
        commands.append((f"ptrace_{build}",
                         f"python3 /job/guest_ptrace.py ./{prog} /tmp/{prog}.out; "
                         f"cat /tmp/{prog}.out"))
    _batch = run_batch(commands, files, python=True)
    return _batch


def pytest_configure(config: pytest.Config) -> None:
    # known to pytest-xdist; declared here too for runs without it
    config.addinivalue_line("markers", "xdist_group(name): run the group on one xdist worker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (``-n 2 --dist loadgroup``) all ARM tests go to one worker,
    so the guest boots once, not once per worker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.xdist_group("arm-guest"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _batch is not None:
        terminalreporter.write_line(
            f"arm guest: image {_batch.timings['build']:.1f} s, boot {_batch.boot_s:.1f} s, "
            f"boot+batch+poweroff {_batch.total_s:.1f} s; kernel "
            f"{_batch.results['uname'].text.splitlines()[0]}"
        )
        res = _batch.results.get("py_sigdbg")
        if res is not None and res.rc == 0:
            import json

            doc = json.loads(res.text)
            terminalreporter.write_line(
                f"arm guest: sigdbg auxv/maps/vdso (guest_sigdbg.py) {doc['elapsed_s']} s "
                f"(imports {doc['import_s']} s, per target "
                + ", ".join(f"{k} {v['inspect_s']} s" for k, v in doc["targets"].items())
                + ", CLI runs " + ", ".join(f"{c['s']} s" for c in doc["cli"])
                + ", frame/trace runs " + ", ".join(f"{k} {c['s']} s"
                                                    for k, c in doc["frames"].items())
                + ", --step-sigreturn runs " + ", ".join(f"{k} {c['s']} s"
                                                         for k, c in doc.get("steps", {}).items())
                + ", shell sessions "
                + ", ".join(f"{k} {c['s']} s" for k, c in doc.get("shell", {}).items())
                + ", AArch32 --step-sigreturn runs "
                + ", ".join(f"{k} {c['s']} s" for k, c in doc.get("steps_a32", {}).items())
                + ")")


@dataclass
class Report:
    """One program's SIGDBG-REPORT lines (by tag) and SIGDBG-HEX dumps."""

    lines: dict[str, dict[str, int]]
    dumps: dict[str, list[tuple[int, bytes]]]
    done: bool

    def __getitem__(self, tag: str) -> dict[str, int]:
        return self.lines[tag]

    def dump(self, tag: str) -> tuple[int, bytes]:
        """(start address, bytes) of a contiguous dump."""
        chunks = self.dumps[tag]
        start = chunks[0][0]
        data = b""
        for addr, chunk in chunks:
            assert addr == start + len(data), f"{tag}: dump not contiguous"
            data += chunk
        return start, data


_REPORT = re.compile(r"^SIGDBG-REPORT tag=(\S+)(.*)$")
_HEX = re.compile(r"^SIGDBG-HEX tag=(\S+) addr=(0x[0-9a-f]+) data=([0-9a-f]*)$")


def parse(result: Result) -> Report:
    assert result.rc == 0, f"{result.name} exited {result.rc}: {result.stderr!r}"
    lines: dict[str, dict[str, int]] = {}
    dumps: dict[str, list[tuple[int, bytes]]] = {}
    done = False
    for line in result.text.splitlines():
        if m := _REPORT.match(line):
            assert m.group(1) not in lines, f"duplicate report {m.group(1)}"
            lines[m.group(1)] = {k: int(v, 0) for k, _, v in
                                 (kv.partition("=") for kv in m.group(2).split())}
        elif m := _HEX.match(line):
            dumps.setdefault(m.group(1), []).append((int(m.group(2), 0),
                                                     bytes.fromhex(m.group(3))))
        elif line == "SIGDBG-DONE":
            done = True
    return Report(lines, dumps, done)
