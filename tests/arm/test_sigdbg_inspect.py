"""sigdbg itself on AArch64 and AArch32 (compat) processes on the real arm64
kernel: ``auxv``, ``maps`` and ``vdso`` (issue 14, first slice).

tests/arm/guest_sigdbg.py runs in the guest: sigdbg launches each build of
targets/arm/sig_frame stopped at exec and runs the commands; the script reads
/proc/PID/auxv and /proc/PID/maps of that process itself; then sigdbg
detaches and the same process runs on and reports its own view (getauxval,
/proc/self/auxv and maps, the lr its handlers got from the kernel, the kuser
version word, the vDSO image).  Each decoded value here is compared with one
of those, with readelf/capstone on the host, or with /proc/cpuinfo.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.arm.conftest import Report, parse
from tests.arm.guest import Batch, Result
from tests.arm.test_hwcap import CPUINFO_SPELLING, features

pytestmark = pytest.mark.timeout(900)

BUILDS = ("a64", "arm", "thumb")
WORD = {"a64": 8, "arm": 4, "thumb": 4}


_DOCS: dict[int, dict[str, Any]] = {}


def _doc(result: Result) -> dict[str, Any]:
    """The guest script's JSON (parsed once per session)."""
    if id(result) not in _DOCS:
        assert result.rc == 0, result.stderr.decode(errors="replace")[-3000:]
        _DOCS[id(result)] = json.loads(result.text)
    return _DOCS[id(result)]


def target(guest: Batch, build: str) -> dict[str, Any]:
    t: dict[str, Any] = _doc(guest.results["py_sigdbg"])["targets"][f"sig_frame.{build}"]
    return t


def command(t: dict[str, Any], key: str) -> Any:
    text = t["commands"][key]
    assert not text.startswith("ERROR"), text
    return json.loads(text) if key.endswith("json") else text


def program(t: dict[str, Any]) -> Report:
    """The program's own report, from the run sigdbg launched and detached."""
    assert t["status"] == 0, f"the program ended with status {t['status']:#x}"
    rep = parse(Result("program", 0, t["program"].encode(), b""))
    assert rep.done
    return rep


def auxv_pairs(raw: bytes, word: int) -> list[tuple[int, int]]:
    fmt = "<QQ" if word == 8 else "<II"
    out = []
    for a_type, a_val in struct.iter_unpack(fmt, raw[: len(raw) // (2 * word) * 2 * word]):
        if a_type == 0:
            break
        out.append((a_type, a_val))
    return out


def maps_rows(text: str) -> list[tuple[int, int, str, int, int, str]]:
    rows = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        rows.append((lo, hi, parts[1], int(parts[2], 16), int(parts[4]),
                     parts[5].strip() if len(parts) > 5 else ""))
    return rows


# -- auxv ------------------------------------------------------------------------------

@pytest.mark.parametrize("build", BUILDS)
def test_auxv_equals_proc_and_program(guest: Batch, build: str) -> None:
    t = target(guest, build)
    aux = command(t, "auxv_json")
    assert aux["abi"] == ("aarch64" if build == "a64" else "arm")
    assert aux["pid"] == t["pid"]
    got = [(e["type"], e["value"]) for e in aux["entries"]]
    # /proc/PID/auxv of the same stopped process, parsed here with the word size
    assert got == auxv_pairs(bytes.fromhex(t["proc_auxv"]), WORD[build])
    assert aux["proc_checked"] and aux["differences"] == []
    # the program's own /proc/self/auxv and getauxval, later in the same process
    rep = program(t)
    _, own = rep.dump("auxv.proc")
    assert got == auxv_pairs(own, WORD[build])
    values = dict(got)
    for key, value in rep["auxv"].items():
        a_type = int(key[2:])
        assert values.get(a_type, 0) == value, f"AT {a_type}"
    # every entry the kernel wrote is known and named
    assert all(e["name"].startswith("AT_") and e["kind"] != "unknown" for e in aux["entries"])
    named = {e["name"]: e for e in aux["entries"]}
    assert named["AT_EXECFN"]["string"] == f"/job/sig_frame.{build}"
    assert aux["argv"] == [f"/job/sig_frame.{build}"]
    assert named["AT_SYSINFO_EHDR"]["mapping"] == "[vdso]"
    assert named["AT_RANDOM"]["mapping"] == "[stack]"


def test_auxv_a64_minsigstksz_and_hwcaps(guest: Batch) -> None:
    t = target(guest, "a64")
    named = {e["name"]: e for e in command(t, "auxv_json")["entries"]}
    own = program(t)["auxv"]
    assert named["AT_MINSIGSTKSZ"]["value"] == own["at51"] > 4096
    flags = named["AT_HWCAP"]["flags"] + named["AT_HWCAP2"]["flags"]
    # the kernel's names for the same bits (arch/arm64/kernel/cpuinfo.c)
    assert flags == features(guest.results["uname"].text)
    assert "AT_MINSIGSTKSZ" in command(t, "auxv_text")


def test_auxv_a64_names_as_glibc_prints_them(guest: Batch) -> None:
    """glibc's LD_SHOW_AUXV listing (python3's dynamic loader, another process
    on the same kernel): the same entries in the same order, the same
    per-boot values, AT_PLATFORM's string."""
    res = guest.results["ld_show_auxv"]
    assert res.rc == 0
    glibc = [line.split(":", 1) for line in res.text.splitlines() if line.startswith("AT_")]
    glibc_values = {name: value.strip() for name, value in glibc}
    entries = command(target(guest, "a64"), "auxv_json")["entries"]
    assert [e["name"] for e in entries] == [name for name, _ in glibc]
    named = {e["name"]: e for e in entries}
    for name in ("AT_MINSIGSTKSZ", "AT_PAGESZ", "AT_CLKTCK", "AT_PHENT", "AT_UID", "AT_EUID",
                 "AT_SECURE"):
        assert named[name]["value"] == int(glibc_values[name]), name
    assert named["AT_HWCAP"]["value"] == int(glibc_values["AT_HWCAP"], 16)  # printed bare hex
    assert named["AT_HWCAP2"]["value"] == int(glibc_values["AT_HWCAP2"], 16)
    assert named["AT_PLATFORM"]["string"] == glibc_values["AT_PLATFORM"] == "aarch64"


@pytest.mark.parametrize("build", ["arm", "thumb"])
def test_auxv_compat_32bit_pairs_and_hwcaps(guest: Batch, build: str) -> None:
    t = target(guest, build)
    aux = command(t, "auxv_json")
    named = {e["name"]: e for e in aux["entries"]}
    assert "AT_MINSIGSTKSZ" not in named  # a compat task gets none (6.1)
    # 32-bit pairs: the raw /proc file is a multiple of 8 bytes, and every
    # value fits in 32 bits
    raw = bytes.fromhex(t["proc_auxv"])
    assert len(raw) % 8 == 0
    assert all(e["value"] < 1 << 32 for e in aux["entries"])
    flags = named["AT_HWCAP"]["flags"] + named["AT_HWCAP2"]["flags"]
    assert [CPUINFO_SPELLING.get(n, n) for n in flags] == features(
        guest.results["cpuinfo32"].text)


# -- maps ------------------------------------------------------------------------------

@pytest.mark.parametrize("build", BUILDS)
def test_maps_equal_proc(guest: Batch, build: str) -> None:
    t = target(guest, build)
    maps = command(t, "maps_json")
    got = [(m["start"], m["end"], m["perms"], m["offset"], m["inode"], m["path"])
           for m in maps["mappings"]]
    assert got == maps_rows(t["proc_maps"])
    names = {m["path"]: m for m in maps["mappings"]}
    want = {"[vdso]", "[vvar]", "[stack]"} | ({"[sigpage]", "[vectors]"} if build != "a64"
                                             else set())
    assert want <= set(names)
    for name in want:
        sp = names[name]["special"]
        # explained for this arch, not with x86's sources
        assert "x86" not in sp["created_by"] and sp["purpose"]
    assert "arch/arm64/kernel/vdso.c" in names["[vdso]"]["special"]["created_by"]
    if build == "a64":
        assert "__kernel_rt_sigreturn" in names["[vdso]"]["special"]["purpose"]
        assert "pages" not in maps
        assert "[sigpage]" not in names and "[vectors]" not in names


@pytest.mark.parametrize("build", ["arm", "thumb"])
def test_maps_compat_special_pages_match_program(guest: Batch, build: str) -> None:
    """The [sigpage] entries sigdbg decoded are where the kernel sent this
    same process's handlers (installed without SA_RESTORER), and the kuser
    version is the word the program read itself."""
    t = target(guest, build)
    maps = command(t, "maps_json")
    rep = program(t)
    # the program's own /proc/self/maps: the special pages did not move
    _, own = rep.dump("maps")
    own_rows = {r[5]: r[:2] for r in maps_rows(own.decode())}
    for m in maps["mappings"]:
        if m["path"] in ("[sigpage]", "[vectors]", "[vdso]", "[vvar]"):
            assert own_rows[m["path"]] == (m["start"], m["end"])
    pages = {p["mapping"]: p for p in maps["pages"]}
    vec = pages["[vectors]"]
    assert vec["start"] == 0xFFFF0000 and vec["error"] is None
    assert vec["version"] == rep["kuser"]["version"] == 5
    helpers = {k["name"]: k for k in vec["kuser"]}
    assert {n: h["address"] for n, h in helpers.items()} == {
        "__kuser_cmpxchg64": 0xFFFF0F60, "__kuser_memory_barrier": 0xFFFF0FA0,
        "__kuser_cmpxchg": 0xFFFF0FC0, "__kuser_get_tls": 0xFFFF0FE0}
    assert all(h["present"] for h in helpers.values())
    # get_tls reads TPIDRURO and returns (capstone on the host, same bytes)
    tls = disasm(bytes.fromhex(helpers["__kuser_get_tls"]["code"]), 0xFFFF0FE0, "arm")
    assert tls[:2] == ["mrc p15, #0, r0, c13, c0, #3", "bx lr"]
    sig = pages["[sigpage]"]
    assert sig["error"] is None and sig["block_offset"] == 0
    assert "arm64" in sig["kernel"]
    entries = {e["name"]: e for e in sig["trampolines"]}
    mode = "Thumb" if build == "thumb" else "ARM"
    # lr at entry of the handlers installed with rt_sigaction without SA_RESTORER
    assert rep["sigpage"]["entry_lr"] == entries[f"rt_sigreturn ({mode})"]["address"]
    assert rep["sigpage_nosi"]["entry_lr"] == entries[f"sigreturn ({mode})"]["address"]
    for e in entries.values():
        assert (e["address"] & 1) == (e["mode"] == "thumb")
        insns = disasm(bytes.fromhex(e["code"]), e["address"] & ~1, e["mode"])
        nr = e["syscall_nr"]
        assert insns[0] in (f"mov r7, #{nr:#x}", f"movs r7, #{nr:#x}")
        assert insns[1].startswith("svc")
        assert e["disassembly"][0].endswith(insns[0])
    text = command(t, "maps_text")
    assert "__kuser_helper_version 5" in text and "rt_sigreturn (Thumb)" in text


@pytest.mark.parametrize("build", ["a64", "arm"])
def test_no_vsyscall_page(guest: Batch, build: str) -> None:
    t = target(guest, build)
    v = command(t, "vsyscall_json")
    assert "[vsyscall]" not in t["proc_maps"]
    assert (v["present"], v["mode"], v["entries"]) == (False, "not-applicable", [])
    assert v["mode_evidence"].startswith(("aarch64 tasks", "arm tasks"))


def disasm(code: bytes, address: int, mode: str) -> list[str]:
    import capstone

    arch, cs_mode = {"arm": (capstone.CS_ARCH_ARM, capstone.CS_MODE_ARM),
                     "thumb": (capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB),
                     "aarch64": (capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)}[mode]
    md = capstone.Cs(arch, cs_mode)
    return [f"{i.mnemonic} {i.op_str}".strip() for i in md.disasm(code, address)]


# -- vdso ------------------------------------------------------------------------------

def readelf_symbols(image: bytes, tmp: Path) -> dict[str, int]:
    """Defined dynamic symbols, versioned as readelf prints them -> value."""
    path = tmp / "vdso.so"
    path.write_bytes(image)
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                         text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].rstrip(":").isdigit() and parts[6] != "UND":
            syms[parts[7]] = int(parts[1], 16)
    return syms


@pytest.mark.parametrize("build", BUILDS)
def test_vdso_symbols_equal_readelf(guest: Batch, build: str, tmp_path: Path) -> None:
    t = target(guest, build)
    v = command(t, "vdso_json")
    auxv = program(t)["auxv"]
    assert v["start"] == v["at_sysinfo_ehdr"] == auxv["at33"]  # the program's getauxval
    maps = {m["path"]: m for m in command(t, "maps_json")["mappings"]}
    assert (v["start"], v["end"]) == (maps["[vdso]"]["start"], maps["[vdso]"]["end"])
    image = bytes.fromhex(t["vdso_dump"])  # what `sigdbg vdso --dump` wrote
    assert len(image) == v["image_size"] <= v["end"] - v["start"]
    # the vDSO's Linux version note (6.1.192) vs uname -r (6.1.0-57-arm64)
    kernel = guest.results["uname"].text.split()[0]
    assert v["linux_version"].split(".")[:2] == kernel.split(".")[:2]
    syms = readelf_symbols(image, tmp_path)
    got = {(s["name"] + (f"@{s['version']}" if s["version"] else "")): s["offset"]
           for s in v["symbols"]}
    # readelf says name@VERSION for a default version it did not mark "@@"
    assert {k.replace("@@", "@"): val for k, val in syms.items()} == got
    if build == "a64":
        # the program's own dump of its vDSO (same process): the same bytes
        start, own = program(t).dump("vdso")
        assert start == v["start"] and image[: len(own)] == own
        assert got["__kernel_rt_sigreturn@LINUX_2.6.39"] >= 0
    else:
        # the compat vDSO of this 6.1 kernel: time functions only, no sigreturn
        # code (that is in [sigpage]); reported as it is
        assert v["version_definitions"] == ["LINUX_2.6"]
        assert not [n for n in got if "sigreturn" in n]
        assert "__vdso_clock_gettime@LINUX_2.6" in got


def test_vdso_a64_rt_sigreturn_by_symbol(guest: Batch, tmp_path: Path) -> None:
    t = target(guest, "a64")
    v = command(t, "vdso_json")
    image = bytes.fromhex(t["vdso_dump"])
    value = readelf_symbols(image, tmp_path)["__kernel_rt_sigreturn@@LINUX_2.6.39"]
    d = command(t, "disas_json")
    assert d["symbol"] == "__kernel_rt_sigreturn"
    addr = v["start"] + value  # the vDSO is linked at 0
    want = disasm(image[value : value + 8], addr, "aarch64")
    assert want == ["mov x8, #0x8b", "svc #0"]
    assert [line.split(None, 2)[2] for line in d["instructions"]] == want
    assert [int(line.split(":")[0], 16) for line in d["instructions"]] == [addr, addr + 4]


# -- the CLI, as a user runs it ---------------------------------------------------------

def cli_runs(guest: Batch) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = _doc(guest.results["py_sigdbg"])["cli"]
    return runs


def test_cli_on_arm(guest: Batch) -> None:
    runs = {" ".join(r["argv"][:-2]): r for r in cli_runs(guest)}
    aux = runs["auxv --json"]
    assert aux["rc"] == 0 and aux["stderr"] == ""
    got = json.loads(aux["stdout"])
    session = command(target(guest, "a64"), "auxv_json")
    assert got["abi"] == "aarch64"
    # another process of the same program: the same entries, the same hwcaps
    assert [e["name"] for e in got["entries"]] == [e["name"] for e in session["entries"]]
    assert {e["name"]: e["flags"] for e in got["entries"]}["AT_HWCAP"] == \
        {e["name"]: e["flags"] for e in session["entries"]}["AT_HWCAP"]
    maps = runs["maps --json"]
    assert maps["rc"] == 0
    pages = {p["mapping"] for p in json.loads(maps["stdout"])["pages"]}
    assert pages == {"[vectors]", "[sigpage]"}
    entry = json.loads(runs["auxv --json --at entry"]["stdout"])  # static: at entry at exec
    assert entry["abi"] == "arm" and entry["argv"] == ["/job/sig_frame.arm"]
    dis = runs["vdso --disas __kernel_rt_sigreturn"]
    assert dis["rc"] == 0 and dis["stdout"].startswith("__kernel_rt_sigreturn:")
    assert "mov x8, #0x8b" in dis["stdout"] and "svc #0" in dis["stdout"]


def test_cli_bad_input_on_arm(guest: Batch) -> None:
    doc = _doc(guest.results["py_sigdbg"])
    bad = [r for r in doc["cli"] if r["rc"] != 0]
    # (`frame -- sig_frame.a64` works now: tests/arm/test_a64_frame.py; AArch32
    # frames too: tests/arm/test_a32_frame.py)
    assert [r["argv"][-1] for r in bad] == [
        "/usr/bin/python3", "/nonexistent", "/job/sig_frame.a64", "/job/sig_frame.arm",
        "/job/sig_frame.thumb", "/job/sig_frame.arm"]
    for r in bad:
        assert r["stderr"].count("\n") == 1
        assert r["stderr"].startswith("sigdbg: error: ") and "Traceback" not in r["stderr"]
    assert "breakpoints are not supported in aarch64 processes yet" in bad[0]["stderr"]
    assert [r["stdout"] for r in bad[:5]] == [""] * 5
    assert "no symbol 'no_such_symbol' in the vDSO" in bad[2]["stderr"]
    # AArch32 frames: an unreadable address, another ABI's frame kind
    assert bad[3]["stderr"] == "sigdbg: error: signal frame at 0x10 is not readable: " \
        + bad[3]["stderr"].split("is not readable: ", 1)[1]
    assert bad[4]["stderr"] == ("sigdbg: error: rt_sigframe is not an AArch32 frame kind "
                                "(compat_rt_sigframe, compat_sigframe)\n")
    # trace -k: the exec line, then one line at the first handler entry
    assert bad[5]["stderr"] == ("sigdbg: error: -k: no stack unwinding rules for arm "
                                "processes yet\n")
    assert bad[5]["stdout"].startswith("[pid ") and bad[5]["program"] == ""
    assert doc["children_left"] == []  # nothing left stopped (or at all) in the guest


def test_cli_trace_text_on_thumb(guest: Batch) -> None:
    """``sigdbg trace -- sig_frame.thumb``: one line per handler entry, each
    naming the restorer lr points at (glibc's, the [sigpage] entry for a
    Thumb handler, the program's own)."""
    run = next(r for r in cli_runs(guest) if r["argv"] == ["trace", "--",
                                                            "/job/sig_frame.thumb"])
    assert run["rc"] == 0 and run["stderr"] == ""
    lines = [ln for ln in run["stdout"].splitlines() if " handler 0x" in ln]
    assert len(lines) == 11
    assert all(" ! " not in ln for ln in lines), lines
    assert sum("__default_rt_sa_restorer" in ln for ln in lines) == 7
    assert sum("__default_sa_restorer" in ln for ln in lines) == 1
    assert sum("[sigpage] rt_sigreturn (Thumb)" in ln for ln in lines) == 1
    assert sum("[sigpage] sigreturn (Thumb)" in ln for ln in lines) == 1
    assert sum("own_restorer" in ln for ln in lines) == 1
    assert sum("(no SA_SIGINFO)" in ln for ln in lines) == 2  # the two non-rt frames
