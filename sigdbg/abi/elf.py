"""The one ELF reader: file header, program headers, section headers, notes.

The structs are :class:`~sigdbg.abi.layout.Layout` tables with the member
names of include/uapi/linux/elf.h (``Elf32_Ehdr``/``Elf64_Ehdr``,
``Elf32_Phdr``/``Elf64_Phdr``, ``Elf32_Shdr``/``Elf64_Shdr``,
``Elf32_Nhdr``/``Elf64_Nhdr``), one per class and byte order, decoded by the
generic decoder.  The functions here read those structs out of bytes the
caller has (a file's head, a vDSO read from a tracee, a table read from a
core); they never open a file or read memory themselves, so every caller
(the vDSO and library parser :mod:`sigdbg.decode.elfimage`, core files
:mod:`sigdbg.decode.corefile`, ABI detection :func:`sigdbg.abi.abis.abi_for_elf_header`,
the ``.eh_frame`` locator :mod:`sigdbg.decode.cfi`, the GDB side's core
finder) brings its own I/O and its own error wording.

It lives in ``abi`` (rank 1) and not in ``decode`` because ABI detection
reads an ELF header and ``abi`` may not import ``decode``.  It needs only
:mod:`struct` (GDB's Python loads it).  Symbols and symbol versions are not
read here: :mod:`sigdbg.decode.elfimage` takes them from pyelftools.

Every failure is an :class:`ElfError` (a :class:`~sigdbg.errors.DecodeError`)
with a one-line message; ``not_elf`` says whether the bytes are no ELF at all
(bad magic, class or byte order, too short for ``e_ident``) rather than a
damaged one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from sigdbg.abi.layout import Decoded, Field, Layout
from sigdbg.errors import DecodeError

__all__ = [
    "ELFMAG", "ET_CORE", "ET_DYN", "ET_EXEC", "PN_XNUM", "PT_DYNAMIC", "PT_GNU_EH_FRAME",
    "PT_LOAD", "PT_NOTE", "SHT_NOBITS", "SHT_NOTE",
    "ElfError", "ElfHeader", "ElfIdent", "ElfNoteRecord", "ProgramHeader", "SectionHeader",
    "ehdr_layout", "nhdr_layout", "phdr_layout", "read_header", "read_ident", "read_notes",
    "read_program_headers", "read_section_headers", "shdr_layout",
]

# include/uapi/linux/elf.h
ELFMAG = b"\x7fELF"
EI_NIDENT = 16
ET_EXEC, ET_DYN, ET_CORE = 2, 3, 4
PT_LOAD, PT_DYNAMIC, PT_NOTE = 1, 2, 4
PT_GNU_EH_FRAME = 0x6474E550
#: e_phnum when the real count lives in section header 0's sh_info
PN_XNUM = 0xFFFF
SHT_NOTE, SHT_NOBITS = 7, 8

#: bytes of e_ident plus e_type and e_machine: the same in both classes
IDENT_SIZE = 20

Endian = Literal["<", ">"]
#: what the table readers take: a slice of a large image need not be copied
Buffer = bytes | bytearray | memoryview


class ElfError(DecodeError):
    """The bytes are not a readable ELF structure; the message is one line."""

    def __init__(self, message: str, *, not_elf: bool = False) -> None:
        super().__init__(message)
        self.not_elf = not_elf


# --------------------------------------------------------------------------
# The structs as Layout tables (include/uapi/linux/elf.h)


def _table(name: str, endian: Endian, spec: tuple[tuple[str, int], ...]) -> Layout:
    out: list[Field] = []
    at = 0
    for member, size in spec:
        kind = "bytes" if member == "e_ident" else "u"
        out.append(Field(member, at, size, kind))
        at += size
    order = "little" if endian == "<" else "big"
    return Layout(name, at, tuple(out), f"include/uapi/linux/elf.h ({order} endian)", endian)


_EHDR_SPEC = {
    32: (("e_ident", EI_NIDENT), ("e_type", 2), ("e_machine", 2), ("e_version", 4),
         ("e_entry", 4), ("e_phoff", 4), ("e_shoff", 4), ("e_flags", 4), ("e_ehsize", 2),
         ("e_phentsize", 2), ("e_phnum", 2), ("e_shentsize", 2), ("e_shnum", 2),
         ("e_shstrndx", 2)),
    64: (("e_ident", EI_NIDENT), ("e_type", 2), ("e_machine", 2), ("e_version", 4),
         ("e_entry", 8), ("e_phoff", 8), ("e_shoff", 8), ("e_flags", 4), ("e_ehsize", 2),
         ("e_phentsize", 2), ("e_phnum", 2), ("e_shentsize", 2), ("e_shnum", 2),
         ("e_shstrndx", 2)),
}
# Elf32_Phdr puts p_flags after p_memsz; Elf64_Phdr after p_type (alignment)
_PHDR_SPEC = {
    32: (("p_type", 4), ("p_offset", 4), ("p_vaddr", 4), ("p_paddr", 4), ("p_filesz", 4),
         ("p_memsz", 4), ("p_flags", 4), ("p_align", 4)),
    64: (("p_type", 4), ("p_flags", 4), ("p_offset", 8), ("p_vaddr", 8), ("p_paddr", 8),
         ("p_filesz", 8), ("p_memsz", 8), ("p_align", 8)),
}
_SHDR_SPEC = {
    32: (("sh_name", 4), ("sh_type", 4), ("sh_flags", 4), ("sh_addr", 4), ("sh_offset", 4),
         ("sh_size", 4), ("sh_link", 4), ("sh_info", 4), ("sh_addralign", 4),
         ("sh_entsize", 4)),
    64: (("sh_name", 4), ("sh_type", 4), ("sh_flags", 8), ("sh_addr", 8), ("sh_offset", 8),
         ("sh_size", 8), ("sh_link", 4), ("sh_info", 4), ("sh_addralign", 8),
         ("sh_entsize", 8)),
}
# Elf64_Nhdr has the same three 4-byte words as Elf32_Nhdr
_NHDR_SPEC = (("n_namesz", 4), ("n_descsz", 4), ("n_type", 4))


@cache
def ehdr_layout(bits: int, endian: Endian) -> Layout:
    """``Elf32_Ehdr``/``Elf64_Ehdr`` in one byte order."""
    return _table(f"Elf{bits}_Ehdr", endian, _EHDR_SPEC[bits])


@cache
def phdr_layout(bits: int, endian: Endian) -> Layout:
    """``Elf32_Phdr``/``Elf64_Phdr`` in one byte order."""
    return _table(f"Elf{bits}_Phdr", endian, _PHDR_SPEC[bits])


@cache
def shdr_layout(bits: int, endian: Endian) -> Layout:
    """``Elf32_Shdr``/``Elf64_Shdr`` in one byte order."""
    return _table(f"Elf{bits}_Shdr", endian, _SHDR_SPEC[bits])


@cache
def nhdr_layout(endian: Endian) -> Layout:
    """``Elf32_Nhdr`` (= ``Elf64_Nhdr``) in one byte order."""
    return _table("Elf32_Nhdr", endian, _NHDR_SPEC)


# --------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ElfIdent:
    """``e_ident`` (class and byte order) with ``e_type`` and ``e_machine``:
    what the first 20 bytes of any ELF file say."""

    bits: int  #: 32 (ELFCLASS32) or 64 (ELFCLASS64)
    endian: Endian  #: "<" (ELFDATA2LSB) or ">" (ELFDATA2MSB)
    e_type: int
    e_machine: int

    @property
    def ei_class(self) -> int:
        return 1 if self.bits == 32 else 2


@dataclass(frozen=True)
class ElfHeader(ElfIdent):
    """The whole ``Elf32_Ehdr``/``Elf64_Ehdr``."""

    e_version: int
    e_entry: int
    e_phoff: int
    e_shoff: int
    e_flags: int
    e_ehsize: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int
    e_shstrndx: int
    ei_osabi: int = 0

    @property
    def phdr_size(self) -> int:
        """The size of ``Elf*_Phdr`` of this class (e_phentsize may be larger)."""
        return phdr_layout(self.bits, self.endian).size

    @property
    def shdr_size(self) -> int:
        return shdr_layout(self.bits, self.endian).size


@dataclass(frozen=True)
class ProgramHeader:
    """One ``Elf*_Phdr``."""

    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_align: int


@dataclass(frozen=True)
class SectionHeader:
    """One ``Elf*_Shdr``."""

    sh_name: int
    sh_type: int
    sh_flags: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    sh_info: int
    sh_addralign: int
    sh_entsize: int


@dataclass(frozen=True)
class ElfNoteRecord:
    """One ``Elf*_Nhdr`` with its name (the owner, NUL cut off) and desc.
    ``offset`` is where the record starts in the blob it was read from."""

    owner: str
    n_type: int
    desc: bytes
    offset: int
    n_namesz: int
    n_descsz: int


# --------------------------------------------------------------------------
# Readers


def read_ident(data: bytes) -> ElfIdent:
    """Class, byte order, ``e_type`` and ``e_machine`` from the first 20 bytes."""
    if len(data) < 4:
        raise ElfError(f"only {len(data)} bytes", not_elf=True)
    if data[:4] != ELFMAG:
        raise ElfError(f"bad magic {data[:4].hex(' ')}", not_elf=True)
    if len(data) < 6:
        raise ElfError(f"only {len(data)} bytes", not_elf=True)
    bits = {1: 32, 2: 64}.get(data[4])
    if bits is None:
        raise ElfError(f"bad EI_CLASS {data[4]}", not_elf=True)
    endian: Endian
    if data[5] == 1:
        endian = "<"
    elif data[5] == 2:
        endian = ">"
    else:
        raise ElfError(f"bad EI_DATA {data[5]}", not_elf=True)
    if len(data) < IDENT_SIZE:
        raise ElfError(f"truncated ELF header ({len(data)} bytes)")
    order: Literal["little", "big"] = "little" if endian == "<" else "big"
    return ElfIdent(bits, endian, int.from_bytes(data[16:18], order),
                    int.from_bytes(data[18:20], order))


def _ints(decoded: Decoded) -> dict[str, int]:
    """The integer members of a decoded header (e_ident, the one bytes member, left out)."""
    return {k: v for k, v in decoded.items() if isinstance(v, int)}


def read_header(data: bytes) -> ElfHeader:
    """The ELF file header at the start of ``data`` (52 or 64 bytes suffice)."""
    ident = read_ident(data)
    layout = ehdr_layout(ident.bits, ident.endian)
    if len(data) < layout.size:
        raise ElfError(f"truncated ELF header ({len(data)} bytes, Elf{ident.bits}_Ehdr "
                       f"has {layout.size})")
    return ElfHeader(bits=ident.bits, endian=ident.endian, ei_osabi=data[7],
                     **_ints(layout.decode(data)))


def _check_entsize(entsize: int, minimum: int, what: str) -> None:
    if entsize < minimum:
        raise ElfError(f"{what} {entsize} too small (at least {minimum})")


def read_program_headers(table: Buffer, hdr: ElfHeader,
                         count: int | None = None) -> tuple[ProgramHeader, ...]:
    """The program headers in ``table`` (the bytes at ``e_phoff``).

    ``count`` overrides ``e_phnum`` (:data:`PN_XNUM`: the caller read the real
    count from section header 0's ``sh_info``).  Entries are ``e_phentsize``
    apart; each is decoded as the class's ``Elf*_Phdr``.
    """
    n = hdr.e_phnum if count is None else count
    if n == 0:
        return ()
    layout = phdr_layout(hdr.bits, hdr.endian)
    _check_entsize(hdr.e_phentsize, layout.size, "e_phentsize")
    need = (n - 1) * hdr.e_phentsize + layout.size
    if len(table) < need:
        raise ElfError(f"program header table needs {need:#x} bytes, {len(table):#x} given")
    read = layout.int_members("")  # one compiled unpack per entry
    return tuple(ProgramHeader(**read(table, i * hdr.e_phentsize)[0]) for i in range(n))


def read_section_headers(table: Buffer, hdr: ElfHeader,
                         count: int | None = None) -> tuple[SectionHeader, ...]:
    """The section headers in ``table`` (the bytes at ``e_shoff``).

    ``count`` overrides ``e_shnum`` (0 with ``e_shoff`` set means extended
    numbering: the count is section header 0's ``sh_size``).
    """
    n = hdr.e_shnum if count is None else count
    if n == 0:
        return ()
    layout = shdr_layout(hdr.bits, hdr.endian)
    _check_entsize(hdr.e_shentsize, layout.size, "e_shentsize")
    need = (n - 1) * hdr.e_shentsize + layout.size
    if len(table) < need:
        raise ElfError(f"section header table needs {need:#x} bytes, {len(table):#x} given")
    read = layout.int_members("")
    return tuple(SectionHeader(**read(table, i * hdr.e_shentsize)[0]) for i in range(n))


def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


def read_notes(blob: bytes, endian: Endian, align: int = 4, *,
               strict: bool = False) -> tuple[ElfNoteRecord, ...]:
    """The ``Elf*_Nhdr`` records of a note segment or section.

    Name and desc are padded to 4 bytes; records to ``align`` (4, or 8 for
    ``PT_NOTE``/``SHT_NOTE`` with 8-byte alignment, e.g. GNU property notes;
    the kernel's core notes use 4 also in 64-bit cores, fs/binfmt_elf.c
    ``writenote``).  A record that runs past the blob ends the walk; with
    ``strict`` it is an :class:`ElfError` instead.
    """
    layout = nhdr_layout(endian)
    read = layout.int_members("")
    out: list[ElfNoteRecord] = []
    pos = 0
    while pos + layout.size <= len(blob):
        d = read(blob, pos)[0]
        namesz, descsz, ntype = d["n_namesz"], d["n_descsz"], d["n_type"]
        name_at = pos + layout.size
        desc_at = name_at + _align(namesz, 4)
        end = desc_at + descsz
        if end > len(blob):
            if strict:
                raise ElfError(f"note at {pos:#x} (namesz {namesz}, descsz {descsz}) runs "
                               f"past its PT_NOTE segment ({len(blob)} bytes)")
            break
        owner = blob[name_at:name_at + namesz].split(b"\0", 1)[0].decode("ascii", "replace")
        out.append(ElfNoteRecord(owner, ntype, blob[desc_at:end], pos, namesz, descsz))
        pos = _align(end, align)
    return tuple(out)
