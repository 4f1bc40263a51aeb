"""How a compat (AArch32) ``sigreturn`` restores what is not a plain register copy.

arch/arm64/kernel/signal32.c ``compat_sys_rt_sigreturn`` and
``compat_sys_sigreturn``: the frame is read at sp; ``compat_restore_sigframe``
takes r0-r12, sp, lr, pc and the cpsr through ``compat_psr_to_pstate``, then
``valid_user_regs``: the cpsr rules are :data:`A32_CPSR_RULES`, applied by
:func:`a32_restored_cpsr`.  ``compat_restore_vfp_context`` loads d0-d31 and
fpscr: the VFP record is compared with NT_ARM_VFP (:data:`FP_RESTORE`).  The
ABI value carries these as its ``SigreturnRules`` (sigdbg/abi/arm/abi.py);
the generic comparison is sigdbg/decode/sigreturn_rules.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sigdbg.abi import arm
from sigdbg.abi.abis import FlagsRule, FpRestoreCheck

#: AArch32 psr bits (arch/arm64/include/uapi/asm/ptrace.h PSR_AA32_*, and
#: COMPAT_PSR_DIT_BIT in asm/ptrace.h: the compat psr keeps DIT at bit 21,
#: the pstate at bit 24, which is also where AArch32 SS is)
CPSR_SS = 1 << 21  #: DBG_SPSR_SS (pstate) = COMPAT_PSR_DIT_BIT (psr)
PSTATE_AA32_DIT = 1 << 24  #: PSR_AA32_DIT_BIT
CPSR_E = 1 << 9  #: PSR_AA32_E_BIT
CPSR_AIF = 0x1C0  #: PSR_AA32_A/I/F_BIT
CPSR_MODE = 0x1F  #: PSR_MODE32_BIT | PSR_MODE_MASK: 0x10 = user (EL0t, AArch32)
CPSR_USR = 0x10
#: SPSR_EL1_AARCH32_RES0_BITS (v6.1) within 32 bits: bits 22 and 20
CPSR_RES0 = (1 << 22) | (1 << 20)
#: what valid_compat_regs keeps of an invalid psr: N Z C V Q, IT, GE, E, T
CPSR_KEPT_WHEN_FORCED = 0xF800_0000 | 0x0600_FC00 | 0x000F_0000 | CPSR_E | arm.CPSR_T
_U32 = 0xFFFF_FFFF

A32_CPSR_RULES: tuple[FlagsRule, ...] = (
    FlagsRule("DIT", CPSR_SS, "arch/arm64/include/asm/ptrace.h compat_psr_to_pstate",
              "the frame's bit 21 becomes PSTATE.DIT (bit 24), read back at bit 21 "
              "(pstate_to_compat_psr), where PSTATE.SS shows too"),
    FlagsRule("SS", CPSR_SS, "arch/arm64/kernel/ptrace.c user_regs_reset_single_step",
              "from the tracer's single step (TIF_SINGLESTEP), not the frame"),
    FlagsRule("RES0", CPSR_RES0, "arch/arm64/kernel/ptrace.c valid_compat_regs",
              "bits 22 and 20 cleared (SPSR_EL1_AARCH32_RES0_BITS)"),
    FlagsRule("E", CPSR_E, "arch/arm64/kernel/ptrace.c valid_compat_regs",
              "cleared unless the CPU has mixed-endian EL0 (not compared when set)"),
    FlagsRule("USR", CPSR_MODE | CPSR_AIF, "arch/arm64/kernel/ptrace.c valid_compat_regs",
              "not user mode or A/I/F set: forced to NZCVQ/IT/GE/E/T + USR and the "
              "sigreturn fails (SIGSEGV)"),
)


def a32_restored_cpsr(saved: int, single_step: bool | None) -> tuple[int, int]:
    """(cpsr NT_PRSTATUS shows after a compat sigreturn restored ``saved``,
    the bits that are known).  ``single_step``: whether the sigreturn ran
    under PTRACE_SINGLESTEP (TIF_SINGLESTEP); None: unknown, SS is not compared."""
    pstate = saved & ~CPSR_SS & _U32
    if saved & CPSR_SS:
        pstate |= PSTATE_AA32_DIT  # compat_psr_to_pstate
    known = _U32
    if single_step is None:
        known &= ~CPSR_SS
    elif single_step:
        pstate |= CPSR_SS
    else:
        pstate &= ~CPSR_SS
    pstate &= ~CPSR_RES0
    if saved & CPSR_E:
        known &= ~CPSR_E  # kept or cleared: system_supports_mixed_endian_el0
    if pstate & CPSR_MODE != CPSR_USR or pstate & CPSR_AIF:
        pstate = pstate & CPSR_KEPT_WHEN_FORCED | CPSR_USR  # and the sigreturn fails
    psr = pstate & ~PSTATE_AA32_DIT  # pstate_to_compat_psr: NT_PRSTATUS's view
    if pstate & PSTATE_AA32_DIT:
        psr |= CPSR_SS
    return psr, known


#: a frame's record lookup: ``A32Frame.record(name)`` (None: no such record)
Records = Callable[[str], Any]


def restored_fp_regsets(record: Records) -> tuple[int, ...]:
    """NT_ARM_VFP for a frame with a VFP record; none otherwise."""
    return (arm.NT_ARM_VFP,) if record("vfp") is not None else ()


def compare_restored_fp(record: Records, regsets: Mapping[int, bytes | None]
                        ) -> tuple[str, ...]:
    """The frame's VFP record against NT_ARM_VFP after sigreturn."""
    vfp = record("vfp")
    if vfp is None:
        return ()
    return compare_restored_vfp(vfp.dregs, vfp.fields.get("fpscr", 0),
                                regsets.get(arm.NT_ARM_VFP))


#: the fpscr bits a compat sigreturn keeps: it splits the record's fpscr into
#: FPSR (VFP_FPSCR_STAT_MASK) and FPCR (VFP_FPSCR_CTRL_MASK), and NT_ARM_VFP
#: joins them the same way (arch/arm64/include/asm/fpsimd.h,
#: arch/arm64/kernel/signal32.c compat_restore_vfp_context, ptrace.c compat_vfp_get)
VFP_FPSCR_STAT_MASK = 0xF800_009F
VFP_FPSCR_CTRL_MASK = 0x07F7_9F00
VFP_FPSCR_KEPT = VFP_FPSCR_STAT_MASK | VFP_FPSCR_CTRL_MASK


def compare_restored_vfp(dregs: tuple[int, ...], fpscr: int, raw: bytes | None
                         ) -> tuple[str, ...]:
    """d0-d31 and fpscr after a compat sigreturn (NT_ARM_VFP: ``struct
    user_vfp``, 32 x u64 then fpscr, 260 bytes) against the frame's VFP record."""
    if raw is None or len(raw) < 260:
        return ("vfp: NT_ARM_VFP unreadable after sigreturn",)
    diffs: list[str] = []
    for n, want in enumerate(dregs):
        got = int.from_bytes(raw[8 * n : 8 * n + 8], "little")
        if got != want:
            diffs.append(f"d{n}: frame {want:#x} restored {got:#x}")
    got = int.from_bytes(raw[256:260], "little")
    want = fpscr & VFP_FPSCR_KEPT
    if got != want:
        diffs.append(f"fpscr: frame {fpscr:#x} restored {got:#x}, the kernel keeps "
                     f"{want:#x} (VFP_FPSCR_STAT_MASK | VFP_FPSCR_CTRL_MASK)")
    return tuple(diffs)


#: the VFP record against NT_ARM_VFP
FP_RESTORE = FpRestoreCheck(regsets=restored_fp_regsets, compare=compare_restored_fp)
