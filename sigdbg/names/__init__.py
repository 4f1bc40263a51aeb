"""Pure-data name tables for sigdbg: signals, si_codes, auxv, hwcaps, x86 bits, syscalls.

The per-arch rows (auxv entries, hwcap bits, the flags register's bits) are
data of the arch packages, reached through the ABI registry: an arch's own
name functions are ``sigdbg.names.<name>`` by :func:`__getattr__` below.

Every table is immutable (tuples, ``types.MappingProxyType``, frozen
dataclasses) and cites the kernel source it was taken from.  Nothing here
imports anything outside the standard library, :mod:`sigdbg.errors` and the
ABI registry (:mod:`sigdbg.abi`, pure data too), so the package imports
inside GDB's own Python.

Look-ups that turn a user's text into a number (``signal_number``,
``auxv_number``, ``syscall_number``, ...) raise :class:`UnknownNameError`, a
``ValueError`` and a :class:`sigdbg.errors.UsageError`.
"""

from __future__ import annotations

from typing import Any

from sigdbg.abi import ABIS
from sigdbg.abi.x86.names import (
    XFeature,
    page_fault_err_names,
    ss_flags_names,
    trapno_description,
    trapno_name,
    uc_flags_names,
    xfeature_names,
)
from sigdbg.names._common import ARCH_FAMILIES, UnknownNameError, arch_family
from sigdbg.names.auxv import (
    AuxvType,
    all_auxv_names,
    at_flags_names,
    auxv_name,
    auxv_number,
    auxv_type,
)
from sigdbg.names.hwcap import hwcap_bit, hwcap_names
from sigdbg.names.sicodes import (
    ptrace_trap_code_description,
    ptrace_trap_code_name,
    si_code_description,
    si_code_name,
    sigfault_extra,
    siginfo_layout,
)
from sigdbg.names.signals import (
    STOP_SIGNALS,
    all_signal_names,
    default_action,
    is_realtime,
    signal_description,
    signal_name,
    signal_number,
    sigset_names,
)
from sigdbg.names.syscalls import (
    all_syscall_names,
    audit_arch_abi,
    audit_arch_name,
    audit_arch_value,
    syscall_name,
    syscall_number,
)


def __getattr__(name: str) -> Any:
    """``sigdbg.names.<name>``: a name function an arch package registers in its
    ABI's name tables (``Abi.names.functions``: x86's names of the flags register)."""
    for abi in ABIS:
        for fname, fn in abi.names.functions:
            if fname == name:
                return fn
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ARCH_FAMILIES",
    "STOP_SIGNALS",
    "AuxvType",
    "UnknownNameError",
    "XFeature",
    "all_auxv_names",
    "all_signal_names",
    "all_syscall_names",
    "arch_family",
    "at_flags_names",
    "audit_arch_abi",
    "audit_arch_name",
    "audit_arch_value",
    "auxv_name",
    "auxv_number",
    "auxv_type",
    "default_action",
    "hwcap_bit",
    "hwcap_names",
    "is_realtime",
    "page_fault_err_names",
    "ptrace_trap_code_description",
    "ptrace_trap_code_name",
    "si_code_description",
    "si_code_name",
    "sigfault_extra",
    "siginfo_layout",
    "signal_description",
    "signal_name",
    "signal_number",
    "sigset_names",
    "ss_flags_names",
    "syscall_name",
    "syscall_number",
    "trapno_description",
    "trapno_name",
    "uc_flags_names",
    "xfeature_names",
]
