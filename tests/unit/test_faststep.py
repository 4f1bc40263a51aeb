"""The C module's walk templates (_fastptrace.c ``walk_render``, the checks
``walk_exec`` makes): a walk template applies only where every source has
its exact length and key bytes, and where its hole fields fall into the same
classes of equal values as in the walk that made it (equal within a class,
different between classes of one size); the output spells the holes as the
delivery templates do.  The walks themselves are compared with the Python
walk on real processes in tests/integration/test_faststep.py.
"""

from __future__ import annotations

import random

import pytest

from sigdbg.backends import ptrace as backend
from sigdbg.engine import fastpath as fp
from sigdbg.engine import faststep as fs

PLAN = [(fs.OP_SIGMASK, 0, 0), (fs.OP_REGS, 0, 0), (fs.OP_READ, 0x1000, 16)]


def _need_native() -> None:
    # (not in the SIGDBG_NO_NATIVE rerun: without the C module there is no fast path)
    assert backend.trace_loop_available(), "sigdbg/backends/_fastptrace was not built"


def _sources(regs: bytes, code: bytes, mask: bytes = bytes(8)) -> list[bytes]:
    # the delivery's four (frame, regs, pc, siginfo), then the plan's results
    return [bytes(64), bytes(32), bytes(8), bytes(128), mask, regs, code]


def _store(members: list[tuple[int, int, int, int]],
           key: list[tuple[int, int, bytes]] | None = None) -> backend.TemplateStore:
    store = backend.TemplateStore()
    out: list[fp.Op] = [b"a=", (fs.W0 + 1, 0, 8, fp.FMT_HEXVAR), b" b=",
                        (fs.W0 + 1, 8, 8, fp.FMT_UDEC), b"\n"]
    assert store.add_walk(7, 0, PLAN, [8, 24, 16], key or [], members, out)
    return store


def test_holes_spelled_and_lengths_exact() -> None:
    _need_native()
    store = _store([])
    regs = (0x1234).to_bytes(8, "little") + (99).to_bytes(8, "little") + bytes(8)
    assert store.walk_render(0, _sources(regs, bytes(16))) == b"a=0x1234 b=99\n"
    assert store.walk_render(0, _sources(regs + b"x", bytes(16))) is None  # a longer regset
    assert store.walk_render(0, _sources(regs, bytes(15))) is None  # a short read


def test_key_of_every_source() -> None:
    _need_native()
    code = bytes(range(16))
    store = _store([], key=[(fs.W0 + 2, 0, code[:4]), (fs.W0, 0, bytes(8)),
                            (fp.SRC_FRAME, 8, b"\x00\x00")])
    regs = bytes(24)
    assert store.walk_render(0, _sources(regs, code)) == b"a=0x0 b=0\n"
    assert store.walk_render(0, _sources(regs, b"\xff" + code[1:])) is None
    assert store.walk_render(0, _sources(regs, code, (1 << 9).to_bytes(8, "little"))) is None
    src = _sources(regs, code)
    src[fp.SRC_FRAME] = bytes(9) + b"\x01" + bytes(54)
    assert store.walk_render(0, src) is None


def test_classes_equal_within_different_between() -> None:
    _need_native()
    rng = random.Random(6)
    # three 8-byte fields of the regs: 0 and 16 in class 0, 8 in class 1
    members = [(fs.W0 + 1, 0, 8, 0), (fs.W0 + 1, 16, 8, 0), (fs.W0 + 1, 8, 8, 1)]
    store = _store(members)
    for _ in range(200):
        a, b = rng.randbytes(8), rng.randbytes(8)
        if a == b:
            continue
        want = f"a={hex(int.from_bytes(a, 'little'))} b={int.from_bytes(b, 'little')}\n"
        assert store.walk_render(0, _sources(a + b + a, bytes(16))) == want.encode()
        assert store.walk_render(0, _sources(a + b + b, bytes(16))) is None  # class 0 split
        assert store.walk_render(0, _sources(a + a + a, bytes(16))) is None  # classes merged
    # a class of another size never collides with an 8-byte one
    store = _store([(fs.W0 + 1, 0, 8, 0), (fs.W0 + 2, 0, 4, 1)])
    assert store.walk_render(0, _sources(bytes(24), bytes(16))) == b"a=0x0 b=0\n"


def test_bad_walk_templates_are_refused() -> None:
    _need_native()
    store = backend.TemplateStore()
    with pytest.raises(ValueError):  # an op that does not exist
        store.add_walk(1, 0, [(99, 0, 0)], [8], [], [], [])
    with pytest.raises(ValueError):  # a read larger than a result can be
        store.add_walk(1, 0, [(fs.OP_READ, 0, 1 << 20)], [8], [], [], [])
    with pytest.raises(ValueError):  # a hole in a source past the plan
        store.add_walk(1, 0, PLAN, [8, 24, 16], [], [], [(fs.W0 + 3, 0, 8, fp.FMT_UDEC)])
    with pytest.raises(ValueError):  # one length per op
        store.add_walk(1, 0, PLAN, [8], [], [], [])
    for _ in range(32):
        assert store.add_walk(1, 0, PLAN, [8, 24, 16], [], [], [b"x"])
    assert not store.add_walk(1, 0, PLAN, [8, 24, 16], [], [], [b"x"])  # full
    store.clear()
    assert store.add_walk(1, 0, PLAN, [8, 24, 16], [], [], [b"x"])
