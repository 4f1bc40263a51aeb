"""An FP/vector register state as every renderer prints it, whatever its arch.

A decoder of an arch's FP area (x86: the FXSAVE/XSAVE image,
sigdbg/abi/x86/xsave.py and vector_regs.py) describes what it decoded with
these rows: the control/status words, the lines that describe the area's own
headers, and the register groups (name, width, values).  The text renderer
(``render_frame``) and the shell's ``regs --fp`` print them without knowing
the arch's structure; the JSON stays the decoder model's own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegGroup:
    """Registers of one kind, numbered from 0: ``name`` + number (``ymm3``, ``v3``)."""

    name: str
    bits: int  #: width of each register (the text shows ``bits // 4`` hex digits)
    values: tuple[int, ...]

    @property
    def digits(self) -> int:
        return self.bits // 4


@dataclass(frozen=True)
class FpView:
    """What text shows of one FP/vector state."""

    #: the area's format ("xsave", "fxsave", ...; "" when it has one only)
    format: str = ""
    #: (name, value): control and status words, shown as ``name=0x...``
    words: tuple[tuple[str, int], ...] = ()
    #: (label, text): the area's headers as its decoder describes them
    notes: tuple[tuple[str, str], ...] = ()
    #: the register groups shown, each the widest view of its registers
    groups: tuple[RegGroup, ...] = ()

    def words_text(self) -> str:
        """``  name=0x.. name=0x..`` (two spaces first), "" when there are none."""
        if not self.words:
            return ""
        return "  " + " ".join(f"{name}={value:#x}" for name, value in self.words)


__all__ = ["FpView", "RegGroup"]
