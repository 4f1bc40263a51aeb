"""Unit tests decode forged bytes: they describe their own CPU.

Forged FP areas (tests/unit/test_forged_frames.py ``forge_fp_area``) keep
YMM_Hi128 where this table says; the decoder takes XSAVE offsets from CPUID
(sigdbg.abi.x86.xstate_layout), so without the pin the unit tests would depend
on the CPU they run on.  The FP-area memos are emptied around each test: a
decode is a function of the bytes *and* of the CPU's layout.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sigdbg.abi.x86 import xsave, xstate_layout

#: component -> (standard-format offset, size) of the forged CPU: x87, SSE, AVX
FORGED_CPU = {0: (0, 160), 1: (160, 256), 2: (576, 256)}


def _clear_memos() -> None:
    xsave._decode_blob.cache_clear()
    xsave._LAST_AREA.clear()


@pytest.fixture(autouse=True)
def forged_cpu(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[int, tuple[int, int]]]:
    table = dict(FORGED_CPU)
    monkeypatch.setattr(xstate_layout, "xstate_offsets", lambda: table)
    _clear_memos()
    yield table
    _clear_memos()
