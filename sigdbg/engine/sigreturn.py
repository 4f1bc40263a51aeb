"""Run a handler to its trampoline, single-step through it, check the result.

From handler entry the task runs (a hardware execute breakpoint on the
restorer address = the frame's pretcode, x30 on AArch64: per thread, leaving
the shared text untouched; which kind the tracer's kernel offers is an Abi
fact, see PtraceTask.arm_breakpoint) until *this* handler returns to its
restorer with ``sp == frame + sp_at_restorer`` (the frame kind's row).  Every restorer
instruction is then single-stepped and recorded.  Just before the
``rt_sigreturn`` / ``sigreturn`` system call the frame is re-read where the
kernel will read it (the frame kind's ``sp_at_sigreturn``: x86 ``sp - 8``
or ``sp - 4``, AArch64 ``sp``) and compared with the snapshot from handler
entry; after the syscall the registers the kernel restored are compared with
that frame (decode/sigreturn_rules.py, FP/SIMD too where the frame has them).

The walk is a loop over a stack of the frames being followed (innermost
last), not a recursion: a signal delivered while a handler runs pushes its
frame; a frame whose handler was left without sigreturn (siglongjmp) is
popped when a new frame is built at or above it, or when a handler returns
to the restorer above it.  Thousands of handlers left in a row cost nothing
but events.

Traps are the program's as much as ours.  Every trap the walk causes (a
single-step, the hardware breakpoint on the restorer, the report of a
stepped system call) is a SIGTRAP the kernel *forces* (``force_sig_fault``,
kernel/signal.c ``force_sig_info_to_task``): when SIGTRAP is blocked at that
moment the kernel unblocks it and resets the program's SIGTRAP handler to
SIG_DFL, so the program's next own trap would kill it.  So:

- a handler that runs with SIGTRAP blocked (a SIGTRAP handler, or an
  ``sa_mask`` that includes it; PTRACE_GETSIGMASK at its entry) is followed
  with PTRACE_SYSCALL to its sigreturn system call instead: syscall-stops are
  ptrace notifications, not signals;
- the sigreturn system call itself is stepped with PTRACE_SINGLESTEP only
  when the context it restores leaves SIGTRAP unblocked and has TF clear.
  Otherwise it runs under PTRACE_SYSCALL (entry and exit stop).  A TF the
  program set in the saved eflags is thus restored and left alone: under
  PTRACE_SINGLESTEP the kernel would keep TIF_FORCED_TF over the sigreturn,
  hide the program's TF from PTRACE_GETREGS and clear it at the next
  PTRACE_CONT (arch/x86/kernel/step.c ``user_disable_single_step``).

Stops that are not ours end the walk with a :class:`SigreturnAbandoned` event
and are handed back to the session's main loop.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from sigdbg.abi import abi_by_name
from sigdbg.backends.base import Control, Target
from sigdbg.backends.stopcodes import (
    PTRACE_EVENT_EXEC,
    PTRACE_EVENT_EXIT,
    PTRACE_EVENT_SECCOMP,
)
from sigdbg.decode.disasm_model import StepRecord
from sigdbg.decode.frames import AnyFrame, decode_frame, diff_any
from sigdbg.decode.sigframe import SigFrame, kind_row
from sigdbg.decode.sigreturn_rules import (
    MAX_RESTORER_STEPS,
    compare_restored,
    compare_restored_fp,
    compare_restored_mask,
    frame_at_sigreturn,
    restored_fp_regsets,
)
from sigdbg.engine import events as ev
from sigdbg.engine.stops import TRAP_TRACE, Stop, siginfo_of
from sigdbg.engine.walkhost import ControlHost, WalkHost, WalkPolicy, leftover_events
from sigdbg.engine.walkparts import (
    LEFT_RESTORER,
    NO_PROGRESS_LIMIT,
    NOT_FOLLOWED,
    RESTORER_READ,
    SIGTRAP,
    SIGTRAP_BIT,
    UNBLOCKABLE,
    ended_reason,
    frame_abi,
    insn_text,
    is_handler_entry,
    is_our_breakpoint,
    is_our_step,
    syscall_text,
)
from sigdbg.errors import ProcessGone, SigdbgError
from sigdbg.names import signal_name

#: importable from here as before the split (the session, run control, gdb,
#: the tests): the hosts of engine/walkhost.py, the limits of engine/walkparts.py
__all__ = [
    "NO_PROGRESS_LIMIT",
    "NOT_FOLLOWED",
    "SIGTRAP_BIT",
    "ControlHost",
    "WalkHost",
    "WalkPolicy",
    "leftover_events",
    "step_through_sigreturn",
]


class _Followed:
    """One frame whose handler the walk follows to its sigreturn."""

    __slots__ = ("frame", "target_sp", "trap_free", "at_restorer", "steps", "code_at", "code")

    def __init__(self, frame: AnyFrame, sp_at_restorer: int, trap_free: bool) -> None:
        self.frame = frame
        self.target_sp = frame.address + sp_at_restorer  #: sp once the handler returned
        #: SIGTRAP blocked in the handler: no trap may be caused (PTRACE_SYSCALL)
        self.trap_free = trap_free
        self.at_restorer = False  #: the handler returned: stepping the restorer
        self.steps = 0
        self.code_at = 0
        self.code = b""


class _Walk:
    """The state machine of one walk (see the module docstring)."""

    def __init__(self, session: WalkHost, control: Control, task: Target) -> None:
        self.s = session
        self.control = control
        self.task = task
        self.abi = task.abi
        self.step_codes = self.abi.step_trap_codes
        self.pid, self.tid = task.pid, task.tid
        self.stack: list[_Followed] = []
        self.sig = 0  #: signal to resume with at the next run
        self.in_syscall = False  #: a syscall-entry stop was seen, not yet its exit
        #: how many sigreturns in a row restored a context at which a signal
        #: was already deliverable (its handler then starts there, before the
        #: program ran an instruction); the session keeps it between walks
        self.streak = session._no_progress.pop(task.tid, 0)
        self.expect_delivery = False  #: the last sigreturn left a signal deliverable
        self.armed = False
        self.restored_any = False  #: a sigreturn of this walk left nothing deliverable

    # -- the loop ------------------------------------------------------------------
    def run(self, entry: AnyFrame, at_entry: bool) -> Iterator[ev.Event]:
        try:
            self._push(entry)
            if not at_entry and self.task.pc_sp() == (entry.pretcode,
                                                      self.stack[-1].target_sp):
                self.stack[-1].at_restorer = True  # the handler returned already
            while self.stack:
                top = self.stack[-1]
                if top.at_restorer:
                    yield from self._step_restorer(top)
                else:
                    yield from self._run_handler(top)
        except ProcessGone:
            self.stack.clear()
        finally:
            self._disarm()
        if self.streak:
            self.s._no_progress[self.tid] = self.streak
        elif self.restored_any:
            self.s._progressed(self.tid)

    def _push(self, frame: AnyFrame) -> None:
        try:
            blocked = self.control.sigmask(self.tid)
        except SigdbgError:
            blocked = SIGTRAP_BIT  # unknown: cause no trap
        below = kind_row(self.abi.name, frame.kind).sp_at_restorer
        self.stack.append(_Followed(frame, below, bool(blocked & SIGTRAP_BIT)))
        self.in_syscall = False  # at a handler's first instruction

    def _abandon(self, n: int, reason: str) -> Iterator[ev.Event]:
        """Pop the ``n`` innermost frames: their walks end for ``reason``."""
        for _ in range(min(n, len(self.stack))):
            f = self.stack.pop()
            yield ev.SigreturnAbandoned(self.pid, self.tid, reason, f.frame.pretcode)

    def _end(self, stop: Stop | None, reason: str, pc: int) -> Iterator[ev.Event]:
        """End every walk; ``stop`` goes back to the main loop."""
        if self.stack:
            yield ev.SigreturnAbandoned(self.pid, self.tid, reason, pc)
        self.stack.clear()
        if stop is not None:
            self.s.requeue(stop)

    def _arm(self, address: int) -> bool:
        try:
            self.control.watch_execute(self.tid, address)  # a perf_event, else DR0/DR7
        except SigdbgError:
            return False
        self.armed = True
        return True

    def _disarm(self) -> None:
        if self.armed:
            self.armed = False
            try:
                self.control.unwatch(self.tid)
            except SigdbgError:
                pass

    # -- a handler runs ----------------------------------------------------------------
    def _run_handler(self, top: _Followed) -> Iterator[ev.Event]:
        """Resume until something happens to the frames followed."""
        sig, self.sig = self.sig, 0
        expect_delivery, self.expect_delivery = self.expect_delivery, False
        if not top.trap_free and not self._arm(top.frame.pretcode):
            top.trap_free = True  # no debug register: follow the system calls instead
        if top.trap_free:
            self._disarm()
            stop = self.s._resume_wait(self.tid, sig, False, self.tid, syscall=True)
        else:
            stop = self.s._resume_wait(self.tid, sig, False, self.tid)
        kind = stop.kind
        if kind == "signal" and not (stop.sig == SIGTRAP and self.armed
                                     and is_our_breakpoint(stop)):
            self.expect_delivery = expect_delivery
            yield from self._signal(stop)
            return
        if expect_delivery:
            self.streak = 0  # the program ran after the last sigreturn after all
        if kind == "signal":
            yield from self._restorer_reached()
        elif kind == "syscall":
            yield from self._syscall_stop(stop)
        else:
            yield from self._other(stop, top)

    def _restorer_reached(self) -> Iterator[ev.Event]:
        """DR0 fired: which of the frames followed (if any) returned?"""
        pc, sp = self.task.pc_sp()
        stack = self.stack
        # the innermost frame at or above sp: frames below sp were left
        i = len(stack) - 1
        while i >= 0 and stack[i].target_sp < sp:
            i -= 1
        yield from self._abandon(len(stack) - 1 - i, LEFT_RESTORER)
        # (pretcode may carry Abi.isa_bit, the instruction set; pc does not)
        if i >= 0 and stack[i].target_sp == sp \
                and stack[i].frame.pretcode & ~self.abi.isa_bit == pc & ~self.abi.isa_bit:
            self._disarm()
            stack[i].at_restorer = True
        # else: a handler we do not follow returned through the same restorer

    def _syscall_stop(self, stop: Stop) -> Iterator[ev.Event]:
        """A syscall-stop while following trap-free (or, with --srop and no
        seccomp filter, while running: the session's verdict first)."""
        if self.in_syscall:
            self.in_syscall = False  # an exit: nothing to see
            return
        self.in_syscall = True
        if self.s.srop is not None:
            yield from self.s.srop_stop(stop, self.task)
        regs = self.task.registers()
        abi = self.abi
        if regs[abi.orig_syscall_nr] not in (abi.rt_sigreturn_nr, abi.sigreturn_nr):
            return  # (at a syscall-entry stop the number is in orig_rax)
        sp = regs[abi.sp]
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            f = stack[i]
            if frame_at_sigreturn(abi.name, f.frame.kind, sp) == f.frame.address:
                yield from self._abandon(len(stack) - 1 - i, LEFT_RESTORER)
                yield from self._sigreturn(f, regs, None)
                return
            if f.frame.address > sp:
                return  # the sigreturn of a deeper frame we do not follow
        yield from self._abandon(len(stack), LEFT_RESTORER)

    def _other(self, stop: Stop, top: _Followed) -> Iterator[ev.Event]:
        """Exits, events, group-stops while a handler runs."""
        kind = stop.kind
        if kind in ("exited", "killed"):
            yield from self._end(stop, ended_reason(stop), 0)
            return
        if kind == "event":
            if stop.event == PTRACE_EVENT_EXIT:
                yield from self._exiting(stop, top)
                return
            if stop.event == PTRACE_EVENT_EXEC:
                yield from self._end(stop, "the process called execve before the handler "
                                     "returned", 0)
                return
            # fork, vfork, clone: the session's bookkeeping, then on
            yield from self.s._handle(stop)
            return
        # a group-stop or an interrupt: the main loop's business (job control)
        yield from self._end(stop, f"the handler was stopped ({kind} "
                             f"{signal_name(stop.sig)})", self._pc())

    def _exiting(self, stop: Stop, top: _Followed) -> Iterator[ev.Event]:
        """PTRACE_EVENT_EXIT: say whether the handler ended the process or
        had been left before (its stack pointer is above the frame then)."""
        try:
            pc, sp = self.task.pc_sp()
        except SigdbgError:
            pc = sp = 0
        try:
            status = self.control.event_msg(self.tid)  # the wait status it will exit with
            how = (f"exit status {status >> 8 & 0xFF}" if status & 0x7F == 0
                   else f"killed by {signal_name(status & 0x7F)}")
        except SigdbgError:
            how = "exiting"
        if sp and sp >= top.target_sp:
            reason = ("the handler was left without sigreturn (siglongjmp or setcontext); "
                      f"the process then ended ({how})")
        else:
            reason = f"the process ended inside the handler ({how}; e.g. _exit in the handler)"
        yield from self._end(stop, reason, pc)

    def _pc(self) -> int:
        try:
            return self.task.pc()
        except SigdbgError:
            return 0

    # -- a signal arrives while following ---------------------------------------------------
    def _signal(self, stop: Stop) -> Iterator[ev.Event]:
        """A signal-delivery-stop of the task while frames are followed:
        deliver it into its handler (shown like any delivery) and follow the
        frame built, innermost."""
        s, task, pid, tid = self.s, self.task, self.pid, self.tid
        while True:
            info = siginfo_of(stop)
            assert info is not None
            pc = self._pc()
            if not s.policy.passes(stop.sig):
                yield ev.SignalDelivered(pid, tid, info, "suppressed", pc)
                return
            nxt = s._resume_wait(tid, stop.sig, True, tid)
            if is_handler_entry(nxt, tid):
                yield ev.SignalDelivered(pid, tid, info, "handler", pc)
                regs = task.registers()
                inner_abi = task.abi  # the inner handler's (mixed-mode code)
                inner = decode_frame(task, inner_abi, regs[inner_abi.sp], view=s.view(task),
                                     signo=info.si_signo, entry_regs=regs)
                if s.srop is not None and isinstance(inner, SigFrame):
                    s.srop.delivered(tid, inner)  # a frame --srop must know
                yield ev.HandlerEntered(pid, tid, regs[inner_abi.pc], inner)
                yield from self._entered(inner)
                return
            if is_our_step(nxt, self.step_codes):
                # no handler: ignored, one instruction ran under our step
                yield ev.SignalDelivered(pid, tid, info, "ignored", pc)
                if nxt.si_code == TRAP_TRACE \
                        and task.registers()[self.abi.flags] & self.abi.trace_flag:
                    # the program's own TF was set: the trap is its own too
                    stop = nxt
                    continue
                return
            if nxt.kind == "killed" or (nxt.kind == "event" and nxt.event == PTRACE_EVENT_EXIT):
                yield ev.SignalDelivered(pid, tid, info, "fatal", pc)
                yield from self._end(nxt, f"the process was killed by {signal_name(stop.sig)} "
                                     "before the handler returned", pc)
                return
            yield ev.SignalDelivered(pid, tid, info, "stop" if nxt.kind == "group" else "passed",
                                     pc)
            yield from self._end(nxt, f"interrupted by {nxt.kind} {signal_name(nxt.sig)}", pc)
            return

    def _entered(self, inner: AnyFrame) -> Iterator[ev.Event]:
        """A handler was entered while following: pop the frames it shows
        were left, then follow it (unless it makes no progress possible)."""
        stack = self.stack
        n = 0
        while n < len(stack) and stack[-1 - n].frame.address <= inner.address:
            n += 1
        yield from self._abandon(n, "a new signal frame was built at or above this one: the "
                                 "handler left without sigreturn (siglongjmp)")
        if self.expect_delivery and self.streak >= NO_PROGRESS_LIMIT:
            # delivered at the context the last sigreturn restored, before the
            # program ran an instruction, again: following it too would starve it
            self.expect_delivery = False
            self.streak = 0
            yield ev.SigreturnAbandoned(self.pid, self.tid, NOT_FOLLOWED, inner.pretcode)
            return
        self._push(inner)

    # -- the restorer ----------------------------------------------------------------------
    def _step_restorer(self, top: _Followed) -> Iterator[ev.Event]:
        """One instruction of the restorer (or the sigreturn at its end)."""
        task, abi, tid = self.task, self.abi, self.tid
        regs = task.registers()
        pc = regs[abi.pc] & ~abi.isa_bit
        isa = abi.in_isa(regs[abi.flags])
        if not top.code or not top.code_at <= pc < top.code_at + len(top.code) - 16:
            top.code_at, top.code = pc, task.read_upto(pc, RESTORER_READ)
        off = pc - top.code_at
        code = top.code[off : off + 16]
        if len(code) < 16:
            code = task.read_upto(pc, 16)
        at_syscall = abi.syscall_insn(code, isa) is not None
        if at_syscall and regs[abi.syscall_nr] in (abi.rt_sigreturn_nr, abi.sigreturn_nr):
            yield from self._sigreturn(top, regs, code)
            return
        if top.steps >= MAX_RESTORER_STEPS:
            self.stack.pop()
            yield ev.SigreturnAbandoned(self.pid, tid, "no sigreturn system call within "
                                        f"{MAX_RESTORER_STEPS} instructions of the restorer", pc)
            return
        top.steps += 1
        size, text = insn_text(abi, isa, code, pc)
        sysname = syscall_text(abi, regs[abi.syscall_nr]) if at_syscall else None
        stop = self.s._resume_wait(tid, 0, True, tid)
        if is_our_step(stop, self.step_codes):
            if self.expect_delivery:  # an instruction ran where a delivery was due
                self.expect_delivery = False
                self.streak = 0
            new = task.registers()
            # both dicts come from the one regset layout: same keys, same order
            changed = {k: (v, w) for (k, v), w in zip(regs.items(), new.values()) if v != w}
            yield ev.SigreturnStep(self.pid, tid, StepRecord(pc, code[:size], text, changed,
                                                             sysname))
            return
        if stop.kind == "signal":
            yield from self._signal(stop)  # came before the instruction ran
            return
        yield from self._other(stop, top)

    def _sigreturn(self, top: _Followed, regs: dict[str, int],
                   code: bytes | None) -> Iterator[ev.Event]:
        """At the sigreturn system call: the frame as the kernel will read it,
        the call, and what it restored.  ``code`` is None at a syscall-entry
        stop (trap-free following: the call is already under way)."""
        s, task, abi, tid = self.s, self.task, self.abi, self.tid
        entry = top.frame
        pc = regs[abi.pc]
        nr = regs[abi.syscall_nr if code is not None else abi.orig_syscall_nr]
        sysname = syscall_text(abi, nr) or "rt_sigreturn"
        frame_addr = frame_at_sigreturn(abi.name, entry.kind, regs[abi.sp])
        now = decode_frame(task, abi, frame_addr, view=s.view(task), kind=entry.kind,
                           signo=entry.sig, previous=entry)
        yield ev.SigreturnEntered(self.pid, tid, sysname, now, diff_any(entry, now))
        if code is not None and s.srop is not None:
            yield from s.srop_before_syscall(task, regs, code)
        # the frame's own ABI names its flags (an ia32 frame in a 64-bit task)
        fabi = frame_abi(now)
        flags = now.mcontext.get(fabi.mcontext_name(fabi.flags), 0)
        stepped = False
        if code is None:
            stop = s._resume_wait(tid, 0, False, tid, syscall=True)  # to its exit
            stop = yield from self._past_seccomp(stop, False)
            self.in_syscall = False
        elif now.sigmask & SIGTRAP_BIT or flags & fabi.trace_flag:
            # stepping it would force a SIGTRAP in the restored context (its
            # mask blocks SIGTRAP) or hide and then clear the program's TF
            stop = s._resume_wait(tid, 0, False, tid, syscall=True)
            if stop.kind == "syscall":
                stop = s._resume_wait(tid, 0, False, tid, syscall=True)
            stop = yield from self._past_seccomp(stop, False)
            if stop.kind == "signal":
                yield from self._signal(stop)  # came before the call: again later
                return
        else:
            stepped = True
            stop = s._resume_wait(tid, 0, True, tid)
            stop = yield from self._past_seccomp(stop, True)
            if stop.kind == "signal" and not is_our_step(stop, self.step_codes) \
                    and self._pc() == pc:
                yield from self._signal(stop)  # came before the call: again later
                return
        if code is not None:
            size, text = insn_text(abi, abi.in_isa(regs[abi.flags]), code, pc & ~abi.isa_bit)
            yield ev.SigreturnStep(self.pid, tid, StepRecord(pc, code[:size], text, {}, sysname))
        yield from self._restored(top, now, stop, stepped)

    def _past_seccomp(self, stop: Stop, step: bool) -> Generator[ev.Event, None, Stop]:
        """The sigreturn filter's seccomp stop comes between the call's entry
        and its execution (kernel/seccomp.c, after the syscall-entry stop):
        the session's verdict, then on as the call was being run (a step
        resumed there reports its trap after the call; PTRACE_SYSCALL its
        exit stop)."""
        while stop.kind == "event" and stop.event == PTRACE_EVENT_SECCOMP \
                and stop.tid == self.tid:
            yield from self.s._handle(stop)
            stop = self.s._resume_wait(self.tid, 0, step, self.tid, syscall=not step)
        return stop

    def _restored(self, top: _Followed, frame: AnyFrame, stop: Stop,
                  stepped: bool) -> Iterator[ev.Event]:
        task, tid = self.task, self.tid
        if stop.kind in ("exited", "killed") or (stop.kind == "event"
                                                 and stop.event == PTRACE_EVENT_EXIT):
            yield from self._end(stop, "the process ended in sigreturn", 0)
            return
        abi = task.abi
        if abi.name != frame.abi:
            # the restored cs is of the other ABI (mixed-mode code): compare
            # in the frame's own register names
            abi = abi_by_name(frame.abi)
            regs = task.registers_as(abi)
        else:
            regs = task.registers()
        diffs, not_compared = compare_restored(abi, frame, regs, single_step=stepped,
                                               syscall_stop=stop.kind == "syscall")
        try:
            diffs += compare_restored_mask(frame.sigmask, self.control.sigmask(tid))
        except SigdbgError:
            not_compared += ("sigmask (PTRACE_GETSIGMASK refused)",)
        notes = restored_fp_regsets(frame)
        if notes:
            diffs += compare_restored_fp(frame, {n: task.regset_raw(n) for n in notes})
        self.stack.remove(top)
        yield ev.ContextRestored(self.pid, tid, not diffs, regs, diffs, not_compared)
        if stop.kind == "signal" and not is_our_step(stop, self.step_codes):
            # a signal became deliverable when the mask was restored: it is
            # delivered at the restored context, so the comparison still holds
            if self.stack:
                yield from self._signal(stop)
            else:
                self.s.requeue(stop)
            return
        # A signal deliverable now (the restored mask lets it through) is
        # delivered before the program runs one instruction; the next
        # handler then starts at this very context.
        try:
            pending = self.control.pending_signals(tid)
        except SigdbgError:
            pending = 0
        if pending & ~frame.sigmask & ~UNBLOCKABLE & ~SIGTRAP_BIT:
            self.expect_delivery = True
            self.streak += 1
        else:
            self.streak = 0
            self.restored_any = True



def step_through_sigreturn(
    session: WalkHost, control: Control, task: Target, entry_frame: AnyFrame,
    *, at_entry: bool = True,
) -> Iterator[ev.Event]:
    """Events from handler entry to the restored context (or the reason
    the handler never got there), for this handler and every handler
    entered while it runs.  ``at_entry``: the task stands at the handler's
    first instruction (the session's case); else it is somewhere inside the
    handler, or at the restorer already (gdb's ``step-sigreturn`` after a
    breakpoint in the handler)."""
    return _Walk(session, control, task).run(entry_frame, at_entry)

