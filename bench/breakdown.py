#!/usr/bin/env python3
"""Where a traced signal's time goes, with wall-clock timers instead of a profiler.

    python3 bench/breakdown.py [--n 20000] [--mode frame|no-frame|step] [--no-memo]

Runs ``sigdbg trace --json -o /dev/null -- targets/build/sig_storm N`` in this
process (pinned to CPU 0 when possible) with a timer wrapped around each
backend request, the stop bookkeeping, the frame decoder and the JSON view,
and prints microseconds per signal for each.  cProfile (bench/profile.py)
counts calls exactly but inflates cheap functions; these timers cost about
0.3 us per call, so the figures are close to the real ones.  Nested timers
overlap: Session._wait includes Tracer.wait and PtraceTask.siginfo_raw.

--no-memo turns off the siginfo and FP-state memos, which is what a target
whose FP registers change between signals costs (the storm's never do).

Also prints the tracer's own CPU time per signal (user and system).
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STORM = ROOT / "targets" / "build" / "sig_storm"
MODE_OPTS = {"frame": [], "no-frame": ["--no-frame"], "step": ["--step-sigreturn"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="signals (default 20000)")
    ap.add_argument("--mode", choices=sorted(MODE_OPTS), default="frame")
    ap.add_argument("--no-memo", action="store_true", help="decode every siginfo/FP state")
    a = ap.parse_args(argv)
    try:
        os.sched_setaffinity(0, {0})
    except OSError:
        pass
    sys.path.insert(0, str(ROOT))

    import sigdbg.backends.ptrace as backend
    import sigdbg.decode.siginfo as siginfo
    import sigdbg.decode.xsave as xsave
    import sigdbg.engine.events as events
    import sigdbg.engine.session as session
    import sigdbg.engine.sigreturn as sigreturn
    from sigdbg.cli.main import main as sigdbg_main

    if a.no_memo:
        xsave._decode_blob = xsave._decode_blob.__wrapped__  # type: ignore[attr-defined]
        siginfo._decode_siginfo = siginfo._decode_siginfo.__wrapped__  # type: ignore[attr-defined]

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

    for name in ("wait",):
        wrap(backend.Tracer, name, f"Tracer.{name}")
    for name in ("siginfo_raw", "registers", "pc", "read_upto", "step", "cont", "set_debugreg"):
        wrap(backend.PtraceTask, name, f"PtraceTask.{name}")
    wrap(session.Session, "_wait", "Session._wait")
    wrap(session.Session, "resume_all", "Session.resume_all")
    wrap(session, "classify", "classify")
    wrap(session, "decode_sigframe", "decode_sigframe (entry)")
    wrap(sigreturn, "decode_sigframe", "decode_sigframe (sigreturn)")
    wrap(sigreturn, "compare_restored", "compare_restored")
    wrap(events.Event, "json_view", "Event.json_view")

    args = ["trace", *MODE_OPTS[a.mode], "--json", "-o", os.devnull, "--", str(STORM), str(a.n)]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = clock()
    sys.argv = ["sigdbg", *args]
    try:
        sigdbg_main()
    except SystemExit:
        pass
    total = clock() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = a.n
    print(f"\n{a.mode}{' --no-memo' if a.no_memo else ''}, N={n}: "
          f"{total / n / 1000:.1f} us/signal wall (tracer and tracee), tracer CPU incl. start-up "
          f"user {(r1.ru_utime - r0.ru_utime) / n * 1e6:.1f} "
          f"sys {(r1.ru_stime - r0.ru_stime) / n * 1e6:.1f} us/signal")
    for label, ns in spent.most_common():
        print(f"  {label:30s} {ns / n / 1000:7.2f} us/signal  ({calls[label] / n:.1f} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
