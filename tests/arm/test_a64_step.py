"""``sigdbg trace --step-sigreturn -- PROG`` on an AArch64 process in the arm64 guest.

tests/arm/guest_sigdbg.py (the one python start in the guest) runs the CLI's
``main`` on targets/arm/sig_step.a64, JSON and text: sigdbg steps into each
handler, runs it to its restorer (an NT_ARM_HW_BREAK execute breakpoint on
x30), single-steps the restorer (the vDSO's ``mov x8, #139; svc #0`` or the
program's own SA_RESTORER), re-reads the frame at sp when the svc is reached
and compares the registers the kernel restored with it.  The program reports,
from inside each handler at its end, the frame it leaves behind (after its
own edits: pc skip, mask, FP/SIMD), and after the return what the
interrupted code got back (x19-x28, v16, FPCR, FPSR stored right after the
svc; the blocked mask from sigprocmask).  The untraced run of the same
program (conftest's ``step_a64``) says what the program does without sigdbg.

Independent truths: the handler's report of its frame, the interrupted
code's report after the return, the untraced run, the program's own
addresses (its restorer, the faulting instruction).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.arm.conftest import Report, parse
from tests.arm.guest import Batch, Result
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(900)

PSTATE_SS = 1 << 21
SIGUSR1, SIGUSR2, SIGSEGV = 10, 12, 11
#: handlers in the order they return (the nested one first)
ORDER = ("plain", "restorer", "segv", "nest_in", "nest", "fp", "sve", "trapfree")
REGS = [f"x{i}" for i in range(31)] + ["sp", "pc"]

_DOC: dict[int, dict[str, Any]] = {}


def _steps(guest: Batch) -> dict[str, Any]:
    res = guest.results["py_sigdbg"]
    if id(res) not in _DOC:
        assert res.rc == 0, res.stderr.decode(errors="replace")[-3000:]
        _DOC[id(res)] = json.loads(res.text)
    steps: dict[str, Any] = _DOC[id(res)]["steps"]
    return steps


def _run(guest: Batch, key: str) -> tuple[dict[str, Any], Report]:
    run = _steps(guest)[key]
    assert run["rc"] == 0 and run["stderr"] == "", run
    rep = parse(Result(key, 0, run["program"].encode(), b""))
    assert rep.done, "the program did not run to its end under --step-sigreturn"
    return run, rep


def _events(guest: Batch) -> tuple[list[dict[str, Any]], Report]:
    run, rep = _run(guest, "json")
    return [json.loads(line) for line in run["stdout"].splitlines()], rep


def _of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def test_every_handler_is_followed_to_its_restored_context(guest: Batch) -> None:
    events, rep = _events(guest)
    assert _of(events, "sigreturn_abandoned") == []
    entered = _of(events, "handler_entered")
    restored = _of(events, "context_restored")
    assert len(entered) == len(restored) == len(_of(events, "sigreturn_entered")) == 8
    assert [e["frame"]["sig"] for e in entered] == [SIGUSR1, SIGUSR1, SIGSEGV, SIGUSR1, SIGUSR2,
                                                    SIGUSR1, SIGSEGV, SIGUSR1]
    for r in restored:
        assert r["matches"] is True and r["differences"] == [], r
    # the kernel's pstate rules are named, not hidden
    names = {n.split(":")[0] for n in restored[0]["not_compared"]}
    assert {"pstate.RES0", "pstate.SS", "pstate.BTYPE", "pstate.EL0t"} <= names
    # the same program untraced: the same results after every return
    plain = parse(guest.results["step_a64"])
    for tag in ("plain", "restorer", "segv", "nest", "fp", "sve", "trapfree"):
        assert rep[tag + ".after"] == plain[tag + ".after"], tag
    assert rep["sve.regs"] == plain["sve.regs"]


def test_restored_registers_equal_the_frame_the_handler_left(guest: Batch) -> None:
    """Per handler (in return order): the frame sigdbg re-read at the svc and
    the registers after it against the handler's own report of that frame."""
    events, rep = _events(guest)
    frames = [e["frame"] for e in _of(events, "sigreturn_entered")]
    restored = _of(events, "context_restored")
    for tag, frame, done in zip(ORDER, frames, restored):
        if tag == "trapfree":
            continue  # followed with PTRACE_SYSCALL: its own test below
        want = rep[tag]
        assert frame["address"] == want["frame"], tag
        assert frame["sigmask"] == want["mask"], tag
        for r in REGS:
            assert frame["mcontext"][r] == want[r], (tag, r)
            assert done["registers"][r] == want[r], (tag, r)
        assert frame["mcontext"]["pstate"] == want["pstate"]
        # SS: the delivery was single-stepped (saved in the frame) and so was
        # the svc (set again by the kernel from TIF_SINGLESTEP); the rest as saved
        assert want["pstate"] & PSTATE_SS
        assert done["registers"]["pstate"] == want["pstate"], tag
        fp = next(r for r in frame["records"] if r["name"] == "fpsimd")
        assert (fp["fields"]["fpsr"], fp["fields"]["fpcr"]) == (want["fpsr"], want["fpcr"]), tag
        assert int(fp["vregs"][16], 16) == want["v16_hi"] << 64 | want["v16_lo"], tag
    # the registers the interrupted code found: the patterns it set, kept
    for tag in ("plain", "restorer", "nest", "fp"):
        after = rep[tag + ".after"]
        for n in range(19, 29):
            assert after[f"x{n}"] == int(f"{n:02d}" * 8, 16)


def test_restorer_steps_vdso_and_own(guest: Batch) -> None:
    """The restorer instructions stepped: the vDSO's two, the program's own
    three (nop; mov x8, #139; svc #0), at the address the handler returned to."""
    events, rep = _events(guest)
    walks: list[list[dict[str, Any]]] = []
    for e in events:
        if e["event"] == "handler_entered":
            walks.append([])
        elif e["event"] == "sigreturn_step":
            walks[-1].append(e["step"])
    entered = _of(events, "handler_entered")
    # handler entry order: plain, restorer, segv, nest, nest_in, fp
    own = entered[1]["frame"]
    assert own["pretcode"] == own["restorer"]["address"] == rep["restorer"]["restorer"] \
        == rep["restorer"]["own_restorer"]
    assert own["restorer"]["kind"] != "vdso"
    steps = walks[1]
    assert [s["address"] for s in steps] == [own["pretcode"] + 4 * i for i in range(3)]
    assert [s["text"] for s in steps] == ["nop", "mov x8, #0x8b", "svc #0"]
    assert steps[-1]["syscall"] == "rt_sigreturn"
    assert steps[1]["changed"]["x8"][1] == 139
    vdso = entered[0]["frame"]
    assert vdso["restorer"]["kind"] == "vdso" and vdso["pretcode"] == rep["plain"]["restorer"]
    for i in (0, 2, 5, 6):
        assert [s["address"] for s in walks[i]] == [entered[i]["frame"]["pretcode"] + 4 * k
                                                    for k in range(2)]
        assert [s["text"] for s in walks[i]] == ["mov x8, #0x8b", "svc #0"]


def test_pc_skip_and_mask_edit_seen_at_sigreturn(guest: Batch) -> None:
    events, rep = _events(guest)
    seg = rep["segv"]
    entered = _of(events, "sigreturn_entered")[ORDER.index("segv")]
    assert entered["frame"]["sig"] == SIGSEGV
    changes = {c[0]: (c[1], c[2]) for c in entered["changes"]["changes"]}
    assert changes["mcontext.pc"] == (seg["fault_insn"], seg["fault_insn"] + 4)
    assert changes["sigmask"] == (0, 1 << (SIGUSR2 - 1)) and seg["mask"] == 1 << (SIGUSR2 - 1)
    assert entered["frame"]["siginfo"]["si_addr"] == 0xDEAD000
    restored = _of(events, "context_restored")[ORDER.index("segv")]
    assert restored["registers"]["pc"] == seg["fault_insn"] + 4
    # the program's own view after the return: SIGUSR2 blocked, as the frame said
    assert rep["segv.after"]["mask"] == seg["mask"]


def test_nested_signal_walked_inside_the_outer_one(guest: Batch) -> None:
    events, rep = _events(guest)
    names = [e["event"] for e in events]
    outer_entry = [i for i, e in enumerate(events) if e["event"] == "handler_entered"][3]
    inner_entry = names.index("handler_entered", outer_entry + 1)
    assert names.index("context_restored", outer_entry) > inner_entry  # entered before any return
    inner, outer = events[inner_entry]["frame"], events[outer_entry]["frame"]
    assert (inner["address"], outer["address"]) == (rep["nest_in"]["frame"], rep["nest"]["frame"])
    assert inner["address"] < outer["address"]
    assert inner["sigmask"] & 1 << (SIGUSR1 - 1)  # the outer handler's signal blocked
    restored = _of(events, "context_restored")
    i = ORDER.index("nest_in")
    assert restored[i]["registers"]["pc"] == rep["nest_in"]["pc"]  # back in the outer handler
    assert restored[i + 1]["registers"]["pc"] == rep["nest"]["pc"] == rep["nest"]["after_svc"]


def test_fpsimd_changed_by_the_handler_is_restored(guest: Batch) -> None:
    """The handler wrote v16, FPCR and FPSR in its fpsimd record: sigdbg shows
    the change at the svc, compares NT_PRFPREG after it with the record
    (context_restored matches), and the interrupted code got those values."""
    events, rep = _events(guest)
    entered = _of(events, "sigreturn_entered")[ORDER.index("fp")]
    changes = {c[0]: (c[1], c[2]) for c in entered["changes"]["changes"]}
    assert changes["fpsimd.v16"] == ("0x" + "16" * 16, "0x" + "5a" * 16)
    assert changes["fpsimd.fpcr"] == (0xC00000, 0) and changes["fpsimd.fpsr"] == (0x10, 0)
    assert _of(events, "context_restored")[ORDER.index("fp")]["matches"] is True
    after = rep["fp.after"]
    assert (after["v16_lo"], after["v16_hi"]) == (0x5A5A5A5A5A5A5A5A,) * 2
    assert (after["fpcr"], after["fpsr"]) == (0, 0)
    # where the handler changed nothing, nothing is reported changed
    plain = _of(events, "sigreturn_entered")[0]
    assert plain["changes"]["changes"] == []


def test_trace_json_lines_follow_the_schema(guest: Batch) -> None:
    events, _ = _events(guest)
    schema = json.loads((ROOT / "docs" / "trace-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for e in events:
        validator.validate(e)


def test_text_output(guest: Batch) -> None:
    run, rep = _run(guest, "text")
    out = run["stdout"]
    assert out.count("context restored: every register equals the frame's") == 8
    assert f"handler changed mcontext.pc: {rep['segv']['fault_insn']:#x}" in out
    assert "handler changed fpsimd.v16: 0x" + "16" * 16 + " -> 0x" + "5a" * 16 in out
    assert "svc #0" in out and "[rt_sigreturn]" in out
    assert "pstate.SS: set under the tracer's single step" in out


def test_sve_registers_changed_by_the_handler(guest: Batch) -> None:
    """A fault right after SVE code: the sve record carries Z/P/FFR (VL 64
    under -cpu max).  The handler wrote z16 = 0x5a.. and p3 = 0x0f.. into it;
    sigdbg shows both changes at the svc and compares NT_ARM_SVE after it with
    the record, by the kernel's rule that bits 127:0 of each Z come from the
    fpsimd record (context_restored matches).  The interrupted code's own
    store of z16 and p3 is the truth: low 16 bytes 0x16 (the fpsimd record's
    v16), the rest 0x5a, p3 as written."""
    events, rep = _events(guest)
    i = ORDER.index("sve")
    handler = rep["sve"]
    entry = _of(events, "handler_entered")[i]["frame"]
    sve = next(r for r in entry["records"] if r["name"] == "sve")
    assert sve["fields"]["vl"] == handler["sve_vl"] and sve["size"] == handler["sve_size"] > 16
    vl = handler["sve_vl"]
    entered = _of(events, "sigreturn_entered")[i]
    changes = {c[0]: (c[1], c[2]) for c in entered["changes"]["changes"]}
    assert int(changes["sve.z16"][0], 16) == int("16" * vl, 16)
    assert int(changes["sve.z16"][1], 16) == int("5a" * vl, 16)
    assert int(changes["sve.p3"][1], 16) == int("0f" * (vl // 8), 16)
    assert set(changes) == {"mcontext.pc", "sigmask", "sve.z16", "sve.p3"}
    assert _of(events, "context_restored")[i]["matches"] is True
    after = rep["sve.regs"]
    assert after["vl"] == vl
    assert after["z16_0"] == 0x1616161616161616  # bits 127:0 from the fpsimd record
    assert after["z16_16"] == after["z16_end"] == 0x5A5A5A5A5A5A5A5A
    assert after["p3"] == int("0f" * min(8, vl // 8), 16)


def test_handler_that_never_returns_and_bad_input(guest: Batch) -> None:
    """_exit in the handler: the walk ends with the reason, the program's exit
    status is the trace's, and nothing of ours is left in the guest (no
    child: no tracee left stopped).  A flag clash: one line, no traceback."""
    run = _steps(guest)["exit"]
    assert run["stderr"] == ""
    events = [json.loads(line) for line in run["stdout"].splitlines()]
    (abandoned,) = _of(events, "sigreturn_abandoned")
    assert "ended inside the handler" in abandoned["reason"], abandoned
    assert _of(events, "context_restored") == []
    assert _of(events, "exited")[-1]["status"] == 3
    rep = parse(Result("exit", 0, run["program"].encode(), b""))
    assert rep["exit"]["sig"] == SIGUSR1 and not rep.done
    clash = _steps(guest)["clash"]
    assert clash["rc"] != 0 and clash["stdout"] == "" and clash["program"] == ""
    err = clash["stderr"].strip()
    assert "\n" not in err and "Traceback" not in err and "--step-sigreturn" in err, err
    res = guest.results["py_sigdbg"]
    assert json.loads(res.text)["children_left"] == []


def test_handler_with_sigtrap_blocked_followed_by_syscall_stops(guest: Batch) -> None:
    """SIGTRAP in the handler's sa_mask: a trap sigdbg caused would be forced
    on the program, so the walk follows it with PTRACE_SYSCALL (no restorer
    steps) and reads the registers at rt_sigreturn's syscall-exit stop.  Two
    kernel rules show there, named: PSTATE.SS is cleared (no TIF_SINGLESTEP,
    although the frame's pstate has it from the stepped delivery) and x7
    holds the stop's direction (arm64 report_syscall)."""
    events, rep = _events(guest)
    i = ORDER.index("trapfree")
    want = rep["trapfree"]
    entered = _of(events, "handler_entered")[i]
    assert entered["frame"]["address"] == want["frame"]
    start = events.index(entered)
    walk = events[start : start + events[start:].index(_of(events, "context_restored")[i]) + 1]
    assert _of(walk, "sigreturn_step") == []
    done = walk[-1]
    assert done["matches"] is True, done
    assert "pstate.SS: clear under the tracer's PTRACE_SYSCALL" in done["not_compared"]
    assert any(n.startswith("x7: read at the syscall-exit stop") for n in done["not_compared"])
    regs = done["registers"]
    assert want["pstate"] & PSTATE_SS and regs["pstate"] == want["pstate"] & ~PSTATE_SS
    assert regs["x7"] == 1  # the exit stop's direction, not the frame's x7
    for r in REGS:
        if r != "x7":
            assert regs[r] == want[r], r
    assert rep["trapfree.after"] == parse(guest.results["step_a64"])["trapfree.after"]
