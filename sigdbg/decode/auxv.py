"""The auxiliary vector: found on the initial stack, cross-checked with /proc.

The kernel writes argc, argv[], NULL, envp[], NULL and the AT_* pairs at the
initial stack pointer (fs/binfmt_elf.c ``create_elf_tables``), in the
target's word size.  ``/proc/PID/auxv`` (fs/proc/base.c ``auxv_read``) gives
the kernel's saved copy of the same pairs, possibly followed by extra zero
pairs for 32-bit tasks.  Both are decoded here and compared.

The initial stack pointer is ``mm->start_stack``, which /proc/PID/stat
reports as field 28 (fs/proc/array.c ``do_task_stat``) -- so the walk also
works for an attached process long after exec.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from sigdbg.abi import Abi
from sigdbg.backends.base import Memory
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.model import Model
from sigdbg.errors import DecodeError, MemoryReadError
from sigdbg.names import auxv_type, hwcap_names

AT_NULL = 0
AT_PHDR = 3
AT_BASE = 7
AT_ENTRY = 9
AT_EXECFN = 31
AT_SYSINFO = 32
AT_SYSINFO_EHDR = 33
AT_RANDOM = 25

#: More argv/envp entries than this means the walk went wrong.
_MAX_VECTOR = 1 << 16
_MAX_AUXV = 256
_MAX_STRING = 4096


@dataclass(frozen=True)
class AuxvEntry(Model):
    """One AT_* pair with its value interpreted."""

    type: int
    name: str  #: "AT_..." or "" when the kernel emitted a tag we do not know
    value: int
    kind: str  #: how a_val is interpreted (see sigdbg.names.auxv)
    description: str
    string: str | None = None  #: dereferenced string (AT_EXECFN, AT_PLATFORM, ...)
    data: bytes | None = None  #: AT_RANDOM's 16 bytes
    flags: tuple[str, ...] = ()  #: named bits (AT_HWCAP*, AT_FLAGS)
    mapping: str | None = None  #: mapping the address lies in
    symbol: str | None = None  #: symbol at the address (AT_SYSINFO -> __kernel_vsyscall)
    problem: str | None = None  #: why an interpretation failed

    @property
    def label(self) -> str:
        return self.name or f"AT_{self.type}?"


@dataclass(frozen=True)
class AuxvReport(Model):
    abi: str
    pid: int
    start_stack: int  #: address of argc
    argc: int
    argv: tuple[str, ...]
    envc: int
    auxv_address: int  #: address of the first pair on the stack
    entries: tuple[AuxvEntry, ...]
    proc_checked: bool  #: the kernel's saved copy was read and compared
    checked_against: str  #: where that copy came from (/proc/PID/auxv, NT_AUXV of a core)
    differences: tuple[str, ...]  #: every disagreement between stack and /proc

    def get(self, name: str) -> AuxvEntry | None:
        for e in self.entries:
            if e.name == name:
                return e
        return None


def parse_auxv_bytes(data: bytes, abi: Abi) -> list[tuple[int, int]]:
    """Split raw auxv bytes into (type, value) pairs, stopping at AT_NULL."""
    fmt = abi.endian + ("QQ" if abi.word == 8 else "II")
    step = 2 * abi.word
    pairs: list[tuple[int, int]] = []
    for off in range(0, len(data) - step + 1, step):
        a_type, a_val = struct.unpack_from(fmt, data, off)
        if a_type == AT_NULL:
            return pairs
        pairs.append((a_type, a_val))
    if pairs:
        raise DecodeError("auxv has no AT_NULL terminator")
    return pairs


def read_c_string(mem: Memory, address: int, limit: int = _MAX_STRING) -> str:
    """A NUL-terminated string from target memory (bytes undecodable as UTF-8
    are kept as backslash escapes; renderers escape control characters)."""
    out = b""
    while len(out) < limit:
        want = min(256, limit - len(out))
        chunk = mem.read_upto(address + len(out), want)
        if not chunk:
            if not out:
                raise MemoryReadError(address, 1, "unreadable string")
            break
        nul = chunk.find(b"\0")
        if nul >= 0:
            out += chunk[:nul]
            break
        out += chunk
    return out.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class InitialStack:
    argc: int
    argv_ptrs: tuple[int, ...]
    envc: int
    auxv_address: int
    pairs: tuple[tuple[int, int], ...]


def walk_initial_stack(mem: Memory, abi: Abi, start_stack: int) -> InitialStack:
    """Walk argc, argv[], NULL, envp[], NULL to the AT_* pairs."""
    w = abi.word
    wfmt = abi.word_fmt

    def word(addr: int) -> int:
        return int(struct.unpack(wfmt, mem.read(addr, w))[0])

    argc = word(start_stack)
    if argc > _MAX_VECTOR:
        raise DecodeError(f"argc {argc} at {start_stack:#x} is implausible: not an initial stack")
    # argv + NULL in one read
    block = mem.read(start_stack + w, (argc + 1) * w)
    argv_ptrs = struct.unpack(f"{abi.endian}{argc + 1}{wfmt[-1]}", block)
    if argv_ptrs[-1] != 0:
        raise DecodeError("argv is not NULL-terminated: not an initial stack")
    addr = start_stack + (argc + 2) * w
    envc = 0
    while True:
        if word(addr + envc * w) == 0:
            break
        envc += 1
        if envc > _MAX_VECTOR:
            raise DecodeError("envp has no NULL terminator")
    addr += (envc + 1) * w
    auxv_address = addr
    raw = mem.read_upto(addr, _MAX_AUXV * 2 * w)
    pairs = parse_auxv_bytes(raw, abi)
    return InitialStack(argc, tuple(argv_ptrs[:-1]), envc, auxv_address, tuple(pairs))


_STRING_KINDS = {"str"}
_ADDRESS_KINDS = {"addr"}


def _interpret(
    a_type: int,
    a_val: int,
    abi: Abi,
    mem: Memory,
    maps: MemoryMap | None,
    symbolize: Callable[[int], str | None] | None,
) -> AuxvEntry:
    info = auxv_type(a_type, abi.arch)
    if info is None:
        return AuxvEntry(a_type, "", a_val, "unknown", "tag unknown to sigdbg")
    kind = info.kind
    string = None
    data = None
    flags: tuple[str, ...] = ()
    mapping = None
    symbol = None
    problem = None
    try:
        if kind in _STRING_KINDS:
            string = read_c_string(mem, a_val)
        elif kind == "bytes16":
            data = mem.read(a_val, 16)
        elif kind.startswith("hwcap"):
            which = 1 if kind == "hwcap" else int(kind[5:])
            flags = hwcap_names(a_val, abi.arch, which)
        elif kind == "flags" and info.name == "AT_FLAGS":
            flags = ("AT_FLAGS_PRESERVE_ARGV0",) if a_val & 1 else ()
    except MemoryReadError as exc:
        problem = str(exc)
    if kind in _ADDRESS_KINDS | _STRING_KINDS | {"bytes16"} and maps is not None and a_val:
        m = maps.find(a_val)
        mapping = m.path or "[anonymous]" if m is not None else None
        if m is None:
            problem = problem or "address is not mapped"
    if symbolize is not None and a_type in (AT_SYSINFO, AT_ENTRY, AT_SYSINFO_EHDR) and a_val:
        symbol = symbolize(a_val)
    return AuxvEntry(
        a_type, info.name, a_val, kind, info.description, string, data, flags, mapping, symbol,
        problem,
    )


def decode_auxv(
    mem: Memory,
    abi: Abi,
    pid: int,
    start_stack: int,
    proc_auxv: bytes | None,
    maps: MemoryMap | None = None,
    symbolize: Callable[[int], str | None] | None = None,
    checked_against: str = "/proc/PID/auxv",
) -> AuxvReport:
    """The auxv from the initial stack, interpreted and checked against /proc."""
    stack = walk_initial_stack(mem, abi, start_stack)
    argv = []
    for p in stack.argv_ptrs:
        try:
            argv.append(read_c_string(mem, p))
        except MemoryReadError:
            argv.append(f"<unreadable {p:#x}>")
    entries = tuple(_interpret(t, v, abi, mem, maps, symbolize) for t, v in stack.pairs)
    differences: list[str] = []
    if proc_auxv is not None:
        proc_pairs = parse_auxv_bytes(proc_auxv, abi)
        if list(stack.pairs) != proc_pairs:
            sp = dict(stack.pairs)
            pp = dict(proc_pairs)
            for t in sorted(set(sp) | set(pp)):
                if sp.get(t) != pp.get(t):
                    differences.append(
                        f"type {t}: stack {_fmt(sp.get(t))} /proc {_fmt(pp.get(t))}"
                    )
            if not differences:
                differences.append("same entries in a different order")
    return AuxvReport(
        abi=abi.name,
        pid=pid,
        start_stack=start_stack,
        argc=stack.argc,
        argv=tuple(argv),
        envc=stack.envc,
        auxv_address=stack.auxv_address,
        entries=entries,
        proc_checked=proc_auxv is not None,
        checked_against=checked_against,
        differences=tuple(differences),
    )


def _fmt(v: int | None) -> str:
    return "absent" if v is None else f"{v:#x}"

