"""XMM/YMM registers for ``regs --fp``: from the live NT_X86_XSTATE regset or a frame's fpstate.

The regset is a standard-format XSAVE image like the one in a signal frame,
except that bytes 464..471 hold XCR0 instead of ``_fpx_sw_bytes``
(shared/reference/ptrace-notes.md section 5), so :func:`decode_fpstate` (which
insists on FP_XSTATE_MAGIC1 there) does not apply.  The bytes are decoded
through the same tables (:mod:`sigdbg.abi.x86.fp`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sigdbg.abi.abis import Abi
from sigdbg.abi.fpview import FpView
from sigdbg.abi.x86.fp import (
    FPSTATE_64,
    XSAVE_EXTENDED_OFFSET,
    XSAVE_HEADER_OFFSET,
    XSTATE_HEADER,
)
from sigdbg.abi.x86.xsave import XFEATURE_YMM, FpState, vector_group, ymm_offset
from sigdbg.decode.model import Model
from sigdbg.errors import DecodeError

#: where the regset keeps XCR0 (the frame keeps _fpx_sw_bytes there)
_XCR0_OFFSET = 464


@dataclass(frozen=True)
class VectorRegisters(Model):
    source: str  #: "NT_X86_XSTATE" or "frame fpstate at 0x..."
    mxcsr: int
    xmm: tuple[int, ...]
    ymm: tuple[int, ...] | None  #: full 256-bit values when the image has YMM state

    def fp_view(self) -> FpView:
        """What ``regs --fp`` shows (sigdbg/abi/fpview.py): MXCSR, then every
        YMM register when the image has YMM state, else every XMM one."""
        return FpView("", (("mxcsr", self.mxcsr),), (), (vector_group(self.xmm, self.ymm),))


def _u128(data: bytes, off: int) -> int:
    lo, hi = struct.unpack_from("<QQ", data, off)
    return int(lo | (hi << 64))


def from_regset(raw: bytes, abi: Abi) -> VectorRegisters:
    """Decode the NT_X86_XSTATE regset (or a 512-byte FXSAVE image)."""
    if len(raw) < FPSTATE_64.size:
        raise DecodeError(f"the XSTATE regset has {len(raw)} bytes, need {FPSTATE_64.size}")
    legacy = FPSTATE_64.decode(raw)
    n = 16 if abi.bits == 64 else 8
    xmm = tuple(_u128(raw, 160 + 16 * i) for i in range(n))
    ymm = None
    if len(raw) >= XSAVE_EXTENDED_OFFSET:
        (xcr0,) = struct.unpack_from("<Q", raw, _XCR0_OFFSET)
        bv = XSTATE_HEADER.decode(raw, XSAVE_HEADER_OFFSET)["xfeatures"]
        assert isinstance(bv, int)
        if xcr0 & (1 << XFEATURE_YMM):
            off = ymm_offset()  # standard format: this CPU's CPUID.(0xD,2).EBX
            if bv & (1 << XFEATURE_YMM) and len(raw) >= off + 16 * n:
                hi = tuple(_u128(raw, off + 16 * i) for i in range(n))
            else:
                hi = (0,) * n  # init state: architecturally zero
            ymm = tuple(lo | (h << 128) for lo, h in zip(xmm, hi))
    mxcsr = legacy["mxcsr"]
    assert isinstance(mxcsr, int)
    return VectorRegisters("NT_X86_XSTATE", mxcsr, xmm, ymm)


def from_fpstate(fp: FpState) -> VectorRegisters:
    return VectorRegisters(f"frame fpstate at {fp.address:#x}", fp.mxcsr, fp.xmm, fp.ymm)
