"""The GDB backend's ``Target``: gdb's selected thread, live or in a core file.

Memory from ``Inferior.read_memory``, registers from ``Frame.read_register``
(so an outer frame gives the registers gdb unwound), maps/auxv/the initial
stack from ``/proc/PID`` of a live inferior or the notes of the core file
(``decode/corefile.py``).  :func:`selected_task` makes one for whatever gdb
has selected, with a one-line error when that cannot be inspected.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import gdb

from sigdbg.abi import Abi, abi_by_gdb_arch
from sigdbg.backends.base import Target
from sigdbg.backends.gdb.corefind import find_core_file
from sigdbg.decode.auxv import parse_auxv_bytes
from sigdbg.decode.corefile import CoreFile, core_maps_text, core_start_stack, read_core
from sigdbg.errors import (
    FeatureUnavailable,
    MemoryReadError,
    ProcessGone,
    TargetError,
    UsageError,
)

PAGE = 4096


def gdb_abi(frame: gdb.Frame) -> Abi:
    return abi_by_gdb_arch(frame.architecture().name())


class GdbTask:
    """The selected thread of gdb's selected inferior (live or core)."""

    def __init__(self, inferior: gdb.Inferior, thread: gdb.InferiorThread, abi: Abi,
                 core: CoreFile | None, newest: bool = False) -> None:
        self.inferior = inferior
        self.thread = thread
        self._abi = abi
        self.core = core
        self._auxv: bytes | None = None
        #: registers of the newest frame rather than the selected one (run
        #: control: the thread's own registers, whatever frame the user selected)
        self.newest = newest

    @property
    def tid(self) -> int:
        return int(self.thread.ptid[1] or self.inferior.pid)

    @property
    def pid(self) -> int:
        return int(self.inferior.pid)

    @property
    def abi(self) -> Abi:
        return self._abi

    @property
    def process_abi(self) -> Abi:
        return self._abi  # gdb's architecture of the program

    # memory ---------------------------------------------------------------------------
    def _read(self, address: int, size: int) -> bytes:
        return bytes(self.inferior.read_memory(address, size))

    def read(self, address: int, size: int) -> bytes:
        if size <= 0:
            return b""
        if address < 0 or address + size > 1 << self._abi.bits:
            raise MemoryReadError(address, size, "address out of range")
        try:
            return self._read(address, size)
        except gdb.MemoryError:
            got = len(self.read_upto(address, size))
            raise MemoryReadError(address, size, "unmapped or unreadable memory", got) from None
        except gdb.error as exc:
            raise MemoryReadError(address, size, str(exc)) from None

    def read_upto(self, address: int, size: int) -> bytes:
        if size <= 0 or address < 0 or address >= 1 << self._abi.bits:
            return b""
        size = min(size, (1 << self._abi.bits) - address)
        try:
            return self._read(address, size)
        except gdb.error:
            pass
        out = b""
        while len(out) < size:  # page by page up to the first hole
            at = address + len(out)
            n = min(size - len(out), PAGE - at % PAGE)
            try:
                out += self._read(at, n)
            except gdb.error:
                break
        return out

    # registers ------------------------------------------------------------------------
    def registers(self, frame: gdb.Frame | None = None) -> dict[str, int]:
        """The user_regs of the selected frame (values gdb unwound for outer
        frames; registers gdb cannot recover there are left out)."""
        try:
            frame = frame or (gdb.newest_frame() if self.newest else gdb.selected_frame())
        except gdb.error as exc:
            raise ProcessGone(f"no registers: {exc}") from None
        out: dict[str, int] = {}
        mask = self._abi.mask
        gdb_names = dict(self._abi.gdb_reg_names)  # user_regs names gdb spells differently
        for name in (f.name for f in self._abi.user_regs.fields):
            try:
                out[name] = int(frame.read_register(gdb_names.get(name, name))) & mask
            except (gdb.error, ValueError):
                continue
        if self._abi.sp not in out or self._abi.pc not in out:
            raise TargetError("gdb cannot read the stack pointer and pc of this frame")
        return out

    def registers_as(self, abi: Abi) -> dict[str, int]:
        if abi is not self._abi:
            raise TargetError(f"gdb shows this thread as {self._abi}, not {abi}")
        return self.registers()

    def pc(self) -> int:
        return self.registers()[self._abi.pc]

    def fp_regs_raw(self) -> bytes | None:
        return None  # gdb's register view has no raw regset

    def regset_raw(self, note: int) -> bytes | None:
        return None  # nor any other

    def pc_sp(self) -> tuple[int, int]:
        regs = self.registers()
        return regs[self._abi.pc], regs[self._abi.sp]

    # process data ---------------------------------------------------------------------
    def _proc(self, name: str) -> bytes:
        try:
            with open(f"/proc/{self.pid}/{name}", "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise ProcessGone(f"process {self.pid} is gone") from None
        except OSError as exc:
            raise TargetError(f"cannot read /proc/{self.pid}/{name}: {exc.strerror}") from None

    def auxv_bytes(self) -> bytes | None:
        if self._auxv is None:
            if self.core is None:
                self._auxv = self._proc("auxv")
            else:
                self._auxv = self.core.note(CoreFile.NT_AUXV)
        return self._auxv

    def _auxv_dict(self) -> dict[int, int]:
        raw = self.auxv_bytes()
        return dict(parse_auxv_bytes(raw, self._abi)) if raw else {}

    def maps_text(self) -> str:
        if self.core is None:
            return self._proc("maps").decode("utf-8", "surrogateescape")
        return core_maps_text(self.core, self._abi, self._auxv_dict())

    def start_stack(self) -> int:
        if self.core is None:
            stat = self._proc("stat")
            return int(stat[stat.rindex(b")") + 2:].split()[28 - 3])
        return self._core_start_stack()

    def _core_start_stack(self) -> int:
        """A core has no mm->start_stack: found from NT_AUXV on the stack."""
        return core_start_stack(self.read_upto, self._abi, self.auxv_bytes())

    def exe_path(self) -> str:
        if self.core is None:
            try:
                return os.readlink(f"/proc/{self.pid}/exe")
            except OSError:
                pass
        return self.inferior.progspace.filename or ""



def target_kind(inf: gdb.Inferior) -> str:
    """gdb's name for the target ``inf`` runs on ("native", "core", "remote", ...)."""
    conn = getattr(inf, "connection", None)
    if conn is not None:
        return str(conn.type)
    return "native" if os.path.exists(f"/proc/{inf.pid}/maps") else "unknown"


class CoreCache:
    """The core file last read, kept while gdb has the same, unchanged file open."""

    def __init__(self) -> None:
        self._core: tuple[tuple[str, float], CoreFile] | None = None

    def get(self, inferior: gdb.Inferior) -> CoreFile:
        path = find_core_file(inferior)
        key = (path, os.stat(path).st_mtime)
        if self._core is None or self._core[0] != key:
            self._core = (key, read_core(path))
        return self._core[1]


def selected_task(cores: CoreCache) -> GdbTask:
    """A :class:`GdbTask` for gdb's selected thread (UsageError when there is
    none, or it runs; FeatureUnavailable on a target other than a native
    process or a core file)."""
    inf = gdb.selected_inferior()
    thread = gdb.selected_thread()
    if inf.pid == 0 or thread is None or not thread.is_valid():
        raise UsageError("the program is not being run (start it, attach, or load a core)")
    if thread.is_running():
        raise UsageError("the selected thread is running; interrupt it first")
    try:
        frame = gdb.selected_frame()
    except gdb.error as exc:
        raise UsageError(f"no frame: {exc}") from None
    kind = target_kind(inf)
    core = None
    if kind == "core":
        core = cores.get(inf)
    elif kind != "native":
        raise FeatureUnavailable(f"sigdbg supports native processes and core files, "
                                 f"not {kind} targets")
    return GdbTask(inf, thread, gdb_abi(frame), core)


if TYPE_CHECKING:  # mypy --strict proves the Protocol
    _TARGET: type[Target] = GdbTask
