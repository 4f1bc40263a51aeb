"""The C module's delivery templates (engine/fastpath.py, _fastptrace.c): its
three spellings against Python's own, its key, and the probe that places holes.

The C trace loop writes a delivery as literal bytes and holes; these tests pin
down that a hole is spelled exactly as Python spells the same value
(``str(int)``, ``hex(int)``, the hex of the little-endian bytes reversed) on
random bytes of every size the tables give holes, and that a template applies
only where its key bytes and its buffer sizes are equal.
"""

from __future__ import annotations

import random

import pytest

from sigdbg.backends import ptrace as backend
from sigdbg.engine import fastpath as fp


def _need_native() -> None:
    # (not in the SIGDBG_NO_NATIVE rerun: without the C module there is no fast path)
    assert backend.trace_loop_available(), "sigdbg/backends/_fastptrace was not built"


def _render(ops: list[fp.Op], frame: bytes, regs: bytes = b"", pc: int = 0,
            info: bytes = bytes(128), key: list[tuple[int, int, bytes]] | None = None,
            regs_len: int | None = None, frame_len: int | None = None) -> bytes | None:
    store = backend.TemplateStore()
    assert store.add(1, len(regs) if regs_len is None else regs_len,
                     len(frame) if frame_len is None else frame_len, key or [], ops)
    return store.render(0, frame, regs, pc, info)


def test_spellings_equal_pythons_on_random_bytes() -> None:
    _need_native()
    rng = random.Random(15)
    for size in (2, 4, 8, 10, 16, 32):
        for _ in range(300):
            v = bytes(rng.randrange(256) for _ in range(size))
            if rng.random() < 0.3:  # leading zeros, and zero itself
                cut = rng.randrange(size + 1)
                v = v[:cut] + bytes(size - cut)
            frame = b"\xaa" * 3 + v + b"\xbb"
            n = int.from_bytes(v, "little")
            got = _render([b"<", (fp.SRC_FRAME, 3, size, fp.FMT_HEXLE), b">"], frame)
            assert got == b"<" + v[::-1].hex().encode() + b">"
            assert got == b"<" + f"{n:0{2 * size}x}".encode() + b">"
            if size <= 8:
                assert _render([(fp.SRC_FRAME, 3, size, fp.FMT_UDEC)], frame) == str(n).encode()
                assert _render([(fp.SRC_FRAME, 3, size, fp.FMT_HEXVAR)], frame) == \
                    hex(n).encode()


def test_every_source_and_the_pc() -> None:
    _need_native()
    regs = bytes(range(216))
    info = bytes(range(100, 228))
    pc = 0x7F00_1234_5678_9ABC
    got = _render([(fp.SRC_REGS, 128, 8, fp.FMT_HEXVAR), b" ", (fp.SRC_PC, 0, 8, fp.FMT_UDEC),
                   b" ", (fp.SRC_INFO, 8, 4, fp.FMT_HEXLE)], b"x" * 16, regs, pc, info)
    want = (hex(int.from_bytes(regs[128:136], "little")) + " " + str(pc) + " "
            + info[8:12][::-1].hex()).encode()
    assert got == want


def test_a_template_applies_only_where_its_key_is_equal() -> None:
    _need_native()
    frame = bytes(range(64))
    key = [(fp.SRC_FRAME, 0, frame[:8]), (fp.SRC_FRAME, 40, frame[40:48])]
    ops: list[fp.Op] = [b"v=", (fp.SRC_FRAME, 16, 8, fp.FMT_UDEC)]
    value = int.from_bytes(frame[16:24], "little")
    assert _render(ops, frame, key=key) == b"v=" + str(value).encode()
    for i in (0, 7, 40, 47):
        bad = bytearray(frame)
        bad[i] ^= 1
        assert _render(ops, bytes(bad), key=key) is None
    hole_changed = bytearray(frame)
    hole_changed[16] ^= 0xFF  # a hole is not key
    assert _render(ops, bytes(hole_changed), key=key) is not None
    # the register set and the frame read must have the template's sizes
    assert _render(ops, frame, key=key, frame_len=65) is None
    assert _render(ops, frame, regs=bytes(68), key=key, regs_len=216) is None
    # a hole past the end of its buffer never renders
    assert _render([(fp.SRC_FRAME, 60, 8, fp.FMT_UDEC)], frame) is None


def test_the_store_holds_a_bounded_number_of_templates() -> None:
    _need_native()
    store = backend.TemplateStore()
    added = [store.add(1, 0, 0, [], [b"x"]) for _ in range(40)]
    assert added == [True] * 32 + [False] * 8
    store.clear()
    assert store.add(1, 0, 0, [], [b"x"]) and store.render(0, b"", b"", 0, bytes(128)) == b"x"


def test_bad_pieces_are_refused() -> None:
    _need_native()
    store = backend.TemplateStore()
    for ops in ([(fp.SRC_FRAME, 0, 9, fp.FMT_UDEC)],  # > 8 bytes as a number
                [(7, 0, 4, fp.FMT_UDEC)],  # no such source
                [(fp.SRC_FRAME, -1, 4, fp.FMT_UDEC)],
                [(fp.SRC_FRAME, 0, 4, 9)]):  # no such format
        with pytest.raises(ValueError):
            store.add(1, 0, 0, [], ops)  # type: ignore[arg-type]


def test_probe_matches_place_each_spelling_once() -> None:
    holes = (fp.Hole(fp.SRC_FRAME, 0, 8), fp.Hole(fp.SRC_FRAME, 8, 16),
             fp.Hole(fp.SRC_FRAME, 24, 16))
    a = (0x1234_5678_9A).to_bytes(8, "little")
    b = bytes(range(1, 17))
    c = bytes(range(17, 33))
    text = (b'{"n":' + str(int.from_bytes(a, "little")).encode() + b',"h":"' + hex(
        int.from_bytes(a, "little")).encode() + b'","y":"0x' + c[::-1].hex().encode()
            + b[::-1].hex().encode() + b'"}')
    found = fp._matches(text, holes, [a, b, c])
    assert [(i, f) for _, _, i, f in found] == [(0, fp.FMT_UDEC), (0, fp.FMT_HEXVAR),
                                               (2, fp.FMT_HEXLE), (1, fp.FMT_HEXLE)]
    # a decimal inside a longer number is not a match
    assert fp._matches(b"9" + str(int.from_bytes(a, "little")).encode(), holes[:1], [a]) == []
    # a short register's hex that recurs inside a wide one's: the wide one wins
    short, wide = fp.Hole(fp.SRC_FRAME, 0, 4), fp.Hole(fp.SRC_FRAME, 4, 10)
    w = bytes.fromhex("1f2516dcd4219600" + "0000")
    s = bytes.fromhex("21960000")
    got = fp._matches(b'"' + w[::-1].hex().encode() + b'"', (short, wide), [s, w])
    assert [(i, f) for _, _, i, f in got] == [(1, fp.FMT_HEXLE)]


def test_key_pieces_leave_out_exactly_the_holes() -> None:
    shape = fp.Shape((fp.Hole(fp.SRC_FRAME, 4, 4), fp.Hole(fp.SRC_FRAME, 10, 2)),
                     ((fp.SRC_FRAME, 0, 16), (fp.SRC_INFO, 0, 4)))
    inputs = {fp.SRC_FRAME: bytes(range(16)), fp.SRC_INFO: b"abcd"}
    assert fp._key(inputs, shape) == [(fp.SRC_FRAME, 0, bytes(range(4))),
                                      (fp.SRC_FRAME, 8, bytes([8, 9])),
                                      (fp.SRC_FRAME, 12, bytes(range(12, 16))),
                                      (fp.SRC_INFO, 0, b"abcd")]


def test_passed_templates_equal_the_python_path_on_random_siginfo() -> None:
    """--no-frame: a delivery passed on is written from its siginfo (key) and
    pc (hole).  Random siginfo bytes -- any signal, any si_code, the odd
    layouts they select -- and random pcs: the template's bytes are the
    Python path's, for the JSON and the text writer."""
    _need_native()
    import io
    from argparse import Namespace

    from sigdbg.cli.trace_cli import _writer
    from sigdbg.cli.trace_writers import json_writer
    from sigdbg.engine.session import Session
    from sigdbg.render.text import Style

    class Task:  # what the passed-on event takes from a task
        pid = 4242  # (TracedTask.pid)
        tid = 4243

    session = object.__new__(Session)  # (fast_passed_maker uses no session state)
    make = Session.fast_passed_maker(session, Task())  # type: ignore[arg-type]
    json_passed = json_writer(io.TextIOWrapper(io.BytesIO())).passed  # type: ignore[attr-defined]
    a = Namespace(summary=False, timestamps=0, relative=False, stack=False, json=False,
                  quiet=0, verbose=False)
    text_passed = _writer(a, io.StringIO(), Style(False), session).passed  # type: ignore[attr-defined]
    rng = random.Random(1515)
    made = 0
    for n in range(300):
        info = bytearray(rng.randrange(256) for _ in range(128))
        info[0:4] = rng.choice([10, 11, 17, 34, 64, rng.randrange(1, 65)]).to_bytes(4, "little")
        info[8:12] = rng.choice([0, -6, -1, 1, 2, 3, 0x80, 0x12345, -60]).to_bytes(
            4, "little", signed=True)
        inputs = {fp.SRC_FRAME: b"", fp.SRC_REGS: b"", fp.SRC_INFO: bytes(info),
                  fp.SRC_PC: fp.pc_bytes(rng.getrandbits(64))}
        for encode in (json_passed, text_passed):
            actual = encode(*make(inputs))
            t = fp.make_template(Task.tid, inputs, fp.PASSED_SHAPE, actual, make, encode,
                                 fp.FastPath(backend.TemplateStore, encode).check, rng)
            assert t is not None, n
            made += 1
            store = backend.TemplateStore()
            store.add(t.tid, t.regs_len, t.frame_len, t.key, t.ops)
            for _ in range(5):
                pc = rng.choice([0, rng.getrandbits(64), rng.getrandbits(12)])
                assert store.render(0, b"", b"", pc, bytes(info)) == \
                    encode(*make({**inputs, fp.SRC_PC: fp.pc_bytes(pc)}))
            other = bytearray(info)
            other[rng.randrange(128)] ^= 1 << rng.randrange(8)
            assert store.render(0, b"", b"", 0, bytes(other)) is None  # the key holds it all
    assert made == 600
