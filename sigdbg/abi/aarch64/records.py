"""The AArch64 ``sigcontext.__reserved`` records: a walker over the tables.

The kernel lays the records out in ``setup_sigframe_layout`` and writes them
in ``setup_sigframe`` (arch/arm64/kernel/signal.c): a chain of
``{u32 magic, u32 size, payload}`` records, ``size`` including the header,
ended by a record with magic 0 and size 0.  The uapi header
(arch/arm64/include/uapi/asm/sigcontext.h) says the order is not guaranteed,
so the walk goes by ``size`` and never by position.  When the records do not
fit in the 4096 bytes (large SVE or ZA state) an ``extra_context`` record
points to an extra space that starts after the terminator that must follow
it and holds the rest of the chain, with its own terminator
(``parse_user_sigframe`` enforces the same rules on sigreturn).

Unknown magics are kept (shown, not dropped).  Nothing is assumed
consistent: a check that fails ends the walk with a line in ``problems``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sigdbg.abi import aarch64
from sigdbg.abi.layout import Decoded, Value
from sigdbg.backends.base import Memory
from sigdbg.errors import MemoryReadError

NAMES: dict[int, str] = {
    aarch64.FPSIMD_MAGIC: "fpsimd",
    aarch64.ESR_MAGIC: "esr",
    aarch64.EXTRA_MAGIC: "extra",
    aarch64.SVE_MAGIC: "sve",
    aarch64.ZA_MAGIC: "za",
    aarch64.TPIDR2_MAGIC: "tpidr2",
    aarch64.ZT_MAGIC: "zt",
    aarch64.FPMR_MAGIC: "fpmr",
    aarch64.POE_MAGIC: "poe",
    aarch64.GCS_MAGIC: "gcs",
}

#: a sanity bound on one chain (the kernel defines about ten record kinds)
_MAX_RECORDS = 64
#: the extra space holds at most SVE + ZA at the largest vector length
_MAX_EXTRA = 1 << 20


@dataclass(frozen=True)
class Record:
    """One record as found in target memory."""

    address: int
    magic: int
    size: int
    name: str  #: from NAMES, "unknown", or "end" for a terminator
    fields: Decoded | None  #: the fixed part decoded with its table, if known and big enough
    payload: bytes  #: the bytes after the fixed part, up to ``size``
    in_extra: bool  #: found in the extra space rather than in __reserved


@dataclass
class RecordWalk:
    records: list[Record] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def find(self, name: str) -> Record | None:
        return next((r for r in self.records if r.name == name), None)


def _int(v: Value) -> int:
    assert isinstance(v, int)
    return v


def walk_reserved(mem: Memory, reserved: int) -> RecordWalk:
    """Walk the records starting at ``reserved`` (the address of
    ``uc.uc_mcontext.__reserved``), following an extra_context if there is one."""
    walk = RecordWalk()
    try:
        area = mem.read(reserved, aarch64.RESERVED_SIZE)
    except MemoryReadError as e:
        walk.problems.append(f"__reserved unreadable: {e}")
        return walk
    extra = _walk_area(walk, area, reserved, in_extra=False)
    if extra is None:
        return walk
    datap, size = extra
    if size > _MAX_EXTRA or size < 16:
        walk.problems.append(f"extra_context size {size} out of range")
        return walk
    try:
        space = mem.read(datap, size)
    except MemoryReadError as e:
        walk.problems.append(f"extra space unreadable: {e}")
        return walk
    if _walk_area(walk, space, datap, in_extra=True) is not None:
        walk.problems.append("a second extra_context in the extra space")
    return walk


def _walk_area(
    walk: RecordWalk, area: bytes, base: int, *, in_extra: bool
) -> tuple[int, int] | None:
    """Walk one area; returns (datap, size) of an extra_context to follow."""
    off = 0
    extra: tuple[int, int] | None = None
    for _ in range(_MAX_RECORDS):
        if off + 8 > len(area):
            walk.problems.append(f"no terminator before {base + len(area):#x}")
            return None
        head = aarch64.CTX_HEADER.decode(area, off)
        magic, size = _int(head["magic"]), _int(head["size"])
        if magic == 0:
            walk.records.append(Record(base + off, 0, size, "end", None, b"", in_extra))
            if size != 0:
                walk.problems.append(f"terminator at {base + off:#x} has size {size}")
            return extra
        if extra is not None:
            walk.problems.append(f"extra_context at {base + off - 32:#x} not followed by the "
                                 "terminator")
            return None
        if size < 8 or size % 16 or off + size > len(area):
            walk.problems.append(f"record {magic:#x} at {base + off:#x} has a bad size {size}")
            return None
        layout = aarch64.RECORDS.get(magic)
        decoded = layout.decode(area, off) if layout is not None and size >= layout.size else None
        fixed = layout.size if decoded is not None and layout is not None else 8
        walk.records.append(Record(base + off, magic, size, NAMES.get(magic, "unknown"), decoded,
                                   area[off + fixed : off + size], in_extra))
        if magic == aarch64.EXTRA_MAGIC and decoded is not None:
            extra = (_int(decoded["datap"]), _int(decoded["size"]))
        off += size
    walk.problems.append(f"more than {_MAX_RECORDS} records")
    return None
