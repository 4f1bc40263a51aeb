"""Single-stepping through sigreturn, and proof of what the kernel restored.

Independent truths: the registers the kernel restored (read by the test
itself from the final ContextRestored event's raw register dump and compared
field by field with the frame), the target's own reports from inside its
handlers, and strace's rt_sigreturn({mask=[...]}) line.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import pytest

import sigdbg
from sigdbg.abi import I386, X86_64
from sigdbg.abi.x86.abi import FIX_EFLAGS
from sigdbg.engine import events as ev
from sigdbg.names import signal_number
from tests.conftest import parse_reports, target


def trace(argv: list[str]) -> tuple[list[ev.Event], list[dict[str, int | str]]]:
    with tempfile.TemporaryFile() as out:
        with sigdbg.launch(argv, stdout=out.fileno()) as s:
            events = list(s.events(step_sigreturn=True))
        out.seek(0)
        reports = parse_reports(out.read().decode())
    return events, reports


def of(events: list[ev.Event], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def assert_restored_equals_frame(abi_name: str, entered: ev.SigreturnEntered,
                                 restored: ev.ContextRestored) -> None:
    """Every general register, pc, sp and the sigreturn-restored eflags bits."""
    abi = X86_64 if abi_name == "x86_64" else I386
    mc = entered.frame.mcontext
    regs = restored.registers
    checked = 0
    for mc_name, reg in abi.mcontext_regs:
        if mc_name in ("cs", "ss", "gs", "fs", "es", "ds"):
            continue
        if mc_name in ("eflags", "flags"):
            assert (mc[mc_name] ^ regs[reg]) & FIX_EFLAGS == 0, reg
        else:
            assert regs[reg] == mc[mc_name], (reg, hex(regs[reg]), hex(mc[mc_name]))
        checked += 1
    assert checked == (18 if abi_name == "x86_64" else 10)
    assert restored.matches and restored.differences == ()


def test_x86_64_libc_restorer() -> None:
    events, reports = trace([target("sig_sigreturn"), "plain"])
    entered = of(events, ev.HandlerEntered)
    assert len(entered) == 1
    assert entered[0].frame.restorer.kind == "libc"
    steps = [e.step for e in of(events, ev.SigreturnStep)]
    assert [s.text for s in steps] == ["movq $0xf, %rax", "syscall"]
    assert steps[-1].syscall == "rt_sigreturn"
    assert steps[0].address == entered[0].frame.pretcode
    sre = of(events, ev.SigreturnEntered)[0]
    assert sre.syscall == "rt_sigreturn" and sre.changes.empty
    restored = of(events, ev.ContextRestored)[0]
    assert_restored_equals_frame("x86_64", sre, restored)
    (rep,) = [r for r in reports if r["tag"] == "plain"]
    assert restored.registers["rip"] == rep["pc"] and restored.registers["rsp"] == rep["sp"]
    assert of(events, ev.Exited)[0].status == 0


@pytest.mark.parametrize("scenario,symbol,texts,syscall", [
    ("rt", "__kernel_rt_sigreturn", ["movl $0xad, %eax", "int $0x80"], "rt_sigreturn"),
    ("nonrt", "__kernel_sigreturn", ["popl %eax", "movl $0x77, %eax", "int $0x80"], "sigreturn"),
])
def test_i386_vdso_restorer(scenario: str, symbol: str, texts: list[str], syscall: str) -> None:
    events, reports = trace([target("sig_sigreturn.i386"), scenario])
    frame = of(events, ev.HandlerEntered)[0].frame
    assert frame.restorer.kind == "vdso" and frame.restorer.symbol is not None
    assert frame.restorer.symbol.startswith(symbol)
    steps = [e.step for e in of(events, ev.SigreturnStep)]
    assert [s.text for s in steps] == texts
    assert steps[-1].syscall == syscall
    sre = of(events, ev.SigreturnEntered)[0]
    restored = of(events, ev.ContextRestored)[0]
    assert_restored_equals_frame("i386", sre, restored)
    (rep,) = [r for r in reports if r["tag"] == scenario]
    regs = restored.registers
    assert (regs["eip"], regs["esp"], regs["esi"], regs["edi"], regs["ebp"]) == (
        rep["pc"], rep["sp"], rep["si"], rep["di"], rep["bp"])
    (back,) = [r for r in reports if r["tag"] == f"{scenario}_back"]
    assert back["regs"] == 0  # the target itself saw its registers intact


@pytest.mark.parametrize("prog", ["sig_sigreturn", "sig_sigreturn.i386"])
def test_skip_segv_rip_edit(prog: str) -> None:
    events, reports = trace([target(prog), "skip_segv"])
    (rep,) = [r for r in reports if r["tag"] == "skip_segv"]
    sre = of(events, ev.SigreturnEntered)[0]
    pc_name = "rip" if prog == "sig_sigreturn" else "ip"
    changes = {name: (old, new) for name, old, new in sre.changes.changes}
    assert changes[f"mcontext.{pc_name}"] == (rep["pc"], rep["resume"])
    restored = of(events, ev.ContextRestored)[0]
    assert restored.matches
    assert restored.registers["rip" if pc_name == "rip" else "eip"] == rep["resume"]
    assert of(events, ev.Exited)[0].status == 0


def test_longjmp_out_of_handler() -> None:
    events, reports = trace([target("sig_sigreturn"), "longjmp"])
    abandoned = of(events, ev.SigreturnAbandoned)
    assert abandoned and "siglongjmp" in abandoned[0].reason
    assert [r["tag"] for r in reports] == ["longjmp", "after"]
    # the second delivery is followed through its own, normal sigreturn
    assert len(of(events, ev.HandlerEntered)) == 2
    assert of(events, ev.ContextRestored)[0].matches
    assert of(events, ev.Exited)[0].status == 0


def test_exit_in_handler() -> None:
    events, _ = trace([target("sig_sigreturn"), "exit_in_handler"])
    abandoned = of(events, ev.SigreturnAbandoned)
    assert abandoned and "ended" in abandoned[0].reason
    assert of(events, ev.Exited)[-1].status == 3


def test_signal_becomes_deliverable_at_sigreturn() -> None:
    events, reports = trace([target("sig_sigreturn"), "nested_in_trampoline"])
    delivered = [e.siginfo.si_signo for e in of(events, ev.SignalDelivered)]
    assert delivered == [signal_number("SIGUSR1"), signal_number("SIGUSR2")]
    restored = of(events, ev.ContextRestored)
    assert len(restored) == 2 and all(r.matches for r in restored)
    first, second = [r for r in reports if r["tag"] in ("first", "second")]
    # SIGUSR2 was delivered at the context rt_sigreturn restored
    assert restored[0].registers["rip"] == first["pc"] == second["pc"]
    assert of(events, ev.Exited)[0].status == 0


def strace_sigreturn_masks(argv: list[str]) -> list[set[str]]:
    with tempfile.NamedTemporaryFile("r") as log:
        subprocess.run(["strace", "-qq", "-e", "trace=rt_sigreturn,sigreturn", "-o", log.name,
                        *argv], check=True, stdout=subprocess.DEVNULL, timeout=30)
        text = log.read()
    masks = []
    for m in re.finditer(r"sigreturn\(\{mask=\[([^\]]*)\]\}\)", text):
        masks.append({("SIG" + n if not n.startswith("SIG") else n) for n in m.group(1).split()})
    return masks


def _normalise(names: set[str]) -> set[int]:
    return {signal_number(n.replace("SIGRT_", "SIGRTMIN+").replace("SIGRTMIN+0", "SIGRTMIN"))
            if n.startswith("SIGRT_") else signal_number(n) for n in names}


@pytest.mark.parametrize("argv", [["sig_basic", "mask"], ["sig_sigreturn.i386", "rt"]])
def test_restored_mask_agrees_with_strace(argv: list[str]) -> None:
    prog = [target(argv[0]), *argv[1:]]
    events, _ = trace(prog)
    ours = [set(e.frame.sigmask_names) for e in of(events, ev.SigreturnEntered)]
    theirs = strace_sigreturn_masks(prog)
    assert ours and len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert _normalise(a) == _normalise(b), (a, b)


def test_no_tracee_left_after_close() -> None:
    s = sigdbg.launch([target("sig_block")])
    pid = s.pid
    for e in s.events():
        if isinstance(e, ev.HandlerEntered):
            break
    s.close()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
