"""The closed set of events the engine returns (never raises).

Front ends ``match`` on these; each has ``to_json()`` whose ``event`` key is
the event name (documented in docs/trace-schema.json).
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.abi.aarch64.a64frame import A64Frame
from sigdbg.abi.arm.a32frame import A32Frame
from sigdbg.decode.altstack import AltstackUse
from sigdbg.decode.disasm_model import StepRecord
from sigdbg.decode.model import Model, one_store_init
from sigdbg.decode.sigframe import FrameDiff, SigFrame
from sigdbg.decode.siginfo import SigInfo
from sigdbg.engine.srop import Verdict


@dataclass(frozen=True)
class Event(Model):
    pid: int
    tid: int

    @property
    def name(self) -> str:
        return _NAMES[type(self)]



@dataclass(frozen=True)
class Exec(Event):
    path: str
    abi: str


@dataclass(frozen=True)
class NewTask(Event):
    """A fork/vfork/clone child that the tracer follows (``tid`` is the child)."""

    parent: int
    how: str  #: fork, vfork, clone


@dataclass(frozen=True)
class SignalDelivered(Event):
    """A signal-delivery-stop: the kernel is about to deliver ``siginfo``."""

    siginfo: SigInfo
    disposition: str  #: handler, ignored, fatal, stop, suppressed, passed
    pc: int


@dataclass(frozen=True)
class HandlerEntered(Event):
    handler: int
    frame: SigFrame | A64Frame | A32Frame
    #: the frame is on an alternate signal stack: its headroom (else None)
    altstack: AltstackUse | None = None


@dataclass(frozen=True)
class GroupStop(Event):
    signal: int


@dataclass(frozen=True)
class Interrupted(Event):
    """The debugger stopped the task (PTRACE_INTERRUPT), e.g. on Ctrl-C."""


@dataclass(frozen=True)
class Breakpoint(Event):
    address: int


@dataclass(frozen=True)
class Stepped(Event):
    pc: int


@dataclass(frozen=True)
class SigreturnStep(Event):
    step: StepRecord


@dataclass(frozen=True)
class SigreturnEntered(Event):
    """The restorer reached the sigreturn syscall; the frame as it is now."""

    syscall: str
    frame: SigFrame | A64Frame | A32Frame
    changes: FrameDiff  #: what the handler changed since handler entry


@dataclass(frozen=True)
class ContextRestored(Event):
    """After sigreturn: the restored registers compared with the frame."""

    matches: bool
    registers: dict[str, int]
    differences: tuple[str, ...]
    not_compared: tuple[str, ...]


@dataclass(frozen=True)
class SigreturnAbandoned(Event):
    """The handler left without returning through the trampoline."""

    reason: str
    pc: int


@dataclass(frozen=True)
class SigreturnChecked(Event):
    """A rt_sigreturn/sigreturn system call is about to run (``trace
    --srop``): the frame it will restore judged against the deliveries and
    the kernel's rules (engine/srop.py), before the kernel acts on it."""

    verdict: Verdict


@dataclass(frozen=True)
class Rendered(Event):
    """Deliveries the trace loop's fast path served (engine/fastpath.py):
    ``count`` signal_delivered + handler_entered pairs, already written in
    the front end's own format by the encoder it gave ``Session.events``
    (never produced without one).  ``tid`` is the last one's task."""

    count: int
    data: bytes

    @property
    def name(self) -> str:
        # not a JSON event of its own (its data is the lines): not in _NAMES,
        # which docs/trace-schema.json lists
        return "rendered"


@dataclass(frozen=True)
class Exited(Event):
    status: int


@dataclass(frozen=True)
class Killed(Event):
    signal: int
    core_dumped: bool


_NAMES: dict[type[Event], str] = {
    Exec: "exec",
    NewTask: "new_task",
    SignalDelivered: "signal_delivered",
    HandlerEntered: "handler_entered",
    GroupStop: "group_stop",
    Interrupted: "interrupted",
    Breakpoint: "breakpoint",
    Stepped: "stepped",
    SigreturnStep: "sigreturn_step",
    SigreturnEntered: "sigreturn_entered",
    ContextRestored: "context_restored",
    SigreturnAbandoned: "sigreturn_abandoned",
    SigreturnChecked: "sigreturn_checked",
    Exited: "exited",
    Killed: "killed",
}

for _cls, _name in _NAMES.items():  # several events per signal on the trace path
    one_store_init(_cls)
    _cls._json_head = (("event", _name),)  # the compiled JSON builder puts it first
