"""The AArch64 frame decoder (sigdbg/abi/aarch64/a64frame.py) on forged frames:
records a newer kernel could write (an unknown magic is shown, not dropped),
and frames that are not what the kernel built (problems, never exceptions).
No guest needed; real frames are in test_a64_frame.py."""

from __future__ import annotations

import struct

from sigdbg.abi import aarch64
from sigdbg.abi.aarch64.a64frame import FRAME_SIZE, decode_a64_frame
from sigdbg.render.text import render_frame
from tests.arm.test_frames import DumpMemory
from tests.arm.test_records_forged import rec

FRAME = 0xFFFFF000_0000
RESTORER = 0xFFFF8000_07BC
UNKNOWN = 0x4E455701


def forge(records: list[bytes], *, signo: int = 10) -> tuple[bytes, dict[str, int]]:
    data = bytearray(FRAME_SIZE + 16)
    struct.pack_into("<iii", data, 0, signo, 0, 0)  # si_signo, si_errno, si_code (SI_USER)
    struct.pack_into("<ii", data, 16, 1234, 0)  # si_pid, si_uid
    mc = aarch64.RT_SIGFRAME.offset_of("uc.uc_mcontext")
    regs = [0x1000 + i for i in range(31)]
    regs[29], regs[30] = 0x5000, 0x6000
    struct.pack_into("<Q31QQQQ", data, mc, 0, *regs, FRAME + 0x2000, 0x4000, 0x60000000)
    struct.pack_into("<Q", data, aarch64.RT_SIGFRAME.offset_of("uc.uc_sigmask"), 1 << 10)
    data[aarch64.RESERVED_OFFSET:aarch64.RESERVED_OFFSET + sum(map(len, records))] = \
        b"".join(records)
    struct.pack_into("<QQ", data, FRAME_SIZE, 0x5000, 0x6000)  # the frame record
    entry = {"x0": signo, "x1": FRAME, "x2": FRAME + 128, "x29": FRAME + FRAME_SIZE,
             "x30": RESTORER}
    return bytes(data), entry


def memory(data: bytes) -> DumpMemory:
    return DumpMemory((FRAME, data), (RESTORER, aarch64.RT_SIGRETURN_CODE + bytes(8)))


def test_unknown_record_is_shown() -> None:
    data, entry = forge([rec(aarch64.FPSIMD_MAGIC, 528, struct.pack("<II", 0x10, 0xC00000)),
                         rec(UNKNOWN, 48, b"future"), rec(0, 0)])
    f = decode_a64_frame(memory(data), FRAME, entry_regs=entry, signo=10)
    assert f.problems == ()
    assert [(r.name, r.offset, r.size) for r in f.records] == [
        ("fpsimd", 592, 528), ("unknown", 1120, 48), ("end", 1168, 0)]
    unk = f.records[1]
    assert (unk.magic, unk.payload_size, unk.fields) == (UNKNOWN, 40, {})
    assert f.records[0].fields == {"fpsr": 0x10, "fpcr": 0xC00000}
    assert (f.sp, f.pc, f.mcontext["x29"], f.frame_record) == (
        FRAME + 0x2000, 0x4000, 0x5000, {"fp": 0x5000, "lr": 0x6000})
    assert f.sigmask_names == ("SIGSEGV",) and f.pstate_names == ("Z", "C", "EL0t")
    assert f.restorer.pattern == "mov x8, #0x8b; svc #0" and f.siginfo is not None
    assert f.siginfo.fields["si_pid"] == 1234
    text = render_frame(f)
    assert f"unknown   {FRAME + 1120:#x} (frame+1120) magic={UNKNOWN:#010x} size=48" in text
    assert "(+40 payload bytes)" in text and "!" not in text
    assert f.to_json()["records"][1]["name"] == "unknown"


def test_broken_frame_is_problems_not_an_exception() -> None:
    # a record with size 0 that is not a terminator; x29 elsewhere; x1 wrong;
    # the frame record disagrees with the saved x29/x30; x30 at no sigreturn
    data, entry = forge([rec(aarch64.FPSIMD_MAGIC, 528), struct.pack("<II", UNKNOWN, 0)])
    data = data[:FRAME_SIZE] + struct.pack("<QQ", 1, 2)
    entry.update(x1=0, x30=FRAME)
    f = decode_a64_frame(memory(data), FRAME, entry_regs=entry, signo=10)
    assert [r.name for r in f.records] == ["fpsimd"]
    got = "\n".join(f.problems)
    for want in ("has a bad size 0", "x1 0x0 does not point at the info",
                 "frame record fp differs from the saved x29",
                 "frame record lr differs from the saved x30",
                 f"x30 {FRAME:#x} does not point at a known sigreturn sequence"):
        assert want in got
    entry["x29"] = 0x10  # unmapped
    f = decode_a64_frame(memory(data), FRAME, entry_regs=entry, signo=12)
    assert any(p.startswith("x29 ") for p in f.problems)  # not where the layout puts it
    assert f.siginfo_valid is False  # the info says 10, the delivery 12
    assert any("SA_SIGINFO" in p for p in f.problems)
    assert any("frame record unreadable" in p for p in f.problems)
