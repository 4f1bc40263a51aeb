"""The record walkers on forged bytes: the chains a kernel could write but the
6.1 guest does not (unknown magics, records after a future kernel's
layout), and the broken ones a corrupted or hostile stack gives.  These need
no guest; the real chains are checked in test_frames.py."""

from __future__ import annotations

import struct

from sigdbg.abi import aarch64, arm
from sigdbg.abi.aarch64.records import walk_reserved
from sigdbg.abi.arm.regspace import walk_regspace
from tests.arm.test_frames import DumpMemory

BASE = 0xFFFF0000


def rec(magic: int, size: int, body: bytes = b"") -> bytes:
    return struct.pack("<II", magic, size) + body.ljust(size - 8, b"\0")


def reserved(*records: bytes) -> bytes:
    return b"".join(records).ljust(aarch64.RESERVED_SIZE, b"\0")


def test_every_known_record_and_an_unknown_one() -> None:
    chain = [
        rec(aarch64.FPSIMD_MAGIC, 528, struct.pack("<II", 0x10, 0xC00000)),
        rec(aarch64.ESR_MAGIC, 16, struct.pack("<Q", 0x92000046)),
        rec(aarch64.GCS_MAGIC, 32, struct.pack("<QQ", 0x7000, 1)),
        rec(aarch64.SVE_MAGIC, 16, struct.pack("<HH", 64, 1)),
        rec(aarch64.TPIDR2_MAGIC, 16, struct.pack("<Q", 0x1234)),
        rec(aarch64.ZA_MAGIC, 16, struct.pack("<H", 32)),
        rec(aarch64.ZT_MAGIC, 16, struct.pack("<H", 1)),
        rec(aarch64.FPMR_MAGIC, 16, struct.pack("<Q", 7)),
        rec(aarch64.POE_MAGIC, 16, struct.pack("<Q", 0x77)),
        rec(0x4E455701, 48, b"future"),
        rec(0, 0),
    ]
    walk = walk_reserved(DumpMemory((BASE, reserved(*chain))), BASE)
    assert not walk.problems
    assert [r.name for r in walk.records] == [
        "fpsimd", "esr", "gcs", "sve", "tpidr2", "za", "zt", "fpmr", "poe", "unknown", "end"]
    fields = {r.name: r.fields for r in walk.records}
    assert fields["esr"] == {"head": {"magic": aarch64.ESR_MAGIC, "size": 16}, "esr": 0x92000046}
    assert fields["gcs"] is not None and fields["gcs"]["gcspr"] == 0x7000
    assert fields["sve"] is not None and fields["sve"]["flags"] == aarch64.SVE_SIG_FLAG_SM
    assert fields["poe"] is not None and fields["poe"]["por_el0"] == 0x77
    unknown = walk.find("unknown")
    assert unknown is not None and unknown.fields is None  # shown, not dropped
    assert unknown.size == 48 and unknown.payload.startswith(b"future")
    assert walk.records[1].address == BASE + 528


def test_extra_context_followed() -> None:
    extra_at = BASE + 0x2000
    extra_space = rec(aarch64.SVE_MAGIC, 576, struct.pack("<HH", 16, 0)) + rec(0, 0)
    area = reserved(rec(aarch64.FPSIMD_MAGIC, 528),
                    rec(aarch64.EXTRA_MAGIC, 32, struct.pack("<QI", extra_at, len(extra_space))),
                    rec(0, 0))
    walk = walk_reserved(DumpMemory((BASE, area), (extra_at, extra_space)), BASE)
    assert not walk.problems
    assert [(r.name, r.in_extra) for r in walk.records] == [
        ("fpsimd", False), ("extra", False), ("end", False), ("sve", True), ("end", True)]


def test_broken_chains_are_reported() -> None:
    def problems(area: bytes, *more: tuple[int, bytes]) -> list[str]:
        return walk_reserved(DumpMemory((BASE, area), *more), BASE).problems

    assert "bad size 12" in problems(reserved(rec(aarch64.FPSIMD_MAGIC, 528), rec(1, 12)))[0]
    assert "bad size 0" in problems(reserved(struct.pack("<II", aarch64.ESR_MAGIC, 0)))[0]
    # sizes that run past __reserved
    assert "bad size" in problems(reserved(struct.pack("<II", 5, 8192)))[0]
    # no terminator: records up to the end of __reserved
    full = b"".join(rec(7, 256) for _ in range(16))
    assert "no terminator" in problems(full)[0]
    # extra_context not followed by the terminator
    bad = reserved(rec(aarch64.EXTRA_MAGIC, 32, struct.pack("<QI", BASE + 0x2000, 32)),
                   rec(aarch64.ESR_MAGIC, 16), rec(0, 0))
    assert "not followed by the terminator" in problems(bad)[0]
    # extra space not readable
    ok = reserved(rec(aarch64.EXTRA_MAGIC, 32, struct.pack("<QI", BASE + 0x2000, 64)), rec(0, 0))
    assert "extra space unreadable" in problems(ok)[0]
    # __reserved itself not readable
    assert "__reserved unreadable" in walk_reserved(DumpMemory(), BASE).problems[0]


def test_regspace_native_dummy_then_vfp() -> None:
    """A native ARM kernel with CONFIG_IWMMXT: the DUMMY placeholder first,
    then VFP (../shared/reference/arm-qemu.md); the walk goes by size."""
    vfp = struct.pack("<II", arm.VFP_MAGIC, 288) + struct.pack("<Q", 0x1616161616161616) * 32
    vfp += struct.pack("<I", 0x00C00010).ljust(8, b"\0") + struct.pack("<III", 0x40000000, 0, 0)
    vfp = vfp.ljust(288, b"\0")
    space = (struct.pack("<II", arm.DUMMY_MAGIC, 160).ljust(160, b"\0") + vfp
             + struct.pack("<I", 0)).ljust(arm.REGSPACE_SIZE, b"\0")
    walk = walk_regspace(space)
    assert not walk.problems
    assert [(r.name, r.offset, r.size) for r in walk.records] == [
        ("dummy", 0, 160), ("vfp", 160, 288), ("end", 448, 0)]
    v = walk.find("vfp")
    assert v is not None and v.fields is not None
    ufp = v.fields["ufp"]
    assert isinstance(ufp, dict) and ufp["fpscr"] == 0x00C00010
    exc = v.fields["ufp_exc"]
    assert isinstance(exc, dict) and exc["fpexc"] == 0x40000000


def test_regspace_broken() -> None:
    assert "bad size 4" in walk_regspace(struct.pack("<II", arm.VFP_MAGIC, 4).ljust(512, b"\0")
                                         ).problems[0]
    assert "bad size 1024" in walk_regspace(struct.pack("<II", 9, 1024).ljust(512, b"\0")
                                            ).problems[0]
    assert "no terminator" in walk_regspace(struct.pack("<II", 9, 256) * 64).problems[0]
    unknown = walk_regspace(struct.pack("<II", 0x12345678, 16).ljust(512, b"\0"))
    assert not unknown.problems and unknown.records[0].name == "unknown"
