"""What gdb's own tables and values give the GDB side: symbol names, the raw
bytes of a value (``$_siginfo``), its disassembler, its parameters."""

from __future__ import annotations

import gdb

from sigdbg.decode.restorer import SymbolRef


def gdb_symbol(address: int, mapping: str) -> SymbolRef | None:
    """gdb's name for ``address``: its minimal symbols (each objfile's
    ``.symtab``/``.dynsym``, the vDSO's too) and debug info.

    ``gdb.format_address`` (gdb >= 13) documents its result as ``ADDRESS
    <SYMBOL+OFFSET>``; older gdbs give the same form for a ``void *`` value
    printed with ``symbols=True``.  gdb names an address only inside a
    symbol's size (checked: the byte before ``__kernel_rt_sigreturn`` and
    libc's ``__restore_rt`` without its debug file get no name).
    """
    try:
        fmt = getattr(gdb, "format_address", None)
        if fmt is not None:
            text = str(fmt(address))
        else:
            void_p = gdb.lookup_type("void").pointer()
            text = gdb.Value(address).cast(void_p).format_string(symbols=True)
    except (gdb.error, ValueError, OverflowError, RuntimeError):
        return None
    return parse_symbolic(text, mapping)


def parse_symbolic(text: str, mapping: str) -> SymbolRef | None:
    """``0xf7ffc610 <__kernel_rt_sigreturn+1>`` -> SymbolRef (also with
    ``print symbol-filename on``: ``<main+4 at t.c:5>``; C++ names may hold
    ``<>`` and ``+``, so the brackets are the first `` <`` and the last ``>``)."""
    start = text.find(" <")
    end = text.rfind(">")
    if start < 0 or end <= start + 2:
        return None
    inner = text[start + 2:end]
    if " at " in inner:
        inner = inner.rsplit(" at ", 1)[0]
    name, plus, off = inner.rpartition("+")
    if not (plus and name and off.isdigit()):
        name, off = inner, "0"
    return SymbolRef(name, int(off), mapping) if name else None


def value_bytes(value: gdb.Value) -> bytes:
    """The raw bytes of a gdb value (``Value.bytes`` is gdb >= 14)."""
    raw = getattr(value, "bytes", None)
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    buf = bytearray(value.type.sizeof)
    _fill(buf, 0, value)
    return bytes(buf)


def _fill(buf: bytearray, off: int, value: gdb.Value) -> None:
    """Serialise ``value`` into ``buf`` at ``off`` field by field (union members
    are views of the same bytes, so writing each of them is consistent)."""
    t = value.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        for f in t.fields():
            if getattr(f, "bitpos", None) is None or f.bitsize:
                continue  # static members, bitfields (siginfo_t has none)
            _fill(buf, off + int(f.bitpos or 0) // 8, value[f])
    elif t.code == gdb.TYPE_CODE_ARRAY:
        lo, hi = t.range()
        size = t.target().strip_typedefs().sizeof
        for i in range(lo, hi + 1):
            _fill(buf, off + (i - lo) * size, value[i])
    elif t.sizeof:
        n = t.sizeof
        buf[off:off + n] = (int(value) & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def gdb_disassemble(code: bytes, address: int, count: int = 0) -> list[tuple[int, bytes, str]]:
    """gdb's disassembler over target memory at ``address``, as far as ``code`` reaches."""
    arch = gdb.selected_frame().architecture()
    out: list[tuple[int, bytes, str]] = []
    off = 0
    while off < len(code) and (count == 0 or len(out) < count):
        try:
            insn = arch.disassemble(address + off)[0]
        except gdb.error:
            break
        n = int(insn["length"])
        if n <= 0 or off + n > len(code):
            break
        out.append((address + off, code[off:off + n], " ".join(str(insn["asm"]).split())))
        off += n
    return out



def parameter(name: str) -> object:
    """gdb's setting ``name``; None where this gdb has no such setting."""
    try:
        return gdb.parameter(name)
    except (gdb.error, RuntimeError):
        return None
