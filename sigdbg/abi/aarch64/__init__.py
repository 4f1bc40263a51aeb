"""AArch64 layouts: registers, ucontext, sigcontext, rt_sigframe, __reserved records.

Sources (Linux v6.1, records up to v7.2):
arch/arm64/kernel/signal.c (``struct rt_sigframe``, ``struct frame_record``,
``setup_sigframe_layout``: the record order and sizes),
arch/arm64/include/uapi/asm/sigcontext.h (``struct sigcontext``,
``struct _aarch64_ctx`` and every ``*_context`` record with its magic),
arch/arm64/include/uapi/asm/ucontext.h (``struct ucontext``),
arch/arm64/include/uapi/asm/ptrace.h (``struct user_pt_regs``, NT_PRSTATUS),
arch/arm64/include/uapi/asm/sve_context.h (SVE register offsets),
include/uapi/asm-generic/siginfo.h (``siginfo_t``: the generic 64-bit
layout, sigdbg/abi/generic.py), arch/arm64/kernel/vdso/sigreturn.S.

Checked against ``offsetof`` from targets/arm/abi.probe.c built with
aarch64-linux-gnu-gcc and run on the real arm64 kernel in the QEMU guest
(tests/arm/test_probe.py).  Its ``Abi`` value is ``AARCH64`` in sigdbg/abi/aarch64/abi.py.
"""

from __future__ import annotations

from sigdbg.abi import generic
from sigdbg.abi.layout import Field, Layout, fields, nested

#: NT_PRSTATUS of an AArch64 task.
USER_REGS = Layout(
    "user_pt_regs",
    272,
    fields(
        Field("regs", 0, 248, "array", count=31, elem="u"),
        ("sp", 248, 8),
        ("pc", 256, 8),
        ("pstate", 264, 8),
    ),
    source="arch/arm64/include/uapi/asm/ptrace.h struct user_pt_regs",
)

#: The same 272 bytes with one field per register, as the registers are named
#: (x0-x30, sp, pc, pstate; gdb's names): the ``user_regs`` of the ``Abi``.
REGISTERS = Layout(
    "user_pt_regs",
    272,
    fields(*((f"x{i}", 8 * i, 8) for i in range(31)), ("sp", 248, 8), ("pc", 256, 8),
           ("pstate", 264, 8)),
    source="arch/arm64/include/uapi/asm/ptrace.h struct user_pt_regs (regs[n] as xn)",
)

#: stack_t and siginfo_t are the generic 64-bit ones (asm-generic).
STACK_T = generic.STACK_T_64
SIGINFO_HEADER = generic.SIGINFO64_HEADER
SIGINFO_MEMBERS = generic.SIGINFO64_MEMBERS
SIGINFO_SIZE = generic.SIGINFO_SIZE

#: Size of ``sigcontext.__reserved``, where the records live.
RESERVED_SIZE = 4096

SIGCONTEXT = Layout(
    "sigcontext",
    4384,
    fields(
        ("fault_address", 0, 8),
        Field("regs", 8, 248, "array", count=31, elem="u"),
        ("sp", 256, 8),
        ("pc", 264, 8),
        ("pstate", 272, 8),
        # 16-byte aligned: 8 bytes of padding after pstate
        ("__reserved", 288, RESERVED_SIZE, "bytes"),
    ),
    source="arch/arm64/include/uapi/asm/sigcontext.h struct sigcontext",
)

UCONTEXT = Layout(
    "ucontext",
    4560,
    fields(
        ("uc_flags", 0, 8),
        ("uc_link", 8, 8, "ptr"),
        nested("uc_stack", 16, STACK_T),
        ("uc_sigmask", 40, 8),
        # pads uc_sigmask to glibc's 1024-bit sigset_t
        ("__unused", 48, 120, "bytes"),
        nested("uc_mcontext", 176, SIGCONTEXT),
    ),
    source="arch/arm64/include/uapi/asm/ucontext.h struct ucontext",
)

RT_SIGFRAME = Layout(
    "rt_sigframe",
    4688,
    fields(
        ("info", 0, 128, "bytes"),
        nested("uc", 128, UCONTEXT),
    ),
    source="arch/arm64/kernel/signal.c struct rt_sigframe",
)

#: {interrupted x29, interrupted x30}, right after the rt_sigframe (and any
#: extra space): x29 points here at handler entry.
FRAME_RECORD = Layout(
    "frame_record",
    16,
    fields(("fp", 0, 8, "ptr"), ("lr", 8, 8, "ptr")),
    source="arch/arm64/kernel/signal.c struct frame_record",
)

#: Offset of ``__reserved`` (the first record) in the frame: 128 + 176 + 288.
RESERVED_OFFSET = RT_SIGFRAME.offset_of("uc.uc_mcontext.__reserved")

# -- the __reserved records ----------------------------------------------------

CTX_HEADER = Layout(
    "_aarch64_ctx",
    8,
    fields(("magic", 0, 4), ("size", 4, 4)),
    source="arch/arm64/include/uapi/asm/sigcontext.h struct _aarch64_ctx",
)


def _record(name: str, size: int, *specs: tuple[str, int, int] | tuple[str, int, int, str] | Field,
            since: str = "") -> Layout:
    src = f"arch/arm64/include/uapi/asm/sigcontext.h struct {name}"
    return Layout(name, size, (nested("head", 0, CTX_HEADER), *fields(*specs)),
                  source=src + (f" (since {since})" if since else ""))


FPSIMD_CONTEXT = _record(
    "fpsimd_context", 528, ("fpsr", 8, 4), ("fpcr", 12, 4),
    # 32 x __uint128_t, native (little-endian) order: see vregs()
    ("vregs", 16, 512, "bytes"),
)
ESR_CONTEXT = _record("esr_context", 16, ("esr", 8, 8))
EXTRA_CONTEXT = _record(
    "extra_context", 32, ("datap", 8, 8, "ptr"), ("size", 16, 4),
    Field("__reserved", 20, 12, "array", count=3, elem="u"),
)
SVE_CONTEXT = _record(
    "sve_context", 16, ("vl", 8, 2), ("flags", 10, 2),
    Field("__reserved", 12, 4, "array", count=2, elem="u"),
)
ZA_CONTEXT = _record(
    "za_context", 16, ("vl", 8, 2), Field("__reserved", 10, 6, "array", count=3, elem="u"),
    since="v5.19",
)
TPIDR2_CONTEXT = _record("tpidr2_context", 16, ("tpidr2", 8, 8), since="v6.3")
ZT_CONTEXT = _record(
    "zt_context", 16, ("nregs", 8, 2), Field("__reserved", 10, 6, "array", count=3, elem="u"),
    since="v6.3",
)
FPMR_CONTEXT = _record("fpmr_context", 16, ("fpmr", 8, 8), since="v6.9")
POE_CONTEXT = _record("poe_context", 16, ("por_el0", 8, 8), since="v6.12")
GCS_CONTEXT = _record(
    "gcs_context", 32, ("gcspr", 8, 8, "ptr"), ("features_enabled", 16, 8), ("reserved", 24, 8),
    since="v6.13",
)

FPSIMD_MAGIC = 0x46508001
ESR_MAGIC = 0x45535201
EXTRA_MAGIC = 0x45585401
SVE_MAGIC = 0x53564501
ZA_MAGIC = 0x54366345
TPIDR2_MAGIC = 0x54504902
ZT_MAGIC = 0x5A544E01
FPMR_MAGIC = 0x46504D52
POE_MAGIC = 0x504F4530
GCS_MAGIC = 0x47435300

#: magic -> the record's fixed part (payloads beyond it, e.g. SVE Z/P
#: registers or ZA rows, follow at offsets given by the helpers below).
RECORDS: dict[int, Layout] = {
    FPSIMD_MAGIC: FPSIMD_CONTEXT,
    ESR_MAGIC: ESR_CONTEXT,
    EXTRA_MAGIC: EXTRA_CONTEXT,
    SVE_MAGIC: SVE_CONTEXT,
    ZA_MAGIC: ZA_CONTEXT,
    TPIDR2_MAGIC: TPIDR2_CONTEXT,
    ZT_MAGIC: ZT_CONTEXT,
    FPMR_MAGIC: FPMR_CONTEXT,
    POE_MAGIC: POE_CONTEXT,
    GCS_MAGIC: GCS_CONTEXT,
}

#: sve_context.flags bit 0: the record describes streaming mode (SME).
SVE_SIG_FLAG_SM = 0x1
SVE_VQ_BYTES = 16


def vregs(fpsimd: bytes) -> tuple[int, ...]:
    """V0-V31 as 128-bit integers from ``fpsimd_context.vregs`` (native order)."""
    return tuple(int.from_bytes(fpsimd[16 * i : 16 * i + 16], "little") for i in range(32))


def sve_sig_context_size(vq: int) -> int:
    """SVE_SIG_CONTEXT_SIZE(vq): the record size when the Z/P/FFR registers
    are present (sve_context.h: 16 + 32 Z of 16*vq + 16 P and FFR of 2*vq)."""
    return 16 + 32 * 16 * vq + 17 * 2 * vq


def sve_zreg_offset(vq: int, n: int) -> int:
    """Offset of Z<n> from the start of the sve record."""
    return 16 + 16 * vq * n


def sve_preg_offset(vq: int, n: int) -> int:
    """Offset of P<n> (n = 16 is FFR) from the start of the sve record."""
    return 16 + 512 * vq + 2 * vq * n


#: ``mov x8, #139; svc #0``: __kernel_rt_sigreturn in the vDSO (find it by
#: symbol, never by offset: 0x7bc on 6.1, 0x820 on 7.2).
RT_SIGRETURN_NR = 139
RT_SIGRETURN_CODE = bytes.fromhex("681180d2010000d4")

#: ``svc #0``: the system-call instruction (what the sigreturn walk steps over)
SVC_0 = bytes.fromhex("010000d4")

#: regset notes of the FP/SIMD and SVE state (include/uapi/linux/elf.h)
NT_PRFPREG = 2
NT_ARM_SVE = 0x405
#: struct user_sve_header (arch/arm64/include/uapi/asm/ptrace.h): size,
#: max_size, vl, max_vl, flags, reserved; flags & 1 (SVE_PT_REGS_SVE): the
#: registers follow in the signal frame's layout (SVE_PT_SVE_OFFSET = 16 =
#: SVE_SIG_REGS_OFFSET), else a user_fpsimd_state
SVE_PT_HEADER = Layout(
    "user_sve_header",
    16,
    fields(("size", 0, 4), ("max_size", 4, 4), ("vl", 8, 2), ("max_vl", 10, 2),
           ("flags", 12, 2), ("__reserved", 14, 2)),
    source="arch/arm64/include/uapi/asm/ptrace.h struct user_sve_header",
)
SVE_PT_REGS_SVE = 1


#: pstate bits worth a name (arch/arm64/include/uapi/asm/ptrace.h)
PSTATE_BITS: tuple[tuple[int, str], ...] = (
    (1 << 31, "N"), (1 << 30, "Z"), (1 << 29, "C"), (1 << 28, "V"),
    (1 << 21, "SS"), (1 << 12, "SSBS"), (1 << 9, "D"), (1 << 8, "A"),
    (1 << 7, "I"), (1 << 6, "F"),
)


def pstate_names(pstate: int) -> tuple[str, ...]:
    """Named PSTATE bits, plus BTYPE when non-zero (bits 11:10) and the mode
    (bits 3:0, EL0t = 0 for a user task)."""
    names = [n for bit, n in PSTATE_BITS if pstate & bit]
    btype = (pstate >> 10) & 3
    if btype:
        names.append(f"BTYPE={btype}")
    names.append("EL0t" if pstate & 0xF == 0 else f"mode={pstate & 0xF:#x}")
    return tuple(names)
