"""The FP/XSAVE area of a signal frame: a small walker over the fixed tables.

The kernel writes an XSAVE image in standard (non-compacted) format, with the
software-reserved bytes (``_fpx_sw_bytes``) at offset 464 announcing it and
FP_XSTATE_MAGIC2 right after it.  ia32 frames put a 112-byte FSAVE header in
front of it.  Sources: arch/x86/kernel/fpu/signal.c (``save_xstate_epilog``,
``check_xstate_in_sigframe``, ``copy_fpstate_to_sigframe``),
arch/x86/include/uapi/asm/sigcontext.h, arch/x86/include/asm/fpu/types.h
(``enum xfeature``).  Nothing is assumed consistent: every check that fails
becomes a line in ``problems``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sigdbg.abi.abis import Abi
from sigdbg.abi.fpview import FpView, RegGroup
from sigdbg.abi.x86 import i386 as i386_tables
from sigdbg.abi.x86 import xstate_layout
from sigdbg.abi.x86.fp import (
    FP_XSTATE_MAGIC1,
    FP_XSTATE_MAGIC2,
    FPSTATE_64,
    ST_REG_SIZE,
    ST_SLOT,
    XMM_REG_SIZE,
    XSAVE_EXTENDED_OFFSET,
    XSAVE_HEADER_OFFSET,
    XSTATE_HEADER,
)
from sigdbg.backends.base import Memory
from sigdbg.decode.model import SharedModel, internal, one_store_init
from sigdbg.errors import DecodeError, MemoryReadError
from sigdbg.names import xfeature_names

_xfeature_names = lru_cache(maxsize=64)(xfeature_names)  # pure; repeats every frame

XFEATURE_YMM = 2


def ymm_offset() -> int:
    """Where YMM_Hi128 starts in the standard-format image: CPUID.(0xD,2).EBX
    of this CPU (see :mod:`sigdbg.abi.x86.xstate_layout`), never a vendor's
    constant."""
    return xstate_layout.component_offset(XFEATURE_YMM, xstate_layout.YMM_OFFSET_FALLBACK)

#: the kernel never writes more than this (AMX tiles make ~11 KiB)
_MAX_XSTATE = 64 * 1024


@one_store_init
@dataclass(frozen=True)
class FpState(SharedModel):
    address: int  #: what the sigcontext's fpstate pointer says
    fxsave_address: int  #: where the FXSAVE image starts (fpstate + 112 on ia32)
    format: str  #: "xsave", "fxsave" or "fsave"
    fsave: dict[str, int] | None  #: ia32 legacy header (cw, sw, tag, ..., magic)
    cwd: int
    swd: int
    twd: int
    fop: int
    mxcsr: int
    mxcsr_mask: int
    st: tuple[str, ...]  #: ST0..ST7 raw 80-bit values as hex
    xmm: tuple[int, ...]  #: XMM registers as 128-bit integers
    magic1: int
    extended_size: int
    xfeatures: int  #: sw_reserved.xfeatures (what the frame may hold)
    xstate_size: int
    magic2: int | None
    xstate_bv: int | None
    xcomp_bv: int | None
    xstate_components: tuple[str, ...]
    ymm_hi: tuple[int, ...] | None  #: upper 128 bits of YMM0.. (None if absent)
    size: int  #: bytes the area occupies on the stack, MAGIC2 included
    problems: tuple[str, ...]
    #: the little-endian bytes ``xmm`` and ``ymm_hi`` were read from (16 per
    #: register), kept so that their JSON hex comes from one bytes.hex()
    #: instead of a format per register; empty when not known
    xmm_raw: bytes = internal(b"")
    ymm_hi_raw: bytes = internal(b"")

    @property
    def picture_detail(self) -> str:
        """What the stack picture says of the area."""
        return f"{self.format}, {self.xstate_size or 512} bytes + magic2"

    def _build_json(self) -> dict[str, Any]:
        out = self._fields_json(("xmm", "ymm_hi"))
        # vector registers exceed JSON's safe integers: hex strings, fixed width
        # (map over C functions: no bytecode per register)
        xmm = _hex128(self.xmm, self.xmm_raw)
        out["xmm"] = list(map(_PREFIX, xmm))
        if self.ymm_hi is None:
            out["ymm_hi"] = out["ymm"] = None
        else:
            hi = list(map(_PREFIX, _hex128(self.ymm_hi, self.ymm_hi_raw)))
            out["ymm_hi"] = hi
            # YMMn = upper half : XMMn, i.e. the two fixed-width hex strings joined
            out["ymm"] = list(map(str.__add__, hi, xmm))
        return out

    @property
    def ymm(self) -> tuple[int, ...] | None:
        if self.ymm_hi is None:
            return None
        return tuple(lo | (hi << 128) for lo, hi in zip(self.xmm, self.ymm_hi))

    def fp_view(self) -> FpView:
        """What the text shows (sigdbg/abi/fpview.py): the x87 control and
        status words and MXCSR, the ``_fpx_sw_bytes`` and XSAVE header of an
        XSAVE image, and the YMM registers when the image has their upper
        halves, else XMM."""
        notes: tuple[tuple[str, str], ...] = ()
        if self.format == "xsave":
            notes = (
                ("sw_reserved", f"magic1={self.magic1:#x} extended_size={self.extended_size} "
                                f"xfeatures={self.xfeatures:#x} xstate_size={self.xstate_size}  "
                                f"magic2={_hx(self.magic2)}"),
                ("xsave header", f"xstate_bv={_hx(self.xstate_bv)} "
                                 f"[{' '.join(self.xstate_components)}] "
                                 f"xcomp_bv={_hx(self.xcomp_bv)}"),
            )
        return FpView(self.format, (("cwd", self.cwd), ("swd", self.swd), ("mxcsr", self.mxcsr)),
                      notes, (vector_group(self.xmm, self.ymm),))


def vector_group(xmm: tuple[int, ...], ymm: tuple[int, ...] | None) -> RegGroup:
    """The widest view of the vector registers: YMM (256 bits) when known, else XMM."""
    return RegGroup("ymm", 256, ymm) if ymm is not None else RegGroup("xmm", 128, xmm)


def _hx(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


_QWORDS = {n: struct.Struct(f"<{2 * n}Q") for n in (8, 16)}


def _hex128(values: tuple[int, ...], raw: bytes) -> list[str]:
    """32 lowercase hex digits per 128-bit register, no "0x": ``f"{v:032x}"``
    of each of ``values``, taken from ``raw`` (the registers' little-endian
    bytes) when it holds exactly them -- reversed as a whole, the bytes of
    the last register come first, each most significant byte first."""
    n = len(values)
    if len(raw) != 16 * n:
        return [f"{v:032x}" for v in values]
    cuts = _CUTS.get(n)
    if cuts is None:
        cuts = _CUTS[n] = tuple(slice(i, i + 32) for i in range(32 * (n - 1), -1, -32))
    return list(map(raw[::-1].hex().__getitem__, cuts))


_PREFIX = "0x".__add__
#: register count -> the slices of the reversed hex that are its registers, in order
_CUTS: dict[int, tuple[slice, ...]] = {}


def _regs128(data: bytes, off: int, count: int) -> tuple[int, ...]:
    """``count`` little-endian 128-bit registers starting at ``off``."""
    q = _QWORDS[count].unpack_from(data, off)
    return tuple([q[i] | q[i + 1] << 64 for i in range(0, 2 * count, 2)])


class _Blob:
    """Memory that is exactly ``data`` at ``base``: anything else is unreadable."""

    def __init__(self, base: int, data: bytes) -> None:
        self.base = base
        self.data = data

    def read(self, address: int, size: int) -> bytes:
        off = address - self.base
        if off < 0 or off + size > len(self.data):
            raise MemoryReadError(address, size, "outside the FP area")
        return self.data[off : off + size]

    def read_upto(self, address: int, size: int) -> bytes:
        off = address - self.base
        return self.data[off : off + size] if off >= 0 else b""


_XMM_OFF = FPSTATE_64["xmm_space"].offset
_ST_OFFS = tuple(range(FPSTATE_64["st_space"].offset, FPSTATE_64["st_space"].end, ST_SLOT))
_SW_BYTES = struct.Struct("<IIQI")  # magic1, extended_size, xfeatures, xstate_size
_SW_OFFSET = FPSTATE_64.offset_of("sw_reserved")


def fpstate_extent(abi: Abi, head: bytes) -> int:
    """Bytes the decoder will look at, from the FP area's start.

    ``head`` is the area's first ``XSAVE_EXTENDED_OFFSET`` bytes (plus the
    ia32 FSAVE header).  What :func:`decode_fpstate` reads lies inside this
    extent: the legacy area and header, the YMM upper halves, MAGIC2.
    """
    hdr = i386_tables.FXSAVE_OFFSET if abi.name == "i386" else 0
    end = hdr + XSAVE_EXTENDED_OFFSET
    if len(head) >= end:
        magic1, _, _, xsize = _SW_BYTES.unpack_from(head, hdr + _SW_OFFSET)
        if magic1 == FP_XSTATE_MAGIC1 and XSAVE_EXTENDED_OFFSET <= xsize <= _MAX_XSTATE:
            end = hdr + max(xsize + 4, ymm_offset() + 16 * 16)
    return end


@lru_cache(maxsize=64)
def _decode_blob(abi: Abi, fpstate: int, blob: bytes) -> FpState:
    # A pure function of the area's bytes and address: frames that repeat an
    # FP state (a signal storm, a periodic timer) share one decoded object.
    return _decode(_Blob(fpstate, blob), abi, fpstate)


#: fpstate address -> (abi, the area's bytes, its decode): the last area seen
#: at each address, checked by comparing bytes in place (no hashing, no copy)
_LAST_AREA: dict[int, tuple[Abi, bytes, FpState]] = {}
_LAST_AREA_MAX = 64


def decode_fpstate_in(abi: Abi, data: bytes, offset: int, fpstate: int) -> FpState | None:
    """decode_fpstate for an area at ``data[offset:]`` (part of a bulk read).

    None when the area does not lie whole inside ``data`` (the caller then
    reads it from the target).  An area whose bytes equal the last one
    decoded at the same address is that decode: the extent is a function of
    the area's head, which is part of the bytes compared.  Raises like
    :func:`decode_fpstate`.
    """
    if offset < 0:  # (a negative start would count from the end of data)
        return None
    last = _LAST_AREA.get(fpstate)
    if last is not None and last[0] is abi and data.startswith(last[1], offset):
        return last[2]
    hdr = i386_tables.FXSAVE_OFFSET + XSAVE_EXTENDED_OFFSET
    extent = fpstate_extent(abi, data[offset : offset + hdr])
    if offset + extent > len(data):
        return None
    blob = data[offset : offset + extent]
    fps = _decode_blob(abi, fpstate, blob)
    if len(_LAST_AREA) >= _LAST_AREA_MAX:
        _LAST_AREA.clear()
    _LAST_AREA[fpstate] = (abi, blob, fps)
    return fps


def decode_fpstate(mem: Memory, abi: Abi, fpstate: int) -> FpState:
    """Decode the FP area that ``sigcontext.fpstate`` points at.

    The area is read once (its extent comes from its own sw_reserved bytes)
    and decoded from that copy; an area that cannot be read whole is decoded
    piecewise from ``mem`` so the error names the part that failed.
    """
    head = mem.read_upto(fpstate, i386_tables.FXSAVE_OFFSET + XSAVE_EXTENDED_OFFSET)
    extent = fpstate_extent(abi, head)
    blob = mem.read_upto(fpstate, extent)
    if len(blob) == extent:
        return _decode_blob(abi, fpstate, blob)
    return _decode(mem, abi, fpstate)


def _decode(mem: Memory, abi: Abi, fpstate: int) -> FpState:
    problems: list[str] = []
    fsave = None
    fx = fpstate
    if abi.name == "i386":
        hdr_bytes = mem.read(fpstate, i386_tables.FPSTATE_32_HEADER.size)
        fsave = {
            k: v for k, v in i386_tables.FPSTATE_32_HEADER.decode(hdr_bytes).items()
            if isinstance(v, int)
        }
        if fsave["magic"] == 0xFFFF:
            return FpState(
                fpstate, fpstate, "fsave", fsave, fsave["cw"], fsave["sw"], fsave["tag"], 0, 0,
                0, (), (), 0, 0, 0, 0, None, None, None, (), None, 112,
                ("FSAVE data only (magic 0xffff): no SSE state",),
            )
        if fsave["magic"] != i386_tables.X86_FXSR_MAGIC:
            problems.append(f"_fpstate_32.magic is {fsave['magic']:#x}, expected 0 or 0xffff")
        fx = fpstate + i386_tables.FXSAVE_OFFSET
    if fx % 64:
        problems.append(f"FXSAVE image at {fx:#x} is not 64-byte aligned")
    base = mem.read(fx, XSAVE_EXTENDED_OFFSET)
    legacy, sw = FPSTATE_64.int_members("", "sw_reserved")(base, 0)
    magic1 = sw["magic1"]
    ext_size = sw["extended_size"]
    xfeat = sw["xfeatures"]
    xsize = sw["xstate_size"]
    nxmm = 16 if abi.bits == 64 else 8
    xmm_raw = base[_XMM_OFF : _XMM_OFF + XMM_REG_SIZE * nxmm]
    xmm = _regs128(xmm_raw, 0, nxmm)
    st = tuple([base[o : o + ST_REG_SIZE][::-1].hex() for o in _ST_OFFS])
    magic2 = xstate_bv = xcomp_bv = None
    comps: tuple[str, ...] = ()
    ymm_hi = None
    hi = b""
    size = 512 + (112 if fsave is not None else 0)
    fmt = "fxsave"
    if magic1 == FP_XSTATE_MAGIC1:
        fmt = "xsave"
        if not XSAVE_EXTENDED_OFFSET <= xsize <= _MAX_XSTATE:
            problems.append(f"xstate_size {xsize} is implausible")
        else:
            expect_ext = xsize + 4 + (112 if fsave is not None else 0)
            if ext_size != expect_ext:
                problems.append(f"extended_size {ext_size} != xstate_size + magic2 ({expect_ext})")
            try:
                (magic2,) = struct.unpack("<I", mem.read(fx + xsize, 4))
            except MemoryReadError as exc:
                problems.append(f"MAGIC2 unreadable: {exc}")
            if magic2 is not None and magic2 != FP_XSTATE_MAGIC2:
                problems.append(f"magic2 is {magic2:#x}, expected {FP_XSTATE_MAGIC2:#x}")
            hdr = XSTATE_HEADER.decode(base, XSAVE_HEADER_OFFSET)
            xstate_bv = int(hdr["xfeatures"])  # type: ignore[arg-type]
            reserved1 = hdr["reserved1"]
            assert isinstance(reserved1, tuple)
            xcomp_bv = int(reserved1[0])
            comps = _xfeature_names(xstate_bv)
            if xcomp_bv:
                problems.append(f"xcomp_bv {xcomp_bv:#x}: compacted format is not used in frames")
            if xstate_bv & ~xfeat:
                problems.append("xstate_bv has components that sw_reserved.xfeatures lacks")
            ymm_off = ymm_offset()
            if xfeat & (1 << XFEATURE_YMM) and xsize >= ymm_off + 256:
                if xstate_bv & (1 << XFEATURE_YMM):
                    hi = mem.read(fx + ymm_off, XMM_REG_SIZE * nxmm)
                    ymm_hi = _regs128(hi, 0, nxmm)
                else:
                    ymm_hi = (0,) * nxmm  # init state: architecturally zero
            size = ext_size
    elif magic1 != 0:
        problems.append(f"magic1 is {magic1:#x}: not FP_XSTATE_MAGIC1, treating as FXSAVE only")

    return FpState(
        address=fpstate,
        fxsave_address=fx,
        format=fmt,
        fsave=fsave,
        cwd=legacy["cwd"],
        swd=legacy["swd"],
        twd=legacy["twd"],
        fop=legacy["fop"],
        mxcsr=legacy["mxcsr"],
        mxcsr_mask=legacy["mxcsr_mask"],
        st=st,
        xmm=xmm,
        magic1=magic1,
        extended_size=ext_size,
        xfeatures=xfeat,
        xstate_size=xsize,
        magic2=magic2,
        xstate_bv=xstate_bv,
        xcomp_bv=xcomp_bv,
        xstate_components=comps,
        ymm_hi=ymm_hi,
        size=size,
        problems=tuple(problems),
        xmm_raw=xmm_raw,
        ymm_hi_raw=hi,
    )


def fpstate_value_fields(fp: FpState, abi: Abi, base: int
                         ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(values, reads) of a decoded FP area, as (offset, size) from ``base``
    (where ``fp.address`` lies in the caller's buffer): ``reads`` is every
    byte :func:`_decode` looks at; ``values`` the registers among them that it
    only copies to its output (ST0..7, every XMM slot, the YMM upper halves),
    never tests -- the C trace loop's template holes (engine/fastpath.py)."""
    values: list[tuple[int, int]] = []
    reads: list[tuple[int, int]] = []
    if fp.format == "fsave" or abi.name == "i386":
        reads.append((base, i386_tables.FPSTATE_32_HEADER.size))
    if fp.format == "fsave":
        return values, reads
    fx = base + fp.fxsave_address - fp.address
    reads.append((fx, XSAVE_EXTENDED_OFFSET))
    st = FPSTATE_64["st_space"]
    values += [(fx + o, ST_REG_SIZE) for o in range(st.offset, st.end, ST_SLOT)]
    xmm = FPSTATE_64["xmm_space"]
    values += [(fx + o, XMM_REG_SIZE) for o in range(xmm.offset, xmm.end, XMM_REG_SIZE)]
    if fp.format == "xsave":
        if fp.magic2 is not None:
            reads.append((fx + fp.xstate_size, 4))
        if fp.ymm_hi_raw:
            at = fx + ymm_offset()
            reads.append((at, len(fp.ymm_hi_raw)))
            values += [(at + o, XMM_REG_SIZE)
                       for o in range(0, len(fp.ymm_hi_raw), XMM_REG_SIZE)]
    return values, reads


def try_decode_fpstate(mem: Memory, abi: Abi, fpstate: int) -> tuple[FpState | None, str | None]:
    """decode_fpstate, with failures turned into a one-line reason."""
    if fpstate == 0:
        return None, None
    try:
        return decode_fpstate(mem, abi, fpstate), None
    except (MemoryReadError, DecodeError) as exc:
        return None, f"fpstate at {fpstate:#x} could not be decoded: {exc}"


def fp_changes(before: FpState, after: FpState) -> list[tuple[str, int, int]]:
    """(name, old, new) of what a handler changed in the FP area: the XMM
    registers, MXCSR and the x87 control word (what sigreturn restores)."""
    out = [(f"xmm{i}", x, y) for i, (x, y) in enumerate(zip(before.xmm, after.xmm)) if x != y]
    if before.mxcsr != after.mxcsr:
        out.append(("mxcsr", before.mxcsr, after.mxcsr))
    if before.cwd != after.cwd:
        out.append(("cwd", before.cwd, after.cwd))
    return out


def fp_value_json(name: str, value: int) -> int | str:
    """A changed value as JSON: a 128-bit vector register exceeds every JSON
    integer, so it is the fixed-width hex string the fpstate object uses
    ("0x" + 32 digits)."""
    return f"{value:#034x}" if name.startswith("fpstate.xmm") else value
