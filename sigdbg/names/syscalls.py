"""System-call names of the ABIs that carry a syscall table, and AUDIT_ARCH_* names.

Sources: each ABI's ``syscall_table``, transcribed in its arch package from the
kernel's ``syscall_*.tbl`` (x86: ``sigdbg/abi/x86/syscall_tables.py``);
``include/uapi/linux/audit.h`` and ``include/uapi/linux/elf-em.h`` for the
AUDIT_ARCH_* values (``si_arch`` of a seccomp SIGSYS, ``arch`` of
``PTRACE_GET_SYSCALL_INFO``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sigdbg.abi import ABIS
from sigdbg.names._common import UnknownNameError


def _parse_table(text: str) -> Mapping[int, str]:
    """Parse the ``number name name ...`` lines of :mod:`sigdbg.names._syscall_tables`."""
    table: dict[int, str] = {}
    nr = 0
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if not line[0].isspace():
            start = int(words.pop(0))
            if start < nr:
                raise AssertionError(f"syscall table overlaps at {start}")
            nr = start
        for word in words:
            if word != "-":
                table[nr] = word
            nr += 1
    return MappingProxyType(table)


#: ABI name → (syscall number → name), for the ABIs with a ``syscall_table``.
SYSCALL_TABLES: Mapping[str, Mapping[int, str]] = MappingProxyType(
    {abi.name: _parse_table(abi.syscall_table) for abi in ABIS if abi.syscall_table}
)

_NUMBERS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        abi: MappingProxyType({name: nr for nr, name in table.items()})
        for abi, table in SYSCALL_TABLES.items()
    }
)

#: an ABI's name and its aliases (not its family's name: "x86" is no one ABI) → the name
_ABI_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        alias: abi.name
        for abi in ABIS if abi.syscall_table
        for alias in (abi.name, *abi.aliases) if alias != abi.arch
    }
)


def syscall_abi(abi: str) -> str:
    """Canonical ABI name (a key of :data:`SYSCALL_TABLES`) for ``abi`` or an alias;
    raises ``ValueError``."""
    canonical = _ABI_ALIASES.get(abi.strip().lower())
    if canonical is None:
        raise UnknownNameError(
            f"unknown syscall ABI {abi!r}: expected {' or '.join(SYSCALL_TABLES)}")
    return canonical


def syscall_name(abi: str, nr: int) -> str:
    """Name of system call ``nr`` in ``abi``; unknown → ``"syscall_%d"``."""
    return SYSCALL_TABLES[syscall_abi(abi)].get(nr, f"syscall_{nr}")


def syscall_number(abi: str, name: str) -> int:
    """Number of system call ``name`` in ``abi`` (``"rt_sigreturn"``, ``"sys_rt_sigreturn"``,
    ``"__NR_rt_sigreturn"`` or ``"syscall_N"``); raises ``ValueError`` if unknown."""
    canonical = syscall_abi(abi)
    text = name.strip()
    for prefix in ("__NR_", "SYS_", "sys_"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    number = _NUMBERS[canonical].get(text)
    if number is not None:
        return number
    if text.startswith("syscall_") and text[8:].isdigit():
        return int(text[8:])
    raise UnknownNameError(f"unknown {canonical} system call {name!r}")


def all_syscall_names(abi: str) -> tuple[str, ...]:
    """Every system-call name of ``abi``, in numeric order."""
    return tuple(SYSCALL_TABLES[syscall_abi(abi)].values())


# AUDIT_ARCH_* ---------------------------------------------------------------
_AUDIT_64BIT = 0x80000000
_AUDIT_LE = 0x40000000
_AUDIT_MIPS64_N32 = 0x20000000

# (name, EM_* machine number, flags) from include/uapi/linux/audit.h; the
# registered ABIs' rows are their ``Abi.audit_arch`` (below), not repeated here.
_AUDIT_ROWS: tuple[tuple[str, int, int], ...] = (
    ("alpha", 0x9026, _AUDIT_64BIT | _AUDIT_LE),
    ("arcompact", 93, _AUDIT_LE),
    ("arcompactbe", 93, 0),
    ("arcv2", 195, _AUDIT_LE),
    ("arcv2be", 195, 0),
    ("armeb", 40, 0),
    ("c6x", 140, _AUDIT_LE),
    ("c6xbe", 140, 0),
    ("cris", 76, _AUDIT_LE),
    ("csky", 252, _AUDIT_LE),
    ("frv", 0x5441, 0),
    ("h8300", 46, 0),
    ("hexagon", 164, 0),
    ("ia64", 50, _AUDIT_64BIT | _AUDIT_LE),
    ("m32r", 88, 0),
    ("m68k", 4, 0),
    ("microblaze", 189, 0),
    ("mips", 8, 0),
    ("mipsel", 8, _AUDIT_LE),
    ("mips64", 8, _AUDIT_64BIT),
    ("mips64n32", 8, _AUDIT_64BIT | _AUDIT_MIPS64_N32),
    ("mipsel64", 8, _AUDIT_64BIT | _AUDIT_LE),
    ("mipsel64n32", 8, _AUDIT_64BIT | _AUDIT_LE | _AUDIT_MIPS64_N32),
    ("nds32", 167, _AUDIT_LE),
    ("nds32be", 167, 0),
    ("nios2", 113, _AUDIT_LE),
    ("openrisc", 92, 0),
    ("parisc", 15, 0),
    ("parisc64", 15, _AUDIT_64BIT),
    ("ppc", 20, 0),
    ("ppc64", 21, _AUDIT_64BIT),
    ("ppc64le", 21, _AUDIT_64BIT | _AUDIT_LE),
    ("riscv32", 243, _AUDIT_LE),
    ("riscv64", 243, _AUDIT_64BIT | _AUDIT_LE),
    ("s390", 22, 0),
    ("s390x", 22, _AUDIT_64BIT),
    ("sh", 42, 0),
    ("shel", 42, _AUDIT_LE),
    ("sh64", 42, _AUDIT_64BIT),
    ("shel64", 42, _AUDIT_64BIT | _AUDIT_LE),
    ("sparc", 2, 0),
    ("sparc64", 43, _AUDIT_64BIT),
    ("tilegx", 191, _AUDIT_64BIT | _AUDIT_LE),
    ("tilegx32", 191, _AUDIT_LE),
    ("tilepro", 188, _AUDIT_LE),
    ("unicore", 110, _AUDIT_LE),
    ("xtensa", 94, 0),
    ("loongarch32", 258, _AUDIT_LE),
    ("loongarch64", 258, _AUDIT_64BIT | _AUDIT_LE),
)

#: AUDIT_ARCH_* value → short lower-case name (an ABI's name for the registered
#: ABIs, "arm", "aarch64", ...): the rows above and each ABI's ``audit_arch``.
AUDIT_ARCH_NAMES: Mapping[int, str] = MappingProxyType(
    {em | flags: name for name, em, flags in _AUDIT_ROWS}
    | {abi.audit_arch: abi.name for abi in ABIS if abi.audit_arch}
)
_AUDIT_BY_NAME: Mapping[str, int] = MappingProxyType(
    {name: value for value, name in AUDIT_ARCH_NAMES.items()}
)

#: AUDIT_ARCH value → the syscall ABI of :data:`SYSCALL_TABLES` it selects.
AUDIT_ARCH_ABIS: Mapping[int, str] = MappingProxyType(
    {abi.audit_arch: abi.name for abi in ABIS if abi.audit_arch and abi.syscall_table}
)


def audit_arch_name(value: int) -> str:
    """Short name of an AUDIT_ARCH_* value (an ABI's ``audit_arch`` → its name); unknown →
    ``"0x%08x"``."""
    return AUDIT_ARCH_NAMES.get(value, f"{value:#010x}")


def audit_arch_value(name: str) -> int:
    """AUDIT_ARCH_* value for a short name or ``"AUDIT_ARCH_<NAME>"``; raises ``ValueError``."""
    text = name.strip().lower()
    if text.startswith("audit_arch_"):
        text = text[len("audit_arch_") :]
    value = _AUDIT_BY_NAME.get(text)
    if value is None:
        raise UnknownNameError(f"unknown AUDIT_ARCH {name!r}")
    return value


def audit_arch_abi(value: int) -> str | None:
    """The syscall ABI (a key of :data:`SYSCALL_TABLES`) an AUDIT_ARCH value selects, or None."""
    return AUDIT_ARCH_ABIS.get(value)
