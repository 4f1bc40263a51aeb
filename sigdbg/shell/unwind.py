"""A backtrace that crosses signal frames (``bt``).

The walk follows the frame-pointer chain (``[fp]`` = caller's fp,
``[fp + word]`` = return address).  A return address whose code is a
sigreturn restorer (:func:`sigdbg.decode.restorer.match_pattern`, or the
pretcode of a frame the engine reported) means the function is a signal
handler and the slot holding it is the start of the signal frame: the walk
prints ``<signal handler called>``, decodes that frame and continues from the
interrupted context in its ``uc_mcontext`` (pc, sp and fp).  At a handler's
first instruction (``[sp]`` is the restorer) the frame is at ``sp``.

Code without frame pointers (most of libc) makes the chain skip callers;
the walk stops at a null or non-ascending frame pointer or after ``limit``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sigdbg.decode.model import Model
from sigdbg.decode.restorer import match_pattern
from sigdbg.errors import SigdbgError

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
    task = session.current_task()
    abi = task.abi
    word = abi.word
    fmt = abi.word_fmt
    fp_name = "rbp" if abi.bits == 64 else "ebp"
    mc_fp = "rbp" if abi.bits == 64 else "bp"

    def rd(addr: int) -> int | None:
        try:
            return int(struct.unpack(fmt, task.read(addr, word))[0])
        except (SigdbgError, struct.error):
            return None

    def sym(addr: int) -> str | None:
        try:
            ref = session.lookup(addr)
        except SigdbgError:
            return None
        return str(ref) if ref is not None else None

    def is_restorer(addr: int) -> bool:
        if addr in restorers:
            return True
        return match_pattern(abi, task.read_upto(addr, 16)) is not None

    regs = session.registers()
    pc, sp, fp = regs[abi.pc], regs[abi.sp], regs[fp_name]
    out = [BtFrame(0, "frame", pc, sp, sym(pc))]

    def enter_sigframe(frame_addr: int, ret: int) -> tuple[int, int, int] | None:
        try:
            f = session.sigframe(frame_addr, signo=signals(frame_addr))
        except SigdbgError:
            return None
        out.append(BtFrame(len(out), "sigframe", ret, frame_addr, "<signal handler called>",
                           frame_addr, f.sig))
        npc, nsp, nfp = f.pc, f.sp, f.mcontext.get(mc_fp, 0)
        out.append(BtFrame(len(out), "frame", npc, nsp, sym(npc)))
        return npc, nsp, nfp

    top = rd(sp)
    if top is not None and is_restorer(top):  # at the handler's first instruction
        got = enter_sigframe(sp, top)
        if got is None:
            return out
        pc, sp, fp = got
    while len(out) < limit and fp:
        saved_fp, ret = rd(fp), rd(fp + word)
        if saved_fp is None or ret is None or ret == 0:
            break
        if is_restorer(ret):
            got = enter_sigframe(fp + word, ret)
            if got is None:
                break
            pc, sp, fp = got
            continue
        out.append(BtFrame(len(out), "frame", ret, fp + 2 * word, sym(ret)))
        if saved_fp <= fp:
            break
        fp = saved_fp
    return out[:limit]
