"""ELF auxiliary-vector entry types (``AT_*``), per arch family.

Sources: ``include/uapi/linux/auxvec.h`` (the arch-neutral numbers),
``arch/x86/include/uapi/asm/auxvec.h`` (AT_SYSINFO 32, AT_SYSINFO_EHDR 33,
AT_MINSIGSTKSZ 51), ``arch/arm/include/uapi/asm/auxvec.h`` and
``arch/arm64/include/uapi/asm/auxvec.h`` (AT_SYSINFO_EHDR 33; arm64 also
AT_MINSIGSTKSZ), ``arch/powerpc/include/uapi/asm/auxvec.h`` (19–22, 40–47),
``arch/riscv/include/uapi/asm/auxvec.h`` (40–47), ``arch/sh/include/uapi/asm/auxvec.h``
(AT_FPUCW 18, 34–36), ``arch/alpha/include/uapi/asm/auxvec.h`` (34–37),
``arch/sparc/include/uapi/asm/auxvec.h`` (ADI 48–50) and
``include/uapi/linux/binfmts.h`` (AT_FLAGS bits); value kinds from
``fs/binfmt_elf.c`` (``create_elf_tables``).

Numbers 18–22 and 32–37 mean different things on different arches, so every
table is per arch family: the arch-neutral entries below plus the family's own
rows (``Abi.names.auxv``, from the arch package: ``sigdbg/abi/<arch>/names.py``),
or "generic" (arch unknown: every meaning glibc's ``<elf.h>`` gives, as
``LD_SHOW_AUXV`` prints them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sigdbg.names._common import (
    ARCH_FAMILIES,
    UnknownNameError,
    arch_family,
    bit_names,
    family_tables,
)

#: What ``a_val`` holds, by kind: a plain integer, an address, a pointer to a
#: NUL-terminated string, a pointer to 16 random bytes (AT_RANDOM), a boolean,
#: a bit mask (AT_FLAGS), one of the four HWCAP words, a file descriptor, a
#: user or group id, a cache geometry word (line size in bits 0–15,
#: associativity in bits 16–31), an entry to skip, or the terminator.
AUXV_KINDS: tuple[str, ...] = (
    "int",
    "addr",
    "str",
    "bytes16",
    "bool",
    "flags",
    "hwcap",
    "hwcap2",
    "hwcap3",
    "hwcap4",
    "fd",
    "uid",
    "cachegeom",
    "ignore",
    "end",
)


@dataclass(frozen=True)
class AuxvType:
    """One ``AT_*`` entry type: its number, kernel name, value kind and meaning."""

    value: int
    name: str
    kind: str
    description: str


def _t(value: int, name: str, kind: str, description: str) -> AuxvType:
    assert kind in AUXV_KINDS, kind
    return AuxvType(value, name, kind, description)


# Meanings shared by every arch family.
_COMMON: tuple[AuxvType, ...] = (
    _t(0, "AT_NULL", "end", "end of vector"),
    _t(1, "AT_IGNORE", "ignore", "entry should be ignored"),
    _t(2, "AT_EXECFD", "fd", "file descriptor of program"),
    _t(3, "AT_PHDR", "addr", "program headers for program"),
    _t(4, "AT_PHENT", "int", "size of program header entry"),
    _t(5, "AT_PHNUM", "int", "number of program headers"),
    _t(6, "AT_PAGESZ", "int", "system page size"),
    _t(7, "AT_BASE", "addr", "base address of interpreter"),
    _t(8, "AT_FLAGS", "flags", "flags"),
    _t(9, "AT_ENTRY", "addr", "entry point of program"),
    _t(10, "AT_NOTELF", "bool", "program is not ELF"),
    _t(11, "AT_UID", "uid", "real uid"),
    _t(12, "AT_EUID", "uid", "effective uid"),
    _t(13, "AT_GID", "uid", "real gid"),
    _t(14, "AT_EGID", "uid", "effective gid"),
    _t(15, "AT_PLATFORM", "str", "string identifying CPU for optimizations"),
    _t(16, "AT_HWCAP", "hwcap", "arch dependent hints at CPU capabilities"),
    _t(17, "AT_CLKTCK", "int", "frequency at which times() increments"),
    _t(23, "AT_SECURE", "bool", "secure mode boolean"),
    _t(24, "AT_BASE_PLATFORM", "str", "string identifying real platform"),
    _t(25, "AT_RANDOM", "bytes16", "address of 16 random bytes"),
    _t(26, "AT_HWCAP2", "hwcap2", "extension of AT_HWCAP"),
    _t(27, "AT_RSEQ_FEATURE_SIZE", "int", "rseq supported feature size"),
    _t(28, "AT_RSEQ_ALIGN", "int", "rseq allocation alignment"),
    _t(29, "AT_HWCAP3", "hwcap3", "extension of AT_HWCAP"),
    _t(30, "AT_HWCAP4", "hwcap4", "extension of AT_HWCAP"),
    _t(31, "AT_EXECFN", "str", "filename of program"),
    _t(40, "AT_L1I_CACHESIZE", "int", "L1 instruction cache size"),
    _t(41, "AT_L1I_CACHEGEOMETRY", "cachegeom", "L1 instruction cache geometry"),
    _t(42, "AT_L1D_CACHESIZE", "int", "L1 data cache size"),
    _t(43, "AT_L1D_CACHEGEOMETRY", "cachegeom", "L1 data cache geometry"),
    _t(44, "AT_L2_CACHESIZE", "int", "L2 cache size"),
    _t(45, "AT_L2_CACHEGEOMETRY", "cachegeom", "L2 cache geometry"),
    _t(46, "AT_L3_CACHESIZE", "int", "L3 cache size"),
    _t(47, "AT_L3_CACHEGEOMETRY", "cachegeom", "L3 cache geometry"),
    _t(48, "AT_ADI_BLKSZ", "int", "ADI block size (sparc64)"),
    _t(49, "AT_ADI_NBITS", "int", "ADI number of version bits (sparc64)"),
    _t(50, "AT_ADI_UEONADI", "int", "ADI: UE on ADI error (sparc64)"),
    _t(51, "AT_MINSIGSTKSZ", "int", "minimal stack size for signal delivery"),
)

#: the arch families' own entries (their packages' rows)
_ARCH_ROWS: dict[str, tuple[AuxvType, ...]] = {
    family: tuple(_t(*row) for row in tables.auxv) for family, tables in family_tables().items()
}

# Only in the "generic" family: meanings that belong to arches sigdbg does not
# decode (sh, powerpc, alpha), named as glibc's <elf.h> names them.
_OTHER_ARCHES: tuple[AuxvType, ...] = (
    _t(18, "AT_FPUCW", "int", "used FPU control word (sh)"),
    _t(19, "AT_DCACHEBSIZE", "int", "data cache block size (powerpc)"),
    _t(20, "AT_ICACHEBSIZE", "int", "instruction cache block size (powerpc)"),
    _t(21, "AT_UCACHEBSIZE", "int", "unified cache block size (powerpc)"),
    _t(22, "AT_IGNOREPPC", "ignore", "entry should be ignored (powerpc)"),
    _t(34, "AT_L1I_CACHESHAPE", "int", "L1 instruction cache shape (alpha, sh)"),
    _t(35, "AT_L1D_CACHESHAPE", "int", "L1 data cache shape (alpha, sh)"),
    _t(36, "AT_L2_CACHESHAPE", "int", "L2 cache shape (alpha, sh)"),
    _t(37, "AT_L3_CACHESHAPE", "int", "L3 cache shape (alpha)"),
)


def _table(*groups: tuple[AuxvType, ...]) -> Mapping[int, AuxvType]:
    entries = sorted((t for group in groups for t in group), key=lambda t: t.value)
    out: dict[int, AuxvType] = {}
    for t in entries:  # the first meaning of a number wins (generic: the first family's)
        out.setdefault(t.value, t)
    return MappingProxyType(out)


#: arch family → (``a_type`` → :class:`AuxvType`).
AUXV_TYPES: Mapping[str, Mapping[int, AuxvType]] = MappingProxyType(
    {
        **{family: _table(_COMMON, rows) for family, rows in _ARCH_ROWS.items()},
        "generic": _table(_COMMON, _OTHER_ARCHES, *_ARCH_ROWS.values()),
    }
)
assert tuple(AUXV_TYPES) == ARCH_FAMILIES

#: AT_FLAGS bits (include/uapi/linux/binfmts.h).
AT_FLAGS_BITS: Mapping[int, str] = MappingProxyType({0: "AT_FLAGS_PRESERVE_ARGV0"})


def auxv_type(value: int, arch: str) -> AuxvType | None:
    """The :class:`AuxvType` for ``a_type`` ``value`` on ``arch``, or None if unknown there.

    ``arch`` is a family (:data:`ARCH_FAMILIES`) or an alias of one, such as
    an ABI's name; anything else raises ``ValueError``.
    """
    return AUXV_TYPES[arch_family(arch)].get(value)


def auxv_name(value: int, arch: str) -> str:
    """The ``AT_*`` name of ``value`` on ``arch``; unknown → ``"AT_%d"``."""
    entry = auxv_type(value, arch)
    return entry.name if entry is not None else f"AT_{value}"


def all_auxv_names(arch: str) -> tuple[str, ...]:
    """Every ``AT_*`` name known on ``arch``, in numeric order."""
    return tuple(t.name for t in AUXV_TYPES[arch_family(arch)].values())


def auxv_number(name: str, arch: str) -> int:
    """The number of ``AT_*`` entry ``name`` on ``arch``.

    Accepts ``"AT_SYSINFO_EHDR"``, ``"sysinfo_ehdr"`` or a decimal number that
    names a known entry; raises ``ValueError`` otherwise.
    """
    table = AUXV_TYPES[arch_family(arch)]
    text = name.strip().upper()
    if text.isdigit() and int(text) in table:
        return int(text)
    if not text.startswith("AT_"):
        text = "AT_" + text
    for entry in table.values():
        if entry.name == text:
            return entry.value
    raise UnknownNameError(f"unknown auxv entry {name!r} for arch {arch!r}")


def at_flags_names(value: int) -> tuple[str, ...]:
    """Names of the bits set in an AT_FLAGS value; unknown bits → ``bitN``."""
    return bit_names(value, AT_FLAGS_BITS, "AT_FLAGS")
