"""``sigdbg trace -k`` on an AArch64 process, on the real 6.1 arm64 kernel.

targets/arm/sig_bt.a64 reaches each signal through a known call chain
(main -> a -> b -> kill by an inline ``svc`` / a store to NULL; in the nested
scenario the SIGUSR1 handler calls c, which sends SIGUSR2).  Each handler
walks the interrupted stack itself, from the ucontext the kernel gave it: the
interrupted pc, then the AAPCS64 frame records from its x29, and through the
SIGUSR1 frame by that handler's own ucontext.  sigdbg unwinds the same
context by the CFI (.eh_frame of the static program, the vDSO's) and, at the
restorer, by decoding the rt_sigframe.  The frames' pcs must be the
handler's list, the symbols the program's own function addresses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.arm.conftest import Report, parse
from tests.arm.guest import Batch, Result

pytestmark = pytest.mark.timeout(900)  # the session's one guest boot

#: the handler entries of one run, in order: (report tag, signal)
ENTRIES = (("bt_usr1", 10), ("bt_segv", 11), ("bt_nest", 10), ("bt_nested", 12))


def _stacks(guest: Batch) -> dict[str, Any]:
    res = guest.results["py_sigdbg"]
    assert res.rc == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.text)
    return doc["stacks"]  # type: ignore[no-any-return]


def _run(guest: Batch, key: str) -> tuple[dict[str, Any], Report]:
    run = _stacks(guest)[key]
    assert run["rc"] == 0 and run["stderr"] == "", run
    rep = parse(Result(key, 0, run["program"].encode(), b""))
    assert rep.done, "the program did not run to its end under trace -k"
    return run, rep


def _walk(rep: Report, tag: str) -> list[int]:
    """The handler's own list: the interrupted pc, then the return addresses."""
    r = rep[tag]
    return [r["pc"]] + [r[f"f{i}"] for i in range(r["n"])]


def _named(syms: dict[str, int], name: str, pc: int) -> str:
    """gdb's ``name+offset`` of ``pc`` in the program's function ``name``, by
    the address the program printed for it."""
    return f"{name}+{pc - syms[name]:#x}" if pc != syms[name] else name


def test_trace_k_json_equals_handlers_walk(guest: Batch) -> None:
    run, rep = _run(guest, "json")
    events = [json.loads(line) for line in run["stdout"].splitlines()]
    assert events[0]["event"] == "exec" and events[0]["abi"] == "aarch64"
    entered = [e for e in events if e["event"] == "handler_entered"]
    assert [(e["frame"]["sig"]) for e in entered] == [sig for _, sig in ENTRIES]
    syms = dict(rep["syms"].items())
    for (tag, _), e in zip(ENTRIES, entered):
        stack = e["stack"]
        walk = _walk(rep, tag)
        # the interrupted context, exactly (pc and sp the kernel saved)
        assert (stack[0]["pc"], stack[0]["sp"]) == (rep[tag]["pc"], rep[tag]["sp"]), tag
        assert stack[0]["how"] == "context"
        # every frame the handler's own walk found, in order, the same pcs
        assert [f["pc"] for f in stack] == walk, (tag, stack)
        # the known call chain, innermost first, each of the program's own
        # functions named with the offset from the address it printed
        want = ["b", "a", "main"] if tag != "bt_nested" else ["c", "on_signal",
                                                             "__kernel_rt_sigreturn",
                                                             "b", "a", "main"]
        for f, name in zip(stack, want):
            if name in syms:
                assert f["symbol"] == _named(syms, name, f["pc"]), (tag, f)
            else:  # the vDSO's symbol, with its version (LINUX_2.6.39 on 6.1)
                assert f["symbol"].split("@")[0] == name, (tag, f)
        # frames found by the CFI (the program's .eh_frame, read without an
        # .eh_frame_hdr) after the interrupted context or the signal frame
        assert all(f["how"] == "cfi" for f in stack[1:]
                   if f["how"] not in ("sigframe", "context")), (tag, stack)
        # the outermost frame: glibc's _start, where its CFI marks x30 undefined
        assert stack[-1]["symbol"].startswith("_start"), (tag, stack[-1])
        if tag == "bt_nested":
            # the SIGUSR1 frame as gdb's <signal handler called>: pc the vDSO's
            # restorer, the frame at that sp (x30 took the handler back there)
            sf = next(f for f in stack if f["how"] == "sigframe")
            outer = entered[2]["frame"]
            assert (sf["pc"], sf["sp"], sf["sigframe"], sf["signal"], sf["mapping"]) == (
                outer["pretcode"], outer["address"], outer["address"], 10, "[vdso]")
            assert sf["symbol"].startswith("__kernel_rt_sigreturn@@LINUX_")
        else:
            assert all(f["how"] != "sigframe" for f in stack), tag
    # (a caught signal's stack is shown once, at its handler entry; the
    # delivery stop before it is at the same interrupted pc)
    delivered = [e for e in events if e["event"] == "signal_delivered"]
    assert [e["pc"] for e in delivered] == [e["stack"][0]["pc"] for e in entered]


def test_trace_k_untraced_run_walks_the_same(guest: Batch) -> None:
    """The program run without sigdbg reports the same code addresses (a
    static non-PIE program: only stack addresses may move)."""
    _, traced = _run(guest, "json")
    plain = parse(guest.results["bt_a64"])
    for tag, _ in ENTRIES:
        # (the vDSO, where the nested walk's restorer is, moves with ASLR)
        ours, theirs = _walk(plain, tag), _walk(traced, tag)
        assert len(ours) == len(theirs), tag
        assert [a for a in ours if a < 1 << 32] == [a for a in theirs if a < 1 << 32], tag


def test_trace_k_text(guest: Batch) -> None:
    run, rep = _run(guest, "text")
    out = run["stdout"]
    syms = dict(rep["syms"].items())
    for tag, _ in ENTRIES:
        # the interrupted frame and its caller: in b (or c) and a (or on_signal)
        pc, ret = _walk(rep, tag)[:2]
        inner, outer = ("c", "on_signal") if tag == "bt_nested" else ("b", "a")
        assert _named(syms, inner, pc) in out and _named(syms, outer, ret) in out, (tag, out)
    assert "__kernel_rt_sigreturn" in out
    assert "Traceback" not in out and "no stack unwinding rules" not in run["stderr"]
