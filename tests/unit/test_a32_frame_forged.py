"""The AArch32 frame decoder (sigdbg/abi/arm/a32frame.py) on forged frames.

Host-side, no guest: frames built here byte by byte at the kernel's offsets
(sigdbg/abi/arm/__init__.py, checked against offsetof in the guest by
tests/arm/test_probe.py), with what a newer kernel could add (an unknown
uc_regspace record: shown, not dropped) and what a corrupt or hostile stack
gives (problems, never exceptions).  The real frames, compared with the
handler's own report, are in tests/arm/test_a32_frame.py.
"""

from __future__ import annotations

import struct

import pytest

from sigdbg.abi import ARM, arm
from sigdbg.abi.arm import frames as arm_frames
from sigdbg.abi.arm.a32frame import cpsr_names, decode_a32_frame, detect_a32_kind
from sigdbg.decode.restorer import classify_restorer
from sigdbg.errors import DecodeError, MemoryReadError
from sigdbg.render.text import render_frame

FRAME = 0xBEFF_F000
GLIBC_RT = 0x0001_5081  # Thumb: bit 0 set
OWN_ARM = 0x0001_6000
UNKNOWN = 0x4E455701


class Mem:
    """Target memory: a few byte ranges."""

    def __init__(self, *ranges: tuple[int, bytes]) -> None:
        self.ranges = ranges

    def read(self, address: int, size: int) -> bytes:
        for start, data in self.ranges:
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        raise MemoryReadError(address, size, "not mapped")

    def read_upto(self, address: int, size: int) -> bytes:
        for start, data in self.ranges:
            if start <= address < start + len(data):
                return data[address - start : address - start + size]
        return b""


def rec(magic: int, size: int, body: bytes = b"") -> bytes:
    return struct.pack("<II", magic, size) + body.ljust(size - 8, b"\0")


def vfp(fpscr: int = 0x00C00010, d16: int = 0x1616161616161616) -> bytes:
    regs = [0] * 32
    regs[16] = d16
    return rec(arm.VFP_MAGIC, 288, struct.pack("<32QI4xIII", *regs, fpscr, 1 << 30, 0, 0))


def forge(kind: arm_frames.A32FrameKind, regspace: list[bytes], *, signo: int = 10,
          cpsr: int = 0x10, sp_above: int = 0x100) -> tuple[bytes, dict[str, int]]:
    lay = kind.layout
    data = bytearray(lay.size)
    uc = kind.uc_offset
    if kind.rt:
        struct.pack_into("<iii", data, 0, signo, 0, 0)  # SI_USER
        struct.pack_into("<iI", data, 12, 4321, 1000)  # si_pid, si_uid
    else:
        struct.pack_into("<I", data, uc, arm_frames.NON_RT_UC_FLAGS)
    mc = kind.mcontext_offset
    regs = [0x01010101 * i for i in range(11)] + [0xB0, 0xC0]
    struct.pack_into("<III13IIIIII", data, mc, 0, 0, 0, *regs,
                     FRAME + lay.size + sp_above, 0x10400, 0x104D8, cpsr, 0)
    struct.pack_into("<Q", data, uc + arm.UCONTEXT.offset_of("uc_sigmask"), 1 << 10)
    rs = kind.regspace_offset
    blob = b"".join(regspace)
    data[rs : rs + len(blob)] = blob
    entry = {"r0": signo, "r1": FRAME if kind.rt else 0x11, "r2": FRAME + uc if kind.rt else 0x22,
             "sp": FRAME, "lr": GLIBC_RT, "pc": 0x10441, "cpsr": 0x30}
    return bytes(data), entry


def memory(data: bytes) -> Mem:
    glibc = bytes.fromhex("4ff0ad0700df00bf") + bytes(8)  # __default_rt_sa_restorer
    own = bytes.fromhex("7770a0e3000000ef") + bytes(8)  # mov r7, #119; svc #0 (ARM)
    return Mem((FRAME, data), (GLIBC_RT & ~1, glibc), (OWN_ARM, own))


def test_rt_frame_with_an_unknown_record() -> None:
    data, entry = forge(arm_frames.COMPAT_RT_SIGFRAME,
                        [vfp(), rec(UNKNOWN, 24, b"future"), struct.pack("<I", 0)])
    f = decode_a32_frame(memory(data), FRAME, entry_regs=entry, signo=10)
    assert f.problems == ()
    assert (f.kind, f.size, f.sig, f.handler_thumb) == ("compat_rt_sigframe", 880, 10, True)
    assert [(r.name, r.offset, r.size) for r in f.records] == [
        ("vfp", 360, 288), ("unknown", 648, 24), ("end", 672, 0)]
    unk = f.records[1]
    assert (unk.magic, unk.payload_size, unk.fields, unk.dregs) == (UNKNOWN, 16, {}, ())
    v = f.records[0]
    assert v.fields == {"fpscr": 0x00C00010, "fpexc": 1 << 30, "fpinst": 0, "fpinst2": 0}
    assert v.dregs[16] == 0x1616161616161616 and len(v.dregs) == 32
    assert (f.pc, f.sp, f.thumb) == (0x104D8, FRAME + 880 + 0x100, False)
    assert f.mcontext["arm_r7"] == 0x07070707 and f.mcontext["arm_fp"] == 0xB0
    assert list(f.mcontext) == [fld.name for fld in arm.SIGCONTEXT.fields]
    assert f.sigmask_names == ("SIGSEGV",) and f.cpsr_names == ("USR",)
    assert f.siginfo is not None and f.siginfo.fields["si_pid"] == 4321
    r = f.restorer
    assert (r.syscall, r.pattern, r.code[:6]) == (
        "rt_sigreturn", "mov.w r7, #173; svc #0 (Thumb)", bytes.fromhex("4ff0ad0700df"))
    text = render_frame(f)
    assert f"unknown   {FRAME + 648:#x} (frame+648) magic={UNKNOWN:#010x} size=24" in text
    assert "(+16 payload bytes)" in text and "!" not in text
    assert "d16 1616161616161616" in text and "(Thumb handler)" in text
    assert f.to_json()["records"][1]["name"] == "unknown"


def test_non_rt_frame_is_told_by_its_magic() -> None:
    data, entry = forge(arm_frames.COMPAT_SIGFRAME, [vfp(), struct.pack("<I", 0)], signo=12,
                        cpsr=0x30)
    assert detect_a32_kind(data) is arm_frames.COMPAT_SIGFRAME
    entry["lr"] = OWN_ARM - 0x1000  # not mapped: unknown restorer
    f = decode_a32_frame(memory(data), FRAME, entry_regs=entry, signo=12)
    assert (f.kind, f.size, f.siginfo, f.siginfo_valid) == ("compat_sigframe", 752, None, False)
    assert f.uc_flags_names == ("non-rt frame magic",)
    assert [r.offset for r in f.records] == [232, 520]  # uc_regspace at uc+232
    assert f.thumb and "T" in f.cpsr_names
    assert f.problems == (f"lr {OWN_ARM - 0x1000:#x} does not point at a known sigreturn "
                          "sequence",)
    # an own ARM restorer making sigreturn: right for a non-rt frame
    entry["lr"] = OWN_ARM
    f = decode_a32_frame(memory(data), FRAME, entry_regs=entry, signo=12)
    assert f.problems == () and f.restorer.pattern == "mov r7, #119; svc #0"


def test_broken_frame_is_problems_not_an_exception() -> None:
    # no VFP, a record of a bad size; r1/r2 elsewhere; not user mode; sp
    # below the frame; info for another signal; an rt frame whose lr makes
    # the non-rt sigreturn
    data, entry = forge(arm_frames.COMPAT_RT_SIGFRAME, [rec(UNKNOWN, 12)], cpsr=0x13,
                        sp_above=-0x400)
    entry.update(r1=0, r2=0, lr=OWN_ARM)
    data = data[:128] + struct.pack("<I", 7) + data[132:]  # uc_flags
    f = decode_a32_frame(memory(data), FRAME, entry_regs=entry, signo=12)
    got = "\n".join(f.problems)
    for want in ("has a bad size 12", "no VFP record", "r1 0x0 does not point at the info",
                 "r2 0x0 does not point at the uc", "is not user mode",
                 "is not above the frame", "the frame's si_signo 10 does not match the signal 12",
                 "makes sigreturn, but a compat_rt_sigframe needs rt_sigreturn",
                 "uc_flags 0x7 in an rt frame"):
        assert want in got, want
    assert f.siginfo_valid is False and f.cpsr_names == ("SVC",)
    assert f.uc_flags_names == ("unknown 0x7",)
    assert render_frame(f).count("  ! ") == len(f.problems)


def test_frame_at_an_address_without_entry_registers() -> None:
    data, _ = forge(arm_frames.COMPAT_RT_SIGFRAME, [vfp(), struct.pack("<I", 0)])
    f = decode_a32_frame(memory(data), FRAME)
    assert (f.sig, f.pretcode, f.restorer.kind, f.handler_thumb) == (10, 0, "unknown", None)
    assert f.problems == ()


def test_unreadable_and_misaligned() -> None:
    with pytest.raises(DecodeError, match="not readable"):
        decode_a32_frame(Mem(), FRAME)
    data, _ = forge(arm_frames.COMPAT_RT_SIGFRAME, [vfp(), struct.pack("<I", 0)])
    f = decode_a32_frame(Mem((FRAME + 4, data)), FRAME + 4)
    assert any("not 8-byte aligned" in p for p in f.problems)
    with pytest.raises(DecodeError, match="not an AArch32 frame kind"):
        decode_a32_frame(memory(data), FRAME, kind="rt_sigframe")


def test_cpsr_names() -> None:
    assert cpsr_names(0x600F0030) == ("Z", "C", "T", "USR")
    assert cpsr_names(0x00200010) == ("SS", "USR")
    assert cpsr_names(0x06000030 | 0x0400)[-2:] == ("IT=0x7", "USR")


def test_restorer_patterns_follow_the_thumb_bit() -> None:
    """The same bytes read as ARM and as Thumb: only the right set matches."""
    arm_code = bytes.fromhex("ad70a0e3000000ef")
    mem = Mem((0x1000, arm_code + bytes(8)))
    assert classify_restorer(mem, ARM, 0x1000, None, None).syscall == "rt_sigreturn"
    assert classify_restorer(mem, ARM, 0x1001, None, None).syscall is None
    thumb = Mem((0x1000, bytes.fromhex("ad2700df") + bytes(12)))
    r = classify_restorer(thumb, ARM, 0x1001, None, None)
    assert (r.syscall, r.pattern) == ("rt_sigreturn", "movs r7, #173; svc #0 (Thumb)")
    assert classify_restorer(thumb, ARM, 0x1000, None, None).syscall is None
