"""Address -> symbol resolution over the vDSO and mapped ELF files.

Parsed images are cached per address space (the vDSO, read from target
memory) and per file (path, inode), so the trace hot path never re-parses an
ELF; :meth:`Symbolizer.invalidate` is called on exec.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from sigdbg.backends.base import Memory
from sigdbg.decode.elfimage import ElfImage, image_size_from_headers, parse_elf_image
from sigdbg.decode.memmap import Mapping, MemoryMap
from sigdbg.decode.restorer import SymbolRef
from sigdbg.errors import DecodeError, FeatureUnavailable, MemoryReadError, SigdbgError

_MAX_VDSO = 1 << 20


@dataclass(frozen=True)
class VdsoImage:
    mapping: Mapping
    data: bytes
    image: ElfImage


def read_vdso(mem: Memory, maps: MemoryMap) -> tuple[Mapping, bytes]:
    m = maps.by_name("[vdso]")
    if m is None:
        raise SigdbgError("the target has no [vdso] mapping")
    head = mem.read(m.start, min(4096, m.size))
    size = image_size_from_headers(head)
    if size > min(m.size, _MAX_VDSO):
        raise DecodeError(f"vDSO headers claim {size} bytes, mapping has {m.size}")
    return m, mem.read(m.start, size)


class Symbolizer:
    def __init__(self, mem: Memory, maps_source: MapsSource) -> None:
        self.mem = mem
        self.maps_source = maps_source
        self._vdso: VdsoImage | None = None
        self._vdso_error: str | None = None
        self._files: dict[tuple[str, int], ElfImage | None] = {}
        self._cache: dict[int, SymbolRef | None] = {}
        #: where a mapped file's bytes are read (a core file's --exe replaces its program)
        self.file_path: Callable[[str], str] = lambda path: path

    def invalidate(self) -> None:
        self._vdso = None
        self._vdso_error = None
        self._cache.clear()

    def vdso(self) -> VdsoImage:
        if self._vdso is None:
            m, data = read_vdso(self.mem, self.maps_source.maps())
            self._vdso = VdsoImage(m, data, parse_elf_image(data))
        return self._vdso

    def _file_image(self, m: Mapping) -> ElfImage | None:
        key = (m.path, m.inode)
        if key not in self._files:
            img = None
            try:
                with open(self.file_path(m.path), "rb") as fh:
                    img = parse_elf_image(fh.read(), include_symtab=True)
            except (OSError, DecodeError, FeatureUnavailable):
                img = None
            self._files[key] = img
        return self._files[key]

    def lookup(self, address: int) -> SymbolRef | None:
        if address in self._cache:
            return self._cache[address]
        ref = self._lookup(address)
        self._cache[address] = ref
        return ref

    def _lookup(self, address: int) -> SymbolRef | None:
        maps = self.maps_source.maps()
        m = maps.find(address)
        if m is None:
            return None
        try:
            if m.path == "[vdso]":
                v = self.vdso()
                hit = v.image.symbol_at(address - m.start + v.image.load_bias_hint)
                if hit is None:
                    return None
                sym, off = hit
                return SymbolRef(sym.versioned_name, off, "[vdso]")
            if m.path.startswith("/") and os.path.exists(self.file_path(m.path)):
                img = self._file_image(m)
                base = maps.image_base(m.path)
                if img is None or base is None:
                    return None
                hit = img.symbol_at(address - base + img.load_bias_hint)
                if hit is None:
                    return None
                sym, off = hit
                return SymbolRef(sym.versioned_name, off, m.path)
        except (MemoryReadError, DecodeError, FeatureUnavailable):
            return None
        return None


class MapsSource:
    """Something that can give the current memory map (the Session)."""

    def maps(self) -> MemoryMap:  # pragma: no cover - protocol
        raise NotImplementedError
