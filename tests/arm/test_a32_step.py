"""``sigdbg trace --step-sigreturn`` on AArch32 (compat) processes in the arm64 guest.

tests/arm/guest_sigdbg.py (the one python start in the guest) runs the CLI's
``main`` on targets/arm/sig_step.arm and sig_step.thumb (ARM and Thumb
handlers): sigdbg steps into each handler, runs it to its restorer (an
NT_ARM_HW_BREAK execute breakpoint at lr with bit 0 cleared, 4 bytes for ARM
code and 2 for Thumb), single-steps the restorer (the kernel's ``[sigpage]``
entries, glibc's Thumb-2 ``__default_rt_sa_restorer``, the program's own),
re-reads the frame at sp when the ``svc`` is reached and compares the
registers, the mask and the VFP registers the kernel restored with it.

Independent truths: each handler's report of the frame it leaves (after its
own edits: pc skip, mask, d16/fpscr) and of its lr; the program's dump of
its restorer's code; the interrupted code's report after the return (r4-r10,
d16, fpscr stored right after the svc; sigprocmask); the untraced run of the
same program (conftest's ``step_arm``/``step_thumb``).
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

SIGUSR1, SIGUSR2, SIGSEGV = 10, 12, 11
#: handlers in the order they run (none nested)
ORDER = ("sigpage", "glibc", "own", "nosi", "segv", "vfp", "trapfree")
SIGS = [SIGUSR1, SIGUSR1, SIGUSR1, SIGUSR2, SIGSEGV, SIGUSR1, SIGUSR1]
#: the handlers whose restorer is single-stepped (trapfree: syscall-stops)
STEPPED = ORDER[:-1]
#: sigcontext name -> register name (arch/arm/include/uapi/asm/sigcontext.h)
MC = {**{f"arm_r{i}": f"r{i}" for i in range(11)}, "arm_fp": "r11", "arm_ip": "r12",
      "arm_sp": "sp", "arm_lr": "lr", "arm_pc": "pc"}
#: AArch32 SPSR.SS (bit 21): in the saved psr when the delivery was single-stepped
CPSR_SS = 1 << 21
BUILDS = ("arm", "thumb")

_DOC: dict[int, dict[str, Any]] = {}


def _doc(guest: Batch) -> dict[str, Any]:
    res = guest.results["py_sigdbg"]
    if id(res) not in _DOC:
        assert res.rc == 0, res.stderr.decode(errors="replace")[-3000:]
        _DOC[id(res)] = json.loads(res.text)
    return _DOC[id(res)]


def _run(guest: Batch, key: str) -> tuple[dict[str, Any], Report]:
    run = _doc(guest)["steps_a32"][key]
    assert run["rc"] == 0 and run["stderr"] == "", run
    rep = parse(Result(key, 0, run["program"].encode(), b""))
    assert rep.done, "the program did not run to its end under --step-sigreturn"
    return run, rep


def _events(guest: Batch, build: str) -> tuple[list[dict[str, Any]], Report]:
    run, rep = _run(guest, build)
    return [json.loads(line) for line in run["stdout"].splitlines()], rep


def _of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


def _walks(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The restorer steps of each handler, in handler order."""
    walks: list[list[dict[str, Any]]] = []
    for e in events:
        if e["event"] == "handler_entered":
            walks.append([])
        elif e["event"] == "sigreturn_step":
            walks[-1].append(e["step"])
    return walks


@pytest.mark.parametrize("build", BUILDS)
def test_every_handler_is_followed_to_its_restored_context(guest: Batch, build: str) -> None:
    events, rep = _events(guest, build)
    assert _of(events, "sigreturn_abandoned") == []
    entered = _of(events, "handler_entered")
    restored = _of(events, "context_restored")
    assert len(entered) == len(restored) == len(_of(events, "sigreturn_entered")) == 7
    assert [e["frame"]["sig"] for e in entered] == SIGS
    assert [e["frame"]["kind"] for e in entered] == ["compat_rt_sigframe"] * 3 + [
        "compat_sigframe"] + ["compat_rt_sigframe"] * 3
    for r in restored:
        assert r["matches"] is True and r["differences"] == [], r
    # the kernel's cpsr rules are named, not hidden
    names = {n.split(":")[0] for n in restored[0]["not_compared"]}
    assert {"cpsr.DIT", "cpsr.SS", "cpsr.RES0", "cpsr.E", "cpsr.USR"} <= names
    assert "cpsr.SS: set under the tracer's single step" in restored[0]["not_compared"]
    # the Thumb build's handlers run Thumb code, the ARM build's ARM code
    assert {e["frame"]["handler_thumb"] for e in entered} == {build == "thumb"}
    # the same program untraced: the same results after every return
    plain = parse(guest.results[f"step_{build}"])
    for tag in ORDER:
        assert rep[tag + ".after"] == plain[tag + ".after"], tag


@pytest.mark.parametrize("build", BUILDS)
def test_restored_registers_equal_the_frame_the_handler_left(guest: Batch, build: str) -> None:
    """Per handler: the frame sigdbg re-read at the svc and the registers after
    it against the handler's own report of that frame (after its edits)."""
    events, rep = _events(guest, build)
    plain = parse(guest.results[f"step_{build}"])
    frames = [e["frame"] for e in _of(events, "sigreturn_entered")]
    restored = _of(events, "context_restored")
    for tag, frame, done in zip(ORDER, frames, restored):
        want = rep[tag]
        assert frame["address"] == want["frame"], tag
        assert frame["sigmask"] == want["mask"], tag
        for mc, reg in MC.items():
            assert frame["mcontext"][mc] == want[reg], (tag, mc)
            if tag == "trapfree" and reg == "r12":
                continue  # the syscall-exit stop's direction: its own test
            assert done["registers"][reg] == want[reg], (tag, reg)
        assert frame["mcontext"]["arm_cpsr"] == want["cpsr"], tag
        # measured: the saved psr has SS (bit 21) when the delivery was
        # single-stepped, and not in the untraced run; the stepped svc sets SS
        # again, and the frame's bit 21 comes back through PSTATE.DIT anyway
        assert want["cpsr"] & CPSR_SS and not plain[tag]["cpsr"] & CPSR_SS, tag
        assert want["cpsr"] & ~CPSR_SS == plain[tag]["cpsr"], tag
        assert done["registers"]["cpsr"] == want["cpsr"], tag
        vfp = next(r for r in frame["records"] if r["name"] == "vfp")
        assert vfp["dregs"][16] == want["d16"] and vfp["fields"]["fpscr"] == want["fpscr"], tag
    # what the interrupted code found: the patterns it set, kept
    for tag in ("sigpage", "glibc", "own", "nosi", "vfp", "trapfree"):
        after = rep[tag + ".after"]
        for n in (4, 5, 6, 8, 9, 10):
            want = 0x10101010 if n == 10 else int(f"{n:02d}" * 4, 16)
            assert after[f"r{n}"] == want, (tag, n)
        assert after["r7"] == 37  # __NR_kill, put back by sigreturn


@pytest.mark.parametrize("build", BUILDS)
def test_restorers_stepped(guest: Batch, build: str) -> None:
    """The restorer instructions stepped, at the address the handler returned
    to (lr with bit 0 cleared), with the bytes the program itself reads
    there: [sigpage] (rt and non-rt entry of the handler's instruction set),
    glibc's Thumb-2 stub, the program's own three."""
    events, rep = _events(guest, build)
    thumb = build == "thumb"
    entered = [e["frame"] for e in _of(events, "handler_entered")]
    walks = _walks(events)
    for tag, frame, steps in zip(STEPPED, entered, walks):
        lr = rep[tag]["restorer"]
        assert frame["pretcode"] == lr, tag
        assert steps[0]["address"] == lr & ~1, tag
        code_at, code = rep.dump(tag + ".lrcode")
        assert code_at == lr & ~1
        stepped = b"".join(bytes.fromhex(s["bytes"]) for s in steps)
        assert code.startswith(stepped), tag
        addr = lr & ~1
        for s in steps:  # consecutive instructions
            assert s["address"] == addr, tag
            addr += len(bytes.fromhex(s["bytes"]))
        assert steps[-1]["syscall"] == ("sigreturn" if tag == "nosi" else "rt_sigreturn"), tag
        assert [s["syscall"] for s in steps[:-1]] == [None] * (len(steps) - 1), tag
    sigpage, glibc, own, nosi = (dict(zip(ORDER, walks))[t]
                                 for t in ("sigpage", "glibc", "own", "nosi"))
    # [sigpage]: the kernel's entries; ARM +0x0 / +0xc, Thumb +0x9 / +0x15
    base = rep["nosi"]["restorer"] - (9 if thumb else 0)
    assert rep["sigpage"]["restorer"] == base + (0x15 if thumb else 0xC)
    assert entered[0]["restorer"]["kind"] == entered[3]["restorer"]["kind"] == "sigpage"
    if thumb:
        assert [s["text"] for s in sigpage] == ["movs r7, #0xad", "svc #0xad"]
        assert [s["text"] for s in nosi] == ["movs r7, #0x77", "svc #0x77"]
        assert [s["text"] for s in own] == ["nop", "movs r7, #0xad", "svc #0"]
        # the Thumb restorer at a halfword: the breakpoint's upper-half select
        assert rep["own"]["restorer"] & 3 == 3
    else:
        assert [s["text"] for s in sigpage] == ["mov r7, #0xad", "svc #0xad"]
        assert [s["text"] for s in nosi] == ["mov r7, #0x77", "svc #0x77"]
        assert [s["text"] for s in own] == ["nop", "mov r7, #0xad", "svc #0"]
    # glibc armhf: a Thumb-2 stub whatever the program's instruction set
    assert rep["glibc"]["restorer"] & 1
    assert [s["text"] for s in glibc] == ["mov.w r7, #0xad", "svc #0"]
    assert own[-2]["changed"]["r7"][1] == 173 and nosi[0]["changed"]["r7"][1] == 119
    assert entered[2]["pretcode"] == rep["own"]["own_restorer"]


@pytest.mark.parametrize("build", BUILDS)
def test_pc_skip_and_mask_edit_seen_at_sigreturn(guest: Batch, build: str) -> None:
    events, rep = _events(guest, build)
    seg = rep["segv"]
    skip = 2 if build == "thumb" else 4
    i = ORDER.index("segv")
    entered = _of(events, "sigreturn_entered")[i]
    assert entered["frame"]["sig"] == SIGSEGV
    changes = {c[0]: (c[1], c[2]) for c in entered["changes"]["changes"]}
    fault = seg["fault_insn"] & ~1
    assert changes == {"mcontext.arm_pc": (fault, fault + skip),
                       "sigmask": (0, 1 << (SIGUSR2 - 1))}
    assert seg["mask"] == 1 << (SIGUSR2 - 1)
    assert entered["frame"]["siginfo"]["si_addr"] == 0xDEAD000
    restored = _of(events, "context_restored")[i]
    assert restored["registers"]["pc"] == fault + skip == seg["pc"]
    # the program's own view after the return: SIGUSR2 blocked, as the frame said
    assert rep["segv.after"]["mask"] == seg["mask"]


@pytest.mark.parametrize("build", BUILDS)
def test_vfp_changed_by_the_handler_is_restored(guest: Batch, build: str) -> None:
    """The handler wrote d16 and fpscr in its VFP record: sigdbg shows the
    change at the svc, compares NT_ARM_VFP after it with the record
    (context_restored matches), and the interrupted code got those values."""
    events, rep = _events(guest, build)
    i = ORDER.index("vfp")
    entered = _of(events, "sigreturn_entered")[i]
    changes = {c[0]: (c[1], c[2]) for c in entered["changes"]["changes"]}
    assert changes == {"vfp.d16": (0x1616161616161616, 0x5A5A5A5A5A5A5A5A),
                       "vfp.fpscr": (0x00C00010, 0x03000000)}
    assert _of(events, "context_restored")[i]["matches"] is True
    after = rep["vfp.after"]
    assert (after["d16"], after["fpscr"]) == (0x5A5A5A5A5A5A5A5A, 0x03000000)
    # where the handler changed nothing, nothing is reported changed
    for j in (0, 1, 2, 3):
        assert _of(events, "sigreturn_entered")[j]["changes"]["changes"] == []


@pytest.mark.parametrize("build", BUILDS)
def test_trap_codes_measured(guest: Batch, build: str) -> None:
    """What ``Abi.step_trap_codes`` and the breakpoint check rely on, measured
    on the first handler's [sigpage] restorer of each build: the
    NT_ARM_HW_BREAK stop is SIGTRAP TRAP_HWBKPT (4) with si_errno 1 (slot 0:
    compat ``ptrace_hbptriggered``) at lr with bit 0 cleared; a stepped
    instruction TRAP_TRACE (2); the stepped svc SI_USER (0, the generic
    ``user_single_step_report``), after the sigreturn (pc = the interrupted
    after_svc)."""
    got = _doc(guest)["traps_a32"][build]
    # the program's own report from that run (another process: its own [sigpage])
    rep = parse(Result("traps", 0, got["program"].encode(), b""))
    lr = got["lr"]
    assert lr == rep["sigpage"]["restorer"]
    bp, mov, svc = got["stops"]
    assert (bp["kind"], bp["sig"], bp["si_code"], bp["si_errno"]) == ("signal", 5, 4, 1)
    assert bp["pc"] == lr & ~1
    assert (mov["sig"], mov["si_code"]) == (5, 2) and mov["pc"] == bp["pc"] + (
        2 if build == "thumb" else 4)
    assert (svc["sig"], svc["si_code"]) == (5, 0) and svc["pc"] == rep["sigpage"]["after_svc"]


@pytest.mark.parametrize("build", BUILDS)
def test_handler_with_sigtrap_blocked_followed_by_syscall_stops(guest: Batch,
                                                                build: str) -> None:
    """SIGTRAP in the handler's sa_mask: the walk follows it with
    PTRACE_SYSCALL (no restorer steps) and reads the registers at the
    sigreturn's syscall-exit stop, where r12 holds the stop's direction
    (arm64 report_syscall clobbers ip for a compat task) and PSTATE.SS is
    clear; the frame's bit 21 (SS of the stepped delivery) still reads back
    at bit 21 through PSTATE.DIT (compat_psr_to_pstate), so the cpsr equals
    the frame's."""
    events, rep = _events(guest, build)
    i = ORDER.index("trapfree")
    want = rep["trapfree"]
    entered = _of(events, "handler_entered")[i]
    assert entered["frame"]["address"] == want["frame"]
    start = events.index(entered)
    walk = events[start : start + events[start:].index(_of(events, "context_restored")[i]) + 1]
    assert _of(walk, "sigreturn_step") == []
    done = walk[-1]
    assert done["matches"] is True, done
    assert "cpsr.SS: clear under the tracer's PTRACE_SYSCALL" in done["not_compared"]
    assert any(n.startswith("r12: read at the syscall-exit stop") for n in done["not_compared"])
    regs = done["registers"]
    assert regs["r12"] == 1 != want["r12"]
    assert want["cpsr"] & CPSR_SS and regs["cpsr"] == want["cpsr"]
    assert rep["trapfree.after"] == parse(guest.results[f"step_{build}"])["trapfree.after"]


def test_trace_json_lines_follow_the_schema(guest: Batch) -> None:
    schema = json.loads((ROOT / "docs" / "trace-schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for build in BUILDS:
        events, _ = _events(guest, build)
        for e in events:
            validator.validate(e)


def test_text_output(guest: Batch) -> None:
    run, rep = _run(guest, "thumb_text")
    out = run["stdout"]
    assert out.count("context restored: every register equals the frame's") == 7
    fault = rep["segv"]["fault_insn"] & ~1
    assert f"handler changed mcontext.arm_pc: {fault:#x} -> {fault + 2:#x}" in out
    assert "handler changed vfp.d16: 0x1616161616161616 -> 0x5a5a5a5a5a5a5a5a" in out
    assert "movs r7, #0xad" in out and "[rt_sigreturn]" in out and "[sigreturn]" in out
    assert "cpsr.SS: set under the tracer's single step" in out
