#!/usr/bin/env python3
"""Signal-delivery throughput: sigdbg trace against strace and a minimal C tracer.

    python3 bench/bench.py [--n N] [--repeat R] [--long L] [--modes a,b,...]
                           [--cpu C] [--no-pin]

One invocation runs every mode side by side on the same machine, each on a
signal storm (a program that sends itself N SIGUSR1, each delivered on the
return of its own tgkill, to a counting handler) and prints one table and
the issue-15 targets with "met" / "NOT met".

Storms (targets/build/):
  sig_storm           one thread; its siginfo and FP state repeat signal to signal
  sig_storm_threads   8 threads at once, each tgkill()ing itself (N in all)
  sig_storm_fp        one thread whose x87, XMM/YMM/ZMM and opmask registers change
                      before every signal (nothing decoded from one frame is reused)

Modes (the rows):
  untraced            the storm alone
  strace              strace -qq -e trace=none -o /dev/null (stops at each delivery)
  floor               targets/build/bench_floor: the least a signal debugger must do
                      per delivery (GETSIGINFO, step into the handler, GETREGS, read
                      the frame); floor --step also single-steps the handler;
                      floor --sigreturn makes the stops of --step-sigreturn
  python floor        bench/py_floor.py: the floor's work in plain Python
  sigdbg --no-frame   sigdbg trace --no-frame --json -o /dev/null (delivery only)
  sigdbg --json       sigdbg trace --json -o /dev/null (handler entry, full frame)
  sigdbg text         sigdbg trace -o /dev/null (the default output)
  sigdbg --step-sigreturn   --json --step-sigreturn (also steps the restorer)
  ... -f / fp         the same tracers on the threads and FP storms

Every figure is a marginal cost per signal, (t(N) - t(0)) / N: each command
runs with N = 0 and with N, so start-up (interpreter, imports, exec) is not
counted.  Three clocks:
  wall    elapsed time from launch to exit (tracer and tracee together)
  cpu     user + system CPU seconds of the tracer process alone (its
          /proc/PID/stat utime + stime, read while it is a zombie): the figure
          that least depends on what else the machine runs
  total   user + system CPU of tracer and tracee (getrusage RUSAGE_CHILDREN)
With --repeat R each of t(0) and t(N) is the best of R runs.

Every command is pinned to one CPU (``taskset -c C``, C = 0 by default): tracer
and tracee share it, the usual way to compare tracers (--no-pin turns it off).
Each run is checked: the storm must report count == N and exit 0, so a tracer
that loses or duplicates signals fails loudly instead of looking fast.  sigdbg
runs with this interpreter (sys.executable).

--instructions N adds a fourth, deterministic figure for the main sigdbg rows:
the tracer's user-space instructions per signal, counted by valgrind's
callgrind over N signals (the tracee runs natively; the kernel is not counted).
--instructions-from K counts (I(N) - I(K)) / (N - K) instead of (I(N) - I(0)) / N:
the one-off work of the first deliveries (code generation, templates, capstone)
then is not spread over the N signals, which matters for a small N.

The memory row runs ``sigdbg trace --json`` over --long signals (10^6 by
default) and samples the tracer's VmRSS from /proc every half second: the
first sample one second in ("start"), the last one before it exits ("end").
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "targets" / "build"
FLOOR = BUILD / "bench_floor"
STORMS = {"storm": "sig_storm", "threads": "sig_storm_threads", "fp": "sig_storm_fp"}

COUNT_RE = re.compile(rb"SIGDBG-REPORT tag=storm count=(0x[0-9a-f]+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")

STRACE = ("strace", "-qq", "-e", "trace=none", "-o", os.devnull)


@dataclass(frozen=True)
class Mode:
    key: str  #: the name --modes takes
    name: str  #: the row's label
    argv: tuple[str, ...]  #: the tracer's command, without the storm's own argv
    storm: str = "storm"
    needs: str | None = None  #: executable that must exist


def sigdbg(*opts: str, json: bool = True) -> tuple[str, ...]:
    fmt = ("--json",) if json else ()
    return (sys.executable, "-m", "sigdbg", "trace", *opts, *fmt, "-o", os.devnull, "--")


MODES: tuple[Mode, ...] = (
    Mode("untraced", "untraced", ()),
    Mode("strace", "strace", (*STRACE, "--"), needs="strace"),
    Mode("floor", "floor", (str(FLOOR),)),
    Mode("floor-step", "floor --step", (str(FLOOR), "--step")),
    Mode("floor-sigreturn", "floor --sigreturn", (str(FLOOR), "--sigreturn")),
    Mode("pyfloor", "python floor", (sys.executable, str(ROOT / "bench" / "py_floor.py"))),
    Mode("no-frame", "sigdbg --no-frame", sigdbg("--no-frame")),
    Mode("json", "sigdbg --json", sigdbg()),
    Mode("text", "sigdbg text", sigdbg(json=False)),
    Mode("step", "sigdbg --step-sigreturn", sigdbg("--step-sigreturn")),
    Mode("strace-f", "strace -f (threads)", (*STRACE, "-f", "--"), "threads", "strace"),
    Mode("json-f", "sigdbg -f --json (threads)", sigdbg("-f"), "threads"),
    Mode("text-f", "sigdbg -f text (threads)", sigdbg("-f", json=False), "threads"),
    Mode("strace-fp", "strace (fp)", (*STRACE, "--"), "fp", "strace"),
    Mode("json-fp", "sigdbg --json (fp)", sigdbg(), "fp"),
    Mode("text-fp", "sigdbg text (fp)", sigdbg(json=False), "fp"),
)
BY_KEY = {m.key: m for m in MODES}
BY_NAME = {m.name: m for m in MODES}


@dataclass
class Run:
    wall: float
    cpu: float  #: the tracer process alone (or the storm, untraced)
    total: float  #: everything the command ran


@dataclass
class Result:
    mode: Mode
    #: marginal seconds per signal: wall, tracer cpu, total cpu
    wall: float | None = None
    cpu: float | None = None
    total: float | None = None
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


def pin_prefix(enabled: bool, cpu: int) -> list[str]:
    taskset = shutil.which("taskset") if enabled else None
    if taskset is None:
        return []
    ok = subprocess.run([taskset, "-c", str(cpu), "true"], capture_output=True)
    return [taskset, "-c", str(cpu)] if ok.returncode == 0 else []


def _self_cpu(pid: int) -> float:
    """utime + stime of a zombie ``pid`` (not its children), in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_once(cmd: list[str], n: int, timeout: float,
             rss: list[tuple[float, int]] | None = None) -> tuple[Run | None, str | None]:
    """Run ``cmd`` once; its clocks, or why it failed.  With ``rss``, the
    tracer's VmRSS is sampled into it every half second."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err)
        # A blocking wait (no polling from this process) unless RSS is sampled;
        # the timer kills a run that outlives --timeout.
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            while True:
                # WNOWAIT: the tracer stays a zombie, so /proc still has its own times
                flags = os.WEXITED | os.WNOWAIT | (os.WNOHANG if rss is not None else 0)
                if os.waitid(os.P_PID, p.pid, flags) is not None:
                    break
                kib = _rss_kib(p.pid)
                if rss is not None and kib is not None:
                    rss.append((time.perf_counter() - t0, kib))
                time.sleep(0.5)
        finally:
            timed_out = not timer.is_alive()
            timer.cancel()
        if timed_out:
            p.wait()
            return None, f"timed out after {timeout:.0f} s"
        dt = time.perf_counter() - t0
        cpu = _self_cpu(p.pid)
        rc = p.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    m = COUNT_RE.search(stdout)
    if rc != 0 or m is None or int(m.group(1), 16) != n:
        got = int(m.group(1), 16) if m else None
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return None, f"exit {rc}, count {got} != {n}: {tail[0][:120]}"
    return Run(dt, cpu, total), None


def storm_argv(mode: Mode, n: int) -> list[str]:
    return [*mode.argv, str(BUILD / STORMS[mode.storm]), str(n)]


def measure(mode: Mode, n: int, repeat: int, pin: list[str], timeout: float) -> Result:
    """Marginal cost per signal: best of ``repeat`` at N = 0 and at N = n."""
    if mode.needs and shutil.which(mode.needs) is None:
        return Result(mode, error=f"{mode.needs} not installed")
    best: dict[int, Run] = {}
    for _ in range(repeat):
        for k in (0, n):
            r, err = run_once([*pin, *storm_argv(mode, k)], k, timeout)
            if err is not None:
                return Result(mode, error=err)
            assert r is not None
            b = best.get(k)
            best[k] = r if b is None else Run(min(b.wall, r.wall), min(b.cpu, r.cpu),
                                              min(b.total, r.total))
    z, x = best[0], best[n]
    return Result(mode, (x.wall - z.wall) / n, (x.cpu - z.cpu) / n, (x.total - z.total) / n,
                  extra={"fixed": z.wall, "total_s": x.wall})


def measure_rss(n: int, pin: list[str], timeout: float) -> Result:
    mode = Mode("rss", f"sigdbg --json, {n} signals (RSS)", sigdbg())
    samples: list[tuple[float, int]] = []
    r, err = run_once([*pin, *storm_argv(mode, n)], n, timeout, rss=samples)
    if err is not None:
        return Result(mode, error=err)
    assert r is not None
    later = [kib for t, kib in samples if t >= 1.0]
    if len(later) < 2:
        return Result(mode, error=f"run too short to sample ({r.wall:.1f} s): raise --long")
    return Result(mode, r.wall / n, r.cpu / n, r.total / n,
                  extra={"rss_start": later[0], "rss_end": later[-1], "rss_max": max(later),
                         "seconds": r.wall})


CALLGRIND_RE = re.compile(rb"Collected : (\d+)")
#: the rows measured in instructions with --instructions (those of them
#: --modes selects; the floors for reference, step because it is the slowest)
INSN_MODES = ("floor", "floor-sigreturn", "no-frame", "json", "text", "step", "json-f",
              "json-fp")


def instructions(mode: Mode, n: int, timeout: float,
                 base: int = 0) -> tuple[float | None, str | None]:
    """User-space instructions per signal of the tracer alone, (I(n) - I(base)) /
    (n - base), counted by valgrind's callgrind (deterministic: what the
    machine's load does not change; the kernel's work and the tracee are not
    counted).  With ``base`` 0 the one-off work of the first deliveries
    (generating and compiling the layout readers and encoders, templates,
    importing capstone) is spread over the n signals; a ``base`` > 0 leaves
    it out (it is in both counts)."""
    counts = []
    for k in (base, n):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.devnull,
               *storm_argv(mode, k)]
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONHASHSEED"] = "0"  # str hashes (dict probing) the same every run
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout:.0f} s"
        m = CALLGRIND_RE.search(p.stderr)
        got = COUNT_RE.search(p.stdout)
        if p.returncode != 0 or m is None or got is None or int(got.group(1), 16) != k:
            return None, f"exit {p.returncode} under valgrind"
        counts.append(int(m.group(1)))
    return (counts[1] - counts[0]) / (n - base), None


def machine_line(pin: list[str]) -> str:
    model = "unknown CPU"
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    shown = [f for f in ("avx", "avx2", "avx512f", "pku", "xsaves", "xsavec") if f in flags]
    strace = shutil.which("strace")
    sver = ""
    if strace:
        v = subprocess.run([strace, "-V"], capture_output=True, text=True).stdout
        sver = f", strace {v.split()[3]}" if len(v.split()) > 3 else ""
    return (f"machine: {model}; flags {' '.join(shown) or '-'}; {os.cpu_count()} CPUs; "
            f"Linux {platform.release()}; python {platform.python_version()}{sver}; "
            f"{'pinned: ' + ' '.join(pin[1:]) if pin else 'not pinned'}")


def us(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e6:.1f}"


def ratio(x: float | None, base: float | None) -> str:
    if x is None or not base or base <= 0:
        return "-"
    return f"{x / base:.2f}x"


def table(results: list[Result]) -> str:
    by = {r.mode.name: r for r in results}
    strace, floor = by.get("strace"), by.get("floor")
    head = (f"{'mode':<28} {'wall us':>8} {'cpu us':>7} {'total us':>8} "
            f"{'wall/strace':>11} {'wall/floor':>10} {'cpu/strace':>10} {'cpu/floor':>9}")
    lines = [head, "-" * len(head)]
    for r in results:
        if r.error is not None:
            lines.append(f"{r.mode.name:<28} FAILED: {r.error}")
            continue
        sw = strace.wall if strace else None
        fw = floor.wall if floor else None
        sc = strace.cpu if strace else None
        fc = floor.cpu if floor else None
        lines.append(f"{r.mode.name:<28} {us(r.wall):>8} {us(r.cpu):>7} {us(r.total):>8} "
                     f"{ratio(r.wall, sw):>11} {ratio(r.wall, fw):>10} "
                     f"{ratio(r.cpu, sc):>10} {ratio(r.cpu, fc):>9}")
    return "\n".join(lines)


#: issue 15's targets: (what, row, the row it is compared with, limit on the ratio)
TARGETS = (
    ("trace --json <= 1.0x strace", "sigdbg --json", "strace", 1.0),
    ("trace --json <= 2.0x C floor", "sigdbg --json", "floor", 2.0),
    ("text <= 1.5x --json", "sigdbg text", "sigdbg --json", 1.5),
    ("--step-sigreturn <= 2.0x floor --sigreturn", "sigdbg --step-sigreturn",
     "floor --sigreturn", 2.0),
    ("--no-frame <= 1.2x C floor", "sigdbg --no-frame", "floor", 1.2),
    ("-f 8-thread storm <= 1.5x strace -f", "sigdbg -f --json (threads)",
     "strace -f (threads)", 1.5),
    ("FP storm <= 1.5x strace", "sigdbg --json (fp)", "strace (fp)", 1.5),
)
#: RSS growth over the long run still counted as flat
RSS_SLACK_KIB = 2048


def verdict(x: float | None, b: float | None, limit: float) -> str:
    if x is None or b is None or b <= 0:
        return "   -   "
    return f"{x / b:5.2f}x {'met' if x / b <= limit else 'NOT met':<7}"


def targets(results: list[Result], rss: Result | None) -> str:
    by = {r.mode.name: r for r in results if r.error is None}
    lines = [f"  {'target':<44} {'wall':<13} {'cpu (tracer)':<13}"]
    for what, row, base, limit in TARGETS:
        x, b = by.get(row), by.get(base)
        if x is None or b is None:
            lines.append(f"  {what:<44} not measured")
            continue
        lines.append(f"  {what:<44} {verdict(x.wall, b.wall, limit):<13} "
                     f"{verdict(x.cpu, b.cpu, limit):<13}")
    if rss is not None:
        if rss.error is not None:
            lines.append(f"  {'memory flat':<44} not measured: {rss.error}")
        else:
            e = rss.extra
            grow = e["rss_end"] - e["rss_start"]
            ok = grow <= RSS_SLACK_KIB
            lines.append(f"  {'memory flat':<44} RSS {e['rss_start'] / 1024:.1f} MiB at 1 s, "
                         f"{e['rss_end'] / 1024:.1f} MiB at the end "
                         f"({grow / 1024:+.1f} MiB, max {e['rss_max'] / 1024:.1f}) over "
                         f"{rss.mode.name.split(',')[1].split()[0]} signals in "
                         f"{e['seconds']:.0f} s  {'met' if ok else 'NOT met'}")
    return "targets (ratio of marginal costs per signal):\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="signals per run (default 100000)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per mode and N; the best is used (default 1)")
    ap.add_argument("--long", type=int, default=1_000_000,
                    help="signals of the memory run (default 10^6; 0 skips it)")
    ap.add_argument("--modes", default=",".join(BY_KEY),
                    help=f"comma-separated subset of: {', '.join(BY_KEY)}")
    ap.add_argument("--instructions", type=int, default=0, metavar="N",
                    help="also count the tracer's user-space instructions per signal "
                    "under valgrind over N signals for the main sigdbg rows (slow: "
                    "~1 min per row at N=1000; default 0 = off)")
    ap.add_argument("--instructions-from", type=int, default=0, metavar="K",
                    help="count --instructions as (I(N) - I(K)) / (N - K): leaves the one-off "
                         "cost of the first deliveries out (default 0)")
    ap.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run")
    a = ap.parse_args(argv)
    if a.n <= 0:
        ap.error("--n must be positive")
    if a.instructions and not 0 <= a.instructions_from < a.instructions:
        ap.error("--instructions-from must be below --instructions")

    subprocess.run(["make", "-s", "-C", str(ROOT / "targets")], check=True)
    # Byte-compile sigdbg first, as installing a package does: with
    # PYTHONDONTWRITEBYTECODE set every run would otherwise compile its
    # modules from source (start-up only, but noise in t(0)).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "sigdbg")], check=True)
    modes = []
    for key in a.modes.split(","):
        key = key.strip()
        if key not in BY_KEY:
            ap.error(f"unknown mode {key!r} (known: {', '.join(BY_KEY)})")
        modes.append(BY_KEY[key])
    modes.sort(key=MODES.index)
    pin = pin_prefix(not a.no_pin, a.cpu)

    print(machine_line(pin))
    print(f"N={a.n} signals per run, marginal cost (t(N) - t(0)) / N, best of {a.repeat}, "
          f"sigdbg on {sys.executable}", flush=True)
    results = []
    for m in modes:
        r = measure(m, a.n, a.repeat, pin, a.timeout)
        shown = f"{us(r.wall)} us wall, {us(r.cpu)} us cpu" if r.error is None \
            else f"FAILED: {r.error}"
        print(f"  {m.name}: {shown}", file=sys.stderr, flush=True)
        results.append(r)
    rss = measure_rss(a.long, pin, max(a.timeout, 3600)) if a.long > 0 else None
    insns: list[str] = []
    if a.instructions > 0:
        if shutil.which("valgrind") is None:
            insns.append("  (valgrind not installed)")
        chosen = {m.key for m in modes}
        for key in [k for k in INSN_MODES if k in chosen] if shutil.which("valgrind") else ():
            count, err = instructions(BY_KEY[key], a.instructions, a.timeout,
                                      a.instructions_from)
            shown = f"{count:,.0f}" if count is not None else f"FAILED: {err}"
            insns.append(f"  {BY_KEY[key].name:<28} {shown}")
            print(f"  {BY_KEY[key].name}: {shown} instructions/signal", file=sys.stderr,
                  flush=True)
    print()
    print(table(results))
    print("\n(us = microseconds per signal; cpu = the tracer process's user+system time, "
          "total = tracer and tracee)")
    fixed = [f"{r.mode.name} {r.extra['fixed']:.3f} s" for r in results
             if r.error is None and r.mode.key in ("strace", "json", "text")]
    if fixed:
        print(f"(start-up, t(0), not counted above: {', '.join(fixed)})")
    if insns:
        since = f", from N={a.instructions_from}" if a.instructions_from else ""
        print(f"\nuser-space instructions of the tracer per signal (callgrind, "
              f"N={a.instructions}{since}):")
        print("\n".join(insns))
    print("\n" + targets(results, rss))
    return 0 if all(r.error is None for r in results) and (rss is None or rss.error is None) \
        else 1


if __name__ == "__main__":
    sys.exit(main())
