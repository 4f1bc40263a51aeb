"""The core file gdb has open: its notes (NT_AUXV, NT_FILE) are what the
GDB backend reads for a core's auxv and maps, which gdb's Python does not give."""

from __future__ import annotations

import os
import stat

import gdb

from sigdbg.abi.elf import ET_CORE, IDENT_SIZE, ElfError, read_ident
from sigdbg.decode.corefile import read_core
from sigdbg.errors import FeatureUnavailable, SigdbgError


def find_core_file(inferior: gdb.Inferior) -> str:
    """The core file gdb has open for ``inferior``.

    gdb >= 17 says so (``Inferior.corefile``); older ones keep the file open,
    so it is found among gdb's own descriptors: an ET_CORE file whose
    NT_PRSTATUS pid is the inferior's.
    """
    cf = getattr(inferior, "corefile", None)
    if cf is not None and getattr(cf, "filename", None):
        return str(cf.filename)
    cores = []
    seen = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
            if not path.startswith("/") or path in seen:
                continue
            seen.add(path)
            head = _file_head(fd, path, IDENT_SIZE)
        except OSError:
            continue
        if _is_core(head):
            cores.append(path)
    for path in cores:
        try:
            if read_core(path).pid == inferior.pid:
                return path
        except SigdbgError:
            continue
    if len(cores) == 1:
        return cores[0]
    raise FeatureUnavailable("cannot find the core file gdb has open (its notes hold the auxv)")


def _is_core(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) is the header of an ET_CORE file."""
    try:
        return read_ident(head).e_type == ET_CORE
    except ElfError:
        return False


def _file_head(fd: str, path: str, size: int) -> bytes:
    """The first ``size`` bytes of ``path``, which gdb has open as ``fd``; b""
    for anything but a regular file.

    gdb's descriptors include its terminal, pipes and whatever it inherited:
    opening a FIFO for reading blocks until a writer comes, and reading one
    until it writes.  So the descriptor is looked at first (stat through
    /proc/self/fd/N opens nothing), and the path is opened with O_NONBLOCK
    and checked again (it may name another file by now).
    """
    if not stat.S_ISREG(os.stat(f"/proc/self/fd/{fd}").st_mode):
        return b""
    f = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(f).st_mode):
            return b""
        return os.pread(f, size, 0)
    finally:
        os.close(f)
