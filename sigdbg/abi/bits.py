"""Naming the set bits of a value from a table: shared by the name tables of
:mod:`sigdbg.names` and of the arch packages (``sigdbg/abi/<arch>/names.py``).
A pure function; nothing here holds state."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


def bit_names(value: int, table: Mapping[int, str], what: str = "value") -> tuple[str, ...]:
    """Names of the set bits of ``value``, lowest bit first.

    ``table`` maps a bit *number* to its name.  A set bit that the table does
    not name is reported as ``bitN``: nothing is ever dropped.  Raises
    ``ValueError`` for a negative ``value`` (callers decode registers as unsigned).
    """
    if value < 0:
        raise ValueError(f"{what} must be non-negative, got {value}")
    names: list[str] = []
    bit = 0
    while value >> bit:
        if (value >> bit) & 1:
            names.append(table.get(bit, f"bit{bit}"))
        bit += 1
    return tuple(names)


def bit_table(names: str) -> Mapping[int, str]:
    """Bit number -> name from a space-separated list, bit 0 first; ``-``
    marks a reserved bit (left out)."""
    return MappingProxyType({bit: n for bit, n in enumerate(names.split()) if n != "-"})
