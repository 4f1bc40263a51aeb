#!/usr/bin/env python3
"""Signal-delivery throughput: sigdbg trace against strace and a minimal C tracer.

    python3 bench/bench.py [--n N] [--repeat R] [--modes a,b,...] [--no-pin]

One invocation runs the signal storm ``targets/build/sig_storm N`` (N SIGUSR1
deliveries, each on the return of its own tgkill, to a counting handler) in
every mode side by side and prints one table:

  untraced        the storm alone
  strace          strace -qq -e trace=none -o /dev/null (stops and prints each delivery)
  floor           targets/build/bench_floor: the least a signal debugger must do per
                  delivery (GETSIGINFO, step into the handler, GETREGS, read the frame)
  floor --step    bench_floor --step: also single-steps the handler and sigreturn
  floor --sigreturn   bench_floor --sigreturn: the stops of --step-sigreturn (debug
                  register on the restorer, step each restorer instruction)
  python floor    bench/py_floor.py: the floor's work in plain Python (ctypes ptrace,
                  os.waitpid, os.pread), i.e. what the interpreter alone costs
  sigdbg --no-frame   sigdbg trace --no-frame --json -o /dev/null (delivery only)
  sigdbg          sigdbg trace --json -o /dev/null (handler entry, full frame decode)
  sigdbg --step-sigreturn   ... --step-sigreturn (also steps the restorer, checks the
                  restored registers)

Columns: total wall seconds (best of R runs), microseconds per signal, and
the ratio to strace and to the C floor.  Every command is pinned to CPU 0
with ``taskset -c 0`` when taskset exists (tracer and tracee on one CPU, the
usual way to compare tracers; --no-pin turns it off).  Each run is checked:
the storm must report count == N and exit 0, so a tracer that loses or
duplicates signals fails loudly instead of looking fast.  sigdbg runs with
this interpreter (sys.executable), i.e. the venv's python when run from it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "targets" / "build"
STORM = BUILD / "sig_storm"
FLOOR = BUILD / "bench_floor"

COUNT_RE = re.compile(rb"SIGDBG-REPORT tag=storm count=(0x[0-9a-f]+)")


@dataclass(frozen=True)
class Mode:
    name: str
    argv: tuple[str, ...]  #: the command, without the storm's own argv
    needs: str | None = None  #: executable that must exist


def sigdbg(*opts: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "sigdbg", "trace", *opts, "--json", "-o", os.devnull, "--")


MODES: tuple[Mode, ...] = (
    Mode("untraced", ()),
    Mode("strace", ("strace", "-qq", "-e", "trace=none", "-o", os.devnull, "--"), "strace"),
    Mode("floor", (str(FLOOR),)),
    Mode("floor --step", (str(FLOOR), "--step")),
    Mode("floor --sigreturn", (str(FLOOR), "--sigreturn")),
    Mode("python floor", (sys.executable, str(ROOT / "bench" / "py_floor.py"))),
    Mode("sigdbg --no-frame", sigdbg("--no-frame")),
    Mode("sigdbg", sigdbg()),
    Mode("sigdbg --step-sigreturn", sigdbg("--step-sigreturn")),
)
KEYS = {"untraced": "untraced", "strace": "strace", "floor": "floor", "floor-step": "floor --step",
        "floor-sigreturn": "floor --sigreturn", "pyfloor": "python floor",
        "no-frame": "sigdbg --no-frame", "frame": "sigdbg", "step": "sigdbg --step-sigreturn"}


@dataclass
class Result:
    mode: Mode
    seconds: float | None
    error: str | None = None


def pin_prefix(enabled: bool) -> list[str]:
    taskset = shutil.which("taskset") if enabled else None
    if taskset is None:
        return []
    ok = subprocess.run([taskset, "-c", "0", "true"], capture_output=True)
    return [taskset, "-c", "0"] if ok.returncode == 0 else []


def run_once(cmd: list[str], n: int, timeout: float) -> tuple[float | None, str | None]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    dt = time.perf_counter() - t0
    m = COUNT_RE.search(p.stdout)
    if p.returncode != 0 or m is None or int(m.group(1), 16) != n:
        got = int(m.group(1), 16) if m else None
        tail = p.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return None, f"exit {p.returncode}, count {got} != {n}: {tail[0][:120]}"
    return dt, None


def measure(mode: Mode, n: int, repeat: int, pin: list[str], timeout: float) -> Result:
    if mode.needs and shutil.which(mode.needs) is None:
        return Result(mode, None, f"{mode.needs} not installed")
    cmd = [*pin, *mode.argv, str(STORM), str(n)]
    best: float | None = None
    for _ in range(repeat):
        dt, err = run_once(cmd, n, timeout)
        if err is not None:
            return Result(mode, None, err)
        assert dt is not None
        best = dt if best is None else min(best, dt)
    return Result(mode, best)


def fmt_ratio(x: float | None, base: float | None) -> str:
    if x is None or not base:
        return "-"
    return f"{x / base:.2f}x"


def table(results: list[Result], n: int) -> str:
    by = {r.mode.name: r.seconds for r in results}
    strace, floor = by.get("strace"), by.get("floor")
    head = f"{'mode':<26} {'total s':>9} {'us/signal':>10} {'vs strace':>10} {'vs floor':>9}"
    lines = [head, "-" * len(head)]
    for r in results:
        if r.seconds is None:
            lines.append(f"{r.mode.name:<26} {'FAILED':>9}  {r.error}")
            continue
        lines.append(f"{r.mode.name:<26} {r.seconds:>9.3f} {r.seconds / n * 1e6:>10.2f} "
                     f"{fmt_ratio(r.seconds, strace):>10} {fmt_ratio(r.seconds, floor):>9}")
    return "\n".join(lines)


#: issue 5's targets: (row, what it is compared with, the limit on the ratio)
#: The --step-sigreturn target is 130 us where the same stops cost a C tracer
#: 64 us; on another machine it is read as that ratio to its own C floor.
TARGETS = (
    ("sigdbg", "strace", 1.0),
    ("sigdbg --no-frame", "floor", 2.0),
    ("sigdbg --step-sigreturn", "floor --sigreturn", 130 / 64),
)


def targets(results: list[Result]) -> str:
    by = {r.mode.name: r.seconds for r in results}
    lines = []
    for row, base, limit in TARGETS:
        x, b = by.get(row), by.get(base)
        if x is None or not b:
            continue
        verdict = "met" if x / b <= limit else "NOT met"
        lines.append(f"  {row:<26} {x / b:5.2f}x {base:<18} (target <= {limit:.2f}x)  {verdict}")
    return "targets:\n" + "\n".join(lines) if lines else ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="signals per run (default 100000)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode; the best is shown")
    ap.add_argument("--modes", default=",".join(KEYS),
                    help=f"comma-separated subset of: {', '.join(KEYS)}")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to CPU 0 with taskset")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run")
    a = ap.parse_args(argv)

    subprocess.run(["make", "-s", "-C", str(ROOT / "targets")], check=True)
    # Byte-compile sigdbg first, as installing a package does: with
    # PYTHONDONTWRITEBYTECODE set (as on the development VM) every run would
    # otherwise compile its ~45 modules from source, about 50 ms of start-up.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "sigdbg")], check=True)
    wanted = []
    for key in a.modes.split(","):
        key = key.strip()
        if key not in KEYS:
            ap.error(f"unknown mode {key!r} (known: {', '.join(KEYS)})")
        wanted.append(KEYS[key])
    modes = [m for m in MODES if m.name in wanted]
    pin = pin_prefix(not a.no_pin)

    print(f"sig_storm N={a.n}, best of {a.repeat}, "
          f"{'pinned: ' + ' '.join(pin) if pin else 'not pinned'}, "
          f"python {sys.version.split()[0]} ({sys.executable})", flush=True)
    results = []
    for m in modes:
        r = measure(m, a.n, a.repeat, pin, a.timeout)
        shown = f"{r.seconds:.3f} s" if r.seconds is not None else f"FAILED: {r.error}"
        print(f"  {m.name}: {shown}", file=sys.stderr, flush=True)
        results.append(r)
    # sigdbg's fixed cost (interpreter start, imports, launch) so small-N rows can be read
    fixed = measure(Mode("sigdbg N=0", sigdbg()), 0, a.repeat, pin, a.timeout) \
        if any(m.name.startswith("sigdbg") for m in modes) else None
    print()
    print(table(results, a.n))
    summary = targets(results)
    if summary:
        print("\n" + summary)
    if fixed is not None and fixed.seconds is not None:
        print(f"\n(sigdbg fixed cost at N=0: {fixed.seconds:.3f} s; included in the totals)")
    return 0 if all(r.seconds is not None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
