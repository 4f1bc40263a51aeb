"""A core file as a target: every :class:`Inspector` report, plus the signal
frames still on the stack and the crash.

The frames are found the way an unwinder would have to without debug info:
walking up from the thread's stack pointer, at the addresses where the
kernel can have put a frame (the frame kind's ``address_mod``; x86:
arch/x86/kernel/signal.c ``get_sigframe`` /
``align_sigframe``: x86_64 frames start 8 bytes below a 16-byte boundary,
ia32 frames 4 bytes below one), a word that points at a known restorer (the
vDSO's ``__kernel_rt_sigreturn``/``__kernel_sigreturn``, read from the vDSO
image in the core; libc's ``__restore_rt`` or a program's own trampoline,
recognised by the instruction sequence the kernel's unwinders match, read
from the mapped file) is a candidate pretcode.  A candidate is a frame only
if the rest of its layout holds: a user-mode context (the ABI's
``sigreturn_rules.user_mode``: x86 cs/ss with RPL 3), known uc_flags bits, no
SIGKILL/SIGSTOP in the saved mask (the kernel never blocks them), an FP area
that decodes, and an interrupted sp above the frame unless it is on the
alternate stack.  When the interrupted sp lies in another mapping (the
handler ran on an alternate stack) the walk continues there.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from sigdbg.abi import by_name
from sigdbg.backends.base import Task
from sigdbg.decode.auxv import AuxvReport
from sigdbg.decode.corefile import CoreFile
from sigdbg.decode.memmap import Mapping
from sigdbg.decode.model import Model
from sigdbg.decode.restorer import Restorer, SymbolRef, match_pattern
from sigdbg.decode.sigframe import SigFrame, decode_sigframe
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.decode.vdso import FixedPageReport
from sigdbg.engine.inspect import Inspector
from sigdbg.engine.symbols import VdsoImage
from sigdbg.errors import (
    DecodeError,
    FeatureUnavailable,
    MemoryReadError,
    SigdbgError,
    UsageError,
)

#: bytes of stack searched for frames, in all (a default main stack is 8 MiB)
MAX_SCAN = 8 << 20
MAX_FRAMES = 64
#: signals the kernel never leaves blocked (kernel/signal.c sigdelsetmask(SIGKILL|SIGSTOP))
_UNBLOCKABLE = (1 << (9 - 1)) | (1 << (19 - 1))
#: uc_flags bits the kernel sets (arch/x86/include/uapi/asm/ucontext.h)
_UC_FLAGS = 0x1 | 0x2 | 0x4
#: frame problems that a real frame may show: a handler without SA_SIGINFO
#: leaves x86_64 info stale; an ia32 handler may reuse its argument slots
_TOLERATED = ("info.si_signo", "pinfo ", "puc ")
_NSIG = 64
_VDSO_RESTORERS = ("__kernel_rt_sigreturn", "__kernel_sigreturn")


@dataclass(frozen=True)
class CoreThreadInfo(Model):
    """One thread of the core, as NT_PRSTATUS and its notes describe it."""

    number: int  #: 1-based, in the core's order (the kernel puts the dumping thread first)
    tid: int
    cursig: int  #: pr_cursig: the signal that stopped (or killed) the thread
    pc: int
    sp: int
    symbol: str | None  #: symbol at pc, when known
    siginfo: SigInfo | None  #: NT_SIGINFO
    fp_regset: str  #: the note's name (``Abi.fp_regset_notes``, NT_PRFPREG) or ""
    #: (JSON key, value) of what the summary reads from the ABI's own FP note
    #: (``Abi.fp_regset_summary``), None where it is unreadable: JSON fields of
    #: their own after ``fp_regset``, and attributes by their keys
    fp_summary: tuple[tuple[str, int | None], ...] = field(
        default=(), metadata={"json": False}, compare=False)

    def __getattr__(self, name: str) -> int | None:
        summary: tuple[tuple[str, int | None], ...] = self.__dict__.get("fp_summary", ())
        for key, value in summary:
            if key == name:
                return value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _json(self, view: bool) -> dict[str, Any]:
        out = self._fields_json((), view)
        out.update(self.fp_summary)
        return out


@dataclass(frozen=True)
class CoreReport(Model):
    path: str
    abi: str
    pid: int
    command: str  #: NT_PRPSINFO pr_psargs
    program: str  #: the executable's path in NT_FILE
    exe: str  #: where the program's bytes were read (--exe), or ""
    truncated: bool  #: the file ends before its PT_LOAD data does
    #: mapped files (NT_FILE path) whose file on disk is not the one the process had
    stale_files: tuple[str, ...]
    threads: tuple[CoreThreadInfo, ...]
    frames: tuple[SigFrame, ...]  #: signal frames on the selected thread's stack, innermost first
    frames_thread: int  #: tid whose stack was searched


class CoreThread(Task, Protocol):
    """One thread of a core, as the core backend gives it (``backends/core.py``
    ``CoreTask``): a :class:`~sigdbg.backends.base.Task` plus its notes."""

    def siginfo_raw(self) -> bytes | None:
        """NT_SIGINFO (None when the core has none)."""
        ...

    def fp_regs_raw(self) -> bytes | None:
        """The FP/vector register note (None when the core has none)."""
        ...

    def fp_regs_source(self) -> str:
        """Which note :meth:`fp_regs_raw` came from ("" when none)."""
        ...


class CoreSource(Protocol):
    """A core file opened by a backend (``backends/core.py`` ``CoreBackend``,
    constructed by the code that chooses the backend)."""

    path: str
    exe: str | None
    core: CoreFile

    @property
    def exe_mapping_path(self) -> str:
        """The executable's path in NT_FILE ("" when it cannot be told)."""
        ...

    def thread(self, index: int) -> CoreThread:
        """Thread ``index`` (0-based, the core's order); TargetError if none."""
        ...

    def usable_path(self, nt_path: str) -> str:
        """The file to read for the NT_FILE path ("" when it is not the process's)."""
        ...

    def check_files(self) -> dict[str, str]:
        """NT_FILE path -> why its file was not used (stale files)."""
        ...

    def close(self) -> None: ...


class CoreTarget(Inspector):
    """Reports over a core file (``--core FILE [--exe PROG]``, the shell's ``core FILE``)."""

    auxv_source = "the core file's NT_AUXV note"

    def __init__(self, source: CoreSource) -> None:
        super().__init__()
        self.memory = source
        self.path = source.path
        self.core: CoreFile = source.core
        self.exe = source.exe
        self.symbols.file_path = source.usable_path
        path = source.path
        self._threads = self.core.threads()
        if not self._threads:
            raise DecodeError(f"core file {path} has no NT_PRSTATUS note (no thread)")
        self._index = 0
        self._tasks: dict[int, CoreThread] = {}
        self._frames: dict[int, tuple[SigFrame, ...]] = {}
        #: pretcode -> Restorer (decode_sigframe's RestorerContext)
        self.restorers: dict[int, Restorer] = {}
        self._restorer_kind: dict[int, str | None] = {}

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        self.memory.close()

    def __enter__(self) -> CoreTarget:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- Inspector ----------------------------------------------------------------------
    def current_task(self) -> CoreThread:
        task = self._tasks.get(self._index)
        if task is None:
            task = self._tasks[self._index] = self.memory.thread(self._index)
        return task

    def select_thread(self, number: int) -> None:
        """Thread ``number`` (1-based, the core's order) becomes the current one."""
        if not 1 <= number <= len(self._threads):
            raise UsageError(f"the core has {len(self._threads)} thread(s), no thread {number}")
        self._index = number - 1

    @property
    def thread_number(self) -> int:
        return self._index + 1

    @property
    def thread_count(self) -> int:
        return len(self._threads)

    def exe_path(self) -> str:
        """The program's path as the core's maps name it (its bytes may come from --exe)."""
        return self.memory.exe_mapping_path or self.exe or ""

    def auxv(self) -> AuxvReport:
        try:
            return super().auxv()
        except SigdbgError as exc:
            if self.core.truncated:  # RLIMIT_CORE cut the dump before the stack
                raise DecodeError(f"{exc} (the core file is truncated: the process's memory "
                                  "is only partly in it)") from None
            raise

    def vdso_image(self) -> VdsoImage:
        try:
            return super().vdso_image()
        except MemoryReadError as exc:
            raise DecodeError(f"the core file does not hold the vDSO ({exc})") from None

    def mapped_file(self, m: Mapping) -> tuple[str, int | None] | None:
        # NT_FILE has no inodes: the file (or --exe) is the process's when the
        # core's copy of its first page says so (CoreMemory.usable_path)
        path = self.memory.usable_path(m.path) if m.path.startswith("/") else ""
        return (path, None) if path else None

    def lookup(self, address: int) -> SymbolRef | None:
        # a core never changes: an unmapped address is no reason to re-read the maps
        return self.symbols.lookup(address)

    def fixed_page_report(self, name: str) -> FixedPageReport:
        raise UsageError(f"the {name} report needs a live process: a core keeps neither the "
                         "page's protection reliably nor the kernel command line")

    def siginfo(self) -> SigInfo | None:
        """NT_SIGINFO of the current thread (None when the core has none)."""
        task = self.current_task()
        raw = task.siginfo_raw()
        if raw is None:
            return None
        return decode_siginfo(raw, task.abi)

    def sigframe(self, address: int | None = None, *, signo: int | None = None,
                 kind: str | None = None) -> SigFrame:
        """The frame at ``address``; without one, the innermost signal frame on the stack."""
        if address is None:
            frames = self.signal_frames()
            if not frames:
                raise UsageError("no signal frame on the stack of the core's thread "
                                 f"{self.current_task().tid} (give the frame ADDRESS)")
            return frames[0]
        return super().sigframe(address, signo=signo, kind=kind)

    # -- the frames still on the stack --------------------------------------------------
    def signal_frames(self) -> tuple[SigFrame, ...]:
        frames = self._frames.get(self._index)
        if frames is None:
            frames = self._frames[self._index] = self._find_frames(self.current_task())
        return frames

    def _find_frames(self, task: CoreThread) -> tuple[SigFrame, ...]:
        abi = task.abi
        w = abi.word
        # where the kernel puts a frame (every kind of one ABI alike)
        modulus, align = abi.frame_kinds[0].address_mod if abi.frame_kinds else (w, 0)
        maps = self.maps()
        cur: int | None = task.registers()[abi.sp]
        frames: list[SigFrame] = []
        budget = MAX_SCAN
        visited: set[int] = set()
        while cur is not None and budget > 0 and len(frames) < MAX_FRAMES:
            m = maps.find(cur)
            if m is None or m.start in visited:
                break
            visited.add(m.start)
            end = min(m.end, cur + budget)
            data = task.read_upto(cur, end - cur)
            budget -= max(len(data), 1)
            nxt: int | None = None
            a = cur + ((align - cur) % modulus)
            while a + w <= cur + len(data) and len(frames) < MAX_FRAMES:
                (value,) = struct.unpack_from(abi.word_fmt, data, a - cur)
                kind = self._frame_kind(value)
                f = self._try_frame(task, a, kind, data[a - cur:]) if kind else None
                if f is None:
                    a += modulus
                    continue
                frames.append(f)
                if f.sp and not m.start <= f.sp < m.end:
                    nxt = f.sp  # the handler ran on an alternate stack: go where it came from
                    break
                a += (f.size + modulus - 1) // modulus * modulus
            cur = nxt
        return tuple(frames)

    def _frame_kind(self, pretcode: int) -> str | None:
        """The frame kind a restorer at ``pretcode`` returns from, or None if it is none."""
        if pretcode in self._restorer_kind:
            return self._restorer_kind[pretcode]
        kind = None
        task = self.current_task()
        m = self.maps().find(pretcode) if pretcode else None
        if m is not None and ("x" in m.perms or m.perms == "????"):
            pat = match_pattern(task.abi, task.read_upto(pretcode, 16))
            if pat is not None and m.path == "[vdso]":
                # the vDSO's own symbols say which entry this is, when its image is in the core
                try:
                    ref = self.lookup(pretcode)
                except SigdbgError:
                    ref = None
                if ref is not None and (ref.offset or
                                        not ref.name.startswith(_VDSO_RESTORERS)):
                    pat = None
            if pat is not None:
                # the kind this restorer's sigreturn returns from (None: a
                # sigreturn this ABI builds no frame for)
                kind = next((k.name for k in task.abi.frame_kinds if k.sigreturn == pat[0]),
                            None)
        self._restorer_kind[pretcode] = kind
        return kind

    def _try_frame(self, task: CoreThread, address: int, kind: str,
                   data: bytes) -> SigFrame | None:
        try:
            f = decode_sigframe(task, task.abi, address, kind=kind, data=data[:4096],
                                view=self)
        except (MemoryReadError, DecodeError, FeatureUnavailable):
            return None
        if frame_layout_problems(f):
            return None
        if f.sig_from_info and f.siginfo is not None and not 0 < f.sig <= _NSIG:
            # x64_setup_rt_frame writes info only for SA_SIGINFO handlers: no signal number
            # anywhere else in the frame, so the core does not say which signal this was
            f = dataclasses.replace(f, sig=0, siginfo_valid=False, problems=(
                *f.problems, f"info.si_signo {f.siginfo.si_signo} is no signal: the handler "
                "was installed without SA_SIGINFO (the kernel leaves info unwritten), so the "
                "frame does not say which signal it was"))
        return f


def frame_layout_problems(f: SigFrame) -> list[str]:
    """Why ``f`` is not a frame the kernel built (empty if it may be one)."""
    out = [p for p in f.problems if not p.startswith(_TOLERATED)]
    mc = f.mcontext
    for name, mask, value, zero_ok, what in by_name(f.abi).sigreturn_rules.user_mode:
        saved = mc.get(name, 0)
        if (not saved and not zero_ok) or saved & mask != value:
            out.append(f"saved {name} {saved:#x} is not {what}")
    if f.uc_flags is not None and f.uc_flags & ~_UC_FLAGS:
        out.append(f"uc_flags {f.uc_flags:#x} has bits the kernel never sets")
    if f.sigmask & _UNBLOCKABLE:
        out.append("the saved mask blocks SIGKILL or SIGSTOP")
    if not f.pc:
        out.append("interrupted pc is 0")
    if mc.get("fpstate") and f.fpstate is None:
        out.append("fpstate does not decode")
    return out


def core_report(target: CoreTarget) -> CoreReport:
    """The crash: threads, signals, siginfo, FP regsets, and the frames on the stack."""
    core = target.core
    keep = target.thread_number
    threads = []
    try:
        for i in range(target.thread_count):
            target.select_thread(i + 1)
            task = target.current_task()
            regs = task.registers()
            pc, sp = regs[task.abi.pc], regs[task.abi.sp]
            try:
                siginfo = target.siginfo()
            except DecodeError:
                siginfo = None
            raw = task.fp_regs_raw()
            src = task.fp_regs_source()
            abi = task.abi
            values: tuple[int | None, ...] = (None,) * len(abi.fp_regset_summary)
            if src and src == abi.fp_regset_name and raw is not None \
                    and abi.fp_regset_values is not None:
                values = abi.fp_regset_values(raw) or values
            summary = tuple((key, v) for (key, _), v in zip(abi.fp_regset_summary, values,
                                                             strict=True))
            try:
                ref = target.lookup(pc)
            except SigdbgError:
                ref = None
            threads.append(CoreThreadInfo(i + 1, task.tid, core.prstatus_cursig(
                target._threads[i].prstatus), pc, sp, str(ref) if ref else None, siginfo, src,
                summary))
    finally:
        target.select_thread(keep)
    info = core.psinfo()
    frames = target.signal_frames()
    stale = target.memory.check_files()
    return CoreReport(
        core.path, core.abi.name, info[0] if info else target.current_task().pid,
        info[2] if info else "", target.exe_path(), target.exe or "", core.truncated,
        tuple(sorted(stale)), tuple(threads), frames, target.current_task().tid)


__all__ = ["CoreTarget", "CoreReport", "CoreThreadInfo", "CoreSource", "CoreThread",
           "core_report", "frame_layout_problems"]
