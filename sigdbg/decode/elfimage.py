"""Parse an ELF image held in memory: the vDSO or a shared library (the parse half;
the models and the symbol decisions are in :mod:`sigdbg.decode.elfmodel`).

The bytes come either from a tracee's memory (the ``[vdso]`` mapping, read
through ``/proc/PID/mem``) or from a mapped file read from disk.  The result is
an immutable :class:`ElfImage`: header facts, the dynamic symbols with their
GNU symbol versions, the ELF notes (build id, the kernel's
``LINUX_VERSION_CODE`` note) and lookups by name and by address.

pyelftools is imported lazily, inside :func:`parse_elf_image`, so that this
module imports in a Python without it (GDB's).  The file header, program
headers, section headers and notes are read by the one ELF reader,
:mod:`sigdbg.abi.elf`; pyelftools gives the symbol tables and the dynamic
section.  :func:`image_size_from_headers` needs only that reader and works
without pyelftools.

Every failure to understand the bytes surfaces as :class:`DecodeError` with a
one-line message; pyelftools' own exceptions never escape.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sigdbg.abi.elf import (
    PT_LOAD,
    PT_NOTE,
    SHT_NOBITS,
    ElfError,
    ElfHeader,
    ProgramHeader,
    read_header,
    read_notes,
    read_program_headers,
    read_section_headers,
)
from sigdbg.decode.elfmodel import ElfImage, ElfNote, ElfSymbol
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
# Header arithmetic with struct only (works without pyelftools)


def _read_header(data: bytes) -> ElfHeader:
    try:
        return read_header(data)
    except ElfError as exc:
        raise DecodeError(f"not an ELF image: {exc}") from None


def _iter_phdrs(data: bytes, hdr: ElfHeader) -> tuple[ProgramHeader, ...]:
    """Every program header; ``data`` starts at the image (the table at e_phoff)."""
    try:
        return read_program_headers(memoryview(data)[hdr.e_phoff:], hdr)
    except ElfError as exc:
        raise DecodeError(f"malformed ELF image: {exc}") from None


def _section_count(data: bytes | memoryview, hdr: ElfHeader) -> int:
    """e_shnum, or with extended numbering (e_shnum 0) section 0's sh_size;
    ``data`` starts at the section header table."""
    if hdr.e_shnum:
        return hdr.e_shnum
    try:
        return read_section_headers(data, hdr, count=1)[0].sh_size
    except ElfError as exc:
        raise DecodeError(f"malformed ELF image: extended section count: {exc}") from None


def _extent(data: bytes, hdr: ElfHeader) -> int:
    size = max(hdr.e_ehsize, 16)
    if hdr.e_phnum:
        size = max(size, hdr.e_phoff + hdr.e_phnum * hdr.e_phentsize)
    for ph in _iter_phdrs(data, hdr):
        size = max(size, ph.p_offset + ph.p_filesz)
    if hdr.e_shoff:
        count = _section_count(memoryview(data)[hdr.e_shoff:], hdr)
        size = max(size, hdr.e_shoff + count * hdr.e_shentsize)
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
    hdr = _read_header(os.pread(fd, 64, 0))
    size = max(hdr.e_ehsize, 16)
    if hdr.e_phnum:
        table = _pread_exact(fd, hdr.e_phoff, hdr.e_phnum * hdr.e_phentsize, file_size,
                             "the program headers")
        size = max(size, hdr.e_phoff + len(table))
        for ph in _iter_phdrs(table, replace(hdr, e_phoff=0)):
            size = max(size, ph.p_offset + ph.p_filesz)
    if hdr.e_shoff:
        if hdr.e_shentsize < hdr.shdr_size:
            raise DecodeError(f"malformed ELF image: e_shentsize {hdr.e_shentsize} too small")
        count = hdr.e_shnum
        if count == 0:  # extended numbering: the count is section 0's sh_size
            count = _section_count(_pread_exact(fd, hdr.e_shoff, hdr.e_shentsize, file_size,
                                                "section header 0"), hdr)
        table = _pread_exact(fd, hdr.e_shoff, count * hdr.e_shentsize, file_size,
                             "the section headers")
        size = max(size, hdr.e_shoff + len(table))
        try:
            sections = read_section_headers(table, hdr, count)
        except ElfError as exc:
            raise DecodeError(f"malformed ELF image: {exc}") from None
        for sh in sections:
            if sh.sh_type != SHT_NOBITS and sh.sh_size:
                size = max(size, sh.sh_offset + sh.sh_size)
    return _pread_exact(fd, 0, size, file_size, "the image its headers describe")


# --------------------------------------------------------------------------
# Notes: the reader walks them, the names are ours (pyelftools renames them)


def _parse_notes(blob: bytes, hdr: ElfHeader, align: int) -> list[ElfNote]:
    return [ElfNote(n.owner, n.n_type,
                    _NOTE_TYPE_NAMES.get(n.owner, {}).get(n.n_type, f"{n.n_type:#x}"), n.desc)
            for n in read_notes(blob, hdr.endian, align)]


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


def _parse(elf: ELFFile, data: bytes, hdr: ElfHeader, need: int,
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
            notes.extend(_parse_notes(_section_bytes(data, section), hdr, align))

    no_sections = elf.num_sections() == 0
    loads: list[int] = []
    for ph in _iter_phdrs(data, hdr):
        if ph.p_type == PT_LOAD:
            loads.append(ph.p_vaddr)
        elif ph.p_type == PT_NOTE and no_sections:
            align = 8 if ph.p_align == 8 else 4
            notes.extend(_parse_notes(data[ph.p_offset:ph.p_offset + ph.p_filesz], hdr, align))
    for seg in elf.iter_segments():  # pyelftools: the dynamic section's tags and symbols
        if seg["p_type"] == "PT_DYNAMIC" and isinstance(seg, DynamicSegment):
            if dynamic is None:
                dynamic = seg
            if dynsym is None and no_sections:
                dynsym = seg  # no section headers: symbols via DT_SYMTAB

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
        elfclass=hdr.bits,
        machine=machine if isinstance(machine, str) else f"EM_{machine}",
        entry=hdr.e_entry,
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
