"""Parse an ELF image held in memory: the vDSO or a shared library.

The bytes come either from a tracee's memory (the ``[vdso]`` mapping, read
through ``/proc/PID/mem``) or from a mapped file read from disk.  The result is
an immutable :class:`ElfImage`: header facts, the dynamic symbols with their
GNU symbol versions, the ELF notes (build id, the kernel's
``LINUX_VERSION_CODE`` note) and lookups by name and by address.

pyelftools is imported lazily, inside :func:`parse_elf_image`, so that this
module imports in a Python without it (GDB's).  :func:`image_size_from_headers`
needs only :mod:`struct` and works without pyelftools.

Every failure to understand the bytes surfaces as :class:`DecodeError` with a
one-line message; pyelftools' own exceptions never escape.
"""

from __future__ import annotations

import io
import os
import struct
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from sigdbg.errors import DecodeError, FeatureUnavailable

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

__all__ = [
    "ElfImage",
    "ElfNote",
    "ElfSymbol",
    "image_size_from_headers",
    "parse_elf_image",
    "read_elf_file_image",
]

# Symbol types that name code or data and can therefore contain an address.
_ADDRESSABLE_TYPES = frozenset({"FUNC", "OBJECT", "IFUNC"})
# Names the kernel gives the real vDSO entry points (the unprefixed ones are
# weak aliases of them).
_PREFERRED_PREFIXES = ("__vdso_", "__kernel_")
_BIND_RANK = {"GLOBAL": 0, "UNIQUE": 0, "WEAK": 1}

_VERSYM_HIDDEN = 0x8000
_VERSYM_VERSION = 0x7FFF
_VER_FLG_BASE = 0x1

# Note names, by owner then type.  The "Linux" ones are the kernel's own
# (include/linux/elfnote.h, the vDSO's note.S); readelf misnames 0x100.
_NOTE_TYPE_NAMES: dict[str, dict[int, str]] = {
    "GNU": {
        1: "NT_GNU_ABI_TAG",
        2: "NT_GNU_HWCAP",
        3: "NT_GNU_BUILD_ID",
        4: "NT_GNU_GOLD_VERSION",
        5: "NT_GNU_PROPERTY_TYPE_0",
    },
    "Linux": {
        0: "LINUX_VERSION_CODE",
        0x100: "LINUX_ELFNOTE_BUILD_SALT",
        0x101: "LINUX_ELFNOTE_LTO_INFO",
    },
}
_NT_GNU_BUILD_ID = 3
_NT_LINUX_VERSION = 0


# --------------------------------------------------------------------------
# Result types


@dataclass(frozen=True)
class ElfSymbol:
    """One symbol of ``.dynsym`` (or ``.symtab``).

    ``value`` is ``st_value``: an address in the image's own link-time address
    space (for the vDSO, an offset from its start).  ``type`` and ``bind`` are
    spelled as readelf prints them (``FUNC``, ``OBJECT``, ``NOTYPE``,
    ``IFUNC`` ...; ``GLOBAL``, ``WEAK``, ``LOCAL``, ``UNIQUE``).  ``section``
    is the section index, or ``"UND"``, ``"ABS"``, ``"COM"`` for the special
    indexes, as in readelf's ``Ndx`` column.

    ``version`` is the GNU symbol version from ``.gnu.version`` resolved
    through ``.gnu.version_d`` (defined symbols) or ``.gnu.version_r``
    (undefined ones); ``None`` for unversioned symbols.  In ``.symtab`` the
    linker spells versions into the names (``foo@@VERS_2``); they are split
    off the same way.  ``version_hidden`` is the versym hidden bit: the symbol is a
    non-default version, reachable only by explicit version.  ``table`` says
    which symbol table the symbol came from (``"dynsym"`` or ``"symtab"``).
    """

    name: str
    value: int
    size: int
    type: str
    bind: str
    version: str | None
    version_hidden: bool
    section: str | int
    table: str = "dynsym"

    @property
    def defined(self) -> bool:
        return self.section != "UND"

    @property
    def versioned_name(self) -> str:
        """The name as ``readelf --dyn-syms`` prints it.

        ``name@@VERSION`` for a defined symbol's default version (e.g.
        ``__vdso_clock_gettime@@LINUX_2.6``), ``name@VERSION`` for a hidden
        (non-default) version and for an undefined symbol's required version,
        plain ``name`` when unversioned and for a version's own marker symbol
        (the ``ABS`` symbol ``LINUX_2.6`` of version ``LINUX_2.6``).
        """
        if self.version is None:
            return self.name
        if not self.defined:
            return f"{self.name}@{self.version}"
        if self.name == self.version:
            return self.name
        return f"{self.name}{'@' if self.version_hidden else '@@'}{self.version}"


@dataclass(frozen=True)
class ElfNote:
    """One ELF note.  ``type_name`` is the symbolic name when the owner/type
    pair is known (``NT_GNU_BUILD_ID``, ``LINUX_VERSION_CODE`` ...), else the
    type in hex."""

    owner: str
    type: int
    type_name: str
    desc: bytes


@dataclass(frozen=True)
class ElfImage:
    """A parsed ELF image.  Build it with :func:`parse_elf_image`.

    ``machine`` is the ``e_machine`` name (``EM_X86_64``, ``EM_386``,
    ``EM_ARM``, ``EM_AARCH64``; ``EM_<n>`` if unknown).  ``symbols`` are the
    dynamic symbols in table order without the null entry 0, followed by the
    ``.symtab`` ones when requested.  ``version_definitions`` are the names
    defined in ``.gnu.version_d`` in index order, without the BASE entry
    (which repeats the soname).  ``linux_version`` is the kernel's
    ``LINUX_VERSION_CODE`` note (``(major << 16) | (minor << 8) | patch``).
    ``load_bias_hint`` is the lowest ``PT_LOAD`` ``p_vaddr``: the load bias of
    a mapping at ``base`` is ``base - load_bias_hint``.  ``size`` is the extent
    the headers describe (segments' file data and the section header table).
    """

    elfclass: int
    machine: str
    entry: int
    soname: str | None
    symbols: tuple[ElfSymbol, ...]
    version_definitions: tuple[str, ...]
    notes: tuple[ElfNote, ...]
    build_id: str | None
    linux_version: int | None
    load_bias_hint: int
    size: int

    @property
    def linux_version_tuple(self) -> tuple[int, int, int] | None:
        """``linux_version`` split into ``(major, minor, patch)``."""
        v = self.linux_version
        if v is None:
            return None
        return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)

    @cached_property
    def _by_name(self) -> dict[str, tuple[ElfSymbol, ...]]:
        index: dict[str, list[ElfSymbol]] = {}
        for sym in self.symbols:
            index.setdefault(sym.name, []).append(sym)
        return {
            name: tuple(sorted(syms, key=_lookup_rank))
            for name, syms in index.items()
        }

    @cached_property
    def _by_address(self) -> tuple[tuple[int, ...], tuple[ElfSymbol, ...], int]:
        syms = sorted(
            (
                s
                for s in self.symbols
                if s.type in _ADDRESSABLE_TYPES and isinstance(s.section, int)
            ),
            key=lambda s: s.value,
        )
        largest = max((max(s.size, 1) for s in syms), default=1)
        return tuple(s.value for s in syms), tuple(syms), largest

    def lookup(self, name: str) -> ElfSymbol | None:
        """The symbol called ``name``.

        ``name@VERSION`` / ``name@@VERSION`` select a version.  Among several
        candidates a defined symbol beats an undefined one, the default version
        beats hidden ones, ``.dynsym`` beats ``.symtab``.
        """
        version: str | None = None
        if "@" in name and not name.startswith("@"):
            name, _, version = name.partition("@")
            version = version.lstrip("@")
        candidates = self._by_name.get(name, ())
        if version is not None:
            candidates = tuple(s for s in candidates if s.version == version)
        return candidates[0] if candidates else None

    def symbol_at(self, offset: int) -> tuple[ElfSymbol, int] | None:
        """The FUNC/OBJECT symbol containing ``offset`` and the offset into it.

        ``offset`` is in the same address space as ``st_value`` (for the vDSO:
        runtime address minus the mapping's start).  A symbol covers
        ``value <= offset < value + max(size, 1)``.  Among overlapping
        candidates (the vDSO's ``__vdso_time`` and its weak alias ``time``)
        sized symbols win over zero-sized ones, then GLOBAL over WEAK over
        LOCAL, then ``__vdso_``/``__kernel_`` names, then default versions,
        then ``.dynsym`` entries, then names with fewer leading underscores.
        """
        values, syms, largest = self._by_address
        hits: list[ElfSymbol] = []
        i = bisect_right(values, offset) - 1
        while i >= 0 and values[i] > offset - largest:
            sym = syms[i]
            if offset < sym.value + max(sym.size, 1):
                hits.append(sym)
            i -= 1
        if not hits:
            return None
        best = min(hits, key=_address_rank)
        return best, offset - best.value


    def label_at(self, offset: int) -> ElfSymbol | None:
        """A defined NOTYPE symbol starting exactly at ``offset``: the arm64
        vDSO's ``__kernel_rt_sigreturn`` is a ``SYM_CODE_START`` label, not a
        FUNC (arch/arm64/kernel/vdso/sigreturn.S), so :meth:`symbol_at` does
        not see it.  ARM mapping symbols (``$x``, ``$d``) are not names."""
        hits = [s for s in self.symbols
                if s.type == "NOTYPE" and s.value == offset and isinstance(s.section, int)
                and s.name and not s.name.startswith("$")]
        return min(hits, key=_address_rank) if hits else None


def _lookup_rank(sym: ElfSymbol) -> tuple[int, int, int]:
    return (
        0 if sym.defined else 1,
        1 if sym.version_hidden else 0,
        0 if sym.table == "dynsym" else 1,
    )


def _address_rank(sym: ElfSymbol) -> tuple[int, int, int, int, int, int, str]:
    return (
        0 if sym.size > 0 else 1,
        _BIND_RANK.get(sym.bind, 2),
        0 if sym.name.startswith(_PREFERRED_PREFIXES) else 1,
        1 if sym.version_hidden else 0,
        0 if sym.table == "dynsym" else 1,
        # Otherwise the public spelling: printf over _IO_printf.
        len(sym.name) - len(sym.name.lstrip("_")),
        sym.name,
    )


# --------------------------------------------------------------------------
# Header arithmetic with struct only (works without pyelftools)


class _Header(NamedTuple):
    elfclass: int
    endian: str  # struct byte-order prefix
    machine: int
    entry: int
    phoff: int
    shoff: int
    ehsize: int
    phentsize: int
    phnum: int
    shentsize: int
    shnum: int


_EHDR = {
    32: "HHIIIIIHHHHHH",
    64: "HHIQQQIHHHHHH",
}
_PHDR_MIN = {32: 32, 64: 56}
_SHDR_MIN = {32: 40, 64: 64}


def _read_header(data: bytes) -> _Header:
    if len(data) < 16:
        raise DecodeError(f"not an ELF image: only {len(data)} bytes")
    if data[:4] != b"\x7fELF":
        raise DecodeError(f"not an ELF image: bad magic {data[:4].hex(' ')}")
    klass = {1: 32, 2: 64}.get(data[4])
    if klass is None:
        raise DecodeError(f"not an ELF image: bad EI_CLASS {data[4]}")
    endian = {1: "<", 2: ">"}.get(data[5])
    if endian is None:
        raise DecodeError(f"not an ELF image: bad EI_DATA {data[5]}")
    fmt = struct.Struct(endian + _EHDR[klass])
    if len(data) < 16 + fmt.size:
        raise DecodeError(
            f"not an ELF image: truncated ELF header ({len(data)} bytes)"
        )
    (_type, machine, _version, entry, phoff, shoff, _flags, ehsize,
     phentsize, phnum, shentsize, shnum, _shstrndx) = fmt.unpack_from(data, 16)
    return _Header(klass, endian, machine, entry, phoff, shoff, ehsize,
                   phentsize, phnum, shentsize, shnum)


def _iter_phdrs(data: bytes, hdr: _Header) -> list[tuple[int, int, int, int]]:
    """(p_type, p_offset, p_vaddr, p_filesz) of every program header."""
    if hdr.phnum == 0:
        return []
    if hdr.phentsize < _PHDR_MIN[hdr.elfclass]:
        raise DecodeError(
            f"malformed ELF image: e_phentsize {hdr.phentsize} too small"
        )
    end = hdr.phoff + hdr.phnum * hdr.phentsize
    if end > len(data):
        raise DecodeError(
            f"malformed ELF image: program headers end at {end:#x}, "
            f"beyond the {len(data):#x} bytes given"
        )
    out = []
    for i in range(hdr.phnum):
        off = hdr.phoff + i * hdr.phentsize
        if hdr.elfclass == 32:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(
                hdr.endian + "IIIII", data, off)
        else:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = (
                struct.unpack_from(hdr.endian + "IIQQQQ", data, off))
        out.append((p_type, p_offset, p_vaddr, p_filesz))
    return out


def _extent(data: bytes, hdr: _Header) -> int:
    size = max(hdr.ehsize, 16)
    if hdr.phnum:
        size = max(size, hdr.phoff + hdr.phnum * hdr.phentsize)
    for _type, p_offset, _vaddr, p_filesz in _iter_phdrs(data, hdr):
        size = max(size, p_offset + p_filesz)
    if hdr.shoff:
        count = hdr.shnum
        if count == 0:
            # Extended numbering: the real count is section 0's sh_size.
            if hdr.shentsize < _SHDR_MIN[hdr.elfclass]:
                raise DecodeError(
                    f"malformed ELF image: e_shentsize {hdr.shentsize} too small"
                )
            fmt = "I" if hdr.elfclass == 32 else "Q"
            pos = hdr.shoff + (20 if hdr.elfclass == 32 else 32)
            if pos + struct.calcsize(fmt) > len(data):
                raise DecodeError(
                    "malformed ELF image: extended section count lies in "
                    f"section header 0 at {hdr.shoff:#x}, beyond the bytes given"
                )
            (count,) = struct.unpack_from(hdr.endian + fmt, data, pos)
        size = max(size, hdr.shoff + count * hdr.shentsize)
    return size


def image_size_from_headers(data: bytes) -> int:
    """How many bytes hold the whole ELF image whose start is ``data``.

    ``data`` needs only the ELF and program headers (the first page of a
    vDSO).  The answer is the larger of the end of the segments' file data and
    the end of the section header table, which a vDSO keeps at its very end.
    """
    return _extent(data, _read_header(data))


# --------------------------------------------------------------------------
# An image in a file: read what the headers describe, not the file

#: the most sigdbg reads of one mapped file to name symbols in it
MAX_FILE_IMAGE = 256 << 20
_SHT_NOBITS = 8


def _pread_exact(fd: int, offset: int, size: int, file_size: int, what: str) -> bytes:
    if offset < 0 or offset + size > file_size:
        raise DecodeError(
            f"truncated ELF file: {what} at {offset:#x}+{size:#x}, "
            f"the file has {file_size:#x} bytes")
    if size > MAX_FILE_IMAGE:
        raise DecodeError(f"ELF file too large to read: {what} is {size:#x} bytes")
    parts = []
    got = 0
    while got < size:
        chunk = os.pread(fd, size - got, offset + got)
        if not chunk:  # the file shrank meanwhile
            raise DecodeError(f"truncated ELF file: {what} ends early")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_elf_file_image(fd: int, file_size: int) -> bytes:
    """The ELF image at the start of the open regular file ``fd``.

    Only what the headers describe is read: the segments' file data, the
    section header table and every section's contents (a ``.symtab`` may
    follow the last segment).  The rest of a file larger than its image
    (a 100 GiB file with an ELF header) is never touched, and an image whose
    headers claim more than :data:`MAX_FILE_IMAGE` bytes is refused with a
    :class:`DecodeError` before anything but its headers is read.
    """
    head = os.pread(fd, 64, 0)
    hdr = _read_header(head)
    size = max(hdr.ehsize, 16)
    if hdr.phnum:
        table = _pread_exact(fd, hdr.phoff, hdr.phnum * hdr.phentsize, file_size,
                             "the program headers")
        size = max(size, hdr.phoff + len(table))
        for _type, p_offset, _vaddr, p_filesz in _iter_phdrs(table, hdr._replace(phoff=0)):
            size = max(size, p_offset + p_filesz)
    if hdr.shoff:
        if hdr.shentsize < _SHDR_MIN[hdr.elfclass]:
            raise DecodeError(f"malformed ELF image: e_shentsize {hdr.shentsize} too small")
        count = hdr.shnum
        fmt = hdr.endian + ("IIIIIIIIII" if hdr.elfclass == 32 else "IIQQQQIIQQ")
        if count == 0:  # extended numbering: the count is section 0's sh_size
            first = _pread_exact(fd, hdr.shoff, hdr.shentsize, file_size,
                                 "section header 0")
            count = struct.unpack_from(fmt, first)[5]
        table = _pread_exact(fd, hdr.shoff, count * hdr.shentsize, file_size,
                             "the section headers")
        size = max(size, hdr.shoff + len(table))
        for i in range(count):
            (_name, sh_type, _flags, _addr, sh_offset, sh_size,
             *_rest) = struct.unpack_from(fmt, table, i * hdr.shentsize)
            if sh_type != _SHT_NOBITS and sh_size:
                size = max(size, sh_offset + sh_size)
    return _pread_exact(fd, 0, size, file_size, "the image its headers describe")


# --------------------------------------------------------------------------
# Notes (parsed by hand: pyelftools renames and re-decodes them)


def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


def _parse_notes(blob: bytes, endian: str, align: int) -> list[ElfNote]:
    head = struct.Struct(endian + "III")
    notes = []
    pos = 0
    while pos + head.size <= len(blob):
        namesz, descsz, ntype = head.unpack_from(blob, pos)
        name_at = pos + head.size
        desc_at = name_at + _align(namesz, 4)
        desc_end = desc_at + descsz
        if desc_end > len(blob):
            break  # truncated or garbage: keep what was readable
        owner = blob[name_at:name_at + namesz].split(b"\0", 1)[0]
        owner_s = owner.decode("ascii", "replace")
        type_name = _NOTE_TYPE_NAMES.get(owner_s, {}).get(ntype, f"{ntype:#x}")
        notes.append(ElfNote(owner_s, ntype, type_name, blob[desc_at:desc_end]))
        pos = _align(desc_end, align)
    return notes


# --------------------------------------------------------------------------
# The pyelftools part


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def parse_elf_image(data: bytes, *, include_symtab: bool = False) -> ElfImage:
    """Parse the ELF image in ``data`` (a whole image, see
    :func:`image_size_from_headers`).

    With ``include_symtab`` the static ``.symtab`` symbols follow the dynamic
    ones (many distributions strip ``.symtab`` from their libraries).
    """
    data = bytes(data)
    hdr = _read_header(data)
    need = _extent(data, hdr)
    if need > len(data):
        raise DecodeError(
            f"truncated ELF image: its headers describe {need:#x} bytes, "
            f"only {len(data):#x} given"
        )
    try:
        from elftools.common.exceptions import ELFError
        from elftools.construct.core import ConstructError
        from elftools.elf.elffile import ELFFile
    except ImportError:
        raise FeatureUnavailable(
            "pyelftools is not installed: ELF parsing unavailable"
        ) from None

    try:
        return _parse(ELFFile(io.BytesIO(data)), data, hdr, need, include_symtab)
    except DecodeError:
        raise
    except (ELFError, ConstructError, ValueError, struct.error, IndexError,
            KeyError, TypeError, AttributeError, AssertionError,
            OverflowError, RecursionError, MemoryError) as err:
        raise DecodeError(f"malformed ELF image: {_one_line(err)}") from err


def _section_code(shndx: Any) -> str | int:
    if isinstance(shndx, int):
        return shndx
    return {"SHN_UNDEF": "UND", "SHN_ABS": "ABS", "SHN_COMMON": "COM"}.get(
        str(shndx), str(shndx))


def _sym_type(value: Any) -> str:
    text = str(value)
    if text == "STT_LOOS":
        return "IFUNC"  # STT_GNU_IFUNC
    return text.removeprefix("STT_")


def _sym_bind(value: Any) -> str:
    text = str(value)
    if text == "STB_LOOS":
        return "UNIQUE"  # STB_GNU_UNIQUE
    return text.removeprefix("STB_")


def _section_bytes(data: bytes, sec: Any) -> bytes:
    off, size = int(sec["sh_offset"]), int(sec["sh_size"])
    if off + size > len(data):
        raise DecodeError(
            f"malformed ELF image: section {sec.name!r} at {off:#x}+{size:#x} "
            f"lies beyond the {len(data):#x} bytes given"
        )
    return data[off:off + size]


def _cstr(blob: bytes, off: int) -> str:
    if not 0 <= off < len(blob):
        raise DecodeError(f"malformed ELF image: string offset {off:#x} out of range")
    end = blob.find(b"\0", off)
    return blob[off:end if end >= 0 else len(blob)].decode("utf-8", "replace")


def _walk(blob: bytes, first: int, limit: int, size: int,
          next_of: Any) -> list[int]:
    """Offsets of a chain of records linked by relative ``next`` fields.

    Bounded by ``limit`` records, by the blob, and against cycles (a corrupt
    chain must not make the walk endless).
    """
    out: list[int] = []
    seen: set[int] = set()
    pos = first
    while len(out) < limit and 0 <= pos and pos + size <= len(blob):
        if pos in seen:
            break
        seen.add(pos)
        out.append(pos)
        step = int(next_of(pos))
        if step == 0:
            break
        pos += step
    return out


def _parse_verdef(blob: bytes, strtab: bytes, endian: str,
                  count: int) -> list[tuple[int, int, str]]:
    """(vd_ndx, vd_flags, first name) of each version definition."""
    vd = struct.Struct(endian + "HHHHIII")
    vda = struct.Struct(endian + "II")
    out = []
    for pos in _walk(blob, 0, count, vd.size,
                     lambda p: vd.unpack_from(blob, p)[6]):
        _ver, flags, ndx, cnt, _hash, aux, _next = vd.unpack_from(blob, pos)
        if cnt == 0 or pos + aux + vda.size > len(blob):
            continue
        (name_off, _anext) = vda.unpack_from(blob, pos + aux)
        out.append((ndx, flags, _cstr(strtab, name_off)))
    return out


def _parse_verneed(blob: bytes, strtab: bytes, endian: str,
                   count: int) -> dict[int, str]:
    """vna_other -> version name of every needed version."""
    vn = struct.Struct(endian + "HHIII")
    vna = struct.Struct(endian + "IHHII")
    out: dict[int, str] = {}
    for pos in _walk(blob, 0, count, vn.size,
                     lambda p: vn.unpack_from(blob, p)[4]):
        _ver, cnt, _file, aux, _next = vn.unpack_from(blob, pos)
        for apos in _walk(blob, pos + aux, cnt, vna.size,
                          lambda p: vna.unpack_from(blob, p)[4]):
            _hash, _flags, other, name_off, _anext = vna.unpack_from(blob, apos)
            out[other] = _cstr(strtab, name_off)
    return out


def _parse(elf: ELFFile, data: bytes, hdr: _Header, need: int,
           include_symtab: bool) -> ElfImage:
    from elftools.elf.dynamic import DynamicSection, DynamicSegment
    from elftools.elf.sections import SymbolTableSection

    sections = list(elf.iter_sections())

    def linked_strtab(sec: Any) -> bytes:
        link = int(sec["sh_link"])
        if not 0 < link < len(sections):
            raise DecodeError(
                f"malformed ELF image: section {sec.name!r} links to "
                f"section {link}, which does not exist"
            )
        return _section_bytes(data, sections[link])

    verdefs: dict[int, str] = {}
    version_names: list[str] = []
    verneeds: dict[int, str] = {}
    versyms: tuple[int, ...] = ()
    dynsym: Any = None
    symtab: SymbolTableSection | None = None
    dynamic: Any = None
    notes: list[ElfNote] = []

    for section in sections:
        sh_type = section["sh_type"]
        if sh_type == "SHT_GNU_verdef":
            for ndx, flags, name in _parse_verdef(
                _section_bytes(data, section), linked_strtab(section),
                hdr.endian, int(section["sh_info"]),
            ):
                verdefs[ndx] = name
                if not flags & _VER_FLG_BASE:
                    version_names.append(name)
        elif sh_type == "SHT_GNU_verneed":
            verneeds.update(_parse_verneed(
                _section_bytes(data, section), linked_strtab(section),
                hdr.endian, int(section["sh_info"]),
            ))
        elif sh_type == "SHT_GNU_versym":
            blob = _section_bytes(data, section)
            versyms = struct.unpack_from(
                f"{hdr.endian}{len(blob) // 2}H", blob)
        elif isinstance(section, SymbolTableSection):
            if sh_type == "SHT_DYNSYM":
                dynsym = section
            elif sh_type == "SHT_SYMTAB":
                symtab = section
        elif isinstance(section, DynamicSection):
            dynamic = section
        elif sh_type == "SHT_NOTE":
            align = 8 if section["sh_addralign"] == 8 else 4
            notes.extend(_parse_notes(
                _section_bytes(data, section), hdr.endian, align))

    loads: list[int] = []
    for seg in elf.iter_segments():
        p_type = seg["p_type"]
        if p_type == "PT_LOAD":
            loads.append(seg["p_vaddr"])
        elif p_type == "PT_DYNAMIC" and isinstance(seg, DynamicSegment):
            if dynamic is None:
                dynamic = seg
            if dynsym is None and elf.num_sections() == 0:
                dynsym = seg  # no section headers: symbols via DT_SYMTAB
        elif p_type == "PT_NOTE" and elf.num_sections() == 0:
            align = 8 if seg["p_align"] == 8 else 4
            blob = data[seg["p_offset"]:seg["p_offset"] + seg["p_filesz"]]
            notes.extend(_parse_notes(blob, hdr.endian, align))

    soname: str | None = None
    if dynamic is not None:
        for tag in dynamic.iter_tags():
            if tag["d_tag"] == "DT_SONAME":
                soname = str(tag.soname)
                break

    symbols: list[ElfSymbol] = []
    if dynsym is not None:
        for i, sym in enumerate(dynsym.iter_symbols()):
            if i == 0:
                continue
            version: str | None = None
            hidden = False
            shndx = _section_code(sym["st_shndx"])
            if i < len(versyms):
                raw = versyms[i]
                index = raw & _VERSYM_VERSION
                if index > 1:
                    hidden = bool(raw & _VERSYM_HIDDEN)
                    if shndx != "UND" and index in verdefs:
                        version = verdefs[index]
                    else:
                        version = verneeds.get(index, verdefs.get(index))
                    if version is None:
                        hidden = False
            symbols.append(_symbol(sym, shndx, version, hidden, "dynsym"))
    if include_symtab and symtab is not None:
        for i, sym in enumerate(symtab.iter_symbols()):
            if i == 0:
                continue
            shndx = _section_code(sym["st_shndx"])
            # The linker leaves versions spelled into .symtab names
            # ("foo@@VERS_2", "puts@GLIBC_2.2.5"): split them off.
            name, version, hidden = str(sym.name), None, False
            at = name.find("@", 1)
            if at > 0:
                name, version = name[:at], name[at + 1:]
                hidden = shndx != "UND" and not version.startswith("@")
                version = version.lstrip("@") or None
            symbols.append(_symbol(sym, shndx, version, hidden, "symtab",
                                   name=name))

    build_id: str | None = None
    linux_version: int | None = None
    for note in notes:
        if note.owner == "GNU" and note.type == _NT_GNU_BUILD_ID:
            if build_id is None:
                build_id = note.desc.hex()
        elif (note.owner == "Linux" and note.type == _NT_LINUX_VERSION
              and len(note.desc) == 4 and linux_version is None):
            linux_version = int.from_bytes(
                note.desc, "little" if hdr.endian == "<" else "big")

    machine = elf["e_machine"]
    return ElfImage(
        elfclass=hdr.elfclass,
        machine=machine if isinstance(machine, str) else f"EM_{machine}",
        entry=hdr.entry,
        soname=soname,
        symbols=tuple(symbols),
        version_definitions=tuple(version_names),
        notes=tuple(notes),
        build_id=build_id,
        linux_version=linux_version,
        load_bias_hint=min(loads, default=0),
        size=need,
    )


def _symbol(sym: Any, section: str | int, version: str | None, hidden: bool,
            table: str, name: str | None = None) -> ElfSymbol:
    info = sym["st_info"]
    return ElfSymbol(
        name=str(sym.name) if name is None else name,
        value=int(sym["st_value"]),
        size=int(sym["st_size"]),
        type=_sym_type(info["type"]),
        bind=_sym_bind(info["bind"]),
        version=version,
        version_hidden=hidden,
        section=section,
        table=table,
    )
