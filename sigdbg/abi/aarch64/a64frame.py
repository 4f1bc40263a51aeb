"""Decode an AArch64 ``rt_sigframe`` from the user stack.

Beside the x86 decoder (sigdbg/decode/sigframe.py), not inside it: the arm64
frame has no pretcode slot (the restorer is in x30 at handler entry), keeps
x0-x30 as an array, puts FP/SIMD, ESR, SVE... state in ``__reserved`` records
rather than behind an fpstate pointer, and ends in a frame record {x29, x30}
that x29 points at when the handler starts.

Kernel sources (v6.1): arch/arm64/kernel/signal.c (``setup_sigframe_layout``:
the records and the frame record after the rt_sigframe and its extra space;
``setup_rt_frame``: x0 = signo, x1 = &info, x2 = &uc, x29 = &frame record,
x30 = the restorer, sp = the frame; ``setup_return``: the restorer is
``sa_restorer`` with SA_RESTORER, else the vDSO's ``__kernel_rt_sigreturn``),
arch/arm64/include/uapi/asm/sigcontext.h, arch/arm64/include/uapi/asm/ucontext.h.

The tables are sigdbg/abi/aarch64.py, the record walk sigdbg/abi/aarch64/records.py.
Inconsistencies are lines in ``problems``, never exceptions: a frame that is
not what the kernel built still decodes as far as the bytes allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigdbg.abi import AARCH64, aarch64
from sigdbg.abi.aarch64.records import Record, walk_reserved
from sigdbg.abi.fpview import FpView, RegGroup
from sigdbg.abi.layout import Decoded
from sigdbg.backends.base import Memory
from sigdbg.decode.model import Model
from sigdbg.decode.restorer import Restorer, classify_restorer
from sigdbg.decode.sigframe import (
    BufferedMemory,
    FrameDiff,
    RestorerContext,
    context_changes,
    frame_on_altstack,
    view_restorer,
)
from sigdbg.decode.siginfo import SigInfo, decode_siginfo
from sigdbg.errors import DecodeError, MemoryReadError
from sigdbg.names import sigset_names, uc_flags_names

KIND = "rt_sigframe"
_FRAME = aarch64.RT_SIGFRAME
FRAME_SIZE = _FRAME.size
_INFO_OFF = _FRAME.by_name["info"].offset
_UC_OFF = _FRAME.by_name["uc"].offset
_MC_OFF = _FRAME.offset_of("uc.uc_mcontext")
_READER = _FRAME.int_members("", "uc", "uc.uc_stack", "uc.uc_mcontext")

#: (pstate bit names: the ABI's, sigdbg/abi/aarch64)
PSTATE_BITS = aarch64.PSTATE_BITS
pstate_names = aarch64.pstate_names


@dataclass(frozen=True)
class A64Record(Model):
    """One ``__reserved`` (or extra space) record, as the walker found it."""

    address: int
    offset: int  #: from the frame start
    magic: int
    size: int
    name: str  #: fpsimd, esr, sve, extra, ..., "unknown", "end"
    in_extra: bool
    fields: dict[str, int]  #: the fixed part's scalar fields (header excluded)
    #: fpsimd: V0-V31 as 0x + 32 hex digits (a 128-bit value exceeds JSON integers)
    vregs: tuple[str, ...]
    payload_size: int  #: bytes after the fixed part (SVE Z/P/FFR, unknown payloads)
    #: sve with registers: Z0-Z31, then P0-P15 and FFR, as integers of the
    #: record's little-endian bytes in hex (sve_context.h SVE_SIG_ZREG_OFFSET,
    #: SVE_SIG_PREG_OFFSET); empty for a header-only sve record
    zregs: tuple[str, ...] = ()
    pregs: tuple[str, ...] = ()

    def fp_view(self) -> FpView:
        """What the text shows of the record's registers (sigdbg/abi/fpview.py):
        fpsimd's V0-V31; sve's Z0-Z31 and P0-P15, FFR, their low 128 and 16
        bits (the JSON has them whole)."""
        groups: list[RegGroup] = []
        notes: tuple[tuple[str, str], ...] = ()
        if self.vregs:
            groups.append(RegGroup("v", 128, tuple(int(v, 16) for v in self.vregs)))
        if self.zregs:
            bits = (len(self.zregs[0]) - 2) * 4
            notes = (("", f"vector length {bits} bits; non-zero Z/P shown low 128/16 bits:"),)
            groups.append(RegGroup("z", bits, tuple(int(v, 16) for v in self.zregs), shown=128))
            groups.append(RegGroup("p", bits // 8, tuple(int(v, 16) for v in self.pregs),
                                   shown=16, labels=_P_LABELS[:len(self.pregs)]))
        return FpView(notes=notes, groups=tuple(groups))


#: the names of an sve record's predicate registers, in its order (P0-P15, FFR)
_P_LABELS = (*(f"p{n}" for n in range(16)), "ffr")


@dataclass(frozen=True)
class A64Frame(Model):
    """An AArch64 rt_sigframe at ``address`` (sp at handler entry)."""

    abi: str
    kind: str
    address: int
    size: int  #: sizeof(struct rt_sigframe)
    sig: int
    pretcode: int  #: x30 at handler entry: where the handler returns (the restorer)
    restorer: Restorer
    siginfo: SigInfo | None
    siginfo_valid: bool  #: False without SA_SIGINFO (the kernel does not write info)
    uc_flags: int
    uc_flags_names: tuple[str, ...]
    uc_link: int
    uc_stack: dict[str, int]
    on_altstack: bool
    sigmask: int
    sigmask_names: tuple[str, ...]
    fault_address: int
    mcontext: dict[str, int]  #: x0-x30, sp, pc, pstate of the interrupted code
    pstate_names: tuple[str, ...]
    frame_record_address: int  #: where x29 points at entry (or where the layout puts it)
    frame_record: dict[str, int]  #: {fp, lr}: the interrupted x29, x30
    records: tuple[A64Record, ...]
    problems: tuple[str, ...]

    @property
    def pc(self) -> int:
        return self.mcontext.get("pc", 0)

    @property
    def sp(self) -> int:
        return self.mcontext.get("sp", 0)

    @property
    def mcontext_address(self) -> int:
        return self.address + _MC_OFF

    @property
    def sig_from_info(self) -> bool:
        """The frame keeps the signal number only in ``info`` (no slot of its own)."""
        return True

    def record(self, name: str) -> A64Record | None:
        return next((r for r in self.records if r.name == name), None)


def _record_model(frame: int, r: Record) -> A64Record:
    scalars: dict[str, int] = {}
    vregs: tuple[str, ...] = ()
    if r.fields is not None:
        for k, v in r.fields.items():
            if k == "head":
                continue
            if isinstance(v, int):
                scalars[k] = v
            elif k == "vregs" and isinstance(v, bytes):
                vregs = tuple(f"{x:#034x}" for x in aarch64.vregs(v))
    zregs: tuple[str, ...] = ()
    pregs: tuple[str, ...] = ()
    vl = scalars.get("vl", 0)
    if r.name == "sve" and vl and vl % aarch64.SVE_VQ_BYTES == 0 \
            and r.size >= aarch64.sve_sig_context_size(vl // aarch64.SVE_VQ_BYTES):
        zregs, pregs = _sve_regs(r.payload, vl // aarch64.SVE_VQ_BYTES)
    return A64Record(r.address, r.address - frame, r.magic, r.size, r.name, r.in_extra,
                     scalars, vregs, len(r.payload), zregs, pregs)


def _sve_regs(payload: bytes, vq: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Z0-Z31 and P0-P15 + FFR from an sve record's payload (offsets from the
    record start, minus its 16-byte fixed part)."""
    head = aarch64.SVE_CONTEXT.size

    def reg(off: int, size: int) -> str:
        v = int.from_bytes(payload[off - head : off - head + size], "little")
        return f"{v:#0{2 * size + 2}x}"

    z = tuple(reg(aarch64.sve_zreg_offset(vq, n), 16 * vq) for n in range(32))
    p = tuple(reg(aarch64.sve_preg_offset(vq, n), 2 * vq) for n in range(17))
    return z, p


def _ints(d: Decoded) -> dict[str, int]:
    return {k: v for k, v in d.items() if isinstance(v, int)}


def decode_a64_frame(
    mem: Memory,
    frame: int,
    *,
    entry_regs: dict[str, int] | None = None,
    signo: int | None = None,
    view: RestorerContext | None = None,
    data: bytes | None = None,
    previous: A64Frame | None = None,
) -> A64Frame:
    """Decode the rt_sigframe at ``frame``.

    ``entry_regs``: the registers at the handler's first instruction (x29
    locates the frame record, x30 is the restorer, x1/x2 must point at the
    frame's info and uc).  ``signo``: the delivered signal, when known.
    ``view`` classifies the restorer (maps, symbols: the vDSO's
    ``__kernel_rt_sigreturn`` by name).  ``previous``: the same frame
    decoded at handler entry (re-read at sigreturn, when x29/x30 of the
    entry are long gone): its restorer and frame record address are kept.
    """
    if data is None or len(data) < FRAME_SIZE:
        try:
            data = mem.read(frame, FRAME_SIZE)
        except MemoryReadError as exc:
            raise DecodeError(f"signal frame at {frame:#x} is not readable: {exc}") from None
    raw = data[:FRAME_SIZE]
    problems: list[str] = []
    _top, uc, uc_stack, mc = _READER(raw, 0)
    regs_arr = aarch64.SIGCONTEXT.decode(raw, _MC_OFF)["regs"]
    assert isinstance(regs_arr, tuple)
    mcontext = {f"x{i}": int(v) for i, v in enumerate(regs_arr)}
    mcontext.update(sp=mc["sp"], pc=mc["pc"], pstate=mc["pstate"])
    sig = signo or 0
    siginfo: SigInfo | None = None
    siginfo_valid = False
    try:
        siginfo = decode_siginfo(raw, AARCH64, _INFO_OFF)
    except DecodeError as exc:
        problems.append(str(exc))
    else:
        if not sig:
            sig = siginfo.si_signo
        siginfo_valid = siginfo.si_signo == sig
        if not siginfo_valid:
            problems.append("info.si_signo does not match the signal: handler installed "
                            "without SA_SIGINFO (the kernel leaves these 128 bytes unwritten)")
    walk = walk_reserved(BufferedMemory(mem, frame, raw), frame + aarch64.RESERVED_OFFSET)
    problems.extend(walk.problems)
    records = tuple(_record_model(frame, r) for r in walk.records)
    # setup_sigframe_layout: the frame record follows the rt_sigframe and the
    # extra space (the kernel allocates that right behind the frame)
    expect_rec = frame + FRAME_SIZE
    extra = walk.find("extra")
    if extra is not None and extra.fields is not None:
        datap, esize = extra.fields["datap"], extra.fields["size"]
        assert isinstance(datap, int) and isinstance(esize, int)
        expect_rec = max(expect_rec, (datap + esize + 15) & ~15)
    pretcode = 0
    rec_addr = expect_rec
    if previous is not None and entry_regs is None:
        pretcode, rec_addr = previous.pretcode, previous.frame_record_address
    if entry_regs is not None:
        rec_addr = entry_regs.get("x29", expect_rec)
        pretcode = entry_regs.get("x30", 0)
        if rec_addr != expect_rec:
            problems.append(f"x29 {rec_addr:#x} is not the frame record the layout puts "
                            f"at {expect_rec:#x}")
    if entry_regs is not None and siginfo_valid:
        # setup_rt_frame sets x1/x2 only for SA_SIGINFO handlers
        if entry_regs.get("x1") != frame + _INFO_OFF:
            problems.append(f"x1 {entry_regs.get('x1', 0):#x} does not point at the info")
        if entry_regs.get("x2") != frame + _UC_OFF:
            problems.append(f"x2 {entry_regs.get('x2', 0):#x} does not point at the uc")
    try:
        rec = aarch64.FRAME_RECORD.decode(mem.read(rec_addr, aarch64.FRAME_RECORD.size))
        frame_record = _ints(rec)
    except MemoryReadError as exc:
        frame_record = {}
        problems.append(f"frame record unreadable: {exc}")
    if frame_record and frame_record.get("fp") != mcontext["x29"]:
        problems.append("frame record fp differs from the saved x29")
    if frame_record and frame_record.get("lr") != mcontext["x30"]:
        problems.append("frame record lr differs from the saved x30")
    on_alt = frame_on_altstack(frame, uc_stack)
    if not on_alt and mcontext["sp"] <= frame:
        problems.append(f"interrupted sp {mcontext['sp']:#x} is not above the frame")
    if view is not None:
        restorer = view_restorer(view, mem, AARCH64, pretcode)
    else:
        restorer = classify_restorer(mem, AARCH64, pretcode, None, None)
    if restorer.syscall is None:
        problems.append(f"x30 {pretcode:#x} does not point at a known sigreturn sequence")
    if signo is not None and siginfo_valid and siginfo is not None \
            and siginfo.si_signo != signo:
        problems.append(f"frame says signal {siginfo.si_signo}, the delivery was {signo}")
    return A64Frame(
        AARCH64.name, KIND, frame, FRAME_SIZE, sig, pretcode, restorer, siginfo,
        siginfo_valid, uc["uc_flags"], uc_flags_names(uc["uc_flags"]), uc["uc_link"],
        dict(uc_stack), on_alt, uc["uc_sigmask"], sigset_names(uc["uc_sigmask"]),
        mc["fault_address"], mcontext, pstate_names(mc["pstate"]), rec_addr, frame_record,
        records, tuple(problems))


def diff_a64_frames(before: A64Frame, after: A64Frame) -> FrameDiff:
    """What the handler changed in its frame (handler entry -> sigreturn):
    the registers sigreturn restores, the mask, the altstack, the fpsimd
    record (``fpsimd.vN`` as 128-bit values, fpsr, fpcr) and the registers of
    an sve record (``sve.zN``, ``sve.pN``, ``sve.ffr``)."""
    changes = context_changes(before, after)
    bf, af = before.record("fpsimd"), after.record("fpsimd")
    if bf is not None and af is not None:
        for n, (x, y) in enumerate(zip(bf.vregs, af.vregs)):
            if x != y:
                changes.append((f"fpsimd.v{n}", int(x, 16), int(y, 16)))
        for k in ("fpsr", "fpcr"):
            if bf.fields.get(k) != af.fields.get(k):
                changes.append((f"fpsimd.{k}", bf.fields.get(k, 0), af.fields.get(k, 0)))
    bs, as_ = before.record("sve"), after.record("sve")
    if bs is not None and as_ is not None and bs.zregs and as_.zregs:
        for prefix, old, new in (("z", bs.zregs, as_.zregs), ("p", bs.pregs, as_.pregs)):
            for n, (x, y) in enumerate(zip(old, new)):
                if x != y:
                    name = "ffr" if prefix == "p" and n == 16 else f"{prefix}{n}"
                    changes.append((f"sve.{name}", int(x, 16), int(y, 16)))
    return FrameDiff(tuple(changes))


__all__ = ["A64Frame", "A64Record", "decode_a64_frame", "diff_a64_frames", "pstate_names"]
