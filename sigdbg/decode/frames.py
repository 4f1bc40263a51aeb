"""One entry point for "the signal frame at this address", whatever the ABI.

The x86 frames (sigdbg/decode/sigframe.py, :class:`SigFrame`) are built by
the generic row decoder from the ABI's ``FrameKind`` rows; the AArch64 frame
(sigdbg/abi/aarch64/a64frame.py, ``A64Frame``) and the AArch32 ones
(sigdbg/abi/arm/a32frame.py, ``A32Frame``) have their own models, and this
module is their registry: one line per arch package that has one (the
decoders are decode-layer modules, hence a registry here rather than a field
of the ABI value, as for the FP-area walkers of sigdbg/decode/fparea.py).
The sigreturn walk (sigdbg/engine/sigreturn.py) decodes and diffs frames
through these functions and never names an architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sigdbg.abi import AARCH64, ARM, Abi
from sigdbg.abi.aarch64 import a64frame as _aarch64
from sigdbg.abi.arm import a32frame as _arm
from sigdbg.backends.base import Memory
from sigdbg.decode.sigframe import (
    FrameDiff,
    RestorerContext,
    SigFrame,
    decode_sigframe,
    diff_frames,
)

AnyFrame = SigFrame | _aarch64.A64Frame | _arm.A32Frame


class _OwnModel(NamedTuple):
    """An ABI whose frames have their own model, with its decoder and diff."""

    abi: Abi
    model: type
    #: (mem, address, *, entry_regs, signo, view, kind, previous) -> the frame
    decode: Callable[..., AnyFrame]
    diff: Callable[[Any, Any], FrameDiff]


def _decode_aarch64(mem: Memory, address: int, *, kind: str | None,
                    **kw: Any) -> AnyFrame:
    return _aarch64.decode_a64_frame(mem, address, **kw)  # (one frame kind)


#: the registry, in the order the frames are tried
_OWN_MODELS: tuple[_OwnModel, ...] = (
    _OwnModel(ARM, _arm.A32Frame, _arm.decode_a32_frame, _arm.diff_a32_frames),
    _OwnModel(AARCH64, _aarch64.A64Frame, _decode_aarch64,
              _aarch64.diff_a64_frames),
)


def own_model(abi: Abi) -> bool:
    """Whether ``abi``'s frames have their own model (AArch64, AArch32) rather
    than the :class:`SigFrame` the generic row decoder builds."""
    return any(abi is own.abi for own in _OWN_MODELS)


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
    for own in _OWN_MODELS:
        if isinstance(previous, own.model) or (previous is None and abi is own.abi):
            return own.decode(mem, address, entry_regs=entry_regs, signo=signo, view=view,
                              kind=kind,
                              previous=previous if isinstance(previous, own.model) else None)
    assert previous is None or isinstance(previous, SigFrame)
    return decode_sigframe(mem, abi, address, view=view, kind=kind, signo=signo,
                           previous=previous)


def diff_any(before: AnyFrame, after: AnyFrame) -> FrameDiff:
    """What changed between two reads of one frame (handler entry -> sigreturn)."""
    for own in _OWN_MODELS:
        if isinstance(before, own.model) and isinstance(after, own.model):
            return own.diff(before, after)
    if isinstance(before, SigFrame) and isinstance(after, SigFrame):
        return diff_frames(before, after)
    return FrameDiff(())


__all__ = ["AnyFrame", "decode_frame", "diff_any", "own_model"]
