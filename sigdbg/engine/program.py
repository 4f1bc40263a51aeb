"""Checks of a program before it is launched: one-line errors for what
execve would refuse or what sigdbg cannot trace."""

from __future__ import annotations

import os
import shutil
import stat

from sigdbg.abi import abi_for_elf_header
from sigdbg.abi.elf import ELFMAG
from sigdbg.errors import TargetError, UsageError


def check_program(path: str) -> str:
    """Resolve and validate a program to launch, with a one-line error.

    An ELF file of a supported ABI, or a ``#!`` script: the kernel runs its
    interpreter (fs/binfmt_script.c), as it does for strace and gdb, and
    every report takes the ABI from the process after exec, never from this
    file.  Anything but a regular file is refused before it is read (execve
    would refuse it too: EACCES, fs/exec.c ``do_open_execat``), and the
    file is opened with O_NONBLOCK: opening a FIFO for reading blocks until
    a writer comes, and reading one blocks until it writes.
    """
    resolved = path if "/" in path else shutil.which(path)
    if resolved is None or not os.path.lexists(resolved):
        raise TargetError(f"{path}: no such program")
    try:
        st = os.stat(resolved)  # (no open: opening a device may do something)
        if not stat.S_ISREG(st.st_mode):
            raise TargetError(f"{path}: not a regular file (it is {_file_kind(st.st_mode)})")
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except PermissionError:
        raise TargetError(f"{path}: permission denied") from None
    except OSError as exc:
        raise TargetError(f"{path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)  # (what was opened, if the path changed meanwhile)
        if not stat.S_ISREG(st.st_mode):
            raise TargetError(f"{path}: not a regular file (it is {_file_kind(st.st_mode)})")
        head = os.read(fd, 64)
    except OSError as exc:
        raise TargetError(f"{path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if not head.startswith(b"#!"):
        try:
            abi_for_elf_header(head)
        except UsageError as exc:
            reason = ("not an ELF file or a #! script" if not head.startswith(ELFMAG)
                      else str(exc))
            raise TargetError(f"{path}: {reason}") from None
    if not os.access(resolved, os.X_OK):
        raise TargetError(f"{path}: not executable (permission denied)")
    return resolved


def _file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for an error message."""
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "of an unknown kind"
