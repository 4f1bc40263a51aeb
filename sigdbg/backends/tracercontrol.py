"""The :class:`~sigdbg.backends.base.Control` of one process over any
:class:`~sigdbg.backends.base.TracerBackend` (the ptrace backend's
``Tracer``; the recorded fake of the unit tests): resume, wait for a
classified stop, software and execute breakpoints, masks.  Logic over the
Protocols only, so it sits beside them."""

from __future__ import annotations

import signal
from collections.abc import Collection
from typing import TYPE_CHECKING

from sigdbg.backends.base import Control, How, Target, TracedTask, TracerBackend
from sigdbg.backends.stopcodes import Stop, classify
from sigdbg.errors import FeatureUnavailable, ProcessGone, SigdbgError


class TracerControl:
    """:class:`~sigdbg.backends.base.Control` over a
    :class:`~sigdbg.backends.base.TracerBackend` and one traced process: an
    adapter, the stops classified as the session classifies them (every
    tracee is SEIZEd).  ``Session`` drives the tracer's hot path itself and
    hands this to the engine's sigreturn walk for what the walk does to a
    thread (watch the restorer, read masks)."""

    def __init__(self, tracer: TracerBackend, pid: int) -> None:
        self.tracer = tracer
        self.pid = pid
        #: software breakpoints: address -> the original bytes
        self.breakpoints: dict[int, bytes] = {}

    def _task(self, tid: int) -> TracedTask:
        t = self.tracer.tasks.get(tid)
        if t is None:
            raise ProcessGone(f"thread {tid} is not traced")
        return t

    def task(self, tid: int) -> Target:
        return self._task(tid)

    def resume(self, tid: int, sig: int = 0, how: How = "cont") -> None:
        t = self._task(tid)
        if how == "step":
            t.step(sig)
        elif how == "syscall":
            t.syscall(sig)
        else:
            t.cont(sig)

    def wait(self, tid: int = -1) -> Stop:
        res, raw = self.tracer.wait_siginfo(tid)
        return classify(res.tid, res.status, raw, True, res.pid)

    def resume_wait(self, tid: int, sig: int = 0, how: How = "cont",
                    wait_tid: int = -1) -> Stop:
        r = self.tracer.resume_wait(self._task(tid), sig, how == "step", wait_tid,
                                    syscall=how == "syscall")
        return classify(r.wait.tid, r.wait.status, r.siginfo, True, r.wait.pid)

    def insert_breakpoint(self, address: int) -> None:
        if address in self.breakpoints:
            return
        t = self._task(self.pid)
        code = t.abi.breakpoint_insn
        if not code:
            raise FeatureUnavailable(f"no software breakpoint instruction for {t.abi}")
        orig = t.read(address, len(code))
        t.write(address, code)
        self.breakpoints[address] = orig

    def remove_breakpoint(self, address: int) -> None:
        orig = self.breakpoints.pop(address, None)
        if orig is not None:
            self._task(self.pid).write(address, orig)

    def breakpoint_addresses(self) -> Collection[int]:
        return self.breakpoints.keys()

    def breakpoint_hit(self, stop: Stop) -> int | None:
        if stop.kind != "signal" or stop.sig != signal.SIGTRAP or not self.breakpoints:
            return None
        t = self.tracer.tasks.get(stop.tid)
        if t is None:
            return None
        abi = t.abi
        if not abi.breakpoint_insn or stop.si_code != abi.breakpoint_si_code:
            return None
        regs = t.registers()
        address = regs[abi.pc] - abi.breakpoint_pc_adjust
        if address not in self.breakpoints:
            return None  # the program's own breakpoint instruction
        if abi.breakpoint_pc_adjust:
            regs[abi.pc] = address
            t.set_registers(regs)
        return address

    def send_signal(self, tid: int, sig: int) -> None:
        self.tracer.tgkill(self.pid, tid, sig)

    def watch_execute(self, tid: int, address: int) -> None:
        self._task(tid).arm_breakpoint(address)

    def unwatch(self, tid: int) -> None:
        self._task(tid).disarm_breakpoint()

    def interrupt(self, tid: int) -> None:
        self._task(tid).interrupt()

    def sigmask(self, tid: int) -> int:
        return self._task(tid).sigmask()

    def pending_signals(self, tid: int) -> int:
        return self._task(tid).pending_signals()

    def event_msg(self, tid: int) -> int:
        return self._task(tid).event_msg()

    def detach(self) -> None:
        for address in list(self.breakpoints):
            try:
                self.remove_breakpoint(address)
            except SigdbgError:
                pass
        self.tracer.detach_all(self.pid)


if TYPE_CHECKING:
    _CONTROL: type[Control] = TracerControl  # mypy --strict proves the Protocol
