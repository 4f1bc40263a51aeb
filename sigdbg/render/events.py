"""Text for engine events: strace's ``--- SIG ---`` line, made deep.

Two shapes: the compact one (the default of ``sigdbg trace``), one line per
delivery like strace's, with the handler and restorer in a few words; and
the verbose one (``-v``, and the interactive front ends) with the whole
decoded frame.  Signal names in these lines use glibc's real-time numbering
(``SIGRTMIN+1`` is 35), the way C code and ``kill -l`` spell them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sigdbg.abi import abi_by_name
from sigdbg.decode.sigframe import kind_row
from sigdbg.engine import events as ev
from sigdbg.engine.unwind import StackFrame
from sigdbg.names.signals import glibc_signal_name
from sigdbg.render.text import (
    PLAIN,
    Style,
    altstack_text,
    hx,
    render_frame,
    restorer_short,
    siginfo_text,
)


def _prefix(e: ev.Event) -> str:
    return f"[pid {e.pid}" + (f" tid {e.tid}]" if e.tid != e.pid else "]")


def delivery_text(e: ev.SignalDelivered, st: Style = PLAIN) -> str:
    """``--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, ...} ---``, strace's shape."""
    name = glibc_signal_name(e.siginfo.si_signo)
    return f"--- {st.name(name)} {siginfo_text(e.siginfo, name)} ---"


def render_compact(e: ev.Event, delivered: ev.SignalDelivered | None,
                   st: Style = PLAIN) -> str:
    """The default one-line form.  ``delivered`` is the delivery a
    ``HandlerEntered`` completes (the two make one line)."""
    p = _prefix(e)
    if isinstance(e, ev.HandlerEntered):
        head = delivery_text(delivered, st) if delivered is not None else \
            f"--- {st.name(glibc_signal_name(e.frame.sig))} ---"
        line = (f"{p} {head} handler {e.handler:#x} restorer "
                f"{restorer_short(e.frame.restorer, st)}")
        if e.altstack is not None:
            line += " " + altstack_text(e.altstack, st)
        # a kind that keeps the number only in info (x86_64, AArch64, the AArch32
        # frames): unwritten info means a handler without SA_SIGINFO
        if not e.frame.siginfo_valid and kind_row(e.frame.abi, e.frame.kind).signal_slot is None:
            line += " (no SA_SIGINFO)"
        # a handler without SA_SIGINFO has stale info bytes: noted above, not a problem
        problems = [x for x in e.frame.problems if not x.startswith("info.si_signo")]
        if problems:
            line += " " + st.warn(f"! {'; '.join(problems)}")
        return line
    if isinstance(e, ev.SignalDelivered):
        return f"{p} {delivery_text(e, st)} {e.disposition}"
    return render_event(e, st, frames=False)


def render_stack(frames: Sequence[StackFrame], st: Style = PLAIN) -> str:
    """strace -k's `` > /lib/libc.so.6(raise+0x12) [0x3bfb2]`` lines."""
    out = []
    for f in frames:
        where = st.text(f.mapping) if f.mapping else "?"
        sym = f"({st.text(f.symbol)})" if f.symbol else ""
        off = f" [{f.offset:#x}]" if f.offset is not None else ""
        mark = ""
        if f.how == "sigframe":
            mark = " <signal frame" + (f", {glibc_signal_name(f.signal)}>" if f.signal else ">")
        out.append(f" > {where}{sym}{off}{mark}")
    return "\n".join(out) if out else " > (no stack)"


def render_event(e: ev.Event, st: Style = PLAIN, frames: bool = True) -> str:
    p = _prefix(e)
    match e:
        case ev.Exec():
            return f"{p} exec {st.text(e.path)} ({e.abi})"
        case ev.NewTask():
            return f"{p} new task {e.tid} ({e.how} from {e.parent})"
        case ev.SignalDelivered():
            return f"{p} {delivery_text(e, st)} at pc {e.pc:#x}: {e.disposition}"
        case ev.HandlerEntered():
            head = (f"{p} handler {e.handler:#x} entered for "
                    f"{glibc_signal_name(e.frame.sig)}, frame {e.frame.address:#x}, returns to "
                    f"{e.frame.restorer.describe(st.text)}")
            if e.altstack is not None:
                head += "\n  " + altstack_text(e.altstack, st)
            if not frames:
                return head
            return head + "\n" + render_frame(e.frame, st)
        case ev.SigreturnStep():
            s = e.step
            changed = " ".join(f"{k}={v[1]:#x}" for k, v in s.changed.items())
            sysc = f"  [{s.syscall}]" if s.syscall else ""
            return f"{p}   {s.address:#x}: {s.bytes.hex():<18} {s.text:<28}{sysc} {changed}"
        case ev.SigreturnEntered():
            lines = [f"{p} {e.syscall} with the frame at {e.frame.address:#x}"]
            if e.changes.empty:
                lines.append("    the handler did not change the saved context")
            for name, old, new in e.changes.changes:
                lines.append(f"    handler changed {name}: {old:#x} -> {new:#x}")
            return "\n".join(lines)
        case ev.ContextRestored():
            if e.matches:
                return (f"{p} context restored: every register equals the frame's "
                        f"(not compared: {', '.join(e.not_compared)})")
            return (f"{p} " + st.warn("context restored with DIFFERENCES:") + "\n"
                    + "\n".join("    " + d for d in e.differences))
        case ev.SigreturnAbandoned():
            return f"{p} sigreturn not reached: {e.reason} (pc {hx(e.pc)})"
        case ev.SigreturnChecked():
            return verdict_text(e, st)
        case ev.GroupStop():
            return f"{p} --- stopped by {glibc_signal_name(e.signal)} ---"
        case ev.Breakpoint():
            return f"{p} breakpoint at {e.address:#x}"
        case ev.Stepped():
            return f"{p} stepped to {e.pc:#x}"
        case ev.Exited():
            return f"{p} +++ exited with {e.status} +++"
        case ev.Killed():
            core = " (core dumped)" if e.core_dumped else ""
            return f"{p} +++ killed by {glibc_signal_name(e.signal)}{core} +++"
    return f"{p} {e.name}"


def verdict_text(e: ev.SigreturnChecked, st: Style = PLAIN) -> str:
    """``!!! SROP ...`` with one line per reason, or the one-line ok."""
    v = e.verdict
    pc_name = abi_by_name(v.abi).pc
    where = (f"frame {v.frame:#x} ({v.abi} {v.kind}), resumes at {pc_name} {hx(v.pc)} "
             f"sp {hx(v.sp)}")
    if not v.alert:
        how = "built by a delivery" if v.built_by_delivery else "not verifiable"
        extra = "".join(f"; {r.text}" for r in v.reasons)
        return f"{_prefix(e)} {v.syscall}: {where}: ok, {how}{extra}"
    fate = ("the kernel will refuse it or fault (SIGSEGV)" if v.fatal
            else "the kernel will accept it")
    head = f"{_prefix(e)} " + st.warn(f"!!! SROP: forged {v.syscall}") + f": {where}; {fate}"
    return "\n".join([head] + [f"    {'[fatal] ' if r.fatal else ''}{r.text}"
                               for r in v.reasons])
