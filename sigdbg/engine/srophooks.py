"""The session's side of forged-sigreturn detection (engine/srop.py): turning
it on, the stops it adds (the seccomp filter's, or syscall-entry stops) and
the verdicts they make.  A part of :class:`~sigdbg.engine.session.Session`
(a mixin: the state it reads is the session's, declared below)."""

from __future__ import annotations

from sigdbg.abi import by_name
from sigdbg.backends.base import SessionBackend, TracedTask
from sigdbg.backends.stopcodes import Stop
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.engine import events as ev
from sigdbg.engine.policy import Pending
from sigdbg.engine.srop import SropGuard
from sigdbg.engine.stops import TRACER_SIGINFO_ABI
from sigdbg.errors import SigdbgError


class SropHooks:
    """Session.enable_srop and the hooks of its event loop (engine/session.py)."""

    # the session's state this part reads and sets
    tracer: SessionBackend
    task: TracedTask
    launched: bool
    srop: SropGuard | None
    _cont_syscall: bool
    _quiet: set[int]
    _pending: dict[int, Pending]

    def enable_srop(self) -> SropGuard:
        """Judge every sigreturn from now on (a ``SigreturnChecked`` event
        each).  With the seccomp filter the sigreturns stop by themselves;
        otherwise every run uses PTRACE_SYSCALL (two stops per system call).
        Each delivery is stepped into, also when not reported, since its
        frame must be known."""
        from sigdbg.engine.srop import SropGuard, task_machine_facts

        if self.srop is None:
            self.srop = SropGuard(task_machine_facts(self.task))
            if not self.launched:  # frames above the sp of now may predate us
                for tid, t in self.tracer.tasks.items():
                    try:
                        self.srop.attach_sp[tid] = t.pc_sp()[1]
                    except SigdbgError:
                        pass
        self._cont_syscall = not self.tracer.seccomp_filtered
        return self.srop

    @property
    def srop_by_seccomp(self) -> bool:
        """The sigreturns stop through the seccomp filter (not PTRACE_SYSCALL)."""
        return self.srop is not None and not self._cont_syscall

    def _srop_inherit_early(self, child: int) -> None:
        """A new process stopped before its parent's fork event said which
        thread forked it: it may return through the frames of any thread of
        its parent process (/proc/CHILD/status PPid)."""
        assert self.srop is not None
        ppid = self.tracer.ppid_of(child)
        if ppid and ppid != child and self.tracer.tgid_of(child) == child:
            for tid, t in list(self.tracer.tasks.items()):
                if t.pid == ppid:
                    self.srop.inherit(child, tid)

    def _quiet_step(self, tid: int, sig: int) -> bool:
        """Resuming ``tid`` with a delivery --srop must see: step into it."""
        self._quiet.discard(tid)
        if sig <= 0 or tid not in self.tracer.tasks:
            return False
        self._pending[tid] = Pending(self._pending_info(tid), 0, quiet=True)
        return True

    def _pending_info(self, tid: int) -> SigInfo:
        raw = self.tracer.tasks[tid].siginfo_raw() or bytes(128)
        return decode_siginfo(raw, TRACER_SIGINFO_ABI)

    def srop_stop(self, stop: Stop, task: TracedTask) -> list[ev.Event]:
        """A seccomp stop of the sigreturn filter or a syscall-entry stop:
        the verdict on the sigreturn about to run (none for other calls)."""
        from sigdbg.engine.srop import SECCOMP_CALLS, SYSCALL_CALLS

        assert self.srop is not None
        try:
            if stop.kind == "event":
                call = SECCOMP_CALLS.get(task.event_msg() & 0xFFFF)
                sp = task.pc_sp()[1]
            else:
                info = task.syscall_info()
                if info is None or info[0] != 1:
                    return []  # an exit
                call = SYSCALL_CALLS.get((info[1], info[2]))
                sp = info[3]
        except SigdbgError:
            return []
        if call is None:
            return []
        verdict = self.srop.check(task, task.tid, call[0], call[1], call[2], sp)
        return [ev.SigreturnChecked(task.pid, task.tid, verdict)]

    def srop_before_syscall(self, task: TracedTask, regs: dict[str, int],
                            code: bytes) -> list[ev.Event]:
        """The verdict for a sigreturn about to be stepped over (without the
        filter no stop of its own comes): ``code`` is the instruction."""
        from sigdbg.engine.srop import SYSCALL_CALLS

        if self.srop is None or self.srop_by_seccomp:
            return []
        abi = task.abi
        arch = by_name(abi.syscall_abi_name(code)).audit_arch
        call = SYSCALL_CALLS.get((arch, regs[abi.syscall_nr] & 0xFFFFFFFF))
        if call is None:
            return []
        verdict = self.srop.check(task, task.tid, call[0], call[1], call[2], regs[abi.sp])
        return [ev.SigreturnChecked(task.pid, task.tid, verdict)]
