"""Core files: the notes and load segments a core dump carries, without gdb.

The ELF header, program headers and notes are read by the one ELF reader
(:mod:`sigdbg.abi.elf`); this module decides what they mean for a core.

Sources: fs/binfmt_elf.c (``elf_core_dump``, ``fill_note_info``,
``fill_thread_core_info``: per thread NT_PRSTATUS then its regsets
NT_PRFPREG/NT_X86_XSTATE...; per process NT_PRPSINFO, NT_SIGINFO, NT_AUXV,
NT_FILE), include/uapi/linux/elf.h (note types), include/linux/elfcore.h and
include/linux/elfcore-compat.h (``elf_prstatus``, ``elf_prpsinfo``),
fs/coredump.c (a core truncated by RLIMIT_CORE keeps its headers and notes).
gdb's ``gcore`` writes the same notes (gdb/linux-tdep.c) in another order.

A core file is untrusted input: everything here checks sizes and offsets
against the file and raises only :class:`~sigdbg.errors.DecodeError` (bad
bytes) or :class:`~sigdbg.errors.TargetError` (unreadable file).  Used by the
core-file target (:mod:`sigdbg.backends.core`) and by the GDB backend for
cores loaded in gdb; nothing here imports a third-party module (the GDB
extension runs on gdb's own Python).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from sigdbg.abi import ABIS, Abi, by_elf
from sigdbg.abi.elf import (
    ET_CORE,
    PN_XNUM,
    PT_LOAD,
    PT_NOTE,
    ElfError,
    read_header,
    read_notes,
    read_program_headers,
    read_section_headers,
)
from sigdbg.decode.auxv import AT_EXECFN, AT_RANDOM, AT_SYSINFO_EHDR, parse_auxv_bytes
from sigdbg.errors import DecodeError, MemoryReadError, TargetError

#: more note bytes than any real core holds (threads x regsets): refuse, do not allocate
MAX_NOTES = 64 << 20
#: how far below AT_EXECFN the auxv may lie on the initial stack (argv+envp strings)
MAX_INITIAL_STACK = 8 << 20
PAGE = 4096


def _core_abis() -> tuple[Abi, ...]:
    """The ABIs whose cores sigdbg reads (``Abi.reads_cores``), in registry order."""
    return tuple(a for a in ABIS if a.reads_cores)


def core_abi(machine: int, bits: int) -> Abi:
    """The ABI of a core with e_machine ``machine`` (0: not known, the first
    ABI with ``bits`` whose cores sigdbg reads) and ELF class ``bits``."""
    if machine:
        return by_elf(machine, bits)
    return next(a for a in _core_abis() if a.elf_class == bits)


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD: ``filesz`` bytes at ``offset`` in the core, clipped to the file."""

    vaddr: int
    memsz: int
    flags: int  #: PF_R 4, PF_W 2, PF_X 1
    offset: int
    filesz: int


@dataclass(frozen=True)
class CoreThread:
    """The notes of one thread: NT_PRSTATUS and the regsets after it."""

    prstatus: bytes
    notes: tuple[tuple[str, int, bytes], ...]  #: the thread's regset notes


@dataclass(frozen=True)
class CoreFile:
    """The parts of an ELF core file sigdbg needs: notes and load segments."""

    path: str
    bits: int
    notes: tuple[tuple[str, int, bytes], ...]  #: (owner, type, desc)
    loads: tuple[tuple[int, int, int], ...]  #: (p_vaddr, p_memsz, p_flags)
    machine: int = 0  #: e_machine; 0: the first ABI of the registry whose cores sigdbg reads
    segments: tuple[Segment, ...] = ()
    size: int = 0  #: bytes in the file
    truncated: bool = False  #: some PT_LOAD data lies beyond the end of the file

    NT_PRSTATUS = 1
    NT_PRFPREG = 2
    NT_PRPSINFO = 3
    NT_AUXV = 6
    NT_SIGINFO = 0x53494749
    NT_FILE = 0x46494C45

    @property
    def abi(self) -> Abi:
        return core_abi(self.machine, self.bits)

    def note(self, ntype: int, owner: str = "CORE") -> bytes | None:
        for o, t, desc in self.notes:
            if o == owner and t == ntype:
                return desc
        return None

    def threads(self) -> tuple[CoreThread, ...]:
        """One entry per NT_PRSTATUS, in file order (the kernel writes the
        dumping thread first); a thread's regsets follow its NT_PRSTATUS."""
        out: list[CoreThread] = []
        cur: bytes | None = None
        regsets: list[tuple[str, int, bytes]] = []
        fp_notes = {ntype for ntype, _ in self.abi.fp_regset_notes}
        for owner, ntype, desc in self.notes:
            if owner == "CORE" and ntype == self.NT_PRSTATUS:
                if cur is not None:
                    out.append(CoreThread(cur, tuple(regsets)))
                cur, regsets = desc, []
            elif cur is not None and (ntype in (self.NT_PRFPREG, self.NT_SIGINFO)
                                      or ntype in fp_notes):
                regsets.append((owner, ntype, desc))
        if cur is not None:
            out.append(CoreThread(cur, tuple(regsets)))
        return tuple(out)

    # include/linux/elfcore.h struct elf_prstatus_common: pr_info (12), pr_cursig (2+2),
    # pr_sigpend, pr_sighold (longs), pr_pid, pr_ppid, pr_pgrp, pr_sid, 4 timevals; pr_reg
    def prstatus_pid(self, desc: bytes) -> int:
        off = 32 if self.bits == 64 else 24
        if len(desc) < off + 4:
            raise DecodeError(f"NT_PRSTATUS has {len(desc)} bytes: too short for pr_pid")
        return int(struct.unpack_from("<i", desc, off)[0])

    def prstatus_cursig(self, desc: bytes) -> int:
        if len(desc) < 14:
            raise DecodeError(f"NT_PRSTATUS has {len(desc)} bytes: too short for pr_cursig")
        return int(struct.unpack_from("<h", desc, 12)[0])

    def prstatus_regs(self, desc: bytes) -> bytes:
        """pr_reg: the thread's user_regs_struct."""
        off = 112 if self.bits == 64 else 72
        size = self.abi.user_regs.size
        if len(desc) < off + size:
            raise DecodeError(f"NT_PRSTATUS has {len(desc)} bytes, pr_reg needs {off + size}")
        return desc[off : off + size]

    @property
    def pid(self) -> int | None:
        """pr_pid of the first NT_PRSTATUS (include/linux/elfcore.h struct elf_prstatus)."""
        desc = self.note(self.NT_PRSTATUS)
        if desc is None:
            return None
        try:
            return self.prstatus_pid(desc)
        except DecodeError:
            return None

    def psinfo(self) -> tuple[int, str, str] | None:
        """NT_PRPSINFO (struct elf_prpsinfo): (pr_pid, pr_fname, pr_psargs)."""
        desc = self.note(self.NT_PRPSINFO)
        # 64-bit: 4 chars, pad, pr_flag (8), uid, gid (4 each), pid...; compat: pr_flag (4),
        # uid, gid (2 each, __compat_uid_t), pid...
        pid_off, fname_off = (24, 40) if self.bits == 64 else (12, 28)
        if desc is None or len(desc) < fname_off + 96:
            return None
        pid = int(struct.unpack_from("<i", desc, pid_off)[0])
        fname = desc[fname_off : fname_off + 16].split(b"\0", 1)[0]
        args = desc[fname_off + 16 : fname_off + 96].split(b"\0", 1)[0]
        return (pid, fname.decode("utf-8", "surrogateescape"),
                args.decode("utf-8", "surrogateescape").strip())

    def files(self) -> list[tuple[int, int, int, str]]:
        """NT_FILE (fs/binfmt_elf.c fill_files_note): (start, end, file offset, path)."""
        desc = self.note(self.NT_FILE)
        if not desc:
            return []
        w = self.bits // 8
        c = "Q" if w == 8 else "I"
        if len(desc) < 2 * w:
            raise DecodeError("NT_FILE is shorter than its header")
        count, page = struct.unpack_from("<" + c * 2, desc, 0)
        pos = 2 * w
        if count > (len(desc) - pos) // (3 * w):
            raise DecodeError(f"NT_FILE claims {count} mappings in {len(desc)} bytes")
        ranges = [struct.unpack_from("<" + c * 3, desc, pos + 3 * w * i) for i in range(count)]
        names = desc[pos + 3 * w * count:].split(b"\0")
        if len(names) < count:
            raise DecodeError(f"NT_FILE has {len(names)} names for {count} mappings")
        out = []
        for (start, end, pgoff), name in zip(ranges, names):
            if end < start:
                raise DecodeError(f"NT_FILE mapping {start:#x}-{end:#x} ends before it starts")
            out.append((start, end, pgoff * page, name.decode("utf-8", "surrogateescape")))
        return out

    def auxv_dict(self) -> dict[int, int]:
        raw = self.note(self.NT_AUXV)
        return dict(parse_auxv_bytes(raw, self.abi)) if raw else {}


def read_core(path: str) -> CoreFile:
    """Parse the ELF header, program headers and PT_NOTE segments of a core file.

    Raises only :class:`DecodeError` (not a core sigdbg can read, or corrupt)
    and :class:`TargetError` (the file cannot be read).
    """
    try:
        with open(path, "rb") as fh:
            return _read_core(path, fh)
    except OSError as exc:
        raise TargetError(f"cannot read core file {path}: {exc.strerror or exc}") from None
    except (struct.error, ValueError, OverflowError, MemoryError) as exc:
        # every access below is bounds-checked; this is the net under it
        raise DecodeError(f"core file {path} is corrupt ({type(exc).__name__})") from None


def _read_core(path: str, fh: BinaryIO) -> CoreFile:
    size = os.fstat(fh.fileno()).st_size

    def read_at(offset: int, n: int, what: str) -> bytes:
        if offset < 0 or n < 0 or offset + n > size:
            raise DecodeError(f"core file {path} is truncated or corrupt: {what} at "
                              f"{offset:#x} (+{n:#x}) lies beyond its end ({size:#x} bytes)")
        fh.seek(offset)
        data = fh.read(n)
        if len(data) != n:
            raise DecodeError(f"core file {path} is truncated: short read of {what}")
        return data

    head = fh.read(64)
    try:
        hdr = read_header(head)
    except ElfError as exc:
        if not exc.not_elf:
            raise DecodeError(f"{path} is truncated: no complete ELF header") from None
        if len(head) >= 6 and head[:4] == b"\x7fELF":  # bad EI_CLASS or EI_DATA
            raise DecodeError(f"{path} is not a little-endian 32- or 64-bit ELF file") from None
        raise DecodeError(f"{path} is not an ELF file") from None
    if hdr.endian != "<":
        raise DecodeError(f"{path} is not a little-endian 32- or 64-bit ELF file")
    bits = hdr.bits
    if hdr.e_type != ET_CORE:
        raise DecodeError(f"{path} is not a core file (e_type {hdr.e_type}, not ET_CORE)")
    if not any(a.e_machine == hdr.e_machine and a.elf_class == bits for a in _core_abis()):
        known = " and ".join(f"{a.name} ({a.elf_machine})" for a in _core_abis())
        raise DecodeError(f"{path} is a core file for machine {hdr.e_machine} with {bits}-bit "
                          f"ELF class: sigdbg reads {known} cores")
    phnum = hdr.e_phnum
    if phnum == PN_XNUM:  # more segments than e_phnum holds: the count is in shdr 0's sh_info
        if hdr.e_shentsize < hdr.shdr_size:
            raise DecodeError(f"core file {path}: PN_XNUM without a section header")
        sh0 = read_at(hdr.e_shoff, hdr.shdr_size, "section header 0")
        phnum = read_section_headers(sh0, hdr, count=1)[0].sh_info
    if phnum == 0:
        raise DecodeError(f"core file {path} has no program headers")
    if hdr.e_phentsize < hdr.phdr_size:
        raise DecodeError(f"core file {path}: e_phentsize {hdr.e_phentsize} < {hdr.phdr_size}")
    table = read_at(hdr.e_phoff, hdr.e_phentsize * phnum, "the program header table")
    notes: list[tuple[str, int, bytes]] = []
    loads: list[tuple[int, int, int]] = []
    segments: list[Segment] = []
    note_bytes = 0
    truncated = False
    top = 1 << bits
    for i, ph in enumerate(read_program_headers(table, hdr, phnum)):
        if ph.p_type == PT_LOAD:
            if ph.p_vaddr + ph.p_memsz > top or ph.p_filesz > ph.p_memsz:
                raise DecodeError(f"core file {path}: PT_LOAD {i} at {ph.p_vaddr:#x} "
                                  f"(filesz {ph.p_filesz:#x}, memsz {ph.p_memsz:#x}) "
                                  "is impossible")
            avail = (max(0, min(ph.p_filesz, size - ph.p_offset)) if ph.p_offset <= size
                     else 0)
            truncated = truncated or avail < ph.p_filesz
            loads.append((ph.p_vaddr, ph.p_memsz, ph.p_flags))
            segments.append(Segment(ph.p_vaddr, ph.p_memsz, ph.p_flags, ph.p_offset, avail))
        elif ph.p_type == PT_NOTE:
            note_bytes += ph.p_filesz
            if note_bytes > MAX_NOTES:
                raise DecodeError(f"core file {path}: {note_bytes} bytes of notes is "
                                  "not plausible")
            notes.extend(_walk_notes(read_at(ph.p_offset, ph.p_filesz, f"PT_NOTE {i}"), path))
    return CoreFile(path, bits, tuple(notes), tuple(loads), hdr.e_machine, tuple(segments),
                    size, truncated)


def _walk_notes(blob: bytes, path: str = "core") -> list[tuple[str, int, bytes]]:
    """Elf_Nhdr records; core notes pad name and desc to 4 bytes (also 64-bit)."""
    try:
        return [(n.owner, n.n_type, n.desc) for n in read_notes(blob, "<", 4, strict=True)]
    except ElfError as exc:
        raise DecodeError(f"core file {path}: {exc}") from None


def core_start_stack(read: Callable[[int, int], bytes], abi: Abi, raw_auxv: bytes | None) -> int:
    """Where argc lies on the initial stack of a core's process.

    A core has no mm->start_stack: find the auxv (NT_AUXV, a copy of
    mm->saved_auxv that the kernel also put on the stack, fs/binfmt_elf.c
    create_elf_tables) below AT_EXECFN and walk back over envp[], NULL,
    argv[], NULL to argc.  ``read(address, size)`` returns what is readable
    (possibly short).
    """
    aux = dict(parse_auxv_bytes(raw_auxv, abi)) if raw_auxv else {}
    top = aux.get(AT_EXECFN) or aux.get(AT_RANDOM)
    if not raw_auxv or not top:
        raise DecodeError("the core has no NT_AUXV: the initial stack cannot be found")
    w = abi.word
    needle = raw_auxv[: (len(aux) + 1) * 2 * w]
    lo = max(0, top - MAX_INITIAL_STACK)
    region = b""
    base = top
    while base > lo:  # read downwards block by block: the stack is one mapping
        start = max(lo, (base - (1 << 16)) & ~(PAGE - 1))
        chunk = read(start, base - start)
        if len(chunk) != base - start:
            break
        region = chunk + region
        base = start
        at = region.rfind(needle)
        if at >= 0:
            return _walk_back(read, abi, base + at)
    raise DecodeError("the core's auxv (NT_AUXV) is not on its stack")


def _walk_back(read: Callable[[int, int], bytes], abi: Abi, auxv_at: int) -> int:
    w = abi.word

    def word(a: int) -> int:
        raw = read(a, w)
        if len(raw) != w:
            raise MemoryReadError(a, w, "not in the core")
        return int(struct.unpack(abi.word_fmt, raw)[0])

    p = auxv_at - 2 * w  # auxv_at - w is envp's NULL
    while word(p) != 0:
        p -= w
        if auxv_at - p > MAX_INITIAL_STACK:
            raise DecodeError("no argv NULL below the auxv in the core")
    for argc in range(1 << 16):  # p is argv's NULL
        q = p - (argc + 1) * w
        if word(q) == argc:
            return q
    raise DecodeError("no argc below argv in the core")


def core_maps_text(core: CoreFile, abi: Abi, auxv: dict[int, int]) -> str:
    """/proc/PID/maps lines rebuilt from PT_LOAD (perms) and NT_FILE (paths).

    Mappings that gdb's ``gcore`` left out of PT_LOAD but NT_FILE names get
    perms ``????``.  The kernel's names are inferred: ``[vdso]`` at
    AT_SYSINFO_EHDR, ``[stack]`` around AT_EXECFN, the ABI's fixed pages
    (``Abi.fixed_pages``) at their addresses.
    """
    files = core.files()
    rows: list[tuple[int, int, str, int, str]] = []
    for vaddr, memsz, flags in core.loads:
        perms = ("r" if flags & 4 else "-") + ("w" if flags & 2 else "-") + \
            ("x" if flags & 1 else "-") + "p"
        path, offset = "", 0
        for start, end, off, name in files:
            if start <= vaddr < end:
                path, offset = name, off + vaddr - start
                break
        rows.append((vaddr, vaddr + memsz, perms, offset, path))
    for start, end, off, name in files:
        pos = start
        for lo, hi, *_ in sorted(r for r in rows if r[0] < end and r[1] > start):
            if lo > pos:
                rows.append((pos, lo, "????", off + pos - start, name))
            pos = max(pos, hi)
        if pos < end:
            rows.append((pos, end, "????", off + pos - start, name))
    specials = {auxv.get(AT_SYSINFO_EHDR): "[vdso]"}
    for page in abi.fixed_pages:
        specials[page.address] = page.mapping
    execfn = auxv.get(AT_EXECFN) or auxv.get(AT_RANDOM)
    lines = []
    for lo, hi, perms, offset, path in sorted(rows):
        if not path:
            path = specials.get(lo, "")
            if execfn is not None and lo <= execfn < hi:
                path = "[stack]"
        # a path with a newline would split the line (and forge a mapping)
        path = path.replace("\n", "\\012")
        lines.append(f"{lo:08x}-{hi:08x} {perms} {offset:08x} 00:00 0 {path}".rstrip())
    return "\n".join(lines) + "\n"
