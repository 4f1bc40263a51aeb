"""Shared helpers for the signal-frame integration tests.

A target runs under sigdbg with its stdout in a temporary file; after the run
the test has every event (frozen, decoded while the tracee was stopped) and
the SIGDBG-REPORT lines the target printed from inside its handlers -- the
independent truth the decoded frames are compared with.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sigdbg
from sigdbg.decode.sigframe import SigFrame
from sigdbg.engine import events as ev
from sigdbg.engine.session import Session
from tests.conftest import parse_reports, target

Report = dict[str, int | str]
#: called with the session and each event while the tracee is stopped there;
#: returning True ends the run at once (the session is closed, which kills the
#: tracee: nothing is resumed after a test scribbled over live memory)
OnEvent = Callable[[Session, ev.Event], bool | None]

U32 = 0xFFFFFFFF


@dataclass
class Run:
    events: list[ev.Event]
    reports: list[Report]
    stdout: str
    pid: int
    exe: str

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    def report(self, tag: str) -> Report:
        found = [r for r in self.reports if r["tag"] == tag]
        assert len(found) == 1, f"expected one report tag={tag}, got {found} in:\n{self.stdout}"
        return found[0]

    def frames(self) -> list[SigFrame]:
        return [e.frame for e in self.of(ev.HandlerEntered)]

    def deliveries(self) -> list[ev.SignalDelivered]:
        return self.of(ev.SignalDelivered)


def run_target(name: str, *args: str, follow: bool = False,
               on_event: OnEvent | None = None, prefix: Sequence[str] = ()) -> Run:
    """Run ``targets/build/NAME ARGS`` to the end (or until ``on_event`` says stop).

    ``prefix`` is a command that execs the target (e.g. ``setarch -R``)."""
    argv = [*prefix, target(name), *args]
    with tempfile.TemporaryFile() as out:
        with sigdbg.launch(argv, stdout=out.fileno(), follow=follow) as s:
            pid = s.pid
            exe = s.exe_path()
            events: list[ev.Event] = []
            for e in s.events():
                events.append(e)
                if on_event is not None and on_event(s, e):
                    break
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Run(events, parse_reports(text), text, pid, exe)


def check_frame_against_report(frame: SigFrame, rep: Report) -> None:
    """Every key of a standard report (rep_siginfo + rep_ucontext, or the i386
    rt keys) against the decoded frame.  Keys absent from the report are not
    checked here; scenario tests check their own extra keys."""
    mc = frame.mcontext
    x64 = frame.abi == "x86_64"
    pc, sp = ("rip", "rsp") if x64 else ("ip", "sp")
    info = frame.siginfo
    assert frame.sig == rep["sig"]
    if "code" in rep:
        assert info is not None and frame.siginfo_valid, frame.problems
        assert info.si_signo == rep["sig"]
        assert info.si_code & U32 == rep["code"]
        if "errno" in rep:
            assert info.si_errno == rep["errno"]
        # siginfo union keys of report.h -> kernel field names
        for key, kname in (("pid", "si_pid"), ("uid", "si_uid"), ("addr", "si_addr"),
                           ("value", "si_value"), ("status", "si_status"),
                           ("timerid", "si_tid"), ("overrun", "si_overrun"),
                           ("utime", "si_utime"), ("stime", "si_stime")):
            if key in rep:
                assert kname in info.fields, (key, info)
                assert info.fields[kname] == rep[key], (key, info.fields[kname], rep[key])
    if "infop" in rep:
        info_off = 312 if x64 else 16
        assert frame.address + info_off == rep["infop"]
    if "ucp" in rep:
        assert frame.address + (8 if x64 else 144) == rep["ucp"]
    assert mc[pc] == rep["pc"] and frame.pc == rep["pc"]
    assert mc[sp] == rep["sp"] and frame.sp == rep["sp"]
    for key in ("trapno", "err", "cr2", "fpstate"):
        if key in rep:
            assert mc[key] == rep[key], (key, hex(mc[key]), hex(int(rep[key])))
    if "fpstate" in rep:
        assert frame.fpstate is not None and frame.fpstate.address == rep["fpstate"]
    if "ss_sp" in rep:
        assert frame.uc_stack is not None
        assert frame.uc_stack["ss_sp"] == rep["ss_sp"]
        # ss_flags is a C int; the report prints it as unsigned 32-bit
        assert frame.uc_stack["ss_flags"] & U32 == rep["ss_flags"]
        assert frame.uc_stack["ss_size"] == rep["ss_size"]
    if "mask" in rep:
        assert frame.sigmask == rep["mask"], (hex(frame.sigmask), hex(int(rep["mask"])))
    if "pretcode" in rep:
        assert frame.pretcode == rep["pretcode"]


def abs_symbols(path: str) -> dict[str, tuple[int, int]]:
    """name -> (st_value, st_size) of the function symbols in an ELF file,
    read with pyelftools directly (independent of sigdbg's own symboliser)."""
    from elftools.elf.elffile import ELFFile

    out: dict[str, tuple[int, int]] = {}
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        assert symtab is not None, f"{path} has no .symtab"
        for sym in symtab.iter_symbols():
            if sym["st_info"]["type"] == "STT_FUNC" and sym.name:
                out[sym.name] = (sym["st_value"], sym["st_size"])
    return out
