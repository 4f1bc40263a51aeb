"""The CFI reader (sigdbg/decode/cfi.py) on a hand-assembled image.

The image is built byte by byte from the LSB "Exception Frames" layout (ELF
header, PT_GNU_EH_FRAME, .eh_frame_hdr with its datarel sdata4 table, one CIE
and one FDE describing ``push %rbp; mov %rsp,%rbp; ...; leave; ret``), so the
rows expected at each pc are the ones any DWARF consumer derives from those
instructions.  The real-process comparison with gdb is in
tests/integration/test_shell.py (test_bt_shows_every_frame_as_gdb_does).
Mutated images must give CfiError (or the reader's own error), never another
exception and never an unbounded read.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from sigdbg.decode.cfi import CfiError, Module, evaluate, row_at
from sigdbg.errors import SigdbgError, TargetError

BASE = 0x10000
FUNC = BASE + 0x400


def _image() -> bytearray:
    img = bytearray(0x500)
    # ELF header: class 64, little endian, e_phoff 64, e_phentsize 56, e_phnum 2
    img[0:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", img, 0x20, 64)
    struct.pack_into("<HH", img, 0x36, 56, 2)
    struct.pack_into("<IIQQQQQQ", img, 64, 1, 5, 0, 0, 0, 0x500, 0x500, 0x1000)  # PT_LOAD
    struct.pack_into("<IIQQQQQQ", img, 120, 0x6474E550, 4, 0x100, 0x100, 0x100, 20, 20, 4)
    hdr = BASE + 0x100
    # .eh_frame_hdr: version 1, eh_frame_ptr pcrel|sdata4, count udata4, table datarel|sdata4
    img[0x100:0x104] = bytes((1, 0x1B, 0x03, 0x3B))
    struct.pack_into("<iIii", img, 0x104, 0x200 - 0x104, 1, FUNC - hdr, BASE + 0x220 - hdr)
    # CIE: "zR", code_align 1, data_align -8, RA r16, FDE pointers pcrel|sdata4;
    # initial: def_cfa rsp+8, r16 at cfa-8
    cie = (struct.pack("<I", 0) + b"\x01zR\x00\x01\x78\x10\x01\x1b" + b"\x0c\x07\x08\x90\x01")
    cie += b"\x00" * (28 - len(cie))
    img[0x200:0x220] = struct.pack("<I", len(cie)) + cie
    # FDE for FUNC..FUNC+0x20: +1 cfa rsp+16, rbp at cfa-16; +4 cfa = rbp+16;
    # +0x14 cfa rsp+8 (after leave)
    pc_field = BASE + 0x228
    fde = struct.pack("<Iii", 0x24, FUNC - pc_field, 0x20) + b"\x00"
    fde += b"\x41\x0e\x10\x86\x02\x43\x0d\x06\x50\x0c\x07\x08"
    fde += b"\x00" * (28 - len(fde))
    img[0x220:0x240] = struct.pack("<I", len(fde)) + fde
    return img


def _reader(img: bytes | bytearray, limit: int = 8 << 20):  # type: ignore[no-untyped-def]
    def read(addr: int, size: int) -> bytes:
        assert size <= limit, f"asked for {size} bytes"  # a bounded read, always
        off = addr - BASE
        if off < 0 or off + size > len(img):
            raise TargetError(f"cannot read {size} bytes at {addr:#x}")
        return bytes(img[off:off + size])
    return read


@pytest.mark.parametrize("pc, cfa_reg, cfa_off, rbp_rule", [
    (FUNC, 7, 8, None),
    (FUNC + 1, 7, 16, ("offset", -16)),
    (FUNC + 3, 7, 16, ("offset", -16)),
    (FUNC + 4, 6, 16, ("offset", -16)),
    (FUNC + 0x13, 6, 16, ("offset", -16)),
    (FUNC + 0x14, 7, 8, ("offset", -16)),
    (FUNC + 0x1F, 7, 8, ("offset", -16)),
])
def test_rows_follow_the_instructions(pc: int, cfa_reg: int, cfa_off: int,
                                      rbp_rule: tuple[str, int] | None) -> None:
    mod = Module(_reader(_image()), BASE)
    fde = mod.fde_for(pc)
    assert fde is not None and (fde.pc_begin, fde.pc_end, fde.ra_reg) == (FUNC, FUNC + 0x20, 16)
    row = row_at(fde, pc)
    assert (row.cfa_reg, row.cfa_off, row.cfa_expr) == (cfa_reg, cfa_off, None)
    assert row.rules[16] == ("offset", -8)
    assert row.rules.get(6) == rbp_rule


def test_no_fde_outside_the_described_code() -> None:
    mod = Module(_reader(_image()), BASE)
    assert mod.fde_for(FUNC - 1) is None
    assert mod.fde_for(FUNC + 0x20) is None


def test_plt_style_cfa_expression() -> None:
    # binutils' .plt CFA: rsp + 8 + ((rip & 15) >= 11 ? 8 : 0)
    expr = bytes((0x77, 8, 0x80, 0, 0x3F, 0x1A, 0x3B, 0x2A, 0x33, 0x24, 0x22))
    for rip, want in ((0x1000, 0x7008), (0x100B, 0x7010)):
        assert evaluate(expr, {7: 0x7000, 16: rip}, lambda a: 0, 8) == want


def test_huge_counts_and_lengths_are_refused_without_reading_them() -> None:
    img = _image()
    struct.pack_into("<I", img, 0x108, 0xFFFFFFFF)  # fde_count
    with pytest.raises(CfiError):
        Module(_reader(img), BASE)
    img = _image()
    struct.pack_into("<I", img, 0x220, 0xFFFFFFF0)  # FDE length
    with pytest.raises(CfiError):
        Module(_reader(img), BASE).fde_for(FUNC)


def test_mutated_images_only_raise_cfi_errors() -> None:
    rng = random.Random(12)
    clean = _image()
    for _ in range(2000):
        img = bytearray(clean)
        for _ in range(rng.randint(1, 6)):
            img[rng.randrange(0x100, 0x240)] = rng.randrange(256)
        try:
            mod = Module(_reader(img), BASE)
            for pc in (FUNC, FUNC + 5, FUNC + 0x1F):
                fde = mod.fde_for(pc)
                if fde is not None:
                    row_at(fde, pc)
        except SigdbgError:
            pass


def test_unterminated_augmentation_is_a_cfi_error() -> None:
    img = _image()
    img[0x209:0x220] = b"\x7f" * (0x220 - 0x209)  # no NUL after "zR" up to the FDE
    with pytest.raises(CfiError):
        Module(_reader(img), BASE).fde_for(FUNC)


@pytest.mark.parametrize("expr", [
    bytes((0x22,)),  # plus on an empty stack
    bytes((0x30, 0xFF)),  # an operation outside the supported set
    bytes((0x10,)),  # constu without its operand
    bytes((0x70,)),  # breg0 of a register we do not know
])
def test_bad_expressions_are_cfi_errors(expr: bytes) -> None:
    with pytest.raises(CfiError):
        evaluate(expr, {7: 0x1000}, lambda a: 0, 8)


def test_a_huge_shift_stays_a_word() -> None:
    # lit1; constu 2**40; shl -- must not try to build a 2**40-bit integer
    expr = bytes((0x31, 0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x24))
    assert evaluate(expr, {}, lambda a: 0, 8) == 0


def test_debug_frame_linear_index_with_load_bias() -> None:
    from sigdbg.decode.cfi import DebugFrame

    # .debug_frame: CIE id 0xffffffff, no augmentation, absolute link-time addresses
    cie = struct.pack("<I", 0xFFFFFFFF) + b"\x01\x00\x01\x78\x10" + b"\x0c\x07\x08\x90\x01"
    cie += b"\x00" * (20 - len(cie))
    fde = struct.pack("<IQQ", 0, 0x400, 0x20) + b"\x41\x0e\x10\x86\x02"
    fde += b"\x00" * (28 - len(fde))
    data = struct.pack("<I", len(cie)) + cie + struct.pack("<I", len(fde)) + fde
    df = DebugFrame(data, 8, BASE)
    assert df.fde_for(FUNC - 1) is None and df.fde_for(FUNC + 0x20) is None
    got = df.fde_for(FUNC + 1)
    assert got is not None and (got.pc_begin, got.pc_end) == (FUNC, FUNC + 0x20)
    row = row_at(got, FUNC + 1)
    assert (row.cfa_reg, row.cfa_off, row.rules[6]) == (7, 16, ("offset", -16))
    with pytest.raises(CfiError):  # an FDE that runs past the section
        DebugFrame(data[:24] + struct.pack("<I", len(fde) + 100) + fde, 8, BASE)


def test_debug_frame_of_the_mapped_file_only(tmp_path: Path) -> None:
    import os

    from sigdbg.decode.cfi import debug_frame_of
    from tests.conftest import target

    path = target("sig_basic.i386")  # freestanding: .debug_frame, no .eh_frame_hdr
    data = Path(path).read_bytes()
    base = 0x08048000  # its first PT_LOAD (non-PIE, static): file offsets = addresses - base

    def read(addr: int, size: int) -> bytes:
        return data[addr - base:addr - base + size]

    inode = os.stat(path).st_ino
    df = debug_frame_of(path, inode, read, base)
    assert df is not None and df.index
    begin, end, _ = df.index[0]
    assert df.fde_for(begin) is not None and df.fde_for(end - 1) is not None
    assert debug_frame_of(path, inode + 1, read, base) is None  # not the file that was mapped
    junk = tmp_path / "junk"
    junk.write_bytes(data[:64] + bytes(range(256)) * 8)  # an ELF header, then nonsense
    assert debug_frame_of(str(junk), os.stat(junk).st_ino, read, base) is None


def _a64_frame(r30_rule: bytes = b"") -> object:
    """An AArch64 .debug_frame: the CIE names x30 (30) as the return-address
    column with no rule for it (what GCC emits: ``DW_CFA_def_cfa: r31 ofs
    0``), the FDE ``stp x29, x30, [sp, #-32]!`` then saves both."""
    from sigdbg.decode.cfi import DebugFrame

    cie = struct.pack("<I", 0xFFFFFFFF) + b"\x01\x00\x04\x78\x1e" + b"\x0c\x1f\x00" + r30_rule
    cie += b"\x00" * (-len(cie) % 4)
    fde = struct.pack("<IQQ", 0, 0x400, 0x40) + b"\x41\x0e\x20\x9d\x04\x9e\x03"
    fde += b"\x00" * (-len(fde) % 4)
    data = struct.pack("<I", len(cie)) + cie + struct.pack("<I", len(fde)) + fde
    return DebugFrame(data, 8, BASE)


def test_a64_unsaved_link_register_is_the_return_address() -> None:
    """AADWARF64: return column 30.  Before the prologue (no rule for x30)
    the caller's pc is x30's current value and sp the CFA; after it, both
    come from the frame record the stp wrote."""
    from sigdbg.decode.cfi import caller_registers

    table = _a64_frame()
    fde = table.fde_for(FUNC)  # type: ignore[attr-defined]
    regs = {29: 0x7000, 30: 0x401234, 31: 0x8000, 32: FUNC}
    mem = {0x8000 - 32: 0x7100, 0x8000 - 24: 0x405678}
    got = caller_registers(fde, FUNC, regs, mem.__getitem__, 8, 32, 31)
    assert (got[32], got[31], got[29]) == (0x401234, 0x8000, 0x7000)
    got = caller_registers(fde, FUNC + 8, {**regs, 31: 0x8000 - 32}, mem.__getitem__, 8, 32, 31)
    assert (got[32], got[31], got[29]) == (0x405678, 0x8000, 0x7100)


def test_a64_explicit_undefined_link_register_is_outermost() -> None:
    from sigdbg.decode.cfi import OUTERMOST, caller_registers

    table = _a64_frame(b"\x07\x1e")  # DW_CFA_undefined x30 (glibc's _start)
    fde = table.fde_for(FUNC)  # type: ignore[attr-defined]
    regs = {29: 0, 30: 0, 31: 0x8000, 32: FUNC}
    assert caller_registers(fde, FUNC, regs, lambda a: 0, 8, 32, 31) == OUTERMOST
