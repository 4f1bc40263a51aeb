"""The parsed ELF image and the decisions made over it.

:class:`ElfImage` holds what :func:`sigdbg.decode.elfimage.parse_elf_image`
read (header facts, dynamic symbols with their GNU versions, notes); this
module decides what a name or an address means in it: which of several
symbols of one name :meth:`ElfImage.lookup` returns, and which of the
overlapping symbols (aliases, weak and versioned copies) names an address in
:meth:`ElfImage.symbol_at`.  The split is parse (``elfimage``) / decide (here);
the header, program header and note structs are read by :mod:`sigdbg.abi.elf`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

__all__ = ["ElfImage", "ElfNote", "ElfSymbol"]

# Symbol types that name code or data and can therefore contain an address.
_ADDRESSABLE_TYPES = frozenset({"FUNC", "OBJECT", "IFUNC"})
# Names the kernel gives the real vDSO entry points (the unprefixed ones are
# weak aliases of them).
_PREFERRED_PREFIXES = ("__vdso_", "__kernel_")
_BIND_RANK = {"GLOBAL": 0, "UNIQUE": 0, "WEAK": 1}


# --------------------------------------------------------------------------
# Result types


@dataclass(frozen=True)
class ElfSymbol:
    """One symbol of ``.dynsym`` (or ``.symtab``).

    ``value`` is ``st_value``: an address in the image's own link-time address
    space (for the vDSO, an offset from its start).  ``type`` and ``bind`` are
    spelled as readelf prints them (``FUNC``, ``OBJECT``, ``NOTYPE``,
    ``IFUNC`` ...; ``GLOBAL``, ``WEAK``, ``LOCAL``, ``UNIQUE``).  ``section``
    is the section index, or ``"UND"``, ``"ABS"``, ``"COM"`` for the special
    indexes, as in readelf's ``Ndx`` column.

    ``version`` is the GNU symbol version from ``.gnu.version`` resolved
    through ``.gnu.version_d`` (defined symbols) or ``.gnu.version_r``
    (undefined ones); ``None`` for unversioned symbols.  In ``.symtab`` the
    linker spells versions into the names (``foo@@VERS_2``); they are split
    off the same way.  ``version_hidden`` is the versym hidden bit: the symbol is a
    non-default version, reachable only by explicit version.  ``table`` says
    which symbol table the symbol came from (``"dynsym"`` or ``"symtab"``).
    """

    name: str
    value: int
    size: int
    type: str
    bind: str
    version: str | None
    version_hidden: bool
    section: str | int
    table: str = "dynsym"

    @property
    def defined(self) -> bool:
        return self.section != "UND"

    @property
    def versioned_name(self) -> str:
        """The name as ``readelf --dyn-syms`` prints it.

        ``name@@VERSION`` for a defined symbol's default version (e.g.
        ``__vdso_clock_gettime@@LINUX_2.6``), ``name@VERSION`` for a hidden
        (non-default) version and for an undefined symbol's required version,
        plain ``name`` when unversioned and for a version's own marker symbol
        (the ``ABS`` symbol ``LINUX_2.6`` of version ``LINUX_2.6``).
        """
        if self.version is None:
            return self.name
        if not self.defined:
            return f"{self.name}@{self.version}"
        if self.name == self.version:
            return self.name
        return f"{self.name}{'@' if self.version_hidden else '@@'}{self.version}"


@dataclass(frozen=True)
class ElfNote:
    """One ELF note.  ``type_name`` is the symbolic name when the owner/type
    pair is known (``NT_GNU_BUILD_ID``, ``LINUX_VERSION_CODE`` ...), else the
    type in hex."""

    owner: str
    type: int
    type_name: str
    desc: bytes


@dataclass(frozen=True)
class ElfImage:
    """A parsed ELF image.  Build it with :func:`parse_elf_image`.

    ``machine`` is the ``e_machine`` name (``EM_X86_64``, ``EM_386``,
    ``EM_ARM``, ``EM_AARCH64``; ``EM_<n>`` if unknown).  ``symbols`` are the
    dynamic symbols in table order without the null entry 0, followed by the
    ``.symtab`` ones when requested.  ``version_definitions`` are the names
    defined in ``.gnu.version_d`` in index order, without the BASE entry
    (which repeats the soname).  ``linux_version`` is the kernel's
    ``LINUX_VERSION_CODE`` note (``(major << 16) | (minor << 8) | patch``).
    ``load_bias_hint`` is the lowest ``PT_LOAD`` ``p_vaddr``: the load bias of
    a mapping at ``base`` is ``base - load_bias_hint``.  ``size`` is the extent
    the headers describe (segments' file data and the section header table).
    """

    elfclass: int
    machine: str
    entry: int
    soname: str | None
    symbols: tuple[ElfSymbol, ...]
    version_definitions: tuple[str, ...]
    notes: tuple[ElfNote, ...]
    build_id: str | None
    linux_version: int | None
    load_bias_hint: int
    size: int

    @property
    def linux_version_tuple(self) -> tuple[int, int, int] | None:
        """``linux_version`` split into ``(major, minor, patch)``."""
        v = self.linux_version
        if v is None:
            return None
        return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)

    @cached_property
    def _by_name(self) -> dict[str, tuple[ElfSymbol, ...]]:
        index: dict[str, list[ElfSymbol]] = {}
        for sym in self.symbols:
            index.setdefault(sym.name, []).append(sym)
        return {
            name: tuple(sorted(syms, key=_lookup_rank))
            for name, syms in index.items()
        }

    @cached_property
    def _by_address(self) -> tuple[tuple[int, ...], tuple[ElfSymbol, ...], int]:
        syms = sorted(
            (
                s
                for s in self.symbols
                if s.type in _ADDRESSABLE_TYPES and isinstance(s.section, int)
            ),
            key=lambda s: s.value,
        )
        largest = max((max(s.size, 1) for s in syms), default=1)
        return tuple(s.value for s in syms), tuple(syms), largest

    def lookup(self, name: str) -> ElfSymbol | None:
        """The symbol called ``name``.

        ``name@VERSION`` / ``name@@VERSION`` select a version.  Among several
        candidates a defined symbol beats an undefined one, the default version
        beats hidden ones, ``.dynsym`` beats ``.symtab``.
        """
        version: str | None = None
        if "@" in name and not name.startswith("@"):
            name, _, version = name.partition("@")
            version = version.lstrip("@")
        candidates = self._by_name.get(name, ())
        if version is not None:
            candidates = tuple(s for s in candidates if s.version == version)
        return candidates[0] if candidates else None

    def symbol_at(self, offset: int) -> tuple[ElfSymbol, int] | None:
        """The FUNC/OBJECT symbol containing ``offset`` and the offset into it.

        ``offset`` is in the same address space as ``st_value`` (for the vDSO:
        runtime address minus the mapping's start).  A symbol covers
        ``value <= offset < value + max(size, 1)``.  Among overlapping
        candidates (the vDSO's ``__vdso_time`` and its weak alias ``time``)
        sized symbols win over zero-sized ones, then GLOBAL over WEAK over
        LOCAL, then ``__vdso_``/``__kernel_`` names, then default versions,
        then ``.dynsym`` entries, then names with fewer leading underscores.
        """
        values, syms, largest = self._by_address
        hits: list[ElfSymbol] = []
        i = bisect_right(values, offset) - 1
        while i >= 0 and values[i] > offset - largest:
            sym = syms[i]
            if offset < sym.value + max(sym.size, 1):
                hits.append(sym)
            i -= 1
        if not hits:
            return None
        best = min(hits, key=_address_rank)
        return best, offset - best.value


    def label_at(self, offset: int) -> ElfSymbol | None:
        """A defined NOTYPE symbol starting exactly at ``offset``: the arm64
        vDSO's ``__kernel_rt_sigreturn`` is a ``SYM_CODE_START`` label, not a
        FUNC (arch/arm64/kernel/vdso/sigreturn.S), so :meth:`symbol_at` does
        not see it.  ARM mapping symbols (``$x``, ``$d``) are not names."""
        hits = [s for s in self.symbols
                if s.type == "NOTYPE" and s.value == offset and isinstance(s.section, int)
                and s.name and not s.name.startswith("$")]
        return min(hits, key=_address_rank) if hits else None


def _lookup_rank(sym: ElfSymbol) -> tuple[int, int, int]:
    return (
        0 if sym.defined else 1,
        1 if sym.version_hidden else 0,
        0 if sym.table == "dynsym" else 1,
    )


def _address_rank(sym: ElfSymbol) -> tuple[int, int, int, int, int, int, str]:
    return (
        0 if sym.size > 0 else 1,
        _BIND_RANK.get(sym.bind, 2),
        0 if sym.name.startswith(_PREFERRED_PREFIXES) else 1,
        1 if sym.version_hidden else 0,
        0 if sym.table == "dynsym" else 1,
        # Otherwise the public spelling: printf over _IO_printf.
        len(sym.name) - len(sym.name.lstrip("_")),
        sym.name,
    )
