"""The .eh_frame of a static AArch64 program, which has no .eh_frame_hdr
(sigdbg/decode/cfi.py ``EhFrame``), indexed as binutils reads it: every FDE's
pc range equals ``aarch64-linux-gnu-readelf --debug-dump=frames``.  No guest:
the bytes are the file's, read through its PT_LOAD segments as the tracer
reads them from memory."""

from __future__ import annotations

import re
import subprocess

from elftools.elf.elffile import ELFFile

from sigdbg.decode.cfi import EhFrame
from tests.arm.conftest import ARM_BUILD
from tests.conftest import TARGETS


def test_static_a64_eh_frame_index_equals_readelf() -> None:
    subprocess.run(["make", "-s", "-C", str(TARGETS), "arm"], check=True)
    prog = ARM_BUILD / "sig_bt.a64"
    with prog.open("rb") as fh:
        elf = ELFFile(fh)
        assert elf.get_section_by_name(".eh_frame_hdr") is None  # the case at hand
        segs = [(s["p_vaddr"], s.data()) for s in elf.iter_segments()
                if s["p_type"] == "PT_LOAD"]
        eh = elf.get_section_by_name(".eh_frame")
        address, size = eh["sh_addr"], eh["sh_size"]

    def read(addr: int, n: int) -> bytes:
        for vaddr, data in segs:
            if vaddr <= addr and addr + n <= vaddr + len(data):
                return data[addr - vaddr:addr - vaddr + n]
        raise AssertionError(f"{addr:#x} is not loaded")

    table = EhFrame(read, address, size, 8)
    out = subprocess.run(["aarch64-linux-gnu-readelf", "--debug-dump=frames", str(prog)],
                         check=True, capture_output=True, text=True).stdout
    want = sorted((int(a, 16), int(b, 16)) for a, b in
                  re.findall(r" FDE cie=\S+ pc=([0-9a-f]+)\.\.([0-9a-f]+)", out))
    assert want and [(b, e) for b, e, _ in table.index] == [w for w in want if w[1] > w[0]]
    for begin, end in want[:50]:
        fde = table.fde_for(begin)
        assert fde is not None and (fde.pc_begin, fde.pc_end, fde.ra_reg) == (begin, end, 30)
