"""Signal frames forged byte by byte from the layout tables, decoded without a process.

A fake memory (address -> bytes regions, everything else unmapped) holds
frames built with ``Layout.encode`` from sigdbg.abi: valid frames of every
kind must decode to exactly the values forged into them with no problem
line; damaged ones (random bytes, a frame cut off by an unmapped page, wrong
XSAVE magics, an fpstate pointer outside/inside the frame, an unmapped frame
address) must give a clear report -- ``problems`` lines, or a SigdbgError
subclass with a one-line message -- and never any other exception.

(tests/unit/test_frame_robustness.py has the quick random/truncated checks;
this file forges complete frames field by field.)
"""

from __future__ import annotations

import json
import random
import struct

import pytest

from sigdbg.abi import I386, X86_64, Abi
from sigdbg.abi.x86 import i386 as T32
from sigdbg.abi.x86 import x86_64 as T64
from sigdbg.abi.x86.fp import (
    FP_XSTATE_MAGIC1,
    FP_XSTATE_MAGIC2,
    FPSTATE_64,
    XSTATE_HEADER,
)
from sigdbg.decode.memmap import MemoryMap, parse_maps
from sigdbg.decode.sigframe import SigFrame, decode_sigframe
from sigdbg.errors import MemoryReadError, SigdbgError


class FakeMemory:
    """Readable regions {start: bytes}; every other address is unmapped.

    Implements the backends' Memory protocol: ``read`` returns exactly
    ``size`` bytes or raises MemoryReadError, ``read_upto`` returns the
    readable prefix (possibly empty) and never raises.
    """

    def __init__(self, regions: dict[int, bytes]) -> None:
        self.regions = sorted(regions.items())

    def _chunk(self, address: int, size: int) -> bytes:
        for start, data in self.regions:
            if start <= address < start + len(data):
                off = address - start
                return data[off : off + size]
        return b""

    def read_upto(self, address: int, size: int) -> bytes:
        out = b""
        while len(out) < size:
            chunk = self._chunk(address + len(out), size - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def read(self, address: int, size: int) -> bytes:
        data = self.read_upto(address, size)
        if len(data) < size:
            raise MemoryReadError(address, size, "unmapped (fake)", got=len(data))
        return data


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, repr(text)
    return text


# ------------------------------------------------------------------------------------------
# forging: x86_64

STACK = 0x7FFD_0000_0000          # [stack] region start
STACK_SIZE = 0x4000
FRAME64 = STACK + 0x1038          # = 56 (mod 64): frame + 456 is 64-byte aligned
LIBC = 0x7F00_0000_0000
RESTORE_RT = LIBC + 0x1050        # glibc __restore_rt bytes live here
XSIZE = 832                       # legacy 512 + header 64 + YMM_Hi128 256
PRETCODE_BYTES_64 = bytes.fromhex("48c7c00f0000000f0500")

MAPS64 = parse_maps(
    f"{LIBC:x}-{LIBC + 0x2000:x} r-xp 00000000 08:01 1234 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    f"{STACK:x}-{STACK + STACK_SIZE:x} rw-p 00000000 00:00 0 [stack]\n"
)

#: every sigcontext register gets a distinct value (fpstate is set separately)
REGS64 = {name: 0x1111_0000_0000 + 0x100 * i
          for i, name in enumerate("r8 r9 r10 r11 r12 r13 r14 r15 rdi rsi rbp rbx rdx rax rcx"
                                   .split())}
REGS64.update(rip=0x5555_5555_1234, rsp=FRAME64 + 3072, eflags=0x246, cs=0x33, gs=0, fs=0,
              ss=0x2B, err=6, trapno=14, cr2=0x10, oldmask=(1 << 11) | (1 << 39))


def xmm(n: int) -> int:
    return int.from_bytes(bytes((n << 4) | i for i in range(16)), "little")


def ymm_hi(n: int) -> int:
    return int.from_bytes(bytes(0xFF ^ ((n << 4) | i) for i in range(16)), "little")


def forge_fp_area(nxmm: int, *, magic1: int = FP_XSTATE_MAGIC1,
                  magic2: int = FP_XSTATE_MAGIC2, xcomp_bv: int = 0, extra: int = 0,
                  ymm_at: int = 576) -> bytes:
    """An XSAVE image (standard format) + MAGIC2, as in arch/x86/kernel/fpu/signal.c.

    ``extra`` is what extended_size adds beyond xstate_size + 4 (112 on ia32).
    ``ymm_at`` is where the forged CPU keeps YMM_Hi128 (CPUID.(0xD,2).EBX;
    the unit tests' CPU says 576, see tests/unit/conftest.py).
    """
    xsize = ymm_at + 256
    xmm_space = b"".join(xmm(n).to_bytes(16, "little") for n in range(nxmm)).ljust(256, b"\0")
    legacy = FPSTATE_64.encode({
        "cwd": 0x37F, "swd": 0, "twd": 0, "fop": 0, "mxcsr": 0x9F80, "mxcsr_mask": 0xFFFF,
        "xmm_space": xmm_space,
        "sw_reserved": {"magic1": magic1, "extended_size": xsize + 4 + extra,
                        "xfeatures": 0x7, "xstate_size": xsize},
    })
    header = XSTATE_HEADER.encode({"xfeatures": 0x7, "reserved1": (xcomp_bv, 0),
                                   "reserved2": (0,) * 5})
    ymm = b"".join(ymm_hi(n).to_bytes(16, "little") for n in range(nxmm)).ljust(256, b"\0")
    image = (legacy + header).ljust(ymm_at, b"\xee") + ymm  # (a gap: stale bytes)
    assert len(image) == xsize
    return image + struct.pack("<I", magic2)


def siginfo64(member: str, signo: int, code: int, **fields: int) -> bytes:
    buf = bytearray(T64.SIGINFO_SIZE)
    T64.SIGINFO_HEADER.encode_into(buf, 0, {"si_signo": signo, "si_errno": 0, "si_code": code})
    T64.SIGINFO_MEMBERS[member].encode_into(buf, 0, dict(fields))
    return bytes(buf)


def forge64(*, fp_offset: int = 456, uc_stack: dict[str, int] | None = None,
            regs: dict[str, int] | None = None, info: bytes | None = None,
            fp_area: bytes | None = None, fpstate: int | None = None) -> dict[int, bytes]:
    """The [stack] region holding an rt_sigframe at FRAME64, and the libc restorer."""
    fp = FRAME64 + fp_offset
    mc = dict(REGS64 if regs is None else regs)
    mc["fpstate"] = fp if fpstate is None else fpstate
    frame = T64.RT_SIGFRAME.encode({
        "pretcode": RESTORE_RT,
        "uc": {"uc_flags": 7, "uc_link": 0,
               "uc_stack": uc_stack or {"ss_sp": 0, "ss_flags": 0, "ss_size": 0},
               "uc_mcontext": mc, "uc_sigmask": REGS64["oldmask"]},
        "info": info if info is not None else siginfo64(
            "rt", 35, -1, si_pid=4242, si_uid=1000, si_value=0x1234ABCD),
    })
    stack = bytearray(STACK_SIZE)
    stack[FRAME64 - STACK : FRAME64 - STACK + len(frame)] = frame
    area = forge_fp_area(16) if fp_area is None else fp_area
    if fp_offset >= 0 and fp - STACK + len(area) <= STACK_SIZE:
        stack[fp - STACK : fp - STACK + len(area)] = area
    return {STACK: bytes(stack), RESTORE_RT: PRETCODE_BYTES_64}


def decode64(regions: dict[int, bytes], maps: MemoryMap | None = MAPS64, **kw: object) -> SigFrame:
    return decode_sigframe(FakeMemory(regions), X86_64, FRAME64, maps=maps,
                           signo=35, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# forging: i386

STACK32 = 0xFFF0_0000
VDSO = 0xF7FC_0000
K_SIGRETURN, K_RT_SIGRETURN = VDSO + 0x600, VDSO + 0x610
FP32 = STACK32 + 0x2010            # fpstate % 64 == 16: the FXSAVE image at +112 is aligned
MAPS32 = parse_maps(
    f"{VDSO:x}-{VDSO + 0x2000:x} r-xp 00000000 00:00 0 [vdso]\n"
    f"{STACK32:x}-{STACK32 + 0x4000:x} rw-p 00000000 00:00 0 [stack]\n"
)
REGS32 = {"gs": 0x63, "fs": 0, "es": 0x2B, "ds": 0x2B, "di": 0xD1D1D1D1, "si": 0x51515151,
          "bp": 0xB0B0B0B0, "sp": FP32 + 3000, "bx": 0x1000, "dx": 0x2000, "cx": 0x3000,
          "ax": 0x4000, "trapno": 14, "err": 6, "ip": 0x0804_9038, "cs": 0x23,
          "flags": 0x10246, "sp_at_signal": FP32 + 3000, "ss": 0x2B, "cr2": 0x10}
MASK32 = (1 << 11) | (1 << 39)


def forge_fp32(magic: int = 0) -> bytes:
    head = T32.FPSTATE_32_HEADER.encode({"cw": 0x37F, "sw": 0, "tag": 0xFFFF, "magic": magic})
    return head + forge_fp_area(8, extra=112)


def forge32(kind: str, *, fsave_magic: int = 0) -> tuple[int, dict[int, bytes]]:
    stack = bytearray(0x4000)
    mc = dict(REGS32, fpstate=FP32, oldmask=MASK32 & 0xFFFFFFFF)
    if kind == "rt_sigframe_ia32":
        frame = FP32 - 276
        info = bytearray(128)
        T32.SIGINFO_HEADER.encode_into(info, 0, {"si_signo": 11, "si_errno": 0, "si_code": 1})
        T32.SIGINFO_MEMBERS["sigfault"].encode_into(info, 0, {"si_addr": 0x10})
        data = T32.RT_SIGFRAME.encode({
            "pretcode": K_RT_SIGRETURN, "sig": 11, "pinfo": frame + 16, "puc": frame + 144,
            "info": bytes(info),
            "uc": {"uc_flags": 1, "uc_link": 0,
                   "uc_stack": {"ss_sp": 0, "ss_flags": 0, "ss_size": 0},
                   "uc_mcontext": mc, "uc_sigmask": MASK32},
            "retcode": T32.RT_SIGFRAME_RETCODE,
        })
    else:
        frame = FP32 - 740
        data = T32.SIGFRAME.encode({
            "pretcode": K_SIGRETURN, "sig": 11, "sc": mc, "extramask": (MASK32 >> 32,),
            "retcode": T32.SIGFRAME_RETCODE,
        })
    assert (frame + 4) % 16 == 0
    stack[frame - STACK32 : frame - STACK32 + len(data)] = data
    fp = forge_fp32(fsave_magic)
    stack[FP32 - STACK32 : FP32 - STACK32 + len(fp)] = fp
    vdso = bytearray(0x2000)
    vdso[0x600:0x608] = bytes.fromhex("58b877000000cd80")
    vdso[0x610:0x617] = bytes.fromhex("b8ad000000cd80")
    return frame, {STACK32: bytes(stack), VDSO: bytes(vdso)}


# ------------------------------------------------------------------------------------------
# valid frames decode to exactly what was forged


def test_valid_x86_64_frame_every_field() -> None:
    f = decode64(forge64())
    assert f.problems == ()
    assert (f.abi, f.kind, f.address, f.size, f.sig) == ("x86_64", "rt_sigframe", FRAME64, 440, 35)
    assert f.pretcode == RESTORE_RT
    r = f.restorer
    assert (r.kind, r.symbol, r.syscall) == ("libc", "__restore_rt", "rt_sigreturn")
    assert r.mapping == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert f.siginfo is not None and f.siginfo_valid
    si = f.siginfo
    assert (si.si_signo, si.si_code, si.code_name, si.layout) == (35, -1, "SI_QUEUE", "rt")
    assert si.fields == {"si_pid": 4242, "si_uid": 1000, "si_value": 0x1234ABCD}
    assert f.uc_flags == 7
    assert f.uc_flags_names == ("UC_FP_XSTATE", "UC_SIGCONTEXT_SS", "UC_STRICT_RESTORE_SS")
    assert f.uc_link == 0 and f.uc_stack == {"ss_sp": 0, "ss_flags": 0, "ss_size": 0}
    assert not f.on_altstack
    assert {k: v for k, v in f.mcontext.items() if k != "fpstate"} == REGS64
    assert f.mcontext["fpstate"] == FRAME64 + 456
    assert f.pc == REGS64["rip"] and f.sp == REGS64["rsp"]
    assert f.sigmask == REGS64["oldmask"] and f.sigmask_names == ("SIGUSR2", "SIGRT_8")
    assert f.pinfo is None and f.puc is None and f.retcode is None and f.retcode_ok is None
    assert f.mcontext_address == FRAME64 + 48
    fp = f.fpstate
    assert fp is not None
    assert (fp.address, fp.fxsave_address, fp.format) == (FRAME64 + 456, FRAME64 + 456, "xsave")
    assert (fp.cwd, fp.mxcsr, fp.mxcsr_mask) == (0x37F, 0x9F80, 0xFFFF)
    assert (fp.magic1, fp.magic2) == (FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2)
    assert (fp.xstate_size, fp.extended_size, fp.size) == (XSIZE, XSIZE + 4, XSIZE + 4)
    assert (fp.xfeatures, fp.xstate_bv, fp.xcomp_bv) == (7, 7, 0)
    assert fp.xstate_components == ("x87", "sse", "ymm")
    assert list(fp.xmm) == [xmm(n) for n in range(16)]
    assert fp.ymm_hi is not None and list(fp.ymm_hi) == [ymm_hi(n) for n in range(16)]
    assert fp.ymm is not None and fp.ymm[3] == xmm(3) | ymm_hi(3) << 128
    labels = [reg.label for reg in f.regions]
    for want in ("pretcode", "uc", "uc.uc_mcontext", "uc.uc_sigmask", "info", "fpstate",
                 "red zone", "interrupted stack"):
        assert want in labels, labels
    json.dumps(f.to_json())


def test_valid_x86_64_frame_on_altstack() -> None:
    alt = {"ss_sp": STACK, "ss_flags": 0, "ss_size": STACK_SIZE}
    regs = dict(REGS64, rsp=0x7FFE_0000_8000)  # interrupted on the normal stack, far away
    f = decode64(forge64(uc_stack=alt, regs=regs))
    assert f.problems == ()
    assert f.on_altstack and f.uc_stack == alt
    # the same frame with the registered stack disabled is not "on the altstack"
    f2 = decode64(forge64(uc_stack=dict(alt, ss_flags=2), regs=regs))
    assert not f2.on_altstack


def test_valid_i386_rt_frame() -> None:
    frame, regions = forge32("rt_sigframe_ia32")
    f = decode_sigframe(FakeMemory(regions), I386, frame, maps=MAPS32, signo=11)
    assert f.problems == ()
    assert (f.kind, f.size, f.sig, f.pretcode) == ("rt_sigframe_ia32", 268, 11, K_RT_SIGRETURN)
    assert (f.pinfo, f.puc) == (frame + 16, frame + 144)
    assert f.retcode_ok is True
    assert (f.restorer.kind, f.restorer.mapping, f.restorer.syscall) == (
        "vdso", "[vdso]", "rt_sigreturn")
    si = f.siginfo
    assert si is not None and f.siginfo_valid
    assert (si.si_signo, si.code_name, si.fields) == (11, "SEGV_MAPERR", {"si_addr": 0x10})
    assert {k: v for k, v in f.mcontext.items() if k not in ("fpstate", "oldmask")} == REGS32
    assert f.pc == REGS32["ip"] and f.sp == REGS32["sp"]
    assert f.sigmask == MASK32 and f.uc_flags == 1
    fp = f.fpstate
    assert fp is not None and fp.format == "xsave"
    assert (fp.address, fp.fxsave_address) == (FP32, FP32 + 112)
    assert fp.fsave is not None and fp.fsave["magic"] == 0
    assert fp.extended_size == XSIZE + 4 + 112
    assert list(fp.xmm) == [xmm(n) for n in range(8)]
    assert fp.ymm_hi is not None and list(fp.ymm_hi) == [ymm_hi(n) for n in range(8)]
    json.dumps(f.to_json())


def test_valid_i386_sigframe() -> None:
    frame, regions = forge32("sigframe_ia32")
    f = decode_sigframe(FakeMemory(regions), I386, frame, maps=MAPS32, signo=11)
    assert f.problems == ()
    assert (f.kind, f.size, f.sig, f.pretcode) == ("sigframe_ia32", 732, 11, K_SIGRETURN)
    assert f.retcode_ok is True and f.siginfo is None and f.uc_stack is None
    assert (f.restorer.kind, f.restorer.syscall) == ("vdso", "sigreturn")
    # bits 0..31 from sc.oldmask, 32..63 from extramask[0]
    assert f.sigmask == MASK32 and f.mcontext["oldmask"] == MASK32 & 0xFFFFFFFF
    assert f.mcontext_address == frame + 8
    assert f.fpstate is not None and f.fpstate.address == frame + 740
    json.dumps(f.to_json())


def test_i386_fsave_only_area() -> None:
    """_fpstate_32.magic 0xffff: the kernel saved FSAVE data only (no FXSR CPU)."""
    frame, regions = forge32("rt_sigframe_ia32", fsave_magic=0xFFFF)
    f = decode_sigframe(FakeMemory(regions), I386, frame, maps=MAPS32, signo=11)
    assert f.fpstate is not None and f.fpstate.format == "fsave"
    assert f.fpstate.xmm == () and f.fpstate.ymm is None
    assert all("\n" not in p for p in f.problems)


# ------------------------------------------------------------------------------------------
# damaged frames: problems or a one-line SigdbgError


def test_siginfo_not_written_without_sa_siginfo() -> None:
    f = decode64(forge64(info=bytes(128)))
    assert not f.siginfo_valid and f.sig == 35
    assert any("SA_SIGINFO" in p for p in f.problems)


@pytest.mark.parametrize("readable", [0, 1, 8, 100, 312, 439])
def test_truncated_x86_64_frame_is_a_read_error(readable: int) -> None:
    regions = {FRAME64: forge64()[STACK][FRAME64 - STACK : FRAME64 - STACK + readable]}
    with pytest.raises(MemoryReadError) as exc:
        decode64({k: v for k, v in regions.items() if v})
    assert exc.value.address == FRAME64
    assert f"{FRAME64:#x}" in one_line(exc.value)


@pytest.mark.parametrize("readable,expect", [
    (440, "could not be decoded"),            # frame complete, FP area unmapped
    (456 + 300, "could not be decoded"),      # legacy area cut
    (456 + 600, "could not be decoded"),      # YMM component cut
    (456 + XSIZE + 2, "MAGIC2 unreadable"),   # everything but MAGIC2
])
def test_truncated_fp_area_is_a_problem(readable: int, expect: str) -> None:
    stack = forge64()[STACK]
    regions = {FRAME64: stack[FRAME64 - STACK : FRAME64 - STACK + readable],
               RESTORE_RT: PRETCODE_BYTES_64}
    f = decode64(regions)
    assert any(expect in p for p in f.problems), f.problems
    assert all("\n" not in p for p in f.problems)
    assert f.mcontext["rip"] == REGS64["rip"]  # the frame itself still decoded
    json.dumps(f.to_json())


@pytest.mark.parametrize("kind,readable", [("rt_sigframe_ia32", 100),
                                           ("rt_sigframe_ia32", 267),
                                           ("sigframe_ia32", 500)])
def test_truncated_i386_frame_is_a_read_error(kind: str, readable: int) -> None:
    frame, regions = forge32(kind)
    stack = regions[STACK32]
    cut = {frame: stack[frame - STACK32 : frame - STACK32 + readable], VDSO: regions[VDSO]}
    with pytest.raises(MemoryReadError) as exc:
        decode_sigframe(FakeMemory(cut), I386, frame, maps=MAPS32, signo=11)
    one_line(exc.value)


def test_wrong_magic1_means_fxsave_only() -> None:
    f = decode64(forge64(fp_area=forge_fp_area(16, magic1=0x12345678)))
    fp = f.fpstate
    assert fp is not None and fp.format == "fxsave"
    assert fp.xstate_bv is None and fp.ymm_hi is None and fp.magic2 is None
    assert list(fp.xmm) == [xmm(n) for n in range(16)]  # the legacy part is still there
    assert any("magic1 is 0x12345678" in p for p in f.problems), f.problems


def test_wrong_magic2_is_reported() -> None:
    f = decode64(forge64(fp_area=forge_fp_area(16, magic2=0xDEADBEEF)))
    fp = f.fpstate
    assert fp is not None and fp.magic2 == 0xDEADBEEF
    assert any("magic2 is 0xdeadbeef" in p for p in f.problems), f.problems


def test_compacted_xsave_is_reported() -> None:
    f = decode64(forge64(fp_area=forge_fp_area(16, xcomp_bv=1 << 63)))
    assert any("compacted" in p for p in f.problems), f.problems


@pytest.mark.parametrize("where,expect", [
    ("inside", "inside or below the frame"),
    ("below", "inside or below the frame"),
    ("far_above", "far above the frame"),
    ("unmapped", "could not be decoded"),
    ("misaligned", "not 64-byte aligned"),
])
def test_fpstate_pointer_in_odd_places(where: str, expect: str) -> None:
    offsets = {"below": -0x1000, "far_above": 456 + 0x2000, "misaligned": 456 + 8}
    if where == "unmapped":
        regions = forge64(fpstate=0xDEAD_0000)
    elif where == "inside":  # the pointer aims at the frame's own uc bytes
        regions = forge64(fpstate=FRAME64 + 8)
    else:
        off = offsets[where]
        regions = forge64(fp_offset=off)
        if off < 0:  # forge64 skips areas outside its own range: place it here
            stack = bytearray(regions[STACK])
            at = FRAME64 + off - STACK
            area = forge_fp_area(16)
            stack[at : at + len(area)] = area
            regions[STACK] = bytes(stack)
    f = decode64(regions)
    assert any(expect in p for p in f.problems), f.problems
    json.dumps(f.to_json())
    f.regions  # noqa: B018  (the stack picture must still be drawable)


def test_null_fpstate_is_no_fp_context() -> None:
    f = decode64(forge64(fpstate=0))
    assert f.fpstate is None and f.problems == ()


@pytest.mark.parametrize("address", [0x10, STACK - 0x1000, (1 << 64) - 16, (1 << 64) + 8])
def test_unmapped_frame_address(address: int) -> None:
    with pytest.raises(MemoryReadError) as exc:
        decode_sigframe(FakeMemory(forge64()), X86_64, address, maps=MAPS64)
    one_line(exc.value)


def _garbage(abi: Abi, seed: int) -> tuple[FakeMemory, int]:
    """Random bytes, with the FP pointer (sometimes magic1, pinfo/puc) aimed
    into the random buffer so the XSAVE walker runs on garbage too."""
    rng = random.Random(seed)
    base = STACK if abi is X86_64 else STACK32
    size = rng.choice([300, 600, 4096, 8192])
    data = bytearray(rng.getrandbits(8) for _ in range(size))
    frame = base + 8
    fpoff = 8 + rng.choice([0, 64, 276, 456, 740, 3000])
    if abi is X86_64:
        ptr_at, fmt = 8 + 232, "<Q"
    elif rng.random() < 0.5:
        if size >= 24:
            struct.pack_into("<II", data, 16, frame + 16, frame + 144)
        ptr_at, fmt = 8 + 240, "<I"
    else:
        ptr_at, fmt = 8 + 84, "<I"
    if ptr_at + 8 <= size:
        struct.pack_into(fmt, data, ptr_at, base + fpoff)
    fx = fpoff + (112 if abi is I386 else 0)
    if fx + 484 <= size and rng.random() < 0.7:
        struct.pack_into("<I", data, fx + 464, FP_XSTATE_MAGIC1)
        struct.pack_into("<I", data, fx + 480, rng.choice([576, 832, 2440, 100, 1 << 20,
                                                           rng.getrandbits(32)]))
    return FakeMemory({base: bytes(data)}), frame


@pytest.mark.parametrize("abi", [X86_64, I386], ids=["x86_64", "i386"])
def test_garbage_frames_give_problems_not_crashes(abi: Abi) -> None:
    decoded = errors = 0
    for seed in range(200):
        mem, frame = _garbage(abi, seed)
        try:
            f = decode_sigframe(mem, abi, frame, signo=random.Random(seed).choice([None, 10]))
        except SigdbgError as exc:
            one_line(exc)
            errors += 1
            continue
        decoded += 1
        assert f.problems, f"garbage frame (seed {seed}) decoded without a complaint"
        assert all(p and "\n" not in p for p in f.problems)
        json.dumps(f.to_json())
        f.regions  # noqa: B018
    assert decoded > 50 and errors > 0  # both outcomes were exercised


@pytest.mark.parametrize("ymm_at", [576, 640, 1088])
def test_ymm_is_read_where_the_cpu_says(forged_cpu: dict[int, tuple[int, int]],
                                        ymm_at: int) -> None:
    """The XSAVE standard format puts each component at CPUID.(0xD,i).EBX,
    which differs between CPUs (sigframe-x86.md section 7): YMM_Hi128 is read
    at the offset the CPU reports, not at a constant."""
    from sigdbg.abi.x86 import xsave

    forged_cpu[2] = (ymm_at, 256)
    base = 0x7000_0040
    area = forge_fp_area(16, ymm_at=ymm_at)
    fp = xsave.decode_fpstate(FakeMemory({base: area}), X86_64, base)
    assert fp.problems == () and fp.xstate_size == ymm_at + 256
    assert list(fp.ymm_hi or ()) == [ymm_hi(n) for n in range(16)]
    assert list(fp.xmm) == [xmm(n) for n in range(16)]


def test_ymm_offset_without_cpuid_is_the_architectural_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sigdbg.abi.x86 import xsave, xstate_layout

    monkeypatch.setattr(xstate_layout, "xstate_offsets", lambda: None)
    assert xsave.ymm_offset() == xstate_layout.YMM_OFFSET_FALLBACK == 576
