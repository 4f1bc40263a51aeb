"""The vDSO read from target memory against readelf/objdump on the dumped image."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import target


def sigdbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigdbg", *args], capture_output=True,
                          text=True, timeout=30)


def readelf_dynsyms(path: Path) -> set[tuple[str, str | None, int, int]]:
    """(name, version, value, size) of every FUNC/OBJECT symbol readelf lists."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                         text=True, check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit():
            continue
        if parts[3] not in ("FUNC", "OBJECT"):
            continue
        name = parts[7]
        version = None
        m = re.match(r"([^@]+)@@?(.+)", name)
        if m:
            name, version = m.group(1), m.group(2)
        syms.add((name, version, int(parts[1], 16), int(parts[2], 0)))
    return syms


@pytest.mark.parametrize("prog", ["hello", "hello.i386"])
def test_symbols_equal_readelf(prog: str, tmp_path: Path) -> None:
    dump = tmp_path / "vdso.so"
    out = sigdbg("vdso", "--json", "--dump", str(dump), "--", target(prog))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    ours = {(s["name"], s["version"], s["offset"], s["size"]) for s in doc["symbols"]}
    theirs = readelf_dynsyms(dump)
    assert theirs and ours == theirs
    versions = subprocess.run(["readelf", "-V", "-W", str(dump)], capture_output=True,
                              text=True, check=True).stdout
    for v in doc["version_definitions"]:
        assert v in versions
    if prog == "hello.i386":
        names = {(s["name"], s["version"]) for s in doc["symbols"]}
        assert ("__kernel_rt_sigreturn", "LINUX_2.5") in names
        assert ("__kernel_vsyscall", "LINUX_2.5") in names
        assert doc["entry_symbol"] == "__kernel_vsyscall"
        assert doc["at_sysinfo"] == doc["entry"]
    else:
        assert any(s["name"] == "__vdso_clock_gettime" and s["version"] == "LINUX_2.6"
                   for s in doc["symbols"])
    assert doc["at_sysinfo_ehdr"] == doc["start"]


def test_disas_kernel_rt_sigreturn_i386() -> None:
    out = sigdbg("vdso", "--disas", "__kernel_rt_sigreturn", "--", target("hello.i386"))
    assert out.returncode == 0, out.stderr
    lines = [line.split(None, 2)[2] for line in out.stdout.splitlines()[1:]]
    assert lines[0] == "movl $0xad, %eax"
    assert lines[1] == "int $0x80"


def test_disas_x86_64_matches_objdump(tmp_path: Path) -> None:
    dump = tmp_path / "vdso64.so"
    out = sigdbg("vdso", "--dump", str(dump), "--disas", "__vdso_getcpu", "--", target("hello"))
    assert out.returncode == 0, out.stderr
    ours = [line.split(None, 2)[2].split()[0] for line in out.stdout.splitlines()[1:]]
    obj = subprocess.run(["objdump", "-d", "-M", "suffix", "--no-show-raw-insn", str(dump)],
                         capture_output=True, text=True, check=True).stdout
    body = obj.split("<__vdso_getcpu@@LINUX_2.6>:")[1].split("\n\n")[0]
    theirs = [ln.split("\t")[1].split()[0] for ln in body.strip().splitlines() if "\t" in ln]
    assert len(ours) >= 3
    assert ours[: len(theirs)] == theirs[: len(ours)]


def test_vsyscall_report() -> None:
    out = sigdbg("vsyscall", "--json", "--", target("hello"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    with open("/proc/self/maps") as fh:
        line = next((ln for ln in fh if ln.rstrip().endswith("[vsyscall]")), None)
    if line is None:
        assert doc["mode"] == "none" and not doc["present"]
    else:
        perms = line.split()[1]
        assert doc["perms"] == perms
        assert doc["mode"] == ("emulate" if perms.startswith("r") else "xonly")
        assert doc["readable"] == perms.startswith("r")
        assert [e["address"] for e in doc["entries"]] == [
            0xFFFFFFFFFF600000, 0xFFFFFFFFFF600400, 0xFFFFFFFFFF600800]
        if not doc["readable"]:
            assert "EIO" in doc["read_error"]
    out32 = sigdbg("vsyscall", "--json", "--", target("hello.i386"))
    assert json.loads(out32.stdout)["mode"] == "not-applicable"


def test_maps_explains_special_mappings() -> None:
    out = sigdbg("maps", "--json", "--", target("hello"))
    doc = json.loads(out.stdout)
    with_special = {m["path"] for m in doc["mappings"] if "special" in m}
    assert {"[vdso]", "[vvar]", "[stack]"} <= with_special
    text = sigdbg("maps", "--", target("hello")).stdout
    assert "arch/x86/entry/vdso/vma.c" in text
