"""Decode a signal frame from the user stack.

The frame starts where the stack pointer points at the handler's first
instruction.  One bulk read covers the frame and (normally) its FP area; the
ABI's frame kinds (:class:`~sigdbg.abi.abis.FrameKind` rows, one per struct the
kernel builds) say where everything is; this module is one path over those
rows and checks what the kernel guarantees of every frame: the argument
slots point into the frame, the retcode is the kernel's, the interrupted sp
lies above the frame unless it is on the alternate stack, the FP area lies
just above it (x86: arch/x86/kernel/signal.c ``get_sigframe``, signal_64.c
``x64_setup_rt_frame``, signal_32.c ``ia32_setup_frame`` and
``ia32_setup_rt_frame``).

A frame that does not look like one the kernel built (forged, scribbled over,
truncated) still decodes as far as the bytes allow; every inconsistency is a
line in ``problems`` rather than an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from sigdbg.abi import ABIS, Abi, FrameKind, abi_of_frame_kind, by_name, frame_kind
from sigdbg.abi.layout import Decoded, Field, Layout
from sigdbg.backends.base import Memory
from sigdbg.decode.fparea import (
    FpState,
    decode_fpstate_in,
    fp_changes,
    fp_value_json,
    fpstate_value_fields,
    try_decode_fpstate,
)
from sigdbg.decode.memmap import MemoryMap
from sigdbg.decode.model import Model, SharedModel, compiled_wire, internal, one_store_init
from sigdbg.decode.restorer import (
    Restorer,
    SymbolLookup,
    SymbolRef,
    classify_restorer,
    match_pattern,
)
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.errors import DecodeError, MemoryReadError
from sigdbg.names import sigset_names, ss_flags_names, uc_flags_names

# pure functions of small values that repeat frame after frame: memoised
_uc_flags_names = lru_cache(maxsize=64)(uc_flags_names)
_sigset_names = lru_cache(maxsize=256)(sigset_names)

#: bytes read in one go at the frame address: frame + FP area of a normal task
BULK_READ = 4096
SS_DISABLE = 2

_KINDS: dict[tuple[str, str], FrameKind] = {}


def kind_row(abi_name: str, kind: str) -> FrameKind:
    """The row of frame kind ``kind`` decoded with ABI ``abi_name``: that ABI's
    own kind of that name, else the registry's (a kind given explicitly: an
    ia32 frame of a 64-bit task).  DecodeError for another architecture's
    kind (``--kind`` takes every ABI's)."""
    row = _KINDS.get((abi_name, kind))
    if row is None:
        abi = by_name(abi_name)
        row = abi.frame_kind(kind)
        if row is None:
            row = frame_kind(kind)
            if abi_of_frame_kind(kind).arch != abi.arch:
                raise DecodeError(f"{kind} frames are not decoded here (another ABI's kind)")
        _KINDS[(abi_name, kind)] = row
    return row


class BufferedMemory:
    """Serve reads from one bulk read, fall back to the target for the rest."""

    def __init__(self, mem: Memory, base: int, data: bytes) -> None:
        self.mem = mem
        self.base = base
        self.data = data

    def read(self, address: int, size: int) -> bytes:
        off = address - self.base
        if 0 <= off and off + size <= len(self.data):
            return self.data[off : off + size]
        return self.mem.read(address, size)

    def read_upto(self, address: int, size: int) -> bytes:
        off = address - self.base
        if 0 <= off and off + size <= len(self.data):
            return self.data[off : off + size]
        return self.mem.read_upto(address, size)


@dataclass(frozen=True)
class Region(Model):
    """A labelled byte range of the frame picture."""

    start: int
    size: int
    label: str
    detail: str = ""


@one_store_init
@dataclass(frozen=True)
class SigFrame(SharedModel):
    abi: str
    kind: str  #: the frame kind's name (its ABI's ``FrameKind`` row)
    address: int  #: the frame start (sp at handler entry)
    size: int  #: sizeof the frame struct
    sig: int  #: the signal number (ia32: the frame's sig slot; x86_64: info.si_signo)
    pretcode: int
    restorer: Restorer
    siginfo: SigInfo | None
    siginfo_valid: bool  #: False for x86_64 handlers without SA_SIGINFO (stale bytes)
    pinfo: int | None
    puc: int | None
    uc_flags: int | None
    uc_flags_names: tuple[str, ...]
    uc_link: int | None
    uc_stack: dict[str, int] | None
    on_altstack: bool
    mcontext: dict[str, int]  #: uc_mcontext / sc, kernel field names
    sigmask: int  #: blocked mask to restore at sigreturn (bit n-1 = signal n)
    retcode: bytes | None
    retcode_ok: bool | None
    fpstate: FpState | None
    problems: tuple[str, ...]
    raw: bytes = internal(b"")

    @property
    def regions(self) -> tuple[Region, ...]:
        """The frame's byte ranges for the stack picture (derived, not stored)."""
        return frame_regions(self)

    @property
    def sigmask_names(self) -> tuple[str, ...]:
        return _sigset_names(self.sigmask)

    @property
    def pc(self) -> int:
        # (the row lookup inlined: this runs for every event of a trace)
        row = _KINDS.get((self.abi, self.kind)) or kind_row(self.abi, self.kind)
        return self.mcontext.get(row.pc, 0)

    @property
    def sp(self) -> int:
        row = _KINDS.get((self.abi, self.kind)) or kind_row(self.abi, self.kind)
        return self.mcontext.get(row.sp, 0)

    @property
    def sig_from_info(self) -> bool:
        """The frame keeps the signal number only in ``info`` (which the kernel
        leaves unwritten for a handler without SA_SIGINFO)."""
        return kind_row(self.abi, self.kind).signal_slot is None

    @property
    def mcontext_address(self) -> int:
        row = kind_row(self.abi, self.kind)
        return self.address + row.offset_of(row.mcontext)

    def _build_json(self) -> dict[str, Any]:
        # built once: a frame the handler left alone is reported twice in
        # --step-sigreturn (handler entry, sigreturn)
        out = self._fields_json((), True)
        out["sigmask_names"] = list(self.sigmask_names)
        return out

    _wire_encoded = False  # one per signal: its parts repeat, the frame does not

    def _build_wire(self, encode: Callable[[Any], Any]) -> Any:
        out: dict[str, Any] = compiled_wire(SigFrame)(self, encode)
        out["sigmask_names"] = list(self.sigmask_names)
        return out


def frame_on_altstack(frame: int, uc_stack: Mapping[str, int] | None) -> bool:
    """Whether ``frame`` lies on the alternate stack the ucontext records (an
    enabled one): there the interrupted sp need not be above the frame."""
    if uc_stack is None or not uc_stack["ss_size"]:
        return False
    ss_sp = uc_stack["ss_sp"]
    return ss_sp <= frame < ss_sp + uc_stack["ss_size"] and not uc_stack["ss_flags"] & SS_DISABLE


_Reader = tuple[Callable[[bytes], tuple[int, ...]], int]


class _Detection(NamedTuple):
    """How :func:`detect_kind` tells one ABI's frame kinds apart, worked out
    once per ABI from its rows."""

    size: int  #: bytes read at the frame: the largest kind
    #: (kind, (unpack_from of its argument slots, bytes it needs), the frame
    #: offsets they must hold)
    slots: tuple[tuple[str, _Reader, tuple[int, ...]], ...]
    retcodes: tuple[tuple[str, int, bytes], ...]  #: (kind, offset, the kernel's bytes)
    pretcode: _Reader  #: of the first kind's pretcode
    by_sigreturn: dict[str, str]  #: sigreturn -> the first kind it returns from
    last: str  #: the kind when nothing tells


def _reader(abi: Abi, fields: list[Field]) -> _Reader:
    """(unpack_from of the given integer fields in offset order, bytes it needs)."""
    fmt, pos = abi.endian, 0
    for f in sorted(fields, key=lambda f: f.offset):
        fmt += f"{f.offset - pos}x{_INT_CODES[f.size]}"
        pos = f.end
    return struct.Struct(fmt).unpack_from, pos


_INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_DETECTION: dict[Abi, _Detection] = {}


def _detection(abi: Abi) -> _Detection:
    d = _DETECTION.get(abi)
    if d is None:
        kinds = abi.frame_kinds
        if not kinds or "pretcode" not in kinds[0].layout.by_name:
            raise DecodeError(f"{abi.name} frames are not decoded here (no pretcode: "
                              "their own decoder, sigdbg/decode/frames.py)")
        slots = tuple((k.name, _reader(abi, [k.layout[s] for s, _ in k.arg_slots]),
                       tuple(k.offset_of(m) for _, m in sorted(
                           k.arg_slots, key=lambda sm: k.layout[sm[0]].offset)))
                      for k in kinds if k.arg_slots)
        retcodes = tuple((k.name, k.layout["retcode"].offset, k.retcode)
                         for k in kinds if k.retcode is not None)
        by_sigreturn: dict[str, str] = {}
        for k in kinds:
            by_sigreturn.setdefault(k.sigreturn, k.name)
        d = _DETECTION[abi] = _Detection(
            max(k.layout.size for k in kinds), slots, retcodes,
            _reader(abi, [kinds[0].layout["pretcode"]]), by_sigreturn, kinds[-1].name)
    return d


def detect_kind(mem: Memory, abi: Abi, frame: int) -> str:
    """Which of ``abi``'s frame structs lies at ``frame``.

    One kind: that one.  Else, in the ABI's order: the kind whose argument
    slots point at its own members (i386: ``pinfo == frame+16`` and
    ``puc == frame+144``, which signal_32.c stores unconditionally); the
    kind whose retcode signature is in place; the kind whose sigreturn the
    code at pretcode makes; the last kind.  The argument slots are the
    handler's own and may have been reused (a sibling call writes them); the
    retcode signatures and what pretcode points at are not touched by it.
    """
    kinds = abi.frame_kinds
    if not kinds:
        raise DecodeError(f"no signal frame tables for ABI {abi.name}")
    if len(kinds) == 1:
        return kinds[0].name
    d = _DETECTION.get(abi) or _detection(abi)
    head = mem.read_upto(frame, d.size)
    for name, (read, need), offsets in d.slots:
        if len(head) >= need:
            for value, off in zip(read(head), offsets):
                if value != frame + off:
                    break
            else:
                return name
    for name, off, code in d.retcodes:
        if head[off : off + len(code)] == code:
            return name
    read, need = d.pretcode
    if len(head) >= need:
        pat = match_pattern(abi, mem.read_upto(read(head)[0], 16))
        if pat is not None and pat[0] in d.by_sigreturn:
            return d.by_sigreturn[pat[0]]
    return d.last


class _KindFacts(NamedTuple):
    """What the decoder needs of one frame kind's table, looked up once."""

    row: FrameKind
    layout: Layout
    reader: Any  #: int_members reader: (top, uc, uc_stack, mcontext) or (top, mcontext)
    info_off: int  #: -1: no siginfo
    arg_offs: tuple[tuple[str, str, int], ...]  #: (slot, member, member offset)
    retcode: tuple[int, int] | None  #: (start, end) of the retcode member
    extramask: tuple[str, int] | None  #: (member, bits per word)


class RestorerContext(Protocol):
    """Where pretcode classifications come from and are kept: the engine's
    per-address-space view (maps, symbols, the program's path, a cache)."""

    restorers: dict[int, Restorer]

    def maps(self) -> MemoryMap: ...

    def lookup(self, address: int) -> SymbolRef | None: ...

    def exe_path(self) -> str: ...


def view_restorer(view: RestorerContext, mem: Memory, abi: Abi, pretcode: int) -> Restorer:
    """``pretcode`` classified once per address space (the view keeps it)."""
    restorer = view.restorers.get(pretcode)
    if restorer is None:
        restorer = view.restorers[pretcode] = classify_restorer(
            mem, abi, pretcode, view.maps(), view.lookup, view.exe_path())
    return restorer


_KIND_FACTS: dict[FrameKind, _KindFacts] = {}


def _kind_facts(row: FrameKind) -> _KindFacts:
    facts = _KIND_FACTS.get(row)
    if facts is None:
        layout = row.layout
        if "pretcode" not in layout.by_name:
            # AArch64 and AArch32 frames (no pretcode: the handler returns
            # through x30/lr) have their own decoders (sigdbg/decode/frames.py)
            raise DecodeError(f"{row.name} frames are not decoded here (their own decoder)")
        if row.uc is None:
            reader = layout.int_members("", row.mcontext)
        else:
            reader = layout.int_members("", row.uc, f"{row.uc}.uc_stack", row.mcontext)
        rc = layout["retcode"] if row.retcode is not None else None
        extra = None
        if row.extramask is not None:
            f = layout[row.extramask]
            extra = (row.extramask, 8 * f.size // max(f.count, 1))
        facts = _KIND_FACTS[row] = _KindFacts(
            row, layout, reader, layout.offset_of(row.info) if row.info else -1,
            tuple((s, m, layout.offset_of(m)) for s, m in row.arg_slots),
            (rc.offset, rc.end) if rc is not None else None, extra)
    return facts


def decode_sigframe(
    mem: Memory,
    abi: Abi,
    frame: int,
    *,
    maps: MemoryMap | None = None,
    lookup: SymbolLookup | None = None,
    exe_path: str = "",
    kind: str | None = None,
    signo: int | None = None,
    data: bytes | None = None,
    restorers: dict[int, Restorer] | None = None,
    previous: SigFrame | None = None,
    view: RestorerContext | None = None,
    name_libc: bool = False,
) -> SigFrame:
    """Decode the signal frame at ``frame`` (sp at handler entry).

    ``signo`` is the delivered signal when known (from the delivery stop or
    the handler's first argument); it decides whether the x86_64 siginfo is
    real.  ``data`` may pass a bulk read that starts at ``frame``;
    ``restorers`` caches pretcode classifications (the caller clears it when
    the address space changes).  ``previous`` is an earlier decode of the
    same frame (handler entry, when re-reading it at sigreturn): when the
    frame's bytes and its FP area are unchanged it is returned as is, since
    a decoded frame is a function of exactly those bytes.  ``view`` supplies
    maps, lookup, exe_path and restorers together, asked only when the
    pretcode is not classified yet.  ``name_libc``: ``lookup`` is cheap
    for libc too (see :func:`classify_restorer`).
    """
    # This runs once per traced signal: table facts are looked up once per
    # kind, and the bulk read serves the frame and (normally) its FP area.
    if data is None:
        data = mem.read_upto(frame, BULK_READ)
    if not data:
        raise MemoryReadError(frame, 1, "signal frame address is not readable")
    if kind is None:
        kinds = abi.frame_kinds
        kind = kinds[0].name if len(kinds) == 1 else detect_kind(
            BufferedMemory(mem, frame, data), abi, frame)
    row = _KINDS.get((abi.name, kind)) or kind_row(abi.name, kind)
    facts = _KIND_FACTS.get(row) or _kind_facts(row)
    layout = facts.layout
    size = layout.size
    raw = data[:size]
    if len(raw) < size:
        raw = BufferedMemory(mem, frame, data).read(frame, size)
    if previous is not None and previous.raw == raw and previous.address == frame \
            and previous.kind == kind and previous.sig == (signo or previous.sig):
        # the same frame bytes, hence the same fpstate pointer: unchanged if
        # the FP area's memo hands back the very object decoded before
        fp_ptr = previous.mcontext.get("fpstate", 0)
        if _fpstate(mem, abi, frame, data, fp_ptr)[0] is previous.fpstate:
            return previous
    problems: list[str] = []
    uc: dict[str, int] | None = None
    uc_stack: dict[str, int] | None = None
    if row.uc is None:
        top, mcontext = facts.reader(raw, 0)
    else:
        top, uc, uc_stack, mcontext = facts.reader(raw, 0)
    fp_ptr = mcontext.get("fpstate", 0)
    fpstate, fp_problem = _fpstate(mem, abi, frame, data, fp_ptr)
    siginfo: SigInfo | None = None
    siginfo_valid = False
    uc_flags = uc_link = retcode_ok = None
    retcode = None
    pretcode = top["pretcode"]
    sig = top[row.signal_slot] if row.signal_slot is not None else signo or 0
    slots: dict[str, int] = {}
    for slot, member, off in facts.arg_offs:
        value = slots[slot] = top[slot]
        if value != frame + off:
            problems.append(f"{slot} {value:#x} does not point at the frame's {member}")
    if facts.retcode is not None:
        retcode = raw[facts.retcode[0] : facts.retcode[1]]
        retcode_ok = retcode == row.retcode
    if uc is None:
        # a non-RT frame: the mask is the sigcontext's oldmask, the words
        # above it in the extramask array
        sigmask = mcontext["oldmask"]
        if facts.extramask is not None:
            member, bits = facts.extramask
            words = layout.decode(raw)[member]
            assert isinstance(words, tuple)
            for i, word in enumerate(words):
                sigmask |= int(word) << (bits * (i + 1))
    else:
        uc_flags = uc["uc_flags"]
        uc_link = uc["uc_link"]
        sigmask = uc["uc_sigmask"]
    if facts.info_off >= 0:
        try:
            siginfo = decode_siginfo(raw, abi, facts.info_off)
        except DecodeError as exc:
            problems.append(str(exc))
        else:
            if not sig and row.signal_slot is None:  # no delivery signal given: the info's
                sig = siginfo.si_signo
            siginfo_valid = siginfo.si_signo == sig
            if not siginfo_valid:
                problems.append(
                    "info.si_signo does not match the signal: handler installed without "
                    "SA_SIGINFO (the kernel leaves these 128 bytes unwritten)"
                    if row.signal_slot is None else
                    f"info.si_signo {siginfo.si_signo} != frame sig {sig}")
    pinfo = slots.get("pinfo")
    puc = slots.get("puc")
    if signo is not None and sig and sig != signo:
        problems.append(f"frame says signal {sig}, the delivery was signal {signo}")
    if retcode_ok is False:
        shown = retcode.hex() if retcode else ""
        problems.append(f"retcode bytes {shown} differ from the kernel's")

    if fp_problem:
        problems.append(fp_problem)
    if fpstate is not None:
        if fpstate.problems:
            problems.extend(fpstate.problems)
        if not frame + size <= fp_ptr <= frame + size + 4096:
            problems.append(f"fpstate {fp_ptr:#x} points inside or below the frame"
                            if fp_ptr < frame + size else
                            f"fpstate {fp_ptr:#x} is far above the frame")
    sp = mcontext.get(row.sp, 0)
    on_alt = frame_on_altstack(frame, uc_stack)
    if not on_alt and sp and sp <= frame:
        problems.append(f"interrupted sp {sp:#x} is not above the frame")
    restorer: Restorer | None
    if view is not None:
        restorer = view_restorer(view, mem, abi, pretcode)
    else:
        restorer = restorers.get(pretcode) if restorers is not None else None
        if restorer is None:
            restorer = classify_restorer(mem, abi, pretcode, maps, lookup, exe_path,
                                         name_libc=name_libc)
            if restorers is not None:
                restorers[pretcode] = restorer
    if restorer.syscall is None:
        problems.append(f"pretcode {pretcode:#x} does not point at a known sigreturn sequence")
    return SigFrame(
        abi.name, kind, frame, size, sig, pretcode, restorer, siginfo, siginfo_valid,
        pinfo, puc, uc_flags,
        _uc_flags_names(uc_flags) if uc_flags is not None else (),
        uc_link, uc_stack, on_alt, mcontext, sigmask, retcode, retcode_ok, fpstate,
        tuple(problems), raw,
    )


def _fpstate(mem: Memory, abi: Abi, frame: int, data: bytes,
             fp_ptr: int) -> tuple[FpState | None, str | None]:
    """The FP area the frame points at: from the bulk read when it lies
    inside it (the usual case), else read from the target."""
    if not fp_ptr:
        return None, None
    try:
        fpstate = decode_fpstate_in(abi, data, fp_ptr - frame, fp_ptr)
    except (MemoryReadError, DecodeError):
        fpstate = None  # decoded again below, where the error gets its text
    if fpstate is not None:
        return fpstate, None
    return try_decode_fpstate(BufferedMemory(mem, frame, data), abi, fp_ptr)


def _sigcontext(row: FrameKind) -> Layout:
    """The sigcontext layout of a frame kind (its ``mcontext`` member)."""
    layout = row.layout
    for part in row.mcontext.split("."):
        sub = layout[part].sub
        assert sub is not None
        layout = sub
    return layout


def regset_value_fields(abi: Abi, skip: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """(offset, size) in ``abi``'s NT_PRSTATUS regset of the registers a frame
    decode only copies: those sigreturn restores from the sigcontext, word
    sized, but the stack pointer (the handler-entry pc among them).
    ``skip``: registers (user_regs names) left out as well -- the walk of
    --step-sigreturn tests the flags and the system call number."""
    sc = _sigcontext(abi.frame_kinds[0])
    word = abi.bits // 8
    return [(abi.user_regs[ur].offset, abi.user_regs[ur].size)
            for name, ur in abi.mcontext_regs
            if ur != abi.sp and ur not in skip and sc[name].size == word]


def frame_value_fields(frame: SigFrame, *, skip_flags: bool = False,
                       ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(values, reads) of a decoded frame, as (offset, size) from its address:
    ``reads`` is every byte :func:`decode_sigframe` looked at (the frame
    struct, the FP area's parts); ``values`` the fields among them that it
    copies to its output and tests for nothing -- the saved general
    registers but the stack pointer (checked against the frame), the FP and
    vector registers.  The C trace loop's template holes (engine/fastpath.py).
    ``skip_flags``: not the saved flags either (the sigreturn walk tests
    its trap flag: engine/faststep.py)."""
    kind = frame.kind
    abi = abi_of_frame_kind(kind)
    row = kind_row(abi.name, kind)
    layout = row.layout
    sc = _sigcontext(row)
    mc = layout.offset_of(row.mcontext)
    word = abi.bits // 8
    sp_name = next((n for n, ur in abi.mcontext_regs if ur == abi.sp), "")
    values = [(mc + sc[name].offset, word) for name, ur in abi.mcontext_regs
              if name != sp_name and sc[name].size == word
              and not (skip_flags and ur == abi.flags)]
    reads = [(0, layout.size)]
    fp = frame.fpstate
    if fp is not None:
        fv, fr = fpstate_value_fields(fp, abi, fp.address - frame.address)
        values += fv
        reads += fr
    return values, reads


def frame_regions(f: SigFrame) -> tuple[Region, ...]:
    """Labelled byte ranges of a decoded frame, for the stack picture: the
    frame kind's fixed rows, then the FP area, the area below sp the ABI
    skips and the interrupted stack above it."""
    row = kind_row(f.abi, f.kind)
    abi = by_name(f.abi)
    a = f.address
    values = {"pretcode": f.pretcode, "sig": f.sig, "pinfo": f.pinfo or 0, "puc": f.puc or 0,
              "stale": "" if f.siginfo_valid else " (stale)"}
    out = [Region(a + off, size, label, detail.format(**values))
           for off, size, label, detail in row.picture]

    def region(off: int, size: int, label: str, detail: str = "") -> None:
        out.append(Region(a + off, size, label, detail))

    top = a + row.layout.size
    fp = f.fpstate
    if fp is not None:
        if fp.address > top:
            region(row.layout.size, fp.address - top, "padding", "alignment")
        region(fp.address - a, fp.size, "fpstate", fp.picture_detail)
        top = fp.address + fp.size
    if not f.on_altstack and f.sp > a:
        skip = abi.stack_skip
        if f.sp - skip > top:
            region(top - a, f.sp - skip - top, "padding", "alignment")
        if skip:
            region(f.sp - skip - a, skip, *abi.stack_skip_region)
        region(f.sp - a, abi.word, "interrupted stack", f"sp {f.sp:#x} when the signal came")
    return tuple(sorted(out, key=lambda r: r.start))


def ss_flags_text(flags: int) -> str:
    names = ss_flags_names(flags)
    return "|".join(names) if names else "0"


def _change_json(name: str, value: int) -> int | str:
    """A changed value as JSON: vector registers exceed every JSON integer
    (x86 xmm: :func:`fp_value_json`; the records of the ABIs' own frame
    models by ``Abi.wide_change_formats``: AArch64 V0-V31 the same 128-bit
    hex form, SVE Z/P registers up to 2048 bits as plain hex)."""
    for prefix, spec in _WIDE_CHANGES:
        if name.startswith(prefix):
            return format(value, spec)
    return fp_value_json(name, value)


#: every ABI's ``wide_change_formats``, in registry order
_WIDE_CHANGES = tuple(row for abi in ABIS for row in abi.wide_change_formats)


@dataclass(frozen=True)
class FrameDiff(Model):
    """What changed in a frame between two reads (handler entry -> sigreturn)."""

    changes: tuple[tuple[str, int, int], ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.changes

    def _json(self, view: bool) -> dict[str, Any]:
        # a 128-bit vector register exceeds every JSON integer: it is the
        # fixed-width hex string the fpstate object uses ("0x" + 32 digits)
        return {"changes": [
            [name, _change_json(name, old), _change_json(name, new)]
            for name, old, new in self.changes]}


class _Context(Protocol):
    """What every frame model (x86, AArch64, AArch32) has of the context
    sigreturn restores: the saved registers, the mask, the altstack."""

    @property
    def mcontext(self) -> Mapping[str, int]: ...

    @property
    def sigmask(self) -> int: ...

    @property
    def uc_stack(self) -> Mapping[str, int] | None: ...  # (no ucontext: i386 sigframe)


def context_changes(before: _Context, after: _Context) -> list[tuple[str, int, int]]:
    """The changes every frame diff starts with: ``mcontext.*``, ``sigmask``,
    ``uc_stack.*`` (a register or altstack field the other read lacks is not
    a change)."""
    changes: list[tuple[str, int, int]] = []
    for part, b, a in (("mcontext", before.mcontext, after.mcontext),
                       ("sigmask", {"": before.sigmask}, {"": after.sigmask}),
                       ("uc_stack", before.uc_stack or {}, after.uc_stack or {})):
        for k, v in b.items():
            w = a.get(k)
            if w is not None and w != v:
                changes.append((f"{part}.{k}" if k else part, v, w))
    return changes


def diff_frames(before: SigFrame, after: SigFrame) -> FrameDiff:
    """Field-by-field differences of the restorable context."""
    if before is after:  # decode_sigframe(previous=...) found nothing changed
        return FrameDiff(())
    changes = context_changes(before, after)
    bf, af = before.fpstate, after.fpstate
    if bf is not None and af is not None:
        changes.extend((f"fpstate.{name}", x, y) for name, x, y in fp_changes(bf, af))
    return FrameDiff(tuple(changes))


__all__ = ["SigFrame", "Region", "decode_sigframe", "detect_kind", "diff_frames",
           "context_changes", "FrameDiff", "Decoded"]
