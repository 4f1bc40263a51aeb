"""Decode a signal frame from the user stack.

The frame starts where the stack pointer points at the handler's first
instruction.  One bulk read covers the frame and (normally) its FP area; the
per-ABI tables say where everything is (sigdbg.abi.x86_64 / sigdbg.abi.i386),
this module only walks them and checks what the kernel guarantees:
arch/x86/kernel/signal.c (``get_sigframe``), signal_64.c (``x64_setup_rt_frame``),
signal_32.c (``ia32_setup_frame``, ``ia32_setup_rt_frame``).

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

from sigdbg.abi import i386 as i386_tables
from sigdbg.abi import x86_64 as x86_64_tables
from sigdbg.abi.abis import Abi, abi_of_frame_kind
from sigdbg.abi.layout import Decoded, Layout
from sigdbg.backends.base import Memory
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
from sigdbg.decode.xsave import (
    FpState,
    decode_fpstate_in,
    fpstate_value_fields,
    try_decode_fpstate,
)
from sigdbg.errors import DecodeError, MemoryReadError
from sigdbg.names import sigset_names, ss_flags_names, uc_flags_names

# pure functions of small values that repeat frame after frame: memoised
_uc_flags_names = lru_cache(maxsize=64)(uc_flags_names)
_sigset_names = lru_cache(maxsize=256)(sigset_names)

RED_ZONE = 128  # x86_64 only; ia32 frames skip it
#: bytes read in one go at the frame address: frame + FP area of a normal task
BULK_READ = 4096
SS_DISABLE = 2

FRAME_LAYOUTS: dict[str, Layout] = {
    "rt_sigframe": x86_64_tables.RT_SIGFRAME,
    "rt_sigframe_ia32": i386_tables.RT_SIGFRAME,
    "sigframe_ia32": i386_tables.SIGFRAME,
}


#: where each frame kind keeps the interrupted context
_MCONTEXT_PATH = {"rt_sigframe": "uc.uc_mcontext", "rt_sigframe_ia32": "uc.uc_mcontext",
                  "sigframe_ia32": "sc"}


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
    kind: str  #: rt_sigframe, rt_sigframe_ia32 or sigframe_ia32
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
        return self.mcontext.get("rip", self.mcontext.get("ip", 0))

    @property
    def sp(self) -> int:
        return self.mcontext.get("rsp", self.mcontext.get("sp", 0))

    @property
    def mcontext_address(self) -> int:
        layout = FRAME_LAYOUTS[self.kind]
        return self.address + layout.offset_of(_MCONTEXT_PATH[self.kind])

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


def detect_kind(mem: Memory, abi: Abi, frame: int) -> str:
    """Which frame struct lies at ``frame``.

    x86_64 has only ``rt_sigframe``.  On ia32 the rt frame carries
    ``pinfo == frame+16`` and ``puc == frame+144`` (signal_32.c stores them
    unconditionally); the non-RT frame has the sigcontext there instead.
    """
    if abi.name == "x86_64":
        return "rt_sigframe"
    if abi.name == "i386":
        # pinfo/puc are the handler's own argument slots and may have been
        # reused (a sibling call writes them); the retcode signatures and what
        # pretcode points at are not touched by the handler.
        head = mem.read_upto(frame, i386_tables.SIGFRAME.size)
        pretcode, _, pinfo, puc = struct.unpack_from("<4I", head)
        if (pinfo, puc) == (frame + 16, frame + 144):
            return "rt_sigframe_ia32"
        if head[260:268] == i386_tables.RT_SIGFRAME_RETCODE:
            return "rt_sigframe_ia32"
        if head[724:732] == i386_tables.SIGFRAME_RETCODE:
            return "sigframe_ia32"
        pat = match_pattern(abi, mem.read_upto(pretcode, 16))
        if pat is not None and pat[0] == "rt_sigreturn":
            return "rt_sigframe_ia32"
        return "sigframe_ia32"
    raise DecodeError(f"no signal frame tables for ABI {abi.name}")


class _KindFacts(NamedTuple):
    """What the decoder needs of one frame kind's table, looked up once."""

    layout: Layout
    reader: Any  #: int_members reader: (top, uc, uc_stack, mcontext) or (top, sc)
    info_off: int
    uc_off: int
    mcontext_off: int
    sp_name: str  #: the stack pointer's name in the sigcontext


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


_KIND_FACTS: dict[str, _KindFacts] = {}


def _kind_facts(kind: str) -> _KindFacts:
    facts = _KIND_FACTS.get(kind)
    if facts is None:
        layout = FRAME_LAYOUTS.get(kind)
        if layout is None:  # another ABI's kind (--kind takes every ABI's)
            raise DecodeError(f"{kind} frames are not decoded here (another ABI's kind)")
        sp_name = "rsp" if kind == "rt_sigframe" else "sp"
        if kind == "sigframe_ia32":
            facts = _KindFacts(layout, layout.int_members("", "sc"), -1, -1,
                               layout.offset_of("sc"), sp_name)
        else:
            facts = _KindFacts(
                layout, layout.int_members("", "uc", "uc.uc_stack", "uc.uc_mcontext"),
                layout.by_name["info"].offset, layout.by_name["uc"].offset,
                layout.offset_of("uc.uc_mcontext"), sp_name)
        _KIND_FACTS[kind] = facts
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
        kind = "rt_sigframe" if abi.name == "x86_64" else detect_kind(
            BufferedMemory(mem, frame, data), abi, frame)
    facts = _KIND_FACTS.get(kind) or _kind_facts(kind)
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
    if kind == "sigframe_ia32":
        top, mcontext = facts.reader(raw, 0)
    else:
        top, uc, uc_stack, mcontext = facts.reader(raw, 0)
    fp_ptr = mcontext.get("fpstate", 0)
    fpstate, fp_problem = _fpstate(mem, abi, frame, data, fp_ptr)
    siginfo: SigInfo | None = None
    siginfo_valid = False
    pinfo = puc = uc_flags = uc_link = retcode_ok = None
    retcode = None
    pretcode = top["pretcode"]
    if kind == "sigframe_ia32":
        uc_stack = None
        sig = top["sig"]
        d = layout.decode(raw)
        extramask = d["extramask"]
        assert isinstance(extramask, tuple)
        sigmask = mcontext["oldmask"] | (int(extramask[0]) << 32)
        retcode = bytes(d["retcode"])  # type: ignore[arg-type]
        retcode_ok = retcode == i386_tables.SIGFRAME_RETCODE
    else:
        uc_flags = uc["uc_flags"]
        uc_link = uc["uc_link"]
        sigmask = uc["uc_sigmask"]
        if kind == "rt_sigframe_ia32":
            sig = top["sig"]
            pinfo = top["pinfo"]
            puc = top["puc"]
            if pinfo != frame + facts.info_off:
                problems.append(f"pinfo {pinfo:#x} does not point at the frame's info")
            if puc != frame + facts.uc_off:
                problems.append(f"puc {puc:#x} does not point at the frame's uc")
            rc = layout["retcode"]
            retcode = raw[rc.offset : rc.end]
            retcode_ok = retcode == i386_tables.RT_SIGFRAME_RETCODE
        else:
            sig = signo or 0
        try:
            siginfo = decode_siginfo(raw, abi, facts.info_off)
        except DecodeError as exc:
            problems.append(str(exc))
        else:
            if not sig and kind == "rt_sigframe":  # no delivery signal given: the info's
                sig = siginfo.si_signo
            siginfo_valid = siginfo.si_signo == sig
            if not siginfo_valid:
                problems.append(
                    "info.si_signo does not match the signal: handler installed without "
                    "SA_SIGINFO (the kernel leaves these 128 bytes unwritten)"
                    if kind == "rt_sigframe" else
                    f"info.si_signo {siginfo.si_signo} != frame sig {sig}")
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
    sp = mcontext.get(facts.sp_name, 0)
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


def _sigcontext(kind: str) -> Layout:
    layout = FRAME_LAYOUTS[kind]
    for part in _MCONTEXT_PATH[kind].split("."):
        sub = layout[part].sub
        assert sub is not None
        layout = sub
    return layout


def regset_value_fields(abi: Abi) -> list[tuple[int, int]]:
    """(offset, size) in ``abi``'s NT_PRSTATUS regset of the registers a frame
    decode only copies: those sigreturn restores from the sigcontext, word
    sized, but the stack pointer (the handler-entry pc among them)."""
    sc = _sigcontext(abi.frame_kinds[0])
    word = abi.bits // 8
    return [(abi.user_regs[ur].offset, abi.user_regs[ur].size)
            for name, ur in abi.mcontext_regs if ur != abi.sp and sc[name].size == word]


def frame_value_fields(frame: SigFrame) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(values, reads) of a decoded frame, as (offset, size) from its address:
    ``reads`` is every byte :func:`decode_sigframe` looked at (the frame
    struct, the FP area's parts); ``values`` the fields among them that it
    copies to its output and tests for nothing -- the saved general
    registers but the stack pointer (checked against the frame), the FP and
    vector registers.  The C trace loop's template holes (engine/fastpath.py)."""
    kind = frame.kind
    abi = abi_of_frame_kind(kind)
    layout = FRAME_LAYOUTS[kind]
    sc = _sigcontext(kind)
    mc = layout.offset_of(_MCONTEXT_PATH[kind])
    word = abi.bits // 8
    sp_name = next((n for n, ur in abi.mcontext_regs if ur == abi.sp), "")
    values = [(mc + sc[name].offset, word) for name, _ in abi.mcontext_regs
              if name != sp_name and sc[name].size == word]
    reads = [(0, layout.size)]
    fp = frame.fpstate
    if fp is not None:
        fv, fr = fpstate_value_fields(fp, abi, fp.address - frame.address)
        values += fv
        reads += fr
    return values, reads


def frame_regions(f: SigFrame) -> tuple[Region, ...]:
    """Labelled byte ranges of a decoded frame, for the stack picture."""
    layout = FRAME_LAYOUTS[f.kind]
    a = f.address
    out: list[Region] = []

    def region(off: int, size: int, label: str, detail: str = "") -> None:
        out.append(Region(a + off, size, label, detail))

    if f.kind == "sigframe_ia32":
        region(0, 4, "pretcode", f"{f.pretcode:#x}")
        region(4, 4, "sig", str(f.sig))
        region(8, 88, "sc", "struct sigcontext_32")
        region(96, 624, "fpstate_unused", "legacy slot, not written")
        region(720, 4, "extramask", "blocked mask, signals 33..64")
        region(724, 8, "retcode", "pop %eax; mov $119,%eax; int $0x80")
    else:
        uc_off = layout["uc"].offset
        info_off = layout["info"].offset
        mc_off = layout.offset_of("uc.uc_mcontext")
        mc_size = layout["uc"].sub["uc_mcontext"].size  # type: ignore[index]
        ucname = "ucontext_ia32" if f.abi == "i386" else "ucontext"
        if f.kind == "rt_sigframe_ia32":
            region(0, 4, "pretcode", f"{f.pretcode:#x}")
            region(4, 4, "sig", str(f.sig))
            region(8, 4, "pinfo", f"-> info {f.pinfo or 0:#x}")
            region(12, 4, "puc", f"-> uc {f.puc or 0:#x}")
            region(260, 8, "retcode", "mov $173,%eax; int $0x80")
        else:
            region(0, 8, "pretcode", f"{f.pretcode:#x}")
        region(uc_off, mc_off - uc_off, "uc", f"{ucname}: uc_flags, uc_link, uc_stack")
        region(mc_off, mc_size, "uc.uc_mcontext", "struct sigcontext" +
               ("_32" if f.abi == "i386" else ""))
        region(mc_off + mc_size, 8, "uc.uc_sigmask", "")
        region(info_off, 128, "info", "siginfo_t" if f.siginfo_valid else "siginfo_t (stale)")
    top = a + layout.size
    fp = f.fpstate
    if fp is not None:
        if fp.address > top:
            region(layout.size, fp.address - top, "padding", "alignment")
        region(fp.address - a, fp.size, "fpstate",
               f"{fp.format}, {fp.xstate_size or 512} bytes + magic2")
        top = fp.address + fp.size
    if not f.on_altstack and f.sp > a:
        red = RED_ZONE if f.abi == "x86_64" else 0
        if f.sp - red > top:
            region(top - a, f.sp - red - top, "padding", "alignment")
        if red:
            region(f.sp - red - a, red, "red zone", "128 bytes the kernel skips (x86_64 ABI)")
        region(f.sp - a, 8 if f.abi == "x86_64" else 4, "interrupted stack",
               f"sp {f.sp:#x} when the signal came")
    return tuple(sorted(out, key=lambda r: r.start))


def ss_flags_text(flags: int) -> str:
    names = ss_flags_names(flags)
    return "|".join(names) if names else "0"


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
            [name, f"{old:#034x}", f"{new:#034x}"]
            if name.startswith(("fpstate.xmm", "fpsimd.v"))
            else [name, hex(old), hex(new)] if name.startswith("sve.")
            else [name, old, new]
            for name, old, new in self.changes]}


def diff_frames(before: SigFrame, after: SigFrame) -> FrameDiff:
    """Field-by-field differences of the restorable context."""
    if before is after:  # decode_sigframe(previous=...) found nothing changed
        return FrameDiff(())
    changes: list[tuple[str, int, int]] = []
    for k, v in before.mcontext.items():
        w = after.mcontext.get(k)
        if w is not None and w != v:
            changes.append((f"mcontext.{k}", v, w))
    if before.sigmask != after.sigmask:
        changes.append(("sigmask", before.sigmask, after.sigmask))
    if before.uc_stack and after.uc_stack:
        for k, v in before.uc_stack.items():
            if after.uc_stack.get(k) != v:
                changes.append((f"uc_stack.{k}", v, after.uc_stack[k]))
    bf, af = before.fpstate, after.fpstate
    if bf is not None and af is not None:
        for i, (x, y) in enumerate(zip(bf.xmm, af.xmm)):
            if x != y:
                changes.append((f"fpstate.xmm{i}", x, y))
        if bf.mxcsr != af.mxcsr:
            changes.append(("fpstate.mxcsr", bf.mxcsr, af.mxcsr))
        if bf.cwd != af.cwd:
            changes.append(("fpstate.cwd", bf.cwd, af.cwd))
    return FrameDiff(tuple(changes))


__all__ = ["SigFrame", "Region", "decode_sigframe", "detect_kind", "diff_frames", "FrameDiff",
           "Decoded"]
