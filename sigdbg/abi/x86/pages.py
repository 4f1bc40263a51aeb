"""The kernel's special mappings of x86 processes, as data: the maps
explanation and the legacy vsyscall page.

Sources: arch/x86/entry/vdso/vma.c (``[vdso]``, ``[vvar]``, ``[vvar_vclock]``),
arch/x86/entry/vsyscall/vsyscall_64.c (the ``[vsyscall]`` gate area at
0xffffffffff600000 with its three entries; its modes: emulate maps the page r-x
and readable, xonly leaves it execute-only -- no page table entry -- and none
removes it; ``vsyscall=`` on the kernel command line picks one, else
CONFIG_LEGACY_VSYSCALL_XONLY is the default).
"""

from __future__ import annotations

from sigdbg.abi.abis import FixedPage
from sigdbg.abi.generic import HEAP_MAPPING, STACK_MAPPING, UPROBES_MAPPING, SpecialMappingRow

_VDSO = SpecialMappingRow(
    "[vdso]",
    "arch/x86/entry/vdso/vma.c map_vdso() at execve (arch_setup_additional_pages)",
    "the vDSO: a small ELF shared object with fast clock_gettime/getcpu/... and, on "
    "i386, __kernel_vsyscall and the sigreturn trampolines; AT_SYSINFO_EHDR points here",
    "yes",
)
_VVAR = SpecialMappingRow(
    "[vvar]",
    "arch/x86/entry/vdso/vma.c / lib/vdso/datastore.c (vdso data store) at execve",
    "read-only kernel data the vDSO code reads: timekeeping, time namespace, "
    "getrandom state",
    "no: VM_IO/PFN pages, /proc/PID/mem and ptrace give EIO",
)
_VVAR_VCLOCK = SpecialMappingRow(
    "[vvar_vclock]",
    "arch/x86/entry/vdso/vma.c (split from [vvar] after v6.12)",
    "paravirtual clock pages (KVM pvclock, Hyper-V TSC page), faulted in on use",
    "no: EIO like [vvar]",
)
_VSYSCALL = SpecialMappingRow(
    "[vsyscall]",
    "arch/x86/entry/vsyscall/vsyscall_64.c (a gate area, not a VMA; 64-bit tasks only)",
    "legacy fixed-address entries gettimeofday/time/getcpu at 0xffffffffff600000/+0x400/"
    "+0x800, emulated by the kernel on the instruction-fetch fault",
    "only in vsyscall=emulate mode (r-xp); execute-only (--xp, xonly) pages give EIO",
)

#: x86_64 and i386 processes (a 32-bit task has no [vsyscall] line; the row
#: explains the name wherever it appears)
X86_MAPPINGS: tuple[SpecialMappingRow, ...] = (
    _VDSO, _VVAR, _VVAR_VCLOCK, _VSYSCALL, STACK_MAPPING, HEAP_MAPPING, UPROBES_MAPPING,
)


def vsyscall_mode(perms: str | None, cmdline: str) -> tuple[str, str]:
    """(mode, evidence) of the vsyscall page: its maps line's ``perms`` (None:
    no such line) and the kernel command line's ``vsyscall=``."""
    param = next((w.split("=", 1)[1] for w in cmdline.split() if w.startswith("vsyscall=")), None)
    if perms is None:
        return "none", "no [vsyscall] line in /proc/PID/maps" + (
            f" (kernel command line vsyscall={param})" if param else "")
    if perms.startswith("r"):
        return "emulate", f"[vsyscall] mapped {perms}: readable page (vsyscall=emulate)"
    return "xonly", f"[vsyscall] mapped {perms}: execute-only, reads fault" + (
        f" (kernel command line vsyscall={param})" if param
        else " (CONFIG_LEGACY_VSYSCALL_XONLY, the kernel default)")


VSYSCALL_PAGE = FixedPage(
    name="vsyscall", mapping="[vsyscall]", address=0xFFFFFFFFFF600000, size=4096,
    entries=(("gettimeofday", 0x000), ("time", 0x400), ("getcpu", 0x800)),
    help="the legacy x86_64 vsyscall page and the kernel's vsyscall mode",
    mode=vsyscall_mode,
)
