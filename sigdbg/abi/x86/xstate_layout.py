"""Where the XSAVE components sit in a signal frame's FP area: CPUID leaf 0xD.

The kernel saves the FP state into signal frames with XSAVE in the standard
(non-compacted) format (arch/x86/kernel/fpu/xstate.h
``xsave_to_user_sigframe``), and in that format component *i* >= 2 lies at
CPUID.(EAX=0DH, ECX=i).EBX from the start of the image (Intel SDM vol. 1,
13.4.3; the kernel's own table is ``xstate_offsets[]``, filled from the same
leaf in arch/x86/kernel/fpu/xstate.c ``setup_xstate_cache``).  The frame only
says which components it may hold and how big the image is
(``_fpx_sw_bytes``), not where they are, and the offsets differ between CPUs
(AVX-512: 832/896/1408 on AMD, 1088/1152/1664 on Intel).  A live target runs
on this CPU, so this CPU's CPUID is the truth for its frames.

CPUID is one unprivileged instruction; Python has no binding for it, so it is
run as a 28-byte machine-code function in an anonymous executable mapping
(the py-cpuinfo approach).  Where that is impossible (another architecture,
a policy that forbids executable mappings) the offsets are unknown and the
decoder falls back to the only one it needs, YMM_Hi128, at 576 -- the
offset every x86 CPU to date reports (legacy area 512 + XSAVE header 64).
"""

from __future__ import annotations

import ctypes
import mmap
import platform
from collections.abc import Callable
from functools import cache
from typing import Any

#: push %rbx; mov %edi,%eax; mov %esi,%ecx; mov %rdx,%r8; cpuid;
#: mov %eax,(%r8); mov %ebx,4(%r8); mov %ecx,8(%r8); mov %edx,12(%r8);
#: pop %rbx; ret   -- void cpuid(u32 leaf, u32 subleaf, u32 out[4]) (SysV x86_64)
_CPUID_CODE = bytes.fromhex("5389f889f14989d00fa241890041895804418948084189500c5bc3")

#: standard-format offset of YMM_Hi128 when CPUID cannot be asked
YMM_OFFSET_FALLBACK = 576

_CpuidFn = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32,
                            ctypes.POINTER(ctypes.c_uint32))


@cache
def _cpuid_function() -> tuple[mmap.mmap, Callable[..., Any]] | None:
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE,
                         prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    page.write(_CPUID_CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    # (the mapping is kept alive with the function: both are cached for good)
    fn: Callable[..., Any] = _CpuidFn(address)
    return page, fn


def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int] | None:
    """(eax, ebx, ecx, edx) of CPUID on this CPU, or None when not available."""
    fn = _cpuid_function()
    if fn is None:
        return None
    out = (ctypes.c_uint32 * 4)()
    fn[1](leaf, subleaf, out)
    return out[0], out[1], out[2], out[3]


@cache
def xstate_offsets() -> dict[int, tuple[int, int]] | None:
    """Component number -> (standard-format offset, size) for every user
    component this CPU supports (CPUID.(0xD,0) EDX:EAX), or None when CPUID
    cannot be asked.  Components 0 and 1 (x87, SSE) are the legacy area."""
    leaf0 = cpuid(0xD, 0)
    if leaf0 is None:
        return None
    supported = leaf0[0] | (leaf0[3] << 32)
    out: dict[int, tuple[int, int]] = {0: (0, 160), 1: (160, 256)}
    for i in range(2, 64):
        if supported & (1 << i):
            sub = cpuid(0xD, i)
            if sub is not None and sub[0]:
                out[i] = (sub[1], sub[0])  # (EBX offset, EAX size)
    return out


def component_offset(i: int, fallback: int) -> int:
    """Where component ``i`` starts in the standard-format image."""
    offsets = xstate_offsets()
    if offsets is None or i not in offsets:
        return fallback
    return offsets[i][0]
