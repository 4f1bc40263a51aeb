"""Run a handler to its trampoline, single-step through it, check the result.

From handler entry the task runs (a hardware execute breakpoint on the
restorer address = the frame's pretcode: a perf_event that dies with sigdbg,
else DR0; both are per thread and leave the shared text untouched, see
PtraceTask.arm_breakpoint) until it reaches the restorer with ``sp == frame +
word`` -- i.e. *this* handler returned there.  Every restorer instruction is
then single-stepped and recorded.  Just before the ``rt_sigreturn`` /
``sigreturn`` system call the frame is re-read where the kernel will read it
(arch/x86/kernel/signal_64.c / signal_32.c: ``sp - 8``, ``sp - 4`` or
``sp - 8``) and compared with the snapshot from handler entry; after the
syscall the registers the kernel restored are compared with that frame.

Stops that are not ours (other signals, exits, frames built above ours after a
``siglongjmp``) end the walk with a :class:`SigreturnAbandoned` event and are
handed back to the session's main loop.
"""

from __future__ import annotations

import signal
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

from sigdbg.abi.abis import abi_by_name
from sigdbg.backends.ptrace import PERF_SIG_DATA
from sigdbg.decode.disasm_model import StepRecord
from sigdbg.decode.sigframe import SigFrame, decode_sigframe, diff_frames
from sigdbg.decode.sigreturn_rules import (
    MAX_RESTORER_STEPS,
    SYSCALL_BYTES,
    SYSCALL_TEXT,
    compare_restored,
    frame_at_sigreturn,
)
from sigdbg.engine import events as ev
from sigdbg.engine.stops import SI_PERF_DATA, TRAP_BRKPT, TRAP_HWBKPT, TRAP_PERF, TRAP_TRACE, Stop
from sigdbg.errors import FeatureUnavailable, ProcessGone, SigdbgError
from sigdbg.names import syscall_name

if TYPE_CHECKING:
    from sigdbg.backends.ptrace import PtraceTask
    from sigdbg.engine.session import Session

#: bytes read at the restorer: its instructions plus one maximal (15-byte)
#: instruction's worth of look-ahead for each
_RESTORER_READ = 48

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


#: (disassembler, code bytes, address) -> (size, text).  The same restorer
#: instructions are stepped at every signal: decode each one once.  A pure
#: function of its key (the disassembler object is held, so it stays itself).
_INSN_MEMO: dict[tuple[object, bytes, int], tuple[int, str]] = {}
_INSN_MEMO_MAX = 4096


def _insn_text(dis, code: bytes, address: int) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    key = (dis, code, address)
    hit = _INSN_MEMO.get(key)
    if hit is None:
        hit = _decode_insn(dis, code, address)
        if len(_INSN_MEMO) >= _INSN_MEMO_MAX:
            _INSN_MEMO.clear()
        _INSN_MEMO[key] = hit
    return hit


def _decode_insn(dis, code: bytes, address: int) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    if dis is not None:
        insn = dis.one(code, address)
        if insn is not None:
            return insn.size, insn.text
    if code[:2] in SYSCALL_TEXT:
        return 2, SYSCALL_TEXT[code[:2]]
    return 1, f"(.byte {code[:1].hex()})"


def step_through_sigreturn(
    session: Session, task: PtraceTask, entry_frame: SigFrame
) -> Iterator[ev.Event]:
    """Events from handler entry (or inside the handler) to the restored context."""
    abi = task.abi
    pid, tid = task.pid, task.tid
    word = abi.word
    target_sp = entry_frame.address + word
    restorer = entry_frame.pretcode
    if task.pc_sp() != (restorer, target_sp):
        reached = yield from _run_to_restorer(session, task, entry_frame)
        if not reached:
            return
    dis = _disassembler(abi.disasm_mode)
    regs = task.registers()
    # One read covers the restorer's instructions (two or three, a few bytes
    # each); an instruction that runs past it is read where it starts.
    code_at = regs[abi.pc]
    restorer_code = task.read_upto(code_at, _RESTORER_READ)
    for _ in range(MAX_RESTORER_STEPS):
        pc = regs[abi.pc]
        off = pc - code_at
        code = restorer_code[off : off + 16] if 0 <= off <= len(restorer_code) - 16 else b""
        if not code:
            code = task.read_upto(pc, 16)
        size, text = _insn_text(dis, code, pc)
        is_sys = code[:2] in SYSCALL_BYTES
        nr = regs[abi.syscall_nr]
        sysname = None
        if is_sys:
            sysname = syscall_name(abi.name, nr)
        if is_sys and nr in (abi.rt_sigreturn_nr, abi.sigreturn_nr):
            frame_addr = frame_at_sigreturn(abi.name, entry_frame.kind, regs[abi.sp])
            view = session.view(task)
            now = decode_sigframe(task, abi, frame_addr, view=view, kind=entry_frame.kind,
                                  signo=entry_frame.sig, previous=entry_frame)
            changes = diff_frames(entry_frame, now)
            yield ev.SigreturnEntered(pid, tid, sysname or "rt_sigreturn", now, changes)
            stop = session._resume_wait(tid, 0, True, tid)
            yield ev.SigreturnStep(pid, tid, StepRecord(pc, code[:size], text, {}, sysname))
            yield from _check_restored(session, task, now, stop)
            return
        stop = session._resume_wait(tid, 0, True, tid)
        if not _is_our_step(stop):
            yield ev.SigreturnAbandoned(pid, tid, f"stepping the restorer was interrupted "
                                        f"({stop.kind} {stop.sig})", pc)
            session.requeue(stop)
            return
        new = task.registers()
        # both dicts come from the one regset layout: same keys, same order
        changed = {k: (v, w) for (k, v), w in zip(regs.items(), new.values()) if v != w}
        yield ev.SigreturnStep(pid, tid, StepRecord(pc, code[:size], text, changed, sysname))
        regs = new
    yield ev.SigreturnAbandoned(pid, tid, "no sigreturn system call within "
                                f"{MAX_RESTORER_STEPS} instructions of the restorer",
                                regs[abi.pc])


def _is_our_breakpoint(stop: Stop) -> bool:
    """The restorer breakpoint's SIGTRAP (PtraceTask.arm_breakpoint): a debug
    register's, or our perf_event's (not one of the program's own)."""
    code = stop.si_code
    if code == TRAP_HWBKPT:
        return True
    raw = stop.siginfo_raw
    return code == TRAP_PERF and raw is not None \
        and SI_PERF_DATA.unpack_from(raw)[0] == PERF_SIG_DATA


def _is_our_step(stop: Stop) -> bool:
    # si_code straight from the raw siginfo (None without one): no full decode
    return (stop.kind == "signal" and stop.sig == signal.SIGTRAP
            and stop.si_code in (TRAP_TRACE, TRAP_BRKPT))


def _run_to_restorer(
    session: Session, task: PtraceTask, frame: SigFrame
) -> Generator[ev.Event, None, bool]:
    """Continue with a breakpoint on the restorer until this frame's handler returns.

    Returns (via StopIteration value) whether the restorer was reached.
    """
    abi = task.abi
    pid, tid = task.pid, task.tid
    target_sp = frame.address + abi.word
    try:
        sig = session._stopped.get(tid, 0)
        while True:
            try:
                task.arm_breakpoint(frame.pretcode)  # a perf_event, else DR0/DR7
            except SigdbgError as exc:
                yield ev.SigreturnAbandoned(
                    pid, tid, f"cannot set a breakpoint on the restorer: {exc}", frame.pretcode)
                return False
            stop = session._resume_wait(tid, sig, False, tid)
            sig = 0
            if stop.kind in ("exited", "killed"):
                yield ev.SigreturnAbandoned(
                    pid, tid, "the process ended before the handler returned "
                    "(e.g. _exit in the handler)", 0)
                session.requeue(stop)
                return False
            if stop.kind == "signal" and stop.sig == signal.SIGTRAP \
                    and _is_our_breakpoint(stop):
                sp = task.pc_sp()[1]
                if sp == target_sp:
                    return True
                if sp > target_sp:
                    yield ev.SigreturnAbandoned(
                        pid, tid, "a handler returned to the restorer above this frame: the "
                        "handler left without sigreturn (siglongjmp)", frame.pretcode)
                    return False
                continue  # a nested handler returning through the same restorer
            if stop.kind == "signal" and not session.policy.passes(stop.sig):
                assert stop.siginfo is not None
                yield ev.SignalDelivered(pid, tid, stop.siginfo, "suppressed", task.pc())
                continue  # resumed with 0 at the top of the loop
            if stop.kind == "signal":
                # Another signal arrives while the handler runs: deliver it into
                # its handler (shown like any delivery) and see where its frame lands.
                assert stop.siginfo is not None
                pc = task.pc()
                nxt = session._resume_wait(tid, stop.sig, True, tid)
                if not (nxt.kind == "signal" and nxt.sig == signal.SIGTRAP
                        and nxt.si_code == 5):
                    yield ev.SignalDelivered(pid, tid, stop.siginfo, "passed", pc)
                    session.requeue(nxt)
                    yield ev.SigreturnAbandoned(pid, tid, f"interrupted by {nxt.kind}", pc)
                    return False
                yield ev.SignalDelivered(pid, tid, stop.siginfo, "handler", pc)
                regs = task.registers()
                view = session.view(task)
                inner_abi = task.abi  # the inner handler's (mixed-mode code)
                inner = decode_sigframe(task, inner_abi, regs[inner_abi.sp], view=view,
                                        signo=stop.siginfo.si_signo)
                yield ev.HandlerEntered(pid, tid, regs[inner_abi.pc], inner)
                if inner.address >= frame.address:
                    yield ev.SigreturnAbandoned(
                        pid, tid, "a new signal frame was built at or above this one: the "
                        "handler left without sigreturn (siglongjmp)", frame.pretcode)
                    yield from step_through_sigreturn(session, task, inner)
                    return False
                # a nested delivery inside our handler: follow its return first
                yield from step_through_sigreturn(session, task, inner)
                if tid not in session._stopped:
                    return False
                continue
            if stop.kind in ("group", "event", "interrupt", "syscall"):
                continue
    finally:
        try:
            task.disarm_breakpoint()
        except SigdbgError:
            pass


def _check_restored(
    session: Session, task: PtraceTask, frame: SigFrame, stop: Stop
) -> Iterator[ev.Event]:
    pid, tid = task.pid, task.tid
    if stop.kind in ("exited", "killed"):
        yield ev.SigreturnAbandoned(pid, tid, "the process ended in sigreturn", 0)
        session.requeue(stop)
        return
    try:
        abi = task.abi
        if abi.name != frame.abi:
            # the restored cs is of the other ABI (mixed-mode code): compare
            # in the frame's own register names
            abi = abi_by_name(frame.abi)
            regs = task.registers_as(abi)
        else:
            regs = task.registers()
    except ProcessGone:
        return
    diffs, not_compared = compare_restored(abi, frame, regs)
    if stop.kind == "signal" and not _is_our_step(stop):
        # a signal became deliverable when the mask was restored: it is
        # delivered at the restored context, so the comparison still holds
        session.requeue(stop)
    yield ev.ContextRestored(pid, tid, not diffs, regs, diffs, not_compared)
