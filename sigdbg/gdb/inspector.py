"""The GDB front end's inspector: every report of :class:`Inspector` over the
GDB backend's :class:`~sigdbg.backends.gdb.task.GdbTask`.

Beyond the engine's inspector it finds the signal frame the user means
without an address, names addresses from gdb's own tables, decodes
``$_siginfo`` and falls back to gdb's disassembler without capstone.

Signal frames are found from gdb's unwinder: the caller of a handler is a
``gdb.SIGTRAMP_FRAME`` (``<signal handler called>``) whose pc is the frame's
pretcode and whose sp is the frame address + one word -- the pretcode slot
that the handler's ``ret`` popped (checked on x86_64 ``rt_sigframe``, i386
``rt_sigframe_ia32`` and ``sigframe_ia32``).
"""

from __future__ import annotations

import os
import struct

import gdb

from sigdbg.backends.gdb.task import CoreCache, GdbTask, selected_task
from sigdbg.backends.gdb.values import gdb_disassemble, gdb_symbol, value_bytes
from sigdbg.decode.restorer import Restorer, SymbolRef, match_pattern
from sigdbg.decode.sigframe import SigFrame
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.decode.vdso import FixedPageReport
from sigdbg.engine.inspect import Inspector
from sigdbg.errors import FeatureUnavailable, UsageError

#: frames searched outward from the selected one for ``<signal handler called>``
MAX_FRAMES = 64


class GdbInspector(Inspector):
    """Every report of :class:`Inspector` over gdb's selected thread.

    Front ends call :meth:`invalidate` before each command: the inferior may
    have run (or another inferior/thread/core may be selected) since.
    """

    def __init__(self) -> None:
        super().__init__()
        self._task: GdbTask | None = None
        self._cores = CoreCache()
        #: pretcode -> Restorer while the engine's walk decodes frames (a
        #: RestorerContext, decode/sigframe.py); emptied with the other caches
        self.restorers: dict[int, Restorer] = {}

    def invalidate(self) -> None:
        super().invalidate()
        self._task = None
        self.restorers.clear()

    def current_task(self) -> GdbTask:
        if self._task is None:
            self._task = self._make_task()
        return self._task

    def _make_task(self) -> GdbTask:
        task = selected_task(self._cores)
        self.auxv_source = ("/proc/PID/auxv" if task.core is None
                            else "the core file's NT_AUXV note")
        return task

    def exe_path(self) -> str:
        return self.current_task().exe_path()

    def disassemble(self, code: bytes, address: int, count: int = 0,
                    mode: str | None = None) -> list[str]:
        """capstone when importable, else gdb's own disassembler on target memory."""
        try:
            return super().disassemble(code, address, count, mode)
        except FeatureUnavailable:
            return [f"{a:#x}: {b.hex():<20} {t}" for a, b, t in gdb_disassemble(code, address,
                                                                                count)]

    def fixed_page_report(self, name: str) -> FixedPageReport:
        if self.current_task().core is not None:
            raise UsageError(f"the {name} report needs a live process: a core keeps neither "
                             "the page's protection reliably nor the kernel command line")
        return super().fixed_page_report(name)

    # signal frames -------------------------------------------------------------------
    def find_frame(self) -> int:
        """The signal frame the user means, without an address.

        1. the selected frame, or the nearest frame outward of it, is a
           ``<signal handler called>`` frame -- or a frame whose pc starts a
           restorer sequence (a program's own SA_RESTORER trampoline, which
           gdb only recognises under glibc's names): the frame lies one word
           below that frame's sp, where the handler's ``ret`` popped the
           pretcode (in the restorer itself, i386's ``__kernel_sigreturn``
           pops once more);
        2. the stack pointer points at a pretcode (handler entry without unwind
           info): the word there lies in [vdso] or starts a restorer sequence.
        """
        task = self.current_task()
        w = task.abi.word
        frame: gdb.Frame | None = gdb.selected_frame()
        for _ in range(MAX_FRAMES):
            if frame is None:
                break
            try:
                pc = int(frame.pc())
                tramp = frame.type() == gdb.SIGTRAMP_FRAME
                if tramp or match_pattern(task.abi, task.read_upto(pc, 16)) is not None:
                    sp = task.registers(frame)[task.abi.sp]
                    for cand in (sp - w, sp - 2 * w):
                        if 0 <= pc - self._word(cand) < 16:
                            return cand
                    if tramp:
                        return sp - w
                frame = frame.older()
            except gdb.error:
                break
        sp = task.registers()[task.abi.sp]
        if self.is_pretcode(self._word(sp)):
            return sp
        raise UsageError("no signal frame here: select a signal handler's frame "
                         "(or stop at its first instruction), or give the frame ADDRESS")

    def _word(self, address: int) -> int:
        task = self.current_task()
        raw = task.read_upto(address, task.abi.word)
        return int(struct.unpack(task.abi.word_fmt, raw)[0]) if len(raw) == task.abi.word else -1

    def is_pretcode(self, value: int) -> bool:
        if value <= 0:
            return False
        m = self.maps().find(value)
        if m is not None and m.path == "[vdso]":
            return True
        task = self.current_task()
        return match_pattern(task.abi, task.read_upto(value, 16)) is not None

    #: gdb's tables are loaded already: asking them for libc's restorer costs nothing
    lookup_names_libc = True

    def lookup(self, address: int) -> SymbolRef | None:
        """The symbol containing ``address``.

        In the vDSO, pyelftools on the image read from target memory first
        (versioned names, ``__kernel_rt_sigreturn@LINUX_2.5``, as the command
        line gives them), then gdb's own tables (the name without version).
        In the program and the shared libraries gdb loaded, gdb's tables
        only: they hold the same ``.symtab``/``.dynsym`` pyelftools would
        parse from the whole file (libc: ~0.5 s).  Other mapped files are
        left to pyelftools.
        """
        m = self.maps().find(address)
        if m is None:
            return super().lookup(address)  # re-reads a map that changed
        if m.path == "[vdso]":
            return super().lookup(address) or gdb_symbol(address, m.path)
        if m.path.startswith("/") and self._gdb_objfile(address, m.path):
            return gdb_symbol(address, m.path)
        return super().lookup(address)

    def _gdb_objfile(self, address: int, path: str) -> bool:
        """Whether gdb has the symbols of the file mapped at ``address``: a
        shared library it loaded, or the program."""
        progspace = self.current_task().inferior.progspace
        try:
            if progspace.solib_name(address):
                return True
        except (gdb.error, ValueError, OverflowError):
            return False
        exe = progspace.filename
        return bool(exe) and os.path.realpath(exe) == os.path.realpath(path)

    def sigframe(self, address: int | None = None, *, signo: int | None = None,
                 kind: str | None = None) -> SigFrame:
        """Like :meth:`Inspector.sigframe`, but without an address the frame is
        found by :meth:`find_frame` rather than assumed at the stack pointer."""
        if address is None:
            address = self.find_frame()
        return super().sigframe(address, signo=signo, kind=kind)

    def siginfo(self) -> SigInfo:
        """``$_siginfo`` (the thread's last stop; NT_SIGINFO in a core)."""
        task = self.current_task()
        try:
            value = gdb.parse_and_eval("$_siginfo")
            if value.type.code == gdb.TYPE_CODE_VOID:
                raise UsageError("no siginfo: gdb has none for this target")
            raw = value_bytes(value)
        except gdb.error as exc:
            raise UsageError(f"no siginfo: {exc}") from None
        return decode_siginfo(raw, task.abi)
