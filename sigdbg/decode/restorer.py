"""Where a signal frame's pretcode points, and whether that is a restorer.

x86_64 handlers return through the ``sa_restorer`` the C library passed
(glibc ``__restore_rt``: ``mov $15,%rax; syscall``); there is no sigreturn
code in the 64-bit vDSO.  i386 handlers without SA_RESTORER return through
the vDSO's ``__kernel_sigreturn`` / ``__kernel_rt_sigreturn``
(arch/x86/kernel/signal_32.c; arch/x86/entry/vdso/vdso32/sigreturn.S).  ARM
handlers without SA_RESTORER return into ``[sigpage]`` (the entry is checked
against the page's contents, read by the ABI's page rules), glibc armhf ones
into its Thumb-2 ``__default_rt_sa_restorer``; bit 0 of an ARM address says
Thumb, so the patterns of that instruction set are matched at the even
address (arch/arm64/kernel/signal32.c ``compat_setup_return``).  The byte
patterns are the ones the kernel keeps stable because unwinders match them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigdbg.abi import ABIS, Abi
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


def match_pattern(abi: Abi, code: bytes, *, isa: bool = False) -> tuple[str, str] | None:
    """(syscall, text) of the restorer ``code`` starts with; ``isa``: the
    code was reached through an address with the ABI's ``isa_bit`` set (Thumb)."""
    for pat, sysname, text in (abi.isa_restorer_patterns if isa else abi.restorer_patterns):
        if code.startswith(pat):
            return sysname, text
    return None


#: the special pages that hold the kernel's sigreturn trampolines (every ABI's
#: ``special_pages`` rules of kind "trampolines"; ARM's ``[sigpage]``, see
#: sigdbg/abi/arm/pages.py) -> the restorer kind they make: the mapping's name
_TRAMPOLINE_PAGES: dict[str, str] = {
    rule.mapping: rule.mapping.strip("[]") for abi in ABIS for rule in abi.special_pages
    if rule.kind == "trampolines"}


def _special_entry(mem: Memory, abi: Abi, maps: MemoryMap, address: int,
                   mapping: str) -> tuple[str, str, str] | None:
    """(entry name, syscall, source) when ``address`` is a trampoline entry of
    the special page ``mapping`` (ARM ``[sigpage]``), read from memory by the
    ABI's page rules (sigdbg/decode/specialpages.py); None otherwise."""
    from sigdbg.decode.specialpages import decode_special_pages

    rules = [r for r in abi.special_pages if r.mapping == mapping and r.kind == "trampolines"]
    if not rules:
        return None
    for page in decode_special_pages(mem, maps, rules):
        for t in page.trampolines:
            if t.address == address:
                return t.name, t.syscall, f"{page.kernel}: {page.source}"
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
    # ARM: bit 0 of the address selects Thumb code; the code is at the even address
    isa = bool(address & abi.isa_bit)
    code = mem.read_upto(address & ~abi.isa_bit, 16)
    pat = match_pattern(abi, code, isa=isa)
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
    elif m.path in _TRAMPOLINE_PAGES:
        kind = _TRAMPOLINE_PAGES[m.path]
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
    if kind == "libc" and symbol is None and pat is not None:
        # Debian's libc has no .symtab; its restorer is recognised by its bytes
        symbol = dict(abi.libc_restorer_names).get(pat[0])
    if m is not None and m.path in _TRAMPOLINE_PAGES and maps is not None:
        # the kernel's trampolines: an entry only where the page holds one
        entry = _special_entry(mem, abi, maps, address, m.path)
        if entry is not None:
            symbol = f"{m.path} {entry[0]}"
            pat = (entry[1], pat[1] if pat is not None else entry[2])
    return Restorer(
        address=address,
        kind=kind,
        mapping=mapping,
        symbol=symbol,
        pattern=pat[1] if pat else None,
        syscall=pat[0] if pat else None,
        code=code,
    )
