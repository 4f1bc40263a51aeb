"""The core-file backend: a :class:`~sigdbg.backends.base.Task` over one thread of a core.

Where the data comes from (fs/binfmt_elf.c ``elf_core_dump``):

- memory: the core's PT_LOAD data; where the core holds no bytes for a
  file-backed mapping (the kernel dumps only the first page of an ELF file
  mapping, and anonymous/written pages; ``gcore`` leaves read-only file
  mappings out of PT_LOAD altogether) the bytes come from the mapped file
  named by NT_FILE, at the offset NT_FILE gives -- the file as it is now,
  which is the program's only if it was not rebuilt since the dump.
  ``--exe PROG`` names the executable when its NT_FILE path is not it;
- registers: pr_reg of the thread's NT_PRSTATUS (a user_regs_struct of the
  core's ABI: ELFCLASS64 -> x86_64, ELFCLASS32/EM_386 -> i386);
- auxv: NT_AUXV; maps: PT_LOAD (perms) + NT_FILE (paths);
- the FP/vector registers: NT_X86_XSTATE (else NT_PRXFPREG / the 64-bit
  NT_PRFPREG, both an FXSAVE image); siginfo: NT_SIGINFO.
"""

from __future__ import annotations

import bisect
import os
from typing import TYPE_CHECKING

from sigdbg.abi import Abi
from sigdbg.abi.elf import ELFMAG
from sigdbg.backends.base import Target
from sigdbg.decode.corefile import CoreFile, core_maps_text, core_start_stack, read_core
from sigdbg.errors import DecodeError, MemoryReadError, TargetError, UsageError

#: a read larger than this is a bug or a hostile size, not a request to honour
MAX_READ = 64 << 20
PAGE = 4096


class CoreMemory:
    """The address space of a core: PT_LOAD bytes, then NT_FILE files."""

    def __init__(self, core: CoreFile, exe: str | None = None) -> None:
        self.core = core
        self.abi = core.abi
        self._fd: int | None = None
        segs = sorted((s for s in core.segments if s.filesz), key=lambda s: s.vaddr)
        self._segs = segs
        self._seg_starts = [s.vaddr for s in segs]
        files = core.files()
        self.exe_mapping_path = _exe_mapping_path(core, files)
        self._exe = exe
        self._files = sorted(files)
        self._file_starts = [f[0] for f in self._files]
        self._fds: dict[str, int | None] = {}
        #: NT_FILE path -> the file read instead, whose first page is not the core's copy
        self.stale: dict[str, str] = {}

    def close(self) -> None:
        for fd in [self._fd, *self._fds.values()]:
            if fd is not None:
                os.close(fd)
        self._fd = None
        self._fds.clear()

    def _core_fd(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.core.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise TargetError(f"cannot read core file {self.core.path}: "
                                  f"{exc.strerror}") from None
        return self._fd

    def file_path(self, path: str) -> str:
        """Where the bytes of the mapped file ``path`` are read: ``--exe`` for the program."""
        return self._exe if self._exe and path == self.exe_mapping_path else path

    def _file_fd(self, nt_path: str) -> int | None:
        """A descriptor of the file mapped at ``nt_path``, or None if it cannot be used."""
        if nt_path not in self._fds:
            path = self.file_path(nt_path)
            fd: int | None = None
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
                if not os.path.isfile(f"/proc/self/fd/{fd}"):  # a FIFO or device: never read
                    os.close(fd)
                    fd = None
                elif not self._same_file(nt_path, fd):
                    self.stale[nt_path] = path
                    os.close(fd)
                    fd = None
            except OSError:
                fd = None
            self._fds[nt_path] = fd
        return self._fds[nt_path]

    def usable_path(self, nt_path: str) -> str:
        """The file to read for ``nt_path`` (for symbols), or "" when it is not the process's."""
        return self.file_path(nt_path) if self._file_fd(nt_path) is not None else ""

    def check_files(self) -> dict[str, str]:
        """Open every mapped file once; the ones that are not the process's are in ``stale``."""
        for nt_path in sorted({f[3] for f in self._files}):
            self._file_fd(nt_path)
        return dict(self.stale)

    def _same_file(self, nt_path: str, fd: int) -> bool:
        """Whether the file still starts with the bytes the core holds of its first page.

        The kernel dumps the first page of every ELF file mapping
        (coredump_filter bit 4, MMF_DUMP_ELF_HEADERS: its headers and build
        id); a file rebuilt or upgraded since the dump differs there.
        """
        for start, end, off, path in self._files:
            if path == nt_path and off == 0:
                mine = self._from_segments(start, min(PAGE, end - start))
                return not mine or os.pread(fd, len(mine), 0) == mine
        return True

    def _from_segments(self, address: int, size: int) -> bytes:
        i = bisect.bisect_right(self._seg_starts, address) - 1
        if i >= 0:
            s = self._segs[i]
            if address < s.vaddr + s.filesz:
                n = min(size, s.vaddr + s.filesz - address)
                return os.pread(self._core_fd(), n, s.offset + address - s.vaddr)
        return b""

    def _chunk(self, address: int, size: int) -> bytes:
        """Bytes at ``address`` from one source (possibly fewer than ``size``; empty if none)."""
        data = self._from_segments(address, size)
        if data:
            return data
        i = bisect.bisect_right(self._seg_starts, address) - 1
        next_seg = self._seg_starts[i + 1] if i + 1 < len(self._segs) else None
        j = bisect.bisect_right(self._file_starts, address) - 1
        # NT_FILE ranges may nest under PT_LOAD ones only, never overlap each other
        if j >= 0:
            start, end, off, path = self._files[j]
            if address < end:
                fd = self._file_fd(path)
                if fd is None:
                    return b""
                n = min(size, end - address)
                if next_seg is not None:
                    n = min(n, next_seg - address)
                try:
                    return os.pread(fd, n, off + address - start)
                except (OSError, OverflowError):  # a forged NT_FILE offset past 2^63
                    return b""
        return b""

    def read_upto(self, address: int, size: int) -> bytes:
        top = 1 << self.abi.bits
        if size <= 0 or address < 0 or address >= top:
            return b""
        size = min(size, top - address, MAX_READ)
        out = bytearray()
        try:
            while len(out) < size:
                part = self._chunk(address + len(out), size - len(out))
                if not part:
                    break
                out += part
        except OSError as exc:
            raise TargetError(f"cannot read core file {self.core.path}: {exc.strerror}") from None
        return bytes(out)

    def read(self, address: int, size: int) -> bytes:
        if size <= 0:
            return b""
        data = self.read_upto(address, size)
        if len(data) != size:
            raise MemoryReadError(address, size, "not in the core file (nor in a mapped file)",
                                  len(data))
        return data


def _exe_mapping_path(core: CoreFile, files: list[tuple[int, int, int, str]]) -> str:
    """The NT_FILE path of the mapping that holds AT_ENTRY (AT_PHDR): the program."""
    aux = core.auxv_dict()
    for at in (aux.get(9), aux.get(3)):  # AT_ENTRY, AT_PHDR
        if at:
            for start, end, _, path in files:
                if start <= at < end:
                    return path
    return ""


class CoreTask:
    """One thread of a core file, as a stopped task."""

    def __init__(self, core: CoreFile, memory: CoreMemory, index: int) -> None:
        threads = core.threads()
        if not threads:
            raise DecodeError(f"core file {core.path} has no NT_PRSTATUS note (no thread)")
        if not 0 <= index < len(threads):
            raise TargetError(f"the core has {len(threads)} threads, no thread {index + 1}")
        self.core = core
        self.memory = memory
        self.index = index
        self.thread = threads[index]
        self._abi = core.abi
        self._tid = core.prstatus_pid(self.thread.prstatus)
        self._regs: dict[str, int] | None = None
        self._start_stack: int | None = None

    @property
    def tid(self) -> int:
        return self._tid

    @property
    def pid(self) -> int:
        info = self.core.psinfo()
        return info[0] if info is not None else self.core.prstatus_pid(
            self.core.threads()[0].prstatus)

    @property
    def abi(self) -> Abi:
        return self._abi

    @property
    def process_abi(self) -> Abi:
        """A core holds one ABI's notes (the program's): its registers and
        auxv are both of it."""
        return self._abi

    def read(self, address: int, size: int) -> bytes:
        return self.memory.read(address, size)

    def read_upto(self, address: int, size: int) -> bytes:
        return self.memory.read_upto(address, size)

    def registers(self) -> dict[str, int]:
        if self._regs is None:
            raw = self.core.prstatus_regs(self.thread.prstatus)
            self._regs = {k: int(v) for k, v in self._abi.user_regs.decode(raw).items()
                          if isinstance(v, int)}
        return dict(self._regs)

    def maps_text(self) -> str:
        return core_maps_text(self.core, self._abi, self.core.auxv_dict())

    def start_stack(self) -> int:
        if self._start_stack is None:
            self._start_stack = core_start_stack(self.read_upto, self._abi, self.auxv_bytes())
        return self._start_stack

    def auxv_bytes(self) -> bytes | None:
        return self.core.note(CoreFile.NT_AUXV)

    def _regset(self, ntype: int) -> bytes | None:
        for owner, t, desc in self.thread.notes:
            if t == ntype and owner in ("CORE", "LINUX"):
                return desc
        return None

    def siginfo_raw(self) -> bytes | None:
        """NT_SIGINFO: the kernel writes one (the signal that dumped), gcore one per thread."""
        return self._regset(CoreFile.NT_SIGINFO) or (
            self.core.note(CoreFile.NT_SIGINFO) if self.index == 0 else None)

    def registers_as(self, abi: Abi) -> dict[str, int]:
        if abi is not self._abi:
            raise TargetError(f"the core's registers are {self._abi}, not {abi}")
        return self.registers()

    def pc(self) -> int:
        return self.registers()[self._abi.pc]

    def pc_sp(self) -> tuple[int, int]:
        regs = self.registers()
        return regs[self._abi.pc], regs[self._abi.sp]

    def exe_path(self) -> str:
        return self.memory.exe_mapping_path or self.memory._exe or ""

    def regset_raw(self, note: int) -> bytes | None:
        """Target.regset_raw: the thread's note of that type, if the core has it."""
        return self._regset(note)

    def fp_regs_raw(self) -> bytes | None:
        """Target.fp_regs_raw: the ABI's FP/vector notes, best first
        (``Abi.fp_regset_notes``), else a 64-bit NT_PRFPREG."""
        for ntype, _ in self._abi.fp_regset_notes:
            raw = self._regset(ntype)
            if raw:
                return raw
        return self._regset(CoreFile.NT_PRFPREG) if self._abi.bits == 64 else None

    def fp_regs_source(self) -> str:
        """Which note :meth:`fp_regs_raw` came from ("" when none)."""
        for ntype, name in (*self._abi.fp_regset_notes, (CoreFile.NT_PRFPREG, "NT_PRFPREG")):
            if self._regset(ntype) is not None:
                return name
        return ""


if TYPE_CHECKING:
    _TARGET: type[Target] = CoreTask  # mypy --strict proves the Protocol


class CoreBackend:
    """A core file opened as a backend: its notes, its memory, its threads
    (what ``engine/coretarget.py``'s ``CoreTarget`` is built on; the code
    that chooses a backend constructs it: ``open_core`` in the commands
    layer)."""

    def __init__(self, path: str, exe: str | None = None) -> None:
        if exe is not None:
            try:
                with open(exe, "rb") as fh:
                    if fh.read(len(ELFMAG)) != ELFMAG:
                        raise UsageError(f"--exe {exe}: not an ELF file")
            except OSError as exc:
                raise UsageError(f"--exe {exe}: {exc.strerror}") from None
        self.path = path
        self.exe = exe
        self.core = read_core(path)
        self.memory = CoreMemory(self.core, exe)

    @property
    def exe_mapping_path(self) -> str:
        return self.memory.exe_mapping_path

    def thread(self, index: int) -> CoreTask:
        return CoreTask(self.core, self.memory, index)

    def usable_path(self, nt_path: str) -> str:
        return self.memory.usable_path(nt_path)

    def check_files(self) -> dict[str, str]:
        return self.memory.check_files()

    def close(self) -> None:
        self.memory.close()

