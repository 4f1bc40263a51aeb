#!/usr/bin/env python3
"""Profile the trace hot path: full-decode ``sigdbg trace`` of a signal storm under cProfile.

    python3 bench/profile.py [--n 20000] [--top 25] [--mode frame|no-frame|step] [--save FILE]

Runs ``sigdbg trace --json -o /dev/null -- targets/build/sig_storm N`` in this
process under cProfile (pinned to CPU 0 when possible, like bench/bench.py)
and prints the top functions by cumulative time and by total (own) time.
--save writes the raw profile for snakeviz / pstats.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named profile.py: drop its directory from the import path so that
# cProfile's own "import profile" gets the standard library module, not this script.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STORM = ROOT / "targets" / "build" / "sig_storm"
MODE_OPTS = {"frame": [], "no-frame": ["--no-frame"], "step": ["--step-sigreturn"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="signals (default 20000)")
    ap.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    ap.add_argument("--mode", choices=sorted(MODE_OPTS), default="frame",
                    help="frame = full decode (default), no-frame, step = --step-sigreturn")
    ap.add_argument("--save", metavar="FILE", help="also write the raw profile here")
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

    args = ["trace", *MODE_OPTS[a.mode], "--json", "-o", os.devnull, "--", str(STORM),
            str(a.n)]
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    rc = sigdbg_main(args)
    prof.disable()
    dt = time.perf_counter() - t0
    print(f"\nsigdbg {' '.join(args)}: exit {rc}, {dt:.2f} s under cProfile "
          f"({dt / max(a.n, 1) * 1e6:.1f} us/signal, profiler overhead included)")
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


if __name__ == "__main__":
    sys.exit(main())
