"""AT_HWCAP/AT_HWCAP2 named by sigdbg (sigdbg/names/hwcap.py) against the
kernel's own names in /proc/cpuinfo, for the AArch64 target and for the
AArch32 one (compat hwcaps, read under the PER_LINUX32 personality: a plain
32-bit task still gets the arm64 list)."""

from __future__ import annotations

import pytest

from sigdbg.names import hwcap_names
from tests.arm.conftest import parse
from tests.arm.guest import Batch

pytestmark = pytest.mark.timeout(900)

#: arch/arm64/kernel/cpuinfo.c compat_hwcap_str spells one name differently
#: from the uapi macro sigdbg uses (COMPAT_HWCAP_FAST_MULT -> "fastmult")
CPUINFO_SPELLING = {"fast_mult": "fastmult"}


def features(text: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith("Features"))
    return line.split(":", 1)[1].split()


def test_aarch64_hwcap_names(guest: Batch) -> None:
    aux = parse(guest.results["frame_a64"])["auxv"]
    names = hwcap_names(aux["at16"], "aarch64", 1) + hwcap_names(aux["at26"], "aarch64", 2)
    assert not [n for n in names if n.startswith("bit")]
    assert list(names) == features(guest.results["uname"].text)


@pytest.mark.parametrize("build", ["arm", "thumb"])
def test_arm_compat_hwcap_names(guest: Batch, build: str) -> None:
    aux = parse(guest.results[f"frame_{build}"])["auxv"]
    names = hwcap_names(aux["at16"], "arm", 1) + hwcap_names(aux["at26"], "arm", 2)
    assert not [n for n in names if n.startswith("bit")]
    assert [CPUINFO_SPELLING.get(n, n) for n in names] == features(
        guest.results["cpuinfo32"].text)
