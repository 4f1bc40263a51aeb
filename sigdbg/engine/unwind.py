"""One stack unwinder, for the shell's ``bt`` and ``trace -k``.

The walk runs over an :class:`UnwindSource` -- memory, the registers at the
stop, the maps, symbols and signal-frame decoding -- so it does not care
whether the target is a ptrace'd process, one task of it, or anything else
that can answer those questions.  The frame-level facts come from
:mod:`sigdbg.decode.cfi` (data in, data out) and from the ABI (DWARF register
numbering, frame pointer, restorer patterns).

Each step unwinds with the call frame information the module at the pc
carries (``.eh_frame`` through ``.eh_frame_hdr``, read from target memory, so
the vDSO's is found too; ``.debug_frame`` from the mapped file when nothing
is loaded), so frames of code built without frame pointers (most of libc) are
not skipped.  Code without CFI falls back to the frame-pointer chain
(``[fp]`` = caller's fp, ``[fp + word]`` = return address), and a pc at a
function's first instruction with no CFI (a symbol starts there, or ``[sp]``
is a restorer: a handler just entered) returns to ``[sp]``, as gdb's
prologue analysis concludes -- or, where a call leaves the return address in a
link register (``Abi.link_register``: AArch64 x30), to that register.
AArch64 frame records ({x29, x30}, AAPCS64) have the x86 chain's shape.

A pc that is a sigreturn restorer (:func:`sigdbg.decode.restorer.match_pattern`,
or a pretcode the caller knows) is gdb's ``<signal handler called>`` frame:
on x86 the handler returned there with ``ret``, which popped the frame's
pretcode, so the signal frame starts one word below that frame's sp
(arch/x86/kernel/signal_64.c: rt_sigframe begins with pretcode; the same for
both ia32 frames in arch/x86/kernel/signal_32.c); on AArch64 ``ret`` took
x30 (the vDSO's ``__kernel_rt_sigreturn``) and sp is the frame itself
(arch/arm64/kernel/signal.c ``setup_return``): the frame kind's
``sp_at_restorer``.  The current pc may also
be further inside the restorer (stepping through it); past the i386 non-rt
restorer's ``pop %eax`` the frame is one more word down.  The walk decodes
the frame and continues from the interrupted context in its ``uc_mcontext``
-- every register, and the pc exactly (it was interrupted, not a return
address, so no ``pc - 1`` for the CFI lookup).  glibc's ``__restore_rt``
describes the same with DWARF expressions; decoding the frame works for
restorers without CFI too (the vDSO's i386 ones, a program's own).

The walk ends where the CFI says the return address is undefined
(``_start``), at a frame-pointer guess that does not return into executable
code, at a pc of 0, at a stack that does not unwind outwards, or after
``limit`` frames.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from sigdbg.abi import Abi
from sigdbg.decode import memmap
from sigdbg.decode.cfi import (
    OUTERMOST,
    Module,
    Regs,
    Table,
    caller_registers,
    debug_frame_of,
)
from sigdbg.decode.frames import decode_frame, own_model
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.model import Model
from sigdbg.decode.restorer import SymbolRef, match_pattern
from sigdbg.errors import SigdbgError, UsageError

if TYPE_CHECKING:
    from sigdbg.engine.inspect import Inspector


@dataclass(frozen=True)
class StackFrame(Model):
    """One frame of an unwound stack, innermost first."""

    pc: int  #: the frame's pc (a return address for callers)
    sp: int  #: its stack pointer (the CFA of the frame it returned from)
    symbol: str | None  #: name+offset, when a symbol table covers pc
    mapping: str | None  #: path of the mapping holding pc
    offset: int | None  #: pc as an offset in that file (strace -k's ``[0x...]``)
    #: how its registers were found: context (the given registers, or a signal
    #: frame's saved ones), cfi, fp (frame pointer), entry (the callee was at
    #: its first instruction: the return address at [sp]), sigframe (gdb's
    #: ``<signal handler called>``: pc is a sigreturn restorer)
    how: str
    sigframe: int | None = None  #: address of the signal frame (how == "sigframe")
    signal: int | None = None  #: the signal that frame was built for


class SigframeContext(NamedTuple):
    """What the unwinder needs of a decoded signal frame."""

    signal: int | None  #: the signal it was delivered for (None: unknown)
    registers: dict[str, int]  #: the interrupted context, by user_regs name


class UnwindSource(Protocol):
    """What a stack walk reads.  Every method may raise SigdbgError when the
    target cannot answer (memory not mapped, no maps); the walk then stops
    or falls back, it never raises."""

    @property
    def abi(self) -> Abi:
        """The ABI of the code being unwound (registers, word size)."""
        ...

    def registers(self) -> dict[str, int]:
        """The registers at the stop, by user_regs name."""
        ...

    def read(self, address: int, size: int) -> bytes:
        """Exactly ``size`` bytes of memory (SigdbgError otherwise)."""
        ...

    def code(self, address: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``address`` as the program sees them (our own
        breakpoints taken out); fewer at the end of a mapping."""
        ...

    def maps(self) -> MemoryMap:
        """The address space's mappings."""
        ...

    def symbol(self, address: int) -> SymbolRef | None:
        """The symbol containing an address, when a symbol table covers it."""
        ...

    def sigframe(self, address: int) -> SigframeContext | None:
        """The signal frame at ``address`` decoded, or None when none is there."""
        ...

    def mapped_file(self, m: memmap.Mapping) -> tuple[str, int | None] | None:
        """The file whose bytes the file mapping ``m`` holds (to read what is
        never loaded: ``.debug_frame``) and the inode it must have (None:
        already checked), or None."""
        ...


def dwarf_regs(abi: Abi, regs: Mapping[str, int]) -> Regs:
    """user_regs-named registers by DWARF number."""
    return {n: regs[name] for n, name in enumerate(abi.dwarf_regs) if name in regs}


def context_regs(abi: Abi, mcontext: Mapping[str, int]) -> dict[str, int]:
    """A signal frame's sigcontext registers by user_regs name."""
    return {reg: mcontext[mc] for mc, reg in abi.mcontext_regs if mc in mcontext}


class Unwinder:
    """Stack walks over one address space.  The CFI tables of its modules are
    cached (keyed by load address, path and inode, so a library unmapped and
    another mapped in its place is read afresh); ``source`` may be replaced
    between walks (another stop, another task of the same process)."""

    def __init__(self, source: UnwindSource) -> None:
        self.source = source
        self._tables: dict[tuple[int, str, int], Table | None] = {}

    # -- the walk -------------------------------------------------------------------------
    def unwind(self, regs: Mapping[str, int] | None = None, limit: int = 64,
               restorers: frozenset[int] = frozenset()) -> tuple[StackFrame, ...]:
        """The stack from ``regs`` (user_regs names; default: the registers at
        the stop), innermost first.  ``restorers``: pretcodes known from
        decoded frames (a program's own restorer need not look like the
        kernel's or libc's)."""
        src = self.source
        abi = src.abi
        names = abi.dwarf_regs
        if abi.pc not in names or abi.sp not in names:
            # no DWARF register numbering for this ABI yet (AArch64, ARM: issue 14)
            raise UsageError(f"-k: no stack unwinding rules for {abi} processes yet")
        pc_no, sp_no = names.index(abi.pc), names.index(abi.sp)
        try:
            maps: MemoryMap | None = src.maps()
        except SigdbgError:
            maps = None
        try:
            r = dwarf_regs(abi, src.registers() if regs is None else regs)
        except SigdbgError:
            return ()
        if pc_no not in r or sp_no not in r:
            return ()
        out: list[StackFrame] = []
        how = "context"
        exact = True  # the pc is where the task is (or was interrupted), not a return address
        while len(out) < limit:
            pc, sp = r[pc_no], r[sp_no]
            into = self._restorer_at(maps, pc, exact, restorers)
            if into is not None:
                # x86: the handler's ret popped pretcode (and the non-rt
                # restorer's pop the signal); AArch64: ret took x30, sp is the frame
                address = sp - _below_sp(abi, into < 0)
                ctx = self._sigframe(address)
                if ctx is None:
                    break
                out.append(self._frame(maps, pc, sp, "sigframe", address, ctx.signal))
                r = dwarf_regs(abi, ctx.registers)
                if pc_no not in r or sp_no not in r:
                    break
                how, exact = "context", True
                continue
            out.append(self._frame(maps, pc, sp, how))
            nxt = self._by_cfi(maps, r, pc if exact else pc - 1, pc_no, sp_no)
            how = "cfi"
            if nxt is None:
                nxt, how = self._by_frame_pointer(maps, r, exact, restorers, pc_no, sp_no)
            if not nxt or not nxt.get(pc_no) or sp_no not in nxt:
                break  # (empty: the CFI marks the outermost frame)
            if nxt[sp_no] < sp or (nxt[sp_no] == sp and nxt[pc_no] == pc):
                break  # a stack that does not unwind outwards: stop rather than loop
            r = nxt
            exact = False
        return tuple(out)

    # -- one step -------------------------------------------------------------------------
    def _by_cfi(self, maps: MemoryMap | None, r: Regs, lookup: int, pc_no: int,
                sp_no: int) -> Regs | None:
        """The caller's registers by the CFI row for ``lookup``; None: no usable
        CFI.  An empty dict: the CFI says this is the outermost frame."""
        table = self._table(maps, lookup)
        if table is None:
            return None
        try:
            fde = table.fde_for(lookup)
            if fde is None:
                return None
            nxt = caller_registers(fde, lookup, r, self._word, self.source.abi.word,
                                   pc_no, sp_no)
            return OUTERMOST if not nxt else nxt
        except SigdbgError:
            return None  # CFI we cannot use: the frame-pointer chain instead

    def _by_frame_pointer(self, maps: MemoryMap | None, r: Regs, first: bool,
                          restorers: frozenset[int], pc_no: int, sp_no: int
                          ) -> tuple[Regs | None, str]:
        """The caller's registers without CFI.  ``first``: the pc is exact (the
        stop, or a signal frame's interrupted pc), so it may be a function's
        first instruction, before any push: then the return address is at
        [sp] (what gdb's prologue analysers conclude there) -- taken when the
        symbol table says the pc starts a function, or [sp] is a restorer (a
        handler entered, whatever its symbols)."""
        abi = self.source.abi
        word = abi.word
        fp_no = abi.dwarf_regs.index(abi.fp)
        sp, fp = r[sp_no], r.get(fp_no, 0)
        try:
            if first:
                if abi.link_register:  # (AArch64: bl left it in x30, sp unchanged)
                    ret = r.get(abi.dwarf_regs.index(abi.link_register), 0)
                    caller = {**r, pc_no: ret}
                else:  # (x86: call pushed it)
                    ret = self._word(sp)
                    caller = {**r, pc_no: ret, sp_no: sp + word}
                ref = self._symbol(r[pc_no])
                if ret and ((ref is not None and ref.offset == 0 and _executable(maps, ret))
                            or self._restorer_at(maps, ret, False, restorers) is not None):
                    return caller, "entry"
            if not fp or fp < sp:
                return None, "fp"
            # the caller's sp: exact on x86 (push %rbp right below the return
            # address); on AArch64 the record sits at the bottom of the frame
            # (stp x29, x30, [sp, #-N]!), so fp + 16 is only a lower bound --
            # enough for the outwards check, and frames with CFI never get here
            ret = self._word(fp + word)
            if not _executable(maps, ret):
                return None, "fp"  # fp was not a frame pointer: no made-up frame
            return {**r, pc_no: ret, sp_no: fp + 2 * word, fp_no: self._word(fp)}, "fp"
        except SigdbgError:
            return None, "fp"

    def _restorer_at(self, maps: MemoryMap | None, address: int, inside: bool,
                     restorers: frozenset[int]) -> int | None:
        """How far into a sigreturn restorer ``address`` is (0: its first byte,
        where a handler returns), or None.  ``inside``: also a pc stopped
        further in (stepping through it); negative: past the i386 non-rt
        restorer's ``pop``, which took one more word off the stack."""
        if address in restorers:
            return 0
        back = 0
        if inside:  # (the sequences are 7-9 bytes: a pc inside is at most 8 bytes in)
            m = maps.find(address) if maps is not None else None
            back = min(8, address - m.start) if m is not None else 0
        try:
            code = self.source.code(address - back, back + 16)
        except SigdbgError:
            return None
        abi = self.source.abi
        for k in range(min(back, len(code)) + 1):
            hit = match_pattern(abi, code[back - k:])
            if hit is not None:
                return k if not (k and hit[0] == "sigreturn") else -k
        return None

    # -- reading --------------------------------------------------------------------------
    def _word(self, address: int) -> int:
        abi = self.source.abi
        return int(struct.unpack(abi.word_fmt, self.source.read(address, abi.word))[0])

    def _read(self, address: int, size: int) -> bytes:
        return self.source.read(address, size)  # (follows ``source`` when it is replaced)

    def _symbol(self, address: int) -> SymbolRef | None:
        try:
            return self.source.symbol(address)
        except SigdbgError:
            return None

    def _sigframe(self, address: int) -> SigframeContext | None:
        try:
            return self.source.sigframe(address)
        except SigdbgError:
            return None

    def _table(self, maps: MemoryMap | None, pc: int) -> Table | None:
        """The CFI of the module holding ``pc``: its .eh_frame_hdr in memory, or
        the mapped file's .debug_frame."""
        m = maps.find(pc) if maps is not None else None
        if m is None or maps is None:
            return None
        base = m.start if m.path == "[vdso]" else (
            maps.image_base(m.path) if m.path.startswith("/") else None)
        if base is None:
            return None
        key = (base, m.path, m.inode)
        if key not in self._tables:
            table: Table | None
            try:
                table = Module(self._read, base)
            except SigdbgError:  # no .eh_frame loaded: the file's .debug_frame, if any
                try:
                    file = self.source.mapped_file(m)
                except SigdbgError:
                    file = None
                table = (debug_frame_of(file[0], file[1], self._read, base)
                         if file is not None else None)
            self._tables[key] = table
        return self._tables[key]

    def _frame(self, maps: MemoryMap | None, pc: int, sp: int, how: str,
               sigframe: int | None = None, signal: int | None = None) -> StackFrame:
        ref = self._symbol(pc)
        m = maps.find(pc) if maps is not None else None
        return StackFrame(pc, sp, str(ref) if ref is not None else None,
                          m.path if m is not None and m.path else None,
                          pc - m.start + m.offset if m is not None else None, how,
                          sigframe, signal)


def _below_sp(abi: Abi, popped: bool) -> int:
    """How far below the sp at a restorer the signal frame starts: the frame
    kinds' ``sp_at_restorer`` (x86: the popped pretcode; AArch64 and ARM: 0,
    the handler returned through the link register, arch/arm64/kernel/
    signal.c ``setup_return``), or, ``popped``, past the i386 non-rt
    restorer's ``pop %eax``, that kind's ``sp_at_sigreturn``."""
    kinds = abi.frame_kinds
    if popped:
        return next((k.sp_at_sigreturn for k in kinds if k.sigreturn_nr != abi.rt_sigreturn_nr),
                    2 * abi.word)
    return kinds[0].sp_at_restorer if kinds else abi.word


def _executable(maps: MemoryMap | None, address: int) -> bool:
    m = maps.find(address) if maps is not None else None
    return m is not None and m.executable


class InspectorSource:
    """An :class:`UnwindSource` over an Inspector (the ptrace Session, one
    task's TaskView, a core file's view)."""

    def __init__(self, inspector: Inspector,
                 signals: Callable[[int], int | None] = lambda address: None,
                 patches: Mapping[int, bytes] | None = None) -> None:
        self.inspector = inspector
        #: the signal a frame at an address was delivered for, when the caller saw it
        self.signals = signals
        #: our breakpoints: address -> the original bytes they hide
        self.patches = patches if patches is not None else {}

    @property
    def abi(self) -> Abi:
        return self.inspector.current_task().abi

    def registers(self) -> dict[str, int]:
        return dict(self.inspector.current_task().registers())

    def read(self, address: int, size: int) -> bytes:
        return self.inspector.current_task().read(address, size)

    def code(self, address: int, size: int) -> bytes:
        data = bytearray(self.inspector.current_task().read_upto(address, size))
        for a, orig in self.patches.items():
            for i, b in enumerate(orig):
                if 0 <= a + i - address < len(data):
                    data[a + i - address] = b
        return bytes(data)

    def maps(self) -> MemoryMap:
        return self.inspector.maps()

    def symbol(self, address: int) -> SymbolRef | None:
        return self.inspector.lookup(address)

    def mapped_file(self, m: memmap.Mapping) -> tuple[str, int | None] | None:
        return self.inspector.mapped_file(m)

    def sigframe(self, address: int) -> SigframeContext | None:
        task = self.inspector.current_task()
        signo = self.signals(address)
        if own_model(task.abi):
            # (AArch64: the A64Frame model names the sigcontext's regs[] x0-x30,
            # as mcontext_regs expects; the generic rows keep them an array)
            a = decode_frame(task, task.abi, address, signo=signo)
            return SigframeContext(a.sig, context_regs(task.abi, a.mcontext))
        f = self.inspector.sigframe(address, signo=signo)
        return SigframeContext(f.sig, context_regs(self.abi, f.mcontext))
