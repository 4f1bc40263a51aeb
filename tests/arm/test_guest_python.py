"""python3 (Debian arm64) with the aarch64 wheels in the guest, running
sigdbg's own ELF reader and capstone on a live AArch64 vDSO
(tests/arm/guest_vdso.py), compared with the vDSO image the C target dumped
in the same boot, read on the host by readelf and by pyelftools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sigdbg.decode.elfimage import parse_elf_image
from tests.arm.conftest import parse
from tests.arm.guest import Batch

pytestmark = pytest.mark.timeout(900)


def test_vdso_in_guest(guest: Batch, tmp_path: Path) -> None:
    res = guest.results["py_vdso"]
    assert res.rc == 0, res.stderr.decode(errors="replace")
    got = json.loads(res.text)
    assert got["machine"] == "EM_AARCH64"
    # __kernel_rt_sigreturn by symbol, with its version, and its code
    assert got["sigreturn_versioned"] == "__kernel_rt_sigreturn@@LINUX_2.6.39"
    assert got["code_is_table"]
    assert got["insns"] == ["mov x8, #0x8b", "svc #0"]
    kernel = guest.results["uname"].text.split()[0]
    assert ".".join(map(str, got["linux_version"][:2])) == ".".join(kernel.split(".")[:2])
    # the same kernel's vDSO, dumped by the C target in the same boot
    base, image = parse(guest.results["frame_a64"]).dump("vdso")
    host = parse_elf_image(image)
    sym = host.lookup("__kernel_rt_sigreturn")
    assert sym is not None and sym.value == got["sigreturn_offset"]
    assert got["symbols"] == sorted(s.versioned_name for s in host.symbols if s.defined)
    # readelf's view of the dumped image: the same defined, versioned symbols
    path = tmp_path / "vdso.so"
    path.write_bytes(image)
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].rstrip(":").isdigit() and parts[6] != "UND":
            names.add(parts[7])
    assert names == set(got["symbols"])
