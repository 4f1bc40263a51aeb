"""Disassembly of target code (sigreturn trampolines, vDSO functions) with
capstone.

capstone is imported lazily, when the first :class:`Disassembler` is built, so
this module imports in a Python without it (GDB's); building one without
capstone raises :class:`FeatureUnavailable`.

Mnemonics and operands are capstone's own.  In AT&T syntax capstone always
spells the operand-size suffix (``movl $0xad, %eax``, ``popl``, ``retl``)
where objdump and gdb usually omit it (``mov $0xad,%eax``); Intel syntax has
no suffixes (``mov eax, 0xad``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any, Final

from sigdbg.abi import ABIS
from sigdbg.errors import DecodeError, FeatureUnavailable

__all__ = [
    "MODES",
    "SYNTAXES",
    "Disassembler",
    "Instruction",
    "clear_cache",
    "get_disassembler",
]

#: mode -> (capstone architecture constant names, capstone mode constant name),
#: from every ABI's ``capstone_modes``
_MODE_TABLE: Final = MappingProxyType({
    mode: (arch_names, mode_name)
    for abi in ABIS for mode, arch_names, mode_name in abi.capstone_modes
})
#: another name of an ABI's instruction set -> its mode
_ALIASES: Final = MappingProxyType({
    alias: abi.disasm_mode for abi in ABIS for alias in abi.aliases
})
#: mode -> the syntaxes capstone offers for it, beyond its default
_SYNTAX_CHOICE: Final = MappingProxyType({
    mode: abi.syntaxes for abi in ABIS if abi.syntaxes for mode, _, _ in abi.capstone_modes
})

#: The modes :class:`Disassembler` accepts (aliases aside).
MODES: Final = tuple(_MODE_TABLE)
#: The syntaxes :class:`Disassembler` accepts (for the modes that have a choice).
SYNTAXES: Final = tuple(dict.fromkeys(s for abi in ABIS for s in abi.syntaxes))

_SYSCALL_MNEMONICS: Final = frozenset(m for abi in ABIS for m in abi.syscall_mnemonics)


@dataclass(frozen=True)
class Instruction:
    """One decoded instruction at ``address`` (an address in the target)."""

    address: int
    size: int
    bytes: bytes
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        """``mnemonic op_str`` as one string (just the mnemonic if no operands)."""
        return f"{self.mnemonic} {self.op_str}" if self.op_str else self.mnemonic

    @property
    def end(self) -> int:
        """The address of the next instruction."""
        return self.address + self.size

    @property
    def is_syscall(self) -> bool:
        """True for a system-call instruction.

        x86: ``syscall``, ``sysenter``, ``int $0x80``; ARM/AArch64: ``svc``
        (``swi`` in old spelling), whatever its immediate (the OABI encodes the
        syscall number there).
        """
        if self.mnemonic in _SYSCALL_MNEMONICS:
            return True
        if self.mnemonic == "int":
            return self.op_str.strip().lstrip("$").lower() in ("0x80", "128")
        return False


def _canonical_mode(mode: str) -> str:
    key = mode.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _MODE_TABLE:
        raise DecodeError(
            f"unknown disassembly mode {mode!r} (known: {', '.join(MODES)})"
        )
    return key


def _check_syntax(syntax: str) -> str:
    key = syntax.strip().lower()
    if key not in SYNTAXES:
        raise DecodeError(
            f"unknown disassembly syntax {syntax!r} (known: {', '.join(SYNTAXES)})"
        )
    return key


@cache
def _capstone_handle(mode: str, syntax: str) -> Any:
    """One configured ``capstone.Cs`` per (canonical mode, syntax)."""
    try:
        capstone = importlib.import_module("capstone")
    except ImportError:
        raise FeatureUnavailable(
            "capstone is not installed: disassembly unavailable"
        ) from None
    arch_names, mode_name = _MODE_TABLE[mode]
    arch = next(
        (getattr(capstone, n) for n in arch_names if hasattr(capstone, n)), None
    )
    cs_mode = getattr(capstone, mode_name, None)
    if arch is None or cs_mode is None:
        raise FeatureUnavailable(
            f"this capstone has no {mode} support: disassembly unavailable"
        )
    try:
        handle = capstone.Cs(arch, cs_mode)
        if syntax == "att" and "att" in _SYNTAX_CHOICE.get(mode, ()):
            handle.syntax = capstone.CS_OPT_SYNTAX_ATT
    except capstone.CsError as err:
        raise FeatureUnavailable(
            f"capstone cannot disassemble {mode} ({syntax}): {err}"
        ) from None
    handle.detail = False
    return handle


class Disassembler:
    """A capstone disassembler for one mode and syntax.

    ``mode`` is ``x86_64``, ``i386``, ``arm``, ``thumb`` or ``aarch64``;
    ``syntax`` (``att`` or ``intel``) matters for x86 only.  Prefer
    :func:`get_disassembler`, which reuses instances.
    """

    __slots__ = ("_cs", "mode", "syntax")

    def __init__(self, mode: str, syntax: str = "att") -> None:
        self.mode = _canonical_mode(mode)
        self.syntax = _check_syntax(syntax)
        self._cs = _capstone_handle(self.mode, self.syntax)

    def __repr__(self) -> str:
        return f"Disassembler({self.mode!r}, syntax={self.syntax!r})"

    def disassemble(
        self, code: bytes, address: int, count: int = 0
    ) -> tuple[Instruction, ...]:
        """Decode ``code``, whose first byte is at ``address``.

        Stops after ``count`` instructions (0: no limit), at the end of
        ``code``, or at the first byte sequence that is not a valid
        instruction (so a short or empty result is not an error).
        """
        if count < 0:
            raise DecodeError(f"negative instruction count {count}")
        code = bytes(code)
        out = []
        for insn_addr, size, mnemonic, op_str in self._cs.disasm_lite(
            code, address, count
        ):
            at = insn_addr - address
            out.append(
                Instruction(
                    address=insn_addr,
                    size=size,
                    bytes=code[at:at + size],
                    mnemonic=mnemonic,
                    op_str=op_str,
                )
            )
        return tuple(out)

    def one(self, code: bytes, address: int) -> Instruction | None:
        """The first instruction of ``code``, or None if it does not decode."""
        insns = self.disassemble(code, address, 1)
        return insns[0] if insns else None


@cache
def get_disassembler(mode: str, syntax: str = "att") -> Disassembler:
    """A shared :class:`Disassembler` for ``mode`` and ``syntax``."""
    return Disassembler(mode, syntax)


def clear_cache() -> None:
    """Forget cached disassemblers (and capstone handles)."""
    get_disassembler.cache_clear()
    _capstone_handle.cache_clear()
