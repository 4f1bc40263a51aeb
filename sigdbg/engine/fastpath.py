"""The trace loop's fast path: plain deliveries served by the C module (issue 15).

In ``sigdbg trace`` most stops are the same thing over and over: a signal
delivered to a handler, stepped into, its frame decoded and written.  The C
module (backends/_fastptrace.c ``trace_loop``) makes those stops itself and
writes each delivery with a *delivery template*: the output of one delivery
as literal bytes and holes.  This module makes the templates, from the
Python decoder and the front end's own encoder, so there is one decoder
semantics and one writer:

- the **holes** are fields whose value the decoder copies to its output and
  uses for nothing else: the general registers of the saved context (not
  the stack pointer, which the decoder checks against the frame), the x87
  and vector registers of the FP area, the pc at the delivery and at the
  handler's entry.  Their offsets come from the layout tables
  (sigdbg/abi/x86/x86_64.py, i386.py, fp.py, the ABI's ``mcontext_regs``;
  the YMM area from CPUID via decode/xstate_layout.py), never from here;
- the **key** is every other byte the decoder reads: the frame struct, the
  FP area's legacy image, XSAVE header and MAGIC2 (what abi/x86/xsave.py
  reads), the registers at the handler's entry, the delivery's siginfo, the
  task; plus the exact sizes of the register set and of the frame read.  A
  template applies only where all of it is equal;
- the **formats**: where each hole lands in the output, and how it is
  spelled, is found by running the real decoder and encoder on the
  delivery's bytes with the holes set to sentinel values (decimal,
  ``0x``-hex or fixed-width hex of the little-endian bytes: ``_fastptrace.c``
  spells exactly these three).

A template is kept only if it reproduces, byte for byte, the Python output
for the real delivery and for a second sentinel set in which every byte the
key leaves out is random too (so the decoder demonstrably ignores them).
Anything else -- a delivery the key does not match, a task the session does
not know, exec, exit, events, another signal -- goes back to the Python
path, which makes the next template from it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sigdbg.abi import abi_for_regset_size
from sigdbg.decode.sigframe import SigFrame, frame_value_fields, regset_value_fields
from sigdbg.engine import events as ev
from sigdbg.errors import UsageError

#: sources of the C module's templates (_fastptrace.c SRC_*)
SRC_FRAME, SRC_REGS, SRC_PC, SRC_INFO = range(4)
#: the three spellings (_fastptrace.c FMT_*): decimal, fixed-width hex of the
#: little-endian bytes (most significant first, no prefix), "0x" + hex
FMT_UDEC, FMT_HEXLE, FMT_HEXVAR = range(3)

SIGINFO_SIZE = 128

#: (delivery, handler entry) -> the bytes the front end writes for them
PairEncoder = Callable[[ev.SignalDelivered, ev.HandlerEntered], bytes]
#: a delivery passed on without a stop at the handler (--no-frame) -> its bytes
PassEncoder = Callable[[ev.SignalDelivered], bytes]
Inputs = dict[int, bytes]  #: source -> its bytes
#: the Python path for one delivery's inputs: its events (two, or one when
#: passed on), or None
EventMaker = Callable[[Inputs], "tuple[ev.Event, ...] | None"]
#: the front end's encoder of those events
Encoder = Callable[..., bytes]
Op = bytes | tuple[int, int, int, int]


class Store(Protocol):
    """The C module's template store (backends/ptrace.py ``TemplateStore``)."""

    def add(self, tid: int, regs_len: int, frame_len: int, key: list[tuple[int, int, bytes]],
            ops: list[Op]) -> bool: ...

    def clear(self) -> None: ...

    def render(self, index: int, frame: bytes, regs: bytes, pc: int,
               info: bytes) -> bytes | None: ...


@dataclass(frozen=True)
class Hole:
    src: int
    off: int
    size: int


@dataclass(frozen=True)
class Shape:
    """Where the holes and key ranges of one delivery are."""

    holes: tuple[Hole, ...]
    #: (source, start, end): what the decoder reads, holes included
    reads: tuple[tuple[int, int, int], ...]


def shape_of(frame: SigFrame, regs_len: int, data_len: int) -> Shape | None:
    """The holes and reads of a decoded frame (None: not servable), from the
    decoder's own account of the fields it copies and the bytes it reads
    (decode/sigframe.py ``frame_value_fields``, ``regset_value_fields``)."""
    try:
        values, frame_reads = frame_value_fields(frame)
        regs_abi = abi_for_regset_size(regs_len)
    except (KeyError, UsageError):
        return None  # a frame kind or register set without those tables
    holes = [Hole(SRC_FRAME, off, size) for off, size in values]
    holes += [Hole(SRC_REGS, off, size) for off, size in regset_value_fields(regs_abi)]
    holes.append(Hole(SRC_PC, 0, 8))
    reads = [(SRC_FRAME, off, off + size) for off, size in frame_reads]
    if any(end > data_len for _, _, end in reads):
        return None
    reads += [(SRC_INFO, 0, SIGINFO_SIZE), (SRC_REGS, 0, regs_len), (SRC_PC, 0, 8)]
    return Shape(tuple(holes), tuple(reads))


def _spellings(value: bytes) -> list[tuple[int, bytes]]:
    out = [(FMT_HEXLE, value[::-1].hex().encode())]
    if len(value) <= 8:
        n = int.from_bytes(value, "little")
        out.append((FMT_UDEC, str(n).encode()))
        out.append((FMT_HEXVAR, hex(n).encode()))
    return out


_HEXCHARS = frozenset(b"0123456789abcdefABCDEFxX")


def template_ops(text: bytes, holes: tuple[Hole, ...], values: list[bytes]) -> list[Op]:
    """``text`` (the output made with each hole set to its sentinel in
    ``values``) as a template's ops: the literal bytes between the holes,
    and each hole where its sentinel was spelled, with that spelling."""
    ops: list[Op] = []
    pos = 0
    for start, end, i, fmt in _matches(text, holes, values):
        if start > pos:
            ops.append(text[pos:start])
        h = holes[i]
        ops.append((h.src, h.off, h.size, fmt))
        pos = end
    if pos < len(text):
        ops.append(text[pos:])
    return ops


def _matches(text: bytes, holes: tuple[Hole, ...],
             values: list[bytes]) -> list[tuple[int, int, int, int]]:
    """Every place a hole's sentinel is spelled in ``text``: (start, end,
    hole index, format), in order.  Where two candidates overlap the longer
    one is kept (a short sentinel can recur by chance inside a long one;
    the template's checks catch a wrong choice)."""
    found: list[tuple[int, int, int, int]] = []
    for i, v in enumerate(values):
        for fmt, s in _spellings(v):
            at = text.find(s)
            while at >= 0:
                end = at + len(s)
                # a number stands alone; only fixed-width hex strings of wide
                # registers may be joined (YMM = upper half : XMM)
                if (fmt == FMT_HEXLE and len(v) > 8) or (
                        (at == 0 or text[at - 1] not in _HEXCHARS)
                        and (end == len(text) or text[end] not in _HEXCHARS)):
                    found.append((at, end, i, fmt))
                at = text.find(s, at + 1)
    kept: list[tuple[int, int, int, int]] = []
    for m in sorted(found, key=lambda m: m[0] - m[1]):  # longest first
        if all(m[1] <= k[0] or k[1] <= m[0] for k in kept):
            kept.append(m)
    return sorted(kept)


def _with(inputs: Inputs, holes: tuple[Hole, ...], values: list[bytes]) -> Inputs:
    out = {k: bytearray(v) for k, v in inputs.items()}
    for h, v in zip(holes, values):
        out[h.src][h.off : h.off + h.size] = v
    return {k: bytes(v) for k, v in out.items()}


def _key(inputs: Inputs, shape: Shape) -> list[tuple[int, int, bytes]]:
    """The read ranges less the holes, as (source, offset, bytes) pieces."""
    cut: dict[int, set[int]] = {}
    for h in shape.holes:
        cut.setdefault(h.src, set()).update(range(h.off, h.off + h.size))
    pieces: list[tuple[int, int, bytes]] = []
    for src, start, end in sorted(set(shape.reads)):
        holes = cut.get(src, set())
        i = start
        while i < end:
            if i in holes:
                i += 1
                continue
            j = i
            while j < end and j not in holes:
                j += 1
            pieces.append((src, i, inputs[src][i:j]))
            i = j
    return pieces


def _free(inputs: Inputs, shape: Shape, rng: random.Random) -> Inputs:
    """``inputs`` with every frame byte outside the reads made random."""
    frame = inputs[SRC_FRAME]
    data = bytearray(rng.randbytes(len(frame)))
    for src, start, end in shape.reads:
        if src == SRC_FRAME:
            data[start:end] = frame[start:end]
    return {**inputs, SRC_FRAME: bytes(data)}


#: a delivery passed on: the siginfo is key, the pc a hole
PASSED_SHAPE = Shape((Hole(SRC_PC, 0, 8),), ((SRC_INFO, 0, SIGINFO_SIZE), (SRC_PC, 0, 8)))


@dataclass(frozen=True)
class Template:
    tid: int
    regs_len: int
    frame_len: int
    key: list[tuple[int, int, bytes]]
    ops: list[Op]


def make_template(tid: int, inputs: Inputs, shape: Shape, actual: bytes,
                  make: EventMaker, encode: Encoder,
                  check: Callable[[Template, Inputs], bytes | None],
                  rng: random.Random, tries: int = 3) -> Template | None:
    """A template for this delivery, or None when one cannot be shown right.

    ``actual`` is what the Python path wrote for ``inputs``; ``check``
    renders a template with the C module (None: its key does not match).
    Sentinels are random: a probe that fails is tried again with others.
    """
    for _ in range(tries):
        t = _probe(tid, inputs, shape, actual, make, encode, check, rng)
        if t is not None:
            return t
    return None


def _sentinel(rng: random.Random, size: int, zero_top: bool) -> bytes:
    v = bytearray(rng.randbytes(size))
    if zero_top:  # the 0x-hex spelling is then shorter than the fixed-width one
        v[-1] = 0
        v[-2] |= 0x10
    else:
        v[-1] |= 0x10
    return bytes(v)


def _probe(tid: int, inputs: Inputs, shape: Shape, actual: bytes, make: EventMaker,
           encode: Encoder, check: Callable[[Template, Inputs], bytes | None],
           rng: random.Random) -> Template | None:
    holes = shape.holes
    probe = [_sentinel(rng, h.size, True) for h in holes]
    events = make(_with(inputs, holes, probe))
    if events is None:
        return None
    text = encode(*events)
    ops = template_ops(text, holes, probe)
    t = Template(tid, len(inputs[SRC_REGS]), len(inputs[SRC_FRAME]), _key(inputs, shape), ops)
    if check(t, inputs) != actual:
        return None
    # a second probe: other sentinels, and random bytes wherever the key does
    # not look -- the decoder's output must not have depended on them
    other = _free(_with(inputs, holes, [_sentinel(rng, h.size, False) for h in holes]),
                  shape, rng)
    events = make(other)
    if events is None or check(t, other) != encode(*events):
        return None
    return t


def pc_bytes(pc: int) -> bytes:
    return (pc & (1 << 64) - 1).to_bytes(8, "little")


class FastPath:
    """The templates of one trace and when to make more.

    ``encode`` is the front end's writer for a delivery (its two events);
    the C loop writes the same bytes for every delivery a template covers.
    """

    #: deliveries (or bytes written) per trip through the C loop
    MAX_COUNT = 4096
    MAX_BYTES = 1 << 20
    #: templates tried in all (a program whose deliveries never repeat a
    #: key stops paying for the attempts)
    BUDGET = 256

    def __init__(self, new_store: Callable[[], Store], encode: PairEncoder,
                 encode_passed: PassEncoder | None = None, *, max_count: int = MAX_COUNT) -> None:
        self.new_store = new_store
        self.encode = encode
        self.encode_passed = encode_passed
        self.store = new_store()
        self.templates: list[Template] = []
        self.tries = 0
        self.max_count = max_count
        self.rng = random.Random(0x51D0)  # sentinels: the same every run

    def forget(self) -> None:
        """An address space changed (exec) or the session's caches were
        dropped: no template made before holds."""
        self.store.clear()
        self.templates.clear()

    def check(self, t: Template, inputs: Inputs) -> bytes | None:
        scratch = self.new_store()
        scratch.add(t.tid, t.regs_len, t.frame_len, t.key, t.ops)
        return scratch.render(0, inputs[SRC_FRAME], inputs[SRC_REGS],
                              int.from_bytes(inputs[SRC_PC], "little"), inputs[SRC_INFO])

    def learn(self, tid: int, inputs: Inputs, frame: SigFrame | None, actual: bytes,
              make: EventMaker) -> bool:
        """Make a template from one delivery the Python path served (``frame``
        None: one passed on, whose inputs are its siginfo and pc alone)."""
        if self.tries >= self.BUDGET:
            return False
        self.tries += 1
        if frame is None:
            assert self.encode_passed is not None
            shape: Shape | None = PASSED_SHAPE
            encode: Encoder = self.encode_passed
        else:
            shape = shape_of(frame, len(inputs[SRC_REGS]), len(inputs[SRC_FRAME]))
            encode = self.encode
        if shape is None:
            return False
        t = make_template(tid, inputs, shape, actual, make, encode, self.check, self.rng)
        if t is None:
            return False
        if not self.store.add(t.tid, t.regs_len, t.frame_len, t.key, t.ops):
            self.forget()  # full: start again with the shapes seen from now on
            self.store.add(t.tid, t.regs_len, t.frame_len, t.key, t.ops)
        self.templates.append(t)
        return True
