"""The memory map (/proc/PID/maps) with the kernel's special mappings explained.

Sources: fs/proc/task_mmu.c (``show_map_vma``: the maps line format and the
``[heap]``/``[stack]`` names), arch/x86/entry/vdso/vma.c (``[vdso]``,
``[vvar]``, ``[vvar_vclock]``), arch/x86/entry/vsyscall/vsyscall_64.c
(``[vsyscall]`` gate area), kernel/events/uprobes.c (``[uprobes]`` XOL area),
arch/arm/kernel/process.c (``[sigpage]``, ``[vectors]``),
mm/mmap.c (``[heap]`` is the brk area).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sigdbg.decode.model import Model
from sigdbg.errors import DecodeError


@dataclass(frozen=True)
class SpecialMapping(Model):
    name: str
    created_by: str
    purpose: str
    readable_by_tracer: str


SPECIAL_MAPPINGS: dict[str, SpecialMapping] = {
    m.name: m
    for m in (
        SpecialMapping(
            "[vdso]",
            "arch/x86/entry/vdso/vma.c map_vdso() at execve (arch_setup_additional_pages)",
            "the vDSO: a small ELF shared object with fast clock_gettime/getcpu/... and, on "
            "i386, __kernel_vsyscall and the sigreturn trampolines; AT_SYSINFO_EHDR points here",
            "yes",
        ),
        SpecialMapping(
            "[vvar]",
            "arch/x86/entry/vdso/vma.c / lib/vdso/datastore.c (vdso data store) at execve",
            "read-only kernel data the vDSO code reads: timekeeping, time namespace, "
            "getrandom state",
            "no: VM_IO/PFN pages, /proc/PID/mem and ptrace give EIO",
        ),
        SpecialMapping(
            "[vvar_vclock]",
            "arch/x86/entry/vdso/vma.c (split from [vvar] after v6.12)",
            "paravirtual clock pages (KVM pvclock, Hyper-V TSC page), faulted in on use",
            "no: EIO like [vvar]",
        ),
        SpecialMapping(
            "[vsyscall]",
            "arch/x86/entry/vsyscall/vsyscall_64.c (a gate area, not a VMA; 64-bit tasks only)",
            "legacy fixed-address entries gettimeofday/time/getcpu at 0xffffffffff600000/+0x400/"
            "+0x800, emulated by the kernel on the instruction-fetch fault",
            "only in vsyscall=emulate mode (r-xp); execute-only (--xp, xonly) pages give EIO",
        ),
        SpecialMapping(
            "[stack]",
            "fs/exec.c setup_arg_pages() at execve",
            "the main thread's stack; argc, argv, envp, auxv and the strings at its top",
            "yes",
        ),
        SpecialMapping(
            "[heap]",
            "mm/mmap.c brk area (named by fs/proc/task_mmu.c)",
            "the brk() heap after the program's data segment",
            "yes",
        ),
        SpecialMapping(
            "[uprobes]",
            "kernel/events/uprobes.c xol_add_vma() on the first uprobe hit",
            "execute-out-of-line slots for uprobes",
            "yes",
        ),
        SpecialMapping(
            "[sigpage]",
            "arch/arm/kernel/process.c arch_setup_additional_pages() (ARM only)",
            "ARM signal return trampolines at a random offset; handlers without SA_RESTORER "
            "return here",
            "yes",
        ),
        SpecialMapping(
            "[vectors]",
            "arch/arm/kernel/process.c gate VMA (CONFIG_KUSER_HELPERS, ARM only)",
            "the ARM vector page with the kuser helpers at its top (0xffff0fa0..0xffff0ffc)",
            "yes (registered as a gate VMA for ptrace)",
        ),
    )
}


@dataclass(frozen=True)
class Mapping(Model):
    """One line of /proc/PID/maps."""

    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str
    #: the explanation from the process's ABI (``special_table``); None: the
    #: x86 table above (what parse_maps without a table gives)
    explained: SpecialMapping | None = field(default=None, compare=False,
                                             metadata={"json": False})

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def readable(self) -> bool:
        return self.perms[:1] == "r"

    @property
    def executable(self) -> bool:
        return self.perms[2:3] == "x"

    @property
    def special(self) -> SpecialMapping | None:
        if self.explained is not None:
            return self.explained
        return SPECIAL_MAPPINGS.get(self.path) or (
            SPECIAL_MAPPINGS["[stack]"] if self.path.startswith("[stack") else None
        )

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end

    def _json(self, view: bool) -> dict[str, Any]:
        out: dict[str, object] = {
            "start": self.start,
            "end": self.end,
            "perms": self.perms,
            "offset": self.offset,
            "dev": self.dev,
            "inode": self.inode,
            "path": self.path,
        }
        sp = self.special
        if sp is not None:
            out["special"] = sp.to_json()
        return out


@dataclass(frozen=True)
class MemoryMap(Model):
    mappings: tuple[Mapping, ...]

    def find(self, address: int) -> Mapping | None:
        for m in self.mappings:
            if m.start <= address < m.end:
                return m
        return None

    def by_name(self, name: str) -> Mapping | None:
        for m in self.mappings:
            if m.path == name:
                return m
        return None

    def file_mappings(self, path: str) -> tuple[Mapping, ...]:
        return tuple(m for m in self.mappings if m.path == path)

    def image_base(self, path: str) -> int | None:
        """Load address of a mapped file: its mapping with file offset 0."""
        for m in self.mappings:
            if m.path == path and m.offset == 0:
                return m.start
        return None


def special_table(rows: Iterable[Any]) -> dict[str, SpecialMapping] | None:
    """The maps explanation of an ABI from its rows (``Abi.special_mappings``,
    :class:`sigdbg.abi.arm.pages.SpecialMappingRow`); None when it has none
    (x86: the table above)."""
    table = {r.name: SpecialMapping(r.name, r.created_by, r.purpose, r.readable_by_tracer)
             for r in rows}
    return table or None


def parse_maps(text: str, specials: dict[str, SpecialMapping] | None = None) -> MemoryMap:
    """Parse /proc/PID/maps text (fs/proc/task_mmu.c show_map_vma format),
    explaining the special mappings from ``specials`` (see
    :func:`special_table`) when given."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 5)
        try:
            lo, hi = parts[0].split("-")
            out.append(
                Mapping(
                    start=int(lo, 16),
                    end=int(hi, 16),
                    perms=parts[1],
                    offset=int(parts[2], 16),
                    dev=parts[3],
                    inode=int(parts[4]),
                    path=parts[5].strip() if len(parts) > 5 else "",
                )
            )
            if specials is not None:
                m = out[-1]
                key = "[stack]" if m.path.startswith("[stack") else m.path
                if key in specials:
                    out[-1] = Mapping(m.start, m.end, m.perms, m.offset, m.dev, m.inode, m.path,
                                      specials[key])
        except (ValueError, IndexError):
            raise DecodeError(f"maps line {lineno} is malformed: {line[:80]!r}") from None
    return MemoryMap(tuple(out))
