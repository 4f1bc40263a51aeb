"""The x86 FXSAVE / XSAVE image as the kernel writes it into signal frames.

The same image serves both ABIs: on x86_64 ``uc_mcontext.fpstate`` points at
it, on ia32 it sits 112 bytes after ``sigcontext_32.fpstate`` (behind the
legacy FSAVE header, see :mod:`sigdbg.abi.i386`).

Sources: arch/x86/include/uapi/asm/sigcontext.h (``struct _fpstate_64``,
``struct _fpx_sw_bytes``, ``struct _header``, FP_XSTATE_MAGIC1/2),
arch/x86/kernel/fpu/signal.c (``save_xstate_epilog``,
``check_xstate_in_sigframe``), arch/x86/kernel/fpu/xstate.h
(``xsave_to_user_sigframe``: standard, non-compacted format).
"""

from __future__ import annotations

from sigdbg.abi.layout import Field, Layout, fields, nested

FP_XSTATE_MAGIC1 = 0x46505853
FP_XSTATE_MAGIC2 = 0x46505845
FP_XSTATE_MAGIC2_SIZE = 4
#: offset of the XSAVE header in the image
XSAVE_HEADER_OFFSET = 512
#: offset of the first extended component (YMM_Hi128 in standard format)
XSAVE_EXTENDED_OFFSET = 576

FPX_SW_BYTES = Layout(
    "_fpx_sw_bytes",
    48,
    fields(
        ("magic1", 0, 4),
        ("extended_size", 4, 4),
        ("xfeatures", 8, 8),
        ("xstate_size", 16, 4),
        Field("padding", 20, 28, "array", count=7, elem="u"),
    ),
    source="arch/x86/include/uapi/asm/sigcontext.h struct _fpx_sw_bytes",
)

#: ``struct _fpstate_64``: the 512-byte legacy FXSAVE image
FPSTATE_64 = Layout(
    "_fpstate_64",
    512,
    fields(
        ("cwd", 0, 2),
        ("swd", 2, 2),
        ("twd", 4, 2),
        ("fop", 6, 2),
        ("rip", 8, 8),
        ("rdp", 16, 8),
        ("mxcsr", 24, 4),
        ("mxcsr_mask", 28, 4),
        # st_space/xmm_space are __u32[32]/[64] in the header; kept as raw bytes
        # here because they are read as 80-bit and 128-bit registers
        ("st_space", 32, 128, "bytes"),
        ("xmm_space", 160, 256, "bytes"),
        ("reserved2", 416, 48, "bytes"),
        nested("sw_reserved", 464, FPX_SW_BYTES),
    ),
    source="arch/x86/include/uapi/asm/sigcontext.h struct _fpstate_64",
)

#: st_space holds ST0..ST7 in 16-byte slots, each an 80-bit (10-byte) x87
#: register (``struct _fpreg``/``_fpxreg``: significand[4] + exponent);
#: xmm_space holds the 16-byte XMM registers (``struct _xmmreg``)
ST_SLOT = 16
ST_REG_SIZE = 10
XMM_REG_SIZE = 16

#: ``struct _header``: the XSAVE header that follows the FXSAVE image
XSTATE_HEADER = Layout(
    "_header",
    64,
    fields(
        ("xfeatures", 0, 8),
        Field("reserved1", 8, 16, "array", count=2, elem="u"),
        Field("reserved2", 24, 40, "array", count=5, elem="u"),
    ),
    source="arch/x86/include/uapi/asm/sigcontext.h struct _header",
)
