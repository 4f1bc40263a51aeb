"""The AArch64 and ARM ABI values, the ELF-header and regset-size lookups,
the per-ABI maps explanation and the [vectors]/[sigpage] decoder, on forged
inputs (the live checks are tests/arm/test_sigdbg_inspect.py).  The byte
patterns are checked against capstone, not against themselves."""

from __future__ import annotations

import struct

import pytest

from sigdbg.abi import (
    AARCH64,
    ARM,
    I386,
    X86_64,
    aarch64,
    abi_by_name,
    abi_for_elf_header,
    abi_for_regset_size,
    arm,
)
from sigdbg.abi.arm.pages import ARM_COMPAT_PAGES, ARM_SIGRETURN_CODES, COMPAT_SIGRETURN_CODE
from sigdbg.decode.auxv import parse_auxv_bytes
from sigdbg.decode.disasm import get_disassembler
from sigdbg.decode.memmap import parse_maps, special_table
from sigdbg.decode.specialpages import decode_special_pages
from sigdbg.errors import MemoryReadError, UsageError


def elf_header(ei_class: int, machine: int, data: int = 1) -> bytes:
    order = "<" if data == 1 else ">"
    return b"\x7fELF" + bytes([ei_class, data, 1]) + bytes(9) + struct.pack(order + "HH", 2,
                                                                              machine)


@pytest.mark.parametrize(("ei_class", "machine", "abi"), [
    (2, 62, X86_64), (1, 3, I386), (2, 183, AARCH64), (1, 40, ARM)])
def test_elf_header_lookup(ei_class: int, machine: int, abi: object) -> None:
    assert abi_for_elf_header(elf_header(ei_class, machine)) is abi


@pytest.mark.parametrize("head", [elf_header(1, 183), elf_header(2, 40), elf_header(1, 40, 2),
                                  elf_header(2, 21)])
def test_elf_header_unsupported(head: bytes) -> None:
    with pytest.raises(UsageError, match="unsupported ELF machine"):
        abi_for_elf_header(head)


def test_regset_sizes_and_names() -> None:
    assert abi_for_regset_size(272) is AARCH64 and abi_for_regset_size(72) is ARM
    assert abi_by_name("aarch64") is AARCH64 and abi_by_name("arm") is ARM
    # the flat register layouts are the uapi arrays, field for field
    flat = AARCH64.user_regs
    regs = aarch64.USER_REGS.by_name["regs"]
    assert [flat.by_name[f"x{i}"].offset for i in range(31)] == [
        regs.offset + 8 * i for i in range(31)]
    for name in ("sp", "pc", "pstate"):
        assert flat.by_name[name].offset == aarch64.USER_REGS.by_name[name].offset
    assert [f.offset for f in ARM.user_regs.fields] == [4 * i for i in range(18)]
    assert [f.name for f in ARM.user_regs.fields][13:16] == ["sp", "lr", "pc"]
    raw = struct.pack("<18I", *range(100, 118))
    assert ARM.user_regs.decode(raw)["pc"] == 115 and ARM.user_regs.decode(raw)["cpsr"] == 116
    # every sigcontext field ARM maps exists in both layouts
    for mc, reg in ARM.mcontext_regs:
        assert mc in arm.SIGCONTEXT.by_name and reg in ARM.user_regs.by_name


def test_auxv_word_sizes() -> None:
    raw64 = struct.pack("<6Q", 16, 0xFDFFFFFF, 51, 9984, 0, 0)
    assert parse_auxv_bytes(raw64, AARCH64) == [(16, 0xFDFFFFFF), (51, 9984)]
    raw32 = struct.pack("<6I", 16, 0x37B0D6, 26, 0x1F, 0, 0)
    assert parse_auxv_bytes(raw32, ARM) == [(16, 0x37B0D6), (26, 0x1F)]


MAPS32 = """\
00010000-00067000 r-xp 00000000 00:02 2568 /job/sig_frame.arm
f7c0c000-f7c0d000 r-xp 00000000 00:00 0 [sigpage]
f7c0d000-f7c0f000 r--p 00000000 00:00 0 [vvar]
f7c0f000-f7c10000 r-xp 00000000 00:00 0 [vdso]
ffa7b000-ffa9c000 rw-p 00000000 00:00 0 [stack]
ffff0000-ffff1000 r-xp 00000000 00:00 0 [vectors]
"""


def test_maps_explained_per_abi() -> None:
    arm_maps = parse_maps(MAPS32, special_table(ARM.special_mappings))
    x86_maps = parse_maps(MAPS32)
    for name in ("[sigpage]", "[vvar]", "[vdso]", "[stack]", "[vectors]"):
        sp = arm_maps.by_name(name).special  # type: ignore[union-attr]
        assert sp is not None and "x86" not in sp.created_by
    assert "arch/x86" in x86_maps.by_name("[vdso]").special.created_by  # type: ignore[union-attr]
    x86 = special_table(X86_64.special_mappings)  # the x86 package's rows, as parse_maps' default
    assert x86 is not None and x86["[vdso]"] == x86_maps.by_name("[vdso]").special
    a64 = special_table(AARCH64.special_mappings)
    assert a64 is not None and "__kernel_rt_sigreturn" in a64["[vdso]"].purpose
    # the explanation is not part of a mapping's identity or JSON keys
    assert arm_maps.mappings == x86_maps.mappings
    assert set(arm_maps.mappings[1].to_json()) == set(x86_maps.mappings[1].to_json())


class Pages:
    """Memory with a few pages in it."""

    def __init__(self, pages: dict[int, bytes]) -> None:
        self.pages = pages

    def read(self, address: int, size: int) -> bytes:
        for start, data in self.pages.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        raise MemoryReadError(address, size, "unmapped")

    def read_upto(self, address: int, size: int) -> bytes:
        try:
            return self.read(address, size)
        except MemoryReadError:
            return b""


UDF = struct.pack("<I", 0xE7FDDEF1)


def vectors(version: int) -> bytes:
    page = bytearray(4096)
    page[0xFE0 : 0xFE8] = bytes.fromhex("700f1dee1eff2fe1")  # mrc p15 TPIDRURO; bx lr
    page[0xFA0 : 0xFA8] = bytes.fromhex("5bf07ff51eff2fe1")  # dmb ish; bx lr
    page[0xFFC:] = struct.pack("<I", version)
    return bytes(page)


def dis(code: bytes, address: int, mode: str) -> list[str]:
    return [i.text for i in get_disassembler(mode).disassemble(code, address)]


@pytest.mark.parametrize(("block", "offset"), [(COMPAT_SIGRETURN_CODE, 0),
                                               (ARM_SIGRETURN_CODES, 0x784)])
def test_special_pages_decoded(block: object, offset: int) -> None:
    sigpage = bytearray(UDF * 1024)
    sigpage[offset : offset + 24] = block.code  # type: ignore[attr-defined]
    mem = Pages({0xF7C0C000: bytes(sigpage), 0xFFFF0000: vectors(5)})
    pages = decode_special_pages(mem, parse_maps(MAPS32), ARM_COMPAT_PAGES, dis)
    vec, sig = pages
    assert (vec.mapping, vec.version, vec.error) == ("[vectors]", 5, None)
    helpers = {k.name: k for k in vec.kuser}
    assert all(k.present for k in vec.kuser)
    assert helpers["__kuser_get_tls"].disassembly[0].endswith("mrc p15, #0, r0, c13, c0, #3")
    assert helpers["__kuser_memory_barrier"].code == bytes.fromhex("5bf07ff51eff2fe1")
    assert sig.block_offset == offset and sig.kernel == block.kernel  # type: ignore[attr-defined]
    for t in sig.trampolines:
        insns = dis(t.code, t.address & ~1, t.mode)
        assert insns[0].split(",")[0] in ("mov r7", "movs r7")
        assert insns[0].endswith(f"#{t.syscall_nr:#x}") and insns[1].startswith("svc")
        assert t.address == 0xF7C0C000 + t.offset + (t.mode == "thumb")
    assert [t.address - 0xF7C0C000 - offset for t in sig.trampolines] == [0, 9, 12, 21]


def test_special_pages_old_kuser_and_problems() -> None:
    mem = Pages({0xF7C0C000: UDF * 1024, 0xFFFF0000: vectors(2)})
    vec, sig = decode_special_pages(mem, parse_maps(MAPS32), ARM_COMPAT_PAGES)
    present = {k.name for k in vec.kuser if k.present}
    assert present == {"__kuser_cmpxchg", "__kuser_get_tls"}  # version 2 has only these
    assert sig.error == "no known sigreturn code in the page" and not sig.trampolines
    unreadable = decode_special_pages(Pages({}), parse_maps(MAPS32), ARM_COMPAT_PAGES)
    assert [(p.readable, p.error) for p in unreadable] == [(False, "unmapped")] * 2
    # an AArch64 or x86 process has no such rules: nothing to decode
    assert AARCH64.special_pages == () and X86_64.special_pages == ()
