"""Declarative struct layouts and the one generic decoder that reads them.

A :class:`Layout` is data: a kernel struct's name, its size, and its fields
with explicit offsets and the kernel's own field names.  Every frame, context,
siginfo and register table of every ABI is a ``Layout``; :meth:`Layout.decode`
is the only code that turns their bytes into values.  The tables are checked
against ``offsetof`` output of a C probe built per ABI (tests/).

Decoding is compiled once per layout into a single :class:`struct.Struct`
covering the whole struct tree (nested structs flattened, gaps as pad bytes)
and one generated function building the nested dicts, because frames are
decoded on the trace hot path.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union

from sigdbg.errors import DecodeError

#: A decoded value: an integer, raw bytes, a tuple of integers (arrays) or a
#: nested decoded struct.
Value = Union[int, bytes, tuple[int, ...], "Decoded"]
Decoded = dict[str, Value]
#: ``Layout.int_members``: (data, offset) -> one dict of int members per path
_MemberReader = Callable[[bytes | bytearray | memoryview, int], tuple[dict[str, int], ...]]

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
    def _decoder(self) -> Callable[[Any, int], Decoded]:
        """Compile the whole struct tree into one Struct and one function.

        Nested structs are flattened into the parent's format, so a frame is
        one ``unpack_from`` call and one nested dict display: no per-member
        Python work at decode time.  The generated function is built from
        this table alone (names are passed as constants, never spliced into
        the source), so it cannot disagree with it.
        """
        fmt: list[str] = [self.endian]
        consts: list[Any] = []
        n = 0
        pos = 0

        def const(value: Any) -> str:
            consts.append(value)
            return f"_c[{len(consts) - 1}]"

        def emit(layout: Layout, base: int) -> str:
            nonlocal n, pos
            items: list[str] = []
            for f in sorted(layout.fields, key=lambda f: f.offset):
                at = base + f.offset
                if f.kind == "struct":
                    assert f.sub is not None
                    items.append(f"{const(f.name)}: {emit(f.sub, at)}")
                    continue
                if at < pos:
                    raise ValueError(f"{layout.name}.{f.name} overlaps the previous field")
                if at > pos:
                    fmt.append(f"{at - pos}x")
                if f.kind == "bytes":
                    fmt.append(f"{f.size}s")
                    items.append(f"{const(f.name)}: v[{n}]")
                    n += 1
                elif f.kind == "array":
                    each = f.size // f.count
                    fmt.append(f"{f.count}{_CODES[f.elem][each]}")
                    items.append(f"{const(f.name)}: v[{n}:{n + f.count}]")
                    n += f.count
                else:
                    try:
                        fmt.append(_CODES[f.kind][f.size])
                    except KeyError:
                        raise ValueError(f"{layout.name}.{f.name}: bad kind/size") from None
                    items.append(f"{const(f.name)}: v[{n}]")
                    n += 1
                pos = at + f.size
            return "{" + ", ".join(items) + "}"

        body = emit(self, 0)
        unpack = struct.Struct("".join(fmt)).unpack_from
        src = f"def decode(data, offset):\n    v = _unpack(data, offset)\n    return {body}\n"
        namespace: dict[str, Any] = {"_unpack": unpack, "_c": tuple(consts)}
        exec(compile(src, f"<layout {self.name}>", "exec"), namespace)  # noqa: S102
        fn: Callable[[Any, int], Decoded] = namespace["decode"]
        return fn

    @cached_property
    def _int_member_fns(self) -> dict[tuple[str, ...], _MemberReader]:
        return {}  # paths -> compiled reader (a cache of derived facts)

    def int_members(self, *paths: str) -> _MemberReader:
        """A compiled reader of the integer members of several nested structs.

        ``paths`` name nested structs (``""`` is this struct itself, else a
        dotted member path such as ``uc.uc_mcontext``).  The returned function
        takes ``(data, offset)`` (at least ``size`` bytes) and returns one
        dict per path with that struct's own integer members, all from a
        single ``unpack_from``: what the frame decoder needs, without
        building the dicts of members it does not use.
        """
        fn = self._int_member_fns.get(paths)
        if fn is not None:
            return fn
        members: list[tuple[int, str, str, int]] = []  # offset, code, name, group
        for group, path in enumerate(paths):
            sub: Layout = self
            for part in path.split(".") if path else ():
                member = sub.by_name.get(part)
                if member is None or member.sub is None:
                    raise ValueError(f"{self.name}: {path} is not a struct member")
                sub = member.sub
            base = self.offset_of(path) if path else 0
            for f in sub.fields:
                if f.kind in ("u", "i", "ptr"):
                    members.append((base + f.offset, _CODES[f.kind][f.size], f.name, group))
        fmt = [self.endian]
        groups: list[list[str]] = [[] for _ in paths]
        names: list[str] = []
        pos = 0
        for n, (at, code, name, group) in enumerate(sorted(members)):
            if at < pos:
                raise ValueError(f"{self.name}.{name} overlaps the previous member")
            if at > pos:
                fmt.append(f"{at - pos}x")
            fmt.append(code)
            names.append(name)
            groups[group].append(f"{name!r}: v{n}")
            pos = at + struct.calcsize("<" + code)
        # constant keys (names are data, passed through repr) and locals: the
        # dict displays compile to BUILD_CONST_KEY_MAP over fast locals
        dicts = ", ".join("{" + ", ".join(g) + "}" for g in groups)
        targets = "".join(f"v{n}, " for n in range(len(names)))
        src = (f"def read(data, offset):\n    ({targets}) = _unpack(data, offset)\n"
               f"    return ({dicts},)\n")
        namespace: dict[str, Any] = {"_unpack": struct.Struct("".join(fmt)).unpack_from}
        exec(compile(src, f"<members {self.name}>", "exec"), namespace)  # noqa: S102
        reader: _MemberReader = namespace["read"]
        self._int_member_fns[paths] = reader
        return reader

    def decode(self, data: bytes | bytearray | memoryview, offset: int = 0) -> Decoded:
        """Decode this struct from ``data[offset:offset+size]``.

        Raises DecodeError if the buffer is too short.
        """
        if offset < 0 or len(data) < offset + self.size:
            raise DecodeError(
                f"{self.name}: need {self.size} bytes at offset {offset}, have {len(data) - offset}"
            )
        return self._decoder(data, offset)

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
