"""What the kernel put in an ARM process's special pages: kuser helpers and
sigreturn trampolines, read from target memory.

The facts (addresses, byte patterns, entry offsets) are the ABI's data
(``Abi.special_pages``, sigdbg/abi/arm/pages.py); this module only reads and
matches.  The kuser helper version word is read from memory, never assumed;
a trampoline block is found by searching the page for its bytes (offset 0 on
an arm64 kernel, a random offset chosen at boot on an ARM kernel:
arch/arm/kernel/signal.c ``get_signal_page``).  Thumb entries are given with
bit 0 set, as lr holds them at handler entry (arch/arm/kernel/signal.c
``setup_return``: ``retcode = sigpage + idx * 4 + thumb``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sigdbg.abi.arm.pages import PageRule
from sigdbg.backends.base import Memory
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.model import Model
from sigdbg.errors import MemoryReadError

#: (code, address, mode) -> instruction lines
Disassemble = Callable[[bytes, int, str], Sequence[str]]


@dataclass(frozen=True)
class KuserEntry(Model):
    name: str
    address: int
    since_version: int
    #: the page's version word says this helper exists
    present: bool
    description: str
    code: bytes | None
    disassembly: tuple[str, ...]


@dataclass(frozen=True)
class TrampolineEntry(Model):
    name: str
    #: what lr holds when a handler returns here (bit 0 set for Thumb)
    address: int
    offset: int  #: from the start of the mapping
    mode: str
    syscall: str
    syscall_nr: int
    code: bytes
    disassembly: tuple[str, ...]


@dataclass(frozen=True)
class SpecialPage(Model):
    """One decoded special mapping."""

    mapping: str
    start: int
    end: int
    kind: str  #: "kuser" or "trampolines"
    readable: bool
    error: str | None
    #: kuser: ``__kuser_helper_version`` and where it was read
    version: int | None = None
    version_address: int | None = None
    kuser: tuple[KuserEntry, ...] = ()
    #: trampolines: which kernel's block matched, its source and offset
    kernel: str | None = None
    source: str | None = None
    block_offset: int | None = None
    trampolines: tuple[TrampolineEntry, ...] = ()


def decode_special_pages(mem: Memory, maps: MemoryMap, rules: Sequence[PageRule],
                         disassemble: Disassemble | None = None) -> tuple[SpecialPage, ...]:
    """Every special page ``rules`` describe that the process has mapped."""
    out = []
    for rule in rules:
        m = maps.by_name(rule.mapping)
        if m is None:
            continue
        try:
            page = mem.read(m.start, m.size)
        except MemoryReadError as exc:
            out.append(SpecialPage(m.path, m.start, m.end, rule.kind, False, exc.reason))
            continue
        if rule.kind == "kuser":
            out.append(_kuser(rule, m.start, m.end, page, disassemble))
        else:
            out.append(_trampolines(rule, m.start, m.end, page, disassemble))
    return tuple(out)


def _dis(disassemble: Disassemble | None, code: bytes, address: int,
         mode: str) -> tuple[str, ...]:
    return tuple(disassemble(code, address, mode)) if disassemble is not None else ()


def _kuser(rule: PageRule, start: int, end: int, page: bytes,
           disassemble: Disassemble | None) -> SpecialPage:
    off = rule.version_address - start
    if not 0 <= off <= len(page) - 4:
        return SpecialPage(rule.mapping, start, end, "kuser", True,
                           f"version word {rule.version_address:#x} is not in the mapping")
    version = int.from_bytes(page[off : off + 4], "little")
    entries = []
    ends = sorted({h.address for h in rule.helpers} | {rule.version_address})
    for h in rule.helpers:
        size = min(a for a in ends if a > h.address) - h.address
        code = page[h.address - start : h.address - start + size]
        while len(code) > 4 and code[-4:] == bytes(4):
            code = code[:-4]  # the slot's zero padding (kuser32.S .align 5) is no code
        present = version >= h.since_version
        entries.append(KuserEntry(h.name, h.address, h.since_version, present, h.description,
                                  code, _dis(disassemble, code, h.address, "arm")
                                  if present else ()))
    return SpecialPage(rule.mapping, start, end, "kuser", True, None, version,
                       rule.version_address, tuple(entries))


def _trampolines(rule: PageRule, start: int, end: int, page: bytes,
                 disassemble: Disassemble | None) -> SpecialPage:
    for block in rule.blocks:
        at = page.find(block.code)
        if at < 0:
            continue
        entries = []
        for t in block.entries:
            code = block.code[t.offset : t.offset + t.size]
            address = start + at + t.offset
            entries.append(TrampolineEntry(
                t.name, address | (1 if t.mode == "thumb" else 0), at + t.offset, t.mode,
                t.syscall, t.syscall_nr, code, _dis(disassemble, code, address, t.mode)))
        return SpecialPage(rule.mapping, start, end, "trampolines", True, None,
                           kernel=block.kernel, source=block.source, block_offset=at,
                           trampolines=tuple(entries))
    return SpecialPage(rule.mapping, start, end, "trampolines", True,
                       "no known sigreturn code in the page")
