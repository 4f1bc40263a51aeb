"""What the session decides by: the user's signal policy (gdb's ``handle``
table), and the record of a delivery stepped into whose outcome the next
stop tells (``Pending``)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import NamedTuple

from sigdbg.decode.siginfo import SigInfo

#: Signals gdb does not stop for by default (they are part of normal operation).
_NOSTOP_DEFAULT = frozenset(
    {signal.SIGWINCH, signal.SIGURG, signal.SIGPROF, signal.SIGVTALRM, signal.SIGCHLD}
)


@dataclass
class SignalPolicy:
    """gdb's ``handle`` table plus ``catch signal``: per signal stop/print/pass."""

    nostop: set[int] = field(default_factory=lambda: set(_NOSTOP_DEFAULT))
    noprint: set[int] = field(default_factory=set)
    nopass: set[int] = field(default_factory=set)
    #: decode the frame at handler entry (False = delivery-only tracing)
    frames: bool = True
    #: when not None, only these signals are reported (trace -e signal=SET)
    only: set[int] | None = None
    #: a group-stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) keeps the program
    #: stopped until SIGCONT, as without a tracer (PTRACE_LISTEN; strace does
    #: the same).  False: resuming after a group-stop restarts the program
    #: (what gdb's `continue` does there).
    job_control: bool = True

    def stops(self, sig: int) -> bool:
        return sig not in self.nostop

    def prints(self, sig: int) -> bool:
        return sig not in self.noprint and (self.only is None or sig in self.only)

    def passes(self, sig: int) -> bool:
        return sig not in self.nopass


class Pending(NamedTuple):
    """A delivery we stepped into; its outcome is known at the next stop."""

    siginfo: SigInfo
    pc: int
    #: (sp, bytes) read at the next stop by the same backend call, if any
    read: tuple[int, bytes] | None = None
    #: stepped only so that --srop learns the frame: no events of its own
    quiet: bool = False
