"""Small helpers shared by the name tables: the lookup error, arch families, bit naming
(``bit_names`` lives in :mod:`sigdbg.abi.bits`, which the arch packages' tables use too).

Nothing here holds state; every helper is a pure function of its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sigdbg.abi import ABIS
from sigdbg.abi.abis import NameTables
from sigdbg.abi.bits import bit_names
from sigdbg.errors import UsageError


class UnknownNameError(UsageError, ValueError):
    """A name, number or family given by the user is not in the table it was looked up in.

    It is a ``ValueError`` (the contract of the ``*_number`` look-ups) and a
    :class:`sigdbg.errors.UsageError`, so front ends print it as one line.
    """


#: The arch families the tables are keyed by: ``Abi.arch`` of every registered
#: ABI (the ABIs of a family share its auxv/hwcap numbering: x86_64 and i386),
#: in registry order, and "generic", which means "not known": the union of the
#: arch-neutral meanings.
ARCH_FAMILIES: tuple[str, ...] = (*dict.fromkeys(abi.arch for abi in ABIS), "generic")


def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for abi in ABIS:  # the family's own name, its ABIs' names and aliases, more spellings
        for name in (abi.arch, abi.name, *abi.aliases, *abi.names.aliases):
            out.setdefault(name, abi.arch)
    return out | {"generic": "generic"}


_ARCH_ALIASES: Mapping[str, str] = MappingProxyType(_aliases())


def family_tables() -> dict[str, NameTables]:
    """Arch family -> its rows of the name tables (the family's first ABI's)."""
    out: dict[str, NameTables] = {}
    for abi in ABIS:
        out.setdefault(abi.arch, abi.names)
    return out


def arch_family(arch: str) -> str:
    """Return the table family for ``arch`` ("x86_64" → "x86", "aarch64" → "arm64", ...).

    Raises :class:`UnknownNameError` for anything else.
    """
    family = _ARCH_ALIASES.get(arch.strip().lower())
    if family is None:
        raise UnknownNameError(
            f"unknown architecture {arch!r}: expected one of {', '.join(ARCH_FAMILIES)}"
            f" (or {', '.join(a.name for a in ABIS if a.name != a.arch)})"
        )
    return family


__all__ = ["ARCH_FAMILIES", "UnknownNameError", "arch_family", "bit_names", "family_tables"]
