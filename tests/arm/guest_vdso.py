"""Runs INSIDE the arm64 guest (tests/arm/conftest.py ships it with the sigdbg
package): sigdbg's own ELF reader and capstone on the live vDSO of this
(AArch64) python3 process, printed as one JSON line for the host test.

The vDSO is found through /proc/self/auxv (AT_SYSINFO_EHDR) and read through
/proc/self/mem, sized by /proc/self/maps: the same sources a tracer uses.
"""

from __future__ import annotations

import json
import struct
import time

t0 = time.monotonic()
import capstone  # noqa: E402

from sigdbg.abi import aarch64  # noqa: E402
from sigdbg.decode.elfimage import parse_elf_image  # noqa: E402

t_import = time.monotonic() - t0

with open("/proc/self/auxv", "rb") as fh:
    raw = fh.read()
auxv = dict(struct.iter_unpack("<QQ", raw[: len(raw) // 16 * 16]))
base = auxv[33]  # AT_SYSINFO_EHDR
end = None
with open("/proc/self/maps") as fh:
    for line in fh:
        if line.rstrip().endswith("[vdso]"):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            assert lo == base
            end = hi
assert end is not None
with open("/proc/self/mem", "rb") as fh:
    fh.seek(base)
    image = fh.read(end - base)
elf = parse_elf_image(image)
sym = elf.lookup("__kernel_rt_sigreturn")
assert sym is not None
code = image[sym.value : sym.value + 8]
md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
insns = [f"{i.mnemonic} {i.op_str}" for i in md.disasm(code, base + sym.value)]
print(json.dumps({
    "machine": elf.machine,
    "vdso_base": base,
    "vdso_size": end - base,
    "sigreturn_offset": sym.value,
    "sigreturn_versioned": sym.versioned_name,
    "code_is_table": code == aarch64.RT_SIGRETURN_CODE,
    "insns": insns,
    "linux_version": elf.linux_version_tuple,
    "symbols": sorted(s.versioned_name for s in elf.symbols if s.defined),
    "import_s": round(t_import, 2),
    "capstone": capstone.__version__,
}))
