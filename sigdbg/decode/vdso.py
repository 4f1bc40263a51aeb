"""The vDSO and the pages at fixed addresses (``Abi.fixed_pages``) as reports.

Sources: arch/x86/entry/vdso/vma.c (mapping, AT_SYSINFO_EHDR),
arch/x86/entry/vdso/vdso.lds.S and vdso32/vdso32.lds.S (exported symbols and
versions); a fixed page's address, entries and modes are its ABI's data (the
arch package's ``pages.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sigdbg.abi import ABIS
from sigdbg.abi.abis import Abi, FixedPage
from sigdbg.decode.elfimage import ElfImage, ElfSymbol
from sigdbg.decode.memmap import Mapping, MemoryMap
from sigdbg.decode.model import Model


@dataclass(frozen=True)
class VdsoSymbol(Model):
    name: str
    version: str | None
    address: int
    offset: int
    size: int
    type: str
    bind: str


@dataclass(frozen=True)
class VdsoReport(Model):
    abi: str
    start: int
    end: int
    perms: str
    image_size: int
    soname: str | None
    entry: int
    entry_symbol: str | None
    build_id: str | None
    linux_version: str | None
    version_definitions: tuple[str, ...]
    at_sysinfo_ehdr: int | None
    at_sysinfo: int | None
    symbols: tuple[VdsoSymbol, ...]
    neighbours: tuple[Mapping, ...]  #: [vvar], [vvar_vclock] next to it


def vdso_report(
    abi: str,
    mapping: Mapping,
    image: ElfImage,
    size: int,
    maps: MemoryMap,
    at_sysinfo_ehdr: int | None,
    at_sysinfo: int | None,
) -> VdsoReport:
    bias = image.load_bias_hint

    def sym(s: ElfSymbol) -> VdsoSymbol:
        off = s.value - bias
        # a version-definition marker (ABS symbol named like its version) carries
        # no version of its own; readelf prints it bare too
        version = None if s.version == s.name else s.version
        return VdsoSymbol(s.name, version, mapping.start + off, off, s.size, s.type, s.bind)

    # NOTYPE too: arm64's __kernel_rt_sigreturn is a SYM_CODE_START label with no
    # symbol type (arch/arm64/kernel/vdso/sigreturn.S), and it is the one that matters
    syms = tuple(sym(s) for s in image.symbols
                 if s.name and s.defined and s.type in ("FUNC", "OBJECT", "NOTYPE"))
    hit = image.symbol_at(image.entry)
    lv = image.linux_version
    return VdsoReport(
        abi=abi,
        start=mapping.start,
        end=mapping.end,
        perms=mapping.perms,
        image_size=size,
        soname=image.soname,
        entry=mapping.start + image.entry - bias,
        entry_symbol=hit[0].name if hit else None,
        build_id=image.build_id,
        linux_version=f"{lv >> 16}.{(lv >> 8) & 0xFF}.{lv & 0xFF}" if lv else None,
        version_definitions=tuple(image.version_definitions),
        at_sysinfo_ehdr=at_sysinfo_ehdr,
        at_sysinfo=at_sysinfo,
        symbols=syms,
        neighbours=tuple(m for m in maps.mappings if m.path.startswith("[vvar")),
    )


@dataclass(frozen=True)
class FixedPageEntry(Model):
    name: str
    address: int
    code: bytes | None
    disassembly: tuple[str, ...]


@dataclass(frozen=True)
class FixedPageReport(Model):
    """A fixed page (``Abi.fixed_pages``) of a process: mapped or not, its mode."""

    abi: str
    present: bool
    perms: str | None
    mode: str  #: the page's modes (its ABI's ``FixedPage.mode``), or not-applicable
    mode_evidence: str
    readable: bool
    read_error: str | None
    entries: tuple[FixedPageEntry, ...]
    #: which page (``FixedPage.name``): the report's heading, not a JSON field
    page: str = field(default="", metadata={"json": False}, compare=False)


def fixed_pages() -> tuple[FixedPage, ...]:
    """Every ABI's fixed pages, each name once, in registry order (the
    commands and the report's keys)."""
    out: dict[str, FixedPage] = {}
    for abi in ABIS:
        for p in abi.fixed_pages:
            out.setdefault(p.name, p)
    return tuple(out.values())


def fixed_page(name: str) -> FixedPage:
    """The fixed page called ``name`` (of the first ABI that has one)."""
    for abi in ABIS:
        for p in abi.fixed_pages:
            if p.name == name:
                return p
    raise KeyError(name)


def fixed_page_mode(page: FixedPage, abi: Abi, perms: str | None,
                    cmdline: str) -> tuple[str, str]:
    """(mode, evidence) of ``page`` in a process of ``abi``: not-applicable
    when the ABI has no such page, else the page's own rule."""
    if page not in abi.fixed_pages:
        owners = " and ".join(a.name for a in ABIS if page in a.fixed_pages)
        return ("not-applicable",
                f"{abi.name} tasks have no {page.name} page (only {owners} has one)")
    return page.mode(perms, cmdline)
