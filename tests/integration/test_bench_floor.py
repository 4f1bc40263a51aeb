"""The benchmark's C floor tracers do the work they claim, on a real storm.

bench/bench.py divides sigdbg's times by these; a floor that silently
skipped deliveries or sigreturns would make every ratio look better than it
is.  The counts are checked against the storm's own report, and the
``--sigreturn`` floor's debug-register walk must end in one sigreturn per
delivery.  No timing is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, parse_reports, target

N = 40


@pytest.mark.parametrize("variant", [[], ["--step"], ["--sigreturn"]],
                         ids=["plain", "step", "sigreturn"])
def test_floor_handles_every_delivery(variant: list[str]) -> None:
    p = subprocess.run([target("bench_floor"), *variant, target("sig_storm"), str(N)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    (report,) = [r for r in parse_reports(p.stdout) if r["tag"] == "storm"]
    assert report["count"] == N  # the handler ran once per signal
    assert f"floor: {N} signals" in p.stderr
    if variant == ["--sigreturn"]:
        assert f"floor: {N} sigreturns" in p.stderr
    if variant == ["--step"]:
        steps = int(re.search(r"floor: (\d+) steps", p.stderr).group(1))  # type: ignore[union-attr]
        assert steps >= 3 * N  # at least the restorer's instructions, per signal


def _bench() -> Any:
    sys.path.insert(0, str(Path(ROOT) / "bench"))
    try:
        import bench  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return bench


def test_bench_targets_summary_reads_each_target_against_its_base() -> None:
    bench = _bench()
    us = 1e-6
    rows = [bench.Result(bench.BY_NAME[name], wall * us, cpu * us, cpu * us)
            for name, wall, cpu in [
                ("strace", 40, 30), ("floor", 25, 15), ("floor --sigreturn", 100, 50),
                ("sigdbg --json", 44, 30), ("sigdbg text", 60, 45),
                ("sigdbg --no-frame", 25, 20), ("sigdbg --step-sigreturn", 200, 150),
                ("strace -f (threads)", 30, 20), ("sigdbg -f --json (threads)", 45, 40),
                ("strace (fp)", 50, 30)]]
    rss = bench.Result(bench.Mode("rss", "sigdbg --json, 1000000 signals (RSS)", ()),
                       1 * us, 1 * us, 1 * us,
                       extra={"rss_start": 20000, "rss_end": 20100, "rss_max": 20100,
                              "seconds": 60})
    lines = bench.targets(rows, rss).splitlines()

    def line(what: str) -> str:
        (found,) = [x for x in lines if x.strip().startswith(what)]
        return found

    # each ratio is of the row to its own base, on both clocks, with its own limit
    assert "1.10x NOT met" in line("trace --json <= 1.0x strace")
    assert "1.00x met" in line("trace --json <= 1.0x strace")  # cpu 30 / 30
    assert "1.76x met" in line("trace --json <= 2.0x C floor")
    assert "2.00x met" in line("trace --json <= 2.0x C floor")
    assert "1.36x met" in line("text <= 1.5x --json") and "1.50x met" in line("text <=")
    assert "2.00x met" in line("--step-sigreturn") and "3.00x NOT met" in line("--step-sigreturn")
    assert "1.00x met" in line("--no-frame") and "1.33x NOT met" in line("--no-frame")
    assert "1.50x met" in line("-f 8-thread") and "2.00x NOT met" in line("-f 8-thread")
    assert "not measured" in line("FP storm")  # no sigdbg row for it
    assert "+0.1 MiB" in line("memory flat") and line("memory flat").endswith(" met")


def test_bench_measures_marginal_cost_on_a_real_storm() -> None:
    """(t(N) - t(0)) / N from two real runs of the storm, checked for count."""
    bench = _bench()
    r = bench.measure(bench.BY_KEY["floor"], 200, 1, [], 60)
    assert r.error is None, r.error
    # (no timing asserted: on a loaded machine the difference may even be negative)
    assert all(isinstance(x, float) for x in (r.wall, r.cpu, r.total))
    assert set(r.extra) == {"fixed", "total_s"}
    bad = bench.run_once([target("sig_storm"), "5"], 6, 30)  # claims 6, the storm sends 5
    assert bad[0] is None and "count 5 != 6" in (bad[1] or "")
