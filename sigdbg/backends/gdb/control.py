"""The GDB backend: a :class:`~sigdbg.backends.base.Task` over gdb's selected thread.

Only this module and ``sigdbg/gdb/extension.py`` import :mod:`gdb`; it runs
on GDB's own Python, which may have none of sigdbg's dependencies
(python-ptrace, pyelftools, capstone), so nothing here imports them.

Where the data comes from:

- memory: ``gdb.selected_inferior().read_memory`` (live process or core);
- registers: ``gdb.selected_frame().read_register`` under the names of the
  ABI's ``user_regs_struct`` (so frame 1 gives the registers gdb unwound);
- the ABI: ``Frame.architecture().name()`` ("i386:x86-64" or "i386");
- maps, auxv, the initial stack: ``/proc/PID/{maps,auxv,stat}`` of a live
  inferior; for a core file the raw notes of the core (``NT_AUXV``,
  ``NT_FILE``, ``NT_PRSTATUS``) and its ``PT_LOAD`` headers, read by a small
  ELF walker below -- never gdb's ``info`` text;
- siginfo: the raw bytes of ``$_siginfo``, which gdb gives in the inferior's
  own layout (compat layout for an i386 inferior, also under a 64-bit gdb);
- symbols: gdb's own tables (``gdb.format_address``), which name the vDSO's
  and libc's restorers without pyelftools (gdb reads the vDSO's ELF image
  from target memory itself, as "system-supplied DSO").

Signal frames are found from gdb's unwinder: the caller of a handler is a
``gdb.SIGTRAMP_FRAME`` (``<signal handler called>``) whose pc is the frame's
pretcode and whose sp is the frame address + one word -- the pretcode slot
that the handler's ``ret`` popped (checked on x86_64 ``rt_sigframe``, i386
``rt_sigframe_ia32`` and ``sigframe_ia32``).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import struct
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Literal

import gdb

from sigdbg.abi import Abi, abi_by_gdb_arch
from sigdbg.abi.elf import ET_CORE, IDENT_SIZE, ElfError, read_ident
from sigdbg.backends.base import Control, How, Target
from sigdbg.backends.stopcodes import PTRACE_EVENT_EXEC, Stop
from sigdbg.decode.auxv import parse_auxv_bytes
from sigdbg.decode.corefile import CoreFile, core_maps_text, core_start_stack, read_core
from sigdbg.decode.restorer import Restorer, SymbolRef, match_pattern
from sigdbg.decode.sigframe import SigFrame
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.decode.vdso import VsyscallReport
from sigdbg.engine import events as ev
from sigdbg.engine.inspect import Inspector
from sigdbg.engine.sigreturn import ControlHost, leftover_events, step_through_sigreturn
from sigdbg.errors import (
    FeatureUnavailable,
    MemoryReadError,
    ProcessGone,
    SigdbgError,
    TargetError,
    UsageError,
)
from sigdbg.names import signal_name, signal_number

PAGE = 4096
#: user_regs_struct names that gdb calls differently (i386 segment registers)
_GDB_REG_NAMES = {"xds": "ds", "xes": "es", "xfs": "fs", "xgs": "gs", "xcs": "cs", "xss": "ss"}
#: frames searched outward from the selected one for ``<signal handler called>``
MAX_FRAMES = 64


def gdb_abi(frame: gdb.Frame) -> Abi:
    return abi_by_gdb_arch(frame.architecture().name())


# -- core files ---------------------------------------------------------------------------
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


# -- the task ------------------------------------------------------------------------------
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
        for name in (f.name for f in self._abi.user_regs.fields):
            try:
                out[name] = int(frame.read_register(_GDB_REG_NAMES.get(name, name))) & mask
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


# -- the inspector -------------------------------------------------------------------------
class GdbInspector(Inspector):
    """Every report of :class:`Inspector` over gdb's selected thread.

    Front ends call :meth:`invalidate` before each command: the inferior may
    have run (or another inferior/thread/core may be selected) since.
    """

    def __init__(self) -> None:
        super().__init__()
        self._task: GdbTask | None = None
        self._core: tuple[tuple[str, float], CoreFile] | None = None
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
        kind = self.target_kind(inf)
        core = None
        if kind == "core":
            path = find_core_file(inf)
            key = (path, os.stat(path).st_mtime)
            if self._core is None or self._core[0] != key:
                self._core = (key, read_core(path))
            core = self._core[1]
        elif kind != "native":
            raise FeatureUnavailable(f"sigdbg supports native processes and core files, "
                                     f"not {kind} targets")
        self.auxv_source = "/proc/PID/auxv" if core is None else "the core file's NT_AUXV note"
        return GdbTask(inf, thread, gdb_abi(frame), core)

    @staticmethod
    def target_kind(inf: gdb.Inferior) -> str:
        conn = getattr(inf, "connection", None)
        if conn is not None:
            return str(conn.type)
        return "native" if os.path.exists(f"/proc/{inf.pid}/maps") else "unknown"

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

    def vsyscall_report(self) -> VsyscallReport:
        if self.current_task().core is not None:
            raise UsageError("the vsyscall report needs a live process: a core keeps neither "
                             "the page's protection reliably nor the kernel command line")
        return super().vsyscall_report()

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


def gdb_symbol(address: int, mapping: str) -> SymbolRef | None:
    """gdb's name for ``address``: its minimal symbols (each objfile's
    ``.symtab``/``.dynsym``, the vDSO's too) and debug info.

    ``gdb.format_address`` (gdb >= 13) documents its result as ``ADDRESS
    <SYMBOL+OFFSET>``; older gdbs give the same form for a ``void *`` value
    printed with ``symbols=True``.  gdb names an address only inside a
    symbol's size (checked: the byte before ``__kernel_rt_sigreturn`` and
    libc's ``__restore_rt`` without its debug file get no name).
    """
    try:
        fmt = getattr(gdb, "format_address", None)
        if fmt is not None:
            text = str(fmt(address))
        else:
            void_p = gdb.lookup_type("void").pointer()
            text = gdb.Value(address).cast(void_p).format_string(symbols=True)
    except (gdb.error, ValueError, OverflowError, RuntimeError):
        return None
    return parse_symbolic(text, mapping)


def parse_symbolic(text: str, mapping: str) -> SymbolRef | None:
    """``0xf7ffc610 <__kernel_rt_sigreturn+1>`` -> SymbolRef (also with
    ``print symbol-filename on``: ``<main+4 at t.c:5>``; C++ names may hold
    ``<>`` and ``+``, so the brackets are the first `` <`` and the last ``>``)."""
    start = text.find(" <")
    end = text.rfind(">")
    if start < 0 or end <= start + 2:
        return None
    inner = text[start + 2:end]
    if " at " in inner:
        inner = inner.rsplit(" at ", 1)[0]
    name, plus, off = inner.rpartition("+")
    if not (plus and name and off.isdigit()):
        name, off = inner, "0"
    return SymbolRef(name, int(off), mapping) if name else None


def value_bytes(value: gdb.Value) -> bytes:
    """The raw bytes of a gdb value (``Value.bytes`` is gdb >= 14)."""
    raw = getattr(value, "bytes", None)
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    buf = bytearray(value.type.sizeof)
    _fill(buf, 0, value)
    return bytes(buf)


def _fill(buf: bytearray, off: int, value: gdb.Value) -> None:
    """Serialise ``value`` into ``buf`` at ``off`` field by field (union members
    are views of the same bytes, so writing each of them is consistent)."""
    t = value.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        for f in t.fields():
            if getattr(f, "bitpos", None) is None or f.bitsize:
                continue  # static members, bitfields (siginfo_t has none)
            _fill(buf, off + int(f.bitpos or 0) // 8, value[f])
    elif t.code == gdb.TYPE_CODE_ARRAY:
        lo, hi = t.range()
        size = t.target().strip_typedefs().sizeof
        for i in range(lo, hi + 1):
            _fill(buf, off + (i - lo) * size, value[i])
    elif t.sizeof:
        n = t.sizeof
        buf[off:off + n] = (int(value) & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def gdb_disassemble(code: bytes, address: int, count: int = 0) -> list[tuple[int, bytes, str]]:
    """gdb's disassembler over target memory at ``address``, as far as ``code`` reaches."""
    arch = gdb.selected_frame().architecture()
    out: list[tuple[int, bytes, str]] = []
    off = 0
    while off < len(code) and (count == 0 or len(out) < count):
        try:
            insn = arch.disassemble(address + off)[0]
        except gdb.error:
            break
        n = int(insn["length"])
        if n <= 0 or off + n > len(code):
            break
        out.append((address + off, code[off:off + n], " ".join(str(insn["asm"]).split())))
        off += n
    return out


# -- run control ---------------------------------------------------------------------------

def _parameter(name: str) -> object:
    try:
        return gdb.parameter(name)
    except (gdb.error, RuntimeError):
        return None


class GdbControl:
    """:class:`~sigdbg.backends.base.Control` over gdb's selected inferior.

    gdb runs the process (its ``continue`` and ``stepi``, with its stop
    printing suppressed); each resume is synchronous, and the stop it ended
    with is classified as the ptrace backend classifies a waitpid status,
    with the real siginfo of the stop (``$_siginfo``, in the inferior's
    layout: ``Stop.siginfo_abi``):

    - a signal: a temporary ``catch signal`` (every signal but SIGTRAP and
      SIGINT) stops each one at its delivery -> "signal";
    - our execute breakpoint (:meth:`watch_execute`: a thread-specific
      hardware breakpoint, so the text is left alone) and a finished
      ``stepi`` (also one that landed on a user's breakpoint) -> "signal"
      SIGTRAP (si_code TRAP_HWBKPT, TRAP_TRACE...; a ``stepi`` that
      delivered a signal into its handler, 5);
    - ``catch syscall`` of the sigreturn calls (``how="syscall"``) -> "syscall";
    - the process gone -> "exited" / "killed";
    - anything else (a user's breakpoint or watchpoint, Ctrl-C, a stop
      signal) -> "interrupt": the debugger stopped it for its own reasons.

    gdb decides which signal a resume delivers (its ``handle ... pass``
    table; a caught signal is passed): ``sig`` is not used.  Only the walk's
    thread is stepped (``stepi`` under scheduler-locking); ``continue``
    lets every thread run, as gdb does.
    """

    def __init__(self, insp: GdbInspector, catch: set[int] | None = None) -> None:
        self.insp = insp
        #: the signals a "cont" stops for at their delivery (empty: every one
        #: but SIGTRAP and SIGINT, which are gdb's own)
        self.catch = catch or set()
        task = insp.current_task()
        if task.core is not None:
            raise UsageError("a core file cannot run: this needs a live process")
        self.abi = task.abi
        self.pid = task.pid
        self._watch: dict[int, gdb.Breakpoint] = {}
        self._breakpoints: dict[int, gdb.Breakpoint] = {}
        self._stashed: Stop | None = None
        self._last_sig = 0  #: the last signal seen: what a process that died was killed by

    # the thread --------------------------------------------------------------------------
    def _thread(self, tid: int) -> gdb.InferiorThread:
        inf = gdb.selected_inferior()
        if inf.pid != self.pid:
            raise ProcessGone(f"process {self.pid} is gone")
        for t in inf.threads():
            if t.is_valid() and int(t.ptid[1] or inf.pid) == tid:
                return t
        raise ProcessGone(f"thread {tid} is gone")

    def task(self, tid: int) -> GdbTask:
        thread = self._thread(tid)
        if gdb.selected_thread() != thread:
            thread.switch()
        self.insp.invalidate()
        t = self.insp.current_task()
        return GdbTask(t.inferior, thread, t.abi, None, newest=True)

    def _alive(self) -> bool:
        t = gdb.selected_thread()
        return gdb.selected_inferior().pid == self.pid and t is not None and t.is_valid()

    # running -------------------------------------------------------------------------------
    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        self._stashed = self.resume_wait(tid, sig, how)

    def wait(self, tid: int = -1) -> Stop:
        stop, self._stashed = self._stashed, None
        if stop is None:
            raise ProcessGone("nothing was resumed: gdb's resumes are synchronous")
        return stop

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        self._thread(tid).switch()
        signals = _Catchpoint(self.catch) if how != "step" else None
        syscalls = _TempCatch(f"catch syscall {self.abi.rt_sigreturn_nr}" + (
            f" {self.abi.sigreturn_nr}" if self.abi.sigreturn_nr is not None else "")) \
            if how == "syscall" else None
        execs = _TempCatch("catch exec") if how != "step" else None
        try:
            caught = signals.hits if signals is not None else 0
            st = _Stops().run("stepi" if how == "step" else "continue")
            if not self._alive():
                if st.exit_code is not None or not self._last_sig:
                    return Stop(tid, "exited", self.pid, status=st.exit_code or 0)
                return Stop(tid, "killed", self.pid, sig=self._last_sig)
            thread = gdb.selected_thread()
            now = int(thread.ptid[1] or self.pid)
            if signals is not None and signals.hits > caught:
                raw = self._siginfo_raw()
                signo = int.from_bytes(raw[:4], "little") if raw else 0
                self._last_sig = signo
                return Stop(now, "signal", self.pid, sig=signo, siginfo_raw=raw,
                            siginfo_abi=self.abi.name)
            if syscalls is not None and syscalls.hit():
                return Stop(now, "syscall", self.pid, sig=signal.SIGTRAP)
            if execs is not None and execs.hit():
                return Stop(now, "event", self.pid, sig=signal.SIGTRAP, event=PTRACE_EVENT_EXEC)
            last = st.stops[-1] if st.stops else None
            ours = isinstance(last, gdb.BreakpointEvent) and any(
                b in self._watch.values() for b in last.breakpoints)
            # a stepi always ends after one instruction (or a delivery into a
            # handler); a breakpoint of the user's where it landed is reported
            # with it but does not make it less of a step
            plain_step = how == "step" and not isinstance(last, gdb.SignalEvent)
            if ours or plain_step:
                return Stop(now, "signal", self.pid, sig=signal.SIGTRAP,
                            siginfo_raw=self._siginfo_raw(), siginfo_abi=self.abi.name)
            stopsig = signal_number(st.signal) if st.signal else signal.SIGTRAP
            if stopsig in _STOP_SIGNALS:  # the process stopped (job control)
                return Stop(now, "group", self.pid, sig=stopsig)
            return Stop(now, "interrupt", self.pid, sig=stopsig)
        finally:
            if signals is not None:
                signals.delete()
            for catch in (syscalls, execs):
                if catch is not None:
                    catch.delete()
            self.insp.invalidate()

    def _siginfo_raw(self) -> bytes | None:
        try:
            value = gdb.parse_and_eval("$_siginfo")
            if value.type.code == gdb.TYPE_CODE_VOID:
                return None
            return value_bytes(value)
        except gdb.error:
            return None

    # breakpoints ---------------------------------------------------------------------------
    def insert_breakpoint(self, address: int) -> None:
        if address not in self._breakpoints:
            bp = gdb.Breakpoint(f"*{address:#x}", internal=True)
            bp.silent = True
            self._breakpoints[address] = bp

    def remove_breakpoint(self, address: int) -> None:
        _delete(self._breakpoints.pop(address, None))

    def watch_execute(self, tid: int, address: int) -> None:
        self.unwatch(tid)
        try:
            bp = gdb.Breakpoint(f"*{address:#x}", type=gdb.BP_HARDWARE_BREAKPOINT,
                                internal=True)
        except (gdb.error, AttributeError, RuntimeError) as exc:
            raise FeatureUnavailable(f"no hardware breakpoint: {exc}") from None
        bp.silent = True
        bp.thread = self._thread(tid).num
        self._watch[tid] = bp

    def unwatch(self, tid: int) -> None:
        _delete(self._watch.pop(tid, None))

    def interrupt(self, tid: int) -> None:
        gdb.execute("interrupt", to_string=True)

    # signal state (a live native inferior: /proc) --------------------------------------------
    def _status_field(self, tid: int, name: str) -> int:
        try:
            with open(f"/proc/{self.pid}/task/{tid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(name.encode() + b":"):
                        return int(line.split()[1], 16)
        except FileNotFoundError:
            raise ProcessGone(f"thread {tid} is gone") from None
        except (OSError, ValueError) as exc:
            raise TargetError(f"cannot read the status of thread {tid}: {exc}") from None
        raise TargetError(f"no {name} in /proc/{self.pid}/task/{tid}/status")

    def sigmask(self, tid: int) -> int:
        return self._status_field(tid, "SigBlk")

    def pending_signals(self, tid: int) -> int:
        return self._status_field(tid, "SigPnd") | self._status_field(tid, "ShdPnd")

    def event_msg(self, tid: int) -> int:
        raise FeatureUnavailable("gdb reports no PTRACE_EVENT stops")

    def detach(self) -> None:
        for tid in list(self._watch):
            self.unwatch(tid)
        for address in list(self._breakpoints):
            self.remove_breakpoint(address)
        gdb.execute("detach", to_string=True)


_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})


def _delete(bp: gdb.Breakpoint | None) -> None:
    """Delete one of our breakpoints; gdb refuses some deletions once the
    process is gone ("Target 'exec' cannot support this command"), and then
    there is nothing left to remove them from."""
    if bp is not None and bp.is_valid():
        try:
            bp.delete()
        except gdb.error:
            pass


if TYPE_CHECKING:  # mypy --strict proves the Protocols
    _TARGET: type[Target] = GdbTask
    _CONTROL: type[Control] = GdbControl


class _TempCatch:
    """A temporary, silent catchpoint (``catch syscall N``, ``catch exec``)."""

    def __init__(self, command: str) -> None:
        gdb.execute(command, to_string=True)
        num = int(gdb.parse_and_eval("$bpnum"))
        self.bp = next((b for b in gdb.breakpoints() if b.number == num), None)
        if self.bp is not None:
            self.bp.silent = True
        self.hits = self.bp.hit_count if self.bp is not None else 0

    def hit(self) -> bool:
        return self.bp is not None and self.bp.is_valid() and self.bp.hit_count > self.hits

    def delete(self) -> None:
        _delete(self.bp)


def gdb_step_sigreturn(insp: GdbInspector, entry: SigFrame) -> list[ev.Event]:
    """``sigdbg step-sigreturn``: the engine's sigreturn walk
    (``engine/sigreturn.py``, the one the ptrace front ends run) over
    :class:`GdbControl`, from wherever in the handler of ``entry`` the
    thread stands; then the process's end, if the walk saw it."""
    control = GdbControl(insp)
    tid = insp.current_task().tid
    host = ControlHost(control, insp)
    task = control.task(tid)
    out = [_gdb_text(e, task) for e in step_through_sigreturn(host, control, task, entry,
                                                               at_entry=False)]
    return out + leftover_events(host)


def _gdb_text(e: ev.Event, task: GdbTask) -> ev.Event:
    """A step's text from gdb's disassembler where capstone gave none
    (right after the step: the restorer's text does not change)."""
    if isinstance(e, ev.SigreturnStep) and e.step.text.startswith("(.byte"):
        try:
            got = gdb_disassemble(task.read_upto(e.step.address, 16), e.step.address, 1)
        except (gdb.error, SigdbgError):
            return e
        if got:
            return dataclasses.replace(e, step=dataclasses.replace(
                e.step, bytes=got[0][1], text=got[0][2]))
    return e


class _Stops:
    """Collects gdb's stop and exit events while one execution command runs."""

    def __init__(self) -> None:
        self.stops: list[gdb.StopEvent] = []
        self.exit_code: int | None = None
        self.exited = False

    def _stop(self, event: gdb.StopEvent) -> None:
        self.stops.append(event)

    def _exit(self, event: gdb.ExitedEvent) -> None:
        self.exited = True
        code = getattr(event, "exit_code", None)
        self.exit_code = None if code is None else int(code)

    def run(self, command: str) -> _Stops:
        """Run ``continue`` or ``stepi`` with gdb's stop printing suppressed
        (``to_string`` cannot capture it; ``suppress-cli-notifications`` is
        gdb >= 12): the events are the report.  Signals and exits still show."""
        gdb.events.stop.connect(self._stop)
        gdb.events.exited.connect(self._exit)
        quiet = _parameter("suppress-cli-notifications")
        # a stepi moves only this thread (gdb's default lets the others run)
        locking = _parameter("scheduler-locking") if command == "stepi" else None
        try:
            if quiet is False:
                gdb.execute("set suppress-cli-notifications on", to_string=True)
            if locking in ("off", "replay"):
                gdb.execute("set scheduler-locking step", to_string=True)
            gdb.execute(command, to_string=True)
        except gdb.error as exc:
            if not self.exited:
                raise TargetError(f"{command}: {exc}") from None
        finally:
            if quiet is False:
                gdb.execute("set suppress-cli-notifications off", to_string=True)
            if locking in ("off", "replay"):
                try:
                    gdb.execute(f"set scheduler-locking {locking}", to_string=True)
                except gdb.error:
                    pass  # the process is gone ("Target 'exec' cannot support ...")
            gdb.events.stop.disconnect(self._stop)
            gdb.events.exited.disconnect(self._exit)
        return self

    @property
    def signal(self) -> str | None:
        """The name of the signal the last stop was for (None: not a signal stop)."""
        last = self.stops[-1] if self.stops else None
        return str(last.stop_signal) if isinstance(last, gdb.SignalEvent) else None


class _Catchpoint:
    """A temporary, silent ``catch signal`` (gdb has no Python API for it)."""

    def __init__(self, numbers: set[int]) -> None:
        names = sorted(signal_name(n) if n < 32 else f"SIG{n}" for n in numbers)
        gdb.execute("catch signal " + " ".join(names), to_string=True)
        num = int(gdb.parse_and_eval("$bpnum"))
        self.bp = next((b for b in gdb.breakpoints() if b.number == num), None)
        if self.bp is None:
            raise TargetError("gdb did not create the signal catchpoint")
        self.bp.silent = True

    @property
    def hits(self) -> int:
        return int(self.bp.hit_count) if self.bp is not None and self.bp.is_valid() else 0

    def delete(self) -> None:
        if self.bp is not None and self.bp.is_valid():
            self.bp.delete()


class GdbRunner:
    """``catch`` over :class:`GdbControl`: continue to the next handler entry.

    A generator of :mod:`sigdbg.engine.events`, like the ptrace engine's, so
    the front end renders them with the same code.  (``step-sigreturn`` is
    :func:`gdb_step_sigreturn`: the engine's walk over :class:`GdbControl`.)
    """

    def __init__(self, insp: GdbInspector) -> None:
        self.insp = insp
        task = insp.current_task()
        if task.core is not None:
            raise UsageError("a core file cannot run: this needs a live process")
        self.abi = task.abi
        self.pid = task.pid
        self.tid = task.tid

    def _regs(self) -> dict[str, int]:
        self.insp.invalidate()
        return self.insp.current_task().registers(gdb.newest_frame())

    def _ended(self, stop: Stop) -> ev.Event:
        if stop.kind == "killed":
            return ev.Killed(self.pid, self.pid, stop.sig, False)
        return ev.Exited(self.pid, self.pid, stop.status)

    def _deliver(self, control: GdbControl, tid: int, info: SigInfo,
                 pc: int) -> Generator[ev.Event, None, SigFrame | None | Literal[False]]:
        """At a signal-delivery stop of ``tid``: a step delivers the signal.
        Returns the handler's frame, None (no handler ran: ignored, default
        or not passed) or False (the process ended)."""
        stop = control.resume_wait(tid, info.si_signo, "step")
        if stop.kind in ("exited", "killed"):
            yield ev.SignalDelivered(self.pid, tid, info, "fatal", pc)
            yield self._ended(stop)
            return False
        frame = self._entered_handler()
        if frame is None:
            yield ev.SignalDelivered(self.pid, tid, info, "passed", pc)
            return None
        yield ev.SignalDelivered(self.pid, tid, info, "handler", pc)
        yield ev.HandlerEntered(self.pid, tid, self._regs()[self.abi.pc], frame)
        return frame

    # catch ---------------------------------------------------------------------------
    def catch(self, signals: list[str], limit: int = 1000) -> Iterator[ev.Event]:
        """Continue to the next signal delivered to a handler; stop at the
        handler's first instruction (:class:`GdbControl` with a ``catch
        signal`` of ``signals``, then a step: stepping from a signal stop
        delivers the signal and stops in the handler).  Already stopped for
        a signal (``Program received signal ...``): that one is delivered
        first."""
        numbers = {signal_number(s) for s in signals}
        control = GdbControl(self.insp, numbers)
        pending = self._pending_signal(numbers)
        tid = self.tid
        for _ in range(limit):
            if pending is None:
                stop = control.resume_wait(tid, 0, "cont")
                if stop.kind in ("exited", "killed"):
                    yield self._ended(stop)
                    return
                pc = self._regs()[self.abi.pc]
                tid = stop.tid  # the thread that stopped
                if stop.kind != "signal":
                    if stop.sig in (signal.SIGTRAP, signal.SIGINT):
                        why = "interrupted" if stop.sig == signal.SIGINT else \
                            "stopped (a breakpoint?)"
                        raise UsageError(f"{why} at {pc:#x} before a signal was caught")
                    # a signal gdb stops for (handle ... stop) but not one to catch
                    yield ev.SignalDelivered(self.pid, tid, self.insp.siginfo(), "passed", pc)
                    continue
                pending = self.insp.siginfo()
            info, pending = pending, None
            frame = yield from self._deliver(control, tid, info, self._regs()[self.abi.pc])
            if frame is not None:
                return
        raise UsageError(f"no handler entered after {limit} signals")

    def _pending_signal(self, wanted: set[int]) -> SigInfo | None:
        """The signal of a signal-delivery stop the thread is in, if any
        (gdb passes it on the next resume)."""
        try:
            info = self.insp.siginfo()
        except SigdbgError:
            return None
        if info.si_signo in (0, 5, 2) or (wanted and info.si_signo not in wanted):
            return None  # none, SIGTRAP (breakpoints, steps), SIGINT (not passed)
        return info

    def _entered_handler(self) -> SigFrame | None:
        """The frame when the thread stands at a handler's first instruction."""
        regs = self._regs()
        sp = regs[self.abi.sp]
        newest = gdb.newest_frame()
        try:
            older = newest.older()
            tramp = older is not None and older.type() == gdb.SIGTRAMP_FRAME and \
                int(older.read_register("sp")) == sp + self.abi.word
        except gdb.error:
            tramp = False
        if not tramp and not self.insp.is_pretcode(self.insp._word(sp)):
            return None
        return self.insp.sigframe(sp, signo=None)


__all__ = ["GdbTask", "GdbInspector", "GdbRunner", "GdbControl", "gdb_step_sigreturn",
           "CoreFile", "read_core", "find_core_file", "core_maps_text", "gdb_abi",
           "gdb_disassemble", "value_bytes"]
