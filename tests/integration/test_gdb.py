"""The GDB extension (sigdbg/gdb/plugin.py) in a real ``gdb -nx -batch``, one per test.

Independent truths: gdb's own ``info auxv`` and ``$_siginfo`` fields, the
registers gdb shows after sigreturn, the target's SIGDBG-REPORT line from
inside its handler, and the ptrace backend's decode of the same scenario
(``python -m sigdbg frame --json -- PROG``).  Every gdb runs only programs it
starts itself.  By default the gdb Python is stripped of capstone and
pyelftools (``sys.modules[...] = None``), as GDB's own Python usually is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, parse_reports, target

GDB = shutil.which("gdb")
PLUGIN = ROOT / "sigdbg" / "gdb" / "plugin.py"
NO_DEPS = 'python import sys; sys.modules["capstone"] = None; sys.modules["elftools"] = None'
TIMEOUT = 60

pytestmark = pytest.mark.skipif(GDB is None, reason="gdb is not installed")


# -- helpers ---------------------------------------------------------------------------------
class Gdb:
    """The output of one gdb run, split at ``mark(NAME)`` lines."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.all = proc.stdout + proc.stderr

    def section(self, name: str) -> str:
        head = f"@@{name}@@\n"
        assert head in self.stdout, f"no section {name}:\n{self.all}"
        rest = self.stdout.split(head, 1)[1]
        return rest.split("\n@@", 1)[0]

    def json(self, name: str) -> Any:
        """The JSON document a command printed in section ``name`` (gdb's own
        stop lines may come first)."""
        text = self.section(name)
        m = re.search(r"^\{$.*?^\}$", text, re.M | re.S)
        assert m, f"no JSON in section {name}:\n{text}\n{self.stderr}"
        return json.loads(m.group(0))

    def reports(self) -> list[dict[str, int | str]]:
        return parse_reports(self.stdout)

    def values(self, key: str) -> list[int]:
        """Numbers of a ``KEY n n ...`` line printed with gdb's printf."""
        m = re.search(rf"^{key} (.*)$", self.stdout, re.M)
        assert m, f"no {key} line:\n{self.all}"
        return [int(v, 0) for v in m.group(1).split()]

    def no_traceback(self) -> None:
        assert "Traceback" not in self.all and "Python Exception" not in self.all, self.all


def mark(name: str) -> str:
    return f"echo @@{name}@@\\n"


def gdb_run(commands: list[str], program: str | None = None, args: tuple[str, ...] = (), *,
            core: str | None = None, pre: tuple[str, ...] = (NO_DEPS,),
            pass_fds: tuple[int, ...] = ()) -> Gdb:
    cmd = [str(GDB), "-nx", "-batch", "-iex", "set debuginfod enabled off"]
    for c in (*pre, f"source {PLUGIN}", *commands):
        cmd += ["-ex", c]
    if program is not None:
        cmd += [program, core] if core else ["--args", program, *args]
    env = dict(os.environ, LC_ALL="C", TERM="dumb")
    env.pop("NO_COLOR", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL, pass_fds=pass_fds)
    return Gdb(proc)


def cli_frame(prog: str, *args: str) -> dict[str, Any]:
    """The ptrace backend's decode of the first handler entry."""
    proc = subprocess.run([sys.executable, "-m", "sigdbg", "frame", "--json", "--", prog, *args],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    # the decode first; the program then runs on to its end and its own
    # output follows on the stdout it shares with sigdbg
    doc, _ = json.JSONDecoder().raw_decode(proc.stdout)
    assert isinstance(doc, dict)
    return doc


def same_shape(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two decodes of the same scenario in different runs (addresses differ)."""
    for k in ("abi", "kind", "size", "sig", "siginfo_valid", "uc_flags", "uc_flags_names",
              "sigmask", "sigmask_names", "retcode", "retcode_ok", "on_altstack", "problems"):
        assert a.get(k) == b.get(k), k
    for k in ("kind", "pattern", "syscall", "code"):
        assert a["restorer"][k] == b["restorer"][k], k
    if a["siginfo"] is not None:
        for k in ("si_signo", "si_code", "si_code_name", "layout", "si_uid"):
            assert a["siginfo"][k] == b["siginfo"][k], k
    assert sorted(a["mcontext"]) == sorted(b["mcontext"])
    for k in ("format", "xstate_size", "extended_size", "xfeatures"):
        assert a["fpstate"].get(k) == b["fpstate"].get(k), k
    assert a["fpstate"]["address"] - a["address"] == b["fpstate"]["address"] - b["address"]


def info_auxv(text: str) -> list[tuple[int, int]]:
    """gdb's ``info auxv`` lines (an independent truth, parsed only here)."""
    out = []
    for line in text.splitlines():
        m = re.match(r'^(\d+)\s+\S+.*?\s(0x[0-9a-f]+|-?\d+)(?:\s+".*")?\s*$', line)
        if m and int(m.group(1)) != 0:
            out.append((int(m.group(1)), int(m.group(2), 0)))
    return out


def ip(frame: dict[str, Any]) -> int:
    mc = frame["mcontext"]
    return int(mc["rip"] if "rip" in mc else mc["ip"])


def sp(frame: dict[str, Any]) -> int:
    mc = frame["mcontext"]
    return int(mc["rsp"] if "rsp" in mc else mc["sp"])


SIGINFO_PRINTF = ('printf "GDBSI %d %d %d %d\\n", $_siginfo.si_signo, $_siginfo.si_code, '
                  '$_siginfo._sifields._kill.si_pid, $_siginfo._sifields._kill.si_uid')
REGS_PRINTF = 'printf "GDBREGS 0x%lx 0x%lx\\n", $pc, $sp'


# -- auxv ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,abi", [("hello", "x86_64"), ("hello.static", "x86_64"),
                                      ("hello.i386", "i386")])
def test_auxv_agrees_with_info_auxv(name: str, abi: str) -> None:
    g = gdb_run(["starti", mark("auxv"), "sigdbg auxv --json", mark("info"), "info auxv"],
                target(name), ("x", "y z"))
    g.no_traceback()
    report = g.json("auxv")
    assert report["abi"] == abi
    assert report["argv"] == [target(name), "x", "y z"]
    assert report["proc_checked"] and report["differences"] == []
    ours = [(e["type"], e["value"]) for e in report["entries"]]
    assert ours == info_auxv(g.section("info"))


# -- frame and siginfo inside a handler ---------------------------------------------------
FRAME_CASES = [
    ("sig_basic", "raise", "handler"),
    ("sig_basic.i386", "rt", "h_rt"),
    ("sig_sigreturn.i386", "nonrt", "h_nonrt"),
]


@pytest.mark.parametrize("prog,scenario,handler", FRAME_CASES)
def test_frame_in_handler(prog: str, scenario: str, handler: str) -> None:
    g = gdb_run([
        f"break *{handler}", "run",
        # gdb stops for the SIGUSR1 delivery first: $_siginfo is the signal's
        mark("siginfo"), "sigdbg siginfo --json", SIGINFO_PRINTF,
        "continue",  # to the handler's first instruction
        mark("frame"), "sigdbg frame --json",
        mark("frame_sp"), "sigdbg frame $sp --json",
        "up",  # <signal handler called>
        mark("frame_tramp"), "sigdbg frame --json",
        "continue",
    ], target(prog), (scenario,))
    g.no_traceback()
    signo, code, pid, uid = g.values("GDBSI")
    si = g.json("siginfo")
    assert (si["si_signo"], si["si_code"], si["si_pid"], si["si_uid"]) == (signo, code, pid, uid)
    assert si["signal"] == "SIGUSR1"
    frame = g.json("frame")
    # at handler entry the frame is at sp; from <signal handler called> it is found too
    assert g.json("frame_sp") == frame
    assert g.json("frame_tramp") == frame
    assert frame["problems"] == []
    assert frame["sig"] == signo
    if frame["siginfo"] is not None:
        fi = frame["siginfo"]
        assert (fi["si_signo"], fi["si_code"], fi["si_pid"], fi["si_uid"]) == (signo, code, pid,
                                                                             uid)
    rep = g.reports()[0]
    assert rep["tag"] == scenario
    assert (ip(frame), sp(frame)) == (rep["pc"], rep["sp"])
    assert frame["sigmask"] == rep["mask"]
    if frame["kind"] == "rt_sigframe":
        assert frame["address"] + 8 == rep["ucp"] and frame["address"] + 312 == rep["infop"]
        assert frame["mcontext"]["fpstate"] == rep["fpstate"]
        assert frame["restorer"]["kind"] == "libc"
    elif frame["kind"] == "rt_sigframe_ia32":
        assert (frame["pinfo"], frame["puc"]) == (rep["infop"], rep["ucp"])
        assert frame["address"] == rep["infop"] - 16 and frame["pretcode"] == rep["pretcode"]
        assert frame["restorer"]["kind"] == "vdso"
    else:
        assert frame["kind"] == "sigframe_ia32"
        assert frame["address"] + 8 == rep["scp"] and frame["pretcode"] == rep["pretcode"]
    # the ptrace backend decodes the same scenario the same way
    same_shape(frame, cli_frame(target(prog), scenario))


def test_frame_found_from_a_function_the_handler_called() -> None:
    """Stopped deeper than the handler: the nearest <signal handler called> frame."""
    g = gdb_run(["handle SIGUSR1 nostop noprint pass", "break rep_end", "run",
                 mark("frame"), "sigdbg frame --json", "continue"],
                target("sig_basic.i386"), ("rt",))
    g.no_traceback()
    frame = g.json("frame")
    assert frame["kind"] == "rt_sigframe_ia32" and frame["pinfo"] == g.reports()[0]["infop"]


def test_frame_found_inside_the_restorer() -> None:
    """Stopped after __kernel_sigreturn's ``pop %eax``: sp is frame + 8, not + 4."""
    g = gdb_run(["handle SIGUSR1 nostop noprint pass", "break *h_nonrt", "run",
                 mark("entry"), "sigdbg frame --json",
                 "tbreak *(*(unsigned *)$sp + 1)", "continue",
                 mark("inside"), "sigdbg frame --json"],
                target("sig_sigreturn.i386"), ("nonrt",))
    g.no_traceback()
    entry = g.json("entry")
    assert entry["kind"] == "sigframe_ia32" and g.json("inside") == entry


# -- restorers named without pyelftools --------------------------------------------------
RESTORER_CASES = [
    ("sig_basic.i386", ("rt",), "h_rt", "vdso", "__kernel_rt_sigreturn"),
    ("sig_basic.i386", ("nonrt",), "h_nonrt", "vdso", "__kernel_sigreturn"),
    ("sig_basic.i386", ("restorer",), "h_restorer", "program", "my_restorer"),
    ("sig_basic", ("raise",), "handler", "libc", "__restore_rt"),
    ("sig_restorer", (), "handler", "program", "my_restorer"),
]


@pytest.mark.parametrize("prog,args,handler,kind,name", RESTORER_CASES)
def test_restorer_named_from_gdbs_symbol_tables(prog: str, args: tuple[str, ...], handler: str,
                                                kind: str, name: str) -> None:
    """pyelftools blocked in gdb's Python: the restorer's name comes from
    gdb's own tables (its image of the vDSO, the program's symbols)."""
    g = gdb_run([
        'python import sys; print("ELFTOOLS", sys.modules.get("elftools"))',
        "handle SIGUSR1 nostop noprint pass", f"break *{handler}", "run",
        mark("json"), "sigdbg frame --json", mark("text"), "sigdbg frame --no-picture",
        "continue",
    ], target(prog), args)
    g.no_traceback()
    assert "ELFTOOLS None" in g.stdout
    frame = g.json("json")
    r = frame["restorer"]
    assert (r["kind"], r["symbol"]) == (kind, name)
    assert f"pretcode  {frame['pretcode']:#x} -> {kind} {name} in " in g.section("text")
    # the target's own view: where its handler returns to (x86_64 glibc's
    # handler cannot see it; its frame is the word below the ucontext)
    rep = g.reports()[0]
    if kind == "program":
        assert frame["pretcode"] == r["address"] == rep["restorer"]
    elif kind == "vdso":
        assert frame["pretcode"] == rep["pretcode"] and rep["vdso"] < frame["pretcode"]
    else:
        assert frame["address"] + 8 == rep["ucp"]
    # independent naming: the ptrace backend with pyelftools (the vDSO's
    # symbols carry their version there, __kernel_rt_sigreturn@@LINUX_2.5)
    cli = cli_frame(target(prog), *args)["restorer"]
    assert (cli["kind"], cli["symbol"].split("@")[0]) == (kind, name)


# -- step-sigreturn --------------------------------------------------------------------------
STEP_CASES = [
    ("sig_sigreturn", "plain", "h_plain", "rt_sigreturn"),
    ("sig_sigreturn", "skip_segv", "h_segv", "rt_sigreturn"),
    ("sig_sigreturn.i386", "rt", "h_rt", "rt_sigreturn"),
    ("sig_sigreturn.i386", "nonrt", "h_nonrt", "sigreturn"),
    ("sig_sigreturn.i386", "skip_segv", "h_segv", "rt_sigreturn"),
]


@pytest.mark.parametrize("prog,scenario,handler,syscall", STEP_CASES)
def test_step_sigreturn(prog: str, scenario: str, handler: str, syscall: str) -> None:
    g = gdb_run([
        "handle SIGUSR1 nostop noprint pass", "handle SIGSEGV nostop noprint pass",
        f"break *{handler}", "run",
        mark("frame"), "sigdbg frame --json",
        mark("step"), "sigdbg step-sigreturn --json",
        REGS_PRINTF, 'python print("GDBFN", gdb.selected_frame().name())',
        "continue",
    ], target(prog), (scenario,))
    g.no_traceback()
    frame = g.json("frame")
    doc = g.json("step")
    assert doc["frame"] == frame
    events = doc["events"]
    names = [e["event"] for e in events]
    assert names[-1] == "context_restored", names
    restored = events[-1]
    assert restored["matches"] and restored["differences"] == []
    entered = next(e for e in events if e["event"] == "sigreturn_entered")
    assert entered["syscall"] == syscall and entered["frame"]["address"] == frame["address"]
    steps = [e["step"] for e in events if e["event"] == "sigreturn_step"]
    assert steps[0]["address"] == frame["pretcode"] and steps[-1]["syscall"] == syscall
    pc, stack = g.values("GDBREGS")
    rep = g.reports()[0]
    want_pc = ip(frame)
    if scenario == "skip_segv":  # the handler rewrote the saved ip
        want_pc = rep["resume"]
        ipname = "mcontext.rip" if "rip" in frame["mcontext"] else "mcontext.ip"
        assert [c for c in entered["changes"]["changes"] if c[0] == ipname] == \
            [[ipname, ip(frame), want_pc]]
    # gdb's own registers: the interrupted context the frame saved
    assert (pc, stack) == (want_pc, sp(frame))
    assert restored["registers"]["rip" if "rip" in frame["mcontext"] else "eip"] == pc
    if prog.endswith(".i386") and scenario != "skip_segv":
        assert re.search(r"^GDBFN sig32_raise_magic$", g.stdout, re.M)
        back = next(r for r in g.reports() if r["tag"] == f"{scenario}_back")
        assert back["handled"] == 1 and back["regs"] == 0 and back["mask"] == 0x8000000800
    assert "SIGDBG-DONE" in g.stdout


def test_step_sigreturn_with_sigtrap_blocked_causes_no_trap() -> None:
    """A handler whose sa_mask blocks SIGTRAP (sig_traps fillmask), entered
    by ``catch`` (a stepi into the handler: a ptrace notification, not a
    forced SIGTRAP): the engine's walk follows it over gdb with ``catch
    syscall`` rather than a breakpoint or steps, since a trap forced while
    SIGTRAP is blocked would reset the program's SIGTRAP handler to SIG_DFL.
    The program proves it: its SIGTRAP handler still sees its 20 int3s."""
    g = gdb_run([
        "starti", "sigdbg catch SIGUSR1 --json", mark("step"), "sigdbg step-sigreturn --json",
        "handle SIGUSR1 nostop noprint pass", "handle SIGTRAP nostop noprint pass",
        "continue",
    ], target("sig_traps"), ("fillmask",))
    g.no_traceback()
    events = g.json("step")["events"]
    names = [e["event"] for e in events]
    assert names == ["sigreturn_entered", "context_restored"], names  # nothing stepped
    assert events[0]["syscall"] == "rt_sigreturn" and events[1]["matches"]
    back = next(r for r in g.reports() if r["tag"] == "fillmask_back")
    assert back["traps"] == 20
    assert "SIGDBG-DONE" in g.stdout


# the handler each ptrace recording of tests/data/walk/ starts in (tests/walkrec.py)
WALK_HANDLERS = {"plain": "h_plain", "nested": "outer", "longjmp": "h_plain",
                 "fatal": "handler", "stop": "handler", "exec": "handler",
                 "i386_nonrt": "h_nonrt"}


@pytest.mark.parametrize("name", sorted(WALK_HANDLERS))
def test_step_sigreturn_walks_as_under_ptrace(name: str) -> None:
    """One state machine: gdb's step-sigreturn from the handler's first
    instruction emits the events the engine's walk emits under the ptrace
    backend on the same program (recorded now by tests/walkrec.py, as the
    tapes of tests/data/walk/ were): the
    same deliveries and dispositions, the same frames entered, the same
    instructions stepped and sigreturns, the same reasons a walk ended.
    (Addresses and pids differ between the runs, and the instruction text
    comes from gdb's disassembler here, capstone there; the process's end,
    which gdb reports and the ptrace walk hands to the session's loop, is
    left out.)"""
    from tests.walkrec import record

    tape = record(name)
    prog, args = tape["argv"][0].rsplit("/", 1)[1], tape["argv"][1:]
    g = gdb_run(["handle SIGUSR1 nostop noprint pass", "handle SIGUSR2 nostop noprint pass",
                 "handle SIGSEGV nostop noprint pass", f"break *{WALK_HANDLERS[name]}", "run",
                 mark("step"), "sigdbg step-sigreturn --json"], target(prog), tuple(args))
    g.no_traceback()

    def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for e in events:
            if e["event"] in ("exited", "killed"):
                continue
            reason = re.sub(r"0x[0-9a-f]+", "ADDR", e.get("reason", ""))
            out.append((e["event"], e.get("disposition"), reason,
                        e.get("siginfo", {}).get("signal"), e.get("syscall"),
                        e.get("matches"), (e.get("step") or {}).get("bytes"),
                        (e.get("step") or {}).get("syscall")))
        return out

    assert shape(g.json("step")["events"]) == shape(tape["events"])


# -- catch ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("prog,scenario", [("sig_basic", "raise"), ("sig_basic.i386", "nonrt")])
def test_catch_stops_at_handler_entry(prog: str, scenario: str) -> None:
    g = gdb_run(["starti", mark("catch"), "sigdbg catch --json", REGS_PRINTF, "continue"],
                target(prog), (scenario,))
    g.no_traceback()
    events = g.json("catch")["events"]
    assert [e["event"] for e in events] == ["signal_delivered", "handler_entered"]
    assert events[0]["disposition"] == "handler" and events[0]["siginfo"]["signal"] == "SIGUSR1"
    pc, stack = g.values("GDBREGS")
    frame = events[1]["frame"]
    assert (events[1]["handler"], frame["address"]) == (pc, stack)
    rep = g.reports()[0]
    assert (ip(frame), sp(frame)) == (rep["pc"], rep["sp"])
    if frame["kind"] == "rt_sigframe":
        assert frame["address"] + 8 == rep["ucp"]
    else:
        assert frame["kind"] == "sigframe_ia32" and frame["address"] + 8 == rep["scp"]


def test_catch_reports_an_ignored_signal_and_the_exit() -> None:
    g = gdb_run(["starti", mark("catch"), "sigdbg catch --json"],
                target("sig_basic"), ("ignored",))
    g.no_traceback()
    events = g.json("catch")["events"]
    assert [(e["event"], e.get("disposition")) for e in events] == \
        [("signal_delivered", "passed"), ("exited", None)]
    assert events[0]["siginfo"]["signal"] == "SIGUSR2" and events[1]["status"] == 0


# -- core files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("prog,scenario,handler", [("sig_basic", "raise", "handler"),
                                                   ("sig_sigreturn.i386", "rt", "h_rt")])
def test_core_file(tmp_path: Path, prog: str, scenario: str, handler: str) -> None:
    core = tmp_path / "core"
    live = gdb_run([
        "handle SIGUSR1 nostop noprint pass", f"break *{handler}", "run",
        mark("auxv"), "sigdbg auxv --json", mark("frame"), "sigdbg frame --json",
        mark("maps"), "sigdbg maps --json", f"gcore {core}", "kill",
    ], target(prog), (scenario,))
    live.no_traceback()
    assert core.exists(), live.all
    g = gdb_run([
        mark("auxv"), "sigdbg auxv --json", mark("info"), "info auxv",
        mark("frame"), "sigdbg frame --json",
        mark("siginfo"), "sigdbg siginfo --json", SIGINFO_PRINTF,
        mark("maps"), "sigdbg maps --json",
        mark("step"), "sigdbg step-sigreturn",
    ], target(prog), core=str(core))
    g.no_traceback()
    # the auxv from NT_AUXV and the initial stack found in the core: as in the live process
    core_auxv, live_auxv = g.json("auxv"), live.json("auxv")
    assert core_auxv.pop("checked_against") == "the core file's NT_AUXV note"
    assert live_auxv.pop("checked_against") == "/proc/PID/auxv"
    assert core_auxv == live_auxv
    assert [(e["type"], e["value"]) for e in g.json("auxv")["entries"]] == \
        info_auxv(g.section("info"))
    assert g.json("frame") == live.json("frame")
    # named from gdb's tables for the core too (its vDSO image is in the core)
    assert g.json("frame")["restorer"]["symbol"] == \
        {"sig_basic": "__restore_rt", "sig_sigreturn.i386": "__kernel_rt_sigreturn"}[prog]
    signo, code, _, _ = g.values("GDBSI")
    si = g.json("siginfo")
    assert (si["si_signo"], si["si_code"]) == (signo, code)
    live_maps = {(m["start"], m["end"], m["path"]) for m in live.json("maps")["mappings"]}
    core_maps = g.json("maps")["mappings"]
    for name in ("[vdso]", "[stack]"):
        assert [m for m in core_maps if m["path"] == name][0]["start"] in \
            {s for s, _, p in live_maps if p == name}
    for m in core_maps:
        if m["path"].startswith("/"):
            assert (m["start"], m["end"], m["path"]) in live_maps, m
    assert "sigdbg step-sigreturn: a core file cannot run" in g.stderr


def test_core_file_found_past_fifos_gdb_holds(tmp_path: Path) -> None:
    """gdb < 17 does not name its core file: the extension looks for it among
    gdb's open files.  FIFOs among them (here inherited from the shell that
    started gdb: one with no writer, one with a writer that never writes)
    are passed over without being read: opening the first blocked, reading
    the second blocked (the timeout of gdb_run failed the test).  The auxv
    then comes from the core, as without them."""
    core = tmp_path / "core"
    live = gdb_run(["handle SIGUSR1 nostop noprint pass", "break *handler", "run",
                    mark("auxv"), "sigdbg auxv --json", f"gcore {core}", "kill"],
                   target("sig_basic"), ("raise",))
    live.no_traceback()
    assert core.exists(), live.all
    fds = []
    try:
        for name, flags in (("nowriter", os.O_RDONLY | os.O_NONBLOCK), ("silent", os.O_RDWR)):
            os.mkfifo(tmp_path / name)
            fds.append(os.open(tmp_path / name, flags))
        g = gdb_run([mark("fds"), "python import os; d = '/proc/self/fd/'; "
                     "print([os.readlink(d + f) for f in os.listdir(d) if os.path.exists(d + f)])",
                     mark("auxv"), "sigdbg auxv --json"],
                    target("sig_basic"), core=str(core), pass_fds=tuple(fds))
    finally:
        for fd in fds:
            os.close(fd)
    g.no_traceback()
    held = g.section("fds")
    assert str(tmp_path / "nowriter") in held and str(tmp_path / "silent") in held, held
    core_auxv, live_auxv = g.json("auxv"), live.json("auxv")
    assert core_auxv.pop("checked_against") == "the core file's NT_AUXV note"
    assert live_auxv.pop("checked_against") == "/proc/PID/auxv"
    assert core_auxv == live_auxv


# -- without and with the optional dependencies ------------------------------------------------
def test_without_capstone_and_pyelftools() -> None:
    g = gdb_run([
        'python import sys; print("DEPS", sys.modules.get("capstone"), '
        'sys.modules.get("elftools"))',
        "handle SIGUSR1 nostop noprint pass", "break *h_rt", "run",
        mark("auxv"), "sigdbg auxv --json", mark("frame"), "sigdbg frame --json",
        mark("siginfo"), "sigdbg siginfo --json", mark("vdso"), "sigdbg vdso",
        mark("disas"), "sigdbg vdso --disas __kernel_rt_sigreturn", mark("end"),
        "sigdbg step-sigreturn --json",
        'python import sys; print("HEAVY", sorted(m for m, v in sys.modules.items() if v and '
        'm.split(".")[0] in ("ptrace", "capstone", "elftools", "prompt_toolkit", "orjson")))',
    ], target("sig_basic.i386"), ("rt",))
    g.no_traceback()
    assert "DEPS None None" in g.stdout
    assert "HEAVY []" in g.stdout  # nothing in the plugin's import chain needs them
    assert g.json("auxv")["entries"]
    frame = g.json("frame")
    # named from gdb's own symbol tables (its image of the vDSO), without pyelftools
    assert frame["kind"] == "rt_sigframe_ia32"
    assert frame["restorer"]["symbol"] == "__kernel_rt_sigreturn"
    assert frame["restorer"]["pattern"] == "mov $173,%eax; int $0x80"
    assert g.json("siginfo")["si_signo"] == 5  # the breakpoint's SIGTRAP
    assert g.stderr.count("sigdbg vdso: pyelftools is not installed") == 2
    # stepping falls back to gdb's disassembler
    steps = [e["step"] for e in g.json("end")["events"] if e["event"] == "sigreturn_step"]
    assert steps[-1]["text"] == "int $0x80"


def _dep_dir(tmp_path: Path) -> Path | None:
    deps = tmp_path / "deps"
    deps.mkdir()
    try:
        import capstone
        import elftools
    except ImportError:
        return None
    for mod in (capstone, elftools):
        assert mod.__file__ is not None
        (deps / mod.__name__).symlink_to(Path(mod.__file__).parent)
    return deps


def test_with_capstone_and_pyelftools(tmp_path: Path) -> None:
    deps = _dep_dir(tmp_path)
    if deps is None:
        pytest.skip("capstone/pyelftools not installed for the test interpreter")
    g = gdb_run([
        "handle SIGUSR1 nostop noprint pass", "break *h_rt", "run",
        'python import capstone, elftools; print("DEPS ok")',
        mark("frame"), "sigdbg frame --json",
        mark("vdso"), "sigdbg vdso --json",
        mark("disas"), "sigdbg vdso --disas __kernel_rt_sigreturn --json",
    ], target("sig_basic.i386"), ("rt",), pre=(f'python import sys; sys.path.insert(0, "{deps}")',))
    if "DEPS ok" not in g.stdout:
        pytest.skip(f"gdb's Python cannot import the test interpreter's packages: {g.stderr}")
    g.no_traceback()
    frame = g.json("frame")
    cli = cli_frame(target("sig_basic.i386"), "rt")
    same_shape(frame, cli)
    assert frame["restorer"]["symbol"] == cli["restorer"]["symbol"]
    assert frame["restorer"]["symbol"].startswith("__kernel_rt_sigreturn")
    vdso = g.json("vdso")
    assert vdso["start"] == frame["pretcode"] & ~0xFFF or vdso["start"] < frame["pretcode"]
    assert any(s["name"] == "__kernel_rt_sigreturn" for s in vdso["symbols"])
    insns = g.json("disas")["instructions"]
    assert [line.split(None, 2)[2] for line in insns[:2]] == ["movl $0xad, %eax", "int $0x80"]


# -- errors, help, parameters, completion ------------------------------------------------------
def test_errors_are_one_line_gdb_errors() -> None:
    g = gdb_run(["sigdbg frame", "sigdbg auxv", "sigdbg siginfo"], target("hello"))
    g.no_traceback()
    for cmd in ("frame", "auxv", "siginfo"):
        assert f"sigdbg {cmd}: the program is not being run" in g.stderr
    g = gdb_run([
        "starti",
        "sigdbg frame 0x10", "sigdbg frame", "sigdbg frame --kind bogus", "sigdbg auxv extra",
        "sigdbg frame $no_such_var+", "sigdbg step-sigreturn", "sigdbg catch SIGBOGUS",
        "sigdbg vsyscall --json",
    ], target("hello"))
    g.no_traceback()
    lines = g.stderr.splitlines()
    for want in ("sigdbg frame: cannot read 1 bytes at 0x10", "sigdbg frame: no signal frame here",
                 "sigdbg frame: argument --kind: invalid choice",
                 "sigdbg auxv: unrecognized arguments: extra", "sigdbg frame: cannot evaluate",
                 "sigdbg step-sigreturn: no signal frame here",
                 "sigdbg catch: unknown signal 'SIGBOGUS'"):
        assert any(line.startswith(want) for line in lines), (want, g.stderr)
    assert json.loads(g.stdout[g.stdout.index("{"):])["abi"] == "x86_64"


def test_frame_address_errors_on_i386() -> None:
    g = gdb_run(["starti", "sigdbg frame 0x10"], target("hello.i386"))
    g.no_traceback()
    assert "sigdbg frame: cannot read 1 bytes at 0x10" in g.stderr


def test_help_parameters_and_completion(tmp_path: Path) -> None:
    (tmp_path / "dumpme.bin").write_bytes(b"")
    g = gdb_run([
        "help sigdbg", mark("help_frame"), "help sigdbg frame",
        mark("opt_help"), "sigdbg frame --help",
        mark("show"), "show sigdbg json",
        mark("complete"), "complete sigdbg frame --k", "complete sigdbg catch SIGUSR",
        "complete sigdbg st", "complete sigdbg vdso --du",
        f"complete sigdbg vdso --json --dump {tmp_path}/dum",
        "starti", "set sigdbg json on", mark("json"), "sigdbg siginfo",
        "set sigdbg json off", "set sigdbg color on", mark("color"), "sigdbg siginfo",
        "show sigdbg color",
    ], target("hello"))
    g.no_traceback()
    for sub in ("auxv", "maps", "vdso", "vsyscall", "frame", "siginfo", "step-sigreturn",
                "catch"):
        assert f"sigdbg {sub} -- " in g.stdout or f"sigdbg {sub}, " in g.stdout, sub
    assert "usage: sigdbg frame" in g.section("help_frame")
    assert "usage: sigdbg frame" in g.section("opt_help")
    assert "sigdbg json is off." in g.section("show")
    comp = g.section("complete").splitlines()
    assert "sigdbg frame --kind" in comp
    assert {"sigdbg catch SIGUSR1", "sigdbg catch SIGUSR2"} <= set(comp)
    assert "sigdbg step-sigreturn" in comp and "sigdbg vdso --dump" in comp
    assert f"sigdbg vdso --json --dump {tmp_path}/dumpme.bin" in comp
    assert g.json("json")["si_signo"] == 5
    assert "\x1b[" in g.section("color") and "sigdbg color is on." in g.stdout
    assert g.stderr.strip() == "" or "warning" in g.stderr


def test_plugin_outside_a_checkout(tmp_path: Path) -> None:
    """A copy of the script finds an installed package, or says in one line that it can't."""
    copy = tmp_path / "sigdbg.py"
    copy.write_text(PLUGIN.read_text())
    cmd = [str(GDB), "-nx", "-batch", "-ex", f"source {copy}", "-ex", "help sigdbg auxv"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                         cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert "sigdbg: cannot import the sigdbg package" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                          env=dict(env, PYTHONPATH=str(ROOT)), cwd=tmp_path,
                          stdin=subprocess.DEVNULL)
    assert "usage: sigdbg auxv" in good.stdout, good.stderr
