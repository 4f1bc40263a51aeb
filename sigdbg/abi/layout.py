"""Declarative struct layouts and the one generic decoder that reads them.

A :class:`Layout` is data: a kernel struct's name, its size, and its fields
with explicit offsets and the kernel's own field names.  Every frame, context,
siginfo and register table of every ABI is a ``Layout``; :meth:`Layout.decode`
is the only code that turns their bytes into values.  The tables are checked
against ``offsetof`` output of a C probe built per ABI (tests/).

Decoding is compiled once per layout into a single :class:`struct.Struct`
(scalar fields, gaps as pad bytes), because frames are decoded on the trace
hot path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any, Union

from sigdbg.errors import DecodeError

#: A decoded value: an integer, raw bytes, a tuple of integers (arrays) or a
#: nested decoded struct.
Value = Union[int, bytes, tuple[int, ...], "Decoded"]
Decoded = dict[str, Value]

# kind -> {size: struct code}
_CODES: dict[str, dict[int, str]] = {
    "u": {1: "B", 2: "H", 4: "I", 8: "Q"},
    "i": {1: "b", 2: "h", 4: "i", 8: "q"},
    "ptr": {4: "I", 8: "Q"},
}


@dataclass(frozen=True)
class Field:
    """One member of a struct.

    ``kind`` is ``u`` (unsigned), ``i`` (signed), ``ptr`` (an address in the
    target), ``bytes`` (raw), ``struct`` (``sub`` gives the nested layout) or
    ``array`` (``count`` scalars of ``elem`` kind, each ``size // count`` bytes).
    """

    name: str
    offset: int
    size: int
    kind: str = "u"
    sub: Layout | None = None
    count: int = 0
    elem: str = "u"
    doc: str = ""

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Layout:
    """A struct as the kernel lays it out for one ABI."""

    name: str
    size: int
    fields: tuple[Field, ...]
    source: str = ""
    endian: str = "<"
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        names = {f.name: f for f in self.fields}
        if len(names) != len(self.fields):
            raise ValueError(f"{self.name}: duplicate field names")
        for f in self.fields:
            if f.end > self.size:
                raise ValueError(f"{self.name}.{f.name} ends at {f.end} > size {self.size}")
        object.__setattr__(self, "by_name", names)

    def __getitem__(self, name: str) -> Field:
        return self.by_name[name]

    def offset_of(self, path: str) -> int:
        """Offset of a dotted member path, e.g. ``uc.uc_mcontext.rip``."""
        off = 0
        layout: Layout | None = self
        for part in path.split("."):
            if layout is None:
                raise KeyError(path)
            f = layout.by_name[part]
            off += f.offset
            layout = f.sub
        return off

    @cached_property
    def _plan(
        self,
    ) -> tuple[struct.Struct, tuple[str, ...], tuple[tuple[str, int, int], ...],
               tuple[Field, ...]]:
        """Compile the scalar fields into one Struct.

        Returns the Struct, the names of the unpacked items in order (arrays
        contribute their first item's slot only), the arrays as (name, start,
        end) slices of the unpacked tuple, and the nested-struct fields.
        """
        fmt = [self.endian]
        names: list[str] = []
        arrays: list[tuple[str, int, int]] = []
        pos = 0
        n = 0
        scalars = sorted((f for f in self.fields if f.kind != "struct"), key=lambda f: f.offset)
        for f in scalars:
            if f.offset < pos:
                raise ValueError(f"{self.name}.{f.name} overlaps the previous field")
            if f.offset > pos:
                fmt.append(f"{f.offset - pos}x")
            if f.kind == "bytes":
                fmt.append(f"{f.size}s")
                names.append(f.name)
                n += 1
            elif f.kind == "array":
                each = f.size // f.count
                fmt.append(f"{f.count}{_CODES[f.elem][each]}")
                arrays.append((f.name, n, n + f.count))
                n += f.count
            else:
                try:
                    fmt.append(_CODES[f.kind][f.size])
                except KeyError:
                    raise ValueError(f"{self.name}.{f.name}: bad kind/size") from None
                names.append(f.name)
                n += 1
            pos = f.end
        nested_fields = tuple(f for f in self.fields if f.kind == "struct")
        return struct.Struct("".join(fmt)), tuple(names), tuple(arrays), nested_fields

    @cached_property
    def _pick(self) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
        """Selects the scalar items out of an unpacked tuple that has arrays."""
        _, names, arrays, _ = self._plan
        in_array = {i for _, a, b in arrays for i in range(a, b)}
        total = len(names) + sum(b - a for _, a, b in arrays)
        idx = [i for i in range(total) if i not in in_array]
        if len(idx) == 1:
            one = idx[0]
            return lambda items: (items[one],)
        if not idx:
            return lambda items: ()
        getter = itemgetter(*idx)
        return lambda items: getter(items)

    def decode(self, data: bytes | bytearray | memoryview, offset: int = 0) -> Decoded:
        """Decode this struct from ``data[offset:offset+size]``.

        Raises DecodeError if the buffer is too short.
        """
        if offset < 0 or len(data) < offset + self.size:
            raise DecodeError(
                f"{self.name}: need {self.size} bytes at offset {offset}, have {len(data) - offset}"
            )
        st, names, arrays, nested_fields = self._plan
        items = st.unpack_from(data, offset)
        if arrays:
            out: Decoded = dict(zip(names, self._pick(items)))
            for name, a, b in arrays:
                out[name] = items[a:b]
        else:
            out = dict(zip(names, items))
        for f in nested_fields:
            assert f.sub is not None
            out[f.name] = f.sub.decode(data, offset + f.offset)
        return out

    def encode(self, values: Decoded) -> bytes:
        """Inverse of :meth:`decode` (used by tests to forge frames)."""
        buf = bytearray(self.size)
        self.encode_into(buf, 0, values)
        return bytes(buf)

    def encode_into(self, buf: bytearray, offset: int, values: Decoded) -> None:
        for f in self.fields:
            if f.name not in values:
                continue
            v = values[f.name]
            at = offset + f.offset
            if f.kind == "struct":
                assert f.sub is not None and isinstance(v, dict)
                f.sub.encode_into(buf, at, v)
            elif f.kind == "bytes":
                assert isinstance(v, (bytes, bytearray))
                buf[at : at + f.size] = bytes(v).ljust(f.size, b"\0")[: f.size]
            elif f.kind == "array":
                assert isinstance(v, tuple)
                each = f.size // f.count
                struct.pack_into(f"{self.endian}{f.count}{_CODES[f.elem][each]}", buf, at, *v)
            else:
                assert isinstance(v, int)
                struct.pack_into(self.endian + _CODES[f.kind][f.size], buf, at, v)


def fields(*specs: tuple[str, int, int] | tuple[str, int, int, str] | Field) -> tuple[Field, ...]:
    """Shorthand for tables: ``("name", offset, size[, kind])`` or a Field."""
    out: list[Field] = []
    for s in specs:
        if isinstance(s, Field):
            out.append(s)
        elif len(s) == 3:
            out.append(Field(s[0], s[1], s[2]))
        else:
            out.append(Field(s[0], s[1], s[2], s[3]))
    return tuple(out)


def nested(name: str, offset: int, sub: Layout) -> Field:
    """A member that is itself a struct."""
    return Field(name, offset, sub.size, "struct", sub=sub)
