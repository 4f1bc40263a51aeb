"""engine/srop.py on frames laid out byte by byte: the bookkeeping of
delivered frames (consumed, replayed, overwritten, another thread's, attach)
and each rule with what the kernel does about it.  The real processes are in
tests/integration/test_srop.py; these are the cases no honest target makes."""

from __future__ import annotations

import struct

import pytest

from sigdbg.abi import X86_64
from sigdbg.abi.x86.srop import MachineFacts
from sigdbg.decode.sigframe import decode_sigframe
from sigdbg.engine.srop import SropGuard, Verdict
from tests.unit.test_forged_frames import FakeMemory

#: the host's user XCR0 (x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM), XSAVE size, MXCSR mask
FACTS = MachineFacts(0xE7, 2432, 0xFFBF, 48)
FRAME = 0x7FFE_0000_1200 - 456  #: the FP area 64-aligned, the frame 456 below (≡ 8 mod 16)
SIZE = 440  #: sizeof(struct rt_sigframe)


def sigcontext(**over: int) -> bytes:
    """struct sigcontext (arch/x86/include/uapi/asm/sigcontext.h), 256 bytes."""
    regs = dict(r8=0, r9=0, r10=0, r11=0, r12=0, r13=0, r14=0, r15=0, rdi=0, rsi=0, rbp=0,
                rbx=0, rdx=0, rax=0, rcx=0, rsp=FRAME + 3072, rip=0x401000, eflags=0x202)
    regs.update({k: v for k, v in over.items() if k in regs})
    sc = struct.pack("<18Q", *regs.values())
    sc += struct.pack("<HHHH", over.get("cs", 0x33), 0, 0, over.get("ss", 0x2B))  # cs gs fs ss
    sc += struct.pack("<5Q", 0, 0, 0, 0, over.get("fpstate", FRAME + 456))  # err..cr2, fpstate
    return sc + bytes(64)  # reserved1[8]


def fp_area(xstate_bv: int = 0xA3, magic2: int = 0x46505845, reserved: bytes = bytes(48),
            mxcsr: int = 0x1F80) -> bytes:
    """The XSAVE image the kernel writes: FXSAVE legacy part with the
    _fpx_sw_bytes at 464, the header at 512, MAGIC2 after xstate_size."""
    fx = bytearray(2432 + 4)
    struct.pack_into("<I", fx, 24, mxcsr)
    struct.pack_into("<IIQI", fx, 464, 0x46505853, 2436, 0xE7, 2432)  # magic1 ext xfeat size
    struct.pack_into("<QQ48s", fx, 512, xstate_bv, 0, reserved)
    struct.pack_into("<I", fx, 2432, magic2)
    return bytes(fx)


def frame_bytes(uc_flags: int = 7, **over: int) -> bytes:
    """struct rt_sigframe: pretcode, ucontext (flags, link, stack, mcontext,
    sigmask), info; then the 16-byte gap and the FP area at +456."""
    uc = struct.pack("<QQQi4xQ", uc_flags, 0, 0, 0, 0) + sigcontext(**over) + struct.pack("<Q", 0)
    info = struct.pack("<iii", 10, 0, -6) + bytes(116)
    return struct.pack("<Q", 0x401234) + uc + info + bytes(16)


def memory(at: int = FRAME, fp: bytes | None = None, **over: int) -> FakeMemory:
    over.setdefault("fpstate", at + 456)
    return FakeMemory({at: frame_bytes(**over) + (fp if fp is not None else fp_area())})


def deliver(guard: SropGuard, mem: FakeMemory, tid: int = 100, at: int = FRAME) -> None:
    guard.delivered(tid, decode_sigframe(mem, X86_64, at, signo=10))


def check(guard: SropGuard, mem: FakeMemory, tid: int = 100, at: int = FRAME) -> Verdict:
    return guard.check(mem, tid, "x86_64", "rt_sigframe", "rt_sigreturn", at + 8)


def codes(v: Verdict) -> list[str]:
    return [r.code for r in v.reasons]


def test_a_delivered_frame_is_honest_once_and_then_a_replay() -> None:
    g, mem = SropGuard(FACTS), memory()
    deliver(g, mem)
    v = check(g, mem)
    assert (v.built_by_delivery, v.alert, v.fatal, v.reasons) == (True, False, False, ())
    assert (v.frame, v.pc, v.sp) == (FRAME, 0x401000, FRAME + 3072)
    assert v.to_json()["rip"] == 0x401000  # the schema's key (SCHEMA_KEYS) for the field pc
    again = check(g, mem)
    assert again.alert and codes(again) == ["consumed"] and not again.fatal


def test_never_delivered_or_another_threads_frame_is_forged() -> None:
    g, mem = SropGuard(FACTS), memory()
    assert codes(check(g, mem)) == ["forged"]
    deliver(g, mem, tid=100)
    v = check(g, mem, tid=101)
    assert v.alert and codes(v) == ["other_thread"] and "thread 100" in v.reasons[0].text


def test_a_frame_written_over_an_older_one_replaces_it() -> None:
    """siglongjmp left the first handler; the next delivery reuses its stack."""
    low = FRAME - 0x100
    g = SropGuard(FACTS)
    deliver(g, memory(), at=FRAME)
    deliver(g, memory(at=low), at=low)
    assert codes(check(g, memory())) == ["forged"]
    assert not check(g, memory(at=low), at=low).alert


def test_a_frame_above_the_sp_at_attach_is_unverified_not_an_alert() -> None:
    g, mem = SropGuard(FACTS), memory()
    g.attach_sp[100] = FRAME - 64
    v = check(g, mem)
    assert not v.alert and codes(v) == ["unverified"]
    g.attach_sp[100] = FRAME + 64  # below it: made after we came, so seen if real
    assert check(g, mem).alert


@pytest.mark.parametrize(("over", "fp", "code", "fatal"), [
    ({"cs": 0x2B}, None, "cs", True),            # a data segment as cs: IRET faults
    ({"cs": 0x0}, None, "cs", True),             # the null selector (| 3)
    ({"ss": 0x0, "uc_flags": 7}, None, "ss", True),  # UC_STRICT_RESTORE_SS: kept, faults
    ({"ss": 0x0, "uc_flags": 3}, None, "ss", False),  # force_valid_ss repairs it
    ({"rip": 0x8000_0000_0000_0000}, None, "rip", True),
    ({"rip": 0xFFFF_FFFF_8100_0000}, None, "rip", True),  # canonical, kernel half
    ({"uc_flags": 1}, None, "uc_flags", False),
    ({"fpstate": FRAME + 456 + 16}, None, "fpstate", True),  # 16- not 64-aligned: XRSTOR
    ({"fpstate": 0}, None, "fpstate", False),    # NULL: the FPU is reset
    ({"fpstate": 0x10_0000}, None, "fpstate", True),  # not readable: sigreturn fails
    ({}, fp_area(xstate_bv=0xA3 | 1 << 62), "xsave", True),
    ({}, fp_area(magic2=0), "xsave", False),     # FXSAVE only
    ({}, fp_area(reserved=b"\1" + bytes(47)), "xsave", True),   # header byte 16
    ({}, fp_area(reserved=bytes(24) + b"\1" + bytes(23)), "xsave", False),  # byte 40
    ({}, fp_area(mxcsr=0x1F80 | 1 << 31), "mxcsr", True),
])
def test_the_kernels_rules(over: dict[str, int], fp: bytes | None, code: str,
                           fatal: bool) -> None:
    g, mem = SropGuard(FACTS), memory(fp=fp, **over)
    deliver(g, memory())  # the kernel's frame was there; the handler then changed it
    v = check(g, mem)
    assert v.built_by_delivery and v.alert
    mine = [r for r in v.reasons if r.code == code]
    assert mine, v.reasons
    assert any(r.fatal == fatal for r in mine), mine
    assert v.fatal == any(r.fatal for r in v.reasons)


@pytest.mark.parametrize("cs", [0x23, 0x0F])  # 32-bit code of a 64-bit program; an LDT selector
def test_selectors_the_kernel_accepts_are_not_flagged(cs: int) -> None:
    g, mem = SropGuard(FACTS), memory(cs=cs)
    deliver(g, memory())
    assert not check(g, mem).alert
