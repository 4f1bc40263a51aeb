"""The shell's ``core FILE [--exe PROG] [--thread N]``: load a core file.

While no process is being debugged, the data commands shared with the CLI
(auxv, maps, vdso, frame) and ``siginfo`` read the loaded core: ``frame``
without an address is the innermost signal frame left on the stack.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sigdbg.cli.commands import dump_json, parse_int
from sigdbg.engine.coretarget import core_report, open_core
from sigdbg.errors import UsageError
from sigdbg.render.core import render_core_report

if TYPE_CHECKING:
    from sigdbg.shell.core import Shell


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--exe", metavar="PROG", help="the program, when the core's path is not it")
    p.add_argument("--thread", type=parse_int, metavar="N",
                   help="search thread N's stack (1 = the thread that dumped)")
    p.add_argument("file", nargs="?", help="the core file (default: show the loaded one)")


def run(sh: Shell, a: argparse.Namespace) -> None:
    if a.file is not None:
        new = open_core(a.file, a.exe)
        old, sh.core = sh.core, new
        if old is not None:
            old.close()
    elif a.exe is not None:
        raise UsageError("core: --exe goes with a FILE")
    target = sh.core
    if target is None:
        raise UsageError("no core file loaded: core FILE [--exe PROG]")
    if a.thread is not None:
        target.select_thread(a.thread)
    report = core_report(target)
    sh.write(dump_json(report.to_json()) if a.json else render_core_report(report, sh.style))
    s = sh.session
    if s is not None and s.alive and a.file is not None:
        sh.write(f"note: process {s.pid} stays the target of the other commands until it is "
                 "killed or detached")
