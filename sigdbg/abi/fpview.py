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
    #: the text shows only the low ``shown`` bits, after "..." (0: all of them)
    shown: int = 0
    #: the registers' own names where they are not ``name`` + number (AArch64
    #: P0-P15 then FFR)
    labels: tuple[str, ...] = ()

    @property
    def digits(self) -> int:
        return self.bits // 4

    def label(self, n: int) -> str:
        """The name of register ``n``."""
        return self.labels[n] if self.labels else f"{self.name}{n}"

    def text(self, value: int) -> str:
        """A value as fixed-width hex (no "0x"), or its low ``shown`` bits."""
        if self.shown:
            return f"...{value & ((1 << self.shown) - 1):0{self.shown // 4}x}"
        return f"{value:0{self.digits}x}"

    def nonzero_rows(self, indent: str) -> list[str]:
        """``{indent}{label} {value}`` for each register that is not zero, the
        labels in a column two wider than ``name``."""
        width = len(self.name) + 2
        return [f"{indent}{self.label(n):<{width}} {self.text(v)}"
                for n, v in enumerate(self.values) if v]


@dataclass(frozen=True)
class FpView:
    """What text shows of one FP/vector state."""

    #: the area's format ("xsave", "fxsave", ...; "" when it has one only)
    format: str = ""
    #: (name, value): control and status words, shown as ``name=0x...``
    words: tuple[tuple[str, int], ...] = ()
    #: (label, text): the area's headers as its decoder describes them (a
    #: label "": the text alone)
    notes: tuple[tuple[str, str], ...] = ()
    #: the register groups shown, each the widest view of its registers
    groups: tuple[RegGroup, ...] = ()

    def note_rows(self, indent: str) -> list[str]:
        return [f"{indent}{label}: {text}" if label else f"{indent}{text}"
                for label, text in self.notes]

    def words_text(self) -> str:
        """``  name=0x.. name=0x..`` (two spaces first), "" when there are none."""
        if not self.words:
            return ""
        return "  " + " ".join(f"{name}={value:#x}" for name, value in self.words)


__all__ = ["FpView", "RegGroup"]
