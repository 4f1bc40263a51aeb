"""A backtrace that crosses signal frames (``bt``), on the core unwinder.

The walk is :class:`sigdbg.engine.unwind.Unwinder`'s (``.eh_frame`` call-frame
information, the frame-pointer chain where there is none, and signal frames:
a return address that is a sigreturn restorer means the function is a signal
handler, the kernel's frame starts one word below the CFA, and the walk goes
on from the interrupted context in its ``uc_mcontext``).  ``trace -k`` uses
the same walker.  This module adds what a debugger stop needs: at a
handler's first instruction (``[sp]`` is the restorer) the frame is at
``sp``, and the ``<signal handler called>`` marker names the signal.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sigdbg.decode.model import Model
from sigdbg.engine.unwind import Unwinder
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


def backtrace(session: Session, limit: int = 64, restorers: frozenset[int] = frozenset()
              ) -> list[BtFrame]:
    task = session.current_task()
    abi = task.abi
    word = abi.word

    def sigframe_regs(address: int) -> dict[str, int] | None:
        try:
            return dict(session.sigframe(address).mcontext)
        except SigdbgError:
            return None

    def vdso() -> bytes | None:
        try:
            return bytes(session.vdso_image().data)
        except SigdbgError:
            return None

    u = Unwinder(task, abi, session.maps, session.lookup, sigframe_regs, vdso, restorers)
    regs = session.registers()
    pc, sp = regs[abi.pc], regs[abi.sp]
    out: list[BtFrame] = []

    def marker(frame_addr: int, ret: int) -> None:
        try:
            sig: int | None = session.sigframe(frame_addr).sig
        except SigdbgError:
            sig = None
        out.append(BtFrame(len(out), "sigframe", ret, frame_addr, "<signal handler called>",
                           frame_addr, sig))

    start: dict[str, int] = regs
    try:
        top: int | None = int(struct.unpack(abi.word_fmt, task.read(sp, word))[0])
    except (SigdbgError, struct.error):
        top = None
    if top is not None and u.is_restorer(top):  # at the handler's first instruction
        ref = session.lookup(pc)
        out.append(BtFrame(0, "frame", pc, sp, str(ref) if ref is not None else None))
        mc = sigframe_regs(sp)
        if mc is None:
            return out
        marker(sp, top)
        start = mc
    for f in u.unwind(start, limit):
        if len(out) >= limit:
            break
        if f.how == "sigframe":
            marker(f.sp - word, f.pc)
        else:
            out.append(BtFrame(len(out), "frame", f.pc, f.sp, f.symbol))
    return out[:limit]
