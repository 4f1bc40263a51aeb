"""Where a signal frame's pretcode points, and whether that is a restorer.

x86_64 handlers return through the ``sa_restorer`` the C library passed
(glibc ``__restore_rt``: ``mov $15,%rax; syscall``); there is no sigreturn
code in the 64-bit vDSO.  i386 handlers without SA_RESTORER return through
the vDSO's ``__kernel_sigreturn`` / ``__kernel_rt_sigreturn``
(arch/x86/kernel/signal_32.c; arch/x86/entry/vdso/vdso32/sigreturn.S).  ARM
handlers without SA_RESTORER return into ``[sigpage]``.  The byte patterns
are the ones the kernel keeps stable because unwinders match them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigdbg.abi import Abi
from sigdbg.backends.base import Memory
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.model import Model, SharedModel


@dataclass(frozen=True)
class SymbolRef(Model):
    """A symbol containing an address: ``name+offset`` in ``mapping``."""

    name: str  #: with version when known, e.g. __kernel_rt_sigreturn@LINUX_2.5
    offset: int
    mapping: str

    def __str__(self) -> str:
        return f"{self.name}+{self.offset:#x}" if self.offset else self.name


SymbolLookup = Callable[[int], "SymbolRef | None"]


@dataclass(frozen=True)
class Restorer(SharedModel):
    address: int
    kind: str  #: vdso, libc, program, library, stack, sigpage, unknown
    mapping: str | None
    symbol: str | None
    pattern: str | None  #: the recognised instruction sequence, if any
    syscall: str | None  #: rt_sigreturn / sigreturn when the pattern says so
    code: bytes  #: first bytes at the address (empty if unreadable)

    def describe(self, target_text: Callable[[str], str] = str) -> str:
        """One line: kind, symbol, mapping.  ``target_text`` renders the
        strings that come from the target (symbol, mapping path): the text
        front ends escape and cut them."""
        parts = [self.kind]
        if self.symbol:
            parts.append(target_text(self.symbol))
        if self.mapping:
            parts.append(f"in {target_text(self.mapping)}")
        if self.pattern and not self.symbol:
            parts.append(f"({self.pattern})")
        return " ".join(parts)


def match_pattern(abi: Abi, code: bytes) -> tuple[str, str] | None:
    for pat, sysname, text in abi.restorer_patterns:
        if code.startswith(pat):
            return sysname, text
    return None


def classify_restorer(
    mem: Memory,
    abi: Abi,
    address: int,
    maps: MemoryMap | None,
    lookup: SymbolLookup | None,
    exe_path: str = "",
    *,
    name_libc: bool = False,
) -> Restorer:
    """Classify the restorer a frame's pretcode points at.  ``name_libc``: ask
    ``lookup`` for libc's recognised restorer too (GDB has libc's tables
    loaded already; the ptrace side would have to parse them)."""
    code = mem.read_upto(address, 16)
    pat = match_pattern(abi, code)
    m = maps.find(address) if maps is not None else None
    mapping = (m.path or "[anonymous]") if m is not None else None
    is_libc = m is not None and m.path.rsplit("/", 1)[-1].startswith(("libc.", "libc-"))
    # libc's restorer is recognised by its bytes; parsing all of libc's symbol
    # tables (stripped on Debian anyway) just to name it would cost ~0.5 s
    want_symbol = lookup is not None and m is not None and (
        name_libc or not (is_libc and pat is not None))
    sym = lookup(address) if want_symbol and lookup is not None else None
    symbol = str(sym) if sym is not None else None
    if m is None:
        kind = "unknown"
    elif m.path == "[vdso]":
        kind = "vdso"
    elif m.path == "[sigpage]":
        kind = "sigpage"
    elif m.path.startswith("[stack") or (not m.path and "x" not in m.perms):
        kind = "stack"
    elif m.path.startswith("/"):
        if is_libc:
            kind = "libc"
        elif exe_path and m.path == exe_path:
            kind = "program"
        else:
            kind = "library"
    else:
        kind = "unknown"
    if kind == "libc" and symbol is None and pat is not None and pat[0] == "rt_sigreturn":
        # Debian's libc has no .symtab; __restore_rt is recognised by its bytes
        symbol = "__restore_rt"
    return Restorer(
        address=address,
        kind=kind,
        mapping=mapping,
        symbol=symbol,
        pattern=pat[1] if pat else None,
        syscall=pat[0] if pat else None,
        code=code,
    )
