"""auxv from the initial stack against /proc/PID/auxv and LD_SHOW_AUXV."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

import sigdbg
from tests.conftest import target


def proc_auxv(pid: int, word: int) -> list[tuple[int, int]]:
    """Independent parse of /proc/PID/auxv (stop at AT_NULL)."""
    with open(f"/proc/{pid}/auxv", "rb") as fh:
        raw = fh.read()
    fmt = "<QQ" if word == 8 else "<II"
    out = []
    for off in range(0, len(raw), 2 * word):
        t, v = struct.unpack_from(fmt, raw, off)
        if t == 0:
            break
        out.append((t, v))
    return out


@pytest.mark.parametrize("name,word", [("hello", 8), ("hello.static", 8), ("hello.i386", 4),
                                       ("spin.nolibc", 8), ("spin.i386", 4)])
def test_stack_equals_proc(name: str, word: int) -> None:
    with sigdbg.launch([target(name), "a b", "c"]) as s:
        report = s.auxv()
        assert report.proc_checked and report.differences == ()
        assert [(e.type, e.value) for e in report.entries] == proc_auxv(s.pid, word)
        assert report.argv == (target(name), "a b", "c")
        assert report.abi == ("x86_64" if word == 8 else "i386")
        # every entry this kernel emits has a name (nothing shown only as a number)
        assert all(e.name for e in report.entries)
        execfn = report.get("AT_EXECFN")
        assert execfn is not None and execfn.string == target(name)
        platform = report.get("AT_PLATFORM")
        assert platform is not None and platform.string == ("x86_64" if word == 8 else "i686")
        rnd = report.get("AT_RANDOM")
        assert rnd is not None and rnd.data is not None and len(rnd.data) == 16
        with open(f"/proc/{s.pid}/mem", "rb") as mem:
            mem.seek(rnd.value)
            assert mem.read(16) == rnd.data


def test_ld_show_auxv_agrees() -> None:
    """ld.so of the same process prints its auxv: every line must match our decode."""
    r, w = os.pipe()
    env = dict(os.environ, LD_SHOW_AUXV="1")
    with sigdbg.launch([target("hello")], env=env, stdout=w) as s:
        os.close(w)
        report = s.auxv()
        for _ in s.events():
            pass
    out = os.read(r, 1 << 20).decode()
    os.close(r)
    shown = {}
    for line in out.splitlines():
        if line.startswith("AT_") and ":" in line:
            k, _, v = line.partition(":")
            shown[k.strip()] = v.strip()
    assert len(shown) >= 15, out
    ours = {e.name: e for e in report.entries}
    by_type = {e.type: e for e in report.entries}
    for name, text in shown.items():
        if name.startswith("AT_???"):  # glibc 2.36 does not know newer tags
            e = by_type[int(name.split("(")[1].rstrip(")"), 16)]
            assert int(text, 16) == e.value, name
            continue
        assert name in ours, f"{name} printed by ld.so but not decoded"
        e = ours[name]
        if e.string is not None:
            assert text == e.string, name
        elif name == "AT_HWCAP":  # glibc prints it as bare hex on x86
            assert int(text, 16) == e.value, name
        elif text.startswith("0x"):
            assert int(text, 16) == e.value, name
        elif text.isdigit():
            assert int(text) == e.value, name
        else:
            # glibc names some values (AT_HWCAP2 flags): our bit names must match
            assert set(text.lower().split()) <= {f.lower() for f in e.flags}, (name, text)


def test_i386_at_sysinfo_is_kernel_vsyscall() -> None:
    with sigdbg.launch([target("hello.i386")]) as s:
        report = s.auxv()
        sysinfo = report.get("AT_SYSINFO")
        assert sysinfo is not None
        assert sysinfo.mapping == "[vdso]"
        assert sysinfo.symbol is not None and sysinfo.symbol.startswith("__kernel_vsyscall")
        vdso = s.maps().by_name("[vdso]")
        ehdr = report.get("AT_SYSINFO_EHDR")
        assert vdso is not None and ehdr is not None and ehdr.value == vdso.start


def test_at_entry_stops_after_loader() -> None:
    with sigdbg.launch([target("hello")], at="entry") as s:
        regs = s.registers()
        entry = s.auxv().get("AT_ENTRY")
        assert entry is not None and regs["rip"] == entry.value
        paths = {m.path for m in s.maps().mappings}
        assert any("libc.so" in p for p in paths), "libc should be mapped at entry"
    with sigdbg.launch([target("hello")]) as s:
        base = s.auxv().get("AT_BASE")
        assert base is not None
        interp = s.maps().find(base.value)
        assert interp is not None and "ld-linux" in interp.path
        assert s.registers()["rip"] != s.auxv().get("AT_ENTRY").value  # type: ignore[union-attr]


def test_attach_and_detach_leaves_process_running() -> None:
    proc = subprocess.Popen([target("hello"), "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the program has started
        with sigdbg.attach(proc.pid) as s:
            report = s.auxv()
            assert report.differences == ()
            assert report.argv == (target("hello"), "wait")
        with open(f"/proc/{proc.pid}/status") as fh:
            status = fh.read()
        assert "TracerPid:\t0" in status
        assert "State:\tS" in status or "State:\tR" in status
        proc.stdin.close()  # type: ignore[union-attr]
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_auxv_json() -> None:
    out = subprocess.run([sys.executable, "-m", "sigdbg", "auxv", "--json", "--",
                          target("hello.i386")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    names = [e["name"] for e in doc["entries"]]
    assert names[0] == "AT_SYSINFO" and "AT_SYSINFO_EHDR" in names
    for e in doc["entries"]:
        assert {"type", "name", "value"} <= set(e)
