"""Bit names of the AT_HWCAP .. AT_HWCAP4 words, per arch family.

Sources:

* x86 AT_HWCAP is the kernel's copy of CPUID.(EAX=1):EDX
  (``arch/x86/include/asm/elf.h`` ``ELF_HWCAP``); the names are the
  ``/proc/cpuinfo`` spellings of word 0 of ``arch/x86/include/asm/cpufeatures.h``.
  Bits 10 and 20 are reserved.
* x86 AT_HWCAP2: ``arch/x86/include/uapi/asm/hwcap2.h``.
* arm: ``arch/arm/include/uapi/asm/hwcap.h`` (also the COMPAT_HWCAP* words a
  32-bit task sees on an arm64 kernel).
* arm64: ``arch/arm64/include/uapi/asm/hwcap.h`` (HWCAP, HWCAP2, HWCAP3).

arm and arm64 names are the uapi macro names without the ``HWCAP_`` /
``HWCAP2_`` / ``HWCAP3_`` prefix, lower-cased (``HWCAP_FAST_MULT`` →
``"fast_mult"``).  A set bit no table names is reported as ``bitN``, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sigdbg.names._common import UnknownNameError, arch_family, bit_names


def _bits(names: str) -> Mapping[int, str]:
    """Bit number → name from a space-separated list; ``-`` marks a reserved bit."""
    return MappingProxyType({bit: n for bit, n in enumerate(names.split()) if n != "-"})


#: x86 AT_HWCAP: CPUID.1:EDX, /proc/cpuinfo spelling; bits 10 and 20 reserved.
X86_HWCAP: Mapping[int, str] = _bits(
    "fpu vme de pse tsc msr pae mce cx8 apic - sep mtrr pge mca cmov "
    "pat pse36 pn clflush - dts acpi mmx fxsr sse sse2 ss ht tm ia64 pbe"
)

#: x86 AT_HWCAP2 (HWCAP2_RING3MWAIT, HWCAP2_FSGSBASE).
X86_HWCAP2: Mapping[int, str] = _bits("ring3mwait fsgsbase")

#: arm AT_HWCAP.
ARM_HWCAP: Mapping[int, str] = _bits(
    "swp half thumb 26bit fast_mult fpa vfp edsp java iwmmxt crunch thumbee neon "
    "vfpv3 vfpv3d16 tls vfpv4 idiva idivt vfpd32 lpae evtstrm fphp asimdhp asimddp "
    "asimdfhm asimdbf16 i8mm"
)

#: arm AT_HWCAP2.
ARM_HWCAP2: Mapping[int, str] = _bits("aes pmull sha1 sha2 crc32 sb ssbs")

#: arm64 AT_HWCAP (bits 62 and 63 are reserved for libc).
ARM64_HWCAP: Mapping[int, str] = _bits(
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 "
    "atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc "
    "dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm "
    "dit uscat ilrcpc flagm ssbs sb paca pacg "
    "gcs cmpbr fprcvt f8mm8 f8mm4 sve_f16mm sve_eltperm sve_aes2 "
    "sve_bfscale sve2p2 sme2p2 sme_sbitperm sme_aes sme_sfexpa sme_stmop sme_smop4"
)

#: arm64 AT_HWCAP2.
ARM64_HWCAP2: Mapping[int, str] = _bits(
    "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 "
    "frint svei8mm svef32mm svef64mm svebf16 i8mm bf16 dgh "
    "rng bti mte ecv afp rpres mte3 sme "
    "sme_i16i64 sme_f64f64 sme_i8i32 sme_f16f32 sme_b16f32 sme_f32f32 sme_fa64 wfxt "
    "ebf16 sve_ebf16 cssc rprfm sve2p1 sme2 sme2p1 sme_i16i32 "
    "sme_bi32i32 sme_b16b16 sme_f16f16 mops hbc sve_b16b16 lrcpc3 lse128 "
    "fpmr lut faminmax f8cvt f8fma f8dp4 f8dp2 f8e4m3 "
    "f8e5m2 sme_lutv2 sme_f8f16 sme_f8f32 sme_sf8fma sme_sf8dp4 sme_sf8dp2 poe"
)

#: arm64 AT_HWCAP3.
ARM64_HWCAP3: Mapping[int, str] = _bits(
    "mte_far mte_store_only lsfe ls64 sve_b16mm sve2p3 sme_lut6 sme2p3 "
    "f16mm f16f32dot f16f32mm sve_lut6"
)

_EMPTY: Mapping[int, str] = MappingProxyType({})

#: (arch family, which) → bit table; ``which`` is 1..4 for AT_HWCAP..AT_HWCAP4.
HWCAP_TABLES: Mapping[tuple[str, int], Mapping[int, str]] = MappingProxyType(
    {
        ("x86", 1): X86_HWCAP,
        ("x86", 2): X86_HWCAP2,
        ("x86", 3): _EMPTY,
        ("x86", 4): _EMPTY,
        ("arm", 1): ARM_HWCAP,
        ("arm", 2): ARM_HWCAP2,
        ("arm", 3): _EMPTY,
        ("arm", 4): _EMPTY,
        ("arm64", 1): ARM64_HWCAP,
        ("arm64", 2): ARM64_HWCAP2,
        ("arm64", 3): ARM64_HWCAP3,
        ("arm64", 4): _EMPTY,
        ("generic", 1): _EMPTY,
        ("generic", 2): _EMPTY,
        ("generic", 3): _EMPTY,
        ("generic", 4): _EMPTY,
    }
)


def hwcap_table(arch: str, which: int) -> Mapping[int, str]:
    """The bit table of AT_HWCAP``which`` (1..4) on ``arch``; raises ``ValueError`` if invalid."""
    family = arch_family(arch)
    table = HWCAP_TABLES.get((family, which))
    if table is None:
        raise UnknownNameError(f"which must be 1, 2, 3 or 4 (AT_HWCAP..AT_HWCAP4), got {which!r}")
    return table


def hwcap_names(value: int, arch: str, which: int) -> tuple[str, ...]:
    """Names of the bits set in AT_HWCAP``which`` ``value`` on ``arch``, lowest bit first.

    ``which`` is 1, 2, 3 or 4 (AT_HWCAP, AT_HWCAP2, AT_HWCAP3, AT_HWCAP4).
    Bits without a name come out as ``bitN``.
    """
    return bit_names(value, hwcap_table(arch, which), "hwcap value")


def hwcap_bit(name: str, arch: str, which: int) -> int:
    """Bit number of capability ``name`` (case-insensitive) in AT_HWCAP``which`` on ``arch``."""
    wanted = name.strip().lower()
    for bit, bit_name in hwcap_table(arch, which).items():
        if bit_name == wanted:
            return bit
    raise UnknownNameError(f"unknown capability {name!r} in AT_HWCAP{which if which > 1 else ''}")
