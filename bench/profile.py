#!/usr/bin/env python3
"""Where a traced signal's time goes: ``sigdbg trace`` of a signal storm, profiled.

    python3 bench/profile.py [--n 20000] [--mode frame|no-frame|step] [--timers]
                             [--cpu] [--no-memo] [--storm storm|threads|fp] [--top 25] [--save FILE]

Runs ``sigdbg trace --json -o /dev/null -- targets/build/sig_storm N`` in this
process, pinned to CPU 0 when possible like bench/bench.py.

By default under cProfile: prints the top functions by cumulative and by own
time (--save writes the raw profile for snakeviz / pstats).  cProfile counts
calls exactly but inflates cheap functions.

--timers instead wraps a wall-clock timer around each backend request, the
stop bookkeeping, the frame decoder and the JSON builders, and prints
microseconds per signal for each (about 0.3 us per call of overhead, so the
figures are close to the real ones; nested timers overlap: Session._signal_stop
includes the step into the handler, Tracer.resume_wait includes the tracee's
run up to its next stop), plus the tracer's own CPU time per signal.

Plain deliveries are served by the C trace loop (Tracer.trace_loop, one call
for many deliveries; engine/fastpath.py); SIGDBG_NO_FASTPATH=1 profiles the
Python path instead.

--no-memo turns off the siginfo and FP-state memos: what a target whose FP
registers change between signals costs (the storm's never do).  --storm fp
profiles targets/sig_storm_fp instead, whose FP registers really change
before every signal; --storm threads the 8-thread storm (traced with -f).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named profile.py: drop its directory from the import path so that
# cProfile's own "import profile" gets the standard library module, not this script.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

import argparse  # noqa: E402
import collections  # noqa: E402
import cProfile  # noqa: E402
import functools  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STORMS = {"storm": "sig_storm", "threads": "sig_storm_threads", "fp": "sig_storm_fp"}
MODE_OPTS = {"frame": [], "no-frame": ["--no-frame"], "step": ["--step-sigreturn"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="signals (default 20000)")
    ap.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    ap.add_argument("--mode", choices=sorted(MODE_OPTS), default="frame",
                    help="frame = full decode (default), no-frame, step = --step-sigreturn")
    ap.add_argument("--save", metavar="FILE", help="also write the raw profile here")
    ap.add_argument("--cpu", action="store_true",
                    help="cProfile on the tracer's CPU clock instead of the wall clock "
                         "(robust on a loaded machine)")
    ap.add_argument("--timers", action="store_true",
                    help="wall-clock timers around each step instead of cProfile")
    ap.add_argument("--no-memo", action="store_true", help="decode every siginfo/FP state")
    ap.add_argument("--storm", choices=sorted(STORMS), default="storm",
                    help="which storm to trace (default storm; threads is traced with -f)")
    a = ap.parse_args(argv)

    subprocess.run(["make", "-s", "-C", str(ROOT / "targets")], check=True)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {0})  # the tracee inherits it
        except OSError:
            pass
    from sigdbg.cli.main import main as sigdbg_main

    if a.no_memo:
        import sigdbg.abi.x86.xsave as xsave
        import sigdbg.decode.siginfo as siginfo

        class _Forgetful(dict):  # type: ignore[type-arg]
            def __setitem__(self, key: object, value: object) -> None:
                pass  # the in-place FP-area memo never keeps anything

        xsave._LAST_AREA = _Forgetful()
        xsave._decode_blob = xsave._decode_blob.__wrapped__  # type: ignore[attr-defined]
        siginfo._decode_siginfo = siginfo._decode_siginfo.__wrapped__  # type: ignore[attr-defined]
    storm = ROOT / "targets" / "build" / STORMS[a.storm]
    follow = ["-f"] if a.storm == "threads" else []
    args = ["trace", *follow, *MODE_OPTS[a.mode], "--json", "-o", os.devnull, "--", str(storm),
            str(a.n)]
    what = f"sigdbg {' '.join(args)}{' (memos off)' if a.no_memo else ''}"
    n = max(a.n, 1)
    if a.timers:
        spent, calls = install_timers()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        rc = sigdbg_main(args)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        print(f"\n{what}: exit {rc}, {dt / n * 1e6:.1f} us/signal wall (tracer and tracee), "
              f"tracer CPU user {(r1.ru_utime - r0.ru_utime) / n * 1e6:.1f} "
              f"sys {(r1.ru_stime - r0.ru_stime) / n * 1e6:.1f} us/signal (start-up included)")
        for label, ns in spent.most_common():
            print(f"  {label:30s} {ns / n / 1000:7.2f} us/signal  ({calls[label] / n:.1f} calls)")
        return rc
    # --cpu: the process's CPU clock, so time the tracer spends waiting for
    # the tracee (or queued behind other jobs) is not charged to the
    # function that happened to be running
    prof = cProfile.Profile(time.process_time) if a.cpu else cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    rc = sigdbg_main(args)
    prof.disable()
    dt = time.perf_counter() - t0
    print(f"\n{what}: exit {rc}, {dt:.2f} s under cProfile "
          f"({dt / n * 1e6:.1f} us/signal, profiler overhead included)")
    if a.save:
        prof.dump_stats(a.save)
    for key, title in (("cumulative", "cumulative time"), ("tottime", "total (own) time")):
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.strip_dirs().sort_stats(key).print_stats(a.top)
        text = buf.getvalue()
        # keep the table, drop pstats' preamble
        start = text.find("   ncalls")
        print(f"\n=== top {a.top} by {title} ===")
        print(text[start:].rstrip() if start >= 0 else text.rstrip())
    return rc


def install_timers() -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Wrap the hot path's entry points in wall-clock timers: (ns spent, calls) by label."""
    import sigdbg.backends.ptrace as backend
    import sigdbg.engine.events as events
    import sigdbg.engine.runhost as runhost
    import sigdbg.engine.session as session
    import sigdbg.engine.sigreturn as sigreturn

    spent: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    clock = time.perf_counter_ns

    def wrap(owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def timed(*args: Any, **kw: Any) -> Any:
            t = clock()
            try:
                return fn(*args, **kw)
            finally:
                spent[label] += clock() - t
                calls[label] += 1

        setattr(owner, name, timed)

    wrap(backend.Tracer, "wait", "Tracer.wait")
    wrap(backend.Tracer, "resume_wait", "Tracer.resume_wait")
    wrap(backend.Tracer, "trace_loop", "Tracer.trace_loop (C loop)")
    wrap(session.Session, "_signal_stop", "Session._signal_stop")
    wrap(session.Session, "_handler_entered", "Session._handler_entered")
    for name in ("siginfo_raw", "registers", "pc_sp", "pc", "read_upto", "step", "cont",
                 "arm_breakpoint", "disarm_breakpoint", "sigmask", "pending_signals"):
        wrap(backend.PtraceTask, name, f"PtraceTask.{name}")
    wrap(session.Session, "_wait", "Session._wait")
    wrap(session.Session, "resume_all", "Session.resume_all")
    wrap(runhost, "classify", "classify")  # (the session's _stop_of, engine/runhost.py)
    wrap(session, "decode_sigframe", "decode_sigframe (entry)")
    wrap(sigreturn, "decode_frame", "decode_frame (sigreturn)")
    wrap(sigreturn, "compare_restored", "compare_restored")
    wrap(events.Event, "json_view", "Event.json_view")
    wrap(events.Event, "json_wire", "Event.json_wire")
    return spent, calls


if __name__ == "__main__":
    sys.exit(main())
