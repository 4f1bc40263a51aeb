"""The vDSO and the legacy vsyscall page as reports.

Sources: arch/x86/entry/vdso/vma.c (mapping, AT_SYSINFO_EHDR),
arch/x86/entry/vdso/vdso.lds.S and vdso32/vdso32.lds.S (exported symbols and
versions), arch/x86/entry/vsyscall/vsyscall_64.c (vsyscall modes: emulate maps
the page r-x and readable, xonly leaves it execute-only -- no page table entry
-- and none removes it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.decode.elfimage import ElfImage, ElfSymbol
from sigdbg.decode.memmap import Mapping, MemoryMap
from sigdbg.decode.model import Model

VSYSCALL_ADDR = 0xFFFFFFFFFF600000
VSYSCALL_ENTRIES = (("gettimeofday", 0x000), ("time", 0x400), ("getcpu", 0x800))


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
class VsyscallEntry(Model):
    name: str
    address: int
    code: bytes | None
    disassembly: tuple[str, ...]


@dataclass(frozen=True)
class VsyscallReport(Model):
    abi: str
    present: bool
    perms: str | None
    mode: str  #: emulate, xonly, none, or not-applicable (32-bit task)
    mode_evidence: str
    readable: bool
    read_error: str | None
    entries: tuple[VsyscallEntry, ...]


def vsyscall_mode(abi: str, m: Mapping | None, cmdline: str) -> tuple[str, str]:
    if abi != "x86_64":
        return "not-applicable", f"{abi} tasks have no vsyscall page (only x86_64 has one)"
    param = next((w.split("=", 1)[1] for w in cmdline.split() if w.startswith("vsyscall=")), None)
    if m is None:
        return "none", "no [vsyscall] line in /proc/PID/maps" + (
            f" (kernel command line vsyscall={param})" if param else "")
    if m.perms.startswith("r"):
        return "emulate", f"[vsyscall] mapped {m.perms}: readable page (vsyscall=emulate)"
    return "xonly", f"[vsyscall] mapped {m.perms}: execute-only, reads fault" + (
        f" (kernel command line vsyscall={param})" if param
        else " (CONFIG_LEGACY_VSYSCALL_XONLY, the kernel default)")
