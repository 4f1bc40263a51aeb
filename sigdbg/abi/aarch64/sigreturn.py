"""How AArch64 ``rt_sigreturn`` restores what is not a plain register copy.

arch/arm64/kernel/signal.c ``sys_rt_sigreturn``: the frame is read at sp;
``restore_sigframe`` takes x0-x30, sp, pc and pstate from it, then
``valid_user_regs`` in arch/arm64/kernel/ptrace.c changes pstate: the pstate
rules are :data:`A64_PSTATE_RULES`, each named, applied by
:func:`a64_restored_pstate`.  The FP/SIMD registers are compared with the
frame's fpsimd record, and the SVE registers with its sve record
(:data:`FP_RESTORE`).  The ABI value carries these as its
``SigreturnRules`` (sigdbg/abi/aarch64/abi.py); the generic comparison is
sigdbg/decode/sigreturn_rules.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sigdbg.abi import aarch64
from sigdbg.abi.abis import FlagsRule, FpRestoreCheck

#: one way AArch64 ``rt_sigreturn`` changes pstate from the frame's
PstateRule = FlagsRule


def _genmask(hi: int, lo: int) -> int:
    """GENMASK_ULL(hi, lo): bits hi..lo set."""
    return ((1 << (hi - lo + 1)) - 1) << lo


PSTATE_SS = 1 << 21  #: DBG_SPSR_SS
PSTATE_BTYPE = 3 << 10  #: PSR_BTYPE_MASK
PSTATE_NZCV = 0xF000_0000
#: PSR_D/A/I/F_BIT, PSR_MODE32_BIT and PSR_MODE_MASK: must be 0 (EL0t, AArch64)
PSTATE_EL0T_ZERO = 0x3C0 | 0x10 | 0xF
#: SPSR_EL1_AARCH64_RES0_BITS (v6.1; bits 25/24, TCO and DIT, are the program's)
PSTATE_RES0 = (_genmask(63, 32) | _genmask(27, 26) | _genmask(23, 22) | _genmask(20, 13)
               | _genmask(5, 5))

A64_PSTATE_RULES: tuple[PstateRule, ...] = (
    PstateRule("RES0", PSTATE_RES0, "arch/arm64/kernel/ptrace.c valid_native_regs",
               "cleared (SPSR_EL1_AARCH64_RES0_BITS)"),
    PstateRule("SS", PSTATE_SS, "arch/arm64/kernel/ptrace.c user_regs_reset_single_step",
               "from the tracer's single step (TIF_SINGLESTEP), not the frame"),
    PstateRule("BTYPE", PSTATE_BTYPE, "arch/arm64/kernel/signal.c setup_return",
               "the frame's (BTYPE=C is set only at handler entry)"),
    PstateRule("EL0t", PSTATE_EL0T_ZERO, "arch/arm64/kernel/ptrace.c valid_native_regs",
               "D/A/I/F set or not EL0t: forced to NZCV and the sigreturn fails (SIGSEGV)"),
)


def a64_restored_pstate(saved: int, single_step: bool | None) -> tuple[int, int]:
    """(pstate the kernel restores from ``saved``, the bits that are known).

    ``single_step``: whether the sigreturn ran under PTRACE_SINGLESTEP
    (TIF_SINGLESTEP); None: unknown, SS is not compared."""
    want = saved & ~PSTATE_RES0
    known = (1 << 64) - 1
    if single_step is None:
        known &= ~PSTATE_SS
    elif single_step:
        want |= PSTATE_SS
    else:
        want &= ~PSTATE_SS
    if want & PSTATE_EL0T_ZERO:
        want &= PSTATE_NZCV  # invalid: the sigreturn fails after forcing it
    return want, known


#: a frame's record lookup: ``A64Frame.record(name)`` (None: no such record)
Records = Callable[[str], Any]


def restored_fp_regsets(record: Records) -> tuple[int, ...]:
    """The regsets :func:`compare_restored_fp` needs: NT_PRFPREG for the
    frame's fpsimd record, and NT_ARM_SVE when its sve record carries
    registers; none without an fpsimd record."""
    if record("fpsimd") is None:
        return ()
    sve = record("sve")
    if sve is not None and sve.zregs:
        return (aarch64.NT_PRFPREG, aarch64.NT_ARM_SVE)
    return (aarch64.NT_PRFPREG,)


def compare_restored_fp(record: Records, regsets: Mapping[int, bytes | None]
                        ) -> tuple[str, ...]:
    """The FP/SIMD (and SVE) registers after sigreturn against the frame's
    records.  One line per difference.

    fpsimd: ``restore_fpsimd_context`` loads V0-V31, FPSR and FPCR from the
    record; NT_PRFPREG is ``struct user_fpsimd_state`` (vregs[32], fpsr,
    fpcr).  sve with registers (``restore_sve_fpsimd_context``, v6.1): Z0-Z31,
    P0-P15 and FFR come from the sve record, then the fpsimd record is loaded
    too and ``fpsimd_update_current_state`` copies V0-V31 into bits 127:0 of
    Z0-Z31 (``fpsimd_to_sve``): rule :data:`SVE_LOW_FROM_FPSIMD`.
    """
    rec = record("fpsimd")
    fpregs = regsets.get(aarch64.NT_PRFPREG)
    if rec is None or fpregs is None or len(fpregs) < 520:
        return ()
    diffs: list[str] = []
    for n, want in enumerate(rec.vregs):
        got = int.from_bytes(fpregs[16 * n : 16 * n + 16], "little")
        if got != int(want, 16):
            diffs.append(f"v{n}: frame {want} restored {got:#034x}")
    for i, name in enumerate(("fpsr", "fpcr")):
        got = int.from_bytes(fpregs[512 + 4 * i : 516 + 4 * i], "little")
        if got != rec.fields.get(name):
            diffs.append(f"{name}: frame {rec.fields.get(name, 0):#x} restored {got:#x}")
    sve = record("sve")
    if sve is not None and sve.zregs:
        diffs.extend(_compare_sve(sve.fields.get("vl", 0), sve.zregs, sve.pregs, rec.vregs,
                                  regsets.get(aarch64.NT_ARM_SVE)))
    return tuple(diffs)


#: the rule by which the restored Z registers differ from the sve record
SVE_LOW_FROM_FPSIMD = ("sve: bits 127:0 of Z0-Z31 come from the fpsimd record's V0-V31 "
                       "(arch/arm64/kernel/fpsimd.c fpsimd_update_current_state)")
_V_MASK = (1 << 128) - 1


def _compare_sve(vl: int, zregs: tuple[str, ...], pregs: tuple[str, ...],
                 vregs: tuple[str, ...], raw: bytes | None) -> list[str]:
    if raw is None or len(raw) < aarch64.SVE_PT_HEADER.size:
        return ["sve: NT_ARM_SVE unreadable after sigreturn"]
    head = aarch64.SVE_PT_HEADER.decode(raw)
    got_vl, flags = head["vl"], head["flags"]
    assert isinstance(got_vl, int) and isinstance(flags, int)
    if got_vl != vl or not flags & aarch64.SVE_PT_REGS_SVE:
        return [f"sve: frame vl {vl} with registers, restored vl {got_vl} "
                f"flags {flags:#x} (SVE registers not live)"]
    vq = vl // aarch64.SVE_VQ_BYTES
    diffs: list[str] = []
    for n, z in enumerate(zregs):
        off = aarch64.sve_zreg_offset(vq, n)
        got = int.from_bytes(raw[off : off + 16 * vq], "little")
        want = int(z, 16) & ~_V_MASK | int(vregs[n], 16)  # SVE_LOW_FROM_FPSIMD
        if got != want:
            diffs.append(f"z{n}: frame {want:#x} restored {got:#x}")
    for n, p in enumerate(pregs):
        off = aarch64.sve_preg_offset(vq, n)
        got = int.from_bytes(raw[off : off + 2 * vq], "little")
        if got != int(p, 16):
            diffs.append(f"{'ffr' if n == 16 else f'p{n}'}: frame {p} restored {got:#x}")
    return diffs


#: the fpsimd and sve records against NT_PRFPREG and NT_ARM_SVE
FP_RESTORE = FpRestoreCheck(regsets=restored_fp_regsets, compare=compare_restored_fp)
