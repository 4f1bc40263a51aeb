"""asm-generic layouts every Linux ABI shares: siginfo_t (64-bit and 32-bit
forms) and the 64-bit stack_t.

Sources: include/uapi/asm-generic/siginfo.h (``siginfo_t``: the union
``_sifields`` starts after the three ints, padded to the pointer alignment,
so at 16 on 64-bit ABIs and at 12 on 32-bit ones), include/uapi/asm-generic/
signal.h (``stack_t``).  Checked against ``offsetof`` probes per ABI
(tests/unit/test_abi_probe.py, tests/arm/test_probe.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.abi.layout import Layout, fields

#: every siginfo_t is 128 bytes (SI_MAX_SIZE)
SIGINFO_SIZE = 128

STACK_T_64 = Layout(
    "stack_t",
    24,
    fields(("ss_sp", 0, 8, "ptr"), ("ss_flags", 8, 4, "i"), ("ss_size", 16, 8)),
    source="include/uapi/asm-generic/signal.h stack_t",
)

#: siginfo_t header; the union starts at 16 on 64-bit ABIs.
SIGINFO64_HEADER = Layout(
    "siginfo",
    16,
    fields(("si_signo", 0, 4, "i"), ("si_errno", 4, 4, "i"), ("si_code", 8, 4, "i")),
    source="include/uapi/asm-generic/siginfo.h",
)

#: One layout per union member of ``_sifields`` (absolute offsets in siginfo_t).
SIGINFO64_MEMBERS: dict[str, Layout] = {
    "kill": Layout("_kill", 24, fields(("si_pid", 16, 4, "i"), ("si_uid", 20, 4))),
    "timer": Layout(
        "_timer",
        36,
        fields(("si_tid", 16, 4, "i"), ("si_overrun", 20, 4, "i"), ("si_value", 24, 8, "ptr"),
               ("si_sys_private", 32, 4, "i")),
    ),
    "rt": Layout(
        "_rt", 32, fields(("si_pid", 16, 4, "i"), ("si_uid", 20, 4), ("si_value", 24, 8, "ptr"))
    ),
    "sigchld": Layout(
        "_sigchld",
        48,
        fields(("si_pid", 16, 4, "i"), ("si_uid", 20, 4), ("si_status", 24, 4, "i"),
               ("si_utime", 32, 8, "i"), ("si_stime", 40, 8, "i")),
    ),
    "sigfault": Layout("_sigfault", 24, fields(("si_addr", 16, 8, "ptr"))),
    "addr_lsb": Layout("_sigfault", 26, fields(("si_addr", 16, 8, "ptr"), ("si_addr_lsb", 24, 2))),
    "addr_bnd": Layout(
        "_sigfault",
        48,
        fields(("si_addr", 16, 8, "ptr"), ("si_lower", 32, 8, "ptr"), ("si_upper", 40, 8, "ptr")),
    ),
    "addr_pkey": Layout(
        "_sigfault", 36, fields(("si_addr", 16, 8, "ptr"), ("si_pkey", 32, 4))
    ),
    "perf": Layout(
        "_sigfault",
        40,
        fields(("si_addr", 16, 8, "ptr"), ("si_perf_data", 24, 8), ("si_perf_type", 32, 4),
               ("si_perf_flags", 36, 4)),
    ),
    "sigpoll": Layout("_sigpoll", 28, fields(("si_band", 16, 8, "i"), ("si_fd", 24, 4, "i"))),
    "sigsys": Layout(
        "_sigsys",
        32,
        fields(("si_call_addr", 16, 8, "ptr"), ("si_syscall", 24, 4, "i"), ("si_arch", 28, 4)),
    ),
}

#: siginfo_t header of 32-bit ABIs; the union starts at 12.
SIGINFO32_HEADER = Layout(
    "siginfo",
    12,
    fields(("si_signo", 0, 4, "i"), ("si_errno", 4, 4, "i"), ("si_code", 8, 4, "i")),
    source="include/uapi/asm-generic/siginfo.h (32-bit: union at 12)",
)

SIGINFO32_MEMBERS: dict[str, Layout] = {
    "kill": Layout("_kill", 20, fields(("si_pid", 12, 4, "i"), ("si_uid", 16, 4))),
    "timer": Layout(
        "_timer",
        28,
        fields(("si_tid", 12, 4, "i"), ("si_overrun", 16, 4, "i"), ("si_value", 20, 4, "ptr"),
               ("si_sys_private", 24, 4, "i")),
    ),
    "rt": Layout(
        "_rt", 24, fields(("si_pid", 12, 4, "i"), ("si_uid", 16, 4), ("si_value", 20, 4, "ptr"))
    ),
    "sigchld": Layout(
        "_sigchld",
        32,
        fields(("si_pid", 12, 4, "i"), ("si_uid", 16, 4), ("si_status", 20, 4, "i"),
               ("si_utime", 24, 4, "i"), ("si_stime", 28, 4, "i")),
    ),
    "sigfault": Layout("_sigfault", 16, fields(("si_addr", 12, 4, "ptr"))),
    "addr_lsb": Layout("_sigfault", 18, fields(("si_addr", 12, 4, "ptr"), ("si_addr_lsb", 16, 2))),
    "addr_bnd": Layout(
        "_sigfault",
        28,
        fields(("si_addr", 12, 4, "ptr"), ("si_lower", 20, 4, "ptr"), ("si_upper", 24, 4, "ptr")),
    ),
    "addr_pkey": Layout("_sigfault", 24, fields(("si_addr", 12, 4, "ptr"), ("si_pkey", 20, 4))),
    "perf": Layout(
        "_sigfault",
        28,
        fields(("si_addr", 12, 4, "ptr"), ("si_perf_data", 16, 4), ("si_perf_type", 20, 4),
               ("si_perf_flags", 24, 4)),
    ),
    "sigpoll": Layout("_sigpoll", 20, fields(("si_band", 12, 4, "i"), ("si_fd", 16, 4, "i"))),
    "sigsys": Layout(
        "_sigsys",
        24,
        fields(("si_call_addr", 12, 4, "ptr"), ("si_syscall", 16, 4, "i"), ("si_arch", 20, 4)),
    ),
}


# -- the special mappings every process has, whatever its arch ------------------------


@dataclass(frozen=True)
class SpecialMappingRow:
    """One named mapping of /proc/PID/maps, explained (rows of ``Abi.special_mappings``)."""

    name: str
    created_by: str
    purpose: str
    readable_by_tracer: str


STACK_MAPPING = SpecialMappingRow(
    "[stack]", "fs/exec.c setup_arg_pages() at execve",
    "the main thread's stack; argc, argv, envp, auxv and the strings at its top", "yes")
HEAP_MAPPING = SpecialMappingRow(
    "[heap]", "mm/mmap.c brk area (named by fs/proc/task_mmu.c)",
    "the brk() heap after the program's data segment", "yes")
UPROBES_MAPPING = SpecialMappingRow(
    "[uprobes]", "kernel/events/uprobes.c xol_add_vma() on the first uprobe hit",
    "execute-out-of-line slots for uprobes", "yes")
