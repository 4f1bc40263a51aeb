"""Mixed-mode code: a 64-bit task running 32-bit code (cs 0x23) and a 32-bit
task running 64-bit code (cs 0x33), signalled there.

Truth: the handlers' own reports (targets/sig_mixed.c, sig_mixed.i386.c), and
the untraced run of the same program.  What the kernel does (and sigdbg must
follow): the frame kind is the handler's ABI (how it was installed), the
saved cs is the interrupted code's, and the NT_PRSTATUS view at a stop is
that of the code stopped in (arch/x86/kernel/ptrace.c task_user_regset_view).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import sigdbg
from sigdbg.abi import I386, X86_64
from sigdbg.engine import events as ev
from tests.conftest import parse_reports, target

MAGIC = {"si": 0x51515151, "di": 0xD1D1D1D1, "bp": 0xB0B0B0B0}


def traced(name: str, *args: str, step: bool = False,
           frames: bool = True) -> tuple[list[ev.Event], str, int | None, list[dict[str, object]]]:
    """Run a target under sigdbg; events, stdout, exit status, and what the
    registers looked like at each signal-delivery stop (frames=False only)."""
    stops: list[dict[str, object]] = []
    with tempfile.TemporaryFile() as out:
        with sigdbg.launch([target(name), *args], stdout=out.fileno()) as s:
            s.policy.frames = frames
            events = []
            for e in s.events(step_sigreturn=step):
                events.append(e)
                if isinstance(e, ev.SignalDelivered) and e.disposition == "passed":
                    task = s.tracer.task(e.tid)
                    stops.append({"abi": task.abi, "process_abi": task.process_abi,
                                  "regs": s.registers(), "x86_64": task.registers_as(X86_64),
                                  "i386": task.registers_as(I386), "pc": e.pc})
            status = s.exit_status
        out.seek(0)
        text = out.read().decode()
    return events, text, status, stops


def untraced(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([target(name), *args], capture_output=True, text=True, timeout=20)


def only(events: list[ev.Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


@pytest.mark.parametrize("scenario", ["ud2", "kill"])
def test_64bit_task_in_32bit_code_frame_is_the_handlers(scenario: str) -> None:
    events, text, status, _ = traced("sig_mixed", scenario, step=True)
    (rep,) = parse_reports(text)
    assert status == 0 and text.endswith("SIGDBG-DONE\n")
    (entered,) = only(events, ev.HandlerEntered)
    f = entered.frame
    # a 64-bit handler: rt_sigframe, whatever code was interrupted
    assert (f.abi, f.kind) == ("x86_64", "rt_sigframe")
    assert entered.handler == rep["handler"]
    mc = f.mcontext
    assert mc["cs"] == rep["cs"] == 0x23 and mc["ss"] == rep["ss"]
    assert (mc["rip"], mc["rsp"], mc["eflags"]) == (rep["pc"], rep["sp"], rep["eflags"])
    assert (mc["rsi"], mc["rdi"], mc["rbp"], mc["rax"]) == \
        (rep["rsi"], rep["rdi"], rep["rbp"], rep["rax"]) == \
        (MAGIC["si"], MAGIC["di"], MAGIC["bp"], rep["rax"])
    assert (mc["trapno"], mc["err"], mc["fpstate"]) == (rep["trapno"], rep["err"], rep["fpstate"])
    assert f.uc_flags == rep["uc_flags"]
    assert f.address + 8 == rep["ucp"]
    assert f.siginfo is not None and f.siginfo.si_signo == rep["sig"]
    assert f.siginfo.si_code & 0xFFFFFFFF == rep["code"]
    assert not f.problems
    (restored,) = only(events, ev.ContextRestored)
    assert restored.matches, restored.differences
    # the restored context is 32-bit code again, named as the frame names it
    assert restored.registers["cs"] == 0x23 and restored.registers["rip"] == rep["pc"] + (
        2 if scenario == "ud2" else 0)


def test_64bit_task_with_a_compat_handler_gets_an_ia32_frame() -> None:
    """sigaction through int $0x80 (SA_IA32_ABI): an rt_sigframe_ia32 in a
    64-bit task, and a 32-bit restorer that is stepped as 32-bit code."""
    events, text, status, _ = traced("sig_mixed", "ia32", step=True)
    (rep,) = parse_reports(text)
    assert status == 0 and text.endswith("SIGDBG-DONE\n")
    (exe,) = only(events, ev.Exec)
    assert exe.abi == "x86_64"  # the program's ABI, not the handler's
    (entered,) = only(events, ev.HandlerEntered)
    f = entered.frame
    assert (f.abi, f.kind) == ("i386", "rt_sigframe_ia32")
    assert (entered.handler, f.address, f.pinfo, f.puc, f.pretcode) == \
        (rep["handler"], rep["frame"], rep["pinfo"], rep["puc"], rep["restorer"])
    mc = f.mcontext
    assert (mc["ip"], mc["cs"], mc["sp"], mc["flags"]) == \
        (rep["pc"], rep["cs"], rep["sp"], rep["flags"])
    assert (mc["si"], mc["di"], mc["bp"]) == (rep["si"], rep["di"], rep["bp"])
    assert mc["fpstate"] == rep["fpstate"] and f.sigmask == rep["mask"]
    assert f.siginfo is not None and f.siginfo.si_code == rep["code"]
    assert f.siginfo.get("si_addr") == rep["fault"]
    assert f.restorer.syscall == "rt_sigreturn" and not f.problems
    steps = only(events, ev.SigreturnStep)
    assert [s.step.text for s in steps] == ["movl $0xad, %eax", "int $0x80"]
    (restored,) = only(events, ev.ContextRestored)
    assert restored.matches, restored.differences


@pytest.mark.parametrize("scenario", ["ud2", "kill"])
def test_32bit_task_in_64bit_code_frame_is_the_handlers(scenario: str) -> None:
    events, text, status, _ = traced("sig_mixed.i386", scenario, step=True)
    (rep,) = parse_reports(text)
    assert status == 0 and text.endswith("SIGDBG-DONE\n")
    (entered,) = only(events, ev.HandlerEntered)
    f = entered.frame
    assert (f.abi, f.kind) == ("i386", "rt_sigframe_ia32")
    mc = f.mcontext
    assert mc["cs"] == rep["cs"] == 0x33
    assert (mc["ip"], mc["sp"], mc["flags"], mc["trapno"]) == \
        (rep["pc"], rep["sp"], rep["flags"], rep["trapno"])
    assert (mc["si"], mc["di"], mc["bp"]) == (rep["si"], rep["di"], rep["bp"]) == \
        (MAGIC["si"], MAGIC["di"], MAGIC["bp"])
    assert (f.pinfo, f.puc, mc["fpstate"], f.sigmask) == \
        (rep["infop"], rep["ucp"], rep["fpstate"], rep["mask"])
    assert mc["ip"] == (rep["fault"] if scenario == "ud2" else rep["ret"])
    assert not f.problems and f.restorer.kind == "vdso"
    (restored,) = only(events, ev.ContextRestored)
    # sigreturn went back to 64-bit code: still compared field by field
    assert restored.matches, restored.differences
    assert restored.registers["xcs"] == 0x33


@pytest.mark.parametrize(("name", "scenario", "want"), [
    ("sig_mixed", "ud2", ("i386", "x86_64", 0x23)),
    ("sig_mixed", "kill", ("i386", "x86_64", 0x23)),
    ("sig_mixed.i386", "ud2", ("x86_64", "i386", 0x33)),
    ("sig_mixed.i386", "kill", ("x86_64", "i386", 0x33)),
])
def test_registers_at_a_stop_use_the_view_of_the_code(
        name: str, scenario: str, want: tuple[str, str, int]) -> None:
    """At the delivery stop in the other mode's code the kernel hands out
    the other regset; sigdbg names the registers after it, and can still
    show them in the program's own names."""
    _, text, status, stops = traced(name, scenario, frames=False)
    (rep,) = parse_reports(text)
    assert status == 0
    (stop,) = stops
    abi, process_abi, cs = want
    assert (stop["abi"].name, stop["process_abi"].name) == (abi, process_abi)  # type: ignore[attr-defined]
    regs = stop["regs"]
    x64, x32 = stop["x86_64"], stop["i386"]
    assert isinstance(regs, dict) and isinstance(x64, dict) and isinstance(x32, dict)
    assert regs == (x32 if abi == "i386" else x64)
    assert x64["cs"] == x32["xcs"] == cs
    assert x64["rip"] == x32["eip"] == stop["pc"] == rep["pc"]
    assert x64["rsp"] == x32["esp"] == rep["sp"]
    assert (x32["esi"], x32["edi"], x32["ebp"]) == (MAGIC["si"], MAGIC["di"], MAGIC["bp"])


@pytest.mark.parametrize("step", [False, True])
@pytest.mark.parametrize(("name", "scenario"), [
    ("sig_mixed", ""), ("sig_mixed.i386", ""),
])
def test_mixed_mode_traced_equals_untraced(name: str, scenario: str, step: bool) -> None:
    args = (scenario,) if scenario else ()
    plain = untraced(name, *args)
    events, text, status, _ = traced(name, *args, step=step)
    assert plain.returncode == status == 0
    strip = {"pid", "ucp", "infop", "sp", "fpstate", "frame", "pinfo", "puc", "handler",
             "restorer", "fault", "entry", "pc", "ret", "addr", "rdx", "rbx", "rcx"}

    def norm(t: str) -> list[dict[str, object]]:
        # (trapno of a kill is stale: the last exception's, and a debugger's
        # single-step is a #DB exception -- arch/x86/kernel/traps.c)
        return [{k: v for k, v in r.items()
                 if k not in strip and not (k == "trapno" and r["tag"] == "kill")}
                for r in parse_reports(t)]

    assert norm(text) == norm(plain.stdout)
    assert text.count("SIGDBG-DONE") == plain.stdout.count("SIGDBG-DONE") == 1
    assert not only(events, ev.SigreturnAbandoned)
    if step:
        assert all(e.matches for e in only(events, ev.ContextRestored))
        assert len(only(events, ev.ContextRestored)) == len(parse_reports(text))


def test_shell_steps_through_the_mode_switch(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """In the shell: after sigreturn into 32-bit code the registers are the
    i386 view and the code disassembles as 32-bit; two stepi later (a far
    return) they are the 64-bit ones again, like the kernel's own view."""
    from tests.integration.test_shell import drive, shell_args

    monkeypatch.setenv("SIGDBG_HISTORY", str(tmp_path / "history"))
    log = tmp_path / "tracee.out"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        text = drive("run ud2\ncontinue\nstep-sigreturn\nregs\nx/1i $pc\nstepi\nstepi\nregs\n"
                     "continue\n\x04", shell_args(target("sig_mixed")),
                     tracee_stdio={"stdout": fd})
    finally:
        os.close(fd)
    (rep,) = parse_reports(log.read_text())
    assert "error:" not in text, text
    assert "context restored: every register equals the frame's" in text
    after = text[text.index("context restored"):]
    m32 = re.search(r"^eip\s+(0x[0-9a-f]+)", after, re.M)
    assert m32 and int(m32.group(1), 16) == rep["pc"] + 2  # past the ud2
    assert re.search(r"^xcs\s+0x0+23\b", after, re.M)
    assert re.search(r"^esi\s+0x51515151\b", after, re.M)
    assert re.search(rf"=> {rep['pc'] + 2:#x}: cb\s+lretl", after)
    back = after[after.index("lretl"):]
    assert re.search(r"^cs\s+0x0+33\b", back, re.M)
    assert re.search(r"^rip\s+0x[0-9a-f]+\s+\d+\s+<enter32", back, re.M)
    assert "+++ exited with 0 +++" in text


def test_cli_json_trace_of_mixed_mode_code(tmp_path: Path) -> None:
    from tests.integration.test_trace import schema_errors

    out = tmp_path / "trace.jsonl"
    for name in ("sig_mixed", "sig_mixed.i386"):
        plain = untraced(name)
        p = subprocess.run([sys.executable, "-m", "sigdbg", "trace", "--json", "--step-sigreturn",
                            "-o", str(out), "--", target(name)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == plain.returncode == 0, p.stderr
        assert p.stdout.count("SIGDBG-REPORT") == plain.stdout.count("SIGDBG-REPORT")
        events = [json.loads(line) for line in out.read_text().splitlines()]
        assert all(not schema_errors(e) for e in events)
        restored = [e for e in events if e["event"] == "context_restored"]
        assert restored and all(e["matches"] for e in restored)
        kinds = [e["frame"]["kind"] for e in events if e["event"] == "handler_entered"]
        assert kinds == (["rt_sigframe", "rt_sigframe", "rt_sigframe_ia32"]
                         if name == "sig_mixed" else ["rt_sigframe_ia32"] * 2)
