"""Small helpers shared by the name tables: the lookup error, arch families, bit naming
(``bit_names`` lives in :mod:`sigdbg.abi.bits`, which the arch packages' tables use too).

Nothing here holds state; every helper is a pure function of its arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sigdbg.abi.bits import bit_names
from sigdbg.errors import UsageError


class UnknownNameError(UsageError, ValueError):
    """A name, number or family given by the user is not in the table it was looked up in.

    It is a ``ValueError`` (the contract of the ``*_number`` look-ups) and a
    :class:`sigdbg.errors.UsageError`, so front ends print it as one line.
    """


#: The arch families the tables are keyed by.  "x86" covers x86_64 and i386
#: (their auxv/hwcap numbering is shared), "arm" is 32-bit ARM (also a 32-bit
#: task on an arm64 kernel), "arm64" is AArch64, and "generic" means "not known":
#: the union of the arch-neutral meanings.
ARCH_FAMILIES: tuple[str, ...] = ("x86", "arm", "arm64", "generic")

_ARCH_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "x86": "x86",
        "x86_64": "x86",
        "x86-64": "x86",
        "amd64": "x86",
        "i386": "x86",
        "i686": "x86",
        "ia32": "x86",
        "arm": "arm",
        "armhf": "arm",
        "armel": "arm",
        "arm64": "arm64",
        "aarch64": "arm64",
        "generic": "generic",
    }
)


def arch_family(arch: str) -> str:
    """Return the table family for ``arch`` ("x86_64" → "x86", "aarch64" → "arm64", ...).

    Raises :class:`UnknownNameError` for anything else.
    """
    family = _ARCH_ALIASES.get(arch.strip().lower())
    if family is None:
        raise UnknownNameError(
            f"unknown architecture {arch!r}: expected one of {', '.join(ARCH_FAMILIES)}"
            " (or x86_64, i386, aarch64)"
        )
    return family


__all__ = ["ARCH_FAMILIES", "UnknownNameError", "arch_family", "bit_names"]
