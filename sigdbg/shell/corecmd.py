"""The shell's ``core FILE [--exe PROG] [--thread N]``: load a core file.

While no process is being debugged, the data commands shared with the CLI
(auxv, maps, vdso, frame), ``siginfo``, ``regs`` and ``bt`` read the loaded core:
``frame`` without an address is the innermost signal frame left on the
stack, ``regs --frame`` its saved context, ``regs --fp`` the thread's
FP/vector note (``Abi.fp_regset_notes``: x86's NT_X86_XSTATE), ``bt`` the
crashing thread's stack through every signal frame.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sigdbg.commands.parser import dump_json, parse_int
from sigdbg.commands.target import open_core
from sigdbg.engine.coretarget import core_report
from sigdbg.errors import UsageError
from sigdbg.render.core import render_core_report
from sigdbg.shell import views

if TYPE_CHECKING:
    from sigdbg.shell.context import ShellContext as Shell


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


def regs(sh: Shell, a: argparse.Namespace) -> None:
    """``regs [--fp] [--frame]`` on the loaded core (NT_PRSTATUS, the FP note, the frame)."""
    from sigdbg.decode.fparea import vectors_from_fpstate as from_fpstate
    from sigdbg.decode.fparea import vectors_from_regset as from_regset

    target = sh.core
    assert target is not None
    task = target.current_task()
    abi = task.abi
    if a.fp:
        if a.frame:
            fp = target.sigframe().fpstate
            if fp is None:
                raise UsageError("the innermost signal frame has no fpstate")
            vec = from_fpstate(fp)
        else:
            raw = task.fp_regs_raw()
            if raw is None:
                raise UsageError("the core has no FP/vector regset for this thread")
            vec = from_regset(raw, abi)
        sh.write(dump_json(vec.to_json()) if a.json else views.vectors(vec, sh.style))
        return
    if a.frame:
        mc = target.sigframe().mcontext
        values = {reg: mc[m] for m, reg in abi.mcontext_regs if m in mc}
    else:
        values = task.registers()
    if a.json:
        sh.write(dump_json(values))
        return
    ref = target.lookup(values[abi.pc])
    sh.write(views.registers(values, abi.pc, abi.flags, abi.bits, str(ref) if ref else None,
                             sh.style, abi.flag_names))
