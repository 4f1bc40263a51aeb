"""The benchmark's storms, traced: every delivery and every FP value decoded right.

bench/bench.py times ``sigdbg trace`` on targets/sig_storm_threads (8 threads,
``-f``) and targets/sig_storm_fp (FP and vector registers that change before
every signal, so no decode of one frame serves the next).  These tests check
what those runs produce against the programs themselves: the number of
deliveries each thread counted, and the register values the FP storm
documents for its i-th signal (computed here from its own formula, not from
any decoder).  No timing is asserted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import target
from tests.integration.test_trace import run_trace

SIGUSR1 = 10
SI_TKILL = -6
MASK64 = (1 << 64) - 1


def storm_word(i: int, reg: int, word: int) -> int:
    """Word ``word`` of register ``reg``'s image before signal ``i`` (sig_storm_fp.c)."""
    return (i * 0x0101010101010101 + (reg << 8) + word) & MASK64


def x87_extended(i: int) -> str:
    """The 80-bit extended value of the integer ``i`` (what fild pushes), as the
    frame's st hex: sign and exponent, then the 64-bit significand, big-endian."""
    if i == 0:
        return "00" * 10
    top = i.bit_length() - 1
    return f"{16383 + top:04x}{i << (63 - top):016x}"


@pytest.mark.parametrize("n", [64])
def test_fp_storm_every_frame_holds_that_signals_registers(tmp_path: Path, n: int) -> None:
    t = run_trace([target("sig_storm_fp"), str(n)], tmp=tmp_path)
    assert t.rc == 0, t.stderr
    report = t.report("storm")
    assert report["count"] == n
    entered = t.of("handler_entered")
    assert len(entered) == n
    isa = report["isa"]
    for i, e in enumerate(entered):
        fp = e["frame"]["fpstate"]
        assert fp["st"][0] == x87_extended(i), (i, fp["st"])
        for r in range(16):
            lo = storm_word(i, r, 0) | storm_word(i, r, 1) << 64
            assert fp["xmm"][r] == f"{lo:#034x}", (i, r)
            if isa >= 1:  # AVX: the upper halves are the image's words 2 and 3
                hi = storm_word(i, r, 2) | storm_word(i, r, 3) << 64
                assert fp["ymm_hi"][r] == f"{hi:#034x}", (i, r)
                assert fp["ymm"][r] == f"{hi << 128 | lo:#066x}", (i, r)
    # the values differ from signal to signal (what makes this storm memo-proof)
    assert len({e["frame"]["fpstate"]["xmm"][0] for e in entered}) == n


def test_threads_storm_with_f_sees_each_threads_deliveries(tmp_path: Path) -> None:
    n = 80  # 10 per thread
    t = run_trace([target("sig_storm_threads"), str(n)], "-f", tmp=tmp_path)
    assert t.rc == 0, t.stderr
    assert t.report("storm")["count"] == n  # the program counted n, each thread its share
    delivered = [e for e in t.of("signal_delivered") if e["siginfo"]["si_signo"] == SIGUSR1]
    entered = t.of("handler_entered")
    assert len(delivered) == n and len(entered) == n
    assert all(e["disposition"] == "handler" for e in delivered)
    pid = delivered[0]["pid"]
    per_tid = Counter(e["tid"] for e in entered)
    assert len(per_tid) == 8 and set(per_tid.values()) == {n // 8}, per_tid
    assert pid not in per_tid  # every one went to a worker thread, none to main
    new_threads = {e["tid"] for e in t.of("new_task")}
    assert set(per_tid) <= new_threads
    for e in entered:
        info = e["frame"]["siginfo"]
        # tgkill from the thread itself: sender = the process, SI_TKILL
        assert info["si_pid"] == pid and info["si_code"] == SI_TKILL, info
        assert e["frame"]["problems"] == []
    # each delivery's handler entry follows its own delivery on the same thread
    last: dict[int, str] = {}
    for e in t.events:
        if e["event"] in ("signal_delivered", "handler_entered") and e["tid"] in per_tid:
            assert last.get(e["tid"]) != e["event"], e
            last[e["tid"]] = e["event"]
