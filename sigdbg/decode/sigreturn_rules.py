"""What sigreturn does, as pure functions shared by every backend.

The facts are the ABI's: where the kernel reads the frame is the frame
kind's ``sp_at_sigreturn`` (x86: arch/x86/kernel/signal_64.c and
signal_32.c, ``sp - 8`` or ``sp - 4`` since the restorer's ``ret``/``pop``
consumed pretcode and sig), and how registers are restored beyond plain
copies is ``Abi.sigreturn_rules`` (x86: arch/x86/include/asm/sighandling.h
``FIX_EFLAGS``, ``restore_sigcontext``: segment selectors with RPL 3,
registers not restored at all).

Where the flags register is restored by named rules rather than a fixup
mask, ``SigreturnRules.flags_restore`` gives the value the kernel restores
and ``flags_rules`` names the rules (AArch64's pstate:
sigdbg/abi/aarch64/sigreturn.py; a compat task's cpsr:
sigdbg/abi/arm/sigreturn.py); FP/vector registers restored from a frame's
records are compared by ``SigreturnRules.fp_restore`` of the same modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sigdbg.abi import ABIS, Abi, by_name
from sigdbg.errors import DecodeError

if TYPE_CHECKING:
    from sigdbg.decode.frames import AnyFrame

#: Restorers are a handful of instructions; anything longer is not one.
MAX_RESTORER_STEPS = 64


_PLAIN, _FLAGS, _SEGMENT, _RPL3, _NAMED = range(5)
_Rule = tuple[str, str, int]


class _Rules(NamedTuple):
    every: tuple[_Rule, ...]  #: (sigcontext name, register name, how restored)
    special: tuple[_Rule, ...]  #: the rules that are not plain equality
    plain_saved: Callable[[Mapping[str, int]], Any]  #: the plain ones' frame values
    plain_got: Callable[[Mapping[str, int]], Any]  #: ... and register values


_RULES: dict[str, _Rules] = {}


def _nothing(_: Mapping[str, int]) -> tuple[()]:
    return ()


def _rules(abi: Abi) -> _Rules:
    """How sigreturn restores each register, per ABI (looked up once)."""
    rules = _RULES.get(abi.name)
    if rules is None:
        fix = abi.sigreturn_rules
        flags = (abi.mcontext_name(abi.flags) if fix.flags_fixup or fix.flags_restore
                 else None)
        flag_rule = _NAMED if fix.flags_restore else _FLAGS
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


def compare_restored(
    abi: Abi, frame: AnyFrame, regs: Mapping[str, int], *,
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
        if rule == _NAMED:
            assert fix.flags_restore is not None
            want, known = fix.flags_restore(saved, single_step)
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
    if fix.flags_restore:
        # compared by rule, not equality: each rule named
        not_compared = [f"{abi.flags}.{r.name}: {r.what}"
                        for r in fix.flags_rules
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


def restored_fp_regsets(frame: AnyFrame) -> tuple[int, ...]:
    """The regsets :func:`compare_restored_fp` needs after this frame's
    sigreturn: the first ABI's ``SigreturnRules.fp_restore`` that needs any
    for the frame's records (AArch64: NT_PRFPREG for its fpsimd record, and
    NT_ARM_SVE when its sve record carries registers; ARM: NT_ARM_VFP for a
    VFP record); none for frames without records."""
    record = getattr(frame, "record", None)
    if record is None:
        return ()
    for check in _FP_RESTORE:
        notes = check.regsets(record)
        if notes:
            return notes
    return ()


def compare_restored_fp(frame: AnyFrame, regsets: Mapping[int, bytes | None]
                        ) -> tuple[str, ...]:
    """The FP/SIMD (and SVE, VFP) registers after sigreturn against the
    frame's records, by the ABI's ``SigreturnRules.fp_restore``
    (sigdbg/abi/aarch64/sigreturn.py, sigdbg/abi/arm/sigreturn.py).  One
    line per difference."""
    record = getattr(frame, "record", None)
    if record is None:
        return ()
    for check in _FP_RESTORE:
        if check.regsets(record):
            return check.compare(record, regsets)
    return ()


#: every ABI's FP comparison, in registry order
_FP_RESTORE = tuple(abi.sigreturn_rules.fp_restore for abi in ABIS
                    if abi.sigreturn_rules.fp_restore is not None)
