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


def test_bench_targets_summary_reads_each_target_against_its_base() -> None:
    sys.path.insert(0, str(Path(ROOT) / "bench"))
    try:
        import bench  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    rows = {name: bench.Result(bench.Mode(name, ()), secs) for name, secs in [
        ("strace", 3.0), ("floor", 2.0), ("floor --sigreturn", 8.0),
        ("sigdbg", 3.3), ("sigdbg --no-frame", 2.0), ("sigdbg --step-sigreturn", 16.0)]}
    text = bench.targets(list(rows.values()))
    assert "sigdbg                      1.10x strace" in text and "NOT met" in text
    assert "sigdbg --no-frame           1.00x floor" in text
    assert "sigdbg --step-sigreturn     2.00x floor --sigreturn  (target <= 2.03x)  met" in text
