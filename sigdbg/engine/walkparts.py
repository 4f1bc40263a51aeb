"""The parts of the sigreturn walk (``engine/sigreturn.py``) that hold no
state of a walk: which stops are the walk's own (its single steps, its
restorer breakpoint, a handler entry), the restorer's instructions as text
(capstone, else the Abi's own syscall instruction), system call names, the
ABI a frame's sigcontext is of, the signal-mask bits the walk tests, and the
reasons it gives when it lets a frame go.
"""

from __future__ import annotations

import signal

from sigdbg.abi import Abi, abi_by_name, abi_of_frame_kind
from sigdbg.backends.stopcodes import PERF_SIG_DATA
from sigdbg.decode.frames import AnyFrame
from sigdbg.engine.stops import (
    SI_PERF_DATA,
    SIGTRAP_HANDLER_ENTRY,
    TRAP_BRKPT,
    TRAP_HWBKPT,
    TRAP_PERF,
    TRAP_TRACE,
    Stop,
)
from sigdbg.errors import FeatureUnavailable
from sigdbg.names import UnknownNameError, signal_name, syscall_name

#: bytes read at the restorer: its instructions plus one maximal (15-byte)
#: instruction's worth of look-ahead for each
RESTORER_READ = 48

SIGTRAP = int(signal.SIGTRAP)
#: bit of SIGTRAP in a signal mask (bit n-1 = signal n)
SIGTRAP_BIT = 1 << (SIGTRAP - 1)
#: signals a mask never blocks
UNBLOCKABLE = (1 << (signal.SIGKILL - 1)) | (1 << (signal.SIGSTOP - 1))

#: mode -> Disassembler, kept once found (a missing capstone is asked again)
_DISASSEMBLERS: dict[str, object] = {}


def _disassembler(mode: str):  # type: ignore[no-untyped-def]
    dis = _DISASSEMBLERS.get(mode)
    if dis is not None:
        return dis
    try:
        from sigdbg.decode.disasm import get_disassembler

        dis = _DISASSEMBLERS[mode] = get_disassembler(mode, "att")
        return dis
    except FeatureUnavailable:
        return None


#: (abi, alternate instruction set, code bytes, address) -> (size, text).  The
#: same restorer instructions are stepped at every signal: decode each one
#: once.  A pure function of its key.
_INSN_MEMO: dict[tuple[Abi, bool, bytes, int], tuple[int, str]] = {}
_INSN_MEMO_MAX = 4096


def insn_text(abi: Abi, isa: bool, code: bytes, address: int) -> tuple[int, str]:
    """Size and text of the instruction ``code`` starts with; ``isa``: the
    code runs in the instruction set ``Abi.isa_bit`` selects (Thumb)."""
    key = (abi, isa, code, address)
    hit = _INSN_MEMO.get(key)
    if hit is None:
        dis = _disassembler(abi.isa_disasm_mode if isa else abi.disasm_mode)
        hit = _decode_insn(dis, abi, isa, code, address)
        if len(_INSN_MEMO) >= _INSN_MEMO_MAX:
            _INSN_MEMO.clear()
        _INSN_MEMO[key] = hit
    return hit


def _decode_insn(dis, abi: Abi, isa: bool, code: bytes, address: int) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    if dis is not None:
        insn = dis.one(code, address)
        if insn is not None:
            return insn.size, insn.text
    syscall = abi.syscall_insn(code, isa)
    if syscall is not None:
        return syscall
    return 1, f"(.byte {code[:1].hex()})"


def is_our_step(stop: Stop, codes: tuple[int, ...] = (TRAP_TRACE, TRAP_BRKPT)) -> bool:
    """A single step's SIGTRAP (``codes``: ``Abi.step_trap_codes``)."""
    # si_code straight from the raw siginfo (None without one): no full decode
    return (stop.kind == "signal" and stop.sig == SIGTRAP
            and stop.si_code in codes)


def is_our_breakpoint(stop: Stop) -> bool:
    """The restorer breakpoint's SIGTRAP (PtraceTask.arm_breakpoint): a debug
    register's, or our perf_event's (not one of the program's own)."""
    code = stop.si_code
    if code == TRAP_HWBKPT:
        return True
    raw = stop.siginfo_raw
    return code == TRAP_PERF and raw is not None \
        and SI_PERF_DATA.unpack_from(raw)[0] == PERF_SIG_DATA


def is_handler_entry(stop: Stop, tid: int) -> bool:
    return (stop.tid == tid and stop.kind == "signal" and stop.sig == SIGTRAP
            and stop.si_code == SIGTRAP_HANDLER_ENTRY)


#: sigreturns in a row after which a signal was deliverable at once: the next
#: handler entered at that context is not stepped (a 5 kHz timer whose
#: handler sigdbg steps slower than the timer fires would never let the
#: program run an instruction)
NO_PROGRESS_LIMIT = 2
LEFT_RESTORER = ("a handler returned to the restorer above this frame: the handler left "
                  "without sigreturn (siglongjmp)")
#: why a handler entered at the context a sigreturn just restored is not stepped
NOT_FOLLOWED = ("not followed: delivered at the context the last sigreturn restored, "
                "before the program ran an instruction (signals come faster than "
                "sigdbg steps them; this handler runs unstepped so the program progresses)")


def syscall_text(abi: Abi, nr: int) -> str:
    """The name of system call ``nr``: the sigreturns from the Abi, the rest
    from sigdbg.names where it has the ABI's table (``syscall_N`` else)."""
    if nr == abi.rt_sigreturn_nr:
        return "rt_sigreturn"
    if nr == abi.sigreturn_nr:
        return "sigreturn"
    try:
        return syscall_name(abi.name, nr)
    except UnknownNameError:
        return f"syscall_{nr}"


def frame_abi(frame: AnyFrame) -> Abi:
    """The ABI whose sigcontext ``frame`` holds (an ia32 frame of a 64-bit
    task holds i386's, named by its kind)."""
    abi = abi_by_name(frame.abi)
    if not abi.frame_kinds or abi.frame_kind(frame.kind) is not None:
        return abi
    return abi_of_frame_kind(frame.kind)


def ended_reason(stop: Stop) -> str:
    if stop.kind == "killed":
        return f"the process was killed by {signal_name(stop.sig)} before the handler returned"
    return f"the process exited (status {stop.status}) before the handler returned"

