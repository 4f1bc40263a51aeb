"""Text for engine events: strace's ``--- SIG ---`` line, made deep."""

from __future__ import annotations

from sigdbg.engine import events as ev
from sigdbg.names import signal_name
from sigdbg.render.text import PLAIN, Style, hx, render_frame, siginfo_text


def render_event(e: ev.Event, st: Style = PLAIN, frames: bool = True) -> str:
    p = f"[pid {e.pid}" + (f" tid {e.tid}]" if e.tid != e.pid else "]")
    match e:
        case ev.Exec():
            return f"{p} exec {st.text(e.path)} ({e.abi})"
        case ev.NewTask():
            return f"{p} new task {e.tid} ({e.how} from {e.parent})"
        case ev.SignalDelivered():
            return (f"{p} --- {st.name(e.siginfo.signal)} {siginfo_text(e.siginfo)} --- "
                    f"at pc {e.pc:#x}: {e.disposition}")
        case ev.HandlerEntered():
            head = (f"{p} handler {e.handler:#x} entered for {signal_name(e.frame.sig)}, "
                    f"frame {e.frame.address:#x}, returns to "
                    f"{e.frame.restorer.describe(st.text)}")
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
        case ev.GroupStop():
            return f"{p} --- stopped by {signal_name(e.signal)} ---"
        case ev.Breakpoint():
            return f"{p} breakpoint at {e.address:#x}"
        case ev.Stepped():
            return f"{p} stepped to {e.pc:#x}"
        case ev.Exited():
            return f"{p} +++ exited with {e.status} +++"
        case ev.Killed():
            core = " (core dumped)" if e.core_dumped else ""
            return f"{p} +++ killed by {signal_name(e.signal)}{core} +++"
    return f"{p} {e.name}"
