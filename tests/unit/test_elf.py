"""The one ELF reader (sigdbg/abi/elf.py) against readelf and pyelftools.

Real ELF files: system programs and libraries, the built targets (64- and
32-bit, static and PIE), a vDSO read from a live process, and kernel core
dumps of the crash target.  Every header field, program header and section
header is compared with pyelftools (all fields) and readelf (the header and
the program header table as it prints them); the notes with readelf -n.
Damaged input: every truncation and random damage gives an ElfError with a
one-line message, never a foreign exception.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE, ENUM_E_TYPE

from sigdbg.abi.elf import (
    PT_NOTE,
    SHT_NOTE,
    ElfError,
    ElfHeader,
    ehdr_layout,
    nhdr_layout,
    phdr_layout,
    read_header,
    read_ident,
    read_notes,
    read_program_headers,
    read_section_headers,
)
from tests.conftest import target
from tests.coredump import kernel_core
from tests.vdso_dump import dump_vdso


def _system_files() -> list[Path]:
    out = []
    for name in ("ls", "sh"):
        found = shutil.which(name)
        if found:
            out.append(Path(os.path.realpath(found)))
    with open("/proc/self/maps") as fh:  # this Python's libc, by the loader's own choice
        libc = next(line.split()[-1] for line in fh if re.search(r"/libc[.-]", line))
    out.append(Path(libc))
    return out


TARGETS = ("hello", "hello.i386", "hello.static", "sig_basic.i386", "core_crash")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every real ELF file the comparisons run over."""
    out = _system_files() + [Path(target(t)) for t in TARGETS]
    base = tmp_path_factory.mktemp("elf")
    sleep = shutil.which("sleep")
    assert sleep is not None
    vdso = base / "vdso.so"
    dump_vdso([sleep, "30"], os.path.realpath(sleep), vdso)
    out.append(vdso)
    for prog in ("core_crash", "core_crash.i386"):
        path, _ = kernel_core([target(prog), "nested"], base / prog)
        out.append(path)
    return out


def _readelf(*args: str | Path) -> str:
    return subprocess.run(["readelf", "-W", *map(str, args)], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def _ours(data: bytes) -> tuple[ElfHeader, tuple, tuple]:  # type: ignore[type-arg]
    hdr = read_header(data)
    phdrs = read_program_headers(data[hdr.e_phoff:], hdr)
    shdrs = read_section_headers(data[hdr.e_shoff:], hdr) if hdr.e_shoff else ()
    return hdr, phdrs, shdrs


def test_header_and_tables_match_pyelftools(files: list[Path]) -> None:
    for path in files:
        data = path.read_bytes()
        hdr, phdrs, shdrs = _ours(data)
        elf = ELFFile(io.BytesIO(data))
        ref = elf.header
        assert hdr.bits == elf.elfclass and (hdr.endian == "<") == elf.little_endian, path
        for name in ("e_entry", "e_phoff", "e_shoff", "e_flags", "e_ehsize", "e_phentsize",
                     "e_phnum", "e_shentsize", "e_shnum", "e_shstrndx", "e_version"):
            want = ref[name]
            want = {"EV_CURRENT": 1}.get(want, want)
            assert getattr(hdr, name) == want, (path, name)
        # pyelftools names these; its raw values are in its enum tables
        assert ENUM_E_TYPE[ref["e_type"]] == hdr.e_type, path
        assert ENUM_E_MACHINE[ref["e_machine"]] == hdr.e_machine, path
        assert len(phdrs) == elf.num_segments(), path
        for ours, seg in zip(phdrs, elf.iter_segments()):
            for name in ("p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags",
                         "p_align"):
                assert getattr(ours, name) == seg[name], (path, name)
        assert len(shdrs) == elf.num_sections(), path
        for ours_s, sec in zip(shdrs, elf.iter_sections()):
            for name in ("sh_name", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link",
                         "sh_info", "sh_addralign", "sh_entsize"):
                assert getattr(ours_s, name) == sec.header[name], (path, sec.name, name)


_PH_ROW = re.compile(r"^\s+(\S+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+"
                     r"(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+([RWE ]{3})\s+(0x[0-9a-f]+)$", re.M)


_PT_NAMES = {1: "LOAD", 2: "DYNAMIC", 3: "INTERP", 4: "NOTE", 6: "PHDR", 7: "TLS",
             0x6474E550: "GNU_EH_FRAME", 0x6474E551: "GNU_STACK", 0x6474E552: "GNU_RELRO",
             0x6474E553: "GNU_PROPERTY"}


def _readelf_number(text: str, field: str) -> int:
    m = re.search(rf"^\s*{re.escape(field)}:\s+(0x[0-9a-f]+|\d+)", text, re.M)
    assert m, field
    return int(m[1], 0)


def test_header_and_program_headers_match_readelf(files: list[Path]) -> None:
    for path in files:
        hdr, phdrs, _ = _ours(path.read_bytes())
        text = _readelf("-h", "-l", path)
        assert _readelf_number(text, "Entry point address") == hdr.e_entry
        assert _readelf_number(text, "Start of program headers") == hdr.e_phoff
        assert _readelf_number(text, "Start of section headers") == hdr.e_shoff
        assert _readelf_number(text, "Flags") == hdr.e_flags
        assert _readelf_number(text, "Number of program headers") == hdr.e_phnum
        assert _readelf_number(text, "Number of section headers") == hdr.e_shnum
        assert _readelf_number(text, "Section header string table index") == hdr.e_shstrndx
        assert f"ELF{hdr.bits}" in re.search(r"Class:\s+(\S+)", text)[1]  # type: ignore[index]
        rows = _PH_ROW.findall(text)
        assert len(rows) == len(phdrs) > 0, path
        for row, ph in zip(rows, phdrs):
            assert _PT_NAMES.get(ph.p_type, row[0]) == row[0], (path, row)
            flags = sum(bit for ch, bit in zip(row[6], (4, 2, 1)) if ch != " ")
            assert (int(row[1], 16), int(row[2], 16), int(row[3], 16), int(row[4], 16),
                    int(row[5], 16), flags, int(row[7], 16)) == (
                ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz, ph.p_flags,
                ph.p_align), (path, row)


_NOTE_ROW = re.compile(r"^  (?! )(\S+)\s+0x([0-9a-f]+)\s", re.M)


def test_notes_match_readelf(files: list[Path]) -> None:
    """readelf -n walks SHT_NOTE sections when there are sections, else PT_NOTE."""
    cores = 0
    for path in files:
        data = path.read_bytes()
        hdr, phdrs, shdrs = _ours(data)
        ours = []
        if shdrs:
            blobs = [(s.sh_offset, s.sh_size, s.sh_addralign) for s in shdrs
                     if s.sh_type == SHT_NOTE]
        else:
            blobs = [(p.p_offset, p.p_filesz, p.p_align) for p in phdrs if p.p_type == PT_NOTE]
            cores += 1
        for off, size, align in blobs:
            ours += [(n.owner, len(n.desc)) for n in
                     read_notes(data[off:off + size], hdr.endian, 8 if align == 8 else 4,
                                strict=True)]
        text = _readelf("-n", path)
        want = [(m[1], int(m[2], 16)) for m in _NOTE_ROW.finditer(text) if m[1] != "Owner"]
        assert ours == want and ours, path
        for build_id in re.findall(r"Build ID: ([0-9a-f]+)", text):
            assert any(n.desc.hex() == build_id
                       for off, size, align in blobs
                       for n in read_notes(data[off:off + size], hdr.endian,
                                           8 if align == 8 else 4)), path
    assert cores == 2  # both kernel cores were walked by their PT_NOTE segments


def test_big_endian_header_matches_pyelftools() -> None:
    """No big-endian ELF on an x86 host: re-encode a real header and program
    header table in the other byte order and let pyelftools read it."""
    data = Path(target("hello")).read_bytes()
    hdr, phdrs, _ = _ours(data)
    le, be = ehdr_layout(64, "<"), ehdr_layout(64, ">")
    head = bytearray(be.encode(le.decode(data)))
    head[5] = 2  # ELFDATA2MSB
    ple, pbe = phdr_layout(64, "<"), phdr_layout(64, ">")
    table = b"".join(pbe.encode(ple.decode(data, hdr.e_phoff + i * hdr.e_phentsize))
                     for i in range(hdr.e_phnum))
    blob = bytes(head) + bytes(hdr.e_phoff - len(head)) + table
    big = read_header(blob)
    assert big.endian == ">" and read_ident(blob).e_machine == hdr.e_machine
    elf = ELFFile(io.BytesIO(blob + bytes(1 << 16)))
    assert not elf.little_endian
    assert (big.e_entry, big.e_phnum, big.e_shoff) == (
        elf.header["e_entry"], elf.header["e_phnum"], elf.header["e_shoff"])
    ours = read_program_headers(blob[big.e_phoff:], big)
    assert [(p.p_vaddr, p.p_filesz, p.p_flags) for p in ours] == [
        (s["p_vaddr"], s["p_filesz"], s["p_flags"]) for s in elf.iter_segments()]
    assert ours == phdrs


# --------------------------------------------------------------------------
# Damaged input


def _one_line(exc: ElfError) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg
    return msg


def test_every_truncated_header_is_one_line_error() -> None:
    for name in ("hello", "hello.i386"):
        data = Path(target(name)).read_bytes()
        size = ehdr_layout(64 if data[4] == 2 else 32, "<").size
        for n in range(size):
            with pytest.raises(ElfError) as info:
                read_header(data[:n])
            msg = _one_line(info.value)
            assert info.value.not_elf == (n < 6), (n, msg)
        assert read_header(data[:size]).e_phnum > 0


@pytest.mark.parametrize(("head", "needle"), [
    (b"MZ\x90\x00" + bytes(60), "bad magic 4d 5a 90 00"),
    (b"\x7fELF\x03\x01" + bytes(58), "bad EI_CLASS 3"),
    (b"\x7fELF\x02\x00" + bytes(58), "bad EI_DATA 0"),
    (b"\x7fEL", "only 3 bytes"),
])
def test_not_elf(head: bytes, needle: str) -> None:
    with pytest.raises(ElfError) as info:
        read_header(head)
    assert info.value.not_elf and needle in _one_line(info.value)


def test_bad_tables_are_one_line_errors() -> None:
    data = bytearray(Path(target("hello")).read_bytes())
    hdr = read_header(bytes(data))
    table = bytes(data[hdr.e_phoff:hdr.e_phoff + hdr.e_phnum * hdr.e_phentsize])
    with pytest.raises(ElfError, match="program header table needs") as info:
        read_program_headers(table[:-1], hdr)
    _one_line(info.value)
    struct.pack_into("<H", data, 54, 20)  # e_phentsize smaller than Elf64_Phdr
    with pytest.raises(ElfError, match="e_phentsize 20 too small") as info:
        read_program_headers(table, read_header(bytes(data)))
    _one_line(info.value)
    with pytest.raises(ElfError, match="section header table needs"):
        read_section_headers(b"\0" * 10, hdr)


def test_overrunning_note() -> None:
    data = Path(target("hello")).read_bytes()
    hdr, _, shdrs = _ours(data)
    blobs = [data[s.sh_offset:s.sh_offset + s.sh_size] for s in shdrs if s.sh_type == SHT_NOTE]
    blob = b"".join(blobs)  # 4-aligned notes one after the other
    good = read_notes(blob, "<", strict=True)
    assert len(good) >= 2
    bad = bytearray(blob)
    nh = nhdr_layout("<")
    struct.pack_into("<I", bad, good[1].offset + nh["n_descsz"].offset, 0xFFFFFF00)
    assert read_notes(bytes(bad), "<") == good[:1]  # lenient: keep what was readable
    with pytest.raises(ElfError, match="runs past") as info:
        read_notes(bytes(bad), "<", strict=True)
    _one_line(info.value)


def test_random_damage_gives_only_elf_errors() -> None:
    """Random bytes in the header, the program header table or a note: the
    reader returns values or raises ElfError, nothing else; both happen."""
    rnd = random.Random(0xE1F)
    sources = [Path(target(t)).read_bytes() for t in ("hello", "hello.i386")]
    results = {"ok": 0, "error": 0}
    for _ in range(3000):
        src = rnd.choice(sources)
        buf = bytearray(src[:rnd.choice((20, 52, 64, 200, len(src)))])
        for _ in range(rnd.choice((1, 2, 8))):
            buf[rnd.randrange(min(len(buf), 0x400))] = rnd.randrange(256)
        data = bytes(buf)
        try:
            hdr = read_header(data)
            read_program_headers(data[hdr.e_phoff:], hdr)
            for sh in read_section_headers(data[hdr.e_shoff:], hdr):
                if sh.sh_type == SHT_NOTE:
                    read_notes(data[sh.sh_offset:sh.sh_offset + sh.sh_size], hdr.endian,
                               strict=True)
            results["ok"] += 1
        except ElfError as exc:
            _one_line(exc)
            results["error"] += 1
    assert results["ok"] > 100 and results["error"] > 100, results
