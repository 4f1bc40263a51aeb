"""The kernel's special mappings of ARM and AArch64 processes, as data.

What each mapping is (the maps explanation) and what a debugger can decode
in it: the kuser helpers at the top of ``[vectors]`` and the sigreturn
trampolines of ``[sigpage]`` (32-bit tasks), described by byte patterns and
fixed addresses so that one generic decoder (sigdbg/decode/specialpages.py)
reads them for any ABI that lists them.

Sources (Linux v6.1): arch/arm64/kernel/vdso.c (``aarch32_setup_additional_pages``:
``[vectors]`` at 0xffff0000 for compat tasks with CONFIG_KUSER_HELPERS, then
``[sigpage]``; ``__setup_additional_pages`` for ``[vvar]`` + ``[vdso]``),
arch/arm64/kernel/kuser32.S (the helpers and ``__kuser_helper_version``),
arch/arm64/kernel/sigreturn32.S (the compat trampolines at offset 0 of
``[sigpage]``), arch/arm/kernel/process.c and signal.c (native ARM:
``[sigpage]`` with ``sigreturn_codes`` at a random offset), arch/arm/kernel/
sigreturn_codes.S, Documentation/arm/kernel_user_helpers.rst (the helper
addresses and the version each needs), arch/arm64/kernel/vdso/sigreturn.S.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.abi.generic import HEAP_MAPPING as _HEAP
from sigdbg.abi.generic import STACK_MAPPING as _STACK
from sigdbg.abi.generic import UPROBES_MAPPING as _UPROBES
from sigdbg.abi.generic import SpecialMappingRow


@dataclass(frozen=True)
class KuserHelper:
    """One kuser helper: a fixed address in the vector page."""

    name: str
    address: int
    #: the smallest ``__kuser_helper_version`` that has it
    since_version: int
    description: str


@dataclass(frozen=True)
class Trampoline:
    """One sigreturn entry in a trampoline block: its offset in the block,
    the instruction set, the system call it makes."""

    name: str
    offset: int
    size: int
    mode: str  #: disassembly mode, "arm" or "thumb"
    syscall: str
    syscall_nr: int


@dataclass(frozen=True)
class TrampolineBlock:
    """A block of sigreturn code the kernel copies into ``[sigpage]``,
    recognised by its bytes (where it sits is found by searching the page:
    offset 0 on an arm64 kernel, a random offset on an ARM kernel)."""

    kernel: str
    source: str
    code: bytes
    entries: tuple[Trampoline, ...]


@dataclass(frozen=True)
class PageRule:
    """What to decode in the mapping named ``mapping``: kuser helpers (with
    the address of the version word) or sigreturn trampoline blocks."""

    mapping: str
    kind: str  #: "kuser" or "trampolines"
    version_address: int = 0
    helpers: tuple[KuserHelper, ...] = ()
    blocks: tuple[TrampolineBlock, ...] = ()


# -- the maps explanation -------------------------------------------------------------

_VVAR = SpecialMappingRow(
    "[vvar]", "arch/arm64/kernel/vdso.c __setup_additional_pages() at execve",
    "the vDSO data pages (timekeeping, time namespace) the vDSO code reads, mapped just "
    "before [vdso]",
    "no: the pages are mapped by PFN (VM_PFNMAP), /proc/PID/mem and ptrace give EIO")

AARCH64_MAPPINGS: tuple[SpecialMappingRow, ...] = (
    SpecialMappingRow(
        "[vdso]", "arch/arm64/kernel/vdso.c __setup_additional_pages() at execve "
        "(arch_setup_additional_pages)",
        "the vDSO: an ELF shared object with __kernel_clock_gettime, __kernel_gettimeofday, "
        "... and __kernel_rt_sigreturn, where a handler returns when the program did not set "
        "SA_RESTORER (glibc's aarch64 sigaction never does); AT_SYSINFO_EHDR points here",
        "yes"),
    _VVAR, _STACK, _HEAP, _UPROBES,
)

ARM_COMPAT_MAPPINGS: tuple[SpecialMappingRow, ...] = (
    SpecialMappingRow(
        "[vdso]", "arch/arm64/kernel/vdso.c __setup_additional_pages() for a compat task "
        "(CONFIG_COMPAT_VDSO; an ARM kernel: arch/arm/kernel/vdso.c)",
        "the 32-bit vDSO: __vdso_clock_gettime, __vdso_gettimeofday, ...; no sigreturn code "
        "(that is in [sigpage]); AT_SYSINFO_EHDR points here",
        "yes"),
    _VVAR,
    SpecialMappingRow(
        "[sigpage]", "arch/arm64/kernel/vdso.c aarch32_sigreturn_setup() at execve "
        "(an ARM kernel: arch/arm/kernel/process.c arch_setup_additional_pages)",
        "the sigreturn trampolines (ARM and Thumb, sigreturn 119 and rt_sigreturn 173): lr "
        "at handler entry points here when the handler was installed without SA_RESTORER "
        "(glibc's armhf sigaction always sets SA_RESTORER, so its handlers return into libc)",
        "yes"),
    SpecialMappingRow(
        "[vectors]", "arch/arm64/kernel/vdso.c aarch32_kuser_helpers_setup() at execve "
        "(CONFIG_KUSER_HELPERS; an ARM kernel: the gate VMA of arch/arm/kernel/process.c)",
        "the vector page at 0xffff0000: the kuser helpers at its top (__kuser_cmpxchg64 "
        "0xffff0f60, __kuser_memory_barrier 0xffff0fa0, __kuser_cmpxchg 0xffff0fc0, "
        "__kuser_get_tls 0xffff0fe0) and __kuser_helper_version, the number of helpers, at "
        "0xffff0ffc",
        "yes"),
    _STACK, _HEAP, _UPROBES,
)

# -- what is decoded in them ----------------------------------------------------------

KUSER_VERSION_ADDRESS = 0xFFFF0FFC

#: Documentation/arm/kernel_user_helpers.rst; arch/arm64/kernel/kuser32.S
#: places the same entries (32-byte slots ending at 0xffff1000).
KUSER_HELPERS: tuple[KuserHelper, ...] = (
    KuserHelper("__kuser_cmpxchg64", 0xFFFF0F60, 5,
                "64-bit compare-and-exchange: r0 = &old, r1 = &new, r2 = ptr; r0 = 0 if done"),
    KuserHelper("__kuser_memory_barrier", 0xFFFF0FA0, 3, "memory barrier (dmb)"),
    KuserHelper("__kuser_cmpxchg", 0xFFFF0FC0, 2,
                "32-bit compare-and-exchange: r0 = old, r1 = new, r2 = ptr; r0 = 0 if done"),
    KuserHelper("__kuser_get_tls", 0xFFFF0FE0, 1, "r0 = the TLS value (TPIDRURO)"),
)


def _entries() -> tuple[Trampoline, ...]:
    return (
        Trampoline("sigreturn (ARM)", 0, 8, "arm", "sigreturn", 119),
        Trampoline("sigreturn (Thumb)", 8, 4, "thumb", "sigreturn", 119),
        Trampoline("rt_sigreturn (ARM)", 12, 8, "arm", "rt_sigreturn", 173),
        Trampoline("rt_sigreturn (Thumb)", 20, 4, "thumb", "rt_sigreturn", 173),
    )


#: arm64 kernel, compat task: ``mov r7, #119; svc #0x77`` / ``movs r7, #119;
#: svc #0x77`` / the same with 173, at offset 0 of the page.
COMPAT_SIGRETURN_CODE = TrampolineBlock(
    "arm64 kernel (compat task)", "arch/arm64/kernel/sigreturn32.S",
    bytes.fromhex("7770a0e3770000ef772777dfad70a0e3ad0000efad27addf"), _entries())
#: native ARM kernel: ``mov r7, #119; svc #0x900077`` / ``movs r7, #119;
#: svc #0`` / the same with 173, at a random offset chosen once per boot.
ARM_SIGRETURN_CODES = TrampolineBlock(
    "ARM kernel", "arch/arm/kernel/sigreturn_codes.S",
    bytes.fromhex("7770a0e3770090ef772700dfad70a0e3ad0090efad2700df"), _entries())

ARM_COMPAT_PAGES: tuple[PageRule, ...] = (
    PageRule("[vectors]", "kuser", version_address=KUSER_VERSION_ADDRESS,
             helpers=KUSER_HELPERS),
    PageRule("[sigpage]", "trampolines", blocks=(COMPAT_SIGRETURN_CODE, ARM_SIGRETURN_CODES)),
)
