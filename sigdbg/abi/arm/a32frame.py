"""Decode an AArch32 signal frame (a 32-bit task on an arm64 kernel).

Beside the x86 and AArch64 decoders, not inside them: the 32-bit ARM frame
has two kinds (``compat_rt_sigframe`` for SA_SIGINFO handlers,
``compat_sigframe`` without), no pretcode slot (the restorer is in lr at
handler entry), keeps its coprocessor state in ``uc_regspace`` records, and
every code address carries the instruction set in bit 0 (Thumb).

Kernel sources (v6.1): arch/arm64/kernel/signal32.c (``compat_setup_frame``,
``compat_setup_rt_frame``, ``compat_setup_sigframe``, ``compat_setup_return``,
``compat_get_sigframe``), arch/arm64/kernel/sigreturn32.S.  The facts are
sigdbg/abi/arm/__init__.py (layouts) and sigdbg/abi/arm/frames.py (kinds, CPSR bits,
restorer codes); the record walk is sigdbg/abi/arm/regspace.py.
Inconsistencies are lines in ``problems``, never exceptions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sigdbg.abi import ARM, arm
from sigdbg.abi.arm import frames as arm_frames
from sigdbg.abi.arm.frames import A32FrameKind
from sigdbg.abi.arm.regspace import RegspaceRecord, walk_regspace
from sigdbg.abi.fpview import FpView, RegGroup
from sigdbg.abi.layout import Decoded
from sigdbg.backends.base import Memory
from sigdbg.decode.model import Model
from sigdbg.decode.restorer import Restorer, classify_restorer
from sigdbg.decode.sigframe import (
    FrameDiff,
    RestorerContext,
    context_changes,
    frame_on_altstack,
    view_restorer,
)
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.errors import DecodeError, MemoryReadError
from sigdbg.names import sigset_names

#: the biggest frame: what one read covers
_MAX_SIZE = max(k.layout.size for k in arm_frames.FRAME_KINDS)


#: (the ABI's CPSR bit names, sigdbg/abi/arm/frames.py)
cpsr_names = arm_frames.cpsr_names


@dataclass(frozen=True)
class A32Record(Model):
    """One ``uc_regspace`` record, as the walker found it."""

    address: int
    offset: int  #: from the frame start
    magic: int
    size: int  #: 0 for the terminator
    name: str  #: vfp, iwmmxt, dummy, crunch, unknown, end
    #: vfp: fpscr, fpexc, fpinst, fpinst2 (the fixed part's scalars)
    fields: dict[str, int]
    #: vfp: d0-d31 (ufp.fpregs, 64-bit each)
    dregs: tuple[int, ...]
    payload_size: int  #: bytes after the 8-byte header

    def fp_view(self) -> FpView:
        """What the text shows of the record's registers (sigdbg/abi/fpview.py):
        vfp's D0-D31."""
        return FpView(groups=(RegGroup("d", 64, self.dregs),) if self.dregs else ())


@dataclass(frozen=True)
class A32Frame(Model):
    """A compat_rt_sigframe or compat_sigframe at ``address`` (sp at handler entry)."""

    abi: str
    kind: str  #: compat_rt_sigframe or compat_sigframe
    address: int
    size: int
    sig: int
    #: lr at handler entry: where the handler returns (bit 0: Thumb code)
    pretcode: int
    restorer: Restorer
    #: the handler runs Thumb code (pc bit 0 / CPSR.T at entry); None: not at entry
    handler_thumb: bool | None
    siginfo: SigInfo | None  #: None in a non-rt frame (it has no info)
    siginfo_valid: bool
    uc_flags: int
    uc_flags_names: tuple[str, ...]
    uc_link: int
    uc_stack: dict[str, int]
    on_altstack: bool
    sigmask: int  #: uc_sigmask (64-bit): the mask sigreturn restores
    sigmask_names: tuple[str, ...]
    fault_address: int
    #: the whole sigcontext, kernel names: trap_no, error_code, oldmask,
    #: arm_r0-arm_r10, arm_fp, arm_ip, arm_sp, arm_lr, arm_pc, arm_cpsr, fault_address
    mcontext: dict[str, int]
    cpsr_names: tuple[str, ...]
    #: the interrupted code was Thumb (CPSR.T in arm_cpsr)
    thumb: bool
    records: tuple[A32Record, ...]
    #: retcode[2]: the arm64 kernel does not write it (stale stack); the name of
    #: the trampoline whose code it holds (a native ARM kernel copies one), if any
    retcode: tuple[int, ...]
    retcode_code: str | None
    problems: tuple[str, ...]

    @property
    def pc(self) -> int:
        return self.mcontext.get("arm_pc", 0)

    @property
    def sp(self) -> int:
        return self.mcontext.get("arm_sp", 0)

    @property
    def mcontext_address(self) -> int:
        return self.address + arm_frames.BY_NAME[self.kind].mcontext_offset

    def record(self, name: str) -> A32Record | None:
        return next((r for r in self.records if r.name == name), None)


def _int(d: Decoded, key: str) -> int:
    v = d[key]
    assert isinstance(v, int)
    return v


def a32_uc_flags_names(value: int) -> tuple[str, ...]:
    """ARM defines no uc_flags bits: 0 in an rt frame, the non-rt frame's
    magic (arch/arm/kernel/signal.c: "a value which sc.trap_no would never
    have"), anything else is not the kernel's."""
    if value == arm_frames.NON_RT_UC_FLAGS:
        return ("non-rt frame magic",)
    return (f"unknown {value:#x}",) if value else ()


def detect_a32_kind(data: bytes) -> A32FrameKind:
    """Which struct ``data`` (from the frame start) holds: the non-rt frame
    begins with uc_flags = 0x5ac3c35a (compat_setup_frame), the rt frame with
    si_signo, never that value."""
    if len(data) >= 4 and struct.unpack_from("<I", data)[0] == arm_frames.NON_RT_UC_FLAGS:
        return arm_frames.NON_RT_KIND
    return arm_frames.RT_KIND


def _record_model(frame: int, base: int, r: RegspaceRecord) -> A32Record:
    scalars: dict[str, int] = {}
    dregs: tuple[int, ...] = ()
    if r.fields is not None:
        ufp, exc = r.fields.get("ufp"), r.fields.get("ufp_exc")
        if isinstance(ufp, dict):
            regs = ufp.get("fpregs")
            if isinstance(regs, tuple):
                dregs = regs
            fpscr = ufp.get("fpscr")
            if isinstance(fpscr, int):
                scalars["fpscr"] = fpscr
        if isinstance(exc, dict):
            scalars.update({k: v for k, v in exc.items() if isinstance(v, int)})
    payload = max(r.size - 8, 0)
    return A32Record(base + r.offset, base + r.offset - frame, r.magic, r.size, r.name,
                     scalars, dregs, payload)


def _retcode_code(words: tuple[int, ...]) -> str | None:
    code = struct.pack("<2I", *words[:2])
    for rc in arm_frames.RESTORER_CODES:
        if code.startswith(rc.code) and len(rc.code) == 8:
            return rc.text
    return None


def decode_a32_frame(
    mem: Memory,
    frame: int,
    *,
    entry_regs: dict[str, int] | None = None,
    signo: int | None = None,
    view: RestorerContext | None = None,
    kind: str | None = None,
    data: bytes | None = None,
    previous: A32Frame | None = None,
) -> A32Frame:
    """Decode the AArch32 frame at ``frame``.

    ``entry_regs``: the registers at the handler's first instruction (lr is
    the restorer, r0 the signal, r1/r2 point at info/uc in an rt frame, pc
    bit 0 or CPSR.T says Thumb).  ``kind``: the struct name, else told by
    the first word.  ``view`` classifies the restorer (maps, symbols).
    ``previous``: the decode of the same frame at handler entry (re-reading
    it at sigreturn): lr, the restorer and the handler's instruction set
    are taken from it, the frame does not keep them.
    """
    if kind is not None and kind not in arm_frames.BY_NAME:
        raise DecodeError(f"{kind} is not an AArch32 frame kind "
                          f"({', '.join(arm_frames.BY_NAME)})")
    if data is None or len(data) < _MAX_SIZE:
        try:
            data = mem.read(frame, _MAX_SIZE)
        except MemoryReadError:
            # near the top of the stack: the smaller frame may still fit
            try:
                data = mem.read(frame, arm_frames.NON_RT_KIND.layout.size)
            except MemoryReadError as exc:
                raise DecodeError(f"signal frame at {frame:#x} is not readable: {exc}") from None
    fk = detect_a32_kind(data) if kind is None else arm_frames.BY_NAME[kind]
    layout = fk.layout
    if len(data) < layout.size:
        raise DecodeError(f"{fk.name} at {frame:#x}: only {len(data)} of {layout.size} "
                          "bytes are readable")
    raw = data[: layout.size]
    problems: list[str] = []
    uc_off = fk.uc_offset
    uc = arm.UCONTEXT.decode(raw, uc_off)
    st = uc["uc_stack"]
    sc = uc["uc_mcontext"]
    assert isinstance(st, dict) and isinstance(sc, dict)
    uc_stack = {k: v for k, v in st.items() if isinstance(v, int)}
    mcontext = {k: v for k, v in sc.items() if isinstance(v, int)}
    uc_flags, uc_link, sigmask = (_int(uc, k) for k in ("uc_flags", "uc_link", "uc_sigmask"))
    sig = signo or (entry_regs or {}).get("r0", 0)
    siginfo: SigInfo | None = None
    siginfo_valid = False
    if fk.rt:
        try:
            siginfo = decode_siginfo(raw, ARM, fk.info_offset or 0)
        except DecodeError as exc:
            problems.append(str(exc))
        else:
            if not sig:
                sig = siginfo.si_signo
            siginfo_valid = siginfo.si_signo == sig
            if not siginfo_valid:
                # (worded apart from x86's stale-info note, which the compact
                # trace line leaves out: an rt frame always has SA_SIGINFO)
                problems.append(f"the frame's si_signo {siginfo.si_signo} does not match "
                                f"the signal {sig}")
        if uc_flags:
            problems.append(f"uc_flags {uc_flags:#x} in an rt frame (compat_setup_rt_frame "
                            "writes 0)")
    elif uc_flags != arm_frames.NON_RT_UC_FLAGS:
        problems.append(f"uc_flags {uc_flags:#x} is not the non-rt frame's "
                        f"{arm_frames.NON_RT_UC_FLAGS:#x}")
    # uc_regspace: records walked by size (compat: VFP, then a 0 end magic)
    rs_off = fk.regspace_offset
    walk = walk_regspace(raw[rs_off : rs_off + arm.REGSPACE_SIZE])
    problems.extend(walk.problems)
    records = tuple(_record_model(frame, frame + rs_off, r) for r in walk.records)
    if walk.find("vfp") is None:
        problems.append("uc_regspace has no VFP record (the arm64 kernel always writes one)")
    words = tuple(struct.unpack_from("<2I", raw, fk.retcode_offset))
    cpsr = mcontext.get("arm_cpsr", 0)
    thumb = bool(cpsr & arm_frames.CPSR_T)
    if cpsr & arm_frames.CPSR_MODE_MASK != arm_frames.USR_MODE:
        problems.append(f"arm_cpsr {cpsr:#x} is not user mode: sigreturn would refuse it")
    if frame % arm_frames.FRAME_ALIGN:
        problems.append(f"frame {frame:#x} is not 8-byte aligned: sigreturn would refuse it")
    pretcode = 0
    handler_thumb: bool | None = None
    if entry_regs is not None:
        pretcode = entry_regs.get("lr", 0)
        pc = entry_regs.get("pc", 0)
        handler_thumb = bool(pc & arm_frames.THUMB_BIT
                             or entry_regs.get("cpsr", 0) & arm_frames.CPSR_T)
        if sig and entry_regs.get("r0") != sig:
            problems.append(f"r0 {entry_regs.get('r0', 0):#x} is not the signal number {sig}")
        if fk.rt:
            # compat_setup_rt_frame sets r1/r2 only for SA_SIGINFO handlers
            info_at, uc_at = frame + (fk.info_offset or 0), frame + uc_off
            if entry_regs.get("r1") != info_at:
                problems.append(f"r1 {entry_regs.get('r1', 0):#x} does not point at the info")
            if entry_regs.get("r2") != uc_at:
                problems.append(f"r2 {entry_regs.get('r2', 0):#x} does not point at the uc")
    on_alt = frame_on_altstack(frame, uc_stack)
    if not on_alt and mcontext.get("arm_sp", 0) < frame + layout.size:
        problems.append(f"interrupted sp {mcontext.get('arm_sp', 0):#x} is not above the frame")
    if entry_regs is not None:
        if view is not None:
            restorer = view_restorer(view, mem, ARM, pretcode)
        else:
            restorer = classify_restorer(mem, ARM, pretcode, None, None)
        want = "rt_sigreturn" if fk.rt else "sigreturn"
        if restorer.syscall is None:
            problems.append(f"lr {pretcode:#x} does not point at a known sigreturn sequence")
        elif restorer.syscall != want:
            problems.append(f"lr {pretcode:#x} makes {restorer.syscall}, but a {fk.name} "
                            f"needs {want}")
    elif previous is not None:
        pretcode, restorer = previous.pretcode, previous.restorer
        handler_thumb = previous.handler_thumb
    else:
        # not at handler entry: lr is the handler's, the frame does not keep it
        restorer = Restorer(0, "unknown", None, None, None, None, b"")
    return A32Frame(
        ARM.name, fk.name, frame, layout.size, sig, pretcode, restorer, handler_thumb,
        siginfo, siginfo_valid, uc_flags, a32_uc_flags_names(uc_flags), uc_link, uc_stack,
        on_alt, sigmask, sigset_names(sigmask), mcontext.get("fault_address", 0), mcontext,
        cpsr_names(cpsr), thumb, records, words, _retcode_code(words), tuple(problems))


def diff_a32_frames(before: A32Frame, after: A32Frame) -> FrameDiff:
    """What the handler changed in its frame (handler entry -> sigreturn):
    the sigcontext (``mcontext.arm_*``), the mask, the altstack, and the VFP
    record (``vfp.dN`` as 64-bit values, ``vfp.fpscr``): what
    compat_restore_sigframe and compat_restore_vfp_context load."""
    changes = context_changes(before, after)
    bv, av = before.record("vfp"), after.record("vfp")
    if bv is not None and av is not None:
        for n, (x, y) in enumerate(zip(bv.dregs, av.dregs)):
            if x != y:
                changes.append((f"vfp.d{n}", x, y))
        if bv.fields.get("fpscr") != av.fields.get("fpscr"):
            changes.append(("vfp.fpscr", bv.fields.get("fpscr", 0), av.fields.get("fpscr", 0)))
    return FrameDiff(tuple(changes))


__all__ = ["A32Frame", "A32Record", "cpsr_names", "decode_a32_frame", "detect_a32_kind",
           "diff_a32_frames"]
