"""Address -> symbol resolution over the vDSO and mapped ELF files.

Parsed images are cached per address space (the vDSO, read from target
memory) and per file (path, inode), so the trace hot path never re-parses an
ELF; :meth:`Symbolizer.invalidate` is called on exec.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from sigdbg.backends.base import Memory
from sigdbg.decode.elfimage import (
    ElfImage,
    image_size_from_headers,
    parse_elf_image,
    read_elf_file_image,
)
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
            self._files[key] = read_file_image(self.file_path(m.path))
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
                off = address - m.start + v.image.load_bias_hint
                hit = v.image.symbol_at(off)
                if hit is None:
                    label = v.image.label_at(off)  # arm64: __kernel_rt_sigreturn
                    return SymbolRef(label.versioned_name, 0, "[vdso]") if label else None
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


def read_file_image(path: str) -> ElfImage | None:
    """The symbols of the ELF file a mapping names, or None.

    The path comes from /proc/PID/maps, so the target decides what it names:
    opened without blocking (a FIFO's open for reading would wait for a
    writer), only a regular file is read, and of it only the image its ELF
    headers describe (:func:`read_elf_file_image`), never the whole file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a FIFO, a device, a socket: no image
            return None
        return parse_elf_image(read_elf_file_image(fd, st.st_size), include_symtab=True)
    except (OSError, DecodeError, FeatureUnavailable):
        return None
    finally:
        os.close(fd)


class MapsSource:
    """Something that can give the current memory map (the Session)."""

    def maps(self) -> MemoryMap:  # pragma: no cover - protocol
        raise NotImplementedError
