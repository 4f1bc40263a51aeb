"""Core files in every front end: ``--core FILE [--exe PROG]`` and the shell's ``core FILE``.

The cores are real: dumped by the kernel when targets/core_crash(.i386) dies
of SIGSEGV inside a signal handler, and by gdb's ``gcore`` while the handler
waits in pause().  Every decoded value is compared with what the program
reported about itself from inside its handlers (targets/report.h,
lib32/sys32.h), with its own /proc/self/maps and auxv, and with the live
vDSO read through /proc/PID/mem.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sigdbg as sigdbg_api
from sigdbg.api import open_core
from sigdbg.engine.coretarget import core_report
from tests.conftest import parse_reports, target
from tests.coredump import gcore, kernel_core

I386_SEGV_STORE = bytes.fromhex("c705100000005a000000")  # movl $0x5a, 0x10 (lib32/asm32.h)


def sigdbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigdbg", *args], capture_output=True,
                          text=True, timeout=60)


def sigdbg_json(*args: str) -> Any:
    out = sigdbg(*args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def cores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Kernel cores of both ABIs, made once per module: name -> (core, stdout)."""
    base = tmp_path_factory.mktemp("cores")
    out = {}
    for name, argv in (("k64", [target("core_crash"), "nested"]),
                       ("k32", [target("core_crash.i386"), "nested"]),
                       ("k64alt", [target("core_crash"), "altstack"]),
                       ("k64thr", [target("core_crash"), "threads"]),
                       ("k64plain", [target("core_crash"), "plain"])):
        out[name] = kernel_core(argv, base / name)
    return out


def by_tag(stdout: str) -> dict[str, dict[str, Any]]:
    return {str(r["tag"]): r for r in parse_reports(stdout)}


def maps_of(stdout: str) -> list[list[str]]:
    text = stdout.split("SIGDBG-MAPS-BEGIN\n", 1)[1].split("SIGDBG-MAPS-END", 1)[0]
    return [line.split(None, 5) for line in text.splitlines()]


def check_frame(f: dict[str, Any], rep: dict[str, Any], kind: str) -> None:
    """A decoded frame against the handler's own report of it."""
    mc = f["mcontext"]
    assert f["kind"] == kind
    assert f["address"] == rep["frame"]
    assert f["pretcode"] == rep["pretcode"]
    assert f["sigmask"] == rep["mask"]
    assert mc.get("rip", mc.get("ip")) == rep["pc"]
    assert mc.get("rsp", mc.get("sp")) == rep["sp"]
    if "fpstate" in rep:
        assert mc["fpstate"] == rep["fpstate"]
    if kind != "sigframe_ia32":
        assert f["siginfo"]["si_signo"] == rep["sig"]
        assert f["siginfo"]["si_code"] & 0xFFFFFFFF == rep["code"]
        assert f["siginfo"]["si_pid"] == rep["pid"]
    else:
        assert f["sig"] == rep["sig"]
    assert f["problems"] == []


# -- frames ---------------------------------------------------------------------------------
def test_kernel_core_x86_64_frames_match_the_handlers_reports(cores):
    path, stdout = cores["k64"]
    reps = by_tag(stdout)
    frames = sigdbg_json("frame", "--core", str(path), "--json")
    assert len(frames) == 2  # SIGALRM's frame (innermost), then SIGUSR1's
    check_frame(frames[0], reps["alrm"], "rt_sigframe")
    check_frame(frames[1], reps["usr1"], "rt_sigframe")
    for f in frames:
        assert f["restorer"]["kind"] == "libc"
        assert f["restorer"]["symbol"] == "__restore_rt"
        assert f["restorer"]["syscall"] == "rt_sigreturn"


def test_kernel_core_i386_frames_match_the_handlers_reports(cores):
    path, stdout = cores["k32"]
    reps = by_tag(stdout)
    frames = sigdbg_json("frame", "--core", str(path), "--json")
    assert len(frames) == 2
    check_frame(frames[0], reps["nonrt"], "sigframe_ia32")
    check_frame(frames[1], reps["rt"], "rt_sigframe_ia32")
    # the restorers were named from the vDSO image inside the core
    assert frames[0]["restorer"]["kind"] == "vdso"
    assert frames[0]["restorer"]["symbol"].startswith("__kernel_sigreturn")
    assert frames[1]["restorer"]["symbol"].startswith("__kernel_rt_sigreturn")
    assert frames[0]["retcode_ok"] and frames[1]["retcode_ok"]


def test_walk_goes_from_the_alternate_stack_to_the_main_stack(cores):
    """The crash is in a handler on the altstack; the frame below it is on the main stack."""
    path, stdout = cores["k64alt"]
    reps = by_tag(stdout)
    frames = sigdbg_json("frame", "--core", str(path), "--json")
    assert len(frames) == 2
    check_frame(frames[0], reps["usr1"], "rt_sigframe")
    check_frame(frames[1], reps["alrm"], "rt_sigframe")
    alt = reps["usr1"]["altbase"], reps["usr1"]["altbase"] + reps["usr1"]["altsize"]
    assert alt[0] <= frames[0]["address"] < alt[1] and frames[0]["on_altstack"]
    assert not alt[0] <= frames[1]["address"] < alt[1] and not frames[1]["on_altstack"]
    assert frames[0]["uc_stack"] == {"ss_sp": reps["usr1"]["ss_sp"], "ss_flags": 0,
                                     "ss_size": reps["usr1"]["ss_size"]}


def test_frame_of_a_handler_without_sa_siginfo(cores):
    """x86_64 writes info only for SA_SIGINFO handlers: the frame is found, its registers
    and mask are right, and it does not claim a signal number it does not hold."""
    path, stdout = cores["k64plain"]
    rep = by_tag(stdout)["plain"]
    frames = sigdbg_json("frame", "--core", str(path), "--json")
    assert len(frames) == 1
    f = frames[0]
    assert (f["address"], f["pretcode"], f["sigmask"]) == (rep["frame"], rep["pretcode"],
                                                           rep["mask"])
    assert (f["mcontext"]["rip"], f["mcontext"]["rsp"]) == (rep["pc"], rep["sp"])
    assert f["sig"] == 0 and f["siginfo_valid"] is False
    assert any("without SA_SIGINFO" in p for p in f["problems"])


def test_kernel_core_crash_siginfo_and_registers(cores):
    """NT_SIGINFO and NT_PRSTATUS are the SIGSEGV at the faulting store."""
    for name in ("k64", "k32"):
        path, stdout = cores[name]
        insn = next(r["insn"] for r in parse_reports(stdout) if "insn" in r)
        with sigdbg_api.open_core(str(path)) as core:  # the Python API
            r = core_report(core)
            t = r.threads[0]
            assert t.cursig == 11
            assert t.pc == insn
            assert t.siginfo is not None
            assert (t.siginfo.si_signo, t.siginfo.si_code) == (11, 1)  # SEGV_MAPERR
            assert t.siginfo.fields["si_addr"] == 0x10
            assert r.pid == by_tag(stdout)["usr1" if name == "k64" else "rt"]["pid"]
            assert t.tid == r.pid  # single-threaded: the dumping thread is the process
            assert t.fp_regset == "NT_X86_XSTATE"
            assert t.xcr0 is not None and t.xcr0 & 3 == 3  # x87 and SSE always enabled
            # the innermost frame's interrupted context is the handler's caller side:
            # the crash happened below it, on the same stack
            assert r.frames and r.frames[0].address > t.sp


def test_report_core_json(cores):
    """`sigdbg report --core FILE --json`: auxv, maps, vDSO and the crash in one document."""
    path, stdout = cores["k32"]
    reps = by_tag(stdout)
    d = sigdbg_json("report", "--core", str(path), "--json")
    t = d["core"]["threads"][0]
    assert (t["cursig"], t["pc"], t["siginfo"]["si_addr"]) == (11, reps["nonrt"]["insn"], 0x10)
    assert t["symbol"] == "sig32_segv_store"
    assert [f["address"] for f in d["core"]["frames"]] == [reps["nonrt"]["frame"],
                                                           reps["rt"]["frame"]]
    assert d["core"]["pid"] == reps["rt"]["pid"] and d["core"]["stale_files"] == []
    assert d["vdso"]["abi"] == "i386" and d["auxv"]["differences"] == []
    assert any(m["path"] == "[vdso]" for m in d["maps"])


def test_core_truncated_by_rlimit_core(tmp_path):
    """RLIMIT_CORE cuts the dump: the notes (crash, registers) are still read; what the
    memory lacks is a one-line reason, never a traceback."""
    from tests.integration.test_cli_errors import assert_one_line_error

    path, stdout = kernel_core([target("core_crash"), "nested"], tmp_path, limit=64 << 10)
    insn = by_tag(stdout)["alrm"]["insn"]
    d = sigdbg_json("report", "--core", str(path), "--json")
    assert d["core"]["truncated"] is True
    t = d["core"]["threads"][0]
    assert (t["cursig"], t["pc"], t["siginfo"]["si_addr"]) == (11, insn, 0x10)
    assert "truncated" in d["auxv"]["error"]
    assert "does not hold the vDSO" in d["vdso"]["error"]  # it lies beyond the cut
    assert_one_line_error(sigdbg("auxv", "--core", str(path)), "truncated")
    out = sigdbg("report", "--core", str(path))
    assert out.returncode == 0 and "the file is truncated" in out.stdout


def test_gcore_frames_both_abis(tmp_path):
    for prog, kind, tag in (("core_crash", "rt_sigframe", "usr1"),
                            ("core_crash.i386", "rt_sigframe_ia32", "rt")):
        path, stdout, vdso = gcore([target(prog), "wait"], tmp_path / prog)
        frames = sigdbg_json("frame", "--core", str(path), "--json")
        assert len(frames) == 1
        check_frame(frames[0], by_tag(stdout)[tag], kind)
        check_auxv(path, stdout, [target(prog), "wait"])
        check_file_maps(path, stdout)
        # gcore: the vDSO in the core is the live one
        dump = tmp_path / f"{prog}.vdso"
        out = sigdbg("vdso", "--core", str(path), "--dump", str(dump))
        assert out.returncode == 0, out.stderr
        image = dump.read_bytes()
        assert len(image) > 1000 and vdso.startswith(image)


# -- auxv, maps, vdso ---------------------------------------------------------------------
def own_auxv(stdout: str) -> list[tuple[int, int]]:
    """The auxv the program printed: /proc/self/auxv bytes (x86_64) or its initial stack's
    pairs (i386), in order, without AT_NULL."""
    if "SIGDBG-AUXV " in stdout:
        raw = bytes.fromhex(stdout.split("SIGDBG-AUXV ", 1)[1].split("\n", 1)[0])
        pairs = [struct.unpack_from("<QQ", raw, i) for i in range(0, len(raw), 16)]
        return [p for p in pairs if p[0] != 0]
    rep = next(r for r in parse_reports(stdout) if r["tag"] == "auxv")
    return [(int(k[1:]), int(v)) for k, v in rep.items() if k != "tag"]


def check_auxv(path: Path, stdout: str, argv: list[str]) -> None:
    r = sigdbg_json("auxv", "--core", str(path), "--json")
    assert [(e["type"], e["value"]) for e in r["entries"]] == own_auxv(stdout)
    assert r["argv"] == argv
    assert r["proc_checked"] and r["differences"] == []  # the stack's copy = NT_AUXV


def check_file_maps(path: Path, stdout: str) -> None:
    """Every file mapping of /proc/self/maps is in the core's maps: range, offset, path."""
    got = sigdbg_json("maps", "--core", str(path), "--json")["mappings"]
    by_range = {(m["start"], m["end"]): m for m in got}
    for line in maps_of(stdout):
        if len(line) > 5 and line[5].startswith("/"):
            lo, hi = (int(x, 16) for x in line[0].split("-"))
            m = by_range.get((lo, hi))
            assert m is not None and m["path"] == line[5], line
            assert m["offset"] == int(line[2], 16), line


def test_auxv_from_the_core_is_the_process_auxv(cores):
    path, stdout = cores["k64"]
    check_auxv(path, stdout, [target("core_crash"), "nested"])
    path, stdout = cores["k32"]
    check_auxv(path, stdout, [target("core_crash.i386"), "nested"])
    assert sigdbg_json("auxv", "--core", str(path), "--json")["abi"] == "i386"


def test_maps_from_the_core_are_the_process_maps(cores):
    for name in ("k64", "k32"):
        path, stdout = cores[name]
        got = sigdbg_json("maps", "--core", str(path), "--json")["mappings"]
        by_range = {(m["start"], m["end"]): m for m in got}
        own = maps_of(stdout)
        for line in own:
            lo, hi = (int(x, 16) for x in line[0].split("-"))
            m = by_range.get((lo, hi))
            assert m is not None, f"{line} missing from the core's maps"
            assert m["perms"][:3] == line[1][:3], line
            name_ = line[5] if len(line) > 5 else ""
            if name_.startswith("/"):  # NT_FILE: path and offset
                assert m["path"] == name_ and m["offset"] == int(line[2], 16), line
            elif name_ in ("[vdso]", "[stack]"):
                assert m["path"] == name_
        # nothing invented: every mapping of the core was in /proc/self/maps
        assert len(got) == len(own)


def test_vdso_of_a_kernel_core_is_the_live_vdso(cores, tmp_path):
    from tests.vdso_dump import dump_vdso

    for name, spin in (("k64", "spin.nolibc"), ("k32", "spin.i386")):
        path, _ = cores[name]
        live = dump_vdso([target(spin)], target(spin), tmp_path / f"{spin}.live")
        dump = tmp_path / f"{name}.vdso"
        r = sigdbg_json("vdso", "--core", str(path), "--dump", str(dump), "--json")
        assert r["abi"] == ("x86_64" if name == "k64" else "i386")
        image = dump.read_bytes()
        assert len(image) > 1000 and live.startswith(image)


def test_exe_names_the_program_when_its_path_moved(tmp_path):
    """--exe: the program's text comes from PROG when NT_FILE's path is gone."""
    prog = tmp_path / "prog"
    shutil.copy(target("core_crash.i386"), prog)
    path, stdout = kernel_core([str(prog), "rt"], tmp_path / "run")
    insn = by_tag(stdout)["rt"]["insn"]
    moved = tmp_path / "moved"
    prog.rename(moved)
    with open_core(str(path)) as core:
        assert core.current_task().read_upto(insn, 10) == b""  # text pages are not in the core
        assert core_report(core).threads[0].symbol is None
    with open_core(str(path), str(moved)) as core:
        assert core.current_task().read(insn, 10) == I386_SEGV_STORE
        assert core_report(core).threads[0].symbol == "sig32_segv_store"
        assert core_report(core).exe == str(moved)
        assert core_report(core).program == str(prog)  # as NT_FILE names it
    out = sigdbg("frame", "--core", str(path), "--exe", str(moved), "--json")
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 1
    # a different program is not the one the core was made from: its bytes are never used
    with open_core(str(path), target("hello.i386")) as core:
        assert core.current_task().read_upto(insn, 10) == b""
        r = core_report(core)
        assert r.stale_files == (str(prog),) and r.threads[0].symbol is None
    shutil.copy(target("sig_basic.i386"), prog)  # rebuilt in place since the dump
    with open_core(str(path)) as core:
        assert core.current_task().read_upto(insn, 10) == b""
        assert core_report(core).stale_files == (str(prog),)


# -- the shell ------------------------------------------------------------------------------
def test_shell_core_command(cores):
    path, stdout = cores["k32"]
    reps = by_tag(stdout)
    script = (f"core {path}\nsiginfo --json\nframe --json\nframe --json {reps['rt']['frame']:#x}"
              "\ncore --json\nquit\n")
    out = subprocess.run([sys.executable, "-m", "sigdbg", "shell"], input=script,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "2 signal frames on the stack" in text
    docs = []
    dec = json.JSONDecoder()
    pos = text.index("{", text.index("2 signal frames"))
    while pos < len(text):
        obj, end = dec.raw_decode(text, pos)
        docs.append(obj)
        nxt = [i for i in (text.find("{", end), text.find("[", end)) if i >= 0]
        if not nxt:
            break
        pos = min(nxt)
    siginfo, inner, outer, summary = docs[:4]
    assert (siginfo["si_signo"], siginfo["si_code"], siginfo["si_addr"]) == (11, 1, 0x10)
    check_frame(inner, reps["nonrt"], "sigframe_ia32")
    check_frame(outer, reps["rt"], "rt_sigframe_ia32")
    assert summary["threads"][0]["cursig"] == 11
    assert [f["address"] for f in summary["frames"]] == [reps["nonrt"]["frame"],
                                                         reps["rt"]["frame"]]
    assert "error" not in text


def shell_json(script: str) -> list[Any]:
    """Run ``sigdbg shell`` on ``script``; the JSON documents it printed, in order."""
    out = subprocess.run([sys.executable, "-m", "sigdbg", "shell"], input=script,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "error" not in out.stdout, out.stdout + out.stderr
    docs, dec, text = [], json.JSONDecoder(), out.stdout
    pos = 0
    while True:
        starts = [i for i in (text.find("{\n", pos), text.find("[\n", pos)) if i >= 0]
        if not starts:
            return docs
        obj, pos = dec.raw_decode(text, min(starts))
        docs.append(obj)


def test_threads_registers_and_xstate(cores):
    """A pthread crashes in its handler: it is thread 1 of the core, with the frame on its
    own stack; its NT_X86_XSTATE holds the %xmm8 it loaded; main is thread 2."""
    path, stdout = cores["k64thr"]
    reps = by_tag(stdout)
    usr1, main = reps["usr1"], reps["main"]
    assert usr1["tid"] != main["tid"]
    summary, fp, regs, frame_regs, summary2, regs2 = shell_json(
        f"core --json {path}\nregs --fp --json\nregs --json\nregs --frame --json\n"
        "core --json --thread 2\nregs --json\nquit\n")
    assert [t["tid"] for t in summary["threads"]] == [usr1["tid"], main["tid"]]
    assert summary["frames_thread"] == usr1["tid"] and len(summary["frames"]) == 1
    check_frame(summary["frames"][0], usr1, "rt_sigframe")
    assert fp["source"] == "NT_X86_XSTATE"
    assert fp["xmm"][8] == usr1["xmm8lo"] | usr1["xmm8hi"] << 64
    assert regs["rip"] == usr1["insn"] and regs["fs_base"] != regs2["fs_base"]
    assert (frame_regs["rip"], frame_regs["rsp"]) == (usr1["pc"], usr1["sp"])
    assert summary2["frames_thread"] == main["tid"] and summary2["frames"] == []
    assert regs2["rsp"] == summary2["threads"][1]["sp"] != regs["rsp"]


# -- bad input ------------------------------------------------------------------------------
def test_core_option_errors_are_one_line(tmp_path, cores):
    from tests.integration.test_cli_errors import assert_one_line_error

    path, _ = cores["k64"]
    assert_one_line_error(sigdbg("auxv", "--exe", target("hello")), "--exe goes with --core")
    assert_one_line_error(sigdbg("maps", "--core", str(path), "--", target("hello")),
                          "not both")
    assert_one_line_error(sigdbg("maps", "--core", str(tmp_path / "nope")), "cannot read")
    notelf = tmp_path / "notelf"
    notelf.write_bytes(b"hello world\n" * 10)
    assert_one_line_error(sigdbg("frame", "--core", str(notelf)), "not an ELF file")
    assert_one_line_error(sigdbg("auxv", "--core", target("hello")), "not a core file")
    truncated = tmp_path / "truncated"
    truncated.write_bytes(path.read_bytes()[:300])
    assert_one_line_error(sigdbg("frame", "--core", str(truncated)), "truncated")
    assert_one_line_error(sigdbg("auxv", "--core", str(path), "--exe", str(notelf)),
                          "not an ELF file")
