"""What the shell's arguments name: addresses, symbols, memory to examine.

An address expression is a sum of terms: numbers (``0x401000``, ``4096``),
registers (``$rsp``, ``$pc``, ``$sp``, ``$fp``), auxv entries (``AT_ENTRY``,
``AT_SYSINFO_EHDR``) and symbols of the vDSO or the program
(``__vdso_clock_gettime``, ``main``), joined by ``+`` and ``-``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigdbg.decode.elfimage import ElfImage, parse_elf_image
from sigdbg.decode.model import Model
from sigdbg.errors import DecodeError, FeatureUnavailable, SigdbgError, UsageError
from sigdbg.names import all_auxv_names, auxv_number
from sigdbg.textsafe import safe

if TYPE_CHECKING:
    from sigdbg.engine.session import Session

_TOKENS = re.compile(r"[+-]|[^+\-\s]+")
#: gdb's x/FMT: a count, a format letter and a unit size letter, in any order after the count
_FORMATS = "xduotacsi"
_SIZES = {"b": 1, "h": 2, "w": 4, "g": 8}


class Resolver:
    """Names to addresses for one session (caches the program's symbol table)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._exe: tuple[str, ElfImage | None] | None = None

    def invalidate(self) -> None:
        self._exe = None

    # -- symbols -------------------------------------------------------------------
    def _vdso(self) -> tuple[int, ElfImage] | None:
        try:
            v = self.session.vdso_image()
        except SigdbgError:
            return None
        return v.mapping.start - v.image.load_bias_hint, v.image

    def _program(self) -> tuple[int, ElfImage] | None:
        s = self.session
        path = s.exe_path()
        if self._exe is None or self._exe[0] != path:
            img = None
            try:
                with open(path, "rb") as fh:
                    img = parse_elf_image(fh.read(), include_symtab=True)
            except (OSError, DecodeError, FeatureUnavailable):
                img = None
            self._exe = (path, img)
        img = self._exe[1]
        if img is None:
            return None
        base = s.maps().image_base(path)
        if base is None:
            return None
        return base - img.load_bias_hint, img

    def symbol(self, name: str) -> tuple[int, int] | None:
        """(address, size) of a vDSO or program symbol, None if neither has it."""
        for source in (self._vdso, self._program):
            got = source()
            if got is None:
                continue
            bias, img = got
            sym = img.lookup(name)
            if sym is not None and isinstance(sym.section, int) and sym.type != "SECTION":
                return bias + sym.value, sym.size
        return None

    def vdso_symbol_names(self) -> list[str]:
        got = self._vdso()
        if got is None:
            return []
        return sorted({s.name for s in got[1].symbols if s.name and s.type == "FUNC"})

    def auxv_names(self) -> tuple[str, ...]:
        return all_auxv_names(self.session.abi.arch)

    # -- expressions -----------------------------------------------------------------
    def register(self, name: str) -> int:
        s = self.session
        regs = s.registers()
        abi = s.abi
        alias = {"pc": abi.pc, "sp": abi.sp, "fp": abi.fp}
        key = alias.get(name, name)
        if key not in regs:
            raise UsageError(f"no register ${name}")
        return regs[key]

    def _term(self, t: str, text: str) -> int:
        if t.startswith("$"):
            return self.register(t[1:])
        if t[0].isdigit():
            try:
                return int(t, 0)
            except ValueError:
                raise UsageError(f"bad address {text!r}: {t!r} is not a number") from None
        if t.startswith("AT_"):
            try:
                n = auxv_number(t, self.session.abi.arch)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            value = self.session.auxv_value(n)
            if value is None:
                raise UsageError(f"the auxv has no {t}")
            return value
        hit = self.symbol(t)
        if hit is None:
            raise UsageError(f"bad address {text!r}: no symbol {t!r} in the vDSO or the program")
        return hit[0]

    def evaluate(self, text: str) -> int:
        tokens = _TOKENS.findall(text)
        if not tokens:
            raise UsageError("missing address")
        total, sign, want_term = 0, 1, True
        for t in tokens:
            if t in "+-":
                if want_term and t == "-":
                    sign = -sign
                elif not want_term:
                    sign = 1 if t == "+" else -1
                    want_term = True
                continue
            if not want_term:
                raise UsageError(f"bad address {text!r}: expected + or - before {t!r}")
            total += sign * self._term(t, text)
            want_term = False
        if want_term:
            raise UsageError(f"bad address {text!r}: it ends with an operator")
        return total & self.session.abi.mask


# -- x/FMT ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExamineFormat:
    count: int
    letter: str  #: x d u o t a c s i
    size: int  #: unit size in bytes (1 for c and s, the word for a)


def parse_format(spec: str, word: int, last: ExamineFormat | None = None) -> ExamineFormat:
    """Parse gdb's ``x/FMT`` suffix (``16xb``, ``4xg``, ``s``, ``3i``)."""
    m = re.fullmatch(r"(\d*)([a-z]*)", spec)
    if m is None:
        raise UsageError(f"bad format /{spec}: expected /[COUNT][{_FORMATS}][bhwg]")
    count = int(m.group(1)) if m.group(1) else 1
    letter = last.letter if last else "x"
    size = last.size if last else 4
    size_given = False
    for ch in m.group(2):
        if ch in _SIZES:
            size, size_given = _SIZES[ch], True
        elif ch in _FORMATS:
            letter = ch
        else:
            raise UsageError(f"bad format /{spec}: unknown letter {ch!r}")
    if count < 1 or count > 4096:
        raise UsageError(f"bad format /{spec}: the count must be 1..4096")
    if letter == "a":
        size = word
    elif letter in "cs" and not size_given:
        size = 1
    return ExamineFormat(count, letter, size)


@dataclass(frozen=True)
class MemoryRows(Model):
    """The result of ``x``: numeric units, strings or instructions."""

    address: int
    letter: str
    size: int
    values: tuple[int, ...] = ()
    strings: tuple[tuple[int, str], ...] = ()
    instructions: tuple[str, ...] = ()
    symbols: dict[int, str] | None = None  #: for the a format: value -> symbol

    def _json(self, view: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"address": self.address, "format": self.letter, "size": self.size}
        if self.letter == "s":
            out["strings"] = [{"address": a, "string": s} for a, s in self.strings]
        elif self.letter == "i":
            out["instructions"] = list(self.instructions)
        else:
            out["values"] = list(self.values)
        return out


def decode_cstring(data: bytes) -> str:
    return safe(data.split(b"\0", 1)[0].decode("utf-8", "backslashreplace"))
