"""The 32-bit ARM ``uc_regspace`` records: a walker over the tables.

The kernel writes coprocessor state into ``ucontext.uc_regspace`` (512 bytes)
as ``{u32 magic, u32 size, payload}`` records, each a multiple of 8 bytes,
ended by a zero magic (4 bytes): arch/arm/kernel/signal.c
``setup_sigframe`` (native: optional iWMMXt or its DUMMY placeholder, then
VFP) and arch/arm64/kernel/signal32.c ``compat_setup_sigframe`` (compat: VFP
only).  The walk goes by size, keeps unknown magics, and turns every
inconsistency into a line in ``problems``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sigdbg.abi import arm
from sigdbg.abi.layout import Decoded


@dataclass(frozen=True)
class RegspaceRecord:
    offset: int  #: from the start of uc_regspace
    magic: int
    size: int  #: 0 for the terminator
    name: str  #: "vfp", "iwmmxt", "dummy", "crunch", "unknown" or "end"
    fields: Decoded | None


@dataclass
class RegspaceWalk:
    records: list[RegspaceRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def find(self, name: str) -> RegspaceRecord | None:
        return next((r for r in self.records if r.name == name), None)


def walk_regspace(regspace: bytes) -> RegspaceWalk:
    """Walk the records of one ``uc_regspace`` (its 512 bytes)."""
    walk = RegspaceWalk()
    off = 0
    while True:
        if off + 4 > len(regspace):
            walk.problems.append("no terminator in uc_regspace")
            return walk
        (magic,) = struct.unpack_from("<I", regspace, off)
        if magic == 0:
            walk.records.append(RegspaceRecord(off, 0, 0, "end", None))
            return walk
        if off + 8 > len(regspace):
            walk.problems.append(f"record {magic:#x} at +{off} cut by the end of uc_regspace")
            return walk
        (size,) = struct.unpack_from("<I", regspace, off + 4)
        if size < 8 or size % 8 or off + size > len(regspace):
            walk.problems.append(f"record {magic:#x} at +{off} has a bad size {size}")
            return walk
        name, layout = arm.REGSPACE_RECORDS.get(magic, ("unknown", None))
        decoded = None
        if layout is not None and size >= layout.size:
            decoded = layout.decode(regspace, off)
        walk.records.append(RegspaceRecord(off, magic, size, name, decoded))
        off += size
