"""The memory map (/proc/PID/maps) with the kernel's special mappings explained.

Sources: fs/proc/task_mmu.c (``show_map_vma``: the maps line format and the
``[heap]``/``[stack]`` names); what each special mapping is, with its kernel
source, is data of the ABI (``Abi.special_mappings``, from the arch packages:
``sigdbg/abi/<arch>/pages.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sigdbg.abi import ABIS
from sigdbg.decode.model import Model
from sigdbg.errors import DecodeError


@dataclass(frozen=True)
class SpecialMapping(Model):
    name: str
    created_by: str
    purpose: str
    readable_by_tracer: str


def special_table(rows: Iterable[Any]) -> dict[str, SpecialMapping] | None:
    """The maps explanation of an ABI from its rows (``Abi.special_mappings``,
    :class:`sigdbg.abi.generic.SpecialMappingRow`); None when it has none."""
    table: dict[str, SpecialMapping] = {}
    for r in rows:  # the first row of a name wins
        table.setdefault(r.name, SpecialMapping(r.name, r.created_by, r.purpose,
                                                r.readable_by_tracer))
    return table or None


#: the explanation when the process's ABI is not known: every registered
#: ABI's rows, the first ABI's row of a name first
SPECIAL_MAPPINGS: dict[str, SpecialMapping] = special_table(
    row for abi in ABIS for row in abi.special_mappings) or {}


@dataclass(frozen=True)
class Mapping(Model):
    """One line of /proc/PID/maps."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str
    #: the explanation from the process's ABI (``special_table``); None: the
    #: table of every ABI above (what parse_maps without a table gives)
    explained: SpecialMapping | None = field(default=None, compare=False,
                                             metadata={"json": False})

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def readable(self) -> bool:
        return self.perms[:1] == "r"

    @property
    def executable(self) -> bool:
        return self.perms[2:3] == "x"

    @property
    def special(self) -> SpecialMapping | None:
        if self.explained is not None:
            return self.explained
        return SPECIAL_MAPPINGS.get(self.path) or (
            SPECIAL_MAPPINGS["[stack]"] if self.path.startswith("[stack") else None
        )

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end

    def _json(self, view: bool) -> dict[str, Any]:
        out: dict[str, object] = {
            "start": self.start,
            "end": self.end,
            "perms": self.perms,
            "offset": self.offset,
            "dev": self.dev,
            "inode": self.inode,
            "path": self.path,
        }
        sp = self.special
        if sp is not None:
            out["special"] = sp.to_json()
        return out


@dataclass(frozen=True)
class MemoryMap(Model):
    mappings: tuple[Mapping, ...]

    def find(self, address: int) -> Mapping | None:
        for m in self.mappings:
            if m.start <= address < m.end:
                return m
        return None

    def by_name(self, name: str) -> Mapping | None:
        for m in self.mappings:
            if m.path == name:
                return m
        return None

    def file_mappings(self, path: str) -> tuple[Mapping, ...]:
        return tuple(m for m in self.mappings if m.path == path)

    def image_base(self, path: str) -> int | None:
        """Load address of a mapped file: its mapping with file offset 0."""
        for m in self.mappings:
            if m.path == path and m.offset == 0:
                return m.start
        return None


def parse_maps(text: str, specials: dict[str, SpecialMapping] | None = None) -> MemoryMap:
    """Parse /proc/PID/maps text (fs/proc/task_mmu.c show_map_vma format),
    explaining the special mappings from ``specials`` (see
    :func:`special_table`) when given."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 5)
        try:
            lo, hi = parts[0].split("-")
            out.append(
                Mapping(
                    start=int(lo, 16),
                    end=int(hi, 16),
                    perms=parts[1],
                    offset=int(parts[2], 16),
                    dev=parts[3],
                    inode=int(parts[4]),
                    path=parts[5].strip() if len(parts) > 5 else "",
                )
            )
            if specials is not None:
                m = out[-1]
                key = "[stack]" if m.path.startswith("[stack") else m.path
                if key in specials:
                    out[-1] = Mapping(m.start, m.end, m.perms, m.offset, m.dev, m.inode, m.path,
                                      specials[key])
        except (ValueError, IndexError):
            raise DecodeError(f"maps line {lineno} is malformed: {line[:80]!r}") from None
    return MemoryMap(tuple(out))
