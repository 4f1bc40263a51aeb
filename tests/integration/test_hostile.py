"""Hostile bytes: what a target or a user controls must neither crash sigdbg,
nor drive the terminal, nor be lost in JSON, nor make sigdbg read a huge file.

Each test runs the real command line on a real process; the truth is the
target's own report (printed from inside its handler), the bytes of the paths
the test created, or the untraced run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, parse_reports, target
from tests.integration.test_trace import run_trace

#: bytes no terminal may see raw: ESC, BEL, CSI (C1), and a byte that is not UTF-8
RAW_HOSTILE = (b"\x1b", b"\x07", b"\xc2\x9b", b"\xff", b"\xfe")
#: a name with a byte that is not UTF-8, an SGR and an OSC (window title) sequence
HOSTILE_NAME = b"h\xff\x1b[31mred\x1b]0;pwned\x07"


def sigdbg(*args: str | bytes, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "sigdbg", *args], capture_output=True,
                          cwd=ROOT, stdin=subprocess.DEVNULL, timeout=timeout)


def assert_inert(data: bytes) -> None:
    """No raw control sequence and no invalid UTF-8 in what reaches a terminal."""
    for raw in RAW_HOSTILE:
        assert raw not in data, (raw, data[-600:])
    data.decode("utf-8")  # strict: every byte shown is valid UTF-8


def one_error_line(out: subprocess.CompletedProcess[bytes]) -> str:
    assert out.returncode != 0
    assert b"Traceback" not in out.stderr and b"internal error" not in out.stderr, out.stderr
    assert_inert(out.stderr)
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sigdbg"), lines
    return lines[0]


def hostile_copy(tmp_path: Path, name: str) -> bytes:
    """A copy of target ``name`` whose path holds HOSTILE_NAME, as bytes."""
    d = os.fsencode(tmp_path) + b"/" + HOSTILE_NAME
    os.mkdir(d)
    dst = d + b"/" + HOSTILE_NAME + b"-" + name.encode()
    shutil.copy(target(name), dst)
    return dst


# -- 128-bit vector values in the JSON diff -------------------------------------------------

def test_json_diff_of_an_xmm_register_the_handler_edited(tmp_path: Path) -> None:
    """--json --step-sigreturn crashed ("Integer exceeds 64-bit range") when a
    handler wrote an XMM register in its frame: the diff carries the 128-bit
    values as the documented hex strings, equal to what the handler saw and
    wrote, and the program runs as untraced (XMM3 is the new value after)."""
    t = run_trace([target("sig_xmm_edit")], "--step-sigreturn", tmp=tmp_path)
    assert t.rc == 0, t.stderr
    assert "SIGDBG-DONE" in t.stdout
    r = t.report("xmm_edit")
    after = t.report("after")
    new = (int(r["newhi"]) << 64) | int(r["newlo"])
    old = (int(r["oldhi"]) << 64) | int(r["oldlo"])
    assert (int(after["hi"]) << 64) | int(after["lo"]) == new
    (entered,) = t.of("sigreturn_entered")
    changes = entered["changes"]["changes"]
    assert ["fpstate.xmm3", f"0x{old:032x}", f"0x{new:032x}"] in changes, changes
    # the re-read frame shows the new value too, in the fpstate's own hex form
    assert entered["frame"]["fpstate"]["xmm"][3] == f"0x{new:032x}"
    (restored,) = t.of("context_restored")
    assert restored["matches"] is True


# -- a handler that corrupts the XSAVE area of its frame ---------------------------------------

def _run_xstate_bad(mode: str) -> tuple[int, list[dict[str, int | str]]]:
    p = subprocess.run([target("sig_xstate_bad"), mode], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    return p.returncode, parse_reports(p.stdout)


def _outcome(reports: list[dict[str, int | str]]) -> list[dict[str, int | str]]:
    """What does not depend on the run (addresses and pids do)."""
    keep = ("tag", "sig", "code", "uc_flags", "magic1", "xstate_size", "xstate_bv", "xcomp_bv",
            "lo", "hi")
    return [{k: v for k, v in r.items() if k in keep} for r in reports]


@pytest.mark.parametrize("opts", [(), ("--step-sigreturn",), ("--no-frame",)],
                         ids=["frame", "step-sigreturn", "no-frame"])
@pytest.mark.parametrize("mode", ["magic1", "magic2", "bv", "xcomp"])
def test_corrupt_xstate_header_as_untraced(tmp_path: Path, mode: str,
                                           opts: tuple[str, ...]) -> None:
    """A handler that corrupts the XSAVE area of its own frame (magic1,
    magic2: the kernel restores only the FXSAVE part; a reserved xstate_bv
    bit, a compacted xcomp_bv: XRSTOR faults and the sigreturn ends in
    SIGSEGV).  Traced, the program ends as untraced (same exit, same reports
    from the handler and after the sigreturn), sigdbg decodes the corrupted
    frame at the sigreturn without an error, and reports the SIGSEGV."""
    rc_u, reports_u = _run_xstate_bad(mode)
    fatal = mode in ("bv", "xcomp")
    assert rc_u == (-11 if fatal else 0), reports_u
    assert [r["tag"] for r in reports_u] == (["corrupt"] if fatal else ["corrupt", "after"])
    t = run_trace([target("sig_xstate_bad"), mode], *opts, tmp=tmp_path)
    assert t.rc == (128 + 11 if fatal else 0), t.stderr
    assert _outcome(t.reports) == _outcome(reports_u)
    last = t.events[-1]
    if fatal:
        assert (last["event"], last["signal"]) == ("killed", 11)
        (segv,) = [e for e in t.of("signal_delivered") if e["siginfo"]["si_signo"] == 11]
        # (with --no-frame a delivery is passed on without looking at its outcome)
        assert segv["disposition"] == ("passed" if "--no-frame" in opts else "fatal")
    else:
        assert (last["event"], last["status"]) == ("exited", 0)
    if opts == ("--step-sigreturn",):
        (entered,) = t.of("sigreturn_entered")
        fp = entered["frame"]["fpstate"]
        assert fp["xmm"][3] == "0x" + "fedcba9876543210" + "0123456789abcdef"


# -- -o /dev/full and a stdout that cannot be written ------------------------------------------

def test_output_to_dev_full_is_one_line() -> None:
    out = sigdbg("trace", "-o", "/dev/full", "--", target("sig_basic"), "raise")
    assert one_error_line(out) == "sigdbg: error: cannot write /dev/full: No space left on device"


@pytest.mark.parametrize("args", [["trace"], ["trace", "--json"], ["auxv"]])
def test_stdout_on_dev_full_is_one_line(args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        out = subprocess.run([sys.executable, "-m", "sigdbg", *args, "--", target("hello")],
                             stdout=full, stderr=subprocess.PIPE, cwd=ROOT,
                             stdin=subprocess.DEVNULL, timeout=30)
    assert one_error_line(out) == "sigdbg: error: cannot write stdout: No space left on device"


# -- terminal escapes and invalid UTF-8 in error messages ---------------------------------------

def test_error_messages_are_sanitised(tmp_path: Path) -> None:
    """Every path that reaches stderr goes through the one sanitiser: a
    non-ELF program, a missing program, an -o path, an unknown argument."""
    bad = os.fsencode(tmp_path) + b"/" + HOSTILE_NAME
    with open(bad, "wb") as fh:
        fh.write(b"\x7fELX not an elf")
    os.chmod(bad, 0o755)
    line = one_error_line(sigdbg("trace", "--", bad))
    assert line.endswith("h\\xff\\x1b[31mred\\x1b]0;pwned\\x07: "
                         "not an ELF file or a #! script"), line
    line = one_error_line(sigdbg("auxv", "--", bad + b"-missing"))
    assert "\\x1b[31mred" in line and "no such program" in line
    line = one_error_line(sigdbg("trace", "-o", bad + b"/x", "--", target("hello")))
    assert line.startswith("sigdbg: error: cannot write ") and "\\xff" in line
    one_error_line(sigdbg("trace", "--color", HOSTILE_NAME, "--", target("hello")))
    one_error_line(sigdbg("maps", "-p", HOSTILE_NAME))


# -- a program whose path is not UTF-8 -------------------------------------------------------------

def test_program_path_not_utf8_json_is_lossless(tmp_path: Path) -> None:
    prog = hostile_copy(tmp_path, "sig_basic")
    t = run_trace([os.fsdecode(prog), "raise"], tmp=tmp_path)
    assert t.rc == 0 and "SIGDBG-DONE" in t.stdout, t.stderr
    (exec_,) = t.of("exec")
    # the documented reading: surrogateescape gives back the exact bytes
    assert exec_["path"].encode("utf-8", "surrogateescape") == prog
    assert len(t.of("handler_entered")) == 1


def test_program_path_not_utf8_text_is_escaped(tmp_path: Path) -> None:
    prog = hostile_copy(tmp_path, "sig_basic")
    out = tmp_path / "trace.txt"
    r = sigdbg("trace", "-s", "4096", "-o", str(out), "--", prog, "raise")
    assert r.returncode == 0, r.stderr
    text = out.read_bytes()
    assert_inert(text)
    assert b"h\\xff\\x1b[31mred\\x1b]0;pwned\\x07-sig_basic (x86_64)" in text
    # and on a stdout (the launched program writes there too: judge our lines only)
    r = sigdbg("trace", "--", prog, "raise")
    ours = b"\n".join(ln for ln in r.stdout.splitlines() if ln.startswith(b"[pid"))
    assert r.returncode == 0 and b"exec " in ours
    assert_inert(ours)


# -- a restorer mapping: non-UTF-8 name, 100 GiB sparse file, a FIFO ------------------------------

def _rusage_run(cmd: list[str | bytes], tmp: Path,
                timeout: float = 60) -> tuple[int, int, bytes, bytes]:
    """Run ``cmd``; its exit status, the peak RSS (KiB) of it and of the
    children it waited for (wait4's rusage), its stdout and stderr."""
    so_path, se_path = tmp / "stdout", tmp / "stderr"
    with open(so_path, "wb") as so, open(se_path, "wb") as se:
        p = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=so, stderr=se)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            os.wait4(p.pid, 0)
            raise AssertionError(f"{cmd} hung for {timeout} s")
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return p.returncode, usage.ru_maxrss, so_path.read_bytes(), se_path.read_bytes()


def test_restorer_in_a_100_gib_file_reads_only_its_headers(tmp_path: Path) -> None:
    """Symbol lookup opened the mapped file and read all of it (a 100 GiB
    sparse file: MemoryError, "internal error").  Now the trace succeeds, the
    restorer is the one the handler reports, the non-UTF-8 mapping path comes
    back byte for byte, and sigdbg's memory stays small."""
    big = os.fsencode(tmp_path) + b"/" + HOSTILE_NAME + b".so"
    shutil.copy(target("hello"), big)  # a real ELF image at the start ...
    os.truncate(big, 100 << 30)  # ... of a sparse 100 GiB file
    out = tmp_path / "t.jsonl"
    rc, maxrss, so, se = _rusage_run(
        [sys.executable, "-m", "sigdbg", "trace", "--json", "-o", str(out), "--",
         target("sig_map_restorer"), big, str(50 << 30)], tmp_path)
    assert rc == 0, se
    assert b"internal error" not in se
    (rep,) = [r for r in parse_reports(so.decode()) if r["tag"] == "maprestorer"]
    events = [json.loads(ln) for ln in out.read_text().splitlines()]
    (entered,) = [e for e in events if e["event"] == "handler_entered"]
    rest = entered["frame"]["restorer"]
    assert rest["address"] == rep["restorer"] == rep["retaddr"]
    assert rest["mapping"].encode("utf-8", "surrogateescape") == big
    assert rest["syscall"] == "rt_sigreturn" and rest["kind"] == "library"
    # reading the file would need 100 GiB; the tracer's whole peak is far below 1 GiB
    assert 0 < maxrss < 1 << 20, f"peak RSS {maxrss} KiB"


def test_restorer_mapping_named_by_a_fifo_does_not_block(tmp_path: Path) -> None:
    """/proc/PID/maps names an unlinked file's mapping "PATH (deleted)"; the
    target puts a FIFO at that name.  sigdbg opened it for reading and blocked
    forever (no writer); now it does not open anything but a regular file."""
    lib = os.fsencode(tmp_path) + b"/lib\xfe.so"
    shutil.copy(target("hello"), lib)
    t = run_trace([target("sig_map_restorer"), os.fsdecode(lib), "0", "fifo"], tmp=tmp_path)
    assert t.rc == 0 and "SIGDBG-DONE" in t.stdout, t.stderr
    assert os.path.exists(lib + b" (deleted)")  # the FIFO really was there
    rep = t.report("maprestorer")
    (entered,) = t.of("handler_entered")
    rest = entered["frame"]["restorer"]
    assert rest["address"] == rep["retaddr"]
    assert rest["mapping"].encode("utf-8", "surrogateescape") == lib + b" (deleted)"
    assert rest["pattern"] == "mov $15,%eax; syscall"


def test_elf_file_image_is_read_by_its_headers(tmp_path: Path) -> None:
    """Real bytes: the image read from a 100 GiB file that starts with a real
    ELF file is exactly that file, and headers that claim more than the cap
    are refused without reading it."""
    from sigdbg.decode.elfimage import read_elf_file_image
    from sigdbg.errors import DecodeError

    src = Path(target("hello")).read_bytes()
    big = tmp_path / "big"
    big.write_bytes(src)
    os.truncate(big, 100 << 30)
    fd = os.open(big, os.O_RDONLY)
    try:
        assert read_elf_file_image(fd, 100 << 30) == src
    finally:
        os.close(fd)
    # e_shoff moved to 64 GiB: the section headers lie in the (sparse) file
    # but claim a table that is refused as too large, not read
    hostile = bytearray(src)
    hostile[0x28:0x30] = (64 << 30).to_bytes(8, "little")  # e_shoff
    hostile[0x3C:0x3E] = (0xFFFF).to_bytes(2, "little")  # e_shnum
    hostile[0x3A:0x3C] = (0xFFFF).to_bytes(2, "little")  # e_shentsize
    big.write_bytes(bytes(hostile))
    os.truncate(big, 100 << 30)
    fd = os.open(big, os.O_RDONLY)
    try:
        with pytest.raises(DecodeError, match="too large"):
            read_elf_file_image(fd, 100 << 30)
    finally:
        os.close(fd)


# -- an i386 frame at the edge of readable memory ------------------------------------------------

@pytest.mark.parametrize("native", [True, False], ids=["native", "ctypes"])
def test_i386_frame_at_the_end_of_readable_memory(tmp_path: Path, native: bool) -> None:
    """The altstack ends where its mapping ends (an unmapped page follows), so
    the 4 KiB bulk read at each frame runs past the readable bytes: both ia32
    frame kinds decode from the readable bytes alone, equal to what the
    handlers report, and sigreturn restores the context."""
    from sigdbg.decode.sigframe import BULK_READ

    prefix = None if native else ["env", "SIGDBG_NO_NATIVE=1"]
    t = run_trace([target("sig_edge.i386")], "--step-sigreturn", tmp=tmp_path, prefix=prefix)
    assert t.rc == 0 and "SIGDBG-DONE" in t.stdout, t.stderr
    entered = t.of("handler_entered")
    assert [e["frame"]["kind"] for e in entered] == ["rt_sigframe_ia32", "sigframe_ia32"]
    for e, tag in zip(entered, ("edge_rt", "edge_nonrt")):
        r = t.report(tag)
        f = e["frame"]
        assert f["address"] == r["frame"]
        assert f["address"] + BULK_READ > int(r["end"])  # the read really runs past the end
        assert f["mcontext"]["ip"] == r["pc"] and f["mcontext"]["sp"] == r["sp"]
        assert f["mcontext"]["fpstate"] == r["fpstate"] == f["fpstate"]["address"]
        assert f["pretcode"] == r["pretcode"] and f["sigmask"] == r["mask"]
        assert f["problems"] == [], f["problems"]
        fp = f["fpstate"]
        assert fp["problems"] == [] and fp["address"] + fp["size"] <= int(r["end"])
    assert [c["matches"] for c in t.of("context_restored")] == [True, True]


def test_shell_messages_are_sanitised(tmp_path: Path) -> None:
    """The shell's errors and its `file` line go through the same sanitiser."""
    import io
    import shlex

    from sigdbg.shell.core import Shell

    out = io.StringIO()
    sh = Shell(out)
    try:
        missing = os.fsdecode(os.fsencode(tmp_path) + b"/" + HOSTILE_NAME)
        sh.execute("file " + shlex.quote(missing))
        good = os.fsdecode(hostile_copy(tmp_path, "hello"))
        sh.execute("file " + shlex.quote(good))
    finally:
        sh.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    text = out.getvalue().encode("utf-8", "surrogateescape")
    assert_inert(text)
    assert lines[0].startswith("error: ") and "h\\xff\\x1b[31mred" in lines[0], lines
    assert lines[1].startswith("program: ") and lines[1].endswith("\\x07-hello"), lines
