"""The ABI registry: every ABI sigdbg knows, and the lookups over them.

An ABI is one :class:`~sigdbg.abi.abis.Abi` value that carries every arch
fact (layouts, registers, frame kinds, breakpoint and system-call
instructions, restorers, sigreturn rules); it lives in its architecture's
package (``sigdbg/abi/<arch>/abi.py``).  Adding an architecture is adding
such a package and its line in :data:`ABIS` below; nothing outside the
package names the architecture (tests/unit/test_arch_boundary.py).

Lookups: by name, by ELF header (e_machine, class, endianness), by the size
of the NT_PRSTATUS regset, by gdb's architecture name, frame kinds by name;
and the tracer's own ABI.  The older names (``abi_by_name``,
``abi_for_elf_header``, ...) stay as aliases of the same functions.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from sigdbg.abi.aarch64 import abi as _aarch64
from sigdbg.abi.abis import Abi, FrameKind, HwBreakpoint, SigreturnRules
from sigdbg.abi.arm import abi as _arm
from sigdbg.abi.elf import ElfError, read_ident
from sigdbg.abi.x86 import abi as _x86
from sigdbg.errors import UsageError

#: Every ABI sigdbg knows: one line per architecture package, each listing
#: its ABIs.  Lookups go through this table only; order matters where two
#: ABIs share a key (the first wins).
ABIS: tuple[Abi, ...] = (
    *_x86.ABIS,
    *_aarch64.ABIS,
    *_arm.ABIS,
)

#: JSON keys of the trace schema (docs/trace-schema.json) that are one
#: architecture's names, kept for every ABI: the schema was first written for
#: x86_64 (the SROP verdict's resume pc, ``"verdict_pc"``).  A model field
#: takes its key from here (``field(metadata={"json_key": ...})``)
SCHEMA_KEYS: Mapping[str, str] = MappingProxyType(dict(_x86.SCHEMA_KEYS))


def __getattr__(name: str) -> Abi:
    """``sigdbg.abi.<NAME>``: the registered ABI whose name upper-cased is
    ``NAME`` (``from sigdbg.abi import AARCH64``), so that no module but the
    arch package's own need name the value's module."""
    for abi in ABIS:
        if abi.name.upper() == name:
            return abi
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def by_name(name: str) -> Abi:
    """The ABI called ``name``; UsageError naming the known ones."""
    for abi in ABIS:
        if abi.name == name:
            return abi
    raise UsageError(f"unknown ABI {name!r} (known: {', '.join(a.name for a in ABIS)})")


def by_elf(machine: int, elf_class: int, endian: str = "<") -> Abi:
    """The ABI of ELF files with e_machine ``machine`` and EI_CLASS bits ``elf_class``."""
    for abi in ABIS:
        if abi.e_machine == machine and abi.elf_class == elf_class and abi.endian == endian:
            return abi
    raise UsageError(f"unsupported ELF machine {machine} ({elf_class}-bit)")


def by_elf_header(data: bytes) -> Abi:
    """The ABI of an ELF file from its first 20 bytes (class + e_machine),
    read by the one ELF reader (:func:`sigdbg.abi.elf.read_ident`)."""
    try:
        ident = read_ident(data)
    except ElfError:
        raise UsageError("not an ELF file") from None
    machine, bits, endian = ident.e_machine, ident.bits, ident.endian
    for abi in ABIS:
        if abi.e_machine == machine and abi.elf_class == bits and abi.endian == endian:
            return abi
    raise UsageError(f"unsupported ELF machine {machine} (class {ident.ei_class})")


def by_regset_size(size: int) -> Abi:
    """The ABI whose NT_PRSTATUS regset has ``size`` bytes."""
    for abi in ABIS:
        if abi.user_regs.size == size:
            return abi
    raise UsageError(f"unsupported register set size {size}")


def by_gdb_name(name: str) -> Abi:
    """The ABI gdb calls ``name``; UsageError for an unsupported one."""
    for abi in ABIS:
        if name in abi.gdb_arch_names:
            return abi
    known = " and ".join(a.name for a in ABIS if a.gdb_arch_names)
    raise UsageError(f"unsupported architecture {name!r} (sigdbg knows {known})")


def all_frame_kinds() -> tuple[str, ...]:
    """Every frame kind of every ABI, in table order, each name once (the
    ``--kind`` choices; x86_64 and AArch64 both call theirs rt_sigframe)."""
    return tuple(dict.fromkeys(k.name for abi in ABIS for k in abi.frame_kinds))


def frame_kind(name: str) -> FrameKind:
    """The frame kind called ``name`` (the first ABI's that has one so named)."""
    for abi in ABIS:
        kind = abi.frame_kind(name)
        if kind is not None:
            return kind
    raise UsageError(f"unknown frame kind {name!r} (known: {', '.join(all_frame_kinds())})")


def abi_of_frame_kind(kind: str) -> Abi:
    """The ABI whose sigcontext a frame of ``kind`` holds (an ia32 frame of a
    64-bit task in 32-bit code holds i386's)."""
    for abi in ABIS:
        if abi.frame_kind(kind) is not None:
            return abi
    raise UsageError(f"unknown frame kind {kind!r} (known: {', '.join(all_frame_kinds())})")


def sigreturn_calls() -> tuple[tuple[Abi, FrameKind], ...]:
    """Every (ABI, frame kind) with the sigreturn that consumes the frame, in
    registry order, of the ABIs whose sigreturns the SROP guard checks (those
    with ``sigreturn_checks``): the seccomp filter's ret data is the index + 1
    (the ptrace backend builds the filter, the SROP guard reads its stops)."""
    return tuple((abi, kind) for abi in ABIS if abi.audit_arch and abi.sigreturn_checks
                 for kind in abi.frame_kinds)


@cache  # a fact of this process: read once
def native_abi() -> Abi:
    """The ABI of this process itself (the tracer's), from the ELF header of
    /proc/self/exe; where that cannot be read or is not an ABI of the table,
    the first ABI of the table with this process's pointer size."""
    try:
        with open("/proc/self/exe", "rb") as f:
            return by_elf_header(f.read(20))
    except (OSError, UsageError):
        word = struct.calcsize("P")
        return next(abi for abi in ABIS if abi.word == word)


# the names these lookups had in sigdbg/abi/abis.py
abi_by_name = by_name
abi_for_elf_header = by_elf_header
abi_for_regset_size = by_regset_size
abi_by_gdb_arch = by_gdb_name

__all__ = [
    "ABIS", "SCHEMA_KEYS", "Abi", "FrameKind", "HwBreakpoint", "SigreturnRules", "abi_by_gdb_arch",
    "abi_by_name", "abi_for_elf_header", "abi_for_regset_size", "abi_of_frame_kind",
    "all_frame_kinds", "by_elf", "by_elf_header", "by_gdb_name", "by_name", "by_regset_size",
    "frame_kind", "native_abi", "sigreturn_calls",
]
