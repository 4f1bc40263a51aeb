"""The AArch64 rows of the name tables (:mod:`sigdbg.names`): AT_HWCAP ..
AT_HWCAP3 bits and AT_SYSINFO_EHDR.

Sources: arch/arm64/include/uapi/asm/hwcap.h (HWCAP, HWCAP2, HWCAP3; bits 62
and 63 of AT_HWCAP are reserved for libc), arch/arm64/include/uapi/asm/auxvec.h.
Names are the uapi macro names without ``HWCAP_`` / ``HWCAP2_`` / ``HWCAP3_``,
lower-cased.
"""

from __future__ import annotations

from collections.abc import Mapping

from sigdbg.abi.abis import NameTables
from sigdbg.abi.bits import bit_table

#: AT_HWCAP.
HWCAP: Mapping[int, str] = bit_table(
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 "
    "atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc "
    "dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm "
    "dit uscat ilrcpc flagm ssbs sb paca pacg "
    "gcs cmpbr fprcvt f8mm8 f8mm4 sve_f16mm sve_eltperm sve_aes2 "
    "sve_bfscale sve2p2 sme2p2 sme_sbitperm sme_aes sme_sfexpa sme_stmop sme_smop4"
)

#: AT_HWCAP2.
HWCAP2: Mapping[int, str] = bit_table(
    "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 "
    "frint svei8mm svef32mm svef64mm svebf16 i8mm bf16 dgh "
    "rng bti mte ecv afp rpres mte3 sme "
    "sme_i16i64 sme_f64f64 sme_i8i32 sme_f16f32 sme_b16f32 sme_f32f32 sme_fa64 wfxt "
    "ebf16 sve_ebf16 cssc rprfm sve2p1 sme2 sme2p1 sme_i16i32 "
    "sme_bi32i32 sme_b16b16 sme_f16f16 mops hbc sve_b16b16 lrcpc3 lse128 "
    "fpmr lut faminmax f8cvt f8fma f8dp4 f8dp2 f8e4m3 "
    "f8e5m2 sme_lutv2 sme_f8f16 sme_f8f32 sme_sf8fma sme_sf8dp4 sme_sf8dp2 poe"
)

#: AT_HWCAP3.
HWCAP3: Mapping[int, str] = bit_table(
    "mte_far mte_store_only lsfe ls64 sve_b16mm sve2p3 sme_lut6 sme2p3 "
    "f16mm f16f32dot f16f32mm sve_lut6"
)

NAME_TABLES = NameTables(
    auxv=((33, "AT_SYSINFO_EHDR", "addr", "vDSO ELF header"),),
    hwcaps=(HWCAP, HWCAP2, HWCAP3),
)
