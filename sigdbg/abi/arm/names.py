"""The 32-bit ARM rows of the name tables (:mod:`sigdbg.names`): AT_HWCAP and
AT_HWCAP2 bits, AT_SYSINFO_EHDR, the family's spellings.

Sources: arch/arm/include/uapi/asm/hwcap.h (also the COMPAT_HWCAP* words a
32-bit task sees on an arm64 kernel), arch/arm/include/uapi/asm/auxvec.h.
Names are the uapi macro names without ``HWCAP_`` / ``HWCAP2_``, lower-cased
(``HWCAP_FAST_MULT`` -> ``"fast_mult"``).
"""

from __future__ import annotations

from collections.abc import Mapping

from sigdbg.abi.abis import NameTables
from sigdbg.abi.bits import bit_table

#: AT_HWCAP.
HWCAP: Mapping[int, str] = bit_table(
    "swp half thumb 26bit fast_mult fpa vfp edsp java iwmmxt crunch thumbee neon "
    "vfpv3 vfpv3d16 tls vfpv4 idiva idivt vfpd32 lpae evtstrm fphp asimdhp asimddp "
    "asimdfhm asimdbf16 i8mm"
)

#: AT_HWCAP2.
HWCAP2: Mapping[int, str] = bit_table("aes pmull sha1 sha2 crc32 sb ssbs")

NAME_TABLES = NameTables(
    aliases=("armhf", "armel"),
    auxv=((33, "AT_SYSINFO_EHDR", "addr", "vDSO ELF header"),),
    hwcaps=(HWCAP, HWCAP2),
)
