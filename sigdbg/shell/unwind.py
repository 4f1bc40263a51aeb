"""A backtrace that crosses signal frames (``bt``), as gdb's does.

Each step unwinds with the call frame information the module at the pc
carries (:mod:`sigdbg.shell.cfi`: ``.eh_frame`` through ``.eh_frame_hdr``,
read from target memory; ``.debug_frame`` from the mapped file when nothing
is loaded), so frames of code built without frame pointers (most of libc) are
not skipped.  Code without CFI falls back to the
frame-pointer chain (``[fp]`` = caller's fp, ``[fp + word]`` = return
address), and a function entered at its first instruction with no CFI
returns to ``[sp]``.

A pc that is a sigreturn restorer (:func:`sigdbg.decode.restorer.match_pattern`,
or the pretcode of a frame the engine reported) is gdb's ``<signal handler
called>`` frame: the handler returned there with ``ret``, which popped the
frame's pretcode, so the signal frame starts one word below that frame's sp
(arch/x86/kernel/signal_64.c: rt_sigframe begins with pretcode; the same for
both ia32 frames).  The current pc may also be further inside the restorer
(stepping through it); past the i386 non-rt restorer's ``pop %eax`` the frame
is one more word down.  The walk decodes it and continues from the interrupted
context in its ``uc_mcontext`` -- every register, and the pc exactly (it was
interrupted, not a return address, so no ``pc - 1`` for the lookup).

The walk ends where the CFI says the return address is undefined (``_start``),
at a frame-pointer guess that does not return into executable code,
at a pc of 0, at a non-ascending stack, or after ``limit`` frames.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sigdbg.decode.model import Model
from sigdbg.decode.restorer import match_pattern
from sigdbg.errors import SigdbgError
from sigdbg.shell.cfi import (
    DWARF_REGS_32,
    DWARF_REGS_64,
    DebugFrame,
    Module,
    debug_frame_of,
    evaluate,
    row_at,
)

if TYPE_CHECKING:
    from sigdbg.engine.session import Session


@dataclass(frozen=True)
class BtFrame(Model):
    level: int
    kind: str  #: "frame" or "sigframe" (the <signal handler called> marker)
    pc: int
    sp: int | None
    symbol: str | None
    sigframe: int | None = None  #: address of the signal frame (kind sigframe)
    signal: int | None = None


def backtrace(session: Session, limit: int = 64, restorers: frozenset[int] = frozenset(),
              signals: Callable[[int], int | None] = lambda address: None) -> list[BtFrame]:
    """Frames from the current one outwards; ``signals`` names the signal a frame
    at an address was delivered for, when the shell saw the delivery."""
    task = session.current_task()
    abi = task.abi
    word = abi.word
    mask = (1 << (8 * word)) - 1
    names = DWARF_REGS_64 if abi.bits == 64 else DWARF_REGS_32
    number = {n: i for i, n in enumerate(names)}
    pc_no, sp_no, fp_no = number[abi.pc], number[abi.sp], number[names[6 if word == 8 else 5]]
    try:
        maps = session.maps()
    except SigdbgError:
        maps = None
    modules: dict[int, Module | DebugFrame | None] = {}

    def rd(addr: int) -> int:
        return int(struct.unpack(abi.word_fmt, task.read(addr, word))[0])

    def sym(addr: int) -> str | None:
        try:
            ref = session.lookup(addr)
        except SigdbgError:
            return None
        return str(ref) if ref is not None else None

    def is_restorer(addr: int) -> bool:
        return restorer_at(addr, False) is not None

    def restorer_at(addr: int, inside: bool) -> int | None:
        """How far into a sigreturn restorer ``addr`` is (0: its first byte, where
        a handler returns), or None.  ``inside``: also a pc stopped further in
        (stepping through it); the sequences are in sigdbg.decode.restorer."""
        if addr in restorers:
            return 0
        back = 8 if inside else 0
        try:
            code = bytearray(task.read_upto(addr - back, back + 16))
        except SigdbgError:
            return None
        for a, orig in session.breakpoints.items():  # our int3s hide the code
            if 0 <= a - (addr - back) < len(code):
                code[a - (addr - back)] = orig[0]
        for k in range(min(back, len(code)) + 1):
            hit = match_pattern(abi, bytes(code[back - k:]))
            if hit is not None:
                # pop %eax in the i386 non-rt restorer: one more word off the stack
                return k if not (k and hit[0] == "sigreturn") else -k
        return None

    def module_at(pc: int) -> Module | DebugFrame | None:
        m = maps.find(pc) if maps is not None else None
        if m is None:
            return None
        base = m.start if m.path == "[vdso]" else (
            maps.image_base(m.path) if maps is not None and m.path.startswith("/") else None)
        if base is None:
            return None
        if base not in modules:
            try:
                modules[base] = Module(task.read, base)
            except SigdbgError:  # no .eh_frame loaded: the file's .debug_frame, if any
                modules[base] = (debug_frame_of(m.path, m.inode, task.read, base)
                                 if m.path.startswith("/") else None)
        return modules[base]

    def executable(addr: int) -> bool:
        m = maps.find(addr) if maps is not None else None
        return m is not None and m.executable

    def by_cfi(regs: dict[int, int], lookup: int) -> dict[int, int] | None:
        """The caller's registers by the CFI row for ``lookup``; None: no usable CFI.
        An empty dict: the CFI says this is the outermost frame."""
        mod = module_at(lookup)
        if mod is None:
            return None
        try:
            fde = mod.fde_for(lookup)
            if fde is None:
                return None
            row = row_at(fde, lookup)
            if row.cfa_expr is not None:
                cfa = evaluate(row.cfa_expr, regs, rd, word)
            else:
                cfa = (regs[row.cfa_reg] + row.cfa_off) & mask
            ra = row.rules.get(fde.ra_reg, ("undefined", None))
            if ra[0] == "undefined":
                return {}
            new = dict(regs)
            new[sp_no] = cfa
            for reg, (kind, arg) in row.rules.items():
                if kind == "undefined":
                    new.pop(reg, None)
                elif isinstance(arg, bytes):  # expr / val_expr: the CFA pushed first
                    value = evaluate(arg, regs, rd, word, cfa)
                    new[reg] = rd(value) if kind == "expr" else value
                elif isinstance(arg, int):
                    if kind == "offset":
                        new[reg] = rd((cfa + arg) & mask)
                    elif kind == "val_offset":
                        new[reg] = (cfa + arg) & mask
                    elif kind == "register":
                        new[reg] = regs[arg]
            new[pc_no] = new.pop(fde.ra_reg) if fde.ra_reg != pc_no else new[pc_no]
            return new
        except (SigdbgError, KeyError):  # (KeyError: a rule uses a register we lost)
            return None  # CFI we cannot use: the frame-pointer chain instead

    def by_frame_pointer(regs: dict[int, int], first: bool) -> dict[int, int] | None:
        sp, fp = regs[sp_no], regs.get(fp_no, 0)
        try:
            if first and is_restorer(rd(sp)):  # a handler's first instruction, no CFI
                return {**regs, pc_no: rd(sp), sp_no: sp + word}
            if not fp or fp < sp:
                return None
            ret = rd(fp + word)
            if not executable(ret):  # fp was not a frame pointer: stop, no made-up frame
                return None
            return {**regs, pc_no: ret, sp_no: fp + 2 * word, fp_no: rd(fp)}
        except SigdbgError:
            return None

    cur = session.registers()
    regs = {number[n]: cur[n] for n in names if n in cur}
    out: list[BtFrame] = []
    exact = True  # the pc is where the task is (or was interrupted), not a return address
    while len(out) < limit:
        pc, sp = regs[pc_no], regs[sp_no]
        into = restorer_at(pc, exact)
        if into is not None:
            # the handler's ret popped pretcode (and the non-rt restorer's pop the signal)
            frame_addr = sp - word - (word if into < 0 else 0)
            try:
                f = session.sigframe(frame_addr, signo=signals(frame_addr))
            except SigdbgError:
                break
            out.append(BtFrame(len(out), "sigframe", pc, frame_addr, "<signal handler called>",
                               frame_addr, f.sig))
            regs = {number[reg]: f.mcontext[mc] for mc, reg in abi.mcontext_regs
                    if reg in number and mc in f.mcontext}
            if pc_no not in regs or sp_no not in regs:
                break
            exact = True
            continue
        out.append(BtFrame(len(out), "frame", pc, sp, sym(pc)))
        new = by_cfi(regs, pc if exact else pc - 1)
        if new is None:
            new = by_frame_pointer(regs, exact)
        if not new or not new.get(pc_no) or sp_no not in new:
            break
        if new[sp_no] < sp or (new[sp_no] == sp and new[pc_no] == pc):
            break  # a stack that does not unwind outwards: stop rather than loop
        regs = new
        exact = False
    return out
