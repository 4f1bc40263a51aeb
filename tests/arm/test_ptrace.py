"""ptrace on the real arm64 kernel, from a 64-bit tracer in the guest
(tests/arm/guest_ptrace.py): the first SIGUSR1 delivery of each target is
resumed with PTRACE_SINGLESTEP + the signal, which stops on the handler's
first instruction.  The NT_PRSTATUS regset there (decoded with
aarch64.USER_REGS / arm.PT_REGS) and the frame read through /proc/PID/mem are
compared with what the handler itself reported and dumped in that run, and
the traced run with the untraced one of the same boot."""

from __future__ import annotations

import json

import pytest

from sigdbg.abi import aarch64, arm
from tests.arm.conftest import Report, parse
from tests.arm.guest import Batch, Result

pytestmark = pytest.mark.timeout(900)

SIGTRAP = 5
#: PSTATE.SS / SPSR.SS: set in the saved state when the signal was delivered
#: under PTRACE_SINGLESTEP (arch/arm64: DBG_SPSR_SS)
PSR_SS = 0x200000
#: PSTATE.BTYPE: the kernel sets BTYPE=C (0b10) at handler entry on a CPU
#: with BTI (arch/arm64/kernel/signal.c setup_return)
PSR_BTYPE_MASK, PSR_BTYPE_C = 0xC00, 0x800


def traced(guest: Batch, build: str) -> tuple[dict[str, object], Report]:
    res = guest.results[f"ptrace_{build}"]
    assert res.rc == 0, res.stderr.decode(errors="replace")
    first, _, rest = res.text.partition("\n")
    out = json.loads(first)
    assert out["exit"] == 0 and out["step_stop"] == SIGTRAP
    rep = parse(Result(res.name, 0, rest.encode(), b""))
    assert rep.done
    return out, rep


def same_run(rep: Report, untraced: Report) -> None:
    """Traced behaves as untraced: the same reports, records and patterns."""
    assert list(rep.lines) == list(untraced.lines)
    for tag, line in rep.lines.items():
        if tag.endswith(".rec"):
            assert {k: v for k, v in line.items() if not k.startswith("extra_datap")} == {
                k: v for k, v in untraced[tag].items() if not k.startswith("extra_datap")}


def test_aarch64_handler_entry(guest: Batch) -> None:
    out, rep = traced(guest, "a64")
    untraced = parse(guest.results["frame_a64"])
    assert out["stops"] == [SIGTRAP, 10, 11, 12, 10, 10, 12, 11]
    head = rep["usr1"]
    regset = bytes.fromhex(str(out["regset"]))
    assert len(regset) == aarch64.USER_REGS.size == 272
    r = aarch64.USER_REGS.decode(regset)
    x = r["regs"]
    assert isinstance(x, tuple) and isinstance(r["pstate"], int)
    assert (r["pc"], r["sp"]) == (head["handler"], head["entry_sp"])
    assert (x[0], x[1], x[2]) == (10, head["entry_sp"], head["entry_sp"] + 128)
    assert (x[29], x[30]) == (head["entry_fp"], head["entry_lr"])
    assert r["pstate"] & PSR_BTYPE_MASK == PSR_BTYPE_C
    # the frame the tracer read at the stop is the one the handler dumped
    start, data = rep.dump("usr1.frame")
    assert out["frame_at"] == start and bytes.fromhex(str(out["frame"])) == data
    saved = aarch64.RT_SIGFRAME.decode(data)["uc"]["uc_mcontext"]["pstate"]  # type: ignore[index]
    assert isinstance(saved, int) and saved & PSR_SS
    assert saved & ~PSR_SS == untraced["usr1.mc"]["pstate"]
    same_run(rep, untraced)


@pytest.mark.parametrize("build", ["arm", "thumb"])
def test_arm_handler_entry(guest: Batch, build: str) -> None:
    out, rep = traced(guest, build)
    untraced = parse(guest.results[f"frame_{build}"])
    # usr1 segv nosi alt sigpage sigpage_nosi raise queue nest nest_in own
    assert out["stops"] == [SIGTRAP, 10, 11, 12, 10, 10, 12, 10, 10, 10, 12, 10]
    head = rep["usr1"]
    regset = bytes.fromhex(str(out["regset"]))
    assert len(regset) == arm.PT_REGS.size == 72  # compat NT_PRSTATUS, from a 64-bit tracer
    u = dict(zip(arm.UREG_NAMES, arm.PT_REGS.decode(regset)["uregs"]))  # type: ignore[arg-type]
    # pc keeps bit 0 at a Thumb handler's entry
    assert (u["r15"], u["r13"], u["r14"]) == (head["handler"], head["entry_sp"], head["entry_lr"])
    assert (u["r0"], u["r1"], u["r2"]) == (10, head["entry_sp"], head["entry_sp"] + 128)
    assert bool(u["cpsr"] & arm.CPSR_T) == (build == "thumb")
    start, data = rep.dump("usr1.frame")
    assert out["frame_at"] == start and bytes.fromhex(str(out["frame"])) == data
    frame = arm.COMPAT_RT_SIGFRAME.decode(data)
    saved = frame["sig"]["uc"]["uc_mcontext"]["arm_cpsr"]  # type: ignore[index]
    assert isinstance(saved, int) and saved & PSR_SS
    assert saved & ~PSR_SS == untraced["usr1.mc"]["arm_cpsr"]
    same_run(rep, untraced)
