"""``sigdbg trace --step-sigreturn`` on AArch32 (compat) processes in the arm64 guest.

Placeholder while measuring: dumps what the guest run gave.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.arm.guest import Batch

pytestmark = pytest.mark.timeout(900)


def test_dump(guest: Batch) -> None:
    res = guest.results["py_sigdbg"]
    assert res.rc == 0, res.stderr.decode(errors="replace")[-3000:]
    doc: dict[str, Any] = json.loads(res.text)
    with open("/tmp/a32step_doc.json", "w") as f:
        json.dump({"steps_a32": doc.get("steps_a32"), "a32_step": doc["frames"]["a32_step"],
                   "step_arm": guest.results["step_arm"].text,
                   "step_thumb": guest.results["step_thumb"].text}, f)
