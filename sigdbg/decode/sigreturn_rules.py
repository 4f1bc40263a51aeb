"""What sigreturn does, as pure functions shared by every backend.

Sources: arch/x86/kernel/signal_64.c and signal_32.c (where the frame is read:
``sp - 8`` for x86_64 and the non-RT ia32 frame, ``sp - 4`` for the RT ia32
frame, since the restorer's ``ret``/``pop`` consumed pretcode and sig),
arch/x86/include/asm/sighandling.h (``FIX_EFLAGS``: the eflags bits taken from
the frame), ``restore_sigcontext`` (cs/ss get RPL 3; on x86_64 fs/gs are not
restored from sigcontext).
"""

from __future__ import annotations

from collections.abc import Mapping

from sigdbg.abi.abis import Abi
from sigdbg.decode.sigframe import SigFrame

#: Restorers are a handful of instructions; anything longer is not one.
MAX_RESTORER_STEPS = 64
#: eflags bits sigreturn takes from the frame: AC OF DF TF SF ZF AF PF CF, RF
FIX_EFLAGS = 0x40DD5 | (1 << 16)
#: x86 system-call instructions: syscall, int $0x80, sysenter
SYSCALL_BYTES = (b"\x0f\x05", b"\xcd\x80", b"\x0f\x34")
SYSCALL_TEXT = {b"\x0f\x05": "syscall", b"\xcd\x80": "int $0x80", b"\x0f\x34": "sysenter"}
_SEGMENTS = ("cs", "ss", "ds", "es", "fs", "gs")


_PLAIN, _FLAGS, _SEGMENT, _RPL3 = range(4)
_RULES: dict[str, tuple[tuple[str, str, int], ...]] = {}


def _rules(abi: Abi) -> tuple[tuple[str, str, int], ...]:
    """(sigcontext name, register name, how sigreturn restores it) per ABI."""
    rules = _RULES.get(abi.name)
    if rules is None:
        rules = _RULES[abi.name] = tuple(
            (mc, reg, _FLAGS if mc in ("eflags", "flags") else
             _RPL3 if mc in ("cs", "ss") else _SEGMENT if mc in _SEGMENTS else _PLAIN)
            for mc, reg in abi.mcontext_regs)
    return rules


def frame_at_sigreturn(abi_name: str, kind: str, sp: int) -> int:
    """Where the kernel looks for the frame when the sigreturn syscall runs."""
    if abi_name == "x86_64" or kind == "sigframe_ia32":
        return sp - 8
    return sp - 4


def compare_restored(
    abi: Abi, frame: SigFrame, regs: Mapping[str, int]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Registers after sigreturn against the frame it restored from.

    Returns (differences, not compared): one line per register that differs
    in what sigreturn restores, and what sigreturn does not restore at all.
    """
    diffs: list[str] = []
    mc = frame.mcontext
    for mc_name, reg_name, rule in _rules(abi):
        saved = mc.get(mc_name)
        got = regs.get(reg_name)
        if saved is None or got is None or (rule == _PLAIN and saved == got):
            continue  # the common case: restored exactly
        if rule == _FLAGS:
            bits = (saved ^ got) & FIX_EFLAGS
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
    not_compared = ["fs", "gs"] if abi.name == "x86_64" else []
    not_compared.append(f"{abi.flags} bits outside FIX_EFLAGS")
    return tuple(diffs), tuple(not_compared)
