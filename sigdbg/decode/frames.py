"""One entry point for "the signal frame at this address", whatever the ABI.

The x86 frames (sigdbg/decode/sigframe.py, :class:`SigFrame`), the AArch64
frame (sigdbg/abi/aarch64/a64frame.py, :class:`A64Frame`) and the AArch32 ones
(sigdbg/abi/arm/a32frame.py, :class:`A32Frame`) have their own models;
the sigreturn walk (sigdbg/engine/sigreturn.py) decodes and diffs frames
through these two functions and never names an architecture.
"""

from __future__ import annotations

from sigdbg.abi import AARCH64, ARM, Abi
from sigdbg.abi.aarch64.a64frame import A64Frame, decode_a64_frame, diff_a64_frames
from sigdbg.abi.arm.a32frame import A32Frame, decode_a32_frame, diff_a32_frames
from sigdbg.backends.base import Memory
from sigdbg.decode.sigframe import (
    FrameDiff,
    RestorerContext,
    SigFrame,
    decode_sigframe,
    diff_frames,
)

AnyFrame = SigFrame | A64Frame | A32Frame


def own_model(abi: Abi) -> bool:
    """Whether ``abi``'s frames have their own model (AArch64, AArch32) rather
    than the x86 :class:`SigFrame` the generic row decoder builds."""
    return abi is AARCH64 or abi is ARM


def decode_frame(
    mem: Memory,
    abi: Abi,
    address: int,
    *,
    view: RestorerContext | None = None,
    signo: int | None = None,
    kind: str | None = None,
    previous: AnyFrame | None = None,
    entry_regs: dict[str, int] | None = None,
) -> AnyFrame:
    """The frame at ``address`` (sp at handler entry).  ``entry_regs``: the
    registers at the handler's first instruction (AArch64 takes its restorer
    from x30 and its frame record from x29 there); ``previous``: the decode
    of the same frame at handler entry, when re-reading it at sigreturn."""
    if isinstance(previous, A32Frame) or (previous is None and abi is ARM):
        return decode_a32_frame(mem, address, entry_regs=entry_regs, signo=signo, view=view,
                                kind=kind,
                                previous=previous if isinstance(previous, A32Frame) else None)
    if isinstance(previous, A64Frame) or (previous is None and abi is AARCH64):
        return decode_a64_frame(mem, address, entry_regs=entry_regs, signo=signo, view=view,
                                previous=previous if isinstance(previous, A64Frame) else None)
    assert not isinstance(previous, A32Frame)
    return decode_sigframe(mem, abi, address, view=view, kind=kind, signo=signo,
                           previous=previous)


def diff_any(before: AnyFrame, after: AnyFrame) -> FrameDiff:
    """What changed between two reads of one frame (handler entry -> sigreturn)."""
    if isinstance(before, A64Frame) and isinstance(after, A64Frame):
        return diff_a64_frames(before, after)
    if isinstance(before, A32Frame) and isinstance(after, A32Frame):
        return diff_a32_frames(before, after)
    if isinstance(before, SigFrame) and isinstance(after, SigFrame):
        return diff_frames(before, after)
    return FrameDiff(())


__all__ = ["AnyFrame", "decode_frame", "diff_any", "own_model"]
