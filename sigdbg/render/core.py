"""Text for core files: the crash summary and the signal frames found on the stack."""

from __future__ import annotations

from sigdbg.abi import abi_by_name
from sigdbg.decode.sigframe import SigFrame
from sigdbg.engine.coretarget import CoreReport
from sigdbg.names import signal_name
from sigdbg.render.text import PLAIN, Style, render_frame, siginfo_text


def render_core_report(r: CoreReport, st: Style = PLAIN) -> str:
    abi = abi_by_name(r.abi)
    out = [st.head(f"core file {st.text(r.path)} ({r.abi})")]
    out.append(f"  process {r.pid}: {st.text(r.command) or '?'}")
    out.append(f"  program {st.text(r.program) or '(unknown: give --exe PROG)'}"
               + (f" (read from {st.text(r.exe)})" if r.exe else ""))
    if r.truncated:
        out.append(st.warn("  ! the file is truncated: some memory of the process is missing"))
    for path in r.stale_files:
        out.append(st.warn(f"  ! {st.text(path)} is not the file the process had mapped (its "
                           "first page differs from the core's): its bytes are not used"))
    for t in r.threads:
        sig = f"{signal_name(t.cursig)}" if t.cursig else "no signal"
        sym = f" <{st.text(t.symbol)}>" if t.symbol else ""
        out.append(f"  thread {t.number} (tid {t.tid}): {sig}, pc {st.addr(hex(t.pc))}{sym}, "
                   f"sp {st.addr(hex(t.sp))}")
        if t.siginfo is not None:
            out.append(f"    siginfo {siginfo_text(t.siginfo)}")
        if t.fp_regset:
            words = [(label, getattr(t, key)) for key, label in abi.fp_regset_summary]
            extra = ("".join(f" {label}={v:#x}" for label, v in words)
                     if all(v is not None for _, v in words) else "")
            out.append(f"    FP/vector state: {t.fp_regset}{extra}")
    out.append(render_frame_list(r.frames, r.frames_thread, st))
    return "\n".join(out)


def render_frame_list(frames: tuple[SigFrame, ...], tid: int, st: Style = PLAIN,
                      detail: bool = False, picture: bool = False) -> str:
    """One line per frame (or the full frame with ``detail``), innermost first."""
    n = len(frames)
    head = (f"  {n} signal frame{'s' if n != 1 else ''} on the stack of tid {tid}"
            + (" (innermost first):" if n else ""))
    out = [st.head(head) if detail else head]
    for i, f in enumerate(frames):
        if detail:
            out.append(st.head(f"#{i} ") + render_frame(f, st, picture=picture))
        else:
            out.append(f"    #{i} {st.addr(hex(f.address))} {f.kind} {signal_name(f.sig)}, "
                       f"interrupted pc {f.pc:#x} sp {f.sp:#x}, restorer "
                       f"{f.restorer.describe(st.text)}")
    return "\n".join(out)
