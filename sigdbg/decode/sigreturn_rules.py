"""What sigreturn does, as pure functions shared by every backend.

The facts are the ABI's: where the kernel reads the frame is the frame
kind's ``sp_at_sigreturn`` (x86: arch/x86/kernel/signal_64.c and
signal_32.c, ``sp - 8`` or ``sp - 4`` since the restorer's ``ret``/``pop``
consumed pretcode and sig), and how registers are restored beyond plain
copies is ``Abi.sigreturn_rules`` (x86: arch/x86/include/asm/sighandling.h
``FIX_EFLAGS``, ``restore_sigcontext``: segment selectors with RPL 3,
registers not restored at all).

AArch64 (arch/arm64/kernel/signal.c ``sys_rt_sigreturn``: the frame is read
at sp; ``restore_sigframe`` takes x0-x30, sp, pc and pstate from it, then
``valid_user_regs`` in arch/arm64/kernel/ptrace.c changes pstate): the
pstate rules are :data:`A64_PSTATE_RULES`, each named, and the FP/SIMD
registers are compared with the frame's fpsimd record
(:func:`compare_restored_fp`).

AArch32 compat tasks (arch/arm64/kernel/signal32.c ``compat_sys_rt_sigreturn``
and ``compat_sys_sigreturn``: the frame is read at sp; ``compat_restore_sigframe``
takes r0-r12, sp, lr, pc and the cpsr through ``compat_psr_to_pstate``, then
``valid_user_regs``; ``compat_restore_vfp_context`` d0-d31 and fpscr): the
cpsr rules are :data:`A32_CPSR_RULES`, the VFP record is compared with
NT_ARM_VFP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sigdbg.abi import Abi, aarch64, arm, by_name
from sigdbg.decode.sigframe import SigFrame
from sigdbg.errors import DecodeError

if TYPE_CHECKING:
    from sigdbg.abi.aarch64.a64frame import A64Frame
    from sigdbg.abi.arm.a32frame import A32Frame

#: Restorers are a handful of instructions; anything longer is not one.
MAX_RESTORER_STEPS = 64


_PLAIN, _FLAGS, _SEGMENT, _RPL3, _PSTATE, _CPSR = range(6)
_Rule = tuple[str, str, int]


class _Rules(NamedTuple):
    every: tuple[_Rule, ...]  #: (sigcontext name, register name, how restored)
    special: tuple[_Rule, ...]  #: the rules that are not plain equality
    plain_saved: Callable[[Mapping[str, int]], Any]  #: the plain ones' frame values
    plain_got: Callable[[Mapping[str, int]], Any]  #: ... and register values


_RULES: dict[str, _Rules] = {}


def _nothing(_: Mapping[str, int]) -> tuple[()]:
    return ()


#: ``SigreturnRules.flags_rules`` -> how the flags register is compared
_FLAG_RULES = {"": _FLAGS, "a64_pstate": _PSTATE, "a32_cpsr": _CPSR}


def _rules(abi: Abi) -> _Rules:
    """How sigreturn restores each register, per ABI (looked up once)."""
    rules = _RULES.get(abi.name)
    if rules is None:
        fix = abi.sigreturn_rules
        flags = (abi.mcontext_name(abi.flags) if fix.flags_fixup or fix.flags_rules
                 else None)
        flag_rule = _FLAG_RULES[fix.flags_rules]
        every = tuple(
            (mc, reg, flag_rule if mc == flags else
             _RPL3 if mc in fix.user_rpl else _SEGMENT if mc in fix.segments else _PLAIN)
            for mc, reg in abi.mcontext_regs)
        plain = [r for r in every if r[2] == _PLAIN]
        # (one name makes itemgetter return the value, not a 1-tuple: the
        # comparison holds either way; no names: nothing to compare)
        saved = itemgetter(*[r[0] for r in plain]) if plain else _nothing
        got = itemgetter(*[r[1] for r in plain]) if plain else _nothing
        rules = _RULES[abi.name] = _Rules(
            every, tuple(r for r in every if r[2] != _PLAIN), saved, got)
    return rules


def frame_at_sigreturn(abi_name: str, kind: str, sp: int) -> int:
    """Where the kernel looks for the frame when the sigreturn syscall runs:
    ``sp`` minus the frame kind's ``sp_at_sigreturn`` (x86_64 and the ia32
    non-RT frame ``sp - 8``, the ia32 RT frame ``sp - 4``, AArch64 and the
    AArch32 compat frames ``sp`` itself).  DecodeError for a kind the ABI
    does not build."""
    row = by_name(abi_name).frame_kind(kind)
    if row is None:
        raise DecodeError(f"{abi_name}: no sigreturn rule for a {kind} frame")
    return sp - row.sp_at_sigreturn


class PstateRule(NamedTuple):
    """One way AArch64 ``rt_sigreturn`` changes pstate from the frame's."""

    name: str
    mask: int  #: the pstate bits it is about
    source: str  #: where the kernel does it
    what: str


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

A32_CPSR_RULES: tuple[PstateRule, ...] = (
    PstateRule("DIT", CPSR_SS, "arch/arm64/include/asm/ptrace.h compat_psr_to_pstate",
               "the frame's bit 21 becomes PSTATE.DIT (bit 24), read back at bit 21 "
               "(pstate_to_compat_psr), where PSTATE.SS shows too"),
    PstateRule("SS", CPSR_SS, "arch/arm64/kernel/ptrace.c user_regs_reset_single_step",
               "from the tracer's single step (TIF_SINGLESTEP), not the frame"),
    PstateRule("RES0", CPSR_RES0, "arch/arm64/kernel/ptrace.c valid_compat_regs",
               "bits 22 and 20 cleared (SPSR_EL1_AARCH32_RES0_BITS)"),
    PstateRule("E", CPSR_E, "arch/arm64/kernel/ptrace.c valid_compat_regs",
               "cleared unless the CPU has mixed-endian EL0 (not compared when set)"),
    PstateRule("USR", CPSR_MODE | CPSR_AIF, "arch/arm64/kernel/ptrace.c valid_compat_regs",
               "not user mode or A/I/F set: forced to NZCVQ/IT/GE/E/T + USR and the "
               "sigreturn fails (SIGSEGV)"),
)


def a32_restored_cpsr(saved: int, single_step: bool | None) -> tuple[int, int]:
    """(cpsr NT_PRSTATUS shows after a compat sigreturn restored ``saved``,
    the bits that are known).  ``single_step`` as for :func:`a64_restored_pstate`."""
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


def compare_restored(
    abi: Abi, frame: SigFrame | A64Frame | A32Frame, regs: Mapping[str, int], *,
    single_step: bool | None = None, syscall_stop: bool = False,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Registers after sigreturn against the frame it restored from.

    Returns (differences, not compared): one line per register that differs
    in what sigreturn restores, and what sigreturn does not restore at all
    (or restores by a rule other than equality, named).  ``single_step``:
    whether the sigreturn ran under PTRACE_SINGLESTEP (AArch64's PSTATE.SS).
    ``syscall_stop``: ``regs`` were read at the sigreturn's syscall-exit
    stop, where ``Abi.syscall_stop_scratch`` holds the kernel's value.
    """
    scratch = abi.syscall_stop_scratch if syscall_stop else ""
    diffs: list[str] = []
    mc = frame.mcontext
    rules = _rules(abi)
    fix = abi.sigreturn_rules
    try:
        # the usual case, checked at C speed: every plain register restored
        # exactly (a missing one raises and takes the full walk)
        todo = rules.special if rules.plain_saved(mc) == rules.plain_got(regs) \
            else rules.every
    except KeyError:
        todo = rules.every
    for mc_name, reg_name, rule in todo:
        saved = mc.get(mc_name)
        got = regs.get(reg_name)
        if saved is None or got is None or (rule == _PLAIN and saved == got):
            continue  # the common case: restored exactly
        if reg_name == scratch:
            continue  # the syscall-stop's own value, named below
        if rule in (_PSTATE, _CPSR):
            want, known = (a64_restored_pstate if rule == _PSTATE
                           else a32_restored_cpsr)(saved, single_step)
            bits = (want ^ got) & known
            if bits:
                diffs.append(f"{reg_name}: frame {saved:#x} restored {got:#x}, the kernel's "
                             f"rules give {want:#x} (differs in {bits:#x})")
            continue
        if rule == _FLAGS:
            bits = (saved ^ got) & fix.flags_fixup
            if bits:
                diffs.append(f"{reg_name}: frame {saved:#x} restored {got:#x} "
                             f"(differs in sigreturn-restored bits {bits:#x})")
            continue
        if rule != _PLAIN:
            got &= 0xFFFF
            if rule == _RPL3:
                saved |= 3  # sigreturn forces RPL 3 on cs and ss
        if saved != got:
            diffs.append(f"{reg_name}: frame {saved:#x} restored {got:#x}")
    if fix.flags_rules:
        # compared by rule, not equality: each rule named
        named = A64_PSTATE_RULES if fix.flags_rules == "a64_pstate" else A32_CPSR_RULES
        not_compared = [f"{abi.flags}.{r.name}: {r.what}"
                        for r in named
                        if r.name != "SS" or single_step is None]
        if single_step is not None:
            not_compared.append(f"{abi.flags}.SS: "
                                f"{'set' if single_step else 'clear'} under the tracer's "
                                f"{'single step' if single_step else 'PTRACE_SYSCALL'}")
        if scratch:
            not_compared.append(f"{scratch}: read at the syscall-exit stop, where it holds "
                                "the stop's direction (report_syscall)")
        return tuple(diffs), tuple(not_compared)
    not_compared = list(fix.not_restored)
    if fix.flags_fixup:
        not_compared.append(f"{abi.flags} bits outside {fix.flags_fixup_name}")
    return tuple(diffs), tuple(not_compared)


def compare_restored_mask(frame_mask: int, blocked: int) -> tuple[str, ...]:
    """The blocked mask after sigreturn against the frame's uc_sigmask
    (kernel/signal.c ``set_current_blocked``: SIGKILL and SIGSTOP are never
    blocked, so they are dropped from the frame's value first)."""
    want = frame_mask & ~_UNBLOCKABLE
    if blocked == want:
        return ()
    return (f"sigmask: frame {frame_mask:#x} restored {blocked:#x}",)


#: SIGKILL (9) and SIGSTOP (19): bits n-1 of a mask
_UNBLOCKABLE = (1 << 8) | (1 << 18)


def restored_fp_regsets(frame: SigFrame | A64Frame | A32Frame) -> tuple[int, ...]:
    """The regsets :func:`compare_restored_fp` needs after this frame's
    sigreturn: AArch64 NT_PRFPREG for its fpsimd record, and NT_ARM_SVE when
    its sve record carries registers; NT_ARM_VFP for an AArch32 frame's VFP
    record; none for other frames."""
    record = getattr(frame, "record", None)
    if record is not None and record("vfp") is not None:
        return (arm.NT_ARM_VFP,)
    if record is None or record("fpsimd") is None:
        return ()
    sve = record("sve")
    if sve is not None and sve.zregs:
        return (aarch64.NT_PRFPREG, aarch64.NT_ARM_SVE)
    return (aarch64.NT_PRFPREG,)


def compare_restored_fp(frame: SigFrame | A64Frame | A32Frame,
                        regsets: Mapping[int, bytes | None]) -> tuple[str, ...]:
    """The FP/SIMD (and SVE) registers after sigreturn against the frame's
    records.  One line per difference.

    fpsimd: ``restore_fpsimd_context`` loads V0-V31, FPSR and FPCR from the
    record; NT_PRFPREG is ``struct user_fpsimd_state`` (vregs[32], fpsr,
    fpcr).  sve with registers (``restore_sve_fpsimd_context``, v6.1): Z0-Z31,
    P0-P15 and FFR come from the sve record, then the fpsimd record is loaded
    too and ``fpsimd_update_current_state`` copies V0-V31 into bits 127:0 of
    Z0-Z31 (``fpsimd_to_sve``): rule :data:`SVE_LOW_FROM_FPSIMD`.
    """
    record = getattr(frame, "record", None)
    vfp = record("vfp") if record is not None else None
    if vfp is not None:
        return compare_restored_vfp(vfp.dregs, vfp.fields.get("fpscr", 0),
                                    regsets.get(arm.NT_ARM_VFP))
    rec = record("fpsimd") if record is not None else None
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
    sve = record("sve") if record is not None else None
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
