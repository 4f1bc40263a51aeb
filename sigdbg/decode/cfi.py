"""Call frame information: ``.eh_frame`` / ``.debug_frame`` parsing and the
rows they describe, evaluated into a caller's registers.

Pure data in, data out: every function takes a memory reader
(``read(address, size) -> bytes``), so the same code serves a live process,
a core file or bytes in a test.  :mod:`sigdbg.engine.unwind` walks stacks
with it.

Every module a program has mapped (the executable, ld.so, libc, the vDSO)
carries ``.eh_frame`` and a sorted search table ``.eh_frame_hdr`` in a loaded
segment (``PT_GNU_EH_FRAME``), which is what gdb and libgcc unwind with.
Reading them from target memory (not from files) means the tables are the
ones actually mapped, the vDSO included.

Formats: the LSB Core specification, "Exception Frames" (.eh_frame,
.eh_frame_hdr, the DW_EH_PE pointer encodings), and DWARF 5 section 6.4 (the
CIE/FDE call frame instructions and the rules they build).  Register numbers
are the psABI's DWARF numbers (``Abi.dwarf_regs``).

An image without ``.eh_frame_hdr`` (the freestanding i386 targets, built
with -fno-asynchronous-unwind-tables) may still have ``.debug_frame``, which is
never loaded: it is read from the mapped file with pyelftools, if that file is
still the one mapped (same inode), as gdb does.

What it does not do: DW_CFA rules it cannot evaluate (a DWARF expression with
an operation outside the small set below) make the row unusable, and the
caller falls back to the frame-pointer chain.
"""

from __future__ import annotations

import bisect
import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, TypeVar

from sigdbg.abi.elf import PT_GNU_EH_FRAME, PT_LOAD, ElfError, read_header, read_program_headers
from sigdbg.errors import SigdbgError

_DATAREL_SDATA4 = 0x3B  # the .eh_frame_hdr table encoding every linker writes
#: bounds on what a (possibly hostile) image can make us read: libc has ~4000 FDEs,
#: and a CIE or FDE is a few dozen bytes
_MAX_FDES = 1 << 20
_MAX_ENTRY = 1 << 16
_MAX_DEBUG_FRAME = 16 << 20
#: parsed FDEs and rows kept per table (more than a program's hot functions)
_MAX_CACHED = 4096

Read = Callable[[int, int], bytes]
#: registers by DWARF number
Regs = dict[int, int]
_T = TypeVar("_T")


class CfiError(SigdbgError):
    """CFI that cannot be read or used (the caller falls back)."""


@dataclass
class Row:
    """The unwind rule row for one pc: how to find the CFA and the caller's registers."""

    cfa_reg: int = -1
    cfa_off: int = 0
    cfa_expr: bytes | None = None
    #: register -> (kind, arg): offset/val_offset (int), register (int), expr/val_expr
    #: (bytes), undefined, same
    rules: dict[int, tuple[str, object]] = field(default_factory=dict)

    def copy(self) -> Row:
        return Row(self.cfa_reg, self.cfa_off, self.cfa_expr, dict(self.rules))


class _Cie(NamedTuple):
    code_align: int
    data_align: int
    ra_reg: int
    insns: bytes  #: the initial instructions
    fde_enc: int  #: how its FDEs encode pc_begin ('R')
    signal: bool  #: augmentation 'S': a signal trampoline's frame
    has_z: bool  #: FDEs carry augmentation data


@dataclass(frozen=True)
class Fde:
    pc_begin: int
    pc_end: int
    ra_reg: int
    code_align: int
    data_align: int
    cie_insns: bytes
    insns: bytes
    signal_frame: bool  #: CIE augmentation 'S'


class _Cursor:
    """Little-endian reader over bytes that live at ``addr`` in the target."""

    def __init__(self, data: bytes, addr: int, word: int) -> None:
        self.data, self.addr, self.pos, self.word = data, addr, 0, word

    @property
    def here(self) -> int:
        return self.addr + self.pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CfiError("CFI runs past its entry")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        return int(struct.unpack("<" + fmt, self.take(size))[0])

    def uleb(self) -> int:
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    def sleb(self) -> int:
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b & 0x40:
                    value -= 1 << shift
                return value

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.pos)
        s = self.data[self.pos:end]
        self.pos = end + 1
        return s

    def encoded(self, enc: int, datarel: int = 0) -> int:
        """A DW_EH_PE-encoded pointer (LSB Core, "DWARF Exception Header Encoding")."""
        if enc == 0xFF:
            raise CfiError("omitted pointer")
        start = self.here
        fmt = enc & 0x0F
        if fmt == 0x00:
            v = self.unpack("Q" if self.word == 8 else "I")
        elif fmt == 0x01:
            v = self.uleb()
        elif fmt == 0x09:
            v = self.sleb()
        else:
            code = {0x02: "H", 0x03: "I", 0x04: "Q", 0x0A: "h", 0x0B: "i", 0x0C: "q"}.get(fmt)
            if code is None:
                raise CfiError(f"pointer encoding {enc:#x}")
            v = self.unpack(code)
        app = enc & 0x70
        if app == 0x10:
            v += start
        elif app == 0x30:
            v += datarel
        elif app != 0x00:
            raise CfiError(f"pointer encoding {enc:#x}")
        if enc & 0x80:
            raise CfiError("indirect pointer")
        return v & ((1 << (8 * self.word)) - 1)


def _checked(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Whatever bytes the target holds, only :class:`CfiError` (or the memory
    reader's own SigdbgError) comes out."""
    def wrapper(*args: object, **kw: object) -> _T:
        try:
            return fn(*args, **kw)
        except (struct.error, ValueError, IndexError, KeyError, OverflowError) as exc:
            raise CfiError(f"malformed call frame information: {exc}") from None
    wrapper.__doc__ = fn.__doc__
    return wrapper


def image_layout(read: Read, base: int) -> tuple[int, int, int | None]:
    """(word size, load bias, PT_GNU_EH_FRAME vaddr or None) of the ELF image
    whose header is mapped at ``base`` (headers read by :mod:`sigdbg.abi.elf`)."""
    try:
        hdr = read_header(read(base, 64))
        table = read(base + hdr.e_phoff, hdr.e_phentsize * hdr.e_phnum)
        phdrs = read_program_headers(table, hdr)
    except ElfError as exc:
        raise CfiError(f"no usable ELF header at {base:#x}: {exc}") from None
    bias = None
    hdr_vaddr = None
    for ph in phdrs:
        if ph.p_type == PT_LOAD and ph.p_offset == 0 and bias is None:
            bias = base - ph.p_vaddr
        elif ph.p_type == PT_GNU_EH_FRAME:
            hdr_vaddr = ph.p_vaddr
    if bias is None:
        raise CfiError(f"the image at {base:#x} maps no segment from offset 0")
    return hdr.bits // 8, bias, hdr_vaddr


class _Entries:
    """CIE/FDE parsing shared by .eh_frame (in memory) and .debug_frame (from the file).

    The two differ in the CIE id (0 / 0xffffffff), in what an FDE's CIE
    pointer is relative to (the pointer itself / the section start) and in
    how addresses are written (DW_EH_PE encodings / absolute link-time
    addresses, to which the load bias is added)."""

    debug = False

    def __init__(self, read: Read, word: int, bias: int = 0) -> None:
        self.read, self.word, self.bias = read, word, bias
        self._cies: dict[int, _Cie] = {}
        #: FDEs parsed so far, by entry address (a stack walk meets the same few
        #: functions at every stop)
        self._fdes: dict[int, Fde] = {}

    def _entry(self, addr: int) -> _Cursor:
        length, = struct.unpack("<I", self.read(addr, 4))
        if length == 0xFFFFFFFF:
            raise CfiError("64-bit DWARF CFI entry")
        if length > _MAX_ENTRY:
            raise CfiError(f"a CFI entry of {length} bytes at {addr:#x}")
        return _Cursor(self.read(addr + 4, length), addr + 4, self.word)

    def _parse_cie(self, addr: int) -> _Cie:
        got = self._cies.get(addr)
        if got is not None:
            return got
        c = self._entry(addr)
        if c.unpack("I") != (0xFFFFFFFF if self.debug else 0):
            raise CfiError(f"no CIE at {addr:#x}")
        version = c.take(1)[0]
        aug = c.cstring()
        if version >= 4:
            c.take(2)  # address_size, segment_selector_size
        code_align, data_align = c.uleb(), c.sleb()
        ra_reg = c.take(1)[0] if version == 1 else c.uleb()
        fde_enc, signal = 0x00, False
        if aug.startswith(b"z"):
            size = c.uleb()
            end = c.pos + size
            for ch in aug[1:]:
                if ch == ord("R"):
                    fde_enc = c.take(1)[0]
                elif ch == ord("P"):
                    c.encoded(c.take(1)[0] & 0x7F)  # personality (indirect bit: ignored)
                elif ch == ord("L"):
                    c.take(1)
                elif ch == ord("S"):
                    signal = True
            c.pos = end
        elif aug:
            raise CfiError(f"CIE augmentation {aug!r}")
        got = _Cie(code_align, data_align, ra_reg, c.data[c.pos:], fde_enc, signal,
                   aug.startswith(b"z"))
        self._cies[addr] = got
        return got

    def _parse_fde(self, addr: int) -> Fde:
        got = self._fdes.get(addr)
        if got is not None:
            return got
        got = self._read_fde(addr)
        if len(self._fdes) < _MAX_CACHED:
            self._fdes[addr] = got
        return got

    def _read_fde(self, addr: int) -> Fde:
        c = self._entry(addr)
        cie_ptr = c.unpack("I")
        cie = self._parse_cie(cie_ptr if self.debug else addr + 4 - cie_ptr)
        begin = c.encoded(cie.fde_enc) + self.bias
        size = c.encoded(cie.fde_enc & 0x0F)
        if cie.has_z:
            skip = c.uleb()
            c.pos += skip
        return Fde(begin, begin + size, cie.ra_reg, cie.code_align, cie.data_align,
                   cie.insns, c.data[c.pos:], cie.signal)


class Module(_Entries):
    """One mapped ELF image's .eh_frame_hdr search table (in target memory)."""

    @_checked
    def __init__(self, read: Read, base: int) -> None:
        word, bias, hdr_vaddr = image_layout(read, base)
        super().__init__(read, word)
        if hdr_vaddr is None:
            raise CfiError(f"the image at {base:#x} has no .eh_frame_hdr")
        hdr = bias + hdr_vaddr
        head = _Cursor(read(hdr, 4 + 2 * word), hdr, word)
        version, _ptr_enc, count_enc, table_enc = head.take(4)
        if version != 1 or table_enc != _DATAREL_SDATA4:
            raise CfiError(f".eh_frame_hdr version {version} table encoding {table_enc:#x}")
        head.encoded(_ptr_enc, hdr)
        count = head.encoded(count_enc, hdr)
        if count > _MAX_FDES:
            raise CfiError(f".eh_frame_hdr claims {count} FDEs")
        table = read(head.here, 8 * count)
        pairs = struct.unpack(f"<{2 * count}i", table)
        self.starts = [(hdr + pairs[2 * i]) & ((1 << 8 * word) - 1) for i in range(count)]
        self.fdes = [hdr + pairs[2 * i + 1] for i in range(count)]

    @_checked
    def fde_for(self, pc: int) -> Fde | None:
        i = bisect.bisect_right(self.starts, pc) - 1
        if i < 0:
            return None
        fde = self._parse_fde(self.fdes[i])
        return fde if fde.pc_begin <= pc < fde.pc_end else None


class DebugFrame(_Entries):
    """A ``.debug_frame`` section (never loaded: the bytes come from the file the
    module was mapped from), indexed by one linear pass (DWARF 5 section 6.4.1)."""

    debug = True

    @_checked
    def __init__(self, data: bytes, word: int, bias: int) -> None:
        def read(addr: int, size: int) -> bytes:
            if addr < 0 or addr + size > len(data):
                raise CfiError(f".debug_frame ends before {addr + size:#x}")
            return data[addr:addr + size]

        super().__init__(read, word, bias)
        self.index: list[tuple[int, int, int]] = []  #: (begin, end, entry offset)
        pos = 0
        while pos + 8 <= len(data):
            length, cie_id = struct.unpack_from("<II", data, pos)
            if length == 0xFFFFFFFF or length > _MAX_ENTRY:
                raise CfiError(f"a .debug_frame entry of {length} bytes")
            if cie_id != 0xFFFFFFFF:
                fde = self._parse_fde(pos)
                self.index.append((fde.pc_begin, fde.pc_end, pos))
            pos += 4 + length
        self.index.sort()

    @_checked
    def fde_for(self, pc: int) -> Fde | None:
        i = bisect.bisect_right(self.index, (pc, 1 << 64, 0)) - 1
        if i < 0 or not self.index[i][0] <= pc < self.index[i][1]:
            return None
        return self._parse_fde(self.index[i][2])


class EhFrame(_Entries):
    """A loaded ``.eh_frame`` with no ``.eh_frame_hdr`` to search it (static
    programs: the aarch64 toolchain links them without ``--eh-frame-hdr``, and
    libgcc finds their FDEs through crtbegin's ``__register_frame_info``),
    indexed by one linear pass like :class:`DebugFrame`.  Its bytes are read
    from target memory at the section's run-time address, so the pc-relative
    pointers decode as they do for :class:`Module`."""

    @_checked
    def __init__(self, read: Read, address: int, size: int, word: int) -> None:
        data = read(address, size)

        def local(addr: int, n: int) -> bytes:
            if addr < address or addr + n > address + len(data):
                raise CfiError(f".eh_frame ends before {addr + n:#x}")
            return data[addr - address:addr - address + n]

        super().__init__(local, word)
        self.index: list[tuple[int, int, int]] = []  #: (begin, end, entry address)
        pos = 0
        while pos + 8 <= len(data):
            length, cie_id = struct.unpack_from("<II", data, pos)
            if length == 0:  # the terminator crtend.o appends
                break
            if length == 0xFFFFFFFF or length > _MAX_ENTRY:
                raise CfiError(f"an .eh_frame entry of {length} bytes")
            if cie_id != 0:
                fde = self._parse_fde(address + pos)
                if fde.pc_end > fde.pc_begin:
                    self.index.append((fde.pc_begin, fde.pc_end, address + pos))
            pos += 4 + length
        self.index.sort()

    @_checked
    def fde_for(self, pc: int) -> Fde | None:
        i = bisect.bisect_right(self.index, (pc, 1 << 64, 0)) - 1
        if i < 0 or not self.index[i][0] <= pc < self.index[i][1]:
            return None
        return self._parse_fde(self.index[i][2])


def debug_frame_of(path: str, inode: int | None, read: Read,
                   base: int) -> DebugFrame | EhFrame | None:
    """The ``.debug_frame`` of the mapped file ``path``, if it is still the file
    that was mapped (same ``inode``; None: the caller has checked) and has one;
    else its loaded ``.eh_frame`` (found by the file's section headers: no
    ``.eh_frame_hdr`` points at it), read from memory."""
    import os

    try:
        from elftools.common.exceptions import ELFError
        from elftools.construct.core import ConstructError
        from elftools.elf.elffile import ELFFile
    except ImportError:
        return None  # no pyelftools: no .debug_frame (the fp chain still works)

    try:
        word, bias, _ = image_layout(read, base)
        with open(path, "rb") as fh:
            if inode is not None and os.fstat(fh.fileno()).st_ino != inode:
                return None
            elf = ELFFile(fh)
            sec = elf.get_section_by_name(".debug_frame")
            if sec is None:
                eh = elf.get_section_by_name(".eh_frame")
                if eh is None or not eh["sh_addr"] or eh["sh_size"] > _MAX_DEBUG_FRAME:
                    return None
                return EhFrame(read, bias + eh["sh_addr"], eh["sh_size"], word)
            if sec["sh_size"] > _MAX_DEBUG_FRAME:
                return None
            return DebugFrame(sec.data(), word, bias)
    except (OSError, SigdbgError, ELFError, ConstructError, ValueError, struct.error,
            IndexError, KeyError, TypeError, AttributeError, AssertionError, OverflowError,
            RecursionError, MemoryError):  # what pyelftools raises on a malformed file
        return None


@functools.lru_cache(maxsize=_MAX_CACHED)
@_checked
def row_at(fde: Fde, pc: int) -> Row:
    """Run the CIE's and the FDE's instructions up to ``pc`` (DWARF 5 section 6.4.2).
    The row is shared between callers (cached): read it, do not change it."""
    init = Row()
    _run(fde.cie_insns, fde, init, None, pc, fde.pc_begin)
    row = init.copy()
    _run(fde.insns, fde, row, init, pc, fde.pc_begin)
    return row


def _run(insns: bytes, fde: Fde, row: Row, init: Row | None, target: int, loc: int) -> None:
    c = _Cursor(insns, 0, 8)
    stack: list[Row] = []
    ca, da = fde.code_align, fde.data_align

    def restore(reg: int) -> None:
        if init is not None and reg in init.rules:
            row.rules[reg] = init.rules[reg]
        else:
            row.rules.pop(reg, None)

    while c.pos < len(insns):
        op = c.take(1)[0]
        hi, low = op & 0xC0, op & 0x3F
        if hi == 0x40:  # advance_loc
            loc += low * ca
            if loc > target:
                return
        elif hi == 0x80:
            row.rules[low] = ("offset", c.uleb() * da)
        elif hi == 0xC0:
            restore(low)
        elif op == 0x00:
            pass
        elif op in (0x02, 0x03, 0x04):  # advance_loc1/2/4
            loc += c.unpack({0x02: "B", 0x03: "H", 0x04: "I"}[op]) * ca
            if loc > target:
                return
        elif op == 0x01:  # set_loc: its operand uses the FDE's pointer encoding
            raise CfiError("DW_CFA_set_loc")
        elif op == 0x05:
            reg = c.uleb()
            row.rules[reg] = ("offset", c.uleb() * da)
        elif op == 0x06:
            restore(c.uleb())
        elif op == 0x07:
            row.rules[c.uleb()] = ("undefined", None)
        elif op == 0x08:
            row.rules[c.uleb()] = ("same", None)
        elif op == 0x09:
            reg = c.uleb()
            row.rules[reg] = ("register", c.uleb())
        elif op == 0x0A:
            stack.append(row.copy())
        elif op == 0x0B:
            if stack:
                saved = stack.pop()
                row.cfa_reg, row.cfa_off, row.cfa_expr, row.rules = (
                    saved.cfa_reg, saved.cfa_off, saved.cfa_expr, saved.rules)
        elif op == 0x0C:
            row.cfa_reg, row.cfa_off, row.cfa_expr = c.uleb(), c.uleb(), None
        elif op == 0x0D:
            row.cfa_reg, row.cfa_expr = c.uleb(), None
        elif op == 0x0E:
            row.cfa_off = c.uleb()
        elif op == 0x0F:
            row.cfa_expr = c.take(c.uleb())
        elif op == 0x10:
            reg = c.uleb()
            row.rules[reg] = ("expr", c.take(c.uleb()))
        elif op == 0x11:
            reg = c.uleb()
            row.rules[reg] = ("offset", c.sleb() * da)
        elif op == 0x12:
            row.cfa_reg, row.cfa_off, row.cfa_expr = c.uleb(), c.sleb() * da, None
        elif op == 0x13:
            row.cfa_off = c.sleb() * da
        elif op == 0x14:
            reg = c.uleb()
            row.rules[reg] = ("val_offset", c.uleb() * da)
        elif op == 0x15:
            reg = c.uleb()
            row.rules[reg] = ("val_offset", c.sleb() * da)
        elif op == 0x16:
            reg = c.uleb()
            row.rules[reg] = ("val_expr", c.take(c.uleb()))
        elif op == 0x2E:  # GNU_args_size
            c.uleb()
        elif op == 0x2F:  # GNU_negative_offset_extended
            reg = c.uleb()
            row.rules[reg] = ("offset", -c.uleb() * da)
        else:
            raise CfiError(f"DW_CFA opcode {op:#x}")


@_checked
def evaluate(expr: bytes, regs: dict[int, int], read_word: Callable[[int], int], word: int,
             push: int | None = None) -> int:
    """A DWARF expression with the operations CFI uses in practice (PLT entries,
    hand-written assembly): literals, constants, breg, deref, arithmetic and
    comparisons (DWARF 5 section 2.5)."""
    mask = (1 << (8 * word)) - 1
    st: list[int] = [] if push is None else [push]
    c = _Cursor(expr, 0, word)
    binary: dict[int, Callable[[int, int], int]] = {
        0x1A: lambda a, b: a & b, 0x1C: lambda a, b: a - b, 0x1E: lambda a, b: a * b,
        0x21: lambda a, b: a | b, 0x22: lambda a, b: a + b,
        0x27: lambda a, b: a ^ b,
        # a hostile shift count must not build a huge integer
        0x24: lambda a, b: a << b if b < 64 else 0, 0x25: lambda a, b: a >> b if b < 64 else 0,
        0x29: lambda a, b: int(a == b), 0x2A: lambda a, b: int(a >= b),
        0x2B: lambda a, b: int(a > b), 0x2C: lambda a, b: int(a <= b),
        0x2D: lambda a, b: int(a < b), 0x2E: lambda a, b: int(a != b),
    }
    consts = {0x08: "B", 0x09: "b", 0x0A: "H", 0x0B: "h", 0x0C: "I", 0x0D: "i", 0x0E: "Q",
              0x0F: "q"}
    try:
        while c.pos < len(expr):
            op = c.take(1)[0]
            if 0x30 <= op <= 0x4F:
                st.append(op - 0x30)
            elif 0x70 <= op <= 0x8F:
                reg = regs.get(op - 0x70)
                if reg is None:
                    raise CfiError("expression uses an unknown register")
                st.append((reg + c.sleb()) & mask)
            elif op in consts:
                st.append(c.unpack(consts[op]) & mask)
            elif op == 0x10:
                st.append(c.uleb())
            elif op == 0x11:
                st.append(c.sleb() & mask)
            elif op == 0x06:
                st.append(read_word(st.pop()))
            elif op == 0x12:
                st.append(st[-1])
            elif op == 0x13:
                st.pop()
            elif op == 0x14:
                st.append(st[-2])
            elif op == 0x16:
                st[-1], st[-2] = st[-2], st[-1]
            elif op == 0x23:
                st.append((st.pop() + c.uleb()) & mask)
            elif op in binary:
                b, a = st.pop(), st.pop()
                st.append(binary[op](a, b) & mask)
            else:
                raise CfiError(f"DW_OP {op:#x}")
        return st[-1]
    except IndexError:
        raise CfiError("DWARF expression stack underflow") from None


class Table(Protocol):
    """A searchable set of FDEs (:class:`Module` or :class:`DebugFrame`)."""

    def fde_for(self, pc: int) -> Fde | None: ...


#: what :func:`caller_registers` returns when the CFI marks the outermost frame
OUTERMOST: Regs = {}


def caller_registers(fde: Fde, pc: int, regs: Regs, read_word: Callable[[int], int],
                     word: int, pc_no: int, sp_no: int) -> Regs:
    """The caller's registers (DWARF numbers) from the callee's ``regs`` at ``pc``,
    by the FDE's row: the CFA becomes the caller's sp, the return-address column
    its pc, and every saved register is read back (DWARF 5 section 6.4.1: the
    register rules).  Registers with no rule keep their value (the psABI's
    callee-saved convention as gdb applies it).  :data:`OUTERMOST` (empty):
    the return address is undefined, this is the outermost frame.  A
    return-address column that is not the pc (AArch64: x30, the link
    register) with no rule has not been saved yet (a prologue not run, a
    leaf): its current value is the return address, as libgcc's
    ``uw_update_context`` reads an unsaved column; only an explicit
    ``DW_CFA_undefined`` (glibc's ``_start``) ends the walk there.  Raises
    :class:`CfiError` (or the reader's SigdbgError) when the row cannot be
    used."""
    row = row_at(fde, pc)
    mask = (1 << (8 * word)) - 1
    try:
        if row.cfa_expr is not None:
            cfa = evaluate(row.cfa_expr, regs, read_word, word)
        else:
            cfa = (regs[row.cfa_reg] + row.cfa_off) & mask
        ra_rule = row.rules.get(fde.ra_reg)
        if (ra_rule[0] if ra_rule is not None else
                "undefined" if fde.ra_reg == pc_no else "same") == "undefined":
            return OUTERMOST
        new = dict(regs)
        new[sp_no] = cfa
        for reg, (kind, arg) in row.rules.items():
            if kind == "undefined":
                new.pop(reg, None)
            elif isinstance(arg, bytes):  # expr / val_expr: the CFA pushed first
                value = evaluate(arg, regs, read_word, word, cfa)
                new[reg] = read_word(value) if kind == "expr" else value
            elif isinstance(arg, int):
                if kind == "offset":
                    new[reg] = read_word((cfa + arg) & mask)
                elif kind == "val_offset":
                    new[reg] = (cfa + arg) & mask
                elif kind == "register":
                    new[reg] = regs[arg]
    except KeyError:
        raise CfiError("a rule uses a register the frame does not know") from None
    if fde.ra_reg != pc_no:
        if fde.ra_reg not in new:
            raise CfiError("no return address")
        new[pc_no] = new.pop(fde.ra_reg)
    return new
