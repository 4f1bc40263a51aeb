"""Bit names of the AT_HWCAP .. AT_HWCAP4 words, per arch family.

The tables are data of the arch packages (``sigdbg/abi/<arch>/names.py``,
each ABI's ``names.hwcaps``), with their sources there: x86 AT_HWCAP is
CPUID.1:EDX in ``/proc/cpuinfo`` spelling (``arch/x86/include/asm/cpufeatures.h``
word 0); arm and arm64 names are the uapi macro names lower-cased
(``arch/arm64/include/uapi/asm/hwcap.h``).  This module keys them by family and looks bits up.
A set bit no table names is reported as ``bitN``, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sigdbg.names._common import UnknownNameError, arch_family, bit_names, family_tables

_EMPTY: Mapping[int, str] = MappingProxyType({})

#: (arch family, which) → bit table; ``which`` is 1..4 for AT_HWCAP..AT_HWCAP4.
#: The tables are the families' own (``Abi.names.hwcaps``); "generic" names none.
HWCAP_TABLES: Mapping[tuple[str, int], Mapping[int, str]] = MappingProxyType(
    {
        (family, which): (tables.hwcaps[which - 1] if which <= len(tables.hwcaps) else _EMPTY)
        for family, tables in family_tables().items()
        for which in (1, 2, 3, 4)
    }
    | {("generic", which): _EMPTY for which in (1, 2, 3, 4)}
)


def hwcap_table(arch: str, which: int) -> Mapping[int, str]:
    """The bit table of AT_HWCAP``which`` (1..4) on ``arch``; raises ``ValueError`` if invalid."""
    family = arch_family(arch)
    table = HWCAP_TABLES.get((family, which))
    if table is None:
        raise UnknownNameError(f"which must be 1, 2, 3 or 4 (AT_HWCAP..AT_HWCAP4), got {which!r}")
    return table


def hwcap_names(value: int, arch: str, which: int) -> tuple[str, ...]:
    """Names of the bits set in AT_HWCAP``which`` ``value`` on ``arch``, lowest bit first.

    ``which`` is 1, 2, 3 or 4 (AT_HWCAP, AT_HWCAP2, AT_HWCAP3, AT_HWCAP4).
    Bits without a name come out as ``bitN``.
    """
    return bit_names(value, hwcap_table(arch, which), "hwcap value")


def hwcap_bit(name: str, arch: str, which: int) -> int:
    """Bit number of capability ``name`` (case-insensitive) in AT_HWCAP``which`` on ``arch``."""
    wanted = name.strip().lower()
    for bit, bit_name in hwcap_table(arch, which).items():
        if bit_name == wanted:
            return bit
    raise UnknownNameError(f"unknown capability {name!r} in AT_HWCAP{which if which > 1 else ''}")
