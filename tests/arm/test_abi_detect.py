"""The ABI of the cross-built ARM targets, from their ELF headers (runs after
``make -C targets arm``, which the ARM session does; the forged-header cases
are in tests/unit/test_arm_abi_pages.py)."""

from __future__ import annotations

from pathlib import Path

from sigdbg.abi import AARCH64, ARM, abi_for_elf_header
from tests.conftest import TARGETS


def test_cross_built_targets_are_recognised() -> None:
    build = TARGETS / "build" / "arm"
    assert (build / "sig_frame.a64").exists(), "targets/build/arm missing: run make -C targets arm"
    for name, abi in (("sig_frame.a64", AARCH64), ("sig_frame.arm", ARM),
                      ("sig_frame.thumb", ARM)):
        assert abi_for_elf_header(Path(build, name).read_bytes()[:20]) is abi
