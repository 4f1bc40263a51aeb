"""x86 names: XSAVE features, uc_flags, ss_flags, EFLAGS, exception vectors, #PF error bits,
and the x86 rows of the name tables (AT_HWCAP bits, AT_SYSINFO, the family's spellings).

Sources: ``arch/x86/kernel/fpu/xstate.c`` (``xfeature_names``) and
``arch/x86/include/asm/fpu/types.h`` (``enum xfeature``);
``arch/x86/include/uapi/asm/ucontext.h`` (UC_*); ``include/uapi/linux/signal.h``
(SS_*); ``arch/x86/include/uapi/asm/processor-flags.h`` (X86_EFLAGS_*);
``arch/x86/include/asm/trapnr.h`` (X86_TRAP_*); ``arch/x86/include/asm/trap_pf.h``
(``enum x86_pf_error_code``).  AT_HWCAP is the kernel's copy of CPUID.(EAX=1):EDX
(``arch/x86/include/asm/elf.h`` ``ELF_HWCAP``), named as ``/proc/cpuinfo`` spells
word 0 of ``arch/x86/include/asm/cpufeatures.h`` (bits 10 and 20 are reserved);
AT_HWCAP2: ``arch/x86/include/uapi/asm/hwcap2.h``; AT_SYSINFO and AT_SYSINFO_EHDR:
``arch/x86/include/uapi/asm/auxvec.h``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sigdbg.abi.abis import NameTables
from sigdbg.abi.bits import bit_names, bit_table


@dataclass(frozen=True)
class XFeature:
    """One XSAVE state component: bit, short name (from ``enum xfeature``), kernel name."""

    bit: int
    short: str
    name: str


_XFEATURE_ROWS: tuple[XFeature, ...] = (
    XFeature(0, "x87", "x87 floating point registers"),
    XFeature(1, "sse", "SSE registers"),
    XFeature(2, "ymm", "AVX registers"),
    XFeature(3, "bndregs", "MPX bounds registers"),
    XFeature(4, "bndcsr", "MPX CSR"),
    XFeature(5, "opmask", "AVX-512 opmask"),
    # The kernel's strings for 6 and 7 are verbatim: bit 6 is ZMM_Hi256 (upper
    # halves of zmm0-15), bit 7 is Hi16_ZMM (zmm16-31).
    XFeature(6, "zmm_hi256", "AVX-512 Hi256"),
    XFeature(7, "hi16_zmm", "AVX-512 ZMM_Hi256"),
    XFeature(8, "pt", "Processor Trace (unused)"),
    XFeature(9, "pkru", "Protection Keys User registers"),
    XFeature(10, "pasid", "PASID state"),
    XFeature(11, "cet_user", "Control-flow User registers"),
    XFeature(12, "cet_kernel", "Control-flow Kernel registers (KVM only)"),
    # xfeature_names says "unknown xstate feature" for 13-16; enum xfeature
    # names 15 XFEATURE_LBR (architectural LBRs, supervisor state).
    XFeature(15, "lbr", "Architectural LBR state"),
    XFeature(17, "xtile_cfg", "AMX Tile config"),
    XFeature(18, "xtile_data", "AMX Tile data"),
    XFeature(19, "apx", "APX registers"),
)

#: XSAVE component bit → :class:`XFeature`.
XFEATURES: Mapping[int, XFeature] = MappingProxyType({f.bit: f for f in _XFEATURE_ROWS})
#: XSAVE component bit → the kernel's ``xfeature_names`` string.
XFEATURE_NAMES: Mapping[int, str] = MappingProxyType({f.bit: f.name for f in _XFEATURE_ROWS})
#: XSAVE component bit → short name (``x87``, ``sse``, ``ymm``, ...).
XFEATURE_SHORT_NAMES: Mapping[int, str] = MappingProxyType({f.bit: f.short for f in _XFEATURE_ROWS})


def xfeature_names(mask: int) -> tuple[str, ...]:
    """Short names of the components set in an XSAVE mask (XCR0, xstate_bv); unknown → ``bitN``."""
    return bit_names(mask, XFEATURE_SHORT_NAMES, "xfeature mask")


#: ``uc_flags`` bits (arch/x86/include/uapi/asm/ucontext.h), value → name.
UC_FLAGS: Mapping[int, str] = MappingProxyType(
    {0x1: "UC_FP_XSTATE", 0x2: "UC_SIGCONTEXT_SS", 0x4: "UC_STRICT_RESTORE_SS"}
)


_UC_FLAG_BITS: Mapping[int, str] = MappingProxyType(
    {v.bit_length() - 1: n for v, n in UC_FLAGS.items()}
)


def uc_flags_names(value: int) -> tuple[str, ...]:
    """Names of the ``uc_flags`` bits set in ``value``; unknown → ``bitN``."""
    return bit_names(value, _UC_FLAG_BITS, "uc_flags")


#: ``ss_flags`` values (include/uapi/linux/signal.h), value → name.
SS_FLAGS: Mapping[int, str] = MappingProxyType(
    {1: "SS_ONSTACK", 2: "SS_DISABLE", 1 << 31: "SS_AUTODISARM"}
)
_SS_FLAG_BITS: Mapping[int, str] = MappingProxyType(
    {v.bit_length() - 1: n for v, n in SS_FLAGS.items()}
)


def ss_flags_names(value: int) -> tuple[str, ...]:
    """Names of the ``ss_flags`` bits set in ``value``; unknown → ``bitN``.

    ``ss_flags`` is a C ``int``: a value decoded as signed (SS_AUTODISARM is
    -2**31 then) is taken as its 32-bit two's complement.
    """
    if -(1 << 31) <= value < 0:
        value &= 0xFFFFFFFF
    return bit_names(value, _SS_FLAG_BITS, "ss_flags")


#: EFLAGS single-bit flags, bit → name (IOPL, bits 12-13, is a 2-bit field).
EFLAGS_BITS: Mapping[int, str] = MappingProxyType(
    {
        0: "CF",
        2: "PF",
        4: "AF",
        6: "ZF",
        7: "SF",
        8: "TF",
        9: "IF",
        10: "DF",
        11: "OF",
        14: "NT",
        16: "RF",
        17: "VM",
        18: "AC",
        19: "VIF",
        20: "VIP",
        21: "ID",
    }
)
_EFLAGS_FIXED_BIT = 1
_EFLAGS_IOPL_SHIFT = 12


def eflags_names(value: int) -> tuple[str, ...]:
    """Flags set in an EFLAGS/RFLAGS value, lowest bit first.

    Bit 1 (always 1) is not listed; IOPL appears as ``"IOPL=n"`` when non-zero;
    other reserved bits that are set come out as ``bitN``.
    """
    if value < 0:
        raise ValueError(f"eflags must be non-negative, got {value}")
    iopl = (value >> _EFLAGS_IOPL_SHIFT) & 3
    rest = value & ~((1 << _EFLAGS_FIXED_BIT) | (3 << _EFLAGS_IOPL_SHIFT))
    names = list(bit_names(rest, EFLAGS_BITS, "eflags"))
    if iopl:
        # keep bit order: IOPL sits between OF (11) and NT (14)
        position = sum(1 for bit in range(_EFLAGS_IOPL_SHIFT) if (rest >> bit) & 1)
        names.insert(position, f"IOPL={iopl}")
    return tuple(names)


# Exception vectors (sigcontext.trapno). -----------------------------------------
_TRAPS: tuple[tuple[int, str, str], ...] = (
    (0, "#DE", "divide error"),
    (1, "#DB", "debug"),
    (2, "NMI", "non-maskable interrupt"),
    (3, "#BP", "breakpoint"),
    (4, "#OF", "overflow"),
    (5, "#BR", "bound range exceeded"),
    (6, "#UD", "invalid opcode"),
    (7, "#NM", "device not available"),
    (8, "#DF", "double fault"),
    (9, "OLD_MF", "coprocessor segment overrun"),
    (10, "#TS", "invalid TSS"),
    (11, "#NP", "segment not present"),
    (12, "#SS", "stack segment fault"),
    (13, "#GP", "general protection fault"),
    (14, "#PF", "page fault"),
    (15, "SPURIOUS", "spurious interrupt"),
    (16, "#MF", "x87 floating-point exception"),
    (17, "#AC", "alignment check"),
    (18, "#MC", "machine check"),
    (19, "#XM", "SIMD floating-point exception"),  # the kernel's X86_TRAP_XF
    (20, "#VE", "virtualization exception"),
    (21, "#CP", "control protection exception"),
    # 28 and 30 are AMD64 APM vectors the kernel does not name in trapnr.h
    (28, "#HV", "hypervisor injection exception"),
    (29, "#VC", "VMM communication exception"),
    (30, "#SX", "security exception"),
    (32, "IRET", "IRET exception"),
)

#: Exception vector → mnemonic ("#DE", "#PF", ...).  Vectors without an SDM
#: mnemonic use the kernel's X86_TRAP_* suffix: 9 OLD_MF, 15 SPURIOUS and the
#: software vector 32 IRET.
TRAPNO_NAMES: Mapping[int, str] = MappingProxyType({v: m for v, m, _ in _TRAPS})
#: Exception vector → description.
TRAPNO_DESCRIPTIONS: Mapping[int, str] = MappingProxyType({v: d for v, _, d in _TRAPS})


def trapno_name(vector: int) -> str:
    """Mnemonic of exception ``vector`` ("#PF"); unknown → ``"vector N"``."""
    return TRAPNO_NAMES.get(vector, f"vector {vector}")


def trapno_description(vector: int) -> str:
    """Description of exception ``vector`` ("page fault"); unknown → ``"unknown vector N"``."""
    return TRAPNO_DESCRIPTIONS.get(vector, f"unknown vector {vector}")


# Page-fault error code (sigcontext.err when trapno == 14). ----------------------
#: #PF error-code bits, bit → name (X86_PF_PROT, _WRITE, _USER, _RSVD, _INSTR,
#: _PK, _SHSTK, _SGX, _RMP).
PAGE_FAULT_ERR_BITS: Mapping[int, str] = MappingProxyType(
    {
        0: "prot",
        1: "write",
        2: "user",
        3: "rsvd",
        4: "fetch",
        5: "pkey",
        6: "shstk",
        15: "sgx",
        31: "rmp",
    }
)


def page_fault_err_names(err: int) -> tuple[str, ...]:
    """Describe a #PF error code as words, always starting with three of them.

    First ``"prot"`` (protection violation on a present page) or
    ``"not-present"``; then the access: ``"write"``, ``"fetch"`` (instruction
    fetch) or ``"read"``; then ``"user"`` or ``"kernel"``; then any of
    ``"rsvd"``, ``"pkey"``, ``"shstk"``, ``"sgx"``, ``"rmp"`` and ``bitN`` for
    unknown bits.  Only meaningful when ``trapno`` is 14.
    """
    if err < 0:
        raise ValueError(f"page-fault error code must be non-negative, got {err}")
    names = ["prot" if err & 1 else "not-present"]
    if err & 2:
        names.append("write")
    if err & 16:
        names.append("fetch")
    if not err & (2 | 16):
        names.append("read")
    names.append("user" if err & 4 else "kernel")
    names.extend(bit_names(err & ~(1 | 2 | 4 | 16), PAGE_FAULT_ERR_BITS, "error code"))
    return tuple(names)


# The x86 rows of sigdbg.names' tables. ------------------------------------------

#: AT_HWCAP: CPUID.1:EDX, /proc/cpuinfo spelling; bits 10 and 20 reserved.
HWCAP: Mapping[int, str] = bit_table(
    "fpu vme de pse tsc msr pae mce cx8 apic - sep mtrr pge mca cmov "
    "pat pse36 pn clflush - dts acpi mmx fxsr sse sse2 ss ht tm ia64 pbe"
)

#: AT_HWCAP2 (HWCAP2_RING3MWAIT, HWCAP2_FSGSBASE).
HWCAP2: Mapping[int, str] = bit_table("ring3mwait fsgsbase")

NAME_TABLES = NameTables(
    auxv=((32, "AT_SYSINFO", "addr", "vDSO system-call entry (__kernel_vsyscall, i386)"),
          (33, "AT_SYSINFO_EHDR", "addr", "vDSO ELF header")),
    hwcaps=(HWCAP, HWCAP2),
    functions=(("eflags_names", eflags_names),),
)
