"""Garbage, truncated and forged frames: a report of what could not be decoded,
never an exception other than a one-line SigdbgError (no process needed)."""

from __future__ import annotations

import random

import pytest

from sigdbg.abi import I386, X86_64, Abi
from sigdbg.abi.x86.fp import FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2
from sigdbg.decode.sigframe import decode_sigframe
from sigdbg.errors import MemoryReadError, SigdbgError


class FakeMemory:
    """A flat readable region [base, base+len(data)); everything else unmapped."""

    def __init__(self, base: int, data: bytes) -> None:
        self.base, self.data = base, data

    def read(self, address: int, size: int) -> bytes:
        off = address - self.base
        if off < 0 or off + size > len(self.data):
            raise MemoryReadError(address, size, "unmapped (fake)")
        return self.data[off : off + size]

    def read_upto(self, address: int, size: int) -> bytes:
        off = address - self.base
        if off < 0 or off >= len(self.data):
            return b""
        return self.data[off : off + size]


BASE = 0x7FFF0000
FRAME = BASE + 0xF8  # frame = fpstate - 456 with fpstate 64-byte aligned


def valid_x86_64_frame() -> bytearray:
    """An rt_sigframe as the kernel lays it out, with an XSAVE area after it."""
    from sigdbg.abi.x86.x86_64 import RT_SIGFRAME

    buf = bytearray(8192)
    fp = FRAME + 456
    frame = RT_SIGFRAME.encode({
        "pretcode": 0x401000,
        "uc": {"uc_flags": 7, "uc_mcontext": {"rip": 0x401234, "rsp": FRAME + 3072,
                                              "fpstate": fp, "cs": 0x33},
               "uc_sigmask": 1 << 11},
        "info": (10).to_bytes(4, "little") + bytes(4) + (-6 & 0xFFFFFFFF).to_bytes(4, "little"),
    })
    buf[FRAME - BASE : FRAME - BASE + len(frame)] = frame
    fx = fp - BASE
    buf[fx + 464 : fx + 468] = FP_XSTATE_MAGIC1.to_bytes(4, "little")
    buf[fx + 468 : fx + 472] = (832 + 4).to_bytes(4, "little")
    buf[fx + 472 : fx + 480] = (0x7).to_bytes(8, "little")
    buf[fx + 480 : fx + 484] = (832).to_bytes(4, "little")
    buf[fx + 512 : fx + 520] = (0x3).to_bytes(8, "little")
    buf[fx + 832 : fx + 836] = FP_XSTATE_MAGIC2.to_bytes(4, "little")
    return buf


def test_valid_forged_frame_decodes_cleanly() -> None:
    f = decode_sigframe(FakeMemory(BASE, bytes(valid_x86_64_frame())), X86_64, FRAME, signo=10)
    assert f.mcontext["rip"] == 0x401234 and f.sigmask == 1 << 11
    assert f.siginfo is not None and f.siginfo.code_name == "SI_TKILL"
    assert f.fpstate is not None and f.fpstate.format == "xsave"
    # only complaint: the fake pretcode is not a restorer
    assert [p for p in f.problems if "pretcode" not in p] == []


def test_wrong_magics_are_reported() -> None:
    buf = valid_x86_64_frame()
    fx = FRAME + 456 - BASE
    buf[fx + 832 : fx + 836] = b"\xde\xad\xbe\xef"
    f = decode_sigframe(FakeMemory(BASE, bytes(buf)), X86_64, FRAME, signo=10)
    assert any("magic2" in p for p in f.problems)
    buf[fx + 464 : fx + 468] = b"\x01\x02\x03\x04"
    f = decode_sigframe(FakeMemory(BASE, bytes(buf)), X86_64, FRAME, signo=10)
    assert f.fpstate is not None and f.fpstate.format == "fxsave"
    assert any("magic1" in p for p in f.problems)


def test_fpstate_pointer_outside_memory_or_frame() -> None:
    buf = valid_x86_64_frame()
    from sigdbg.abi.x86.x86_64 import RT_SIGFRAME

    off = FRAME - BASE + RT_SIGFRAME.offset_of("uc.uc_mcontext.fpstate")
    buf[off : off + 8] = (0xDEAD0000).to_bytes(8, "little")
    f = decode_sigframe(FakeMemory(BASE, bytes(buf)), X86_64, FRAME, signo=10)
    assert f.fpstate is None and any("fpstate" in p for p in f.problems)
    buf[off : off + 8] = (FRAME + 16).to_bytes(8, "little")  # inside the frame
    f = decode_sigframe(FakeMemory(BASE, bytes(buf)), X86_64, FRAME, signo=10)
    assert any("inside or below the frame" in p for p in f.problems)


def test_unmapped_frame_address() -> None:
    with pytest.raises(MemoryReadError) as exc:
        decode_sigframe(FakeMemory(BASE, bytes(64)), X86_64, 0x10)
    assert "0x10" in str(exc.value)


@pytest.mark.parametrize("abi", [X86_64, I386], ids=["x86_64", "i386"])
def test_random_and_truncated_bytes_never_crash(abi: Abi) -> None:
    rng = random.Random(1234)
    for i in range(300):
        size = rng.choice([16, 100, 300, 440, 800, 4096])
        data = bytes(rng.getrandbits(8) for _ in range(size))
        try:
            f = decode_sigframe(FakeMemory(FRAME, data), abi, FRAME)
        except SigdbgError as exc:
            assert "\n" not in str(exc)
            continue
        f.to_json()  # the report of a garbage frame must render too
        assert f.problems, f"garbage frame {i} decoded without a single complaint"
