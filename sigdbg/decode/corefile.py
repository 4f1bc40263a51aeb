"""Core files: the notes and load segments a core dump carries, without gdb.

Sources: fs/binfmt_elf.c (``fill_note_info``: NT_PRSTATUS, NT_AUXV, NT_FILE,
NT_SIGINFO), include/uapi/linux/elf.h.  Used by the GDB backend for cores
loaded in gdb, and usable by a core backend of its own.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sigdbg.abi.abis import Abi
from sigdbg.decode.auxv import AT_EXECFN, AT_RANDOM, AT_SYSINFO_EHDR
from sigdbg.decode.vdso import VSYSCALL_ADDR as VSYSCALL_START
from sigdbg.errors import DecodeError, TargetError


@dataclass(frozen=True)
class CoreFile:
    """The parts of an ELF core file sigdbg needs: notes and load segments."""

    path: str
    bits: int
    notes: tuple[tuple[str, int, bytes], ...]  #: (owner, type, desc)
    loads: tuple[tuple[int, int, int], ...]  #: (p_vaddr, p_memsz, p_flags)

    NT_PRSTATUS = 1
    NT_AUXV = 6
    NT_FILE = 0x46494C45

    def note(self, ntype: int, owner: str = "CORE") -> bytes | None:
        for o, t, desc in self.notes:
            if o == owner and t == ntype:
                return desc
        return None

    @property
    def pid(self) -> int | None:
        """pr_pid of the first NT_PRSTATUS (include/linux/elfcore.h struct elf_prstatus)."""
        desc = self.note(self.NT_PRSTATUS)
        off = 32 if self.bits == 64 else 24
        if desc is None or len(desc) < off + 4:
            return None
        return int(struct.unpack_from("<i", desc, off)[0])

    def files(self) -> list[tuple[int, int, int, str]]:
        """NT_FILE (fs/binfmt_elf.c fill_files_note): (start, end, file offset, path)."""
        desc = self.note(self.NT_FILE)
        if not desc:
            return []
        w = self.bits // 8
        fmt = "<" + ("Q" if w == 8 else "I")
        count, page = struct.unpack_from("<" + fmt[1] * 2, desc, 0)
        pos = 2 * w
        ranges = [struct.unpack_from("<" + fmt[1] * 3, desc, pos + 3 * w * i) for i in range(count)]
        names = desc[pos + 3 * w * count:].split(b"\0")
        out = []
        for (start, end, pgoff), name in zip(ranges, names):
            out.append((start, end, pgoff * page, name.decode("utf-8", "surrogateescape")))
        return out


def read_core(path: str) -> CoreFile:
    """Parse the ELF header, program headers and PT_NOTE segments of a core file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF" or head[5] != 1:
                raise DecodeError(f"{path} is not a little-endian ELF file")
            bits = 64 if head[4] == 2 else 32
            if struct.unpack_from("<H", head, 16)[0] != 4:
                raise DecodeError(f"{path} is not a core file (e_type != ET_CORE)")
            if bits == 64:
                phoff, = struct.unpack_from("<Q", head, 32)
                phentsize, phnum = struct.unpack_from("<HH", head, 54)
            else:
                phoff, = struct.unpack_from("<I", head, 28)
                phentsize, phnum = struct.unpack_from("<HH", head, 42)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
            notes: list[tuple[str, int, bytes]] = []
            loads: list[tuple[int, int, int]] = []
            for i in range(phnum):
                if bits == 64:
                    p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz = \
                        struct.unpack_from("<IIQQQQQ", table, i * phentsize)
                else:
                    p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags = \
                        struct.unpack_from("<IIIIIII", table, i * phentsize)
                if p_type == 1:  # PT_LOAD
                    loads.append((p_vaddr, p_memsz, p_flags))
                elif p_type == 4:  # PT_NOTE
                    fh.seek(p_offset)
                    notes.extend(_walk_notes(fh.read(p_filesz)))
    except OSError as exc:
        raise TargetError(f"cannot read core file {path}: {exc.strerror}") from None
    except struct.error:
        raise DecodeError(f"core file {path} is truncated") from None
    return CoreFile(path, bits, tuple(notes), tuple(loads))


def _walk_notes(blob: bytes) -> list[tuple[str, int, bytes]]:
    """Elf_Nhdr records; core notes pad name and desc to 4 bytes (also 64-bit)."""
    out = []
    pos = 0
    while pos + 12 <= len(blob):
        namesz, descsz, ntype = struct.unpack_from("<III", blob, pos)
        name_at = pos + 12
        desc_at = name_at + ((namesz + 3) & ~3)
        end = desc_at + descsz
        if end > len(blob):
            break
        owner = blob[name_at:name_at + namesz].split(b"\0", 1)[0].decode("ascii", "replace")
        out.append((owner, ntype, blob[desc_at:end]))
        pos = (end + 3) & ~3
    return out


def core_maps_text(core: CoreFile, abi: Abi, auxv: dict[int, int]) -> str:
    """/proc/PID/maps lines rebuilt from PT_LOAD (perms) and NT_FILE (paths).

    Mappings that gdb's ``gcore`` left out of PT_LOAD but NT_FILE names get
    perms ``????``.  The kernel's names are inferred: ``[vdso]`` at
    AT_SYSINFO_EHDR, ``[stack]`` around AT_EXECFN, ``[vsyscall]`` at its fixed
    address (x86_64).
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
    if abi.name == "x86_64":
        specials[VSYSCALL_START] = "[vsyscall]"
    execfn = auxv.get(AT_EXECFN) or auxv.get(AT_RANDOM)
    lines = []
    for lo, hi, perms, offset, path in sorted(rows):
        if not path:
            path = specials.get(lo, "")
            if execfn is not None and lo <= execfn < hi:
                path = "[stack]"
        lines.append(f"{lo:08x}-{hi:08x} {perms} {offset:08x} 00:00 0 {path}".rstrip())
    return "\n".join(lines) + "\n"


