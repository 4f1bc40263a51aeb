"""What sigreturn does, as pure functions shared by every backend.

The facts are the ABI's: where the kernel reads the frame is the frame
kind's ``sp_at_sigreturn`` (x86: arch/x86/kernel/signal_64.c and
signal_32.c, ``sp - 8`` or ``sp - 4`` since the restorer's ``ret``/``pop``
consumed pretcode and sig), and how registers are restored beyond plain
copies is ``Abi.sigreturn_rules`` (x86: arch/x86/include/asm/sighandling.h
``FIX_EFLAGS``, ``restore_sigcontext``: segment selectors with RPL 3,
registers not restored at all).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, NamedTuple

from sigdbg.abi import Abi
from sigdbg.decode.sigframe import SigFrame, kind_row

#: Restorers are a handful of instructions; anything longer is not one.
MAX_RESTORER_STEPS = 64


_PLAIN, _FLAGS, _SEGMENT, _RPL3 = range(4)
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
        flags = abi.mcontext_name(abi.flags) if fix.flags_fixup else None
        every = tuple(
            (mc, reg, _FLAGS if mc == flags else
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
    """Where the kernel looks for the frame when the sigreturn syscall runs."""
    return sp - kind_row(abi_name, kind).sp_at_sigreturn


def compare_restored(
    abi: Abi, frame: SigFrame, regs: Mapping[str, int]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Registers after sigreturn against the frame it restored from.

    Returns (differences, not compared): one line per register that differs
    in what sigreturn restores, and what sigreturn does not restore at all.
    """
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
    not_compared = list(fix.not_restored)
    if fix.flags_fixup:
        not_compared.append(f"{abi.flags} bits outside {fix.flags_fixup_name}")
    return tuple(diffs), tuple(not_compared)
