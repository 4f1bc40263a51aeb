"""``sigdbg gdb [GDB OPTIONS] [-- PROG ARGS]``: GDB with the extension loaded.

Like pwndbg's ``pwndbg`` launcher, this execs GDB itself (the process
becomes GDB: its terminal, signals and exit status are GDB's).  The
extension is loaded with ``-iex`` -- before GDB reads the program and before
the ``-ex``/``-x`` commands, also under ``-nx`` -- by the same line
``sigdbg gdb-init`` prints, so GDB takes this installation's site-packages.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

from sigdbg.errors import UsageError
from sigdbg.gdb.locate import gdbinit_line

USAGE = "sigdbg gdb [GDB OPTIONS] [-- PROG [ARGS...]]"
DESCRIPTION = """\
Start gdb with sigdbg's extension loaded (the line `sigdbg gdb-init` prints,
given with -iex), then gdb's own options; after "--" the program and its
arguments (gdb's --args).  gdb replaces this process.
"""
EPILOG = """\
example:
  $ sigdbg gdb -q -ex 'handle SIGUSR1 nostop noprint' \\
      -ex 'break handler' -- ./sig_basic raise
  (gdb) run
  Breakpoint 1, handler (sig=10, si=0x7fffffffdb30, uc=0x7fffffffda00) at sig_basic.c:52
  (gdb) sigdbg frame
  <kind> at 0x7fffffffd9f8 (<abi>, 440 bytes): signal SIGUSR1 (10)
    pretcode  0x7ffff7e10050 -> libc __restore_rt in .../libc.so.6
    ...

gdb's own options: gdb --help.  Without "--", all arguments go to gdb
(sigdbg gdb -p PID, sigdbg gdb PROG CORE).
"""


def gdb_argv(args: list[str], gdb: str = "gdb") -> list[str]:
    """The command line for gdb: ``-iex LINE``, the GDB OPTIONS, then
    ``--args PROG ARGS`` for what follows ``--``."""
    if "--" in args:
        at = args.index("--")
        opts, prog = args[:at], args[at + 1:]
        if not prog:
            raise UsageError("nothing after '--': give -- PROG [ARGS...]")
    else:
        opts, prog = args, []
    out = [gdb, "-iex", gdbinit_line(), *opts]
    if prog:
        out += ["--args", *prog]
    return out


def find_gdb() -> str:
    path = shutil.which("gdb")
    if path is None:
        raise UsageError("gdb is not installed (no gdb in PATH); install it (apt install gdb) "
                         "or put it in PATH")
    return path


def exec_gdb(args: list[str]) -> NoReturn:
    """Replace this process with gdb."""
    gdb = find_gdb()
    argv = gdb_argv(args, gdb)
    try:
        os.execv(gdb, argv)
    except OSError as exc:
        raise UsageError(f"cannot run {gdb}: {exc.strerror or exc}") from None
